#!/usr/bin/env python
"""Train a GAN baseline (pix2pix, SPADE with a reference encoder, the APF-GAN recipe, TSIT, LGGAN+SAU, StyleGAN).

Writes to --out: stepNNNNNNN.safetensors (G weights + EMA; kind gan-<model>), .state.* (D, optimizer
moments, RNG, data position), latest.json, log.jsonl (d_step/* and g_step/* losses) and
previews/*.png (val masks, photos, samples). --config defaults to configs/gan/<model>-bench.json.

Examples:
    python scripts/train_gan.py --model pix2pix --config configs/gan/pix2pix-tiny.json --data data/synth --out runs/p2p
    python scripts/train_gan.py --model spade --data data/synth-bench --out runs/spade-bench
    python scripts/train_gan.py --model apf --config configs/gan/apf-full.json --data /data/2022 --out runs/apf --resume
    python scripts/train_gan.py --model tsit --data data/synth-bench --out runs/tsit-bench
    python scripts/train_gan.py --model lggan --config configs/gan/lggan-full.json --data /data/2023 --out runs/lggan
    python scripts/train_gan.py --model stylegan --data data/synth-bench --out runs/stylegan-bench
StyleGAN is unconditional (64x64 photos; gan/stylegan_train.py, kind gan-stylegan): no masks are used.

Perceptual loss: --set loss.perceptual_weights=<file>. A segmenter checkpoint (scripts/train_segmenter.py,
the default backbone: its encoder stages, EMA weights) or torchvision VGG19 weights in safetensors;
the log says which, and without a file the term is off.
    python scripts/train_gan.py --model spade --out runs/spade --set loss.perceptual_weights=runs/segmenter/step0005000.safetensors
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402

MODEL_NAMES = ("pix2pix", "spade", "apf", "tsit", "lggan", "stylegan")


def add_model_flag(parser) -> None:
    parser.add_argument("--model", required=True, choices=MODEL_NAMES, help="which GAN to train")


def load(args):
    if args.model == "stylegan":  # unconditional: its own two phases on the same loop
        from gan.stylegan_train import SECTIONS, train as train_stylegan  # noqa: PLC0415

        return SECTIONS, train_stylegan
    from gan.train import sections_for, train  # noqa: PLC0415 - imports Jittor

    def train_with_backbone(sections, out, **kwargs):
        weights = sections["loss"].perceptual_weights
        return train(args.model, sections, out, segmenter=segmenter_backbone(weights), **kwargs)

    return sections_for(args.model), train_with_backbone


def segmenter_backbone(weights: str):
    """The project segmenter (EMA weights) when `weights` is a segmenter checkpoint, else None (VGG19 or off)."""
    from evaluation.judge import Judge, is_segmenter_checkpoint  # noqa: PLC0415
    from gan.perceptual import SegmenterBackbone  # noqa: PLC0415

    if not (weights and is_segmenter_checkpoint(weights)):
        return None
    judge = Judge(weights)
    return SegmenterBackbone(judge.model, (judge.height, judge.width), weights)


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/gan/{model}-bench.json", load, add_args=add_model_flag))
