"""Generator registry: a checkpoint's `kind` metadata -> the function that loads it for sampling.

Evaluation never imports a generator package at module import: the table below maps each kind to
a "module:function" string, imported only when a checkpoint of that kind is evaluated. A model
family registers its kind by adding one line here (or calling `register` before evaluating).

The loader contract: `load(checkpoint_path: Path) -> generator`, where the generator has
    name: str                                  short label for tables
    sample(mask_onehot, ref_image, seed) -> images
        mask_onehot (B, 29, H, W) float32 one-hot, ref_image (B, 3, H, W) float32 in [-1, 1] or None,
        seed: int (the same seed must give the same images) -> (B, 3, H, W) float32 in [-1, 1].
    conditional: bool (optional, default True)  False: the generator ignores the mask (StyleGAN), so
                                               the report prints no mask accuracy for it
Generators never see the ground-truth image of a mask.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lsgen import checkpoint as ckpt

GENERATORS: dict[str, str] = {
    "class-colour": "evaluation.baselines:load_class_colour",
    "gan-pix2pix": "gan.sample:load",
    "gan-spade": "gan.sample:load",
    "gan-apf": "gan.sample:load",
    "gan-tsit": "gan.sample:load",
    "gan-lggan": "gan.sample:load",
    "gan-pure": "gan.pure:load_pure",
    "gan-stylegan": "gan.stylegan_train:load_sampler",
    "sr-pipeline": "evaluation.registry:load_sr_pipeline",
    "unet": "diffusion.pipeline:load_generator",
    "controlnet": "controlnet.generator:load_controlnet_generator",
    "lora": "controlnet.generator:load_lora_generator",
}


class Generator(Protocol):
    name: str

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray: ...


def register(kind: str, target: str) -> None:
    """Map checkpoint kind -> "package.module:function" (a loader following the contract above)."""
    if target.count(":") != 1:
        raise ValueError(f"registry target must look like 'package.module:function', got {target!r}")
    GENERATORS[kind] = target


def check_registered(path: str | Path) -> str:
    """The kind of a checkpoint, checked against the table without importing anything (ValueError)."""
    kind = ckpt.read_metadata(path)["kind"]
    if kind not in GENERATORS:
        raise ValueError(f"no generator registered for checkpoint kind {kind!r} "
                         f"(known: {', '.join(sorted(GENERATORS))}); add it to evaluation/registry.py")
    return kind


def resolve(kind: str):
    """The loader function registered for `kind` (imported now); ValueError for unknown kinds."""
    if kind not in GENERATORS:
        raise ValueError(f"no generator registered for checkpoint kind {kind!r} "
                         f"(known: {', '.join(sorted(GENERATORS))}); add it to evaluation/registry.py")
    module_name, function_name = GENERATORS[kind].split(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise ValueError(f"registry entry {kind!r}: {module_name} has no function {function_name}") from None


def load_sr_pipeline(path: Path):
    """Kind "sr-pipeline" (scripts/sr_tools.py compose): its base checkpoint, loaded through this table
    (any registered kind), sampled at half size and upsampled ×2 (gan.sr_pipeline.wrap)."""
    module = importlib.import_module("gan.sr_pipeline")
    return module.wrap(path, lambda base_path: load_generator(base_path)[0])


def load_generator(path: str | Path) -> tuple[Any, dict]:
    """Load any registered generator checkpoint; returns (generator, checkpoint metadata)."""
    meta = ckpt.read_metadata(path)
    return resolve(meta["kind"])(Path(path)), meta
