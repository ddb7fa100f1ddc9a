#!/usr/bin/env python
"""Generate landscapes from label maps (+ reference photos) with a trained UNet + VAE.

Single mode: --mask m.png [more.png ...] [--ref r.jpg] -> --out out.png, or a folder of
<mask stem>_<k>.png. Folder mode (the contest's submission layout): --mask-dir DIR
[--label-to-img label_to_img.json --ref-dir DIR] -> --out FOLDER/<label stem>.jpg, each at its
label's size. Masks are class ids 0..28 in any PNG mode; they are resized (nearest) to the size
the model was trained at (or --size), and outputs are resized back to the label's size.
Guidance: ε = ε(∅,∅) + s_mask(ε(m,∅) − ε(∅,∅)) + s_ref(ε(m,r) − ε(m,∅)), one batched pass.

Examples:
    python scripts/sample.py --checkpoint runs/unet --mask m.png --ref r.jpg --out out.png
    python scripts/sample.py --checkpoint runs/unet --mask-dir test/labels --label-to-img label_to_img.json \\
        --ref-dir train_resized/imgs --out submission/
    # the reference's colours per class, in the mask's layout (contest references are training images):
    python scripts/sample.py --checkpoint runs/unet --mask-dir test/labels --label-to-img label_to_img.json \\
        --ref-dir train_resized/imgs --ref-label-dir train_resized/labels --ref-strength 0.8 --ref-shuffle --out submission/
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mask", nargs="+", help="label PNG(s), class ids 0..28")
    source.add_argument("--mask-dir", help="folder of label PNGs (folder mode)")
    parser.add_argument("--ref", nargs="+", help="reference photo(s): one for all masks or one per mask")
    parser.add_argument("--label-to-img", help="folder mode: JSON mapping label file -> reference photo")
    parser.add_argument("--ref-dir", help="folder mode: where the reference photos are")
    parser.add_argument("--out", required=True, help="output .png (single image) or folder")
    parser.add_argument("--vae", help="VAE checkpoint (default: the one recorded in the UNet checkpoint)")
    parser.add_argument("--size", type=parse_size, help="WxH to generate at (default: the training size)")
    parser.add_argument("--sampler", default="dpm++2m", choices=("dpm++2m", "ddim", "ddpm"), help="default: %(default)s")
    parser.add_argument("--steps", type=positive_int, default=20, help="sampler steps (default: %(default)s)")
    parser.add_argument("--guidance-mask", type=float, default=2.0, help="s_mask (default: %(default)s)")
    parser.add_argument("--guidance-ref", type=float, default=1.0, help="s_ref, 0 ignores the ref (default: %(default)s)")
    parser.add_argument("--ref-strength", type=float, default=1.0,
                        help="img2img: start from the ref's latents noised to this level; 1 = pure noise (default)")
    parser.add_argument("--ref-shuffle", action="store_true",
                        help="with --ref-strength < 1: start from the ref's latents with their positions shuffled "
                             "(its colours, not its layout)")
    parser.add_argument("--ref-label", nargs="+",
                        help="with --ref-shuffle: the label PNG of each --ref; the shuffle is then by class (each "
                             "mask region starts from the ref's latents of the same class)")
    parser.add_argument("--ref-label-dir",
                        help="folder mode, with --ref-shuffle: the references' labels <ref stem>.png (train/labels)")
    parser.add_argument("--color-match", action="store_true", help="Lab mean/std colour transfer from the ref")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--batch", type=positive_int, default=1, help="samples per mask, single mode (default: 1)")
    parser.add_argument("--controlnet", help="ControlNet adapter file (scripts/train_controlnet.py)")
    parser.add_argument("--control-scale", type=float, default=1.0, help="ControlNet residual scale (default: 1)")
    parser.add_argument("--lora", nargs="+", help="LoRA adapter file(s) (scripts/train_lora.py)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    return parser.parse_args()


def make_jobs(args):
    from diffusion.sampling_io import folder_jobs, single_jobs  # noqa: PLC0415

    if args.mask_dir:
        return folder_jobs(args.mask_dir, args.label_to_img, args.ref_dir, args.out, args.ref_label_dir)
    return single_jobs(args.mask, args.ref, args.out, args.batch, args.ref_label)


def render(pipe, jobs, options, size, staging: Path | None) -> None:
    """Generate every job (seed = --seed + job index) and write it (into `staging` when given)."""
    from dataclasses import replace  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from diffusion.sampling_io import model_inputs, model_ref_label, to_label_size  # noqa: PLC0415
    from lsgen.checkpoint import write_with  # noqa: PLC0415

    pipe.check_mask(np.zeros((size[1], size[0]), np.int32))
    for index, job in enumerate(tqdm(jobs, desc="sample", unit="img", disable=len(jobs) < 2)):
        mask, ref = model_inputs(job, *size)
        ref_label = model_ref_label(job, *size)
        image = pipe.generate(mask[None], replace(options, seed=options.seed + index), None if ref is None else ref[None],
                              ref_labels=None if ref_label is None else ref_label[None])[0]
        target = (staging / job.output.name) if staging else job.output
        target.parent.mkdir(parents=True, exist_ok=True)
        fmt = "JPEG" if target.suffix.lower() == ".jpg" else "PNG"
        final = to_label_size(image, job)
        write_with(target, lambda tmp, im=final: Image.fromarray(im).save(tmp, format=fmt, quality=95))


def write_folder(pipe, jobs, options, size, out: Path) -> None:
    """Folder mode: build in a temporary sibling folder, rename into place when complete."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        render(pipe, jobs, options, size, staging)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def add_adapters(pipe, args) -> None:
    """Load --controlnet / --lora onto the pipeline's UNet (strict; tied to their base UNet)."""
    if not (args.controlnet or args.lora):
        return
    from controlnet.controlnet import load_controlnet  # noqa: PLC0415
    from controlnet.lora import load_lora  # noqa: PLC0415
    from diffusion.pipeline import resolve_checkpoint  # noqa: PLC0415
    from lsgen.checkpoint import read_metadata  # noqa: PLC0415

    base_meta = read_metadata(resolve_checkpoint(args.checkpoint, "unet.safetensors"))
    for path in args.lora or []:
        load_lora(path, pipe.unet, base_meta)
    if args.controlnet:
        pipe.use_controlnet(load_controlnet(args.controlnet, pipe.unet), args.control_scale)


def main() -> None:
    args = parse_args()
    jobs = make_jobs(args)  # every input is read and validated before a model is loaded
    from diffusion.pipeline import LandscapePipeline, SampleOptions  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415

    options = SampleOptions(sampler=args.sampler, steps=args.steps, guidance_mask=args.guidance_mask,
                            guidance_ref=args.guidance_ref, ref_strength=args.ref_strength, ref_shuffle=args.ref_shuffle,
                            color_match=args.color_match, seed=args.seed)
    select_device(args.device)
    pipe = LandscapePipeline.from_checkpoint(args.checkpoint, args.vae)
    add_adapters(pipe, args)
    if args.size is None and pipe.image_size is None:
        raise ValueError("the checkpoint does not record its image size; pass --size WxH")
    size = args.size or pipe.image_size
    if args.mask_dir:
        write_folder(pipe, jobs, options, size, Path(args.out))
    else:
        render(pipe, jobs, options, size, None)
    print(f"wrote {len(jobs)} image(s) to {args.out}")


if __name__ == "__main__":
    run_cli(main)
