"""keras-team/keras issue 14564: a convolutional autoencoder that "predicts every image pure white".

As reported: Input((256, 256, 3)) -> Conv2D(12) -> BatchNormalization -> Conv2D(12) -> Conv2D(3), 1,119
parameters (so 2x2, 2x2 and 3x3 kernels); "I've tried up to 58 million trainable params". The maintainers asked for
the code and the thread ended: no cause was given. Not reported, and guessed here: 'same' padding, relu in the hidden
layers, a sigmoid output, mean squared error, Adam, and images as a loader gives them, 0-255 (every pixel of a
sigmoid asked for 0-255 is pushed to 1: white). The images: the MNIST subset as three identical channels, 28x28
(the symptom needs no 256x256 photos); 10 epochs of batch 32 (380 steps).
"""
import numpy as np

import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/keras-team/keras/issues/14564'
SYMPTOM = 'every prediction is a pure white image'
CAUSE = 'none given (the maintainers asked for the code; the thread ended)'
FIX = None  # none given: there is no fixed version to run
NAMES = None  # no documented cause: the case checks that the run is stuck and that the report names a cause or says none fired
EXPECTED = (True, None)


def build(fixed=False):
    x = np.repeat(common.mnist()[0][..., None], 3, axis=-1).astype('float32')  # 0-255, three channels
    model = keras.Sequential([keras.Input((28, 28, 3)), layers.Conv2D(12, 2, padding='same', activation='relu'),
                              layers.BatchNormalization(), layers.Conv2D(12, 2, padding='same', activation='relu'),
                              layers.Conv2D(3, 3, padding='same', activation='sigmoid')], name='white_14564')
    model.compile(optimizer='adam', loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=10, batch_size=32, shuffle=True))


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
