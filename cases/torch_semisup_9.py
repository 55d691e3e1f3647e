"""wohlert/semi-supervised-pytorch issue 9: the repository's beta-VAE on dSprites-like images, reconstructions NaN.

As reported: the repository's VariationalAutoencoder (an MLP: dims [x_dim, z_dim, h_dim]) with its
binary_cross_entropy on the sigmoid reconstruction, trained as a beta-VAE on images whose pixels were not
normalised; the reconstructions and the loss turned NaN. The reporter: normalising the pixels fixed it. Here:
the MNIST subset binarised to {0, 255} as dSprites' shapes are ({0, 1} once normalised), 784-256-10, beta 4,
Adam 1e-3, batch 100, 10 epochs (120 steps).
"""
import torch
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/wohlert/semi-supervised-pytorch/issues/9'
SYMPTOM = 'the reconstructions and the loss are NaN'
CAUSE = 'the pixels were not normalised (the reporter, who confirmed that normalising fixed it)'
FIX = 'divide the pixels by 255'
NAMES = ('targets_out_of_range', 'inputs_not_scaled', 'nonfinite')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


class VAE(nn.Module):
    def __init__(self, x_dim=784, z_dim=10, h_dim=256):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(x_dim, h_dim), nn.ReLU())
        self.mu, self.log_var = nn.Linear(h_dim, z_dim), nn.Linear(h_dim, z_dim)
        self.decoder = nn.Sequential(nn.Linear(z_dim, h_dim), nn.ReLU(), nn.Linear(h_dim, x_dim), nn.Sigmoid())

    def forward(self, x):
        h = self.hidden(x)
        mu, log_var = self.mu(h), self.log_var(h)
        return self.decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), mu, log_var


def loss_fn(out, x, beta=4.0):
    """The repository's binary_cross_entropy (its own, with an epsilon inside the logs) plus beta x KL."""
    recon, mu, log_var = out
    bce = -torch.sum(x * torch.log(recon + 1e-8) + (1 - x) * torch.log(1 - recon + 1e-8), dim=-1)
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
    return torch.mean(bce + beta * kl)


def build(fixed=False):
    x = (common.mnist()[0].reshape(-1, 784) > 127).astype('float32') * 255
    if fixed:
        x = x / 255
    return dict(model=VAE(), x=x, y=x, loss_fn=loss_fn, optimizer=lambda p: torch.optim.Adam(p, 1e-3), epochs=10,
                batch_size=100)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
