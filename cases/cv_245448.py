"""Cross Validated question 245448: an all-sigmoid 784-100-50-100-784 network whose output is a "blob".

As reported (TensorFlow): sigmoid on every layer, inputs in [0,1], cross-entropy; the weights into the first
layer shrink to zero and every output is a blob; with mean squared error it works. Not reported: the optimiser,
learning rate, batch and epochs. None tried here gives "cross-entropy fails, MSE works": with plain gradient
descent (learning rate 1 or 10) or Adagrad both losses stay on the plateau; with RMSProp (0.01), Adam (0.01) or
gradient descent at 100 both learn. The case uses plain gradient descent, learning rate 1, batch 256, the subset
passed 10 times an epoch for 20 epochs (940 steps), checked every 2: the reported failure, and the reported fix
failing too.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://stats.stackexchange.com/questions/245448'
SYMPTOM = 'the output is always a "blob"; the weights into the first layer shrink to zero'
CAUSE = 'two answers compete: cross-entropy treats MNIST as binary (top answer); the sigmoids saturate (comments)'
FIX = 'mean squared error (what the reporter found to work)'
NAMES = ('saturated_units', 'vanishing_gradient')
# As measured: a miss. The run finds the outcome (one output, collapsed code, plateau) but neither cause the
# answers give fires (no layer saturated for 99% of the sample, no vanishing gradient), and MSE fails as well.
EXPECTED = (False, False)


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    model = keras.Sequential([keras.Input((784,))] + [layers.Dense(n, activation='sigmoid') for n in (100, 50, 100, 784)],
                             name='all_sigmoid')
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss='mse' if fixed else 'binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=20, batch_size=256, shuffle=True), repeat=10, every=2)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
