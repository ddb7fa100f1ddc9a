#!/usr/bin/env python
"""Estimate training memory per batch size for a model config (an estimate, not a measurement).

memory(batch) ≈ 16 B × parameters (fp32 weights, gradients, AdamW's two moments)
              + batch × activations, where activations = 4 B × the sum of every module output's
                elements in one forward pass at batch 1 (what backward keeps, as an upper bound).
The forward is run once on the CPU at the real size with output-counting hooks.

    python benchmarks/gpu_memory_estimate.py unet configs/unet/base.json --size 512x384 --batch 1 8 32
    python benchmarks/gpu_memory_estimate.py vae configs/vae/base.json --size 256x256 --batch 1 8 16
    python benchmarks/gpu_memory_estimate.py gan configs/gan/spade-full.json --model spade --batch 1 4 8

For a GAN the trained parameters are G's and D's (each with AdamW state), a frozen perceptual VGG19
counts 4 B per weight, and the activations are those of one training step's forwards: G on the
batch, D on the real and on the fake images, the VGG19 trunk on the fake.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int  # noqa: E402


def count_activations(model, run) -> int:
    """Elements of every module's outputs during `run()` (forward hooks on all submodules of
    `model`, a module or a list of modules)."""
    from lsgen.runtime import jt  # noqa: PLC0415

    total = {"n": 0}

    def hook(module, args, out, kwargs=None):
        outs = out if isinstance(out, (list, tuple)) else [out]
        total["n"] += sum(int(o.numel()) for o in outs if isinstance(o, jt.Var))

    roots = model if isinstance(model, list) else [model]
    modules = [m for root in roots for _, m in root.named_modules()][1:]
    for module in modules:
        module.register_forward_hook(hook)
    with jt.no_grad():
        run()
    for module in modules:
        module.remove_forward_hook()
    return total["n"]


VGG19_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512)  # conv1_1 .. conv5_1


def vgg_stand_in():
    """The perceptual loss's frozen VGG19 trunk with random weights (same shapes and cost as the
    real file, which the estimate does not need)."""
    import numpy as np  # noqa: PLC0415

    from gan.perceptual import VGG19_CONVS, VGGPerceptualLoss  # noqa: PLC0415

    arrays, in_ch = {}, 3
    for index, out_ch in zip(VGG19_CONVS, VGG19_WIDTHS):
        arrays[f"features.{index}.weight"] = np.zeros((out_ch, in_ch, 3, 3), np.float32)
        arrays[f"features.{index}.bias"] = np.zeros((out_ch,), np.float32)
        in_ch = out_ch
    return VGGPerceptualLoss(arrays, "stand-in")


def build_gan(name: str, config: str, width: int, height: int):
    """([G, D], frozen modules, callable running one batch-1 training forward) for a GAN config:
    G on the batch, D on the real and on the fake images, the perceptual trunk on the fake."""
    from dataclasses import replace  # noqa: PLC0415

    from gan.train import GANSteps, sections_for  # noqa: PLC0415
    from lsgen.config import load_config  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415

    sections = load_config(config, sections_for(name))
    use_vgg = sections["loss"].perceptual_weight > 0 and bool(sections["loss"].perceptual_weights)
    sections["loss"] = replace(sections["loss"], perceptual_weights="")
    steps = GANSteps(name, sections)
    frozen = [vgg_stand_in()] if use_vgg else []
    batch = {"image": jt.rand(1, 3, height, width) * 2 - 1, "mask_onehot": jt.rand(1, 29, height, width)}

    def run():
        gen = steps.generate(batch, step=10**9)  # past any progressive schedule: full size
        steps.disc(gen["real"], gen["mask"])
        outs = steps.disc(gen["fake"], gen["mask"])
        for module in frozen:
            outs = outs + [module.features(gen["fake"])]
        outs[-1][-1].sync()
    return [steps.gen, steps.disc] + frozen, frozen, run


def build(kind: str, config: str, width: int, height: int):
    """(model, callable running one batch-1 forward) for a config file."""
    from lsgen.config import load_config  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415

    if kind == "unet":
        from diffusion.train import SECTIONS  # noqa: PLC0415
        from diffusion.unet import UNet  # noqa: PLC0415

        cfg = load_config(config, SECTIONS)["model"]
        model = UNet(cfg)
        x, mask = jt.randn(1, cfg.in_channels, height // 8, width // 8), jt.rand(1, 29, height, width)

        def run():
            ref = model.encode_ref(jt.rand(1, 3, height, width)) if cfg.ref_dim else (None, None)
            model(x, jt.array([500]), mask_onehot=mask, ref_tokens=ref[0], ref_global=ref[1]).sync()
        return model, run
    from vae.model import AutoencoderKL  # noqa: PLC0415
    from vae.train import SECTIONS  # noqa: PLC0415

    model = AutoencoderKL(load_config(config, SECTIONS)["model"])
    return model, lambda: model(jt.rand(1, 3, height, width))[0].sync()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("unet", "vae", "gan"))
    parser.add_argument("config")
    parser.add_argument("--model", default="", help="gan: the --model name of scripts/train_gan.py")
    parser.add_argument("--size", type=parse_size, default=(512, 384))
    parser.add_argument("--batch", type=positive_int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    if args.kind == "gan":
        if not args.model:
            parser.error("gan needs --model (e.g. spade)")
        model, frozen, run = build_gan(args.model, args.config, *args.size)
    else:
        (model, run), frozen = build(args.kind, args.config, *args.size), []
    frozen_params = sum(int(p.numel()) for m in frozen for p in m.parameters())
    params = sum(int(p.numel()) for m in (model if isinstance(model, list) else [model])
                 for p in m.parameters()) - frozen_params
    acts = count_activations(model, run)
    frozen_note = f" + {frozen_params / 1e6:.1f}M frozen (perceptual VGG19)" if frozen_params else ""
    print(f"{args.kind} {args.config} at {args.size[0]}x{args.size[1]}: {params / 1e6:.1f}M trained parameters"
          f"{frozen_note}, {acts * 4 / 2**30:.2f} GiB of activations per sample (estimate)")
    print("\n| batch | estimated training memory |\n|---|---|")
    for batch in args.batch:
        print(f"| {batch} | {(16 * params + 4 * frozen_params + batch * 4 * acts) / 2**30:.1f} GiB |")


if __name__ == "__main__":
    main()
