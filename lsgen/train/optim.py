"""One optimizer with its schedule: accumulate -> NaN/Inf guard -> clip -> AdamW step.

Jittor's own Adam counts bias-correction steps in micro-batches (`n_step` grows in every
`backward()`); ours counts updates, so gradient accumulation does not change the optimizer's math.
Jittor's `Optimizer.backward` is reused as is: it accumulates gradients and, under MPI, averages
them over ranks (and broadcasts rank 0's weights on the first call).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from lsgen.runtime import jt
from lsgen.train.schedules import SCHEDULES, lr_at

LOSS_SCALE_INIT = 2.0**16
LOSS_SCALE_GROWTH_INTERVAL = 2000


@dataclass
class OptimConfig:
    lr: float = 1e-4
    schedule: str = "cosine"          # constant | cosine | linear (after warm-up)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0          # final lr = lr * min_lr_ratio
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0          # decoupled (AdamW, Loshchilov & Hutter 2019)
    clip_grad_norm: float = 0.0        # 0 = no clipping
    restart_at: int = 0                # > 0: warm restart of the schedule at this update (see lr_at)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.restart_at < 0:
            raise ValueError(f"restart_at must be >= 0, got {self.restart_at}")


class AdamW(jt.optim.Optimizer):
    """AdamW whose bias correction counts updates (`self.updates`), not micro-batches."""

    def __init__(self, params: list, lr: float, betas: tuple[float, float], eps: float, weight_decay: float):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay
        self.updates = 0
        for group in self.param_groups:
            group["m"] = [jt.zeros(p.shape, p.dtype).stop_grad() for p in group["params"]]
            group["values"] = [jt.zeros(p.shape, p.dtype).stop_grad() for p in group["params"]]

    def step(self, loss=None, retain_graph=False):
        """One update from the accumulated gradients (Adam, Kingma & Ba 2015, Alg. 1)."""
        self.pre_step(loss, retain_graph)
        self.updates += 1
        b1, b2 = self.betas
        step_size = self.lr * math.sqrt(1 - b2**self.updates) / (1 - b1**self.updates)
        for group in self.param_groups:
            for p, g, m, v in zip(group["params"], group["grads"], group["m"], group["values"]):
                m.update(b1 * m + (1 - b1) * g)
                v.update(b2 * v + (1 - b2) * g * g)
                decayed = p * (1 - self.lr * self.weight_decay) if self.weight_decay else p
                p.update(decayed - m * step_size / (jt.sqrt(v) + self.eps))
        self.post_step()


def trainable(named_params: dict) -> dict:
    """Drop stop-grad (frozen) Vars: the optimizer must never see them."""
    return {k: p for k, p in named_params.items() if not p.is_stop_grad()}


class Updater:
    """Owns one AdamW over `named_params` and performs guarded, clipped, scheduled updates.

    precision 'fp16' adds a dynamic loss scale: losses are multiplied by it before backward,
    gradients divided by it; an overflow skips the update and halves the scale, and the scale
    doubles after LOSS_SCALE_GROWTH_INTERVAL clean updates.
    """

    def __init__(self, named_params: dict, cfg: OptimConfig, total_steps: int, grad_accum: int = 1,
                 precision: str = "fp32", name: str = "model"):
        self.params = trainable(named_params)
        if not self.params:
            raise ValueError(f"{name}: no trainable parameters (all frozen?)")
        self.cfg, self.total_steps, self.grad_accum, self.name = cfg, total_steps, grad_accum, name
        self.optimizer = AdamW(list(self.params.values()), cfg.lr, (cfg.beta1, cfg.beta2), cfg.eps,
                               cfg.weight_decay)
        self.loss_scale = LOSS_SCALE_INIT if precision == "fp16" else 1.0
        self.dynamic_scale = precision == "fp16"
        self.clean_updates = 0
        self.skipped = 0

    def backward(self, loss) -> None:
        """Accumulate gradients of one micro-batch's mean loss."""
        self.optimizer.backward(loss * (self.loss_scale / self.grad_accum))

    def _grads(self) -> list:
        return self.optimizer.param_groups[0]["grads"]

    def grad_norm(self) -> float:
        """Global L2 norm of the (unscaled) accumulated gradients; one sync."""
        total = sum((g.sqr().sum() for g in self._grads()), jt.zeros(1))
        return float(np.sqrt(total.item())) / self.loss_scale

    def apply(self, step: int) -> tuple[float, bool]:
        """Update with lr for `step`. Returns (grad_norm, skipped); skips on a non-finite norm."""
        norm = self.grad_norm()
        if not math.isfinite(norm):
            self._skip(step, norm)
            return norm, True
        factor = 1.0 / self.loss_scale
        if self.cfg.clip_grad_norm > 0 and norm > self.cfg.clip_grad_norm:
            factor *= self.cfg.clip_grad_norm / (norm + 1e-6)
        if factor != 1.0:
            for g in self._grads():
                g.update(g * factor)
        self.optimizer.lr = self.current_lr(step)
        self.optimizer.step()
        self._grow_scale()
        return norm, False

    def current_lr(self, step: int) -> float:
        c = self.cfg
        return lr_at(step, c.lr, self.total_steps, c.warmup_steps, c.schedule, c.min_lr_ratio, c.restart_at)

    def _skip(self, step: int, norm: float) -> None:
        self.optimizer.zero_grad()
        self.skipped += 1
        self.clean_updates = 0
        if self.dynamic_scale:
            self.loss_scale = max(1.0, self.loss_scale / 2)
        print(f"step {step}: {self.name} gradient norm is {norm}; update skipped "
              f"(skipped so far: {self.skipped}, loss scale {self.loss_scale:g})", file=sys.stderr)

    def _grow_scale(self) -> None:
        self.clean_updates += 1
        if self.dynamic_scale and self.clean_updates % LOSS_SCALE_GROWTH_INTERVAL == 0:
            self.loss_scale *= 2

    def state_arrays(self) -> dict[str, np.ndarray]:
        group = self.optimizer.param_groups[0]
        arrays = {}
        for name, m, v in zip(self.params, group["m"], group["values"]):
            arrays[f"{self.name}.m.{name}"] = m.numpy()
            arrays[f"{self.name}.v.{name}"] = v.numpy()
        return arrays

    def state_scalars(self) -> dict:
        return {"updates": self.optimizer.updates, "n_step": self.optimizer.n_step,
                "loss_scale": self.loss_scale, "clean_updates": self.clean_updates, "skipped": self.skipped}

    def load_state(self, arrays: dict[str, np.ndarray], scalars: dict) -> None:
        """Restore moments (strict: every trainable parameter's m and v must be present)."""
        from lsgen.checkpoint import check_compatible  # noqa: PLC0415

        group = self.optimizer.param_groups[0]
        expected = {}
        for name, p in self.params.items():
            expected[f"{self.name}.m.{name}"] = tuple(p.shape)
            expected[f"{self.name}.v.{name}"] = tuple(p.shape)
        own = {k: a for k, a in arrays.items() if k.startswith(f"{self.name}.m.") or k.startswith(f"{self.name}.v.")}
        check_compatible(expected, own, f"optimizer state ({self.name})")
        for name, m, v in zip(self.params, group["m"], group["values"]):
            m.update(jt.array(own[f"{self.name}.m.{name}"]))
            v.update(jt.array(own[f"{self.name}.v.{name}"]))
        jt.sync(group["m"] + group["values"])  # see lsgen.checkpoint.load_module
        self.optimizer.updates = int(scalars["updates"])
        self.optimizer.n_step = int(scalars["n_step"])
        self.loss_scale = float(scalars["loss_scale"])
        self.clean_updates = int(scalars["clean_updates"])
        self.skipped = int(scalars["skipped"])
