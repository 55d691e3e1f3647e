"""keras-team/keras issue 3642: the Keras blog's dense autoencoder, fed MNIST pixels left at 0-255.

As reported: Dense(32, relu) -> Dense(784, sigmoid), adadelta, binary cross-entropy, batch 256, MNIST as
keras.datasets gives it (uint8 0-255, never divided by 255). Adadelta's learning rate is 1.0, Keras 1's default
then (Keras 3's default is 0.001). The blog trained 50 epochs on 60000 images (11700 steps); the case passes the
1200-image subset 10 times an epoch for 12 epochs (565 steps) and checks every 2.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:  # run as a script: python cases/keras_3642.py
    import common

SOURCE = 'https://github.com/keras-team/keras/issues/3642'
SYMPTOM = 'reconstructions "way worse" than the tutorial\'s'
CAUSE = 'the inputs are 0-255 integers (the maintainer)'
FIX = 'cast to float and divide by 255'
NAMES = ('inputs_not_scaled', 'targets_out_of_range')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32')
    if fixed:
        x = x / 255
    model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation='relu'),
                              layers.Dense(784, activation='sigmoid')], name='blog_dense')
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0), loss='binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=12, batch_size=256, shuffle=True), repeat=10, every=2)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
