"""FID's Inception-v3 in Jittor, built exactly as pytorch-fid builds it (2048-d pool3 features).

pytorch-fid (mseitzer/pytorch-fid, `inception.py`) takes torchvision's Inception-v3 and patches it
to match the TensorFlow graph of Heusel et al. 2017: the average pools of the A, C and first E
blocks exclude padding from the mean (`count_include_pad=False`), and the last E block pools with a
3x3 max instead of an average. Its input is (B, 3, H, W) in [0, 1], resized bilinearly to 299x299
(`align_corners=False`, no antialiasing) and scaled to [-1, 1]. Convolutions have no bias and are
followed by BatchNorm (eps 1e-3, running statistics) and ReLU.

Weights: `scripts/convert_fid_weights.py` turns pytorch-fid's `pt_inception-2015-12-05-*.pth` into an
lsgen safetensors checkpoint of kind "fid-inception" (parameter names = torchvision's, minus `fc`).
Without that file the project reports FD-seg (segmenter features), never "FID".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsgen import checkpoint as ckpt
from lsgen.runtime import jt

nn = jt.nn
KIND = "fid-inception"
FEATURE_DIM = 2048
INPUT_SIZE = 299


class BasicConv(nn.Module):
    """conv (no bias) -> BatchNorm(eps 1e-3) -> ReLU; parameter names conv.* and bn.*."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def execute(self, x):
        return nn.relu(self.bn(self.conv(x)))


def _avg_pool_same(x):
    """3x3 stride-1 average pool whose mean ignores the zero padding (TF's SAME pooling).

    Jittor 1.3.11's `AvgPool2d(count_include_pad=False)` gives wrong border values (measured), so
    the zero-padded mean is rescaled by 9 / (number of real pixels under the window)."""
    h, w = x.shape[2:]
    rows = np.minimum(np.arange(h) + 1, h - 1) - np.maximum(np.arange(h) - 1, 0) + 1
    cols = np.minimum(np.arange(w) + 1, w - 1) - np.maximum(np.arange(w) - 1, 0) + 1
    scale = jt.array((9.0 / np.outer(rows, cols)).astype(np.float32))
    return nn.pool(x, 3, "mean", stride=1, padding=1) * scale


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv(cin, 64, 1)
        self.branch5x5_1 = BasicConv(cin, 48, 1)
        self.branch5x5_2 = BasicConv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, padding=1)
        self.branch_pool = BasicConv(cin, pool_features, 1)

    def execute(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return jt.concat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_same(x))], dim=1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, stride=2)

    def execute(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return jt.concat([self.branch3x3(x), b3, nn.pool(x, 3, "maximum", stride=2)], dim=1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv(cin, 192, 1)
        self.branch7x7_1 = BasicConv(cin, c7, 1)
        self.branch7x7_2 = BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv(cin, 192, 1)

    def execute(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        return jt.concat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_same(x))], dim=1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv(cin, 192, 1)
        self.branch3x3_2 = BasicConv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv(192, 192, 3, stride=2)

    def execute(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return jt.concat([b3, b7, nn.pool(x, 3, "maximum", stride=2)], dim=1)


class InceptionE(nn.Module):
    """max_pool=False: pytorch-fid's FIDInceptionE_1 (average pool without padding);
    max_pool=True: FIDInceptionE_2 (3x3 stride-1 max pool)."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv(cin, 320, 1)
        self.branch3x3_1 = BasicConv(cin, 384, 1)
        self.branch3x3_2a = BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv(cin, 192, 1)

    def execute(self, x):
        b3 = self.branch3x3_1(x)
        b3 = jt.concat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = jt.concat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], dim=1)
        pooled = nn.pool(x, 3, "maximum", stride=1, padding=1) if self.max_pool else _avg_pool_same(x)
        return jt.concat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], dim=1)


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix of 1-D bilinear resizing as PyTorch computes it with
    align_corners=False and no antialiasing: source = max(0, (i + 0.5) * n_in / n_out - 0.5)."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = src - low
    matrix = np.zeros((n_out, n_in), np.float64)
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix.astype(np.float32)


def resize_bilinear(x, height: int, width: int):
    """(B, C, H, W) -> (B, C, height, width), separable bilinear (see resize_matrix)."""
    b, c, h, w = x.shape
    rows, cols = jt.array(resize_matrix(h, height)), jt.array(resize_matrix(w, width))
    x = jt.matmul(x.reshape(b * c * h, w), cols.transpose(1, 0)).reshape(b * c, h, width)
    x = jt.matmul(x.transpose(0, 2, 1).reshape(b * c * width, h), rows.transpose(1, 0))
    return x.reshape(b * c, width, height).transpose(0, 2, 1).reshape(b, c, height, width)


class FIDInceptionV3(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 2048) pool3 features (pytorch-fid's block 3 output)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b, self.Mixed_6c = InceptionC(768, 128), InceptionC(768, 160)
        self.Mixed_6d, self.Mixed_6e = InceptionC(768, 160), InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b, self.Mixed_7c = InceptionE(1280, max_pool=False), InceptionE(2048, max_pool=True)

    def execute(self, images):
        x = 2 * resize_bilinear(images, INPUT_SIZE, INPUT_SIZE) - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(nn.pool(x, 3, "maximum", stride=2)))
        x = nn.pool(x, 3, "maximum", stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return x.mean(dims=(2, 3))


def convert_state_dict(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """pytorch-fid / torchvision Inception state dict (numpy) -> this module's names: drops the
    classifier (`fc.*`), the auxiliary head and BatchNorm's `num_batches_tracked` counters; every
    remaining key must be a parameter or buffer of FIDInceptionV3 (checked when loading)."""
    skip = ("fc.", "AuxLogits.")
    return {k: np.asarray(v, np.float32) for k, v in arrays.items()
            if not k.startswith(skip) and not k.endswith("num_batches_tracked")}


def load_fid_inception(path: str | Path) -> FIDInceptionV3:
    """FIDInceptionV3 with the weights of a converted checkpoint (strict), in eval mode."""
    model = FIDInceptionV3()
    ckpt.load_weights(model, path, kind=KIND)
    model.eval()
    return model


def inception_features(model: FIDInceptionV3, images: np.ndarray, batch_size: int = 16,
                       progress: bool = False) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 2048) float64 pool3 features (pixels / 255, as pytorch-fid reads PNGs)."""
    from tqdm import tqdm  # noqa: PLC0415

    feats = []
    for start in tqdm(range(0, len(images), batch_size), desc="inception", disable=not progress, leave=False):
        batch = images[start:start + batch_size].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        with jt.no_grad():
            feats.append(model(jt.array(batch)).numpy().astype(np.float64))
    return np.concatenate(feats)


class FIDScorer:
    """FID of image sets against fixed reference images (statistics computed once)."""

    def __init__(self, weights: str | Path, reference_images: np.ndarray, batch_size: int = 16,
                 progress: bool = False):
        from evaluation.metrics import feature_stats  # noqa: PLC0415

        self.model = load_fid_inception(weights)
        self.batch_size = batch_size
        self.reference = feature_stats(inception_features(self.model, reference_images, batch_size, progress))

    def fid(self, images: np.ndarray, progress: bool = False) -> float:
        from evaluation.metrics import feature_stats, frechet_distance  # noqa: PLC0415

        stats = feature_stats(inception_features(self.model, images, self.batch_size, progress))
        return frechet_distance(*stats, *self.reference)
