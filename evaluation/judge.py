"""The trained segmenter as a judge: label predictions and pooled features of uint8 images.

Every image is brought to the judge's training size (stored in its checkpoint) before it is
scored: photos bicubically (lsgen.data.io.resize_image), label maps by nearest neighbour. Pixel
accuracy and mIoU are therefore measured at that size.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lsgen import checkpoint as ckpt
from lsgen.config import from_dict
from lsgen.data.io import resize_image, resize_label, to_model_image
from lsgen.runtime import jt

from evaluation import metrics
from evaluation.segmenter import KIND, Segmenter, SegmenterConfig


def is_segmenter_checkpoint(path: str | Path) -> bool:
    """True when `path` is a readable checkpoint of kind "segmenter" (False for other files)."""
    try:
        return ckpt.read_metadata(path).get("kind") == KIND
    except (OSError, ValueError, ckpt.CheckpointError):
        return False


def shift_offsets(steps) -> list[tuple[int, int]]:
    """The test-time views' (dy, dx): (0, 0) and every (dy, dx) in {-s, 0, s}^2 for s in steps."""
    offsets = {(0, 0)} | {(dy * s, dx * s) for s in steps for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    return sorted(offsets)


def averaged_logits(model, images: np.ndarray, flip: bool, steps=()) -> np.ndarray:
    """Test-time augmented logits: images (B, 3, H, W) [-1, 1] -> (B, K, H, W), the sum over
    shift_offsets(steps) of the logits of the image shifted by (dy, dx) (view[p] = image[p + d],
    reflect-padded), each moved back onto the image's pixels, plus, with `flip`, the same for the
    mirrored image. A border pixel sums the views that contain it (argmax is unaffected by the
    count, which is the same for every class)."""
    b, _, h, w = images.shape
    margin = max(steps, default=0)
    padded = np.pad(images, ((0, 0), (0, 0), (margin, margin), (margin, margin)), mode="reflect")
    total = None
    for dy, dx in shift_offsets(steps):
        top, left = margin + dy, margin + dx
        view = jt.array(np.ascontiguousarray(padded[:, :, top:top + h, left:left + w]))
        logits = model(view)
        if flip:
            logits = logits + model(view[:, :, :, ::-1])[:, :, :, ::-1]
        if total is None:
            total = np.zeros((b, logits.shape[1], h + 2 * margin, w + 2 * margin), np.float32)
        total[:, :, top:top + h, left:left + w] += logits.numpy()
    return total[:, :, margin:margin + h, margin:margin + w]


class Judge:
    """Loads a segmenter checkpoint (EMA weights when present) and scores batches of images.
    `flip_test` / `shift_test` None follow the checkpoint's config (SegmenterConfig.flip_test,
    .shift_test); a value overrides it (a measurement of what the augmentation buys, not a judge to
    report scores with)."""

    def __init__(self, path: str | Path, batch_size: int = 16, use_ema: bool = True,
                 flip_test: bool | None = None, shift_test: tuple[int, ...] | None = None):
        meta = ckpt.read_metadata(path)
        if meta["kind"] != KIND:
            raise ckpt.CheckpointError(f"{path}: checkpoint kind is {meta['kind']!r}, expected {KIND!r}")
        self.model = Segmenter(from_dict(SegmenterConfig, meta["config"], prefix="model."))
        has_ema = any(k.startswith("ema.") for k in ckpt.read_arrays(path))
        ckpt.load_weights(self.model, path, kind=KIND, prefix="ema." if use_ema and has_ema else "")
        self.model.eval()
        self.flip_test = self.model.cfg.flip_test if flip_test is None else bool(flip_test)
        self.shift_test = tuple(self.model.cfg.shift_test if shift_test is None else shift_test)
        if "image_size" not in meta:
            raise ckpt.CheckpointError(f"{path}: segmenter checkpoint has no image_size metadata")
        size = json.loads(meta["image_size"])
        self.width, self.height = int(size["width"]), int(size["height"])
        self.batch_size = batch_size
        self.digest = ckpt.file_digest(path)
        self.path = Path(path)

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 3, h, w) float32 [-1, 1] at the judge's size."""
        return np.stack([to_model_image(resize_image(im, self.width, self.height)) for im in images])

    def analyse(self, images: np.ndarray, progress: bool = False, desc: str = "judge") -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W, 3) uint8 -> predictions (N, h, w) int32 and pooled features (N, D) float64.
        With flip_test the prediction is the argmax of the summed logits of the image and its mirror
        (mirrored back), with shift_test of all the shifted views too (averaged_logits); the pooled
        features are always the plain image's."""
        preds, feats = [], []
        for start in tqdm(range(0, len(images), self.batch_size), desc=desc, disable=not progress, leave=False):
            inputs = self._inputs(images[start:start + self.batch_size])
            x = jt.array(inputs)
            with jt.no_grad():
                if self.shift_test:
                    pooled = self.model.pooled_features(x)
                    preds.append(averaged_logits(self.model, inputs, self.flip_test, self.shift_test)
                                 .argmax(1).astype(np.int32))
                else:
                    logits, pooled = self.model.analyse(x)
                    if self.flip_test:
                        logits = logits + self.model(x[:, :, :, ::-1])[:, :, :, ::-1]
                    preds.append(jt.argmax(logits, dim=1)[0].int32().numpy())
                feats.append(pooled.numpy().astype(np.float64))
        return np.concatenate(preds), np.concatenate(feats)

    def features(self, images: np.ndarray, progress: bool = False, desc: str = "features") -> np.ndarray:
        """(N, H, W, 3) uint8 -> pooled features (N, D) float64 (analyse's, without predicting)."""
        feats = []
        for start in tqdm(range(0, len(images), self.batch_size), desc=desc, disable=not progress, leave=False):
            with jt.no_grad():
                pooled = self.model.pooled_features(jt.array(self._inputs(images[start:start + self.batch_size])))
            feats.append(pooled.numpy().astype(np.float64))
        return np.concatenate(feats)

    def pixel_accuracies(self, preds: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Per-image pixel accuracy (N,) float64 in [0, 1] of predictions (N, h, w) against
        ground-truth masks (N, H, W), the masks resized (nearest) to the judge's size."""
        return np.array([metrics.pixel_accuracy(resize_label(m, self.width, self.height), p)
                         for m, p in zip(masks, preds)])

    def mask_scores(self, preds: np.ndarray, masks: np.ndarray) -> dict:
        """Predictions (N, h, w) against ground-truth masks (N, H, W) -> pixel_acc (mean of the
        per-image accuracies, the contest's mask_acc) and mIoU (pooled confusion, absent classes
        excluded), boundary_acc (mean over images with a boundary of the accuracy within 2 judge pixels
        of a region edge; None if no mask has one), plus per-class IoU (None where absent)."""
        gts = [resize_label(m, self.width, self.height) for m in masks]
        accs = self.pixel_accuracies(preds, masks)
        confusion = sum(metrics.confusion_matrix(g, p) for g, p in zip(gts, preds))
        ious = metrics.iou_per_class(confusion)
        edges = [b for b in (metrics.boundary_accuracy(g, p) for g, p in zip(gts, preds)) if b is not None]
        return {"pixel_acc": float(np.mean(accs)), "miou": metrics.mean_iou(confusion),
                "boundary_acc": float(np.mean(edges)) if edges else None,
                "iou_per_class": [None if np.isnan(v) else float(v) for v in ious]}

