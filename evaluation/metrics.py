"""Metrics of the evaluation protocol, in numpy (float64 where it matters); no scipy.

- mask alignment: pixel accuracy (the contest's `(gt == pred).sum() / (H*W)`), mIoU over 29 classes,
  and the accuracy on a band around region boundaries;
- Fréchet distance between Gaussians fitted to features (FID, Heusel et al. 2017, eq. 6), and KID
  (Bińkowski et al. 2018, unbiased MMD^2 with a cubic polynomial kernel);
- diversity: mean pairwise distance of several samples of one mask in a feature space.
The style score and the contest composites are in `evaluation.contest`.
"""
from __future__ import annotations

import numpy as np

from lsgen.data.classes import NUM_CLASSES


# --- mask alignment -------------------------------------------------------------------------
def pixel_accuracy(gt: np.ndarray, pred: np.ndarray) -> float:
    """(H, W) int class ids, same shape -> fraction of pixels where they agree, in [0, 1]."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"label maps differ in shape: {gt.shape} vs {pred.shape}")
    return float((gt == pred).sum() / gt.size)


def _window_extreme(ids: np.ndarray, radius: int, reduce) -> np.ndarray:
    """Min or max (reduce = np.minimum / np.maximum) of (..., H, W) over the (2r+1)^2 window around
    each pixel, the frame extended by its edge values; separable: rows, then columns."""
    h, w = ids.shape[-2:]
    pad = [(0, 0)] * (ids.ndim - 2) + [(radius, radius), (radius, radius)]
    padded = np.pad(ids, pad, mode="edge")
    rows = reduce.reduce([padded[..., dy:dy + h, :] for dy in range(2 * radius + 1)])
    return reduce.reduce([rows[..., dx:dx + w] for dx in range(2 * radius + 1)])


def boundary_band(mask_ids: np.ndarray, radius: int = 2) -> np.ndarray:
    """(..., H, W) int class ids (one map or a batch) -> bool of the same shape: pixels within
    `radius` (Chebyshev distance) of a pixel of another class, i.e. where the (2r+1)^2 window around
    the pixel holds more than one class (the frame's edge adds no class)."""
    mask_ids = np.asarray(mask_ids)
    return _window_extreme(mask_ids, radius, np.minimum) != _window_extreme(mask_ids, radius, np.maximum)


def boundary_accuracy(gt: np.ndarray, pred: np.ndarray, radius: int = 2) -> float | None:
    """Pixel accuracy restricted to the ground truth's boundary band (boundary_band); None when the
    mask has a single class (no boundary). Measures how sharply a generator follows region edges."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"label maps differ in shape: {gt.shape} vs {pred.shape}")
    band = boundary_band(gt, radius)
    return float((gt[band] == pred[band]).mean()) if band.any() else None


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; row = ground-truth class, column = prediction."""
    gt, pred = np.asarray(gt, np.int64).ravel(), np.asarray(pred, np.int64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"label maps differ in size: {gt.size} vs {pred.size}")
    counts = np.bincount(gt * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU_c = TP / (TP + FP + FN) per class; NaN for classes absent from both gt and prediction."""
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes present in gt or prediction (absent classes are excluded)."""
    ious = iou_per_class(confusion)
    present = ~np.isnan(ious)
    if not present.any():
        raise ValueError("mean_iou: empty confusion matrix")
    return float(ious[present].mean())


def accuracy_from_confusion(confusion: np.ndarray) -> float:
    """Pixel accuracy pooled over all images (equals the mean per-image accuracy for equal sizes)."""
    confusion = np.asarray(confusion)
    return float(np.trace(confusion) / confusion.sum())


# --- Fréchet distance and KID ---------------------------------------------------------------
def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mean (D,) and unbiased covariance (D, D), both float64 (N >= 2)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def _psd_sqrt(sym: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix by eigen-decomposition (negative rounding noise -> 0)."""
    values, vectors = np.linalg.eigh((sym + sym.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((sigma1 sigma2)^(1/2)) for PSD covariances, in float64 without scipy.

    sigma1 sigma2 is not symmetric, but it is similar to the symmetric PSD matrix
    M = A sigma2 A with A = sigma1^(1/2) (M = A^-1 (sigma1 sigma2) A when A is invertible, and by
    continuity otherwise), so its eigenvalues are M's, all >= 0, and the trace of its principal
    square root is sum(sqrt(eigvalsh(M))). This is what scipy's sqrtm-based FID computes, without
    its complex round-off on near-singular products.
    """
    root = _psd_sqrt(np.asarray(sigma1, np.float64))
    middle = root @ np.asarray(sigma2, np.float64) @ root
    values = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(values, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2)) (Heusel et al. 2017,
    eq. 6; Dowson & Landau 1982), float64. Inputs: means (D,), covariances (D, D)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def frechet_distance_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) features."""
    return frechet_distance(*feature_stats(a), *feature_stats(b))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / D + 1)^3 (Bińkowski et al. 2018, sec. 3 and eq. 4)."""
    dim = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3)
    m, n = len(x), len(y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 20, subset_size: int = 100,
                              seed: int = 0) -> tuple[float, float]:
    """KID between (N, D) and (M, D) features: mean and std of unbiased MMD^2 over `subsets` random
    subsets of min(subset_size, N, M) samples each (drawn with a fixed seed)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


# --- diversity ------------------------------------------------------------------------------
def pairwise_diversity(features: np.ndarray) -> float:
    """features (M, K, D): K >= 2 samples for each of M masks -> mean L2 distance over the
    K(K-1)/2 pairs of each mask, averaged over masks (0 when all samples of a mask coincide)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 3 or features.shape[1] < 2:
        raise ValueError(f"need (masks, samples >= 2, dim) features, got shape {features.shape}")
    diffs = features[:, :, None, :] - features[:, None, :, :]
    dist = np.sqrt((diffs ** 2).sum(-1))
    k = features.shape[1]
    return float((dist.sum(axis=(1, 2)) / (k * (k - 1))).mean())
