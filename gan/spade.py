"""SPADE generator (Park et al. 2019, "GauGAN") with three sources of its input tensor.

style = "ref"  the 2023 official baseline: a VAE-style encoder of the reference photo gives
               (mu, logvar) of a z_dim code (SPADE sec. 4, "multi-modal synthesis"); z -> linear ->
               the first feature map. Training uses z = mu + σ·ε and a KLD; at test z = mu
               (deterministic) or a sample (stochastic); without a reference z = 0 or z ~ N(0, I).
style = "mask" APF-GAN (seeds.md §4): a strided-conv encoder of the one-hot mask replaces the
               image encoder (no KLD); G is deterministic except for the semantic-guided noise.
style = "none" plain SPADE: a conv of the mask downsampled to the first feature size.

Body: head block at (H, W)/2^U, ×2, `middle_blocks` blocks, then one ×2 + block per further entry
of `channels` (U = len(channels) upsamplings), LeakyReLU, 3x3 conv, tanh. Progressive training
(APF): extra RGB heads on the last `progressive_levels - 1` stages, see `execute(level, alpha)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

from gan.discriminators import init_normal
from gan.spectral import maybe_sn, norm_layer

nn = jt.nn
STYLES = ("ref", "mask", "none")


@dataclass
class SPADEConfig:
    label_nc: int = NUM_CLASSES
    channels: tuple[int, ...] = (1024, 512, 256, 128, 64)   # per stage; len = number of ×2 upsamplings
    middle_blocks: int = 2             # blocks at channels[0] after the first ×2 (SPADE's G_middle_0/1)
    height: int = 384                  # training size; the "ref" style's linear layer depends on it
    width: int = 512
    style: str = "ref"
    z_dim: int = 256
    enc_channels: int = 64             # first width of the ref/mask encoder
    enc_size: int = 256                # the ref photo is resized to enc_size² (SPADE: 256 -> 4x4 map)
    norm: str = "batch"                # SPADE's parameter-free norm: batch | instance
    spade_hidden: int = 128
    spectral: bool = True
    seg_noise: bool = False            # APF's semantic-guided noise
    progressive_levels: int = 1        # APF: output sizes /2^(levels-1) .. /1 (1 = off)

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"spade.style must be one of {STYLES}, got {self.style!r}")
        m = 2 ** len(self.channels)
        if self.height % m or self.width % m:
            raise ValueError(f"spade: {self.width}x{self.height} is not divisible by 2^len(channels) = {m}")
        if not 1 <= self.progressive_levels <= len(self.channels):
            raise ValueError("spade.progressive_levels must be in [1, len(channels)]")
        if self.style == "ref" and (self.enc_size < 8 or self.enc_size & (self.enc_size - 1)):
            raise ValueError(f"spade.enc_size must be a power of two >= 8, got {self.enc_size}")

    @property
    def start_size(self) -> tuple[int, int]:
        m = 2 ** len(self.channels)
        return self.height // m, self.width // m


def resize_nearest(x, size):
    """Nearest resize (B,C,h,w) -> size; one-hot masks stay one-hot (nn.interpolate is bilinear by default)."""
    return x if tuple(x.shape[2:]) == tuple(size) else nn.interpolate(x, size=list(size), mode="nearest")


class SPADE(nn.Module):
    """SPADE eq. 1: norm(x)·(1 + γ(m)) + β(m), γ/β from a shared 3x3 conv + ReLU on the mask.
    With seg_noise (APF): x += conv1x1(m) · N(0,1) per pixel before the norm; the 1x1 conv is
    zero-initialised, so the noise starts at zero."""

    def __init__(self, channels: int, cfg: SPADEConfig):
        super().__init__()
        self.norm = norm_layer(cfg.norm, channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cfg.label_nc, cfg.spade_hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(cfg.spade_hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(cfg.spade_hidden, channels, 3, padding=1)
        self.noise_scale = nn.Conv2d(cfg.label_nc, channels, 1) if cfg.seg_noise else None
        if self.noise_scale is not None:
            self.noise_scale.zero_init = True
            self.noise_scale.weight.update(jt.zeros(self.noise_scale.weight.shape))
            self.noise_scale.bias.update(jt.zeros(self.noise_scale.bias.shape))

    def execute(self, x, mask_onehot, noise: bool = True):
        m = resize_nearest(mask_onehot, x.shape[2:])
        if self.noise_scale is not None and noise:
            b, _, h, w = x.shape
            x = x + self.noise_scale(m) * jt.randn(b, 1, h, w)
        a = self.shared(m)
        return self.norm(x) * (1 + self.gamma(a)) + self.beta(a)


class SPADEResBlock(nn.Module):
    """SPADE ResBlk (fig. 4 right): two SPADE-LReLU-conv3x3, learned 1x1 shortcut when fin != fout."""

    def __init__(self, fin: int, fout: int, cfg: SPADEConfig):
        super().__init__()
        mid = min(fin, fout)
        self.norm_0, self.conv_0 = SPADE(fin, cfg), maybe_sn(nn.Conv2d(fin, mid, 3, padding=1), cfg.spectral)
        self.norm_1, self.conv_1 = SPADE(mid, cfg), maybe_sn(nn.Conv2d(mid, fout, 3, padding=1), cfg.spectral)
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, cfg)
            self.conv_s = maybe_sn(nn.Conv2d(fin, fout, 1, bias=False), cfg.spectral)

    def execute(self, x, mask_onehot, noise: bool = True):
        skip = self.conv_s(self.norm_s(x, mask_onehot, noise)) if self.learned_shortcut else x
        dx = self.conv_0(nn.leaky_relu(self.norm_0(x, mask_onehot, noise), 0.2))
        dx = self.conv_1(nn.leaky_relu(self.norm_1(dx, mask_onehot, noise), 0.2))
        return skip + dx


def conv_encoder(cin: int, widths: list[int], spectral: bool) -> nn.Sequential:
    """3x3 stride-2 convs with instance norm and LeakyReLU 0.2 (SPADE's ConvEncoder body)."""
    layers = []
    for i, width in enumerate(widths):
        layers.append(maybe_sn(nn.Conv2d(cin, width, 3, stride=2, padding=1), spectral))
        if i > 0:
            layers.append(nn.InstanceNorm2d(width, affine=False))
        layers.append(nn.LeakyReLU(0.2))
        cin = width
    return nn.Sequential(*layers)


class RefEncoder(nn.Module):
    """Reference photo (B,3,H,W) in [-1,1] -> (mu, logvar), each (B, z_dim)."""

    def __init__(self, cfg: SPADEConfig):
        super().__init__()
        n = int(math.log2(cfg.enc_size // 4))
        widths = [cfg.enc_channels * min(2 ** i, 8) for i in range(n)]
        self.size = cfg.enc_size
        self.body = conv_encoder(3, widths, cfg.spectral)
        self.fc_mu = nn.Linear(widths[-1] * 16, cfg.z_dim)
        self.fc_var = nn.Linear(widths[-1] * 16, cfg.z_dim)

    def execute(self, ref_image):
        x = nn.interpolate(ref_image, size=[self.size, self.size], mode="bilinear", align_corners=False)
        x = self.body(x).reshape(ref_image.shape[0], -1)
        return self.fc_mu(x), self.fc_var(x)


class MaskEncoder(nn.Module):
    """APF: mask_onehot (B,29,H,W) -> (B, channels[0], H/2^U, W/2^U) by U stride-2 convs."""

    def __init__(self, cfg: SPADEConfig):
        super().__init__()
        n = len(cfg.channels)
        widths = [min(cfg.enc_channels * 2 ** i, cfg.channels[0]) for i in range(n - 1)] + [cfg.channels[0]]
        self.body = conv_encoder(cfg.label_nc, widths, cfg.spectral)

    def execute(self, mask_onehot):
        return self.body(mask_onehot)


def upsample2(x):
    """Nearest ×2 (SPADE's nn.Upsample(scale_factor=2))."""
    return resize_nearest(x, (x.shape[2] * 2, x.shape[3] * 2))


class SPADEGenerator(nn.Module):
    """mask_onehot (B,29,H,W) [+ z (B,z_dim) for style "ref"] -> image (B,3,H,W) in [-1,1]."""

    def __init__(self, cfg: SPADEConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        sh, sw = cfg.start_size
        if cfg.style == "ref":
            self.encoder = RefEncoder(cfg)
            self.fc = nn.Linear(cfg.z_dim, c[0] * sh * sw)
        elif cfg.style == "mask":
            self.encoder = MaskEncoder(cfg)
        else:
            self.fc = nn.Conv2d(cfg.label_nc, c[0], 3, padding=1)
        self.head = SPADEResBlock(c[0], c[0], cfg)
        self.middle = nn.ModuleList([SPADEResBlock(c[0], c[0], cfg) for _ in range(cfg.middle_blocks)])
        self.ups = nn.ModuleList([SPADEResBlock(c[i - 1], c[i], cfg) for i in range(1, len(c))])
        self.conv_img = nn.Conv2d(c[-1], 3, 3, padding=1)
        first = len(c) - cfg.progressive_levels
        self.to_rgb = nn.ModuleList([nn.Conv2d(c[first + k], 3, 3, padding=1)
                                     for k in range(cfg.progressive_levels - 1)])
        init_normal(self)

    def encode(self, ref_image):
        """style "ref": reference (B,3,H,W) in [-1,1] -> (mu, logvar) (B, z_dim)."""
        if self.cfg.style != "ref":
            raise ValueError(f"this generator has style {self.cfg.style!r}; only 'ref' encodes a reference")
        return self.encoder(ref_image)

    def initial(self, mask_onehot, z=None):
        """The head's input (B, channels[0], H/2^U, W/2^U). style "ref" without z samples z ~ N(0, I)."""
        b, _, h, w = mask_onehot.shape
        factor = 2 ** len(self.cfg.channels)
        if self.cfg.style == "mask":
            return self.encoder(mask_onehot)
        if self.cfg.style == "none":
            return self.fc(resize_nearest(mask_onehot, (h // factor, w // factor)))
        z = jt.randn(b, self.cfg.z_dim) if z is None else z
        return self.fc(z).reshape(b, self.cfg.channels[0], *self.cfg.start_size)

    def _rgb(self, x, stage: int):
        head = self.conv_img if stage == len(self.cfg.channels) - 1 else \
            self.to_rgb[stage - (len(self.cfg.channels) - self.cfg.progressive_levels)]
        return jt.tanh(head(nn.leaky_relu(x, 0.2)))

    def execute(self, mask_onehot, z=None, level: int | None = None, alpha: float = 1.0, noise: bool = True):
        """level (progressive training): output at size (H,W)/2^(progressive_levels-1-level) (None
        = full size); 0 < alpha < 1 fades it in: α·rgb_level + (1-α)·bilinear×2(rgb_{level-1}).
        noise: apply the semantic-guided noise (when the config has it)."""
        n = len(self.cfg.channels)
        stage = n - 1 if level is None else n - self.cfg.progressive_levels + level
        x = upsample2(self.head(self.initial(mask_onehot, z), mask_onehot, noise))
        for block in self.middle:
            x = block(x, mask_onehot, noise)
        prev = x
        for i in range(stage):
            prev, x = x, self.ups[i](upsample2(x), mask_onehot, noise)
        rgb = self._rgb(x, stage)
        if level is not None and alpha < 1.0 and level > 0:
            low = nn.interpolate(self._rgb(prev, stage - 1), size=list(rgb.shape[2:]), mode="bilinear",
                                 align_corners=False)
            rgb = alpha * rgb + (1.0 - alpha) * low
        return rgb


def reparameterize(mu, logvar):
    """z = mu + exp(logvar/2)·ε (Kingma & Welling 2014, eq. 10)."""
    return mu + jt.exp(0.5 * logvar) * jt.randn(*mu.shape)
