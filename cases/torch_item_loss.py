"""A loss rebuilt from numbers: `torch.tensor(loss.item(), requires_grad=True)` backpropagates into nothing.

isayev/ReLeaSE issue 39, "Weights are not updating": the reporter rewrote the loss with `.item()` (and
`.detach().numpy()`) to get around a device error; every layer's gradient came back None, and the maintainer
explained that the loss was detached from the graph. A loss made from `.item()` cannot reach the weights; adding
`requires_grad=True` (or `loss.requires_grad_()`) only hides the error PyTorch would raise. Rebuilt on the
tutorials' conv autoencoder (cases/torch_control_conv.py). MSE, Adam 1e-3, batch 64, 5 epochs.
"""
import torch
from torch import nn

try:
    from cases import common
    from cases.torch_control_conv import ConvAutoencoder
except ImportError:
    import common
    from torch_control_conv import ConvAutoencoder

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/isayev/ReLeaSE/issues/39'
SYMPTOM = 'weights are not updating; every gradient is None'
CAUSE = 'the loss was rebuilt from .item(): it is cut off from the model'
FIX = 'call backward() on the loss tensor the model made'
NAMES = ('no_gradient',)
EXPECTED = (True, True)


def epoch_with_a_loss_of_numbers(model, optimizer, loss_fn, xt, yt, batch_size, scheduler=None):
    """The plain loop, its loss rebuilt from a Python number."""
    model.train()
    order = torch.randperm(len(xt))
    for i in range(0, len(xt), batch_size):
        rows = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = torch.tensor(loss_fn(model(xt[rows]), yt[rows]).item(), requires_grad=True)
        loss.backward()
        optimizer.step()
    return loss


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    spec = dict(model=ConvAutoencoder(), x=x, y=x, loss_fn=nn.MSELoss(), optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=5, batch_size=64)
    if not fixed:
        spec['epoch'] = epoch_with_a_loss_of_numbers
    return spec


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
