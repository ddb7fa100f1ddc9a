"""TSIT and LGGAN+SAU: FAdaIN = AdaIN, SAU's centre tap = nearest upsampling, the class loss against
numpy, forward shapes with and without a reference, checkpoints, and tiny runs of the shared trainer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsgen import checkpoint as ckpt
from lsgen.config import load_config
from lsgen.data.dataset import LandscapeDataset
from lsgen.data.loader import BatchLoader
from lsgen.data.synthetic import write_dataset
from lsgen.runtime import jt

from gan.lggan import SAU, LGGANConfig, class_consistency_loss, class_means, reassemble
from gan.models import MODELS, load_generator
from gan.sample import GANSampler, load
from gan.train import make_task, sections_for, train
from gan.tsit import ADAIN_EPS, fadain

W, H = 64, 48


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("tsit_lggan") / "synth"
    write_dataset(root, 12, width=W, height=H, seed=0, n_test=2, workers=1, progress=False)
    return root


def _sections(name: str, root=None, *overrides: str) -> dict:
    extra = [f"data.root={root}"] if root is not None else []
    return load_config(f"configs/gan/{name}-tiny.json", sections_for(name), [*extra, *overrides])


def _build(name: str, seed: int = 0):
    jt.set_global_seed(seed)
    return MODELS[name].model_class(_sections(name)["model"])


def _masks(n: int = 2, seed: int = 0) -> np.ndarray:
    """(n, 29, 48, 64) one-hot of 8x8 blocks of random classes."""
    cells = np.random.default_rng(seed).integers(0, 29, (n, H // 8, W // 8))
    ids = np.kron(cells, np.ones((8, 8), dtype=np.int64))
    return np.eye(29, dtype=np.float32)[ids].transpose(0, 3, 1, 2).copy()


def _refs(n: int = 2, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, H, W)).astype(np.float32)


def _adain_numpy(x, s, eps=ADAIN_EPS):
    mx, ms = x.mean(axis=(2, 3), keepdims=True), s.mean(axis=(2, 3), keepdims=True)
    sx, ss = np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps), np.sqrt(s.var(axis=(2, 3), keepdims=True) + eps)
    return ss * (x - mx) / sx + ms


def test_fadain_equals_adain_closed_form():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 4, 6, 5)) * 3 + 1).astype(np.float32)
    s = (rng.standard_normal((2, 4, 3, 7)) * 0.5 - 2).astype(np.float32)   # another level size is fine
    np.testing.assert_allclose(fadain(jt.array(x), jt.array(s)).numpy(), _adain_numpy(x, s), rtol=1e-4, atol=1e-4)
    same = fadain(jt.array(x), jt.array(x)).numpy()                         # identical content and style
    np.testing.assert_allclose(same, _adain_numpy(x, x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(same, x, rtol=1e-3, atol=1e-3)               # ... is the identity (up to eps)


def test_reassembly_with_a_one_hot_kernel_is_a_shifted_nearest_upsampling():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    k, s = 5, 2
    for dy, dx in ((0, 0), (-1, 2), (2, -2)):
        kernels = np.zeros((2, k * k, 4 * s, 5 * s), np.float32)
        kernels[:, (dy + k // 2) * k + dx + k // 2] = 1.0
        out = reassemble(jt.array(x), jt.array(kernels), k, s).numpy()
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
        ys = np.arange(4 * s) // s + dy + 2
        xs = np.arange(5 * s) // s + dx + 2
        np.testing.assert_array_equal(out, padded[:, :, ys][:, :, :, xs])
        if (dy, dx) == (0, 0):
            np.testing.assert_array_equal(out, x.repeat(s, axis=2).repeat(s, axis=3))


def test_sau_whose_kernels_pick_the_centre_tap_is_nearest_upsampling():
    cfg = LGGANConfig(channels=(16, 8), height=16, width=16, sau_kernel=3, sau_hidden=4)
    jt.set_global_seed(0)
    sau = SAU(6, 4, cfg)
    sau.encoder.weight.update(jt.zeros(sau.encoder.weight.shape))
    bias = np.zeros(sau.encoder.bias.shape, np.float32)
    bias[4 * 4:5 * 4] = 50.0               # channels t·s² + sub-pixel of the centre tap t = 4: softmax ≈ one-hot
    sau.encoder.bias.update(jt.array(bias))
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 7)).astype(np.float32)
    kernels = sau.kernels(jt.array(x)).numpy()
    assert kernels.shape == (2, 9, 10, 14) and np.allclose(kernels.sum(axis=1), 1.0, atol=1e-5)
    projected = np.einsum("oc,bchw->bohw", sau.proj.weight.numpy()[:, :, 0, 0], x)
    np.testing.assert_allclose(sau(jt.array(x)).numpy(), projected.repeat(2, axis=2).repeat(2, axis=3),
                               rtol=1e-4, atol=1e-4)


def test_class_consistency_loss_matches_numpy():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 29, 29)).astype(np.float32) * 3
    present = (rng.random((3, 29)) < 0.3).astype(np.float32)
    shifted = logits - logits.max(axis=2, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))    # softmax over the 29 logits
    expected = -(log_probs[:, np.arange(29), np.arange(29)] * present).sum() / present.sum()
    got = class_consistency_loss(jt.array(logits), jt.array(present)).item()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_class_means_use_each_class_its_own_mask():
    masks = _masks(2, seed=5)
    feats = np.random.default_rng(6).standard_normal((2, 5, H, W)).astype(np.float32)
    means, present = class_means(jt.array(feats), jt.array(masks))
    means, present = means.numpy(), present.numpy()
    for b in range(2):
        for c in range(29):
            pixels = masks[b, c] > 0
            assert present[b, c] == float(pixels.any())
            expected = feats[b][:, pixels].mean(axis=1) if pixels.any() else np.zeros(5)
            np.testing.assert_allclose(means[b, c], expected, rtol=1e-4, atol=1e-5)


def test_tsit_forward_with_and_without_reference():
    gen = _build("tsit")
    assert gen.cfg.style_stream and gen.style_stream is not None
    levels = gen.content_stream(jt.array(_masks(1)))
    assert [tuple(f.shape[2:]) for f in levels] == [(H >> k, W >> k) for k in range(len(gen.cfg.channels))]
    sampler = GANSampler(gen, "tsit")
    masks, refs = _masks(2), _refs(2)
    with_ref = sampler.sample(masks, refs, seed=0)
    assert with_ref.shape == (2, 3, H, W) and np.abs(with_ref).max() <= 1.0
    np.testing.assert_array_equal(sampler.sample(masks, refs, seed=7), with_ref)      # deterministic
    assert np.abs(sampler.sample(masks, refs[::-1].copy(), seed=0) - with_ref).max() > 1e-5   # the ref matters
    without = sampler.sample(masks, None, seed=0)
    assert without.shape == (2, 3, H, W) and np.isfinite(without).all()


def test_lggan_forward_parts_and_fusion():
    gen = _build("lggan")
    gen.eval()
    masks = _masks(2)
    with jt.no_grad():
        parts = {k: v.numpy() for k, v in gen.parts(jt.array(masks)).items()}
    for name in ("final", "global", "local"):
        assert parts[name].shape == (2, 3, H, W) and np.abs(parts[name]).max() <= 1.0
    attention = parts["attention"]
    assert attention.shape == (2, 2, H, W) and np.allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    fused = attention[:, :1] * parts["local"] + attention[:, 1:] * parts["global"]
    np.testing.assert_allclose(parts["final"], fused, atol=1e-5)
    assert parts["class_logits"].shape == (2, 29, 29)
    np.testing.assert_array_equal(parts["class_present"], (masks.sum(axis=(2, 3)) > 0).astype(np.float32))
    sampler = GANSampler(gen, "lggan")
    np.testing.assert_array_equal(sampler.sample(masks, _refs(2), seed=0), sampler.sample(masks, None, seed=3))


@pytest.mark.parametrize("name", ["tsit", "lggan"])
def test_checkpoint_round_trip_through_load_generator_and_registry(name, tmp_path):
    from evaluation.registry import load_generator as registry_load  # noqa: PLC0415

    gen = _build(name, seed=4)
    path = tmp_path / f"{name}.safetensors"
    arrays = ckpt.module_arrays(gen)
    ckpt.save_weights(path, {**arrays, **{"ema." + k: v for k, v in arrays.items()}}, MODELS[name].kind, gen.cfg, 3)
    loaded, loaded_name, meta = load_generator(path)
    assert loaded_name == name and not loaded.is_training() and meta["kind"] == f"gan-{name}"
    assert loaded.cfg == gen.cfg
    masks, refs = _masks(2), _refs(2)
    expected = GANSampler(gen, name).sample(masks, refs, seed=0)
    np.testing.assert_allclose(load(path).sample(masks, refs, seed=0), expected, atol=1e-6)
    sampler, _ = registry_load(path)
    np.testing.assert_allclose(sampler.sample(masks, refs, seed=0), expected, atol=1e-6)


def _optimise(phase, batch: dict, n: int) -> tuple[list[float], dict]:
    """n updates of one phase on a fixed batch with fixed randomness (a fixed objective)."""
    values = []
    for i in range(n):
        np.random.seed(0)
        jt.set_seed(0)
        terms = phase.loss_fn(dict(batch), 0)
        phase.updater.backward(terms["loss"])
        phase.updater.apply(i)
        values.append(terms["loss"].item())
    return values, terms


@pytest.mark.parametrize("name", ["tsit", "lggan"])
def test_shared_trainer_lowers_g_loss_and_writes_a_loadable_checkpoint(name, synth, tmp_path):
    sections = _sections(name, synth)
    task, _ = make_task(name, sections)
    loader = BatchLoader(LandscapeDataset(sections["data"], "train"), 4, seed=0)
    batch = {k: jt.array(v) for k, v in next(loader).items() if k in ("image", "mask_onehot")}
    _, g_phase = task.phases
    g_losses, terms = _optimise(g_phase, batch, 6)
    assert np.isfinite(g_losses).all() and np.mean(g_losses[-2:]) < np.mean(g_losses[:2]), g_losses
    if name == "lggan":     # the branches are judged too, with the class and TV terms
        assert {"adv", "global_adv", "local_adv", "class", "tv", "l1"} <= set(terms)
    run = tmp_path / name
    path = train(name, _sections(name, synth, "train.steps=2", "train.save_every=2", "train.log_every=2",
                                 "train.preview_every=2"), run, progress=False)
    assert ckpt.read_metadata(path)["kind"] == f"gan-{name}"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert np.isfinite(log[-1]["g_step/loss"]) and np.isfinite(log[-1]["d_step/loss"])
    assert (run / "previews" / "step0000002.png").is_file()
    images = load(path).sample(_masks(1), _refs(1), seed=0)
    assert images.shape == (1, 3, H, W) and np.isfinite(images).all()
