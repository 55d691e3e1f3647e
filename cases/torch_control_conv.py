"""Control: the convolutional autoencoder of the PyTorch tutorials' style, written with functional activations.

Conv2d(1, 16, 3, stride 2) -> relu -> Conv2d(16, 32, 3, stride 2) -> relu; ConvTranspose2d(32, 16) -> relu ->
ConvTranspose2d(16, 1) -> torch.sigmoid, all in forward(); MSE, Adam 1e-3, batch 64, MNIST in [0, 1], 5 epochs of the
subset (95 steps). It learns: no failure finding is right.
"""
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://pytorch.org/tutorials/ (the conv autoencoder style of the tutorials and pytorch/examples)'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.deconv1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x))))
        return torch.sigmoid(self.deconv2(F.relu(self.deconv1(h))))


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    return dict(model=ConvAutoencoder(), x=x, y=x, loss_fn=nn.MSELoss(), optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=5, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
