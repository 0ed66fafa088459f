#!/usr/bin/env bash
# The prepared device check (issue 24; docs/gpu.md): install ganbench from this working tree,
# run the CUDA-only tests, then measure what benchmarks/device_check.py lists, on one device,
# in one call of at most 8 minutes (the measurements stop at 7.5 minutes).
#
#   bash benchmarks/device_check.sh [--device cuda|cpu] [--quick] [--no-install]
#
# Output: $OUT/device_check.json (written after every section) and $OUT/device_check.log
# (everything printed); OUT defaults to ./device-check-out. PYTHON defaults to `python`.
# DEVICE_CHECK_BUDGET_S (default 450): the time guard, counted from the script's start.
# Install (left out with --no-install): `pip install --no-deps -e .` (offline: no build
# isolation, no index) and the wheels in benchmarks/wheels/ that the device image lacks
# (benchmarks/device_prep.sh fills that folder; the device tool's `carry` brings it along).
# If the editable install fails, ganbench is imported from the tree through PYTHONPATH.
set -euo pipefail

usage() { sed -n '6p' "$0" | sed 's/^# *//'; }

DEVICE=cuda
QUICK=()
INSTALL=1
while (($#)); do
  case "$1" in
    --device) DEVICE="${2:-}"; shift 2 || { echo "device_check: --device needs cuda or cpu" >&2; exit 2; } ;;
    --device=*) DEVICE="${1#--device=}"; shift ;;
    --quick) QUICK=(--quick); shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "device_check: unknown option $1; usage: $(usage)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in
  cuda|cpu) ;;
  *) echo "device_check: --device must be cuda or cpu, got '$DEVICE'" >&2; exit 2 ;;
esac

DEVICE_CHECK_STARTED="$(date +%s.%N)"
export DEVICE_CHECK_STARTED
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
OUT="${OUT:-./device-check-out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/device_check.log"
: > "$LOG"
log() { echo "[device_check $(date +%T)] $*" | tee -a "$LOG"; }

log "device $DEVICE, quick ${QUICK[*]:-no}, install $INSTALL, python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
NOTE="skipped (--no-install)"
if ((INSTALL)); then
  started=$SECONDS
  if "$PYTHON" -m pip install --no-deps --no-build-isolation --no-index -e . >>"$LOG" 2>&1; then
    NOTE="pip install --no-deps -e . ok"
  else
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    NOTE="pip install --no-deps -e . failed (see the log): ganbench imported through PYTHONPATH"
  fi
  shopt -s nullglob
  wheels=(benchmarks/wheels/*.whl)
  shopt -u nullglob
  if ((${#wheels[@]})); then
    if "$PYTHON" -m pip install --no-deps --no-index "${wheels[@]}" >>"$LOG" 2>&1; then
      NOTE="$NOTE; wheels: $(basename -a "${wheels[@]}" | tr '\n' ' ')"
    else
      NOTE="$NOTE; installing benchmarks/wheels/*.whl failed (see the log)"
    fi
  else
    NOTE="$NOTE; no wheels in benchmarks/wheels/ (run benchmarks/device_prep.sh and carry the folder)"
  fi
  NOTE="$NOTE; $((SECONDS - started)) s"
  log "install: $NOTE"
fi

"$PYTHON" -u benchmarks/device_check.py --device "$DEVICE" --out "$OUT" --install-note "$NOTE" \
  --budget-s "${DEVICE_CHECK_BUDGET_S:-450}" \
  ${QUICK[@]+"${QUICK[@]}"} 2>&1 | tee -a "$LOG"
log "done: $OUT/device_check.json"
