"""The ignored-conditioning label: a class-conditional run whose samples do not follow their label.

Fabricated histories pin the rule (docs/diagnostics.md, "ignored-conditioning"); one real run
with a label-blind discriminator shows it firing on what training produces.
"""

from __future__ import annotations

import math

import pytest
import torch

from ganbench import hookimpl
from ganbench.builtins.discriminators import MLPDiscriminator
from ganbench.diagnostics.signals import classify, compute_signals
from ganbench.diagnostics.thresholds import Thresholds, check_overrides
from ganbench.registry import get_registry
from ganbench.training.trainer import train
from tests.conftest import specs_of
from tests.test_diagnostics import modes, row

REGISTRY = get_registry(autoload=False)


def label(history, record=None, thresholds=None, status="ok"):
    signals, errors = compute_signals(REGISTRY, history)
    assert errors == {}
    return classify(REGISTRY, {"status": status, "diverged_at": None, **(record or {})}, signals,
                    history, thresholds or Thresholds())


def conditional_history(accuracy=(0.13, 0.12, 0.11), quality=0.93, retained=10, total=10,
                        source="modes"):
    """15 logged rows, three evaluations (steps 500, 1000, 1500) of ``conditional`` beside
    ``modes`` (2-D mixtures) or ``classes`` (images)."""
    history = [row(100 * (i + 1)) for i in range(15)]
    for acc, i in zip(accuracy, (4, 9, 14), strict=True):
        history[i].update(conditional_accuracy=acc, conditional_accuracy_min=acc / 2,
                          classes_covered_conditional=0.0)
        if source == "modes":
            history[i].update(modes(retained, quality, total=total))
        else:
            history[i].update(classes_covered=retained, classes_total=total, confident_fraction=quality,
                              class_kl=0.05)
    return history


def test_accuracy_at_chance_with_good_samples_is_ignored_conditioning():
    result = label(conditional_history())
    assert result.mode == "ignored-conditioning", result.evidence
    assert result.evidence == (
        "conditional accuracy 0.12, 0.11 at the last 2 evaluations (to step 1500; chance 0.10 for"
        " 10 classes; at most chance + conditioning_margin = 0.05 at each) while 0.93 of the samples"
        " are within 3 sigma of a mode (>= conditioning_quality = 0.2) and all 10 classes are"
        " retained: G ignores its label")
    signals, _ = compute_signals(REGISTRY, conditional_history())
    assert signals["conditional_accuracy_last"] == pytest.approx(0.11)
    assert signals["conditional_chance"] == pytest.approx(0.1)


def test_images_judge_the_samples_by_the_domain_classifier():
    result = label(conditional_history(source="classes", quality=0.9, retained=9))
    assert result.mode == "ignored-conditioning", result.evidence
    assert "0.90 of the samples are classified confidently" in result.evidence
    assert "9 of 10 classes appear" in result.evidence


def test_labels_mapped_to_other_classes_score_below_chance_and_are_named():
    # a label-blind D leaves every pairing of labels with classes equally good: accuracy 0
    result = label(conditional_history(accuracy=(0.25, 0.0, 0.0), total=8, retained=8))
    assert result.mode == "ignored-conditioning", result.evidence
    assert result.evidence.endswith("below chance, it maps labels to other classes")


def test_working_or_just_learned_conditioning_is_not_the_label():
    assert label(conditional_history(accuracy=(0.5, 0.9, 0.97))).mode == "ok"
    # learned between the last two evaluations: the last two are judged, not only the last
    assert label(conditional_history(accuracy=(0.1, 0.11, 0.9))).mode == "ok"
    # well above chance, short of working: not "ignored" (0.16 > 0.10 + 0.05)
    assert label(conditional_history(accuracy=(0.16, 0.16, 0.16))).mode == "ok"
    # the ok evidence reports the accuracy
    assert "conditional accuracy 0.97 (chance 0.10)" in label(
        conditional_history(accuracy=(0.5, 0.9, 0.97))).evidence


def test_accuracy_at_chance_that_bad_samples_explain_is_another_label():
    # samples near no mode: nearest-mode classes are random whatever G does with its label
    result = label(conditional_history(quality=0.05))
    assert result.mode == "non-convergence", result.evidence
    # under conditioning_quality but not failing otherwise: not judged
    assert label(conditional_history(quality=0.15)).mode != "ignored-conditioning"
    # collapsed onto one class: right for 1/K of the requests whatever the label
    assert label(conditional_history(retained=1)).mode == "mode-collapse"
    # two classes: one present is a collapse, not evidence about the label
    assert label(conditional_history(accuracy=(0.5, 0.5, 0.5), total=2, retained=1)).mode \
        == "partial-mode-collapse"
    assert label(conditional_history(accuracy=(0.5, 0.5, 0.5), total=2, retained=2)).mode \
        == "ignored-conditioning"
    # no metric saying whether the samples look fine: not judged
    bare = [{k: v for k, v in r.items() if not k.startswith("modes") and k not in
             ("high_quality_fraction", "mode_kl", "spread_ratio")} for r in conditional_history()]
    assert label(bare).mode == "ok"


def test_unconditional_runs_never_get_it():
    history = conditional_history()
    for r in history:
        for key in ("conditional_accuracy", "conditional_accuracy_min", "classes_covered_conditional"):
            r.pop(key, None)
    signals, _ = compute_signals(REGISTRY, history)
    assert not any(k.startswith("conditional") for k in signals)
    assert label(history).mode == "ok"


def test_the_class_count_comes_from_the_metrics_protocol_when_recorded():
    # 10 modes but 4 classes asked for (chance 0.25): 0.12 is far below it, the labels mixed up
    record = {"metric_protocols": {"conditional": {"classes": 4}}}
    result = label(conditional_history(), record=record)
    assert "chance 0.25 for 4 classes" in result.evidence, result.evidence
    # 10 classes per the protocol, 0.3 is well above chance 0.1
    high = conditional_history(accuracy=(0.3, 0.3, 0.3))
    assert label(high, record={"metric_protocols": {"conditional": {"classes": 10}}}).mode == "ok"


def test_the_thresholds_are_the_grids_to_set():
    history = conditional_history(accuracy=(0.2, 0.18, 0.17))
    assert label(history).mode == "ok"
    assert label(history, thresholds=Thresholds(conditioning_margin=0.1)).mode == "ignored-conditioning"
    assert label(conditional_history(), thresholds=Thresholds(conditioning_quality=0.95)).mode == "ok"
    last_only = conditional_history(accuracy=(0.9, 0.9, 0.11))
    assert label(last_only).mode == "ok"
    assert label(last_only, thresholds=Thresholds(conditioning_evaluations=1)).mode == "ignored-conditioning"
    assert check_overrides("diagnostics", {"conditioning_margin": 0.02, "conditioning_evaluations": 3}) \
        == {"conditioning_margin": 0.02, "conditioning_evaluations": 3}


def test_precedence_diverged_and_collapse_come_first():
    history = conditional_history()
    history[-1]["d_loss"] = math.nan
    assert label(history, status="diverged").mode == "diverged"
    assert label(conditional_history(retained=3)).mode == "mode-collapse"  # 3 of 10 retained


# ---------------------------------------------------------------- a real label-blind run
def blind_mlp(data, *, width: int = 64, depth: int = 3):
    """A projection discriminator whose class embedding is zero and frozen: it judges (x, y)
    by x alone, so no pairing of labels with classes is better than another for G."""
    d = MLPDiscriminator(data, width, depth, "projection")
    torch.nn.init.zeros_(d.label_head.embed.weight)
    d.label_head.embed.weight.requires_grad_(False)
    return d


class BlindDiscriminator:
    @hookimpl
    def ganbench_register_discriminators(self, register):
        register("blind-mlp", blind_mlp, conditional=True)


@pytest.mark.slow  # trains 1,500 steps on ring8 (about 20 s alone, a minute on a loaded machine)
def test_real_conditional_gan_with_a_label_blind_discriminator_ignores_its_labels():
    # measured (docs/diagnostics.md): seed 0 ends at accuracy 0.00 (every class comes out as
    # another one) with 0.90 of the samples within 3 sigma of a mode, 8/8 retained
    registry, [spec] = specs_of({
        "name": "blind", "dataset": "ring8", "steps": 1500, "batch_size": 128, "log_every": 100,
        "latent_dim": 2, "loss": "non-saturating", "optimizer": {"lr": 1e-3},
        "generator": {"name": "mlp", "width": 64, "depth": 3, "conditional": True},
        "discriminator": {"name": "blind-mlp"},
        "evaluation": {"every": 500, "samples": 1000, "metrics": ["modes", "conditional"]}},
        BlindDiscriminator())
    result = train(spec.config, registry, torch.device("cpu"))
    signals, _ = compute_signals(registry, result.history)
    record = {"status": result.status, "diverged_at": result.diverged_at,
              "metric_protocols": result.extra.get("metric_protocols", {})}
    verdict = classify(registry, record, signals, result.history, Thresholds())
    assert verdict.mode == "ignored-conditioning", verdict.evidence
    assert "chance 0.12 for 8 classes" in verdict.evidence
