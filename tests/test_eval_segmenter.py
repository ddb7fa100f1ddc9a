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


def test_shipped_configs_load():
    from evaluation.train_segmenter import SECTIONS

    for name in ("tiny", "small"):
        sections = load_config(f"configs/segmenter/{name}.json", SECTIONS)
        assert isinstance(sections["model"], SegmenterConfig)
    assert sections["data"].root == "data/synth-bench" and (sections["data"].width, sections["data"].height) == (128, 96)


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


# --- v2 options: convolutional stages and the full-resolution detail branch ---------------------
TINY_V2 = SegmenterConfig(widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), heads=(1, 1, 2, 2), sr_ratios=(4, 2, 1, 1),
                          mlp_ratio=2, decoder_width=16, dropout=0.0, conv_stages=2, detail_widths=(8, 8),
                          refine_width=8)
TINY_REFINED = SegmenterConfig(**{**TINY.__dict__, "refine_hidden": 8})


def _images(n=2, h=40, w=56, seed=0):
    return jt.array(np.random.default_rng(seed).uniform(-1, 1, (n, 3, h, w)).astype(np.float32))


def test_v2_logits_at_full_resolution_and_analyse_matches_execute():
    jt.set_global_seed(0)
    model = Segmenter(TINY_V2)
    model.eval()
    x = _images()
    with jt.no_grad():
        decoded = model.decode(model.encode(x), x)
        logits, pooled = model.analyse(x)
        direct, features = model(x), model.pooled_features(x)
    assert decoded.shape == (2, 29, 40, 56)          # classifier runs at full resolution, no upsampling
    np.testing.assert_allclose(logits.numpy(), direct.numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), features.numpy(), atol=1e-5)
    assert pooled.shape == (2, sum(TINY_V2.widths))
    conv_stage, attention_stage = model.stages[1], model.stages[2]
    assert not hasattr(conv_stage, "norm") and hasattr(attention_stage, "norm")


def test_default_config_keeps_the_original_architecture():
    """Old checkpoints load strictly: the defaults of the v2 fields add no parameters."""
    names = set(Segmenter(TINY).state_dict())
    assert not any(n.startswith(("detail.", "refiner.")) for n in names)
    assert all(n.startswith(("stages.", "lateral.", "fuse.", "classify.")) for n in names)
    assert Segmenter(TINY).classify.weight.shape[1] == TINY.decoder_width
    with pytest.raises(ValueError, match="detail levels"):
        SegmenterConfig(strides=(2, 2, 2, 2), detail_widths=(8, 8))
    with pytest.raises(ValueError, match="conv_stages"):
        SegmenterConfig(conv_stages=5)


@pytest.mark.parametrize("cfg", [TINY_V2, TINY_REFINED], ids=["conv-stages+detail", "refiner"])
def test_v2_checkpoint_round_trip_and_a_falling_loss(cfg, tmp_path):
    from lsgen import checkpoint as ckpt
    from lsgen.config import from_dict
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
    from lsgen.data.io import onehot

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


def test_bootstrapped_cross_entropy_matches_numpy_top_k():
    from evaluation.train_segmenter import LossConfig, bootstrapped_cross_entropy

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (2, 5, 4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (2, 4, 6)).astype(np.int32)
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    per_pixel = -np.take_along_axis(log_p, ids[:, None], 1).ravel()
    for fraction in (1.0, 0.25):
        k = int(np.ceil(fraction * per_pixel.size))
        expected = np.sort(per_pixel)[-k:].mean()
        got = bootstrapped_cross_entropy(jt.array(logits), jt.array(np.eye(5, dtype=np.float32)[ids].transpose(0, 3, 1, 2)),
                                         fraction).item()
        assert abs(got - expected) < 1e-5
    with pytest.raises(ValueError, match="hard_fraction"):
        LossConfig(hard_fraction=0.0)


def test_refiner_starts_as_the_upsampled_logits_at_half_resolution():
    jt.set_global_seed(0)
    model = Segmenter(TINY_REFINED)
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
