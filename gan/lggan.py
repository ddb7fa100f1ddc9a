"""LGGAN (Tang et al. 2020, "Local Class-Specific and Global Image-Level Generative Adversarial
Networks for Semantic-Guided Scene Generation", CVPR) with semantic-aware upsampling (SAU), as the
2022 seed built it (seeds.md §2), with the seed's bugs fixed.

Encoder (shared): reflect-pad conv7x7 then U stride-2 conv3x3, instance norm + ReLU, on the one-hot
mask; its level-2 output (H/4, W/4) is `x_encode`, its last output (H, W)/2^U starts the decoder
(the seed stopped at /16 and resized to the start size).
Global branch: SPADE decoder (gan/spade.py's ResBlks; head, ×2, middle blocks, one ×2 + block per
further width) -> conv3x3 -> tanh = the global image.
Local branch: `local_blocks` reflect-pad residual blocks on x_encode, then two SAU ×2 (each halving
the width, + IN + ReLU) -> class features F (B, enc_channels, H, W). Per-class generation heads:
ONE reflect-pad k×k conv (LGGAN: 7x7) with 29·3 outputs (head c = output channels 3c..3c+2), tanh;
local image = Σ_c m_c ⊙ head_c(F), m_c the class-c one-hot: every pixel takes its own class's head.
(The seed fed each head F ⊙ m_c, 29 copies of F; here heads see F unmasked and only their class's
pixels are kept, so the seed's per-class L1 Σ_c |head_c − real ⊙ m_c| inside the masks is the L1
of the local image.)
Fusion (LGGAN's pixel-level fusion weight maps): softmax over 2 logits of a conv3x3 on concat(F,
last global features) -> per-pixel (a_local, a_global); final = a_local·local + a_global·global
(the seed predicted the logits from x_encode through two more SAUs).
Class consistency (LGGAN's classification-based feature learning): the mean of F over each class's
pixels (the seed averaged F ⊙ m_c over the whole image), a Linear(enc_channels -> 29) -> logits
(B, 29, 29); row c should predict class c.

SAU = content-aware reassembly (CARAFE, Wang et al. 2019, sec. 3): a 1x1 compressor and a 3x3
encoder predict s²·k² values per source pixel, pixel-shuffled to one k×k kernel per output pixel,
softmax over the k² taps; output(l') = Σ_t w_l'(t) · x(⌊l'/s⌋ + t) over the k×k neighbourhood of
the source pixel ⌊l'/s⌋. The seed's 1x1 width-halving conv after SAU is applied before the
reassembly: a bias-free 1x1 conv commutes exactly with the (per-channel, linear) reassembly and
costs half there.

Seed bugs fixed: the class loss softmaxes over the 29 logits of each class row (the seed ran it
over samples) and each class uses its own mask (the seed reused class 26's mask for class 27);
training and test use the same full-frame geometry (the seed trained on 256x256 squashed + cropped).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

from gan.discriminators import init_normal
from gan.spade import SPADEConfig, SPADEResBlock, resize_nearest, upsample2

nn = jt.nn
LOCAL_LEVEL = 2                        # x_encode at (H, W)/4; the local branch upsamples it ×4 by two SAUs


@dataclass
class LGGANConfig:
    label_nc: int = NUM_CLASSES
    channels: tuple[int, ...] = (1024, 512, 256, 128, 64)   # global SPADE decoder widths (as SPADEConfig)
    middle_blocks: int = 2
    height: int = 384                  # trained and sampled at the same full frame
    width: int = 512
    enc_channels: int = 64             # conv7x7 width; doubles per stride-2 conv (capped at channels[0])
    local_blocks: int = 9              # residual blocks of the local branch at (H, W)/4
    sau_kernel: int = 5                # k: reassembly neighbourhood k×k (CARAFE k_up = 5)
    sau_hidden: int = 64               # width of the SAU kernel predictor's compressor
    head_kernel: int = 7               # per-class heads' conv size (LGGAN: 7x7)
    norm: str = "batch"                # SPADE's parameter-free norm
    spade_hidden: int = 128
    spectral: bool = True

    def __post_init__(self):
        m = 2 ** len(self.channels)
        if len(self.channels) < LOCAL_LEVEL:
            raise ValueError(f"lggan.channels needs >= {LOCAL_LEVEL} widths")
        if self.height % m or self.width % m:
            raise ValueError(f"lggan: {self.width}x{self.height} is not divisible by 2^len(channels) = {m}")
        for name in ("sau_kernel", "head_kernel"):
            if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                raise ValueError(f"lggan.{name} must be odd and >= 1, got {getattr(self, name)}")
        if self.enc_channels < 1 or self.local_blocks < 0 or self.sau_hidden < 1:
            raise ValueError("lggan: enc_channels, sau_hidden >= 1 and local_blocks >= 0 required")

    @property
    def encoder_widths(self) -> list[int]:
        """Widths after the conv7x7 and each stride-2 conv; the last is channels[0]."""
        n = len(self.channels)
        return [min(self.enc_channels * 2 ** i, self.channels[0]) for i in range(n)] + [self.channels[0]]

    def spade(self) -> SPADEConfig:
        """The global branch's SPADE ResBlk settings."""
        return SPADEConfig(label_nc=self.label_nc, channels=self.channels, middle_blocks=self.middle_blocks,
                           height=self.height, width=self.width, style="none", norm=self.norm,
                           spade_hidden=self.spade_hidden, spectral=self.spectral)


def reassemble(x, kernels, k: int, scale: int):
    """CARAFE eq. 4: out[b,c,Y,X] = Σ_t kernels[b,t,Y,X] · x[b, c, Y//s + dy_t, X//s + dx_t],
    t = (dy + k//2)·k + (dx + k//2) over the k×k neighbourhood, zeros outside the map.
    x (B,C,h,w), kernels (B,k²,h·s,w·s) -> (B,C,h·s,w·s). The centre tap alone is nearest ×s."""
    b, c, h, w = x.shape
    r = k // 2
    taps = x.reindex([b, c, k * k, h * scale, w * scale],
                     ["i0", "i1", f"i3/{scale}+i2/{k}-{r}", f"i4/{scale}+i2%{k}-{r}"], overflow_value=0.0)
    return (taps * kernels.unsqueeze(1)).sum(dim=2)


class SAU(nn.Module):
    """Semantic-aware ×scale upsampling (fin -> fout): (B,fin,h,w) -> (B,fout,h·s,w·s)."""

    def __init__(self, fin: int, fout: int, cfg: LGGANConfig, scale: int = 2):
        super().__init__()
        self.k, self.scale = cfg.sau_kernel, scale
        self.compress = nn.Conv2d(fin, cfg.sau_hidden, 1)
        self.encoder = nn.Conv2d(cfg.sau_hidden, scale * scale * self.k * self.k, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.proj = nn.Conv2d(fin, fout, 1, bias=False)

    def kernels(self, x):
        """(B,fin,h,w) -> reassembly kernels (B,k²,h·s,w·s), softmax over the k² taps (CARAFE eq. 3)."""
        return nn.softmax(self.shuffle(self.encoder(self.compress(x))), dim=1)

    def execute(self, x):
        return reassemble(self.proj(x), self.kernels(x), self.k, self.scale)


def in_relu(*layers, channels: int) -> nn.Sequential:
    """layers, then instance norm (no affine) and ReLU (pix2pixHD's encoder unit)."""
    return nn.Sequential(*layers, nn.InstanceNorm2d(channels, affine=False), nn.ReLU())


class ResBlock(nn.Module):
    """pix2pixHD residual block: x + (reflect conv3x3 - IN - ReLU - reflect conv3x3 - IN)(x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=False), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=False))

    def execute(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    """mask_onehot (B,29,H,W) -> (x_encode (B, w_2, H/4, W/4), start (B, channels[0], H/2^U, W/2^U))."""

    def __init__(self, cfg: LGGANConfig):
        super().__init__()
        w = cfg.encoder_widths
        self.stem = in_relu(nn.ReflectionPad2d(3), nn.Conv2d(cfg.label_nc, w[0], 7), channels=w[0])
        self.downs = nn.ModuleList([in_relu(nn.Conv2d(w[i], w[i + 1], 3, 2, 1), channels=w[i + 1])
                                    for i in range(len(cfg.channels))])

    def execute(self, mask_onehot):
        x = self.stem(mask_onehot)
        x_encode = None
        for i, down in enumerate(self.downs):
            x = down(x)
            if i + 1 == LOCAL_LEVEL:
                x_encode = x
        return x_encode, x


class LocalBranch(nn.Module):
    """x_encode (B,w_2,H/4,W/4) -> class features (B, w_2/4, H, W) by residual blocks and two SAUs."""

    def __init__(self, cfg: LGGANConfig):
        super().__init__()
        width = cfg.encoder_widths[LOCAL_LEVEL]
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(cfg.local_blocks)])
        self.up_0, self.norm_0 = SAU(width, width // 2, cfg), nn.InstanceNorm2d(width // 2, affine=False)
        self.up_1, self.norm_1 = SAU(width // 2, width // 4, cfg), nn.InstanceNorm2d(width // 4, affine=False)

    def execute(self, x_encode):
        x = self.blocks(x_encode)
        x = nn.relu(self.norm_0(self.up_0(x)))
        return nn.relu(self.norm_1(self.up_1(x)))


def class_means(features, mask_onehot):
    """Masked mean of (B,C,H,W) features over each class's pixels -> ((B, N, C), present (B, N) 0/1)
    for a (B,N,H,W) one-hot; absent classes get zeros."""
    b, c = features.shape[:2]
    n = mask_onehot.shape[1]
    m = mask_onehot.reshape(b, n, -1)
    sums = jt.matmul(m, features.reshape(b, c, -1).permute(0, 2, 1))
    area = m.sum(dim=2)
    return sums / area.maximum(1.0).unsqueeze(2), (area > 0).float32()


class LGGANGenerator(nn.Module):
    """mask_onehot (B,29,H,W) 0/1 -> image (B,3,H,W) in [-1,1]; `parts` gives the branches too."""

    def __init__(self, cfg: LGGANConfig):
        super().__init__()
        self.cfg = cfg
        c, spade = cfg.channels, cfg.spade()
        self.encoder = Encoder(cfg)
        self.head = SPADEResBlock(c[0], c[0], spade)
        self.middle = nn.ModuleList([SPADEResBlock(c[0], c[0], spade) for _ in range(cfg.middle_blocks)])
        self.ups = nn.ModuleList([SPADEResBlock(c[i - 1], c[i], spade) for i in range(1, len(c))])
        self.global_rgb = nn.Conv2d(c[-1], 3, 3, padding=1)
        self.local = LocalBranch(cfg)
        local_width = cfg.encoder_widths[LOCAL_LEVEL] // 4
        k = cfg.head_kernel
        self.class_heads = nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(local_width, 3 * cfg.label_nc, k))
        self.attention = nn.Conv2d(local_width + c[-1], 2, 3, padding=1)
        self.classifier = nn.Linear(local_width, cfg.label_nc)
        init_normal(self)

    def global_branch(self, start, mask_onehot):
        """SPADE decoder: start (B,c0,H/2^U,W/2^U) -> (last features (B,c[-1],H,W), image)."""
        x = upsample2(self.head(start, mask_onehot))
        for block in self.middle:
            x = block(x, mask_onehot)
        for block in self.ups:
            x = block(upsample2(x), mask_onehot)
        return x, jt.tanh(self.global_rgb(nn.leaky_relu(x, 0.2)))

    def local_image(self, features, mask_onehot):
        """Per-class heads on the class features, each pixel from its own class's head:
        Σ_c m_c ⊙ tanh(head_c(F)) -> (B,3,H,W) in [-1,1] (0 where the mask is all-zero)."""
        b, n, h, w = mask_onehot.shape
        per_class = jt.tanh(self.class_heads(features)).reshape(b, n, 3, h, w)
        return (per_class * mask_onehot.unsqueeze(2)).sum(dim=1)

    def parts(self, mask_onehot) -> dict:
        """{"final", "global", "local"} images (B,3,H,W) in [-1,1], "attention" (B,2,H,W) (local,
        global weights, summing to 1), "class_logits" (B,29,29) (row c: the logits of class c's
        pooled features), "class_present" (B,29) 0/1."""
        x_encode, start = self.encoder(mask_onehot)
        global_feat, global_img = self.global_branch(start, mask_onehot)
        features = self.local(x_encode)
        local_img = self.local_image(features, mask_onehot)
        attention = nn.softmax(self.attention(jt.concat([features, global_feat], dim=1)), dim=1)
        final = attention[:, :1] * local_img + attention[:, 1:] * global_img
        pooled, present = class_means(features, mask_onehot)
        return {"final": final, "global": global_img, "local": local_img, "attention": attention,
                "class_logits": self.classifier(pooled), "class_present": present}

    def execute(self, mask_onehot):
        return self.parts(mask_onehot)["final"]


def class_consistency_loss(logits, present):
    """LGGAN's class loss, correctly: mean over present (b, c) of the cross-entropy of row c of
    logits (B,N,N) against label c, the softmax over the N logits of that row (last axis).
    present (B,N) 0/1 marks the classes in each mask; absent rows do not count."""
    n = logits.shape[1]
    log_probs = nn.log_softmax(logits, dim=2)
    eye = jt.array(np.eye(n, dtype=np.float32)).stop_grad()
    target_log_probs = (log_probs * eye).sum(dim=2)
    return -(target_log_probs * present).sum() / present.sum().maximum(1.0)


def tv_loss(images):
    """Total variation: mean squared difference of vertical and horizontal neighbours, summed;
    images (B,C,H,W)."""
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).sqr().mean()
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).sqr().mean()
    return dy + dx
