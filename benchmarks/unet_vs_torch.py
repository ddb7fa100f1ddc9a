"""The project's UNet on Jittor against the identical network on PyTorch, same CPU, same run.

    python benchmarks/unet_vs_torch.py                          # small config, 48x64x4 and 24x32x8
    python benchmarks/unet_vs_torch.py --configs small base --rounds 10
    LSGEN_FAST_OPS=0 python benchmarks/unet_vs_torch.py ...     # Jittor's plain path (no lsgen.ops)

For each config and latent size it builds the UNet from configs/unet/<name>.json (non-zero random
weights: zero-initialised layers would make the comparison trivial), builds the PyTorch twin
(benchmarks/torch_mirror.py), copies the weights, ASSERTS equal outputs and gradients, then times
forward (no grad), a full training step (ref encoder + UNet + MSE + backward + clip + AdamW) and
one classifier-free-guidance DDIM step (both branches in one batched call), alternating frameworks,
median of --rounds after warm-up. PyTorch runs eager (NCHW) and channels-last; "speed vs best
torch" is best-PyTorch-time / this-time (> 1: faster than PyTorch's best variant). GFLOP/s is
counted analytically (convolutions, linears, attention matmuls; training = 3x forward) and set
against a 2048³ matmul measured in the same run. torch is a benchmark-only extra.
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

GUIDANCE = 2.0


def model_config(name: str) -> SimpleNamespace:
    raw = json.loads((bc.REPO / "configs" / "unet" / f"{name}.json").read_text())["model"]
    return SimpleNamespace(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def parse_size(text: str) -> tuple[int, int, int]:
    h, w, b = (int(v) for v in text.lower().split("x"))
    return h, w, b


def make_inputs(cfg, h: int, w: int, b: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Training-like inputs: latents (B,4,h,w), masks and references at image size (8x)."""
    rng = np.random.default_rng(seed)
    ids = np.kron(rng.integers(0, 29, (b, h // 2, w // 2)), np.ones((1, 16, 16), dtype=np.int64))
    arrays = {"x": rng.standard_normal((b, cfg.in_channels, h, w)).astype(np.float32),
              "target": rng.standard_normal((b, cfg.out_channels, h, w)).astype(np.float32),
              "t": rng.integers(0, 1000, b).astype(np.int32),
              "mask_onehot": np.eye(29, dtype=np.float32)[ids].transpose(0, 3, 1, 2).copy(),
              "keep": np.ones(b, np.float32), "drop": np.zeros(b, np.float32)}
    if cfg.ref_dim:
        arrays["ref"] = rng.uniform(-1, 1, (b, 3, 8 * h, 8 * w)).astype(np.float32)
    return arrays


# ---------------------------------------------------------------- Jittor side

def build_jittor(cfg_ns, seed: int = 0):
    from diffusion.unet import UNet, UNetConfig  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415

    jt.set_global_seed(seed)
    unet = UNet(UNetConfig(**vars(cfg_ns)))
    rng = np.random.default_rng(seed + 1)
    for p in unet.parameters():  # trained-like weights: no layer is zero (zero_module) any more
        p.assign(p + jt.array(0.02 * rng.standard_normal(p.shape).astype(np.float32)))
    jt.sync_all(True)
    return unet


class JittorRunner:
    def __init__(self, unet, arrays: dict):
        from diffusion.schedule import NoiseSchedule, ScheduleConfig  # noqa: PLC0415
        from lsgen.runtime import jt  # noqa: PLC0415
        from lsgen.train.optim import OptimConfig, Updater  # noqa: PLC0415

        self.jt, self.unet = jt, unet
        self.v = {k: jt.array(a) for k, a in arrays.items()}
        self.updater = Updater(dict(unet.state_dict()), OptimConfig(lr=1e-4, clip_grad_norm=1.0), 1000)
        self.schedule = NoiseSchedule(ScheduleConfig())
        self.t0 = int(arrays["t"][0])
        self.step = 0

    def conditioning(self, keep):
        v, cond = self.v, {"mask_onehot": self.v["mask_onehot"], "mask_keep": keep}
        if "ref" in v:
            cond["ref_tokens"], cond["ref_global"] = self.unet.encode_ref(v["ref"], v["keep"])
        return cond

    def loss(self):
        v = self.v
        out = self.unet(v["x"], v["t"], **self.conditioning(v["keep"]))
        return ((out - v["target"]) ** 2).mean(), out

    def forward(self):
        with self.jt.no_grad():
            out = self.unet(self.v["x"], self.v["t"], **self.conditioning(self.v["keep"]))
        out.sync()
        return out

    def train(self):
        self.step += 1
        loss, _ = self.loss()
        self.updater.backward(loss)
        self.updater.apply(self.step)
        self.jt.sync_all(True)

    def cfg_step(self):
        from diffusion.guidance import cfg_weights, guided_denoise_fn  # noqa: PLC0415
        from diffusion.samplers import ddim_sample  # noqa: PLC0415

        with self.jt.no_grad():
            branches = [self.conditioning(self.v["drop"]), self.conditioning(self.v["keep"])]
            denoise = guided_denoise_fn(self.unet, branches, cfg_weights(GUIDANCE))
            x = ddim_sample(denoise, self.schedule, self.v["x"], np.array([self.t0]))
        x.sync()
        return x


# ---------------------------------------------------------------- PyTorch side

class TorchRunner:
    def __init__(self, model, arrays: dict, channels_last: bool):
        import torch  # noqa: PLC0415
        from diffusion.schedule import NoiseSchedule, ScheduleConfig  # noqa: PLC0415

        self.torch, self.model = torch, model
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            model.to(memory_format=fmt)
        self.v = {k: torch.from_numpy(a.copy()) for k, a in arrays.items()}
        for k in ("x", "target", "mask_onehot", "ref"):
            if k in self.v:
                self.v[k] = self.v[k].contiguous(memory_format=fmt)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
        self.schedule = NoiseSchedule(ScheduleConfig())

    def conditioning(self, keep):
        v, cond = self.v, {"mask_onehot": self.v["mask_onehot"], "mask_keep": keep}
        if "ref" in v:
            cond["ref_tokens"], cond["ref_global"] = self.model.encode_ref(v["ref"], v["keep"])
        return cond

    def loss(self):
        out = self.model(self.v["x"], self.v["t"], **self.conditioning(self.v["keep"]))
        return ((out - self.v["target"]) ** 2).mean(), out

    def forward(self):
        with self.torch.no_grad():
            return self.model(self.v["x"], self.v["t"], **self.conditioning(self.v["keep"]))

    def train(self):
        loss, _ = self.loss()
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def cfg_step(self):
        torch, v = self.torch, self.v
        t = int(v["t"][0])
        with torch.no_grad():
            branches = [self.conditioning(v["drop"]), self.conditioning(v["keep"])]
            cond = {k: torch.cat([b[k] for b in branches]) for k in branches[0]}
            out = self.model(torch.cat([v["x"]] * 2), torch.full((2 * v["x"].shape[0],), t, dtype=torch.int32), **cond)
            uncond, condn = out.chunk(2)
            w = [1 - GUIDANCE, GUIDANCE]
            eps = uncond * w[0] + condn * w[1]
            ab = float(self.schedule.alpha_bar(t))
            x0 = (v["x"] - (1 - ab) ** 0.5 * eps) / ab**0.5  # DDIM eq. 12 with ᾱ_prev = 1
            return x0


def count_gflop(model, runner) -> float:
    """Analytic forward GFLOP (2 per multiply-add) of convs, linears and attention matmuls."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    total = [0.0]

    def conv_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    def attn_hook(m, inp, out):
        q = out if out.ndim == 3 else out.flatten(2).transpose(1, 2)
        ctx = inp[1] if len(inp) > 1 and inp[1] is not None else None
        n, c = q.shape[1], q.shape[2]
        mlen = ctx.shape[1] if ctx is not None and type(m).__name__ == "CrossAttention" else n
        total[0] += 4 * q.shape[0] * n * mlen * c
    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif type(m).__name__ in ("AttentionBlock", "CrossAttention", "AttnBlock"):
            handles.append(m.register_forward_hook(attn_hook))
    with torch.no_grad():
        runner.forward()
    for h in handles:
        h.remove()
    return total[0] / 1e9


def max_rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def grad_error(got: list, want: list) -> float:
    """Max over parameters of |got - want| / max(|want|, 1e-4 · largest gradient of the model):
    gradients that are ~1e-10 (cross-attention on near-identical tokens) are float noise in both."""
    floor = 1e-4 * max(float(np.abs(w).max()) for w in want)
    return max(float(np.abs(g.astype(np.float64) - w).max()) / max(float(np.abs(w).max()), floor)
               for g, w in zip(got, want))


def assert_equal(jr: JittorRunner, tr: TorchRunner, tol: float = 1e-4) -> dict:
    """Same forward output and same parameter gradients of the training loss, else AssertionError."""
    jt = jr.jt
    j_out, t_out = jr.forward().numpy(), tr.forward().numpy()
    out_err = max_rel(j_out, t_out)
    loss, _ = jr.loss()
    names = list(dict(jr.unet.state_dict()))
    grads = jt.grad(loss, [dict(jr.unet.state_dict())[n] for n in names])
    t_loss, _ = tr.loss()
    t_loss.backward()
    t_params = dict(tr.model.named_parameters())
    grad_err = grad_error([g.numpy() for g in grads], [t_params[n].grad.numpy() for n in names])
    tr.optimizer.zero_grad(set_to_none=True)
    cfg_err = max_rel(jr.cfg_step().numpy(), tr.cfg_step().numpy())
    errors = {"forward": out_err, "loss": abs(loss.item() - t_loss.item()) / abs(t_loss.item()),
              "grads": grad_err, "cfg_step": cfg_err}
    bad = {k: e for k, e in errors.items() if not e <= (10 * tol if k == "grads" else tol)}
    assert not bad, f"Jittor and PyTorch disagree: {bad}"
    return errors


# ---------------------------------------------------------------- child process (peak RSS)

def child_rss(args) -> dict:
    """Peak RSS (MiB) of each task in a process holding one framework only."""
    cfg = model_config(args.configs[0])
    h, w, b = parse_size(args.sizes[0])
    arrays = make_inputs(cfg, h, w, b)
    if args.child_framework == "jittor":
        runner = JittorRunner(build_jittor(cfg), arrays)
    else:
        import torch  # noqa: PLC0415

        from benchmarks import torch_mirror  # noqa: PLC0415
        torch.manual_seed(0)
        runner = TorchRunner(torch_mirror.UNet(cfg), arrays, args.child_framework == "torch-cl")
    peaks = {}
    for task in ("cfg_step", "forward", "train"):
        fn = getattr(runner, task)
        bc.reset_peak_rss()
        for _ in range(2):
            fn()
        peaks[task] = bc.peak_rss_mib()
    return peaks


# ---------------------------------------------------------------- main benchmark

def bench_one(config: str, size: str, rounds: int, warmup: int, tasks: list[str], rss: bool, peak: float) -> tuple[list, dict]:
    import torch  # noqa: PLC0415

    from benchmarks import torch_mirror  # noqa: PLC0415

    cfg = model_config(config)
    h, w, b = parse_size(size)
    arrays = make_inputs(cfg, h, w, b)
    unet = build_jittor(cfg)
    model = torch_mirror.UNet(cfg)
    torch_mirror.copy_weights(unet, model)
    model_cl = copy.deepcopy(model)
    jr, tr, tcl = JittorRunner(unet, arrays), TorchRunner(model, arrays, False), TorchRunner(model_cl, arrays, True)
    errors = assert_equal(jr, tr)
    errors_cl = assert_equal(jr, tcl)
    gflop = count_gflop(model, tr)
    gflop_cfg = count_gflop_cfg(model, tr, gflop)
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
        work = {"forward": gflop, "train": 3 * gflop, "cfg_step": gflop_cfg}[task]
        rows += bc.summarise(task, {k: times[k] for k in ("jittor", "jittor-plain")},
                             {"torch": times["torch"], "torch-cl": times["torch-cl"]},
                             b, work, peak, {fw: memory.get(fw, {}).get(task, float("nan")) for fw in fns})
    return rows, {"errors_eager": errors, "errors_channels_last": errors_cl, "forward_gflop": gflop}


def count_gflop_cfg(model, runner, gflop: float) -> float:
    return 2 * gflop  # the guided step runs the UNet (and ref encoder) once on the doubled batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["small"], help="configs/unet/<name>.json (default: small)")
    parser.add_argument("--sizes", nargs="+", default=["48x64x4", "24x32x8"], help="latent HxWxBatch")
    parser.add_argument("--rounds", type=int, default=10, help="timed repetitions per task (default: 10)")
    parser.add_argument("--tasks", nargs="+", default=["forward", "train", "cfg_step"])
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
    print(f"# UNet: Jittor {jt.__version__} (fused lsgen.ops: {ops.fast_enabled()}) vs PyTorch {torch.__version__}, "
          f"{args.threads} threads; {bc.load_average()} at start")
    mm = bc.matmul_gflops(jt, torch)
    peak = max(mm.values())
    print(f"2048^3 matmul: jittor {mm['jittor']:.0f} GFLOP/s, torch {mm['torch']:.0f} GFLOP/s (peak used: {peak:.0f})")
    for config in args.configs:
        for size in args.sizes:
            rows, info = bench_one(config, size, args.rounds, args.warmup, args.tasks, not args.no_rss, peak)
            print(f"\n## UNet {config}, latents {size} (HxWxB); forward {info['forward_gflop']:.1f} GFLOP; "
                  f"median of {args.rounds}; {bc.load_average()}")
            print("equality (max relative error): eager " + ", ".join(f"{k} {v:.1e}" for k, v in info["errors_eager"].items())
                  + "; channels-last " + ", ".join(f"{k} {v:.1e}" for k, v in info["errors_channels_last"].items()))
            print(bc.fmt_table(bc.TABLE_HEADER, rows))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
