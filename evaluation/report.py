"""results.json, a self-contained HTML report, and the RESULTS.md row of an evaluation run."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from lsgen import checkpoint as ckpt
from lsgen.data.classes import colorize

COLUMNS = (("pixel_acc", "mask acc", "{:.4f}"), ("miou", "mIoU", "{:.4f}"), ("boundary_acc", "boundary acc", "{:.4f}"),
           ("fd_seg", "FD-seg", "{:.3f}"),
           ("kid_seg", "KID-seg", "{:.4f}"), ("fid", "FID", "{:.2f}"), ("style", "style [0,1]", "{:.4f}"),
           ("diversity", "diversity", "{:.3f}"))
RESULTS_HEADER = "### Generator scores (scripts/evaluate.py)"
TABLE_HEAD = ("| date | row | checkpoint | masks | mask acc | mIoU | FD-seg | KID-seg | FID | style | "
              "2023 composite | judge |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def fmt(value, pattern: str = "{:.4f}") -> str:
    return "n/a" if value is None else pattern.format(value)


UNCONDITIONAL = "n/a (unconditional)"
MASK_KEYS = ("pixel_acc", "miou", "boundary_acc")


def cell(row: dict, key: str, pattern: str = "{:.4f}") -> str:
    """One score of a row as text; the mask-based scores (and the composites, which multiply mask
    accuracy) of a generator that ignores the mask (row["conditional"] False) are not meaningful."""
    if row.get("conditional") is False and (key in MASK_KEYS or key.startswith("composite_")):
        return UNCONDITIONAL
    if key.startswith("composite_"):
        return composite_text(row[key])
    return fmt(row.get(key), pattern)


def composite_text(comp: dict) -> str:
    if comp["value"] is not None:
        return f"{comp['value']:.4f}"
    return f"n/a ({', '.join(comp['absent'])} absent; present terms {comp['partial']:.4f})"


def write_results_json(path: Path, results: dict) -> None:
    ckpt.atomic_write_text(path, json.dumps(results, indent=1))


def _png_data_uri(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(image: np.ndarray) -> str:
    return f'<img src="{_png_data_uri(image)}" width="{image.shape[1]}" height="{image.shape[0]}">'


def _table(results: dict) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
    lines = [f"<table><tr><th>row</th>{head}<th>2022 composite</th><th>2023 composite</th></tr>"]
    for row in results["rows"]:
        cells = "".join(f"<td>{html.escape(cell(row, key, pattern))}</td>" for key, _, pattern in COLUMNS)
        comps = "".join(f"<td>{html.escape(cell(row, f'composite_{y}'))}</td>" for y in (2022, 2023))
        lines.append(f"<tr><td>{html.escape(row['name'])}</td>{cells}{comps}</tr>")
    return "\n".join(lines + ["</table>"])


def _grid(samples: dict, names: list[str], masks: np.ndarray, refs: np.ndarray | None, n: int) -> str:
    """Rows of mask | ref | each generator | real for the first n test masks."""
    generators = [k for k in samples if k != "real"]
    head = ["mask", "ref", *generators, "real"]
    lines = ["<table><tr><th>name</th>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for i in range(min(n, len(names))):
        cells = [_img(colorize(masks[i])), _img(refs[i]) if refs is not None else "—"]
        cells += [_img(samples[k][i]) for k in generators] + [_img(samples["real"][i])]
        lines.append(f"<tr><td>{html.escape(names[i])}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "\n".join(lines + ["</table>"])


def write_html(path: Path, results: dict, samples: dict, names: list[str], masks: np.ndarray,
               refs: np.ndarray | None, grid_rows: int = 8) -> None:
    """A single self-contained HTML file (images inlined as PNG data URIs)."""
    protocol = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                       for k, v in results["protocol"].items())
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>landscape-gen evaluation</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px}}
img{{image-rendering:pixelated;display:block}}</style></head><body>
<h1>landscape-gen evaluation</h1><ul>{protocol}</ul>
<p>FD-seg and KID-seg use the segmenter judge's pooled features: they are not FID and compare only within
this project. The <i>real</i> row scores the ground-truth test images (the ceiling).</p>
{_table(results)}<h2>Samples</h2>{_grid(samples, names, masks, refs, grid_rows)}</body></html>"""
    ckpt.atomic_write_text(path, page)


def results_row(row: dict, protocol: dict, date: str) -> str:
    checkpoint = row.get("checkpoint_digest", "test images")
    return (f"| {date} | {row['name']} | {checkpoint} | {row['n']} | {cell(row, 'pixel_acc')} | {cell(row, 'miou')} "
            f"| {fmt(row['fd_seg'], '{:.3f}')} | {fmt(row['kid_seg'])} | {fmt(row['fid'], '{:.2f}')} "
            f"| {fmt(row['style'])} | {cell(row, 'composite_2023')} | {protocol['judge_digest']} |")


def append_results(path: Path, lines: list[str]) -> None:
    """Insert table rows at the end of the generator-score table of RESULTS.md (created if missing),
    keeping every other section of the file as it is."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    if RESULTS_HEADER not in text:
        text = text.rstrip("\n") + f"\n\n{RESULTS_HEADER}\n\n{TABLE_HEAD}\n"
    before, after = text.split(RESULTS_HEADER, 1)
    body = after.split("\n")
    end = next(i for i, line in enumerate(body) if line.startswith("|"))
    while end < len(body) and body[end].startswith("|"):
        end += 1
    body[end:end] = lines
    ckpt.atomic_write_text(path, before + RESULTS_HEADER + "\n".join(body))
