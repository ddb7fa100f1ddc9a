"""GAN training through lsgen's loop: each phase improves its objective, runs write loadable
checkpoints that resume, and the CLI is thin and fails in one line."""
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

from gan.sample import load
from gan.train import make_task, sections_for, train

from conftest import optimise_phase, run_script

FIXED_STEP = 100          # past the tiny configs' progressive stages: full size, DiffAugment + seg-noise on


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan") / "synth"
    write_dataset(root, 16, width=64, height=48, seed=0, n_test=2, workers=1, progress=False)
    return root


def _sections(name: str, root, *overrides: str) -> dict:
    return load_config(f"configs/gan/{name}-tiny.json", sections_for(name), [f"data.root={root}", *overrides])


def _fixed_batch(sections: dict) -> dict:
    loader = BatchLoader(LandscapeDataset(sections["data"], "train"), 4, seed=0)
    batch = next(loader)
    return {k: jt.array(batch[k]) for k in ("image", "mask_onehot")}


@pytest.mark.parametrize("name", ["pix2pix", "spade", "apf"])
def test_each_phase_lowers_its_loss_against_the_other_held_fixed(name, synth):
    sections = _sections(name, synth)
    task, steps = make_task(name, sections)
    batch = _fixed_batch(sections)
    d_phase, g_phase = task.phases
    assert [d_phase.name, g_phase.name] == ["d_step", "g_step"]
    g_losses = optimise_phase(g_phase, batch, FIXED_STEP, 6)
    assert np.isfinite(g_losses).all() and np.mean(g_losses[-2:]) < np.mean(g_losses[:2]), g_losses
    d_losses = optimise_phase(d_phase, batch, FIXED_STEP, 6)
    assert np.isfinite(d_losses).all() and np.mean(d_losses[-2:]) < np.mean(d_losses[:2]), d_losses


@pytest.mark.parametrize("name", ["pix2pix", "spade", "apf"])
def test_tiny_run_writes_a_loadable_checkpoint_and_resumes(name, synth, tmp_path):
    run = tmp_path / name
    sections = _sections(name, synth, "train.steps=4", "train.save_every=2", "train.log_every=2",
                         "train.preview_every=4")
    path = train(name, sections, run, progress=False)
    assert path.name == "step0000004.safetensors"
    meta = ckpt.read_metadata(path)
    assert meta["kind"] == f"gan-{name}" and meta["step"] == 4
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    assert all(np.isfinite(r["g_step/loss"]) and np.isfinite(r["d_step/loss"]) for r in log)
    assert (run / "previews" / "step0000004.png").is_file()
    state, _ = ckpt.load_training_state(run, "step0000004")
    assert any(k.startswith("module.disc.") for k in state)            # D lives in the training state
    assert not any("disc" in k for k in ckpt.read_arrays(path))         # ... never in the weights
    masks = np.eye(29, dtype=np.float32)[np.zeros((1, 48, 64), int)].transpose(0, 3, 1, 2).copy()
    images = load(path).sample(masks, np.zeros((1, 3, 48, 64), np.float32), seed=0)
    assert images.shape == (1, 3, 48, 64) and np.isfinite(images).all()
    if name == "apf":
        resumed = train(name, _sections(name, synth, "train.steps=6", "train.save_every=2", "train.log_every=2",
                                        "train.preview_every=0"), run, resume=True, progress=False)
        assert resumed.name == "step0000006.safetensors"
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert [r["step"] for r in log] == [2, 4, 6]


def test_cli_help_dry_run_and_one_line_errors(synth, tmp_path):
    help_text = run_script("scripts/train_gan.py", "--help")
    assert help_text.returncode == 0 and "--model" in help_text.stdout
    dry = run_script("scripts/train_gan.py", "--model", "apf", "--config", "configs/gan/apf-tiny.json",
                     "--out", str(tmp_path / "x"), "--dry-run", "--steps", "3")
    assert dry.returncode == 0 and json.loads(dry.stdout)["train"]["steps"] == 3
    bad = run_script("scripts/train_gan.py", "--model", "spade", "--config", "configs/gan/spade-tiny.json",
                     "--data", str(synth), "--out", str(tmp_path / "bad"), "--set", "model.style=mask")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --model spade needs")
    assert not (tmp_path / "bad").exists()
