"""rajarsheem/libsdae-autoencoder-tensorflow issue 3: softmax as the hidden activation of a denoising autoencoder.

As reported: StackedAutoEncoder(dims=[100], activations=['softmax'], noise='gaussian', epoch=[1000], loss='cross-
entropy', lr=0.005, batch_size=100) on MNIST. The library (read at its source): weights and biases drawn from a
standard normal truncated at 2, a linear decoder with the transposed encoder weights (here an untied Dense,
initialised the same way), Adam, the loss -mean(x * log(decoded)), Gaussian noise of standard deviation 0.1 on the
inputs, and 1000 steps of one random batch each (here: the subset passed 10 times an epoch, 8 epochs, 960 steps).
The fix: what the maintainer suggested, relu in the hidden layer and learning rate 1e-4 (the outcome was not
recorded).
"""
import numpy as np

import keras
from keras import layers, ops

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/rajarsheem/libsdae-autoencoder-tensorflow/issues/3'
SYMPTOM = 'with cross-entropy the loss grows instead of converging; with mean squared error it is fine'
CAUSE = 'softmax as a hidden activation "almost never works" (the maintainer)'
FIX = 'relu in the hidden layer, learning rate 1e-4'
NAMES = ('softmax_hidden',)
# As measured: the cause is named, but the maintainer's fix does not remove the failure: the loss takes the log
# of a linear output, which goes negative whatever the hidden activation (NaN remains).
EXPECTED = (True, False)


def cross_entropy(x, decoded):
    """The library's 'cross-entropy': -mean(x * log(decoded)), decoded unbounded."""
    return -ops.mean(x * ops.log(decoded))


def build(fixed=False):
    clean = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape).astype('float32')
    init = keras.initializers.TruncatedNormal(stddev=1.0)
    model = keras.Sequential([keras.Input((784,)),
                              layers.Dense(100, activation='relu' if fixed else 'softmax', kernel_initializer=init,
                                           bias_initializer=init),
                              layers.Dense(784, kernel_initializer=init, bias_initializer=init)], name='libsdae')
    model.compile(optimizer=keras.optimizers.Adam(1e-4 if fixed else 0.005), loss=cross_entropy)
    return dict(model=model, x=noisy, y=clean, fit=dict(epochs=8, batch_size=100, shuffle=True), repeat=10)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
