"""UNet: shapes (odd sizes), batch-independent time embedding, mask dropping, guidance batching,
checkpoint round trip."""
from __future__ import annotations

import numpy as np
import pytest

from diffusion.blocks import timestep_embedding
from diffusion.guidance import cfg_weights, guided_denoise_fn
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import to_dict
from lsgen.runtime import jt

TINY = UNetConfig(in_channels=4, out_channels=4, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                  attention_levels=(1,), num_heads=2, groups=4, spade_hidden=8, ref_dim=6)


@pytest.fixture(scope="module")
def net():
    jt.set_global_seed(0)
    model = UNet(TINY)
    for p in model.parameters():  # break the zero-initialised outputs so outputs depend on inputs
        p.assign(p + jt.randn(p.shape) * 0.05)
    model.eval()
    return model


def inputs(batch=3, h=6, w=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 29, size=(batch, h * 8, w * 8))
    onehot = np.moveaxis(np.eye(29, dtype=np.float32)[ids], -1, 1)
    return dict(x=jt.array(rng.standard_normal((batch, 4, h, w)).astype(np.float32)),
                t=jt.array(rng.integers(0, 1000, size=batch).astype(np.int32)),
                mask_onehot=jt.array(onehot), mask_keep=jt.ones(batch),
                ref_tokens=jt.array(rng.standard_normal((batch, 5, 6)).astype(np.float32)),
                ref_global=jt.array(rng.standard_normal((batch, 6)).astype(np.float32)))


def call(net, d, **over):
    d = {**d, **over}
    return net(d["x"], d["t"], mask_onehot=d["mask_onehot"], mask_keep=d["mask_keep"],
               ref_tokens=d["ref_tokens"], ref_global=d["ref_global"]).numpy()


def test_time_embedding_is_per_sample():
    t = jt.array(np.array([0, 10, 999, 10], np.int32))
    emb = timestep_embedding(t, 16).numpy()
    assert emb.shape == (4, 16)
    np.testing.assert_allclose(emb[1], emb[3])
    np.testing.assert_allclose(emb[2], timestep_embedding(jt.array([999]), 16).numpy()[0], atol=1e-6)
    assert timestep_embedding(t, 7).shape == (4, 7)


@pytest.mark.parametrize("h, w", [(6, 8), (5, 7), (3, 9)])
def test_shapes_for_odd_latent_sizes(net, h, w):
    out = call(net, inputs(2, h, w))
    assert out.shape == (2, 4, h, w) and np.isfinite(out).all()


def test_batch_elements_are_independent(net):
    d = inputs(3)
    full = call(net, d)
    single = call(net, {k: v[1:2] for k, v in d.items()})
    np.testing.assert_allclose(full[1:2], single, rtol=1e-4, atol=1e-5)


def test_mask_conditioning_and_dropping(net):
    d = inputs(2)
    base = call(net, d)
    other = call(net, d, mask_onehot=inputs(2, seed=9)["mask_onehot"])
    assert np.abs(base - other).max() > 1e-4  # the mask matters
    dropped = call(net, d, mask_keep=jt.zeros(2))
    no_mask = net(d["x"], d["t"], mask_onehot=None, ref_tokens=d["ref_tokens"], ref_global=d["ref_global"]).numpy()
    np.testing.assert_allclose(dropped, no_mask, rtol=1e-5, atol=1e-6)  # keep=0 ignores the mask
    np.testing.assert_allclose(call(net, d, mask_keep=jt.zeros(2), mask_onehot=inputs(2, seed=9)["mask_onehot"]),
                               no_mask, rtol=1e-5, atol=1e-6)


def test_guidance_is_one_batched_call_equal_to_separate_passes(net):
    d = inputs(2)
    calls = []

    def model_fn(x, t, **cond):
        calls.append(x.shape[0])
        return net(x, t, **cond)

    cond = dict(mask_onehot=d["mask_onehot"], mask_keep=jt.ones(2), ref_tokens=d["ref_tokens"], ref_global=d["ref_global"])
    uncond = {**cond, "mask_keep": jt.zeros(2)}
    denoise = guided_denoise_fn(model_fn, [uncond, cond], cfg_weights(3.0))
    guided = denoise(d["x"], 500).numpy()
    assert calls == [4]
    t = jt.full((2,), 500, dtype="int32")
    e_u, e_c = net(d["x"], t, **uncond).numpy(), net(d["x"], t, **cond).numpy()
    np.testing.assert_allclose(guided, e_u + 3.0 * (e_c - e_u), rtol=1e-4, atol=1e-5)


def test_checkpoint_round_trip(net, tmp_path):
    path = tmp_path / "unet.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(net), "unet", {"unet": to_dict(TINY)}, step=3)
    meta = ckpt.read_metadata(path)
    rebuilt = UNet(UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"]["unet"].items()}))
    ckpt.load_weights(rebuilt, path, kind="unet")
    rebuilt.eval()
    d = inputs(2)
    np.testing.assert_array_equal(call(net, d), call(rebuilt, d))


def test_zero_initialised_output_and_bad_config():
    jt.set_global_seed(0)
    fresh = UNet(TINY)
    assert np.abs(call(fresh, inputs(1))).max() == 0.0
    with pytest.raises(ValueError, match="groups=3 must divide"):
        UNetConfig(base_channels=8, groups=3)
