"""The GAN perceptual term on the project segmenter (default backbone) and LGGAN's second stage:
the loss equals its definition, the backbone never trains, the script picks the backbone from the
checkpoint's kind, and stage-2 weights replace stage-1 ones from their step on."""
from __future__ import annotations

import numpy as np
import pytest

from lsgen import checkpoint as ckpt
from lsgen.config import ConfigError, load_config
from lsgen.data.synthetic import write_dataset
from lsgen.runtime import jt

from evaluation.segmenter import KIND, Segmenter, SegmenterConfig
from gan.perceptual import SegmenterBackbone, SegmenterPerceptualLoss, build_perceptual
from gan.train import make_task, sections_for

from conftest import run_script

TINY_SEG = SegmenterConfig(widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), heads=(1, 1, 2, 2), sr_ratios=(4, 2, 1, 1),
                           mlp_ratio=2, decoder_width=16, dropout=0.0, input_norm="standardise")


def _images(seed: int, n: int = 2, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def segmenter_ckpt(tmp_path_factory):
    jt.set_global_seed(0)
    path = tmp_path_factory.mktemp("seg") / "seg.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(Segmenter(TINY_SEG)), KIND, TINY_SEG, 1,
                      extra={"image_size": {"width": 64, "height": 48}})
    return path


def test_segmenter_loss_equals_its_definition_and_is_zero_on_identical_images():
    jt.set_global_seed(0)
    backbone = Segmenter(TINY_SEG)
    loss = SegmenterPerceptualLoss(SegmenterBackbone(backbone, (48, 64), "tiny"))
    assert loss.tap_weights == (0.125, 0.25, 0.5, 1.0)
    fake, real = _images(1), _images(2)
    with jt.no_grad():
        expected = sum(w * np.abs(f.numpy() - r.numpy()).mean()
                       for w, f, r in zip(loss.tap_weights, backbone.encode(jt.array(fake)),
                                          backbone.encode(jt.array(real))))
        assert loss(jt.array(fake), jt.array(real)).item() == pytest.approx(expected, rel=1e-5)
        assert loss(jt.array(real), jt.array(real)).item() == pytest.approx(0.0, abs=1e-7)


def test_gradient_reaches_the_fake_but_never_the_backbone():
    jt.set_global_seed(0)
    backbone = Segmenter(TINY_SEG)
    loss = SegmenterPerceptualLoss(SegmenterBackbone(backbone, (48, 64), "tiny"))
    before = {k: v.numpy().copy() for k, v in backbone.state_dict().items()}
    fake = jt.array(_images(1))
    value = loss(fake, jt.array(_images(2)))
    grad = jt.grad(value, fake)
    assert np.abs(grad.numpy()).sum() > 0
    assert all(p.is_stop_grad() for p in backbone.parameters())
    assert not backbone.is_training()
    after = backbone.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)


def test_small_images_are_seen_at_the_segmenter_training_size():
    """A progressive GAN's early 24x32 outputs: resized to the segmenter's size, not too small for it."""
    jt.set_global_seed(0)
    backbone = Segmenter(TINY_SEG)
    loss = SegmenterPerceptualLoss(SegmenterBackbone(backbone, (48, 64), "tiny"))
    small_fake, small_real = _images(1, h=12, w=16), _images(2, h=12, w=16)
    with jt.no_grad():
        up = [jt.nn.interpolate(jt.array(x), size=[48, 64], mode="bilinear", align_corners=False)
              for x in (small_fake, small_real)]
        expected = loss(up[0], up[1]).item()
        assert loss(jt.array(small_fake), jt.array(small_real)).item() == pytest.approx(expected, rel=1e-5)


def test_build_perceptual_without_a_file_is_off_and_says_why(capsys):
    assert build_perceptual(10.0, "") is None
    assert "segmenter checkpoint" in capsys.readouterr().err
    assert build_perceptual(0.0, "anything") is None
    with pytest.raises(FileNotFoundError):
        build_perceptual(1.0, "no/such/file.safetensors")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan-perc") / "synth"
    write_dataset(root, 8, width=64, height=48, seed=0, n_test=1, workers=1, progress=False)
    return root


def test_gan_g_step_uses_the_segmenter_term(synth, segmenter_ckpt):
    sections = load_config("configs/gan/pix2pix-tiny.json", sections_for("pix2pix"), [
        f"data.root={synth}", "loss.perceptual_weight=2.0", f"loss.perceptual_weights={segmenter_ckpt}"])
    backbone = Segmenter(TINY_SEG)
    ckpt.load_weights(backbone, segmenter_ckpt, kind=KIND)
    task, steps = make_task("pix2pix", sections, segmenter=SegmenterBackbone(backbone, (48, 64), str(segmenter_ckpt)))
    assert isinstance(steps.perceptual, SegmenterPerceptualLoss)
    batch = {"image": jt.array(_images(3, n=2)), "mask_onehot": jt.array(np.eye(29, dtype=np.float32)[
        np.random.default_rng(0).integers(0, 29, (2, 48, 64))].transpose(0, 3, 1, 2))}
    terms = steps.g_step(batch, 0)
    assert terms["perceptual"].item() > 0


def test_lggan_stage2_weights_replace_stage1_from_their_step(synth):
    sections = load_config("configs/gan/lggan-tiny.json", sections_for("lggan"), [
        f"data.root={synth}", "recipe.stage2_from=10", 'recipe.stage2_loss={"l1_weight": 20.0, "feat_weight": 10.0}'])
    _, steps = make_task("lggan", sections)
    stage1, stage2 = steps.loss_at(9), steps.loss_at(10)
    assert stage1 is steps.loss_cfg and stage2.l1_weight == 20.0 and stage2.feat_weight == 10.0
    assert stage2.class_weight == stage1.class_weight and stage2.tv_weight == stage1.tv_weight
    with pytest.raises(ConfigError, match="not loss weights"):
        load_config("configs/gan/lggan-tiny.json", sections_for("lggan"), ['recipe.stage2_loss={"gan_loss": 1}'])


def test_shipped_lggan_full_config_has_the_published_two_stage_schedule():
    sections = load_config("configs/gan/lggan-full.json", sections_for("lggan"))
    recipe, optim = sections["recipe"], sections["optim"]
    assert recipe.stage2_from == optim.restart_at == sections["disc_optim"].restart_at > 0
    assert recipe.stage2_loss == {"feat_weight": 10.0, "perceptual_weight": 5.0, "l1_weight": 20.0}


def test_train_gan_script_picks_the_segmenter_backbone_from_the_checkpoint_kind(synth, segmenter_ckpt, tmp_path):
    result = run_script("scripts/train_gan.py", "--model", "pix2pix", "--config", "configs/gan/pix2pix-tiny.json",
                        "--data", str(synth), "--out", str(tmp_path / "run"), "--steps", "1", "--no-progress",
                        "--set", "loss.perceptual_weight=1.0", f"loss.perceptual_weights={segmenter_ckpt}",
                        "train.save_every=1", "train.preview_every=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"perceptual loss: project segmenter from {segmenter_ckpt} (encoder stages, at 64x48)" in result.stderr
    assert (tmp_path / "run" / "step0000001.safetensors").is_file()
