"""The domain classifier's network, its trained wrapper and its training recipe.

:class:`DomainNet` is the small CNN, :class:`DomainClassifier` a trained one as
:mod:`ganbench.evaluation.domain.classifiers` loads it from its cache, :func:`train_classifier`
the seeded recipe that trains one. Where the data comes from and how classifiers are cached is
:mod:`ganbench.evaluation.domain.classifiers`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.data import resize

#: Seed of the network initialisation, the shuffling and the by-object holdout split.
SEED = 0
FEATURE_DIM = 128
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
#: Training length: about this many images seen in total, between MIN and MAX epochs.
TARGET_IMAGES = 8_000
MIN_EPOCHS, MAX_EPOCHS = 2, 30
#: Images per forward pass when classifying many images.
CHUNK = 1024


# ---------------------------------------------------------------------------- the network

class DomainNet(nn.Module):
    """Two conv blocks (32 and 64 channels, each max-pooled), a 4x4 adaptive pool, a 128-unit
    penultimate layer, a linear head.

    Input ``(N, C, H, W)`` in [-1, 1] of any size >= 4; ``features`` is the penultimate layer
    (after ReLU), ``head`` maps it to class logits.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, FEATURE_DIM), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.body(x)))


class DomainClassifier(nn.Module):
    """A trained domain classifier (an ``nn.Module``: ``.to(device)`` moves it).

    Inputs are images as the dataset holds them: float ``(N, channels, size, size)`` in [-1, 1]
    (other sizes are resized). ``features(x)``: penultimate activations, ``(N, 128)``
    (``(N, 384)`` for a stacked dataset); ``logits(x)``: ``(N, num_classes)``;
    ``predict(x)``: class indices and their probability (the confidence). ``accuracy`` is the
    held-out accuracy (per channel for a stacked dataset), ``key`` the cache key, ``digest``
    the SHA-256 of the weights file, ``info`` everything stored with it.
    """

    def __init__(self, state: dict[str, Any]):
        super().__init__()
        info = dict(state["info"])
        self.info = info
        self.key: str = info["key"]
        self.accuracy: float = float(info["accuracy"])
        self.channels: int = int(info["channels"])
        self.size: int = int(info["size"])
        self.stacked: bool = bool(info["stacked"])
        self.net_classes: int = int(info["net_classes"])
        self.num_classes: int = self.net_classes ** 3 if self.stacked else self.net_classes
        self.digest: str = str(state.get("digest", ""))
        self.net = DomainNet(1 if self.stacked else self.channels, self.net_classes)
        self.net.load_state_dict(state["state_dict"])
        self.requires_grad_(False)
        self.eval()

    @property
    def feature_dim(self) -> int:
        """Width of ``features``: 128, or 384 for a stacked dataset (three channels' features)."""
        return FEATURE_DIM * (3 if self.stacked else 1)

    def _prepare(self, x: Tensor) -> Tensor:
        x = x.to(next(self.net.parameters()).device, torch.float32)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"domain classifier expects (N, {self.channels}, H, W) images,"
                             f" got {tuple(x.shape)}")
        if x.shape[-2:] != (self.size, self.size):
            x = resize(x, self.size)
        return x

    def _channels(self, x: Tensor) -> Tensor:
        """Stacked: ``(N, 3, H, W)`` -> ``(3N, 1, H, W)``, channel-major within each image."""
        return x.reshape(-1, 1, *x.shape[-2:]) if self.stacked else x

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        x = self._prepare(x)
        out = self.net.features(self._channels(x))
        return out.reshape(len(x), -1)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        x = self._prepare(x)
        out = self.net(self._channels(x))
        if not self.stacked:
            return out
        logp = F.log_softmax(out, dim=1).reshape(len(x), 3, self.net_classes)
        k = self.net_classes
        joint = (logp[:, 0, :, None, None] + logp[:, 1, None, :, None]
                 + logp[:, 2, None, None, :])  # (N, k, k, k): index 100a + 10b + c for k = 10
        return joint.reshape(len(x), k ** 3)

    @torch.no_grad()
    def predict(self, x: Tensor, chunk: int = CHUNK) -> tuple[Tensor, Tensor]:
        """Predicted class and its probability for every image, ``chunk`` images at a time."""
        labels, confidence = [], []
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            if self.stacked:  # argmax of the joint = per-channel argmaxes; no (N, 1000) tensor
                part = self._prepare(part)
                probs = F.softmax(self.net(self._channels(part)), dim=1)
                p, c = probs.max(dim=1)
                p, c = p.reshape(-1, 3), c.reshape(-1, 3)
                k = self.net_classes
                labels.append(c[:, 0] * k * k + c[:, 1] * k + c[:, 2])
                confidence.append(p.prod(dim=1))
            else:
                p, c = F.softmax(self.logits(part), dim=1).max(dim=1)
                labels.append(c)
                confidence.append(p)
        return torch.cat(labels), torch.cat(confidence)


# ---------------------------------------------------------------------------- training

def train_classifier(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                     num_classes: int, device: torch.device | str) -> tuple[DomainNet, float, dict]:
    """Train a :class:`DomainNet` (seeded, Adam, random ±1-pixel shifts) and return it with its
    accuracy on the held-out images and a few training facts."""
    device = torch.device(device)
    started = time.perf_counter()
    train_x, train_y = train_x.to(device, torch.float32), train_y.to(device, torch.long)
    test_x, test_y = test_x.to(device, torch.float32), test_y.to(device, torch.long)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)
        net = DomainNet(train_x.shape[1], num_classes).to(device)
    n = len(train_x)
    epochs = max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_IMAGES / n)))
    steps_per_epoch = math.ceil(n / BATCH_SIZE)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch)
    rng = torch.Generator().manual_seed(SEED)
    net.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)  # dropout
        for _ in range(epochs):
            order = torch.randperm(n, generator=rng).to(device)
            shifts = torch.randint(-1, 2, (steps_per_epoch, 2), generator=rng).tolist()
            for step in range(steps_per_epoch):
                idx = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
                x = torch.roll(train_x[idx], shifts=shifts[step], dims=(2, 3))
                loss = F.cross_entropy(net(x), train_y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(test_x[s:s + CHUNK]).argmax(1) == test_y[s:s + CHUNK]).sum())
                      for s in range(0, len(test_x), CHUNK))
    accuracy = correct / len(test_x)
    facts = {"epochs": epochs, "n_train": n, "n_test": len(test_x),
             "train_seconds": time.perf_counter() - started}
    return net.cpu(), accuracy, facts
