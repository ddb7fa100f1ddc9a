"""RCAN ×2 super-resolution (Zhang et al. 2018, "Image Super-Resolution Using Very Deep Residual
Channel Attention Networks", ECCV), the LGGAN seed's post-process (seeds.md §2: 10 groups × 20
blocks, 64 features, reduction 16, pixel shuffle ×2, L1, trained on bicubic-downsampled photos).

    head   conv3x3 3 -> C                                   F_0
    body   G residual groups, conv3x3, long skip:           F_DF = F_0 + W_LSC(RG_G(...RG_1(F_0)))  (eq. 2)
    group  B RCABs, conv3x3, short skip:                    F_g = F_{g-1} + W_g(RCAB_B(...))         (eq. 3-4)
    RCAB   conv3x3, ReLU, conv3x3, channel attention, skip:  F_b = F_{b-1} + CA(W2 δ(W1 F_{b-1}))    (eq. 7)
    CA     s = sigmoid(W_U δ(W_D mean_hw(x))), x·s (1x1 convs C -> C/r -> C)                   (eq. 5-6)
    tail   conv3x3 C -> 4C, pixel shuffle ×2, conv3x3 C -> 3

Images are (B, 3, h, w) in [-1, 1]; `rgb_mean` (the seed's landscape mean, mapped to [-1, 1]) is
subtracted at the input and added back at the output (RCAN's MeanShift). `image_skip="bilinear"`
adds a bilinear ×2 upsampling of the input to the output instead of the mean, a global residual that
RCAN does not have (off in the full config); it lets a short CPU training start from an interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsgen.runtime import jt

nn = jt.nn
KIND = "sr-rcan"
IMAGE_SKIPS = ("none", "bilinear")
SEED_RGB_MEAN = (0.4417 * 2 - 1, 0.4912 * 2 - 1, 0.5297 * 2 - 1)   # seeds.md §2, in [-1, 1]


@dataclass
class RCANConfig:
    """The `model` section of configs/sr/rcan-*.json (defaults: the paper's and the seed's RCAN)."""
    channels: int = 64
    groups: int = 10
    blocks: int = 20                   # RCABs per group
    reduction: int = 16                # channel-attention squeeze ratio r
    scale: int = 2                     # only ×2 (the LGGAN pipeline's 256x192 -> 512x384)
    rgb_mean: tuple[float, ...] = SEED_RGB_MEAN
    image_skip: str = "none"           # none | bilinear (see the module docstring)

    def __post_init__(self):
        if self.scale != 2:
            raise ValueError(f"rcan.scale must be 2, got {self.scale}")
        if self.image_skip not in IMAGE_SKIPS:
            raise ValueError(f"rcan.image_skip must be one of {IMAGE_SKIPS}, got {self.image_skip!r}")
        if min(self.channels, self.groups, self.blocks, self.reduction) < 1 or self.channels < self.reduction:
            raise ValueError("rcan: channels, groups, blocks, reduction must be >= 1 and channels >= reduction")
        if len(self.rgb_mean) != 3:
            raise ValueError("rcan.rgb_mean must have 3 values")


def conv3x3(cin: int, cout: int):
    return nn.Conv2d(cin, cout, 3, padding=1)


class ChannelAttention(nn.Module):
    """(B,C,h,w) -> x · s, s = sigmoid(W_U relu(W_D mean_hw(x))) in (0, 1), shape (B,C,1,1) (eq. 5-6)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.down = nn.Conv2d(channels, channels // reduction, 1)
        self.up = nn.Conv2d(channels // reduction, channels, 1)

    def weights(self, x):
        """The attention s (B,C,1,1) of features x."""
        pooled = x.mean(dims=(2, 3), keepdims=True)
        return jt.sigmoid(self.up(nn.relu(self.down(pooled))))

    def execute(self, x):
        return x * self.weights(x)


class RCAB(nn.Module):
    """Residual channel-attention block (eq. 7)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels),
                                  ChannelAttention(channels, reduction))

    def execute(self, x):
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """B RCABs and a conv with a short skip connection (eq. 3-4)."""

    def __init__(self, channels: int, reduction: int, blocks: int):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(channels, reduction) for _ in range(blocks)], conv3x3(channels, channels))

    def execute(self, x):
        return x + self.body(x)


class RCAN(nn.Module):
    """(B,3,h,w) in [-1,1] -> (B,3,2h,2w) (not clipped; the pipeline clips); any h, w >= 1."""

    def __init__(self, cfg: RCANConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.head = conv3x3(3, c)
        self.body = nn.Sequential(*[ResidualGroup(c, cfg.reduction, cfg.blocks) for _ in range(cfg.groups)],
                                  conv3x3(c, c))
        self.upsample = nn.Sequential(conv3x3(c, 4 * c), nn.PixelShuffle(2))
        self.tail = conv3x3(c, 3)
        self._mean = [float(v) for v in cfg.rgb_mean]   # private: a plain list is no parameter

    def _mean_var(self):
        return jt.array(self._mean).reshape(1, 3, 1, 1)

    def execute(self, x):
        mean = self._mean_var()
        feats = self.head(x - mean)
        feats = feats + self.body(feats)                                     # long skip (eq. 2)
        out = self.tail(self.upsample(feats))
        if self.cfg.image_skip == "bilinear":   # the residual is relative to the interpolation
            h, w = x.shape[2:]
            return out + nn.interpolate(x, size=[2 * h, 2 * w], mode="bilinear", align_corners=False)
        return out + mean


def load_rcan(path: str | Path, use_ema: bool = True) -> RCAN:
    """An "sr-rcan" checkpoint -> RCAN in eval mode (EMA weights when present)."""
    from gan.models import ModelSpec, build_from_checkpoint  # noqa: PLC0415

    return build_from_checkpoint(path, ModelSpec(KIND, RCANConfig, RCAN), use_ema)
