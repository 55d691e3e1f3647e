"""pycroscopy/atomai issue 85: a convolutional VAE on grayscale images whose training loss is NaN throughout.

As reported: atomai's VAE with conv_encoder=True and conv_decoder=True, trained on grayscale images that were not
normalised; every reported training loss is NaN. The maintainer: "Sometimes this can be due to data being not
normalized. Can you try normalizing it or doing z-standardization"; the reporter: "Normalizing to [0,1] fixed the
nan issue". Not reported, and written here as atomai builds it by default: two 3x3 convolutions with LeakyReLU, a
2-d latent (mean and log-variance), a convolutional decoder with a sigmoid output, the reconstruction's squared
error summed with the KL term, Adam 1e-3 (the learning rate of the maintainer's example). The images: the MNIST subset as 0-255 floats; 30 epochs of batch 100 (atomai trains 100 by default).
"""
import torch
import torch.nn.functional as F
from torch import nn

try:
    from cases import common
except ImportError:
    import common

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/pycroscopy/atomai/issues/85'
SYMPTOM = 'the training loss is NaN throughout'
CAUSE = 'the images were not normalised (the maintainer; the reporter confirmed that [0,1] fixed it)'
FIX = 'normalise the images to [0, 1]'
NAMES = ('inputs_not_scaled', 'targets_out_of_range', 'nonfinite')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


class ConvVAE(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.1))
        self.mean, self.log_var = nn.Linear(16 * 14 * 14, latent), nn.Linear(16 * 14 * 14, latent)
        self.expand = nn.Linear(latent, 16 * 14 * 14)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(16, 16, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x).flatten(1)
        mu, log_var = self.mean(h), self.log_var(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decoder(self.expand(z).view(-1, 16, 14, 14)), mu, log_var


def loss_fn(out, x):
    recon, mu, log_var = out
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return (F.mse_loss(recon, x, reduction='sum') + kl) / len(x)


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32')
    if fixed:
        x = x / 255
    return dict(model=ConvVAE(), x=x, y=x, loss_fn=loss_fn, optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=30, batch_size=100)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
