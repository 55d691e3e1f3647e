"""The question itself, in Keras: seven sigmoid layers in a row (2x2 stride-2 convolutions, as posted).

Fixed: autoencoder.py's --fix network (ReLU, 5x5/3x3 kernels, lr 1e-3). Keras' fit has no slicing bug, so
what is left is the network: this project's ablation measured that ReLU alone makes it learn, and that the
accepted answer's kernels alone do not.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:  # run as a script: python cases/question.py
    import common

SOURCE = ('https://52sbl.cn/discussion/56543.html (a translation of the Data Science StackExchange question this project '
          'reproduces)')
SYMPTOM = 'one output for every input; the loss stays at the mean image\'s'
CAUSE = 'seven sigmoid layers in a row: the input\'s differences vanish before the output, and so does the gradient'
FIX = 'ReLU in the hidden layers, 5x5 and 3x3 kernels, Adam 1e-3 (autoencoder.py --fix)'
NAMES = ('one_output', 'vanishing_gradient', 'saturated_units', 'plateau')
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def network(fixed=False, kernels=False):
    """The question's graph as a Keras model: posted (sigmoid, 2x2 VALID, stddev-1 conv init) or --fix's; kernels:
    the accepted answer's 5x5 and 3x3 kernels (SAME) alone."""
    act = 'relu' if fixed else 'sigmoid'
    (k1, k2), pad = ((5, 3), 'same') if fixed or kernels else ((2, 2), 'valid')
    conv_init = keras.initializers.TruncatedNormal(stddev=1.0)  # the question's truncated_normal_initializer()
    return keras.Sequential([
        keras.Input((784,)), layers.Reshape((28, 28, 1)),
        layers.Conv2D(16, k1, strides=2, padding=pad, activation=act, kernel_initializer=conv_init, name='conv1'),
        layers.Conv2D(32, k2, strides=2, padding=pad, activation=act, kernel_initializer=conv_init, name='conv2'),
        layers.Flatten(),
        layers.Dense(128, activation=act, name='fc1'),
        layers.Dense(64, activation=act, name='code'),
        layers.Dense(128, activation=act, name='decoder_fc1'),
        layers.Dense(7 * 7 * 32, activation=act, name='decoder_fc2'),
        layers.Reshape((7, 7, 32)),
        layers.Conv2DTranspose(16, k2, strides=2, padding=pad, activation=act, name='deconv1'),
        layers.Conv2DTranspose(1, k1, strides=2, padding=pad, activation='sigmoid', name='deconv2'),
        layers.Reshape((784,)),
    ], name='question_fixed' if fixed else 'question_posted')


def build(fixed=False, kernels=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    model = network(fixed, kernels)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if fixed else 1e-4), loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=20, batch_size=100 if fixed else 1000, shuffle=True), every=2)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
