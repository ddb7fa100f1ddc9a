"""Checkpoint weight averaging (APF-GAN's merge of epochs 273 and 299, seeds.md §4).

Element-wise mean of every float array of several checkpoints of the same kind and config: the
weights, the `ema.` weights, BatchNorm running statistics and spectral-norm u vectors alike (the
averaged u need not be a unit vector; SpectralNorm's σ estimate does not assume one). Integer
arrays must be identical. The result is an ordinary checkpoint whose metadata names its sources.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsgen import checkpoint as ckpt

BASE_KEYS = ("format", "kind", "config", "step", "dtype")


def average_arrays(array_sets: list[dict[str, np.ndarray]], names: list[str]) -> dict[str, np.ndarray]:
    """Mean of float arrays over the sets (float64 accumulation); keys and shapes must agree."""
    first = array_sets[0]
    for arrays, name in zip(array_sets[1:], names[1:]):
        expected = {k: tuple(v.shape) for k, v in first.items()}
        ckpt.check_compatible(expected, arrays, f"{name} vs {names[0]}")
    out = {}
    for key, value in first.items():
        if np.issubdtype(value.dtype, np.floating):
            total = sum(a[key].astype(np.float64) for a in array_sets)
            out[key] = (total / len(array_sets)).astype(value.dtype)
        else:
            if any(not np.array_equal(a[key], value) for a in array_sets[1:]):
                raise ckpt.CheckpointError(f"{key}: integer array differs between checkpoints; cannot average")
            out[key] = value
    return out


def average_checkpoints(paths: list[str | Path], out_path: str | Path) -> Path:
    """Average checkpoints `paths` (same kind and config) into `out_path` (written atomically)."""
    if len(paths) < 1:
        raise ValueError("average_checkpoints: no checkpoints given")
    metas = [ckpt.read_metadata(p) for p in paths]
    for path, meta in zip(paths[1:], metas[1:]):
        if meta["kind"] != metas[0]["kind"] or meta["config"] != metas[0]["config"]:
            raise ckpt.CheckpointError(f"{path}: kind or config differs from {paths[0]}; cannot average")
    arrays = average_arrays([ckpt.read_arrays(p) for p in paths], [str(p) for p in paths])
    extra = {k: v for k, v in metas[0].items() if k not in BASE_KEYS}
    extra["averaged_from"] = [f"{Path(p).name}@{m['step']}" for p, m in zip(paths, metas)]
    step = max(m["step"] for m in metas)
    ckpt.save_weights(out_path, arrays, metas[0]["kind"], metas[0]["config"], step, extra)
    return Path(out_path)
