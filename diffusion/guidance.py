"""Classifier-free guidance as a wrapper that turns a conditional model into a `denoise_fn`.

All guidance branches run as ONE batched network call: the batch is the branches stacked.
Output = Σ_i w_i · model(x, t, branch_i), with Σ w_i = 1. Classifier-free guidance
(Ho & Salimans 2022, eq. 6): ε̃ = ε(∅) + s (ε(c) - ε(∅))  ->  weights (1 - s, s).
"""
from __future__ import annotations

from typing import Callable

from lsgen.runtime import jt


def cfg_weights(scale: float) -> list[float]:
    """Weights of the branches (unconditional, conditional) for guidance scale s."""
    return [1.0 - scale, scale]


def _stack(values: list):
    """Concatenate one conditioning input over branches; None stays None (all branches None)."""
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise ValueError("a conditioning input is None in some guidance branches only")
    return jt.concat(values, dim=0)


def guided_denoise_fn(model_fn: Callable, branches: list[dict], weights: list[float]) -> Callable:
    """Build denoise_fn(x, t) = Σ_i w_i model_fn(x, t, **branches[i]) with one batched call.

    model_fn(x (K*B, ...), t (K*B,), **cond) -> (K*B, ...); every branch dict has the same keys,
    with tensors of batch B (or None). t may be an int (broadcast) or a (B,) array.
    """
    if len(branches) != len(weights):
        raise ValueError("one weight per guidance branch")
    keys = branches[0].keys()
    stacked = {k: _stack([b[k] for b in branches]) for k in keys}
    count = len(branches)

    def denoise_fn(x, t):
        batch = x.shape[0]
        t_batch = jt.full((batch * count,), int(t), dtype="int32") if isinstance(t, int) else jt.concat([t] * count)
        out = model_fn(jt.concat([x] * count, dim=0), t_batch, **stacked)
        if count == 1:
            return out
        parts = jt.chunk(out, count, dim=0)
        total = parts[0] * weights[0]
        for part, weight in zip(parts[1:], weights[1:]):
            total = total + part * weight
        return total

    return denoise_fn
