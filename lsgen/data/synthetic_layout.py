"""Procedural scene layouts of the synthetic landscape dataset.

A layout is an (H, W) uint8 map of class ids 0..28 (lsgen.data.classes) and, for the renderer,
an (H, W) float32 map of viewing distance (haze, water reflectivity). Scenes are painted back to
front: sky, far mountains, ground, near objects. Geometry is drawn in relative units - y in 0..1
of the image height, x in 0..W/H - so the random draws do not depend on the pixel size: the same
generator state gives the same scene at 64x48 and at 512x384.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsgen.data.classes import CLASS_ID

SKY_DIST = 30.0       # viewing distance given to sky pixels
MAX_GROUND_DIST = 12.0
GROUND_K = 0.35       # ground distance = GROUND_K / (y - horizon), y and horizon relative rows


@dataclass
class Scene:
    """A painted layout.

    mask: (H, W) uint8 class ids 0..28; dist: (H, W) float32 viewing distance, 0.5 (near) .. 30
    (sky); horizon: relative row (0 = top, 1 = bottom) where the ground plane meets the sky.
    """

    mask: np.ndarray
    dist: np.ndarray
    horizon: float


class Canvas:
    """Painter's-algorithm canvas addressed in relative coordinates (see the module docstring)."""

    def __init__(self, height: int, width: int, horizon: float):
        self.height, self.width, self.horizon = height, width, horizon
        self.aspect = width / height
        self.ys = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
        self.xs = ((np.arange(width, dtype=np.float32) + 0.5) / height)[None, :]
        self.u = self.xs[0] / self.aspect  # 0..1 across the width, (W,)
        self.mask = np.full((height, width), CLASS_ID["sky"], np.uint8)
        self.dist = np.full((height, width), SKY_DIST, np.float32)
        self.row_dist = self.dist_at(self.ys)

    def dist_at(self, y):
        """Viewing distance of the ground plane at relative row(s) y; far rows are capped."""
        depth_below = np.maximum(np.asarray(y, np.float32) - self.horizon, 1e-3)
        return np.minimum(GROUND_K / depth_below, MAX_GROUND_DIST).astype(np.float32)

    def paint(self, region, name: str, dist=None, box=None) -> None:
        """Set class `name` on `region` (bool, full size or the shape of `box`).

        dist: scalar viewing distance, or None for the ground distance of each row.
        box: (r0, r1, c0, c1) pixel bounds that `region` covers.
        """
        r0, r1, c0, c1 = box or (0, self.height, 0, self.width)
        mask, depth = self.mask[r0:r1, c0:c1], self.dist[r0:r1, c0:c1]
        region = np.broadcast_to(region, mask.shape)
        mask[region] = CLASS_ID[name]
        if dist is None:
            depth[region] = np.broadcast_to(self.row_dist[r0:r1], mask.shape)[region]
        else:
            depth[region] = dist

    def box(self, x0: float, x1: float, y0: float, y1: float):
        """Pixel bounds of a relative rectangle and its local (h,1) ys and (1,w) xs, or None if empty."""
        r0, r1 = max(int(y0 * self.height), 0), min(int(np.ceil(y1 * self.height)), self.height)
        c0, c1 = max(int(x0 * self.height), 0), min(int(np.ceil(x1 * self.height)), self.width)
        if r1 <= r0 or c1 <= c0:
            return None
        return (r0, r1, c0, c1), self.ys[r0:r1], self.xs[:, c0:c1]


def fractal_line(rng: np.random.Generator, roughness: float, n_points: int = 257) -> np.ndarray:
    """1-D midpoint-displacement profile, (n_points,) float32 scaled to max |value| = 1.

    roughness in 0..1 is the amplitude ratio between successive octaves (0.4 smooth, 0.65 jagged).
    n_points must be 2**k + 1.
    """
    line = np.zeros(n_points, np.float64)
    line[[0, -1]] = rng.normal(0.0, 0.6, 2)
    step, amp = n_points - 1, 1.0
    while step > 1:
        half = step // 2
        mids = 0.5 * (line[0:-1:step] + line[step::step])
        line[half::step] = mids + rng.normal(0.0, amp, mids.size)
        step, amp = half, amp * roughness
    return (line / max(np.abs(line).max(), 1e-6)).astype(np.float32)


def line_at(cv: Canvas, line: np.ndarray) -> np.ndarray:
    """Sample a profile defined on 0..1 across the width at every pixel column, (W,) float32."""
    return np.interp(cv.u, np.linspace(0.0, 1.0, line.size), line).astype(np.float32)


def ridge(cv: Canvas, rng, base: float, height: float, roughness: float, n_peaks: int,
          sharpness: float, floor: float = 0.1) -> np.ndarray:
    """Top row (W,) of a mountain (sharpness > 1, concave flanks) or hill (< 1, domes) silhouette:
    peaks reach `height` above `base`, the massif between them stays above floor * height."""
    centers = rng.uniform(-0.15, 1.15, n_peaks)[:, None]
    widths = rng.uniform(0.18, 0.55, n_peaks)[:, None]
    tops = rng.uniform(0.45, 1.0, n_peaks)[:, None]
    tent = np.clip(1.0 - np.abs(cv.u[None] - centers) / widths, 0.0, 1.0)
    envelope = (tops * tent ** sharpness).max(axis=0) / tops.max()
    detail = line_at(cv, fractal_line(rng, roughness))
    return base - height * np.clip(floor + (1.0 - floor) * envelope + 0.16 * detail, 0.02, None)


def paint_below(cv: Canvas, top: np.ndarray, name: str, dist=None, bottom=None) -> None:
    """Paint every pixel at or below the per-column row `top` (W,) (and above `bottom` if given)."""
    region = cv.ys >= top[None, :]
    if bottom is not None:
        region &= cv.ys < bottom[None, :]
    cv.paint(region, name, dist)


def mountain_range(cv: Canvas, rng, n_layers: int, hill_last: bool, peak_height: float) -> None:
    """Layers of jagged mountains receding into haze (the farthest is the tallest), optionally
    ending in a nearer layer of rounded hills. Heights are relative to the image height."""
    base = cv.horizon + 0.01
    for k in range(n_layers):
        near = k / max(n_layers - 1, 1)
        if hill_last and k == n_layers - 1:
            height = peak_height * rng.uniform(0.35, 0.6)
            top = ridge(cv, rng, base, height, 0.42, int(rng.integers(1, 4)), rng.uniform(0.5, 0.8))
            paint_below(cv, top, "hill", rng.uniform(3.0, 4.5))
        else:
            height = peak_height * (1.0 - 0.35 * near) * rng.uniform(0.7, 1.0)
            top = ridge(cv, rng, base, height, rng.uniform(0.55, 0.68), int(rng.integers(2, 6)),
                        rng.uniform(1.1, 1.8), floor=rng.uniform(0.15, 0.4))
            paint_below(cv, top, "mountain", 10.0 - 5.5 * near)


def canopy(cv: Canvas, rng, crown_width: float, conifer_frac: float) -> np.ndarray:
    """Height profile (W,) in 0..1 of a row of tree crowns of relative width `crown_width`."""
    n = max(int(cv.aspect / crown_width * 1.6), 2)
    centers = rng.uniform(-0.05, 1.05, n)[:, None] * cv.aspect
    half = crown_width * rng.uniform(0.35, 0.7, n)[:, None]
    heights = rng.uniform(0.55, 1.0, n)[:, None]
    conifer = rng.random(n)[:, None] < conifer_frac
    t = np.abs(cv.xs - centers) / half
    crown = np.where(conifer, 1.0 - t, np.sqrt(np.clip(1.0 - t * t, 0.0, None)))
    return (heights * np.clip(crown, 0.0, None)).max(axis=0)


def tree_line(cv: Canvas, rng, base: float, height: float, conifer_frac: float,
              jitter: float = 0.0) -> None:
    """A forest edge standing on relative row `base`, `height` tall (relative)."""
    profile = canopy(cv, rng, max(height * rng.uniform(0.5, 1.1), 0.01), conifer_frac)
    foot = base + jitter * line_at(cv, fractal_line(rng, 0.5))
    top = foot - height * (0.35 + 0.65 * profile)
    paint_below(cv, top, "tree", cv.dist_at(base), bottom=foot + 0.004)


def _leafy_crown(rng, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Crown of a broadleaf tree in unit coordinates (radius ~1 around 0, 0): a cluster of
    wobbly lobes, bool of the broadcast shape of dx, dy."""
    n_lobes = int(rng.integers(3, 7))
    angles = rng.uniform(0, 2 * np.pi, n_lobes)
    offsets = rng.uniform(0.3, 0.55, n_lobes)
    radii = rng.uniform(0.45, 0.65, n_lobes)
    crown = dx * dx + dy * dy <= 0.55 ** 2
    for angle, offset, radius in zip(angles, offsets, radii):
        lx, ly = dx - offset * np.cos(angle), dy - offset * np.sin(angle)
        wobble = 1.0 + 0.08 * np.sin(int(rng.integers(4, 9)) * np.arctan2(ly, lx) + rng.uniform(0, 6.3))
        crown |= lx * lx + ly * ly <= (radius * wobble) ** 2
    return crown


def tree(cv: Canvas, rng, x: float, base: float, height: float, conifer: bool) -> None:
    """One tree (crown and trunk) whose trunk stands on (x, base), `height` tall, relative units."""
    half = height * (0.24 if conifer else rng.uniform(0.28, 0.42))
    found = cv.box(x - half * 1.2, x + half * 1.2, base - height, base)
    if found is None:
        return
    box, ys, xs = found
    t = (ys - (base - height)) / height          # 0 at the top, 1 at the foot
    dx = (xs - x) / half
    if conifer:
        tiers = rng.integers(3, 7)
        taper = np.clip(t, 0.0, 0.85) * (0.6 + 0.4 * ((t * tiers) % 1.0))
        crown = (np.abs(dx) <= taper * 1.1) & (t < 0.88)
    else:
        crown = _leafy_crown(rng, dx, (t - 0.42) / 0.42)
    trunk = (np.abs(dx) <= 0.09) & (t > 0.55)
    cv.paint(crown | trunk, "tree", cv.dist_at(base), box=box)


def scatter_trees(cv: Canvas, rng, n: int, y_range, size: float, conifer_frac: float,
                  x_range=None) -> None:
    """`n` trees on random ground rows in y_range, scaled by perspective, painted far to near."""
    lo, hi = x_range or (-0.05, cv.aspect + 0.05)
    bases = np.sort(rng.uniform(*y_range, n))
    for base in bases:
        scale = (base - cv.horizon) / (1.0 - cv.horizon)
        tree(cv, rng, rng.uniform(lo, hi), base, size * scale * rng.uniform(0.7, 1.3),
             rng.random() < conifer_frac)


def blob(cv: Canvas, rng, name: str, x: float, base: float, width: float, height: float,
         jag: float) -> None:
    """A dome resting on row `base` (boulder, bush): ellipse top, flat foot, jagged rim."""
    found = cv.box(x - width, x + width, base - height * 1.2, base)
    if found is None:
        return
    box, ys, xs = found
    dx, dy = (xs - x) / width, (ys - base) / height
    angle = np.arctan2(dy, dx)
    k, phase = rng.integers(2, 9, 4), rng.uniform(0, 2 * np.pi, 4)
    radius = 1.0 + sum(jag * np.sin(k[i] * angle + phase[i]) for i in range(4)) / 2
    cv.paint((dx * dx + dy * dy <= radius * radius) & (dy <= 0), name, cv.dist_at(base), box=box)


def scatter_blobs(cv: Canvas, rng, name: str, n: int, y_range, size: float, jag: float,
                  x_range=None) -> None:
    """`n` boulders or bushes on ground rows in y_range, perspective-scaled, far to near."""
    lo, hi = x_range or (0.0, cv.aspect)
    for base in np.sort(rng.uniform(*y_range, n)):
        scale = size * (base - cv.horizon) / (1.0 - cv.horizon)
        blob(cv, rng, name, rng.uniform(lo, hi), base, scale * rng.uniform(0.6, 1.4),
             scale * rng.uniform(0.4, 0.9), jag)


def shoreline(cv: Canvas, rng, y: float, wiggle: float) -> np.ndarray:
    """A smooth boundary row per column (W,) around relative row y."""
    return y + wiggle * line_at(cv, fractal_line(rng, 0.45))


def ground_bands(cv: Canvas, rng, y_start: float, names, weights, n_bands: int) -> None:
    """Patchwork ground: bands below wavy boundaries, some split along lines to the vanishing point."""
    p = np.asarray(weights, np.float64) / np.sum(weights)
    depth = cv.horizon + (1.0 - cv.horizon) * np.sort(rng.random(n_bands)) ** 1.6
    vanish_x = rng.uniform(0.2, 0.8) * cv.aspect
    for y in np.maximum(depth, y_start):
        region = cv.ys >= shoreline(cv, rng, y, 0.25 * (y - cv.horizon))[None, :]
        if rng.random() < 0.5:
            slope = rng.uniform(-3.0, 3.0)
            region &= (cv.xs - vanish_x) * np.sign(slope) > (cv.ys - cv.horizon) * abs(slope)
        cv.paint(region, names[rng.choice(len(names), p=p)])


def strip(cv: Canvas, center, half_width, y_start: float, name: str, dist=None) -> None:
    """A band running from row y_start to the bottom (river, road, path): center and
    half_width are callables of the relative row array (H,1) giving relative x."""
    rows = cv.ys
    region = (rows >= y_start) & (np.abs(cv.xs - center(rows)) <= half_width(rows))
    cv.paint(region, name, dist)


def winding(cv: Canvas, rng, width_bottom: float, wind: float):
    """Center/half-width callables of a perspective band that winds toward the horizon."""
    x_far = rng.uniform(0.25, 0.75) * cv.aspect
    x_near = x_far + rng.uniform(-0.5, 0.5) * cv.aspect
    freq, phase = rng.uniform(2.0, 5.0), rng.uniform(0, 2 * np.pi)
    span = 1.0 - cv.horizon

    def persp(rows):
        return np.clip((rows - cv.horizon) / span, 0.0, 1.0)

    def center(rows):
        s = persp(rows)
        return x_far + (x_near - x_far) * s * s + wind * s * np.sin(freq * np.sqrt(s) * 3 + phase)

    def half_width(rows):
        return 0.5 * width_bottom * (persp(rows) + 0.01)

    return center, half_width


def profile_along(rng, t: np.ndarray, roughness: float) -> np.ndarray:
    """A fractal profile evaluated at positions t in 0..1 (any shape), values in -1..1."""
    line = fractal_line(rng, roughness, 65)
    return np.interp(t, np.linspace(0.0, 1.0, line.size), line).astype(np.float32)


def house(cv: Canvas, rng, x: float, base: float, size: float) -> None:
    """A house (walls and pitched roof) standing on (x, base); size = wall height, relative."""
    half, roof = size * rng.uniform(0.6, 1.2), size * rng.uniform(0.45, 0.8)
    eave = half * 1.12
    found = cv.box(x - eave, x + eave, base - size - roof, base)
    if found is None:
        return
    box, ys, xs = found
    dx = np.abs(xs - x)
    walls = (dx <= half) & (ys >= base - size)
    pitched = (ys < base - size + 0.002) & (ys >= base - size - roof * (1.0 - dx / eave))
    cv.paint(walls | pitched, "house", cv.dist_at(base), box=box)


def buildings(cv: Canvas, rng, base: float, max_height: float, x_range) -> None:
    """A row of flat-roofed blocks (a skyline) standing on row `base` between x_range."""
    x, end = x_range
    dist = cv.dist_at(base)
    while x < end:
        width, height = rng.uniform(0.03, 0.12), max_height * rng.uniform(0.3, 1.0)
        found = cv.box(x, x + width, base - height * 1.15, base)
        if found is not None:
            box, ys, xs = found
            body = (ys >= base - height) & (xs >= x)
            if rng.random() < 0.3:  # set-back upper storeys
                body &= ~((ys < base - 0.8 * height) & (np.abs(xs - x - width / 2) > 0.3 * width))
            if rng.random() < 0.15:  # mast on the roof
                body |= (np.abs(xs - x - width / 2) < 0.004) & (ys >= base - height * 1.15)
            cv.paint(body, "building", dist, box=box)
        x += width * rng.uniform(0.7, 1.2)


def boat(cv: Canvas, rng, x: float, waterline: float, length: float) -> None:
    """A small boat floating at (x, waterline): hull plus either a sail or a cabin."""
    hull = length * 0.2
    found = cv.box(x - length / 2, x + length / 2, waterline - hull - length * 0.9, waterline + hull * 0.1)
    if found is None:
        return
    box, ys, xs = found
    t = (ys - (waterline - hull)) / hull  # 0 at the gunwale, 1 at the waterline
    region = (t >= 0) & (t <= 1.1) & (np.abs(xs - x) <= length / 2 * (1.0 - 0.4 * t))
    if rng.random() < 0.4:
        mast, sail_h = x + rng.uniform(-0.1, 0.1) * length, length * rng.uniform(0.6, 0.9)
        lift = (waterline - hull - ys) / sail_h  # 0 at the boom, 1 at the masthead
        region |= (lift >= 0) & (lift <= 1) & (xs >= mast) & (xs <= mast + (1 - lift) * length * 0.4)
    else:
        cab = x + rng.uniform(-0.2, 0.2) * length
        region |= (np.abs(xs - cab) <= length * 0.17) & (t < 0) & (t > -1.1)
    cv.paint(region, "boat", cv.dist_at(waterline), box=box)


def ship(cv: Canvas, rng, x: float, waterline: float, length: float) -> None:
    """A large ship at (x, waterline): long hull, superstructure at the stern and a funnel."""
    hull = length * 0.1
    found = cv.box(x - length / 2, x + length / 2, waterline - hull * 3.2, waterline)
    if found is None:
        return
    box, ys, xs = found
    t, u = (ys - (waterline - hull)) / hull, (xs - x) / length  # u in -0.5..0.5, bow at +0.5
    region = (t >= 0) & (u >= -0.47) & (u <= 0.5 - 0.12 * (1 - t))
    bridge_x = rng.uniform(-0.4, -0.1)
    region |= (t < 0) & (t > -1.2) & (u > bridge_x - 0.08) & (u < bridge_x + 0.1)
    region |= (t <= -1.2) & (t > -2.0) & (u > bridge_x - 0.04) & (u < bridge_x + 0.06)
    region |= (t < 0) & (t > -0.5) & (u > bridge_x + 0.1) & (u < 0.3)
    cv.paint(region, "ship", cv.dist_at(waterline), box=box)


def person(cv: Canvas, x: float, base: float, height: float) -> None:
    """A standing person (head, body, legs) with feet on (x, base), `height` tall."""
    found = cv.box(x - height * 0.2, x + height * 0.2, base - height, base)
    if found is None:
        return
    box, ys, xs = found
    t, dx = (ys - (base - height)) / height, np.abs(xs - x) / height
    head = dx * dx + (t - 0.09) ** 2 <= 0.0081
    body = (dx <= 0.13) & (t >= 0.17) & (t <= 0.6)
    legs = (t > 0.58) & (dx <= 0.1) & (dx >= 0.015)
    cv.paint(head | body | legs, "person", cv.dist_at(base), box=box)


def fence(cv: Canvas, x0: float, x1: float, base0: float, base1: float, height: float,
          name: str = "fence", bars: float = 0.12, rails=(0.4, 0.85)) -> None:
    """Posts and rails along the ground line (x0, base0) -> (x1, base1), perspective-scaled.

    height: relative height at the bottom row; bars: post width as a fraction of the spacing.
    """
    found = cv.box(min(x0, x1), max(x0, x1), cv.horizon, max(base0, base1) + 0.01)
    if found is None:
        return
    box, ys, xs = found
    along = np.clip((xs - x0) / (x1 - x0), 0.0, 1.0)
    foot = base0 + (base1 - base0) * along
    tall = np.maximum(height * (foot - cv.horizon) / (1.0 - cv.horizon), 1e-4)
    t = (foot - ys) / tall                      # 0 at the foot, 1 at the top
    phase = np.cumsum(1.0 / (tall * 1.3 * cv.height), axis=1)
    posts = (phase % 1.0) < bars
    rail = np.zeros_like(t, dtype=bool)
    for level in rails:
        rail |= np.abs(t - level) < 0.07
    cv.paint((t >= 0) & (t <= 1) & (posts | rail), name, cv.dist_at(0.5 * (base0 + base1)), box=box)


def pier(cv: Canvas, rng, x0: float, x1: float, deck: float, thick: float) -> None:
    """A jetty seen from the side: a deck at row `deck` on posts going down into the water."""
    found = cv.box(min(x0, x1), max(x0, x1), deck - thick, deck + thick * 4)
    if found is None:
        return
    box, ys, xs = found
    spacing = thick * rng.uniform(3.0, 6.0)
    posts = ((xs - x0) / spacing) % 1.0 < 0.2
    region = (ys <= deck) | posts
    cv.paint(region, "pier", cv.dist_at(deck), box=box)


def bridge(cv: Canvas, rng, x0: float, x1: float, deck: float, thick: float, depth: float) -> None:
    """A bridge spanning x0..x1 with its deck at row `deck` and `depth`-deep arches below."""
    found = cv.box(x0, x1, deck - thick * 1.8, deck + depth)
    if found is None:
        return
    box, ys, xs = found
    n_arch = int(rng.integers(1, 4))
    span = (x1 - x0) / n_arch
    cx = x0 + span * (np.floor((xs - x0) / span) + 0.5)
    opening = ((xs - cx) / (span * 0.42)) ** 2 + ((ys - deck - depth) / (depth * 0.8)) ** 2 < 1.0
    region = (ys >= deck - thick) & ~opening
    if rng.random() < 0.5:  # parapet posts
        region |= (ys >= deck - thick * 1.8) & (((xs - x0) / (thick * 1.5)) % 1.0 < 0.3)
    cv.paint(region, "bridge", cv.dist_at(deck + depth), box=box)


def waterfall(cv: Canvas, rng, x: float, top: float, bottom: float, width: float) -> None:
    """A falling sheet of water from row top to bottom around column x, plus its splash."""
    found = cv.box(x - width * 1.6, x + width * 1.6, top, bottom + width * 0.4)
    if found is None:
        return
    box, ys, xs = found
    t = np.clip((ys - top) / (bottom - top), 0.0, 1.0)
    center = x + 0.25 * width * profile_along(rng, t, 0.5)
    half = 0.5 * width * (1.0 + 0.4 * t) * (1.0 + 0.2 * profile_along(rng, t, 0.6))
    sheet = np.abs(xs - center) <= half
    splash = ((xs - x) / (width * 1.5)) ** 2 + ((ys - bottom) / (width * 0.4)) ** 2 <= 1.0
    cv.paint(sheet | splash, "waterfall", cv.dist_at(bottom), box=box)


def wall(cv: Canvas, rng, x0: float, x1: float, base: float, height: float) -> None:
    """A stone wall on row `base` from x0 to x1 with a slightly uneven top."""
    found = cv.box(x0, x1, base - height * 1.2, base)
    if found is None:
        return
    box, ys, xs = found
    top = base - height * (1.0 + 0.1 * profile_along(rng, (xs - x0) / (x1 - x0), 0.7))
    cv.paint(ys >= top, "wall", cv.dist_at(base), box=box)


def car(cv: Canvas, x: float, base: float, length: float) -> None:
    """A car (class 'other') on (x, base): body box and a narrower cabin."""
    found = cv.box(x - length / 2, x + length / 2, base - length * 0.45, base)
    if found is None:
        return
    box, ys, xs = found
    dx, up = np.abs(xs - x) / length, (base - ys) / length
    region = ((dx <= 0.5) & (up <= 0.25)) | ((dx <= 0.3 - (up - 0.25)) & (up <= 0.45))
    cv.paint(region, "other", cv.dist_at(base), box=box)
