"""``ganbench.running.prefetch``: the datasets of a grid are built, Inception weights fetched only when a
fidelity metric needs them, and an offline download is a one-line error. No test touches the
network: the weights URL points at a closed local port and sockets refuse to connect."""

from __future__ import annotations

import socket

import pytest
import torch

from ganbench.errors import GanbenchError
from ganbench.evaluation import inception
from ganbench.running.prefetch import needs_inception_download, needs_vgg16_download, prefetch
from tests.conftest import specs_of


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No cached Inception weights, an unreachable download URL, no outgoing connections."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "DEFAULT_URL",
                        "http://127.0.0.1:9/weights-inception-2015-12-05-6726825d.pth")
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv(inception.CACHE_ENV, str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise OSError("network blocked in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_builds_every_dataset_once_and_reports_them(tiny_grid, offline, tmp_path):
    tiny_grid["axes"] = {"dataset": ["ring8", "digits"]}
    tiny_grid["seeds"] = [0, 1]
    registry, specs = specs_of(tiny_grid)
    assert len(specs) == 4 and not any(needs_inception_download(spec) for spec in specs)
    streamed: list[str] = []
    lines = prefetch(specs, registry, tmp_path / "data", on_ready=streamed.append)
    assert streamed == lines
    assert [line.split()[:2] for line in lines[:2]] == [["dataset", "ring8"], ["dataset", "digits"]]
    assert all(line.endswith(": ready") for line in lines[:2])
    assert lines[2:] == ["prefetched 2 dataset(s) for 4 run(s)"]
    assert not any("inception" in line for line in lines)


def test_offline_fidelity_weights_are_a_one_line_error(tiny_grid, offline, tmp_path):
    tiny_grid["dataset"] = {"name": "digits", "size": 16}
    tiny_grid["evaluation"] = {"samples": 2048, "metrics": ["fidelity"]}
    registry, specs = specs_of(tiny_grid)
    assert needs_inception_download(specs[0])
    with pytest.raises(GanbenchError) as info:
        prefetch(specs, registry, tmp_path / "data")
    message = str(info.value)
    assert "\n" not in message
    assert "Inception weights" in message and "inception_weights" in message
    assert not (tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth").exists()


def test_local_weights_need_no_download(tiny_grid, tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    tiny_grid["evaluation"] = {"samples": 2048, "metrics": ["fidelity"], "inception_weights": str(weights)}
    _, specs = specs_of(tiny_grid)
    assert not needs_inception_download(specs[0]) and not needs_vgg16_download(specs[0])
    tiny_grid["evaluation"] = {"samples": 2048, "metrics": ["fidelity"], "features": "domain"}
    _, specs = specs_of(tiny_grid)
    assert not needs_inception_download(specs[0])
    # paper protocols put precision/recall on VGG-16 when the features are Inception's
    tiny_grid["evaluation"] = {"metrics": ["fidelity"], "protocol": "paper-10k"}
    _, specs = specs_of(tiny_grid)
    assert needs_inception_download(specs[0]) and needs_vgg16_download(specs[0])
    tiny_grid["evaluation"]["vgg16_weights"] = str(weights)
    _, specs = specs_of(tiny_grid)
    assert not needs_vgg16_download(specs[0])
    tiny_grid["evaluation"] = {"metrics": ["fidelity"], "protocol": "paper-10k", "features": "domain"}
    _, specs = specs_of(tiny_grid)
    assert not needs_vgg16_download(specs[0])
