"""Control: pytorch/examples' VAE (vae/main.py), as published.

fc1 Linear(784, 400) -> relu -> fc21, fc22 Linear(400, 20) (mu, logvar); z = mu + eps * exp(logvar / 2); fc3
Linear(20, 400) -> relu -> fc4 Linear(400, 784) -> sigmoid; forward returns (reconstruction, mu, logvar); the loss
binary cross-entropy summed over pixels plus the KL divergence; Adam 1e-3, batch 128, MNIST in [0, 1]. The example
trains 10 epochs of 60000 images; the case trains 20 epochs of the subset (200 steps). It learns: no failure finding
is right.
"""
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/pytorch/examples/tree/main/vae'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(out, x):
    recon_x, mu, logvar = out
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    return dict(model=VAE(), x=x, y=x, loss_fn=loss_function, optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=20, batch_size=128)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
