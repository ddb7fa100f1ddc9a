"""Shared test fixtures: seeds, tiny images and label PNGs, and a subprocess runner for scripts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def run_script(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    """Run `python scripts/<args>` (or `python -m ...`) as a user would; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def write_pair(images_dir: Path, labels_dir: Path, stem: str, ids: np.ndarray, seed: int = 0) -> None:
    """Write an image whose colour encodes the class id (so flips/resizes are checkable) + its label."""
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    rgb = np.stack([ids * 8, 255 - ids * 8, np.full_like(ids, 128)], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(images_dir / f"{stem}.png")
    Image.fromarray(ids.astype(np.uint8), mode="L").save(labels_dir / f"{stem}.png")


def random_ids(height: int, width: int, seed: int) -> np.ndarray:
    """Blocky label map (8x8 cells) with ids 0..28, so nearest resizing is exact at /2, x2."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 29, size=(height // 8 + 1, width // 8 + 1))
    return np.kron(cells, np.ones((8, 8), dtype=np.int64))[:height, :width]


@pytest.fixture
def tiny_2023(tmp_path) -> Path:
    """A 2023-layout dataset: 12 train pairs at 32x24, 2 test masks with label_to_img.json."""
    root = tmp_path / "ds2023"
    for i in range(12):
        write_pair(root / "train_resized/imgs", root / "train_resized/labels", f"{i:04d}", random_ids(24, 32, i))
    for i in range(2):
        write_pair(root / "test/imgs", root / "test/labels", f"t{i}", random_ids(24, 32, 100 + i))
    (root / "label_to_img.json").write_text('{"t0.png": "0003.png", "t1.png": "0005.png"}')
    return root
