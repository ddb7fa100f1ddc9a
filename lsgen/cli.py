"""Shared command-line plumbing: common flags, config loading, one-line errors.

Every script is `parse -> load config -> call one function`, wrapped in `run_cli` so that bad
input (data, config, checkpoint) prints `error: <one line>` on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from lsgen.config import ConfigError, apply_overrides, build_sections, read_json

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ConfigError, ValueError, FileNotFoundError,
                                                     FileExistsError, RuntimeError, OSError)


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384) as (width, height); argparse type with a one-line error."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512x384 (WxH), got {text!r}") from None
    if width < 8 or height < 8:
        raise argparse.ArgumentTypeError(f"size must be at least 8x8, got {text!r}")
    return width, height


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def tool_parser(doc: str) -> tuple[argparse.ArgumentParser, Any]:
    """(parser, subparsers) of a multi-command tool: description = the docstring's first line,
    epilog = the rest (examples), one required sub-command."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(doc.splitlines()[2:]))
    return parser, parser.add_subparsers(dest="command", required=True)


def add_training_args(parser: argparse.ArgumentParser, default_config: str) -> None:
    """Flags every trainer shares; direct flags override the config file's values."""
    parser.add_argument("--config", default=default_config, help="JSON config (default: %(default)s)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set model.base_channels=32 train.seed=1")
    parser.add_argument("--data", help="dataset root (contest 2022/2023 layout); overrides data.root")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, logs, previews)")
    parser.add_argument("--steps", type=positive_int, help="optimizer updates (train.steps)")
    parser.add_argument("--batch-size", type=positive_int, help="global micro-batch (train.batch_size)")
    parser.add_argument("--grad-accum", type=positive_int, help="micro-batches per update (train.grad_accum)")
    parser.add_argument("--lr", type=float, help="peak learning rate (optim.lr)")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), help="train.precision (fp16/bf16: GPU only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


DIRECT_FLAGS = {"data": "data.root", "steps": "train.steps", "batch_size": "train.batch_size",
                "grad_accum": "train.grad_accum", "lr": "optim.lr", "precision": "train.precision"}


def resolve_config(args: argparse.Namespace, sections: dict[str, type]) -> dict[str, Any]:
    """Config file + --set overrides + direct flags -> {section: dataclass}."""
    raw = read_json(args.config) if args.config else {}
    overrides = list(args.set)
    for attr, key in DIRECT_FLAGS.items():
        value = getattr(args, attr, None)
        if value is not None and key.split(".")[0] in sections:
            overrides.append(f"{key}={json.dumps(value)}")
    return build_sections(apply_overrides(raw, overrides), sections)


def run_cli(main: Callable[[], Any]) -> None:
    """Run a script's main; expected errors become one line on stderr and exit status 2."""
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except EXPECTED_ERRORS as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def trainer_main(doc: str, default_config: str, load: Callable[[argparse.Namespace], tuple[dict, Callable]],
                 config_flags: dict[str, tuple[str, str]] | None = None,
                 add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """The whole body of a trainer script: parse, resolve the config, --dry-run, pick the device,
    train, print the final checkpoint.

    load(args) -> (sections, train_fn) with train_fn(sections, out, resume=, progress=) -> Path;
    it runs after parsing, so Jittor is imported only for real work. config_flags maps extra
    flags to config keys, e.g. {"vae": ("data.vae", "VAE checkpoint")} adds --vae. add_args adds
    other flags; a default_config containing "{name}" is formatted with the parsed args.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(doc.splitlines()[2:]))
    if add_args is not None:
        add_args(parser)
    add_training_args(parser, default_config=default_config)
    for flag, (key, help_text) in (config_flags or {}).items():
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, help=f"{help_text} ({key})")
    args = parser.parse_args()
    args.config = args.config.format(**vars(args))
    for flag, (key, _) in (config_flags or {}).items():
        if getattr(args, flag) is not None:
            args.set.append(f"{key}={json.dumps(getattr(args, flag))}")
    sections, train_fn = load(args)
    sections = resolve_config(args, sections)
    if args.dry_run:
        from lsgen.config import to_dict  # noqa: PLC0415

        print(json.dumps({k: to_dict(v) for k, v in sections.items()}, indent=1))
        return
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    path = train_fn(sections, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {path}")
