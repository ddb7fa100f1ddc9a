"""LoRA adapters on a frozen UNet (Hu et al. 2022): W x -> W x + (α/r) · up(down(x)).

Adapters attach through forward hooks, so the UNet's own state dict never changes: base
checkpoints keep loading, and an adapter file holds only the adapter (down/up) weights, with its
config and the base UNet's config in the metadata. `down` starts normal with std 1/rank and `up`
at zero, so a fresh adapter is exactly the identity. `merge` folds (α/r)·up·down into the base
weights (the hooks then add nothing); `unmerge` subtracts it again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgen import checkpoint as ckpt
from lsgen.config import from_dict, to_dict
from lsgen.runtime import jt

nn = jt.nn
KIND = "lora"
TARGETS = ("attn", "res_conv")


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 4
    alpha: float = 4.0
    targets: tuple[str, ...] = ("attn",)   # attn: attention projections; res_conv: ResBlock 3x3 convs

    def __post_init__(self):
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        unknown = set(self.targets) - set(TARGETS)
        if unknown or not self.targets:
            raise ValueError(f"targets must be a non-empty subset of {TARGETS}, got {self.targets}")


def target_modules(unet, targets: tuple[str, ...]) -> dict:
    """name -> module to adapt: Linear layers of attention blocks, and/or ResBlocks' conv1/conv2."""
    from diffusion.blocks import AttentionBlock, CrossAttention, ResBlock  # noqa: PLC0415

    found = {}
    for name, module in unet.named_modules():
        if "attn" in targets and isinstance(module, (AttentionBlock, CrossAttention)):
            for child in ("qkv", "proj", "q", "kv"):
                if isinstance(getattr(module, child, None), nn.Linear):
                    found[f"{name}.{child}"] = getattr(module, child)
        if "res_conv" in targets and isinstance(module, ResBlock):
            found[f"{name}.conv1"], found[f"{name}.conv2"] = module.conv1, module.conv2
    return found


class LoRALayer(nn.Module):
    """The low-rank path of one Linear or Conv2d: down (in -> r, same kernel), up (r -> out, 1x1)."""

    def __init__(self, base, rank: int, scale: float):
        super().__init__()
        self.scale = scale
        if isinstance(base, nn.Linear):
            out_ch, in_ch = base.weight.shape
            self.down, self.up = nn.Linear(in_ch, rank, bias=False), nn.Linear(rank, out_ch, bias=False)
        else:
            out_ch, in_ch, kh, kw = base.weight.shape
            self.down = nn.Conv2d(in_ch, rank, (kh, kw), stride=base.stride, padding=base.padding, bias=False)
            self.up = nn.Conv2d(rank, out_ch, 1, bias=False)
        self.down.weight.assign(jt.randn(self.down.weight.shape) / rank)
        self.up.weight.assign(jt.zeros(self.up.weight.shape))

    def execute(self, x):
        return self.up(self.down(x)) * self.scale

    def weight_delta(self):
        """(α/r) · up · down as a tensor shaped like the base weight."""
        up = self.up.weight.reshape(self.up.weight.shape[0], -1)
        down = self.down.weight.reshape(self.down.weight.shape[0], -1)
        return (jt.matmul(up, down) * self.scale).reshape(-1, *self.down.weight.shape[1:])


class LoRA(nn.Module):
    """All adapters of one UNet. `attach(unet)` hooks them in; only their weights are trainable."""

    def __init__(self, unet, cfg: LoRAConfig):
        super().__init__()
        self.cfg, self.merged = cfg, False
        self._targets = target_modules(unet, cfg.targets)
        for name, module in self._targets.items():
            setattr(self, _key(name), LoRALayer(module, cfg.rank, cfg.alpha / cfg.rank))

    def layers(self) -> dict:
        return {name: getattr(self, _key(name)) for name in self._targets}

    def attach(self) -> None:
        for name, module in self._targets.items():
            layer = getattr(self, _key(name))
            module.register_forward_hook(lambda mod, args, out, *kw, layer=layer: out if self.merged else out + layer(args[0]))

    def detach(self) -> None:
        for module in self._targets.values():
            module.remove_forward_hook()

    def merge(self) -> None:
        """Fold the adapters into the base weights (W += ΔW)."""
        if not self.merged:
            for name, module in self._targets.items():
                module.weight.update(module.weight + getattr(self, _key(name)).weight_delta().detach())
            self.merged = True

    def unmerge(self) -> None:
        """Take the adapters out of the base weights again (W -= ΔW)."""
        if self.merged:
            for name, module in self._targets.items():
                module.weight.update(module.weight - getattr(self, _key(name)).weight_delta().detach())
            self.merged = False


def _key(name: str) -> str:
    return name.replace(".", "__")


def save_lora(path: str | Path, lora: LoRA, base_meta: dict, step: int = 0) -> None:
    """Adapter-only safetensors; metadata: the LoRA config and the base UNet's config and digest."""
    config = {"lora": to_dict(lora.cfg), "base_config": base_meta["config"], "base_kind": base_meta["kind"]}
    ckpt.save_weights(path, ckpt.module_arrays(lora), KIND, config, step)


def load_lora(path: str | Path, unet, base_meta: dict) -> LoRA:
    """Build the adapters described by `path` for `unet`, load them strictly, attach them.

    A file made for a different base UNet (config) or with mis-shaped weights is a CheckpointError.
    """
    meta = ckpt.read_metadata(path)
    if meta["kind"] != KIND:
        raise ckpt.CheckpointError(f"{path}: not a LoRA adapter (kind {meta['kind']!r})")
    if json.dumps(meta["config"]["base_config"], sort_keys=True) != json.dumps(base_meta["config"], sort_keys=True):
        raise ckpt.CheckpointError(f"{path}: adapter was made for a different base UNet (config differs)")
    lora = LoRA(unet, from_dict(LoRAConfig, meta["config"]["lora"], "lora."))
    ckpt.load_weights(lora, path, kind=KIND)
    lora.attach()
    return lora


def adapter_bytes(lora: LoRA) -> int:
    return int(sum(np.prod(v.shape) * 4 for v in lora.state_dict().values()))
