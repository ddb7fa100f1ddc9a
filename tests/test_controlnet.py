"""ControlNet and LoRA: identity at init, merge/unmerge, a base UNet that stays bit-identical
while adapters train, adapter files (size, strict loading, wrong base), the scripts end to end."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import H, W, run_script

from controlnet.controlnet import ControlNet, ControlNetConfig, edge_map, load_controlnet
from controlnet.lora import LoRA, LoRAConfig, adapter_bytes, load_lora, save_lora
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.train import CondConfig, denoising_loss
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import to_dict
from lsgen.runtime import jt
from lsgen.train.optim import OptimConfig, Updater

CFG = UNetConfig(in_channels=4, out_channels=4, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                 attention_levels=(1,), num_heads=2, groups=4, spade_hidden=8, ref_dim=8)


def perturbed_unet(seed=0):
    jt.set_global_seed(seed)
    unet = UNet(CFG)
    for p in unet.parameters():
        p.assign(p + jt.randn(p.shape) * 0.05)
    return unet


def inputs(b=2, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 29, size=(b, 48, 64))
    return dict(x=jt.array(rng.standard_normal((b, 4, 6, 8)).astype(np.float32)),
                t=jt.array(np.array([10, 700][:b], np.int32)),
                mask=jt.array(np.moveaxis(np.eye(29, dtype=np.float32)[ids], -1, 1)),
                ref=jt.array(rng.uniform(-1, 1, (b, 3, 48, 64)).astype(np.float32)))


def run(unet, d, control=None):
    tokens, glob = unet.encode_ref(d["ref"])
    return unet(d["x"], d["t"], mask_onehot=d["mask"], ref_tokens=tokens, ref_global=glob, control=control).numpy()


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.5])
def test_fresh_controlnet_is_identity(scale):
    unet, d = perturbed_unet(), inputs()
    controlnet = ControlNet(CFG, ControlNetConfig(control="mask"))
    controlnet.load_from_unet(unet)
    tokens, glob = unet.encode_ref(d["ref"])
    residuals = controlnet(d["x"], d["t"], d["mask"], mask_onehot=d["mask"], ref_tokens=tokens, ref_global=glob, scale=scale)
    assert len(residuals) == len(unet.down) + 2
    np.testing.assert_array_equal(run(unet, d, residuals), run(unet, d))
    np.testing.assert_array_equal(controlnet.conv_in.weight.numpy(), unet.conv_in.weight.numpy())


def test_mask_controlnet_is_dropped_with_the_mask():
    """mask_keep = 0 (CFG's mask-free branch, mask dropout): a trained mask ControlNet adds nothing,
    so that branch is the base's; mask_keep = 1: its residuals are used, scaled."""
    unet, d = perturbed_unet(), inputs()
    jt.set_global_seed(3)
    controlnet = ControlNet(CFG, ControlNetConfig(control="mask"))
    for p in controlnet.parameters():   # "trained": the zero convs are no longer zero
        p.assign(p + jt.randn(p.shape) * 0.05)
    tokens, glob = unet.encode_ref(d["ref"])
    keep = jt.array(np.array([0.0, 1.0], np.float32))
    kwargs = dict(mask_onehot=d["mask"], ref_tokens=tokens, ref_global=glob)
    gated = controlnet(d["x"], d["t"], d["mask"], mask_keep=keep, scale=2.0, **kwargs)
    plain = controlnet(d["x"], d["t"], d["mask"], scale=2.0, **kwargs)
    for g, p in zip(gated, plain):
        assert np.abs(p.numpy()[1]).max() > 0
        np.testing.assert_array_equal(g.numpy()[0], 0.0)
        np.testing.assert_allclose(g.numpy()[1], p.numpy()[1], rtol=1e-6)
    edges = ControlNet(CFG, ControlNetConfig(control="edges"))
    for p in edges.parameters():
        p.assign(p + jt.randn(p.shape) * 0.05)
    edge_image = jt.array(np.random.default_rng(0).uniform(0, 1, (2, 1, 48, 64)).astype(np.float32))
    kept = edges(d["x"], d["t"], edge_image, mask_keep=keep, **kwargs)
    assert all(np.abs(r.numpy()[0]).max() > 0 for r in kept)    # edges are not the mask: kept


def test_fresh_lora_is_identity_and_merge_round_trips():
    unet, d = perturbed_unet(), inputs()
    base = {k: v.numpy().copy() for k, v in unet.state_dict().items()}
    plain = run(unet, d)
    lora = LoRA(unet, LoRAConfig(rank=2, alpha=4.0, targets=("attn", "res_conv")))
    lora.attach()
    np.testing.assert_array_equal(run(unet, d), plain)
    for layer in lora.layers().values():  # a "trained" adapter
        layer.up.weight.assign(jt.randn(layer.up.weight.shape) * 0.1)
    adapted = run(unet, d)
    assert np.abs(adapted - plain).max() > 1e-3
    lora.merge()
    np.testing.assert_allclose(run(unet, d), adapted, rtol=1e-4, atol=1e-5)
    lora.unmerge()
    for key, value in unet.state_dict().items():
        np.testing.assert_allclose(value.numpy(), base[key], atol=1e-6, err_msg=key)
    np.testing.assert_allclose(run(unet, d), adapted, rtol=1e-4, atol=1e-5)
    lora.detach()
    np.testing.assert_allclose(run(unet, d), plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("adapter", ["controlnet", "lora"])
def test_base_stays_bit_identical_while_adapter_trains(adapter):
    unet, d = perturbed_unet(), inputs()
    for p in unet.parameters():
        p.stop_grad()
    before = {k: v.numpy().copy() for k, v in unet.state_dict().items()}
    schedule = NoiseSchedule(ScheduleConfig())
    control_fn = None
    if adapter == "controlnet":
        model = ControlNet(CFG, ControlNetConfig())
        model.load_from_unet(unet)

        def control_fn(x_t, t, batch, **cond):
            return model(x_t, t, batch["mask_onehot"], **cond)
    else:
        model = LoRA(unet, LoRAConfig(rank=2))
        model.attach()
    adapter_before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    updater = Updater(dict(model.state_dict()), OptimConfig(lr=1e-2, weight_decay=0.1), 10)
    batch = {"latents": d["x"], "mask_onehot": d["mask"], "ref_image": d["ref"]}
    for step in range(3):
        updater.backward(denoising_loss(unet, schedule, batch, CondConfig(), control_fn)["loss"])
        updater.apply(step)
    for key, value in unet.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
    assert any(not np.array_equal(v.numpy(), adapter_before[k]) for k, v in model.state_dict().items())
    if adapter == "lora":
        model.detach()


def test_lora_file_small_strict_and_tied_to_its_base(tmp_path):
    unet = perturbed_unet()
    meta = {"kind": "unet", "config": {"unet": to_dict(CFG)}}
    lora = LoRA(unet, LoRAConfig(rank=4))
    path = tmp_path / "style.safetensors"
    save_lora(path, lora, meta)
    assert path.stat().st_size < adapter_bytes(lora) + 8192
    loaded = load_lora(path, perturbed_unet(1), meta)
    loaded.detach()
    other = UNetConfig(**{**to_dict(CFG), "channel_mult": (1, 1), "attention_levels": (1,)})
    with pytest.raises(ckpt.CheckpointError, match="different base UNet"):
        load_lora(path, UNet(other), {"kind": "unet", "config": {"unet": to_dict(other)}})
    arrays = ckpt.read_arrays(path)
    first = sorted(arrays)[0]
    arrays[first] = np.zeros((1, 1), np.float32)
    bad = tmp_path / "bad.safetensors"
    ckpt.save_weights(bad, arrays, "lora", ckpt.read_metadata(path)["config"], 0)
    with pytest.raises(ckpt.CheckpointError, match="shape mismatches"):
        load_lora(bad, perturbed_unet(), meta)


def test_edge_map():
    image = np.zeros((16, 20, 3), np.uint8)
    image[:, 10:] = 255
    edges = edge_map(image)
    assert edges.shape == (1, 16, 20) and edges.max() == pytest.approx(1.0)
    assert edges[0, :, 9:11].min() > 0.5 and edges[0, :, :7].max() == 0


def test_adapter_scripts_end_to_end(tiny_unet_run, tmp_path):
    run, data = tiny_unet_run
    root = run.parent
    common = ["--base", str(run / "unet.safetensors"), "--steps", "4", "--batch-size", "4", "--no-progress",
              "--set", f'data.vae="{root / "vae.safetensors"}"', f'data.train_cache="{root / "train.safetensors"}"']
    for kind in ("controlnet", "lora"):
        result = run_script(f"scripts/train_{kind}.py", "--config", f"configs/{kind}/tiny.json",
                            "--out", str(tmp_path / kind), *common)
        assert result.returncode == 0, result.stderr[-2000:]
        assert ckpt.read_metadata(tmp_path / kind / f"{kind}.safetensors")["kind"] == kind
    mask = sorted((data / "test/labels").glob("*.png"))[0]
    result = run_script("scripts/sample.py", "--checkpoint", str(run), "--mask", str(mask), "--steps", "2",
                        "--controlnet", str(tmp_path / "controlnet/controlnet.safetensors"), "--control-scale", "0.5",
                        "--lora", str(tmp_path / "lora/lora.safetensors"), "--out", str(tmp_path / "out.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    from PIL import Image
    assert Image.open(tmp_path / "out.png").size == (W, H)
    unet_weights = ckpt.read_arrays(run / "unet.safetensors")
    bad = run_script("scripts/sample.py", "--checkpoint", str(run), "--mask", str(mask), "--steps", "1",
                     "--lora", str(run / "unet.safetensors"), "--out", str(tmp_path / "bad.png"))
    assert bad.returncode == 2 and "not a LoRA adapter" in bad.stderr.strip().splitlines()[-1]
    assert unet_weights.keys() == ckpt.read_arrays(run / "unet.safetensors").keys()
    assert not (tmp_path / "bad.png").exists()
    other = UNetConfig(**{**ckpt.read_metadata(run / "unet.safetensors")["config"]["unet"], "base_channels": 8,
                          "channel_mult": (1, 1), "attention_levels": (1,), "groups": 4})
    with pytest.raises(ckpt.CheckpointError, match="different base UNet"):
        load_controlnet(tmp_path / "controlnet/controlnet.safetensors", UNet(other))
    check_registry_loaders(tmp_path, run, mask)


def check_registry_loaders(tmp_path, run, mask_path):
    """Evaluation loads an adapter file alone: base UNet from its metadata, digest checked."""
    import shutil

    from evaluation.registry import load_generator
    from lsgen.data.io import onehot, read_label

    mask = read_label(mask_path)[None]
    for kind in ("controlnet", "lora"):
        generator, meta = load_generator(tmp_path / kind / f"{kind}.safetensors")
        assert meta["kind"] == kind and generator.name.endswith(kind)
        images = generator.sample(onehot(mask), None, seed=0)
        assert images.shape == (1, 3, H, W) and np.abs(images).max() <= 1.0
    from safetensors import safe_open
    from safetensors.numpy import save_file

    adapter = tmp_path / "lora/lora.safetensors"
    with safe_open(str(adapter), framework="numpy") as handle:
        raw = dict(handle.metadata())
    assert raw["base_unet"] == str(run / "unet.safetensors")
    moved = tmp_path / "base_copy.safetensors"  # a base retrained since the adapter: a one-line error
    shutil.copyfile(run / "unet.safetensors", moved)
    save_file(ckpt.read_arrays(adapter), str(tmp_path / "stale.safetensors"),
              metadata={**raw, "base_unet": str(moved), "base_digest": "0" * 16})
    with pytest.raises(ckpt.CheckpointError, match="changed since"):
        load_generator(tmp_path / "stale.safetensors")
