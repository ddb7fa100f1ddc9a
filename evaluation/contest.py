"""The Jittor AI Challenge landscape scores: style similarity and the 2022/2023 composites.

2023 (official text, state-of-the-art.md B.2):
    score = mask_acc * (0.2 * aesthetic + 0.3 * (0.5 * style_corr + 0.5) + 0.5 * (100 - FID) / 100)
    aesthetic normalised to [0, 1]; style_corr in [-1, 1].
2022 (weights inferred; they reproduce four published rows exactly):
    score = mask_acc * (0.5 * aesthetic / 10 + 0.5 * (100 - FID) / 100), aesthetic on a 0..10 scale.
FID is clipped to [0, 100] in both. The aesthetic model is not available here: a composite whose
aesthetic (or FID) is missing is reported with `value=None`, the sum of the present terms in
`partial`, and the missing terms named in `absent` — never with an invented value.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIST_BINS = 256


# --- style similarity -----------------------------------------------------------------------
def colour_histograms(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, 256) float64: per channel, the fraction of pixels with each value."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    flat = image.reshape(-1, 3)
    return np.stack([np.bincount(flat[:, c], minlength=HIST_BINS) for c in range(3)]) / len(flat)


def _correlation(h1: np.ndarray, h2: np.ndarray) -> float:
    """Pearson correlation of two histograms (OpenCV's HISTCMP_CORREL); 1.0 when both are flat."""
    d1, d2 = h1 - h1.mean(), h2 - h2.mean()
    denom = np.sqrt((d1 @ d1) * (d2 @ d2))
    return float(d1 @ d2 / denom) if denom > 1e-300 else 1.0


def style_correlation(image: np.ndarray, reference: np.ndarray) -> float:
    """The contest's style similarity before mapping, in [-1, 1].

    Exact definition used here: for each of R, G, B, the 256-bin histogram of the uint8 values
    (bin v counts pixels equal to v, normalised by the pixel count), compared by Pearson correlation
    (OpenCV `compareHist(..., HISTCMP_CORREL)`); the three channel correlations are averaged.
    Images may differ in size (histograms are normalised). The organisers' exact binning is not
    public; this is the common reading of "correlation coefficient of colour histograms".
    """
    h1, h2 = colour_histograms(image), colour_histograms(reference)
    return float(np.mean([_correlation(h1[c], h2[c]) for c in range(3)]))


def score_from_correlation(corr):
    """The contest's mapping of a style correlation in [-1, 1] to a score in [0, 1]: (corr + 1) / 2.
    Works on floats and numpy arrays alike."""
    return 0.5 * corr + 0.5


def style_score(image: np.ndarray, reference: np.ndarray) -> float:
    """style_correlation mapped linearly to [0, 1] (score_from_correlation; 1 for an image with itself)."""
    return score_from_correlation(style_correlation(image, reference))


# --- composites -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Composite:
    """A contest score. value is None when a term is absent; partial = mask_acc * (present terms)."""
    year: int
    value: float | None
    partial: float
    absent: tuple[str, ...]

    def describe(self) -> str:
        if self.value is not None:
            return f"{self.value:.4f}"
        return f"n/a ({', '.join(self.absent)} absent; present terms give {self.partial:.4f})"


def fid_term(fid: float) -> float:
    """(100 - FID) / 100 with FID clipped to [0, 100]: in [0, 1]."""
    return (100.0 - min(max(float(fid), 0.0), 100.0)) / 100.0


def _composite(year: int, mask_acc: float, terms: dict[str, float | None]) -> Composite:
    absent = tuple(name for name, value in terms.items() if value is None)
    partial = float(mask_acc) * sum(v for v in terms.values() if v is not None)
    return Composite(year, None if absent else partial, partial, absent)


def composite_2022(mask_acc: float, fid: float | None, aesthetic: float | None = None) -> Composite:
    """mask_acc * (0.5 * aesthetic / 10 + 0.5 * (100 - FID) / 100); aesthetic on 0..10."""
    return _composite(2022, mask_acc, {
        "aesthetic": None if aesthetic is None else 0.5 * float(aesthetic) / 10.0,
        "FID": None if fid is None else 0.5 * fid_term(fid)})


def composite_2023(mask_acc: float, fid: float | None, style_corr: float | None,
                   aesthetic: float | None = None) -> Composite:
    """mask_acc * (0.2 * aesthetic + 0.3 * (0.5 * style_corr + 0.5) + 0.5 * (100 - FID) / 100);
    aesthetic in [0, 1], style_corr in [-1, 1] (the raw correlation, not style_score)."""
    return _composite(2023, mask_acc, {
        "aesthetic": None if aesthetic is None else 0.2 * float(aesthetic),
        "style": None if style_corr is None else 0.3 * (0.5 * float(style_corr) + 0.5),
        "FID": None if fid is None else 0.5 * fid_term(fid)})
