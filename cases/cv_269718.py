"""Cross Validated question 269718 (and AI StackExchange 20686): ReLU on every layer, the output included.

As reported (deeplearning4j): a 4-4-4 autoencoder, ReLU on every layer, Xavier initialisation, plain SGD with
learning rate 0.01, no noise; a few samples such as [0.1, 0.3, 0.7, 0.2] passed over and over; some outputs
stay at 0 (e.g. [0.1, 0.0, 0.7, 0.0]) and more iterations do not help. The case: eight samples uniform in
[0, 1), passed 100 times an epoch in batches of 8 (each batch: the eight samples), 20 epochs (2000 steps),
checked every 5.
"""
import numpy as np

import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://stats.stackexchange.com/q/269718 and https://ai.stackexchange.com/questions/20686'
SYMPTOM = 'some outputs stuck at 0, whatever the input'
CAUSE = 'dead ReLU units: a ReLU output stuck below 0 gets no gradient, and cannot produce values below 0'
FIX = 'a linear output'
NAMES = ('dead_units', 'targets_out_of_range')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = np.random.default_rng(3).uniform(0, 1, (8, 4)).astype('float32')
    model = keras.Sequential([keras.Input((4,)), layers.Dense(4, activation='relu'),
                              layers.Dense(4, activation='linear' if fixed else 'relu')], name='relu_4_4_4')
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=20, batch_size=8, shuffle=False), repeat=100, every=5)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
