"""Control: the same Lightning VAE experiment as lightning_vae_gamma0, as a user who keeps its loop and fixes its
settings would train it: Adam at 1e-3, no scheduler, the MSE summed over pixels against the summed KL (the balance
the VAE paper's objective has; torch_scheduler_gamma0's measurement showed the averaged MSE collapsing the
posterior), 10 epochs of the MNIST subset. It learns: no failure finding is right.
"""
import torch
import torch.nn.functional as F

try:
    from cases import common
    from cases.lightning_vae_gamma0 import experiment
except ImportError:
    import common
    from lightning_vae_gamma0 import experiment

FRAMEWORK = 'lightning'
SOURCE = 'https://github.com/AntixK/PyTorch-VAE (its experiment.py loop; a sound configuration)'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)


def loss_function(out, x):
    recons, _, mu, log_var = out
    kld = -0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp())
    return (F.mse_loss(recons, x, reduction='sum') + kld) / len(x)


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    return dict(module=experiment(None, 1e-3, loss_function), x=x, y=x, loss_fn=loss_function, epochs=10, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
