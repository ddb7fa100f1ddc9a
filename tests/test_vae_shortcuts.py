"""DC-AE residual autoencoding in the VAE (`VAEConfig.residual_shortcuts`): the parameter-free
shortcut ops against numpy, shapes for f=4/8, the flag off is the pre-shortcut model, checkpoints."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from lsgen.checkpoint import load_module, module_arrays, save_weights
from lsgen.runtime import jt
from vae.latents import load_vae
from vae.model import (AutoencoderKL, Downsample, Upsample, VAEConfig, channel_to_space, down_shortcut,
                       space_to_channel, up_shortcut)

TINY = dict(base_channels=8, norm_groups=4, num_res_blocks=1, latent_channels=4)


def uniform(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def np_unshuffle(x, r=2):
    """numpy pixel unshuffle: (B,C,H,W) -> (B,C*r*r,H/r,W/r), channel c*r*r + i*r + j = pixel (i, j) of a cell."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4).reshape(b, c * r * r, h // r, w // r)


def np_shuffle(x, r=2):
    """numpy pixel shuffle, the inverse of np_unshuffle."""
    b, c, h, w = x.shape
    return x.reshape(b, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(b, c // (r * r), h * r, w * r)


def test_down_shortcut_is_unshuffle_then_group_average():
    x = uniform((2, 4, 6, 8))
    cells = np_unshuffle(x)  # (2, 16, 3, 4)
    np.testing.assert_array_equal(space_to_channel(jt.array(x)).numpy(), cells)
    for out in (8, 4):  # groups of 2 and of 4 consecutive channels
        expected = cells.reshape(2, out, 16 // out, 3, 4).mean(axis=2)
        np.testing.assert_allclose(down_shortcut(jt.array(x), out).numpy(), expected, rtol=1e-6, atol=1e-7)
    # equal widths: the shortcut is 2x2 average pooling
    pooled = x.reshape(2, 4, 3, 2, 4, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(down_shortcut(jt.array(x), 4).numpy(), pooled, rtol=1e-6, atol=1e-7)


def test_up_shortcut_is_repeat_then_shuffle():
    x = uniform((2, 8, 3, 4), seed=1)
    for out in (4, 8):  # 4*out/8 = 2 and 4 copies of every channel
        expected = np_shuffle(np.repeat(x, 4 * out // 8, axis=1))
        np.testing.assert_array_equal(up_shortcut(jt.array(x), out).numpy(), expected)
    shuffled = channel_to_space(jt.array(x))
    np.testing.assert_array_equal(shuffled.numpy(), jt.nn.PixelShuffle(2)(jt.array(x)).numpy())
    np.testing.assert_array_equal(space_to_channel(shuffled).numpy(), x)  # the two are inverses


def test_resamplers_with_zero_conv_are_their_shortcuts():
    x = jt.array(uniform((1, 8, 4, 6), seed=2))
    pairs = ((Downsample(8, 16, shortcut=True), down_shortcut), (Upsample(8, 4, shortcut=True), up_shortcut))
    for block, shortcut in pairs:
        load_module(block, {k: np.zeros(v.shape, np.float32) for k, v in module_arrays(block).items()})
        np.testing.assert_array_equal(block(x).numpy(), shortcut(x, block.out_channels).numpy())


@pytest.mark.parametrize("mult, f", [((1, 2, 2), 4), ((1, 2, 2, 2), 8)])
def test_shapes_for_f4_and_f8_with_shortcuts(mult, f):
    jt.set_global_seed(0)
    vae = AutoencoderKL(VAEConfig(channel_mult=mult, residual_shortcuts=True, **TINY))
    assert not any("quant_conv" in k for k in vae.state_dict())
    with jt.no_grad():
        posterior = vae.encode(jt.array(uniform((2, 3, 24, 32))))
        assert posterior.mean.shape == posterior.logvar.shape == [2, 4, 24 // f, 32 // f]
        recon = vae.decode(posterior.sample())
    assert recon.shape == [2, 3, 24, 32] and np.isfinite(recon.numpy()).all()


def test_shortcut_widths_must_divide():
    with pytest.raises(ValueError, match=r"resampling shortcut needs 24 channels to divide 32") as info:
        VAEConfig(base_channels=8, norm_groups=4, channel_mult=(1, 3), residual_shortcuts=True)
    assert "\n" not in str(info.value)
    VAEConfig(base_channels=8, norm_groups=4, channel_mult=(1, 3))  # fine without shortcuts


def test_flag_off_is_the_pre_shortcut_model():
    """Pinned from the code before residual_shortcuts existed (same config, weights from numpy):
    the same 172 parameter names and shapes, and the same outputs."""
    cfg = VAEConfig(channel_mult=(1, 2, 2, 2), **TINY)
    assert cfg.residual_shortcuts is False
    vae = AutoencoderKL(cfg)
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    names = json.dumps(sorted((k, list(s)) for k, s in shapes.items())).encode()
    assert len(shapes) == 172 and sum(int(np.prod(s)) for s in shapes.values()) == 81215
    assert hashlib.sha256(names).hexdigest()[:16] == "10fc2d43dd793a23"
    rng = np.random.default_rng(0)
    load_module(vae, {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in sorted(shapes.items())})
    vae.eval()
    with jt.no_grad():
        mean = vae.encode(jt.array(uniform((2, 3, 24, 32), seed=1))).mean
        recon = vae.decode(mean).numpy()
    np.testing.assert_allclose(mean.numpy()[0, :, 0, 0], [-0.0151272863, -0.0765455887, 0.0960087180, -0.1287796497],
                               rtol=1e-4, atol=1e-6)
    assert np.abs(recon).mean() == pytest.approx(0.06986697, rel=1e-4)


def test_checkpoint_round_trip_with_shortcuts(tmp_path):
    jt.set_global_seed(0)
    cfg = VAEConfig(channel_mult=(1, 2, 2, 2), residual_shortcuts=True, **TINY)
    vae = AutoencoderKL(cfg)
    save_weights(tmp_path / "vae.safetensors", module_arrays(vae), "vae", cfg, 3)
    loaded, meta = load_vae(tmp_path / "vae.safetensors")
    assert loaded.cfg == cfg and meta["config"]["residual_shortcuts"] is True
    x = jt.array(uniform((2, 3, 24, 32), seed=3))
    vae.eval()
    with jt.no_grad():
        np.testing.assert_array_equal(loaded.decode(loaded.encode(x).mode()).numpy(),
                                      vae.decode(vae.encode(x).mode()).numpy())
