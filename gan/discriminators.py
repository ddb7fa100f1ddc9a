"""Conditional PatchGAN discriminators shared by the GANs of the project.

A `PatchDiscriminator` (pix2pix, Isola et al. 2017, sec. 3.2.2; SPADE's NLayerDiscriminator) sees
concat(mask_onehot, image) and returns the list of its layer outputs, the last one being the logit
map; the intermediate ones feed the feature-matching loss. `MultiscaleDiscriminator` (pix2pixHD,
Wang et al. 2018, sec. 3.2) runs `num_d` of them on the input average-pooled ×1, ×½, ×¼, ...;
scales whose input would be smaller than MIN_SIDE pixels are skipped (progressive training feeds
small images). Output: one list of features per scale used.
"""
from __future__ import annotations

from dataclasses import dataclass

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

from gan.spectral import maybe_sn, norm_layer

nn = jt.nn
MIN_SIDE = 8


@dataclass
class DiscConfig:
    """The `disc` section: a multiscale conditional PatchGAN."""
    num_d: int = 2                     # scales (SPADE 2, pix2pix 1)
    n_layers: int = 4                  # 4x4 convs before the logit conv; the last is stride 1
    channels: int = 64                 # width of the first layer (doubles, capped at 512)
    norm: str = "instance"             # instance | batch | none (middle layers only)
    spectral: bool = True              # spectral norm on the middle layers (SPADE)
    in_image_channels: int = 3
    mask_channels: int = NUM_CLASSES

    def __post_init__(self):
        if self.num_d < 1 or self.n_layers < 2 or self.channels < 1:
            raise ValueError("disc: num_d >= 1, n_layers >= 2 and channels >= 1 required")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"disc.norm must be instance, batch or none, got {self.norm!r}")


def init_normal(module, std: float = 0.02) -> None:
    """pix2pix/DCGAN init: conv and linear weights N(0, std), biases 0. Layers marked
    `zero_init` (new residual paths that must start at zero) are left alone."""
    for sub in module.modules():
        if getattr(sub, "zero_init", False):
            continue
        if isinstance(sub, (nn.Conv2d, nn.Linear)):
            sub.weight.update(jt.randn(sub.weight.shape) * std)
            if sub.bias is not None:
                sub.bias.update(jt.zeros(sub.bias.shape))


class PatchDiscriminator(nn.Module):
    """(B, mask_channels + 3, H, W) -> [feature_1, ..., logits (B,1,h,w)]."""

    def __init__(self, cfg: DiscConfig):
        super().__init__()
        pad = 2  # pix2pixHD's ceil((k-1)/2): keeps small inputs from collapsing to zero size
        width = cfg.channels
        layers = [nn.Sequential(nn.Conv2d(cfg.mask_channels + cfg.in_image_channels, width, 4, 2, pad),
                                nn.LeakyReLU(0.2))]
        for n in range(1, cfg.n_layers):
            out = min(width * 2, 512)
            stride = 2 if n < cfg.n_layers - 1 else 1
            conv = maybe_sn(nn.Conv2d(width, out, 4, stride, pad, bias=cfg.norm == "none"), cfg.spectral)
            layers.append(nn.Sequential(conv, norm_layer(cfg.norm, out), nn.LeakyReLU(0.2)))
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, pad))
        self.layers = nn.ModuleList(layers)

    def execute(self, x) -> list:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


_POOL = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


def downsample(x):
    """3x3 average pool, stride 2, padding not counted (pix2pixHD's scale pyramid)."""
    return _POOL(x)


class MultiscaleDiscriminator(nn.Module):
    """num_d PatchDiscriminators on a pyramid of concat(mask_onehot, image)."""

    def __init__(self, cfg: DiscConfig):
        super().__init__()
        self.cfg = cfg
        self.scales = nn.ModuleList([PatchDiscriminator(cfg) for _ in range(cfg.num_d)])
        init_normal(self)

    def execute(self, image, mask_onehot) -> list:
        """image (B,3,H,W) in [-1,1], mask_onehot (B,29,H,W) -> list over scales of feature lists."""
        x = jt.concat([mask_onehot, image], dim=1)
        outs = []
        for i, d in enumerate(self.scales):
            if i > 0:
                x = downsample(x)
            if min(x.shape[2:]) < MIN_SIDE:
                break
            outs.append(d(x))
        return outs
