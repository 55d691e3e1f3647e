"""An autoencoder that learns in training mode and draws the average in eval mode: BatchNorm's running statistics
never caught up with the data.

taldatech/soft-intro-vae-pytorch issue 13: reconstructions were good during training and "chaos" after the model
was loaded and run in eval mode; the maintainer pointed to BatchNorm's train/eval statistics. The repository's
network is large; this is rebuilt small, with the way such statistics most often lag: a momentum carried over from
Keras (Keras' BatchNormalization(momentum=0.99) is PyTorch's BatchNorm1d(momentum=0.01), since PyTorch's momentum
weighs the new batch), and few steps (batches of 256, 10 epochs of the subset: 50 steps, after which 60% of the
running statistics are still their initial 0 and 1). The tutorials' dense autoencoder with a BatchNorm after its
first layer; MSE, Adam 1e-3. The fix the maintainer's answer implies: statistics that match the data, here
PyTorch's own momentum 0.1.
"""
import torch
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/taldatech/soft-intro-vae-pytorch/issues/13'
SYMPTOM = 'good reconstructions in training, chaos in eval mode'
CAUSE = 'BatchNorm\'s running statistics do not match the data (eval mode uses them)'
FIX = 'running statistics that follow the data: BatchNorm1d(momentum=0.1), PyTorch\'s default'
NAMES = ('eval_mode_gap',)
EXPECTED = (True, True)


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.BatchNorm1d(128, momentum=0.1 if fixed else 0.01),
                          nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 784),
                          nn.Sigmoid())
    return dict(model=model, x=x, y=x, loss_fn=nn.MSELoss(), optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=10, batch_size=256)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
