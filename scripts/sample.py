#!/usr/bin/env python
"""Generate landscapes from label maps with a trained UNet + VAE.

Each --mask is a label PNG of class ids 0..28 (any PNG mode); it is resized (nearest) to the size
the model was trained at unless --size says otherwise. Writes <out>/<mask stem>_<k>.png for k in
0..batch-1 (or exactly --out when it ends in .png and there is one mask and one sample).

Examples:
    python scripts/sample.py --checkpoint runs/unet --mask m.png --out out.png
    python scripts/sample.py --checkpoint runs/unet/unet.safetensors --mask a.png b.png --batch 4 --out samples/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    parser.add_argument("--mask", required=True, nargs="+", help="label PNG(s), class ids 0..28")
    parser.add_argument("--out", required=True, help="output folder, or a .png path for a single image")
    parser.add_argument("--vae", help="VAE checkpoint (default: the one recorded in the UNet checkpoint)")
    parser.add_argument("--size", type=parse_size, help="WxH to generate at (default: the training size)")
    parser.add_argument("--sampler", default="dpm++2m", choices=("dpm++2m", "ddim", "ddpm"), help="default: %(default)s")
    parser.add_argument("--steps", type=positive_int, default=20, help="sampler steps (default: %(default)s)")
    parser.add_argument("--guidance", type=float, default=2.0, help="mask guidance scale, 1 = none (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--batch", type=positive_int, default=1, help="samples per mask (default: %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    return parser.parse_args()


def output_paths(out: str, stems: list[str], batch: int) -> list[list[Path]]:
    if out.lower().endswith(".png"):
        if len(stems) * batch != 1:
            raise ValueError("--out is a single .png but several images would be generated; give a folder")
        return [[Path(out)]]
    return [[Path(out) / f"{stem}_{k}.png" for k in range(batch)] for stem in stems]


def main() -> None:
    args = parse_args()
    from lsgen.data.io import read_label, resize_label  # noqa: PLC0415

    masks = [read_label(path) for path in args.mask]  # bad masks fail before loading any model
    from PIL import Image  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from diffusion.pipeline import LandscapePipeline, SampleOptions  # noqa: PLC0415
    from lsgen.checkpoint import write_with  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    select_device(args.device)
    pipe = LandscapePipeline.from_checkpoint(args.checkpoint, args.vae)
    if args.size is None and pipe.image_size is None:
        raise ValueError("the checkpoint does not record its image size; pass --size WxH")
    width, height = args.size or pipe.image_size
    options = SampleOptions(sampler=args.sampler, steps=args.steps, guidance_mask=args.guidance, seed=args.seed)
    paths = output_paths(args.out, [Path(p).stem for p in args.mask], args.batch)
    for mask, targets in zip(masks, paths):
        ids = np.repeat(resize_label(mask, width, height)[None], args.batch, axis=0)
        bar = tqdm(total=options.steps, desc=targets[0].stem, leave=False)
        images = pipe.generate(ids, options, callback=lambda i, n: bar.update(1))
        bar.close()
        for image, target in zip(images, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_with(target, lambda tmp, im=image: Image.fromarray(im).save(tmp, format="PNG"))
            print(f"wrote {target}")


if __name__ == "__main__":
    run_cli(main)
