"""The paint page's input checks (no web framework, no model): canvas geometry, label uploads in
every PNG mode and as class-colour maps, the caps on bytes and pixels, the page's mask and option
payloads, and the label PNG it hands back (the contest's 8-bit 'L' format)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from paint_files import NOT_AN_IMAGE, huge_png, png_bytes, unknown_colour_png
from PIL import Image

from diffusion.paint_inputs import (MAX_SIDE, MAX_UPLOAD_BYTES, canvas_size, encode_ids, label_from_upload,
                                    label_png, mask_from_payload, options_from_payload, photo_from_upload)
from diffusion.pipeline import SampleOptions
from lsgen.data.classes import NUM_CLASSES, PALETTE, colorize
from lsgen.data.io import DataError, read_label


def blocky_ids(height=48, width=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, NUM_CLASSES, (height // 8, width // 8)), np.ones((8, 8), np.int64)).astype(np.int32)


def test_canvas_has_the_model_aspect_and_integer_blocks():
    for model, canvas in (((64, 48), (512, 384)), ((512, 384), (512, 384)), ((96, 64), (480, 320)),
                          ((1024, 768), (1024, 768))):
        w, h = canvas_size(model)
        assert (w, h) == canvas and w % model[0] == 0 and w // model[0] == h // model[1]


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "grey RGB", "colour RGB", "colour RGBA"])
def test_label_upload_reads_ids_in_every_mode(mode):
    ids = blocky_ids()
    if mode == "L":
        image = Image.fromarray(ids.astype(np.uint8), mode="L")
    elif mode == "P":
        image = Image.frombytes("P", (64, 48), ids.astype(np.uint8).tobytes())
        image.putpalette(colorize(np.arange(NUM_CLASSES)).ravel().tolist())  # indices are the ids
    elif mode == "I;16":
        image = Image.frombytes("I;16", (64, 48), ids.astype("<u2").tobytes())
    elif mode == "grey RGB":
        image = Image.fromarray(np.repeat(ids[..., None], 3, axis=2).astype(np.uint8))
    else:
        image = Image.fromarray(colorize(ids)).convert(mode.split()[1])
    np.testing.assert_array_equal(label_from_upload(png_bytes(image), "m.png"), ids)


def test_every_class_colour_maps_back_to_its_id():
    ids = np.arange(NUM_CLASSES, dtype=np.int32).repeat(8)[None].repeat(8, axis=0)
    np.testing.assert_array_equal(label_from_upload(png_bytes(Image.fromarray(colorize(ids))), "all.png"), ids)
    assert len({tuple(c) for c in PALETTE}) == NUM_CLASSES


def test_bad_label_uploads_say_what_is_wrong():
    cases = {
        NOT_AN_IMAGE: "notes.png: not an image",
        huge_png(): "too large; the limit is 4096x4096",
        huge_png(MAX_SIDE + 1, 8): f"{MAX_SIDE + 1}x8, too large",
        unknown_colour_png(): "64 pixels have colours that are not class colours (e.g. #010203)",
        png_bytes(Image.fromarray(np.full((16, 16), 31, np.uint8), mode="L")): "has class id 31",
        b"\x00" * (MAX_UPLOAD_BYTES + 1): "the limit is 16 MB",
        png_bytes(Image.new("L", (4, 4))): "smaller than 8 pixels",
        b"": "the file is empty",
    }
    jpeg = io.BytesIO()
    Image.fromarray(colorize(blocky_ids())).save(jpeg, format="JPEG")
    cases[jpeg.getvalue()] = "not an image this page reads (PNG)"   # lossy: would blur the ids
    for data, message in cases.items():
        with pytest.raises(DataError) as err:
            label_from_upload(data, "notes.png")
        assert message in str(err.value), (message, str(err.value))


def test_photo_upload_is_rgb_and_capped():
    rgba = Image.fromarray(np.full((20, 30, 4), 200, np.uint8))
    photo = photo_from_upload(png_bytes(rgba))
    assert photo.shape == (20, 30, 3) and photo.dtype == np.uint8
    for bad in (NOT_AN_IMAGE, huge_png()):
        with pytest.raises(DataError):
            photo_from_upload(bad, "ref.jpg")


def test_mask_payload_round_trip_and_errors():
    ids = blocky_ids(seed=3)
    np.testing.assert_array_equal(mask_from_payload(64, 48, encode_ids(ids)), ids)
    bad = {
        (64, 47, encode_ids(ids)): "expected 64x47",
        (64, 48, "not base64!"): "not valid base64",
        (64, 48, encode_ids(np.full((48, 64), 29))): "class id 29",
        (True, 48, encode_ids(ids)): "width must be an integer",
        (64, 5000, encode_ids(ids)): "height must be an integer in 8..4096",
        (64, 48, None): "base64 string",
    }
    for args, message in bad.items():
        with pytest.raises(DataError) as err:
            mask_from_payload(*args)
        assert message in str(err.value)


def test_options_default_to_sample_options_and_are_checked():
    assert options_from_payload({}) == SampleOptions()
    chosen = options_from_payload({"sampler": "ddim", "steps": 7, "guidance_mask": 3, "guidance_ref": 0.5,
                                   "ref_strength": 0.6, "seed": 42, "color_match": True})
    assert chosen == SampleOptions(sampler="ddim", steps=7, guidance_mask=3.0, guidance_ref=0.5,
                                   ref_strength=0.6, seed=42, color_match=True)
    bad = {"steps": 0, "sampler": "euler", "seed": -1, "ref_strength": 0.0, "guidance_mask": float("nan")}
    bad_messages = {"steps": "steps must be an integer in 1..200", "sampler": "sampler must be one of",
                    "seed": "seed must be an integer", "ref_strength": "ref strength must be above 0",
                    "guidance_mask": "guidance mask must be a number"}
    for key, value in bad.items():
        with pytest.raises(DataError) as err:
            options_from_payload({key: value})
        assert bad_messages[key] in str(err.value)
    for value in (2.5, "3", True):
        with pytest.raises(DataError):
            options_from_payload({"steps": value})


def test_label_png_is_a_contest_label_file(tmp_path):
    ids = blocky_ids(seed=5)
    path = tmp_path / "label.png"
    path.write_bytes(label_png(ids))
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (64, 48)
    np.testing.assert_array_equal(read_label(path), ids)
