"""The fixtures (ganbench_plugins, ganbench_registry, ganbench_tiny_run, ganbench_device) come from
ganbench's pytest plugin, which pytest loads by itself where ganbench is installed.
"""

# What every starter test file shares: new-plugin writes tests/<kind>.py with this docstring
# added to its own (listing only the fixtures the file uses), and before its first test this
# file's fixture, then test_registered (test_registered_as_conditional for a conditional starter).
# The lines up to the fixture only make this file complete, as ruff lints it.

from __future__ import annotations

import pytest

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


@pytest.fixture
def ganbench_plugins():
    """The plugin under test: registered next to ganbench's built-ins, nothing else."""
    return [plugin]


def test_registered(ganbench_registry):
    assert ganbench_registry.get("PLUGIN-KIND", NAME).plugin == plugin.__name__


def test_registered_as_conditional(ganbench_registry):
    component = ganbench_registry.get("PLUGIN-KIND", NAME)
    assert component.plugin == plugin.__name__
    assert component.metadata["conditional"] is True
