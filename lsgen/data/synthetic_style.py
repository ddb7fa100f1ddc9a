"""Global style of a synthetic landscape photo: time of day, season, weather, light, colour grade.

A Style is the "look" shared by a reference photo and an image generated in its style: it sets
the sky gradient, the colour and direction of the light, the vegetation palette, snow, haze and
the final colour grade. `lighting(style)` turns it into the colours the renderer uses.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

TIMES = ("dawn", "day", "golden", "dusk", "night")
SEASONS = ("spring", "summer", "autumn", "winter")
WEATHERS = ("clear", "overcast", "haze", "fog")

# time of day -> (sky at the zenith, sky at the horizon, sun colour, sun intensity), RGB 0..1
TIME_LIGHT = {
    "dawn": ((0.36, 0.44, 0.70), (0.98, 0.74, 0.66), (1.00, 0.74, 0.60), 0.85),
    "day": ((0.20, 0.44, 0.86), (0.70, 0.83, 0.96), (1.00, 0.97, 0.90), 1.00),
    "golden": ((0.28, 0.45, 0.78), (1.00, 0.80, 0.52), (1.00, 0.72, 0.40), 1.00),
    "dusk": ((0.10, 0.12, 0.34), (0.95, 0.50, 0.34), (1.00, 0.56, 0.38), 0.60),
    "night": ((0.015, 0.025, 0.07), (0.08, 0.11, 0.22), (0.60, 0.70, 1.00), 0.30),
}
SUN_ELEVATION = {"dawn": (0.02, 0.12), "day": (0.35, 0.9), "golden": (0.06, 0.2),
                 "dusk": (-0.04, 0.04), "night": (0.2, 0.6)}
TIME_P, SEASON_P, WEATHER_P = (0.12, 0.43, 0.2, 0.15, 0.1), (0.27, 0.35, 0.25, 0.13), (0.5, 0.25, 0.15, 0.1)
# weather -> (cloud cover range, haze density range per unit viewing distance)
WEATHER_RANGES = {"clear": ((0.0, 0.4), (0.02, 0.06)), "overcast": ((0.8, 1.0), (0.05, 0.1)),
                  "haze": ((0.1, 0.5), (0.12, 0.22)), "fog": ((0.5, 0.9), (0.18, 0.35))}


@dataclass(frozen=True)
class Style:
    """The global look of one image; JSON-serialisable through to_dict()/from_dict()."""

    time_of_day: str        # one of TIMES
    season: str             # one of SEASONS
    weather: str            # one of WEATHERS
    sun_azimuth: float      # -1 (sun and light on the left) .. 1 (on the right)
    sun_elevation: float    # -0.05 (just set) .. 1 (zenith); at night the moon's
    cloud_cover: float      # 0 (none) .. 1 (full)
    haze: float             # haze density per unit viewing distance, 0.02 (clear) .. 0.35 (fog)
    snow_line: float        # 0 (no snow) .. 1 (snow far down the mountains)
    foliage: float          # 0..1, position inside the season's vegetation palette
    warmth: float           # -1 (cool) .. 1 (warm) white-balance shift
    exposure: float         # brightness multiplier, ~0.85..1.15
    contrast: float         # ~0.85..1.2
    saturation: float       # ~0.75..1.25
    tint: tuple             # (r, g, b) multipliers of the colour grade, ~0.92..1.08

    def to_dict(self) -> dict:
        """Plain dict of JSON types (tint as a list)."""
        out = asdict(self)
        out["tint"] = list(self.tint)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Style":
        """Inverse of to_dict; raises ValueError on missing/unknown keys or bad categories."""
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(f"Style keys differ: missing {names - set(data)}, unknown {set(data) - names}")
        values = {k: (v if k in ("time_of_day", "season", "weather") else float(v)) for k, v in data.items()
                  if k != "tint"}
        style = cls(**values, tint=tuple(float(v) for v in data["tint"]))
        for value, allowed in ((style.time_of_day, TIMES), (style.season, SEASONS), (style.weather, WEATHERS)):
            if value not in allowed:
                raise ValueError(f"unknown style value {value!r}, expected one of {allowed}")
        return style


def _choice(rng, options, p):
    return options[rng.choice(len(options), p=np.asarray(p) / np.sum(p))]


def sample_style(rng: np.random.Generator) -> Style:
    """Draw a random Style: categories with realistic frequencies, continuous knobs jittered."""
    time = _choice(rng, TIMES, TIME_P)
    season = _choice(rng, SEASONS, SEASON_P)
    weather = _choice(rng, WEATHERS, WEATHER_P)
    cover, haze = WEATHER_RANGES[weather]
    snow = rng.uniform(0.5, 1.0) if season == "winter" else rng.uniform(0.0, 0.45) * (season != "summer")
    return Style(
        time_of_day=time, season=season, weather=weather,
        sun_azimuth=float(rng.uniform(-0.9, 0.9)),
        sun_elevation=float(rng.uniform(*SUN_ELEVATION[time])),
        cloud_cover=float(rng.uniform(*cover)), haze=float(rng.uniform(*haze)),
        snow_line=float(snow), foliage=float(rng.random()),
        warmth=float(np.clip(rng.normal(0.0, 0.35), -1.0, 1.0)),
        exposure=float(rng.uniform(0.88, 1.12)), contrast=float(rng.uniform(0.88, 1.2)),
        saturation=float(rng.uniform(0.8, 1.25)),
        tint=tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.035, 3)),
    )


@dataclass(frozen=True)
class Lighting:
    """Colours derived from a Style, each (3,) float32 RGB in 0..~1.2."""

    zenith: np.ndarray      # sky colour at the top of the image
    horizon: np.ndarray     # sky colour at the horizon
    sun: np.ndarray         # direct light (colour x intensity); the moon's at night
    ambient: np.ndarray     # sky light reaching every surface
    haze: np.ndarray        # colour that distant things fade to
    sun_visible: bool       # draw the sun (or moon) disk
    night: bool


def _mix(a, b, t):
    return np.asarray(a, np.float32) * (1.0 - t) + np.asarray(b, np.float32) * t


def lighting(style: Style) -> Lighting:
    """Derive sky, sun, ambient and haze colours from a Style (weather and warmth applied)."""
    zenith, horizon, sun_rgb, sun_power = (np.asarray(v, np.float32) for v in TIME_LIGHT[style.time_of_day])
    night = style.time_of_day == "night"
    sun = sun_rgb * sun_power * (1.0 - 0.55 * style.cloud_cover ** 2)
    grey = float(horizon.mean())
    if style.weather == "overcast":
        zenith, horizon = _mix(zenith, np.full(3, grey * 0.85), 0.75), _mix(horizon, np.full(3, grey), 0.7)
        sun = sun * 0.3
    elif style.weather in ("haze", "fog"):
        strength = 0.45 if style.weather == "haze" else 0.8
        zenith = _mix(zenith, horizon * 0.95 + grey * 0.05, strength)
        sun = sun * (1.0 - 0.5 * strength)
    # moonlit nights keep a dim blue ambient so that the scene stays legible
    ambient = np.float32([0.09, 0.11, 0.20]) if night else _mix(zenith, horizon, 0.5) * 0.55
    if style.weather == "overcast":
        ambient = ambient * 1.5
    warm = np.array([1.0 + 0.08 * style.warmth, 1.0, 1.0 - 0.08 * style.warmth], np.float32)
    haze = _mix(horizon, sun_rgb * grey, 0.15 if style.time_of_day in ("golden", "dusk", "dawn") else 0.0)
    return Lighting(zenith=zenith * warm, horizon=horizon * warm, sun=sun * warm, ambient=ambient * warm,
                    haze=haze * warm, sun_visible=style.weather == "clear" and style.sun_elevation > -0.02,
                    night=night)
