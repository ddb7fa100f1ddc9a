"""lsgen.ops: the fused CPU kernels equal their plain formulations (values and gradients), the
switch really selects the plain path, the UNet and VAE give the same outputs and gradients either
way, and (when torch is installed) the benchmark's PyTorch twins agree with our networks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lsgen import ops
from lsgen.runtime import jt

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_fast():
    was = ops._state["fast"]
    yield
    ops.set_fast(was)


def _run_both(fn_fast, fn_plain, arrays, extra_params=()):
    """[(output, grads of a random projection w.r.t. inputs + extra_params)] for fast and plain."""
    rng = np.random.default_rng(7)
    results, proj = [], None
    for fast, fn in ((True, fn_fast), (False, fn_plain)):
        ops.set_fast(fast)
        inputs = [jt.array(a) for a in arrays]
        out = fn(*inputs)
        if proj is None:
            proj = rng.standard_normal(out.shape).astype(np.float32)
        grads = jt.grad((out * jt.array(proj)).sum(), inputs + list(extra_params))
        results.append((out.numpy(), [g.numpy() for g in grads]))
    return results


def _assert_close(results, tol=2e-5):
    (out_f, g_f), (out_p, g_p) = results
    np.testing.assert_allclose(out_f, out_p, rtol=tol, atol=tol * np.abs(out_p).max())
    for a, b in zip(g_f, g_p):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(np.abs(b).max(), 1e-6))


def _group_norm(groups, channels, eps=1e-5, seed=0):
    norm = jt.nn.GroupNorm(groups, channels, eps=eps)
    rng = np.random.default_rng(seed)
    norm.weight.assign(jt.array(rng.normal(1, 0.5, channels).astype(np.float32)))
    norm.bias.assign(jt.array(rng.normal(0, 0.5, channels).astype(np.float32)))
    return norm


@pytest.mark.parametrize("silu", [False, True])
@pytest.mark.parametrize("shape,groups,eps", [((2, 8, 5, 7), 4, 1e-5), ((3, 12, 9, 4), 3, 1e-6)])
def test_group_norm_equals_plain(shape, groups, eps, silu):
    norm = _group_norm(groups, shape[1], eps)
    x = np.random.default_rng(1).normal(2.0, 3.0, shape).astype(np.float32)  # offset mean: stats matter
    results = _run_both(lambda v: ops.group_norm(v, norm, silu), lambda v: ops.group_norm_plain(v, norm, silu),
                        [x], [norm.weight, norm.bias])
    _assert_close(results)
    assert len(results[0][1]) == 3  # dx, dweight, dbias all compared


@pytest.mark.parametrize("silu", [False, True])
def test_group_norm_modulate_equals_plain(silu):
    norm = jt.nn.GroupNorm(2, 6, affine=False)
    rng = np.random.default_rng(2)
    x, gamma, beta = (rng.normal(0.5, 2.0, (2, 6, 6, 5)).astype(np.float32) for _ in range(3))
    _assert_close(_run_both(lambda *v: ops.group_norm_modulate(*v[:1], norm, *v[1:], silu),
                            lambda *v: ops.group_norm_modulate_plain(*v[:1], norm, *v[1:], silu), [x, gamma, beta]))


@pytest.mark.parametrize("heads,n,m", [(1, 9, 9), (2, 12, 5), (4, 7, 16)])
def test_attention_equals_plain(heads, n, m):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, n, 8)).astype(np.float32)
    k, v = (rng.standard_normal((2, m, 8)).astype(np.float32) for _ in range(2))
    _assert_close(_run_both(lambda *a: ops.attention(*a, heads), lambda *a: ops.attention_plain(*a, heads), [q, k, v]))


def test_attention_channels_first_equals_plain():
    rng = np.random.default_rng(4)
    q = rng.standard_normal((2, 8, 10)).astype(np.float32)
    k, v = (rng.standard_normal((2, 8, 6)).astype(np.float32) for _ in range(2))
    _assert_close(_run_both(ops.attention_channels_first, ops.attention_channels_first_plain, [q, k, v]))


def test_switch_selects_plain_path():
    norm = _group_norm(2, 4)
    x = jt.array(np.random.default_rng(5).standard_normal((1, 4, 3, 3)).astype(np.float32))
    ops.set_fast(False)
    assert not ops.fast_enabled()
    np.testing.assert_array_equal(ops.group_norm(x, norm, True).numpy(), jt.nn.silu(norm(x)).numpy())
    ops.set_fast(True)
    assert ops.fast_enabled() == (not jt.flags.use_cuda)


def _model_config(kind: str):
    from lsgen.config import from_dict  # noqa: PLC0415

    raw = json.loads((REPO / "configs" / kind / "tiny.json").read_text())["model"]
    if kind == "unet":
        from diffusion.unet import UNetConfig  # noqa: PLC0415
        return from_dict(UNetConfig, raw)
    from vae.model import VAEConfig  # noqa: PLC0415
    return from_dict(VAEConfig, raw)


def _perturb(module, seed=0):
    """Non-zero weights everywhere (zero-initialised output layers would hide differences)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.assign(p + jt.array(0.05 * rng.standard_normal(p.shape).astype(np.float32)))


def test_unet_fast_equals_plain():
    from diffusion.unet import UNet  # noqa: PLC0415

    unet = UNet(_model_config("unet"))
    _perturb(unet)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    mask = np.eye(29, dtype=np.float32)[rng.integers(0, 29, (2, 16, 16))].transpose(0, 3, 1, 2).copy()
    ref = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    t = jt.array(np.array([5, 900], np.int32))

    def run(xv, mv, rv):
        tokens, glob = unet.encode_ref(rv)
        return unet(xv, t, mask_onehot=mv, ref_tokens=tokens, ref_global=glob)
    _assert_close(_run_both(run, run, [x, mask, ref], unet.parameters()), tol=1e-4)


def test_vae_fast_equals_plain():
    from vae.model import AutoencoderKL  # noqa: PLC0415

    vae = AutoencoderKL(_model_config("vae"))
    _perturb(vae)
    images = np.random.default_rng(8).uniform(-1, 1, (2, 3, 16, 24)).astype(np.float32)

    def run(v):
        return vae.decode(vae.encode(v).mode())
    _assert_close(_run_both(run, run, [images], vae.parameters()), tol=1e-4)


def test_torch_twin_of_unet_agrees():
    pytest.importorskip("torch", reason="torch (benchmark extra `ref`) not installed")
    from benchmarks import torch_mirror, unet_vs_torch as bench  # noqa: PLC0415

    cfg = bench.model_config("tiny")
    arrays = bench.make_inputs(cfg, 8, 8, 2)
    unet = bench.build_jittor(cfg)
    model = torch_mirror.UNet(cfg)
    torch_mirror.copy_weights(unet, model)
    errors = bench.assert_equal(bench.JittorRunner(unet, arrays), bench.TorchRunner(model, arrays, False))
    assert max(errors.values()) < 1e-3


def test_torch_twin_of_vae_agrees():
    pytest.importorskip("torch", reason="torch (benchmark extra `ref`) not installed")
    from benchmarks import torch_mirror, vae_vs_torch as bench  # noqa: PLC0415

    cfg = bench.model_config("tiny")
    vae = bench.build_jittor(cfg)
    model = torch_mirror.AutoencoderKL(cfg)
    torch_mirror.copy_weights(vae, model)
    arrays = bench.make_inputs(cfg, 32, 32, 2)
    errors = bench.assert_equal(bench.JittorRunner(vae, arrays), bench.TorchRunner(model, arrays, False))
    assert max(errors.values()) < 1e-3
