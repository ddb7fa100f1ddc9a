#!/usr/bin/env bash
# GAN baselines on synth-bench: the same wall-clock budget per model, all three trained side by side,
# then scored by scripts/evaluate.py. Usage: benchmarks/gan_bench.sh [MINUTES] [JUDGE]
# Needs data/synth-bench (see evaluation/protocol.py) and a segmenter checkpoint as the judge.
set -euo pipefail
MINUTES=${1:-35}
JUDGE=${2:-runs/judge-step400.safetensors}
PY=${PY:-.venv/bin/python}
OUT=runs/gan-bench
mkdir -p "$OUT"
for m in pix2pix spade apf; do
  # timeout stops a run mid-way; checkpoints are written atomically every 25 steps, so the newest
  # complete one is what the budget bought. /usr/bin/time -v records the CPU time actually used.
  /usr/bin/time -v timeout "${MINUTES}m" "$PY" scripts/train_gan.py --model "$m" \
    --config "configs/gan/$m-bench.json" --out "$OUT/$m" --no-progress > "$OUT/$m.log" 2>&1 &
done
wait || true
ckpts=()
for m in pix2pix spade apf; do
  ckpts+=("$OUT/$m/$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['name'])" "$OUT/$m/latest.json").safetensors")
done
"$PY" scripts/evaluate.py --judge "$JUDGE" --out "$OUT/eval" --no-progress "${ckpts[@]}"
