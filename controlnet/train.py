"""Adapter training on a frozen base UNet, through lsgen's one training loop.

The base UNet is loaded from its checkpoint and frozen for real: every parameter is stop-grad and
none is handed to the optimizer (lsgen.train.optim.Updater drops stop-grad Vars). The adapter is
the checkpoint's model: a ControlNet (kind "controlnet") or a LoRA set (kind "lora", an
adapter-only file). The loss is the base model's denoising loss with the adapter in the loop.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from controlnet.controlnet import KIND as CONTROLNET_KIND
from controlnet.controlnet import ControlNet, ControlNetConfig, edge_map
from controlnet.lora import KIND as LORA_KIND
from controlnet.lora import LoRA, LoRAConfig
from diffusion.pipeline import load_unet, unet_configs
from diffusion.schedule import NoiseSchedule
from diffusion.train import CondConfig, LatentDataConfig, denoising_loss, training_datasets
from lsgen import checkpoint as ckpt
from lsgen.config import to_dict
from lsgen.data.dataset import IMAGE_SUFFIXES, find_layout
from lsgen.data.io import read_image, resize_image
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train import dist
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater


@dataclass
class BaseConfig:
    """The `base` section: the frozen UNet the adapter is trained on."""
    unet: str = "runs/unet/unet.safetensors"


CONTROLNET_SECTIONS = {"base": BaseConfig, "controlnet": ControlNetConfig, "cond": CondConfig, "optim": OptimConfig,
                       "train": TrainConfig, "data": LatentDataConfig}
LORA_SECTIONS = {"base": BaseConfig, "lora": LoRAConfig, "cond": CondConfig, "optim": OptimConfig,
                 "train": TrainConfig, "data": LatentDataConfig}


def load_frozen_unet(path: str | Path):
    """(UNet with every parameter stop-grad, its metadata)."""
    unet, meta = load_unet(path)
    for p in unet.parameters():
        p.stop_grad()
    return unet, meta


class WithEdges:
    """Adds "control" = the Sobel edge map (1, H, W) of each sample's photo (edges ControlNet)."""

    def __init__(self, dataset, names: list[str], root: str | Path):
        self.dataset, self.names, self.split = dataset, names, getattr(dataset, "split", "train")
        images_dir = find_layout(root).images_dir
        self.paths = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, rng=None) -> dict:
        sample = self.dataset.load(index, rng)
        h, w = sample["mask_ids"].shape
        image = resize_image(read_image(self.paths[self.names[index]]), w, h)
        if sample["flipped"]:
            image = np.ascontiguousarray(image[:, ::-1])
        sample["control"] = edge_map(image)
        return sample


def _to_batch(arrays: dict) -> dict:
    keys = ("latents", "mask_onehot", "ref_image", "control")
    return {k: jt.array(arrays[k]) for k in keys if k in arrays}


def make_controlnet_task(sections: dict, unet, base_meta: dict) -> TrainTask:
    cfg, train_cfg = sections["controlnet"], sections["train"]
    unet_cfg, sched_cfg = unet_configs(base_meta)
    controlnet = ControlNet(unet_cfg, cfg)
    controlnet.load_from_unet(unet)
    schedule = NoiseSchedule(sched_cfg)
    updater = Updater(dict(controlnet.state_dict()), sections["optim"], train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="controlnet")

    def control_fn(x_t, t, batch, **conditioning):
        control = batch["mask_onehot"] if cfg.control == "mask" else batch["control"]
        return controlnet(x_t, t, control, **conditioning)

    def loss_fn(batch, step):
        return denoising_loss(unet, schedule, batch, sections["cond"], control_fn)

    return TrainTask(kind=CONTROLNET_KIND, model=controlnet, phases=[Phase("controlnet", updater, loss_fn)],
                     to_batch=_to_batch, model_config={"controlnet": to_dict(cfg), "unet": base_meta["config"]["unet"]},
                     extra_metadata=lambda: base_metadata(sections))


def base_metadata(sections: dict) -> dict:
    """What an adapter records of its base UNet: the file's digest and its path (as given), so
    evaluation can rebuild base + adapter from the adapter file alone (controlnet/generator.py)."""
    return {"base_digest": ckpt.file_digest(sections["base"].unet), "base_unet": str(sections["base"].unet)}


def make_lora_task(sections: dict, unet, base_meta: dict) -> TrainTask:
    cfg, train_cfg = sections["lora"], sections["train"]
    lora = LoRA(unet, cfg)
    lora.attach()
    schedule = NoiseSchedule(unet_configs(base_meta)[1])
    updater = Updater(dict(lora.state_dict()), sections["optim"], train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="lora")

    def loss_fn(batch, step):
        return denoising_loss(unet, schedule, batch, sections["cond"])

    config = {"lora": to_dict(cfg), "base_config": base_meta["config"], "base_kind": base_meta["kind"]}
    extra = {**base_metadata(sections), "style_filter": sections["data"].style_filter}
    return TrainTask(kind=LORA_KIND, model=lora, phases=[Phase("lora", updater, loss_fn)], to_batch=_to_batch,
                     model_config=config, extra_metadata=lambda: extra)


def train_adapter(kind: str, sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train a ControlNet ('controlnet') or LoRA ('lora') adapter; returns `<run_dir>/<kind>.safetensors`."""
    train_cfg = sections["train"]
    set_precision(train_cfg.precision)
    seed_everything(train_cfg.seed)
    unet, base_meta = load_frozen_unet(sections["base"].unet)
    dataset, _ = training_datasets({**sections, "model": unet.cfg, "train": _no_preview(train_cfg)})
    if kind == CONTROLNET_KIND and sections["controlnet"].control == "edges":
        latents = getattr(dataset, "dataset", dataset)
        dataset = WithEdges(dataset, latents.meta["names"], sections["data"].root or latents.meta["data_root"])
    task = make_controlnet_task(sections, unet, base_meta) if kind == CONTROLNET_KIND else make_lora_task(sections, unet, base_meta)
    loader = BatchLoader(dataset, train_cfg.batch_size, seed=train_cfg.seed)
    final = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
    target = Path(run_dir) / f"{kind}.safetensors"
    if dist.is_main():
        ckpt.write_with(target, lambda tmp: shutil.copyfile(final, tmp))
    return target


def _no_preview(train_cfg: TrainConfig) -> TrainConfig:
    from dataclasses import replace  # noqa: PLC0415

    return replace(train_cfg, preview_every=0)


