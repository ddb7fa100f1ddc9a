"""Learning-rate schedules as pure functions of the global (update) step."""
from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "linear")


def lr_at(step: int, base_lr: float, total_steps: int, warmup_steps: int = 0,
          schedule: str = "cosine", min_ratio: float = 0.0, restart_at: int = 0) -> float:
    """Learning rate for update `step` (0-based): linear warm-up, then constant/cosine/linear decay.

    Warm-up goes from base_lr/warmup_steps to base_lr over `warmup_steps` updates; decay ends at
    base_lr*min_ratio at `total_steps` (cosine as in SGDR, Loshchilov & Hutter 2017, eq. 5).
    restart_at > 0: the schedule decays to `restart_at` instead, and from there restarts at base_lr
    (no warm-up) and decays again to `total_steps` (a warm restart, SGDR; LGGAN's second stage).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if 0 < restart_at < total_steps:
        if step >= restart_at:
            return lr_at(step - restart_at, base_lr, total_steps - restart_at, 0, schedule, min_ratio)
        total_steps = restart_at
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return base_lr
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        factor = 1.0 - progress
    return base_lr * (min_ratio + (1.0 - min_ratio) * factor)
