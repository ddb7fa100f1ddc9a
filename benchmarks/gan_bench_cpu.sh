#!/usr/bin/env bash
# One GAN baseline on synth-bench under a CPU-time budget (the kernel's RLIMIT_CPU: the process is
# stopped once it has used the budget; checkpoints are written atomically every 25 steps, so the
# newest complete one is what the budget bought). Single-threaded, so CPU time ~ the work done,
# whatever else the machine runs. Usage: benchmarks/gan_bench_cpu.sh MODEL CPU_MINUTES [extra train_gan.py args]
# e.g. benchmarks/gan_bench_cpu.sh tsit 8 ;  benchmarks/gan_bench_cpu.sh lggan 8 --out runs/gan-bench/lggan-half --set ...
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; MINUTES=$2; shift 2
OUT=runs/gan-bench/$MODEL
for arg in "$@"; do [ "${prev:-}" = "--out" ] && OUT=$arg; prev=$arg; done
mkdir -p "$(dirname "$OUT")"
export OMP_NUM_THREADS=1
( ulimit -t $((MINUTES * 60)); exec /usr/bin/time -v .venv/bin/python scripts/train_gan.py --model "$MODEL" \
    --config "configs/gan/$MODEL-bench.json" --out "$OUT" --no-progress "$@" ) > "$OUT.log" 2>&1
echo "$MODEL -> $OUT: $(grep -E 'User time|Exit status|Command terminated' "$OUT.log" | tr '\n' ' ')"
