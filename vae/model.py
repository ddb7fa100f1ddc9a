"""KL-regularised convolutional autoencoder (stage 1 of latent diffusion).

Architecture after Rombach et al. 2022 (LDM), appendix G: a ResNet encoder that halves the
resolution between levels, a middle of ResNet + single-head self-attention + ResNet at the lowest
resolution, and a mirrored decoder with nearest-neighbour upsampling. The encoder predicts the mean
and log-variance of a diagonal Gaussian posterior q(z|x) over (C, H/f, W/f) latents.

`VAEConfig.residual_shortcuts` adds DC-AE's residual autoencoding (Chen et al. 2024, "Deep
Compression Autoencoder", sec. 3.1): every resampling block and both ends of the bottleneck learn a
residual over a parameter-free path (space-to-channel + channel averaging down, channel duplication
+ channel-to-space up), so an untrained network already passes a coarse image through.

`VAEConfig.patch_path` adds a linear autoencoder of f x f patches beside the deep networks: the
posterior mean is W_e s2c(x) + b_e + encoder(x) and the reconstruction c2s(W_d z + b_d) + decoder(z)
(s2c/c2s: space-to-channel / channel-to-space by f; W_e, W_d: 1x1 convs). Training initialises
W_e, W_d from the principal components of training patches (vae.patch_pca, whitened: each latent
channel starts with unit variance) and both deep networks' output convs at zero, so training starts
from the PCA autoencoder and learns a non-linear residual over it. Why: on synth256 at f=8 the
32-component patch PCA is 8.5 dB above bicubic x8, while the deep `small-c32` network reached only
+3.3 dB after 45 CPU-minutes of training from a random start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsgen import ops
from lsgen.runtime import jt

nn = jt.nn
LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite in fp32 (LDM clamps the same way)
PATCH_PATH_LOGVAR_INIT = -10.0


@dataclass(frozen=True)
class VAEConfig:
    """Everything that determines an AutoencoderKL's shapes (saved in every checkpoint).

    Downsampling factor f = 2 ** (len(channel_mult) - 1); level i has base_channels *
    channel_mult[i] channels and num_res_blocks ResNet blocks (num_res_blocks + 1 in the decoder).
    """
    in_channels: int = 3
    latent_channels: int = 4
    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    norm_groups: int = 32
    mid_attention: bool = True
    dropout: float = 0.0
    # DC-AE residual autoencoding: non-parametric shortcuts around every resampler and the
    # bottleneck; resamplers then change the width (level i -> i+1), and the 1x1 quant convs go
    residual_shortcuts: bool = False
    # a linear f x f patch autoencoder beside the deep networks, PCA-initialised by training (see above)
    patch_path: bool = False

    def __post_init__(self):
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"channel_mult must be a non-empty list of positive ints, got {self.channel_mult}")
        for width in self.level_channels:
            if width % self.norm_groups:
                raise ValueError(f"norm_groups={self.norm_groups} does not divide level width {width}")
        if min(self.in_channels, self.latent_channels, self.num_res_blocks) < 1:
            raise ValueError("in_channels, latent_channels and num_res_blocks must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.residual_shortcuts:
            self._check_shortcut_widths()

    def _check_shortcut_widths(self) -> None:
        """The shortcuts average or duplicate whole channel groups: widths must divide evenly."""
        widths = self.level_channels
        # width a -> b at half resolution: 4a channels averaged in groups (down) or b duplicated to 4a (up)
        pairs = [(4 * a, b, "resampling") for a, b in zip(widths[:-1], widths[1:])]
        pairs += [(widths[-1], self.latent_channels, "bottleneck")]
        for big, small, where in pairs:
            if big % small:
                raise ValueError(f"residual_shortcuts: {where} shortcut needs {small} channels to divide {big} "
                                 f"(widths {widths}, latent_channels {self.latent_channels})")

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def level_channels(self) -> tuple[int, ...]:
        return tuple(self.base_channels * m for m in self.channel_mult)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))) over (B, C, h, w); built from the encoder's 2C channels."""

    def __init__(self, moments):
        self.mean, logvar = jt.chunk(moments, 2, dim=1)
        self.logvar = logvar.clamp(*LOGVAR_RANGE)
        self.std = (0.5 * self.logvar).exp()

    def sample(self):
        """Reparameterised sample mean + std * eps (Kingma & Welling 2014, eq. 10)."""
        return self.mean + self.std * jt.randn(self.mean.shape, dtype=self.mean.dtype)

    def mode(self):
        return self.mean

    def kl(self):
        """KL(q || N(0, I)) per sample, summed over (C, h, w) -> (B,). Kingma & Welling 2014, app. B:
        KL = 0.5 * sum(mean^2 + var - 1 - logvar)."""
        terms = self.mean.sqr() + self.logvar.exp() - 1.0 - self.logvar
        return 0.5 * terms.reshape(terms.shape[0], -1).sum(dim=1)


def _norm(channels: int, groups: int):
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    """GN-SiLU-conv3x3 twice with a residual (1x1 conv when the width changes). (B,Cin,H,W)->(B,Cout,H,W)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def execute(self, x):
        h = self.conv1(ops.group_norm(x, self.norm1, silu=True))
        h = self.conv2(self.dropout(ops.group_norm(h, self.norm2, silu=True)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h*w positions, residual. (B,C,h,w)->(B,C,h,w)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def execute(self, x):
        b, c, h, w = x.shape
        q, k, v = jt.chunk(self.qkv(ops.group_norm(x, self.norm)).reshape(b, 3 * c, h * w), 3, dim=1)
        # Vaswani et al. 2017, eq. 1: softmax(Q K^T / sqrt(d)) V, tokens = spatial positions
        out = ops.attention_channels_first(q, k, v)
        return x + self.proj(out.reshape(b, c, h, w))


# --- DC-AE residual autoencoding (Chen et al. 2024, sec. 3.1): the parameter-free paths ----------
def space_to_channel(x, r: int = 2):
    """Pixel unshuffle, (B,C,H,W) -> (B,C*r*r,H/r,W/r): channel c*r*r + i*r + j holds pixel
    (r*y + i, r*x + j) of channel c. The inverse of channel_to_space (and of nn.PixelShuffle)."""
    b, c, h, w = x.shape
    return x.reindex([b, c * r * r, h // r, w // r],
                     ["i0", f"i1/{r * r}", f"i2*{r}+i1%{r * r}/{r}", f"i3*{r}+i1%{r}"])


def channel_to_space(x, r: int = 2):
    """Pixel shuffle, (B,C*r*r,H,W) -> (B,C,H*r,W*r), with nn.PixelShuffle's channel order."""
    b, c, h, w = x.shape
    return x.reindex([b, c // (r * r), h * r, w * r], ["i0", f"i1*{r * r}+i2%{r}*{r}+i3%{r}", f"i2/{r}", f"i3/{r}"])


def channel_average(x, channels: int):
    """(B,C,H,W) -> (B,channels,H,W): output channel k is the mean of input channels
    k*g .. k*g+g-1, g = C / channels (DC-AE's channel averaging)."""
    b, c, h, w = x.shape
    return x.reshape(b, channels, c // channels, h, w).mean(dim=2)


def channel_repeat(x, channels: int):
    """(B,C,H,W) -> (B,channels,H,W): every input channel repeated channels/C times in a row
    (DC-AE's channel duplication; numpy's np.repeat along axis 1)."""
    b, c, h, w = x.shape
    return x.reindex([b, channels, h, w], ["i0", f"i1/{channels // c}", "i2", "i3"])


def down_shortcut(x, channels: int):
    """(B,C,H,W) -> (B,channels,H/2,W/2): space-to-channel x2, then channel averaging."""
    return channel_average(space_to_channel(x, 2), channels)


def up_shortcut(x, channels: int):
    """(B,C,H,W) -> (B,channels,2H,2W): channel duplication to 4*channels, then channel-to-space x2."""
    return channel_to_space(channel_repeat(x, 4 * channels), 2)


class Downsample(nn.Module):
    """Strided 3x3 conv: (B,C,H,W) -> (B,out,H/2,W/2), out = C unless given; with `shortcut`,
    plus down_shortcut(x) (DC-AE)."""

    def __init__(self, channels: int, out_channels: int | None = None, shortcut: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.shortcut = shortcut
        self.conv = nn.Conv2d(channels, self.out_channels, 3, stride=2, padding=1)

    def execute(self, x):
        h = self.conv(x)
        return h + down_shortcut(x, self.out_channels) if self.shortcut else h


class Upsample(nn.Module):
    """Nearest x2 then 3x3 conv: (B,C,H,W) -> (B,out,2H,2W), out = C unless given; with
    `shortcut`, plus up_shortcut(x) (DC-AE)."""

    def __init__(self, channels: int, out_channels: int | None = None, shortcut: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.shortcut = shortcut
        self.conv = nn.Conv2d(channels, self.out_channels, 3, padding=1)

    def execute(self, x):
        b, c, h, w = x.shape
        out = self.conv(x.reindex([b, c, 2 * h, 2 * w], ["i0", "i1", "i2/2", "i3/2"]))
        return out + up_shortcut(x, self.out_channels) if self.shortcut else out


class MidBlock(nn.Module):
    """ResNet, self-attention (optional), ResNet at the lowest resolution."""

    def __init__(self, channels: int, cfg: VAEConfig):
        super().__init__()
        self.res1 = ResnetBlock(channels, channels, cfg.norm_groups, cfg.dropout)
        self.attn = AttnBlock(channels, cfg.norm_groups) if cfg.mid_attention else nn.Identity()
        self.res2 = ResnetBlock(channels, channels, cfg.norm_groups, cfg.dropout)

    def execute(self, x):
        return self.res2(self.attn(self.res1(x)))


class Level(nn.Module):
    """One resolution of the encoder or decoder: ResNet blocks, then an optional resampler."""

    def __init__(self, widths: list[int], resample: nn.Module | None, cfg: VAEConfig):
        super().__init__()
        self.blocks = nn.ModuleList([ResnetBlock(a, b, cfg.norm_groups, cfg.dropout)
                                     for a, b in zip(widths[:-1], widths[1:])])
        self.resample = resample if resample is not None else nn.Identity()

    def execute(self, x):
        for block in self.blocks:
            x = block(x)
        return self.resample(x)


class Encoder(nn.Module):
    """(B,in,H,W) -> (B, 2*latent, H/f, W/f): posterior moments (mean, logvar)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths, n, residual = cfg.level_channels, cfg.num_res_blocks, cfg.residual_shortcuts
        self.latent_channels = cfg.latent_channels
        # with a patch path the PCA latent is the mean's base; DC-AE's averaged features would scramble it
        self.shortcut = residual and not cfg.patch_path
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        # with shortcuts the downsampler moves to the next width; otherwise the next level's first block does
        ins = widths if residual else (widths[0],) + widths[:-1]
        self.levels = nn.ModuleList([
            Level([ins[i]] + [widths[i]] * n, self._down(widths, i, residual), cfg) for i in range(len(widths))])
        self.mid = MidBlock(widths[-1], cfg)
        self.norm_out = _norm(widths[-1], cfg.norm_groups)
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg.latent_channels, 3, padding=1)

    @staticmethod
    def _down(widths: tuple[int, ...], i: int, residual: bool) -> Downsample | None:
        if i == len(widths) - 1:
            return None
        return Downsample(widths[i], widths[i + 1], shortcut=True) if residual else Downsample(widths[i])

    def execute(self, x):
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        h = self.mid(h)
        moments = self.conv_out(ops.group_norm(h, self.norm_out, silu=True))
        if not self.shortcut:
            return moments
        # DC-AE's bottleneck shortcut: the mean is a residual over the channel-averaged features
        mean, logvar = jt.chunk(moments, 2, dim=1)
        return jt.concat([mean + channel_average(h, self.latent_channels), logvar], dim=1)


class Decoder(nn.Module):
    """(B, latent, h, w) -> (B, in, h*f, w*f) images (unbounded; trained towards [-1, 1])."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths, n, residual = cfg.level_channels, cfg.num_res_blocks, cfg.residual_shortcuts
        self.width, self.shortcut = widths[-1], residual
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[-1], 3, padding=1)
        self.mid = MidBlock(widths[-1], cfg)
        order = list(range(len(widths)))[::-1]
        ins = [widths[i] for i in order] if residual else [widths[-1]] + [widths[i] for i in order[:-1]]
        self.levels = nn.ModuleList([
            Level([ins[j]] + [widths[i]] * (n + 1), self._up(widths, i, residual), cfg)
            for j, i in enumerate(order)])
        self.norm_out = _norm(widths[0], cfg.norm_groups)
        self.conv_out = nn.Conv2d(widths[0], cfg.in_channels, 3, padding=1)

    @staticmethod
    def _up(widths: tuple[int, ...], i: int, residual: bool) -> Upsample | None:
        if i == 0:
            return None
        return Upsample(widths[i], widths[i - 1], shortcut=True) if residual else Upsample(widths[i])

    def execute(self, z):
        h = self.conv_in(z)
        if self.shortcut:  # DC-AE's bottleneck shortcut: a residual over the duplicated latent channels
            h = h + channel_repeat(z, self.width)
        h = self.mid(h)
        for level in self.levels:
            h = level(h)
        return self.conv_out(ops.group_norm(h, self.norm_out, silu=True))


class AutoencoderKL(nn.Module):
    """encode: images (B,in,H,W) in [-1,1], H and W divisible by f -> DiagonalGaussian over
    (B,latent,H/f,W/f). decode: latents (B,latent,h,w) -> images (B,in,h*f,w*f), ~[-1,1].

    Latents here are unscaled; the diffusion stage multiplies them by the checkpoint's
    `latent_scale` (vae.latents) and divides before decode.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        if cfg.residual_shortcuts or cfg.patch_path:  # a random 1x1 mix would scramble the shortcut's latent
            self.quant_conv, self.post_quant_conv = nn.Identity(), nn.Identity()
        else:
            self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
            self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)
        self.decoder = Decoder(cfg)
        if cfg.patch_path:
            patch = cfg.in_channels * cfg.downsample_factor ** 2
            self.patch_encode = nn.Conv2d(patch, cfg.latent_channels, 1)
            self.patch_decode = nn.Conv2d(cfg.latent_channels, patch, 1)
            self._zero_deep_outputs()

    def _zero_deep_outputs(self) -> None:
        """Deep networks start as zero residuals over the patch path; the posterior starts nearly
        deterministic (std e^-5, small against unit-variance PCA latents)."""
        enc_out, dec_out = self.encoder.conv_out, self.decoder.conv_out
        enc_bias = np.zeros(enc_out.bias.shape, np.float32)
        enc_bias[self.cfg.latent_channels:] = PATCH_PATH_LOGVAR_INIT
        enc_out.weight.assign(jt.zeros_like(enc_out.weight))
        enc_out.bias.assign(jt.array(enc_bias))
        dec_out.weight.assign(jt.zeros_like(dec_out.weight))
        dec_out.bias.assign(jt.zeros_like(dec_out.bias))

    @property
    def last_layer(self):
        """The decoder's output conv weight: where the adaptive GAN weight compares gradients."""
        return self.decoder.conv_out.weight

    def encode(self, images) -> DiagonalGaussian:
        check_input(images, self.cfg.in_channels, self.cfg.downsample_factor, "images")
        moments = self.quant_conv(self.encoder(images))
        if self.cfg.patch_path:
            mean, logvar = jt.chunk(moments, 2, dim=1)
            mean = mean + self.patch_encode(space_to_channel(images, self.cfg.downsample_factor))
            moments = jt.concat([mean, logvar], dim=1)
        return DiagonalGaussian(moments)

    def decode(self, latents):
        check_input(latents, self.cfg.latent_channels, 1, "latents")
        images = self.decoder(self.post_quant_conv(latents))
        if self.cfg.patch_path:
            images = images + channel_to_space(self.patch_decode(latents), self.cfg.downsample_factor)
        return images

    def execute(self, images, sample: bool = True):
        """Reconstruct: returns (reconstruction (B,in,H,W), posterior)."""
        posterior = self.encode(images)
        return self.decode(posterior.sample() if sample else posterior.mode()), posterior


def check_input(x, channels: int, multiple: int, what: str) -> None:
    """One-line ValueError unless x is (B, channels, H, W) with H, W divisible by `multiple`."""
    shape = tuple(x.shape)
    if len(shape) != 4:
        raise ValueError(f"{what}: expected a (B,{channels},H,W) array, got shape {shape}")
    if shape[1] != channels:
        raise ValueError(f"{what}: expected {channels} channels, got {shape[1]} (shape {shape})")
    if shape[2] % multiple or shape[3] % multiple:
        raise ValueError(f"{what}: height and width must be divisible by {multiple}, got {shape[2]}x{shape[3]} (HxW)")


def count_parameters(module) -> int:
    return int(sum(np.prod(p.shape) for p in module.parameters() if not p.is_stop_grad()))
