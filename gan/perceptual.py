"""Feature-matching ("perceptual") loss of pix2pixHD/SPADE on a frozen backbone.

L = Σ_k w_k · mean|φ_k(x̂) − φ_k(x)| over the backbone's feature taps φ_k, deepest weighted most
(Wang et al. 2018, pix2pixHD sec. 3.2; SPADE uses λ_vgg = 10). Two backbones:
- the project's own segmenter (the default): its four encoder stage maps, w = (1/8, 1/4, 1/2, 1).
  Its definition lives in `evaluation/`, which `gan/` must not import, so the training script
  loads the checkpoint named by `loss.perceptual_weights` and passes the network in
  (`SegmenterBackbone`: the network, any module with `encode(images) -> list of maps`, and its size).
- VGG19 from a user file: a safetensors file with torchvision's `features.{i}.weight/bias` keys
  (i = 0, 2, 5, ..., 28; the convs up to conv5_1); taps relu1_1 ... relu5_1, w = (1/32, 1/16,
  1/8, 1/4, 1). Inputs in [-1, 1] are mapped to [0, 1] and normalised with the ImageNet statistics
  torchvision's weights were trained with (SPADE fed [-1, 1] unnormalised).
Nothing is downloaded; without a file the term is off. The log says which backbone is used.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lsgen.checkpoint import check_compatible, read_arrays
from lsgen.runtime import jt

nn = jt.nn
VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)   # torchvision indices up to conv5_1
VGG19_POOL_BEFORE = (5, 10, 19, 28)                              # a 2x2 max-pool precedes these convs
VGG19_TAPS = (0, 5, 10, 19, 28)                                  # reluK_1 follows these convs
TAP_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """__call__(fake, real) with (B,3,H,W) in [-1,1] -> scalar Σ_k w_k·mean|φ_k(fake) − φ_k(real)|.
    Subclasses define `features(images) -> list` and `tap_weights`; the real's features carry
    no gradient, and the backbone's parameters never train."""

    tap_weights: tuple = ()
    source: str = ""

    def features(self, images) -> list:
        raise NotImplementedError

    def execute(self, fake, real):
        with jt.no_grad():
            real_feats = [f.detach() for f in self.features(real)]
        fake_feats = self.features(fake)
        if len(fake_feats) != len(self.tap_weights):
            raise ValueError(f"{self.source}: {len(fake_feats)} feature maps, {len(self.tap_weights)} tap weights")
        total = 0.0
        for w, f, r in zip(self.tap_weights, fake_feats, real_feats):
            total = total + w * (f - r).abs().mean()
        return total


@dataclass
class SegmenterBackbone:
    """A project segmenter for the perceptual loss, loaded by the caller: the network (any module
    with `encode(images (B,3,H,W) in [-1,1]) -> list of maps`), the (H, W) it was trained at, and
    where it came from (for the log)."""
    network: nn.Module
    size: tuple[int, int]
    source: str


class SegmenterPerceptualLoss(PerceptualLoss):
    """The project segmenter's encoder as the backbone: its stage maps (shallow to deep), weighted
    2^-(K-1-k). Images of another size are resized (bilinear) to the segmenter's training size,
    so its features keep their scale (and a progressive GAN's 24x32 stage still has a stride-32
    map). The network is put in eval mode and frozen."""

    def __init__(self, backbone: SegmenterBackbone):
        super().__init__()
        backbone.network.eval()
        for p in backbone.network.parameters():
            p.stop_grad()
        self.backbone, self.size, self.source = backbone.network, tuple(backbone.size), backbone.source
        depth = len(self.features(jt.zeros((1, 3, *self.size))))
        self.tap_weights = tuple(2.0 ** (k - depth + 1) for k in range(depth))

    def train(self):
        return self    # the backbone's BatchNorm/dropout stay in eval mode inside a training G

    def features(self, images) -> list:
        if tuple(images.shape[2:]) != self.size:
            images = nn.interpolate(images, size=list(self.size), mode="bilinear", align_corners=False)
        return list(self.backbone.encode(images))


class VGGPerceptualLoss(PerceptualLoss):
    """Frozen VGG19 trunk up to relu5_1 (see the module docstring)."""

    tap_weights = TAP_WEIGHTS

    def __init__(self, arrays: dict, source: str):
        super().__init__()
        expected = {}
        self.convs = nn.ModuleList()
        for index in VGG19_CONVS:
            key = f"features.{index}.weight"
            if key not in arrays:
                raise ValueError(f"{source}: missing {key} (expected torchvision VGG19 `features.*` keys)")
            out_ch, in_ch = arrays[key].shape[:2]
            self.convs.append(nn.Conv2d(int(in_ch), int(out_ch), 3, padding=1))
            expected[key] = (int(out_ch), int(in_ch), 3, 3)
            expected[f"features.{index}.bias"] = (int(out_ch),)
        trunk = {k: v for k, v in arrays.items()
                 if k.startswith("features.") and int(k.split(".")[1]) <= VGG19_CONVS[-1]}
        check_compatible(expected, trunk, source)  # later layers and the classifier may be present
        for conv, index in zip(self.convs, VGG19_CONVS):
            conv.weight.update(jt.array(arrays[f"features.{index}.weight"]).float32())
            conv.bias.update(jt.array(arrays[f"features.{index}.bias"]).float32())
        for p in self.parameters():
            p.stop_grad()
        self.source = source
        self._mean = jt.array(IMAGENET_MEAN).reshape(1, 3, 1, 1).stop_grad()
        self._std = jt.array(IMAGENET_STD).reshape(1, 3, 1, 1).stop_grad()

    def features(self, images) -> list:
        h = ((images + 1) * 0.5 - self._mean) / self._std
        taps = []
        for conv, index in zip(self.convs, VGG19_CONVS):
            if index in VGG19_POOL_BEFORE:
                h = nn.pool(h, 2, "maximum", stride=2)
            h = nn.relu(conv(h))
            if index in VGG19_TAPS:
                taps.append(h)
        return taps


def build_perceptual(weight: float, weights_file: str,
                     segmenter: SegmenterBackbone | None = None) -> PerceptualLoss | None:
    """The perceptual term or None; prints (once, to stderr) which backbone is used or why none.

    segmenter: the project segmenter loaded (by the caller) from `weights_file` when that file is
    a segmenter checkpoint; otherwise the file must hold VGG19 weights."""
    if weight <= 0:
        print("perceptual loss: off (loss.perceptual_weight = 0)", file=sys.stderr)
        return None
    if segmenter is not None:
        print(f"perceptual loss: project segmenter from {segmenter.source} (encoder stages, at "
              f"{segmenter.size[1]}x{segmenter.size[0]})", file=sys.stderr)
        return SegmenterPerceptualLoss(segmenter)
    if not weights_file:
        print("perceptual loss: off (loss.perceptual_weights names no file: give a segmenter checkpoint of "
              "scripts/train_segmenter.py, the default backbone, or VGG19 weights; nothing is downloaded)",
              file=sys.stderr)
        return None
    path = Path(weights_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: perceptual weights file not found (loss.perceptual_weights)")
    print(f"perceptual loss: VGG19 from {path}", file=sys.stderr)
    return VGGPerceptualLoss(read_arrays(path), str(path))
