"""The VAE's PCA patch path (`VAEConfig.patch_path`, vae.patch_pca): patch vectors in
space_to_channel's order, PCA against a numpy SVD, the untrained model reproduces the rank-C PCA
reconstruction with whitened latents, strict checkpoints, and training starts from it."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from lsgen.checkpoint import module_arrays, save_weights
from lsgen.config import build_sections, read_json
from lsgen.runtime import jt
from conftest import REPO
from vae.latents import load_vae
from vae.model import AutoencoderKL, VAEConfig, space_to_channel
from vae.patch_pca import fit_patch_pca, image_patches, init_patch_path, patches_to_images, pca_round_trip
from vae.train import SECTIONS, ImageSplit, train

TINY = dict(base_channels=8, norm_groups=4, num_res_blocks=1, channel_mult=(1, 2, 2), latent_channels=6)


def smooth_images(n=6, h=24, w=32, seed=0):
    """Images in [-1, 1] with correlated pixels (a few random low-frequency waves per channel)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.zeros((n, 3, h, w), np.float32)
    for k in range(4):
        fy, fx, phase = rng.uniform(0, 6, (3, n, 3, 1, 1))
        out += rng.uniform(0.1, 0.3, (n, 3, 1, 1)) * np.sin(2 * np.pi * (fy * y + fx * x) + phase)
    return np.clip(out, -1, 1).astype(np.float32)


def test_patch_vectors_follow_space_to_channel_order():
    images = smooth_images(2)
    cells = space_to_channel(jt.array(images), 4).numpy()                # (2, 48, 6, 8)
    np.testing.assert_array_equal(image_patches(images, 4), cells.transpose(0, 2, 3, 1).reshape(-1, 48))
    with pytest.raises(ValueError, match="divisible"):
        image_patches(images[:, :, :22], 4)


def test_full_rank_pca_round_trip_is_the_identity():
    images = smooth_images(3)
    np.testing.assert_array_equal(patches_to_images(image_patches(images, 4), images.shape, 4), images)
    full = fit_patch_pca(images, 4, 48)
    np.testing.assert_allclose(pca_round_trip(images, full, 4), images, atol=1e-5)
    low = pca_round_trip(images, fit_patch_pca(images, 4, 2), 4)
    assert low.shape == images.shape and 1e-4 < np.abs(low - images).mean()


def test_pca_matches_a_numpy_svd():
    images = smooth_images()
    pca = fit_patch_pca(images, 4, 5)
    patches = image_patches(images.astype(np.float64), 4)
    centred = patches - patches.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(pca.variances, singular[:5] ** 2 / (len(patches) - 1), rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components.T @ vt[:5].T), np.eye(5), atol=1e-6)   # same axes up to sign
    assert pca.total_variance == pytest.approx((singular ** 2).sum() / (len(patches) - 1))
    with pytest.raises(ValueError, match="components"):
        fit_patch_pca(images, 2, 13)


def test_untrained_model_is_the_whitened_pca_autoencoder():
    jt.set_global_seed(0)
    vae = AutoencoderKL(VAEConfig(patch_path=True, **TINY))
    images = smooth_images()
    pca = init_patch_path(vae, images)
    with jt.no_grad():
        posterior = vae.encode(jt.array(images))
        latents, recon = posterior.mode().numpy(), vae.decode(posterior.mode()).numpy()
        std = posterior.std.numpy()
    patches = image_patches(images.astype(np.float64), 4)
    coeffs = (patches - pca.mean) @ pca.components / np.sqrt(pca.variances)
    np.testing.assert_allclose(latents.transpose(0, 2, 3, 1).reshape(-1, 6), coeffs, atol=2e-4)
    np.testing.assert_allclose(coeffs.std(0, ddof=1), 1.0, rtol=1e-6)      # whitened on the fit sample
    expected = coeffs * np.sqrt(pca.variances) @ pca.components.T + pca.mean
    np.testing.assert_allclose(image_patches(recon, 4), expected, atol=2e-4)
    assert np.allclose(std, np.exp(-5.0), rtol=1e-4)                       # nearly deterministic start
    full = fit_patch_pca(images, 4, 48)                                      # PCA's own guarantee: more is better
    assert full.variances.sum() == pytest.approx(full.total_variance)
    assert ((recon - images) ** 2).mean() < ((images - images.mean()) ** 2).mean() / 4


def test_patch_path_adds_exactly_two_convs_and_loads_strictly(tmp_path):
    plain = set(AutoencoderKL(VAEConfig(**TINY)).state_dict())
    vae = AutoencoderKL(VAEConfig(patch_path=True, **TINY))
    keys = set(vae.state_dict())
    extra = {k for k in keys - plain}
    assert extra == {"patch_encode.weight", "patch_encode.bias", "patch_decode.weight", "patch_decode.bias"}
    assert not any(k.startswith(("quant_conv", "post_quant_conv")) for k in keys)
    init_patch_path(vae, smooth_images())
    path = tmp_path / "vae.safetensors"
    save_weights(path, module_arrays(vae), "vae", vae.cfg, 0)
    again, meta = load_vae(path)
    assert again.cfg == vae.cfg and meta["config"]["patch_path"] is True
    x = jt.array(smooth_images(2, seed=1))
    with jt.no_grad():
        np.testing.assert_array_equal(again.decode(again.encode(x).mode()).numpy(),
                                      vae.decode(vae.encode(x).mode()).numpy())
    with pytest.raises(ValueError, match="patch path"):
        init_patch_path(AutoencoderKL(VAEConfig(**TINY)), smooth_images())


def test_training_starts_from_the_pca_and_improves_on_it(latent_setup, tmp_path):
    """On synthetic landscapes (64x48, f=8, 2 latent channels) the first updates already reconstruct
    at the PCA's error, and training lowers it."""
    _, data = latent_setup
    raw = read_json(REPO / "configs/vae/tiny.json")
    raw["model"].update(patch_path=True, latent_channels=2)
    raw["data"].update(root=str(data), width=64, height=48, val_fraction=0.25)
    raw["train"].update(steps=60, batch_size=4, log_every=10, save_every=60, preview_every=0)
    raw["recipe"].update(scale_images=6, preview_images=2, patch_pca_images=18)
    sections = build_sections(raw, SECTIONS)
    train(sections, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    split = ImageSplit(replace(sections["data"], flip=False), "train")
    images = np.stack([split.load(i)["image"] for i in range(len(split))])
    pca = fit_patch_pca(images, 8, 2)
    patches = image_patches(images.astype(np.float64), 8) - pca.mean
    pca_l1 = np.abs(patches @ pca.components @ pca.components.T - patches).mean()
    print([round(r["vae/l1"], 4) for r in records], pca_l1)
    assert records[0]["vae/l1"] < 1.3 * pca_l1
    assert records[-1]["vae/l1"] < records[0]["vae/l1"]


def test_shipped_vae_configs_build_and_the_pca_recipe_has_a_patch_path():
    for path in sorted((REPO / "configs/vae").glob("*.json")):
        sections = build_sections(read_json(path), SECTIONS)
        assert sections["model"].downsample_factor in (4, 8), path.name
    pca = build_sections(read_json(REPO / "configs/vae/small-c8-pca.json"), SECTIONS)
    assert pca["model"].patch_path and pca["model"].latent_channels == 8 and pca["model"].downsample_factor == 8
