#!/usr/bin/env python
"""Estimate training memory per batch size for a model config (an estimate, not a measurement).

memory(batch) ≈ 16 B × parameters (fp32 weights, gradients, AdamW's two moments)
              + batch × activations, where activations = 4 B × the sum of every module output's
                elements in one forward pass at batch 1 (what backward keeps, as an upper bound).
The forward is run once on the CPU at the real size with output-counting hooks.

    python benchmarks/gpu_memory_estimate.py unet configs/unet/base.json --size 512x384 --batch 1 8 32
    python benchmarks/gpu_memory_estimate.py vae configs/vae/base.json --size 256x256 --batch 1 8 16
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int  # noqa: E402


def count_activations(model, run) -> int:
    """Elements of every module's outputs during `run()` (forward hooks on all submodules)."""
    from lsgen.runtime import jt  # noqa: PLC0415

    total = {"n": 0}

    def hook(module, args, out, kwargs=None):
        outs = out if isinstance(out, (list, tuple)) else [out]
        total["n"] += sum(int(o.numel()) for o in outs if isinstance(o, jt.Var))

    modules = [m for _, m in model.named_modules()][1:]
    for module in modules:
        module.register_forward_hook(hook)
    with jt.no_grad():
        run()
    for module in modules:
        module.remove_forward_hook()
    return total["n"]


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
    parser.add_argument("kind", choices=("unet", "vae"))
    parser.add_argument("config")
    parser.add_argument("--size", type=parse_size, default=(512, 384))
    parser.add_argument("--batch", type=positive_int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    model, run = build(args.kind, args.config, *args.size)
    params = sum(int(p.numel()) for p in model.parameters())
    acts = count_activations(model, run)
    print(f"{args.kind} {args.config} at {args.size[0]}x{args.size[1]}: {params / 1e6:.1f}M parameters, "
          f"{acts * 4 / 2**30:.2f} GiB of activations per sample (estimate)")
    print("\n| batch | estimated training memory |\n|---|---|")
    for batch in args.batch:
        print(f"| {batch} | {(16 * params + batch * 4 * acts) / 2**30:.1f} GiB |")


if __name__ == "__main__":
    main()
