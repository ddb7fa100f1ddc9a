"""Schedules and samplers: closed forms, x0 recovery, and equality with diffusers' schedulers."""
from __future__ import annotations

import numpy as np
import pytest

from diffusion.samplers import ddim_sample, ddpm_sample, dpm_solver_pp_2m, make_timesteps
from diffusion.schedule import NoiseSchedule, ScheduleConfig, make_betas

SHAPE = (2, 4, 6, 5)


def oracle(x, t):
    """A fixed, smooth stand-in for a network: any function of (x, t) works for equality tests."""
    return 0.3 * x + 0.05 * np.sin(x * 3.0 + t / 100.0)


def test_closed_forms():
    for kind in ("linear", "scaled_linear", "cosine", "sigmoid"):
        cfg = ScheduleConfig(beta_schedule=kind, beta_start=1e-4, beta_end=0.02)
        sched = NoiseSchedule(cfg)
        assert sched.alphas_cumprod[0] == pytest.approx(1 - sched.betas[0])
        assert np.all(np.diff(sched.alphas_cumprod) < 0)
    assert make_betas("linear", 10, 0.1, 0.2)[[0, -1]].tolist() == pytest.approx([0.1, 0.2])
    assert make_betas("scaled_linear", 3, 0.01, 0.04).tolist() == pytest.approx([0.01, 0.0225, 0.04])
    zsnr = NoiseSchedule(ScheduleConfig(zero_terminal_snr=True, prediction="v"))
    plain = NoiseSchedule(ScheduleConfig())
    assert zsnr.alphas_cumprod[-1] == 0.0
    assert zsnr.alphas_cumprod[0] == pytest.approx(plain.alphas_cumprod[0])
    with pytest.raises(ValueError, match="zero_terminal_snr needs prediction='v'"):
        ScheduleConfig(zero_terminal_snr=True)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_conversions_invert_each_other(prediction):
    sched = NoiseSchedule(ScheduleConfig(prediction=prediction))
    rng = np.random.default_rng(0)
    x0, noise = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    t = np.array([10, 900])
    x_t = sched.add_noise(x0, noise, t)
    target = sched.target(x0, noise, t)
    np.testing.assert_allclose(sched.predict_x0(x_t, target, t), x0, atol=1e-9)
    np.testing.assert_allclose(sched.predict_eps(x_t, target, t), noise, atol=1e-9)


def test_timesteps():
    assert make_timesteps(1000, 4, "leading").tolist() == [750, 500, 250, 0]
    assert make_timesteps(1000, 4, "trailing").tolist() == [999, 749, 499, 249]
    assert make_timesteps(10, 10, "trailing").tolist() == list(range(9, -1, -1))
    with pytest.raises(ValueError):
        make_timesteps(1000, 0)


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_perfect_oracle_recovers_x0(sampler):
    sched = NoiseSchedule(ScheduleConfig())
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(SHAPE)

    def perfect(x, t):  # ε exactly consistent with x0
        a, s = sched.coefficients(t, x)
        return (x - a * x0) / s

    x_T = sched.add_noise(x0, rng.standard_normal(SHAPE), 999)
    steps = make_timesteps(1000, 10, "trailing")
    run = ddim_sample if sampler == "ddim" else dpm_solver_pp_2m
    np.testing.assert_allclose(run(perfect, sched, x_T, steps), x0, atol=1e-6)


def test_ddpm_is_ddim_with_eta_one():
    sched = NoiseSchedule(ScheduleConfig())
    steps = make_timesteps(1000, 8, "leading")
    x_T = np.random.default_rng(2).standard_normal(SHAPE)

    def noises(seed):
        rng = np.random.default_rng(seed)
        return lambda x: rng.standard_normal(x.shape)

    a = ddpm_sample(oracle, sched, x_T, steps, noises(3))
    b = ddim_sample(oracle, sched, x_T, steps, eta=1.0, noise_fn=noises(3))
    np.testing.assert_allclose(a, b, atol=1e-10)


torch = pytest.importorskip("torch", reason="torch (test extra) is the reference for sampler equality")
diffusers = pytest.importorskip("diffusers", reason="diffusers (test extra) is the sampler oracle")


def _reference(scheduler, x_T, prediction):
    x = torch.from_numpy(x_T.astype(np.float32))
    for t in scheduler.timesteps:
        x = scheduler.step(torch.from_numpy(oracle(x.numpy().astype(np.float64), int(t)).astype(np.float32)),
                           t, x).prev_sample
    return x.numpy()


COMMON = dict(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_equals_diffusers(prediction, spacing):
    ref = diffusers.DDIMScheduler(**COMMON, prediction_type=("v_prediction" if prediction == "v" else prediction),
                                  timestep_spacing=spacing, set_alpha_to_one=True, steps_offset=0, clip_sample=False)
    ref.set_timesteps(20)
    ours_steps = make_timesteps(1000, 20, spacing)
    np.testing.assert_array_equal(ref.timesteps.numpy(), ours_steps)
    sched = NoiseSchedule(ScheduleConfig(prediction=prediction))
    x_T = np.random.default_rng(4).standard_normal(SHAPE)
    ours = ddim_sample(oracle, sched, x_T.astype(np.float64), ours_steps)
    np.testing.assert_allclose(ours, _reference(ref, x_T, prediction), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_dpm_solver_pp_2m_equals_diffusers(prediction, spacing):
    ref = diffusers.DPMSolverMultistepScheduler(
        **COMMON, prediction_type=("v_prediction" if prediction == "v" else prediction), timestep_spacing=spacing,
        algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", lower_order_final=True,
        final_sigmas_type="zero", steps_offset=0)
    ref.set_timesteps(12)
    steps = ref.timesteps.numpy().astype(np.int64)
    if spacing == "trailing":
        np.testing.assert_array_equal(steps, make_timesteps(1000, 12, "trailing"))
    sched = NoiseSchedule(ScheduleConfig(prediction=prediction))
    x_T = np.random.default_rng(5).standard_normal(SHAPE)
    ours = dpm_solver_pp_2m(oracle, sched, x_T.astype(np.float64), steps)
    np.testing.assert_allclose(ours, _reference(ref, x_T, prediction), atol=1e-5, rtol=1e-5)
