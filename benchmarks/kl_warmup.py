"""Is there a VAE that the trial's KL warm-up unsticks? An MLP VAE (784-256-(8)-256-784, summed squared error plus
`kl_weight` times the KL term) on the committed MNIST subset, tried as it is, with `kl_warmup` and with `kl_div10`,
for each KL weight given; `--autoregressive`: its decoder also sees the pixels before each pixel (a MADE, the strong
decoder the warm-up is known to help), on binarised pixels under binary cross-entropy; `--rows`: a decoder that draws
the image row by row (a GRU given the code and the rows above), as a sentence VAE draws words; `--sgd LR`: every
run trained with plain SGD (momentum 0.9) at that rate, not Adam; `--factor`: not MNIST but a table of 12 values
driven by one factor (its largest variance nearly all of it), where the weight can imply a noise just under that
variance and the optimum still beats the mean row. docs/aehealth.md ("Prove the fix: trial") reports what this printed.

    python benchmarks/kl_warmup.py --epochs 5 2 5 10 20
    python benchmarks/kl_warmup.py --epochs 20 1 3 4 4.5 5 6
    python benchmarks/kl_warmup.py --epochs 10 --autoregressive 1 3
    python benchmarks/kl_warmup.py --epochs 20 --rows 1 5 20
    python benchmarks/kl_warmup.py --epochs 20 --sgd 1e-2 --seeds 3 5 6 7
    python benchmarks/kl_warmup.py --epochs 10 --factor --seeds 3 1 1.3 1.5 1.6 1.7
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aehealth.torch import trial  # noqa: E402


class VAE(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU())
        self.mean, self.log_variance = nn.Linear(256, latent), nn.Linear(256, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mean(h), self.log_variance(h)
        return self.decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar


class MADE(nn.Module):
    """Pixel i's logit from pixels before it only: two masked layers (Germain et al. 2015), with a fixed ordering."""

    def __init__(self, d=784, hidden=1000):
        super().__init__()
        degree = torch.randint(1, d, (hidden,), generator=torch.Generator().manual_seed(0))
        order = torch.arange(1, d + 1)
        self.register_buffer('mask_in', (degree[:, None] >= order[None, :]).float())
        self.register_buffer('mask_out', (order[:, None] > degree[None, :]).float())
        self.first, self.second = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        h = F.relu(F.linear(x, self.first.weight * self.mask_in, self.first.bias))
        return F.linear(h, self.second.weight * self.mask_out, self.second.bias)


class AutoregressiveVAE(VAE):
    """The VAE whose decoder also sees the pixels before each pixel: it can draw an image without the code."""

    def __init__(self, latent=8):
        super().__init__(latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 784))
        self.pixels = MADE()

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mean(h), self.log_variance(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.decoder(z) + self.pixels(x)), mu, logvar


class RowVAE(VAE):
    """The VAE whose decoder is a GRU over the image's rows, each row drawn from the code and the rows above it."""

    def __init__(self, latent=8, hidden=512):
        super().__init__(latent)
        self.decoder = nn.GRU(28 + latent, hidden, batch_first=True)
        self.pixels = nn.Linear(hidden, 28)

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mean(h), self.log_variance(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        image = x.view(-1, 28, 28)
        above = torch.cat([torch.zeros_like(image[:, :1]), image[:, :-1]], 1)  # row i sees rows 0 to i - 1
        rows, _ = self.decoder(torch.cat([above, z[:, None].expand(-1, 28, -1)], 2))
        return torch.sigmoid(self.pixels(rows)).reshape(-1, 784), mu, logvar


class TableVAE(VAE):
    """A small MLP VAE for rows of 12 values: 12-32-(2)-32-12, a linear output."""

    def __init__(self, latent=2, values=12, hidden=32):
        nn.Module.__init__(self)  # not VAE's: its MNIST-sized layers
        self.encoder = nn.Sequential(nn.Linear(values, hidden), nn.ReLU())
        self.mean, self.log_variance = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, values))


def one_factor(rows=1000, values=12, noise=0.05, seed=0):
    """Rows driven by one standard normal factor along a random unit direction, plus independent noise: a covariance
    whose largest eigenvalue (about 1) holds nearly all the variance."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=values)
    direction /= np.linalg.norm(direction)
    return (rng.normal(size=(rows, 1)) * direction + noise * rng.normal(size=(rows, values))).astype('float32')


class VAELoss(nn.Module):
    def __init__(self, kl_weight, reconstruction='mse'):
        super().__init__()
        self.kl_weight, self.reconstruction = kl_weight, reconstruction

    def forward(self, out, x):
        recon, mu, logvar = out
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        error = F.mse_loss if self.reconstruction == 'mse' else F.binary_cross_entropy
        return (error(recon, x, reduction='sum') + self.kl_weight * kl) / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('weights', type=float, nargs='+', help='KL weights to try')
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--autoregressive', action='store_true', help='a decoder that also sees the pixels before each one')
    p.add_argument('--rows', action='store_true', help='a GRU decoder that draws each row from the code and the rows '
                                                       'above')
    p.add_argument('--sgd', type=float, default=None, metavar='LR',
                   help='train with plain SGD (momentum 0.9) at this learning rate, not Adam 1e-3')
    p.add_argument('--factor', action='store_true',
                   help='not MNIST: a table of 12 values driven by one factor (one_factor), the VAE TableVAE, batch 64')
    p.add_argument('--seeds', type=int, default=1, help='seeds per run')
    args = p.parse_args()
    with np.load(ROOT / 'tests' / 'data' / 'mnist_subset.npz') as f:
        x = f['x_train'].reshape(-1, 784).astype('float32') / 255
    build, loss = (AutoregressiveVAE, 'bce') if args.autoregressive else (RowVAE, 'bce') if args.rows else (VAE, 'mse')
    batch = {'batch_size': 64} if args.factor else {}
    if args.factor:
        build, x = TableVAE, one_factor()
        print(f'largest variance {np.linalg.eigvalsh(np.cov(x.T))[-1]:.3f} of {np.trace(np.cov(x.T)):.3f}; noise '
              f'the KL weight implies: half of it (summed squared error)')
    if args.autoregressive or args.rows:
        x = (x > 0.5).astype('float32')
    for weight in args.weights:
        optimizer = None if args.sgd is None else (lambda params: torch.optim.SGD(params, args.sgd, momentum=0.9))
        report = trial(build, x, VAELoss(weight, loss), optimizer=optimizer, epochs=args.epochs,
                       changes=['kl_warmup', 'kl_div10'], seeds=range(args.seeds), jobs=2, verbose=False, **batch)
        said = [f"{r['change'] or 'as it is'} ({r['seed']}): {'learns' if r['learns'] else 'stuck'} {r['final_ratio'] if r['final_ratio'] is None else round(r['final_ratio'], 3)}x "
                f"[{', '.join(f['rule'] for f in r['findings'] if f['level'] == 'failure') or '-'}]"
                for r in report.runs]
        print(f'KL weight {weight:g}, {args.epochs} epochs: ' + '; '.join(said), flush=True)


if __name__ == '__main__':
    main()
