"""Style subsets of a synthetic dataset, chosen by the styles recorded in its styles.json.

A filter is a comma-separated list of `key=value` terms over the categorical Style fields
(time_of_day, season, weather); `|` separates alternatives of one key. An item matches when every
term matches (AND over keys, OR within a key):

    "time_of_day=dusk"                    dusk only
    "time_of_day=dusk|night,weather=clear" dusk or night, and clear

styles.json keys are "<split>/<stem>": "train/<stem>" for every pair of the train folder (the train
and val splits), "test/<stem>" for the test masks' ground truth (lsgen.data.synthetic).
"""
from __future__ import annotations

import json
from pathlib import Path

from lsgen.data.io import DataError
from lsgen.data.synthetic_style import SEASONS, TIMES, WEATHERS

CATEGORIES = {"time_of_day": TIMES, "season": SEASONS, "weather": WEATHERS}


def parse_style_filter(text: str) -> dict[str, tuple[str, ...]]:
    """"time_of_day=dusk|night,season=winter" -> {"time_of_day": ("dusk", "night"), "season": ("winter",)}.
    ValueError (one line) on a malformed term, an unknown key, an unknown value or a repeated key."""
    terms: dict[str, tuple[str, ...]] = {}
    for term in (t.strip() for t in text.split(",")):
        key, sep, values = (part.strip() for part in term.partition("="))
        if not sep or not key or not values:
            raise ValueError(f"style filter {text!r}: expected key=value[,key=value...], got term {term!r}")
        if key not in CATEGORIES:
            raise ValueError(f"style filter {text!r}: unknown key {key!r} (keys: {', '.join(CATEGORIES)})")
        if key in terms:
            raise ValueError(f"style filter {text!r}: key {key!r} given twice (use {key}=a|b for alternatives)")
        options = tuple(v.strip() for v in values.split("|"))
        unknown = [v for v in options if v not in CATEGORIES[key]]
        if unknown:
            raise ValueError(f"style filter {text!r}: {key} has no value {unknown[0]!r} "
                             f"(one of {', '.join(CATEGORIES[key])})")
        terms[key] = options
    return terms


def read_styles(root: str | Path) -> dict[str, dict]:
    """The dataset's styles.json ({"train/<stem>": style dict, ...}); DataError when it has none."""
    path = Path(root) / "styles.json"
    if not path.is_file():
        raise DataError(f"{root}: no styles.json (a style filter needs a synthetic dataset that records its styles)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON ({err.msg})") from err


def style_matches(style: dict, terms: dict[str, tuple[str, ...]]) -> bool:
    """Whether one style dict satisfies every term of a parsed filter."""
    return all(style[key] in options for key, options in terms.items())


def style_mask(root: str | Path, names: list[str], text: str, prefix: str = "train") -> list[bool]:
    """For each item of `names` (stems): does its "<prefix>/<stem>" style match the filter `text`?
    DataError when styles.json is absent or an item has no recorded style."""
    terms = parse_style_filter(text)
    styles = read_styles(root)
    missing = [n for n in names if f"{prefix}/{n}" not in styles]
    if missing:
        raise DataError(f"{root}/styles.json: no style for {prefix}/{missing[0]}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return [style_matches(styles[f"{prefix}/{name}"], terms) for name in names]


def select_by_style(root: str | Path, names: list[str], text: str, prefix: str = "train") -> list[int]:
    """Indices (in order) of the items `names` whose style matches the filter `text`; DataError as
    style_mask does, and when nothing matches."""
    picked = [i for i, keep in enumerate(style_mask(root, names, text, prefix)) if keep]
    if not picked:
        raise DataError(f"style filter {text!r} matches none of the {len(names)} {prefix} items of {root}")
    return picked
