#!/usr/bin/env bash
# One-command setup for landscape-gen on a fresh Debian 12 / Python 3.11 machine.
#
#   bash scripts/setup.sh            # runtime install (venv in .venv)
#   bash scripts/setup.sh --test     # + test extras: pytest; torch, pytorch-fid, diffusers as oracles;
#                                    #   the paint page's web extras and Debian's chromium
#   bash scripts/setup.sh --no-warmup  # skip compiling the models' kernels (scripts/warmup.py)
#
# Idempotent: every step checks whether its result already exists; a second run is fast and
# changes nothing. Steps: Debian packages (oneDNN, Open MPI) -> venv -> pip install -e . ->
# Debian oneDNN wired into Jittor's cache dir (Jittor would otherwise download its own) ->
# GPU patches when an NVIDIA GPU is visible -> first Jittor compile -> the models' kernels compiled
# once (scripts/warmup.py), so that the first training step does not pay for them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LSGEN_VENV:-$ROOT/.venv}"
EXTRAS=""
WARMUP=1
for arg in "$@"; do
  case "$arg" in
    --test) EXTRAS="[test,ref,ui,ui-test]" ;;
    --no-warmup) WARMUP=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '[setup %3ss] %s\n' "$SECONDS" "$*"; }

need_apt=()
dpkg -s libdnnl-dev >/dev/null 2>&1 || need_apt+=(libdnnl-dev)
dpkg -s openmpi-bin >/dev/null 2>&1 || need_apt+=(openmpi-bin)
dpkg -s libopenmpi-dev >/dev/null 2>&1 || need_apt+=(libopenmpi-dev)
# the paint page's end-to-end test drives Debian's chromium (no browser download)
if [ -n "$EXTRAS" ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  step "Debian packages present"
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating venv $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

stamp="$VENV/.lsgen-installed$EXTRAS"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  step "pip install -e .$EXTRAS"
  "$PY" -m pip install -q -e "$ROOT$EXTRAS"
  touch "$stamp"
else
  step "python packages present"
fi

step "wiring Debian oneDNN into Jittor's cache dir"
"$PY" -m lsgen.setup_env wire-onednn

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  step "NVIDIA GPU visible: patching Jittor for CUDA 12/13 + cuDNN 9"
  "$PY" -m lsgen.setup_env patch-cuda
fi

step "first Jittor import (compiles once, ~3-8 min on 2 cores; cached in ~/.cache/jittor)"
"$PY" -m lsgen.setup_env check

warm_stamp="$VENV/.lsgen-kernels-warm"
if [ "$WARMUP" = 1 ] && [ ! -f "$warm_stamp" ]; then
  step "compiling the VAE and UNet kernels once (scripts/warmup.py, ~2-7 min on 2 cores)"
  "$PY" "$ROOT/scripts/warmup.py"
  touch "$warm_stamp"
fi
step "done. Python: $PY"
