"""tensorflow/tensorflow issue 39432: the Keras blog's dense autoencoder, which "fails to converge" under tf.keras.

As reported: Dense(32, relu) -> Dense(784, sigmoid), compile(optimizer='adadelta', loss='binary_crossentropy'), 20
epochs of batch 256, MNIST / 255: with Keras 2.3.1 it converges fast, with tf.keras it does not. The cause, given by
a TensorFlow maintainer for the same symptom (tensorflow/tensorflow#32950): tf.keras changed Adadelta's default
learning rate from 1.0 to 0.001 (the 1.14 release notes, tensorflow/tensorflow#30941); "explicitly change the code
to: opt = tf.keras.optimizers.Adadelta(learning_rate=1.0)". Keras 3 keeps 0.001. Here: the subset passed 10 times an
epoch, batch 256, 20 epochs (940 steps), checked every 2.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/tensorflow/tensorflow/issues/39432 and https://github.com/tensorflow/tensorflow/issues/32950'
SYMPTOM = 'the blog\'s autoencoder does not converge under tf.keras'
CAUSE = 'the string \'adadelta\' now means learning rate 0.001, not 1.0 (a TensorFlow maintainer, in #32950)'
FIX = 'keras.optimizers.Adadelta(learning_rate=1.0)'
NAMES = ('learning_rate_low',)
# As measured: one step moves the fastest weight matrix by 2.3e-6 of its size, under the band's 1e-5 (DeepDiagnosis';
# the slowest healthy step measured is 3.6e-5), and the printed fix multiplies the rate by 1000, the documented 1.0.
# A miss until 2026-12-06, when the floor was 1e-6 ("no cause found").
EXPECTED = (True, True)


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation='relu'),
                              layers.Dense(784, activation='sigmoid')], name='blog_dense_tf_keras')
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0) if fixed else 'adadelta',
                  loss='binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=20, batch_size=256, shuffle=True), repeat=10, every=2)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
