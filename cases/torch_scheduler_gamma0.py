"""AntixK/PyTorch-VAE with `scheduler_gamma: 0.0`: the exponential schedule sets the learning rate to 0 after the
first epoch, and the VAE stops where that epoch left it.

AntixK/PyTorch-VAE issue 71: a user's loss did not improve; another user pointed to the config's scheduler, whose
`ExponentialLR(optimizer, gamma=scheduler_gamma)` turns the rate to 0 when the gamma is 0. The repository's own
configs use 0.95. Rebuilt small from its VanillaVAE: convolutions with BatchNorm and LeakyReLU down to a
16-dimensional latent, transposed convolutions back, a Tanh output; `forward` returns [reconstruction, input, mu,
log_var] as the repository's does, and the loss is MSE plus the KL term weighted by the batch's share of the data
(the repository's `M_N`). Adam at the repository's 0.005, batch 64, 6 epochs of the MNIST subset, the scheduler
stepped once per epoch as Lightning steps it.

Measured: with the repository's gamma the rate no longer drops to 0, but in 6 epochs on the subset the VAE is still
on the plateau with its posterior collapsed (MSE averaged over pixels against a summed KL term: the imbalance of
keras-team/keras#3373), and its first steps are too large at 0.005. The documented fix removes the documented
cause, not every failure: marked in the table.
"""
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/AntixK/PyTorch-VAE/issues/71'
SYMPTOM = 'the loss stops improving'
CAUSE = 'scheduler_gamma 0.0: ExponentialLR sets the learning rate to 0 after the first epoch'
FIX = 'scheduler_gamma 0.95, the repository\'s own value'
NAMES = ('learning_rate_scheduled_to_zero',)
EXPECTED = (True, False)  # (names the cause, fixed version clean), as measured


class VanillaVAE(nn.Module):
    def __init__(self, latent=16):
        super().__init__()

        def down(a, b):
            return nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.LeakyReLU())
        self.encoder = nn.Sequential(down(1, 16), down(16, 32))
        self.fc_mu, self.fc_var = nn.Linear(32 * 7 * 7, latent), nn.Linear(32 * 7 * 7, latent)
        self.decoder_input = nn.Linear(latent, 32 * 7 * 7)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
                                     nn.BatchNorm2d(16), nn.LeakyReLU(),
                                     nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Tanh())

    def forward(self, x):
        h = torch.flatten(self.encoder(x), 1)
        mu, log_var = self.fc_mu(h), self.fc_var(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return [self.decoder(self.decoder_input(z).view(-1, 32, 7, 7)), x, mu, log_var]


def loss_function(out, x, kld_weight=64 / 1200):
    recons, _, mu, log_var = out
    kld = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1))
    return F.mse_loss(recons, x) + kld_weight * kld


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    gamma = 0.95 if fixed else 0.0
    return dict(model=VanillaVAE(), x=x, y=x, loss_fn=loss_function, optimizer=lambda p: torch.optim.Adam(p, 0.005),
                scheduler=lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), epochs=6, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
