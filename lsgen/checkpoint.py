"""Checkpoint I/O: safetensors weights with config metadata, training state, strict loading.

Layout of a run directory:
    <name>.safetensors        weights (+ `ema.`-prefixed EMA weights); metadata
                              {format, kind, config (JSON), step, dtype, ...extra}
    <name>.state.safetensors  optimizer moments and other training arrays
    <name>.state.json         step, optimizer scalars, RNG states, data position
    latest.json               {"name": <name>} pointer used by --resume
Every write goes to a temporary file that is renamed into place: a crash leaves the old file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from lsgen.config import to_dict

FORMAT = "lsgen-ckpt/1"
_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or does not match the model it is loaded into."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it is renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_save_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write `arrays` as safetensors with string `metadata`, atomically."""
    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)


def module_arrays(module, prefix: str = "") -> dict[str, np.ndarray]:
    """A module's persistent Vars as float32/int numpy arrays, keyed `prefix + name`."""
    return {prefix + k: v.numpy() for k, v in module.state_dict().items()}


def save_weights(path: str | Path, arrays: dict[str, np.ndarray], kind: str, config: Any,
                 step: int, extra: dict[str, Any] | None = None) -> None:
    """Save model weights with the metadata that rebuilds the model.

    config: the model's config dataclass (or a JSON-ready dict). extra: further metadata
    values (JSON-encoded unless already strings), e.g. the VAE's latent scale.
    """
    cfg = to_dict(config) if is_dataclass(config) else config
    dtypes = sorted({str(a.dtype) for a in arrays.values()})
    metadata = {"format": FORMAT, "kind": kind, "config": json.dumps(cfg), "step": str(int(step)),
                "dtype": ",".join(dtypes)}
    for key, value in (extra or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value)
    atomic_save_arrays(path, arrays, metadata)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of a checkpoint: format, kind, config (dict), step (int), dtype, extras (raw)."""
    from safetensors import safe_open  # noqa: PLC0415 - keeps the module import light

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an lsgen checkpoint (format={meta.get('format')!r})")
    if "config" not in meta or "step" not in meta:
        raise CheckpointError(f"{path}: holds no model config (a training-state file?); "
                              "pass the model checkpoint stepNNNNNNN.safetensors")
    meta["config"] = json.loads(meta["config"])
    meta["step"] = int(meta["step"])
    return meta


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of a safetensors file; a missing or corrupt file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def _describe(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (", ..." if len(names) > limit else "")


def check_compatible(expected: dict[str, tuple], arrays: dict[str, np.ndarray], what: str,
                     allow_missing: tuple[str, ...] = ()) -> None:
    """Raise CheckpointError naming missing, unexpected and mis-shaped keys.

    expected: name -> shape of the model's Vars. allow_missing: key prefixes that may be absent.
    """
    missing = [k for k in expected if k not in arrays and not k.startswith(allow_missing)]
    unexpected = [k for k in arrays if k not in expected]
    mis_shaped = [f"{k} {tuple(arrays[k].shape)} vs model {tuple(expected[k])}"
                  for k in expected if k in arrays and tuple(arrays[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_describe(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_describe(unexpected)})")
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} shape mismatches ({_describe(mis_shaped, 2)})")
    if problems:
        raise CheckpointError(f"{what}: " + "; ".join(problems))


def load_module(module, arrays: dict[str, np.ndarray], what: str = "model", prefix: str = "",
                allow_missing: tuple[str, ...] = ()) -> None:
    """Strictly load `arrays[prefix + name]` into `module`'s Vars (all checked before any write)."""
    from lsgen.runtime import jt  # noqa: PLC0415 - checkpoint metadata tools work without Jittor

    state = module.state_dict()
    own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    check_compatible({k: tuple(v.shape) for k, v in state.items()}, own, what, allow_missing)
    for name, var in state.items():
        if name in own:
            var.update(jt.array(own[name]).cast(var.dtype))
    # Materialise now: Jittor 1.3.11 miscompiles a pending 1-element `array` op fused into a
    # broadcast (e.g. the bias of a 1-channel conv): "op0_outputstride1 was not declared".
    jt.sync([var for name, var in state.items() if name in own])


def load_weights(module, path: str | Path, kind: str | None = None, prefix: str = "",
                 allow_missing: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load a checkpoint file into `module` strictly; returns its metadata.

    kind: if given, the checkpoint's kind must match. prefix: e.g. 'ema.' to load EMA weights.
    """
    meta = read_metadata(path)
    if kind is not None and meta["kind"] != kind:
        raise CheckpointError(f"{path}: checkpoint kind is {meta['kind']!r}, expected {kind!r}")
    arrays = read_arrays(path)
    if prefix:
        arrays = {k: v for k, v in arrays.items() if k.startswith(prefix)}
    else:
        arrays = {k: v for k, v in arrays.items() if not k.startswith("ema.")}
    load_module(module, arrays, what=f"{path} ({meta['kind']})", prefix=prefix, allow_missing=allow_missing)
    return meta


def file_digest(path: str | Path, length: int = 16) -> str:
    """Short SHA-256 of a file's bytes (identifies the exact checkpoint behind a cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def save_training_state(run_dir: str | Path, name: str, arrays: dict[str, np.ndarray],
                        state: dict[str, Any]) -> None:
    """Write `<name>.state.safetensors` + `<name>.state.json` (atomically, arrays first)."""
    run_dir = Path(run_dir)
    atomic_save_arrays(run_dir / f"{name}.state.safetensors", arrays, {"format": FORMAT, "kind": "state"})
    atomic_write_text(run_dir / f"{name}.state.json", json.dumps(state, indent=1))


def load_training_state(run_dir: str | Path, name: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    run_dir = Path(run_dir)
    json_path = run_dir / f"{name}.state.json"
    if not json_path.is_file():
        raise CheckpointError(f"{json_path}: training state not found")
    try:
        state = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{json_path}: corrupt training state ({err.msg})") from err
    return read_arrays(run_dir / f"{name}.state.safetensors"), state


def write_latest(run_dir: str | Path, name: str) -> None:
    atomic_write_text(Path(run_dir) / "latest.json", json.dumps({"name": name}))


def read_latest(run_dir: str | Path) -> str | None:
    """Name of the newest complete checkpoint in `run_dir`, or None if there is none."""
    pointer = Path(run_dir) / "latest.json"
    if not pointer.is_file():
        return None
    return json.loads(pointer.read_text())["name"]


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call `writer(tmp_path)` and rename the result onto `path` (for images, JSON, caches)."""
    with atomic_path(path) as tmp:
        writer(tmp)
