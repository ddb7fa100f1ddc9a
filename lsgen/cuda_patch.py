"""Make the installed Jittor 1.3.11 build on CUDA 12/13 + cuDNN 9 (JITTOR.md §2). Idempotent.

Edits, relative to the `jittor` package directory:
1. extern/cuda/inc/helper_cuda.h: CUDA 13 removed cudaDeviceProp::computeMode and ::clockRate;
   read both through cudaDeviceGetAttribute instead.
2. compile_extern.py: cuDNN 9 renamed the split libraries Jittor preloads (libcudnn_ops_infer.so
   ... -> libcudnn_ops.so, libcudnn_cnn.so, libcudnn_graph.so); try both sets, skip absent names.
3. extern/cuda/cudnn/{ops,src,inc}/cudnn_rnn*: use the legacy RNN API cuDNN 9 removed; renamed
   with an `.off` suffix so they leave the build (landscape-gen uses no cuDNN RNN).
4. cuDNN headers from Debian/NVIDIA packages live in /usr/include/<arch>-linux-gnu, where Jittor
   does not look: linked into /usr/include (needs root; reported, not fatal, otherwise).
Each edit checks for its marker first, so a second run changes nothing. A Jittor version this
module does not know is left alone with a message.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import re
import sys
from pathlib import Path

KNOWN_VERSIONS = ("1.3.11.0",)
MARKER = "lsgen-cuda13"

HELPER_FN = f"""// {MARKER}: CUDA 13 removed cudaDeviceProp::computeMode/clockRate; read them as attributes.
inline int lsgenDeviceAttribute(cudaDeviceAttr attr, int device) {{
  int value = 0;
  cudaDeviceGetAttribute(&value, attr, device);
  return value;
}}

"""
HELPER_REPLACEMENTS = (
    ("deviceProp.computeMode == cudaComputeModeProhibited",
     "lsgenDeviceAttribute(cudaDevAttrComputeMode, devID) == cudaComputeModeProhibited"),
    ("deviceProp.computeMode != cudaComputeModeProhibited",
     "lsgenDeviceAttribute(cudaDevAttrComputeMode, current_device) != cudaComputeModeProhibited"),
    ("deviceProp.clockRate", "lsgenDeviceAttribute(cudaDevAttrClockRate, current_device)"),
)
CUDNN8_LIBS = '["libcudnn_ops_infer.so", "libcudnn_ops_train.so", "libcudnn_cnn_infer.so", "libcudnn_cnn_train.so"]'
CUDNN_LOOP = re.compile(
    r"(?P<indent>[ \t]+)libs = " + re.escape(CUDNN8_LIBS) + r"\n"
    r"(?P=indent)for l in libs:\n"
    r"(?P<body>(?P=indent)[ \t]+ex_cudnn_path = search_file\(.*\)\n)"
    r"(?P=indent)[ \t]+ctypes\.CDLL\(ex_cudnn_path, dlopen_flags\)\n")


class UnknownSource(RuntimeError):
    """The Jittor sources do not look like the version these edits were written for."""


def jittor_dir() -> Path:
    """The installed `jittor` package directory, found without importing it (import compiles)."""
    spec = importlib.util.find_spec("jittor")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownSource("jittor is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def jittor_version(root: Path) -> str:
    match = re.search(r'__version__\s*=\s*["\']([^"\']+)["\']', (root / "__init__.py").read_text())
    return match.group(1) if match else "unknown"


def patch_helper_cuda(text: str) -> str:
    """Edit 1 on the text of helper_cuda.h (returns it unchanged when already patched)."""
    if MARKER in text:
        return text
    anchor = "inline int gpuDeviceInit(int devID) {"
    if anchor not in text or not all(old in text for old, _ in HELPER_REPLACEMENTS):
        raise UnknownSource("helper_cuda.h does not have the expected gpuDeviceInit/computeMode code")
    text = text.replace(anchor, HELPER_FN + anchor, 1)
    for old, new in HELPER_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def patch_compile_extern(text: str) -> str:
    """Edit 2 on the text of compile_extern.py (unchanged when already patched)."""
    if MARKER in text:
        return text
    match = CUDNN_LOOP.search(text)
    if match is None:
        raise UnknownSource("compile_extern.py does not have the expected cuDNN library loop")
    indent, inner = match.group("indent"), match.group("indent") + "    "
    names = CUDNN8_LIBS[:-1] + ', "libcudnn_ops.so", "libcudnn_cnn.so", "libcudnn_graph.so"]'
    body = match.group("body").strip()
    new = (f"{indent}# {MARKER}: cuDNN 9 renamed its split libraries; load whichever exist.\n"
           f"{indent}libs = {names}\n"
           f"{indent}for l in libs:\n"
           f"{inner}try:\n{inner}    {body}\n"
           f"{inner}except Exception:\n{inner}    continue\n"
           f"{inner}ctypes.CDLL(ex_cudnn_path, dlopen_flags)\n")
    return text[:match.start()] + new + text[match.end():]


def rnn_sources(root: Path) -> list[Path]:
    return sorted(p for sub in ("ops", "src", "inc")
                  for p in (root / "extern/cuda/cudnn" / sub).glob("cudnn_rnn*") if p.suffix != ".off")


def _rewrite(path: Path, edit) -> bool:
    old = path.read_text()
    new = edit(old)
    if new != old:
        path.write_text(new)
    return new != old


def apply(root: Path) -> list[str]:
    """Apply edits 1-3 to a Jittor source tree. Returns what changed (empty on a second run)."""
    version = jittor_version(root)
    if version not in KNOWN_VERSIONS:
        raise UnknownSource(f"jittor {version} is not a version these CUDA fixes know ({', '.join(KNOWN_VERSIONS)}); left alone")
    changes = []
    if _rewrite(root / "extern/cuda/inc/helper_cuda.h", patch_helper_cuda):
        changes.append("helper_cuda.h: device attributes")
    if _rewrite(root / "compile_extern.py", patch_compile_extern):
        changes.append("compile_extern.py: cuDNN 9 library names")
    for path in rnn_sources(root):
        path.rename(path.with_name(path.name + ".off"))
        changes.append(f"disabled {path.relative_to(root)}")
    return changes


def link_cudnn_headers(include_dir: Path = Path("/usr/include")) -> list[str]:
    """Edit 4: link <arch>-linux-gnu/cudnn*.h into `include_dir` where missing."""
    linked = []
    for header in sorted(glob.glob(str(include_dir / "*-linux-gnu" / "cudnn*.h"))):
        target = include_dir / Path(header).name
        if not target.exists():
            target.symlink_to(header)
            linked.append(str(target))
    return linked


def main() -> None:
    try:
        changes = apply(jittor_dir())
    except UnknownSource as err:
        print(f"cuda patch: {err}", file=sys.stderr)
        return
    try:
        changes += [f"linked {h}" for h in link_cudnn_headers()]
    except PermissionError:
        print("cuda patch: cannot link cuDNN headers into /usr/include (not root); see README 'On GPUs'", file=sys.stderr)
    print("cuda patch: " + ("; ".join(changes) if changes else "already applied, nothing changed"))


if __name__ == "__main__":
    main()
