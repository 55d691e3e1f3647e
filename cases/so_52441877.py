"""StackOverflow question 52441877: softmax across the 784 output pixels of a dense autoencoder.

As reported: Dense 784-128-64-28-64-128 (relu) -> Dense(784, softmax), binary cross-entropy, adam, batch 100, MNIST
as keras.datasets gives it (0-255). They trained 5 epochs on 60000 images (3000 steps); the case passes the subset
10 times an epoch for 4 epochs (480 steps).
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://stackoverflow.com/questions/52441877'
SYMPTOM = 'a loss that makes no sense'
CAUSE = 'softmax on the output layer (and pixels left at 0-255) (the accepted answer)'
FIX = 'sigmoid on the output, and divide the pixels by 255'
NAMES = ('softmax_output', 'targets_out_of_range', 'inputs_not_scaled')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32')
    if fixed:
        x = x / 255
    model = keras.Sequential([keras.Input((784,))] + [layers.Dense(n, activation='relu') for n in (128, 64, 28, 64, 128)]
                             + [layers.Dense(784, activation='sigmoid' if fixed else 'softmax')], name='dense_softmax')
    model.compile(optimizer='adam', loss='binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=4, batch_size=100, shuffle=True), repeat=10)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
