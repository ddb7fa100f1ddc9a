#!/usr/bin/env python
"""Serve the paint page: draw a landscape layout, pick a style photo, get the picture.

Opens a local web page (http://127.0.0.1:7860 by default) with a palette of the 29 classes, brush
and fill tools on a canvas of the model's aspect ratio, undo, label PNG upload, a style photo
(upload or --examples), sampler settings, Generate with progress, and downloads of the image and
its label PNG. Generation goes through the same functions as scripts/sample.py, one at a time.
Needs the `ui` extra: pip install '.[ui]'. Works offline: the page loads nothing from elsewhere.

Examples:
    python scripts/paint.py --checkpoint runs/unet --examples data/synth
    python scripts/paint.py --checkpoint runs/unet --host 0.0.0.0 --port 8080   # reachable from the LAN
"""
from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    parser.add_argument("--vae", help="VAE checkpoint (default: the one recorded in the UNet checkpoint)")
    parser.add_argument("--examples", help="folder of example style photos (or a dataset root with train_resized/imgs)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: %(default)s, this machine only; 0.0.0.0 exposes the page)")
    parser.add_argument("--port", type=positive_int, default=7860, help="default: %(default)s")
    parser.add_argument("--size", type=parse_size, help="WxH to generate at (default: the training size)")
    parser.add_argument("--queue", type=positive_int, default=8, help="most generations waiting (default: %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        import uvicorn  # noqa: PLC0415

        from diffusion.paint_app import create_app, find_examples  # noqa: PLC0415
    except ImportError as err:
        raise RuntimeError(f"the paint page needs the ui extra ({err.name} is missing): pip install '.[ui]'") from err
    find_examples(args.examples)  # a wrong folder or a busy port fails before the model loads
    sock = listen(args.host, args.port)
    from diffusion.pipeline import LandscapePipeline  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    pipe = LandscapePipeline.from_checkpoint(args.checkpoint, args.vae)
    app = create_app(pipe, args.size, args.examples, max_waiting=args.queue)
    print(f"paint page: http://{args.host}:{args.port}/  (Ctrl+C stops)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line error (port busy, unknown address)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sock


if __name__ == "__main__":
    run_cli(main)
