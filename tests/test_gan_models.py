"""GAN generators: SPADE closed form, seg-noise at init, deterministic eval sampling, checkpoints."""
from __future__ import annotations

import numpy as np
import pytest

from lsgen import checkpoint as ckpt
from lsgen.config import load_config
from lsgen.runtime import jt

from gan.models import MODELS, load_generator
from gan.pure import replace_pure
from gan.sample import GANSampler, load
from gan.spade import SPADE, SPADEConfig
from gan.train import sections_for


def _model_cfg(name: str):
    return load_config(f"configs/gan/{name}-tiny.json", sections_for(name))["model"]


def _build(name: str, seed: int = 0):
    jt.set_global_seed(seed)
    return MODELS[name].model_class(_model_cfg(name))


def _masks(n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 29, (n, 6, 8))
    ids = np.kron(cells, np.ones((8, 8), dtype=np.int64))
    return np.eye(29, dtype=np.float32)[ids].transpose(0, 3, 1, 2).copy()


def test_spade_with_a_constant_mask_equals_its_closed_form():
    cfg = SPADEConfig(channels=(8, 8), height=16, width=16, norm="instance", spade_hidden=5)
    jt.set_global_seed(0)
    spade = SPADE(4, cfg)
    for conv in (spade.shared[0], spade.gamma, spade.beta):
        conv.bias.update(jt.randn(conv.bias.shape) * 0.5)
    cls = 7
    mask = np.zeros((2, 29, 12, 12), np.float32)
    mask[:, cls] = 1.0
    x = np.random.default_rng(1).standard_normal((2, 4, 12, 12)).astype(np.float32)
    out = spade(jt.array(x), jt.array(mask)).numpy()
    w_s, b_s = spade.shared[0].weight.numpy(), spade.shared[0].bias.numpy()
    hidden = np.maximum(w_s[:, cls].sum(axis=(1, 2)) + b_s, 0.0)         # interior of a constant map
    gamma = np.einsum("okij,k->o", spade.gamma.weight.numpy(), hidden) + spade.gamma.bias.numpy()
    beta = np.einsum("okij,k->o", spade.beta.weight.numpy(), hidden) + spade.beta.bias.numpy()
    mean = x.mean(axis=(2, 3), keepdims=True)
    normed = (x - mean) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    expected = normed * (1 + gamma[None, :, None, None]) + beta[None, :, None, None]
    np.testing.assert_allclose(out[:, :, 2:-2, 2:-2], expected[:, :, 2:-2, 2:-2], rtol=1e-4, atol=1e-4)


def test_seg_noise_is_zero_at_init_and_live_once_trained():
    gen = _build("apf")
    scales = [m.noise_scale for m in gen.modules() if isinstance(m, SPADE)]
    assert scales and all(np.abs(s.weight.numpy()).max() == 0 and np.abs(s.bias.numpy()).max() == 0 for s in scales)
    gen.eval()
    mask = jt.array(_masks(2))
    with jt.no_grad():
        jt.set_seed(1)
        with_noise = gen(mask, noise=True).numpy()
        without = gen(mask, noise=False).numpy()
        np.testing.assert_array_equal(with_noise, without)
        scales[0].bias.update(jt.ones(scales[0].bias.shape))
        jt.set_seed(1)
        a = gen(mask).numpy()
        jt.set_seed(2)
        b = gen(mask).numpy()
    assert np.abs(a - b).max() > 1e-4


def test_spade_ref_sampling_is_deterministic_in_eval_and_stochastic_on_request():
    gen = _build("spade")
    masks = _masks(2)
    refs = np.random.default_rng(3).uniform(-1, 1, (2, 3, 48, 64)).astype(np.float32)
    det = GANSampler(gen, "spade")
    first = det.sample(masks, refs, seed=0)
    assert first.shape == (2, 3, 48, 64) and np.abs(first).max() <= 1.0
    np.testing.assert_array_equal(det.sample(masks, refs, seed=5), first)     # z = mu: seed-free
    other_ref = det.sample(masks, refs[::-1].copy(), seed=0)
    assert np.abs(other_ref - first).max() > 1e-5                              # the ref matters
    sto = GANSampler(gen, "spade", stochastic=True)
    np.testing.assert_array_equal(sto.sample(masks, refs, seed=1), sto.sample(masks, refs, seed=1))
    assert np.abs(sto.sample(masks, refs, seed=1) - sto.sample(masks, refs, seed=2)).max() > 1e-6
    np.testing.assert_array_equal(det.sample(masks, None, seed=0), det.sample(masks, None, seed=9))


@pytest.mark.parametrize("name", ["pix2pix", "spade"])
def test_eval_mode_uses_running_statistics_not_the_test_batch(name):
    gen = _build(name)
    gen.train()
    with jt.no_grad():                          # move BN running stats away from their init
        for _ in range(2):
            gen(jt.array(_masks(4, seed=9))).sync()
    sampler = GANSampler(gen, name)
    masks = _masks(3)
    refs = np.zeros((3, 3, 48, 64), np.float32)
    alone = sampler.sample(masks[:1], refs[:1], seed=0)
    batched = sampler.sample(masks, refs, seed=0)
    np.testing.assert_allclose(batched[:1], alone, atol=1e-5)
    assert gen.is_training()                    # sampling restores the caller's mode


def test_checkpoint_round_trip_through_loader_and_registry(tmp_path):
    from evaluation.registry import load_generator as registry_load  # noqa: PLC0415

    for name in ("pix2pix", "apf"):
        gen = _build(name, seed=4)
        path = tmp_path / f"{name}.safetensors"
        arrays = ckpt.module_arrays(gen)
        ckpt.save_weights(path, {**arrays, **{"ema." + k: v for k, v in arrays.items()}}, MODELS[name].kind,
                          gen.cfg, 3)
        loaded, loaded_name, meta = load_generator(path)
        assert loaded_name == name and not loaded.is_training() and meta["step"] == 3
        masks = _masks(2)
        expected = GANSampler(gen, name).sample(masks, None, seed=0)
        np.testing.assert_allclose(load(path).sample(masks, None, seed=0), expected, atol=1e-6)
        sampler, _ = registry_load(path)
        np.testing.assert_allclose(sampler.sample(masks, None, seed=0), expected, atol=1e-6)
    bad = ckpt.module_arrays(gen)
    bad.pop(next(iter(bad)))
    ckpt.save_weights(tmp_path / "bad.safetensors", bad, MODELS["apf"].kind, gen.cfg, 3)
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        load_generator(tmp_path / "bad.safetensors")


def test_pure_replacement_only_touches_near_pure_masks():
    ids = np.zeros((2, 10, 10), dtype=np.int64)
    ids[0, 0, :1] = 3                           # 99% class 0 -> replaced (threshold 98%)
    ids[1, :5] = 3                              # 50/50 -> untouched
    images = np.zeros((2, 3, 10, 10), np.float32)
    bank = {0: np.full((2, 10, 10, 3), 255, np.uint8)}
    out, changed = replace_pure(images, ids, bank, seed=0)
    assert changed == 1
    assert np.all(out[0][:, ids[0] == 0] == 1.0) and np.all(out[0][:, ids[0] == 3] == 0.0)
    np.testing.assert_array_equal(out[1], images[1])
