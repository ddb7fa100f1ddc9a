"""GAN baselines and their shared core (see ../shared/ARCHITECTURE.md; imports only lsgen).

Core: spectral.py (correct spectral norm, norm layers), discriminators.py (multiscale conditional
PatchGAN), losses.py (hinge / non-saturating / least-squares, feature matching, KLD), perceptual.py
(VGG19 from a user file), augment.py (DiffAugment, joint on image and mask), train.py (d_step +
g_step on lsgen's loop), averaging.py, pure.py, sample.py (evaluation registry loaders).
Models: pix2pix.py (U-Net), spade.py (SPADE generator: ref encoder, APF mask encoder, seg-noise,
progressive heads), tsit.py (TSIT: content/style streams, FADE, FAdaIN), lggan.py (LGGAN + SAU);
models.py names them: pix2pix, spade, apf, tsit, lggan.
Unconditional: stylegan.py (StyleGAN v1 networks), stylegan_train.py (its phases on the same loop,
its sampler). Super-resolution: rcan.py (RCAN ×2), sr_train.py (training on downsampled photos),
sr_pipeline.py (half-resolution generator + RCAN or bicubic, kind "sr-pipeline").
"""
