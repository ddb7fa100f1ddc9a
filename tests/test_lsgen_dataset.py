"""Contest layouts, validation, the reproducible split, the joint flip and the resumable loader."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import random_ids, write_pair

from lsgen.data.dataset import DataConfig, LandscapeDataset, find_layout, load_or_create_split
from lsgen.data.io import DataError
from lsgen.data.loader import BatchLoader


def config(root, **kw) -> DataConfig:
    return DataConfig(root=str(root), width=kw.pop("width", 32), height=kw.pop("height", 24),
                      val_fraction=kw.pop("val_fraction", 0.25), **kw)


def test_2023_layout_samples(tiny_2023):
    layout = find_layout(tiny_2023)
    assert layout.year == "2023" and layout.label_to_img["t0.png"] == "0003.png"
    train = LandscapeDataset(config(tiny_2023, flip=False), "train")
    val = LandscapeDataset(config(tiny_2023), "val")
    assert len(train) == 9 and len(val) == 3 and not set(train.names) & set(val.names)
    sample = train.load(0)
    assert sample["image"].shape == (3, 24, 32) and sample["image"].dtype == np.float32
    assert -1 <= sample["image"].min() and sample["image"].max() <= 1
    assert sample["mask_ids"].dtype == np.int32 and sample["mask_onehot"].shape == (29, 24, 32)
    np.testing.assert_array_equal(sample["mask_ids"], random_ids(24, 32, int(train.names[0])))


def test_test_split_has_reference_and_ground_truth(tiny_2023):
    test = LandscapeDataset(config(tiny_2023), "test")
    assert test.names == ["t0", "t1"]
    sample = test.load(0)
    reference = LandscapeDataset(config(tiny_2023, val_fraction=0.0, flip=False), "train").load(3)
    np.testing.assert_array_equal(sample["ref_image"], reference["image"])
    np.testing.assert_array_equal(sample["ref_mask_ids"], reference["mask_ids"])  # the reference's own label
    assert "image" in sample and sample["mask_ids"].shape == (24, 32)


def test_2022_layout_and_resize_to_working_size(tmp_path):
    root = tmp_path / "ds2022"
    for i in range(4):
        write_pair(root / "train/imgs", root / "train/labels", f"img{i}", random_ids(48, 64, i))
    data = LandscapeDataset(config(root, val_fraction=0.0, flip=False), "train")
    assert data.layout.year == "2022"
    sample = data.load(0)
    assert sample["image"].shape == (3, 24, 32)
    np.testing.assert_array_equal(sample["mask_ids"], random_ids(48, 64, 0)[1::2, 1::2])


def test_flip_is_joint_and_train_only(tiny_2023):
    train = LandscapeDataset(config(tiny_2023), "train")
    flips = 0
    for seed in range(8):
        sample = train.load(0, np.random.default_rng(seed))
        # the image's red channel encodes the class id (conftest.write_pair): flipped together
        red_ids = np.rint((sample["image"][0] + 1) * 127.5 / 8).astype(np.int32)
        np.testing.assert_array_equal(red_ids, sample["mask_ids"])
        flips += not np.array_equal(sample["mask_ids"], train.load(0)["mask_ids"])
    assert 0 < flips < 8
    val = LandscapeDataset(config(tiny_2023), "val")
    np.testing.assert_array_equal(val.load(0, np.random.default_rng(1))["mask_ids"], val.load(0)["mask_ids"])


def test_zoom_crop_is_joint_varied_and_train_only(tiny_2023):
    train = LandscapeDataset(config(tiny_2023, flip=False, crop_scale=0.5), "train")
    full = train.load(0)["mask_ids"]
    zoomed = 0
    for seed in range(6):
        sample = train.load(0, np.random.default_rng(seed))
        ids = sample["mask_ids"]
        assert ids.shape == (24, 32) and sample["image"].shape == (3, 24, 32)
        red_ids = np.rint((sample["image"][0] + 1) * 127.5 / 8).astype(np.int32)
        # bicubic blends colours near region edges: compare where the 5x5 label neighbourhood is uniform
        pad = np.pad(ids, 2, mode="edge")
        shifts = [pad[2 + dy:26 + dy, 2 + dx:34 + dx] for dy in range(-2, 3) for dx in range(-2, 3)]
        interior = np.all([s == ids for s in shifts], axis=0)
        assert interior.mean() > 0.1 and (red_ids == ids)[interior].mean() > 0.98
        zoomed += not np.array_equal(ids, full)
    assert zoomed >= 5
    val = LandscapeDataset(config(tiny_2023, crop_scale=0.5), "val")
    np.testing.assert_array_equal(val.load(0, np.random.default_rng(1))["mask_ids"], val.load(0)["mask_ids"])
    with pytest.raises(ValueError, match="crop_scale"):
        config(tiny_2023, crop_scale=0.0)


def test_split_is_reproducible_and_written(tiny_2023):
    layout = find_layout(tiny_2023)
    first = load_or_create_split(layout, 0.25, seed=3)
    path = tiny_2023 / "splits" / "val0.25-seed3.json"
    assert json.loads(path.read_text()) == first
    path.unlink()
    assert load_or_create_split(layout, 0.25, seed=3) == first
    assert load_or_create_split(layout, 0.25, seed=4) != first


def test_missing_label_empty_folder_and_no_layout(tmp_path, tiny_2023):
    (tiny_2023 / "train_resized/labels/0004.png").unlink()
    with pytest.raises(DataError, match=r"0004\.png: no label 0004\.png"):
        LandscapeDataset(config(tiny_2023), "train")
    empty = tmp_path / "empty"
    (empty / "train_resized/imgs").mkdir(parents=True)
    (empty / "train_resized/labels").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        LandscapeDataset(config(empty), "train")
    with pytest.raises(DataError, match="no contest layout"):
        find_layout(tmp_path)
    with pytest.raises(DataError, match="not found"):
        find_layout(tmp_path / "nowhere")


def test_loader_is_deterministic_and_seekable(tiny_2023):
    data = LandscapeDataset(config(tiny_2023, val_fraction=0.0), "train")
    stream = [next(iter(BatchLoader(data, 4, seed=7))) for _ in range(1)]
    loader = BatchLoader(data, 4, seed=7)
    batches = [next(loader) for _ in range(7)]  # crosses an epoch boundary (3 batches per epoch)
    np.testing.assert_array_equal(stream[0]["image"], batches[0]["image"])
    assert batches[0]["image"].shape == (4, 3, 24, 32)
    epoch_ids = np.concatenate([b["mask_ids"] for b in batches[:3]])
    assert len({a.tobytes() for a in epoch_ids}) == 12  # every sample once per epoch
    resumed = BatchLoader(data, 4, seed=7)
    resumed.seek(5 * 4)
    for expected in batches[5:]:
        np.testing.assert_array_equal(next(resumed)["image"], expected["image"])
    with pytest.raises(ValueError, match="exceeds"):
        BatchLoader(data, 13)
