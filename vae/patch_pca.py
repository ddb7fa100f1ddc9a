"""Principal components of f x f image patches: the data-driven start of a VAE's patch path.

`fit_patch_pca` vectorises every non-overlapping f x f patch exactly as `vae.model.space_to_channel`
orders its channels (channel c*f*f + i*f + j = pixel (i, j) of colour channel c), so the components
drop into the patch path's 1x1 convs unchanged. `init_patch_path` loads the whitened top-C
components (Pearson 1901; whitening as in PCA whitening, e.g. Bishop 2006, sec. 12.1.3):

    z = diag(s)^-1/2 V^T (p - mu)        (encoder: W_e = diag(s)^-1/2 V^T, b_e = -W_e mu)
    p_hat = V diag(s)^1/2 z + mu         (decoder: W_d = V diag(s)^1/2,    b_d = mu)

with mu the mean patch and V, s the top-C eigenvectors and eigenvalues of the patch covariance, so
that decode(encode(x)) of the untrained model is the rank-C PCA reconstruction of each patch and
every latent channel has unit variance over the sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsgen.runtime import jt

VARIANCE_FLOOR = 1e-8  # components of (near) zero variance are not amplified past 1e4 when whitening


@dataclass
class PatchPCA:
    mean: np.ndarray            # (P,) mean patch, P = channels * f * f
    components: np.ndarray      # (P, C) orthonormal columns, largest variance first
    variances: np.ndarray       # (C,) eigenvalues of the patch covariance, descending
    total_variance: float       # trace of the patch covariance (all P eigenvalues)


def image_patches(images: np.ndarray, f: int) -> np.ndarray:
    """(N, C, H, W) -> (N * H/f * W/f, C*f*f) patch vectors in space_to_channel's channel order."""
    n, c, h, w = images.shape
    if h % f or w % f:
        raise ValueError(f"image size {w}x{h} is not divisible by the patch size {f}")
    blocks = images.reshape(n, c, h // f, f, w // f, f).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(-1, c * f * f)


def patches_to_images(patches: np.ndarray, shape: tuple[int, int, int, int], f: int) -> np.ndarray:
    """The inverse of image_patches: (N * H/f * W/f, C*f*f) -> images of `shape` (N, C, H, W)."""
    n, c, h, w = shape
    blocks = patches.reshape(n, h // f, w // f, c, f, f).transpose(0, 3, 1, 4, 2, 5)
    return blocks.reshape(n, c, h, w)


def pca_round_trip(images: np.ndarray, pca: PatchPCA, f: int) -> np.ndarray:
    """The linear patch autoencoder alone: each f x f patch of images (N, C, H, W) projected on the
    PCA's components and back (rank-C reconstruction), clipped to [-1, 1]."""
    centred = image_patches(np.asarray(images, np.float64), f) - pca.mean
    recon = centred @ pca.components @ pca.components.T + pca.mean
    return np.clip(patches_to_images(recon, images.shape, f), -1.0, 1.0).astype(np.float32)


def fit_patch_pca(images: np.ndarray, f: int, components: int) -> PatchPCA:
    """Top `components` principal components of the f x f patches of images (N, C, H, W) in
    [-1, 1], computed in float64."""
    patches = image_patches(np.asarray(images, np.float64), f)
    if components > patches.shape[1]:
        raise ValueError(f"{components} components exceed the {patches.shape[1]} numbers of a {f}x{f} patch")
    mean = patches.mean(axis=0)
    centred = patches - mean
    covariance = centred.T @ centred / max(1, len(patches) - 1)
    variances, vectors = np.linalg.eigh(covariance)          # ascending
    order = np.argsort(variances)[::-1][:components]
    return PatchPCA(mean, vectors[:, order], np.maximum(variances[order], VARIANCE_FLOOR), float(variances.sum()))


def init_patch_path(vae, images: np.ndarray) -> PatchPCA:
    """Load the whitened PCA of `images`' patches (N, 3, H, W) in [-1, 1] into `vae`'s patch path
    (see the module docstring). Returns the fitted PCA."""
    cfg = vae.cfg
    if not cfg.patch_path:
        raise ValueError("this VAE has no patch path (model.patch_path is false)")
    pca = fit_patch_pca(images, cfg.downsample_factor, cfg.latent_channels)
    root = np.sqrt(pca.variances)
    encode = (pca.components / root).T                      # (C, P)
    decode = pca.components * root                           # (P, C)
    vae.patch_encode.weight.assign(jt.array(encode[:, :, None, None].astype(np.float32)))
    vae.patch_encode.bias.assign(jt.array((-encode @ pca.mean).astype(np.float32)))
    vae.patch_decode.weight.assign(jt.array(decode[:, :, None, None].astype(np.float32)))
    vae.patch_decode.bias.assign(jt.array(pca.mean.astype(np.float32)))
    return pca
