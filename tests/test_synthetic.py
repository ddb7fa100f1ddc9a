"""Tests of the built-in synthetic landscape dataset (lsgen.data.synthetic) and its CLI.

Small sizes (64x48, 96x72, 128x96) keep the whole file to a few seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lsgen.data.classes import NUM_CLASSES
from lsgen.data.synthetic import (GENERATOR, Style, contact_sheet, generate_pair, held_out_pair, render,
                                  render_with_style, sample_layout, sample_style, write_dataset)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_synthetic.py"


def histogram_correlation(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """Mean over RGB channels of the correlation coefficient of two images' colour histograms."""
    values = []
    for channel in range(3):
        ha = np.histogram(a[..., channel], bins=bins, range=(0, 256))[0].astype(np.float64)
        hb = np.histogram(b[..., channel], bins=bins, range=(0, 256))[0].astype(np.float64)
        values.append(np.corrcoef(ha, hb)[0, 1])
    return float(np.mean(values))


def test_generate_pair_shapes_dtypes_and_ids():
    image, mask, style = generate_pair(0, 3, 48, 64)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (48, 64) and mask.dtype == np.uint8
    assert int(mask.max()) < NUM_CLASSES
    assert isinstance(style, Style)
    assert image.std() > 5  # not a flat image


def test_same_seed_and_index_is_byte_identical_other_seed_differs():
    first, again = generate_pair(5, 7, 96, 128), generate_pair(5, 7, 96, 128)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not np.array_equal(first[0], generate_pair(6, 7, 96, 128)[0])
    assert not np.array_equal(first[0], generate_pair(5, 8, 96, 128)[0])


def test_layout_keeps_its_structure_across_sizes():
    small = sample_layout(np.random.default_rng([4, 2]), 96, 128)
    large = sample_layout(np.random.default_rng([4, 2]), 192, 256)
    assert np.mean(large[::2, ::2] == small) > 0.9


def test_layouts_cover_at_least_20_classes():
    seen = set()
    for i in range(120):
        seen |= set(np.unique(sample_layout(np.random.default_rng([3, i]), 96, 128)).tolist())
    assert len(seen) >= 20, sorted(seen)


def test_style_round_trips_through_json_and_rejects_bad_dicts():
    style = sample_style(np.random.default_rng(1))
    data = json.loads(json.dumps(style.to_dict()))
    assert Style.from_dict(data) == style
    with pytest.raises(ValueError):
        Style.from_dict({**data, "season": "monsoon"})
    with pytest.raises(ValueError):
        Style.from_dict({k: v for k, v in data.items() if k != "haze"})


def test_render_accepts_a_bare_mask_and_is_deterministic():
    mask = sample_layout(np.random.default_rng(9), 48, 64)
    style = sample_style(np.random.default_rng(9))
    image = render(mask, style, np.random.default_rng(1))
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render(mask, style, np.random.default_rng(1)))
    with pytest.raises(ValueError):
        render(np.full((48, 64), NUM_CLASSES, np.uint8), style, np.random.default_rng(1))


def test_same_style_gives_closer_colour_histograms_than_different_styles():
    styles = [sample_style(np.random.default_rng([11, k])) for k in range(10)]
    images = [[render_with_style(11, 10 * k + j, style, 72, 96)[0] for j in range(2)]
              for k, style in enumerate(styles)]
    same = np.mean([histogram_correlation(a, b) for a, b in images])
    cross = np.mean([histogram_correlation(images[k][0], images[m][1])
                     for k in range(len(styles)) for m in range(len(styles)) if k != m])
    assert same > cross + 0.2, (same, cross)


def test_held_out_layouts_are_not_the_style_pair_layouts():
    style = sample_style(np.random.default_rng(4))
    for index in range(3):
        held_out_mask = held_out_pair(0, index, 0, 96, 128)[1]
        assert not np.array_equal(held_out_mask, render_with_style(0, index, style, 96, 128)[1])


def test_style_changes_every_colour_of_the_same_layout():
    base = sample_style(np.random.default_rng(2)).to_dict()
    day = Style.from_dict({**base, "time_of_day": "day", "weather": "clear", "sun_elevation": 0.6})
    night = Style.from_dict({**base, "time_of_day": "night", "weather": "clear", "sun_elevation": 0.4})
    lit, dark = render_with_style(3, 0, day, 72, 96), render_with_style(3, 0, night, 72, 96)
    assert np.array_equal(lit[1], dark[1])  # same layout
    assert dark[0].mean() < 0.6 * lit[0].mean()
    for class_id in np.unique(lit[1]):
        pixels = lit[1] == class_id
        assert dark[0][pixels].mean() < lit[0][pixels].mean()


def test_write_dataset_round_trip(tmp_path):
    out = write_dataset(tmp_path / "synth", 6, width=64, height=48, seed=2, n_test=3, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # no temp dir left behind
    meta = json.loads((out / "meta.json").read_text())
    assert meta == {"generator": GENERATOR, "seed": 2, "size": [64, 48], "n_train": 6, "n_test": 3}
    for split, stems in (("train_resized", [f"{i:06d}" for i in range(6)]), ("test", [f"t{i:05d}" for i in range(3)])):
        for stem in stems:
            label = np.array(Image.open(out / split / "labels" / f"{stem}.png"))
            image = Image.open(out / split / "imgs" / f"{stem}.jpg")
            assert label.shape == (48, 64) and label.dtype == np.uint8 and int(label.max()) < NUM_CLASSES
            assert image.mode == "RGB" and image.size == (64, 48)
    pairs = json.loads((out / "label_to_img.json").read_text())
    styles = json.loads((out / "styles.json").read_text())
    assert sorted(pairs) == sorted(p.name for p in (out / "test" / "labels").iterdir())
    for test_label, reference in pairs.items():
        assert (out / "train_resized" / "imgs" / reference).is_file()
        # the test ground truth is rendered in the style of its reference
        assert styles[f"test/{Path(test_label).stem}"] == styles[f"train/{Path(reference).stem}"]
        index, ref_index = int(Path(test_label).stem[1:]), int(Path(reference).stem)
        _, mask, style = held_out_pair(2, index, ref_index, 48, 64)
        assert np.array_equal(np.array(Image.open(out / "test" / "labels" / test_label)), mask)
        assert style.to_dict() == styles[f"train/{Path(reference).stem}"]
    assert len(styles) == 9 and all(Style.from_dict(s) for s in styles.values())


def test_write_dataset_refuses_a_non_empty_output_unless_overwrite(tmp_path):
    out = tmp_path / "synth"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        write_dataset(out, 2, width=64, height=48, progress=False)
    assert (out / "keep.txt").read_text() == "precious"
    write_dataset(out, 2, width=64, height=48, progress=False, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "meta.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_worker_count_does_not_change_the_bytes(tmp_path):
    one = write_dataset(tmp_path / "one", 4, width=64, height=48, seed=3, n_test=2, progress=False)
    two = write_dataset(tmp_path / "two", 4, width=64, height=48, seed=3, n_test=2, workers=2, progress=False)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_contact_sheet_shows_every_pair():
    pairs = [generate_pair(1, i, 48, 64) for i in range(3)]
    sheet = contact_sheet([p[0] for p in pairs], [p[1] for p in pairs], thumb_width=64)
    assert sheet.mode == "RGB" and sheet.width >= 4 * 64 and sheet.height >= 2 * 48


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("bad", [["--size", "5x"], ["--size", "0x48"], ["--size", "64x16"], ["--n", "0"],
                                 ["--n-test", "0"], ["--workers", "0"], ["--seed", "-1"]])
def test_cli_rejects_bad_input_with_one_line_and_writes_nothing(tmp_path, bad):
    out = tmp_path / "synth"
    result = run_cli("--out", str(out), "--n", "2", "--size", "64x48", *bad)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_non_empty_output(tmp_path):
    out = tmp_path / "synth"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = run_cli("--out", str(out), "--n", "2", "--size", "64x48")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_cli_happy_path(tmp_path):
    out, grid = tmp_path / "synth", tmp_path / "grid.png"
    result = run_cli("--out", str(out), "--n", "6", "--size", "64x48", "--seed", "1", "--preview", str(grid),
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(list((out / "train_resized" / "imgs").glob("*.jpg"))) == 6
    assert len(list((out / "test" / "labels").glob("*.png"))) == 1
    assert json.loads((out / "meta.json").read_text())["size"] == [64, 48]
    assert Image.open(grid).mode == "RGB"
    help_text = run_cli("--help")
    assert help_text.returncode == 0 and "--preview" in help_text.stdout
