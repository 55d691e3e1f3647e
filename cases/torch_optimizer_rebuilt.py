"""The model built a second time after its optimizer: the optimizer steps the first model's weights, and the model
that trains and is evaluated never changes.

spro/practical-pytorch issue 9 (a char-RNN notebook, fixed in the repository): the notebook made the model, made the
optimizer from its parameters, then made the model again; "the model does not learn". PyTorch's own issue 14467
asks for a warning when an optimizer's parameters are not the model's. Rebuilt on the tutorials' conv autoencoder
(cases/torch_control_conv.py): the same two lines in the same order. MSE, Adam 1e-3, batch 64, 5 epochs.
"""
import torch
from torch import nn

try:
    from cases import common
    from cases.torch_control_conv import ConvAutoencoder
except ImportError:
    import common
    from torch_control_conv import ConvAutoencoder

FRAMEWORK = 'torch'
SOURCE = 'https://github.com/spro/practical-pytorch/issues/9 and https://github.com/pytorch/pytorch/issues/14467'
SYMPTOM = 'the loss does not fall at all'
CAUSE = 'the optimizer holds the parameters of a model made before the one that is trained'
FIX = 'make the optimizer from the final model\'s parameters'
NAMES = ('optimizer_misses_weights',)
EXPECTED = (True, True)


def build(fixed=False):
    x = common.mnist()[0][:, None].astype('float32') / 255
    first = ConvAutoencoder()
    optimizer = torch.optim.Adam(first.parameters(), 1e-3)
    model = first if fixed else ConvAutoencoder()  # the notebook's second `model = ...`
    return dict(model=model, x=x, y=x, loss_fn=nn.MSELoss(), make_optimizer=lambda model: optimizer, epochs=5,
                batch_size=64)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
