"""UNet training on cached latents (loss falls in 30 steps on a tiny config), the final checkpoint
rebuilds a pipeline alone, and scripts/sample.py writes images or one-line errors."""
from __future__ import annotations

import json

import numpy as np
from conftest import H, W, run_script
from PIL import Image

from lsgen import checkpoint as ckpt


def test_loss_falls_and_checkpoint_rebuilds_pipeline(tiny_unet_run):
    from diffusion.pipeline import LandscapePipeline, SampleOptions

    run, _ = tiny_unet_run
    losses = [json.loads(line)["unet/loss"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 6 and np.mean(losses[-2:]) < 0.8 * losses[0]
    assert (run / "preview_0000030.png").is_file()
    meta = ckpt.read_metadata(run / "unet.safetensors")
    assert meta["kind"] == "unet" and json.loads(meta["image_size"]) == [W, H]
    pipe = LandscapePipeline.from_checkpoint(run)
    masks = np.zeros((2, H, W), np.int32)
    masks[:, :20] = 1
    images = pipe.generate(masks, SampleOptions(sampler="ddim", steps=3, seed=1))
    assert images.shape == (2, H, W, 3) and images.dtype == np.uint8
    again = pipe.generate(masks, SampleOptions(sampler="ddim", steps=3, seed=1))
    np.testing.assert_array_equal(images, again)


def test_sample_script_single_and_folder_modes(tiny_unet_run, tmp_path):
    run, data = tiny_unet_run
    mask = sorted((data / "train_resized/labels").glob("*.png"))[0]
    ref = sorted((data / "train_resized/imgs").glob("*.jpg"))[1]
    common = ["--checkpoint", str(run), "--steps", "2", "--sampler", "ddim"]
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
    # img2img from the reference, with and without its latent positions shuffled: both run, and differ
    ref_label = data / "train_resized/labels" / f"{ref.stem}.png"
    runs = (("keep", []), ("shuffle", ["--ref-shuffle"]), ("matched", ["--ref-shuffle", "--ref-label", str(ref_label)]))
    for name, extra in runs:
        img2img = run_script("scripts/sample.py", *common, "--mask", str(mask), "--ref", str(ref),
                             "--ref-strength", "0.5", *extra, "--out", str(tmp_path / name))
        assert img2img.returncode == 0, img2img.stderr[-1500:]
    kept, shuffled, matched = (np.asarray(Image.open(sorted((tmp_path / n).glob("*.png"))[0])) for n, _ in runs)
    assert kept.shape == shuffled.shape == matched.shape
    assert np.abs(kept.astype(int) - shuffled).max() > 0 and np.abs(matched.astype(int) - shuffled).max() > 0
    # folder mode with the references' labels: one output per mask
    folder = run_script("scripts/sample.py", *common, "--mask-dir", str(data / "test/labels"),
                        "--label-to-img", str(data / "label_to_img.json"), "--ref-dir", str(data / "train_resized/imgs"),
                        "--ref-label-dir", str(data / "train_resized/labels"), "--ref-strength", "0.5", "--ref-shuffle",
                        "--out", str(tmp_path / "matched_submission"))
    assert folder.returncode == 0, folder.stderr[-1500:]
    assert sorted(p.stem for p in (tmp_path / "matched_submission").iterdir()) == labels


def test_sample_script_errors_write_nothing(tiny_unet_run, tmp_path):
    run, data = tiny_unet_run
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
        result = run_script("scripts/sample.py", "--checkpoint", str(run), *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and lines[-1].startswith("error:") and message in lines[-1], result.stderr
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3"))


def test_registry_loads_the_diffusion_generator(tiny_unet_run):
    from evaluation.registry import load_generator

    run, _ = tiny_unet_run
    generator, meta = load_generator(run / "unet.safetensors")
    assert meta["kind"] == "unet" and generator.name == "latent-diffusion"
    generator.options.steps = 2
    masks = np.zeros((1, 29, H, W), np.float32)
    masks[:, 1] = 1
    refs = np.zeros((1, 3, H, W), np.float32)
    out = generator.sample(masks, refs, seed=3)
    assert out.shape == (1, 3, H, W) and out.min() >= -1 and out.max() <= 1
    np.testing.assert_array_equal(out, generator.sample(masks, refs, seed=3))
