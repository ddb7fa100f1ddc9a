"""Trainer command lines on bad input: one `error:` line on stderr, exit status 2, nothing written."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import random_ids, run_script, write_pair
from PIL import Image


@pytest.fixture
def small_set(tmp_path):
    root = tmp_path / "data"
    for i in range(8):
        write_pair(root / "train_resized/imgs", root / "train_resized/labels", f"{i:03d}", random_ids(48, 64, i))
    return root


def corrupt_labels(root):
    for path in (root / "train_resized/labels").glob("*.png"):
        Image.fromarray(np.full((48, 64), 31, np.uint8), mode="L").save(path)


def truncate_images(root):
    for path in (root / "train_resized/imgs").glob("*.png"):
        path.write_bytes(path.read_bytes()[:60])


def drop_a_label(root):
    (root / "train_resized/labels/003.png").unlink()


def empty_folder(root):
    shutil.rmtree(root / "train_resized/imgs")
    (root / "train_resized/imgs").mkdir()


@pytest.mark.parametrize("damage, message, extra", [
    (None, "model.chanel_mult: unknown key", ["--set", "model.chanel_mult=[1]"]),
    (None, "train.stpes: unknown key", ["--set", "train.stpes=3"]),
    (empty_folder, "no images", []),
    (drop_a_label, "003.png: no label 003.png", []),
    (truncate_images, "unreadable or corrupt image", []),
])
def test_trainer_rejects_bad_input_in_one_line(small_set, tmp_path, damage, message, extra):
    if damage is not None:
        damage(small_set)
    out = tmp_path / "run"
    result = run_script("scripts/train_vae.py", "--config", "configs/vae/tiny.json", "--data", str(small_set),
                        "--out", str(out), "--steps", "1", "--batch-size", "4", "--no-progress",
                        "--set", "data.width=64", "data.height=48", "train.preview_every=0", *extra)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert not any(line.startswith("Traceback") for line in lines)
    assert not out.exists()


def test_label_trainer_rejects_out_of_range_ids(small_set, tmp_path):
    corrupt_labels(small_set)
    out = tmp_path / "run"
    result = run_script("scripts/train_segmenter.py", "--config", "configs/segmenter/tiny.json", "--data", str(small_set),
                        "--out", str(out), "--steps", "1", "--batch-size", "4", "--no-progress",
                        "--set", "data.width=64", "data.height=48")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert lines[-1].startswith("error: ") and "has class id 31; expected class ids 0..28" in lines[-1]
    assert not out.exists()
