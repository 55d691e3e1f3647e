"""What healthy autoencoders show to the health rules: the numbers aehealth.rules' thresholds are set against.

    python benchmarks/healthy.py                  # Keras and PyTorch: 6 minutes on a quiet 2-core AMD EPYC
    python benchmarks/healthy.py --only torch     # one framework

Autoencoders that learn (the Keras blog's, keras.io's, the TensorFlow tutorials' styles, dense, convolutional,
recurrent, tanh, sigmoid, with BatchNorm, VAEs, and the question's network with --fix's changes; in PyTorch the
same styles with its default initialisation and activations written in forward()) are measured untrained, then
trained 5 epochs of the committed subset (passed 10 times an epoch; the sequences, 512 waves, 20 times) with each
optimiser, under mean squared error or binary cross-entropy (a VAE under its own loss). Per model: before training the output diversity, the last
hidden layer's spread across inputs relative to its scale, the first weight matrix's gradient relative to the last's,
and the initial weights' standard deviations relative to Glorot's and He's scales; while training the largest
per-step update of any weight matrix relative to its size; after training the share of pinned output values (the
saturated-output rule's measure), the active latent dimensions of a VAE, the loss against the mean target's, and what
the pre-flight check and the monitor said. The question's posted network is measured too, for contrast.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cases import common  # noqa: E402  (the subset)


def waves():
    """512 sine waves of 24 steps in [0.1, 0.9], random phases: what the sequence autoencoders learn."""
    t = np.linspace(0, 2 * np.pi, 24)
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (512, 1))
    return (0.5 + 0.4 * np.sin(2 * t[None] + phase))[..., None].astype('float32')


def scale_range(snap):
    """(min over weight matrices of std / the smaller of Glorot's and He's, max of std / the larger)."""
    low, high = [], []
    for std, fan_in, fan_out in (snap.get('weight_scale') or {}).values():
        glorot, he = math.sqrt(2 / (fan_in + fan_out)), math.sqrt(2 / fan_in)
        low.append(std / min(glorot, he))
        high.append(std / max(glorot, he))
    return min(low), max(high)


RUNS = []  # every training run, for the second table: (model, optimiser, numbers)


def run_table():
    """Every training run: its loss against the mean target's, its pinned output share, what the monitor said."""
    lines = ['| model | optimiser | trained loss / mean target\'s | learned (under 0.5) | pinned output share | '
             'active latent dimensions | failures after training |', '|---|---|---|---|---|---|---|']
    for model, optimiser, r in RUNS:
        pinned = '-' if r['pinned'] is None else f'{r["pinned"]:.2f}'
        active = '-' if r['active'] is None else str(r['active'])
        lines.append(f'| {model} | {optimiser} | {r["ratio"]:.2f} | {"yes" if r["ratio"] < 0.5 else "no"} | {pinned} | '
                     f'{active} | {", ".join(r["failures"]) or "-"} |')
    return '\n'.join(lines)


def row(name, untrained, runs):
    """One line of the table: the untrained numbers, then the ranges over the training runs."""
    snap, net, preflight = untrained
    hidden = [layer['key'] for layer in net['layers'] if layer['key'] != net['output']
              and layer['activation'] not in ('linear', None)]
    last = snap['layers'][hidden[-1]] if hidden else None
    kernels = list(net['kernels'])
    low, high = scale_range(snap)
    steps = [s for r in runs for s in r['steps']] or [math.nan]
    pinned = [r['pinned'] for r in runs if r['pinned'] is not None]
    active = [r['active'] for r in runs if r['active'] is not None]
    said = sorted({rule for r in runs for rule in r['failures']})
    latent = f'{min(active)} to {max(active)} of {runs[0]["dims"]}' if active else '-'
    return (f'| {name} | {snap["output_diversity"]:.1e} | {last["spread"] / last["rms"]:.2g} | '
            f'{snap["grad_norm"][kernels[0]] / snap["grad_norm"][kernels[-1]]:.1e} | {low:.2g}, {high:.2g} | '
            f'{min(steps):.1e} to {max(steps):.1e} | {f"{max(pinned):.2f}" if pinned else "-"} | '
            f'{latent} | '
            f'{min(r["ratio"] for r in runs):.2f} to {max(r["ratio"] for r in runs):.2f} | '
            f'{", ".join(preflight) or "-"} | {", ".join(said) or "-"} |')


HEADER = ('| model | output diversity, untrained | last hidden spread / scale, untrained | first / last gradient, '
          'untrained | initial std: smallest / min(Glorot, He), largest / max(Glorot, He) | largest step update | '
          'pinned output share, trained under MSE | '
          'active latent dimensions | trained loss / mean target\'s | pre-flight failures | failures after training |'
          '\n|---|---|---|---|---|---|---|---|---|---|---|')


def trained_numbers(metrics, findings, pinned=True):
    """What a training run showed; `pinned`: whether its output's pinned share counts (a run under a squared error)."""
    end = metrics['health'][-1]
    b = metrics['baselines']
    pinned = max((v for v in (end.get('output_pinned') or {}).values() if v is not None), default=None) \
        if pinned else None
    posterior = end.get('posterior')
    return dict(steps=[max(v for v in h['step_update'].values() if v is not None) for h in metrics['health']
                       if any(v is not None for v in (h.get('step_update') or {}).values())],
                pinned=pinned, active=posterior['active'] if posterior else None,
                dims=posterior['dims'] if posterior else None,
                ratio=(metrics['final_loss'] - b['floor']) / (b['mean_input'] - b['floor']),
                failures=[f['rule'] for f in findings if f['level'] == 'failure'])


# ---------------------------------------------------------------- Keras

def keras_models():
    import keras
    from keras import layers as L
    from keras import ops

    from cases import question

    def seq(*stack, shape=(784,)):
        return keras.Sequential([keras.Input(shape), *stack])

    def conv(*stack):
        return seq(*stack, shape=(28, 28, 1))

    class Subclassed(keras.Model):  # the TensorFlow tutorials' style
        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential([L.Dense(64, activation='relu')])
            self.decoder = keras.Sequential([L.Dense(784, activation='sigmoid')])

        def call(self, x):
            return self.decoder(self.encoder(x))

    class Sampling(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.generator = keras.random.SeedGenerator(1)

        def call(self, inputs):
            return inputs[0] + ops.exp(0.5 * inputs[1]) * keras.random.normal(ops.shape(inputs[0]), seed=self.generator)

    class KL(L.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            self.add_loss(ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))
            return inputs

    def vae():  # the Keras blog's VAE with the reconstruction summed over pixels (the corrected example)
        i = keras.Input((784,))
        h = L.Dense(256, activation='relu')(i)
        z_mean, z_log_var = KL()([L.Dense(8)(h), L.Dense(8)(h)])
        encoder = keras.Model(i, [z_mean, z_log_var])
        j = keras.Input((8,))
        decoder = keras.Model(j, L.Dense(784, activation='sigmoid')(L.Dense(256, activation='relu')(j)))
        model = keras.Model(i, decoder(Sampling()(encoder(i))))
        model.loss_override = lambda t, p: 784 * keras.losses.binary_crossentropy(t, p)

        def forward(x):
            mean, log_variance = encoder(x)
            return decoder(mean), mean, log_variance
        model.forward = forward
        return model

    return {
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
        'TensorFlow tutorial, subclassed': Subclassed,
        'dense tanh': lambda: seq(*[L.Dense(n, activation='tanh') for n in (256, 64, 256)],
                                  L.Dense(784, activation='sigmoid')),
        'dense sigmoid 256': lambda: seq(L.Dense(256, activation='sigmoid'), L.Dense(784, activation='sigmoid')),
        'deep sigmoid 256-128-64-128-256': lambda: seq(*[L.Dense(n, activation='sigmoid') for n in
                                                         (256, 128, 64, 128, 256)], L.Dense(784, activation='sigmoid')),
        'separate Activation layers': lambda: seq(L.Dense(128), L.Activation('relu'), L.Dense(32), L.Activation('relu'),
                                                  L.Dense(128), L.ReLU(), L.Dense(784), L.Activation('sigmoid')),
        'BatchNorm': lambda: seq(L.Dense(256), L.BatchNormalization(), L.ReLU(), L.Dense(32, activation='relu'),
                                 L.Dense(256), L.BatchNormalization(), L.ReLU(), L.Dense(784, activation='sigmoid')),
        'LSTM sequence, TimeDistributed output': lambda: seq(
            L.LSTM(32), L.RepeatVector(24), L.LSTM(32, return_sequences=True), L.TimeDistributed(L.Dense(1)),
            shape=(24, 1)),
        'Conv1D sequence': lambda: seq(
            L.Conv1D(16, 3, padding='same', activation='relu'), L.MaxPooling1D(2),
            L.Conv1D(8, 3, padding='same', activation='relu'), L.UpSampling1D(2),
            L.Conv1D(1, 3, padding='same', activation='sigmoid'), shape=(24, 1)),
        'VAE, reconstruction summed over pixels': vae,
        'the question, --fix': lambda: question.network(True),
        'the question as posted (not healthy)': lambda: question.network(False),
    }


def keras_main():
    keras = common.quiet_keras()

    from aehealth import monitor as core
    from aehealth.keras import HealthMonitor, Probe, preflight

    optimizers = {'Adam 1e-3 under MSE': (lambda: keras.optimizers.Adam(1e-3), 'mse'),
                  'Adam 1e-3': (lambda: keras.optimizers.Adam(1e-3), 'binary_crossentropy'),
                  'SGD 0.1, momentum 0.9': (lambda: keras.optimizers.SGD(0.1, momentum=0.9), 'binary_crossentropy'),
                  'Adadelta 1.0': (lambda: keras.optimizers.Adadelta(1.0), 'binary_crossentropy')}
    images = common.mnist()[0][..., None].astype('float32') / 255
    print('Keras (each trained with ' + ', '.join(optimizers) + ' (binary cross-entropy but for the first, and for '
          'linear outputs; a VAE under its own loss); the pinned share from the MSE runs):\n\n' + HEADER)
    for name, make in keras_models().items():
        keras.utils.set_random_seed(0)
        model = make()
        shape = model.inputs[0].shape if getattr(model, 'inputs', None) else (None, 784)
        x = waves() if len(shape) == 3 else images if len(shape) == 4 else images.reshape(-1, 784)
        model.compile(optimizer='adam', loss=getattr(model, 'loss_override', 'mse'))
        forward = getattr(model, 'forward', None)
        found = preflight(model, x[:1000], verbose=False, forward=forward)
        session = core.Session(Probe(model, x[:1000], x[:1000], forward), x[:1000], x[:1000], core.Record())
        untrained = (session.check(0), session.probe.net, [f['rule'] for f in found if f['level'] == 'failure'])
        runs = []
        linear = session.probe.net['layers'][-1]['activation'] == 'linear'  # cross-entropy needs outputs in (0, 1)
        for optimiser, (make_opt, loss) in optimizers.items():
            loss = 'mse' if linear else loss
            keras.utils.set_random_seed(0)
            model = make()
            model.compile(optimizer=make_opt(), loss=getattr(model, 'loss_override', loss))
            monitor = HealthMonitor(x[:500], verbose=False, forward=getattr(model, 'forward', None))
            repeat = 20 if len(shape) == 3 else 10  # 512 waves: 80 steps an epoch, as the subset's 94
            model.fit(np.concatenate([x] * repeat), np.concatenate([x] * repeat), epochs=5, batch_size=128, verbose=0,
                      callbacks=[monitor])
            runs.append(trained_numbers(monitor.metrics, monitor.findings, pinned=loss == 'mse'))
            RUNS.append((name, optimiser, runs[-1]))
        print(row(name, untrained, runs), flush=True)


# ---------------------------------------------------------------- PyTorch

def torch_models():
    import torch
    import torch.nn.functional as F
    from torch import nn

    from cases.torch_control_examples_vae import VAE, loss_function

    class Dense(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(784, 64), nn.Linear(64, 784)

        def forward(self, x):
            return torch.sigmoid(self.fc2(F.relu(self.fc1(x))))

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder, self.out = nn.LSTM(1, 32, batch_first=True), \
                nn.LSTM(32, 32, batch_first=True), nn.Linear(32, 1)

        def forward(self, x):
            _, (h, _) = self.encoder(x)
            return self.out(self.decoder(h[-1].unsqueeze(1).repeat(1, x.shape[1], 1))[0])

    mse = nn.MSELoss()
    return {
        'dense, functional relu and sigmoid': (Dense, 'flat', mse),
        'deep dense, nn.Sequential': (lambda: nn.Sequential(
            *[m for a, b in ((784, 128), (128, 64), (64, 32), (32, 64), (64, 128)) for m in (nn.Linear(a, b), nn.ReLU())],
            nn.Linear(128, 784), nn.Sigmoid()), 'flat', mse),
        'convolutional, nn.Sequential': (lambda: nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid()), 'images', mse),
        'BatchNorm and Dropout': (lambda: nn.Sequential(
            nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 32), nn.ReLU(),
            nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid()), 'flat', mse),
        'tanh, nn.Sequential': (lambda: nn.Sequential(
            nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 64), nn.Tanh(), nn.Linear(64, 256), nn.Tanh(),
            nn.Linear(256, 784), nn.Sigmoid()), 'flat', mse),
        'LSTM sequence': (Recurrent, 'waves', mse),
        'pytorch/examples VAE': (VAE, 'flat', loss_function),
    }


def torch_main():
    import torch

    from aehealth import monitor as core
    from aehealth.torch import HealthMonitor, Probe, preflight

    optimizers = {'Adam 1e-3': lambda p: torch.optim.Adam(p, 1e-3),
                  'SGD 0.1, momentum 0.9': lambda p: torch.optim.SGD(p, 0.1, momentum=0.9)}
    images = common.mnist()[0][:, None].astype('float32') / 255
    data = {'flat': images.reshape(-1, 784), 'images': images, 'waves': waves()}
    print('\nPyTorch (default initialisation; each trained with ' + ', '.join(optimizers) + '):\n\n' + HEADER)
    models = torch_models()
    mse = models['dense, functional relu and sigmoid'][2]
    for name, (make, kind, loss_fn) in models.items():
        x = data[kind]
        torch.manual_seed(0)
        model = make()
        found = preflight(model, x[:1000], loss_fn, verbose=False)
        session = core.Session(Probe(model, x[:1000], x[:1000], loss_fn), x[:1000], x[:1000], core.Record())
        untrained = (session.check(0), session.probe.net, [f['rule'] for f in found if f['level'] == 'failure'])
        runs = []
        for optimiser, make_opt in optimizers.items():
            torch.manual_seed(0)
            model = make()
            optimizer = make_opt(model.parameters())
            monitor = HealthMonitor(model, x[:500], loss_fn, optimizer, verbose=False)
            xt = torch.as_tensor(np.concatenate([x] * (20 if kind == 'waves' else 10)))
            try:
                for _ in range(5):
                    model.train()
                    order = torch.randperm(len(xt))
                    for i in range(0, len(xt), 128):
                        batch = xt[order[i:i + 128]]
                        optimizer.zero_grad()
                        loss_fn(model(batch), batch).backward()
                        optimizer.step()
                    monitor.epoch_end()
            except RuntimeError as e:  # a loop that diverges until its own loss refuses the output (BCE on NaN)
                print(f'  {name}, {optimiser}: the loop stopped: {str(e).splitlines()[0]}', flush=True)
            monitor.finish()
            runs.append(trained_numbers(monitor.metrics, monitor.findings, pinned=loss_fn is mse))
            RUNS.append((name, optimiser, runs[-1]))
        print(row(name, untrained, runs), flush=True)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--only', choices=('keras', 'torch'), help='measure one framework\'s models only')
    args = p.parse_args()
    if args.only != 'torch':
        keras_main()
        print('\nEvery Keras training run:\n\n' + run_table(), flush=True)
        RUNS.clear()
    if args.only != 'keras':
        torch_main()
        print('\nEvery PyTorch training run:\n\n' + run_table(), flush=True)
