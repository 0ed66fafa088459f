#!/usr/bin/env bash
# Fill benchmarks/wheels/ with the wheels the device image lacks (docs/gpu.md), here, where
# the package index can be reached: the device machine is offline. The device tool's `carry`
# argument brings the folder along, and benchmarks/device_check.sh installs it with --no-deps.
#
# The device image (Python 3.12, torch 2.11) has torch, torchvision, pluggy, pandas, typer, rich,
# matplotlib, scipy, scikit-learn and pytest. Of pyproject.toml's dependencies it lacks
#   torch-fidelity (pure Python; pinned as in pyproject.toml and constraints.txt),
#   safetensors (checkpoints and exports; a compiled abi3 wheel, hence --platform),
# and torch-fidelity needs tqdm, which the image's list does not name.
#
#   bash benchmarks/device_prep.sh        (PYTHON defaults to `python`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
mkdir -p benchmarks/wheels
"$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 --platform any \
  -d benchmarks/wheels "torch-fidelity==0.4.0" "safetensors>=0.4" "tqdm"
ls -l benchmarks/wheels
