"""Measured error rates of the built-in failure-mode rules (the table in docs/diagnostics.md).

Each rule is fed synthetic histories with a known truth (``ganbench/testing/histories.py``):

- null histories hold no failure: the D gap is white noise, red noise (AR(1), phi 0.7), a
  random walk, an improving (saturating) trend or a plateau, and the mode evaluations come from
  a healthy generator. Any label but ``ok`` on them is a false positive;
- planted histories add one failure (a cycle, a collapse onto a point or a few modes, dropped
  modes, no convergence, a divergence, an unbounded critic, vanishing gradients); the share that
  gets the planted label is the true-positive rate.

For every history length it prints, per rule, the false-positive rate on the worst null kind
(and which kind that was) and the true-positive rate on each planted kind of that rule, then the
full label shares per kind. Seeds are fixed, so a rerun prints the same table.

    python benchmarks/calibrate_diagnostics.py [--trials 200] [--lengths 10 15 20 30 50 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import pandas as pd
import torch

from ganbench.report.markdown import table as markdown_table
from ganbench.testing.histories import NULL_KINDS, PLANTED_KINDS, calibration_table

#: The rules in the classifier's order (docs/diagnostics.md).
RULES = ("diverged", "unbounded-critic", "vanishing-gradients", "mode-collapse", "oscillating",
         "non-convergence", "partial-mode-collapse")


def rule_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule and length: worst false-positive rate over the null kinds, and the true-positive
    rate of each planted kind of that rule, as strings ready to print."""
    nulls = table[table["truth"] == "ok"]
    out = []
    for rule in RULES:
        shares = nulls[rule] if rule in nulls else pd.Series(0.0, index=nulls.index)
        worst = nulls.assign(share=shares).sort_values("share").groupby("rows").tail(1).set_index("rows")
        fp = {rows: f"{r.share:.1%}" + (f" ({r.kind})" if r.share > 0 else "")
              for rows, r in worst.iterrows()}
        out.append({"rule": rule, "measure": "false positives, worst null kind", **fp})
        for kind, truth in PLANTED_KINDS.items():
            if truth != rule:
                continue
            planted = table[table["kind"] == kind].set_index("rows")
            tp = planted[rule] if rule in planted else pd.Series(0.0, index=planted.index)
            out.append({"rule": rule, "measure": f"true positives, {kind}",
                        **{r: f"{v:.0%}" for r, v in tp.items()}})
    any_fp = (1 - nulls["ok"]).groupby(nulls["rows"]).max()
    out.append({"rule": "any rule", "measure": "false positives, worst null kind",
                **{r: f"{v:.1%}" for r, v in any_fp.items()}})
    return pd.DataFrame(out)


def markdown(frame: pd.DataFrame) -> str:
    return markdown_table([str(c) for c in frame.columns], frame.astype(str).values.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="histories per kind and length")
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 15, 20, 30, 50, 100],
                        help="history lengths, in logged rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    table = calibration_table(args.lengths, args.trials)
    elapsed = time.perf_counter() - start
    print(f"# {args.trials} histories per kind and length; null kinds: {', '.join(NULL_KINDS)};"
          f" {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 torch thread;"
          f" {elapsed:.0f} s\n")
    print(markdown(rule_rates(table)))
    print("\n# label shares per kind and length\n")
    print(markdown(table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v)))


if __name__ == "__main__":
    main()
