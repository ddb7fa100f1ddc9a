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


def optimise_phase(phase, batch: dict, step: int, n: int) -> list[float]:
    """n updates of one training phase on a fixed batch with fixed randomness (a fixed objective,
    evaluated at training step `step`); returns the n losses."""
    from lsgen.runtime import jt

    values = []
    for i in range(n):
        np.random.seed(0)
        jt.set_seed(0)
        terms = phase.loss_fn(dict(batch), step)
        phase.updater.backward(terms["loss"])
        phase.updater.apply(i)
        values.append(terms["loss"].item())
    return values


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


W, H = 64, 48  # image size of the tiny latent-diffusion fixtures


@pytest.fixture(scope="session")
def latent_setup(tmp_path_factory):
    """Synthetic data at 64x48, a random tiny VAE checkpoint with a latent scale, train/val caches."""
    from lsgen import checkpoint as ckpt
    from lsgen.config import from_dict, read_json
    from lsgen.data.dataset import DataConfig, LandscapeDataset
    from lsgen.data.synthetic import write_dataset
    from lsgen.runtime import jt
    from vae.latents import compute_latent_scale, encode_split, write_latent_cache
    from vae.model import AutoencoderKL, VAEConfig

    root = tmp_path_factory.mktemp("latents")
    data = write_dataset(root / "synth", n=24, width=W, height=H, seed=0, n_test=2, progress=False)
    jt.set_global_seed(0)
    vae_cfg = from_dict(VAEConfig, read_json(REPO / "configs/vae/tiny.json")["model"])
    vae = AutoencoderKL(vae_cfg)
    vae.eval()
    data_cfg = DataConfig(root=str(data), width=W, height=H, val_fraction=0.25)
    train_set, val_set = LandscapeDataset(data_cfg, "train"), LandscapeDataset(data_cfg, "val")
    scale = compute_latent_scale(vae, train_set, max_images=8)
    vae_path = root / "vae.safetensors"
    ckpt.save_weights(vae_path, ckpt.module_arrays(vae), "vae", vae_cfg, 0, extra=scale)
    for split, dataset in (("train", train_set), ("val", val_set)):
        arrays = encode_split(vae, dataset, progress=False)
        write_latent_cache(root / f"{split}.safetensors", arrays, vae_path, dataset.names,
                           {"split": split, "image_size": [W, H], "data_root": str(data)})
    return root, data




@pytest.fixture(scope="session")
def tiny_unet_run(latent_setup):
    """A tiny reference-conditioned UNet trained 30 steps on the latent fixture: (run dir, data root)."""
    from diffusion.train import SECTIONS, train
    from lsgen.config import apply_overrides, build_sections, read_json

    root, data = latent_setup
    raw = apply_overrides(read_json(REPO / "configs/unet/tiny.json"), [
        f'data.vae="{root / "vae.safetensors"}"', f'data.train_cache="{root / "train.safetensors"}"',
        f'data.val_cache="{root / "val.safetensors"}"', "train.steps=30", "train.log_every=5", "train.save_every=30",
        "train.preview_every=30", "optim.lr=0.002", "optim.warmup_steps=0"])
    train(build_sections(raw, SECTIONS), root / "run", progress=False)
    return root / "run", data
