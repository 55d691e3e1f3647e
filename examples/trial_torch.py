"""The README's trial: a dense autoencoder with sigmoid hidden layers, as older tutorials write it, on the committed
MNIST subset; aehealth tries each change its findings suggest, over two seeds, in two processes, beside a guess of
its own (a wider code).

    python examples/trial_torch.py          # prints the trial, writes figures/trial.png
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aehealth.torch import trial  # noqa: E402


def build(code=16):
    return nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 64), nn.Sigmoid(), nn.Linear(64, code),
                         nn.Sigmoid(), nn.Linear(code, 64), nn.Sigmoid(), nn.Linear(64, 256), nn.Sigmoid(),
                         nn.Linear(256, 784), nn.Sigmoid())


def wider_code():
    """A plausible guess, tried beside the suggested changes: a code of 64 instead of 16."""
    return build(code=64)


if __name__ == '__main__':
    with np.load(ROOT / 'tests' / 'data' / 'mnist_subset.npz') as f:
        x = f['x_train'].reshape(-1, 784).astype('float32') / 255
    report = trial(build, x, nn.MSELoss(), optimizer=lambda p: torch.optim.Adam(p, 1e-3), epochs=5, seeds=(0, 1),
                   variants={'a code of 64': wider_code}, jobs=2, out=ROOT / 'runs' / 'trial')
    shutil.copy(ROOT / 'runs' / 'trial' / 'trial.png', ROOT / 'figures' / 'trial.png')
