"""ganbench's contract checks on the plugin, then what it does to a batch."""

from __future__ import annotations

import pytest
import torch
from ganbench import ConfigError
from ganbench.testing import check_augmentation

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


def test_keeps_the_augmentation_contract(ganbench_device):
    # shape, differentiability, randomness from the generator, state in buffers
    check_augmentation(plugin.MyAugmentation(), device=ganbench_device)
    check_augmentation(plugin.MyAugmentation, (16, 1, 8, 8), params={"p": 0.5},
                       device=ganbench_device)


def test_mirrors_about_half_the_images():
    x = torch.rand(200, 3, 8, 8)
    out = plugin.MyAugmentation(p=0.5)(x, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 70 < sum(mirrored) < 130


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="p must be in"):
        plugin.MyAugmentation(p=2.0)
