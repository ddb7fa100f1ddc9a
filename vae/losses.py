"""Losses of the KL autoencoder: L1 (+ MSE) + KL + optional LPIPS-style perceptual + hinge PatchGAN.

The recipe is the one of LDM's autoencoders (Rombach et al. 2022, app. G; Esser et al. 2021,
"VQGAN", sec. 3.1): L1 reconstruction, a small KL weight (1e-6), and a patch discriminator with
hinge loss that starts after `disc_start` updates and whose weight is adapted by the ratio of
gradient norms at the decoder's last layer (VQGAN eq. 7). An optional MSE term (`mse_weight`) is
what PSNR measures; the reconstruction term is l1_weight * L1 + mse_weight * MSE.

Scale convention: L1, MSE and the perceptual term are means over pixels; the KL is summed over the
latent dimensions of an image and divided by the image's number of elements (C*H*W), so
`kl_weight` has the meaning it has in LDM, where both terms are sums per image.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lsgen.checkpoint import check_compatible, read_arrays
from lsgen.runtime import jt

nn = jt.nn


@dataclass
class LossConfig:
    """The `loss` section of a VAE config."""
    kl_weight: float = 1e-6
    l1_weight: float = 1.0
    mse_weight: float = 0.0            # > 0 adds a mean squared error (what PSNR measures) to the L1
    disc_weight: float = 0.5           # multiplies the adaptive weight; 0 = no GAN term at all
    disc_start: int = 50001            # updates before the discriminator and its term switch on
    disc_channels: int = 64
    disc_layers: int = 3
    perceptual_weight: float = 1.0     # used only when perceptual_weights names a file
    perceptual_weights: str = ""       # LPIPS-style VGG16 weights (.safetensors, see PerceptualLoss)

    def __post_init__(self):
        for name in ("kl_weight", "l1_weight", "mse_weight", "disc_weight", "perceptual_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.l1_weight == 0 and self.mse_weight == 0:
            raise ValueError("l1_weight and mse_weight are both 0: no reconstruction term")
        if self.disc_layers < 1 or self.disc_channels < 1:
            raise ValueError("disc_layers and disc_channels must be >= 1")

    @property
    def uses_gan(self) -> bool:
        return self.disc_weight > 0


# --- reconstruction and KL ----------------------------------------------------------------
def l1_loss(recon, target):
    """Mean absolute error over all elements; recon/target (B,C,H,W)."""
    return (recon - target).abs().mean()


def mse_loss(recon, target):
    """Mean squared error over all elements; recon/target (B,C,H,W) in [-1,1]. PSNR on [-1,1]
    images is 10 log10(4 / MSE), so this is the term PSNR rewards."""
    return (recon - target).sqr().mean()


def kl_loss(posterior, images):
    """KL(q(z|x) || N(0,I)) summed per image, batch-averaged, divided by C*H*W of `images`."""
    elements = images.shape[1] * images.shape[2] * images.shape[3]
    return posterior.kl().mean() / elements


# --- adversarial --------------------------------------------------------------------------
def hinge_d_loss(logits_real, logits_fake):
    """Discriminator hinge loss (Lim & Ye 2017): 0.5 * (E[relu(1 - D(x))] + E[relu(1 + D(x_hat))])."""
    return 0.5 * (nn.relu(1.0 - logits_real).mean() + nn.relu(1.0 + logits_fake).mean())


def generator_loss(logits_fake):
    """Generator side of the hinge GAN: -E[D(x_hat)]."""
    return -logits_fake.mean()


def adaptive_weight(rec_loss, g_loss, last_layer, max_weight: float = 1e4, eps: float = 1e-4):
    """VQGAN eq. 7: lambda = ||grad_L rec|| / (||grad_L g|| + eps) at the decoder's last layer L,
    clamped to [0, max_weight] and detached (it scales the GAN term, it is not trained)."""
    rec_grad = jt.grad(rec_loss, last_layer, retain_graph=True)
    g_grad = jt.grad(g_loss, last_layer, retain_graph=True)
    weight = rec_grad.sqr().sum().sqrt() / (g_grad.sqr().sum().sqrt() + eps)
    return weight.clamp(0.0, max_weight).detach()


class PatchDiscriminator(nn.Module):
    """PatchGAN of pix2pix (Isola et al. 2017) as used by VQGAN/LDM: 4x4 convs, stride 2 for the
    first `n_layers`, BatchNorm + LeakyReLU(0.2). (B,in,H,W) -> logits (B,1,~H/2^n,~W/2^n)."""

    def __init__(self, in_channels: int = 3, channels: int = 64, n_layers: int = 3):
        super().__init__()
        layers = [nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, n_layers + 1):
            out = channels * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=False), nn.BatchNorm(out),
                       nn.LeakyReLU(0.2)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        for module in self.net:
            if isinstance(module, nn.Conv2d):
                module.weight.update(jt.randn(module.weight.shape) * 0.02)  # DCGAN init (Radford 2016)

    def execute(self, images):
        return self.net(images)


# --- perceptual ---------------------------------------------------------------------------
VGG16_STAGES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))  # torchvision feature indices
# LPIPS input normalisation (Zhang et al. 2018): ImageNet statistics expressed for [-1, 1] inputs
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


class PerceptualLoss(nn.Module):
    """LPIPS-style distance (Zhang et al. 2018, eq. 1) on VGG16 features; frozen, never downloaded.

    The weights file (safetensors) holds `features.{i}.weight/bias` for the 13 convs of VGG16 at
    torchvision's indices (0, 2, 5, ..., 28) and `lin{k}.weight` (1, C_k, 1, 1), k = 0..4, the
    non-negative per-channel weights of LPIPS. Layer widths are read from the file, so a slimmer
    VGG-shaped network works too. __call__(a, b) with a, b (B,3,H,W) in [-1,1] -> mean distance.
    """

    def __init__(self, arrays: dict, source: str = "perceptual weights"):
        super().__init__()
        self.source = source
        self.stages = nn.ModuleList()
        for stage in VGG16_STAGES:
            convs = nn.ModuleList()
            for index in stage:
                out_ch, conv_in = _shape_of(arrays, f"features.{index}.weight", source)[:2]
                convs.append(nn.Conv2d(conv_in, out_ch, 3, padding=1))
            self.stages.append(convs)
        self.lins = nn.ModuleList([nn.Conv2d(_stage_width(self.stages[k]), 1, 1, bias=False) for k in range(5)])
        check_compatible({k: tuple(v.shape) for k, v in self.state_dict().items()},
                         _rename_from_file(arrays), source)
        own = _rename_from_file(arrays)
        for name, var in self.state_dict().items():
            var.update(jt.array(own[name]).float32())
        for p in self.parameters():
            p.stop_grad()
        self._shift = jt.array(LPIPS_SHIFT).reshape(1, 3, 1, 1).stop_grad()
        self._scale = jt.array(LPIPS_SCALE).reshape(1, 3, 1, 1).stop_grad()

    @classmethod
    def from_file(cls, path: str | Path) -> "PerceptualLoss":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: perceptual weights file not found (loss.perceptual_weights)")
        return cls(read_arrays(path), source=str(path))

    def features(self, images) -> list:
        h = (images - self._shift) / self._scale
        taps = []
        for s, convs in enumerate(self.stages):
            if s > 0:
                h = nn.pool(h, 2, "maximum", stride=2)
            for conv in convs:
                h = nn.relu(conv(h))
            taps.append(h)
        return taps

    def execute(self, a, b):
        total = 0.0
        for fa, fb, lin in zip(self.features(a), self.features(b), self.lins):
            diff = (_unit_channels(fa) - _unit_channels(fb)).sqr()
            total = total + lin(diff).mean(dims=(1, 2, 3))
        return total.mean()


def _unit_channels(features, eps: float = 1e-10):
    return features / (features.sqr().sum(dim=1, keepdims=True).sqrt() + eps)


def _shape_of(arrays: dict, key: str, source: str) -> tuple:
    if key not in arrays:
        raise ValueError(f"{source}: missing key {key} (expected VGG16 features at torchvision indices)")
    return tuple(arrays[key].shape)


def _stage_width(convs) -> int:
    return convs[len(convs) - 1].weight.shape[0]


def _rename_from_file(arrays: dict) -> dict:
    """File keys (torchvision/LPIPS naming) -> this module's state_dict keys."""
    renamed = {}
    for s, stage in enumerate(VGG16_STAGES):
        for j, index in enumerate(stage):
            for part in ("weight", "bias"):
                key = f"features.{index}.{part}"
                if key in arrays:
                    renamed[f"stages.{s}.{j}.{part}"] = arrays[key]
    for k in range(5):
        if f"lin{k}.weight" in arrays:
            renamed[f"lins.{k}.weight"] = arrays[f"lin{k}.weight"]
    extra = [k for k in arrays if not (k.startswith("features.") or k.startswith("lin"))]
    for key in extra:
        renamed[key] = arrays[key]  # reported as unexpected by check_compatible
    return renamed


def build_perceptual(cfg: LossConfig) -> PerceptualLoss | None:
    """The perceptual term, or None (saying why once) when it is off."""
    if cfg.perceptual_weight <= 0:
        return None
    if not cfg.perceptual_weights:
        print("perceptual loss: off (loss.perceptual_weights names no file; nothing is downloaded)",
              file=sys.stderr)
        return None
    return PerceptualLoss.from_file(cfg.perceptual_weights)


# --- the two phases' objectives -----------------------------------------------------------
def autoencoder_loss(images, recon, posterior, cfg: LossConfig, step: int, last_layer,
                     disc: PatchDiscriminator | None = None, perceptual: PerceptualLoss | None = None) -> dict:
    """The autoencoder phase's loss and its logged terms.

    images, recon (B,3,H,W) in [-1,1]; posterior: DiagonalGaussian of `images`; last_layer: the
    decoder's output conv weight. The GAN term enters from `disc_start` on (LDM's adopt_weight).
    """
    terms = {"l1": l1_loss(recon, images)}
    rec = cfg.l1_weight * terms["l1"]
    if cfg.mse_weight > 0:
        terms["mse"] = mse_loss(recon, images)
        rec = rec + cfg.mse_weight * terms["mse"]
    if perceptual is not None:
        terms["perceptual"] = perceptual(recon, images)
        rec = rec + cfg.perceptual_weight * terms["perceptual"]
    terms["kl"] = kl_loss(posterior, images)
    loss = rec + cfg.kl_weight * terms["kl"]
    if disc is not None and cfg.uses_gan and step >= cfg.disc_start:
        g_loss = generator_loss(disc(recon))
        d_weight = adaptive_weight(rec, g_loss, last_layer) * cfg.disc_weight
        loss = loss + d_weight * g_loss
        terms.update(g_loss=g_loss, d_weight=d_weight)
    terms["loss"] = loss
    return terms


def discriminator_loss(disc: PatchDiscriminator, images, recon) -> dict:
    """The discriminator phase: hinge loss on real images vs detached reconstructions."""
    logits_real = disc(images)
    logits_fake = disc(recon.detach())
    return {"loss": hinge_d_loss(logits_real, logits_fake),
            "logits_real": logits_real.mean().detach(), "logits_fake": logits_fake.mean().detach()}
