"""VAE training through lsgen's loop: the loss falls, the GAN phase runs from disc_start with its
discriminator in the training state only, resume is exact, the latent scale is measured and stored,
and the script writes what it says (or fails with one line)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from lsgen.checkpoint import read_arrays, read_metadata
from lsgen.config import build_sections, read_json
from lsgen.data.loader import BatchLoader
from lsgen.train.loop import run_training
from conftest import REPO, run_script
from vae.latents import compute_latent_scale, load_vae
from vae.train import SECTIONS, ImageSplit, make_task, train


def sections_for(root, **train):
    raw = read_json(REPO / "configs/vae/tiny.json")
    raw["data"].update(root=str(root), width=32, height=24, val_fraction=0.25)
    raw["train"].update(batch_size=4, log_every=5, save_every=10, preview_every=0, **train)
    raw["loss"].update(disc_start=20)
    raw["recipe"].update(scale_images=6, preview_images=2)
    return build_sections(raw, SECTIONS)


def log_records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_reconstruction_loss_falls_then_gan_phase_runs(tiny_2023, tmp_path):
    sections = sections_for(tiny_2023, steps=30)
    final = train(sections, tmp_path / "run", progress=False)
    records = log_records(tmp_path / "run")
    assert records[3]["vae/l1"] < 0.85 * records[0]["vae/l1"]  # steps 1-5 vs 16-20, before the GAN
    assert "disc/loss" not in records[3] and "disc/loss" in records[-1] and "vae/d_weight" in records[-1]
    weights = read_arrays(final)
    assert not any("disc" in k for k in weights) and any(k.startswith("ema.") for k in weights)
    state = read_arrays(tmp_path / "run" / "step0000030.state.safetensors")
    assert any(k.startswith("module.disc.") for k in state) and any(k.startswith("disc.m.") for k in state)

    vae, meta = load_vae(final)  # the stored scale is 1/std of latents of these EMA weights
    assert meta["weights"] == "ema" and meta["image_size"] == [32, 24]
    again = compute_latent_scale(vae, ImageSplit(replace(sections["data"], flip=False), "train"), 6)
    assert meta["latent_scale"] == pytest.approx(again["latent_scale"], rel=1e-6)
    assert float(read_metadata(tmp_path / "run" / "step0000030.safetensors")["latent_scale"]) == meta["latent_scale"]


def test_resume_with_discriminator_is_exact(tiny_2023, tmp_path):
    sections = sections_for(tiny_2023, steps=8)
    sections["loss"] = replace(sections["loss"], disc_start=2)
    sections["recipe"] = replace(sections["recipe"], crop_width=16, crop_height=16)
    cfg = sections["train"]

    def run(run_dir, steps, resume=False):
        loader = BatchLoader(ImageSplit(sections["data"], "train"), cfg.batch_size, seed=cfg.seed)
        run_training(make_task(sections), replace(cfg, steps=steps, save_every=4), loader, run_dir,
                     resume=resume, progress=False)

    run(tmp_path / "straight", 8)
    run(tmp_path / "resumed", 4)
    run(tmp_path / "resumed", 8, resume=True)
    a, b = (read_arrays(tmp_path / d / "step0000008.safetensors") for d in ("straight", "resumed"))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    sa, sb = (read_arrays(tmp_path / d / "step0000008.state.safetensors") for d in ("straight", "resumed"))
    np.testing.assert_array_equal(sa["module.disc.net.0.weight"], sb["module.disc.net.0.weight"])


def test_script_writes_checkpoint_previews_and_scale(tiny_2023, tmp_path):
    out = tmp_path / "run"
    result = run_script("scripts/train_vae.py", "--config", "configs/vae/tiny.json", "--data", str(tiny_2023),
                        "--out", str(out), "--steps", "3", "--batch-size", "4", "--no-progress", "--set",
                        "data.width=32", "data.height=24", "data.val_fraction=0.25", "train.preview_every=3",
                        "recipe.scale_images=4", "recipe.preview_images=2")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'vae.safetensors'}" in result.stdout
    assert "perceptual loss: off" in result.stderr
    meta = read_metadata(out / "vae.safetensors")
    assert meta["kind"] == "vae" and meta["step"] == 3 and float(meta["latent_scale"]) > 0
    assert (out / "previews" / "step0000003.png").is_file()
    preview = json.loads((out / "previews.jsonl").read_text().splitlines()[-1])
    assert preview["step"] == 3 and preview["psnr"] > 0 and preview["psnr_bicubic"] > 0


def test_script_bad_sizes_fail_with_one_line(tiny_2023, tmp_path):
    result = run_script("scripts/train_vae.py", "--config", "configs/vae/tiny.json", "--data", str(tiny_2023),
                        "--out", str(tmp_path / "run"), "--set", "data.width=36", "data.height=24")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "error: data size 36x24 is not divisible by the VAE's downsampling factor 8"
    dry = run_script("scripts/train_vae.py", "--config", "configs/vae/tiny.json", "--out", "x", "--dry-run",
                     "--set", "model.base_channels=32")
    assert dry.returncode == 0 and json.loads(dry.stdout)["model"]["base_channels"] == 32
