"""The GAN generators of the project by name: config class, model class, checkpoint kind.

    pix2pix  UNetGenerator(Pix2PixConfig)       kind "gan-pix2pix"   (2022 official baseline)
    spade    SPADEGenerator(SPADEConfig) "ref"  kind "gan-spade"     (2023 official baseline)
    apf      SPADEGenerator(SPADEConfig) "mask" kind "gan-apf"       (APF-GAN, rank 1 in 2022)
    tsit     TSITGenerator(TSITConfig)          kind "gan-tsit"      (TSIT, style stream + FAdaIN on)
    lggan    LGGANGenerator(LGGANConfig)        kind "gan-lggan"     (LGGAN + semantic-aware upsampling)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsgen import checkpoint as ckpt
from lsgen.config import from_dict

from gan.lggan import LGGANConfig, LGGANGenerator
from gan.pix2pix import Pix2PixConfig, UNetGenerator
from gan.spade import SPADEConfig, SPADEGenerator
from gan.tsit import TSITConfig, TSITGenerator


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    config_class: type
    model_class: type


MODELS = {
    "pix2pix": ModelSpec("gan-pix2pix", Pix2PixConfig, UNetGenerator),
    "spade": ModelSpec("gan-spade", SPADEConfig, SPADEGenerator),
    "apf": ModelSpec("gan-apf", SPADEConfig, SPADEGenerator),
    "tsit": ModelSpec("gan-tsit", TSITConfig, TSITGenerator),
    "lggan": ModelSpec("gan-lggan", LGGANConfig, LGGANGenerator),
}
KIND_TO_MODEL = {spec.kind: name for name, spec in MODELS.items()}


def spec_of(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown GAN model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def check_model_config(name: str, cfg: Any) -> None:
    """The recipe's structural requirements on the model section (one-line errors)."""
    if name == "spade" and cfg.style != "ref":
        raise ValueError("--model spade needs model.style = 'ref' (the reference-image encoder)")
    if name == "apf" and cfg.style != "mask":
        raise ValueError("--model apf needs model.style = 'mask' (APF's mask encoder)")


def build_from_checkpoint(path: str | Path, spec: ModelSpec, use_ema: bool = True) -> Any:
    """spec.model_class(its config from the checkpoint's metadata), strictly loaded with the EMA
    weights when present (else the raw ones), in eval mode. The kind must be spec.kind."""
    meta = ckpt.read_metadata(path)
    if meta["kind"] != spec.kind:
        raise ckpt.CheckpointError(f"{path}: kind {meta['kind']!r} is not {spec.kind!r}")
    model = spec.model_class(from_dict(spec.config_class, meta["config"], prefix="model."))
    has_ema = any(k.startswith("ema.") for k in ckpt.read_arrays(path))
    ckpt.load_weights(model, path, kind=spec.kind, prefix="ema." if use_ema and has_ema else "")
    model.eval()
    return model


def load_generator(path: str | Path, use_ema: bool = True) -> tuple[Any, str, dict]:
    """A GAN checkpoint -> (generator in eval mode, model name, metadata). EMA weights when present."""
    meta = ckpt.read_metadata(path)
    if meta["kind"] not in KIND_TO_MODEL:
        raise ckpt.CheckpointError(f"{path}: kind {meta['kind']!r} is not a GAN generator")
    name = KIND_TO_MODEL[meta["kind"]]
    return build_from_checkpoint(path, MODELS[name], use_ema), name, meta
