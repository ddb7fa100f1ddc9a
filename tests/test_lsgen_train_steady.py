"""Steady-state training steps: every step must leave no pending lazy graph behind and compile no
new kernel once warm (regression: EMA shadows used to chain lazily from step to step; past Jittor's
100k-lived-ops threshold the chains were cut at arbitrary lengths, so nearly every step compiled a
new fused kernel and every step's weights stayed alive)."""
from __future__ import annotations

import re
from contextlib import contextmanager

from toy_task import ToyDataset, make_task

from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt
from lsgen.train.loop import TrainConfig, Trainer

WARMUP, MEASURED = 5, 6


@contextmanager
def jit_compile_log():
    """Make Jittor print one 'Compile op' line per new kernel key to fd 2 (test instrumentation;
    Jittor's own log of this process only, so concurrent compiles of other processes cannot count)."""
    silent, prefix = jt.flags.log_silent, jt.flags.log_vprefix
    jt.flags.log_silent, jt.flags.log_vprefix = 0, "jit_compiler=10"
    try:
        yield
    finally:
        jt.flags.log_silent, jt.flags.log_vprefix = silent, prefix


def test_warm_training_steps_keep_no_pending_graph_and_compile_nothing(tmp_path, capfd):
    cfg = TrainConfig(steps=WARMUP + MEASURED, batch_size=4, ema_decay=0.9, log_every=100, save_every=100,
                      preview_every=0)
    task = make_task(cfg, clip=1.0)  # clipping on: its rescale path is part of the steady step too
    trainer = Trainer(task, cfg, BatchLoader(ToyDataset(n=16), cfg.batch_size, seed=0), tmp_path, progress=False)
    for _ in range(WARMUP):
        trainer.train_step()
    lived = [jt.liveness_info()["lived_ops"]]
    with jit_compile_log():
        capfd.readouterr()
        for _ in range(MEASURED):
            trainer.train_step()
            lived.append(jt.liveness_info()["lived_ops"])
        log = capfd.readouterr().err
    assert lived == [lived[0]] * len(lived), f"pending graph grows step after step: lived ops {lived}"
    compiled = re.findall(r"Compile op\s*(\S{0,120})", log)
    assert not compiled, f"{len(compiled)} kernels compiled in warm steps {WARMUP}..{WARMUP + MEASURED - 1}: {compiled}"
