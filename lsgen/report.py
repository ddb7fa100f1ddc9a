"""Self-contained HTML pages of image grids (images inlined as PNG data URIs; no network)."""
from __future__ import annotations

import base64
import html
import io

import numpy as np
from PIL import Image

STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
         "td,th{padding:3px;text-align:center;font-size:12px}img{display:block;image-rendering:pixelated}")


def png_data_uri(image: np.ndarray) -> str:
    """(H, W, 3) uint8 -> 'data:image/png;base64,...'."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def cell(value, width: int = 0) -> str:
    """A table cell: an image array (shown `width` px wide if > 0) or escaped text."""
    if isinstance(value, np.ndarray):
        size = f' width="{width}"' if width else ""
        return f'<td><img src="{png_data_uri(value)}"{size}></td>'
    return f"<td>{html.escape(str(value))}</td>"


def grid_page(title: str, header: list[str], rows: list[list], intro: str = "", width: int = 0) -> str:
    """A whole HTML page: a title, an intro paragraph and one table of rows (images or text)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(cell(v, width) for v in row) + "</tr>" for row in rows)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
            f"<table><tr>{head}</tr>\n{body}</table></body></html>\n")
