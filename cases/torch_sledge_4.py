"""autonomousvision/sledge issue 4: a raster VAE whose binary cross-entropy had its arguments swapped.

As released (v0.1, sledge/autoencoder/modeling/objectives/vae_objective.py): `F.binary_cross_entropy_with_logits(
gt_raster.data, pred_raster.data)`, the targets passed as the logits and the decoder's logits as the targets, beside
the KL term (`-0.5 * mean(1 + log_var - mu**2 - exp(log_var))`, weight 0.1 in VAEConfig). The reporter read it in
the code; the maintainer: "you're right. We accidentally introduced the bug during refactoring", fixed in 345a0c3 by
putting the arguments in order. The model, scaled down: the released encoder is a ResNet-50 over 12 raster channels
of 256x256 down to a latent map 32 times smaller, here three strided convolutions over 2 channels of 16x16; the
decoder is the released RasterDecoder's shape (ConvTranspose2d k4 s2 + BatchNorm2d + ReLU stages, a final 3x3
convolution with no activation: logits), from a latent map of 16 channels at 2x2. The data: synthetic occupancy
rasters in {0, 1} (a road line and a few boxes per image; the nuPlan rasters are not available here, and the
released channels' value ranges were not checked). Adam 1e-3 (not given in the report), batch 64, 10 epochs of 600
rasters.
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
SOURCE = 'https://github.com/autonomousvision/sledge/issues/4'
SYMPTOM = 'none reported: the reporter read the swapped arguments in the code'
CAUSE = 'binary_cross_entropy_with_logits given the targets as the logits and the logits as the targets (the maintainer)'
FIX = 'the arguments in order: F.binary_cross_entropy_with_logits(pred_raster, gt_raster) (345a0c3)'
NAMES = ('loss_unbounded',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured
KL_WEIGHT = 0.1  # VAEConfig.kl_weight


def rasters(n=600, size=16, seed=0):
    """Two occupancy channels per image: a straight road line, and one to three boxes (vehicles)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 2, size, size), np.float32)
    rows, cols = np.mgrid[:size, :size]
    for k in range(n):
        angle, offset = rng.uniform(0, np.pi), rng.uniform(-size / 4, size / 4)
        distance = (cols - size / 2) * np.cos(angle) + (rows - size / 2) * np.sin(angle) - offset
        out[k, 0] = np.abs(distance) < 1.0
        for _ in range(rng.integers(1, 4)):
            r, c = rng.integers(1, size - 4, 2)
            out[k, 1, r:r + 3, c:c + 2] = 1.0
    return out


class RasterVAE(nn.Module):
    def __init__(self, latent_channel=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(2, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU())
        self.mu, self.log_var = nn.Conv2d(64, latent_channel, 1), nn.Conv2d(64, latent_channel, 1)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent_channel, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 2, 3, 1, 1))

    def forward(self, x):
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        return self.decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), mu, log_var


def loss_of(fixed):
    """The reconstruction objective (weight 1) plus the KL objective, as released (fixed: 345a0c3's order)."""
    def loss_fn(out, gt_raster):
        pred_raster, mu, log_var = out
        if fixed:
            bce = F.binary_cross_entropy_with_logits(pred_raster, gt_raster)
        else:
            bce = F.binary_cross_entropy_with_logits(gt_raster, pred_raster)
        return bce + KL_WEIGHT * -0.5 * torch.mean(1 + log_var - mu ** 2 - log_var.exp())
    return loss_fn


def build(fixed=False):
    x = rasters()
    return dict(model=RasterVAE(), x=x, y=x, loss_fn=loss_of(fixed), optimizer=lambda p: torch.optim.Adam(p, 1e-3),
                epochs=10, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
