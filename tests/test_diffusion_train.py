"""UNet training on cached latents (loss falls in 30 steps on a tiny config), the final checkpoint
rebuilds a pipeline alone, and scripts/sample.py writes images or one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_script
from PIL import Image

from lsgen import checkpoint as ckpt
from lsgen.config import from_dict, read_json
from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.synthetic import write_dataset
from lsgen.runtime import jt

W, H = 64, 48


@pytest.fixture(scope="module")
def latent_setup(tmp_path_factory):
    """Synthetic data at 64x48, a random tiny VAE checkpoint with a latent scale, train/val caches."""
    from vae.latents import compute_latent_scale, encode_split, write_latent_cache
    from vae.model import AutoencoderKL, VAEConfig

    root = tmp_path_factory.mktemp("unet")
    data = write_dataset(root / "synth", n=24, width=W, height=H, seed=0, n_test=2, progress=False)
    jt.set_global_seed(0)
    vae_cfg = from_dict(VAEConfig, read_json("configs/vae/tiny.json")["model"])
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


def test_loss_falls_and_checkpoint_rebuilds_pipeline(latent_setup):
    from diffusion.pipeline import LandscapePipeline, SampleOptions
    from diffusion.train import SECTIONS, train
    from lsgen.config import apply_overrides, build_sections

    root, _ = latent_setup
    raw = apply_overrides(read_json("configs/unet/tiny.json"), [
        f'data.vae="{root / "vae.safetensors"}"', f'data.train_cache="{root / "train.safetensors"}"',
        f'data.val_cache="{root / "val.safetensors"}"', "train.steps=30", "train.log_every=5", "train.save_every=30",
        "train.preview_every=30", "optim.lr=0.002", "optim.warmup_steps=0"])
    final = train(build_sections(raw, SECTIONS), root / "run", progress=False)
    losses = [json.loads(line)["unet/loss"] for line in (root / "run/log.jsonl").read_text().splitlines()]
    assert len(losses) == 6 and np.mean(losses[-2:]) < 0.8 * losses[0]
    assert (root / "run/preview_0000030.png").is_file()
    meta = ckpt.read_metadata(final)
    assert meta["kind"] == "unet" and json.loads(meta["image_size"]) == [W, H]
    pipe = LandscapePipeline.from_checkpoint(root / "run")
    masks = np.zeros((2, H, W), np.int32)
    masks[:, :20] = 1
    images = pipe.generate(masks, SampleOptions(sampler="ddim", steps=3, seed=1))
    assert images.shape == (2, H, W, 3) and images.dtype == np.uint8
    again = pipe.generate(masks, SampleOptions(sampler="ddim", steps=3, seed=1))
    np.testing.assert_array_equal(images, again)


def test_sample_script_single_and_folder_modes(latent_setup, tmp_path):
    root, data = latent_setup
    if not (root / "run/unet.safetensors").is_file():
        pytest.skip("needs the trained run of the previous test")
    mask = sorted((data / "train_resized/labels").glob("*.png"))[0]
    ref = sorted((data / "train_resized/imgs").glob("*.jpg"))[1]
    common = ["--checkpoint", str(root / "run"), "--steps", "2", "--sampler", "ddim"]
    result = run_script("scripts/sample.py", *common, "--mask", str(mask), "--ref", str(ref),
                        "--out", str(tmp_path / "out"), "--batch", "2")
    assert result.returncode == 0, result.stderr[-1500:]
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in outputs] == [f"{mask.stem}_0.png", f"{mask.stem}_1.png"]
    assert Image.open(outputs[0]).size == (W, H)
    folder = run_script("scripts/sample.py", *common, "--mask-dir", str(data / "test/labels"),
                        "--label-to-img", str(data / "label_to_img.json"), "--ref-dir",
                        str(data / "train_resized/imgs"), "--out", str(tmp_path / "submission"))
    assert folder.returncode == 0, folder.stderr[-1500:]
    labels = sorted(p.stem for p in (data / "test/labels").glob("*.png"))
    assert sorted(p.stem for p in (tmp_path / "submission").iterdir()) == labels
    assert all(p.suffix == ".jpg" for p in (tmp_path / "submission").iterdir())


def test_sample_script_errors_write_nothing(latent_setup, tmp_path):
    root, data = latent_setup
    if not (root / "run/unet.safetensors").is_file():
        pytest.skip("needs the trained run of the first test")
    bad = tmp_path / "bad.png"
    Image.fromarray(np.full((H, W), 31, np.uint8), mode="L").save(bad)
    cases = {
        "has class id 31": ["--mask", str(bad), "--out", str(tmp_path / "o1")],
        "unreadable or corrupt": ["--mask", str(sorted((data / "test/labels").glob("*.png"))[0]), "--ref", str(bad.with_suffix(".jpg")), "--out", str(tmp_path / "o2")],
    }
    bad.with_suffix(".jpg").write_bytes(b"\xff\xd8 not a jpeg")
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "a.png").write_bytes((data / "test/labels" / sorted(p.name for p in (data / "test/labels").glob("*.png"))[0]).read_bytes())
    Image.fromarray(np.full((H, W), 40, np.uint8), mode="L").save(masks / "b.png")
    cases["b.png: has class id 40"] = ["--mask-dir", str(masks), "--out", str(tmp_path / "o3")]
    for message, args in cases.items():
        result = run_script("scripts/sample.py", "--checkpoint", str(root / "run"), *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and lines[-1].startswith("error:") and message in lines[-1], result.stderr
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3"))
