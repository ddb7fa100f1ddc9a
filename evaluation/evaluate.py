"""Evaluate generator checkpoints on a protocol's test masks with one judge and one set of metrics.

For every checkpoint (any kind in `evaluation.registry`): sample one image per test mask (with its
reference photo), save them as PNG, and score them; the real test images are always scored too
(the ceiling row). Metrics per row:
    pixel_acc, miou        judge's predictions vs the masks (contest mask_acc = pixel_acc)
    fd_seg, kid_seg        Fréchet distance / KID in the judge's pooled features vs the train images
                           (NOT FID: a different feature space, only comparable within this project)
    fid                    pytorch-fid-equivalent FID vs the train images, only with Inception weights
    style_corr, style      histogram correlation with the reference in [-1, 1], and mapped to [0, 1]
    diversity              mean pairwise feature distance of several samples per mask (optional)
    composite_2022/2023    contest scores; None with the absent terms named when FID/aesthetic is absent
    conditional            False for a generator that ignores the mask (`generator.conditional`); the
                           report then prints "n/a (unconditional)" for the mask-based columns
Outputs are reused on a rerun only when their manifest records the same checkpoint digest and seed.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from lsgen import checkpoint as ckpt
from lsgen.data.dataset import DataConfig
from lsgen.data.io import from_model_image, onehot, read_image, to_model_image

from evaluation import contest, metrics
from evaluation.judge import Judge
from evaluation.protocol import SYNTH_BENCH, ImageSet, load_split
from evaluation.registry import load_generator


@dataclass
class EvalConfig:
    data: DataConfig = field(default_factory=lambda: SYNTH_BENCH)
    limit: int | None = None              # first N test masks (None = all)
    reference_limit: int | None = None    # first N train images as the FD reference (None = all)
    seed: int = 0
    batch_size: int = 16
    diversity_samples: int = 0            # K >= 2 samples per mask for diversity (0 = skip)
    diversity_masks: int = 16             # on the first M test masks
    kid_subsets: int = 20
    kid_subset_size: int = 100


@dataclass
class Context:
    """What every row is scored against: the judge, the test set, the reference statistics."""
    cfg: EvalConfig
    judge: Judge
    test: ImageSet
    ref_features: np.ndarray
    fid: object | None = None             # evaluation.fid.FIDScorer when weights are given
    aesthetic: dict | None = None         # row name -> aesthetic score (external model), optional


# --- generating -----------------------------------------------------------------------------
def sample_all(generator, test: ImageSet, seed: int, batch_size: int, progress: bool = False) -> np.ndarray:
    """One image per test mask: (N, H, W, 3) uint8. Batch starting at i uses seed + i."""
    outputs = []
    for start in tqdm(range(0, len(test.names), batch_size), desc=f"sample {generator.name}",
                      disable=not progress, leave=False):
        masks = onehot(test.masks[start:start + batch_size])
        refs = None if test.refs is None else np.stack([to_model_image(r) for r in test.refs[start:start + batch_size]])
        images = np.asarray(generator.sample(masks, refs, seed + start))
        if images.shape != (len(masks), 3, *masks.shape[2:]):
            raise RuntimeError(f"{generator.name}: sample returned shape {images.shape}, expected "
                               f"{(len(masks), 3, *masks.shape[2:])}")
        outputs.extend(from_model_image(im) for im in images)
    return np.stack(outputs)


def cached_outputs(folder: Path, names: list[str], key: dict, make) -> np.ndarray:
    """Outputs saved as <folder>/<name>.png under a manifest holding `key` (digest, seed, ...);
    reused when the manifest matches and every image exists, otherwise regenerated with make()."""
    manifest = folder / "manifest.json"
    paths = [folder / f"{name}.png" for name in names]
    if manifest.is_file() and json.loads(manifest.read_text()) == key and all(p.is_file() for p in paths):
        return np.stack([read_image(p) for p in paths])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    images = make()
    for path, image in zip(paths, images):
        ckpt.write_with(path, lambda tmp, im=image: Image.fromarray(im).save(tmp, format="PNG"))
    ckpt.atomic_write_text(manifest, json.dumps(key))
    return images


# --- scoring --------------------------------------------------------------------------------
def score_row(ctx: Context, name: str, images: np.ndarray, diversity: float | None = None,
              progress: bool = False) -> dict:
    """All metrics of one set of outputs (N, H, W, 3) uint8 aligned with ctx.test."""
    preds, feats = ctx.judge.analyse(images, progress, desc=f"judge {name}")
    row = {"name": name, "n": len(images), **ctx.judge.mask_scores(preds, ctx.test.masks)}
    row["fd_seg"] = metrics.frechet_distance_features(feats, ctx.ref_features)
    row["kid_seg"], row["kid_seg_std"] = metrics.kernel_inception_distance(
        feats, ctx.ref_features, ctx.cfg.kid_subsets, ctx.cfg.kid_subset_size, seed=ctx.cfg.seed)
    row["fid"] = ctx.fid.fid(images, progress) if ctx.fid is not None else None
    if ctx.test.refs is not None:
        corrs = [contest.style_correlation(im, ref) for im, ref in zip(images, ctx.test.refs)]
        row["style_corr"] = float(np.mean(corrs))
        row["style"] = 0.5 * row["style_corr"] + 0.5
    else:
        row["style_corr"] = row["style"] = None
    row["diversity"] = diversity
    aesthetic = (ctx.aesthetic or {}).get(name)
    for year, comp in ((2022, contest.composite_2022(row["pixel_acc"], row["fid"],
                                                     None if aesthetic is None else 10 * aesthetic)),
                       (2023, contest.composite_2023(row["pixel_acc"], row["fid"], row["style_corr"], aesthetic))):
        row[f"composite_{year}"] = {"value": comp.value, "partial": comp.partial, "absent": list(comp.absent)}
    row["aesthetic"] = aesthetic
    return row


def diversity_of(generator, ctx: Context, progress: bool = False) -> float | None:
    """Mean pairwise judge-feature distance of K samples (seeds seed+1000k) of the first M masks."""
    k, m = ctx.cfg.diversity_samples, min(ctx.cfg.diversity_masks, len(ctx.test.names))
    if k < 2:
        return None
    subset = ImageSet(ctx.test.names[:m], ctx.test.masks[:m], None, None if ctx.test.refs is None else ctx.test.refs[:m])
    feats = [ctx.judge.features(sample_all(generator, subset, ctx.cfg.seed + 1000 * (j + 1), ctx.cfg.batch_size))
             for j in range(k)]
    return metrics.pairwise_diversity(np.stack(feats, axis=1))


# --- the whole run --------------------------------------------------------------------------
def build_context(cfg: EvalConfig, judge_path: str | Path, fid_weights: str | Path | None = None,
                  aesthetic: dict | None = None, progress: bool = False) -> Context:
    judge = Judge(judge_path, batch_size=cfg.batch_size)
    test = load_split(cfg.data, "test", cfg.limit, progress)
    if test.images is None:
        raise ValueError(f"{cfg.data.root}: test masks have no ground-truth images (test/imgs/); "
                         "the ceiling row needs them")
    train = load_split(cfg.data, "train", cfg.reference_limit, progress)
    fid = None
    if fid_weights is not None:
        from evaluation.fid import FIDScorer  # noqa: PLC0415 - loads the Inception port

        fid = FIDScorer(fid_weights, train.images, cfg.batch_size, progress)
    return Context(cfg, judge, test, judge.features(train.images, progress, "reference"), fid, aesthetic)


def evaluate(ctx: Context, checkpoints: list[Path], out_dir: Path, progress: bool = False) -> tuple[dict, dict]:
    """Score the real test images and every checkpoint. Returns (results {protocol, rows}, samples
    {row name: (N, H, W, 3) uint8 images})."""
    rows = [score_row(ctx, "real", ctx.test.images, progress=progress)]
    samples = {"real": ctx.test.images}
    for path in checkpoints:
        generator, meta = load_generator(path)
        label = f"{generator.name}@{meta['step']}"
        key = {"checkpoint": ckpt.file_digest(path), "seed": ctx.cfg.seed, "masks": ctx.test.names}
        images = cached_outputs(out_dir / "outputs" / ckpt.file_digest(path), ctx.test.names, key,
                                lambda: sample_all(generator, ctx.test, ctx.cfg.seed, ctx.cfg.batch_size, progress))
        row = score_row(ctx, label, images, diversity_of(generator, ctx, progress), progress)
        row.update(kind=meta["kind"], checkpoint=str(path), checkpoint_digest=key["checkpoint"],
                   conditional=bool(getattr(generator, "conditional", True)))
        rows.append(row)
        samples[label] = images
    return {"protocol": protocol_description(ctx), "rows": rows}, samples


def protocol_description(ctx: Context) -> dict:
    d = ctx.cfg.data
    return {"data_root": d.root, "size": [d.width, d.height], "test_masks": len(ctx.test.names),
            "reference": f"train split, {len(ctx.ref_features)} images", "seed": ctx.cfg.seed,
            "judge": str(ctx.judge.path), "judge_digest": ctx.judge.digest,
            "judge_size": [ctx.judge.width, ctx.judge.height],
            "fid": "pytorch-fid InceptionV3 port" if ctx.fid is not None else "absent (no Inception weights)"}
