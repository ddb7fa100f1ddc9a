"""VAE losses: adaptive GAN weight = its closed form, hinge loss, KL scaling, perceptual term."""
from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from lsgen.runtime import jt
from vae.losses import (VGG16_STAGES, LossConfig, PatchDiscriminator, PerceptualLoss, adaptive_weight,
                        autoencoder_loss, build_perceptual, hinge_d_loss, kl_loss)
from vae.model import DiagonalGaussian


def test_adaptive_weight_equals_closed_form():
    """rec = sum(a * W), g = sum(b * W^2): grads a and 2bW, so lambda = |a| / (|2bW| + 1e-4)."""
    rng = np.random.default_rng(0)
    w_np, a, b = (rng.standard_normal((4, 3, 3, 3)).astype(np.float32) for _ in range(3))
    w = jt.array(w_np)
    rec, g = (w * jt.array(a)).sum(), (w.sqr() * jt.array(b)).sum()
    expected = np.linalg.norm(a) / (np.linalg.norm(2 * b * w_np) + 1e-4)
    np.testing.assert_allclose(adaptive_weight(rec, g, w).item(), expected, rtol=1e-5)
    tiny_g = (w * 1e-9).sum()  # vanishing generator gradient: clamped at max_weight
    assert adaptive_weight(rec, tiny_g, w, max_weight=10.0).item() == pytest.approx(10.0)
    no_grad = jt.grad(adaptive_weight(rec, g, w) * g, w).numpy()  # lambda is a constant factor
    np.testing.assert_allclose(no_grad, expected * 2 * b * w_np, rtol=1e-4)


def test_hinge_loss_matches_numpy():
    real, fake = np.array([2.0, 0.5, -1.0], np.float32), np.array([-2.0, 0.0, 0.3], np.float32)
    expected = 0.5 * (np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean())
    assert hinge_d_loss(jt.array(real), jt.array(fake)).item() == pytest.approx(expected)


def test_kl_loss_is_per_image_sum_over_pixel_count():
    moments = np.concatenate([np.ones((2, 4, 3, 4)), np.zeros((2, 4, 3, 4))], axis=1).astype(np.float32)
    images = jt.zeros((2, 3, 24, 32))
    # mean 1, var 1: 0.5 per latent element, 48 elements per image, over 3*24*32 pixels
    assert kl_loss(DiagonalGaussian(jt.array(moments)), images).item() == pytest.approx(0.5 * 48 / (3 * 24 * 32))


def test_reconstruction_term_weights_l1_and_mse():
    rng = np.random.default_rng(0)
    x, r = (rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32) for _ in range(2))
    posterior = DiagonalGaussian(jt.zeros((2, 8, 1, 1)))  # KL 0
    l1, mse = np.abs(r - x).mean(), ((r - x) ** 2).mean()
    plain = autoencoder_loss(jt.array(x), jt.array(r), posterior, LossConfig(disc_weight=0), 0, None)
    assert "mse" not in plain and plain["loss"].item() == pytest.approx(l1, rel=1e-5)
    both = autoencoder_loss(jt.array(x), jt.array(r), posterior, LossConfig(disc_weight=0, l1_weight=0.5,
                                                                          mse_weight=2.0), 0, None)
    assert both["mse"].item() == pytest.approx(mse, rel=1e-5)
    assert both["loss"].item() == pytest.approx(0.5 * l1 + 2.0 * mse, rel=1e-5)
    with pytest.raises(ValueError, match="no reconstruction term"):
        LossConfig(l1_weight=0.0)


def test_gan_term_is_off_before_disc_start():
    jt.set_global_seed(0)
    disc = PatchDiscriminator(3, 8, 2)
    x = jt.array(np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
    w = jt.ones((3, 3, 1, 1))
    recon = jt.nn.conv2d(x, w) / 3.0
    posterior = DiagonalGaussian(jt.zeros((2, 8, 4, 4)))
    cfg = LossConfig(disc_start=5)
    before = autoencoder_loss(x, recon, posterior, cfg, 4, w, disc)
    after = autoencoder_loss(x, recon, posterior, cfg, 5, w, disc)
    assert "g_loss" not in before and before["loss"].item() == pytest.approx(before["l1"].item())
    assert {"g_loss", "d_weight"} <= set(after)
    assert disc(x).shape == [2, 1, 6, 6]  # 32 -> 16 -> 8 -> 7 -> 6 (k4: s2, s2, s1, s1)


def _vgg_file(path, widths=(4, 4, 8, 8, 8), extra=None):
    rng = np.random.default_rng(0)
    arrays, in_ch = {}, 3
    for stage, width in zip(VGG16_STAGES, widths):
        for index in stage:
            arrays[f"features.{index}.weight"] = rng.standard_normal((width, in_ch, 3, 3)).astype(np.float32) * 0.3
            arrays[f"features.{index}.bias"] = np.zeros(width, np.float32)
            in_ch = width
    for k, width in enumerate(widths):
        arrays[f"lin{k}.weight"] = rng.uniform(0, 1, (1, width, 1, 1)).astype(np.float32)
    arrays.update(extra or {})
    save_file(arrays, str(path))
    return path


def test_perceptual_term_off_without_file_and_frozen_with_one(tmp_path, capsys):
    assert build_perceptual(LossConfig(perceptual_weights="")) is None
    assert "perceptual loss: off" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="perceptual weights file not found"):
        build_perceptual(LossConfig(perceptual_weights=str(tmp_path / "missing.safetensors")))

    lpips = build_perceptual(LossConfig(perceptual_weights=str(_vgg_file(tmp_path / "vgg.safetensors"))))
    assert all(p.is_stop_grad() for p in lpips.parameters())
    rng = np.random.default_rng(1)
    a, b = (jt.array(rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)) for _ in range(2))
    assert lpips(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert lpips(a, b).item() > 0.0
    grad = jt.grad(lpips(a, b), b)  # the term trains the decoder through its input
    assert float(grad.abs().sum().item()) > 0


def test_perceptual_file_with_wrong_keys_is_refused(tmp_path):
    path = _vgg_file(tmp_path / "vgg.safetensors", extra={"classifier.0.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(Exception, match="1 unexpected keys \\(classifier.0.weight\\)"):
        PerceptualLoss.from_file(path)
