#!/usr/bin/env python
"""Train a ControlNet (full-resolution mask or edge control) on a frozen base UNet.

The base UNet (--base, or base.unet in the config) is frozen for real; only the adapter trains.
Writes to --out: stepNNNNNNN.safetensors (+ .state.*, latest.json), log.jsonl and at the end
controlnet.safetensors (the adapter alone, its config and its base UNet's config in the metadata).
Use it with: python scripts/sample.py --checkpoint <base run> --controlnet <out>/controlnet.safetensors ...

Examples:
    python scripts/train_controlnet.py --config configs/controlnet/small.json --base runs/unet/unet.safetensors --out runs/controlnet
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from functools import partial  # noqa: PLC0415

    from controlnet.train import CONTROLNET_SECTIONS, train_adapter  # noqa: PLC0415 - imports Jittor

    return CONTROLNET_SECTIONS, partial(train_adapter, "controlnet")


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/controlnet/small.json", load, {"base": ("base.unet", "frozen base UNet checkpoint")}))
