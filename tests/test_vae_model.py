"""AutoencoderKL: shapes for f=4/8, the KL's closed form, one-line input errors, checkpoint round trip."""
from __future__ import annotations

import numpy as np
import pytest

from lsgen.checkpoint import CheckpointError, load_module, module_arrays, save_weights
from lsgen.config import ConfigError, from_dict
from lsgen.runtime import jt
from vae.latents import load_vae
from vae.model import AutoencoderKL, DiagonalGaussian, VAEConfig

TINY = dict(base_channels=8, norm_groups=4, num_res_blocks=1, latent_channels=4)


def images(batch=2, height=24, width=32, seed=0):
    return jt.array(np.random.default_rng(seed).uniform(-1, 1, (batch, 3, height, width)).astype(np.float32))


@pytest.mark.parametrize("mult, f", [((1, 2, 2), 4), ((1, 2, 2, 2), 8)])
def test_shapes_for_f4_and_f8(mult, f):
    jt.set_global_seed(0)
    cfg = VAEConfig(channel_mult=mult, **TINY)
    assert cfg.downsample_factor == f
    vae = AutoencoderKL(cfg)
    with jt.no_grad():
        posterior = vae.encode(images())
        assert posterior.mean.shape == posterior.logvar.shape == [2, 4, 24 // f, 32 // f]
        recon = vae.decode(posterior.sample())
    assert recon.shape == [2, 3, 24, 32]
    assert np.isfinite(recon.numpy()).all()


def test_kl_is_zero_for_standard_normal_and_matches_closed_form():
    zeros = jt.zeros((3, 8, 4, 5))
    np.testing.assert_array_equal(DiagonalGaussian(zeros).kl().numpy(), np.zeros(3))
    mean, logvar = np.full((1, 4, 2, 2), 1.0, np.float32), np.full((1, 4, 2, 2), np.log(4.0), np.float32)
    kl = DiagonalGaussian(jt.array(np.concatenate([mean, logvar], axis=1))).kl().numpy()
    # 0.5 * (mu^2 + var - 1 - log var) per element, 16 elements
    np.testing.assert_allclose(kl, [16 * 0.5 * (1.0 + 4.0 - 1.0 - np.log(4.0))], rtol=1e-5)


def test_sample_has_the_posterior_statistics():
    jt.set_global_seed(1)
    moments = np.concatenate([np.full((1, 1, 64, 64), 2.0), np.full((1, 1, 64, 64), np.log(0.25))], axis=1)
    z = DiagonalGaussian(jt.array(moments.astype(np.float32))).sample().numpy()
    assert abs(z.mean() - 2.0) < 0.03 and abs(z.std() - 0.5) < 0.03


@pytest.mark.parametrize("shape, match", [
    ((1, 3, 25, 32), "divisible by 8, got 25x32"),
    ((1, 4, 24, 32), "expected 3 channels, got 4"),
    ((3, 24, 32), r"expected a \(B,3,H,W\) array"),
])
def test_bad_inputs_give_one_line_errors(shape, match):
    vae = AutoencoderKL(VAEConfig(channel_mult=(1, 2, 2, 2), **TINY))
    with pytest.raises(ValueError, match=match) as info:
        vae.encode(jt.zeros(shape))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="expected 4 channels, got 3"):
        vae.decode(jt.zeros((1, 3, 3, 4)))


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="norm_groups=32 does not divide level width 8"):
        VAEConfig(base_channels=8, norm_groups=32)
    with pytest.raises(ConfigError, match="model.chanel_mult: unknown key"):
        from_dict(VAEConfig, {"chanel_mult": [1, 2]}, prefix="model.")


def test_checkpoint_round_trip_rebuilds_identical_model(tmp_path):
    jt.set_global_seed(0)
    cfg = VAEConfig(channel_mult=(1, 2, 2, 2), **TINY)
    vae = AutoencoderKL(cfg)
    raw = module_arrays(vae)
    ema = {f"ema.{k}": v + np.float32(0.01) for k, v in raw.items()}  # EMA weights differ from raw
    save_weights(tmp_path / "vae.safetensors", {**raw, **ema}, "vae", cfg, 7, {"latent_scale": 0.5})
    save_weights(tmp_path / "raw.safetensors", raw, "vae", cfg, 7)
    x = images(seed=3)

    loaded, meta = load_vae(tmp_path / "raw.safetensors")
    assert meta["weights"] == "raw" and meta["latent_scale"] is None and meta["step"] == 7
    vae.eval()
    with jt.no_grad():
        np.testing.assert_array_equal(loaded.decode(loaded.encode(x).mode()).numpy(),
                                      vae.decode(vae.encode(x).mode()).numpy())

    loaded, meta = load_vae(tmp_path / "vae.safetensors")
    assert meta["weights"] == "ema" and meta["latent_scale"] == 0.5
    for name, var in loaded.state_dict().items():
        np.testing.assert_array_equal(var.numpy(), ema[f"ema.{name}"])

    loaded, meta = load_vae(tmp_path / "vae.safetensors", weights="raw")
    assert meta["weights"] == "raw"
    np.testing.assert_array_equal(loaded.encoder.conv_in.weight.numpy(), raw["encoder.conv_in.weight"])
    with pytest.raises(CheckpointError, match="no EMA weights"):
        load_vae(tmp_path / "raw.safetensors", weights="ema")

    save_weights(tmp_path / "other.safetensors", raw, "unet", cfg, 7)
    with pytest.raises(CheckpointError, match="kind is 'unet', expected 'vae'"):
        load_vae(tmp_path / "other.safetensors")


def test_loaded_one_channel_conv_runs():
    """Regression for lsgen.checkpoint.load_module (the discriminator's last conv has 1 channel):
    Jittor 1.3.11 miscompiled a pending 1-element loaded bias fused into the conv's broadcast."""
    conv = jt.nn.Conv2d(4, 1, 3, padding=1)
    load_module(conv, {"weight": np.ones((1, 4, 3, 3), np.float32), "bias": np.array([0.5], np.float32)})
    np.testing.assert_allclose(conv(jt.zeros((1, 4, 5, 5))).numpy(), 0.5)
