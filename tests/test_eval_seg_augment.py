"""The judge's training augmentation: shift keeps photo and label aligned, photometric keeps labels,
ranges and greys, a zero config is the identity, and the stream is a function of the RNG."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.seg_augment import (AugmentedDataset, SegAugConfig, augment_sample, hue_rotation, photometric,
                                    translate)


def _sample(seed: int = 0, h: int = 12, w: int = 16) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 29, (h, w)).astype(np.int64)
    onehot = np.eye(29, dtype=np.float32)[ids].transpose(2, 0, 1)
    image = rng.uniform(-1, 1, (3, h, w)).astype(np.float32)
    return {"image": image, "mask_ids": ids, "mask_onehot": onehot, "ref_image": image.copy()}


@pytest.mark.parametrize("dx,dy", [(0, 0), (3, 0), (-2, 1), (4, -3)])
def test_translate_moves_content_and_mirrors_the_margin(dx, dy):
    a = np.arange(2 * 7 * 9, dtype=np.float32).reshape(2, 7, 9)
    out = translate(a, dx, dy)
    assert out.shape == a.shape
    # the covered part is the input moved by (dx, dy)
    ys, xs = slice(max(dy, 0), 7 + min(dy, 0)), slice(max(dx, 0), 9 + min(dx, 0))
    src_y, src_x = slice(max(-dy, 0), 7 - max(dy, 0)), slice(max(-dx, 0), 9 - max(dx, 0))
    np.testing.assert_array_equal(out[:, ys, xs], a[:, src_y, src_x])
    # numpy's reflect padding then a crop is the reference for the margin
    ref = np.pad(a, [(0, 0), (abs(dy),) * 2, (abs(dx),) * 2], mode="reflect")
    np.testing.assert_array_equal(out, ref[:, abs(dy) - dy:abs(dy) - dy + 7, abs(dx) - dx:abs(dx) - dx + 9])


def test_shift_keeps_photo_and_labels_aligned_and_leaves_the_reference():
    sample = _sample()
    out = augment_sample(sample, np.random.default_rng(3), SegAugConfig(shift=4))
    # the photo's pixels travel with their labels: the same permutation of positions applied to both
    moved_ids = np.argmax(out["mask_onehot"], axis=0)
    np.testing.assert_array_equal(moved_ids, out["mask_ids"])
    key = sample["image"][0] * 1000 + sample["mask_ids"]       # a per-pixel fingerprint of (photo, label)
    moved_key = out["image"][0] * 1000 + out["mask_ids"]
    assert set(np.round(moved_key.ravel(), 3)) <= set(np.round(key.ravel(), 3))
    np.testing.assert_array_equal(out["ref_image"], sample["ref_image"])


def test_photometric_identity_range_and_greys():
    image = _sample()["image"]
    np.testing.assert_allclose(photometric(image, 1.0, 1.0, 0.0), image, atol=1e-6)
    out = photometric(image, 1.4, 1.3, 0.4)
    assert out.dtype == np.float32 and out.min() >= -1 and out.max() <= 1
    grey = np.broadcast_to(np.linspace(-1, 1, 12 * 16, dtype=np.float32).reshape(1, 12, 16), (3, 12, 16))
    np.testing.assert_allclose(photometric(grey, 1.0, 1.3, 0.7), grey, atol=1e-6)   # greys fixed by hue/sat
    flat = photometric(image, 1.0, 0.0, 0.0)                                          # saturation 0: grey
    np.testing.assert_allclose(flat[0], flat[1], atol=1e-6)


def test_hue_rotation_is_a_rotation_about_grey():
    m = hue_rotation(0.9)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(m @ np.ones(3), np.ones(3), atol=1e-12)
    np.testing.assert_allclose(hue_rotation(2 * np.pi / 3) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_zero_config_is_identity_and_stream_is_deterministic():
    sample = _sample()
    same = augment_sample(sample, np.random.default_rng(0), SegAugConfig())
    for key in sample:
        np.testing.assert_array_equal(same[key], sample[key])
    cfg = SegAugConfig(shift=3, gamma=0.3, saturation=0.3, hue=0.3)
    a = augment_sample(sample, np.random.default_rng(7), cfg)
    b = augment_sample(sample, np.random.default_rng(7), cfg)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["mask_ids"], b["mask_ids"])
    with pytest.raises(ValueError, match="augment"):
        SegAugConfig(saturation=1.0)


def test_augmented_dataset_passes_evaluation_samples_untouched():
    class Stub:
        split = "train"

        def __len__(self):
            return 3

        def load(self, index, rng=None):
            return _sample(index)

    data = AugmentedDataset(Stub(), SegAugConfig(shift=2, gamma=0.5))
    assert len(data) == 3 and data.split == "train"
    np.testing.assert_array_equal(data.load(1)["image"], _sample(1)["image"])
    assert not np.array_equal(data.load(1, np.random.default_rng(0))["image"], _sample(1)["image"])
