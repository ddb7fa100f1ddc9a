"""pix2pix U-Net generator (Isola et al. 2017, sec. 3.2.1 and app. 6.1.1), the 2022 official baseline.

The label enters as the 29-channel one-hot map (the official baseline fed class_id/255 as a
3-channel grey image, bicubically resized; seeds.md B.1). Encoder: `num_downs` 4x4 stride-2 convs
(widths ngf·min(2^i, 8)), LeakyReLU 0.2, norm on all but the first and the innermost; decoder:
ReLU, 4x4 stride-2 transposed convs, norm, dropout on the 8·ngf blocks below the innermost, skip
concatenation at every level; tanh output. In eval mode BatchNorm uses its running statistics and
dropout is off, so sampling is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

from gan.discriminators import init_normal
from gan.spectral import norm_layer

nn = jt.nn


@dataclass
class Pix2PixConfig:
    label_nc: int = NUM_CLASSES
    out_channels: int = 3
    ngf: int = 64
    num_downs: int = 7                 # H and W must be divisible by 2^num_downs (384x512 -> 3x4)
    norm: str = "batch"
    dropout: float = 0.5

    def __post_init__(self):
        if self.num_downs < 2 or self.ngf < 1:
            raise ValueError("pix2pix: num_downs >= 2 and ngf >= 1 required")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"pix2pix.dropout must be in [0, 1), got {self.dropout}")

    @property
    def size_multiple(self) -> int:
        return 2 ** self.num_downs


class UNetGenerator(nn.Module):
    """mask_onehot (B,29,H,W) -> image (B,3,H,W) in [-1,1]."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        self.cfg = cfg
        n = cfg.num_downs
        widths = [cfg.ngf * min(2 ** i, 8) for i in range(n)]
        downs = [nn.Conv2d(cfg.label_nc, widths[0], 4, 2, 1)]
        for i in range(1, n):
            innermost = i == n - 1
            downs.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1),
                                       nn.Identity() if innermost else norm_layer(cfg.norm, widths[i])))
        ups = []
        for i in range(n - 1, 0, -1):
            cin = widths[i] if i == n - 1 else 2 * widths[i]
            drop = cfg.dropout if widths[i] == 8 * cfg.ngf and 0 < i < n - 1 else 0.0
            ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, widths[i - 1], 4, 2, 1),
                                     norm_layer(cfg.norm, widths[i - 1]), nn.Dropout(drop)))
        ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * widths[0], cfg.out_channels, 4, 2, 1), nn.Tanh()))
        self.downs, self.ups = nn.ModuleList(downs), nn.ModuleList(ups)
        init_normal(self)

    def execute(self, mask_onehot):
        h, w = mask_onehot.shape[2:]
        m = self.cfg.size_multiple
        if h % m or w % m:
            raise ValueError(f"pix2pix: image size {w}x{h} is not divisible by 2^num_downs = {m}")
        skips = []
        x = mask_onehot
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()
        for up in self.ups:
            x = up(x)
            if skips:
                x = jt.concat([x, skips.pop()], dim=1)
        return x
