"""Control: a pretrained encoder frozen while a new decoder learns, as transfer learning does on purpose.

The tutorials' dense autoencoder (cases/torch_zero_grad.py) is trained 10 epochs; its encoder is then frozen
(requires_grad_(False)) under a fresh decoder, and only the decoder's parameters go to the optimizer. MSE, Adam
1e-3, batch 64, 10 epochs of the subset. It learns: frozen weights are named only when a run is stuck.
"""
import torch
from torch import nn

try:
    from cases import common
    from cases.torch_zero_grad import dense_autoencoder
except ImportError:
    import common
    from torch_zero_grad import dense_autoencoder

FRAMEWORK = 'torch'
SOURCE = 'https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html (freezing a pretrained part)'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    pretrained, loss_fn = dense_autoencoder(), nn.MSELoss()
    optimizer, xt = torch.optim.Adam(pretrained.parameters(), 1e-3), torch.as_tensor(x)
    for _ in range(10):
        common.plain_epoch(pretrained, optimizer, loss_fn, xt, xt, 64)
    encoder = nn.Sequential(*list(pretrained)[:4]).requires_grad_(False)
    decoder = nn.Sequential(*list(dense_autoencoder())[4:])
    return dict(model=nn.Sequential(encoder, decoder), x=x, y=x, loss_fn=loss_fn,
                make_optimizer=lambda model: torch.optim.Adam(decoder.parameters(), 1e-3), epochs=10, batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
