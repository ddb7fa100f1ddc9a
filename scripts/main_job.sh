#!/usr/bin/env bash
# The main job on the synthetic data (run after scripts/setup.sh), in a few minutes on 2 CPU cores:
#   1. generate the synthetic landscape dataset (128x96, 800 train pairs, 32 test masks + refs)
#   2. train a small VAE (stage 1) and cache the latents of the training images
#   3. train a small mask + reference conditioned UNet (stage 2) on them
#   4. render every test mask in the style of its reference photo (the contest's layout), each region
#      started from the reference's colours of its class (--ref-shuffle with the references' labels)
#   5. write index.html: mask | reference | output | real
# Environment: LSGEN_DATA (default data/synth), LSGEN_RUNS (default runs/quick), LSGEN_DEVICE (auto),
# LSGEN_VAE_STEPS / LSGEN_UNET_STEPS (default: the quick configs' 400 / 600; a smoke run can use 5).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA="${LSGEN_DATA:-data/synth}"
RUNS="${LSGEN_RUNS:-runs/quick}"
DEVICE="${LSGEN_DEVICE:-auto}"
VAE_STEPS=(); [ -n "${LSGEN_VAE_STEPS:-}" ] && VAE_STEPS=(--steps "$LSGEN_VAE_STEPS")
UNET_STEPS=(); [ -n "${LSGEN_UNET_STEPS:-}" ] && UNET_STEPS=(--steps "$LSGEN_UNET_STEPS")
step() { printf '\n[main job %4ss] %s\n' "$SECONDS" "$*"; }

if [ ! -f "$DATA/meta.json" ]; then
  step "synthetic dataset -> $DATA"
  $PY scripts/make_synthetic.py --out "$DATA" --n 800 --n-test 32 --size 128x96 --seed 0 --preview "$RUNS/dataset_preview.png"
fi
step "stage 1: VAE -> $RUNS/vae"
$PY scripts/train_vae.py --config configs/vae/quick.json --data "$DATA" --out "$RUNS/vae" --device "$DEVICE" --resume "${VAE_STEPS[@]}"
step "latent cache -> $RUNS/latents"
$PY scripts/encode_latents.py --vae "$RUNS/vae/vae.safetensors" --data "$DATA" --out "$RUNS/latents" --splits train --device "$DEVICE"
step "stage 2: UNet (mask + reference) -> $RUNS/unet"
$PY scripts/train_unet.py --config configs/unet/quick.json --out "$RUNS/unet" --vae "$RUNS/vae/vae.safetensors" \
  --latents "$RUNS/latents/train.safetensors" --data "$DATA" --device "$DEVICE" --resume "${UNET_STEPS[@]}"
step "sampling the test masks in their references' style -> $RUNS/samples"
rm -rf "$RUNS/samples"
$PY scripts/sample.py --checkpoint "$RUNS/unet" --mask-dir "$DATA/test/labels" --label-to-img "$DATA/label_to_img.json" \
  --ref-dir "$DATA/train_resized/imgs" --ref-label-dir "$DATA/train_resized/labels" --ref-strength 0.75 --ref-shuffle \
  --out "$RUNS/samples" --steps 20 --device "$DEVICE"
$PY scripts/make_index.py --data "$DATA" --outputs "$RUNS/samples" --out "$RUNS/index.html"
step "done: open $RUNS/index.html"
