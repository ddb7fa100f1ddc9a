"""The one training loop of the project: setup -> maybe resume -> loop -> log -> save.

A model plugs in as a `TrainTask`: its primary model (saved as the checkpoint's weights), the
phases of one step (one for most models, `d_step` + `g_step` for GANs; each phase has its own
Updater and loss function), optional auxiliary modules saved only in the training state
(discriminators), and optional hooks for previews and extra checkpoint metadata.

Per update step: for each active phase, accumulate `grad_accum` micro-batches
(`updater.backward(loss)`), then `updater.apply(step)` (NaN guard, clip, lr, AdamW), then the EMA.
Loss values stay lazy and are read every `log_every` steps only. Only MPI rank 0 writes.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from lsgen import checkpoint as ckpt
from lsgen.runtime import jt, seed_everything
from lsgen.train import dist
from lsgen.train.ema import EMA
from lsgen.train.optim import Updater


@dataclass
class TrainConfig:
    """The `train` section of every training config."""
    steps: int = 1000                  # optimizer updates
    batch_size: int = 8                # global micro-batch (split over MPI ranks)
    grad_accum: int = 1                # micro-batches per update
    ema_decay: float = 0.999           # 0 = no EMA
    log_every: int = 50
    save_every: int = 500
    preview_every: int = 500           # 0 = no previews
    keep_last: int = 2                 # checkpoints kept in the run dir
    seed: int = 0
    precision: str = "fp32"            # fp32 | fp16 | bf16 (GPU only; see README)

    def __post_init__(self):
        for name in ("steps", "batch_size", "grad_accum", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Phase:
    """One optimizer's part of a step. loss_fn(batch, step) -> {"loss": Var, other scalars}."""
    name: str
    updater: Updater
    loss_fn: Callable[[dict, int], dict[str, Any]]
    active: Callable[[int], bool] = field(default=lambda step: True)


@dataclass
class TrainTask:
    """What a model hands to `run_training`."""
    kind: str                                      # checkpoint kind, e.g. "vae"
    model: Any                                     # jt.nn.Module saved as weights
    model_config: Any                              # dataclass saved in the metadata
    phases: list[Phase]
    to_batch: Callable[[dict], dict] = field(default=lambda b: {k: jt.array(v) for k, v in b.items()})
    aux_modules: dict[str, Any] = field(default_factory=dict)
    preview: Callable[[int, Path], None] | None = None
    extra_metadata: Callable[[], dict] | None = None


class Trainer:
    """Runs a TrainTask over a BatchLoader; see the module docstring."""

    def __init__(self, task: TrainTask, cfg: TrainConfig, loader, run_dir: str | Path, progress: bool = True):
        self.task, self.cfg, self.loader = task, cfg, loader
        self.run_dir = Path(run_dir)
        self.progress = progress and dist.is_main()
        self.step = 0
        self.ema = EMA(task.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self._log_window: list[dict[str, Any]] = []
        for module in [task.model, *task.aux_modules.values()]:
            dist.broadcast_parameters(module)

    # --- resume --------------------------------------------------------------------------
    def maybe_resume(self) -> bool:
        """Continue from `latest.json` in the run dir if there is one. Returns True if resumed."""
        name = ckpt.read_latest(self.run_dir)
        if name is None:
            return False
        weights = ckpt.read_arrays(self.run_dir / f"{name}.safetensors")
        ckpt.load_module(self.task.model, {k: v for k, v in weights.items() if not k.startswith("ema.")},
                         what=f"{name} weights")
        arrays, state = ckpt.load_training_state(self.run_dir, name)
        if self.ema is not None:
            self.ema.load_arrays(weights, state["ema_updates"])
        for aux_name, module in self.task.aux_modules.items():
            ckpt.load_module(module, arrays, what=f"{name} {aux_name}", prefix=f"module.{aux_name}.")
        for phase in self.task.phases:
            phase.updater.load_state(arrays, state["updaters"][phase.name])
        self.step = int(state["step"])
        self.loader.seek(int(state["data_position"]))
        _restore_rng(state["rng"])
        return True

    # --- one update ----------------------------------------------------------------------
    def train_step(self) -> dict[str, Any]:
        """One update: every active phase accumulates its micro-batches and applies."""
        jt.set_seed(_step_seed(self.cfg.seed, self.step))
        micro = [self.task.to_batch(next(self.loader)) for _ in range(self.cfg.grad_accum)]
        logged: dict[str, Any] = {}
        for phase in self.task.phases:
            if not phase.active(self.step):
                continue
            for batch in micro:
                terms = phase.loss_fn(batch, self.step)
                phase.updater.backward(terms["loss"])
                for key, value in terms.items():
                    value = value.detach() if isinstance(value, jt.Var) else value
                    logged[f"{phase.name}/{key}"] = logged.get(f"{phase.name}/{key}", 0) + value / len(micro)
            # Evaluate the logged scalars now: pending loss Vars would pin their activations.
            jt.sync([v for v in logged.values() if isinstance(v, jt.Var)])
            norm, _ = phase.updater.apply(self.step)
            logged[f"{phase.name}/grad_norm"] = norm
        if self.ema is not None:
            self.ema.update(self.task.model)
        self.step += 1
        return logged

    # --- logging and saving --------------------------------------------------------------
    def _flush_log(self, bar) -> dict[str, float]:
        """Average the window's scalars (one sync), over ranks too; rank 0 prints and appends."""
        keys = sorted({k for entry in self._log_window for k in entry})
        means = np.array([np.mean([_scalar(e[k]) for e in self._log_window if k in e]) for k in keys])
        means = dist.mean_over_ranks(means)
        self._log_window = []
        record = {"step": self.step, **{k: float(v) for k, v in zip(keys, means)}}
        if dist.is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / "log.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
            if bar is not None:
                bar.set_postfix({k.split("/")[-1] if len(keys) < 4 else k: f"{v:.4g}" for k, v in record.items() if k != "step"})
        return record

    def save(self) -> Path:
        """Write weights (+EMA) and training state for the current step (rank 0 only)."""
        name = f"step{self.step:07d}"
        path = self.run_dir / f"{name}.safetensors"
        if not dist.is_main():
            return path
        arrays = ckpt.module_arrays(self.task.model)
        if self.ema is not None:
            arrays.update(self.ema.arrays())
        extra = self.task.extra_metadata() if self.task.extra_metadata else None
        ckpt.save_weights(path, arrays, self.task.kind, self.task.model_config, self.step, extra)
        state_arrays = {}
        for aux_name, module in self.task.aux_modules.items():
            state_arrays.update(ckpt.module_arrays(module, prefix=f"module.{aux_name}."))
        for phase in self.task.phases:
            state_arrays.update(phase.updater.state_arrays())
        state = {"step": self.step, "data_position": self.loader.position, "rng": _rng_state(),
                 "ema_updates": self.ema.updates if self.ema else 0,
                 "updaters": {p.name: p.updater.state_scalars() for p in self.task.phases}}
        ckpt.save_training_state(self.run_dir, name, state_arrays, state)
        ckpt.write_latest(self.run_dir, name)
        self._prune(keep=self.cfg.keep_last)
        return path

    def _prune(self, keep: int) -> None:
        names = sorted(p.name[: -len(".safetensors")] for p in self.run_dir.glob("step*.safetensors")
                       if not p.name.endswith(".state.safetensors"))
        for name in names[:-keep] if keep > 0 else []:
            for suffix in (".safetensors", ".state.safetensors", ".state.json"):
                (self.run_dir / f"{name}{suffix}").unlink(missing_ok=True)

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> Path:
        """Train until cfg.steps; returns the path of the final weights."""
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.task.kind, disable=not self.progress,
                   dynamic_ncols=True, file=sys.stderr)
        path = self.run_dir / f"step{self.step:07d}.safetensors"
        while self.step < cfg.steps:
            self._log_window.append(self.train_step())
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                self._flush_log(bar)
            if self.task.preview and cfg.preview_every and self.step % cfg.preview_every == 0 and dist.is_main():
                self.task.preview(self.step, self.run_dir)
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                path = self.save()
        bar.close()
        return path


def run_training(task: TrainTask, cfg: TrainConfig, loader, run_dir: str | Path, resume: bool = False,
                 progress: bool = True) -> Path:
    """setup -> maybe resume -> loop; returns the final checkpoint path."""
    run_dir = Path(run_dir)  # created at the first write: a run failing on its first batch leaves nothing
    trainer = Trainer(task, cfg, loader, run_dir, progress)
    if resume and not trainer.maybe_resume():
        print(f"--resume: no checkpoint in {run_dir}; starting from scratch", file=sys.stderr)
    return trainer.run()


def _step_seed(seed: int, step: int) -> int:
    """Jittor's RNG is reseeded from (seed, step, rank) every update, which makes resume exact."""
    return int(np.random.SeedSequence([seed, step, dist.rank()]).generate_state(1)[0] % (2**31))


def _scalar(value: Any) -> float:
    return float(value.item()) if hasattr(value, "item") else float(value)


def _rng_state() -> dict:
    import random  # noqa: PLC0415

    py_state = random.getstate()
    np_state = np.random.get_state()
    return {"python": [py_state[0], list(py_state[1]), py_state[2]],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}


def _restore_rng(state: dict) -> None:
    import random  # noqa: PLC0415

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


__all__ = ["Phase", "TrainConfig", "TrainTask", "Trainer", "run_training", "seed_everything"]
