"""A tiny conv regression task on random data, shared by the training-utility tests and the
MPI worker: small enough to train in a second, real enough to exercise the whole loop."""
from __future__ import annotations

import numpy as np

from lsgen.runtime import jt
from lsgen.train.loop import Phase, TrainConfig, TrainTask
from lsgen.train.optim import OptimConfig, Updater


class ToyDataset:
    """n samples of x (3,8,8) and target y = a fixed linear map of x; `load` flips with rng."""
    split = "train"

    def __init__(self, n: int = 32, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
        self.y = np.roll(self.x, 1, axis=1) * 0.5

    def __len__(self) -> int:
        return len(self.x)

    def load(self, index: int, rng=None) -> dict:
        x, y = self.x[index], self.y[index]
        if rng is not None and rng.random() < 0.5:
            x, y = x[..., ::-1].copy(), y[..., ::-1].copy()
        return {"x": x, "y": y}


class ToyNet(jt.nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = jt.nn.Conv2d(3, width, 3, padding=1)
        self.conv2 = jt.nn.Conv2d(width, 3, 3, padding=1)

    def execute(self, x):
        return self.conv2(jt.nn.relu(self.conv1(x)))


def make_task(train_cfg: TrainConfig, lr: float = 1e-2, dropout: float = 0.0, clip: float = 0.0) -> TrainTask:
    """Toy task; `dropout` > 0 makes the loss use Jittor's RNG (to test reseeding on resume)."""
    jt.set_global_seed(0, different_seed_for_mpi=False)
    net = ToyNet()
    optim_cfg = OptimConfig(lr=lr, schedule="cosine", warmup_steps=2, clip_grad_norm=clip)
    updater = Updater(dict(net.state_dict()), optim_cfg, train_cfg.steps, train_cfg.grad_accum)

    def loss_fn(batch, step):
        pred = net(batch["x"])
        if dropout:
            pred = jt.nn.dropout(pred, dropout, is_train=True)
        return {"loss": ((pred - batch["y"]) ** 2).mean()}

    return TrainTask(kind="toy", model=net, model_config={"width": 8}, phases=[Phase("model", updater, loss_fn)])
