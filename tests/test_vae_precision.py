"""fp16 training of the VAE task: the dynamic loss scale of lsgen's Updater, exercised through the
VAE's own phases on CPU (fp32 compute; only the scaler's logic is tested, not fp16 kernels)."""
from __future__ import annotations

import numpy as np

from conftest import REPO
from lsgen.config import build_sections, read_json
from lsgen.runtime import jt
from lsgen.train.optim import LOSS_SCALE_INIT
from vae.train import SECTIONS, make_task


def tiny_sections(precision: str):
    raw = read_json(REPO / "configs/vae/tiny.json")
    raw["train"].update(precision=precision, steps=10)
    raw["loss"].update(disc_start=0)
    raw["data"].update(width=32, height=24)
    return build_sections(raw, SECTIONS)


def weights(module) -> dict:
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def test_fp16_scaler_skips_overflow_then_matches_fp32_update():
    fp16, fp32 = make_task(tiny_sections("fp16")), make_task(tiny_sections("fp32"))
    assert [p.updater.loss_scale for p in fp16.phases] == [LOSS_SCALE_INIT, LOSS_SCALE_INIT]
    assert [p.updater.loss_scale for p in fp32.phases] == [1.0, 1.0]
    images = np.random.default_rng(0).uniform(-1, 1, (2, 3, 24, 32)).astype(np.float32)
    broken = images.copy()
    broken[0, 0, 0, 0] = np.inf

    vae = fp16.phases[0]
    before = weights(fp16.model)
    vae.updater.backward(vae.loss_fn({"image": jt.array(broken)}, 0)["loss"])
    norm, skipped = vae.updater.apply(0)
    assert skipped and not np.isfinite(norm) and vae.updater.loss_scale == LOSS_SCALE_INIT / 2
    for key, value in weights(fp16.model).items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)

    for task in (fp16, fp32):  # same init (seeded), same clean batch: same update after unscaling
        jt.set_global_seed(5)  # same posterior sample in both
        phase = task.phases[0]
        phase.updater.backward(phase.loss_fn({"image": jt.array(images)}, 1)["loss"])
        assert not phase.updater.apply(1)[1]
    a, b = weights(fp16.model), weights(fp32.model)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert vae.updater.skipped == 1 and vae.updater.clean_updates == 1

