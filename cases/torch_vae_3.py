"""ethanluoyc/pytorch-vae issue 3: the repository's VAE, which "does not work well".

As reported: the repository's vae.py, an MLP VAE on MNIST: Linear(784, 100) -> ReLU -> Linear(100, 100) -> ReLU to
an 8-d latent, the decoder Linear(8, 100) -> ReLU -> Linear(100, 100) -> ReLU -> Linear(100, 784) -> ReLU, mean
squared error plus the latent loss, Adam 1e-4, batch 32, on MNIST through transforms.Normalize. A third party's
answer: "The relu non-linear function for decoding output will limit the range of the pixels in your
reconstruction image. If your input image has been normalized using the transform in pytorch, it may cause your
loss cannot be decreased." Here: MNIST normalised by its mean and standard deviation (0.1307, 0.3081), 5 epochs of
the subset (190 steps); the fix: images in [0, 1] and a sigmoid output.
"""
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/ethanluoyc/pytorch-vae/issues/3'
SYMPTOM = 'the VAE does not reconstruct well; the loss does not decrease'
CAUSE = 'a ReLU output cannot produce the negative pixels that Normalize makes (a third party\'s answer)'
FIX = 'images in [0, 1] and a sigmoid output'
NAMES = ('targets_out_of_range',)
# As measured: the cause is named, but the answer's fix leaves a failure: the latent loss, a mean over 8 latent
# dimensions, weighs as much as the squared error averaged over 784 pixels, and the posterior collapses (the
# keras-team/keras#3373 mistake, in PyTorch).
EXPECTED = (True, False)


class VAE(nn.Module):
    def __init__(self, fixed):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU())
        self.mu, self.log_sigma = nn.Linear(100, 8), nn.Linear(100, 8)
        self.decoder = nn.Sequential(nn.Linear(8, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 784),
                                     nn.Sigmoid() if fixed else nn.ReLU())

    def forward(self, x):
        h = self.encoder(x)
        mu, log_var = self.mu(h), 2 * self.log_sigma(h)  # the repository's log-sigma, as a log-variance
        return self.decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), mu, log_var


def loss_fn(out, x):
    recon, mu, log_var = out
    latent = 0.5 * torch.mean(mu.pow(2) + log_var.exp() - log_var - 1)
    return F.mse_loss(recon, x) + latent


class Weighted:
    """The same loss with its latent term times kl_weight (1: the same numbers), the step aehealth's trial asks for
    before it changes the weight."""
    kl_weight = 1.0

    def __call__(self, out, x):
        recon, mu, log_var = out
        return F.mse_loss(recon, x) + self.kl_weight * 0.5 * torch.mean(mu.pow(2) + log_var.exp() - log_var - 1)


def build(fixed=False, kl_weight=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    if not fixed:
        x = (x - 0.1307) / 0.3081  # transforms.Normalize((0.1307,), (0.3081,))
    return dict(model=VAE(fixed), x=x, y=x, loss_fn=Weighted() if kl_weight else loss_fn, optimizer=lambda p: torch.optim.Adam(p, 1e-4), epochs=5,
                batch_size=32)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
