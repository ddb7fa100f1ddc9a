"""Config loading: strict keys and types, overrides, sections."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from lsgen.config import ConfigError, apply_overrides, from_dict, load_config, to_dict


@dataclass(frozen=True)
class ModelCfg:
    base_channels: int = 8
    channel_mult: tuple[int, ...] = (1, 2)
    dropout: float = 0.0
    attention: bool = False
    name: str = "tiny"


@dataclass
class TrainCfg:
    steps: int = 10
    lr: float = 1e-4


SECTIONS = {"model": ModelCfg, "train": TrainCfg}


def test_from_dict_types_and_defaults():
    cfg = from_dict(ModelCfg, {"base_channels": 16, "channel_mult": [1, 2, 4], "dropout": 0})
    assert cfg == ModelCfg(16, (1, 2, 4), 0.0)
    assert isinstance(cfg.dropout, float) and to_dict(cfg)["channel_mult"] == [1, 2, 4]


@pytest.mark.parametrize("data, message", [
    ({"chanel_mult": [1]}, "model.chanel_mult: unknown key"),
    ({"base_channels": 1.5}, "model.base_channels: expected an integer"),
    ({"base_channels": True}, "model.base_channels: expected an integer"),
    ({"attention": 1}, "model.attention: expected true/false"),
    ({"channel_mult": 2}, "model.channel_mult: expected a list"),
    ({"channel_mult": [1, "x"]}, r"model.channel_mult\[1\]: expected an integer"),
    ({"name": 3}, "model.name: expected a string"),
])
def test_bad_keys_and_types_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(ModelCfg, data, prefix="model.")


def test_file_sections_and_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"model": {"base_channels": 4}, "train": {"steps": 3}}')
    cfgs = load_config(path, SECTIONS, ["train.lr=2e-3", "model.name=big", "model.channel_mult=[1,1]"])
    assert cfgs["model"] == ModelCfg(4, (1, 1), 0.0, False, "big")
    assert cfgs["train"] == TrainCfg(3, 2e-3)
    assert load_config(None, SECTIONS)["train"] == TrainCfg()
    with pytest.raises(ConfigError, match="optim: unknown section"):
        load_config(None, SECTIONS, ["optim.lr=1"])
    with pytest.raises(ConfigError, match="train.stpes: unknown key"):
        load_config(path, SECTIONS, ["train.stpes=4"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["train.steps"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.json", SECTIONS)
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config(tmp_path / "bad.json", SECTIONS)
