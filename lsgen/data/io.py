"""Reading, validating and resizing contest images and label maps (numpy + Pillow).

Labels are read as integer arrays whatever the PNG mode (L, I;16, I, P, RGB grey), never through a
ToTensor-style transform (which would divide 8-bit labels by 255; seeds.md §0.3), and validated.
Geometry is full-frame: resize only, never crop, identical for training and testing (seeds.md §7).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lsgen.data.classes import NUM_CLASSES

MIN_SIDE = 8


class DataError(ValueError):
    """Bad input data: the message names the file and what is wrong with it."""


def _open(path: Path) -> Image.Image:
    """Open and fully decode an image file (truncated files fail here, not later)."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError as err:
        raise DataError(f"{path}: file not found") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable or corrupt image ({err})") from err
    if min(image.size) < MIN_SIDE:
        raise DataError(f"{path}: image is {image.size[0]}x{image.size[1]}, smaller than {MIN_SIDE} px")
    return image


def label_array(image: Image.Image, name: str = "label") -> np.ndarray:
    """Class ids of a decoded label image as (H, W) int32, validated to 0..28.

    Palette ('P') images hold the ids as palette indices; 3-channel grey images hold them in every
    channel (channel 0 is used, and the channels must agree).
    """
    ids = np.array(image)  # for 'P' images: the palette indices, which are the ids
    if ids.ndim == 3:
        if ids.shape[2] >= 3 and not (np.array_equal(ids[..., 0], ids[..., 1]) and np.array_equal(ids[..., 0], ids[..., 2])):
            raise DataError(f"{name}: colour label map (channels differ); expected grey class ids 0..{NUM_CLASSES - 1}")
        ids = ids[..., 0]
    ids = ids.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= NUM_CLASSES)]
    if bad.size:
        raise DataError(f"{name}: has class id {int(bad.flat[0])}; expected class ids 0..{NUM_CLASSES - 1}")
    return ids.astype(np.int32)


def read_label(path: str | Path) -> np.ndarray:
    """Read a label PNG as (H, W) int32 class ids in 0..28 (any PNG mode); errors name the file."""
    path = Path(path)
    return label_array(_open(path), str(path))


def read_image(path: str | Path) -> np.ndarray:
    """Read a photo as (H, W, 3) uint8 RGB; errors name the file."""
    path = Path(path)
    return np.array(_open(path).convert("RGB"))


def resize_label(mask_ids: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize of (H, W) class ids -> (height, width) int32 (stays integer)."""
    if mask_ids.shape == (height, width):
        return mask_ids.astype(np.int32)
    src_h, src_w = mask_ids.shape
    rows = np.minimum((np.arange(height) + 0.5) * src_h / height, src_h - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) * src_w / width, src_w - 1).astype(np.int64)
    return mask_ids[rows[:, None], cols[None, :]].astype(np.int32)


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of (H, W, 3) uint8 -> (height, width, 3) uint8 (Pillow antialiases downscaling)."""
    if image.shape[:2] == (height, width):
        return image
    return np.array(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def to_model_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1]."""
    return (image.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


def from_model_image(image: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> (H, W, 3) uint8 (clipped, rounded)."""
    return np.clip(np.rint((np.asarray(image).transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def onehot(mask_ids: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(..., H, W) int ids -> (..., C, H, W) float32 one-hot (C on the axis before H, W)."""
    eye = np.eye(num_classes, dtype=np.float32)
    out = eye[mask_ids]
    return np.moveaxis(out, -1, -3)


def save_label(path: str | Path, mask_ids: np.ndarray) -> None:
    """Write class ids as an 8-bit 'L' PNG, the contest's label format."""
    ids = np.asarray(mask_ids)
    if ids.min() < 0 or ids.max() >= NUM_CLASSES:
        raise DataError(f"{path}: refusing to write class ids outside 0..{NUM_CLASSES - 1}")
    Image.fromarray(ids.astype(np.uint8), mode="L").save(path, format="PNG")
