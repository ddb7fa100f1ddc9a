"""A compact SegFormer-style segmenter: the judge of mask accuracy (Xie et al. 2021, "SegFormer").

Encoder (Mix Transformer): four stages, each an overlapping patch embedding (strided conv whose
kernel overlaps its neighbours, sec. 3.1) followed by transformer blocks of efficient self-attention
(keys/values spatially reduced by a strided conv of ratio R, eq. 2) and Mix-FFN (MLP with a 3x3
depthwise conv that supplies positional information instead of positional encodings, eq. 3).
Decoder (all-MLP, eq. 4): project every stage to one width, upsample to the first stage's
resolution, concatenate, fuse, classify.

Options beyond SegFormer (their defaults build the original judge, so its checkpoints load):
- `input_norm="standardise"`: each image's channels are standardised over its pixels before the
  encoder, removing a style's global exposure and tint (on synth-bench: +3 points of val accuracy
  after 450 updates);
- `refine_hidden > 0`: a residual refinement of the logits at stride 2 guided by the image
  (LogitRefiner) instead of upsampling the stride-4 logits directly. Why: on synth-bench's labels,
  ideal class-fraction logits at stride 4 upsampled bilinearly reach only 0.975 pixel accuracy
  (0.993 at stride 2), a ceiling the stride-4 head cannot pass (+10% CPU per step; neutral after
  450 updates, 0.731 vs 0.737; configs/segmenter/small-v4.json uses it); `refine_layers` = 2 and a
  wider `refine_hidden` (small-v5.json: +0.8 points of val accuracy over v4 in 30 CPU-minutes);
  `refine_full_res` (small-v6.json) measured no gain;
- `drop_path > 0`: stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth"), as in
  SegFormer's training recipe: while training, each residual branch of a transformer block is
  dropped for a whole image with a probability rising linearly over the blocks from 0 to
  `drop_path`, and kept branches are scaled by 1/(1-p); the identity at evaluation;
- `fuse_by_sum`: the decoder's concatenation and fusing 1x1 conv replaced by their equal, a sum of
  per-stage projections (Segmenter.decode; the same functions, 12% of a v13 training step less);
- `flip_test`: the judge (evaluation.judge.Judge) predicts from the mean of the logits of the image
  and of its horizontal mirror (test-time flip augmentation; training is unchanged). Stored in the
  config so that a judge checkpoint alone fixes how it scores;
- `shift_test`: the judge also averages the logits of the image shifted by (dy, dx) in {-s, 0, s}^2
  for each listed step s (reflect padding, logits shifted back; evaluation.judge.averaged_logits):
  test-time shift augmentation, which smooths the stride-4 encoder's dependence on where an edge
  falls on its grid. One forward pass per view (x2 with flip_test).

Images enter as (B, 3, H, W) in [-1, 1]; logits leave as (B, num_classes, H, W) (upsampled
bilinearly from the classifier's resolution).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

nn = jt.nn
KIND = "segmenter"
INPUT_NORMS = ("none", "standardise")


@dataclass
class SegmenterConfig:
    num_classes: int = NUM_CLASSES
    widths: tuple[int, ...] = (32, 64, 160, 256)       # channels per stage (MiT-B0)
    depths: tuple[int, ...] = (2, 2, 2, 2)             # transformer blocks per stage
    heads: tuple[int, ...] = (1, 2, 5, 8)
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)          # key/value spatial reduction per stage
    strides: tuple[int, ...] = (4, 2, 2, 2)            # patch-embedding stride per stage
    mlp_ratio: int = 4
    decoder_width: int = 256
    dropout: float = 0.1                               # before the classifier
    refine_hidden: int = 0                             # > 0: residual logit refinement at stride 2 (LogitRefiner)
    refine_layers: int = 1                             # 3x3 conv-BN-ReLU layers mixing logits and image in the refiner
    refine_full_res: bool = False                      # the refiner's image stem starts with a full-resolution conv
    input_norm: str = "none"                           # none | standardise (see Segmenter.prepare)
    flip_test: bool = False                            # the judge averages the logits of the image and its mirror
    drop_path: float = 0.0                             # stochastic depth of the last block (linear from 0)
    shift_test: tuple[int, ...] = ()                   # test-time shift steps (judge), () = none
    fuse_by_sum: bool = False                          # decoder: per-stage projections summed (see Segmenter.decode)

    def __post_init__(self):
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {self.input_norm!r}")
        if any(int(step) != step or step < 1 for step in self.shift_test):
            raise ValueError(f"shift_test steps must be positive integers, got {self.shift_test}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {self.drop_path}")
        if self.refine_layers < 1:
            raise ValueError(f"refine_layers must be >= 1, got {self.refine_layers}")
        lengths = {len(v) for v in (self.widths, self.depths, self.heads, self.sr_ratios, self.strides)}
        if len(lengths) != 1:
            raise ValueError("widths, depths, heads, sr_ratios and strides must have one entry per stage")
        for width, heads in zip(self.widths, self.heads):
            if width % heads:
                raise ValueError(f"stage width {width} is not divisible by its {heads} heads")


@functools.lru_cache(maxsize=32)
def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of 1-D bilinear resampling with align_corners=False, exactly as
    Jittor's nn.interpolate computes them (source coordinate (i + 0.5) n_in / n_out - 0.5, clamped to
    [0, n_in - 1] when enlarging)."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    if n_out > n_in:
        src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    frac = src - lo
    matrix = np.zeros((n_out, n_in + 1), np.float64)
    np.add.at(matrix, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), lo + 1), frac)
    return matrix[:, :n_in].astype(np.float32)


def resize_bilinear(x, size):
    """(B, C, h, w) -> (B, C, H, W): nn.interpolate(x, size, "bilinear", align_corners=False) computed
    as two matrix products R_h X R_w^T. Same values; Jittor's gather-based interpolate took ~20% of
    a training step on CPU."""
    b, c, h, w = x.shape
    out_h, out_w = int(size[0]), int(size[1])
    if (h, w) == (out_h, out_w):
        return x
    rows = jt.array(_bilinear_matrix(out_h, h))
    cols = jt.array(_bilinear_matrix(out_w, w))
    x = jt.matmul(x.reshape(b * c * h, w), cols.transpose())                      # (B*C*h, W)
    x = x.reshape(b * c, h, out_w).transpose(0, 2, 1).reshape(b * c * out_w, h)
    x = jt.matmul(x, rows.transpose())                                            # (B*C*W, H)
    return x.reshape(b, c, out_w, out_h).transpose(0, 1, 3, 2)


class PatchEmbed(nn.Module):
    """Overlapping patch embedding: conv (kernel 2s-1, stride s) then LayerNorm.
    (B, Cin, H, W) -> tokens (B*H'*W', C) with H' = ceil(H/s), W' = ceil(W/s)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        kernel = 2 * stride - 1
        self.proj = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.norm = nn.LayerNorm(cout)

    def execute(self, x):
        x = self.proj(x)
        b, c, h, w = x.shape
        return self.norm(x.transpose(0, 2, 3, 1).reshape(b * h * w, c)), (b, h, w)


def tokens_to_map(tokens, shape):
    """(B*H*W, C) -> (B, C, H, W)."""
    b, h, w = shape
    return tokens.reshape(b, h, w, -1).transpose(0, 3, 1, 2)


def map_to_tokens(x):
    b, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(b * h * w, c)


class EfficientAttention(nn.Module):
    """Multi-head self-attention whose keys/values come from a map reduced R times per side
    (SegFormer eq. 2): cost O(N^2 / R^2) instead of O(N^2)."""

    def __init__(self, width: int, heads: int, sr_ratio: int):
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(width, width, sr_ratio, stride=sr_ratio)
            self.sr_norm = nn.LayerNorm(width)

    def execute(self, tokens, shape):
        b, h, w = shape
        c = tokens.shape[1]
        d = c // self.heads
        q = self.q(tokens).reshape(b, h * w, self.heads, d).transpose(0, 2, 1, 3)
        source = tokens
        if self.sr_ratio > 1:
            source = self.sr_norm(map_to_tokens(self.sr(tokens_to_map(tokens, shape))))
        m = source.shape[0] // b
        kv = self.kv(source).reshape(b, m, 2, self.heads, d).transpose(2, 0, 3, 1, 4)
        attn = nn.softmax(jt.matmul(q, kv[0].transpose(0, 1, 3, 2)) * self.scale, dim=-1)
        out = jt.matmul(attn, kv[1]).transpose(0, 2, 1, 3).reshape(b * h * w, c)
        return self.proj(out)


class MixFFN(nn.Module):
    """Linear -> 3x3 depthwise conv -> GELU -> Linear (SegFormer eq. 3)."""

    def __init__(self, width: int, ratio: int):
        super().__init__()
        hidden = width * ratio
        self.fc1 = nn.Linear(width, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, width)

    def execute(self, tokens, shape):
        x = self.dwconv(tokens_to_map(self.fc1(tokens), shape))
        return self.fc2(nn.gelu(map_to_tokens(x)))


def drop_path(branch, batch: int, p: float):
    """Stochastic depth of a residual branch (B*N, C): each image's rows are zeroed with probability
    p, kept rows scaled by 1/(1-p) so the expectation is unchanged."""
    keep = (jt.rand(batch, 1, 1) >= p).float32() / (1.0 - p)
    return (branch.reshape(batch, -1, branch.shape[-1]) * keep).reshape(branch.shape)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + ffn(norm(x)); with `drop_path` > 0
    each branch is dropped per image while training (stochastic depth)."""

    def __init__(self, width: int, heads: int, sr_ratio: int, mlp_ratio: int, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = EfficientAttention(width, heads, sr_ratio)
        self.norm2 = nn.LayerNorm(width)
        self.ffn = MixFFN(width, mlp_ratio)
        self.drop_prob = drop_path

    def _residual(self, branch, shape):
        if self.drop_prob > 0 and self.is_training():
            return drop_path(branch, shape[0], self.drop_prob)
        return branch

    def execute(self, tokens, shape):
        tokens = tokens + self._residual(self.attn(self.norm1(tokens), shape), shape)
        return tokens + self._residual(self.ffn(self.norm2(tokens), shape), shape)


def drop_path_rates(cfg: SegmenterConfig) -> list[list[float]]:
    """Per stage, the stochastic-depth probability of each block: linear from 0 (first block of the
    network) to cfg.drop_path (last block), SegFormer's schedule."""
    total = sum(cfg.depths)
    rates = np.linspace(0.0, cfg.drop_path, total) if total > 1 else np.full(total, cfg.drop_path)
    bounds = np.cumsum((0, *cfg.depths))
    return [[float(r) for r in rates[lo:hi]] for lo, hi in zip(bounds[:-1], bounds[1:])]


class Stage(nn.Module):
    def __init__(self, cin: int, cfg: SegmenterConfig, i: int):
        super().__init__()
        width = cfg.widths[i]
        self.embed = PatchEmbed(cin, width, cfg.strides[i])
        self.blocks = nn.ModuleList([Block(width, cfg.heads[i], cfg.sr_ratios[i], cfg.mlp_ratio, rate)
                                     for rate in drop_path_rates(cfg)[i]])
        self.norm = nn.LayerNorm(width)

    def execute(self, x):
        tokens, shape = self.embed(x)
        for block in self.blocks:
            tokens = block(tokens, shape)
        return tokens_to_map(self.norm(tokens), shape)


def conv_bn_relu(cin: int, cout: int, stride: int = 1):
    """3x3 conv (no bias), BatchNorm, ReLU: (B, cin, H, W) -> (B, cout, ceil(H/stride), ceil(W/stride))."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class LogitRefiner(nn.Module):
    """Residual refinement of the classifier's logits at stride 2, guided by the image: a strided conv
    of the image (with `full_res`, a stride-1 conv first, so that edges are seen at the image's own
    resolution) and the bilinearly upsampled logits -> `layers` conv_bn_relu -> 3x3 conv, added to
    the upsampled logits. The last conv starts at zero, so training starts from the unrefined logits.
    logits (B, K, h, w), images (B, 3, H, W) -> (B, K, ceil(H/2), ceil(W/2))."""

    def __init__(self, num_classes: int, hidden: int, layers: int = 1, full_res: bool = False):
        super().__init__()
        self.stem = (nn.Sequential(conv_bn_relu(3, hidden), conv_bn_relu(hidden, hidden, stride=2)) if full_res
                     else conv_bn_relu(3, hidden, stride=2))
        mixers = [conv_bn_relu(num_classes + hidden, hidden)] + [conv_bn_relu(hidden, hidden) for _ in range(layers - 1)]
        self.mix = mixers[0] if layers == 1 else nn.Sequential(*mixers)
        self.out = nn.Conv2d(hidden, num_classes, 3, padding=1)
        self.out.weight.assign(jt.zeros_like(self.out.weight))
        self.out.bias.assign(jt.zeros_like(self.out.bias))

    def execute(self, logits, images):
        stem = self.stem(images)
        up = resize_bilinear(logits, stem.shape[2:])
        return up + self.out(self.mix(jt.concat([up, stem], dim=1)))


class Segmenter(nn.Module):
    """SegFormer-style segmenter built from a SegmenterConfig (see the module docstring)."""

    def __init__(self, cfg: SegmenterConfig):
        super().__init__()
        self.cfg = cfg
        cins = (3, *cfg.widths[:-1])
        self.stages = nn.ModuleList([Stage(cin, cfg, i) for i, cin in enumerate(cins)])
        dw = cfg.decoder_width
        self.lateral = nn.ModuleList([nn.Conv2d(width, dw, 1, bias=not cfg.fuse_by_sum) for width in cfg.widths])
        fuse_conv = [] if cfg.fuse_by_sum else [nn.Conv2d(dw * len(cfg.widths), dw, 1, bias=False)]
        self.fuse = nn.Sequential(*fuse_conv, nn.BatchNorm2d(dw), nn.ReLU())
        self.dropout = nn.Dropout(cfg.dropout)
        self.classify = nn.Conv2d(dw, cfg.num_classes, 1)
        self.refiner = (LogitRefiner(cfg.num_classes, cfg.refine_hidden, cfg.refine_layers, cfg.refine_full_res)
                        if cfg.refine_hidden else None)

    def prepare(self, images):
        """(B, 3, H, W) in [-1, 1] -> the encoder's input (B, 3, H, W): the images ("none") or each
        image's channels standardised to zero mean and unit variance over its pixels ("standardise":
        removes the global exposure and tint of a style; values then roughly in [-5, 5])."""
        if self.cfg.input_norm == "none":
            return images
        centred = images - images.mean(dims=(2, 3), keepdims=True)
        return centred / (centred.sqr().mean(dims=(2, 3), keepdims=True) + 1e-4).sqrt()

    def encode(self, images) -> list:
        """(B, 3, H, W) in [-1, 1] -> the stage maps (B, C_i, H/s_i, W/s_i)."""
        feats, x = [], self.prepare(images)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def decode(self, feats, images=None):
        """Stage maps (and the images, needed by a refiner) -> logits (B, num_classes, h, w): at the
        first stage's resolution, at half the image's with a refiner.

        SegFormer's fusion (eq. 4) is a 1x1 conv F of the concatenated upsampled projections L_i f_i.
        Both maps are linear and bilinear upsampling commutes with 1x1 convs (and keeps constants), so
        F [up(L_i f_i + b_i)]_i = sum_i up(F_i L_i f_i) + const, the const absorbed by the BatchNorm.
        `fuse_by_sum` trains that form directly: one projection per stage, computed at the stage's own
        resolution, summed; the same function class without the 4*dw -> dw conv at stride 4."""
        size = feats[0].shape[2:]
        ups = [resize_bilinear(lat(f), size) for lat, f in zip(self.lateral, feats)]
        fused = sum(ups[1:], ups[0]) if self.cfg.fuse_by_sum else jt.concat(ups[::-1], dim=1)
        logits = self.classify(self.dropout(self.fuse(fused)))
        if self.refiner is not None:
            if images is None:
                raise ValueError("a segmenter with a logit refiner decodes from the images too")
            logits = self.refiner(logits, images)
        return logits

    @staticmethod
    def _to_image_size(logits, images):
        return resize_bilinear(logits, images.shape[2:])

    def analyse(self, images):
        """(B, 3, H, W) in [-1, 1] -> logits (B, num_classes, H, W) and pooled features
        (B, sum(widths)) from one encoder pass."""
        feats = self.encode(images)
        pooled = jt.concat([f.mean(dims=(2, 3)) for f in feats], dim=1)
        return self._to_image_size(self.decode(feats, images), images), pooled

    def execute(self, images):
        """(B, 3, H, W) in [-1, 1] -> logits (B, num_classes, H, W)."""
        return self._to_image_size(self.decode(self.encode(images), images), images)

    def pooled_features(self, images):
        """(B, 3, H, W) in [-1, 1] -> (B, sum(widths)): spatial means of the four stage maps,
        the feature space of FD-seg, KID-seg and diversity."""
        return jt.concat([f.mean(dims=(2, 3)) for f in self.encode(images)], dim=1)
