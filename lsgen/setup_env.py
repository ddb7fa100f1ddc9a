"""Machine preparation that must happen before the first `import jittor` (used by scripts/setup.sh).

    python -m lsgen.setup_env wire-onednn   # link Debian's oneDNN where Jittor expects its download
    python -m lsgen.setup_env check         # first import (compile) + a tiny conv as a smoke test

This module never imports Jittor at module level: wiring must precede Jittor's first import.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

SETUP_HINT = "run `bash scripts/setup.sh` first"
DEBIAN_DNNL_LIB = "/usr/lib/*-linux-gnu/libdnnl.so.2"  # LSGEN_DNNL_LIB overrides (tests, other arch)
DEBIAN_DNNL_HEADERS = "/usr/include/dnnl*.h*"
# Jittor 1.3.11 skips its oneDNN download when this file exists (compile_extern.py).
JITTOR_DNNL_DIRNAME = "dnnl_lnx_2.2.0_cpu_gomp"


def jittor_cache_dir() -> Path:
    """Jittor's cache dir for landscape-gen processes: `$JITTOR_HOME/.cache/jittor`, JITTOR_HOME
    defaulting to ~ (lsgen.runtime pins it, see `pin_jittor_home`)."""
    return Path(os.environ.get("JITTOR_HOME") or Path.home()) / ".cache" / "jittor"


def pin_jittor_home() -> None:
    """Set JITTOR_HOME to ~ unless the user set it. Jittor otherwise falls back to the JITTOR_HOME
    last recorded in ~/.cache/jittor/config.json, which ANY process run with another JITTOR_HOME
    (e.g. a cold-cache benchmark) rewrites: every later process would then use that other cache."""
    os.environ.setdefault("JITTOR_HOME", str(Path.home()))


def onednn_wired() -> bool:
    """True when Jittor will find a oneDNN in its cache dir and download nothing."""
    return (jittor_cache_dir() / "mkl" / JITTOR_DNNL_DIRNAME / "lib" / "libmkldnn.so").exists()


def wire_onednn() -> bool:
    """Link Debian's oneDNN (libdnnl-dev) into Jittor's cache dir. Idempotent.

    Returns True if something changed. Raises RuntimeError when Debian's oneDNN is absent.
    """
    found = sorted(glob.glob(DEBIAN_DNNL_LIB))
    lib = Path(os.environ.get("LSGEN_DNNL_LIB") or (found[0] if found else DEBIAN_DNNL_LIB))
    headers = sorted(glob.glob(DEBIAN_DNNL_HEADERS))
    if not lib.exists() or not headers:
        raise RuntimeError(f"Debian oneDNN (libdnnl-dev) is not installed: {SETUP_HINT}")
    root = jittor_cache_dir() / "mkl" / JITTOR_DNNL_DIRNAME
    links = {root / "lib" / "libmkldnn.so": lib}
    links.update({root / "include" / Path(h).name: Path(h) for h in headers})
    changed = False
    for link, target in links.items():
        if link.is_symlink() and os.readlink(link) == str(target):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        changed = True
    return changed


def nvidia_gpu_visible() -> bool:
    """True when an NVIDIA driver is loaded and lists at least one device."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def check() -> None:
    """Import Jittor through lsgen.runtime (first compile) and run a tiny convolution."""
    from lsgen.runtime import jt  # noqa: PLC0415 - the import is the point of this check

    x = jt.randn(1, 3, 8, 8)
    w = jt.randn(4, 3, 3, 3)
    y = jt.nn.conv2d(x, w, padding=1)
    print(f"jittor {jt.__version__}: conv ok {tuple(y.shape)}, cuda={bool(jt.has_cuda)}, "
          f"onednn={'wired' if onednn_wired() else 'off'}, cache={jittor_cache_dir()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["wire-onednn", "patch-cuda", "check"])
    args = parser.parse_args(argv)
    try:
        if args.action == "wire-onednn":
            print("oneDNN: " + ("linked into " + str(jittor_cache_dir()) if wire_onednn() else "already wired"))
        elif args.action == "patch-cuda":
            from lsgen import cuda_patch  # noqa: PLC0415 - only needed on GPU machines

            cuda_patch.main()
        else:
            check()
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
