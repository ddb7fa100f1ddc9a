"""PyTorch twins of the project's UNet (diffusion/unet.py) and AutoencoderKL (vae/model.py).

Benchmark-only: torch is a reference extra, never a runtime dependency. Module and parameter names
mirror the Jittor modules exactly, so `copy_weights(jittor_module, torch_module)` is a strict,
key-for-key copy of the state dict. Built from the same config dataclasses (UNetConfig, VAEConfig).
Attention uses torch's scaled_dot_product_attention (what a PyTorch user would write).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MASK_CHANNELS = 30
TOKEN_GRID = 4


def copy_weights(jt_module, torch_module) -> None:
    """Copy every Jittor parameter into the twin; key sets and shapes must match exactly."""
    src = {k: v.numpy() for k, v in jt_module.state_dict().items()}
    dst = torch_module.state_dict()
    if set(src) != set(dst):
        raise KeyError(f"state dicts differ: only jittor {sorted(set(src) - set(dst))[:5]}, "
                       f"only torch {sorted(set(dst) - set(src))[:5]}")
    torch_module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(a)).reshape(dst[k].shape)
                                  for k, a in src.items()}, strict=True)


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    half = dim // 2
    freqs = torch.from_numpy(np.exp(-math.log(max_period) * np.arange(half, dtype=np.float32) / half))
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return torch.cat([emb, torch.zeros(emb.shape[0], 1)], dim=1) if dim % 2 else emb


def resize_nearest(x, size):
    return x if tuple(x.shape[2:]) == tuple(size) else F.interpolate(x, size=tuple(size), mode="nearest")


class SPADE(nn.Module):
    def __init__(self, channels, groups, mask_channels, hidden):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(mask_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x, mask_map):
        features = self.shared(resize_nearest(mask_map, x.shape[2:]))
        return self.norm(x) * (1 + self.gamma(features)) + self.beta(features)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, emb_dim, groups, dropout, mask_channels=0, spade_hidden=64):
        super().__init__()
        self.spade = SPADE(in_ch, groups, mask_channels, spade_hidden) if mask_channels else None
        self.norm1 = None if mask_channels else nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb, mask_map=None):
        h = self.spade(x, mask_map) if self.spade is not None else self.norm1(x)
        h = self.conv1(F.silu(h))
        h = h + self.emb_proj(F.silu(emb)).reshape(emb.shape[0], -1, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


def attention(q, k, v, heads):
    b, n, c = q.shape
    m, d = k.shape[1], c // heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)
    k = k.reshape(b, m, heads, d).transpose(1, 2)
    v = v.reshape(b, m, heads, d).transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)


class CrossAttention(nn.Module):
    def __init__(self, channels, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, tokens, context):
        k, v = self.kv(context).chunk(2, dim=2)
        return self.proj(attention(self.q(self.norm(tokens)), k, v, self.heads))


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups, context_dim=0):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.cross = CrossAttention(channels, context_dim, heads) if context_dim else None

    def forward(self, x, context=None):
        b, c, h, w = x.shape
        tokens = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.qkv(tokens).chunk(3, dim=2)
        out = x.reshape(b, c, h * w).transpose(1, 2) + self.proj(attention(q, k, v, self.heads))
        if self.cross is not None and context is not None:
            out = out + self.cross(out, context)
        return out.transpose(1, 2).reshape(b, c, h, w)


class Down(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x, size=None):
        return self.conv(x)


class Up(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, size=None):
        return self.conv(resize_nearest(x, size) if size is not None else
                         F.interpolate(x, scale_factor=2, mode="nearest"))


class Stage(nn.Module):
    def __init__(self, res=None, attn=None, down=None, up=None):
        super().__init__()
        self.res, self.attn, self.down, self.up = res, attn, down, up

    def forward(self, h, emb, mask_map, ref_tokens, out_size=None):
        if self.res is not None:
            h = self.res(h, emb, mask_map)
        if self.attn is not None:
            h = self.attn(h, ref_tokens)
        if self.down is not None:
            h = self.down(h)
        if self.up is not None:
            h = self.up(h, out_size)
        return h


def color_statistics(ref_image, hist_bins=4):
    b = ref_image.shape[0]
    flat = ref_image.reshape(b, 3, -1)
    mean = flat.mean(dim=2)
    std = ((flat - mean.unsqueeze(2)) ** 2).mean(dim=2).sqrt()
    levels = ((flat + 1) * 0.5 * hist_bins).floor().clamp(0, hist_bins - 1).long()
    cell = (levels[:, 0] * hist_bins + levels[:, 1]) * hist_bins + levels[:, 2]
    counts = F.one_hot(cell, hist_bins**3).float().mean(dim=1)
    return torch.cat([mean, std, counts], dim=1).detach()


class RefEncoder(nn.Module):
    def __init__(self, dim, hist_bins=4, width=32):
        super().__init__()
        self.hist_bins = hist_bins
        self.convs = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(TOKEN_GRID)
        self.to_tokens = nn.Linear(2 * width, dim)
        self.stats_mlp = nn.Sequential(nn.Linear(6 + hist_bins**3 + 2 * width, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null_tokens = nn.Parameter(torch.zeros(1, TOKEN_GRID * TOKEN_GRID, dim))

    def forward(self, ref_image, ref_keep=None):
        b = ref_image.shape[0]
        features = self.convs(ref_image)
        tokens = self.to_tokens(self.pool(features).reshape(b, features.shape[1], -1).transpose(1, 2))
        stats = torch.cat([color_statistics(ref_image, self.hist_bins), features.mean(dim=(2, 3))], dim=1)
        ref_global = self.stats_mlp(stats)
        if ref_keep is None:
            return tokens, ref_global
        keep = ref_keep.float().reshape(b, 1, 1)
        tokens = tokens * keep + self.null_tokens * (1 - keep)
        return tokens, ref_global * keep.reshape(b, 1)


class UNet(nn.Module):
    """Twin of diffusion.unet.UNet (same constructor order, same names)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        emb_dim = 4 * cfg.base_channels
        self.time_mlp = nn.Sequential(nn.Linear(cfg.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.ref_encoder = RefEncoder(cfg.ref_dim, cfg.ref_hist_bins) if cfg.ref_dim else None
        self.ref_global_proj = nn.Linear(cfg.ref_dim, emb_dim) if cfg.ref_dim else None
        in_ch = cfg.in_channels + (MASK_CHANNELS if cfg.mask_concat else 0)
        self.conv_in = nn.Conv2d(in_ch, cfg.base_channels, 3, padding=1)
        self.down, skips = self._build_down(emb_dim)
        ch = skips[-1]
        self.middle = nn.ModuleList([Stage(self._res(ch, ch, emb_dim), self._attn(ch) if cfg.middle_attention else None),
                                     Stage(self._res(ch, ch, emb_dim, decoder=True))])
        self.up = self._build_up(emb_dim, skips)
        self.norm_out = nn.GroupNorm(cfg.groups, cfg.base_channels)
        self.conv_out = nn.Conv2d(cfg.base_channels, cfg.out_channels, 3, padding=1)

    def _attn(self, ch):
        return AttentionBlock(ch, self.cfg.num_heads, self.cfg.groups, self.cfg.ref_dim)

    def _res(self, in_ch, out_ch, emb_dim, decoder=False):
        c = self.cfg
        spade = MASK_CHANNELS if decoder and c.mask_spade else 0
        return ResBlock(in_ch, out_ch, emb_dim, c.groups, c.dropout, spade, c.spade_hidden)

    def _build_down(self, emb_dim):
        c, ch = self.cfg, self.cfg.base_channels
        stages, skips = nn.ModuleList(), [ch]
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                stages.append(Stage(self._res(ch, c.base_channels * mult, emb_dim),
                                    self._attn(c.base_channels * mult) if level in c.attention_levels else None))
                ch = c.base_channels * mult
                skips.append(ch)
            if level < len(c.channel_mult) - 1:
                stages.append(Stage(down=Down(ch)))
                skips.append(ch)
        return stages, skips

    def _build_up(self, emb_dim, skips):
        c, skips = self.cfg, list(skips)
        ch, stages = skips[-1], nn.ModuleList()
        for level in reversed(range(len(c.channel_mult))):
            out_ch = c.base_channels * c.channel_mult[level]
            for i in range(c.num_res_blocks + 1):
                upsample = Up(out_ch) if level > 0 and i == c.num_res_blocks else None
                stages.append(Stage(self._res(ch + skips.pop(), out_ch, emb_dim, decoder=True),
                                    self._attn(out_ch) if level in c.attention_levels else None, up=upsample))
                ch = out_ch
        return stages

    def mask_map(self, mask_onehot, mask_keep, batch):
        keep = (torch.ones(batch) if mask_keep is None else mask_keep.float()).reshape(-1, 1, 1, 1)
        no_mask = torch.ones_like(mask_onehot[:, :1]) * (1 - keep)
        return torch.cat([mask_onehot * keep, no_mask], dim=1)

    def encode_ref(self, ref_image, ref_keep=None):
        return self.ref_encoder(ref_image, ref_keep)

    def forward(self, x, t, mask_onehot=None, mask_keep=None, ref_tokens=None, ref_global=None):
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels))
        if self.ref_global_proj is not None and ref_global is not None:
            emb = emb + self.ref_global_proj(ref_global)
        mask_map = self.mask_map(mask_onehot, mask_keep, x.shape[0])
        h = torch.cat([x, resize_nearest(mask_map, x.shape[2:])], dim=1) if self.cfg.mask_concat else x
        h = self.conv_in(h)
        skips = [h]
        for stage in self.down:
            h = stage(h, emb, mask_map, ref_tokens)
            skips.append(h)
        for stage in self.middle:
            h = stage(h, emb, mask_map, ref_tokens)
        for stage in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            h = stage(h, emb, mask_map, ref_tokens, out_size=skips[-1].shape[2:] if skips else None)
        return self.conv_out(F.silu(self.norm_out(h)))


# ---- VAE twin (vae/model.py) ----

class ResnetBlock(nn.Module):
    def __init__(self, in_channels, out_channels, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=1e-6)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=1e-6)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3 * c, h * w).chunk(3, dim=1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None],
                                             v.transpose(1, 2)[:, None])[:, 0]
        return x + self.proj(out.transpose(1, 2).reshape(b, c, h, w))


class MidBlock(nn.Module):
    def __init__(self, channels, cfg):
        super().__init__()
        self.res1 = ResnetBlock(channels, channels, cfg.norm_groups, cfg.dropout)
        self.attn = AttnBlock(channels, cfg.norm_groups) if cfg.mid_attention else nn.Identity()
        self.res2 = ResnetBlock(channels, channels, cfg.norm_groups, cfg.dropout)

    def forward(self, x):
        return self.res2(self.attn(self.res1(x)))


class Level(nn.Module):
    def __init__(self, widths, resample, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([ResnetBlock(a, b, cfg.norm_groups, cfg.dropout)
                                     for a, b in zip(widths[:-1], widths[1:])])
        self.resample = resample if resample is not None else nn.Identity()

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.resample(x)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        widths, n = cfg.level_channels, cfg.num_res_blocks
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        ins = (widths[0],) + widths[:-1]
        self.levels = nn.ModuleList([Level([ins[i]] + [widths[i]] * n, Down(widths[i]) if i < last else None, cfg)
                                     for i in range(len(widths))])
        self.mid = MidBlock(widths[-1], cfg)
        self.norm_out = nn.GroupNorm(cfg.norm_groups, widths[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        widths, n = cfg.level_channels, cfg.num_res_blocks
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[-1], 3, padding=1)
        self.mid = MidBlock(widths[-1], cfg)
        order = list(range(len(widths)))[::-1]
        ins = [widths[-1]] + [widths[i] for i in order[:-1]]
        self.levels = nn.ModuleList([Level([ins[j]] + [widths[i]] * (n + 1), Up(widths[i]) if i > 0 else None, cfg)
                                     for j, i in enumerate(order)])
        self.norm_out = nn.GroupNorm(cfg.norm_groups, widths[0], eps=1e-6)
        self.conv_out = nn.Conv2d(widths[0], cfg.in_channels, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in self.levels:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """Twin of vae.model.AutoencoderKL; forward(images, noise) uses the given noise for sampling."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)
        self.decoder = Decoder(cfg)

    def encode(self, images):
        mean, logvar = self.quant_conv(self.encoder(images)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, latents):
        return self.decoder(self.post_quant_conv(latents))
