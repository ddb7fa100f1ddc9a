"""The mask-conditioned denoising UNet of stage 2 (latent space of the VAE).

Conditioning routes, each named in `UNet.execute`:
- mask_onehot (B, 29, H, W) at any resolution, with mask_keep (B,) in {0, 1}: the 30-channel mask
  map (one-hot * keep, plus a "no mask" channel = 1 - keep, so the mask can be dropped for
  classifier-free guidance) is nearest-resized and concatenated to the input latents, and drives
  SPADE modulation in every decoder ResBlock (SDM, Wang et al. 2022);
- ref_tokens (B, N, D): cross-attention in the attention blocks (when ref_dim > 0; from `encode_ref`);
- ref_global (B, D): projected and added to the time embedding (when ref_dim > 0);
- control: ControlNet residuals, one per skip connection plus one for the middle block.
"""
from __future__ import annotations

from dataclasses import dataclass

from diffusion.blocks import (AttentionBlock, Downsample, ResBlock, Upsample, resize_nearest,
                              timestep_embedding, zero_module)
from diffusion.conditioning import RefEncoder
from lsgen import ops
from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

nn = jt.nn
MASK_CHANNELS = NUM_CLASSES + 1


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4               # latent channels of the VAE
    out_channels: int = 4
    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (2,)   # levels (0 = full latent resolution) with attention
    middle_attention: bool = True
    num_heads: int = 4
    groups: int = 8                    # GroupNorm groups; must divide every width
    dropout: float = 0.0
    mask_concat: bool = True           # route 1: mask map concatenated to the input
    mask_spade: bool = True            # route 2: SPADE modulation in the decoder
    spade_hidden: int = 64
    ref_dim: int = 0                   # > 0: reference encoder, cross-attention to ref_tokens and
                                       # ref_global added to the time embedding (diffusion/conditioning.py)
    ref_hist_bins: int = 4             # colour-histogram cells per channel of the reference statistics

    def __post_init__(self):
        widths = [self.base_channels * m for m in self.channel_mult]
        if any(w % self.groups for w in widths):
            raise ValueError(f"groups={self.groups} must divide every width {widths}")
        if any(not 0 <= lvl < len(self.channel_mult) for lvl in self.attention_levels):
            raise ValueError(f"attention_levels {self.attention_levels} outside 0..{len(self.channel_mult) - 1}")

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


def mask_map(mask_onehot, mask_keep, batch: int, size):
    """(B, 30, H, W): one-hot * keep and the "no mask" channel 1 - keep. None -> all dropped
    (then `size` is the map's (H, W))."""
    if mask_onehot is None:
        mask_onehot, mask_keep = jt.zeros((batch, NUM_CLASSES) + tuple(size)), jt.zeros(batch)
    keep = (jt.ones(batch) if mask_keep is None else mask_keep.float32()).reshape(-1, 1, 1, 1)
    no_mask = jt.ones_like(mask_onehot[:, :1]) * (1 - keep)
    return jt.concat([mask_onehot * keep, no_mask], dim=1)


class Stage(nn.Module):
    """One UNet entry: ResBlock, then optional attention, then optional down/upsampling."""

    def __init__(self, res=None, attn=None, down=None, up=None):
        super().__init__()
        self.res, self.attn, self.down, self.up = res, attn, down, up

    def execute(self, h, emb, mask_map, ref_tokens, out_size=None):
        if self.res is not None:
            h = self.res(h, emb, mask_map)
        if self.attn is not None:
            h = self.attn(h, ref_tokens)
        if self.down is not None:
            h = self.down(h)
        if self.up is not None:
            h = self.up(h, out_size)
        return h


class UNet(nn.Module):
    """Denoiser: (latents x_t, timesteps t, conditioning) -> ε or v, same shape as x_t."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        emb_dim = 4 * cfg.base_channels
        self.time_mlp = nn.Sequential(nn.Linear(cfg.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.ref_encoder = RefEncoder(cfg.ref_dim, cfg.ref_hist_bins) if cfg.ref_dim else None
        self.ref_global_proj = zero_module(nn.Linear(cfg.ref_dim, emb_dim)) if cfg.ref_dim else None
        in_ch = cfg.in_channels + (MASK_CHANNELS if cfg.mask_concat else 0)
        self.conv_in = nn.Conv2d(in_ch, cfg.base_channels, 3, padding=1)
        self.down, skip_channels = self._build_down(emb_dim)
        self.middle = self._build_middle(emb_dim, skip_channels[-1])
        self.up = self._build_up(emb_dim, skip_channels)
        self.norm_out = nn.GroupNorm(cfg.groups, cfg.base_channels)
        self.conv_out = zero_module(nn.Conv2d(cfg.base_channels, cfg.out_channels, 3, padding=1))

    def _attn(self, ch: int):
        return AttentionBlock(ch, self.cfg.num_heads, self.cfg.groups, self.cfg.ref_dim)

    def _res(self, in_ch: int, out_ch: int, emb_dim: int, decoder: bool = False):
        c = self.cfg
        spade = MASK_CHANNELS if decoder and c.mask_spade else 0
        return ResBlock(in_ch, out_ch, emb_dim, c.groups, c.dropout, spade, c.spade_hidden)

    def _build_down(self, emb_dim: int):
        c, ch = self.cfg, self.cfg.base_channels
        stages, skips = nn.ModuleList(), [ch]
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                stages.append(Stage(self._res(ch, c.base_channels * mult, emb_dim),
                                    self._attn(c.base_channels * mult) if level in c.attention_levels else None))
                ch = c.base_channels * mult
                skips.append(ch)
            if level < len(c.channel_mult) - 1:
                stages.append(Stage(down=Downsample(ch)))
                skips.append(ch)
        return stages, skips

    def _build_middle(self, emb_dim: int, ch: int):
        return nn.ModuleList([Stage(self._res(ch, ch, emb_dim), self._attn(ch) if self.cfg.middle_attention else None),
                              Stage(self._res(ch, ch, emb_dim, decoder=True))])

    def _build_up(self, emb_dim: int, skips: list[int]):
        c, skips = self.cfg, list(skips)
        ch, stages = skips[-1], nn.ModuleList()
        for level in reversed(range(len(c.channel_mult))):
            out_ch = c.base_channels * c.channel_mult[level]
            for i in range(c.num_res_blocks + 1):
                upsample = Upsample(out_ch) if level > 0 and i == c.num_res_blocks else None
                stages.append(Stage(self._res(ch + skips.pop(), out_ch, emb_dim, decoder=True),
                                    self._attn(out_ch) if level in c.attention_levels else None, up=upsample))
                ch = out_ch
        return stages

    def encode_ref(self, ref_image, ref_keep=None):
        """Reference photo (B, 3, H, W) in [-1, 1] (+ ref_keep (B,)) -> (ref_tokens, ref_global)."""
        if self.ref_encoder is None:
            raise ValueError("this UNet has no reference route (model.ref_dim = 0)")
        return self.ref_encoder(ref_image, ref_keep)

    def null_ref(self, batch: int):
        """(ref_tokens, ref_global) of 'no reference' (what a dropped reference becomes)."""
        encoder = self.ref_encoder
        tokens = encoder.null_tokens.broadcast((batch,) + tuple(encoder.null_tokens.shape[1:]))
        return tokens, jt.zeros((batch, self.cfg.ref_dim))

    def embed(self, t, ref_global=None):
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels))
        if self.ref_global_proj is not None and ref_global is not None:
            emb = emb + self.ref_global_proj(ref_global)
        return emb

    def execute(self, x, t, mask_onehot=None, mask_keep=None, ref_tokens=None, ref_global=None, control=None):
        """x (B, C, h, w) noisy latents; t (B,) timesteps; mask_onehot (B, 29, H, W) float; mask_keep
        (B,) 1 = use the mask, 0 = dropped; ref_tokens (B, N, D); ref_global (B, D); control: list of
        len(skips) + 1 residuals. Returns (B, out_channels, h, w)."""
        emb = self.embed(t, ref_global)
        masks = mask_map(mask_onehot, mask_keep, x.shape[0], x.shape[2:])
        h = jt.concat([x, resize_nearest(masks, x.shape[2:])], dim=1) if self.cfg.mask_concat else x
        h = self.conv_in(h)
        skips = [h]
        for stage in self.down:
            h = stage(h, emb, masks, ref_tokens)
            skips.append(h)
        for stage in self.middle:
            h = stage(h, emb, masks, ref_tokens)
        if control is not None:
            skips = [s + r for s, r in zip(skips, control[:-1])]
            h = h + control[-1]
        for stage in self.up:
            h = jt.concat([h, skips.pop()], dim=1)
            h = stage(h, emb, masks, ref_tokens, out_size=skips[-1].shape[2:] if skips else None)
        return self.conv_out(ops.group_norm(h, self.norm_out, silu=True))
