"""Noise schedules as numpy arrays, and the conversions between x0, ε and v.

Notation (DDPM, Ho et al. 2020): β_t, α_t = 1 - β_t, ᾱ_t = Π_{s<=t} α_s, for t = 0 .. T-1.
    x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε                       (DDPM eq. 4)
    v   = sqrt(ᾱ_t) ε - sqrt(1 - ᾱ_t) x0                       (Salimans & Ho 2022, §4)
The network never sees this object; samplers and training losses use it.
Functions accept numpy arrays or Jittor Vars for x; t is an int or an int array of shape (B,).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")
PREDICTIONS = ("epsilon", "v")


def make_betas(kind: str, num_steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """β_0..β_{T-1} (float64). kinds: linear (DDPM), scaled_linear (LDM/SD: linear in sqrt β),
    cosine (Nichol & Dhariwal 2021, eq. 17, β capped at 0.999), sigmoid (GeoDiff, Xu et al. 2022)."""
    if kind == "linear":
        return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)
    if kind == "scaled_linear":
        return np.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=np.float64) ** 2
    if kind == "cosine":
        def alpha_bar(u):
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
                         for i in range(num_steps)], dtype=np.float64)
    if kind == "sigmoid":
        sig = 1.0 / (1.0 + np.exp(-np.linspace(-6, 6, num_steps, dtype=np.float64)))
        return sig * (beta_end - beta_start) + beta_start
    raise ValueError(f"beta schedule must be one of {BETA_SCHEDULES}, got {kind!r}")


def rescale_zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    """Shift and scale sqrt(ᾱ) so that ᾱ_{T-1} = 0 and ᾱ_0 is kept (Lin et al. 2024, Alg. 1)."""
    sqrt_ab = np.sqrt(np.cumprod(1.0 - betas))
    first, last = sqrt_ab[0], sqrt_ab[-1]
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alphas_cumprod = sqrt_ab**2
    alphas = np.concatenate([alphas_cumprod[:1], alphas_cumprod[1:] / alphas_cumprod[:-1]])
    return 1.0 - alphas


@dataclass(frozen=True)
class ScheduleConfig:
    """How a diffusion model was trained; saved in its checkpoint config."""
    num_train_steps: int = 1000
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    zero_terminal_snr: bool = False
    prediction: str = "epsilon"        # epsilon | v

    def __post_init__(self):
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if self.zero_terminal_snr and self.prediction == "epsilon":
            raise ValueError("zero_terminal_snr needs prediction='v' (ε is undefined at ᾱ=0)")


class NoiseSchedule:
    """ᾱ_t and the x0/ε/v conversions of one ScheduleConfig (all arrays float64 numpy)."""

    def __init__(self, cfg: ScheduleConfig):
        self.cfg = cfg
        betas = make_betas(cfg.beta_schedule, cfg.num_train_steps, cfg.beta_start, cfg.beta_end)
        if cfg.zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas
        self.alphas_cumprod = np.cumprod(1.0 - betas)
        self.num_steps = cfg.num_train_steps

    def alpha_bar(self, t) -> np.ndarray:
        """ᾱ_t; t = -1 means 'before the first step' (ᾱ = 1)."""
        t = np.asarray(t)
        return np.where(t >= 0, self.alphas_cumprod[np.clip(t, 0, None)], 1.0)

    def coefficients(self, t, like) -> tuple:
        """(sqrt(ᾱ_t), sqrt(1-ᾱ_t)) shaped to broadcast against `like` (B, ...) or scalars.

        t may be a Jittor int Var (B,) (training: gathered on the device, no sync).
        """
        if not isinstance(t, (int, np.integer, np.ndarray)):
            return self._gather(t, like)
        ab = self.alpha_bar(t)
        a, s = np.sqrt(ab), np.sqrt(1.0 - ab)
        if np.ndim(ab):
            shape = (-1,) + (1,) * (len(like.shape) - 1)
            a, s = a.reshape(shape), s.reshape(shape)
        return _as(a, like), _as(s, like)

    def _gather(self, t, like) -> tuple:
        from lsgen.runtime import jt  # noqa: PLC0415

        if getattr(self, "_tables", None) is None:
            self._tables = (jt.array(np.sqrt(self.alphas_cumprod).astype(np.float32)).stop_grad(),
                            jt.array(np.sqrt(1 - self.alphas_cumprod).astype(np.float32)).stop_grad())
        shape = (-1,) + (1,) * (len(like.shape) - 1)
        return self._tables[0][t].reshape(shape), self._tables[1][t].reshape(shape)

    def add_noise(self, x0, noise, t):
        """x_t = sqrt(ᾱ_t) x0 + sqrt(1-ᾱ_t) ε (DDPM eq. 4)."""
        a, s = self.coefficients(t, x0)
        return a * x0 + s * noise

    def velocity(self, x0, noise, t):
        """v = sqrt(ᾱ_t) ε - sqrt(1-ᾱ_t) x0 (Salimans & Ho 2022)."""
        a, s = self.coefficients(t, x0)
        return a * noise - s * x0

    def target(self, x0, noise, t):
        """What the network is trained to output: ε or v, by the config's prediction type."""
        return noise if self.cfg.prediction == "epsilon" else self.velocity(x0, noise, t)

    def predict_x0(self, x_t, output, t):
        """x0 from the network output: ε: (x_t - sqrt(1-ᾱ)ε)/sqrt(ᾱ); v: sqrt(ᾱ)x_t - sqrt(1-ᾱ)v."""
        a, s = self.coefficients(t, x_t)
        if self.cfg.prediction == "epsilon":
            return (x_t - s * output) / a
        return a * x_t - s * output

    def predict_eps(self, x_t, output, t):
        """ε from the network output: ε itself, or sqrt(1-ᾱ)x_t + sqrt(ᾱ)v for v-prediction."""
        if self.cfg.prediction == "epsilon":
            return output
        a, s = self.coefficients(t, x_t)
        return s * x_t + a * output


def _as(value: np.ndarray, like):
    """A coefficient for `like`: a Python float for scalar t, else an array of like's kind."""
    if np.ndim(value) == 0:
        return float(value)
    if isinstance(like, np.ndarray):
        return value.astype(like.dtype)
    from lsgen.runtime import jt  # noqa: PLC0415 - numpy users of the schedule need no Jittor

    return jt.array(np.asarray(value, dtype=np.float32))
