"""Scene recipes of the synthetic landscape dataset: which layers and objects a layout is made of.

Each recipe paints one kind of landscape (alpine lake, coast, meadow, river valley, forest, desert,
town, waterfall) on a Canvas with the primitives of synthetic_layout. The recipe weights and the
per-object probabilities set the class frequencies: sky and mountain/tree/grass/water are common,
boats, bridges, piers and people are rare, as in the contest photos.
"""
from __future__ import annotations

import numpy as np

from lsgen.data import synthetic_layout as lay
from lsgen.data.synthetic_layout import Canvas, Scene


def pick(rng, weights: dict) -> str:
    """One key of `weights` (name -> relative weight)."""
    names = list(weights)
    p = np.asarray([weights[n] for n in names], np.float64)
    return names[rng.choice(len(names), p=p / p.sum())]


def at(cv: Canvas, s) -> float:
    """Relative row of perspective position s: 0 = horizon, 1 = bottom edge."""
    return cv.horizon + s * (1.0 - cv.horizon)


def scale_at(cv: Canvas, y) -> float:
    """Perspective size factor of things standing on relative row y: 0 at the horizon, 1 at the bottom."""
    return (y - cv.horizon) / (1.0 - cv.horizon)


def across(cv: Canvas, rng, lo: float = 0.0, hi: float = 1.0) -> float:
    """A random x between fractions lo and hi of the width, in relative units."""
    return rng.uniform(lo, hi) * cv.aspect


def ground(cv: Canvas, name: str) -> None:
    """Cover the whole ground plane (every row below the horizon) with one class."""
    lay.paint_below(cv, np.full(cv.width, cv.horizon, np.float32), name)


def band(cv: Canvas, rng, s: float, wiggle: float, name: str) -> float:
    """Paint below a wavy boundary around perspective position s; returns the boundary row."""
    y = at(cv, s)
    lay.paint_below(cv, lay.shoreline(cv, rng, y, wiggle), name)
    return y


def _row_value(fn, y: float) -> float:
    """Evaluate a center/half-width callable of lay.winding at one relative row."""
    return float(fn(np.float32(y)))


def backdrop(cv: Canvas, rng, p_mountain: float, max_layers: int, peak: float) -> None:
    """Mountains (several hazy layers) or just a line of hills behind the ground plane."""
    peak = min(peak, cv.horizon - 0.04)
    if rng.random() < p_mountain:
        lay.mountain_range(cv, rng, int(rng.integers(1, max_layers + 1)), rng.random() < 0.4,
                           peak * rng.uniform(0.8, 1.0))
    elif rng.random() < 0.6:
        lay.mountain_range(cv, rng, 1, True, peak * rng.uniform(0.5, 0.9))


def foreground(cv: Canvas, rng, p_plant: float, p_rock: float, p_trees: float, conifer: float):
    """Near-field dressing shared by the land scenes: bushes, boulders, big trees at the sides."""
    if rng.random() < p_rock:
        lay.scatter_blobs(cv, rng, "rock", int(rng.integers(1, 5)), (at(cv, 0.4), 1.02), 0.12, 0.35)
    if rng.random() < p_plant:
        lay.scatter_blobs(cv, rng, "plant", int(rng.integers(2, 8)), (at(cv, 0.6), 1.05), 0.1, 0.3)
    if rng.random() < p_trees:
        side = cv.aspect * (0.05 if rng.random() < 0.5 else 0.95)
        lay.scatter_trees(cv, rng, int(rng.integers(1, 4)), (at(cv, 0.5), 1.1), 0.7, conifer,
                          x_range=(side - 0.15, side + 0.15))


def people(cv: Canvas, rng, p: float, y_range) -> None:
    """Occasionally one to three people standing on ground rows in y_range."""
    if rng.random() < p:
        for base in np.sort(rng.uniform(*y_range, int(rng.integers(1, 4)))):
            lay.person(cv, across(cv, rng, 0.1, 0.9), base, 0.17 * scale_at(cv, base))


def railing_in_front(cv: Canvas, rng, p: float) -> None:
    """Occasionally a viewpoint railing across the bottom edge."""
    if rng.random() < p:
        lay.fence(cv, -0.01, cv.aspect + 0.01, 0.995, 0.995, 0.21, "railing", 0.1, (0.95, 0.5))


def lake_scene(cv: Canvas, rng) -> None:
    """Alpine lake: mountains, a far shore with a forest edge, calm water, a near shore."""
    conifer = rng.choice([0.1, 0.6, 0.95])
    backdrop(cv, rng, 0.92, 3, rng.uniform(0.4, 0.7))
    ground(cv, pick(rng, {"grass": 3, "land": 1, "rock": 1}))
    far_shore = cv.horizon + rng.uniform(0.004, 0.03)
    if rng.random() < 0.65:
        lay.tree_line(cv, rng, far_shore, rng.uniform(0.015, 0.06), conifer)
    water = "lake" if rng.random() < 0.7 else "water"
    lay.paint_below(cv, lay.shoreline(cv, rng, far_shore, 0.004), water)
    if rng.random() < 0.2:
        lay.boat(cv, rng, across(cv, rng, 0.1, 0.9), at(cv, rng.uniform(0.1, 0.5)), 0.12 * rng.uniform(0.3, 1.0))
    if rng.random() < 0.12:
        x0 = across(cv, rng, 0.0, 0.3)
        lay.pier(cv, rng, x0, x0 + rng.uniform(0.2, 0.6), at(cv, rng.uniform(0.3, 0.6)), 0.012)
    if rng.random() < 0.75:
        near = band(cv, rng, rng.uniform(0.55, 0.92), 0.05, pick(rng, {"grass": 4, "rock": 3, "sand": 1, "earth": 1}))
        people(cv, rng, 0.1, (near + 0.02, 1.0))
        foreground(cv, rng, 0.35, 0.4, 0.45, conifer)


def coast_scene(cv: Canvas, rng) -> None:
    """Sea to the horizon, perhaps a headland, a beach or rocky shore, ships and boats."""
    if rng.random() < 0.45:
        lay.mountain_range(cv, rng, 1, rng.random() < 0.5, rng.uniform(0.1, 0.3))
    ground(cv, "sea")
    if rng.random() < 0.22:
        lay.ship(cv, rng, across(cv, rng, 0.15, 0.85), at(cv, rng.uniform(0.01, 0.08)), rng.uniform(0.08, 0.25))
    for _ in range(int(rng.integers(1, 4)) if rng.random() < 0.25 else 0):
        lay.boat(cv, rng, across(cv, rng, 0.05, 0.95), at(cv, rng.uniform(0.05, 0.45)), rng.uniform(0.03, 0.1))
    shore = pick(rng, {"beach": 6, "cliff": 3, "none": 1})
    if shore == "none":
        return
    near = band(cv, rng, rng.uniform(0.35, 0.85), 0.06, "sand" if shore == "beach" else "rock")
    if rng.random() < (0.6 if shore == "cliff" else 0.25):
        band(cv, rng, rng.uniform(0.8, 0.98), 0.03, "grass")
    if rng.random() < 0.12:
        x0 = across(cv, rng, 0.1, 0.9)
        lay.pier(cv, rng, x0, x0 + rng.choice([-1, 1]) * rng.uniform(0.3, 0.7), near - 0.01, 0.015)
    people(cv, rng, 0.18, (near + 0.03, 1.0))
    railing_in_front(cv, rng, 0.1)
    foreground(cv, rng, 0.2, 0.45, 0.1, 0.5)


def road_or_path(cv: Canvas, rng, p_road: float, p_path: float) -> None:
    """Perhaps a road (sometimes with a car) or a path from near the horizon to the bottom edge."""
    kind = pick(rng, {"road": p_road, "path": p_path, "none": max(1.0 - p_road - p_path, 0.0)})
    if kind == "none":
        return
    width = rng.uniform(0.5, 1.2) if kind == "road" else rng.uniform(0.15, 0.45)
    center, half = lay.winding(cv, rng, width, rng.uniform(0.0, 0.15 if kind == "road" else 0.35))
    lay.strip(cv, center, half, cv.horizon + rng.uniform(0.01, 0.08), kind)
    if kind == "road" and rng.random() < 0.2:
        y = at(cv, rng.uniform(0.15, 0.6))
        lay.car(cv, _row_value(center, y), y, 0.3 * scale_at(cv, y))


def houses(cv: Canvas, rng, count: int, depth_range, size: float) -> None:
    """`count` houses on ground rows between perspective positions depth_range, far to near."""
    for base in np.sort(rng.uniform(at(cv, depth_range[0]), at(cv, depth_range[1]), count)):
        lay.house(cv, rng, across(cv, rng, 0.0, 1.0), base, size * scale_at(cv, base))


def meadow_scene(cv: Canvas, rng) -> None:
    """Open country: hills or mountains, patchwork fields, trees, a road, houses, fences."""
    conifer = rng.choice([0.0, 0.3, 0.8])
    backdrop(cv, rng, 0.6, 2, rng.uniform(0.25, 0.5))
    ground(cv, "grass")
    lay.ground_bands(cv, rng, cv.horizon, ("grass", "field", "land", "earth"), (5, 3, 1.2, 0.8),
                     int(rng.integers(1, 5)))
    if rng.random() < 0.5:
        lay.tree_line(cv, rng, at(cv, rng.uniform(0.0, 0.1)), rng.uniform(0.02, 0.07), conifer, 0.01)
    road_or_path(cv, rng, 0.2, 0.28)
    if rng.random() < 0.25:
        houses(cv, rng, int(rng.integers(1, 5)), (0.05, 0.35), 0.25)
    lay.scatter_trees(cv, rng, int(rng.integers(0, 7)), (at(cv, 0.05), 1.0), 0.6, conifer)
    if rng.random() < 0.2:
        y0, y1 = at(cv, rng.uniform(0.3, 0.7)), at(cv, rng.uniform(0.3, 1.0))
        lay.fence(cv, across(cv, rng, -0.1, 0.3), across(cv, rng, 0.7, 1.1), y0, y1, 0.35)
    if rng.random() < 0.06:
        y = at(cv, rng.uniform(0.3, 0.8))
        lay.wall(cv, rng, rng.uniform(-0.1, 0.4), rng.uniform(0.6, 1.4), y, 0.12 * (y - cv.horizon))
    people(cv, rng, 0.06, (at(cv, 0.2), 1.0))
    foreground(cv, rng, 0.35, 0.2, 0.2, conifer)


def river_crossings(cv: Canvas, rng, center, half) -> None:
    """Rocks in the stream, perhaps a bridge over it and a boat on it."""
    if rng.random() < 0.3:
        for base in rng.uniform(at(cv, 0.3), 1.0, int(rng.integers(1, 4))):
            x = _row_value(center, base) + rng.uniform(-1, 1) * _row_value(half, base)
            lay.blob(cv, rng, "rock", x, base, 0.06 * scale_at(cv, base), 0.04 * scale_at(cv, base), 0.3)
    if rng.random() < 0.18:
        y = at(cv, rng.uniform(0.15, 0.5))
        c, w = _row_value(center, y), _row_value(half, y)
        depth = y - cv.horizon
        lay.bridge(cv, rng, c - 1.8 * w - 0.05, c + 1.8 * w + 0.05, y - 0.02 * depth, 0.012, 0.15 * depth + 0.01)
    if rng.random() < 0.08:
        y = at(cv, rng.uniform(0.3, 0.7))
        lay.boat(cv, rng, _row_value(center, y), y, 0.12 * scale_at(cv, y) + 0.01)


def river_scene(cv: Canvas, rng) -> None:
    """A river valley: the river winds toward the horizon between banks and trees."""
    conifer = rng.choice([0.0, 0.4, 0.9])
    backdrop(cv, rng, 0.6, 3, rng.uniform(0.3, 0.55))
    ground(cv, pick(rng, {"grass": 4, "land": 1, "field": 1}))
    if rng.random() < 0.6:
        lay.tree_line(cv, rng, at(cv, rng.uniform(0.0, 0.08)), rng.uniform(0.02, 0.07), conifer, 0.01)
    center, half = lay.winding(cv, rng, rng.uniform(0.3, 0.9) * cv.aspect, rng.uniform(0.05, 0.3))
    if rng.random() < 0.35:
        bank = pick(rng, {"earth": 2, "sand": 1, "rock": 2})
        lay.strip(cv, center, lambda rows: half(rows) * 1.3 + 0.01, cv.horizon, bank)
    lay.strip(cv, center, half, cv.horizon, "river" if rng.random() < 0.85 else "water")
    lay.scatter_trees(cv, rng, int(rng.integers(0, 8)), (at(cv, 0.05), 1.0), 0.6, conifer)
    river_crossings(cv, rng, center, half)
    foreground(cv, rng, 0.3, 0.3, 0.3, conifer)


def forest_scene(cv: Canvas, rng) -> None:
    """Woodland: rows of forest edges at several depths, big trees, a path, undergrowth."""
    conifer = rng.choice([0.0, 0.5, 1.0])
    backdrop(cv, rng, 0.45, 2, rng.uniform(0.2, 0.4))
    ground(cv, pick(rng, {"grass": 3, "earth": 1, "land": 1}))
    for s in np.sort(rng.uniform(0.0, 0.35, int(rng.integers(1, 4)))):
        lay.tree_line(cv, rng, at(cv, s), (0.06 + 0.5 * s) * rng.uniform(0.6, 1.2), conifer, 0.01)
    road_or_path(cv, rng, 0.05, 0.45)
    lay.scatter_trees(cv, rng, int(rng.integers(3, 12)), (at(cv, 0.25), 1.05), 0.8, conifer)
    if rng.random() < 0.2:
        lay.scatter_trees(cv, rng, int(rng.integers(1, 3)), (1.0, 1.15), 0.9, conifer)
    people(cv, rng, 0.05, (at(cv, 0.3), 1.0))
    foreground(cv, rng, 0.5, 0.3, 0.0, conifer)


def desert_scene(cv: Canvas, rng) -> None:
    """Dry country: rocky mountains or mesas, sand and bare ground, a lonely road."""
    backdrop(cv, rng, 0.75, 2, rng.uniform(0.25, 0.5))
    if rng.random() < 0.45:  # mesas: steep rock outcrops cut flat at a plateau
        top = lay.ridge(cv, rng, cv.horizon + 0.01, rng.uniform(0.08, 0.2), 0.5, int(rng.integers(1, 4)), 0.3)
        plateau = cv.horizon - (cv.horizon - top).max() * rng.uniform(0.6, 0.85)
        lay.paint_below(cv, np.maximum(top, plateau), "rock", rng.uniform(4.0, 8.0))
    ground(cv, pick(rng, {"sand": 6, "land": 2.5, "earth": 1.5}))
    lay.ground_bands(cv, rng, cv.horizon, ("sand", "land", "earth", "rock"), (4, 2, 2, 1), int(rng.integers(0, 4)))
    road_or_path(cv, rng, 0.3, 0.1)
    people(cv, rng, 0.03, (at(cv, 0.3), 1.0))
    foreground(cv, rng, 0.2, 0.55, 0.0, 0.0)


def town_scene(cv: Canvas, rng) -> None:
    """A town or village: a skyline, houses, a street, walls, railings, people."""
    backdrop(cv, rng, 0.5, 2, rng.uniform(0.2, 0.4))
    ground(cv, pick(rng, {"grass": 2, "land": 1}))
    if rng.random() < 0.7:
        span = (rng.uniform(-0.1, 0.5), across(cv, rng, 0.8, 1.5))
        lay.buildings(cv, rng, cv.horizon + 0.012, rng.uniform(0.1, 0.3), span)
    if rng.random() < 0.75:
        houses(cv, rng, int(rng.integers(2, 7)), (0.05, 0.45), 0.3)
    road_or_path(cv, rng, 0.6, 0.1)
    if rng.random() < 0.7:
        lay.scatter_trees(cv, rng, int(rng.integers(1, 6)), (at(cv, 0.1), 1.0), 0.7, 0.2)
    if rng.random() < 0.25:
        y = at(cv, rng.uniform(0.4, 0.8))
        lay.wall(cv, rng, rng.uniform(-0.1, 0.5), rng.uniform(0.7, 1.5), y, 0.15 * (y - cv.horizon))
    if rng.random() < 0.2:
        y0, y1 = at(cv, rng.uniform(0.5, 0.9)), at(cv, rng.uniform(0.5, 0.9))
        lay.fence(cv, -0.05, across(cv, rng, 0.3, 1.1), y0, y1, 0.3)
    if rng.random() < 0.25:  # a canal or river in front, often bridged
        water_top = band(cv, rng, rng.uniform(0.6, 0.85), 0.01, "river" if rng.random() < 0.5 else "water")
        if rng.random() < 0.6:
            lay.bridge(cv, rng, -0.05, cv.aspect + 0.05, water_top + 0.01, 0.02, 0.08)
    railing_in_front(cv, rng, 0.15)
    people(cv, rng, 0.3, (at(cv, 0.2), 1.0))


def waterfall_scene(cv: Canvas, rng) -> None:
    """A cliff with one or two waterfalls falling into a pool, trees on the rim."""
    backdrop(cv, rng, 0.35, 2, rng.uniform(0.2, 0.4))
    pool = cv.horizon + rng.uniform(0.05, 0.2)
    rim = lay.ridge(cv, rng, pool, rng.uniform(0.3, pool - 0.05), 0.55, int(rng.integers(1, 3)), 0.6)
    if rng.random() < 0.7:
        crowns = lay.canopy(cv, rng, rng.uniform(0.04, 0.1), rng.choice([0.0, 0.7]))
        lay.paint_below(cv, rim - rng.uniform(0.03, 0.1) * (0.3 + crowns), "tree", 3.0, bottom=rim + 0.02)
    lay.paint_below(cv, rim, "rock", 2.5)
    for _ in range(int(rng.integers(1, 3))):
        col = int(rng.uniform(0.2, 0.8) * cv.width)
        lay.waterfall(cv, rng, (col + 0.5) / cv.height, float(rim[col]) + 0.02, pool, rng.uniform(0.03, 0.12))
    lay.paint_below(cv, lay.shoreline(cv, rng, pool, 0.01), pick(rng, {"water": 3, "river": 1, "lake": 1}))
    band(cv, rng, rng.uniform(0.6, 0.95), 0.05, pick(rng, {"rock": 3, "grass": 1}))
    foreground(cv, rng, 0.5, 0.5, 0.5, 0.5)


SCENES = {  # recipe -> (weight, painter, horizon range)
    "lake": (0.17, lake_scene, (0.42, 0.62)),
    "coast": (0.16, coast_scene, (0.35, 0.55)),
    "meadow": (0.2, meadow_scene, (0.38, 0.6)),
    "river": (0.13, river_scene, (0.36, 0.56)),
    "forest": (0.1, forest_scene, (0.45, 0.65)),
    "desert": (0.06, desert_scene, (0.4, 0.62)),
    "town": (0.11, town_scene, (0.42, 0.6)),
    "waterfall": (0.07, waterfall_scene, (0.35, 0.55)),
}


def sample_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    """Draw a scene recipe and paint it: Scene(mask (H, W) uint8 ids 0..28, dist, horizon)."""
    name = pick(rng, {k: v[0] for k, v in SCENES.items()})
    _, paint_scene, (lo, hi) = SCENES[name]
    cv = Canvas(height, width, float(rng.uniform(lo, hi)))
    paint_scene(cv, rng)
    return Scene(cv.mask, cv.dist, cv.horizon)
