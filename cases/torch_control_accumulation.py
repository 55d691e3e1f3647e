"""Control: gradient accumulation on purpose, four backward passes to each optimizer step.

The loop that pytorch/pytorch#47175's comments defend ("gradient is accumulated over multiple mini-batches"): the
gradient of four batches of 32, each loss divided by 4, summed into .grad, one step, then zero_grad(). The
tutorials' dense autoencoder (cases/torch_zero_grad.py), MSE, Adam 1e-3, 20 epochs of the
subset. It learns, and nothing in the loop is wrong: no "gradients carried over".
"""
import torch
from torch import nn

try:
    from cases import common
    from cases.torch_zero_grad import dense_autoencoder
except ImportError:
    import common
    from torch_zero_grad import dense_autoencoder

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/pytorch/pytorch/issues/47175 (the accumulation its comments defend)'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)
STEPS = 4  # backward passes per optimizer step


def accumulating_epoch(model, optimizer, loss_fn, xt, yt, batch_size, scheduler=None):
    """Shuffled batches; a step every STEPS of them, the gradients cleared after it."""
    model.train()
    order = torch.randperm(len(xt))
    for k, i in enumerate(range(0, len(xt), batch_size)):
        rows = order[i:i + batch_size]
        loss = loss_fn(model(xt[rows]), yt[rows]) / STEPS
        loss.backward()
        if k % STEPS == STEPS - 1:
            optimizer.step()
            optimizer.zero_grad()
    return loss


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    return dict(model=dense_autoencoder(), x=x, y=x, loss_fn=nn.MSELoss(), optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=20, batch_size=32, epoch=accumulating_epoch)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
