"""The paint page's server through Starlette's test client, on a tiny trained checkpoint: the page
is self-contained (no outside address), a painted mask + example ref gives the same image as
scripts/sample.py on the downloaded label PNG, bad uploads get JSON messages and the next request
still works, and generations run one at a time in submission order, with a bounded queue."""
from __future__ import annotations

import io
import re
import threading
import time

import numpy as np
import pytest
from conftest import REPO, run_script
from paint_files import NOT_AN_IMAGE, huge_png, unknown_colour_png
from PIL import Image

pytest.importorskip("starlette", reason="the paint page needs the ui extra: pip install '.[ui]'")
pytest.importorskip("httpx", reason="Starlette's test client needs httpx (ui extra)")
from starlette.testclient import TestClient  # noqa: E402

from diffusion.paint_app import create_app  # noqa: E402
from diffusion.paint_inputs import canvas_size, encode_ids  # noqa: E402
from diffusion.paint_queue import GenerationQueue, QueueFull, Request  # noqa: E402
from diffusion.pipeline import LandscapePipeline, SampleOptions  # noqa: E402
from lsgen.data.classes import CLASS_NAMES, PALETTE  # noqa: E402
from lsgen.data.io import read_label  # noqa: E402

FAST = {"sampler": "ddim", "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def tiny(tiny_unet_run):
    """(pipeline, run folder, synthetic data root) of conftest's tiny trained UNet."""
    run, data = tiny_unet_run
    return LandscapePipeline.from_checkpoint(run), run, data


def wait_done(client, job_id, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "error"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def painted_payload(width, height, **extra) -> dict:
    ids = np.full((height, width), 2, np.uint8)      # water below ...
    ids[: height // 2] = 1                            # ... sky above
    return {"width": width, "height": height, "mask": encode_ids(ids), "options": FAST, **extra}


def test_page_config_and_no_outside_address(tiny):
    pipe, _, data = tiny
    with TestClient(create_app(pipe, examples=data)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        config = client.get("/api/config").json()
        assert [c["name"] for c in config["classes"]] == list(CLASS_NAMES)
        assert [c["color"] for c in config["classes"]] == ["#%02x%02x%02x" % tuple(map(int, c)) for c in PALETTE]
        w, h = config["canvas"]["width"], config["canvas"]["height"]
        assert config["model_size"] == [64, 48] and (w, h) == canvas_size((64, 48)) and w * 48 == h * 64
        assert config["examples"] and client.get(f"/api/examples/{config['examples'][0]}").status_code == 200
        assert client.get("/api/examples/..%2Fvae.safetensors").status_code == 404
        for asset in ("/", "/static/paint.js", "/static/paint.css"):
            text = client.get(asset).text
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), asset   # no CDN, no analytics


def test_generation_equals_sample_script_on_the_downloaded_label(tiny, tmp_path):
    pipe, run, data = tiny
    with TestClient(create_app(pipe, examples=data)) as client:
        example = client.get("/api/config").json()["examples"][1]
        job = client.post("/api/generate", json=painted_payload(512, 384, example=example)).json()
        assert job["state"] in ("queued", "running")
        status = wait_done(client, job["job"])
        assert status["state"] == "done" and status["step"] == status["total"] == 2, status
        (tmp_path / "page.png").write_bytes(client.get(f"/api/jobs/{job['job']}/image.png").content)
        (tmp_path / "label.png").write_bytes(client.get(f"/api/jobs/{job['job']}/mask.png").content)
    with Image.open(tmp_path / "page.png") as image, Image.open(tmp_path / "label.png") as label:
        assert image.size == (512, 384) and label.mode == "L" and label.size == (512, 384)
    ids = read_label(tmp_path / "label.png")
    assert (ids[:192] == 1).all() and (ids[192:] == 2).all()
    result = run_script("scripts/sample.py", "--checkpoint", str(run), "--mask", str(tmp_path / "label.png"),
                        "--ref", str(data / "train_resized/imgs" / example), "--out", str(tmp_path / "cli.png"),
                        "--sampler", "ddim", "--steps", "2", "--seed", "3", cwd=REPO)
    assert result.returncode == 0, result.stderr[-1500:]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "page.png")), np.array(Image.open(tmp_path / "cli.png")))


def test_bad_uploads_get_messages_and_the_server_keeps_serving(tiny):
    pipe, _, _ = tiny
    with TestClient(create_app(pipe)) as client:
        cases = [("/api/label", NOT_AN_IMAGE, 400, "notes.png: not an image"),
                 ("/api/label", huge_png(), 400, "too large"),
                 ("/api/label", unknown_colour_png(), 400, "not class colours"),
                 ("/api/ref", NOT_AN_IMAGE, 400, "notes.png: not an image"),
                 ("/api/ref", b"\x00" * (16 * 2**20 + 1), 413, "larger than the 16 MB limit")]
        for path, body, code, message in cases:
            answer = client.post(path, content=body, headers={"X-Filename": "notes.png"})
            assert answer.status_code == code and message in answer.json()["error"], (path, answer.text)
        bad_requests = [({**painted_payload(512, 384), "height": 383}, "expected 512x383"),
                        ({**painted_payload(512, 384), "options": {"steps": 0}}, "steps must be"),
                        (painted_payload(512, 384, ref="gone"), "upload it again"),
                        (painted_payload(512, 384, example="../x.png"), "no example named")]
        for payload, message in bad_requests:
            answer = client.post("/api/generate", json=payload)
            assert answer.status_code == 400 and message in answer.json()["error"], answer.text
        assert client.post("/api/generate", content=b"{not json").json()["error"] == "the generate request is not JSON"
        assert client.get("/api/jobs/nope").status_code == 404
        ref = client.post("/api/ref", content=photo_png()).json()["ref"]
        job = client.post("/api/generate", json=painted_payload(64, 48, ref=ref)).json()["job"]
        assert wait_done(client, job)["state"] == "done"
        with Image.open(io.BytesIO(client.get(f"/api/jobs/{job}/image.png").content)) as image:
            assert image.size == (64, 48)


def photo_png() -> bytes:
    """A 60x40 random-noise RGB photo as PNG bytes (seeded)."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class Gate:
    """A stand-in render: blocks until released, records the order and overlap of its calls."""

    def __init__(self):
        self.release, self.order, self.active, self.most = threading.Event(), [], 0, 0
        self.lock = threading.Lock()

    def __call__(self, request, callback):
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        self.release.wait(30)
        for i in range(request.options.steps):
            callback(i, request.options.steps)
        with self.lock:
            self.active -= 1
            self.order.append(request.options.seed)
        return np.zeros((*request.mask_ids.shape, 3), np.uint8)


def test_queue_runs_one_at_a_time_in_order_and_is_bounded():
    gate = Gate()
    queue = GenerationQueue(gate, max_waiting=2)
    mask = np.zeros((16, 16), np.int32)
    first = queue.submit(Request(mask, None, SampleOptions(seed=0, steps=3)))
    deadline = time.monotonic() + 10
    while queue.status(first)["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    later = [queue.submit(Request(mask, None, SampleOptions(seed=s, steps=3))) for s in (1, 2)]
    assert [queue.status(j)["ahead"] for j in later] == [1, 2]
    with pytest.raises(QueueFull):
        queue.submit(Request(mask, None, SampleOptions(seed=9)))
    gate.release.set()
    deadline = time.monotonic() + 10
    while any(queue.status(j)["state"] != "done" for j in [first, *later]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.order == [0, 1, 2] and gate.most == 1
    assert queue.status(later[-1])["step"] == 3 and queue.file(first, "mask.png")[:4] == b"\x89PNG"
    queue.close()


def test_a_failing_generation_reports_and_the_worker_goes_on():
    calls = []

    def render(request, callback):
        calls.append(request.options.seed)
        if request.options.seed == 1:
            raise RuntimeError("out of memory")
        return np.zeros((*request.mask_ids.shape, 3), np.uint8)

    queue = GenerationQueue(render)
    jobs = [queue.submit(Request(np.zeros((8, 8), np.int32), None, SampleOptions(seed=s))) for s in (1, 2)]
    deadline = time.monotonic() + 10
    while any(queue.status(j)["state"] not in ("done", "error") for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.status(jobs[0])["error"] == "generation failed: RuntimeError: out of memory"
    assert queue.status(jobs[1])["state"] == "done" and calls == [1, 2]
    queue.close()


def test_paint_script_refuses_bad_arguments_in_one_line():
    help_text = run_script("scripts/paint.py", "--help", cwd=REPO)
    assert help_text.returncode == 0 and "--host" in help_text.stdout and "127.0.0.1" in help_text.stdout
    result = run_script("scripts/paint.py", "--checkpoint", "nowhere", "--examples", "/no/such/folder", cwd=REPO)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines[-1] == "error: /no/such/folder: examples folder not found", result.stderr
