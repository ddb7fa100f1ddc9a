"""scripts/warmup.py: setup's one-time kernel compilation runs the models' real code at a tiny size."""
from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO, run_script


def load_warmup():
    spec = importlib.util.spec_from_file_location("warmup", REPO / "scripts" / "warmup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_warmup_runs_each_model_once_and_leaves_them_usable(capsys):
    warmup = load_warmup()
    assert warmup.main(["--vae", "tiny", "--unet", "tiny"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warm-up:")]
    assert [line.split(" compiled")[0] for line in lines] == ["warm-up: vae tiny", "warm-up: unet tiny"]


@pytest.mark.parametrize("flag", ["--vae", "--unet"])
def test_unknown_config_is_a_one_line_error_before_any_compile(flag):
    other = "--unet" if flag == "--vae" else "--vae"
    result = run_script("scripts/warmup.py", flag, "no-such-config", other, "tiny")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no-such-config.json: no such config" in result.stderr
    assert "warm-up:" not in result.stdout


def test_every_vae_needs_its_unet():
    result = run_script("scripts/warmup.py", "--vae", "tiny", "quick", "--unet", "tiny")
    assert result.returncode == 2 and "give one UNet per VAE" in result.stderr
