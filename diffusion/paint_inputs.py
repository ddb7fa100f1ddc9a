"""What the paint page sends, decoded and validated (numpy + Pillow; no web framework here).

Every upload is capped before it is decoded: at most MAX_UPLOAD_BYTES bytes and MAX_SIDE pixels a
side (checked from the image header, so a 20000x20000 PNG of a few hundred KB is refused without
allocating it). Label uploads may be any PNG mode holding class ids (L, I;16, I, P indices, grey
RGB: `lsgen.data.io.label_array`) or a colour map painted with `PALETTE` colours; any other colour
is refused with the colours named. Every error is a `DataError` whose message is shown in the page.
"""
from __future__ import annotations

import base64
import binascii
import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from diffusion.pipeline import SampleOptions
from diffusion.samplers import SAMPLERS
from lsgen.data.classes import NUM_CLASSES, PALETTE
from lsgen.data.io import MIN_SIDE, DataError, label_array, save_label

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_SIDE = 4096
MAX_STEPS = 200
MAX_GUIDANCE = 30.0
LABEL_FORMATS = ("PNG",)                              # lossless only: a JPEG would blur the ids
PHOTO_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")


def canvas_size(model_size: tuple[int, int], target_width: int = 512) -> tuple[int, int]:
    """(W, H) of the paint canvas: the model's size times the integer factor that brings its width
    nearest to target_width (at least 1), so nearest resizing to the model size is exact blocks."""
    w, h = model_size
    k = max(1, round(target_width / w))
    return w * k, h * k


def open_upload(data: bytes, name: str, formats: tuple[str, ...]) -> Image.Image:
    """Decode an uploaded image after checking its byte size and header dimensions."""
    if not data:
        raise DataError(f"{name}: the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{name}: the file is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    too_large = f"{name}: the image is too large; the limit is {MAX_SIDE}x{MAX_SIDE} pixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as err:
        raise DataError(too_large) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name}: not an image this page reads ({', '.join(formats)})") from err
    w, h = image.size
    if w > MAX_SIDE or h > MAX_SIDE:
        raise DataError(f"{name}: the image is {w}x{h}, too large; the limit is {MAX_SIDE}x{MAX_SIDE} pixels")
    if min(w, h) < MIN_SIDE:
        raise DataError(f"{name}: the image is {w}x{h}, smaller than {MIN_SIDE} pixels a side")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name}: truncated or corrupt image ({err})") from err
    return image


def ids_from_colors(rgb: np.ndarray, name: str) -> np.ndarray:
    """(H, W, 3) uint8 colour map painted with PALETTE -> (H, W) int32 class ids; any pixel of
    another colour is an error naming up to three such colours."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette_keys = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) | PALETTE[:, 2]
    order = np.argsort(palette_keys)
    pos = np.clip(np.searchsorted(palette_keys[order], keys), 0, NUM_CLASSES - 1)
    ids = order[pos]
    unknown = palette_keys[ids] != keys
    if unknown.any():
        colours = ", ".join(f"#{int(k):06x}" for k in np.unique(keys[unknown])[:3])
        raise DataError(f"{name}: {int(unknown.sum())} pixels have colours that are not class colours "
                        f"(e.g. {colours}); use the palette's colours or grey class ids 0..{NUM_CLASSES - 1}")
    return ids.astype(np.int32)


def label_from_upload(data: bytes, name: str = "label") -> np.ndarray:
    """An uploaded label PNG -> (H, W) int32 class ids in 0..28. Grey images (any mode, grey RGB
    included) and palette indices are ids; an RGB(A) image whose channels differ is a colour map."""
    image = open_upload(data, name, LABEL_FORMATS)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.array(image.convert("RGB"))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            return ids_from_colors(rgb, name)
    return label_array(image, name)


def photo_from_upload(data: bytes, name: str = "reference") -> np.ndarray:
    """An uploaded reference photo -> (H, W, 3) uint8 RGB."""
    return np.array(open_upload(data, name, PHOTO_FORMATS).convert("RGB"))


def mask_from_payload(width, height, encoded) -> np.ndarray:
    """The page's mask: width, height and base64 of width*height bytes (row-major ids) ->
    (height, width) int32 in 0..28."""
    for side, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or not MIN_SIDE <= value <= MAX_SIDE:
            raise DataError(f"mask {side} must be an integer in {MIN_SIDE}..{MAX_SIDE}, got {value!r}")
    if not isinstance(encoded, str):
        raise DataError("mask must be a base64 string of class ids")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise DataError("mask is not valid base64") from err
    if len(raw) != width * height:
        raise DataError(f"mask has {len(raw)} ids, expected {width}x{height} = {width * height}")
    ids = np.frombuffer(raw, np.uint8).reshape(height, width)
    if ids.max() >= NUM_CLASSES:
        raise DataError(f"mask has class id {int(ids.max())}; expected 0..{NUM_CLASSES - 1}")
    return ids.astype(np.int32)


def _number(options: dict, key: str, default, low, high, kind=float):
    value = options.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not low <= value <= high:
        raise DataError(f"{key.replace('_', ' ')} must be {'an integer' if kind is int else 'a number'} "
                        f"in {low}..{high}, got {value!r}")
    return kind(value)


def options_from_payload(options: dict) -> SampleOptions:
    """The page's sampler settings (missing keys take SampleOptions' defaults) -> SampleOptions."""
    if not isinstance(options, dict):
        raise DataError("options must be an object")
    d = SampleOptions()
    sampler = options.get("sampler", d.sampler)
    if sampler not in SAMPLERS:
        raise DataError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    strength = _number(options, "ref_strength", d.ref_strength, 0.0, 1.0)
    if strength <= 0.0:
        raise DataError("ref strength must be above 0 (1 = start from pure noise)")
    return SampleOptions(
        sampler=sampler, steps=_number(options, "steps", d.steps, 1, MAX_STEPS, int),
        guidance_mask=_number(options, "guidance_mask", d.guidance_mask, 0.0, MAX_GUIDANCE),
        guidance_ref=_number(options, "guidance_ref", d.guidance_ref, 0.0, MAX_GUIDANCE),
        ref_strength=strength, color_match=bool(options.get("color_match", False)),
        seed=_number(options, "seed", d.seed, 0, 2**32 - 1, int))


def label_png(mask_ids: np.ndarray) -> bytes:
    """(H, W) ids 0..28 -> bytes of an 8-bit 'L' PNG, the contest's label format (lsgen's writer)."""
    buffer = io.BytesIO()
    save_label(buffer, mask_ids)
    return buffer.getvalue()


def image_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_ids(mask_ids: np.ndarray) -> str:
    """(H, W) ids -> the base64 row-major bytes the page keeps (inverse of mask_from_payload)."""
    return base64.b64encode(np.ascontiguousarray(mask_ids, dtype=np.uint8).tobytes()).decode("ascii")
