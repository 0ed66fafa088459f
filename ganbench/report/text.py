"""Text helpers shared by the HTML and Markdown renderers: numbers and leaderboard cells."""

from __future__ import annotations

import math

from ganbench import statistics
from ganbench.results.tables import interval_text


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def stat_text(summary: statistics.Summary) -> str:
    """One variant's metric in the leaderboard (:func:`ganbench.results.tables.interval_text`)."""
    return interval_text(summary.n, summary.mean, summary.std, summary.ci_low, summary.ci_high)
