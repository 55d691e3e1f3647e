"""Is there a VAE that the trial's KL warm-up unsticks? An MLP VAE (784-256-(8)-256-784, summed squared error plus
`kl_weight` times the KL term) on the committed MNIST subset, tried as it is and with `kl_warmup`, for each KL weight
given. docs/aehealth.md ("Prove the fix: trial") reports what this printed.

    python benchmarks/kl_warmup.py --epochs 5 2 5 10 20
    python benchmarks/kl_warmup.py --epochs 20 1 3 4 4.5 5 6
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


class VAELoss(nn.Module):
    def __init__(self, kl_weight):
        super().__init__()
        self.kl_weight = kl_weight

    def forward(self, out, x):
        recon, mu, logvar = out
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (F.mse_loss(recon, x, reduction='sum') + self.kl_weight * kl) / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('weights', type=float, nargs='+', help='KL weights to try')
    p.add_argument('--epochs', type=int, default=20)
    args = p.parse_args()
    with np.load(ROOT / 'tests' / 'data' / 'mnist_subset.npz') as f:
        x = f['x_train'].reshape(-1, 784).astype('float32') / 255
    for weight in args.weights:
        report = trial(VAE, x, VAELoss(weight), epochs=args.epochs, changes=['kl_warmup'], jobs=2, verbose=False)
        said = [f"{r['change'] or 'as it is'}: {'learns' if r['learns'] else 'stuck'} {r['final_ratio']:.3f}x "
                f"[{', '.join(f['rule'] for f in r['findings'] if f['level'] == 'failure') or '-'}]"
                for r in report.runs]
        print(f'KL weight {weight:g}, {args.epochs} epochs: ' + '; '.join(said), flush=True)


if __name__ == '__main__':
    main()
