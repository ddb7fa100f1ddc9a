"""Rendering of a synthetic layout under a global Style: light, sky, water reflections, haze, grade.

The Style (synthetic_style) sets the light, sky, haze and colour grade, so one Style changes every
colour of the image consistently; surfaces come from synthetic_materials. A render costs a few
tens of full-resolution numpy operations (noise is upsampled from coarse grids).
"""
from __future__ import annotations

import functools

import numpy as np

from lsgen.data.classes import CLASS_ID, NUM_CLASSES
from lsgen.data.synthetic_layout import GROUND_K, MAX_GROUND_DIST, SKY_DIST
from lsgen.data.synthetic_materials import (ALBEDO, BUMP, OCCLUSION, Frame, albedo, lookup, mix,
                                            noise_fields, plane, run_bounds, upsample)
from lsgen.data.synthetic_style import Style, lighting

# water class -> (reflectivity, ripple strength)
WATER_LOOK = {"water": (0.65, 1.0), "sea": (0.45, 1.8), "lake": (0.8, 0.5), "river": (0.5, 1.3)}
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


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
    ground = np.minimum(GROUND_K / np.maximum(rows - horizon, 1e-3), MAX_GROUND_DIST)
    far = np.where(mask == CLASS_ID["mountain"], 8.0, 4.0).astype(np.float32)
    dist = np.where(rows > horizon, ground, far).astype(np.float32)
    dist[sky] = SKY_DIST
    return horizon, dist


def _smooth_x(field: np.ndarray, radius: int) -> np.ndarray:
    """Box blur along x (edges clamped), same shape."""
    if radius < 1:
        return field
    padded = np.pad(field, ((0, 0), (radius + 1, radius)), mode="edge")
    cum = np.cumsum(padded, axis=1, dtype=np.float32)
    return (cum[:, 2 * radius + 1:] - cum[:, :-2 * radius - 1]) / np.float32(2 * radius + 1)


def _x_slope(field: np.ndarray, scale: float) -> np.ndarray:
    """Central difference along x times scale, (H, W) float32 (zero at the borders)."""
    slope = np.zeros_like(field, dtype=np.float32)
    slope[:, 1:-1] = (field[:, 2:] - field[:, :-2]) * np.float32(scale)
    return slope


FLANK = np.isin(np.arange(NUM_CLASSES), [CLASS_ID[c] for c in ("mountain", "hill", "rock")]).astype(np.float32)
# flank classes get light-facing slopes read from their silhouette


def shading(fr: Frame):
    """Direct-light and ambient-occlusion factors, two (H, W) float32 arrays in ~0..1.5.

    Direct light: a bump term (x slope of the detail noise, lit from the sun's side) for rough
    classes; for mountains, hills and rocks also the facing of the flank, read from the slope of
    the silhouette above each pixel, and gullies from the vertical-streak noise.
    """
    height, width = fr.mask.shape
    style, n = fr.style, fr.noise
    elevation = float(np.clip(style.sun_elevation, 0.0, 1.0))
    # some side light even for a frontal sun, so that relief always reads
    side = np.sign(style.sun_azimuth) * (0.35 + 0.65 * abs(style.sun_azimuth))
    light_x = np.float32(side * (1.0 - 0.5 * elevation))
    direct = (0.72 + 0.28 * elevation) + lookup(BUMP, fr.mask) * _x_slope(n.detail, width / 800.0) * light_x
    flank = lookup(FLANK, fr.mask)
    if flank.any():
        top = fr.top.astype(np.float32)
        facing = np.tanh(_smooth_x(np.clip(_x_slope(top, 1.0), -4.0, 4.0), max(width // 96, 1)) * 0.8)
        rows = np.arange(height, dtype=np.float32)[:, None]
        fade = np.exp((top - rows) / np.float32(0.25 * height))
        gully = _x_slope(n.vert, width / 150.0)
        direct += flank * (0.55 * facing * fade + 0.3 * gully) * light_x
    occlusion = 1.0 - lookup(OCCLUSION, fr.mask) * fr.position
    return np.clip(direct, 0.05, 1.6), occlusion


def _mirror_index(index: np.ndarray, size: int) -> np.ndarray:
    """Fold any integer index into 0..size-1 by mirroring at the borders."""
    period = 2 * (size - 1)
    folded = np.abs(index) % period
    return np.where(folded >= size, period - folded, folded)


def cloud_layer(fr: Frame, n_rows: int):
    """Cloud density in 0..1 and brightness (lit tops, shaded bellies) of the top n_rows rows,
    two (n_rows, W) float32 arrays. Clouds lie on a plane seen in perspective: their features
    shrink toward the horizon. Computed on the coarse cloud grid, then upsampled."""
    height, width = fr.mask.shape
    field = fr.noise.cloud
    grid_h, grid_w = field.shape
    above = np.clip(fr.horizon - (np.arange(grid_h, dtype=np.float32) + 0.5) / grid_h, 0.0, 1.0)[:, None]
    reach = 0.12 / (above + 0.1)   # distance to the cloud plane along each row
    src_rows = _mirror_index((reach * grid_h * 0.8).astype(np.int64), grid_h)
    cols = np.arange(grid_w, dtype=np.float32)[None, :] - grid_w / 2
    # a milder horizontal than vertical foreshortening: a true plane would fan out into rays
    src_cols = _mirror_index((cols * np.sqrt(reach) * 1.2 + grid_w / 2).astype(np.int64), grid_w)
    cloud = field[src_rows, src_cols]
    thinning_below = cloud - field[_mirror_index(src_rows + 2, grid_h), src_cols]
    density = np.clip((cloud - (1.1 - 2.4 * fr.style.cloud_cover)) / 0.9, 0.0, 1.0) * np.clip(above * 12.0, 0.0, 1.0)
    shade = np.clip(0.85 + 0.3 * thinning_below - 0.1 * cloud, 0.45, 1.2)
    return (upsample(density.astype(np.float32), height, width)[:n_rows],
            upsample(shade.astype(np.float32), height, width)[:n_rows])


def sky(fr: Frame, n_rows: int) -> np.ndarray:
    """Sky radiance of the top n_rows rows, (3, n_rows, W) float32: gradient to the horizon,
    sun glow and disk, clouds, stars."""
    height, width = fr.mask.shape
    light, style = fr.light, fr.style
    horizon = max(fr.horizon * height, 1.0)
    rows = np.arange(n_rows, dtype=np.float32)[:, None]
    t = np.clip(rows / horizon, 0.0, 1.0) ** 1.6
    image = plane(light.zenith) + plane(light.horizon - light.zenith) * t
    sun_x, sun_y = (0.5 + 0.45 * style.sun_azimuth) * width, horizon * (1.0 - 1.1 * style.sun_elevation)
    cols = np.arange(width, dtype=np.float32)[None, :]
    d2 = ((cols - sun_x) ** 2 + (rows - sun_y) ** 2) / np.float32(height * height)
    low_sun = 1.0 - float(np.clip(style.sun_elevation * 2.0, 0.0, 1.0))
    glow = 0.35 * np.exp(-d2 / 0.01) + (0.1 + 0.35 * low_sun) * np.exp(-d2 / 0.15)
    image = image + plane(light.sun * (0.25 if light.night else 1.0)) * glow
    density, shade = cloud_layer(fr, n_rows)
    grey = float(light.horizon.mean()) * 1.1
    bright = mix(np.full(3, grey), light.sun * 0.9 + light.ambient * 0.5, 0.45 * low_sun + 0.2)
    image += (plane(bright) * shade - image) * (density * 0.92)
    if light.sun_visible:
        disk = (d2 < (0.02 if light.night else 0.028) ** 2) * (1.0 - density)
        disk_rgb = (0.9, 0.92, 0.95) if light.night else np.minimum(light.sun * 1.3 + 0.4, 1.5)
        image += (plane(disk_rgb) - image) * disk
    if light.night and style.cloud_cover < 0.6:
        image += 0.5 * ((fr.noise.grain[:n_rows] > 0.4975) & (density < 0.2))
    return image


WATER_TABLE = np.zeros((3, NUM_CLASSES), np.float32)   # is water, reflectivity, ripple strength
for _name, (_reflect, _ripple) in WATER_LOOK.items():
    WATER_TABLE[:, CLASS_ID[_name]] = (1.0, _reflect, _ripple)


def water(fr: Frame, image: np.ndarray) -> None:
    """Replace the water pixels of a planar image (3, H, W) in place: own colour mixed with the
    mirrored scene above the waterline (rippled, more mirror-like far away), sun glitter, haze."""
    rows, cols = np.nonzero(lookup(WATER_TABLE[0], fr.mask))
    if rows.size == 0:
        return
    height, width = fr.mask.shape
    flat = rows * width + cols
    classes, dist = fr.mask.ravel()[flat], fr.dist.ravel()[flat]
    near = 1.0 / (0.5 + dist)
    wave = fr.noise.horiz.ravel()[flat] * WATER_TABLE[2, classes] * near
    axis = fr.top.ravel()[flat]
    src_rows = np.minimum(2 * axis - rows - 1 + (wave * height * 0.02).astype(np.int64), axis - 1)
    src_cols = np.clip(cols + (fr.noise.detail.ravel()[flat] * wave * width * 0.01).astype(np.int64), 0, width - 1)
    planes = image.reshape(3, -1)
    mirrored = np.take(planes, np.maximum(src_rows, 0) * width + src_cols, axis=1)
    mirrored[:, src_rows < 0] = fr.light.zenith[:, None]
    own = ALBEDO[classes].T * (fr.light.ambient * 1.3 + fr.light.sun * 0.25)[:, None]
    share = WATER_TABLE[1, classes] * (0.55 + 0.45 * (1.0 - np.exp(-dist / 1.5)))
    colour = (own * (1.0 - share) + mirrored * (share * 0.92)) * (1.0 + 0.25 * wave)
    if fr.light.sun_visible and fr.style.sun_elevation < 0.6:
        sun_x = (0.5 + 0.45 * fr.style.sun_azimuth) * width
        band = np.exp(-((cols - sun_x) / (width * (0.01 + 0.04 * near))) ** 2)
        sparkle = (fr.noise.grain.ravel()[flat] + 0.2 * wave) > 0.4
        colour += fr.light.sun[:, None] * (band * sparkle * 0.9)
    fade = 1.0 - np.exp(-fr.style.haze * dist)
    planes[:, flat] = colour + (fr.light.haze[:, None] - colour) * fade


@functools.lru_cache(maxsize=8)
def _vignette(height: int, width: int) -> np.ndarray:
    """Darkening toward the corners times 255, (H, W) float32 (cached per size, read-only)."""
    ys = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height - 0.5
    xs = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width - 0.5
    factor = 255.0 * (1.0 - 0.35 * (xs * xs + ys * ys))
    factor.flags.writeable = False
    return factor


def grade(fr: Frame, image: np.ndarray) -> np.ndarray:
    """Colour grade (exposure, tint, saturation, contrast, highlight roll-off, vignette) of a
    planar (3, H, W) float32 radiance image (overwritten) -> (H, W, 3) uint8."""
    style = fr.style
    height, width = fr.mask.shape
    sat, con = np.float32(style.saturation), np.float32(style.contrast)
    image *= plane(np.float32(style.exposure) * np.asarray(style.tint, np.float32))
    luma = LUMA[0] * image[0] + LUMA[1] * image[1] + LUMA[2] * image[2]
    # saturation around luma then contrast around 0.45, folded into one scale and one offset
    image *= sat * con
    luma *= con * (1.0 - sat)
    luma += 0.45 * (1.0 - con)
    image += luma
    bright = image > 0.8
    over = image[bright] - 0.8
    image[bright] = 0.8 + over / (1.0 + 5.0 * over)   # soft roll-off above 0.8, asymptote 1.0
    image *= _vignette(height, width)
    image += 0.5
    np.clip(image, 0.0, 255.0, out=image)
    planes = image.astype(np.uint8)
    return np.stack((planes[0], planes[1], planes[2]), axis=-1)


def render(mask_ids: np.ndarray, style: Style, rng: np.random.Generator, dist=None,
           horizon=None) -> np.ndarray:
    """Render a label map in a style: (H, W) int ids 0..28 -> (H, W, 3) uint8 RGB.

    dist (H, W) float32 viewing distance and horizon (relative row) come with layouts from
    sample_scene; when absent they are estimated from the mask. Deterministic given rng's state.
    """
    mask = np.ascontiguousarray(mask_ids, dtype=np.uint8)
    if mask.ndim != 2 or int(mask.max()) >= NUM_CLASSES:
        raise ValueError(f"mask must be (H, W) with ids < {NUM_CLASSES}, got shape {mask.shape}")
    if dist is None or horizon is None:
        guessed_horizon, guessed_dist = estimate_geometry(mask)
        dist = guessed_dist if dist is None else dist
        horizon = guessed_horizon if horizon is None else horizon
    height, width = mask.shape
    top, bottom = run_bounds(mask)
    rows = np.arange(height, dtype=np.int32)[:, None]
    position = ((rows - top) / np.maximum(bottom - top, 1)).astype(np.float32)
    fr = Frame(mask, np.asarray(dist, np.float32), float(horizon), style, lighting(style),
               noise_fields(rng, height, width), top, position, rng, [])
    direct, occlusion = shading(fr)
    image = albedo(fr)
    image *= plane(fr.light.sun) * direct + plane(fr.light.ambient) * occlusion
    for lit_rows, lit_cols, rgb in fr.lights:
        image[:, lit_rows, lit_cols] += rgb
    is_sky = mask == CLASS_ID["sky"]
    fade = 1.0 - np.exp(-np.float32(style.haze) * fr.dist)
    fade[is_sky] = 0.0
    image += (plane(fr.light.haze) - image) * fade
    sky_rows = int(np.flatnonzero(is_sky.any(axis=1)).max(initial=-1)) + 1
    if sky_rows:
        image[:, :sky_rows] += (sky(fr, sky_rows) - image[:, :sky_rows]) * is_sky[:sky_rows]
    water(fr, image)
    return grade(fr, image)
