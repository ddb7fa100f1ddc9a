"""One generation at a time for the paint page: a FIFO of jobs served by a single worker thread.

Each job renders through the same functions as scripts/sample.py (`sampling_io.Job` ->
`model_inputs` -> `LandscapePipeline.generate` -> `to_label_size`): the painted mask is resized
nearest to the model's size, the reference bicubically, and the image back to the canvas size.
A failing job records its message and the worker goes on with the next one.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diffusion.paint_inputs import image_png, label_png
from diffusion.pipeline import SampleOptions
from diffusion.sampling_io import Job, model_inputs, to_label_size
from lsgen.data.io import DataError

log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """More jobs are waiting than the queue accepts."""


@dataclass
class Request:
    """A painted mask (H, W) int32 0..28 at the canvas size, a reference (h, w, 3) uint8 or None."""
    mask_ids: np.ndarray
    ref_image: np.ndarray | None
    options: SampleOptions


@dataclass
class JobState:
    id: str
    request: Request | None
    state: str = "queued"                 # queued -> running -> done | error
    step: int = 0
    total: int = 0
    error: str | None = None
    seconds: float | None = None
    files: dict = field(default_factory=dict)   # "image.png" / "mask.png" -> bytes


def render_painting(pipe, model_size: tuple[int, int], request: Request, callback=None) -> np.ndarray:
    """The scripts/sample.py path for one painted mask: -> (H, W, 3) uint8 at the mask's size."""
    job = Job(request.mask_ids, request.ref_image, Path("painting.png"))
    mask, ref = model_inputs(job, *model_size)
    image = pipe.generate(mask[None], request.options, None if ref is None else ref[None], callback)[0]
    return to_label_size(image, job)


class GenerationQueue:
    """FIFO of generation jobs run one at a time by a worker thread.

    render(request, callback(i, n)) -> (H, W, 3) uint8; at most max_waiting jobs wait; the newest
    `keep` jobs are remembered (older finished ones, with their files, are dropped).
    """

    def __init__(self, render, max_waiting: int = 8, keep: int = 32):
        self.render, self.max_waiting, self.keep = render, max_waiting, keep
        self.jobs: OrderedDict[str, JobState] = OrderedDict()
        self.lock = threading.Lock()
        self.pending: queue.Queue = queue.Queue()
        self.ids = itertools.count(1)
        self.worker = threading.Thread(target=self._work, name="paint-generation", daemon=True)
        self.worker.start()

    def submit(self, request: Request) -> str:
        """Queue a request; returns its job id. Raises QueueFull when max_waiting jobs wait."""
        with self.lock:
            if sum(j.state == "queued" for j in self.jobs.values()) >= self.max_waiting:
                raise QueueFull(f"{self.max_waiting} generations are already waiting; try again shortly")
            job = JobState(id=f"{next(self.ids)}-{time.time_ns() % 10**6:06d}", request=request)
            self.jobs[job.id] = job
            self._forget_old()
        self.pending.put(job)
        return job.id

    def status(self, job_id: str) -> dict | None:
        """{state, ahead (jobs before it), step, total, error, seconds}, or None for an unknown id."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            ahead = 0
            if job.state == "queued":
                order = [j for j in self.jobs.values() if j.state in ("queued", "running")]
                ahead = order.index(job)
            return {"state": job.state, "ahead": ahead, "step": job.step, "total": job.total,
                    "error": job.error, "seconds": job.seconds}

    def file(self, job_id: str, name: str) -> bytes | None:
        with self.lock:
            job = self.jobs.get(job_id)
            return None if job is None else job.files.get(name)

    def close(self) -> None:
        """Stop the worker after the job it is running (waiting jobs are abandoned)."""
        self.pending.put(None)
        self.worker.join(timeout=60)

    def _forget_old(self) -> None:
        finished = [k for k, j in self.jobs.items() if j.state in ("done", "error")]
        for key in finished[:max(0, len(self.jobs) - self.keep)]:
            del self.jobs[key]

    def _work(self) -> None:
        while (job := self.pending.get()) is not None:
            self._run(job)

    def _run(self, job: JobState) -> None:
        def progress(i, n):
            job.step, job.total = i + 1, n

        start = time.perf_counter()
        with self.lock:
            job.state, job.total = "running", job.request.options.steps
        try:
            image = self.render(job.request, progress)
            files = {"image.png": image_png(image), "mask.png": label_png(job.request.mask_ids)}
            outcome = {"state": "done", "files": files}
        except (DataError, ValueError) as err:
            outcome = {"state": "error", "error": str(err)}
        except Exception as err:  # noqa: BLE001 - the page shows it; the server keeps serving
            log.exception("generation %s failed", job.id)
            outcome = {"state": "error", "error": f"generation failed: {type(err).__name__}: {err}"}
        with self.lock:
            for key, value in outcome.items():
                setattr(job, key, value)
            job.seconds = round(time.perf_counter() - start, 3)
            job.request = None  # the arrays are no longer needed
