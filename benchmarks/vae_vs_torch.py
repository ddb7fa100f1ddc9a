"""The project's AutoencoderKL on Jittor against the identical network on PyTorch, same run.

    python benchmarks/vae_vs_torch.py                           # small config, 192x256x4 and 96x128x8
    LSGEN_FAST_OPS=0 python benchmarks/vae_vs_torch.py ...      # Jittor's plain path

Same protocol as unet_vs_torch.py (weights copied, equality asserted, alternating medians). Tasks:
forward = reconstruct (encode, posterior mean, decode; no grad); train = encode, reparameterised
sample with fixed noise, decode, L1 + 1e-6·KL, backward, clip, AdamW (the perceptual and GAN terms
of vae/losses.py are left out: they are other networks); decode = latents -> images (what sampling
pays per image).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bench_common as bc  # noqa: E402
from benchmarks.unet_vs_torch import count_gflop, grad_error, max_rel, parse_size  # noqa: E402

KL_WEIGHT = 1e-6


def model_config(name: str) -> SimpleNamespace:
    raw = json.loads((bc.REPO / "configs" / "vae" / f"{name}.json").read_text())["model"]
    if raw.pop("residual_shortcuts", False):
        # the PyTorch mirror (torch_mirror.py) has LDM's plain KL-f8 architecture; compare that one
        print(f"note: configs/vae/{name}.json has residual_shortcuts on; benchmarking it with them off")
    cfg = SimpleNamespace(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    cfg.level_channels = tuple(cfg.base_channels * m for m in cfg.channel_mult)
    return cfg


def make_inputs(cfg, h: int, w: int, b: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = 2 ** (len(cfg.channel_mult) - 1)
    return {"images": rng.uniform(-1, 1, (b, cfg.in_channels, h, w)).astype(np.float32),
            "noise": rng.standard_normal((b, cfg.latent_channels, h // f, w // f)).astype(np.float32),
            "latents": rng.standard_normal((b, cfg.latent_channels, h // f, w // f)).astype(np.float32)}


def build_jittor(cfg_ns, seed: int = 0):
    from lsgen.runtime import jt  # noqa: PLC0415
    from vae.model import AutoencoderKL, VAEConfig  # noqa: PLC0415

    fields = {k: v for k, v in vars(cfg_ns).items() if k != "level_channels"}
    jt.set_global_seed(seed)
    vae = AutoencoderKL(VAEConfig(**fields))
    rng = np.random.default_rng(seed + 1)
    for p in vae.parameters():
        p.assign(p + jt.array(0.02 * rng.standard_normal(p.shape).astype(np.float32)))
    jt.sync_all(True)
    return vae


class JittorRunner:
    def __init__(self, vae, arrays: dict):
        from lsgen.runtime import jt  # noqa: PLC0415
        from lsgen.train.optim import OptimConfig, Updater  # noqa: PLC0415

        self.jt, self.model = jt, vae
        self.v = {k: jt.array(a) for k, a in arrays.items()}
        self.updater = Updater(dict(vae.state_dict()), OptimConfig(lr=1e-4, clip_grad_norm=1.0), 1000)
        self.step = 0

    def loss(self, smooth: bool = False):
        posterior = self.model.encode(self.v["images"])
        recon = self.model.decode(posterior.mean + posterior.std * self.v["noise"])
        error = recon - self.v["images"]
        return (error.sqr() if smooth else error.abs()).mean() + KL_WEIGHT * posterior.kl().mean(), recon

    def forward(self):
        with self.jt.no_grad():
            out = self.model.decode(self.model.encode(self.v["images"]).mode())
        out.sync()
        return out

    def decode(self):
        with self.jt.no_grad():
            out = self.model.decode(self.v["latents"])
        out.sync()
        return out

    def train(self):
        self.step += 1
        loss, _ = self.loss()
        self.updater.backward(loss)
        self.updater.apply(self.step)
        self.jt.sync_all(True)


class TorchRunner:
    def __init__(self, model, arrays: dict, channels_last: bool):
        import torch  # noqa: PLC0415

        self.torch, self.model = torch, model
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            model.to(memory_format=fmt)
        self.v = {k: torch.from_numpy(a.copy()).contiguous(memory_format=fmt) for k, a in arrays.items()}
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)

    def loss(self, smooth: bool = False):
        mean, logvar = self.model.encode(self.v["images"])
        recon = self.model.decode(mean + (0.5 * logvar).exp() * self.v["noise"])
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)
        error = recon - self.v["images"]
        return (error.square() if smooth else error.abs()).mean() + KL_WEIGHT * kl.mean(), recon

    def forward(self):
        with self.torch.no_grad():
            return self.model.decode(self.model.encode(self.v["images"])[0])

    def decode(self):
        with self.torch.no_grad():
            return self.model.decode(self.v["latents"])

    def train(self):
        loss, _ = self.loss()
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def assert_equal(jr: JittorRunner, tr: TorchRunner, tol: float = 1e-4) -> dict:
    """Same reconstruction, decode, loss and parameter gradients, else AssertionError. Gradients are
    compared on the squared error: L1's gradient is sign(recon - image), and a pixel where the two
    frameworks' float rounding puts recon on either side of the image flips it (one flip in ~6e5
    pixels already moves a parameter's gradient by ~2/sqrt(6e5) = 3e-3 relative)."""
    errors = {"forward": max_rel(jr.forward().numpy(), tr.forward().numpy()),
              "decode": max_rel(jr.decode().numpy(), tr.decode().numpy())}
    l1_loss, _ = jr.loss()
    l1_torch, _ = tr.loss()
    errors["l1_loss"] = abs(l1_loss.item() - l1_torch.item()) / abs(l1_torch.item())
    loss, _ = jr.loss(smooth=True)
    names = list(dict(jr.model.state_dict()))
    params = dict(jr.model.state_dict())
    grads = jr.jt.grad(loss, [params[n] for n in names])
    t_loss, _ = tr.loss(smooth=True)
    t_loss.backward()
    t_params = dict(tr.model.named_parameters())
    errors["loss"] = abs(loss.item() - t_loss.item()) / abs(t_loss.item())
    errors["grads"] = grad_error([g.numpy() for g in grads], [t_params[n].grad.numpy() for n in names])
    tr.optimizer.zero_grad(set_to_none=True)
    # losses are float32 means over ~6e5 pixels, gradients sums of as many terms: their
    # accumulation order differs between the frameworks, hence 10x the element-wise tolerance
    bad = {k: e for k, e in errors.items() if not e <= (tol if k in ("forward", "decode") else 10 * tol)}
    assert not bad, f"Jittor and PyTorch disagree: {bad}"
    return errors


def child_rss(args) -> dict:
    cfg = model_config(args.configs[0])
    arrays = make_inputs(cfg, *parse_size(args.sizes[0]))
    if args.child_framework == "jittor":
        runner = JittorRunner(build_jittor(cfg), arrays)
    else:
        from benchmarks import torch_mirror  # noqa: PLC0415
        runner = TorchRunner(torch_mirror.AutoencoderKL(cfg), arrays, args.child_framework == "torch-cl")
    peaks = {}
    for task in ("decode", "forward", "train"):
        bc.reset_peak_rss()
        for _ in range(2):
            getattr(runner, task)()
        peaks[task] = bc.peak_rss_mib()
    return peaks


def bench_one(config: str, size: str, rounds: int, warmup: int, tasks: list[str], rss: bool, peak: float):
    from benchmarks import torch_mirror  # noqa: PLC0415

    cfg = model_config(config)
    h, w, b = parse_size(size)
    arrays = make_inputs(cfg, h, w, b)
    vae = build_jittor(cfg)
    model = torch_mirror.AutoencoderKL(cfg)
    torch_mirror.copy_weights(vae, model)
    model_cl = copy.deepcopy(model)
    jr, tr, tcl = JittorRunner(vae, arrays), TorchRunner(model, arrays, False), TorchRunner(model_cl, arrays, True)
    info = {"errors_eager": assert_equal(jr, tr), "errors_channels_last": assert_equal(jr, tcl)}
    gflop = count_gflop(model, tr)
    decode_runner = SimpleNamespace(forward=tr.decode)
    gflop_decode = count_gflop(model, decode_runner)
    info["forward_gflop"] = gflop
    memory = {}
    if rss:
        for fw in ("jittor", "jittor-plain", "torch", "torch-cl"):
            memory[fw] = bc.child_json([__file__, "--child", "rss", "--child-framework", fw.split("-")[0] if fw.startswith("jittor") else fw,
                                        "--configs", config, "--sizes", size],
                                       env={"LSGEN_FAST_OPS": "0" if fw == "jittor-plain" else "1"})
    rows = []
    for task in tasks:
        fns = {"jittor": getattr(jr, task), "jittor-plain": bc.plain_path(getattr(jr, task)),
               "torch": getattr(tr, task), "torch-cl": getattr(tcl, task)}
        times = bc.timed_rounds(fns, rounds, warmup)
        print(f"{config} {size} {task}: " + ", ".join(f"{k} {np.median(v) * 1e3:.0f} ms" for k, v in times.items())
              + f"; {bc.load_average()}", file=sys.stderr, flush=True)
        work = {"forward": gflop, "train": 3 * gflop, "decode": gflop_decode}[task]
        rows += bc.summarise(task, {k: times[k] for k in ("jittor", "jittor-plain")},
                             {"torch": times["torch"], "torch-cl": times["torch-cl"]},
                             b, work, peak, {fw: memory.get(fw, {}).get(task, float("nan")) for fw in fns})
    return rows, info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["small"], help="configs/vae/<name>.json (default: small)")
    parser.add_argument("--sizes", nargs="+", default=["192x256x4", "96x128x8"], help="image HxWxBatch")
    parser.add_argument("--rounds", type=int, default=10, help="timed repetitions per task (default: 10)")
    parser.add_argument("--tasks", nargs="+", default=["forward", "train", "decode"])
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per function first (default: 2)")
    parser.add_argument("--no-rss", action="store_true", help="skip the per-framework peak-RSS children")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both frameworks")
    parser.add_argument("--child", choices=["rss"], help=argparse.SUPPRESS)
    parser.add_argument("--child-framework", default="jittor", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.child:
        print(json.dumps(child_rss(args)))
        return 0
    import torch  # noqa: PLC0415
    from lsgen import ops  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    print(f"# VAE: Jittor {jt.__version__} (fused lsgen.ops: {ops.fast_enabled()}) vs PyTorch {torch.__version__}, "
          f"{args.threads} threads; {bc.load_average()} at start")
    mm = bc.matmul_gflops(jt, torch)
    peak = max(mm.values())
    print(f"2048^3 matmul: jittor {mm['jittor']:.0f} GFLOP/s, torch {mm['torch']:.0f} GFLOP/s (peak used: {peak:.0f})")
    for config in args.configs:
        for size in args.sizes:
            rows, info = bench_one(config, size, args.rounds, args.warmup, args.tasks, not args.no_rss, peak)
            print(f"\n## VAE {config}, images {size} (HxWxB); forward {info['forward_gflop']:.1f} GFLOP; "
                  f"median of {args.rounds}; {bc.load_average()}")
            print("equality (max relative error): eager " + ", ".join(f"{k} {v:.1e}" for k, v in info["errors_eager"].items())
                  + "; channels-last " + ", ".join(f"{k} {v:.1e}" for k, v in info["errors_channels_last"].items()))
            print(bc.fmt_table(bc.TABLE_HEADER, rows))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
