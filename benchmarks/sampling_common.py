"""What the sampling benchmarks share (style_transfer.py, sampler_quality.py, lora_style.py).

- `protocol_data`: the synth-bench protocol (evaluation.protocol.SYNTH_BENCH) on another root/size;
- `load_pipeline`: a UNet checkpoint (file or run directory) -> LandscapePipeline and its size;
- `sample_masks`: THE way these benchmarks sample: the evaluation's own `sample_all` through the
  registry's DiffusionGenerator (the batch starting at i uses seed + i), so a benchmark's images
  are exactly those scripts/evaluate.py would make with the same SampleOptions;
- `judge_scores`, `style_correlations`, `read_images`: per-image scores and real images;
- `add_common_args`, `write_json`, `print_table`: the command-line and output conventions.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_common import fmt_table, load_average
from lsgen.cli import parse_size, positive_int

DEFAULT_JUDGE = "runs/segmenter-small/step0001600.safetensors"


def add_common_args(parser: argparse.ArgumentParser, sampler: bool = True) -> None:
    """Flags every sampling benchmark has: data, size, seed, batch, device, JSON output."""
    parser.add_argument("--data", default="data/synth-bench", help="synthetic dataset root (default: %(default)s)")
    parser.add_argument("--size", type=parse_size, help="WxH to sample at (default: the UNet's training size)")
    parser.add_argument("--vae", help="VAE checkpoint (default: the one recorded in the UNet checkpoint)")
    if sampler:
        from diffusion.samplers import SAMPLERS  # noqa: PLC0415 - numpy only, no Jittor

        parser.add_argument("--sampler", default="dpm++2m", choices=SAMPLERS, help="default: %(default)s")
        parser.add_argument("--steps", type=positive_int, default=20, help="sampler steps (default: %(default)s)")
    parser.add_argument("--guidance-mask", type=float, default=2.0, help="s_mask (default: %(default)s)")
    parser.add_argument("--guidance-ref", type=float, default=1.0, help="s_ref (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed; batch at i uses seed + i (default: 0)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="images per sampler call (default: 8)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_files(*paths) -> None:
    """One-line FileNotFoundError for a missing checkpoint before anything heavy is imported."""
    for path in paths:
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"{path}: not found")


def protocol_data(root: str, size: tuple[int, int]):
    """synth-bench's DataConfig (split, no flips) on `root` at `size` (W, H)."""
    from evaluation.protocol import SYNTH_BENCH  # noqa: PLC0415

    return type(SYNTH_BENCH)(**{**SYNTH_BENCH.__dict__, "root": str(root), "width": size[0], "height": size[1]})


def load_pipeline(checkpoint, vae=None, size=None, device: str = "auto"):
    """(LandscapePipeline, (W, H) to sample at): --size, else the UNet's training size."""
    from diffusion.pipeline import LandscapePipeline  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(device)
    pipe = LandscapePipeline.from_checkpoint(checkpoint, vae)
    size = size or pipe.image_size
    if size is None:
        raise ValueError(f"{checkpoint}: the checkpoint does not record its image size; pass --size WxH")
    return pipe, tuple(size)


def sample_masks(pipe, masks: np.ndarray, refs: np.ndarray | None, options, batch_size: int,
                 progress: bool = False, name: str = "sample") -> tuple[np.ndarray, float]:
    """masks (N, H, W) int 0..28, refs (N, H, W, 3) uint8 or None, SampleOptions -> images
    (N, H, W, 3) uint8 and the wall seconds it took. Colour matching, when options ask for it,
    happens inside the pipeline."""
    from diffusion.pipeline import DiffusionGenerator  # noqa: PLC0415
    from evaluation.evaluate import sample_all  # noqa: PLC0415
    from evaluation.protocol import ImageSet  # noqa: PLC0415

    generator = DiffusionGenerator(pipe, options, name)
    masks_set = ImageSet([str(i) for i in range(len(masks))], np.asarray(masks), None, refs)
    start = time.perf_counter()
    images = sample_all(generator, masks_set, options.seed, batch_size, progress)
    return images, time.perf_counter() - start


def sample_masks_ref_labels(pipe, masks: np.ndarray, refs: np.ndarray, ref_masks: np.ndarray, options,
                            batch_size: int, progress: bool = False, name: str = "sample") -> np.ndarray:
    """sample_masks with the references' labels ref_masks (N, H, W) passed to the pipeline (the
    class-matched ref_shuffle start), the same seeds (batch starting at i: seed + i) -> (N, H, W, 3) uint8."""
    from dataclasses import replace  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    out = []
    for start in tqdm(range(0, len(masks), batch_size), desc=name, disable=not progress, leave=False):
        part = slice(start, start + batch_size)
        out.append(pipe.generate(masks[part], replace(options, seed=options.seed + start), refs[part],
                                 ref_labels=ref_masks[part]))
    return np.concatenate(out)


def judge_scores(judge, images: np.ndarray, masks: np.ndarray, progress: bool = False,
                 desc: str = "judge") -> tuple[np.ndarray, np.ndarray]:
    """(per-image pixel accuracy (N,) in [0, 1], judge features (N, D)) of images against masks."""
    preds, feats = judge.analyse(images, progress, desc)
    return judge.pixel_accuracies(preds, masks), feats


def style_correlations(images: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """(N,) contest histogram correlations in [-1, 1] of images[i] with refs[i]."""
    from evaluation.contest import style_correlation  # noqa: PLC0415

    return np.array([style_correlation(im, ref) for im, ref in zip(images, refs)])


def read_images(dataset, indices: list[int]) -> np.ndarray:
    """(len(indices), H, W, 3) uint8 photos of a LandscapeDataset at its size (empty: (0, H, W, 3))."""
    from lsgen.data.io import from_model_image  # noqa: PLC0415

    if not indices:
        return np.zeros((0, dataset.cfg.height, dataset.cfg.width, 3), np.uint8)
    return np.stack([from_model_image(dataset.load(i)["image"]) for i in indices])


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title} ({load_average()})\n")
    print(fmt_table(header, rows))


def write_json(path: Path | None, payload: dict) -> None:
    """Atomic JSON (numpy scalars and arrays converted)."""
    if path is None:
        return
    from lsgen.checkpoint import atomic_write_text  # noqa: PLC0415

    def plain(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=1, default=plain))
