"""VGG19 feature-matching ("perceptual") loss of pix2pixHD/SPADE, from a user weights file.

L = Σ_k w_k · mean|φ_k(x̂) − φ_k(x)|, φ_k = relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of VGG19,
w = (1/32, 1/16, 1/8, 1/4, 1) (Wang et al. 2018, pix2pixHD sec. 3.2; SPADE uses λ_vgg = 10).

Where the weights come from (the log says which): a safetensors file with torchvision's VGG19
`features.{i}.weight/bias` keys (i = 0, 2, 5, ..., 28; the convs up to conv5_1), converted by the
user — nothing is downloaded. The project's own segmenter would be the preferred default
backbone, but its definition lives in `evaluation/`, which `gan/` must not import; without a file
the term is off. Inputs in [-1, 1] are mapped to [0, 1] and normalised with the ImageNet
statistics torchvision's weights were trained with (SPADE fed [-1, 1] unnormalised).
"""
from __future__ import annotations

import sys
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


class VGGPerceptualLoss(nn.Module):
    """Frozen VGG19 trunk; __call__(fake, real) with (B,3,H,W) in [-1,1] -> scalar loss.
    The real image's features are computed without gradient."""

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

    def execute(self, fake, real):
        with jt.no_grad():
            real_feats = [f.detach() for f in self.features(real)]
        total = 0.0
        for w, f, r in zip(TAP_WEIGHTS, self.features(fake), real_feats):
            total = total + w * (f - r).abs().mean()
        return total


def build_perceptual(weight: float, weights_file: str) -> VGGPerceptualLoss | None:
    """The perceptual term or None; prints (once, to stderr) which backbone is used or why none."""
    if weight <= 0:
        print("perceptual loss: off (loss.perceptual_weight = 0)", file=sys.stderr)
        return None
    if not weights_file:
        print("perceptual loss: off (loss.perceptual_weights names no VGG19 file; the project segmenter "
              "cannot be used from gan/; nothing is downloaded)", file=sys.stderr)
        return None
    path = Path(weights_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: VGG19 weights file not found (loss.perceptual_weights)")
    print(f"perceptual loss: VGG19 from {path}", file=sys.stderr)
    return VGGPerceptualLoss(read_arrays(path), str(path))
