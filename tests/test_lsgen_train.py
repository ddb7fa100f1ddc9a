"""Training utilities: AdamW math, accumulation, clipping, NaN guard, freezing, EMA, schedules,
loss scaling, and a resumed run that is bit-identical to an uninterrupted one."""
from __future__ import annotations

import math

import numpy as np
import pytest
from toy_task import ToyDataset, ToyNet, make_task

from lsgen.checkpoint import read_arrays
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt
from lsgen.train.ema import EMA
from lsgen.train.loop import TrainConfig, run_training
from lsgen.train.optim import LOSS_SCALE_INIT, OptimConfig, Updater
from lsgen.train.schedules import lr_at


def param_arrays(net) -> dict:
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def toy_loss(net, x, y):
    return ((net(jt.array(x)) - jt.array(y)) ** 2).mean()


def test_lr_schedules():
    assert lr_at(0, 1.0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 100, warmup_steps=10) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 110, warmup_steps=10, schedule="cosine") == pytest.approx(1.0)
    assert lr_at(60, 1.0, 110, warmup_steps=10, schedule="cosine") == pytest.approx(0.5)
    assert lr_at(110, 1.0, 110, warmup_steps=10, schedule="cosine", min_ratio=0.1) == pytest.approx(0.1)
    assert lr_at(60, 1.0, 110, warmup_steps=10, schedule="linear") == pytest.approx(0.5)
    assert lr_at(99, 2.0, 100, schedule="constant") == 2.0
    with pytest.raises(ValueError):
        lr_at(0, 1.0, 10, schedule="step")


def test_lr_warm_restart_decays_twice():
    """restart_at: decay to the restart over [0, restart), then from base lr again to the end."""
    kw = dict(schedule="linear", restart_at=60)
    assert lr_at(0, 1.0, 100, **kw) == pytest.approx(1.0)
    assert lr_at(30, 1.0, 100, **kw) == pytest.approx(0.5)
    assert lr_at(60, 1.0, 100, **kw) == pytest.approx(1.0)
    assert lr_at(80, 1.0, 100, **kw) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 100, **kw) == pytest.approx(0.0)
    assert lr_at(30, 1.0, 100, schedule="linear", restart_at=0) == pytest.approx(0.7)


def test_adamw_matches_numpy_reference():
    jt.set_global_seed(0)
    w = jt.array(np.array([0.5, -1.0, 2.0], np.float32))
    target = np.array([1.0, 1.0, 1.0], np.float32)
    cfg = OptimConfig(lr=0.1, schedule="constant", weight_decay=0.01, beta1=0.9, beta2=0.99, eps=1e-8)
    updater = Updater({"w": w}, cfg, total_steps=10)
    ref, m, v = w.numpy().astype(np.float64), 0.0, 0.0
    for step in range(3):
        updater.backward(((w - jt.array(target)) ** 2).sum())
        updater.apply(step)
        g = 2 * (ref - target)
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        ref = ref * (1 - 0.1 * 0.01) - 0.1 * math.sqrt(1 - 0.99 ** (step + 1)) / (1 - 0.9 ** (step + 1)) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-5)
    assert updater.optimizer.updates == 3


def test_accumulation_equals_one_big_batch():
    data = ToyDataset(n=8)
    results = []
    for accum in (1, 4):
        jt.set_global_seed(0)
        net = ToyNet()
        updater = Updater(dict(net.state_dict()), OptimConfig(lr=1e-2, schedule="constant"), 5, grad_accum=accum)
        for step in range(2):
            for part in np.split(np.arange(8), accum):
                updater.backward(toy_loss(net, data.x[part], data.y[part]))
            updater.apply(step)
        results.append(param_arrays(net))
        assert updater.optimizer.updates == 2 and updater.optimizer.n_step == 2 * accum
    for key in results[0]:
        np.testing.assert_allclose(results[0][key], results[1][key], rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_update_norm():
    w = jt.array(np.zeros(4, np.float32))
    updater = Updater({"w": w}, OptimConfig(lr=1.0, clip_grad_norm=0.5, schedule="constant"), 10)
    updater.backward((w * jt.array(np.array([30.0, 40.0, 0, 0], np.float32))).sum())
    norm, skipped = updater.apply(0)
    assert norm == pytest.approx(50.0) and not skipped
    np.testing.assert_allclose(np.linalg.norm(updater._grads()[0].numpy()), 0.5, rtol=1e-5)
    np.testing.assert_allclose(updater.optimizer.param_groups[0]["m"][0].numpy(), [0.03, 0.04, 0, 0], rtol=1e-4)


def test_nan_guard_skips_update_and_keeps_weights(capsys):
    jt.set_global_seed(0)
    net = ToyNet()
    before = param_arrays(net)
    updater = Updater(dict(net.state_dict()), OptimConfig(lr=1e-2), 10)
    updater.backward(toy_loss(net, ToyDataset().x[:2], ToyDataset().y[:2]) * float("nan"))
    norm, skipped = updater.apply(0)
    assert skipped and not math.isfinite(norm) and updater.skipped == 1
    assert "update skipped" in capsys.readouterr().err
    for key, value in param_arrays(net).items():
        np.testing.assert_array_equal(value, before[key])
    updater.backward(toy_loss(net, ToyDataset().x[:2], ToyDataset().y[:2]))
    assert not updater.apply(1)[1] and updater.optimizer.updates == 1


def test_frozen_parameters_stay_bit_identical():
    jt.set_global_seed(0)
    net = ToyNet()
    for p in net.conv1.parameters():
        p.stop_grad()
    frozen = {k: v for k, v in param_arrays(net).items() if k.startswith("conv1")}
    updater = Updater(dict(net.state_dict()), OptimConfig(lr=0.1, weight_decay=0.1), 10)
    assert sorted(updater.params) == ["conv2.bias", "conv2.weight"]
    for step in range(3):
        updater.backward(toy_loss(net, ToyDataset().x[:4], ToyDataset().y[:4]))
        updater.apply(step)
    after = param_arrays(net)
    for key, value in frozen.items():
        np.testing.assert_array_equal(after[key], value)
    assert not np.array_equal(after["conv2.weight"], ToyNet().conv2.weight.numpy())
    with pytest.raises(ValueError, match="no trainable parameters"):
        Updater({k: v for k, v in net.state_dict().items() if k.startswith("conv1")}, OptimConfig(), 1)


def test_fp16_loss_scale_halves_on_overflow_and_grows_back():
    w = jt.array(np.ones(2, np.float32))
    updater = Updater({"w": w}, OptimConfig(lr=0.1, schedule="constant"), 10, precision="fp16")
    assert updater.loss_scale == LOSS_SCALE_INIT
    updater.backward((w * float("inf")).sum())
    assert updater.apply(0)[1] and updater.loss_scale == LOSS_SCALE_INIT / 2
    updater.backward((w * 3.0).sum())
    norm, skipped = updater.apply(1)
    assert not skipped and norm == pytest.approx(3 * math.sqrt(2), rel=1e-5)  # unscaled gradient
    np.testing.assert_allclose(updater.optimizer.param_groups[0]["m"][0].numpy(), [0.3, 0.3], rtol=1e-5)
    updater.clean_updates = 1999
    updater._grow_scale()
    assert updater.loss_scale == LOSS_SCALE_INIT


def test_ema_matches_closed_form():
    jt.set_global_seed(0)
    net = ToyNet()
    ema = EMA(net, decay=0.5)
    start = net.conv1.bias.numpy().copy()
    net.conv1.bias.update(jt.ones_like(net.conv1.bias))
    ema.update(net)  # decay warms up: min(0.5, 1/10) = 0.1
    np.testing.assert_allclose(ema.shadow["conv1.bias"].numpy(), 0.1 * start + 0.9, rtol=1e-6)
    target = ToyNet()
    ema.copy_to(target)
    np.testing.assert_allclose(target.conv1.bias.numpy(), 0.1 * start + 0.9, rtol=1e-6)


def _run(run_dir, steps, resume=False):
    cfg = TrainConfig(steps=steps, batch_size=8, grad_accum=2, log_every=3, save_every=4, ema_decay=0.9)
    total = TrainConfig(steps=12, batch_size=8, grad_accum=2)  # same lr schedule for both runs
    task = make_task(total, dropout=0.2, clip=1.0)
    return run_training(task, cfg, BatchLoader(ToyDataset(), 8, seed=5), run_dir, resume=resume, progress=False)


def test_resume_is_bit_exact(tmp_path):
    full = _run(tmp_path / "full", 12)
    _run(tmp_path / "split", 8)
    resumed = _run(tmp_path / "split", 12, resume=True)
    a, b = read_arrays(full), read_arrays(resumed)
    assert sorted(a) == sorted(b) and any(k.startswith("ema.") for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    log = (tmp_path / "full" / "log.jsonl").read_text().splitlines()
    assert len(log) == 4 and '"model/loss"' in log[0]
    losses = [float(line.split('"model/loss": ')[1].split(",")[0].rstrip("}")) for line in log]
    assert losses[-1] < losses[0]
    assert sorted(p.name for p in (tmp_path / "full").glob("step*.safetensors")) == [
        "step0000008.safetensors", "step0000008.state.safetensors",
        "step0000012.safetensors", "step0000012.state.safetensors"]
