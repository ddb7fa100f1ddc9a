"""Training previews: a PNG grid per preview step (rows: mask colours, real photo, generated)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lsgen import checkpoint as ckpt
from lsgen.data.classes import colorize
from lsgen.data.io import from_model_image


def make_preview(generator, model_name: str, batch: dict):
    """A TrainTask.preview writing previews/stepNNNNNNN.png for the fixed val `batch`
    (numpy: image (B,3,H,W), mask_onehot (B,29,H,W), mask_ids (B,H,W)). Spade uses each photo as
    its own reference; sampling is deterministic (seed 0)."""
    from gan.sample import GANSampler  # noqa: PLC0415 - sample imports models, models import nothing here

    sampler = GANSampler(generator, model_name)
    top = np.concatenate([colorize(m) for m in batch["mask_ids"]], axis=1)
    middle = np.concatenate([from_model_image(x) for x in batch["image"]], axis=1)

    def preview(step: int, run_dir: Path) -> None:
        fakes = sampler.sample(batch["mask_onehot"], batch["image"], seed=0)
        bottom = np.concatenate([from_model_image(x) for x in fakes], axis=1)
        grid = np.concatenate([top, middle, bottom], axis=0)
        path = Path(run_dir) / "previews" / f"step{step:07d}.png"
        ckpt.write_with(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))

    return preview
