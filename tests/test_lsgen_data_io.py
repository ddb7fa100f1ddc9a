"""Label/image I/O: every PNG mode round-trips to the same ids; bad files give one clear error."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lsgen.data.classes import CLASS_NAMES, NUM_CLASSES, PALETTE, colorize
from lsgen.data.io import (DataError, from_model_image, label_array, onehot, read_image, read_label, resize_image,
                           resize_label, save_label, to_model_image)

IDS = (np.arange(24 * 32).reshape(24, 32) % NUM_CLASSES).astype(np.int64)


def test_class_table():
    assert NUM_CLASSES == 29 and CLASS_NAMES[0] == "mountain" and CLASS_NAMES[28] == "other"
    assert CLASS_NAMES.index("sky") == 1 and CLASS_NAMES.index("house") == 27
    assert len({tuple(c) for c in PALETTE}) == 29
    assert colorize(IDS).shape == (24, 32, 3)


@pytest.mark.parametrize("mode", ["L", "I;16", "P", "RGB"])
def test_label_png_modes_round_trip(tmp_path, mode):
    path = tmp_path / f"label_{mode.replace(';', '')}.png"
    if mode == "RGB":
        Image.fromarray(np.repeat(IDS[..., None], 3, axis=2).astype(np.uint8)).save(path)
    elif mode == "P":
        image = Image.fromarray(IDS.astype(np.uint8), mode="P")
        image.putpalette(PALETTE.flatten().tolist())
        image.save(path)
    elif mode == "I;16":
        Image.fromarray(IDS.astype(np.uint16)).save(path)
    else:
        save_label(path, IDS)
    assert Image.open(path).mode == mode
    ids = read_label(path)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, IDS)


def test_label_mode_i_as_older_pillow_decodes_16_bit_png():
    image = Image.fromarray(IDS.astype(np.int32), mode="I")
    np.testing.assert_array_equal(label_array(image, "mode-I"), IDS)


def test_label_with_id_31_is_rejected(tmp_path):
    path = tmp_path / "bad.png"
    bad = IDS.copy()
    bad[3, 4] = 31
    Image.fromarray(bad.astype(np.uint8), mode="L").save(path)
    with pytest.raises(DataError, match=r"bad\.png: has class id 31; expected class ids 0\.\.28"):
        read_label(path)


def test_colour_label_is_rejected(tmp_path):
    path = tmp_path / "colour.png"
    Image.fromarray(colorize(IDS)).save(path)
    with pytest.raises(DataError, match="colour label map"):
        read_label(path)


def test_tiny_and_corrupt_files(tmp_path):
    Image.new("L", (1, 1)).save(tmp_path / "one.png")
    with pytest.raises(DataError, match=r"one\.png: image is 1x1"):
        read_label(tmp_path / "one.png")
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: unreadable or corrupt"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(DataError, match="text.png"):
        read_label(tmp_path / "text.png")
    with pytest.raises(DataError, match="file not found"):
        read_image(tmp_path / "missing.jpg")


def test_resize_label_stays_integer_and_nearest():
    small = resize_label(IDS, 16, 12)
    assert small.dtype == np.int32 and set(np.unique(small)) <= set(np.unique(IDS))
    np.testing.assert_array_equal(small, IDS[1::2, 1::2])  # pixel centres
    big = resize_label(IDS, 64, 48)
    np.testing.assert_array_equal(big[::2, ::2], IDS)
    odd = resize_label(IDS, 45, 33)
    assert odd.shape == (33, 45) and set(np.unique(odd)) <= set(np.unique(IDS))


def test_image_conversions():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    model = to_model_image(image)
    assert model.shape == (3, 24, 32) and model.dtype == np.float32
    assert model.min() >= -1 and model.max() <= 1
    np.testing.assert_array_equal(from_model_image(model), image)
    flat = np.full((48, 64, 3), 77, np.uint8)
    np.testing.assert_array_equal(resize_image(flat, 32, 24), np.full((24, 32, 3), 77, np.uint8))


def test_onehot():
    hot = onehot(IDS)
    assert hot.shape == (29, 24, 32) and hot.dtype == np.float32
    np.testing.assert_array_equal(hot.sum(0), 1)
    np.testing.assert_array_equal(hot.argmax(0), IDS)
    assert onehot(np.stack([IDS, IDS])).shape == (2, 29, 24, 32)
