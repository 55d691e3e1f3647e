"""Where does a VAE's KL weight make encoding nothing the optimum? The tabular VAE of cases/torch_carla_155.py (12
values in [0, 1] from 3 hidden factors, 12-16-8 to a 2-d latent, a sigmoid output, Adam 1e-3, batch 64), with and
without its batch norm, under a squared error averaged over the values (F.mse_loss's mean) or summed over each row's,
at each KL weight given: the Gaussian decoder noise each loss implies (what `kl_outweighs` measures) against the
targets' largest variance, and how the run ends. docs/rules.md ("KL term too strong") reports what this printed.

    python benchmarks/kl_noise.py --epochs 20 1 0.3 0.1
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aehealth import stats  # noqa: E402
from aehealth.torch import trial  # noqa: E402
from cases.torch_carla_155 import TabularVAE, table  # noqa: E402


class Loss:
    """Squared error (`reduction`: 'mean' over every value, or 'sum' over each row's) plus kl_weight x the KL term."""

    def __init__(self, reduction, kl_weight):
        self.reduction, self.kl_weight = reduction, kl_weight

    def __call__(self, out, x):
        recon, mu, log_var = out
        squared = F.mse_loss(recon, x, reduction=self.reduction) / (len(x) if self.reduction == 'sum' else 1)
        return squared + self.kl_weight * -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / len(x)


def batch_norm():
    return TabularVAE(batch_norm=True)


def plain():
    return TabularVAE(batch_norm=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('weights', type=float, nargs='+', help='KL weights to try')
    parser.add_argument('--epochs', type=int, default=20, help='epochs per run (default 20, as the case)')
    args = parser.parse_args()
    x = table()
    print(f'targets: top variance {stats.top_variance(x[:1000]):.3g} (the monitor\'s 1000-row sample)')
    print('| batch norm | squared error | KL weight | noise variance | final loss / mean target\'s | verdict |')
    print('|---|---|---|---|---|---|')
    for build in (batch_norm, plain):
        for reduction in ('mean', 'sum'):
            for weight in args.weights:
                report = trial(build, x, Loss(reduction, weight), epochs=args.epochs, batch_size=64, changes=[],
                               verbose=False)
                run = report.runs[0]
                noise = weight * (x.shape[1] if reduction == 'mean' else 1) / 2  # w r D / 2c, c = 1 or D per row
                failures = [f['rule'] for f in run['findings'] if f['level'] == 'failure']
                print(f'| {"yes" if build is batch_norm else "no"} | {reduction} | {weight:g} | {noise:.3g} | '
                      f'{run["final_ratio"]:.2f} | {"learns" if run["learns"] else ", ".join(failures)} |',
                      flush=True)


if __name__ == '__main__':
    main()
