"""The paint page's web app (Starlette; the `ui` extra): a static canvas page and a small JSON API.

GET  /                        the page (diffusion/paint_static; nothing loaded from elsewhere: the
                              Content-Security-Policy header allows this origin only)
GET  /api/config              classes (id, name, colour), canvas and model sizes, examples, defaults
GET  /api/examples/{name}     an example reference photo
POST /api/label   (raw body)  a label PNG -> {width, height, mask: base64 ids}
POST /api/ref     (raw body)  a reference photo -> {ref: id, width, height}
POST /api/generate (JSON)     {width, height, mask, ref | example, options} -> {job, state, ahead}
GET  /api/jobs/{id}           {state, ahead, step, total, error, seconds}
GET  /api/jobs/{id}/image.png, /api/jobs/{id}/mask.png   the result and its contest label PNG
Errors are JSON {"error": message} (400 bad input, 404, 413 too large, 503 queue full).
"""
from __future__ import annotations

import contextlib
import json
import secrets
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from diffusion.paint_inputs import (MAX_SIDE, MAX_STEPS, MAX_UPLOAD_BYTES, canvas_size, encode_ids,
                                    label_from_upload, mask_from_payload, options_from_payload,
                                    photo_from_upload)
from diffusion.paint_queue import GenerationQueue, QueueFull, Request, render_painting
from diffusion.pipeline import SampleOptions
from diffusion.samplers import SAMPLERS
from lsgen.data.classes import CLASS_NAMES, PALETTE
from lsgen.data.dataset import IMAGE_SUFFIXES
from lsgen.data.io import DataError, read_image

STATIC = Path(__file__).with_name("paint_static")
MAX_REFS = 4                                        # uploaded references kept in memory
MAX_EXAMPLES = 24
GENERATE_LIMIT = MAX_SIDE * MAX_SIDE * 4 // 3 + 65536   # base64 ids of the largest canvas + options
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class BodyTooLarge(DataError):
    """A request body over its byte limit (answered 413)."""


def find_examples(folder: str | Path | None, limit: int = MAX_EXAMPLES) -> dict[str, Path]:
    """name -> path of the first `limit` photos of folder (or of folder/train_resized/imgs)."""
    if folder is None:
        return {}
    folder = Path(folder)
    if (folder / "train_resized/imgs").is_dir():
        folder = folder / "train_resized/imgs"
    if not folder.is_dir():
        raise DataError(f"{folder}: examples folder not found")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.name: p for p in photos[:limit]}


async def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, refused (413) as soon as it exceeds `limit` bytes."""
    message = f"the upload is larger than the {limit / 2**20:.0f} MB limit"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(message)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(message)
        chunks.append(chunk)
    return b"".join(chunks)


def upload_name(request: HttpRequest, default: str) -> str:
    """The file name the page sends in X-Filename (for messages only; never used as a path)."""
    name = unquote(request.headers.get("x-filename", "")).strip()
    return "".join(c for c in name if c.isprintable())[:120] or default


class PaintApi:
    """Route handlers over one pipeline's GenerationQueue, example photos and uploaded references."""

    def __init__(self, queue: GenerationQueue, model_size, examples: dict[str, Path]):
        self.queue, self.model_size, self.examples = queue, tuple(model_size), examples
        self.refs: OrderedDict[str, np.ndarray] = OrderedDict()

    async def config(self, request):
        defaults = SampleOptions()
        w, h = canvas_size(self.model_size)
        return JSONResponse({
            "classes": [{"id": i, "name": n, "color": "#%02x%02x%02x" % tuple(int(v) for v in PALETTE[i])}
                        for i, n in enumerate(CLASS_NAMES)],
            "canvas": {"width": w, "height": h}, "model_size": list(self.model_size),
            "examples": list(self.examples), "samplers": list(SAMPLERS),
            "defaults": {k: getattr(defaults, k) for k in ("sampler", "steps", "guidance_mask", "guidance_ref",
                                                             "ref_strength", "seed", "color_match")},
            "limits": {"max_bytes": MAX_UPLOAD_BYTES, "max_side": MAX_SIDE, "max_steps": MAX_STEPS}})

    async def example(self, request):
        path = self.examples.get(request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "no such example"}, status_code=404)
        return FileResponse(path)

    async def label(self, request):
        data = await read_body(request, MAX_UPLOAD_BYTES)
        ids = await run_in_threadpool(label_from_upload, data, upload_name(request, "label"))
        return JSONResponse({"width": ids.shape[1], "height": ids.shape[0], "mask": encode_ids(ids),
                             "classes": [int(c) for c in np.unique(ids)]})

    async def ref(self, request):
        data = await read_body(request, MAX_UPLOAD_BYTES)
        image = await run_in_threadpool(photo_from_upload, data, upload_name(request, "reference"))
        ref_id = secrets.token_hex(8)
        self.refs[ref_id] = image
        while len(self.refs) > MAX_REFS:
            self.refs.popitem(last=False)
        return JSONResponse({"ref": ref_id, "width": image.shape[1], "height": image.shape[0]})

    async def generate(self, request):
        body = await read_body(request, GENERATE_LIMIT)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError("the generate request is not JSON") from err
        if not isinstance(payload, dict):
            raise DataError("the generate request must be a JSON object")
        mask = await run_in_threadpool(mask_from_payload, payload.get("width"), payload.get("height"),
                                       payload.get("mask"))
        options = options_from_payload(payload.get("options", {}))
        ref = await self.reference(payload)
        job_id = self.queue.submit(Request(mask, ref, options))
        return JSONResponse({"job": job_id, **self.queue.status(job_id)})

    async def reference(self, payload: dict) -> np.ndarray | None:
        """The request's reference: an uploaded one (by id), an example (by name), or None."""
        if payload.get("ref"):
            ref = self.refs.get(str(payload["ref"]))
            if ref is None:
                raise DataError("the reference photo is no longer on the server; please upload it again")
            return ref
        if payload.get("example"):
            path = self.examples.get(str(payload["example"]))
            if path is None:
                raise DataError(f"no example named {str(payload['example'])[:80]!r}")
            return await run_in_threadpool(read_image, path)
        return None

    async def job(self, request):
        status = self.queue.status(request.path_params["job"])
        if status is None:
            return JSONResponse({"error": "no such job (finished long ago, or the server restarted)"},
                                status_code=404)
        return JSONResponse(status)

    async def job_file(self, request):
        data = self.queue.file(request.path_params["job"], request.path_params["name"])
        if data is None:
            return JSONResponse({"error": "no such result"}, status_code=404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


class SecurityHeaders:
    """ASGI middleware: a same-origin-only Content-Security-Policy (nothing from a CDN can load,
    nothing can be sent elsewhere) and nosniff on every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(status: int):
    async def handler(request, exc):
        return JSONResponse({"error": str(exc)}, status_code=status)
    return handler


async def _index(request):
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def create_app(pipe, model_size: tuple[int, int] | None = None, examples: str | Path | None = None,
               max_waiting: int = 8) -> Starlette:
    """The page's app for a LandscapePipeline; model_size (W, H) defaults to pipe.image_size."""
    model_size = tuple(model_size or pipe.image_size or ())
    if len(model_size) != 2:
        raise ValueError("the checkpoint does not record its image size; pass a model size (W, H)")
    pipe.check_mask(np.zeros((model_size[1], model_size[0]), np.int32))
    queue = GenerationQueue(lambda request, callback: render_painting(pipe, model_size, request, callback),
                            max_waiting=max_waiting)
    api = PaintApi(queue, model_size, find_examples(examples))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        queue.close()

    routes = [
        Route("/", _index), Route("/api/config", api.config), Route("/api/examples/{name}", api.example),
        Route("/api/label", api.label, methods=["POST"]), Route("/api/ref", api.ref, methods=["POST"]),
        Route("/api/generate", api.generate, methods=["POST"]), Route("/api/jobs/{job}", api.job),
        Route("/api/jobs/{job}/{name}", api.job_file), Mount("/static", StaticFiles(directory=STATIC)),
    ]
    handlers = {BodyTooLarge: _error(413), DataError: _error(400), QueueFull: _error(503)}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    app.state.api, app.state.queue = api, queue
    return app
