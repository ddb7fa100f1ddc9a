"""Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for GANs", sec. 2.1, alg. 1).

The layer computes with W_SN = W / σ(W), σ(W) the largest singular value of W reshaped to
(out, in·k·k), estimated by power iteration with a persistent vector u (out,):
    v = normalize(Wᵀ u),   σ = ||W v||,   u_new = W v / σ          (alg. 1, one iteration)
In training mode u_new is written back (under no-grad) after every call; in eval mode the stored
u is used and left unchanged, so inference is deterministic. u is a public stop-grad Var: it is
saved in the state dict (and averaged with the weights) but the Updater never optimises it.
Gradients flow through σ with u and v held constant, dσ/dW = u vᵀ, as in the paper (eq. 12).

Both bugs of the seed projects are avoided by construction (seeds.md B.2, §6): the normalised
weight is what the convolution uses, and u is persisted and updated.
"""
from __future__ import annotations

import numpy as np

from lsgen.runtime import jt

nn = jt.nn
SN_EPS = 1e-12


def _normalize(x):
    return x / (x.sqr().sum().sqrt() + SN_EPS)


class SpectralNorm(nn.Module):
    """Wrap an nn.Conv2d or nn.Linear; call it like the wrapped layer.

    State: `layer.weight`, `layer.bias` (trainable) and `u` (out_features,) stop-grad.
    power_iterations: iterations per training call (1 as in the paper; u carries over).
    """

    def __init__(self, layer, power_iterations: int = 1):
        super().__init__()
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            raise TypeError(f"SpectralNorm wraps Conv2d or Linear, got {type(layer).__name__}")
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        self.layer = layer
        self.power_iterations = power_iterations
        out = layer.weight.shape[0]
        u = np.random.default_rng(out).standard_normal(out).astype(np.float32)
        self.u = jt.array(u / np.linalg.norm(u)).stop_grad()

    def _matrix(self):
        w = self.layer.weight
        return w.reshape(w.shape[0], -1)

    def sigma(self):
        """σ(W) from the stored u (no update): a scalar Var differentiable w.r.t. W."""
        w = self._matrix()
        with jt.no_grad():
            v = _normalize(jt.matmul(w.detach().transpose(), self.u.detach().reshape(-1, 1)))
        return jt.matmul(w, v).sqr().sum().sqrt()

    def _power_iterate(self) -> None:
        """Refine and store u (training mode only); no gradient flows through it."""
        with jt.no_grad():
            w = self._matrix().detach()
            u = self.u.detach().reshape(-1, 1)
            for _ in range(self.power_iterations):
                v = _normalize(jt.matmul(w.transpose(), u))
                u = _normalize(jt.matmul(w, v))
            self.u.update(u.reshape(-1))

    def normalized_weight(self):
        """W / σ(W) in the layer's weight shape (updates u first when training)."""
        if self.is_training():
            self._power_iterate()
        return self.layer.weight / self.sigma()

    def execute(self, x):
        weight = self.normalized_weight()
        layer = self.layer
        if isinstance(layer, nn.Linear):
            out = jt.matmul(x, weight.transpose())
            return out + layer.bias if layer.bias is not None else out
        return nn.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def maybe_sn(layer, spectral: bool):
    """`SpectralNorm(layer)` when `spectral`, else the layer itself."""
    return SpectralNorm(layer) if spectral else layer


def norm_layer(kind: str, channels: int, affine: bool = True):
    """Normalisation by name: 'instance' | 'batch' | 'none'. BatchNorm keeps Jittor's MPI sync
    (SPADE's sync-BN); running statistics are used in eval mode (model.eval() at test)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be instance, batch or none, got {kind!r}")
