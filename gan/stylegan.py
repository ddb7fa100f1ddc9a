"""StyleGAN v1 (Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for GANs", CVPR),
unconditional, with ProGAN's progressive growing (Karras et al. 2018, ICLR), as the seed StyleGanJittor
(seeds.md §3) — with its bugs fixed.

Generator: mapping f: z -> w (pixel norm + `mapping_layers` equalized FC + LReLU 0.2, learning-rate
multiplier `mapping_lr_mul`, sec. 2 and app. C); synthesis from a learned constant 4x4 input, two
style layers per resolution 4, 8, ..., `resolution` (level k = 4·2^k); a style layer is
noise (per-channel learned scale, zero init) -> bias -> LReLU -> instance norm -> AdaIN
    AdaIN(x, y) = y_s · (x - μ(x)) / σ(x) + y_b,  y = A(w) a learned affine map   (eq. 1)
with y_s = 1 + A_s(w). Each level but the first upsamples (nearest) -> conv3x3 -> blur. Fade-in of
a new level (ProGAN sec. 3, fig. 2): rgb = α·toRGB_k(h_k) + (1-α)·up(toRGB_{k-1}(h_{k-1})).
Style mixing (sec. 3.1): layers [0, crossover) take w1, the others w2. Truncation (sec. 4.1 / app. B):
w' = w̄ + ψ(w - w̄), w̄ the moving average of w tracked in training mode (decay `w_avg_beta`).

Discriminator: fromRGB per level, two convs and a 2x average-pool per level, and at 4x4 the
minibatch standard deviation (ProGAN sec. 3: ONE extra channel), conv3x3, conv4x4, FC -> 1 logit.

Every layer uses the equalized learning rate (ProGAN sec. 4.1): weights N(0, 1/m²) scaled at run
time by m·gain/√fan_in. The mapping network's multiplier m = 0.01 makes its effective learning rate
1/100 of the rest inside ONE optimizer group: no parameter is listed (and updated) twice, which was
the seed's bug (its second Adam group re-added every generator parameter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lsgen.runtime import jt

nn = jt.nn
SQRT2 = math.sqrt(2.0)
EPS = 1e-8


@dataclass
class StyleGANConfig:
    """The `model` section (generator). channels[k] is the width at level k (4·2^k pixels)."""
    resolution: int = 64
    channels: tuple[int, ...] = (512, 512, 512, 512, 256)
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    w_avg_beta: float = 0.995          # w̄ <- β w̄ + (1 - β) mean(w), per training call
    blur: bool = True

    def __post_init__(self):
        check_levels(self.resolution, self.channels, "model")
        if self.mapping_layers < 1 or self.z_dim < 1 or self.w_dim < 1 or not 0 < self.mapping_lr_mul <= 1:
            raise ValueError("model: mapping_layers, z_dim, w_dim >= 1 and mapping_lr_mul in (0, 1] required")

    @property
    def levels(self) -> int:
        return len(self.channels)


@dataclass
class StyleDiscConfig:
    """The `disc` section. channels[k] is the width at level k, as in the generator."""
    channels: tuple[int, ...] = (512, 512, 512, 512, 256)
    mbstd_group: int = 4               # ProGAN's group size for the minibatch stddev
    blur: bool = True

    def __post_init__(self):
        if self.mbstd_group < 1 or min(self.channels, default=0) < 1:
            raise ValueError("disc: mbstd_group and channels must be >= 1")


def check_levels(resolution: int, channels, section: str) -> None:
    levels = int(round(math.log2(resolution / 4))) + 1 if resolution >= 4 else 0
    if resolution < 4 or 4 * 2 ** (levels - 1) != resolution:
        raise ValueError(f"{section}.resolution must be 4·2^k, got {resolution}")
    if len(channels) != levels or min(channels) < 1:
        raise ValueError(f"{section}.channels needs {levels} positive widths (levels 4..{resolution}), "
                         f"got {list(channels)}")


# --- equalized layers and fixed ops -------------------------------------------------------------
class EqualLinear(nn.Module):
    """y = x (c·W)ᵀ + m·b with W ~ N(0, 1/m²), c = m·gain/√fan_in: (B, fin) -> (B, fout)."""

    def __init__(self, fin: int, fout: int, gain: float = SQRT2, lr_mul: float = 1.0):
        super().__init__()
        self.weight = jt.randn(fout, fin) / lr_mul
        self.bias = jt.zeros(fout)
        self._scale, self._lr_mul = gain / math.sqrt(fin) * lr_mul, lr_mul

    def execute(self, x):
        return jt.matmul(x, (self.weight * self._scale).transpose()) + self.bias * self._lr_mul


class EqualConv2d(nn.Module):
    """k x k convolution (stride 1, 'same' zero padding) with equalized learning rate."""

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = SQRT2, padding: int | None = None):
        super().__init__()
        self.weight = jt.randn(cout, cin, kernel, kernel)
        self.bias = jt.zeros(cout)
        self._scale = gain / math.sqrt(cin * kernel * kernel)
        self._padding = kernel // 2 if padding is None else padding

    def execute(self, x):
        return nn.conv2d(x, self.weight * self._scale, self.bias, 1, self._padding)


def lrelu(x):
    return nn.leaky_relu(x, 0.2)


def pixel_norm(x, eps: float = EPS):
    """x / sqrt(mean_c x² + ε) over dim 1 (ProGAN sec. 4.2)."""
    return x / (x.sqr().mean(dim=1, keepdims=True) + eps).sqrt()


def instance_norm(x, eps: float = EPS):
    """(x - μ) / σ per sample and channel over (H, W)."""
    mu = x.mean(dims=(2, 3), keepdims=True)
    centred = x - mu
    return centred / (centred.sqr().mean(dims=(2, 3), keepdims=True) + eps).sqrt()


def blur(x):
    """Separable [1,2,1]/4 ⊗ [1,2,1]/4 low-pass, zero padded, shape kept (StyleGAN's blur)."""
    p = nn.pad(x, [1, 1, 1, 1])
    h = (p[:, :, :, :-2] + 2 * p[:, :, :, 1:-1] + p[:, :, :, 2:]) / 4
    return (h[:, :, :-2] + 2 * h[:, :, 1:-1] + h[:, :, 2:]) / 4


def upsample2(x):
    """Nearest ×2: (B,C,H,W) -> (B,C,2H,2W)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h, 1, w, 1).broadcast((b, c, h, 2, w, 2)).reshape(b, c, 2 * h, 2 * w)


def downsample2(x):
    """2x2 average pool: (B,C,H,W) -> (B,C,H/2,W/2) (H, W even)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(dims=(3, 5))


def minibatch_stddev(x, group_size: int = 4):
    """ProGAN sec. 3: (B,C,H,W) -> (B,C+1,H,W). Samples b and b' share a group when b ≡ b' mod B/G
    (G = the largest divisor of B not above group_size); the extra channel of sample b is the mean
    over (C,H,W) of sqrt(Var_group(x) + 1e-8), the variance over the G members (divided by G)."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, b) + 1) if b % d == 0)
    m = b // g
    y = x.reshape(g, m, c, h, w)
    y = y - y.mean(dim=0, keepdims=True)
    std = (y.sqr().mean(dim=0) + EPS).sqrt()
    per_group = std.mean(dims=(1, 2, 3))
    extra = per_group.reshape(1, m, 1, 1, 1).broadcast((g, m, 1, h, w)).reshape(b, 1, h, w)
    return jt.concat([x, extra], dim=1)


# --- generator ---------------------------------------------------------------------------------
class StyleLayer(nn.Module):
    """noise -> bias -> LReLU -> instance norm -> AdaIN(w): (B,C,H,W), w (B,w_dim), noise (B,1,H,W)."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.noise_scale = jt.zeros((1, channels, 1, 1))
        self.bias = jt.zeros((1, channels, 1, 1))
        self.style = EqualLinear(w_dim, 2 * channels, gain=1.0)

    def execute(self, x, w, noise):
        b, c = x.shape[:2]
        x = instance_norm(lrelu(x + self.noise_scale * noise + self.bias))
        style = self.style(w)
        return x * (1 + style[:, :c].reshape(b, c, 1, 1)) + style[:, c:].reshape(b, c, 1, 1)


class SynthesisBlock(nn.Module):
    """One level: [upsample, conv3x3, blur] (or the constant input at 4x4), style layer, conv3x3, style layer."""

    def __init__(self, cin: int, cout: int, w_dim: int, first: bool, use_blur: bool):
        super().__init__()
        self.first, self.use_blur = first, use_blur
        if first:
            self.const = jt.ones((1, cout, 4, 4))
        else:
            self.conv0 = EqualConv2d(cin, cout, 3)
        self.layer0 = StyleLayer(cout, w_dim)
        self.conv1 = EqualConv2d(cout, cout, 3)
        self.layer1 = StyleLayer(cout, w_dim)

    def execute(self, x, w0, w1, noise0, noise1):
        if self.first:
            x = self.const.broadcast((w0.shape[0], *self.const.shape[1:]))
        else:
            x = self.conv0(upsample2(x))
            x = blur(x) if self.use_blur else x
        x = self.layer0(x, w0, noise0)
        return self.layer1(self.conv1(x), w1, noise1)


class StyleGenerator(nn.Module):
    """z (B, z_dim) -> images (B, 3, r, r), r = 4·2^level (default: the full resolution), about [-1, 1]."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.cfg = cfg
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.mapping = nn.ModuleList([EqualLinear(a, b, lr_mul=cfg.mapping_lr_mul) for a, b in zip(dims, dims[1:])])
        ch = cfg.channels
        self.blocks = nn.ModuleList([SynthesisBlock(ch[max(k - 1, 0)], ch[k], cfg.w_dim, k == 0, cfg.blur)
                                     for k in range(cfg.levels)])
        self.to_rgb = nn.ModuleList([EqualConv2d(c, 3, 1, gain=1.0) for c in ch])
        self.w_avg = jt.zeros(cfg.w_dim).stop_grad()   # tracked w̄: saved, never optimised

    @property
    def max_level(self) -> int:
        return self.cfg.levels - 1

    def map(self, z):
        """f: z (B, z_dim) -> w (B, w_dim)."""
        w = pixel_norm(z)
        for layer in self.mapping:
            w = lrelu(layer(w))
        return w

    def track_w_avg(self, w) -> None:
        """w̄ <- β w̄ + (1 - β) mean_batch(w) (training mode; the first code of a mixed pair only)."""
        with jt.no_grad():
            beta = self.cfg.w_avg_beta
            self.w_avg.update((beta * self.w_avg + (1 - beta) * w.detach().mean(dim=0)).stop_grad())

    def make_noise(self, batch: int, level: int | None = None) -> list:
        """Standard normal noise maps for every style layer up to `level`: 2 per level, (B,1,r,r)."""
        level = self.max_level if level is None else level
        return [jt.randn(batch, 1, 4 * 2**k, 4 * 2**k) for k in range(level + 1) for _ in range(2)]

    def styles(self, z, mix_z=None, crossover: int | None = None, psi: float = 1.0, layers: int | None = None):
        """Per-layer styles (list of `layers` (B, w_dim)): mixing (w(z) before crossover, w(mix_z)
        from it on), then truncation toward w̄ with ψ."""
        layers = 2 * self.cfg.levels if layers is None else layers
        w = self.map(z)
        if self.is_training():
            self.track_w_avg(w)
        ws = [w] * layers
        if mix_z is not None:
            w2 = self.map(mix_z)
            ws = [w if i < crossover else w2 for i in range(layers)]
        if psi != 1.0:
            ws = [self.w_avg + psi * (wi - self.w_avg) for wi in ws]
        return ws

    def synthesize(self, ws: list, level: int, alpha: float = 1.0, noise: list | None = None):
        """Styles -> image at `level`; alpha < 1 fades the level in over the upsampled previous one."""
        noise = self.make_noise(ws[0].shape[0], level) if noise is None else noise
        x = previous = None
        for k in range(level + 1):
            previous = x
            x = self.blocks[k](x, ws[2 * k], ws[2 * k + 1], noise[2 * k], noise[2 * k + 1])
        rgb = self.to_rgb[level](x)
        if level > 0 and alpha < 1.0:
            rgb = alpha * rgb + (1.0 - alpha) * upsample2(self.to_rgb[level - 1](previous))
        return rgb

    def execute(self, z, level: int | None = None, alpha: float = 1.0, psi: float = 1.0, mix_z=None,
                crossover: int | None = None, noise: list | None = None):
        level = self.max_level if level is None else level
        ws = self.styles(z, mix_z, crossover, psi, layers=2 * (level + 1))
        return self.synthesize(ws, level, alpha, noise)


# --- discriminator -----------------------------------------------------------------------------
class DiscBlock(nn.Module):
    """Level k > 0: conv3x3 C_k -> C_k, LReLU, [blur], conv3x3 C_k -> C_{k-1}, 2x average pool, LReLU."""

    def __init__(self, cin: int, cout: int, use_blur: bool):
        super().__init__()
        self.conv0, self.conv1, self.use_blur = EqualConv2d(cin, cin, 3), EqualConv2d(cin, cout, 3), use_blur

    def execute(self, x):
        x = lrelu(self.conv0(x))
        x = blur(x) if self.use_blur else x
        return lrelu(downsample2(self.conv1(x)))


class StyleDiscriminator(nn.Module):
    """images (B, 3, r, r) at `level` -> logits (B, 1); alpha < 1 fades the level's fromRGB in."""

    def __init__(self, cfg: StyleDiscConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.from_rgb = nn.ModuleList([EqualConv2d(3, c, 1) for c in ch])
        self.blocks = nn.ModuleList([DiscBlock(ch[k], ch[k - 1], cfg.blur) for k in range(1, len(ch))])
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0], 3)      # +1: the minibatch-stddev channel
        self.final_4x4 = EqualConv2d(ch[0], ch[0], 4, padding=0)
        self.fc = EqualLinear(ch[0], 1, gain=1.0)

    def execute(self, image, level: int | None = None, alpha: float = 1.0):
        level = len(self.cfg.channels) - 1 if level is None else level
        x = lrelu(self.from_rgb[level](image))
        for k in range(level, 0, -1):
            x = self.blocks[k - 1](x)
            if k == level and alpha < 1.0:
                skip = lrelu(self.from_rgb[k - 1](downsample2(image)))
                x = alpha * x + (1.0 - alpha) * skip
        x = lrelu(self.final_conv(minibatch_stddev(x, self.cfg.mbstd_group)))
        x = lrelu(self.final_4x4(x))
        return self.fc(x.reshape(x.shape[0], -1))
