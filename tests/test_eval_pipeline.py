"""End to end on a tiny synthetic set: judge training script, a registered generator, evaluate.py
(results.json, HTML report, RESULTS.md rows, resumable outputs), and the registry's import rule."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_script


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 64x48 synthetic dataset, a tiny judge (20 steps) and a class-colour checkpoint."""
    from lsgen.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("eval")
    data = write_dataset(root / "data", n=16, width=64, height=48, seed=0, n_test=6, progress=False)
    result = run_script("scripts/train_segmenter.py", "--config", "configs/segmenter/tiny.json", "--data", str(data),
                        "--out", str(root / "judge"), "--steps", "20", "--no-progress")
    assert result.returncode == 0, result.stderr
    result = run_script("scripts/fit_class_colours.py", "--data", str(data), "--size", "64x48",
                        "--out", str(root / "colour.safetensors"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return root, data, root / "judge" / "step0000020.safetensors", root / "colour.safetensors"


def evaluate(root, data, judge, *checkpoints, extra=()):
    return run_script("scripts/evaluate.py", *map(str, checkpoints), "--judge", str(judge), "--out", str(root / "out"),
                      "--data", str(data), "--size", "64x48", "--batch-size", "4", "--diversity-samples", "2",
                      "--results-md", str(root / "RESULTS.md"), "--no-progress", *extra)


def test_evaluate_writes_results_report_and_results_md_rows(tiny_run):
    root, data, judge, colour = tiny_run
    (root / "RESULTS.md").write_text("# Benchmark results\n\n## Someone else's section\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    result = evaluate(root, data, judge, colour)
    assert result.returncode == 0, result.stderr
    results = json.loads((root / "out" / "results.json").read_text())
    real, painted = results["rows"]
    assert real["name"] == "real" and painted["name"] == "class-colour@0" and painted["kind"] == "class-colour"
    assert real["n"] == painted["n"] == 6
    for row in (real, painted):
        assert 0 <= row["pixel_acc"] <= 1 and 0 <= row["miou"] <= 1 and row["fd_seg"] >= 0
        assert row["fid"] is None and row["composite_2023"]["value"] is None
        assert row["composite_2023"]["absent"] == ["aesthetic", "FID"]
    assert painted["diversity"] == pytest.approx(0.0, abs=1e-9)     # a deterministic painter has none
    assert results["protocol"]["fid"].startswith("absent")
    page = (root / "out" / "report.html").read_text()
    assert page.count("<tr>") == 3 + 1 + 6 and "FD-seg" in page and page.count("data:image/png") == 6 * 4
    md = (root / "RESULTS.md").read_text()
    assert "## Someone else's section" in md and "| 1 | 2 |" in md
    assert md.count("| real |") == 1 and md.count("| class-colour@0 |") == 1


def test_outputs_are_reused_only_under_a_matching_manifest(tmp_path):
    from evaluation.evaluate import cached_outputs

    calls = []

    def make(value):
        def run():
            calls.append(value)
            return np.full((2, 8, 8, 3), value, np.uint8)
        return run

    key = {"checkpoint": "abc", "seed": 0, "masks": ["m0", "m1"]}
    first = cached_outputs(tmp_path / "out", ["m0", "m1"], key, make(1))
    again = cached_outputs(tmp_path / "out", ["m0", "m1"], key, make(2))
    assert calls == [1] and (again == first).all()
    other = cached_outputs(tmp_path / "out", ["m0", "m1"], {**key, "checkpoint": "def"}, make(3))
    assert calls == [1, 3] and (other == 3).all()
    (tmp_path / "out" / "m1.png").unlink()                     # an interrupted run: regenerate
    cached_outputs(tmp_path / "out", ["m0", "m1"], {**key, "checkpoint": "def"}, make(4))
    assert calls == [1, 3, 4]


def test_unknown_kind_and_missing_files_fail_with_one_line(tiny_run):
    root, data, judge, _ = tiny_run
    result = evaluate(root, data, judge, judge, extra=("--no-results-md",))    # a segmenter is no generator
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no generator registered for checkpoint kind 'segmenter'")
    result = evaluate(root, data, root / "nope.safetensors", extra=("--no-results-md",))
    assert result.returncode == 2 and "nope.safetensors: file not found" in result.stderr


def test_registry_imports_no_generator_package():
    code = ("import sys; import evaluation.registry, evaluation.evaluate; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('vae', 'diffusion', 'gan', 'controlnet')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_registry_contract():
    from evaluation import registry

    with pytest.raises(ValueError, match="module:function"):
        registry.register("x", "no_colon")
    registry.register("test-kind", "evaluation.baselines:load_class_colour")
    try:
        assert registry.resolve("test-kind").__name__ == "load_class_colour"
    finally:
        del registry.GENERATORS["test-kind"]
    from evaluation.baselines import ClassColourGenerator, shuffled_colours

    colours = np.arange(29 * 3, dtype=np.float32).reshape(29, 3)
    assert not np.any((shuffled_colours(colours) == colours).all(1))
    from lsgen.data.io import onehot

    out = ClassColourGenerator(colours).sample(onehot(np.array([[[0, 28]]])), None, 0)
    assert out.shape == (1, 3, 1, 2) and (out[0, :, 0, 1] == colours[28]).all()


def test_results_rows_go_into_their_own_table_between_other_sections(tmp_path):
    from evaluation.report import RESULTS_HEADER, TABLE_HEAD, append_results

    path = tmp_path / "RESULTS.md"
    path.write_text(f"# R\n\n## Mine\n\n{RESULTS_HEADER}\n\n{TABLE_HEAD}\n| old |\n\n## Later section\n\n| x |\n")
    append_results(path, ["| new |"])
    text = path.read_text()
    assert text.index("| old |") < text.index("| new |") < text.index("## Later section")
    assert text.endswith("## Later section\n\n| x |\n")
