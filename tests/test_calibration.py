"""The failure rules' measured error rates (docs/diagnostics.md) stay where they were measured.

The histories come from ``ganbench.testing.histories`` with fixed seeds, so each assertion is
deterministic: a threshold or rule change that raises a false-positive rate above the documented
5 %, or loses a planted failure, fails here. ``benchmarks/calibrate_diagnostics.py`` prints the
full table with more trials.
"""

from __future__ import annotations

import pytest

from ganbench.testing.histories import (
    CONDITIONAL_KINDS,
    NULL_KINDS,
    OVERFITTING_KINDS,
    PLANTED_KINDS,
    calibration_table,
)

LENGTHS = (10, 15, 20, 30, 50, 100)

#: Lowest true-positive rate per planted kind at 20 and 50 rows in the documented table
#: (200 trials), less a margin for the smaller samples here.
TRUE_POSITIVE_FLOOR = {
    "cycle": {20: 0.2, 50: 0.5},
    **{kind: {20: 0.9, 50: 0.9} for kind in PLANTED_KINDS if kind != "cycle"},
}


def false_positive_rates(table):
    nulls = table[table["truth"] == "ok"]
    return {(row.kind, row.rows): 1 - row.ok for row in nulls.itertuples()}


@pytest.mark.slow  # labels 585 synthetic histories, which the next test labels again (cached)
def test_no_rule_fires_on_short_null_histories():
    # the lengths where the old periodogram rule fired on 49-77 % of white noise
    table = calibration_table((10, 15, 20), trials=15, kinds=NULL_KINDS)
    rates = false_positive_rates(table)
    assert max(rates.values()) <= 1 / 15, {k: v for k, v in rates.items() if v > 0}


@pytest.mark.slow
def test_planted_failures_get_their_label():
    table = calibration_table((20, 50), trials=10, kinds=tuple(PLANTED_KINDS))
    for _, row in table.iterrows():
        found = row.get(row["truth"], 0.0)
        assert found >= TRUE_POSITIVE_FLOOR[row["kind"]][row["rows"]], (row["kind"], row["rows"], found)


@pytest.mark.slow
def test_false_positives_stay_at_most_five_percent_at_every_length():
    table = calibration_table(LENGTHS, trials=40, kinds=NULL_KINDS)
    rates = false_positive_rates(table)
    assert max(rates.values()) <= 0.05, {k: v for k, v in rates.items() if v > 0}


@pytest.mark.slow  # labels 500 synthetic histories (about 15 s)
def test_discriminator_overfitting_rates_stay_where_documented():
    # docs/diagnostics.md, "discriminator-overfitting": measured with 200 histories per kind at
    # the demo's length (15 rows) and a longer one (50); here the first 50 seeds of each
    table = calibration_table((15, 50), trials=50, kinds=OVERFITTING_KINDS)
    nulls = table[table["truth"] == "ok"]
    fired = nulls.get("discriminator-overfitting", 0.0)
    assert (fired <= 0.04).all(), nulls[["kind", "rows"]].assign(fired=fired)
    assert set(nulls["kind"]) == {"heldout-noise", "gap-only", "metric-worsening", "no-heldout"}
    assert (nulls[nulls["kind"] == "no-heldout"].get("discriminator-overfitting", 0.0) == 0).all()
    planted = table[table["kind"] == "overfitting"]
    assert (planted["discriminator-overfitting"] >= 0.85).all(), planted


@pytest.mark.slow  # labels 300 synthetic histories (about 15 s)
def test_ignored_conditioning_rates_stay_where_documented():
    # docs/diagnostics.md, "ignored-conditioning": measured with 200 histories per kind and length;
    # here the first 30 seeds of each at the demo's length (15 rows) and a longer one (50)
    table = calibration_table((15, 50), trials=30, kinds=CONDITIONAL_KINDS).set_index(["kind", "rows"])
    fired = table.get("ignored-conditioning", 0.0)
    # never on a run whose label works, on an unconditional run, or where bad samples explain chance
    for kind in ("obeyed-label", "no-conditional", "ignored-collapse", "ignored-noise"):
        assert (fired.loc[kind] == 0).all(), (kind, fired.loc[kind])
    # every label-ignoring or label-mixing generator with good samples is found
    assert (fired.loc[["ignored-label", "mixed-label"]] == 1).all()
    # and bad samples get their own label
    assert (table.loc["ignored-collapse", "mode-collapse"] == 1).all()
    assert (table.loc["ignored-noise", "non-convergence"] >= 0.9).all()
