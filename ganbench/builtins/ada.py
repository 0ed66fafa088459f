"""ADA: adaptive discriminator augmentation (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", NeurIPS; StyleGAN2-ADA), the built-in ``ada``.

**The controller** follows the paper and NVlabs/stylegan2-ada-pytorch (``training_loop.py``):
``observe(real_logits)`` accumulates ``sign(D(x_real))`` over D's steps; every ``interval``
calls, ``r_t = E[sign(D(x_real))]`` over the logits seen since the last adjustment, and

    p <- clamp(p + sign(r_t - target) * n / (speed_kimg * 1000), 0, 1)

where ``n`` is the number of real logits observed in the interval (``batch_size * interval``
with one logit per sample), so ``p`` can move from 0 to 1 in ``speed_kimg`` thousand real
images (defaults ``target = 0.6``, ``interval = 4``, ``speed_kimg = 500``: the official
``ada_target``, ``ada_interval``, ``ada_kimg``). ``p`` starts at ``p`` (default 0). With
``adaptive = false``, ``p`` stays fixed (the paper's fixed-p baselines). ``p``, ``r_t`` and the
accumulators are buffers on the device: a checkpoint carries them, and nothing synchronises
with the host. The official code clamps ``p`` at 0 only; ganbench also clamps at 1, above which a
probability means nothing (p would otherwise need time to come back down).

**The pipeline** (``pipeline = "bgc"``, the paper's default; also ``"blit"``, ``"geom"``,
``"color"``, ``"bg"``): each transform is applied to each sample with probability ``p`` (the
arbitrary rotation twice, before and after the anisotropic scaling, each with probability
``1 - sqrt(1 - p)``), with the official ranges:

- pixel blitting: x-flip, rotations by multiples of 90 degrees, integer translation up to 1/8
  of the image size;
- general geometric: isotropic scaling (``2^N(0, 0.2^2)``), arbitrary rotation (uniform, full
  circle), anisotropic scaling (``2^N(0, 0.2^2)``), fractional translation (``N(0, 0.125^2)``
  of the image size);
- colour: brightness (``+N(0, 0.2^2)``), contrast (``x 2^N(0, 0.5^2)``), luma flip, hue
  rotation (uniform, full circle, around the luma axis), saturation (``x 2^N(0, 1)``); hue and
  saturation only for more than one channel; a batch of other than 3 channels gets the
  official single-channel rule (the colour matrix averaged over its rows) on each channel.

All geometric transforms are composed into one affine map per sample and executed with one
bilinear ``grid_sample`` with reflection at the borders (``grid_sampling``: twice
differentiable in the images on every supported torch, for penalties); samples that drew no geometric
transform are returned exactly as they were. **Not included** (differences from the official
pipeline): the 2x upsampling with a wavelet low-pass filter around the geometric warp (so
scaling and rotation may alias), image-space filtering, additive noise and cutout (none of them
in the paper's default ``bgc``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from ganbench.builtins.grid_sampling import grid_sample
from ganbench.contracts import Augmentation
from ganbench.errors import ConfigError

#: The official presets: which groups each pipeline applies.
PIPELINES = {"blit": ("blit",), "geom": ("geom",), "color": ("color",), "bg": ("blit", "geom"),
             "bgc": ("blit", "geom", "color")}

# the official ranges (AugmentPipe's defaults)
XINT_MAX, SCALE_STD, ANISO_STD, XFRAC_STD = 0.125, 0.2, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD = 0.2, 0.5, 1.0


def image_batch(name: str, x: Tensor) -> None:
    """A one-line ConfigError unless ``x`` is a batch of images ``(N, C, H, W)``."""
    if x.dim() != 4:
        raise ConfigError(f"augmentation {name!r} transforms image batches (N, C, H, W), got a"
                          f" batch of shape {tuple(x.shape)}: use augmentation = \"none\" for"
                          " data that is not images")


def _eye(n: int, size: int, device: torch.device) -> Tensor:
    return torch.eye(size, device=device).expand(n, size, size)


def _affine(a: Tensor, b: Tensor, c: Tensor, d: Tensor, tx: Tensor, ty: Tensor) -> Tensor:
    """Per-sample 3x3 matrices ``[[a, b, tx], [c, d, ty], [0, 0, 1]]`` from (N,) tensors."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([a, b, tx, c, d, ty, zero, zero, one], dim=1).view(-1, 3, 3)


def _rotation(cos: Tensor, sin: Tensor) -> Tensor:
    zero = torch.zeros_like(cos)
    return _affine(cos, -sin, sin, cos, zero, zero)


def _scaling(sx: Tensor, sy: Tensor) -> Tensor:
    zero = torch.zeros_like(sx)
    return _affine(sx, zero, zero, sy, zero, zero)


def _translation(tx: Tensor, ty: Tensor) -> Tensor:
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    return _affine(one, zero, zero, one, tx, ty)


class AdaptiveAugment(Augmentation):
    """ADA (Karras et al. 2020): see :mod:`ganbench.builtins.ada` for what is included."""

    p: Tensor  # buffers
    rt: Tensor
    sign_sum: Tensor
    seen: Tensor
    calls: Tensor

    def __init__(self, p: float = 0.0, target: float = 0.6, interval: int = 4,
                 speed_kimg: float = 500.0, adaptive: bool = True, pipeline: str = "bgc"):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"ada p must be in [0, 1], got {p}")
        if not 0.0 <= float(target) <= 1.0:
            raise ConfigError(f"ada target must be in [0, 1] (r_t = E[sign(D(x_real))]), got {target}")
        if int(interval) != interval or interval < 1:
            raise ConfigError(f"ada interval must be an integer >= 1, got {interval}")
        if not float(speed_kimg) > 0:
            raise ConfigError(f"ada speed_kimg must be > 0, got {speed_kimg}")
        if pipeline not in PIPELINES:
            raise ConfigError(f"ada pipeline {pipeline!r} is unknown; use one of"
                              f" {', '.join(PIPELINES)}")
        self.target, self.interval = float(target), int(interval)
        self.speed_kimg, self.adaptive = float(speed_kimg), bool(adaptive)
        self.pipeline, self.groups = pipeline, PIPELINES[pipeline]
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("rt", torch.tensor(0.0))  # r_t of the last adjustment
        self.register_buffer("sign_sum", torch.tensor(0.0))  # since the last adjustment
        self.register_buffer("seen", torch.tensor(0.0))  # real logits since the last adjustment
        self.register_buffer("calls", torch.tensor(0, dtype=torch.int64))

    # ------------------------------------------------------------------ the controller
    @torch.no_grad()
    def observe(self, real_logits: Tensor) -> None:
        logits = real_logits.detach().float().to(self.p.device)
        self.sign_sum.add_(torch.sign(logits).sum())
        self.seen.add_(logits.numel())
        self.calls.add_(1)
        due = self.calls % self.interval == 0
        rt = self.sign_sum / self.seen.clamp(min=1.0)
        step = torch.sign(rt - self.target) * self.seen / (self.speed_kimg * 1000.0)
        if self.adaptive:
            self.p.copy_(torch.where(due, (self.p + step).clamp(0.0, 1.0), self.p))
        self.rt.copy_(torch.where(due, rt, self.rt))
        self.sign_sum.copy_(torch.where(due, torch.zeros_like(self.sign_sum), self.sign_sum))
        self.seen.copy_(torch.where(due, torch.zeros_like(self.seen), self.seen))

    def log_values(self) -> dict[str, Tensor]:
        return {"ada_p": self.p.detach().clone(), "ada_rt": self.rt.detach().clone()}

    def extra_repr(self) -> str:
        return (f"pipeline={self.pipeline!r}, target={self.target}, interval={self.interval},"
                f" speed_kimg={self.speed_kimg}, adaptive={self.adaptive}")

    # ------------------------------------------------------------------ the pipeline
    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        image_batch("ada", x)
        if "blit" in self.groups or "geom" in self.groups:
            x = self._geometric(x, generator)
        if "color" in self.groups:
            x = self._color(x, generator)
        return x

    def _rand(self, shape: tuple[int, ...], x: Tensor, generator: torch.Generator) -> Tensor:
        return torch.rand(shape, generator=generator, device=x.device, dtype=torch.float32)

    def _randn(self, shape: tuple[int, ...], x: Tensor, generator: torch.Generator) -> Tensor:
        return torch.randn(shape, generator=generator, device=x.device, dtype=torch.float32)

    def _chosen(self, n: int, x: Tensor, generator: torch.Generator, prob: Tensor) -> Tensor:
        """Which samples get a transform: a bool per sample, true with probability ``prob``."""
        return self._rand((n,), x, generator) < prob

    def _geometric(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = x.shape
        p = self.p.to(device=x.device, dtype=torch.float32)
        # G maps an output pixel (centred coordinates, in pixels) to the input pixel it reads
        g = _eye(n, 3, x.device)
        moved = torch.zeros(n, dtype=torch.bool, device=x.device)
        one = torch.ones(n, device=x.device)

        def then(matrix: Tensor, chosen: Tensor) -> None:
            nonlocal g, moved
            g = g @ torch.where(chosen.view(n, 1, 1), matrix, _eye(n, 3, x.device))
            moved = moved | chosen

        if "blit" in self.groups:
            flip = torch.floor(self._rand((n,), x, generator) * 2)
            then(_scaling(1 - 2 * flip, one), self._chosen(n, x, generator, p))
            quarter = torch.floor(self._rand((n,), x, generator) * 4)
            # cos and sin of quarter * 90 degrees, exactly
            cos = (quarter == 0).float() - (quarter == 2).float()
            sin = (quarter == 1).float() - (quarter == 3).float()
            then(_rotation(cos, sin), self._chosen(n, x, generator, p))
            t = (self._rand((n, 2), x, generator) * 2 - 1) * XINT_MAX
            then(_translation(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h)),
                 self._chosen(n, x, generator, p))
        if "geom" in self.groups:
            s = torch.exp2(self._randn((n,), x, generator) * SCALE_STD)
            then(_scaling(1 / s, 1 / s), self._chosen(n, x, generator, p))
            p_rot = 1 - torch.sqrt((1 - p).clamp(0, 1))  # P(pre or post rotation) = p
            theta = (self._rand((n,), x, generator) * 2 - 1) * math.pi
            then(_rotation(torch.cos(theta), torch.sin(theta)), self._chosen(n, x, generator, p_rot))
            s = torch.exp2(self._randn((n,), x, generator) * ANISO_STD)
            then(_scaling(1 / s, s), self._chosen(n, x, generator, p))
            theta = (self._rand((n,), x, generator) * 2 - 1) * math.pi
            then(_rotation(torch.cos(theta), torch.sin(theta)), self._chosen(n, x, generator, p_rot))
            t = self._randn((n, 2), x, generator) * XFRAC_STD
            then(_translation(-t[:, 0] * w, -t[:, 1] * h), self._chosen(n, x, generator, p))

        # to affine_grid's coordinates: [-1, 1] across the image (align_corners=False)
        # diag(2/w, 2/h, 1) @ g @ diag(w/2, h/2, 1), made on the device (no host copy)
        units = torch.ones(3, 3, device=x.device)
        units[0] *= 2 / w
        units[1] *= 2 / h
        units[:, 0] *= w / 2
        units[:, 1] *= h / 2
        theta_grid = (g * units)[:, :2, :]
        grid = F.affine_grid(theta_grid, [n, x.shape[1], h, w], align_corners=False)
        warped = grid_sample(x, grid.to(x.dtype), padding_mode="reflection")
        return torch.where(moved.view(n, 1, 1, 1), warped, x)

    def _color(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, c, h, w = x.shape
        p = self.p.to(device=x.device, dtype=torch.float32)
        eye = _eye(n, 4, x.device)
        luma = torch.full((4,), 1 / math.sqrt(3), device=x.device)
        luma[3] = 0.0
        vv = torch.outer(luma, luma)
        m = eye  # colour_out = m @ [r, g, b, 1]
        changed = torch.zeros(n, dtype=torch.bool, device=x.device)

        def then(matrix: Tensor, chosen: Tensor) -> None:
            nonlocal m, changed
            m = torch.where(chosen.view(n, 1, 1), matrix, eye) @ m
            changed = changed | chosen

        b = self._randn((n,), x, generator) * BRIGHTNESS_STD
        shift = eye.clone()
        shift[:, :3, 3] = b.unsqueeze(1)
        then(shift, self._chosen(n, x, generator, p))
        k = torch.exp2(self._randn((n,), x, generator) * CONTRAST_STD)
        then(torch.diag_embed(torch.stack([k, k, k, torch.ones_like(k)], dim=1)),
             self._chosen(n, x, generator, p))
        flip = torch.floor(self._rand((n,), x, generator) * 2).view(n, 1, 1)
        then(eye - 2 * vv * flip, self._chosen(n, x, generator, p))  # Householder reflection
        if c > 1:
            theta = (self._rand((n,), x, generator) * 2 - 1) * math.pi
            then(_rotate_about(luma, theta), self._chosen(n, x, generator, p))
            s = torch.exp2(self._randn((n,), x, generator) * SATURATION_STD).view(n, 1, 1)
            then(vv + (eye - vv) * s, self._chosen(n, x, generator, p))

        m = m.to(x.dtype)
        flat = x.reshape(n, c, h * w)
        if c == 3:
            out = m[:, :3, :3] @ flat + m[:, :3, 3:]
        else:  # the official single-channel rule, on each channel
            rows = m[:, :3, :].mean(dim=1, keepdim=True)  # (n, 1, 4)
            out = flat * rows[:, :, :3].sum(dim=2, keepdim=True) + rows[:, :, 3:]
        return torch.where(changed.view(n, 1, 1, 1), out.reshape(n, c, h, w), x)


def _rotate_about(v: Tensor, theta: Tensor) -> Tensor:
    """Per-sample 4x4 homogeneous rotations by ``theta`` about the unit axis ``v[:3]``."""
    vx, vy, vz = v[0], v[1], v[2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    zero, one = torch.zeros_like(theta), torch.ones_like(theta)
    rows = [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, zero,
            vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, zero,
            vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, zero,
            zero, zero, zero, one]
    return torch.stack(rows, dim=1).view(-1, 4, 4)
