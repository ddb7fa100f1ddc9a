"""Latent cache: contents (mean/logvar, flips), refusal of a mismatched VAE, the sampling dataset,
and the encode_latents.py script."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_script
from lsgen.checkpoint import module_arrays, save_weights
from lsgen.data.dataset import DataConfig
from lsgen.data.io import read_label
from lsgen.runtime import jt
from vae.latents import (LatentCacheError, LatentDataset, encode_moments, encode_split, load_latent_cache,
                         load_vae, write_latent_cache)
from vae.model import AutoencoderKL, VAEConfig
from vae.train import ImageSplit

CFG = VAEConfig(base_channels=8, channel_mult=(1, 2, 2, 2), num_res_blocks=1, norm_groups=4)


def make_checkpoint(path, seed):
    jt.set_global_seed(seed)
    vae = AutoencoderKL(CFG)
    save_weights(path, module_arrays(vae), "vae", CFG, 1,
                 {"latent_scale": 0.8, "image_size": [32, 24], "data_root": "unused"})
    return path


@pytest.fixture
def cache(tiny_2023, tmp_path):
    vae_path = make_checkpoint(tmp_path / "vae.safetensors", 0)
    vae, _ = load_vae(vae_path)
    dataset = ImageSplit(DataConfig(root=str(tiny_2023), width=32, height=24, val_fraction=0.25, flip=False), "train")
    arrays = encode_split(vae, dataset, batch_size=4, progress=False)
    path = tmp_path / "latents" / "train.safetensors"
    info = {"split": "train", "image_size": [32, 24], "data_root": str(tiny_2023)}
    write_latent_cache(path, arrays, vae_path, dataset.names, info)
    return path, vae_path, vae, dataset


def test_cache_holds_posteriors_of_images_and_their_flips(cache):
    path, vae_path, vae, dataset = cache
    arrays, meta = load_latent_cache(path, vae_path)
    assert arrays["mean"].shape == arrays["logvar_flip"].shape == (len(dataset), 4, 3, 4)
    assert meta["latent_scale"] == 0.8 and meta["names"] == dataset.names and meta["split"] == "train"
    image = dataset.load(2)["image"][None]
    mean, logvar = encode_moments(vae, image)
    np.testing.assert_allclose(arrays["mean"][2], mean[0], rtol=1e-5, atol=1e-6)
    flipped, _ = encode_moments(vae, np.ascontiguousarray(image[..., ::-1]))
    np.testing.assert_allclose(arrays["mean_flip"][2], flipped[0], rtol=1e-5, atol=1e-6)


def test_cache_refuses_a_mismatched_vae(cache, tmp_path):
    path, _, _, _ = cache
    other = make_checkpoint(tmp_path / "other.safetensors", 1)
    with pytest.raises(LatentCacheError, match="made by a different VAE .*re-run scripts/encode_latents.py"):
        load_latent_cache(path, other)
    with pytest.raises(LatentCacheError, match="latent cache not found"):
        load_latent_cache(tmp_path / "none.safetensors", other)


def test_latent_dataset_samples_scaled_latents_with_matching_masks(cache, tiny_2023):
    path, vae_path, _, dataset = cache
    latents = LatentDataset(path, vae_path)
    arrays = latents.arrays
    mode = latents.load(1)
    np.testing.assert_allclose(mode["latents"], arrays["mean"][1] * 0.8, rtol=1e-6)
    label = read_label(tiny_2023 / "train_resized/labels" / f"{dataset.names[1]}.png")
    np.testing.assert_array_equal(mode["mask_ids"], label)
    assert mode["mask_onehot"].shape == (29, 24, 32)
    flips = 0
    for seed in range(6):
        sample = latents.load(1, np.random.default_rng(seed))
        flipped = np.array_equal(sample["mask_ids"], label[:, ::-1]) and not np.array_equal(label, label[:, ::-1])
        source = "mean_flip" if flipped else "mean"
        z = sample["latents"] / 0.8
        assert not np.allclose(z, arrays[source][1])  # a sample, not the mean
        assert np.abs(z - arrays[source][1]).max() < 8 * np.exp(0.5 * arrays["logvar" + source[4:]][1]).max()
        flips += flipped
    assert 0 < flips < 6


def test_encode_latents_script(tiny_2023, tmp_path):
    vae_path = make_checkpoint(tmp_path / "vae.safetensors", 0)
    out = tmp_path / "cache"
    result = run_script("scripts/encode_latents.py", "--vae", str(vae_path), "--data", str(tiny_2023), "--out",
                        str(out), "--val-fraction", "0.25", "--no-progress")
    assert result.returncode == 0, result.stderr
    train, _ = load_latent_cache(out / "train.safetensors", vae_path)
    val, meta = load_latent_cache(out / "val.safetensors", vae_path)
    assert len(train["mean"]) + len(val["mean"]) == 12 and meta["image_size"] == [32, 24]
    bad = run_script("scripts/encode_latents.py", "--vae", str(tmp_path / "missing.safetensors"), "--data",
                     str(tiny_2023), "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: ")
