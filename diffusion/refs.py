"""Where training references come from: a reference must share the target's style, not its layout.

- StyleRefs (synthetic data): the target's recorded Style (styles.json) rendered on a NEW layout
  (lsgen.data.synthetic.render_with_style), so the only thing the pair shares is the style.
- AugmentedRefs (real data, no such pairs): a strongly spatially augmented view of the target:
  random resized crop (scale 0.3-1), horizontal flip and a shuffle of 4x4 patches, which keeps
  colours and light but destroys the layout.
`with_refs(dataset, source)` adds "ref_image" (3, H, W) float32 in [-1, 1] to every sample.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from lsgen.data.dataset import IMAGE_SUFFIXES, find_layout
from lsgen.data.io import read_image, resize_image, to_model_image
from lsgen.data.synthetic import Style, render_with_style

REF_SOURCES = ("auto", "style", "augment")
PATCH_GRID = 4


class StyleRefs:
    """Same style, new layout: ref(name, rng) renders the target's Style on a random new layout."""

    def __init__(self, root: str | Path, width: int, height: int):
        root = Path(root)
        self.meta = json.loads((root / "meta.json").read_text())
        self.styles = json.loads((root / "styles.json").read_text())
        self.width, self.height = width, height

    def ref(self, name: str, rng: np.random.Generator) -> np.ndarray:
        style = Style.from_dict(self.styles[f"train/{name}"])
        image, _ = render_with_style(self.meta["seed"], int(rng.integers(0, 2**31)), style, self.height, self.width)
        return to_model_image(image)


class AugmentedRefs:
    """A layout-destroying view of the target photo itself (for data without style pairs)."""

    def __init__(self, root: str | Path, width: int, height: int):
        images_dir = find_layout(root).images_dir
        self.paths = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        self.width, self.height = width, height

    def ref(self, name: str, rng: np.random.Generator) -> np.ndarray:
        return to_model_image(augmented_view(read_image(self.paths[name]), self.width, self.height, rng))


def augmented_view(image: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8: random resized crop, flip, 4x4 patch shuffle."""
    h, w = image.shape[:2]
    scale = rng.uniform(0.3, 1.0)
    ch, cw = max(8, int(h * np.sqrt(scale))), max(8, int(w * np.sqrt(scale)))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    view = resize_image(np.ascontiguousarray(image[top:top + ch, left:left + cw]), width, height)
    if rng.random() < 0.5:
        view = view[:, ::-1]
    ph, pw = height // PATCH_GRID, width // PATCH_GRID
    patches = [view[r * ph:(r + 1) * ph, c * pw:(c + 1) * pw] for r in range(PATCH_GRID) for c in range(PATCH_GRID)]
    order = rng.permutation(len(patches))
    rows = [np.concatenate([patches[order[r * PATCH_GRID + c]] for c in range(PATCH_GRID)], axis=1)
            for r in range(PATCH_GRID)]
    shuffled = np.concatenate(rows, axis=0)
    return np.array(Image.fromarray(shuffled).resize((width, height), Image.BICUBIC))


def make_ref_source(kind: str, root: str | Path, width: int, height: int):
    """'style' needs a synthetic dataset (styles.json); 'auto' picks it when present, else 'augment'."""
    if kind not in REF_SOURCES:
        raise ValueError(f"ref source must be one of {REF_SOURCES}, got {kind!r}")
    has_styles = (Path(root) / "styles.json").is_file() and (Path(root) / "meta.json").is_file()
    if kind == "style" and not has_styles:
        raise ValueError(f"{root}: ref source 'style' needs a synthetic dataset with styles.json")
    if kind == "style" or (kind == "auto" and has_styles):
        return StyleRefs(root, width, height)
    return AugmentedRefs(root, width, height)


class WithRefs:
    """A dataset whose samples gain "ref_image"; names[i] identifies sample i for the source.

    Without an rng (evaluation, previews) the reference is drawn from a fixed per-index RNG.
    """

    def __init__(self, dataset, names: list[str], source):
        self.dataset, self.names, self.source = dataset, names, source
        self.split = getattr(dataset, "split", "train")

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict:
        sample = self.dataset.load(index, rng)
        ref_rng = rng if rng is not None else np.random.default_rng([7, index])
        sample["ref_image"] = self.source.ref(self.names[index], ref_rng)
        return sample
