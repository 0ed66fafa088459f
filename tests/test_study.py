"""ganbench.results.study on a hand-built results table: trials, seeds, robustness, ranking."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from ganbench import statistics as st
from ganbench.errors import ConfigError
from ganbench.results.study import study, study_json, study_text, top_trials

VARIANT = ["dataset", "loss"]
SEARCHED = ["optimizer.lr", "n_critic"]
# the searched settings of three trials, as top_trials gives them
LR3_NC5, LR3_NC1, LR4_NC5 = ({"optimizer.lr": lr, "n_critic": n}
                             for lr, n in ((1e-3, 5), (1e-3, 1), (1e-4, 5)))

# (loss, lr, n_critic, seed, failure_mode, modes_covered, fid)
ROWS = [
    ("hinge", 1e-3, 1, 0, "ok", 6.0, 30.0),
    ("hinge", 1e-3, 1, 1, "ok", 8.0, 20.0),
    ("hinge", 1e-4, 5, 0, "mode_collapse", 4.0, 60.0),
    ("hinge", 1e-4, 5, 1, "ok", 2.0, 80.0),
    ("hinge", 1e-2, 1, 0, "divergence", math.nan, math.nan),  # no finite value: unscored
    ("hinge", 1e-2, 1, 1, "divergence", math.nan, math.nan),
    ("hinge", 1e-3, 5, 0, "ok", 8.0, 10.0),
    ("hinge", 1e-3, 5, 1, "divergence", math.nan, math.nan),  # one seed left: its value is the score
    ("minimax", 1e-3, 1, 0, "ok", 1.0, 90.0),
    ("minimax", 1e-3, 1, 1, "mode_collapse", 3.0, 70.0),
    ("minimax", 1e-4, 5, 0, "ok", 5.0, 40.0),
    ("minimax", 1e-4, 5, 1, "ok", 5.0, 50.0),
]


def table() -> pd.DataFrame:
    """The rows as table.csv holds them (label columns between run_id and seed), read back."""
    frame = pd.DataFrame([{"run_id": f"{i:016x}", "dataset": "ring8", "loss": loss, "optimizer.lr": lr,
                           "n_critic": n_critic, "seed": seed,
                           "status": "diverged" if label == "divergence" else "ok", "failure_mode": label,
                           "modes_covered": modes, "fid": fid}
                          for i, (loss, lr, n_critic, seed, label, modes, fid) in enumerate(ROWS)])
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def test_trials_are_the_searched_settings_within_a_variant_and_their_seeds_are_averaged():
    hinge, minimax = study(table(), VARIANT, SEARCHED, "modes_covered", True, bootstrap=200)
    assert hinge.variant == {"dataset": "ring8", "loss": "hinge"} and hinge.key == ("ring8", "hinge")
    assert (hinge.trials, hinge.seeds, hinge.runs) == (4, 2, 8)
    assert [(t.settings, t.score, t.n, t.runs) for t in hinge.ranked] == [
        (LR3_NC5, 8.0, 1, 2), (LR3_NC1, 7.0, 2, 2), (LR4_NC5, 3.0, 2, 2),
    ]  # the lr 1e-2 trial gave no finite value: out of the ranking and the curve
    assert hinge.best is not None and hinge.best.settings == LR3_NC5
    assert hinge.curve.n == 3 and hinge.curve.ks == (1, 2, 3)
    assert hinge.curve.expected[0] == pytest.approx(6.0)  # one trial: the mean of 8, 7, 3
    assert hinge.curve.expected[2] == pytest.approx(st.expected_max([8.0, 7.0, 3.0], 3))
    assert [t.score for t in minimax.ranked] == [5.0, 2.0] and minimax.trials == 2


def test_robustness_counts_every_run_of_the_variant_unscored_trials_included():
    hinge, minimax = study(table(), VARIANT, SEARCHED, "modes_covered", True, bootstrap=0)
    assert (hinge.ok, hinge.runs, hinge.robustness) == (4, 8, 0.5)
    assert (hinge.robustness_low, hinge.robustness_high) == pytest.approx(st.wilson(4, 8))
    assert (minimax.ok, minimax.runs, minimax.robustness) == (3, 4, 0.75)
    assert [t.ok for t in hinge.ranked] == [1, 2, 1]


def test_a_lower_is_better_metric_ranks_and_curves_downwards():
    hinge, _ = study(table(), VARIANT, SEARCHED, "fid", False, ks=[1, 3], bootstrap=200)
    assert [t.score for t in hinge.ranked] == [10.0, 25.0, 70.0]
    assert hinge.curve.expected[0] == pytest.approx(35.0)
    assert hinge.curve.expected[1] == pytest.approx(-st.expected_max([-10.0, -25.0, -70.0], 3))
    assert hinge.curve.expected[1] < hinge.curve.expected[0]
    assert all(lo <= e <= hi for lo, e, hi in zip(hinge.curve.low, hinge.curve.expected, hinge.curve.high,
                                                  strict=True))


def test_top_trials_in_both_directions_for_promote():
    frame = table()
    best = top_trials(frame, VARIANT, SEARCHED, "modes_covered", True, 2)
    assert best == {("ring8", "hinge"): [LR3_NC5, LR3_NC1], ("ring8", "minimax"): [LR4_NC5, LR3_NC1]}
    lowest = top_trials(frame, VARIANT, SEARCHED, "fid", False, 5)  # fewer scored trials than asked
    assert lowest[("ring8", "hinge")] == [LR3_NC5, LR3_NC1, LR4_NC5]
    assert lowest[("ring8", "minimax")] == [LR4_NC5, LR3_NC1]
    setting = best[("ring8", "hinge")][0]
    assert type(setting["n_critic"]) is int and type(setting["optimizer.lr"]) is float  # plain, for TOML
    everything = top_trials(frame, [], SEARCHED, "modes_covered", True, 1)
    assert everything == {(): [LR3_NC5]}  # ties: the first run first


def test_bad_columns_and_budgets_are_one_line_config_errors():
    frame = table()
    with pytest.raises(ConfigError, match="no column momentum"):
        study(frame, VARIANT, ["momentum"], "fid", False)
    with pytest.raises(ConfigError, match="both a variant column and a searched one"):
        study(frame, VARIANT, ["loss"], "fid", False)
    with pytest.raises(ConfigError, match="--metric is_score"):
        study(frame, VARIANT, SEARCHED, "is_score", True)
    with pytest.raises(ConfigError, match="--top 0"):
        top_trials(frame, VARIANT, SEARCHED, "fid", False, 0)


def test_text_is_a_table_per_metric_and_json_is_plain():
    frame = table()
    found = (study(frame, VARIANT, SEARCHED, "modes_covered", True, bootstrap=100)
             + study(frame, VARIANT, SEARCHED, "fid", False, bootstrap=100))
    lines = study_text(found)
    assert lines[0] == ("modes_covered (higher is better): expected best of k trials"
                        " [95% bootstrap band over trials]")
    assert lines[1].split() == ["variant", "trials", "robustness", "k=1", "k=4", "k=16", "k=N"]
    hinge = lines[2]
    assert hinge.startswith("  dataset=ring8 loss=hinge") and " 3/4 " in hinge
    assert "0.50 [" in hinge and hinge.count(" - ") == 2  # 3 scored trials: no k=4, no k=16
    curve = found[0].curve
    assert f"6 [{curve.low[0]:.3g}, {curve.high[0]:.3g}]" in hinge
    assert " 2/2 " in lines[3] and "0.75 [" in lines[3]
    assert lines[5].startswith("fid (lower is better)")
    assert all(not line.endswith(" ") for line in lines)
    document = json.loads(json.dumps(study_json(found), allow_nan=False))
    hinge_json = document["metrics"]["modes_covered"]["variants"][0]
    assert document["metrics"]["fid"]["higher_is_better"] is False
    assert hinge_json["curve"]["k"] == [1, 2, 3] and hinge_json["scored_trials"] == 3
    low, high = st.wilson(4, 8)
    assert hinge_json["robustness"] == {"ok": 4, "runs": 8, "fraction": 0.5, "low": pytest.approx(low),
                                        "high": pytest.approx(high)}
    assert hinge_json["ranked"][0] == {"settings": LR3_NC5, "score": 8.0, "n": 1, "runs": 2, "ok": 1}
