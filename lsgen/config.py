"""Config dataclasses from JSON files, with command-line overrides and strict key checking.

A run config is a JSON object of sections, each mapped onto one dataclass, e.g.
`{"model": {...}, "train": {...}}` -> `load_config(path, {"model": VAEConfig, "train": TrainConfig})`.
Unknown keys and wrongly typed values are errors that name the key (`model.chanel_mult`).
Overrides use dotted keys: `--set model.base_channels=32 train.lr=2e-4`.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not match its dataclass."""


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check/convert a JSON value to the field's annotated type; raise ConfigError naming `key`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys or bad types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or cls.__name__}: expected an object, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(sorted(names))})")
    values = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {err}") from err


def to_dict(config: Any) -> dict:
    """Dataclass -> JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr=2e-4' -> ('train.lr', 0.0002); values are JSON, bare words are strings."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply dotted `key=value` overrides to a raw config dict (returns a new dict)."""
    merged = json.loads(json.dumps(raw))
    for text in overrides:
        key, value = parse_override(text)
        *parents, leaf = key.split(".")
        node = merged
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {part} is not a section")
        node[leaf] = value
    return merged


def read_json(path: str | Path) -> dict:
    """Read a JSON config file; missing or malformed files raise ConfigError."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: invalid JSON ({err.msg} at line {err.lineno})") from err


def build_sections(raw: dict, sections: dict[str, type]) -> dict[str, Any]:
    """Map each section of `raw` onto its dataclass; unknown sections raise ConfigError.

    Missing sections take the dataclass defaults.
    """
    for name in raw:
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sections)})")
    return {name: from_dict(cls, raw.get(name, {}), prefix=f"{name}.") for name, cls in sections.items()}


def load_config(path: str | Path | None, sections: dict[str, type],
                overrides: list[str] | None = None) -> dict[str, Any]:
    """Load a sectioned JSON config file (or defaults when path is None) plus overrides."""
    raw = read_json(path) if path is not None else {}
    return build_sections(apply_overrides(raw, overrides or []), sections)
