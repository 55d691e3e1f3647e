"""keras-team/keras issue 10753: an LSTM autoencoder of sine waves that "was only able to learn the average".

As reported (tf.keras): Input((100, 1)) -> LSTM(30) -> RepeatVector(100) -> LSTM(1, return_sequences=True), the
Keras blog's sequence autoencoder; sine waves of random period, phase and amplitude, "values between zero and one and
centered at .5", 100 steps; batch 51; 110 epochs. Not reported: the optimizer, the loss and how many waves; the case
uses Adam and mean squared error (the blog's), 510 waves (10 batches), and 20 epochs (200 steps). The thread ended
with no answer: no cause was given.
"""
import numpy as np

import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/keras-team/keras/issues/10753'
SYMPTOM = 'the reconstruction is the average of the signal'
CAUSE = 'none given (the thread has no answer)'
FIX = None  # none given: there is no fixed version to run
NAMES = None  # no documented cause: the case checks that the run is stuck and that the report names a cause or says none fired
EXPECTED = (True, None)


def waves(n=510, steps=100, seed=0):
    """Sine waves between 0 and 1 centred at 0.5: random period (10 to 50 steps), phase and amplitude (0.1 to 0.5)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[None]
    period, phase, amp = rng.uniform(10, 50, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1)), rng.uniform(0.1, 0.5, (n, 1))
    return (0.5 + amp * np.sin(2 * np.pi * t / period + phase))[..., None].astype('float32')


def build(fixed=False):
    x = waves()
    model = keras.Sequential([keras.Input((100, 1)), layers.LSTM(30), layers.RepeatVector(100),
                              layers.LSTM(1, return_sequences=True)], name='lstm_10753')
    model.compile(optimizer='adam', loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=20, batch_size=51, shuffle=True), every=5)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
