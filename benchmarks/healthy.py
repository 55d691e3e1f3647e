"""What healthy autoencoders show to the health rules: the numbers the thresholds of diagnostics.py are set against.

    python benchmarks/healthy.py            # about 10 minutes on 2 cores

Ten autoencoders that learn MNIST (the Keras blog's, keras.io's, dense, convolutional, tanh, sigmoid, with separate
Activation layers, with BatchNorm, and the question's network with --fix's changes) are measured untrained, then
trained 5 epochs of the committed subset (passed 10 times an epoch) with Adam, plain SGD with momentum and Adadelta.
Prints, per model: before training the output diversity, the last hidden layer's spread across inputs relative to its
scale, and the first weight matrix's gradient relative to the last's; while training, the range of the largest
per-step update of any weight matrix, relative to its size. The question's posted network is measured too, for
contrast.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
from keras import layers as L  # noqa: E402

from aehealth.keras import HealthMonitor, Probe  # noqa: E402
from cases import common, question  # noqa: E402


def seq(*stack, shape=(784,)):
    return keras.Sequential([keras.Input(shape), *stack])


def conv(*stack):
    return seq(*stack, shape=(28, 28, 1))


MODELS = {
    'Keras blog, dense 32': lambda: seq(L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')),
    'Keras blog, deep dense': lambda: seq(*[L.Dense(n, activation='relu') for n in (128, 64, 32, 64, 128)],
                                          L.Dense(784, activation='sigmoid')),
    'Keras blog, convolutional': lambda: conv(
        L.Conv2D(16, 3, activation='relu', padding='same'), L.MaxPooling2D(2, padding='same'),
        L.Conv2D(8, 3, activation='relu', padding='same'), L.MaxPooling2D(2, padding='same'),
        L.Conv2D(8, 3, activation='relu', padding='same'), L.MaxPooling2D(2, padding='same'),
        L.Conv2D(8, 3, activation='relu', padding='same'), L.UpSampling2D(2),
        L.Conv2D(8, 3, activation='relu', padding='same'), L.UpSampling2D(2),
        L.Conv2D(16, 3, activation='relu'), L.UpSampling2D(2), L.Conv2D(1, 3, activation='sigmoid', padding='same')),
    'keras.io, convolutional': lambda: conv(
        L.Conv2D(32, 3, activation='relu', padding='same'), L.MaxPooling2D(2, padding='same'),
        L.Conv2D(32, 3, activation='relu', padding='same'), L.MaxPooling2D(2, padding='same'),
        L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same'),
        L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same'),
        L.Conv2D(1, 3, activation='sigmoid', padding='same')),
    'strided conv, dense code 16': lambda: conv(
        L.Conv2D(32, 3, strides=2, activation='relu', padding='same'),
        L.Conv2D(64, 3, strides=2, activation='relu', padding='same'), L.Flatten(), L.Dense(16, activation='relu'),
        L.Dense(7 * 7 * 64, activation='relu'), L.Reshape((7, 7, 64)),
        L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same'),
        L.Conv2DTranspose(1, 3, strides=2, activation='sigmoid', padding='same')),
    'dense tanh': lambda: seq(*[L.Dense(n, activation='tanh') for n in (256, 64, 256)], L.Dense(784, activation='sigmoid')),
    'dense sigmoid 256': lambda: seq(L.Dense(256, activation='sigmoid'), L.Dense(784, activation='sigmoid')),
    'separate Activation layers': lambda: seq(L.Dense(128), L.Activation('relu'), L.Dense(32), L.Activation('relu'),
                                              L.Dense(128), L.ReLU(), L.Dense(784), L.Activation('sigmoid')),
    'BatchNorm': lambda: seq(L.Dense(256), L.BatchNormalization(), L.ReLU(), L.Dense(32, activation='relu'),
                             L.Dense(256), L.BatchNormalization(), L.ReLU(), L.Dense(784, activation='sigmoid')),
    'the question, --fix': lambda: question.network(True),
    'the question as posted (not healthy)': lambda: question.network(False),
}
OPTIMIZERS = {'Adam 1e-3': lambda: keras.optimizers.Adam(1e-3), 'SGD 0.1, momentum 0.9': lambda: keras.optimizers.SGD(
    0.1, momentum=0.9), 'Adadelta 1.0': lambda: keras.optimizers.Adadelta(1.0)}


def main():
    images = common.mnist()[0][..., None].astype('float32') / 255
    print('| model | output diversity, untrained | last hidden layer\'s spread / scale, untrained | first / last '
          'gradient, untrained | largest step update while training (min to max over checks and optimisers) |')
    print('|---|---|---|---|---|')
    for name, make in MODELS.items():
        keras.utils.set_random_seed(0)
        model = make()
        x = images if len(model.inputs[0].shape) == 4 else images.reshape(-1, 784)
        model.compile(optimizer='adam', loss='binary_crossentropy')
        probe = Probe(model, x[:1000], x[:1000])
        snap, _ = probe.measure(0, x[:1000], x[:1000], x[:1000], None)
        hidden = [k for k in probe.keys if k != probe.output and probe.net['layers'][probe.keys.index(k)]['activation']
                  not in ('linear', None)]
        last = snap['layers'][hidden[-1]]
        kernels = list(probe.kernels)
        steps = []
        for make_opt in OPTIMIZERS.values():
            keras.utils.set_random_seed(0)
            model = make()
            model.compile(optimizer=make_opt(), loss='binary_crossentropy')
            monitor = HealthMonitor(x[:500], verbose=False)
            model.fit(np.concatenate([x] * 10), np.concatenate([x] * 10), epochs=5, batch_size=128, verbose=0,
                      callbacks=[monitor])
            steps += [max(v for v in h['step_update'].values() if v is not None) for h in monitor.health
                      if h.get('step_update')]
        print(f'| {name} | {snap["output_diversity"]:.1e} | {last["spread"] / last["rms"]:.2g} | '
              f'{snap["grad_norm"][kernels[0]] / snap["grad_norm"][kernels[-1]]:.1e} | {min(steps):.1e} to '
              f'{max(steps):.1e} |', flush=True)


if __name__ == '__main__':
    main()
