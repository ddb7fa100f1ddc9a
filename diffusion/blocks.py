"""Building blocks of the denoising UNet (and of the ControlNet, which reuses them).

Conventions: feature maps (B, C, h, w); `emb` is the time (+ global conditioning) embedding
(B, E); `mask_map` is the 30-channel mask input (29 one-hot classes + the "no mask" channel)
at any resolution, resized here with nearest neighbour.
"""
from __future__ import annotations

import math

import numpy as np

from lsgen import ops
from lsgen.runtime import jt
from vae.model import Downsample  # noqa: F401 - the UNet's strided-conv downsampling is the VAE's

nn = jt.nn


def zero_module(module):
    """Zero-initialise a module's weights: new residual paths start as the identity."""
    for p in module.parameters():
        p.assign(jt.zeros_like(p))
    return module


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    """Sinusoidal embedding (Vaswani et al. 2017, §3.5) of t (B,) -> (B, dim), any batch size."""
    half = dim // 2
    freqs = jt.array(np.exp(-math.log(max_period) * np.arange(half, dtype=np.float32) / half))
    args = t.float32().reshape(-1, 1) * freqs.reshape(1, -1)
    emb = jt.concat([jt.cos(args), jt.sin(args)], dim=1)
    return jt.concat([emb, jt.zeros((emb.shape[0], 1))], dim=1) if dim % 2 else emb


def resize_nearest(x, size: tuple[int, int]):
    """Nearest-neighbour resize of (B, C, h, w) to `size` (masks stay exact one-hots)."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return nn.interpolate(x, size=list(size), mode="nearest")


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019, eq. 1): param-free GroupNorm, then
    γ, β predicted per pixel from the mask: out = norm(x) * (1 + γ) + β."""

    def __init__(self, channels: int, groups: int, mask_channels: int, hidden: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(mask_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = zero_module(nn.Conv2d(hidden, channels, 3, padding=1))
        self.beta = zero_module(nn.Conv2d(hidden, channels, 3, padding=1))

    def execute(self, x, mask_map, silu: bool = False):
        """silu=True returns silu(SPADE(x)) from one fused kernel (lsgen.ops)."""
        features = self.shared(resize_nearest(mask_map, x.shape[2:]))
        return ops.group_norm_modulate(x, self.norm, self.gamma(features), self.beta(features), silu)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, + embedding, GroupNorm-SiLU-dropout-conv, + skip (DDPM's block).

    With mask_channels > 0 the first norm is SPADE (used in the decoder).
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float,
                 mask_channels: int = 0, spade_hidden: int = 64):
        super().__init__()
        self.spade = SPADE(in_ch, groups, mask_channels, spade_hidden) if mask_channels else None
        self.norm1 = None if mask_channels else nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_module(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def execute(self, x, emb, mask_map=None):
        h = self.spade(x, mask_map, silu=True) if self.spade is not None else ops.group_norm(x, self.norm1, silu=True)
        h = self.conv1(h)
        h = h + self.emb_proj(nn.silu(emb)).reshape(emb.shape[0], -1, 1, 1)
        h = self.conv2(self.dropout(ops.group_norm(h, self.norm2, silu=True)))
        return self.skip(x) + h


def attention(q, k, v, heads: int):
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1). q (B,N,C), k/v (B,M,C) -> (B,N,C).
    Fused oneDNN kernel on CPU; the plain formulation is `lsgen.ops.attention_plain`."""
    return ops.attention(q, k, v, heads)


class AttentionBlock(nn.Module):
    """Self-attention over the h*w positions, then (if context_dim) cross-attention to tokens."""

    def __init__(self, channels: int, heads: int, groups: int, context_dim: int = 0):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels {channels} not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = zero_module(nn.Linear(channels, channels))
        self.cross = CrossAttention(channels, context_dim, heads) if context_dim else None

    def execute(self, x, context=None):
        b, c, h, w = x.shape
        tokens = ops.group_norm(x, self.norm).reshape(b, c, h * w).transpose(0, 2, 1)
        q, k, v = jt.chunk(self.qkv(tokens), 3, dim=2)
        out = x.reshape(b, c, h * w).transpose(0, 2, 1) + self.proj(attention(q, k, v, self.heads))
        if self.cross is not None and context is not None:
            out = out + self.cross(out, context)
        return out.transpose(0, 2, 1).reshape(b, c, h, w)


class CrossAttention(nn.Module):
    """Attend from image tokens (B,N,C) to context tokens (B,M,D); output projection zero-init."""

    def __init__(self, channels: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = zero_module(nn.Linear(channels, channels))

    def execute(self, tokens, context):
        k, v = jt.chunk(self.kv(context), 2, dim=2)
        return self.proj(attention(self.q(self.norm(tokens)), k, v, self.heads))


class Upsample(nn.Module):
    """Nearest x2 to exactly the skip's size (odd sizes round-trip), then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def execute(self, x, size):
        return self.conv(resize_nearest(x, size))
