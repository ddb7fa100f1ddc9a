#!/usr/bin/env bash
# Every GAN baseline (issues 9 and 10) on synth-bench at one CPU-time budget each, two single-threaded
# trainings at a time (a 2-core machine), then RCAN x2 for the half-size LGGAN. Each run is
# benchmarks/gan_bench_cpu.sh: the kernel stops it at the budget; its newest checkpoint is what it bought.
# Usage: benchmarks/gan_bench_all.sh CPU_MINUTES OUT_ROOT PERCEPTUAL_CKPT [RCAN_STEPS] [a|b|both]
#   PERCEPTUAL_CKPT: the segmenter checkpoint used as the perceptual backbone (use another one than
#   the judge of the evaluation, so that no generator is trained on the judge's own features).
#   RCAN_STEPS: RCAN's cosine schedule length (default 4000, ~9 CPU-min); a|b: run one of the two chains only.
# e.g. benchmarks/gan_bench_all.sh 20 runs/gan-cpu20 runs/segmenter-small/step0001600.safetensors
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=$1; ROOT=$2; PERCEPTUAL=$3; RCAN_STEPS=${4:-4000}; WHICH=${5:-both}
mkdir -p "$ROOT"
common=(--steps 1000000 --set "loss.perceptual_weights=$PERCEPTUAL")

chain_a() {
    for model in pix2pix spade apf tsit; do
        benchmarks/gan_bench_cpu.sh "$model" "$MINUTES" --out "$ROOT/$model" "${common[@]}"
    done
}

chain_b() {
    benchmarks/gan_bench_cpu.sh lggan "$MINUTES" --out "$ROOT/lggan" "${common[@]}"
    benchmarks/gan_bench_cpu.sh lggan "$MINUTES" --out "$ROOT/lggan-half" "${common[@]}" \
        model.width=64 model.height=48 data.width=64 data.height=48
    benchmarks/gan_bench_cpu.sh stylegan "$MINUTES" --out "$ROOT/stylegan" --steps 1000000
    ( ulimit -t $((MINUTES * 60)); OMP_NUM_THREADS=1 exec /usr/bin/time -v .venv/bin/python scripts/train_sr.py \
        --config configs/sr/rcan-bench.json --data data/synth-bench --out "$ROOT/rcan" --no-progress \
        --steps "$RCAN_STEPS" --set train.save_every=100 ) > "$ROOT/rcan.log" 2>&1
    echo "rcan -> $ROOT/rcan: $(grep -E 'User time|Exit status|Command terminated' "$ROOT/rcan.log" | tr '\n' ' ')"
}

[ "$WHICH" != b ] && { chain_a > "$ROOT/chain_a.log" 2>&1 & }
[ "$WHICH" != a ] && { chain_b > "$ROOT/chain_b.log" 2>&1 & }
wait
cat "$ROOT"/chain_*.log
