"""File-level sampling jobs for scripts/sample.py: which masks, which references, where outputs go.

Size policy: the model generates at its training size (or --size), so each mask is resized with
nearest neighbour to that size and each reference bicubically; the output is resized back
(bicubic) to the label's own size. Every input is read and validated before any generation, and a
folder of outputs is built in a temporary folder renamed into place at the end: an error leaves
nothing behind.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgen.data.dataset import IMAGE_SUFFIXES
from lsgen.data.io import DataError, read_image, read_label, resize_image, resize_label


@dataclass
class Job:
    """One mask to render: its ids at the label's own size, an optional reference (and its own label
    map, for the class-matched --ref-shuffle start), the output."""
    mask_ids: np.ndarray
    ref_image: np.ndarray | None
    output: Path
    ref_label: np.ndarray | None = None


def single_jobs(masks: list[str], refs: list[str] | None, out: str, batch: int,
                ref_labels: list[str] | None = None) -> list[Job]:
    """--mask m.png [...] (+ --ref r.jpg, one for all or one per mask, + --ref-label, one per --ref)
    -> jobs; out is a .png path (exactly one image) or a folder receiving <mask stem>_<k>.png."""
    if refs and len(refs) not in (1, len(masks)):
        raise ValueError(f"give one --ref for all masks or one per mask ({len(masks)}), not {len(refs)}")
    if ref_labels and len(ref_labels) != len(refs or []):
        raise ValueError(f"give one --ref-label per --ref ({len(refs or [])}), not {len(ref_labels)}")
    ids = [read_label(m) for m in masks]
    ref_images = [read_image(r) for r in refs] if refs else []
    ref_ids = [read_label(r) for r in ref_labels] if ref_labels else []
    if out.lower().endswith(".png") and len(masks) * batch != 1:
        raise ValueError("--out is a single .png but several images would be generated; give a folder")
    jobs = []
    for i, (path, mask) in enumerate(zip(masks, ids)):
        ref = ref_images[i if len(ref_images) > 1 else 0] if ref_images else None
        ref_label = ref_ids[i if len(ref_ids) > 1 else 0] if ref_ids else None
        for k in range(batch):
            target = Path(out) if out.lower().endswith(".png") else Path(out) / f"{Path(path).stem}_{k}.png"
            jobs.append(Job(mask, ref, target, ref_label))
    return jobs


def folder_jobs(mask_dir: str, label_to_img: str | None, ref_dir: str | None, out: str,
                ref_label_dir: str | None = None) -> list[Job]:
    """The contest's submission layout: every label PNG of mask_dir -> <out>/<stem>.jpg, each with
    the reference named for it in label_to_img.json (looked up in ref_dir) and, given ref_label_dir
    (a contest reference is a training image: train/labels), the reference's label <ref stem>.png."""
    labels = sorted(p for p in Path(mask_dir).glob("*.png"))
    if not labels:
        raise DataError(f"{mask_dir}: no label PNGs found")
    mapping = json.loads(Path(label_to_img).read_text()) if label_to_img else {}
    if mapping and ref_dir is None:
        raise ValueError("--label-to-img needs --ref-dir (the folder of the reference photos)")
    if ref_label_dir and not mapping:
        raise ValueError("--ref-label-dir needs --label-to-img (which reference each mask has)")
    jobs = []
    for label in labels:
        ref = ref_label = None
        if mapping:
            if label.name not in mapping:
                raise DataError(f"{label_to_img}: no reference for {label.name}")
            ref = read_image(_find_ref(Path(ref_dir), mapping[label.name]))
            if ref_label_dir:
                ref_label = read_label(Path(ref_label_dir) / f"{Path(mapping[label.name]).stem}.png")
        jobs.append(Job(read_label(label), ref, Path(out) / f"{label.stem}.jpg", ref_label))
    return jobs


def _find_ref(ref_dir: Path, name: str) -> Path:
    for candidate in [ref_dir / name] + [ref_dir / (Path(name).stem + s) for s in IMAGE_SUFFIXES]:
        if candidate.is_file():
            return candidate
    raise DataError(f"reference {name} not found in {ref_dir}")


def model_inputs(job: Job, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(mask ids at the generation size, reference resized to it or None)."""
    ref = resize_image(job.ref_image, width, height) if job.ref_image is not None else None
    return resize_label(job.mask_ids, width, height), ref


def model_ref_label(job: Job, width: int, height: int) -> np.ndarray | None:
    """The reference's label map at the generation size (nearest), or None."""
    return None if job.ref_label is None else resize_label(job.ref_label, width, height)


def to_label_size(image: np.ndarray, job: Job) -> np.ndarray:
    h, w = job.mask_ids.shape
    return resize_image(image, w, h)
