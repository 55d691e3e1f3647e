"""StackOverflow question 44601367: a sigmoid output asked to reproduce the values 1, 2 and 3.

As reported: nine rows, every one [1, 2, 3]; Dense(3, relu) -> Dense(3, sigmoid), adadelta (learning rate 1.0,
Keras 2's default then), mean squared error, 100 epochs, batch 4 (here: the nine rows passed 10 times an epoch,
10 epochs: the same 300 steps). Every output came out [0.80, 0.89, 0.91].
The answer could not be retrieved; from the code, a sigmoid cannot exceed 1.
"""
import numpy as np

import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://stackoverflow.com/questions/44601367'
SYMPTOM = 'a constant output [0.80, 0.89, 0.91] for the input [1, 2, 3]'
CAUSE = 'a sigmoid output cannot produce targets above 1 (read from the code; the answer was not retrievable)'
FIX = 'a linear output'
NAMES = ('targets_out_of_range',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = np.tile(np.array([[1, 2, 3]], 'float32'), (9, 1))
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, activation='relu'),
                              layers.Dense(3, activation='linear' if fixed else 'sigmoid')], name='tiny')
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0), loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=10, batch_size=4, shuffle=True), repeat=10)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
