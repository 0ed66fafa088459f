"""ganbench.draws: a run's random numbers, alone or for a whole bundle in one call (issue 24).

The keyed draws are Philox4x32-10; the known answers are Random123's (Salmon et al. 2011,
``kat_vectors``). The Triton kernel that draws them on CUDA is run here through Triton's
interpreter (``TRITON_INTERPRET=1``), which executes the same kernel code with NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from scipy import stats

from ganbench.draws import (
    PENALTY_STREAM,
    GeneratorDraws,
    KeyedDraws,
    philox_rounds,
    resolve_rng,
    round_keys,
    run_draws,
)
from ganbench.errors import ConfigError
from tests.conftest import specs_of

CPU = torch.device("cpu")


def words(*values: int) -> list[torch.Tensor]:
    return [torch.tensor([v], dtype=torch.int64) for v in values]


@pytest.mark.parametrize("counter, key, expected", [
    ((0, 0, 0, 0), (0, 0), "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     "d16cfe09 94fdcceb 5001e420 24126ea1"),
], ids=["zeros", "ones", "pi"])
def test_philox_gives_random123s_known_answers(counter, key, expected):
    out = philox_rounds(*words(*counter), round_keys(*words(*key)))
    assert " ".join(f"{int(w):08x}" for w in out) == expected


def test_a_run_draws_the_same_numbers_alone_and_in_any_bundle():
    seeds = [5, 0, 2**40 + 7, 2**63 - 1]
    bundle = KeyedDraws(seeds, CPU, offset=2**32 - 3)  # the counter crosses into its high word
    drawn = [bundle.uniform((7, 3)), bundle.normal((5,)), bundle.randint(60_000, (9,))]
    assert bundle.offset == 2**32 - 3 + 21 + 5 + 9
    for i, seed in enumerate(seeds):
        alone = KeyedDraws([seed], CPU, offset=2**32 - 3)
        own = [alone.uniform((7, 3)), alone.normal((5,)), alone.randint(60_000, (9,))]
        for a, b in zip(own, drawn, strict=True):
            assert torch.equal(a[0], b[i])
    other = KeyedDraws([seeds[2], seeds[0]], CPU, offset=2**32 - 3)
    assert torch.equal(other.uniform((7, 3))[1], drawn[0][0])


def test_keyed_draws_resume_from_their_state():
    whole = KeyedDraws([11], CPU)
    whole.normal((4,))
    rest = whole.normal((6,))
    resumed = KeyedDraws([11], CPU)
    resumed.load_state_dict({**whole.state_dict(), "offset": 4})
    assert torch.equal(resumed.normal((6,)), rest)


def test_keyed_numbers_follow_their_distributions_and_do_not_repeat_across_seeds_or_draws():
    draws = KeyedDraws(range(50), CPU)
    u, z = draws.uniform((4000,)).flatten(), draws.normal((4000,)).flatten()
    k = draws.randint(10, (4000,)).flatten()
    assert stats.kstest(u.numpy(), "uniform").pvalue > 1e-3
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-3
    assert 0.0 <= u.min() and u.max() < 1.0 and z.abs().max() <= 5.7
    assert k.min() == 0 and k.max() == 9
    assert stats.chisquare(torch.bincount(k, minlength=10).numpy()).pvalue > 1e-3
    # neighbouring seeds, the next draw of a seed, and a seed's penalty stream are uncorrelated
    a, b = KeyedDraws([1, 2], CPU).normal((20_000,))
    again = KeyedDraws([1], CPU, offset=20_000).normal((20_000,))[0]
    penalty = run_draws("keyed", [1], [], CPU, penalties=True).normal((20_000,))[0]
    for other in (b, again, penalty):
        assert abs(torch.corrcoef(torch.stack([a, other]))[0, 1]) < 4 / 20_000 ** 0.5


def test_the_penalty_stream_is_keyed_apart_from_the_data_stream():
    penalties = run_draws("keyed", [3], [], CPU, penalties=True)
    assert isinstance(penalties, KeyedDraws) and penalties.seeds == [3 | PENALTY_STREAM]
    assert not torch.equal(penalties.uniform((8,)), KeyedDraws([3], CPU).uniform((8,)))


def test_generator_draws_are_the_torch_calls_a_solo_run_makes():
    g, h = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    draws = GeneratorDraws([g])
    got = [draws.randint(8, (5,)), draws.normal((5, 2)), draws.uniform((3, 1), dtype=torch.float64)]
    want = [torch.randint(8, (5,), generator=h), torch.randn((5, 2), generator=h),
            torch.rand((3, 1), generator=h, dtype=torch.float64)]
    for a, b in zip(got, want, strict=True):
        assert a.shape == (1, *b.shape) and torch.equal(a[0], b)
    both = GeneratorDraws([torch.Generator().manual_seed(4), torch.Generator().manual_seed(9)])
    assert torch.equal(both.randint(8, (5,))[0], want[0])


def test_auto_is_keyed_on_cuda_and_generators_elsewhere():
    assert resolve_rng("auto", torch.device("cuda")) == "keyed"
    assert resolve_rng("auto", CPU) == "generator"
    assert resolve_rng("keyed", CPU) == "keyed"
    assert resolve_rng("generator", torch.device("cuda")) == "generator"
    with pytest.raises(ValueError, match="0 < high < 2"):
        KeyedDraws([0], CPU).randint(0, (3,))


TRITON_CHECK = textwrap.dedent("""
    import json, torch
    from ganbench.draws import KeyedDraws
    seeds = [0, 1, 2**40 + 5, 2**63 - 1, 2**63 | 7]
    kernel = KeyedDraws(seeds, "cpu", offset=2**32 - 3, use_triton=True)
    ops = KeyedDraws(seeds, "cpu", offset=2**32 - 3, use_triton=False)
    out = {"fallback": kernel.fallback_reason}
    for name, shape in (("uniform", (7, 3)), ("normal", (1100,)), ("randint", (9,))):
        args = (60000, shape) if name == "randint" else (shape,)
        a, b = getattr(kernel, name)(*args), getattr(ops, name)(*args)
        out[name] = [torch.equal(a, b), (a.double() - b.double()).abs().max().item(), str(a.dtype)]
    out["fallback_after"] = kernel.fallback_reason
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_the_triton_kernel_draws_what_the_torch_operations_draw():
    """The CUDA kernel, run by Triton's interpreter: integers and uniforms bit for bit, normals
    to a float32 unit (NumPy's ``log``/``cos`` against torch's), across blocks of 1,024."""
    pytest.importorskip("triton", reason="the Triton kernel needs triton (torch's Linux wheels have it)")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", TRITON_CHECK], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["fallback"] is None and out["fallback_after"] is None
    assert out["uniform"][:1] == [True] and out["randint"][:1] == [True]
    assert out["randint"][2] == "torch.int64" and out["normal"][2] == "torch.float32"
    assert out["normal"][1] <= 5e-6


def test_the_rng_setting_is_part_of_a_keyed_runs_identity_and_checked(tiny_grid):
    _, [plain] = specs_of(tiny_grid)
    _, [auto] = specs_of({**tiny_grid, "rng": "auto"})
    _, [keyed] = specs_of({**tiny_grid, "rng": "keyed"})
    assert auto.run_id == plain.run_id and "rng" not in plain.config
    assert keyed.run_id != plain.run_id and keyed.config["rng"] == "keyed"
    with pytest.raises(ConfigError) as error:
        specs_of({**tiny_grid, "rng": "philox"})
    assert str(error.value) == ('test-grid: rng: expected "auto" or "generator" or "keyed",'
                                " got 'philox' (str)")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_keyed_draws_on_cuda_run_the_triton_kernel_and_match_the_torch_operations():
    cuda = torch.device("cuda")
    kernel = KeyedDraws([0, 5, 2**63 - 1], cuda, offset=2**32 - 3)
    ops = KeyedDraws([0, 5, 2**63 - 1], cuda, offset=2**32 - 3, use_triton=False)
    for draw in (lambda d: d.uniform((3000,)), lambda d: d.randint(60_000, (3000,))):
        assert torch.equal(draw(kernel), draw(ops))
    torch.testing.assert_close(kernel.normal((3000,)), ops.normal((3000,)), rtol=0, atol=5e-6)
    assert kernel.use_triton and kernel.fallback_reason is None
    assert torch.equal(kernel.uniform((64,)).cpu(), KeyedDraws([0, 5, 2**63 - 1], CPU,
                                                               offset=kernel.offset - 64).uniform((64,)))
