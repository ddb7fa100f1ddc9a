"""Stage 1: the KL autoencoder (see ../shared/ARCHITECTURE.md).

model: AutoencoderKL, VAEConfig, DiagonalGaussian · losses: L1, KL, LPIPS-style perceptual, hinge
PatchGAN with adaptive weight · train: `train(sections, run_dir)` through lsgen's loop · latents:
`load_vae(path)` (EMA weights when present), the data-derived latent scale, the latent cache ·
metrics: PSNR, SSIM, bicubic baseline.
"""
from vae.latents import LatentDataset, load_latent_cache, load_vae
from vae.model import AutoencoderKL, DiagonalGaussian, VAEConfig

__all__ = ["AutoencoderKL", "DiagonalGaussian", "LatentDataset", "VAEConfig", "load_latent_cache", "load_vae"]
