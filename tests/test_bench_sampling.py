"""The sampling benchmarks (style_transfer, sampler_quality, lora_style) end to end on the tiny UNet
fixture with n=2, a random tiny judge, and the invariants their tables rest on."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import REPO

from benchmarks import lora_style, sampler_quality, style_transfer


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    """An untrained tiny segmenter checkpoint (judging at 32x24): the benchmarks only need its API."""
    from evaluation.segmenter import KIND, Segmenter, SegmenterConfig
    from lsgen import checkpoint as ckpt
    from lsgen.config import from_dict, read_json
    from lsgen.runtime import jt

    jt.set_global_seed(0)
    cfg = from_dict(SegmenterConfig, read_json(REPO / "configs/segmenter/tiny.json")["model"])
    path = tmp_path_factory.mktemp("judge") / "judge.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(Segmenter(cfg)), KIND, cfg, 0,
                      extra={"image_size": {"width": 32, "height": 24}})
    return path


def common(run, data, judge, tmp_path, *extra):
    return ["--checkpoint", str(run), "--data", str(data), "--steps", "2", "--batch-size", "2", "--no-progress",
            "--json", str(tmp_path / "out.json"), *extra, *(["--judge", str(judge)] if judge else [])]


def test_reference_slots_start_with_the_own_reference_and_are_distinct():
    slots = style_transfer.reference_slots(n=5, pool=20, k=4)
    assert slots.shape == (5, 4) and (slots[:, 0] == np.arange(5)).all()
    assert all(len(set(row)) == 4 for row in slots) and slots.max() < 20
    assert (style_transfer.reference_slots(2, 2, 2) == [[0, 1], [1, 0]]).all()
    with pytest.raises(ValueError, match="exceeds the 3 test masks"):
        style_transfer.reference_slots(2, 3, 4)


def test_style_transfer_table(tiny_unet_run, tiny_judge, tmp_path, capsys):
    from diffusion.pipeline import LandscapePipeline, SampleOptions
    from evaluation.contest import style_correlation
    from evaluation.protocol import load_split

    from benchmarks.sampling_common import protocol_data

    run, data = tiny_unet_run
    result = style_transfer.main(common(run, data, tiny_judge, tmp_path, "--n", "2", "--refs-per-mask", "2",
                                        "--ref-strengths", "0.5", "--shuffled-ref-strengths", "0.5",
                                        "--matched-ref-strengths", "0.5"))
    rows = {r["config"]: r for r in result["rows"]}
    assert list(rows) == ["ref on", "ref on + color match", "ref off", "ref off + color match",
                          "ref on, strength 0.5", "ref on, shuffled strength 0.5",
                          "ref on, class-matched strength 0.5", "real (ground truth)",
                          "real through the VAE", "real restyled"]
    for name, scores in result["per_image"].items():
        assert scores["corr"].shape == scores["acc"].shape == (2, 2)
        assert np.all(np.abs(scores["corr"]) <= 1) and np.all((scores["acc"] >= 0) & (scores["acc"] <= 1))
    # without colour matching, ref off is one sample per mask: no spread, and no preference for any ref
    off = rows["ref off"]
    assert off["spread_per_mask"] == 0 and off["slot_dev"] == pytest.approx(0, abs=1e-12) and off["within_1pct"]
    assert off["corr_own_ref"] == pytest.approx(off["corr_other_refs"])
    for row in rows.values():  # the contest's score is the mean of (corr + 1) / 2, a linear map
        assert row["score_own_ref"] == pytest.approx((row["corr_own_ref"] + 1) / 2)
    test = load_split(protocol_data(data, (64, 48)), "test", 2)
    ceiling = np.mean([style_correlation(im, ref) for im, ref in zip(test.images, test.refs)])
    assert rows["real (ground truth)"]["corr_contest_ref"] == pytest.approx(ceiling)
    # the restyled control: slot 0 is the ground truth itself; the other slots change its colours only
    np.testing.assert_array_equal(result["per_image"]["real restyled"]["acc"][:, 0],
                                  result["per_image"]["real (ground truth)"]["acc"][:, 0])
    assert rows["real restyled"]["slot_dev_vs_restyled"] == 0
    control = result["per_image"]["real restyled"]["acc"]
    for name, scores in result["per_image"].items():
        diff = scores["acc"] - control
        assert rows[name]["slot_dev_vs_restyled"] == pytest.approx(np.abs(diff.mean(0) - diff.mean()).max())
    assert "| config | corr contest ref |" in capsys.readouterr().out
    # the benchmark samples as the pipeline does, and its colour matching is the pipeline's --color-match
    pipe, options = LandscapePipeline.from_checkpoint(run), SampleOptions(steps=2, seed=0)
    plain = pipe.generate(test.masks, options, test.refs)
    matched = pipe.generate(test.masks, replace(options, color_match=True), test.refs)
    own = [style_correlation(im, ref) for im, ref in zip(plain, test.refs)]
    np.testing.assert_allclose(result["per_image"]["ref on"]["corr"][:, 0], own)
    np.testing.assert_array_equal(style_transfer.color_matched(plain[:, None], test.refs[:, None])[:, 0], matched)
    img2img = pipe.generate(test.masks, replace(options, ref_strength=0.5), test.refs)
    np.testing.assert_allclose(result["per_image"]["ref on, strength 0.5"]["corr"][:, 0],
                               [style_correlation(im, ref) for im, ref in zip(img2img, test.refs)])
    shuffled = pipe.generate(test.masks, replace(options, ref_strength=0.5, ref_shuffle=True), test.refs)
    np.testing.assert_allclose(result["per_image"]["ref on, shuffled strength 0.5"]["corr"][:, 0],
                               [style_correlation(im, ref) for im, ref in zip(shuffled, test.refs)])
    assert test.ref_masks is not None and test.ref_masks.shape == test.masks.shape
    by_class = pipe.generate(test.masks, replace(options, ref_strength=0.5, ref_shuffle=True), test.refs,
                             ref_labels=test.ref_masks)
    np.testing.assert_allclose(result["per_image"]["ref on, class-matched strength 0.5"]["corr"][:, 0],
                               [style_correlation(im, ref) for im, ref in zip(by_class, test.refs)])
    # the VAE row is the ground truth's round trip through the pipeline's VAE (posterior mean)
    from lsgen.data.io import from_model_image, to_model_image
    from lsgen.runtime import jt

    x = jt.array(np.stack([to_model_image(im) for im in test.images]))
    trip = [from_model_image(im) for im in pipe.vae.decode(pipe.vae.encode(x).mean).numpy()]
    np.testing.assert_allclose(result["per_image"]["real through the VAE"]["corr"][:, 0],
                               [style_correlation(im, ref) for im, ref in zip(trip, test.refs)], atol=1e-6)
    saved = json.loads((tmp_path / "out.json").read_text())
    assert [r["config"] for r in saved["rows"]] == list(rows) and saved["protocol"]["ref_route"] is True


def test_sampler_quality_table(tiny_unet_run, tiny_judge, tmp_path, capsys):
    run, data = tiny_unet_run
    argv = common(run, data, tiny_judge, tmp_path, "--n", "2", "--samplers", "ddim", "--reference-limit", "4")
    result = sampler_quality.main(argv)
    real, ddim = result["rows"]
    assert (real["sampler"], ddim["sampler"], ddim["steps"]) == ("real", "ddim", 2)
    assert ddim["seconds_per_image"] > 0 and 0 <= ddim["pixel_acc"] <= 1 and ddim["fd_seg"] >= 0
    assert result["within_3pct"] == {"reference": "ddim-2", "ddim": 2}
    assert "smallest steps within 3% of ddim-2" in capsys.readouterr().out


def test_smallest_within_tolerance():
    rows = [{"name": f"{s}-{n}", "sampler": s, "steps": n, "pixel_acc": acc, "fd_seg": fd}
            for s, n, acc, fd in [("ddim", 10, 0.80, 12.0), ("ddim", 50, 0.85, 10.0), ("dpm++2m", 5, 0.83, 10.2),
                                  ("dpm++2m", 10, 0.86, 9.0), ("ddpm", 10, 0.5, 30.0)]]
    assert sampler_quality.smallest_within(rows, 0.03) == {"reference": "ddim-50", "ddim": 50, "dpm++2m": 5,
                                                           "ddpm": None}


def test_lora_style_table_with_a_fresh_lora_equals_the_base(tiny_unet_run, tmp_path):
    from controlnet.lora import LoRA, LoRAConfig, save_lora
    from diffusion.pipeline import load_unet
    from lsgen.data.dataset import LandscapeDataset
    from lsgen.data.style_filter import style_mask

    from benchmarks.sampling_common import protocol_data

    run, data = tiny_unet_run
    unet, meta = load_unet(run)
    save_lora(tmp_path / "lora.safetensors", LoRA(unet, LoRAConfig(rank=2, targets=("attn",))), meta)
    with pytest.raises(ValueError, match="records no style filter"):
        lora_style.lora_filter(tmp_path / "lora.safetensors", None)
    styles = json.loads((data / "styles.json").read_text())
    season = styles["train/000000"]["season"]
    argv = common(run, data, None, tmp_path, "--lora", str(tmp_path / "lora.safetensors"), "--n", "2",
                  "--style-filter", f"season={season}")
    rows = {r["images"]: r for r in lora_style.main(argv)["rows"]}
    base, adapted = rows["base"], rows["base + LoRA"]
    assert base == {**adapted, "images": "base"}          # a fresh adapter is exactly the identity
    assert -1 <= base["corr_subset"] <= 1 and base["dlab_mean"] >= 0
    val = LandscapeDataset(protocol_data(data, (64, 48)), "val")
    in_subset = sum(style_mask(data, val.names, f"season={season}"))
    counts = rows["real val, subset (ceiling)"]["n"], rows["real val, other styles"]["n"]
    assert counts == (in_subset, len(val) - in_subset)


def test_paired_summary_mean_error_and_interval():
    from benchmarks.paired_rows import paired_summary

    rng = np.random.default_rng(0)
    assert paired_summary(np.full(50, 0.02), rng) == "+0.0200 ± 0.0000 [+0.0200, +0.0200] (n=50)"
    diff = np.concatenate([rng.normal(0.01, 0.05, 400), [np.nan]])
    text = paired_summary(diff, rng, rounds=2000)
    mean = np.nanmean(diff)
    se = np.nanstd(diff, ddof=1) / np.sqrt(400)
    assert text.startswith(f"{mean:+.4f} ± {se:.4f} [") and text.endswith("(n=400)")
    low, high = (float(v) for v in text.split("[")[1].split("]")[0].split(", "))
    assert low < mean < high and abs((high - low) - 2 * 1.96 * se) < 0.3 * se
