"""KL-regularised convolutional autoencoder (stage 1 of latent diffusion).

Architecture after Rombach et al. 2022 (LDM), appendix G: a ResNet encoder that halves the
resolution between levels, a middle of ResNet + single-head self-attention + ResNet at the lowest
resolution, and a mirrored decoder with nearest-neighbour upsampling. The encoder predicts the mean
and log-variance of a diagonal Gaussian posterior q(z|x) over (C, H/f, W/f) latents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsgen import ops
from lsgen.runtime import jt

nn = jt.nn
LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite in fp32 (LDM clamps the same way)


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


class Downsample(nn.Module):
    """Strided 3x3 conv: (B,C,H,W) -> (B,C,H/2,W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def execute(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest x2 then 3x3 conv: (B,C,H,W) -> (B,C,2H,2W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def execute(self, x):
        b, c, h, w = x.shape
        x = x.reindex([b, c, 2 * h, 2 * w], ["i0", "i1", "i2/2", "i3/2"])
        return self.conv(x)


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
        widths, n = cfg.level_channels, cfg.num_res_blocks
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        ins = (widths[0],) + widths[:-1]
        self.levels = nn.ModuleList([
            Level([ins[i]] + [widths[i]] * n, Downsample(widths[i]) if i < last else None, cfg)
            for i in range(len(widths))])
        self.mid = MidBlock(widths[-1], cfg)
        self.norm_out = _norm(widths[-1], cfg.norm_groups)
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg.latent_channels, 3, padding=1)

    def execute(self, x):
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        return self.conv_out(ops.group_norm(self.mid(h), self.norm_out, silu=True))


class Decoder(nn.Module):
    """(B, latent, h, w) -> (B, in, h*f, w*f) images (unbounded; trained towards [-1, 1])."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths, n = cfg.level_channels, cfg.num_res_blocks
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[-1], 3, padding=1)
        self.mid = MidBlock(widths[-1], cfg)
        order = list(range(len(widths)))[::-1]
        ins = [widths[-1]] + [widths[i] for i in order[:-1]]
        self.levels = nn.ModuleList([
            Level([ins[j]] + [widths[i]] * (n + 1), Upsample(widths[i]) if i > 0 else None, cfg)
            for j, i in enumerate(order)])
        self.norm_out = _norm(widths[0], cfg.norm_groups)
        self.conv_out = nn.Conv2d(widths[0], cfg.in_channels, 3, padding=1)

    def execute(self, z):
        h = self.mid(self.conv_in(z))
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
        self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)
        self.decoder = Decoder(cfg)

    @property
    def last_layer(self):
        """The decoder's output conv weight: where the adaptive GAN weight compares gradients."""
        return self.decoder.conv_out.weight

    def encode(self, images) -> DiagonalGaussian:
        check_input(images, self.cfg.in_channels, self.cfg.downsample_factor, "images")
        return DiagonalGaussian(self.quant_conv(self.encoder(images)))

    def decode(self, latents):
        check_input(latents, self.cfg.latent_channels, 1, "latents")
        return self.decoder(self.post_quant_conv(latents))

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
