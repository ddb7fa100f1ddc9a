"""Contest dataset layouts and the dataset every model of the project trains and tests on.

Layouts (found automatically under a root):
    2022: <root>/train/imgs/*.jpg + <root>/train/labels/*.png (1024x768 originals)
    2023: <root>/train_resized/imgs/*.jpg + <root>/train_resized/labels/*.png (512x384)
          + <root>/label_to_img.json mapping each test mask name -> a train image used as reference
          + test masks in <root>/test/labels (synthetic set: ground truth in <root>/test/imgs)
Samples are dicts of numpy arrays: image (3,H,W) float32 [-1,1], mask_ids (H,W) int32,
mask_onehot (29,H,W) float32, and ref_image (3,H,W) float32 [-1,1] where a reference exists (with
ref_mask_ids (H,W) when the reference's own label is in the training labels).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgen.checkpoint import atomic_write_text
from lsgen.data.io import (DataError, onehot, read_image, read_label, resize_image, resize_label,
                           to_model_image)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUTS = {"2023": ("train_resized/imgs", "train_resized/labels"), "2022": ("train/imgs", "train/labels")}


@dataclass(frozen=True)
class Layout:
    """Where a dataset's files are. test_* are None when the layout has no test masks."""
    root: Path
    year: str
    images_dir: Path
    labels_dir: Path
    test_labels_dir: Path | None
    test_images_dir: Path | None
    label_to_img: dict[str, str]


def find_layout(root: str | Path) -> Layout:
    """Detect the 2023 or 2022 contest layout under `root` (DataError if neither is there)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    for year, (imgs, labels) in LAYOUTS.items():
        if (root / imgs).is_dir() and (root / labels).is_dir():
            return Layout(root, year, root / imgs, root / labels, _optional_dir(root / "test" / "labels"),
                          _optional_dir(root / "test" / "imgs"), _read_label_to_img(root))
    raise DataError(f"{root}: no contest layout found (expected {' or '.join(f'{i}/ + {l}/' for i, l in LAYOUTS.values())})")


def _optional_dir(path: Path) -> Path | None:
    return path if path.is_dir() else None


def _read_label_to_img(root: Path) -> dict[str, str]:
    path = root / "label_to_img.json"
    if not path.is_file():
        return {}
    try:
        mapping = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON ({err.msg})") from err
    if not isinstance(mapping, dict):
        raise DataError(f"{path}: expected an object mapping label names to image names")
    return mapping


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes}


def list_pairs(images_dir: Path, labels_dir: Path) -> list[tuple[str, Path, Path]]:
    """(stem, image path, label path) for every image; a missing label or empty folder is an error."""
    images = _files_by_stem(images_dir, IMAGE_SUFFIXES)
    labels = _files_by_stem(labels_dir, (".png",))
    if not images:
        raise DataError(f"{images_dir}: no images (.jpg/.png) found")
    missing = sorted(set(images) - set(labels))
    if missing:
        raise DataError(f"{images[missing[0]]}: no label {missing[0]}.png in {labels_dir}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return [(stem, images[stem], labels[stem]) for stem in images]


def split_stems(stems: list[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Reproducible train/val split: a seeded permutation of the sorted stems."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(stems)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_val = int(round(len(ordered) * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0:
        n_val = min(max(1, n_val), len(ordered) - 1)
    val = sorted(ordered[i] for i in order[:n_val])
    train = sorted(ordered[i] for i in order[n_val:])
    return {"train": train, "val": val}


def load_or_create_split(layout: Layout, val_fraction: float, seed: int,
                         split_dir: Path | None = None) -> dict[str, list[str]]:
    """Train/val stems, written to `<split_dir or root>/splits/val<frac>-seed<seed>.json` once
    and read back afterwards, so every model of the project sees the same split."""
    folder = (split_dir or layout.root) / "splits"
    path = folder / f"val{val_fraction:g}-seed{seed}.json"
    stems = [stem for stem, _, _ in list_pairs(layout.images_dir, layout.labels_dir)]
    if path.is_file():
        split = json.loads(path.read_text())
        if set(split["train"]) | set(split["val"]) == set(stems):
            return split
    split = split_stems(stems, val_fraction, seed)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(split, indent=0))
    except OSError:
        pass  # read-only dataset: the split is still deterministic from (stems, fraction, seed)
    return split


@dataclass
class DataConfig:
    """The `data` section of every training config."""
    root: str = "data/synth"
    width: int = 512
    height: int = 384
    val_fraction: float = 0.05
    split_seed: int = 0
    flip: bool = True                  # joint random horizontal flip, training split only
    crop_scale: float = 1.0            # < 1: joint random zoom, training split only (see random_box)

    def __post_init__(self):
        if self.width < 8 or self.height < 8:
            raise ValueError(f"width/height must be >= 8, got {self.width}x{self.height}")
        if not 0.1 <= self.crop_scale <= 1.0:
            raise ValueError(f"crop_scale must be in [0.1, 1], got {self.crop_scale}")


def random_box(rng: np.random.Generator, min_scale: float) -> tuple[float, float, float, float]:
    """A crop box (x0, y0, x1, y1) in fractions of the frame: side fraction s ~ U[min_scale, 1] on
    both axes (the aspect ratio is kept), uniform position. Applied to the photo and its label
    with the same fractions, then resized to the training size: a zoom-in scale augmentation
    (the random-resize-and-crop of SegFormer's recipe, restricted to zooming in)."""
    side = rng.uniform(min_scale, 1.0)
    x0, y0 = rng.uniform(0.0, 1.0 - side), rng.uniform(0.0, 1.0 - side)
    return x0, y0, x0 + side, y0 + side


def crop_fraction(array: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(H, W, ...) array -> the rows/columns inside `box` (fractions, see random_box)."""
    h, w = array.shape[:2]
    x0, y0, x1, y1 = box
    top, left = int(round(y0 * h)), int(round(x0 * w))
    bottom, right = max(top + 1, int(round(y1 * h))), max(left + 1, int(round(x1 * w)))
    return array[top:bottom, left:right]


class LandscapeDataset:
    """Image/label pairs of one split ('train', 'val' or 'test') at a fixed full-frame size.

    `load(i, rng)` returns the sample dict described in the module docstring; `rng` drives the
    training flip (None: no flip). Test samples have a `ref_image` when label_to_img.json names
    one, and an `image` only when ground truth exists (synthetic data).
    """

    def __init__(self, cfg: DataConfig, split: str = "train"):
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        self.cfg, self.split = cfg, split
        self.layout = find_layout(cfg.root)
        self.flip = cfg.flip and split == "train"
        self.crop_scale = cfg.crop_scale if split == "train" else 1.0
        self.items = self._items()
        if not self.items:
            raise DataError(f"{cfg.root}: the {split} split is empty")

    def _items(self) -> list[tuple[str, Path | None, Path]]:
        layout = self.layout
        if self.split == "test":
            return self._test_items()
        pairs = {stem: (stem, img, lab) for stem, img, lab in list_pairs(layout.images_dir, layout.labels_dir)}
        split = load_or_create_split(layout, self.cfg.val_fraction, self.cfg.split_seed)
        return [pairs[stem] for stem in split[self.split]]

    def _test_items(self) -> list[tuple[str, Path | None, Path]]:
        labels_dir = self.layout.test_labels_dir
        if labels_dir is None:
            raise DataError(f"{self.layout.root}: no test masks (expected test/labels/)")
        images = _files_by_stem(self.layout.test_images_dir, IMAGE_SUFFIXES) if self.layout.test_images_dir else {}
        return [(stem, images.get(stem), path) for stem, path in _files_by_stem(labels_dir, (".png",)).items()]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def names(self) -> list[str]:
        return [stem for stem, _, _ in self.items]

    def ref_path(self, index: int) -> Path | None:
        """The reference photo of a test mask (label_to_img.json), or None."""
        stem, _, label_path = self.items[index]
        ref_name = self.layout.label_to_img.get(label_path.name)
        if self.split != "test" or ref_name is None:
            return None
        candidates = [self.layout.images_dir / ref_name, self.layout.images_dir / (Path(ref_name).stem + ".jpg")]
        for path in candidates:
            if path.is_file():
                return path
        raise DataError(f"label_to_img.json: reference {ref_name} of {label_path.name} not found in {self.layout.images_dir}")

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        stem, image_path, label_path = self.items[index]
        w, h = self.cfg.width, self.cfg.height
        box = random_box(rng, self.crop_scale) if self.crop_scale < 1.0 and rng is not None else (0, 0, 1, 1)
        mask_ids = resize_label(crop_fraction(read_label(label_path), box), w, h)
        sample = {"mask_ids": mask_ids}
        if image_path is not None:
            image = crop_fraction(read_image(image_path), box)
            sample["image"] = to_model_image(resize_image(image, w, h))
        ref = self.ref_path(index)
        if ref is not None:
            sample["ref_image"] = to_model_image(resize_image(read_image(ref), w, h))
            ref_label = self.layout.labels_dir / f"{ref.stem}.png"
            if ref_label.is_file():  # a contest reference is a training image: its label exists
                sample["ref_mask_ids"] = resize_label(read_label(ref_label), w, h)
        if self.flip and rng is not None and rng.random() < 0.5:
            sample = {k: v if k.startswith("ref_") else np.ascontiguousarray(v[..., ::-1]) for k, v in sample.items()}
        sample["mask_onehot"] = onehot(sample["mask_ids"])
        return sample
