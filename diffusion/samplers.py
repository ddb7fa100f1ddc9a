"""Samplers: plain functions over `denoise_fn(x, t) -> network output` (ε or v, per schedule).

They never see a network class. `x` is an array (numpy or Jittor Var) of shape (B, C, h, w);
t is a Python int, the same for the whole batch. Every sampler takes an explicit descending
`timesteps` array from `make_timesteps`, and an optional `callback(i, n)` for progress bars.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from diffusion.schedule import NoiseSchedule

SPACINGS = ("leading", "trailing")
DenoiseFn = Callable[[object, int], object]


def make_timesteps(num_train_steps: int, num_steps: int, spacing: str = "trailing") -> np.ndarray:
    """Descending int timesteps (Lin et al. 2024, Table 2).

    leading:  (0, k, 2k, ...)[::-1] with k = T // n (DDIM's original choice; never visits T-1).
    trailing: round(T, T - T/n, ..., T/n) - 1 (starts at T-1, the step a zero-terminal-SNR model needs).
    """
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(f"steps must be in 1..{num_train_steps}, got {num_steps}")
    if spacing == "leading":
        return (np.arange(num_steps) * (num_train_steps // num_steps))[::-1].astype(np.int64)
    if spacing == "trailing":
        return (np.round(np.arange(num_train_steps, 0, -num_train_steps / num_steps)) - 1).astype(np.int64)
    raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")


def _previous(timesteps: np.ndarray, i: int) -> int:
    """The timestep after timesteps[i] in the trajectory; -1 past the last (ᾱ_{-1} = 1)."""
    return int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1


def ddim_sample(denoise_fn: DenoiseFn, schedule: NoiseSchedule, x_T, timesteps: np.ndarray, eta: float = 0.0,
                noise_fn: Callable[[object], object] | None = None, callback=None):
    """DDIM (Song et al. 2021, eq. 12). eta=0: deterministic; eta=1: DDPM-like ancestral noise.

    noise_fn(x) -> standard normal noise shaped like x (needed when eta > 0).
    """
    x = x_T
    for i, t in enumerate(timesteps):
        t, t_prev = int(t), _previous(timesteps, i)
        output = denoise_fn(x, t)
        x0 = schedule.predict_x0(x, output, t)
        eps = schedule.predict_eps(x, output, t)
        ab, ab_prev = float(schedule.alpha_bar(t)), float(schedule.alpha_bar(t_prev))
        # eq. 16: σ_t(η) = η sqrt((1-ᾱ_prev)/(1-ᾱ_t)) sqrt(1-ᾱ_t/ᾱ_prev)
        sigma = float(eta * np.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))) if eta > 0 else 0.0
        # eq. 12: x_prev = sqrt(ᾱ_prev) x0 + sqrt(1-ᾱ_prev-σ²) ε + σ z
        x = float(np.sqrt(ab_prev)) * x0 + float(np.sqrt(max(1 - ab_prev - sigma**2, 0.0))) * eps
        if sigma > 0:
            x = x + sigma * noise_fn(x)
        if callback:
            callback(i, len(timesteps))
    return x


def ddpm_sample(denoise_fn: DenoiseFn, schedule: NoiseSchedule, x_T, timesteps: np.ndarray,
                noise_fn: Callable[[object], object], callback=None):
    """Ancestral sampling from the posterior q(x_prev | x_t, x0) (DDPM eq. 6-7), on any stride.

    With stride, β'_t = 1 - ᾱ_t/ᾱ_prev replaces β_t; variance β̃ = (1-ᾱ_prev)/(1-ᾱ_t) β'_t.
    """
    x = x_T
    for i, t in enumerate(timesteps):
        t, t_prev = int(t), _previous(timesteps, i)
        output = denoise_fn(x, t)
        x0 = schedule.predict_x0(x, output, t)
        ab, ab_prev = float(schedule.alpha_bar(t)), float(schedule.alpha_bar(t_prev))
        beta = 1 - ab / ab_prev
        # eq. 7: μ̃ = sqrt(ᾱ_prev) β'/(1-ᾱ_t) x0 + sqrt(1-β') (1-ᾱ_prev)/(1-ᾱ_t) x_t
        x = float(np.sqrt(ab_prev) * beta / (1 - ab)) * x0 + float(np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)) * x
        if t_prev >= 0:
            variance = (1 - ab_prev) / (1 - ab) * beta
            x = x + float(np.sqrt(variance)) * noise_fn(x)
        if callback:
            callback(i, len(timesteps))
    return x


def dpm_solver_pp_2m(denoise_fn: DenoiseFn, schedule: NoiseSchedule, x_T, timesteps: np.ndarray, callback=None):
    """DPM-Solver++(2M), multistep, data prediction (Lu et al. 2022b, Alg. 2).

    λ_t = log(α_t/σ_t) with α_t = sqrt(ᾱ_t), σ_t = sqrt(1-ᾱ_t). The first step is first order, and
    the last step returns the denoised x0 (σ = 0 there, as in `final_sigmas_type="zero"`).
    """
    x, x0_prev, h_prev = x_T, None, None
    for i, t in enumerate(timesteps):
        t = int(t)
        x0 = schedule.predict_x0(x, denoise_fn(x, t), t)
        if i == len(timesteps) - 1:
            x = x0
        else:
            t_next = int(timesteps[i + 1])
            alpha_s, sigma_s, lam_s = _alpha_sigma_lambda(schedule, t)
            alpha_t, sigma_t, lam_t = _alpha_sigma_lambda(schedule, t_next)
            h = lam_t - lam_s
            if x0_prev is None:
                d = x0                                       # Alg. 1 (DPM-Solver++ 1, = DDIM)
            else:
                r = h_prev / h                               # Alg. 2: D = (1 + 1/2r) x0 - 1/2r x0_prev
                d = float(1 + 0.5 / r) * x0 - float(0.5 / r) * x0_prev
            x = (sigma_t / sigma_s) * x - float(alpha_t * np.expm1(-h)) * d
            x0_prev, h_prev = x0, h
        if callback:
            callback(i, len(timesteps))
    return x


def _alpha_sigma_lambda(schedule: NoiseSchedule, t: int) -> tuple[float, float, float]:
    ab = float(schedule.alpha_bar(t))
    alpha, sigma = float(np.sqrt(ab)), float(np.sqrt(1 - ab))
    return alpha, sigma, float(np.log(alpha) - np.log(sigma))


SAMPLERS = ("ddim", "ddpm", "dpm++2m")


def sample(name: str, denoise_fn: DenoiseFn, schedule: NoiseSchedule, x_T, timesteps: np.ndarray,
           noise_fn=None, eta: float = 0.0, callback=None):
    """Dispatch by sampler name (for command-line tools)."""
    if name == "ddim":
        return ddim_sample(denoise_fn, schedule, x_T, timesteps, eta, noise_fn, callback)
    if name == "ddpm":
        return ddpm_sample(denoise_fn, schedule, x_T, timesteps, noise_fn, callback)
    if name == "dpm++2m":
        return dpm_solver_pp_2m(denoise_fn, schedule, x_T, timesteps, callback)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {name!r}")
