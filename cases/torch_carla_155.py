"""carla-recourse/CARLA issue 155 and pull 165: a tabular VAE whose outputs were nearly identical for every input.

As reported: CCHVAE's VAE, an MLP encoder and decoder with batch normalisation, a sigmoid on the reconstruction,
mean squared error plus the KL term at full weight; its counterfactuals came out identical. The maintainers' pull
request (merged) removed batch normalisation, changed the loss to binary cross-entropy for the sigmoid output, and
weighted the KL term (the PR: "if this is too strong the reconstruction is bad"). The data: a synthetic table of 1200
rows, 12 features scaled to [0, 1], made from 3 hidden factors (the report's datasets are not in the repository);
layers 12-16-8 -> 2-d latent, Adam 1e-3, batch 64, 20 epochs.
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
SOURCE = 'https://github.com/carla-recourse/CARLA/issues/155 and https://github.com/carla-recourse/CARLA/pull/165'
SYMPTOM = 'nearly identical outputs (counterfactuals) for different inputs'
CAUSE = 'the KL term too strong beside the reconstruction, with batch norm and MSE on a sigmoid (the maintainers\' PR)'
FIX = 'no batch norm, binary cross-entropy, the KL term weighted 0.3 (the merged PR)'
NAMES = ('posterior_collapse',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def table(n=1200, features=12, seed=0):
    """Rows in [0, 1] made from 3 hidden factors: what a VAE of tabular data should find."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3))
    return (1 / (1 + np.exp(-(factors @ rng.normal(size=(3, features)) + 0.1 * rng.normal(size=(n, features)))))) \
        .astype('float32')


class TabularVAE(nn.Module):
    def __init__(self, batch_norm, latent=2):
        super().__init__()

        def block(a, b):
            return [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if batch_norm else []) + [nn.ReLU()]
        self.encoder = nn.Sequential(*block(12, 16), *block(16, 8))
        self.mu, self.log_var = nn.Linear(8, latent), nn.Linear(8, latent)
        self.decoder = nn.Sequential(*block(latent, 8), *block(8, 16), nn.Linear(16, 12), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        return self.decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), mu, log_var


def loss_of(fixed, kl_weight=False):
    """The loss as reported (fixed: the PR's); with kl_weight, its KL term times a kl_weight attribute of 1, the step
    aehealth's trial asks for before it changes the weight (the same numbers)."""
    def loss_fn(out, x):
        recon, mu, log_var = out
        kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / len(x)
        if kl_weight:
            kl = loss_fn.kl_weight * kl
        if fixed:
            return F.binary_cross_entropy(recon, x, reduction='sum') / len(x) + 0.3 * kl
        return F.mse_loss(recon, x) + kl
    if kl_weight:
        loss_fn.kl_weight = 1.0
    return loss_fn


def build(fixed=False, kl_weight=False):
    x = table()
    return dict(model=TabularVAE(batch_norm=not fixed), x=x, y=x, loss_fn=loss_of(fixed, kl_weight),
                optimizer=lambda p: torch.optim.Adam(p, 1e-3), epochs=20, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
