"""Sampling from trained GAN generators, and the loaders evaluation's registry calls.

`GANSampler.sample(mask_onehot, ref_image, seed)` follows evaluation/registry.py's contract:
mask_onehot (B,29,H,W) float32, ref_image (B,3,H,W) in [-1,1] or None -> (B,3,H,W) float32 in
[-1,1]; the generator is in eval mode (BatchNorm running statistics, stored spectral-norm u, no
dropout), and the same seed gives the same images.
    pix2pix  deterministic
    spade    deterministic: z = mu(ref) (z = 0 without a ref); stochastic=True: z ~ q(z|ref) (N(0,I)
             without a ref)
    apf      deterministic apart from the semantic-guided noise, which the seed fixes
    tsit     deterministic; the reference drives FAdaIN (without one FAdaIN is skipped)
    lggan    deterministic (mask only; a reference is ignored)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsgen.runtime import jt

from gan.models import load_generator
from gan.spade import reparameterize


class GANSampler:
    """A generator (nn.Module) of model `model_name` wrapped for sampling."""

    def __init__(self, generator, model_name: str, stochastic: bool = False, name: str | None = None):
        self.generator, self.model_name, self.stochastic = generator, model_name, stochastic
        self.name = name or (model_name + ("-stochastic" if stochastic else ""))

    def _z(self, mask_onehot, ref_image):
        cfg = self.generator.cfg
        b = mask_onehot.shape[0]
        if ref_image is None:
            return jt.randn(b, cfg.z_dim) if self.stochastic else jt.zeros((b, cfg.z_dim))
        mu, logvar = self.generator.encode(ref_image)
        return reparameterize(mu, logvar) if self.stochastic else mu

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        was_training = self.generator.is_training()
        self.generator.eval()
        jt.set_seed(int(seed) % (2**31))
        with jt.no_grad():
            mask = jt.array(np.asarray(mask_onehot, dtype=np.float32))
            if self.model_name == "tsit":
                ref = None if ref_image is None else jt.array(np.asarray(ref_image, dtype=np.float32))
                out = self.generator(mask, ref_image=ref)
            elif getattr(self.generator.cfg, "style", None) == "ref":
                ref = None if ref_image is None else jt.array(np.asarray(ref_image, dtype=np.float32))
                out = self.generator(mask, z=self._z(mask, ref))
            else:
                out = self.generator(mask)
            images = out.numpy()
        if was_training:
            self.generator.train()
        return images


def load(path: str | Path, stochastic: bool = False) -> GANSampler:
    """Registry loader for kinds gan-pix2pix, gan-spade, gan-apf, gan-tsit, gan-lggan (EMA weights when present)."""
    generator, model_name, _ = load_generator(path)
    return GANSampler(generator, model_name, stochastic)


def load_stochastic(path: str | Path) -> GANSampler:
    """spade with z sampled from q(z|ref) (diversity rows)."""
    return load(path, stochastic=True)


def sample_uint8(checkpoint_path: str | Path, mask_ids: np.ndarray, ref_images: np.ndarray | None,
                 seed: int) -> np.ndarray:
    """Convenience: mask_ids (B,H,W) int, ref_images (B,3,H,W) [-1,1] or None -> (B,H,W,3) uint8."""
    from lsgen.data.io import from_model_image, onehot  # noqa: PLC0415

    images = load(checkpoint_path).sample(onehot(np.asarray(mask_ids)), ref_images, seed)
    return np.stack([from_model_image(im) for im in images])
