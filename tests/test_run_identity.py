"""Run identity: every demo cell keeps its run_id and its config.json across refactors, so that
`ganbench run` on an existing results folder skips every finished run (issue 16's "one typed run
config" must not change a byte of either)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ganbench.config.grid import expand, load_grid
from ganbench.registry import get_registry

DEMO = Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "demo.toml"

#: The demo's 24 run_ids in grid order, as written by ganbench 0.1.0 (2026-12-05).
DEMO_RUN_IDS = [
    "990e7e16a1299a48", "4b46fc25cc1863a6", "8d7e3c9015d76a96", "0d4c8005d62e5003",
    "a8b730ddd4db89a8", "d6f134f9cc88fd62", "a30c14efeb5885c0", "40f9402bcadd7a14",
    "23d93d2167f266e8", "5d052235de97cb77", "f66105e8d0bc0ca3", "f63aa9b2cefe60aa",
    "6590f886b000b3cc", "2d93c4cb2365604a", "93829b228438d3ef", "7cffcb5a4dac34dd",
    "f34a1c516a9facb6", "edf7b836a52b6528", "ce900179f141f131", "be98dc1fbad8d3e1",
    "4dc6109f23930267", "1a4e89c544d41442", "feb81f9469628332", "db066e4bd8ffcaa2",
]
#: SHA-256 of the 24 cells' config.json texts, concatenated in grid order.
DEMO_CONFIGS_SHA256 = "407455d15ef33aec44c503e3ad7bbb0a667956e3aaa7e2f47bb0b6ac6ae25182"


def test_the_demo_cells_keep_their_run_ids_and_their_config_json():
    specs = expand(load_grid(DEMO), get_registry())
    assert [s.run_id for s in specs] == DEMO_RUN_IDS
    texts = "".join(s.config_json for s in specs)
    assert hashlib.sha256(texts.encode()).hexdigest() == DEMO_CONFIGS_SHA256
