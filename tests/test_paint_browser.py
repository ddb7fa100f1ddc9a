"""End to end in Debian's headless chromium driven by Playwright (no browser download): paint water
with the fill tool and sky over the top half with the brush, undo a stroke, upload a style photo,
Generate, and check the shown and downloaded image (canvas size) and the downloaded label PNG (the
painted ids); then bad uploads show messages in the page and a valid label upload + Generate still
works. Every request the page makes goes to the local server. Set PAINT_SCREENSHOT=path to keep a
screenshot of the page after the first generation."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from paint_files import NOT_AN_IMAGE, huge_png, png_bytes, unknown_colour_png
from PIL import Image

from lsgen.data.classes import CLASS_ID, PALETTE, colorize
from lsgen.data.io import read_label

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytest.importorskip("starlette", reason="the paint page needs the ui extra: pip install '.[ui]'")
pytest.importorskip("uvicorn", reason="the paint page needs the ui extra: pip install '.[ui]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")
if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"needs chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
W, H = 512, 384   # the canvas for the tiny model's 64x48


@contextlib.contextmanager
def serve(app):
    """Run the app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def page_url(tiny_unet_run):
    """(base URL, synthetic data root) of the page served for conftest's tiny trained UNet."""
    from diffusion.paint_app import create_app  # noqa: PLC0415
    from diffusion.pipeline import LandscapePipeline  # noqa: PLC0415

    run, data = tiny_unet_run
    with serve(create_app(LandscapePipeline.from_checkpoint(run), examples=data)) as url:
        yield url, data


@pytest.fixture
def page(page_url):
    url, _ = page_url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda r: page.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        yield page
        browser.close()


def drag(page, points):
    """Press, move through `points` (canvas pixels), release."""
    box = page.locator("#canvas").bounding_box()
    screen = [(box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H) for x, y in points]
    page.mouse.move(*screen[0])
    page.mouse.down()
    for point in screen[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def pixel(page, x, y):
    return page.evaluate(f"Array.from(document.getElementById('canvas').getContext('2d')"
                         f".getImageData({x}, {y}, 1, 1).data.slice(0, 3))")


def generate(page, previous=""):
    page.click("#generate")
    page.wait_for_selector(f"#result[data-loaded]:not([data-loaded='']):not([data-loaded='{previous}'])",
                           timeout=120_000)
    return page.eval_on_selector("#result", "r => r.dataset.loaded")


def download(page, selector, path):
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(path)
    return path


def paint_sky_over_water(page):
    page.click("[data-class-name='water']")
    page.click("#tool-fill")
    drag(page, [(300, 300)])                                      # fill: the whole canvas is water
    page.click("[data-class-name='sky']")
    page.click("#tool-brush")
    page.select_option("#brush-size", "64")
    for y in (24, 72, 120, 168):                                  # 64 px discs, rows 0..~199
        drag(page, [(1, y), (W - 1, y)])
    page.click("[data-class-name='tree']")
    drag(page, [(250, 300), (260, 300)])
    assert pixel(page, 255, 300) == PALETTE[CLASS_ID["tree"]].tolist()
    page.click("#undo")                                           # the tree stroke goes away
    assert pixel(page, 255, 300) == PALETTE[CLASS_ID["water"]].tolist()


def test_paint_generate_download_and_bad_uploads(page, page_url, tmp_path):
    url, data = page_url
    paint_sky_over_water(page)
    page.set_input_files("#ref-file", str(sorted((data / "train_resized/imgs").glob("*.jpg"))[2]))
    sync_api.expect(page.locator("#ref-preview")).to_be_visible()
    page.select_option("#sampler", "ddim")
    page.fill("#steps", "2")
    first = generate(page)
    sync_api.expect(page.locator("#progress-text")).to_contain_text("Done in")
    assert page.eval_on_selector("#result", "r => [r.naturalWidth, r.naturalHeight]") == [W, H]
    if os.environ.get("PAINT_SCREENSHOT"):
        page.screenshot(path=os.environ["PAINT_SCREENSHOT"], full_page=True)
    with Image.open(download(page, "#download-image", tmp_path / "image.png")) as image:
        assert image.size == (W, H) and image.mode == "RGB"
    mask_path = download(page, "#download-mask", tmp_path / "mask.png")
    with Image.open(mask_path) as label:
        assert label.mode == "L" and label.size == (W, H)
    ids = read_label(mask_path)
    sky, water = CLASS_ID["sky"], CLASS_ID["water"]
    assert (ids[: H // 2] == sky).all() and (ids[H // 2 + 16:] == water).all() and set(np.unique(ids)) == {sky, water}

    bad = [("notes.png", NOT_AN_IMAGE, "notes.png: not an image"), ("huge.png", huge_png(), "too large"),
           ("odd.png", unknown_colour_png(), "not class colours")]
    for name, content, message in bad:
        page.set_input_files("#label-file", files=[{"name": name, "mimeType": "image/png", "buffer": content}])
        sync_api.expect(page.locator("#message.error")).to_contain_text(message)
    page.set_input_files("#ref-file", files=[{"name": "ref.png", "mimeType": "image/png", "buffer": NOT_AN_IMAGE}])
    sync_api.expect(page.locator("#message.error")).to_contain_text("ref.png: not an image")

    layout = np.full((H, W), CLASS_ID["mountain"], np.int32)
    layout[:, : W // 3] = CLASS_ID["tree"]
    page.set_input_files("#label-file", files=[{"name": "layout.png", "mimeType": "image/png",
                                                "buffer": png_bytes(Image.fromarray(colorize(layout)))}])
    sync_api.expect(page.locator("#message.info")).to_contain_text("Loaded layout.png (512x384)")
    second = generate(page, previous=first)
    assert second != first
    np.testing.assert_array_equal(read_label(download(page, "#download-mask", tmp_path / "mask2.png")), layout)
    assert all(u.startswith(url) or u.startswith(("blob:", "data:")) for u in page.requests), page.requests
    assert all("status of 400" in e for e in page.errors), page.errors
