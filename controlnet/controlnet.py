"""ControlNet (Zhang et al. 2023) for the landscape UNet: a trainable copy of the UNet's encoder and
middle block that turns a control image into residuals added to the frozen UNet's skips and middle.

The copy is built by the UNet's own constructors (a UNet of the same config, of which the decoder
is dropped) and initialised from the base weights. New paths start as the identity: the control
embedder's last conv and every residual's 1x1 conv are zero-initialised (ControlNet §3.1), so a
fresh ControlNet changes nothing at any control_scale.
Control inputs: the one-hot mask at full image resolution (29 channels), or an edge map (1 channel).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffusion.blocks import resize_nearest, timestep_embedding, zero_module
from diffusion.unet import UNet, UNetConfig, mask_map
from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

nn = jt.nn
KIND = "controlnet"
CONTROL_KINDS = {"mask": NUM_CLASSES, "edges": 1}


@dataclass(frozen=True)
class ControlNetConfig:
    control: str = "mask"              # mask: full-resolution one-hot; edges: Sobel edge map of an image
    embed_channels: tuple[int, ...] = (16, 32, 64)   # one stride-2 stage per entry: 2**len = the VAE's f

    def __post_init__(self):
        if self.control not in CONTROL_KINDS:
            raise ValueError(f"control must be one of {tuple(CONTROL_KINDS)}, got {self.control!r}")

    @property
    def in_channels(self) -> int:
        return CONTROL_KINDS[self.control]


class ControlEmbedding(nn.Module):
    """Control image (B, C, H, W) -> (B, base, H/f, W/f): stride-2 conv stages, last conv zero."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_channels: int):
        super().__init__()
        layers, prev = [nn.Conv2d(in_channels, channels[0], 3, padding=1), nn.SiLU()], channels[0]
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1), nn.SiLU()]
            prev = ch
        self.body = nn.Sequential(*layers)
        self.out = zero_module(nn.Conv2d(prev, out_channels, 3, padding=1))

    def execute(self, control):
        return self.out(self.body(control))


class ControlNet(nn.Module):
    """execute(x, t, control_image, mask_onehot, mask_keep, ref_tokens, ref_global, scale) ->
    residuals: one per UNet skip plus one for the middle block (UNet.execute's `control`)."""

    def __init__(self, unet_cfg: UNetConfig, cfg: ControlNetConfig):
        super().__init__()
        self.cfg, self.unet_cfg = cfg, unet_cfg
        copy = UNet(unet_cfg)
        self.time_mlp, self.ref_global_proj, self.conv_in = copy.time_mlp, copy.ref_global_proj, copy.conv_in
        self.down, self.middle = copy.down, copy.middle
        self.embed_control = ControlEmbedding(cfg.in_channels, cfg.embed_channels, unet_cfg.base_channels)
        widths = [unet_cfg.base_channels] + [self._stage_width(s) for s in self.down]
        self.zero_convs = nn.ModuleList([zero_module(nn.Conv2d(w, w, 1)) for w in widths])
        self.middle_out = zero_module(nn.Conv2d(widths[-1], widths[-1], 1))

    @staticmethod
    def _stage_width(stage) -> int:
        return stage.res.conv2.weight.shape[0] if stage.res is not None else stage.down.conv.weight.shape[0]

    def load_from_unet(self, unet: UNet) -> None:
        """Copy the base UNet's encoder and middle weights into this ControlNet."""
        own = self.state_dict()
        for name, value in unet.state_dict().items():
            if name in own and not name.startswith(("embed_control", "zero_convs", "middle_out")):
                own[name].update(value.clone())

    def execute(self, x, t, control_image, mask_onehot=None, mask_keep=None, ref_tokens=None,
                ref_global=None, scale: float = 1.0):
        emb = self.time_mlp(timestep_embedding(t, self.unet_cfg.base_channels))
        if self.ref_global_proj is not None and ref_global is not None:
            emb = emb + self.ref_global_proj(ref_global)
        masks = mask_map(mask_onehot, mask_keep, x.shape[0], x.shape[2:])
        h = jt.concat([x, resize_nearest(masks, x.shape[2:])], dim=1) if self.unet_cfg.mask_concat else x
        h = self.conv_in(h) + resize_nearest(self.embed_control(control_image), x.shape[2:])
        outs = [h]
        for stage in self.down:
            h = stage(h, emb, masks, ref_tokens)
            outs.append(h)
        for stage in self.middle:
            h = stage(h, emb, masks, ref_tokens)
        residuals = [conv(o) for conv, o in zip(self.zero_convs, outs)] + [self.middle_out(h)]
        gate = self._gate(mask_keep, x.shape[0], scale)
        return [r * gate for r in residuals]

    def _gate(self, mask_keep, batch: int, scale: float):
        """Per-sample factor of the residuals: `scale`, times mask_keep (B,) for a mask ControlNet.
        Its control *is* the mask, so where the mask is dropped (the mask-free branch of
        classifier-free guidance, mask dropout in training) the control is dropped with it.
        Otherwise the mask-free branch would see the mask through the ControlNet and mask guidance,
        which extrapolates away from that branch, would lose its contrast."""
        if self.cfg.control != "mask" or mask_keep is None:
            return scale
        return mask_keep.float32().reshape(batch, 1, 1, 1) * scale


def edge_map(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, H, W) float32 in [0, 1]: Sobel gradient magnitude of the grey image,
    normalised by its 99th percentile (a scribble-like control that ignores colour)."""
    grey = image.astype(np.float32).mean(axis=2)
    padded = np.pad(grey, 1, mode="edge")
    gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 2 + (padded[:-2, 2:] - padded[:-2, :-2]) + (padded[2:, 2:] - padded[2:, :-2])
    gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 2 + (padded[2:, :-2] - padded[:-2, :-2]) + (padded[2:, 2:] - padded[:-2, 2:])
    magnitude = np.hypot(gx, gy)
    return np.clip(magnitude / (np.percentile(magnitude, 99) + 1e-6), 0, 1)[None].astype(np.float32)


def control_input(kind: str, mask_onehot: np.ndarray | None = None, image: np.ndarray | None = None) -> np.ndarray:
    """The control image for one sample: the one-hot mask (29, H, W), or edges (1, H, W) of an image."""
    if kind == "mask":
        return mask_onehot.astype(np.float32)
    if kind == "edges":
        return edge_map(image)
    raise ValueError(f"control must be one of {tuple(CONTROL_KINDS)}, got {kind!r}")


def load_controlnet(path, unet) -> ControlNet:
    """Rebuild a ControlNet from its checkpoint for the base `unet` (strict; the base UNet config
    recorded in the checkpoint must equal `unet.cfg`, else a one-line CheckpointError)."""
    from lsgen import checkpoint as ckpt  # noqa: PLC0415
    from lsgen.config import from_dict, to_dict  # noqa: PLC0415

    meta = ckpt.read_metadata(path)
    if meta["kind"] != KIND:
        raise ckpt.CheckpointError(f"{path}: not a ControlNet (kind {meta['kind']!r})")
    if meta["config"]["unet"] != to_dict(unet.cfg):
        raise ckpt.CheckpointError(f"{path}: ControlNet was trained for a different base UNet (config differs)")
    controlnet = ControlNet(unet.cfg, from_dict(ControlNetConfig, meta["config"]["controlnet"], "controlnet."))
    has_ema = any(k.startswith("ema.") for k in ckpt.read_arrays(path))
    ckpt.load_weights(controlnet, path, kind=KIND, prefix="ema." if has_ema else "")
    controlnet.eval()
    return controlnet
