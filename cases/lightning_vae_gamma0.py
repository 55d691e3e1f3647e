"""AntixK/PyTorch-VAE with `scheduler_gamma: 0.0`, trained as the repository trains it: a LightningModule (its
VAEXperiment) whose configure_optimizers returns Adam and an ExponentialLR, fitted by a Lightning Trainer, with
aehealth.lightning.HealthCallback beside it.

AntixK/PyTorch-VAE issue 71: a user's loss did not improve; another user pointed to the config's scheduler, whose
`ExponentialLR(optimizer, gamma=scheduler_gamma)` turns the rate to 0 when the gamma is 0; the repository's own configs
use 0.95. The model is torch_scheduler_gamma0's VanillaVAE (convolutions with BatchNorm and LeakyReLU to a
16-dimensional latent and back, a Tanh output, `forward` returning [reconstruction, input, mu, log_var], MSE plus
the KL term weighted by the batch's share of the data); what differs from that case is the loop: Lightning's
(`training_step`, the scheduler stepped by the Trainer once per epoch), batch 64 from a DataLoader of (image,
label) pairs as the repository's CelebA loader gives them, 6 epochs of the MNIST subset, Adam at 0.005.

Measured: at the repository's gamma the rate no longer drops to 0, and the run ends as torch_scheduler_gamma0's
does (the posterior collapsed, the first steps too large at 0.005): the documented fix removes the documented cause,
not every failure; marked in the table.
"""
import torch

try:
    from cases import common
    from cases.torch_scheduler_gamma0 import VanillaVAE, loss_function
except ImportError:
    import common
    from torch_scheduler_gamma0 import VanillaVAE, loss_function

FRAMEWORK = 'lightning'
SOURCE = 'https://github.com/AntixK/PyTorch-VAE/issues/71 (the Lightning loop of its experiment.py)'
SYMPTOM = 'the loss stops improving'
CAUSE = 'scheduler_gamma 0.0: ExponentialLR sets the learning rate to 0 after the first epoch'
FIX = 'scheduler_gamma 0.95, the repository\'s own value'
NAMES = ('learning_rate_scheduled_to_zero',)
EXPECTED = (True, False)  # (names the cause, fixed version clean), as measured


def experiment(gamma, lr=0.005, loss=loss_function):
    """The repository's VAEXperiment, small: the model, its loss, Adam, and an ExponentialLR when a gamma is set."""
    import lightning.pytorch as pl

    class VAEXperiment(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = VanillaVAE()

        def forward(self, x):
            return self.model(x)

        def training_step(self, batch, batch_idx):
            real_img, labels = batch
            return loss(self.forward(real_img), real_img)

        def configure_optimizers(self):
            optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
            if gamma is None:
                return optimizer
            return [optimizer], [torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)]
    return VAEXperiment()


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    return dict(module=experiment(0.95 if fixed else 0.0), x=x, y=x, loss_fn=loss_function, epochs=6,
                batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
