"""Style subsets of the synthetic data (lsgen.data.style_filter) and their use by the UNet/LoRA
trainers (data.style_filter): exactly the matching items, aligned latents, masks and references,
and one-line errors for bad filters, missing styles.json and filters that match nothing."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from conftest import REPO, run_script

from lsgen.config import ConfigError, from_dict
from lsgen.data.io import DataError
from lsgen.data.style_filter import parse_style_filter, select_by_style, style_mask
from lsgen.data.synthetic_style import SEASONS, TIMES, WEATHERS


def test_filter_terms_and_alternatives():
    assert parse_style_filter(" time_of_day = dusk|night , season=winter") == {
        "time_of_day": ("dusk", "night"), "season": ("winter",)}


@pytest.mark.parametrize("text, message", [
    ("dusk", "expected key=value"), ("time_of_day=", "expected key=value"), ("hour=dusk", "unknown key 'hour'"),
    ("time_of_day=noon", "time_of_day has no value 'noon'"), ("season=winter,season=autumn", "given twice")])
def test_bad_filters_are_one_line_errors(text, message):
    with pytest.raises(ValueError) as err:
        parse_style_filter(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_data_config_rejects_a_bad_filter():
    from diffusion.train import LatentDataConfig

    with pytest.raises(ConfigError, match="^data: style filter 'weather=sunny': weather has no value 'sunny'"):
        from_dict(LatentDataConfig, {"style_filter": "weather=sunny"}, "data.")


def test_a_dataset_without_styles_json_is_a_one_line_error(tiny_2023):
    with pytest.raises(DataError, match="no styles.json") as err:
        select_by_style(tiny_2023, ["0000"], "season=winter")
    assert "\n" not in str(err.value)


def _styles(data):
    return json.loads((data / "styles.json").read_text())


def _unmatched_filter(styles: dict, names: list[str]) -> str:
    """A time/season/weather combination that none of `names` has."""
    present = {tuple(styles[f"train/{n}"][k] for k in ("time_of_day", "season", "weather")) for n in names}
    combo = next(c for c in itertools.product(TIMES, SEASONS, WEATHERS) if c not in present)
    return f"time_of_day={combo[0]},season={combo[1]},weather={combo[2]}"


def test_selection_is_exactly_the_matching_items(latent_setup):
    _, data = latent_setup
    styles = _styles(data)
    names = sorted(k.split("/")[1] for k in styles if k.startswith("train/"))
    wanted = {styles[f"train/{names[0]}"]["time_of_day"], styles[f"train/{names[1]}"]["time_of_day"]}
    text = "time_of_day=" + "|".join(sorted(wanted))
    expected = [i for i, n in enumerate(names) if styles[f"train/{n}"]["time_of_day"] in wanted]
    assert select_by_style(data, names, text) == expected
    assert style_mask(data, names, text) == [i in expected for i in range(len(names))]
    with pytest.raises(DataError, match="matches none of the"):
        select_by_style(data, names, _unmatched_filter(styles, names))
    with pytest.raises(DataError, match="no style for train/nope"):
        select_by_style(data, ["nope"], text)


def test_training_set_is_the_style_subset_with_aligned_latents_masks_and_refs(latent_setup):
    from diffusion.refs import StyleRefs
    from diffusion.train import CondConfig, LatentDataConfig, training_datasets
    from diffusion.unet import UNetConfig
    from lsgen.config import read_json
    from lsgen.data.io import read_label
    from lsgen.train.loop import TrainConfig
    from vae.latents import LatentDataset

    root, data = latent_setup
    full = LatentDataset(root / "train.safetensors", root / "vae.safetensors")
    names, styles = full.meta["names"], _styles(data)
    season = styles[f"train/{names[0]}"]["season"]
    expected = [n for n in names if styles[f"train/{n}"]["season"] == season]
    assert 0 < len(expected) < len(names)
    sections = {"data": LatentDataConfig(vae=str(root / "vae.safetensors"), train_cache=str(root / "train.safetensors"),
                                         style_filter=f"season={season}"),
                "model": from_dict(UNetConfig, read_json(REPO / "configs/unet/tiny.json")["model"]),
                "cond": CondConfig(ref_source="style"), "train": TrainConfig(preview_every=0)}
    dataset, _ = training_datasets(sections)
    latents = dataset.dataset
    assert dataset.names == latents.meta["names"] == expected and len(dataset) == len(expected)
    refs = StyleRefs(data, latents.width, latents.height)
    for i, name in enumerate(expected):
        j = names.index(name)
        np.testing.assert_array_equal(latents.arrays["mean"][i], full.arrays["mean"][j])
        sample = dataset.load(i)
        np.testing.assert_array_equal(sample["mask_ids"], read_label(data / "train_resized/labels" / f"{name}.png"))
        np.testing.assert_array_equal(sample["ref_image"], refs.ref(name, np.random.default_rng([7, i])))


def test_lora_trainer_with_a_filter_matching_nothing_fails_in_one_line(tiny_unet_run, tmp_path):
    run, data = tiny_unet_run
    root = run.parent
    names = json.loads((data / "splits" / "val0.25-seed0.json").read_text())["train"]
    result = run_script("scripts/train_lora.py", "--config", "configs/lora/tiny.json",
                        "--base", str(run / "unet.safetensors"), "--vae", str(root / "vae.safetensors"),
                        "--latents", str(root / "train.safetensors"),
                        "--style-filter", _unmatched_filter(_styles(data), names), "--steps", "1",
                        "--out", str(tmp_path / "lora"), "--no-progress")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: style filter") and "matches none of the 18 train items" in last
    assert not (tmp_path / "lora" / "lora.safetensors").exists()
