"""Evaluation registry loaders for adapter files: the base UNet the adapter names + the adapter.

An adapter file (scripts/train_controlnet.py / train_lora.py) records its base UNet's path and
digest (controlnet/train.py `base_metadata`); the loaders rebuild that pipeline, check the digest
(a base retrained since gives a one-line CheckpointError, never silently other weights) and attach
the adapter. They follow evaluation/registry.py's contract through diffusion's DiffusionGenerator.
"""
from __future__ import annotations

from pathlib import Path

from diffusion.pipeline import DiffusionGenerator, LandscapePipeline, SampleOptions
from lsgen import checkpoint as ckpt


def base_pipeline(adapter_path: str | Path) -> tuple[LandscapePipeline, dict]:
    """(pipeline of the adapter's base UNet, that UNet's metadata); CheckpointError when the
    adapter names no base or the base file is missing or changed."""
    meta = ckpt.read_metadata(adapter_path)
    base = meta.get("base_unet")
    if not base:
        raise ckpt.CheckpointError(f"{adapter_path}: the adapter does not name its base UNet (retrain it, or "
                                   "sample with scripts/sample.py --checkpoint BASE --controlnet/--lora)")
    if not Path(base).is_file():
        raise ckpt.CheckpointError(f"{adapter_path}: its base UNet {base} is missing")
    if ckpt.file_digest(base) != meta.get("base_digest"):
        raise ckpt.CheckpointError(f"{adapter_path}: its base UNet {base} changed since the adapter was trained")
    return LandscapePipeline.from_checkpoint(base), ckpt.read_metadata(base)


def load_controlnet_generator(path) -> DiffusionGenerator:
    """Registry loader for kind 'controlnet': base pipeline + the ControlNet at scale 1."""
    from controlnet.controlnet import load_controlnet  # noqa: PLC0415

    pipe, _ = base_pipeline(path)
    controlnet = load_controlnet(path, pipe.unet)
    if controlnet.cfg.control != "mask":
        raise ckpt.CheckpointError(f"{path}: a {controlnet.cfg.control!r} ControlNet needs control images, "
                                   "which evaluation does not have (only mask ControlNets are evaluated)")
    pipe.use_controlnet(controlnet, 1.0)
    return DiffusionGenerator(pipe, SampleOptions(), name="latent-diffusion+controlnet")


def load_lora_generator(path) -> DiffusionGenerator:
    """Registry loader for kind 'lora': base pipeline with the LoRA attached."""
    from controlnet.lora import load_lora  # noqa: PLC0415

    pipe, base_meta = base_pipeline(path)
    load_lora(path, pipe.unet, base_meta)
    return DiffusionGenerator(pipe, SampleOptions(), name="latent-diffusion+lora")
