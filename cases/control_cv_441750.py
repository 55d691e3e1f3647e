"""Control: Cross Validated question 441750, binary cross-entropy on targets that are not 0 or 1.

As reported: x = numpy.random.rand(30000, 100), the input as its own target; Dense(100, relu) x5 ->
Dense(100, sigmoid), adam, binary cross-entropy. The loss never reaches 0, and the answer explains why: on
targets strictly between 0 and 1 cross-entropy's minimum is their entropy, above 0. Not a failure. Not
reported: epochs and batch; "after 500 iterations": the case trains 4 epochs of batch 256 (470 steps). "Fixed"
is the same model.
"""
import numpy as np

import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://stats.stackexchange.com/questions/441750'
SYMPTOM = 'the loss never reaches 0 (not a failure)'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = np.random.default_rng(0).random((30000, 100)).astype('float32')
    i = keras.Input((100,))
    h = i
    for _ in range(5):
        h = layers.Dense(100, activation='relu')(h)
    model = keras.Model(i, layers.Dense(100, activation='sigmoid')(h), name='random_identity')
    model.compile(optimizer='adam', loss='binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=4, batch_size=256, shuffle=True))


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
