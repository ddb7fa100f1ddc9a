#!/usr/bin/env python
"""Write an HTML page comparing generated images with their masks, references and ground truth.

For every label PNG in <data>/test/labels that has an output <outputs>/<stem>.jpg|png, one row:
mask (colourised) | reference (label_to_img.json) | output | real (<data>/test/imgs, synthetic data).

Example:
    python scripts/make_index.py --data data/synth --outputs runs/quick/samples --out runs/quick/index.html
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import positive_int, run_cli  # noqa: E402


def find(folder: Path, stem: str) -> Path | None:
    for suffix in (".jpg", ".png", ".jpeg"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def build_rows(data: Path, outputs: Path, limit: int) -> list[list]:
    from lsgen.data.classes import colorize  # noqa: PLC0415
    from lsgen.data.io import read_image, read_label, resize_image  # noqa: PLC0415

    mapping_path = data / "label_to_img.json"
    mapping = json.loads(mapping_path.read_text()) if mapping_path.is_file() else {}
    rows = []
    for label in sorted((data / "test" / "labels").glob("*.png")):
        output = find(outputs, label.stem)
        if output is None:
            continue
        mask = read_label(label)
        h, w = mask.shape
        ref_path = find(data / "train_resized" / "imgs", Path(mapping.get(label.name, "-")).stem)
        real_path = find(data / "test" / "imgs", label.stem)
        row = [label.stem, colorize(mask)]
        for path in (ref_path, output, real_path):
            row.append(resize_image(read_image(path), w, h) if path else "-")
        rows.append(row)
        if len(rows) == limit:
            break
    if not rows:
        raise FileNotFoundError(f"no outputs in {outputs} match the labels of {data / 'test' / 'labels'}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--data", required=True, help="dataset root (2023 layout with test/labels)")
    parser.add_argument("--outputs", required=True, help="folder of generated images named like the labels")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--limit", type=positive_int, default=32, help="rows (default: %(default)s)")
    parser.add_argument("--title", default="landscape-gen: mask + reference -> landscape")
    args = parser.parse_args()
    from lsgen.checkpoint import atomic_write_text  # noqa: PLC0415
    from lsgen.report import grid_page  # noqa: PLC0415

    rows = build_rows(Path(args.data), Path(args.outputs), args.limit)
    page = grid_page(args.title, ["name", "mask", "reference", "output", "real"], rows,
                     intro=f"{len(rows)} test masks of {args.data}; outputs from {args.outputs}", width=256)
    atomic_write_text(args.out, page)
    print(f"wrote {args.out} ({len(rows)} rows)")


if __name__ == "__main__":
    run_cli(main)
