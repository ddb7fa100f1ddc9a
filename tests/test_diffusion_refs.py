"""Reference conditioning: colour statistics, null reference, compositional guidance, img2img
start, training references that share style but not layout, colour transfer."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from diffusion.conditioning import color_statistics
from diffusion.pipeline import LandscapePipeline, SampleOptions, guidance_branches
from diffusion.refs import AugmentedRefs, StyleRefs, augmented_view, make_ref_source
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.unet import UNet, UNetConfig
from lsgen.data.color import lab_to_rgb, match_color, rgb_to_lab
from lsgen.data.synthetic import write_dataset
from lsgen.runtime import jt

CFG = UNetConfig(in_channels=4, out_channels=4, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                 attention_levels=(1,), num_heads=2, groups=4, spade_hidden=8, ref_dim=8)


class FakeVAE:
    """Identity-like 'VAE' with f = 8 (average pool / nearest upsample), enough for pipeline logic."""

    class cfg:
        downsample_factor = 8

    def encode(self, images):
        pooled = jt.nn.pool(images, 8, "mean", stride=8)
        return SimpleNamespace(mean=jt.concat([pooled, jt.zeros_like(pooled[:, :1])], dim=1))

    def decode(self, latents):
        return jt.nn.interpolate(latents[:, :3], scale_factor=8, mode="nearest").clamp(-1, 1)


@pytest.fixture(scope="module")
def pipe():
    jt.set_global_seed(0)
    unet = UNet(CFG)
    for p in unet.parameters():
        p.assign(p + jt.randn(p.shape) * 0.05)
    unet.eval()
    return LandscapePipeline(unet, NoiseSchedule(ScheduleConfig()), FakeVAE(), latent_scale=1.0)


def case(seed=0, b=2, h=32, w=48):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 29, size=(b, h, w)).astype(np.int32), rng.integers(0, 256, size=(b, h, w, 3)).astype(np.uint8)


def test_color_statistics_match_numpy():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, size=(2, 3, 8, 6)).astype(np.float32)
    stats = color_statistics(jt.array(image), hist_bins=2).numpy()
    flat = image.reshape(2, 3, -1)
    np.testing.assert_allclose(stats[:, :3], flat.mean(2), atol=1e-5)
    np.testing.assert_allclose(stats[:, 3:6], flat.std(2), atol=1e-5)
    levels = np.clip(np.floor((flat + 1) / 2 * 2), 0, 1).astype(int)
    cells = (levels[:, 0] * 2 + levels[:, 1]) * 2 + levels[:, 2]
    expected = np.stack([np.bincount(c, minlength=8) / c.size for c in cells])
    np.testing.assert_allclose(stats[:, 6:], expected, atol=1e-6)


def test_dropped_reference_is_the_null_reference(pipe):
    _, refs = case()
    ref = jt.array(refs.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)
    tokens, glob = pipe.unet.encode_ref(ref, jt.array([1.0, 0.0]))
    null_tokens, null_glob = pipe.unet.null_ref(2)
    np.testing.assert_allclose(tokens.numpy()[1], null_tokens.numpy()[1])
    np.testing.assert_allclose(glob.numpy()[1], 0)
    assert np.abs(tokens.numpy()[0] - null_tokens.numpy()[0]).max() > 1e-4


def test_guidance_weights():
    assert guidance_branches(3.0, 2.0, True) == [(0, 0, -2.0), (1, 0, 1.0), (1, 1, 2.0)]
    assert guidance_branches(2.0, 2.0, True) == [(0, 0, -1.0), (1, 1, 2.0)]  # zero-weight pass dropped
    assert guidance_branches(1.0, 0.0, True) == [(1, 0, 1.0)]
    assert guidance_branches(2.5, 1.0, False) == [(0, 0, -1.5), (1, 0, 2.5)]


def test_compositional_guidance_equals_three_passes(pipe):
    masks, refs = case()
    options = SampleOptions(guidance_mask=3.0, guidance_ref=2.0)
    guided = pipe.denoise_fn(masks, refs, options)
    x = jt.array(np.random.default_rng(3).standard_normal((2, 4, 4, 6)).astype(np.float32))
    t = jt.full((2,), 400, dtype="int32")
    mask = jt.array(np.moveaxis(np.eye(29, dtype=np.float32)[masks], -1, 1))
    ref = jt.array(refs.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)
    tokens, glob = pipe.unet.encode_ref(ref)
    null_tokens, null_glob = pipe.unet.null_ref(2)

    def eps(keep, with_ref):
        rt, rg = (tokens, glob) if with_ref else (null_tokens, null_glob)
        return pipe.unet(x, t, mask_onehot=mask, mask_keep=jt.full((2,), keep), ref_tokens=rt, ref_global=rg).numpy()

    e00, em0, emr = eps(0.0, False), eps(1.0, False), eps(1.0, True)
    expected = e00 + 3.0 * (em0 - e00) + 2.0 * (emr - em0)
    np.testing.assert_allclose(guided(x, 400).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_zero_ref_guidance_is_the_mask_only_model(pipe):
    masks, refs = case()
    options = SampleOptions(sampler="ddim", steps=3, guidance_mask=2.0, guidance_ref=0.0, seed=4)
    np.testing.assert_array_equal(pipe.generate(masks, options, refs), pipe.generate(masks, options, None))
    with_ref = pipe.generate(masks, SampleOptions(sampler="ddim", steps=3, guidance_ref=1.0, seed=4), refs)
    assert np.abs(with_ref.astype(int) - pipe.generate(masks, options, None)).max() > 0


def test_ref_strength_start(pipe):
    masks, refs = case()
    full = SampleOptions(steps=10, ref_strength=1.0)
    x_ref, steps_ref = pipe.start((2, 4, 4, 6), refs, full, np.random.default_rng(5))
    x_plain, steps_plain = pipe.start((2, 4, 4, 6), None, full, np.random.default_rng(5))
    np.testing.assert_array_equal(x_ref.numpy(), x_plain.numpy())
    np.testing.assert_array_equal(steps_ref, steps_plain)
    x_half, steps_half = pipe.start((2, 4, 4, 6), refs, SampleOptions(steps=10, ref_strength=0.5), np.random.default_rng(5))
    assert len(steps_half) == 5 and steps_half[0] == steps_plain[5]
    latents = pipe.vae.encode(jt.array(refs.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)).mean.numpy()
    noisy = pipe.schedule.add_noise(latents, x_plain.numpy(), int(steps_half[0]))
    np.testing.assert_allclose(x_half.numpy(), noisy, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="ref strength"):
        SampleOptions(ref_strength=0.0)
    # shuffled start: the same noise, the reference's latent vectors at permuted positions
    shuffled = SampleOptions(steps=10, ref_strength=0.5, ref_shuffle=True)
    x_shuf, steps_shuf = pipe.start((2, 4, 4, 6), refs, shuffled, np.random.default_rng(5))
    np.testing.assert_array_equal(steps_shuf, steps_half)
    a_t = np.sqrt(pipe.schedule.alphas_cumprod[int(steps_half[0])])
    moved = (x_shuf.numpy() - x_half.numpy()) / a_t          # = shuffled latents - latents
    np.testing.assert_allclose(moved.mean(axis=(2, 3)), 0, atol=1e-4)
    assert np.abs(moved).max() > 1e-3


def test_shuffle_positions_permutes_whole_latent_vectors():
    from diffusion.pipeline import shuffle_positions

    latents = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    out = shuffle_positions(jt.array(latents), np.random.default_rng(1)).numpy()
    for before, after in zip(latents, out):
        vectors = sorted(map(tuple, before.reshape(3, -1).T))
        assert sorted(map(tuple, after.reshape(3, -1).T)) == vectors
        assert not np.array_equal(before, after)


def test_block_classes_is_the_blockwise_majority():
    from diffusion.pipeline import block_classes

    ids = np.random.default_rng(0).integers(0, 4, size=(2, 16, 24)).astype(np.int32)
    ids[0, :8, :8] = 3                                   # a block of one class
    ids[1, 8:16, 16:24] = [[0, 1, 1, 2, 2, 2, 2, 2]] * 8  # 2 has the majority
    out = block_classes(ids, 8)
    assert out.shape == (2, 2, 3) and out[0, 0, 0] == 3 and out[1, 1, 2] == 2
    for b in range(2):
        for i in range(2):
            for j in range(3):
                counts = np.bincount(ids[b, 8 * i:8 * i + 8, 8 * j:8 * j + 8].ravel(), minlength=29)
                assert out[b, i, j] == counts.argmax()


def test_match_positions_moves_reference_latents_by_class():
    from diffusion.pipeline import match_positions

    rng = np.random.default_rng(0)
    latents = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    source = rng.integers(0, 3, size=(2, 4, 5))
    target = rng.integers(0, 4, size=(2, 4, 5))          # class 3 is absent from every source
    out = match_positions(jt.array(latents), target, source, np.random.default_rng(1)).numpy()
    again = match_positions(jt.array(latents), target, source, np.random.default_rng(1)).numpy()
    np.testing.assert_array_equal(out, again)
    for b in range(2):
        vectors = latents[b].reshape(3, -1).T
        by_class = {c: {tuple(v) for v in vectors[source[b].ravel() == c]} for c in range(4)}
        got = out[b].reshape(3, -1).T
        for pos, cls in enumerate(target[b].ravel()):
            pool = by_class[cls] or {tuple(v) for v in vectors}
            assert tuple(got[pos]) in pool
        for cls in range(3):  # every reference vector of a class is used before any is repeated
            used = [tuple(v) for v in got[target[b].ravel() == cls]]
            if by_class[cls] and used:
                counts = [used.count(v) for v in by_class[cls]]
                assert max(counts) - min(counts) <= 1


def test_class_matched_start_places_reference_latents_in_the_mask_layout(pipe):
    from diffusion.pipeline import block_classes

    masks, refs = case(3)
    ref_labels = np.roll(masks, 9, axis=2)               # the references' own layouts
    options = SampleOptions(steps=10, ref_strength=0.5, ref_shuffle=True)
    x, steps = pipe.start((2, 4, 4, 6), refs, options, np.random.default_rng(5), masks, ref_labels)
    noise = np.random.default_rng(5).standard_normal((2, 4, 4, 6)).astype(np.float32)
    a_t = pipe.schedule.alphas_cumprod[int(steps[0])]
    placed = (x.numpy() - np.sqrt(1 - a_t) * noise) / np.sqrt(a_t)
    latents = pipe.vae.encode(jt.array(refs.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)).mean.numpy()
    target, source = block_classes(masks, 8), block_classes(ref_labels, 8)
    for b in range(2):
        vectors = latents[b].reshape(4, -1).T
        for pos, cls in enumerate(target[b].ravel()):
            pool = vectors[source[b].ravel() == cls] if (source[b] == cls).any() else vectors
            assert np.abs(pool - placed[b].reshape(4, -1).T[pos]).max(axis=1).min() < 1e-3
    plain, _ = pipe.start((2, 4, 4, 6), refs, options, np.random.default_rng(5))
    assert np.abs(plain.numpy() - x.numpy()).max() > 1e-3     # labels change the arrangement
    with pytest.raises(ValueError, match="reference labels"):
        pipe.generate(masks, options, refs, ref_labels=ref_labels[:, :8])


def _hist_corr(a: np.ndarray, b: np.ndarray) -> float:
    ha = np.concatenate([np.histogram(a[..., c], 16, (0, 255))[0] for c in range(3)]).astype(float)
    hb = np.concatenate([np.histogram(b[..., c], 16, (0, 255))[0] for c in range(3)]).astype(float)
    return float(np.corrcoef(ha, hb)[0, 1])


def test_training_references_share_style_not_layout(tmp_path):
    root = write_dataset(tmp_path / "synth", n=6, width=64, height=48, seed=1, n_test=1, progress=False)
    source = make_ref_source("auto", root, 64, 48)
    assert isinstance(source, StyleRefs)
    from lsgen.data.io import from_model_image, read_image
    target = read_image(root / "train_resized/imgs/000002.jpg")
    ref = from_model_image(source.ref("000002", np.random.default_rng(0)))
    other = read_image(root / "train_resized/imgs/000004.jpg")
    assert ref.shape == (48, 64, 3) and not np.array_equal(ref, target)
    assert _hist_corr(ref, target) > _hist_corr(other, target)
    assert isinstance(make_ref_source("augment", root, 64, 48), AugmentedRefs)
    with pytest.raises(ValueError, match="needs a synthetic dataset"):
        make_ref_source("style", tmp_path, 64, 48)


def test_augmented_view_breaks_layout():
    image = np.zeros((48, 64, 3), np.uint8)
    image[:24] = (200, 30, 30)
    image[24:] = (20, 40, 220)
    view = augmented_view(image, 64, 48, np.random.default_rng(1))
    assert view.shape == (48, 64, 3)
    assert np.mean(np.abs(view.astype(int) - image)) > 10  # layout changed
    red = np.abs(view.astype(int) - (200, 30, 30)).sum(-1) < 60
    assert 0.2 < red.mean() < 0.8  # the colours survive (about half the pixels stay red)


def test_lab_round_trip_and_color_match():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(16, 16, 3)).astype(np.uint8)
    assert np.abs(lab_to_rgb(rgb_to_lab(image)).astype(int) - image).max() <= 1
    np.testing.assert_allclose(rgb_to_lab(np.array([[255, 255, 255]], np.uint8))[0], [100, 0, 0], atol=0.01)
    ref = np.clip(image.astype(int) // 2 + 100, 0, 255).astype(np.uint8)
    matched = match_color(image, ref)
    np.testing.assert_allclose(rgb_to_lab(matched).reshape(-1, 3).mean(0), rgb_to_lab(ref).reshape(-1, 3).mean(0), atol=1.5)
