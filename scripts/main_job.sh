#!/usr/bin/env bash
# The main job on the synthetic data (run after scripts/setup.sh):
#   1. generate the synthetic landscape dataset (data/synth, 128x96, quick-start size)
#   2. train the tiniest model that exists on it
# Environment: LSGEN_DATA (default data/synth), LSGEN_RUNS (default runs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA="${LSGEN_DATA:-data/synth}"
RUNS="${LSGEN_RUNS:-runs}"

if [ ! -f "$DATA/meta.json" ]; then
  $PY scripts/make_synthetic.py --out "$DATA" --n 400 --size 128x96 --seed 0 --preview "$DATA/preview.png"
fi
echo "dataset: $DATA (preview: $DATA/preview.png)"
