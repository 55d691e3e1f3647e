"""A training loop without optimizer.zero_grad(): every step applies the sum of every gradient so far.

Rebuilt from first principles: for the loop's own mistakes, public autoencoder reports with an answer are rare, but
the mistake is common enough that PyTorch users asked PyTorch to warn of it (pytorch/pytorch#47175, "an extremely
nasty bug ... forgetting to call zero_grad()"), and maintainers confirm it in encoder training loops
(Hsintien-Ng/idinvert_pytorch-reproduced#1: "You're right. Sorry I forgot to add it"). The model is the tutorials'
dense autoencoder (784-128-32-128-784, ReLU, a sigmoid output); the loop is the plain one with the zero_grad() line
left out. MSE, Adam 1e-3, batch 64, 10 epochs of the subset. (The tutorials' conv autoencoder,
cases/torch_control_conv.py, still learns without zero_grad() in 5 epochs, only worse: the finding is then a warning.)
"""
import torch
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/pytorch/pytorch/issues/47175 and https://github.com/Hsintien-Ng/idinvert_pytorch-reproduced/issues/1'
SYMPTOM = 'the loss does not fall (rebuilt: the reports describe the bug, not one network)'
CAUSE = 'optimizer.zero_grad() missing: gradients pile up from step to step'
FIX = 'call optimizer.zero_grad() before each backward()'
NAMES = ('gradients_carried',)
EXPECTED = (True, True)


def dense_autoencoder():
    """The tutorials' dense autoencoder."""
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(),
                         nn.Linear(128, 784), nn.Sigmoid())


def epoch_without_zero_grad(model, optimizer, loss_fn, xt, yt, batch_size, scheduler=None):
    """The plain loop, its zero_grad() line left out."""
    model.train()
    order = torch.randperm(len(xt))
    for i in range(0, len(xt), batch_size):
        rows = order[i:i + batch_size]
        loss = loss_fn(model(xt[rows]), yt[rows])
        loss.backward()
        optimizer.step()
    return loss


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    spec = dict(model=dense_autoencoder(), x=x, y=x, loss_fn=nn.MSELoss(),
                optimizer=lambda p: torch.optim.Adam(p, 1e-3), epochs=10, batch_size=64)
    if not fixed:
        spec['epoch'] = epoch_without_zero_grad
    return spec


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
