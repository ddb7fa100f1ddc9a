"""Rendering of a synthetic layout under a global Style: class colour laws, light, sky, water, haze.

Every class has its own albedo, texture law (weights on a few shared noise fields) and shading;
the Style (synthetic_style) sets the light, the vegetation palette, snow, haze and colour grade,
so one Style changes every colour of the image consistently. Noise is drawn on fixed coarse grids
and upsampled, so a render costs a few tens of full-resolution numpy operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from lsgen.data.classes import CLASS_ID, CLASS_NAMES, NUM_CLASSES
from lsgen.data.synthetic_style import Lighting, Style, lighting

WATER_CLASSES = ("water", "sea", "lake", "river")
TEXTURES = ("patch", "detail", "horiz", "vert", "grain")
# class -> (albedo RGB, texture weights per TEXTURES, bump, occlusion toward the run bottom)
LOOK = {
    "mountain": ((0.46, 0.44, 0.45), (0.12, 0.12, 0.04, 0.22, 0.10), 0.5, 0.1),
    "sky": ((0.5, 0.5, 0.5), (0, 0, 0, 0, 0), 0.0, 0.0),
    "water": ((0.10, 0.20, 0.24), (0, 0, 0, 0, 0), 0.0, 0.0),
    "sea": ((0.05, 0.19, 0.30), (0, 0, 0, 0, 0), 0.0, 0.0),
    "rock": ((0.50, 0.48, 0.45), (0.15, 0.30, 0.05, 0.12, 0.22), 0.8, 0.25),
    "tree": ((0.12, 0.26, 0.08), (0.20, 0.45, 0.0, 0.05, 0.30), 0.7, 0.45),
    "earth": ((0.40, 0.30, 0.20), (0.15, 0.25, 0.10, 0.0, 0.25), 0.3, 0.0),
    "hill": ((0.26, 0.36, 0.15), (0.22, 0.12, 0.03, 0.08, 0.08), 0.4, 0.1),
    "river": ((0.13, 0.21, 0.19), (0, 0, 0, 0, 0), 0.0, 0.0),
    "sand": ((0.80, 0.70, 0.52), (0.08, 0.05, 0.15, 0.0, 0.12), 0.15, 0.0),
    "land": ((0.50, 0.42, 0.30), (0.18, 0.20, 0.06, 0.0, 0.2), 0.25, 0.0),
    "building": ((0.62, 0.60, 0.56), (0.15, 0.02, 0.0, 0.05, 0.08), 0.0, 0.0),
    "grass": ((0.25, 0.45, 0.12), (0.20, 0.15, 0.0, 0.25, 0.3), 0.25, 0.0),
    "plant": ((0.18, 0.40, 0.12), (0.15, 0.50, 0.0, 0.0, 0.35), 0.6, 0.4),
    "person": ((0.30, 0.25, 0.25), (0, 0.05, 0, 0, 0.1), 0.0, 0.0),
    "boat": ((0.80, 0.78, 0.74), (0, 0.03, 0, 0, 0.06), 0.0, 0.0),
    "waterfall": ((0.86, 0.90, 0.93), (0.0, 0.05, 0.0, 0.30, 0.12), 0.0, 0.0),
    "wall": ((0.55, 0.50, 0.45), (0.12, 0.18, 0.0, 0.0, 0.15), 0.2, 0.0),
    "pier": ((0.42, 0.30, 0.20), (0.05, 0.10, 0.25, 0.0, 0.15), 0.0, 0.2),
    "path": ((0.64, 0.54, 0.42), (0.10, 0.15, 0.05, 0.05, 0.2), 0.15, 0.0),
    "lake": ((0.07, 0.16, 0.19), (0, 0, 0, 0, 0), 0.0, 0.0),
    "bridge": ((0.56, 0.52, 0.48), (0.15, 0.15, 0.0, 0.0, 0.12), 0.0, 0.35),
    "field": ((0.70, 0.58, 0.24), (0.25, 0.08, 0.0, 0.0, 0.15), 0.0, 0.0),
    "road": ((0.28, 0.28, 0.29), (0.08, 0.06, 0.0, 0.0, 0.2), 0.0, 0.0),
    "railing": ((0.20, 0.20, 0.22), (0, 0.02, 0, 0, 0.06), 0.0, 0.0),
    "fence": ((0.46, 0.34, 0.22), (0.05, 0.05, 0.0, 0.15, 0.15), 0.0, 0.0),
    "ship": ((0.30, 0.30, 0.32), (0, 0.03, 0, 0, 0.06), 0.0, 0.0),
    "house": ((0.85, 0.80, 0.70), (0.05, 0.03, 0, 0, 0.06), 0.0, 0.0),
    "other": ((0.60, 0.15, 0.12), (0, 0.03, 0, 0, 0.06), 0.0, 0.0),
}
ALBEDO = np.array([LOOK[n][0] for n in CLASS_NAMES], np.float32)
TEX_WEIGHTS = np.array([LOOK[n][1] for n in CLASS_NAMES], np.float32)
BUMP = np.array([LOOK[n][2] for n in CLASS_NAMES], np.float32)
OCCLUSION = np.array([LOOK[n][3] for n in CLASS_NAMES], np.float32)

# season -> class -> (colour at foliage 0, colour at foliage 1)
VEGETATION = {
    "spring": {"tree": ((0.20, 0.38, 0.10), (0.36, 0.50, 0.16)), "grass": ((0.30, 0.55, 0.14), (0.46, 0.62, 0.22)),
               "plant": ((0.25, 0.50, 0.15), (0.40, 0.55, 0.22)), "field": ((0.35, 0.55, 0.15), (0.55, 0.62, 0.22)),
               "hill": ((0.28, 0.45, 0.16), (0.38, 0.50, 0.20))},
    "summer": {"tree": ((0.08, 0.22, 0.07), (0.16, 0.30, 0.10)), "grass": ((0.22, 0.42, 0.10), (0.45, 0.48, 0.16)),
               "plant": ((0.15, 0.38, 0.10), (0.22, 0.42, 0.12)), "field": ((0.70, 0.58, 0.24), (0.80, 0.68, 0.34)),
               "hill": ((0.22, 0.36, 0.12), (0.40, 0.42, 0.18))},
    "autumn": {"tree": ((0.58, 0.22, 0.06), (0.72, 0.52, 0.12)), "grass": ((0.45, 0.42, 0.18), (0.56, 0.46, 0.22)),
               "plant": ((0.62, 0.28, 0.10), (0.52, 0.42, 0.12)), "field": ((0.45, 0.32, 0.18), (0.62, 0.50, 0.28)),
               "hill": ((0.48, 0.36, 0.16), (0.56, 0.44, 0.20))},
    "winter": {"tree": ((0.10, 0.14, 0.10), (0.26, 0.22, 0.18)), "grass": ((0.42, 0.40, 0.28), (0.48, 0.44, 0.32)),
               "plant": ((0.30, 0.28, 0.20), (0.36, 0.30, 0.22)), "field": ((0.46, 0.40, 0.30), (0.52, 0.46, 0.36)),
               "hill": ((0.38, 0.36, 0.30), (0.44, 0.40, 0.34))},
}
SNOW_COVER = {"grass": 0.8, "field": 0.9, "land": 0.7, "earth": 0.6, "hill": 0.85, "tree": 0.22, "plant": 0.3,
              "rock": 0.4, "path": 0.6, "road": 0.15, "sand": 0.2, "house": 0.3, "building": 0.1, "wall": 0.3,
              "bridge": 0.3, "pier": 0.2, "mountain": 0.5}
SNOW_RGB = np.array([0.90, 0.92, 0.96], np.float32)
# water class -> (reflectivity, ripple strength)
WATER_LOOK = {"water": (0.65, 1.0), "sea": (0.45, 1.8), "lake": (0.8, 0.5), "river": (0.5, 1.3)}
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _resize(field: np.ndarray, height: int, width: int, resample) -> np.ndarray:
    return np.asarray(Image.fromarray(field, "F").resize((width, height), resample))


def fbm(rng, grids, persistence: float, height: int, width: int) -> np.ndarray:
    """Sum of upsampled random grids (octaves), (height, width) float32 with unit variance.

    grids: (rows, cols) of each octave, drawn in order; the random draws depend on grids only,
    not on the output size. Octaves are summed at 96 rows and upsampled once to full size.
    """
    work_h, work_w = 96, max(int(round(96 * width / height)), 1)
    total, amp, power = np.zeros((work_h, work_w), np.float32), 1.0, 0.0
    for rows, cols in grids:
        grid = rng.standard_normal((rows, cols)).astype(np.float32)
        total += amp * _resize(grid, work_h, work_w, Image.BICUBIC)
        power, amp = power + amp * amp, amp * persistence
    return _resize(total / np.float32(np.sqrt(power)), height, width, Image.BILINEAR)


@dataclass
class Noise:
    """Shared texture fields, each (H, W) float32: fBm fields ~N(0, 1), grain uniform -0.5..0.5."""

    patch: np.ndarray   # large blotches (colour drift)
    detail: np.ndarray  # isotropic mid/high frequency
    horiz: np.ndarray   # horizontally stretched (ripples, strata)
    vert: np.ndarray    # vertically stretched (grass blades, gullies, falling water)
    cloud: np.ndarray   # clouds
    grain: np.ndarray   # per pixel


def noise_fields(rng, height: int, width: int) -> Noise:
    """Draw the texture fields; the per-pixel grain is drawn last (the only size-dependent draw)."""
    a = width / height

    def g(rows, cols):
        return rows, max(int(round(cols * a)), 1)

    return Noise(
        patch=fbm(rng, [g(3, 3), g(6, 6), g(12, 12)], 0.5, height, width),
        detail=fbm(rng, [g(12, 12), g(24, 24), g(48, 48), g(96, 96)], 0.7, height, width),
        horiz=fbm(rng, [g(24, 3), g(48, 6), g(96, 12)], 0.75, height, width),
        vert=fbm(rng, [g(3, 24), g(6, 48), g(12, 96)], 0.75, height, width),
        cloud=fbm(rng, [g(2, 2), g(4, 4), g(8, 8), g(16, 16), g(32, 32)], 0.55, height, width),
        grain=rng.random((height, width), dtype=np.float32) - 0.5,
    )


def run_bounds(mask: np.ndarray):
    """First and last row of each pixel's vertical run of equal class: two (H, W) int32 arrays."""
    cols = np.ascontiguousarray(mask.T)
    height = cols.shape[1]
    index = np.arange(height, dtype=np.int32)
    starts = np.ones(cols.shape, bool)
    starts[:, 1:] = cols[:, 1:] != cols[:, :-1]
    ends = np.ones(cols.shape, bool)
    ends[:, :-1] = starts[:, 1:]
    top = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    bottom = np.minimum.accumulate(np.where(ends, index, height - 1)[:, ::-1], axis=1)[:, ::-1]
    return np.ascontiguousarray(top.T), np.ascontiguousarray(bottom.T)


@dataclass
class Frame:
    """Everything the colour laws of one render share."""

    mask: np.ndarray        # (H, W) uint8 class ids
    dist: np.ndarray        # (H, W) float32 viewing distance
    horizon: float          # horizon row, relative 0..1
    style: Style
    light: Lighting
    noise: Noise
    top: np.ndarray         # (H, W) int32 first row of the pixel's vertical run
    bottom: np.ndarray      # (H, W) int32 last row of that run
    rng: np.random.Generator
    glow: np.ndarray        # (H, W, 3) float32 emitted light (lit windows), added after lighting

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    def where(self, name: str) -> np.ndarray:
        return self.mask == CLASS_ID[name]

    def run_position(self, sel) -> np.ndarray:
        """Relative position 0 (top) .. 1 (bottom) of the selected pixels inside their vertical run."""
        rows = np.nonzero(sel)[0].astype(np.float32)
        top, bottom = self.top[sel], self.bottom[sel]
        return (rows - top) / np.maximum(bottom - top, 1)


def estimate_geometry(mask: np.ndarray):
    """Horizon (relative row) and viewing distance (H, W) guessed from a mask alone.

    The horizon is taken at the median lowest sky row; ground below it recedes with perspective,
    things above it (mountains, hills) are far.
    """
    height, width = mask.shape
    sky = mask == CLASS_ID["sky"]
    lowest = np.where(sky.any(axis=0), height - 1 - np.argmax(sky[::-1], axis=0), 0)
    horizon = float(np.clip(np.median(lowest) / height, 0.2, 0.8))
    rows = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
    ground = np.minimum(0.35 / np.maximum(rows - horizon, 1e-3), 12.0)
    far = np.where(mask == CLASS_ID["mountain"], 8.0, 4.0).astype(np.float32)
    dist = np.where(rows > horizon, ground, far).astype(np.float32)
    dist[sky] = 30.0
    return horizon, dist
