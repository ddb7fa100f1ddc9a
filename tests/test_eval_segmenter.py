"""The SegFormer-style segmenter: shapes, config checks, training through lsgen's loop, the judge."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsgen.config import load_config
from lsgen.runtime import jt

from evaluation.segmenter import Segmenter, SegmenterConfig, resize_bilinear

TINY = SegmenterConfig(widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), heads=(1, 1, 2, 2), sr_ratios=(4, 2, 1, 1),
                       mlp_ratio=2, decoder_width=16, dropout=0.0)


def test_logits_and_features_shapes_for_sizes_not_multiple_of_32():
    jt.set_global_seed(0)
    model = Segmenter(TINY)
    model.eval()
    x = jt.array(np.random.default_rng(0).uniform(-1, 1, (2, 3, 40, 56)).astype(np.float32))
    with jt.no_grad():
        logits, feats = model(x), model.pooled_features(x)
    assert logits.shape == (2, 29, 40, 56)
    assert feats.shape == (2, sum(TINY.widths))
    assert np.isfinite(logits.numpy()).all()


def test_config_rejects_inconsistent_stages():
    with pytest.raises(ValueError, match="one entry per stage"):
        SegmenterConfig(depths=(1, 1, 1))
    with pytest.raises(ValueError, match="divisible"):
        SegmenterConfig(widths=(32, 64, 161, 256))
    with pytest.raises(ValueError, match="refine_layers"):
        SegmenterConfig(refine_hidden=8, refine_layers=0)


def test_shipped_configs_load():
    from evaluation.train_segmenter import SECTIONS

    for name in ("tiny", "small", "small-v2", "small-v4", "small-v9", "small-v13"):
        sections = load_config(f"configs/segmenter/{name}.json", SECTIONS)
        assert isinstance(sections["model"], SegmenterConfig)
    assert sections["data"].root == "data/synth-bench" and (sections["data"].width, sections["data"].height) == (128, 96)
    assert (sections["augment"].shift, sections["augment"].gamma, sections["augment"].saturation) == (4, 0.25, 0.25)
    v13, v20 = (load_config(f"configs/segmenter/small-{v}.json", SECTIONS) for v in ("v13", "v20"))
    assert tuple(v20["model"].shift_test) == (4, 2, 1) and v20["model"].flip_test
    assert {k: v for k, v in v20["model"].__dict__.items() if k != "shift_test"} == \
        {k: v for k, v in v13["model"].__dict__.items() if k != "shift_test"}       # training is v13's
    assert all(v20[s] == v13[s] for s in ("train", "optim", "data", "loss", "augment"))
    v21 = load_config("configs/segmenter/small-v21.json", SECTIONS)
    assert v21["model"].fuse_by_sum and v21["train"].steps == 5200
    assert {k: v for k, v in v21["model"].__dict__.items() if k != "fuse_by_sum"} == \
        {k: v for k, v in v20["model"].__dict__.items() if k != "fuse_by_sum"}      # v20's network and judging
    assert all(v21[s] == v20[s] for s in ("optim", "data", "loss", "augment"))


def test_training_learns_colour_coded_classes_and_judge_loads_checkpoint(tiny_2023, tmp_path):
    """tiny_2023's image colours encode the class: a few dozen updates must beat chance by far."""
    from evaluation.judge import Judge
    from evaluation.train_segmenter import SECTIONS, train_segmenter

    sections = load_config("configs/segmenter/tiny.json", SECTIONS, [
        f"data.root={tiny_2023}", "data.val_fraction=0.0", "train.steps=50", "train.save_every=50",
        "train.log_every=10", "train.ema_decay=0.0", "optim.lr=0.02"])
    path = train_segmenter(sections, tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["segmenter/loss"] < 0.7 * log[0]["segmenter/loss"]
    judge = Judge(path, batch_size=4)
    assert (judge.width, judge.height) == (32, 24)
    from lsgen.data.dataset import DataConfig, LandscapeDataset
    from lsgen.data.io import from_model_image

    data = LandscapeDataset(DataConfig(root=str(tiny_2023), width=32, height=24, val_fraction=0.0, flip=False))
    samples = [data.load(i) for i in range(len(data))]
    images = np.stack([from_model_image(s["image"]) for s in samples])
    preds, feats = judge.analyse(images)
    scores = judge.mask_scores(preds, np.stack([s["mask_ids"] for s in samples]))
    assert preds.shape == (12, 24, 32) and feats.shape == (12, sum(TINY.widths))
    assert scores["pixel_acc"] > 0.3 and 0 < scores["miou"] <= 1    # chance is ~1/29


# --- v2 options: input standardisation, logit refiner, fast bilinear resize, channel-axis CE -------
TINY_V2 = SegmenterConfig(**{**TINY.__dict__, "input_norm": "standardise"})
TINY_REFINED = SegmenterConfig(**{**TINY_V2.__dict__, "refine_hidden": 8})


def _images(n=2, h=40, w=56, seed=0):
    return jt.array(np.random.default_rng(seed).uniform(-1, 1, (n, 3, h, w)).astype(np.float32))


def test_standardised_input_ignores_a_global_gain_and_offset_per_channel():
    jt.set_global_seed(0)
    model = Segmenter(TINY_V2)
    model.eval()
    x = _images()
    graded = x * jt.array(np.float32([0.5, 0.8, 0.3])).reshape(1, 3, 1, 1) + 0.2   # another exposure and tint
    with jt.no_grad():
        prepared = model.prepare(x).numpy()
        logits, pooled = model.analyse(x)
        direct, features, regraded = model(x), model.pooled_features(x), model(graded)
    np.testing.assert_allclose(prepared.mean((2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(prepared.std((2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(logits.numpy(), direct.numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), features.numpy(), atol=1e-5)
    np.testing.assert_allclose(regraded.numpy(), direct.numpy(), atol=2e-3)
    assert logits.shape == (2, 29, 40, 56) and pooled.shape == (2, sum(TINY.widths))


def test_default_config_keeps_the_original_architecture():
    """Old checkpoints load strictly: the defaults of the v2 fields add no parameters and no input change."""
    names = set(Segmenter(TINY).state_dict())
    assert not any(n.startswith("refiner.") for n in names)
    assert all(n.startswith(("stages.", "lateral.", "fuse.", "classify.")) for n in names)
    assert names == set(Segmenter(TINY_V2).state_dict())
    x = _images()
    assert Segmenter(TINY).prepare(x) is x
    with pytest.raises(ValueError, match="input_norm"):
        SegmenterConfig(input_norm="whiten")


@pytest.mark.parametrize("cfg", [TINY_V2, TINY_REFINED], ids=["standardise", "refiner"])
def test_v2_checkpoint_round_trip_and_a_falling_loss(cfg, tmp_path):
    from lsgen import checkpoint as ckpt
    from lsgen.config import from_dict
    from lsgen.data.io import onehot
    from lsgen.train.optim import OptimConfig, Updater

    from evaluation.train_segmenter import segmentation_loss

    jt.set_global_seed(0)
    model = Segmenter(cfg)
    updater = Updater(dict(model.named_parameters()), OptimConfig(lr=0.03, schedule="constant"), 15, 1, "fp32",
                      name="segmenter")
    rng = np.random.default_rng(1)
    ids = (np.arange(32)[None, None, :] // 8 + np.zeros((2, 24, 1), np.int64)).astype(np.int32)   # 4 bands
    colours = rng.uniform(-0.8, 0.8, (4, 3)).astype(np.float32)
    x = jt.array(colours[ids].transpose(0, 3, 1, 2) + rng.normal(0, 0.1, (2, 3, 24, 32)).astype(np.float32))
    labels = jt.array(onehot(ids))
    losses = []
    for step in range(15):
        model.train()
        out = segmentation_loss(model, x, labels)
        updater.backward(out["loss"])
        updater.apply(step)
        losses.append(out["loss"].item())
    assert losses[-1] < 0.3 * losses[0]
    path = tmp_path / "seg.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(model), "segmenter", cfg, 15)
    loaded = Segmenter(from_dict(SegmenterConfig, ckpt.read_metadata(path)["config"], prefix="model."))
    ckpt.load_weights(loaded, path, kind="segmenter")
    model.eval(), loaded.eval()
    with jt.no_grad():
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("src,dst", [((6, 8), (24, 32)), ((5, 7), (40, 56)), ((10, 14), (5, 7)), ((10, 14), (13, 9))])
def test_resize_bilinear_equals_jittor_interpolate(src, dst):
    x = jt.array(np.random.default_rng(0).normal(size=(2, 3, *src)).astype(np.float32))
    expected = jt.nn.interpolate(x, size=dst, mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(resize_bilinear(x, dst).numpy(), expected, atol=1e-5)


def test_pixel_cross_entropy_matches_numpy_and_jittor():
    from evaluation.train_segmenter import pixel_cross_entropy

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (2, 5, 4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (2, 4, 6)).astype(np.int32)
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -np.take_along_axis(log_p, ids[:, None], 1).mean()
    got = pixel_cross_entropy(jt.array(logits), jt.array(np.eye(5, dtype=np.float32)[ids].transpose(0, 3, 1, 2)))
    assert abs(got.item() - expected) < 1e-5
    assert abs(jt.nn.cross_entropy_loss(jt.array(logits), jt.array(ids)).item() - expected) < 1e-5


@pytest.mark.parametrize("layers,full_res", [(1, False), (2, False), (2, True)])
def test_refiner_starts_as_the_upsampled_logits_at_half_resolution(layers, full_res):
    jt.set_global_seed(0)
    model = Segmenter(SegmenterConfig(**{**TINY_REFINED.__dict__, "refine_layers": layers,
                                         "refine_full_res": full_res}))
    stem_convs = [m for m in model.refiner.stem.modules() if isinstance(m, jt.nn.Conv2d)]
    assert [c.stride[0] if isinstance(c.stride, tuple) else c.stride for c in stem_convs] == [1, 2][-1 - full_res:]
    mixers = [m for m in model.refiner.mix.modules() if isinstance(m, jt.nn.Conv2d)]
    assert len(mixers) == layers
    model.eval()
    x = _images()
    with jt.no_grad():
        feats = model.encode(x)
        refined = model.decode(feats, x)
        plain = model.classify(model.fuse(jt.concat([resize_bilinear(lat(f), feats[0].shape[2:])
                                                     for lat, f in zip(model.lateral, feats)][::-1], dim=1)))
    assert refined.shape == (2, 29, 20, 28)
    np.testing.assert_allclose(refined.numpy(), resize_bilinear(plain, (20, 28)).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="images too"):
        model.decode(feats)


def _judge_checkpoint(tmp_path, cfg):
    from lsgen import checkpoint as ckpt

    jt.set_global_seed(0)
    model = Segmenter(cfg)
    path = tmp_path / "judge.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(model), "segmenter", cfg, 0,
                      {"image_size": json.dumps({"width": 56, "height": 40})})
    return path


def test_flip_test_judge_is_mirror_equivariant_and_sums_both_views(tmp_path):
    """With flip_test the judge's labels are the argmax of logits(x) + mirror(logits(mirror(x))): the
    labels of a mirrored image are the mirrored labels, and the pooled features stay the plain pass's."""
    from evaluation.judge import Judge

    path = _judge_checkpoint(tmp_path, SegmenterConfig(**{**TINY_REFINED.__dict__, "flip_test": True}))
    images = np.random.default_rng(4).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    flipping, plain = Judge(path, batch_size=2), Judge(path, batch_size=2, flip_test=False)
    assert flipping.flip_test and not plain.flip_test
    preds, feats = flipping.analyse(images)
    mirrored_preds, _ = flipping.analyse(images[:, :, ::-1].copy())
    np.testing.assert_array_equal(mirrored_preds, preds[:, :, ::-1])
    plain_preds, plain_feats = plain.analyse(images)
    np.testing.assert_allclose(feats, plain_feats, rtol=1e-5, atol=1e-6)
    x = jt.array(flipping._inputs(images))
    with jt.no_grad():
        summed = flipping.model(x).numpy() + flipping.model(x[:, :, :, ::-1]).numpy()[:, :, :, ::-1]
    np.testing.assert_array_equal(preds, summed.argmax(1))
    assert (plain_preds != preds).any()       # the flip changes some labels of an untrained judge


def test_judge_without_flip_test_in_its_config_keeps_single_view_scores(tmp_path):
    from evaluation.judge import Judge

    judge = Judge(_judge_checkpoint(tmp_path, TINY_V2), batch_size=2)
    assert not judge.flip_test
    images = np.random.default_rng(5).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    with jt.no_grad():
        expected = judge.model(jt.array(judge._inputs(images))).numpy().argmax(1)
    np.testing.assert_array_equal(judge.analyse(images)[0], expected)


# --- edge-weighted cross-entropy (SegLossConfig, judge v9) -------------------------------------------
@pytest.mark.parametrize("radius", [1, 2])
def test_edge_weights_are_one_plus_the_weight_on_the_boundary_band(radius):
    from evaluation.metrics import boundary_band
    from evaluation.train_segmenter import SegLossConfig, edge_weights

    rng = np.random.default_rng(radius)
    ids = np.kron(rng.integers(0, 4, (2, 5, 6)), np.ones((1, 3, 3), np.int64))      # blocks of 3x3 pixels
    ids[1] = 2                                                                       # one image with no edge
    got = edge_weights(ids, SegLossConfig(edge_weight=2.5, edge_radius=radius))
    band = np.stack([boundary_band(m, radius) for m in ids])
    assert got.dtype == np.float32 and got.shape == ids.shape
    np.testing.assert_array_equal(got, np.where(band, 3.5, 1.0))
    assert 0 < band[0].mean() < 1 and band[1].sum() == 0
    assert edge_weights(ids, SegLossConfig()) is None and edge_weights(ids, None) is None


def test_training_batches_carry_the_edge_weights_of_their_labels():
    from lsgen.config import load_config
    from evaluation.train_segmenter import SECTIONS, SegLossConfig, edge_weights, make_task

    s = load_config("configs/segmenter/tiny.json", SECTIONS)
    ids = np.kron(np.random.default_rng(3).integers(0, 4, (2, 4, 4)), np.ones((1, 6, 8), np.int64))
    batch = {"image": np.zeros((2, 3, 24, 32), np.float32), "mask_ids": ids,
             "mask_onehot": np.eye(29, dtype=np.float32)[ids].transpose(0, 3, 1, 2)}
    loss = SegLossConfig(edge_weight=2.0)
    weighted = make_task(s["model"], s["optim"], s["train"], s["data"], loss).to_batch(batch)
    np.testing.assert_array_equal(weighted["pixel_weights"].numpy(), edge_weights(ids, loss))
    plain = make_task(s["model"], s["optim"], s["train"], s["data"], SegLossConfig()).to_batch(batch)
    assert set(plain) == {"image", "mask_onehot"}


def test_weighted_cross_entropy_is_the_weighted_mean_and_edges_weigh_more():
    from evaluation.train_segmenter import SegLossConfig, edge_weights, pixel_cross_entropy, segmentation_loss

    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (2, 5, 4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (2, 4, 6))
    onehot = np.eye(5, dtype=np.float32)[ids].transpose(0, 3, 1, 2)
    weights = rng.uniform(0, 3, (2, 4, 6)).astype(np.float32)
    log_p = logits - logits.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    per_pixel = -np.take_along_axis(log_p, ids[:, None], 1)[:, 0]
    got = pixel_cross_entropy(jt.array(logits), jt.array(onehot), jt.array(weights)).item()
    assert abs(got - (per_pixel * weights).sum() / weights.sum()) < 1e-5
    with pytest.raises(ValueError, match="edge_weight"):
        SegLossConfig(edge_weight=-1.0)

    # a model whose errors sit on the edge: weighting the band up raises the loss
    class EdgeWrong:
        def __call__(self, images):
            return jt.array(edge_logits)
    halves = np.zeros((1, 8, 8), np.int64)
    halves[:, :, 4:] = 1
    edge_logits = np.where(np.eye(2, dtype=bool)[halves].transpose(0, 3, 1, 2), 3.0, 0.0).astype(np.float32)
    edge_logits[:, :, :, 3:5] = edge_logits[:, ::-1, :, 3:5]                          # columns 3, 4 wrong
    mask = jt.array(np.eye(2, dtype=np.float32)[halves].transpose(0, 3, 1, 2))
    images = jt.zeros((1, 3, 8, 8))
    weights = jt.array(edge_weights(halves, SegLossConfig(edge_weight=2.0, edge_radius=1)))
    plain = segmentation_loss(EdgeWrong(), images, mask)["loss"].item()
    weighted = segmentation_loss(EdgeWrong(), images, mask, pixel_weights=weights)["loss"].item()
    assert weighted > 1.5 * plain


def test_drop_path_rates_rise_linearly_over_all_blocks():
    from evaluation.segmenter import drop_path_rates
    cfg = SegmenterConfig(**{**TINY.__dict__, "depths": (2, 2, 1, 1), "drop_path": 0.1})
    rates = drop_path_rates(cfg)
    assert [len(r) for r in rates] == [2, 2, 1, 1]
    np.testing.assert_allclose(sum(rates, []), np.linspace(0, 0.1, 6))
    with pytest.raises(ValueError, match="drop_path"):
        SegmenterConfig(drop_path=1.0)


def test_drop_path_zeroes_whole_images_and_keeps_the_expectation():
    from evaluation.segmenter import drop_path
    jt.set_global_seed(0)
    branch = jt.ones((64 * 6, 5))                                   # 64 images of 6 tokens
    out = drop_path(branch, 64, 0.25).numpy().reshape(64, 6, 5)
    per_image = out[:, 0, 0]
    assert np.all((out == per_image[:, None, None]))                # one decision per image
    assert np.all(np.isclose(per_image, 0.0) | np.isclose(per_image, 1 / 0.75))
    assert 0 < (per_image == 0).sum() < 64
    draws = np.concatenate([drop_path(jt.ones((4000, 1)), 4000, 0.25).numpy() for _ in range(5)])
    assert abs(draws.mean() - 1.0) < 0.03


def test_drop_path_is_random_in_training_and_the_identity_in_evaluation():
    """Same weights: eval output equals the drop_path=0 model's; training outputs vary between calls."""
    jt.set_global_seed(0)
    plain = Segmenter(TINY_V2)
    dropped = Segmenter(SegmenterConfig(**{**TINY_V2.__dict__, "drop_path": 0.9}))
    assert set(plain.state_dict()) == set(dropped.state_dict())    # checkpoints stay interchangeable
    dropped.load_parameters(plain.state_dict())
    x = _images()
    plain.eval(), dropped.eval()
    with jt.no_grad():
        np.testing.assert_allclose(dropped(x).numpy(), plain(x).numpy(), atol=1e-6)
        dropped.train()
        first, second = dropped(x).numpy(), dropped(x).numpy()
    assert np.abs(first - second).max() > 1e-3


def test_label_smoothing_is_the_cross_entropy_with_the_smoothed_target():
    """CE((1-e) y + e/C) = (1-e) CE(y) + e mean_c(-log p_c), against numpy."""
    from evaluation.train_segmenter import SegLossConfig, segmentation_loss

    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, (2, 5, 4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (2, 4, 6))
    log_p = logits - logits.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    hard = -np.take_along_axis(log_p, ids[:, None], 1).mean()
    uniform = -log_p.mean()
    mask = jt.array(np.eye(5, dtype=np.float32)[ids].transpose(0, 3, 1, 2))
    fixed = lambda images: jt.array(logits)                                   # noqa: E731
    images = jt.zeros((2, 3, 4, 6))
    for eps in (0.0, 0.1, 0.5):
        got = segmentation_loss(fixed, images, mask, SegLossConfig(label_smoothing=eps))["loss"].item()
        assert abs(got - ((1 - eps) * hard + eps * uniform)) < 1e-5
    with pytest.raises(ValueError, match="label_smoothing"):
        SegLossConfig(label_smoothing=1.0)


# --- test-time shift augmentation (SegmenterConfig.shift_test) ---------------------------------------
def test_shift_offsets_are_the_union_of_3x3_grids():
    from evaluation.judge import shift_offsets

    assert shift_offsets(()) == [(0, 0)]
    assert len(shift_offsets((2,))) == 9 and (-2, 2) in shift_offsets((2,))
    assert len(shift_offsets((4, 2))) == 17
    with pytest.raises(ValueError, match="shift_test"):
        SegmenterConfig(shift_test=(0,))


class PixelwiseModel:
    """A 'segmenter' whose logits at a pixel depend on that pixel only: shifted views, moved back,
    must land exactly on the plain view's logits (any misalignment mixes neighbours)."""

    def __call__(self, x):
        return jt.concat([x, x.sqr()], dim=1)


def test_averaged_logits_realign_every_shifted_view():
    from evaluation.judge import averaged_logits, shift_offsets

    x = np.random.default_rng(6).uniform(-1, 1, (2, 3, 20, 28)).astype(np.float32)
    plain = np.concatenate([x, x ** 2], axis=1)
    for steps, flip in (((), False), ((2,), False), ((3, 1), True)):
        got = averaged_logits(PixelwiseModel(), x, flip, steps)
        views = len(shift_offsets(steps)) * (2 if flip else 1)
        m = max(steps, default=0)
        inner = (slice(None), slice(None), slice(m, 20 - m), slice(m, 28 - m))
        np.testing.assert_allclose(got[inner], views * plain[inner], rtol=1e-5, atol=1e-5)
        count = got[:, :1] / np.where(np.abs(plain[:, :1]) > 1e-3, plain[:, :1], np.nan)
        assert np.nanmin(count) > 0.99 and np.nanmax(count) < views + 0.01     # borders: fewer views, never 0


def test_judge_with_shift_test_predicts_the_argmax_of_the_averaged_logits(tmp_path):
    from evaluation.judge import Judge, averaged_logits

    path = _judge_checkpoint(tmp_path, SegmenterConfig(**{**TINY_REFINED.__dict__, "flip_test": True,
                                                          "shift_test": (2,)}))
    images = np.random.default_rng(7).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    judge, plain = Judge(path, batch_size=2), Judge(path, batch_size=2, shift_test=())
    assert judge.shift_test == (2,) and plain.shift_test == ()
    preds, feats = judge.analyse(images)
    with jt.no_grad():
        expected = averaged_logits(judge.model, judge._inputs(images), True, (2,)).argmax(1)
    np.testing.assert_array_equal(preds, expected)
    plain_preds, plain_feats = plain.analyse(images)
    np.testing.assert_allclose(feats, plain_feats, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(judge.features(images), plain_feats, rtol=1e-5, atol=1e-6)
    assert (plain_preds != preds).any()


def test_fuse_by_sum_computes_the_concat_decoders_functions():
    """A concat decoder's weights folded into fuse_by_sum form (M_i = F_i L_i, the lateral biases
    moved into the BatchNorm's running mean) give the same logits in evaluation."""
    concat = Segmenter(SegmenterConfig(**{**TINY_V2.__dict__, "dropout": 0.0}))
    summed = Segmenter(SegmenterConfig(**{**TINY_V2.__dict__, "dropout": 0.0, "fuse_by_sum": True}))
    params = {k: v.numpy() for k, v in concat.state_dict().items()}
    names = set(summed.state_dict())
    renamed = {k.replace("fuse.1.", "fuse.0.") for k in params if k.startswith("fuse.1.")}   # BN moves up
    dropped = {"fuse.0.weight"} | {k for k in params if k.startswith("lateral.") and k.endswith(".bias")}
    assert names == {k for k in params if not k.startswith("fuse.")} - dropped | renamed
    rng = np.random.default_rng(7)
    dw, n = TINY_V2.decoder_width, len(TINY_V2.widths)
    params["fuse.1.running_mean"] = rng.normal(0, 0.5, dw).astype(np.float32)
    params["fuse.1.running_var"] = rng.uniform(0.5, 2.0, dw).astype(np.float32)
    for i in range(n):
        params[f"lateral.{i}.bias"] = rng.normal(0, 0.5, dw).astype(np.float32)
    concat.load_parameters(params)
    fuse = params["fuse.0.weight"][:, :, 0, 0]
    folded = {k: v for k, v in params.items() if k in names and not k.startswith(("lateral.", "fuse."))}
    shift = np.zeros(dw, np.float32)
    for i in range(n):
        block = fuse[:, (n - 1 - i) * dw:(n - i) * dw]                 # concat order: deepest stage first
        lateral = params[f"lateral.{i}.weight"][:, :, 0, 0]
        folded[f"lateral.{i}.weight"] = (block @ lateral)[:, :, None, None]
        shift += block @ params[f"lateral.{i}.bias"]
    for key in ("weight", "bias", "running_var"):
        folded[f"fuse.0.{key}"] = params[f"fuse.1.{key}"]
    folded["fuse.0.running_mean"] = params["fuse.1.running_mean"] - shift
    summed.load_parameters(folded)
    concat.eval(), summed.eval()
    x = _images()
    with jt.no_grad():
        np.testing.assert_allclose(summed(x).numpy(), concat(x).numpy(), atol=1e-4)
    assert sum(v.size for v in folded.values()) < sum(v.size for v in params.values())
