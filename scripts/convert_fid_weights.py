#!/usr/bin/env python
"""Convert pytorch-fid's Inception weights (pt_inception-2015-12-05-*.pth) to an lsgen safetensors
checkpoint of kind "fid-inception" for evaluation/fid.py. Needs torch (only to read the .pth file).

Example:
    python scripts/convert_fid_weights.py --src pt_inception-2015-12-05-6726825d.pth --out weights/fid_inception.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli  # noqa: E402


def read_torch_state(path: Path) -> dict:
    """A .pth state dict as numpy arrays (torch.load with weights_only: no pickled code runs)."""
    try:
        import torch  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise RuntimeError("reading .pth files needs torch: pip install torch==2.13.0 (CPU build)") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise RuntimeError(f"{path}: not a readable torch state dict ({type(err).__name__})") from err
    if not isinstance(state, dict):
        raise RuntimeError(f"{path}: expected a state dict, got {type(state).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, type=Path, help="pytorch-fid Inception .pth file")
    parser.add_argument("--out", required=True, type=Path, help="output .safetensors checkpoint")
    args = parser.parse_args()
    arrays = read_torch_state(args.src)
    from lsgen import checkpoint as ckpt  # noqa: PLC0415 - after the cheap checks
    from evaluation.fid import KIND, FIDInceptionV3, convert_state_dict  # noqa: PLC0415

    converted = convert_state_dict(arrays)
    expected = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    ckpt.check_compatible(expected, converted, str(args.src))
    extra = {"source": args.src.name, "source_sha256": ckpt.file_digest(args.src, length=64)}
    ckpt.save_weights(args.out, converted, KIND, {"architecture": "pytorch-fid InceptionV3, 2048-d pool3"},
                      step=0, extra=extra)
    print(f"wrote {args.out} ({len(converted)} arrays)")


if __name__ == "__main__":
    run_cli(main)
