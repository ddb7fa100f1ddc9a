"""RCAN ×2 (shapes, channel attention's closed form, a falling L1, the half-resolution pipeline) and
StyleGAN v1 (truncation, mixing, fade-in, minibatch stddev, one update per parameter, falling phase
losses, checkpoints, the sampler), and the report's n/a for unconditional rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsgen import checkpoint as ckpt
from lsgen.config import load_config
from lsgen.data.dataset import LandscapeDataset
from lsgen.data.io import onehot
from lsgen.data.loader import BatchLoader
from lsgen.data.synthetic import write_dataset
from lsgen.runtime import jt

from gan import sr_train, stylegan_train
from gan.rcan import RCAN, ChannelAttention, RCANConfig, load_rcan
from gan.sr_pipeline import bicubic_up2, compose, half_size_inputs
from gan.stylegan import (StyleDiscConfig, StyleDiscriminator, StyleGANConfig, StyleGenerator, minibatch_stddev,
                          upsample2)

from conftest import optimise_phase, run_script

TINY_G = StyleGANConfig(resolution=16, channels=(16, 16, 8), z_dim=16, w_dim=16)
FIXED_STEP = 100            # past the tiny StyleGAN config's growing: full resolution, alpha 1


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr_sg") / "synth"
    write_dataset(root, 16, width=64, height=48, seed=0, n_test=2, workers=1, progress=False)
    return root


def _close(a, b, tol=1e-5):
    return np.allclose(np.asarray(a), np.asarray(b), atol=tol, rtol=tol)


# --- RCAN ---------------------------------------------------------------------------------------
def test_rcan_doubles_any_size_and_channel_attention_is_its_closed_form():
    jt.set_global_seed(0)
    model = RCAN(RCANConfig(channels=8, groups=1, blocks=1, reduction=4))
    for h, w in ((7, 5), (9, 13)):
        out = model(jt.randn(2, 3, h, w))
        assert tuple(out.shape) == (2, 3, 2 * h, 2 * w) and np.isfinite(out.numpy()).all()
    ca = ChannelAttention(8, 4)
    x = np.random.default_rng(0).standard_normal((2, 8, 5, 7)).astype(np.float32)
    s = ca.weights(jt.array(x)).numpy()
    w1, b1 = ca.down.weight.numpy()[:, :, 0, 0], ca.down.bias.numpy()
    w2, b2 = ca.up.weight.numpy()[:, :, 0, 0], ca.up.bias.numpy()
    hidden = np.maximum(x.mean(axis=(2, 3)) @ w1.T + b1, 0)
    expected = 1 / (1 + np.exp(-(hidden @ w2.T + b2)))
    assert s.shape == (2, 8, 1, 1) and (s > 0).all() and (s < 1).all()
    assert _close(s[:, :, 0, 0], expected) and _close(ca(jt.array(x)).numpy(), x * s)


def test_rcan_bilinear_skip_is_the_identity_path_when_the_tail_is_zero():
    jt.set_global_seed(0)
    model = RCAN(RCANConfig(channels=8, groups=1, blocks=1, reduction=4, image_skip="bilinear"))
    model.tail.weight.update(jt.zeros(model.tail.weight.shape))
    model.tail.bias.update(jt.zeros(model.tail.bias.shape))
    x = jt.randn(2, 3, 7, 5)
    expected = jt.nn.interpolate(x, size=[14, 10], mode="bilinear", align_corners=False).numpy()
    assert _close(model(x).numpy(), expected)


@pytest.fixture(scope="module")
def rcan_run(synth, tmp_path_factory):
    run = tmp_path_factory.mktemp("rcan") / "run"
    sections = load_config("configs/sr/rcan-tiny.json", sr_train.SECTIONS, [f"data.root={synth}"])
    return sr_train.train(sections, run, progress=False), run


def test_rcan_tiny_run_lowers_l1_and_its_checkpoint_round_trips(rcan_run):
    path, run = rcan_run
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["sr/loss"] for r in log]
    assert [r["step"] for r in log] == [3, 6, 9, 12] and losses[-1] < 0.8 * losses[0], losses
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    meta = ckpt.read_metadata(path)
    assert meta["kind"] == "sr-rcan" and json.loads(meta["input_size"]) == [16, 12]
    model = load_rcan(path)
    arrays = ckpt.read_arrays(path)
    assert all(_close(v.numpy(), arrays[f"ema.{k}"], 0) for k, v in model.state_dict().items())
    assert not model.is_training()


def test_sr_pairs_are_the_photo_and_its_x2_downsampling(synth):
    from lsgen.data.dataset import DataConfig

    data = LandscapeDataset(DataConfig(root=str(synth), width=32, height=24, val_fraction=0.2, flip=False), "val")
    whole = sr_train.SRPairs(data).load(0)
    assert whole["image"].shape == (3, 24, 32) and whole["lr_image"].shape == (3, 12, 16)
    assert _close(whole["lr_image"], sr_train.downsample2(data.load(0)["image"]), 0)
    patch = sr_train.SRPairs(data, patch=8).load(0, np.random.default_rng(1))
    assert patch["image"].shape == (3, 8, 8) and patch["lr_image"].shape == (3, 4, 4)
    with pytest.raises(ValueError, match="exceeds"):
        sr_train.SRPairs(data, patch=26)


def test_sr_pipeline_samples_the_base_at_half_size_then_upsamples(rcan_run, synth, tmp_path):
    from evaluation.baselines import save_class_colours
    from evaluation.registry import load_generator

    rcan_path, _ = rcan_run
    base = tmp_path / "colour.safetensors"
    colours = np.random.default_rng(0).uniform(-1, 1, (29, 3)).astype(np.float32)
    save_class_colours(base, colours, str(synth))
    ids = np.random.default_rng(1).integers(0, 29, (2, 24, 32))
    masks = onehot(ids)
    small_masks, small_refs = half_size_inputs(masks, np.zeros((2, 3, 24, 32), np.float32))
    assert small_masks.shape == (2, 29, 12, 16) and small_refs.shape == (2, 3, 12, 16)
    assert (small_masks.argmax(1) == ids[:, 1::2, 1::2]).all()          # the data pipeline's nearest resize
    cubic = load_generator(compose(base, tmp_path / "cubic.safetensors"))[0]
    expected = bicubic_up2(np.einsum("bchw,cd->bdhw", small_masks, colours).astype(np.float32))
    assert cubic.name == "class-colour+bicubic" and _close(cubic.sample(masks, None, 0), expected)
    rcan, meta = load_generator(compose(base, tmp_path / "rcan.safetensors", rcan_path))
    images = rcan.sample(masks, None, 0)
    assert rcan.name == "class-colour+rcan" and meta["kind"] == "sr-pipeline" and rcan.conditional
    assert images.shape == (2, 3, 24, 32) and images.min() >= -1 and images.max() <= 1
    save_class_colours(base, colours[::-1].copy(), str(synth))          # the base changes: refuse
    with pytest.raises(ckpt.CheckpointError, match="changed since it was composed"):
        load_generator(tmp_path / "rcan.safetensors")
    bad = run_script("scripts/sr_tools.py", "compose", "--base", str(rcan_path),
                     "--out", str(tmp_path / "x.safetensors"))
    assert bad.returncode == 2 and "no generator registered for checkpoint kind 'sr-rcan'" in bad.stderr
    assert not (tmp_path / "x.safetensors").exists()


# --- StyleGAN: the generator's invariants -------------------------------------------------------
@pytest.fixture(scope="module")
def generator():
    jt.set_global_seed(0)
    gen = StyleGenerator(TINY_G)
    gen.eval()
    gen.w_avg.update(jt.randn(TINY_G.w_dim).stop_grad())     # a non-trivial w̄
    return gen


def test_truncation_psi_zero_gives_the_mean_style_image(generator):
    jt.set_seed(0)
    noise = generator.make_noise(2)
    z1, z2 = jt.randn(2, 16), jt.randn(2, 16) * 3
    mean_image = generator.synthesize([generator.w_avg.broadcast((2, 16))] * 6, generator.max_level, noise=noise)
    a, b = generator(z1, psi=0.0, noise=noise), generator(z2, psi=0.0, noise=noise)
    assert _close(a.numpy(), b.numpy()) and _close(a.numpy(), mean_image.numpy())
    assert not _close(generator(z1, noise=noise).numpy(), generator(z2, noise=noise).numpy(), 1e-3)
    assert generator.w_avg.is_stop_grad() and "w_avg" not in {k for k, v in generator.named_parameters()
                                                               if not v.is_stop_grad()}


def test_mixing_the_same_code_twice_equals_no_mixing(generator):
    jt.set_seed(1)
    noise = generator.make_noise(2)
    z1, z2 = jt.randn(2, 16), jt.randn(2, 16)
    plain = generator(z1, noise=noise).numpy()
    assert _close(generator(z1, mix_z=z1, crossover=3, noise=noise).numpy(), plain)
    w1, w2 = generator.map(z1), generator.map(z2)
    mixed = generator(z1, mix_z=z2, crossover=3, noise=noise).numpy()
    assert _close(mixed, generator.synthesize([w1] * 3 + [w2] * 3, 2, noise=noise).numpy())
    assert not _close(mixed, plain, 1e-3)


def test_fade_in_blends_the_upsampled_old_level_into_the_new(generator):
    jt.set_seed(2)
    noise = generator.make_noise(2)
    z = jt.randn(2, 16)
    old = upsample2(generator(z, level=1, noise=noise[:4])).numpy()
    new = generator(z, level=2, alpha=1.0, noise=noise).numpy()
    assert _close(generator(z, level=2, alpha=0.0, noise=noise).numpy(), old)
    assert _close(generator(z, level=2, alpha=0.25, noise=noise).numpy(), 0.25 * new + 0.75 * old)
    assert new.shape == (2, 3, 16, 16) and not _close(new, old, 1e-3)


def _mbstd_reference(x: np.ndarray, group: int) -> np.ndarray:
    """Independent loop: sample b's group = the samples b' with b' % (B/G) == b % (B/G)."""
    b = x.shape[0]
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    m = b // g
    extra = np.empty((b, 1, *x.shape[2:]), np.float64)
    for i in range(b):
        members = x[[j for j in range(b) if j % m == i % m]].astype(np.float64)
        extra[i] = np.sqrt(members.var(axis=0) + 1e-8).mean()
    return np.concatenate([x, extra], axis=1)


def test_minibatch_stddev_adds_one_channel_equal_to_a_numpy_reference():
    rng = np.random.default_rng(0)
    for batch, group in ((8, 4), (6, 4)):
        x = rng.standard_normal((batch, 3, 4, 4)).astype(np.float32)
        out = minibatch_stddev(jt.array(x), group).numpy()
        assert out.shape == (batch, 4, 4, 4) and _close(out, _mbstd_reference(x, group))
    disc = StyleDiscriminator(StyleDiscConfig(channels=(16, 16, 8)))
    assert disc.final_conv.weight.shape[1] == 16 + 1                    # the seed's 512 instead of 513
    assert tuple(disc(jt.randn(4, 3, 16, 16)).shape) == (4, 1)


# --- StyleGAN: training -------------------------------------------------------------------------
def _sections(root, *overrides):
    return load_config("configs/gan/stylegan-tiny.json", stylegan_train.SECTIONS, [f"data.root={root}", *overrides])


def _batch(sections) -> dict:
    batch = next(BatchLoader(LandscapeDataset(sections["data"], "train"), 4, seed=0))
    return {"image": jt.array(stylegan_train.centre_crop(batch["image"], 16))}


def test_one_update_moves_every_parameter_once_and_only_its_own_network(synth):
    task, steps = stylegan_train.make_task(_sections(synth))
    d_phase, g_phase = task.phases
    before_g = {k: v.numpy().copy() for k, v in steps.gen.named_parameters()}
    before_d = {k: v.numpy().copy() for k, v in steps.disc.named_parameters()}
    optimise_phase(g_phase, _batch(_sections(synth)), FIXED_STEP, 1)
    lr = task.phases[1].updater.cfg.lr
    moved = {k: np.abs(v.numpy() - before_g[k]) for k, v in steps.gen.named_parameters() if k != "w_avg"}
    # Adam's first update (beta1 0) moves each element by lr·g/(|g| + eps/0.1): at most lr; the
    # seed's duplicated generator group moved every parameter twice (up to 2·lr).
    ulp = {k: 2 * np.spacing(np.abs(before_g[k]).astype(np.float32)) for k in moved}   # float32 rounding
    assert all((m <= lr * 1.001 + ulp[k]).all() for k, m in moved.items())
    assert np.median(moved["blocks.2.conv1.weight"]) == pytest.approx(lr, rel=1e-3)
    assert np.median(moved["mapping.0.weight"]) == pytest.approx(lr, rel=1e-2)
    assert all(_close(v.numpy(), before_d[k], 0) for k, v in steps.disc.named_parameters())
    names_g = set(g_phase.updater.params)
    assert "w_avg" not in names_g and len(names_g) == len(list(steps.gen.parameters())) - 1


def test_each_phase_lowers_its_loss_against_the_other_held_fixed(synth):
    sections = _sections(synth)
    task, _ = stylegan_train.make_task(sections)
    d_phase, g_phase = task.phases
    batch = _batch(sections)
    g_losses = optimise_phase(g_phase, batch, FIXED_STEP, 6)
    assert np.isfinite(g_losses).all() and np.mean(g_losses[-2:]) < np.mean(g_losses[:2]) - 0.05, g_losses
    d_losses = optimise_phase(d_phase, batch, FIXED_STEP, 6)
    assert np.isfinite(d_losses).all() and np.mean(d_losses[-2:]) < np.mean(d_losses[:2]) - 0.05, d_losses


def test_progressive_schedule():
    sched = [stylegan_train.schedule(s, 10, 1, 3) for s in (0, 9, 10, 12, 15, 19, 20, 35, 100)]
    assert sched == [(1, 1.0), (1, 1.0), (2, 0.0), (2, 0.4), (2, 1.0), (2, 1.0), (3, 0.0), (3, 1.0), (3, 1.0)]
    assert stylegan_train.schedule(5, 0, 1, 3) == (3, 1.0)


def test_tiny_run_grows_checkpoints_resumes_and_samples_unconditionally(synth, tmp_path):
    run = tmp_path / "sg"
    path = stylegan_train.train(_sections(synth, "train.steps=12", "train.save_every=6"), run, progress=False)
    meta = ckpt.read_metadata(path)
    assert path.name == "step0000012.safetensors" and meta["kind"] == "gan-stylegan"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    levels = [r["d_step/level"] for r in log]            # windows of 3 steps; 8x8 for steps 0-3, then 16x16
    assert levels == pytest.approx([1.0, 5 / 3, 2.0, 2.0]) and all(np.isfinite(r["d_step/r1"]) for r in log)
    assert (run / "previews" / "step0000012.png").is_file()
    assert not any(k.startswith("disc") or ".disc." in k for k in ckpt.read_arrays(path))
    resumed = stylegan_train.train(_sections(synth, "train.steps=14", "train.save_every=2"), run, resume=True,
                                   progress=False)
    assert resumed.name == "step0000014.safetensors"
    sampler = stylegan_train.load_sampler(resumed)
    arrays = ckpt.read_arrays(resumed)
    assert sampler.conditional is False and not sampler.generator.is_training()
    assert all(_close(v.numpy(), arrays[f"ema.{k}"], 0) for k, v in sampler.generator.state_dict().items())
    masks = onehot(np.zeros((2, 24, 32), np.int64))
    a, b = sampler.sample(masks, None, seed=3), sampler.sample(masks, np.ones((2, 3, 24, 32), np.float32), seed=3)
    assert a.shape == (2, 3, 24, 32) and _close(a, b, 0) and a.min() >= -1 and a.max() <= 1
    assert not _close(a, sampler.sample(masks, None, seed=4), 1e-3)


def test_cli_help_dry_run_and_one_line_errors(synth, tmp_path):
    assert "--model" in run_script("scripts/train_gan.py", "--help").stdout
    dry = run_script("scripts/train_gan.py", "--model", "stylegan", "--out", str(tmp_path / "x"), "--dry-run")
    assert dry.returncode == 0 and json.loads(dry.stdout)["model"]["resolution"] == 64
    bad = run_script("scripts/train_gan.py", "--model", "stylegan", "--config", "configs/gan/stylegan-tiny.json",
                     "--data", str(synth), "--out", str(tmp_path / "bad"), "--set", "data.height=20")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: data size 21x20")
    assert not (tmp_path / "bad").exists()
    sr_help = run_script("scripts/train_sr.py", "--help")
    assert sr_help.returncode == 0 and "--config" in sr_help.stdout
    sr_dry = run_script("scripts/train_sr.py", "--out", str(tmp_path / "y"), "--dry-run")
    assert sr_dry.returncode == 0 and json.loads(sr_dry.stdout)["data"]["width"] == 128


# --- the report -----------------------------------------------------------------------------------
def test_report_prints_na_for_unconditional_rows(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from evaluation import evaluate as ev
    from evaluation import report

    comp = {"value": 0.5, "partial": 0.5, "absent": []}
    row = {"name": "g", "n": 2, "pixel_acc": 0.7, "miou": 0.2, "fd_seg": 1.0, "kid_seg": 0.1, "fid": None,
           "style": 0.6, "diversity": None, "composite_2022": comp, "composite_2023": comp}
    conditional = report.results_row(row, {"judge_digest": "j"}, "d")
    unconditional = report.results_row({**row, "conditional": False}, {"judge_digest": "j"}, "d")
    assert "| 0.7000 | 0.2000 |" in conditional and "n/a (unconditional)" not in conditional
    assert unconditional.count("n/a (unconditional)") == 3 and "0.7000" not in unconditional
    assert "| 1.000 |" in unconditional                                # FD-seg is still reported
    page = tmp_path / "r.html"
    report.write_html(page, {"protocol": {}, "rows": [{**row, "conditional": False}]}, {}, [],
                      np.zeros((0, 1, 1)), None)
    mask_columns = [key for key, _, _ in report.COLUMNS if key in report.MASK_KEYS]
    assert {"pixel_acc", "miou"} <= set(mask_columns)
    assert page.read_text().count("n/a (unconditional)") == len(mask_columns) + 2    # + the two composites

    class Unconditional:                                               # evaluate() takes the flag from the generator
        name, conditional = "u", False

    monkeypatch.setattr(ev, "load_generator", lambda path: (Unconditional(), {"kind": "k", "step": 1}))
    monkeypatch.setattr(ev, "score_row", lambda ctx, name, images, *a, **k: {"name": name})
    monkeypatch.setattr(ev, "cached_outputs", lambda folder, names, key, make: np.zeros((1, 2, 2, 3), np.uint8))
    monkeypatch.setattr(ev.ckpt, "file_digest", lambda path: "digest")
    monkeypatch.setattr(ev, "protocol_description", lambda ctx: {})
    ctx = SimpleNamespace(cfg=SimpleNamespace(seed=0, batch_size=1, diversity_samples=0, diversity_masks=1),
                          test=SimpleNamespace(names=["a"], images=np.zeros((1, 2, 2, 3), np.uint8)))
    results, _ = ev.evaluate(ctx, [tmp_path / "g.safetensors"], tmp_path)
    assert results["rows"][1]["conditional"] is False
