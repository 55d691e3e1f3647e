"""L1aoXingyu/pytorch-beginner issue 38: the repository's convolutional autoencoder "converges to white".

As reported: conv_autoencoder.py: Conv2d(1, 16, 3, stride=3, padding=1) -> ReLU -> MaxPool2d(2, 2) -> Conv2d(16, 8, 3,
stride=2, padding=1) -> ReLU -> MaxPool2d(2, stride=1); ConvTranspose2d(8, 16, 3, stride=2) -> ReLU ->
ConvTranspose2d(16, 8, 5, stride=3, padding=1) -> ReLU -> ConvTranspose2d(8, 1, 2, stride=2, padding=1) -> Tanh; MSE,
Adam 1e-3 with weight decay 1e-5, batch 128, MNIST normalised to [-1, 1]: "after like 100 batches, it just spits out
white images". No answer was given. Here: the repository's network and settings on the subset, 10 epochs (100 steps).
"""
import torch
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/L1aoXingyu/pytorch-beginner/issues/38'
SYMPTOM = 'white images after about 100 batches'
CAUSE = 'none given (no answer)'
FIX = None
NAMES = None  # no documented cause: the case checks that the run is stuck and that the report names a cause or says none fired
EXPECTED = (True, None)


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, stride=3, padding=1), nn.ReLU(True), nn.MaxPool2d(2, stride=2),
                                     nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(True), nn.MaxPool2d(2, stride=1))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 16, 3, stride=2), nn.ReLU(True),
                                     nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1), nn.ReLU(True),
                                     nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1), nn.Tanh())

    def forward(self, x):
        return self.decoder(self.encoder(x))


def build(fixed=False):
    x = (common.mnist()[0][:, None].astype('float32') / 255 - 0.5) / 0.5  # transforms.Normalize((0.5,), (0.5,))
    return dict(model=Autoencoder(), x=x, y=x, loss_fn=nn.MSELoss(),
                optimizer=lambda p: torch.optim.Adam(p, 1e-3, weight_decay=1e-5), epochs=10, batch_size=128)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
