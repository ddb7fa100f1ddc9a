"""Built-in procedural landscape dataset: the project's default benchmark, no download needed.

Layouts are painted by scene recipes (synthetic_scenes on synthetic_layout), rendered with
per-class colour laws (synthetic_materials, synthetic_render) under a global Style
(synthetic_style: time of day, season, weather, light, colour grade). Public API:

    sample_style(rng) -> Style                      Style.to_dict() / Style.from_dict(d)
    sample_layout(rng, height, width) -> (H, W) uint8 ids 0..28
    render(mask_ids, style, rng) -> (H, W, 3) uint8
    generate_pair(seed, index, height, width) -> (image, mask, style)
    render_with_style(seed, index, style, height, width) -> (image, mask): a new layout, given style
    held_out_pair(seed, index, reference, height, width) -> (image, mask, style): test pair `index`
    train_style(seed, index) -> Style                the style of train pair `index`, without rendering
    write_dataset(out, n, ...) -> Path               contact_sheet(images, masks) -> PIL.Image

Every pair's randomness derives from (seed, stream, index) only, so a pair is byte-identical
whatever the worker count or order. On disk (the 2023 contest layout, plus test ground truth):

    <out>/train_resized/imgs/<stem>.jpg    RGB JPEG q95        stems f"{i:06d}"
    <out>/train_resized/labels/<stem>.png  8-bit L, ids 0..28
    <out>/test/labels/t<i:05d>.png         test masks
    <out>/test/imgs/t<i:05d>.jpg           ground truth, rendered in the style of its reference
    <out>/label_to_img.json                {"t00000.png": "000123.jpg"}: test mask -> train reference
    <out>/styles.json                      {"train/<stem>": style dict, "test/<stem>": ...}
    <out>/meta.json                        generator, seed, size [W, H], n_train, n_test
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lsgen.data.classes import CLASS_NAMES, PALETTE, colorize
from lsgen.data.synthetic_render import render
from lsgen.data.synthetic_scenes import sample_scene
from lsgen.data.synthetic_style import Style, sample_style

__all__ = ["GENERATOR", "MIN_SIZE", "Style", "sample_style", "sample_layout", "render", "generate_pair",
           "render_with_style", "held_out_pair", "train_style", "write_dataset", "contact_sheet"]

GENERATOR = "lsgen-synthetic/1"
MIN_SIZE = 32
_TRAIN, _STYLED, _REFERENCE, _TEST = 0, 1, 2, 3   # independent random streams per seed


def _streams(seed: int, stream: int, index: int):
    """Layout, style and render generators of one pair, from (seed, stream, index) only."""
    return [np.random.default_rng([seed, stream, index, part]) for part in range(3)]


def sample_layout(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random scene layout: (height, width) uint8 class ids 0..28."""
    return sample_scene(rng, height, width).mask


def generate_pair(seed: int, index: int, height: int = 384, width: int = 512):
    """Training pair `index` of dataset `seed`: (image (H, W, 3) uint8, mask (H, W) uint8, Style)."""
    layout_rng, style_rng, render_rng = _streams(seed, _TRAIN, index)
    scene = sample_scene(layout_rng, height, width)
    style = sample_style(style_rng)
    return render(scene.mask, style, render_rng, scene.dist, scene.horizon), scene.mask, style


def _new_layout_in_style(seed: int, stream: int, index: int, style: Style, height: int, width: int):
    layout_rng, _, render_rng = _streams(seed, stream, index)
    scene = sample_scene(layout_rng, height, width)
    return render(scene.mask, style, render_rng, scene.dist, scene.horizon), scene.mask


def render_with_style(seed: int, index: int, style: Style, height: int = 384, width: int = 512):
    """A new layout rendered in the given Style: (image (H, W, 3) uint8, mask (H, W) uint8).

    For style-reference training pairs: its random stream is distinct from the training pairs'
    and from the test set's (whose ground truth is rendered the same way on a stream of its own)."""
    return _new_layout_in_style(seed, _STYLED, index, style, height, width)


def held_out_pair(seed: int, index: int, reference: int, height: int = 384, width: int = 512):
    """Test pair `index`: a held-out layout rendered in the style of train pair `reference`:
    (image (H, W, 3) uint8 ground truth, mask (H, W) uint8, Style)."""
    style = train_style(seed, reference)
    return (*_new_layout_in_style(seed, _TEST, index, style, height, width), style)


def train_style(seed: int, index: int) -> Style:
    """The Style of training pair `index` without rendering it."""
    return sample_style(_streams(seed, _TRAIN, index)[1])


def _save_pair(image: np.ndarray, mask: np.ndarray, img_path: Path, label_path: Path) -> None:
    Image.fromarray(image, "RGB").save(img_path, quality=95)
    Image.fromarray(mask, "L").save(label_path)


def _write_job(job) -> tuple:
    """Worker: render and write one pair; returns (styles.json key, style dict)."""
    kind, index, ref, seed, width, height, root = job
    root = Path(root)
    if kind == "train":
        image, mask, style = generate_pair(seed, index, height, width)
        stem, split = f"{index:06d}", root / "train_resized"
    else:
        image, mask, style = held_out_pair(seed, index, ref, height, width)
        stem, split = f"t{index:05d}", root / "test"
    _save_pair(image, mask, split / "imgs" / f"{stem}.jpg", split / "labels" / f"{stem}.png")
    return f"{kind}/{stem}", style.to_dict()


def _check_args(n: int, width: int, height: int, seed: int, n_test: int) -> None:
    if n < 1 or n_test < 1:
        raise ValueError(f"need at least one train and one test pair, got n={n}, n_test={n_test}")
    if min(width, height) < MIN_SIZE:
        raise ValueError(f"size {width}x{height} is below the minimum of {MIN_SIZE} px per side")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def _is_nonempty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _run_jobs(jobs, workers: int, progress: bool) -> dict:
    """Run _write_job over jobs (in worker processes if workers > 1) -> {key: style dict}."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), unit="pair", disable=not progress, desc="synthetic")
    styles = {}
    if workers <= 1:
        results = map(_write_job, jobs)
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_write_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers))))
    try:
        for key, style in results:
            styles[key] = style
            bar.update()
    finally:
        bar.close()
        if workers > 1:
            pool.terminate()
    return dict(sorted(styles.items()))


def write_dataset(out, n: int, width: int = 512, height: int = 384, seed: int = 0, n_test=None,
                  workers: int = 1, progress: bool = True, overwrite: bool = False) -> Path:
    """Write n train pairs and n_test (default max(1, n // 10)) test pairs to `out`; returns out.

    Built in `<out>.tmp-<pid>` and moved into place at the end, so a failure leaves nothing.
    Raises FileExistsError if out is non-empty and not overwrite, ValueError on bad arguments.
    """
    out = Path(out)
    n_test = max(1, n // 10) if n_test is None else n_test
    _check_args(n, width, height, seed, n_test)
    if _is_nonempty(out) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass overwrite=True / --overwrite)")
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for sub in ("train_resized/imgs", "train_resized/labels", "test/imgs", "test/labels"):
            (tmp / sub).mkdir(parents=True)
        refs = np.random.default_rng([seed, _REFERENCE]).integers(0, n, n_test)
        jobs = [("train", i, -1, seed, width, height, str(tmp)) for i in range(n)]
        jobs += [("test", i, int(refs[i]), seed, width, height, str(tmp)) for i in range(n_test)]
        styles = _run_jobs(jobs, workers, progress)
        pairs = {f"t{i:05d}.png": f"{int(r):06d}.jpg" for i, r in enumerate(refs)}
        meta = {"generator": GENERATOR, "seed": seed, "size": [width, height], "n_train": n, "n_test": n_test}
        for name, content in (("label_to_img.json", pairs), ("styles.json", styles), ("meta.json", meta)):
            (tmp / name).write_text(json.dumps(content, indent=1) + "\n")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _move_into_place(tmp: Path, out: Path) -> None:
    """os.replace tmp onto out; an existing out (overwrite) is moved aside first, then deleted."""
    old = None
    if _is_nonempty(out):
        old = out.parent / f"{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _legend(classes, width: int) -> Image.Image:
    """Strip of colour swatches with class names, wrapped to `width` px."""
    cell_w, cell_h = 96, 16
    per_row = max(width // cell_w, 1)
    strip = Image.new("RGB", (width, cell_h * ((len(classes) + per_row - 1) // per_row) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for k, cls in enumerate(classes):
        x, y = (k % per_row) * cell_w + 4, (k // per_row) * cell_h + 3
        draw.rectangle([x, y, x + 11, y + 11], fill=tuple(int(v) for v in PALETTE[cls]), outline=(0, 0, 0))
        draw.text((x + 15, y), CLASS_NAMES[cls], fill=(0, 0, 0))
    return strip


def contact_sheet(images, masks, thumb_width: int = 256, pairs_per_row: int = 2, legend: bool = True):
    """Grid of (image | colourised mask) thumbnails, with a legend of the classes present.

    images: sequence of (H, W, 3) uint8; masks: matching (H, W) ids 0..28. Returns a PIL RGB image.
    """
    height, width = np.asarray(masks[0]).shape
    thumb = (thumb_width, max(int(round(thumb_width * height / width)), 1))
    n_rows, gap = (len(images) + pairs_per_row - 1) // pairs_per_row, 4
    sheet_w = pairs_per_row * (2 * thumb[0] + 3 * gap)
    sheet = Image.new("RGB", (sheet_w, n_rows * (thumb[1] + gap) + gap), (255, 255, 255))
    for k, (image, mask) in enumerate(zip(images, masks)):
        x = (k % pairs_per_row) * (2 * thumb[0] + 3 * gap) + gap
        y = (k // pairs_per_row) * (thumb[1] + gap) + gap
        sheet.paste(Image.fromarray(np.asarray(image)).resize(thumb, Image.BILINEAR), (x, y))
        sheet.paste(Image.fromarray(colorize(mask)).resize(thumb, Image.NEAREST), (x + thumb[0] + gap, y))
    if not legend:
        return sheet
    present = sorted(set(np.unique(np.concatenate([np.asarray(m).ravel() for m in masks])).tolist()))
    strip = _legend(present, sheet_w)
    full = Image.new("RGB", (sheet_w, sheet.height + strip.height), (255, 255, 255))
    full.paste(sheet, (0, 0))
    full.paste(strip, (0, sheet.height))
    return full
