"""jiwei0921/CoNet issue 3: an encoder-decoder's depth map compared with targets of another shape, by broadcasting.

As reported: F.smooth_l1_loss(pred_depth, depth) with the prediction (2, 1, 256, 256) and the target (2, 256, 256):
PyTorch warns "Using a target size ... that is different to the input size ... This will likely lead to incorrect
results due to broadcasting", and trains on: every prediction is compared with every target of the batch, so the best
it can do is their mean. The maintainer: target = target.unsqueeze(1). Here: a small convolutional encoder-decoder
that maps MNIST digits to a blurred copy of themselves (the "depth"), batch 2 as reported, smooth L1, Adam 1e-3,
3 epochs of the subset (1800 steps).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/jiwei0921/CoNet/issues/3'
SYMPTOM = 'PyTorch warns that the target size differs from the input size; the predictions are the targets\' mean'
CAUSE = 'the targets (N, H, W) broadcast against the predictions (N, 1, H, W) (the maintainer)'
FIX = 'target.unsqueeze(1), so that both are (N, 1, H, W)'
NAMES = ('shape_mismatch',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


class EncoderDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def depth(images):
    """A blurred copy of each image: a target the network can learn from its input."""
    kernel = np.outer(*[np.array([1, 4, 6, 4, 1]) / 16] * 2)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return sum(kernel[i, j] * padded[:, i:i + 28, j:j + 28] for i in range(5) for j in range(5)).astype('float32')


def smooth_l1(prediction, target):
    return F.smooth_l1_loss(prediction, target)


def build(fixed=False):
    images = common.mnist()[0].astype('float32') / 255
    x, y = images[:, None], depth(images)
    if fixed:
        y = y[:, None]  # target.unsqueeze(1)
    return dict(model=EncoderDecoder(), x=x, y=y, loss_fn=smooth_l1, optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=3, batch_size=2)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
