"""gan/ shared core: spectral norm, GAN losses, DiffAugment, progressive schedule, averaging."""
from __future__ import annotations

import numpy as np
import pytest

from lsgen import checkpoint as ckpt
from lsgen.runtime import jt
from lsgen.train.optim import OptimConfig, Updater

from gan import losses
from gan.augment import diff_augment, parse_policy
from gan.averaging import average_checkpoints
from gan.discriminators import DiscConfig, MultiscaleDiscriminator
from gan.spectral import SpectralNorm
from gan.train import progressive_level

nn = jt.nn


def _sn_conv(seed: int = 0) -> SpectralNorm:
    jt.set_global_seed(seed)
    conv = SpectralNorm(nn.Conv2d(6, 10, 3, padding=1))
    conv.layer.weight.update(jt.array(np.random.default_rng(seed).standard_normal((10, 6, 3, 3)).astype(np.float32)))
    return conv


def test_spectral_norm_sigma_matches_numpy_largest_singular_value():
    conv = _sn_conv()
    w = conv.layer.weight.numpy().reshape(10, -1)
    x = jt.randn(1, 6, 5, 5)
    u0 = conv.u.numpy().copy()
    for _ in range(60):
        conv(x).sync()
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    assert conv.sigma().item() == pytest.approx(sigma, rel=1e-4)
    assert not np.allclose(conv.u.numpy(), u0)                  # u was updated and persisted
    w_sn = conv.normalized_weight().numpy().reshape(10, -1)
    assert np.linalg.svd(w_sn, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)


def test_spectral_norm_conv_uses_normalized_weight_and_eval_uses_stored_u():
    conv = _sn_conv(1)
    u = np.random.default_rng(5).standard_normal(10).astype(np.float32)
    conv.u.update(jt.array(u))
    conv.eval()
    x = jt.randn(2, 6, 7, 7)
    out = conv(x).numpy()
    w = conv.layer.weight.numpy()
    v = w.reshape(10, -1).T @ u
    v /= np.linalg.norm(v)
    sigma = np.linalg.norm(w.reshape(10, -1) @ v)                # one estimate from the stored u
    ref = nn.conv2d(x, jt.array(w / sigma), conv.layer.bias, 1, 1).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(conv.u.numpy(), u)            # eval never touches u
    np.testing.assert_allclose(conv(x).numpy(), out, rtol=1e-6)  # deterministic


def test_spectral_norm_u_is_saved_but_never_optimised(tmp_path):
    conv = _sn_conv(2)
    assert "u" in conv.state_dict()
    updater = Updater(dict(conv.named_parameters()), OptimConfig(lr=0.1, schedule="constant"), 10)
    assert "u" not in updater.params and "layer.weight" in updater.params
    conv(jt.randn(1, 6, 4, 4)).sync()
    path = tmp_path / "sn.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(conv), "test", {}, 0)
    other = _sn_conv(3)
    ckpt.load_weights(other, path)
    np.testing.assert_array_equal(other.u.numpy(), conv.u.numpy())
    assert other.u.is_stop_grad()


def test_gan_losses_equal_closed_forms():
    real = np.array([[2.0, 0.5], [-1.0, 0.0]], dtype=np.float32).reshape(1, 1, 2, 2)
    fake = np.array([[-2.0, 0.3], [1.5, -0.2]], dtype=np.float32).reshape(1, 1, 2, 2)
    r, f = jt.array(real), jt.array(fake)
    softplus = lambda x: np.log1p(np.exp(x))
    expected_d = {"hinge": np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean(),
                  "ns": softplus(-real).mean() + softplus(fake).mean(),
                  "ls": 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()}
    expected_g = {"hinge": -fake.mean(), "ns": softplus(-fake).mean(), "ls": 0.5 * ((fake - 1) ** 2).mean()}
    for kind in losses.GAN_LOSSES:
        assert losses.d_loss_logits(kind, r, f).item() == pytest.approx(expected_d[kind], rel=1e-5)
        assert losses.g_loss_logits(kind, f).item() == pytest.approx(expected_g[kind], rel=1e-5)
    # two scales: the mean of the per-scale losses
    two = losses.discriminator_loss("hinge", [[r], [r * 2]], [[f], [f * 0]])
    second = np.maximum(0, 1 - 2 * real).mean() + 1.0
    assert two.item() == pytest.approx((expected_d["hinge"] + second) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="gan loss"):
        losses.g_loss_logits("wgan", f)


def test_feature_matching_and_kld_closed_forms():
    a, b = np.ones((1, 2, 3, 3), np.float32), np.full((1, 2, 3, 3), 3.0, np.float32)
    fm = losses.feature_matching_loss([[jt.array(a), jt.array(a), jt.zeros((1, 1))]],
                                      [[jt.array(b), jt.array(a), jt.ones((1, 1))]])
    assert fm.item() == pytest.approx(2.0)                       # |3-1| + |1-1|, logits excluded
    mu = np.array([[0.5, -1.0]], np.float32)
    logvar = np.array([[0.2, -0.3]], np.float32)
    kld = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar))
    assert losses.kld_loss(jt.array(mu), jt.array(logvar)).item() == pytest.approx(kld, rel=1e-5)
    assert losses.kld_loss(jt.zeros((3, 4)), jt.zeros((3, 4))).item() == pytest.approx(0.0, abs=1e-7)


def _onehot(ids: np.ndarray) -> np.ndarray:
    return np.eye(29, dtype=np.float32)[ids].transpose(0, 3, 1, 2).copy()


def test_diff_augment_moves_image_and_mask_together():
    ids = np.random.default_rng(0).integers(0, 29, (4, 16, 24))
    mask = _onehot(ids)
    image = jt.array(mask[:, :3].copy())                         # image channels = mask channels 0..2
    for policy in ("translation", "translation,crop"):
        aug_img, aug_mask = diff_augment(image, jt.array(mask), parse_policy(policy), np.random.default_rng(1))
        aug_img, aug_mask = aug_img.numpy(), aug_mask.numpy()
        assert set(np.unique(aug_mask)) <= {0.0, 1.0} and aug_mask.sum(axis=1).max() == 1.0
        if policy == "translation":                              # integer shift: exact equality
            np.testing.assert_array_equal(aug_img, aug_mask[:, :3])
            assert (aug_mask.sum(axis=1) == 0).any()            # zero padding = no class
        else:                                                    # bilinear vs nearest of one map
            agree = np.mean(np.abs(aug_img - aug_mask[:, :3]) < 0.5)
            assert agree > 0.95
    assert not np.array_equal(aug_mask, mask)


def test_diff_augment_color_touches_images_only_and_is_differentiable():
    mask = _onehot(np.zeros((2, 8, 8), dtype=np.int64))
    x = jt.array(np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32))
    out, out_mask = diff_augment(x, jt.array(mask), ("color",), np.random.default_rng(2))
    np.testing.assert_array_equal(out_mask.numpy(), mask)
    assert not np.allclose(out.numpy(), x.numpy())
    grad = jt.grad(diff_augment(x, jt.array(mask), ("color", "translation", "crop"))[0].sum(), x)
    assert np.abs(grad.numpy()).sum() > 0
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        parse_policy("color,cutmix")


def test_progressive_schedule_stabilises_then_fades_in():
    assert progressive_level(0, 10, 3) == (0, 1.0)
    assert progressive_level(4, 10, 3) == (0, 1.0)
    assert progressive_level(5, 10, 3) == (0, 1.0)              # α = 5/5 - 1 = 0: still stabilising
    level, alpha = progressive_level(8, 10, 3)
    assert level == 1 and alpha == pytest.approx(0.6)
    assert progressive_level(12, 10, 3) == (1, 1.0)
    assert progressive_level(20, 10, 3) == (None, 1.0)
    assert progressive_level(3, 0, 3) == (None, 1.0)


def test_multiscale_discriminator_skips_scales_too_small():
    d = MultiscaleDiscriminator(DiscConfig(num_d=3, n_layers=3, channels=4))
    mask = jt.array(_onehot(np.zeros((1, 16, 24), dtype=np.int64)))
    outs = d(jt.zeros((1, 3, 16, 24)), mask)  # 16x24 -> 8x12 -> 4x6 (too small)
    assert len(outs) == 2 and len(outs[0]) == 4 and outs[0][-1].shape[1] == 1


def test_averaging_identical_checkpoints_is_identity_and_averages_otherwise(tmp_path):
    rng = np.random.default_rng(0)
    a = {"w": rng.standard_normal((3, 4)).astype(np.float32), "ema.w": rng.standard_normal((3, 4)).astype(np.float32),
         "steps": np.array([3], dtype=np.int64)}
    b = {**a, "w": a["w"] + 2.0}
    for name, arrays in (("a", a), ("a2", a), ("b", b)):
        ckpt.save_weights(tmp_path / f"{name}.safetensors", arrays, "gan-apf", {"x": 1}, 7)
    out = average_checkpoints([tmp_path / "a.safetensors", tmp_path / "a2.safetensors"], tmp_path / "avg.safetensors")
    got = ckpt.read_arrays(out)
    for key in a:
        np.testing.assert_array_equal(got[key], a[key])
    assert ckpt.read_metadata(out)["kind"] == "gan-apf"
    mixed = ckpt.read_arrays(average_checkpoints([tmp_path / "a.safetensors", tmp_path / "b.safetensors"],
                                                 tmp_path / "avg2.safetensors"))
    np.testing.assert_allclose(mixed["w"], a["w"] + 1.0, rtol=1e-6)
    ckpt.save_weights(tmp_path / "c.safetensors", a, "gan-apf", {"x": 2}, 7)
    with pytest.raises(ckpt.CheckpointError, match="config differs"):
        average_checkpoints([tmp_path / "a.safetensors", tmp_path / "c.safetensors"], tmp_path / "bad.safetensors")
