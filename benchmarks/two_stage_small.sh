#!/usr/bin/env bash
# Issue 6's measurement: VAE `small` then UNet `small` on synth-bench at 128x96 inside one CPU-hour,
# then a grid of 16 val masks (mask | ref | sample with ref | sample without ref | real).
# Usage: benchmarks/two_stage_small.sh [VAE_STEPS] [UNET_STEPS] [OUT]   (defaults: 1000 1600 runs/i6)
# Single-threaded (OMP_NUM_THREADS=1): CPU-minutes ~ wall-minutes, and the other core stays usable.
# /usr/bin/time -v in each log records the CPU time each stage used.
set -euo pipefail
cd "$(dirname "$0")/.."
VAE_STEPS=${1:-1000}
UNET_STEPS=${2:-1600}
OUT=${3:-runs/i6}
DATA=${LSGEN_DATA:-data/synth-bench}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
timed() { local log=$1; shift; /usr/bin/time -v "$@" > "$log" 2>&1; grep -E "User time|System time|Elapsed" "$log"; }

echo "stage 1: VAE small, $VAE_STEPS updates, full 128x96 frames"
timed "$OUT/vae.log" $PY scripts/train_vae.py --config configs/vae/small.json --data "$DATA" --out "$OUT/vae" \
  --set data.width=128 data.height=96 recipe.crop_width=0 recipe.crop_height=0 train.save_every=250 \
  train.preview_every=250 --steps "$VAE_STEPS" --no-progress --resume
$PY benchmarks/vae_quality.py --vae "$OUT/vae/vae.safetensors" --data "$DATA" | tee "$OUT/vae_quality.txt"

echo "latent cache"
timed "$OUT/latents.log" $PY scripts/encode_latents.py --vae "$OUT/vae/vae.safetensors" --data "$DATA" \
  --out "$OUT/latents" --splits train val --no-progress

echo "stage 2: UNet small, $UNET_STEPS updates"
timed "$OUT/unet.log" $PY scripts/train_unet.py --config configs/unet/small.json --out "$OUT/unet" \
  --vae "$OUT/vae/vae.safetensors" --latents "$OUT/latents/train.safetensors" --data "$DATA" \
  --set train.save_every=400 train.preview_every=400 "data.val_cache=\"$OUT/latents/val.safetensors\"" \
  --steps "$UNET_STEPS" --no-progress --resume

echo "grid of 16 val masks"
$PY benchmarks/val_grid.py --checkpoint "$OUT/unet" --data "$DATA" --n 16 --out "$OUT/val_grid.png"
