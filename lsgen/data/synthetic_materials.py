"""Materials of the synthetic landscape renderer: shared noise fields and per-class colour laws.

Every class has its own albedo, texture law (weights on a few shared noise fields), bump and
occlusion, plus special laws for structured classes (crop rows, windows, roofs, stone courses,
two-tone vessels) and snow. The Style's season picks the vegetation palette and snow cover.
Noise is drawn on fixed coarse grids and upsampled, so the random draws do not depend on the
output size (except the per-pixel grain, drawn last).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from lsgen.data.classes import CLASS_ID, CLASS_NAMES, NUM_CLASSES
from lsgen.data.synthetic_style import Lighting, Style

TEXTURES = ("patch", "detail", "horiz", "vert", "grain", "crease", "fine")


def _look(rgb, bump: float = 0.0, occlusion: float = 0.0, **texture):
    """One class's appearance: albedo RGB in 0..1, bump strength (light-side relief), occlusion
    (darkening toward the bottom of each vertical run) and log-brightness weights per TEXTURES."""
    return rgb, tuple(texture.get(name, 0.0) for name in TEXTURES), bump, occlusion


LOOK = {
    "mountain": _look((0.46, 0.44, 0.45), 0.5, 0.1, patch=.06, detail=.08, horiz=.03, vert=.12, grain=.03,
                      crease=.15, fine=.08),
    "sky": _look((0.5, 0.5, 0.5)),
    "water": _look((0.10, 0.20, 0.24)),
    "sea": _look((0.05, 0.19, 0.30)),
    "rock": _look((0.50, 0.48, 0.45), 0.8, 0.25, patch=.08, detail=.12, horiz=.04, vert=.06, grain=.05,
                  crease=.22, fine=.15),
    "tree": _look((0.12, 0.26, 0.08), 0.7, 0.45, patch=.08, detail=.2, grain=.05, crease=.15, fine=.3),
    "earth": _look((0.40, 0.30, 0.20), 0.3, patch=.12, detail=.12, horiz=.06, grain=.05, crease=.1, fine=.15),
    "hill": _look((0.26, 0.36, 0.15), 0.4, 0.1, patch=.15, detail=.08, horiz=.02, vert=.04, grain=.03, fine=.1),
    "river": _look((0.13, 0.21, 0.19)),
    "sand": _look((0.80, 0.70, 0.52), 0.15, patch=.06, detail=.03, horiz=.08, grain=.04, fine=.05),
    "land": _look((0.50, 0.42, 0.30), 0.25, patch=.14, detail=.10, horiz=.04, grain=.05, fine=.12),
    "building": _look((0.62, 0.60, 0.56), patch=.12, detail=.02, vert=.03, grain=.03),
    "grass": _look((0.25, 0.45, 0.12), 0.25, patch=.08, detail=.10, vert=.05, grain=.03, fine=.18),
    "plant": _look((0.18, 0.40, 0.12), 0.6, 0.4, patch=.12, detail=.25, grain=.06, crease=.2, fine=.3),
    "person": _look((0.30, 0.25, 0.25), detail=.03, grain=.04),
    "boat": _look((0.80, 0.78, 0.74), detail=.02, grain=.03),
    "waterfall": _look((0.86, 0.90, 0.93), detail=.05, vert=.25, grain=.05, fine=.1),
    "wall": _look((0.55, 0.50, 0.45), 0.2, patch=.10, detail=.12, grain=.05, fine=.1),
    "pier": _look((0.42, 0.30, 0.20), 0.0, 0.2, patch=.05, detail=.06, horiz=.15, grain=.06),
    "path": _look((0.64, 0.54, 0.42), 0.15, patch=.08, detail=.08, horiz=.03, vert=.03, grain=.06, fine=.12),
    "lake": _look((0.07, 0.16, 0.19)),
    "bridge": _look((0.56, 0.52, 0.48), 0.0, 0.35, patch=.12, detail=.10, grain=.04, fine=.06),
    "field": _look((0.70, 0.58, 0.24), patch=.2, detail=.06, grain=.05, fine=.12),
    "road": _look((0.28, 0.28, 0.29), patch=.06, detail=.04, grain=.08, fine=.05),
    "railing": _look((0.20, 0.20, 0.22), detail=.02, grain=.03),
    "fence": _look((0.46, 0.34, 0.22), patch=.04, detail=.04, vert=.10, grain=.06),
    "ship": _look((0.30, 0.30, 0.32), detail=.02, grain=.03),
    "house": _look((0.85, 0.80, 0.70), patch=.05, detail=.02, grain=.03),
    "other": _look((0.60, 0.15, 0.12), detail=.02, grain=.03),
}
ALBEDO = np.array([LOOK[n][0] for n in CLASS_NAMES], np.float32)
TEX_WEIGHTS = np.array([LOOK[n][1] for n in CLASS_NAMES], np.float32).T.copy()  # (7, 29)
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
    "autumn": {"tree": ((0.48, 0.24, 0.09), (0.58, 0.46, 0.15)), "grass": ((0.42, 0.40, 0.20), (0.52, 0.44, 0.24)),
               "plant": ((0.52, 0.28, 0.12), (0.48, 0.40, 0.15)), "field": ((0.45, 0.32, 0.18), (0.62, 0.50, 0.28)),
               "hill": ((0.48, 0.36, 0.16), (0.56, 0.44, 0.20))},
    "winter": {"tree": ((0.10, 0.14, 0.10), (0.26, 0.22, 0.18)), "grass": ((0.42, 0.40, 0.28), (0.48, 0.44, 0.32)),
               "plant": ((0.30, 0.28, 0.20), (0.36, 0.30, 0.22)), "field": ((0.46, 0.40, 0.30), (0.52, 0.46, 0.36)),
               "hill": ((0.38, 0.36, 0.30), (0.44, 0.40, 0.34))},
}
SNOW_COVER = {"grass": 0.8, "field": 0.9, "land": 0.7, "earth": 0.6, "hill": 0.85, "tree": 0.3, "plant": 0.35,
              "rock": 0.4, "path": 0.6, "road": 0.15, "sand": 0.2, "house": 0.3, "building": 0.1, "wall": 0.3,
              "bridge": 0.3, "pier": 0.2, "mountain": 0.5}
SNOW_RGB = np.array([0.90, 0.92, 0.96], np.float32)


WORK_ROWS = 96  # octaves are summed on a grid of this many rows, then upsampled once
FIELDS = (  # name, octave grids (rows, cols for a square image; cols scale with the aspect), persistence
    ("patch", ((3, 3), (6, 6), (12, 12)), 0.5),          # large blotches: colour drift
    ("detail", ((12, 12), (24, 24), (48, 48), (96, 96)), 0.7),  # isotropic texture, bumps
    ("horiz", ((24, 3), (48, 6), (96, 12)), 0.75),       # horizontally stretched: ripples, strata
    ("vert", ((3, 12), (6, 24), (12, 48)), 0.75),        # vertically stretched: gullies, falls
    ("cloud", ((2, 2), (4, 4), (8, 8), (16, 16), (32, 32)), 0.55),  # kept at work resolution
)


def octaves(rng, grids, persistence: float, aspect: float) -> np.ndarray:
    """fBm on the work grid: (96, round(96 * aspect)) float32 with unit variance.

    grids: (rows, cols) of each octave, drawn in order; the draws do not depend on the image size.
    """
    work_w = max(int(round(WORK_ROWS * aspect)), 1)
    total, amp, power = np.zeros((WORK_ROWS, work_w), np.float32), 1.0, 0.0
    for rows, cols in grids:
        grid = rng.standard_normal((rows, max(int(round(cols * aspect)), 1))).astype(np.float32)
        total += amp * upsample(grid, WORK_ROWS, work_w, Image.BICUBIC)
        power, amp = power + amp * amp, amp * persistence
    total /= np.float32(np.sqrt(power))
    return total


def upsample(field: np.ndarray, height: int, width: int, resample=Image.BILINEAR) -> np.ndarray:
    """Resize a float32 (h, w) field to (height, width) with PIL."""
    return np.asarray(Image.fromarray(field, "F").resize((width, height), resample))


@dataclass
class Noise:
    """Shared texture fields: fBm fields ~N(0, 1) (H, W) float32, except `cloud` which stays on
    the work grid (96, w); grain is per pixel, uniform -0.5..0.5; fine is upsampled 2x noise."""

    patch: np.ndarray
    detail: np.ndarray
    horiz: np.ndarray
    vert: np.ndarray
    cloud: np.ndarray
    grain: np.ndarray
    fine: np.ndarray    # ~N(0, 0.6), features of about two pixels


def noise_fields(rng, height: int, width: int) -> Noise:
    """Draw the texture fields; the per-pixel grain and fine fields are drawn last (the only
    size-dependent draws)."""
    coarse = {name: octaves(rng, grids, p, width / height) for name, grids, p in FIELDS}
    full = {name: upsample(field, height, width) for name, field in coarse.items() if name != "cloud"}
    grain = rng.random((height, width), dtype=np.float32) - 0.5
    half = rng.standard_normal((max(height // 2, 1), max(width // 2, 1)), dtype=np.float32)
    return Noise(**full, cloud=coarse["cloud"], grain=grain, fine=upsample(half, height, width))


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


def plane(rgb) -> np.ndarray:
    """An RGB triple as a (3, 1, 1) float32 array that broadcasts over planar (3, H, W) images."""
    return np.asarray(rgb, np.float32).reshape(3, 1, 1)


def mix(a, b, t):
    """Linear blend of a and b by t (broadcasting), float32."""
    return np.asarray(a, np.float32) * (1.0 - t) + np.asarray(b, np.float32) * t


def lookup(table: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-pixel entries of a per-class table: (29,) -> (H, W); (k, 29) -> (k, H, W)."""
    return np.take(table, mask, axis=table.ndim - 1)


@dataclass
class Frame:
    """Everything the colour laws of one render share. Images are planar (3, H, W) float32."""

    mask: np.ndarray        # (H, W) uint8 class ids
    dist: np.ndarray        # (H, W) float32 viewing distance
    horizon: float          # horizon row, relative 0..1
    style: Style
    light: Lighting
    noise: Noise
    top: np.ndarray         # (H, W) int32 first row of the pixel's vertical run of equal class
    position: np.ndarray    # (H, W) float32 0 (run top) .. 1 (run bottom)
    rng: np.random.Generator
    lights: list            # (rows, cols, (3, 1) rgb) emitted light (lit windows), added after lighting

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    def where(self, name: str) -> np.ndarray:
        return self.mask == CLASS_ID[name]

    def pixels(self, name: str):
        """(rows, cols) int arrays of the pixels of class `name`."""
        return np.nonzero(self.mask == CLASS_ID[name])


ROCK_TINTS = ((1.0, 1.0, 1.0), (1.15, 0.92, 0.78), (0.8, 0.8, 0.85), (1.05, 1.0, 0.9))


def class_colours(style: Style, rng) -> np.ndarray:
    """Per-image albedo table (29, 3) float32: base looks, the season's vegetation, small jitter."""
    table = ALBEDO.copy()
    for name, (c0, c1) in VEGETATION[style.season].items():
        table[CLASS_ID[name]] = mix(c0, c1, style.foliage)
    rock_tint = np.asarray(ROCK_TINTS[rng.integers(len(ROCK_TINTS))], np.float32)
    for name in ("mountain", "rock", "earth", "land", "sand"):
        table[CLASS_ID[name]] *= rock_tint ** (0.5 if name in ("earth", "land", "sand") else 1.0)
    jitter = rng.normal(0.0, 0.06, (NUM_CLASSES, 1)) + rng.normal(0.0, 0.025, (NUM_CLASSES, 3))
    return np.clip(table * (1.0 + jitter.astype(np.float32)), 0.02, 0.95)


def drift_table(style: Style) -> np.ndarray:
    """Colour drift (29, 3) float32 added in proportion to the large-scale patch noise."""
    drift = ALBEDO * 0.06
    veg = np.array([0.035, 0.03, -0.01] if style.season != "autumn" else [0.06, 0.04, 0.0], np.float32)
    for name in ("tree", "grass", "plant", "hill", "field"):
        drift[CLASS_ID[name]] = veg
    return drift


def albedo(fr: Frame) -> np.ndarray:
    """Surface colour before lighting, (3, H, W) float32 in ~0..1: base x texture + drift + details."""
    n = fr.noise
    present = np.bincount(fr.mask.ravel(), minlength=NUM_CLASSES) > 0
    weights = TEX_WEIGHTS * np.float32([1, 1, 1, 1, 3.4, 1, 1])[:, None]   # grain is uniform, std 0.29
    fields = (lambda: n.patch, lambda: n.detail, lambda: n.horiz, lambda: n.vert, lambda: n.grain,
              lambda: 0.6 - 2.0 * np.abs(n.detail),   # crease: thin dark valleys of the detail noise
              lambda: n.fine)
    texture = np.zeros(fr.mask.shape, np.float32)
    for k, field in enumerate(fields):
        if weights[k, present].any():
            texture += lookup(weights[k], fr.mask) * field()
    colour = lookup(class_colours(fr.style, fr.rng).T.copy(), fr.mask)
    colour *= np.exp(texture, out=texture)
    drift = lookup(drift_table(fr.style).T.copy(), fr.mask)
    drift *= n.patch
    colour += drift
    for name, law in MATERIALS.items():
        if present[CLASS_ID[name]]:
            law(fr, colour, fr.pixels(name))
    add_snow(fr, colour, present)
    return colour


def _field(fr: Frame, colour, pix) -> None:
    """Crop rows converging to a vanishing point on the horizon."""
    rows, cols = pix
    vanish = fr.mask.shape[1] * fr.rng.uniform(0.2, 0.8)
    slope = (cols - vanish) / np.maximum(rows - fr.horizon * fr.height, 1.0)
    furrows = 0.5 + 0.5 * np.sin(slope * fr.rng.uniform(15.0, 40.0))
    colour[:, rows, cols] *= (0.85 + 0.25 * furrows).astype(np.float32)


def _windows(fr: Frame, rows, cols, period: float, lit_share: float):
    """Window-grid flags for facade pixels and, at dusk and night, a share of lit windows."""
    wx, wy = cols / period, rows / (period * 1.3)
    inside = ((wx % 1.0) < 0.5) & ((wy % 1.0) < 0.5)
    if fr.style.time_of_day in ("dusk", "night"):
        cell_hash = np.sin(np.floor(wx) * 12.9898 + np.floor(wy) * 78.233) * 43758.5453 % 1.0
        lit = inside & (cell_hash < lit_share)
        fr.lights.append((rows[lit], cols[lit], np.float32([0.8, 0.62, 0.34])[:, None]))
    return inside


def _building(fr: Frame, colour, pix) -> None:
    rows, cols = pix
    glass = _windows(fr, rows, cols, max(fr.height * 0.016, 2.0), 0.45)
    colour[:, rows[glass], cols[glass]] = np.float32([0.16, 0.19, 0.24])[:, None]


HOUSE_WALLS = ((0.88, 0.84, 0.74), (0.80, 0.68, 0.50), (0.70, 0.44, 0.34), (0.90, 0.90, 0.88))
ROOFS = ((0.55, 0.20, 0.13), (0.24, 0.24, 0.27), (0.40, 0.28, 0.20), (0.20, 0.28, 0.42))


def _house(fr: Frame, colour, pix) -> None:
    """Pitched roof (top of each run) over walls with small windows."""
    rows, cols = pix
    pos = fr.position[rows, cols]
    wall_rgb = np.asarray(HOUSE_WALLS[fr.rng.integers(len(HOUSE_WALLS))], np.float32)[:, None]
    roof_rgb = np.asarray(ROOFS[fr.rng.integers(len(ROOFS))], np.float32)[:, None]
    texture = colour[:, rows, cols] / ALBEDO[CLASS_ID["house"]][:, None]
    colour[:, rows, cols] = np.where(pos < 0.4, roof_rgb, wall_rgb) * texture
    glass = _windows(fr, rows, cols, max(fr.height * 0.02, 2.0), 0.6) & (pos > 0.55) & (pos < 0.9)
    colour[:, rows[glass], cols[glass]] = np.float32([0.12, 0.12, 0.15])[:, None]


CLOTHES = ((0.70, 0.12, 0.10), (0.15, 0.25, 0.55), (0.85, 0.80, 0.20), (0.20, 0.45, 0.25), (0.9, 0.9, 0.9))


def _person(fr: Frame, colour, pix) -> None:
    """Skin at the head, a shirt of a random colour, dark trousers."""
    rows, cols = pix
    pos = fr.position[rows, cols]
    shirt = np.asarray(CLOTHES[fr.rng.integers(len(CLOTHES))], np.float32)[:, None]
    colour[:, rows, cols] = np.where(pos < 0.17, np.float32([0.72, 0.52, 0.40])[:, None],
                                     np.where(pos > 0.58, np.float32([0.12, 0.12, 0.16])[:, None], shirt))


HULLS = ((0.85, 0.85, 0.82), (0.65, 0.12, 0.10), (0.12, 0.22, 0.45), (0.45, 0.30, 0.18))


def _vessel(fr: Frame, colour, pix, upper_share: float, upper_rgb) -> None:
    """Two-tone boat or ship: the upper part of each run (cabin, sail, bridge) in upper_rgb."""
    rows, cols = pix
    hull = np.asarray(HULLS[fr.rng.integers(len(HULLS))], np.float32)[:, None]
    upper = fr.position[rows, cols] < upper_share
    colour[:, rows, cols] = np.where(upper, np.asarray(upper_rgb, np.float32)[:, None], hull)


def _wall(fr: Frame, colour, pix) -> None:
    """Courses of stone blocks: darker mortar lines, staggered joints."""
    rows, cols = pix
    block = max(fr.height * 0.012, 1.5)
    course = rows / block
    joint = ((cols / (block * 2.2) + 0.5 * np.floor(course)) % 1.0) < 0.12
    mortar = ((course % 1.0) < 0.15) | joint
    colour[:, rows[mortar], cols[mortar]] *= np.float32(0.6)


def _waterfall(fr: Frame, colour, pix) -> None:
    """Foam brightens toward the foot of the fall."""
    rows, cols = pix
    colour[:, rows, cols] *= 0.8 + 0.3 * fr.position[rows, cols]


def _other(fr: Frame, colour, pix) -> None:
    colour[:, pix[0], pix[1]] = fr.rng.uniform(0.1, 0.8, (3, 1)).astype(np.float32)


MATERIALS = {
    "field": _field, "building": _building, "house": _house, "person": _person,
    "boat": lambda fr, c, p: _vessel(fr, c, p, 0.4, (0.9, 0.88, 0.82)),
    "ship": lambda fr, c, p: _vessel(fr, c, p, 0.55, (0.92, 0.92, 0.9)),
    "wall": _wall, "waterfall": _waterfall, "other": _other,
}
SNOW_TABLE = np.zeros(NUM_CLASSES, np.float32)
for _name, _share in SNOW_COVER.items():
    SNOW_TABLE[CLASS_ID[_name]] = _share
FLECKED = np.isin(np.arange(NUM_CLASSES), [CLASS_ID["tree"], CLASS_ID["plant"]]).astype(np.float32)


def add_snow(fr: Frame, colour, present) -> None:
    """Snow on mountain tops down to the style's snow line and, in winter, on open ground.

    colour: (3, H, W) float32, changed in place; present: (29,) bool classes in the mask."""
    n, height = fr.noise, fr.height
    amount = np.zeros(fr.mask.shape, np.float32)
    if fr.style.snow_line > 0 and present[CLASS_ID["mountain"]]:
        band = slice(0, max(int(fr.horizon * height), 1))  # snow only lies above the horizon
        rows = np.arange(band.stop, dtype=np.float32)[:, None]
        below_ridge = (rows - fr.top[band]) / np.float32(height)
        altitude = np.clip((band.stop - rows) / np.float32(0.25 * height), 0.0, 1.0)
        reach = np.float32(fr.style.snow_line * 0.15) * altitude * (
            1.0 + 0.6 * n.detail[band] + 0.5 * np.abs(n.vert[band]))
        amount[band] = np.clip((reach - below_ridge) * 60.0, 0.0, 1.0) * fr.where("mountain")[band]
    if fr.style.season == "winter" and SNOW_TABLE[present].max() > 0:
        # open ground holds snow in broad patches, foliage in small flecks
        flecks = lookup(FLECKED, fr.mask)
        unevenness = (0.25 * n.patch + 0.12 * n.detail) * (1.0 - flecks) + 0.3 * n.fine * flecks
        ground = np.clip((lookup(SNOW_TABLE, fr.mask) - 0.5 - unevenness) * 5.0, 0.0, 1.0 - 0.5 * flecks)
        amount = np.maximum(amount, ground)
    if not amount.any():
        return
    snow = plane(SNOW_RGB) * (1.0 + 0.05 * n.detail)
    snow -= colour
    snow *= amount
    colour += snow
