"""TSIT generator (Jiang et al. 2020, "TSIT: A Simple and Versatile Framework for Image-to-Image
Translation", ECCV; seeds.md §1) with its style stream ON.

Two symmetric streams of residual blocks extract multi-scale features: the content stream from the
29-channel one-hot mask (values 0/1), the style stream from the reference photo in [-1, 1]. Level
k of a stream is at (H, W)/2^k, width `channels[k]`; between levels the features are halved by
NEAREST downsampling (PyTorch upstream's interpolate default; the Jittor seed's was bilinear).
The generator starts from a 3x3 conv of the mask resized to (H, W)/2^U (U = len(channels) - 1) and
runs, for k = U..1: FAdaIN with the style features of level k, a FADE ResBlk conditioned on the
content features of level k (TSIT's two feature transformations), nearest ×2. Then LeakyReLU,
3x3 conv, tanh at (H, W). Level 0 of the streams is computed (it feeds level 1) but, as upstream,
not injected.

The seed forced `no_ss` (no style stream) and used a 255-channel "one-hot"; both are fixed here.
The style stream defaults to batch norm, not TSIT's instance norm: instance norm + LeakyReLU makes
every level's per-channel mean/std — exactly what FAdaIN transfers — nearly image-independent
(measured on synth-bench refs at init: the spread of channel means across images is 2-12% of their
size with instance norm, 32-61% without it). `style_norm = "instance"` restores upstream.
Without a reference (ref_image=None) FAdaIN is skipped: the content-only path, which training
(always with the photo as its own reference) never exercises — sample with a reference.
"""
from __future__ import annotations

from dataclasses import dataclass

from lsgen.data.classes import NUM_CLASSES
from lsgen.runtime import jt

from gan.discriminators import init_normal
from gan.spade import resize_nearest, upsample2
from gan.spectral import maybe_sn, norm_layer

nn = jt.nn
ADAIN_EPS = 1e-5


@dataclass
class TSITConfig:
    label_nc: int = NUM_CLASSES
    channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 1024, 1024, 1024)  # stream width per level 0..U
    height: int = 384                  # (H, W) must be divisible by 2^U; 512x384 -> 4x3 at level 7
    width: int = 512
    norm: str = "batch"                # FADE's parameter-free norm (TSIT: sync batch norm)
    stream_norm: str = "instance"      # the content stream's norm (TSIT norm_S = spectral instance)
    style_norm: str = "batch"          # the style stream's norm; see the module docstring
    spectral: bool = True              # spectral norm on the stream and FADE ResBlk convs
    style_stream: bool = True          # False = the seed's content-only TSIT (ablation)
    alpha: float = 1.0                 # FAdaIN blend α·FAdaIN(x, s) + (1 - α)·x (TSIT's fadain_alpha)

    def __post_init__(self):
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ValueError("tsit.channels needs >= 2 positive widths (levels 0..U)")
        m = 2 ** self.levels
        if self.height % m or self.width % m:
            raise ValueError(f"tsit: {self.width}x{self.height} is not divisible by 2^(len(channels)-1) = {m}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"tsit.alpha must be in [0, 1], got {self.alpha}")

    @property
    def levels(self) -> int:
        """U: the number of ×2 upsamplings (and of FADE ResBlks)."""
        return len(self.channels) - 1

    @property
    def start_size(self) -> tuple[int, int]:
        m = 2 ** self.levels
        return self.height // m, self.width // m


def channel_stats(x, eps: float = ADAIN_EPS):
    """Per-sample, per-channel mean and std over H, W of (B,C,H,W): each (B,C,1,1);
    std = sqrt(biased variance + eps)."""
    mean = x.mean(dims=(2, 3), keepdims=True)
    var = (x - mean).sqr().mean(dims=(2, 3), keepdims=True)
    return mean, (var + eps).sqrt()


def fadain(x, style, eps: float = ADAIN_EPS):
    """FAdaIN (TSIT: AdaIN, Huang & Belongie 2017, eq. 8, on stream feature maps):
    σ(s)·(x − μ(x))/σ(x) + μ(s). x (B,C,H,W) generator features, style (B,C,h,w) style-stream
    features of the same level (any spatial size)."""
    mean_x, std_x = channel_stats(x, eps)
    mean_s, std_s = channel_stats(style, eps)
    return std_s * (x - mean_x) / std_x + mean_s


class StreamBlock(nn.Module):
    """TSIT StreamResnetBlock: two conv3x3-norm-LReLU(0.2), fmiddle = fin; the learned shortcut
    (fin != fout) is conv1x1-norm-LReLU."""

    def __init__(self, fin: int, fout: int, norm: str, spectral: bool):
        super().__init__()
        affine = norm != "instance"                # TSIT: instance without, batch with affine
        self.conv_0 = maybe_sn(nn.Conv2d(fin, fin, 3, padding=1), spectral)
        self.conv_1 = maybe_sn(nn.Conv2d(fin, fout, 3, padding=1), spectral)
        self.norm_0 = norm_layer(norm, fin, affine=affine)
        self.norm_1 = norm_layer(norm, fout, affine=affine)
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.conv_s = maybe_sn(nn.Conv2d(fin, fout, 1, bias=False), spectral)
            self.norm_s = norm_layer(norm, fout, affine=affine)

    def execute(self, x):
        skip = nn.leaky_relu(self.norm_s(self.conv_s(x)), 0.2) if self.learned_shortcut else x
        dx = nn.leaky_relu(self.norm_0(self.conv_0(x)), 0.2)
        dx = nn.leaky_relu(self.norm_1(self.conv_1(dx)), 0.2)
        return skip + dx


class Stream(nn.Module):
    """(B, in_channels, H, W) -> [level 0 (B,channels[0],H,W), ..., level U (B,channels[U],H/2^U,W/2^U)]."""

    def __init__(self, in_channels: int, cfg: TSITConfig, norm: str):
        super().__init__()
        widths = [in_channels, *cfg.channels]
        self.blocks = nn.ModuleList([StreamBlock(widths[i], widths[i + 1], norm, cfg.spectral)
                                     for i in range(len(cfg.channels))])

    def execute(self, x) -> list:
        feats = []
        for i, block in enumerate(self.blocks):
            if i > 0:
                x = resize_nearest(x, (x.shape[2] // 2, x.shape[3] // 2))
            x = block(x)
            feats.append(x)
        return feats


class FADE(nn.Module):
    """FADE (TSIT; SPADE eq. 1 with a feature map for the mask): norm(x)·(1 + γ(f)) + β(f), γ and β
    single 3x3 convs of the content-stream feature f of the same level (no shared hidden layer)."""

    def __init__(self, channels: int, feat_channels: int, cfg: TSITConfig):
        super().__init__()
        self.norm = norm_layer(cfg.norm, channels, affine=False)
        self.gamma = nn.Conv2d(feat_channels, channels, 3, padding=1)
        self.beta = nn.Conv2d(feat_channels, channels, 3, padding=1)

    def execute(self, x, feat):
        return self.norm(x) * (1 + self.gamma(feat)) + self.beta(feat)


class FADEResBlock(nn.Module):
    """TSIT FADEResnetBlock: two FADE-LReLU-conv3x3 (fmiddle = fin), learned FADE-conv1x1 shortcut
    when fin != fout. The content feature has fin channels."""

    def __init__(self, fin: int, fout: int, cfg: TSITConfig):
        super().__init__()
        self.norm_0, self.conv_0 = FADE(fin, fin, cfg), maybe_sn(nn.Conv2d(fin, fin, 3, padding=1), cfg.spectral)
        self.norm_1, self.conv_1 = FADE(fin, fin, cfg), maybe_sn(nn.Conv2d(fin, fout, 3, padding=1), cfg.spectral)
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.norm_s = FADE(fin, fin, cfg)
            self.conv_s = maybe_sn(nn.Conv2d(fin, fout, 1, bias=False), cfg.spectral)

    def execute(self, x, feat):
        skip = self.conv_s(self.norm_s(x, feat)) if self.learned_shortcut else x
        dx = self.conv_0(nn.leaky_relu(self.norm_0(x, feat), 0.2))
        dx = self.conv_1(nn.leaky_relu(self.norm_1(dx, feat), 0.2))
        return skip + dx


class TSITGenerator(nn.Module):
    """mask_onehot (B,29,H,W) 0/1 [+ ref_image (B,3,H,W) in [-1,1]] -> image (B,3,H,W) in [-1,1]."""

    def __init__(self, cfg: TSITConfig):
        super().__init__()
        self.cfg = cfg
        c, u = cfg.channels, cfg.levels
        self.content_stream = Stream(cfg.label_nc, cfg, cfg.stream_norm)
        self.style_stream = Stream(3, cfg, cfg.style_norm) if cfg.style_stream else None
        self.fc = nn.Conv2d(cfg.label_nc, c[u], 3, padding=1)
        self.blocks = nn.ModuleList([FADEResBlock(c[k], c[k - 1], cfg) for k in range(u, 0, -1)])
        self.conv_img = nn.Conv2d(c[0], 3, 3, padding=1)
        init_normal(self)

    def style_features(self, ref_image) -> list | None:
        """Style-stream features of a reference (None without a reference or a style stream)."""
        if ref_image is None or self.style_stream is None:
            return None
        return self.style_stream(ref_image)

    def execute(self, mask_onehot, ref_image=None):
        cfg = self.cfg
        content = self.content_stream(mask_onehot)
        style = self.style_features(ref_image)
        x = self.fc(resize_nearest(mask_onehot, cfg.start_size))
        for i, block in enumerate(self.blocks):
            level = cfg.levels - i
            if style is not None:
                t = fadain(x, style[level])
                x = t if cfg.alpha == 1.0 else cfg.alpha * t + (1.0 - cfg.alpha) * x
            x = upsample2(block(x, content[level]))
        return jt.tanh(self.conv_img(nn.leaky_relu(x, 0.2)))
