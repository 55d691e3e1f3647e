"""aehealth.keras on Keras 3's JAX and PyTorch backends: the same findings as on TensorFlow for the same models and
data, gradients through the backend in use, a trial and the post-mortem command, and no TensorFlow imported. Each
backend runs in a process of its own (Keras picks its backend once, at import)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import HANG, ROOT, SUBSET

pytest.importorskip('keras')

SCRIPT = r'''
import json, sys
import keras
import numpy as np
from aehealth.keras import HealthMonitor, preflight

with np.load(sys.argv[1]) as f:
    raw = f['x_train'].reshape(-1, 784).astype('float32')
x = raw / 255


def dense(hidden='relu', output='sigmoid', depth=1):
    """784-256-...-784, compiled with MSE, as the Keras tutorials write it."""
    sizes = [256, 128, 64, 32][:depth]
    model = keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(n, hidden) for n in sizes]
                             + [keras.layers.Dense(n, hidden) for n in sizes[-2::-1]]
                             + [keras.layers.Dense(784, output)])
    model.compile(optimizer='adam', loss='mse')
    return model


def conv():
    """The tutorials' functional conv autoencoder (BCE): judged before training here."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, strides=2, padding='same', activation='relu')(inputs)
    h = keras.layers.Conv2DTranspose(16, 3, strides=2, padding='same', activation='relu')(h)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding='same', activation='sigmoid')(h))
    model.compile(optimizer='adam', loss='binary_crossentropy')
    return model


class Sampling(keras.layers.Layer):
    """z from [z_mean, z_log_var], adding the KL term (weighted 1 beside a mean squared error) as a loss."""

    def __init__(self):
        super().__init__()
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * keras.ops.mean(keras.ops.sum(1 + z_log_var - z_mean ** 2 - keras.ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        noise = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * noise


def vae():
    """A functional VAE whose posterior only its Sampling layer shows, collapsed by its KL term's weight."""
    inputs = keras.Input((784,))
    h = keras.layers.Dense(64, 'relu')(inputs)
    z = Sampling()([keras.layers.Dense(4, name='z_mean')(h), keras.layers.Dense(4, name='z_log_var')(h)])
    model = keras.Model(inputs, keras.layers.Dense(784, 'sigmoid')(keras.layers.Dense(64, 'relu')(z)))
    model.compile(optimizer='adam', loss='mse')
    return model


def same_start(model, seed=0):
    """Glorot-uniform kernels and zero biases from numpy: the same weights on every backend, so that a finding near its
    line (the 0-255 model's saturated output sits at 0.46 +- 0.03 of its 0.5 under Keras' own draws) cannot differ
    between backends by the draw alone."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan_in, fan_out = np.prod(w.shape[:-1]), w.shape[-1] * np.prod(w.shape[:-2])
        limit = np.sqrt(6 / (fan_in + fan_out))
        weights.append(np.zeros_like(w) if w.ndim == 1 else rng.uniform(-limit, limit, w.shape).astype(w.dtype))
    model.set_weights(weights)
    return model


def failures(found):
    return sorted(f['rule'] for f in found if f['level'] == 'failure')


out = {}
for name, build, data in (('healthy', dense, x), ('pixels_0_255', dense, raw),
                          ('softmax_output', lambda: dense(output='softmax'), x),
                          ('deep_sigmoid', lambda: dense('sigmoid', depth=4), x), ('vae', vae, x)):
    model = same_start(build())
    before = preflight(model, data[:500], verbose=False)
    monitor = HealthMonitor(data[:500], verbose=False)
    model.fit(data, data, epochs=3, batch_size=64, verbose=0, callbacks=[monitor], shuffle=False)
    out[name] = dict(preflight=failures(before), run=failures(monitor.findings),
                     not_measured=monitor.metrics['not_measured'],
                     network=monitor.metrics['network'], posterior=monitor.health[-1].get('posterior') is not None)
    if name == 'healthy':
        trained = model
model = same_start(conv())
out['conv'] = dict(preflight=failures(preflight(model, x[:300].reshape(-1, 28, 28, 1), verbose=False)))
out['backend'] = keras.backend.backend()
out['tensorflow_imported'] = 'tensorflow' in sys.modules
trained.save(sys.argv[2])  # Keras' saving uses TensorFlow's file functions when TensorFlow is installed
np.save(sys.argv[3], x[:300])
print(json.dumps(out))
'''


def run_on(backend, tmp_path):
    """The script's findings with KERAS_BACKEND=backend, and the post-mortem command on the model it saved."""
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')
    folder = tmp_path / backend
    folder.mkdir()
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(SUBSET), str(folder / 'model.keras'),
                           str(folder / 'sample.npy')], capture_output=True, text=True, timeout=HANG, env=env,
                          cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    cli = subprocess.run([sys.executable, '-m', 'aehealth', 'model.keras', 'sample.npy'], capture_output=True,
                         text=True, timeout=HANG, env=env, cwd=folder)
    return found, cli


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('backends')
    return {backend: run_on(backend, tmp) for backend in ('tensorflow', 'jax', 'torch')}


@pytest.mark.parametrize('backend', ['jax', 'torch'])
def test_each_backend_gives_the_findings_tensorflow_gives_and_imports_no_tensorflow(runs, backend):
    (found, _), (reference, _) = runs[backend], runs['tensorflow']
    assert found['backend'] == backend and not found['tensorflow_imported']
    assert found['healthy']['run'] == [] and found['healthy']['not_measured'] == {}
    assert 'inputs_not_scaled' in found['pixels_0_255']['preflight']
    assert 'softmax_output' in found['softmax_output']['preflight']
    assert 'vanishing_gradient' in found['deep_sigmoid']['run']
    assert found['vae']['posterior'] and found['vae']['network']['code'] == 'z_mean'
    # Three epochs of 1,200 rows leave the VAE's relu units near the dead-unit line on every backend (dead units were
    # named in 3 of this model's 9 runs, one per backend; collapse in 9 of 9), so its run is held to the collapse.
    assert 'posterior_collapse' in found['vae']['run'] and 'posterior_collapse' in reference['vae']['run']
    for name in ('healthy', 'pixels_0_255', 'softmax_output', 'deep_sigmoid', 'vae'):
        assert found[name]['preflight'] == reference[name]['preflight'], name
        if name != 'vae':
            assert found[name]['run'] == reference[name]['run'], (name, found[name], reference[name])
        assert found[name]['network'] == reference[name]['network'], name
    assert found['conv'] == reference['conv']


@pytest.mark.parametrize('backend', ['jax', 'torch'])
def test_the_post_mortem_command_reads_a_model_saved_on_each_backend(runs, backend):
    _, cli = runs[backend]
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert cli.stdout.startswith('post-mortem of model.keras on sample.npy (300 rows)'), cli.stdout[-2000:]


TRIAL = r'''
import sys
import numpy as np


def build():
    import keras
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, 'relu'), keras.layers.Dense(784, 'sigmoid')])
    model.compile(optimizer='adam', loss='mse')
    return model


if __name__ == '__main__':
    from aehealth.keras import trial
    with np.load(sys.argv[1]) as f:
        x = f['x_train'].reshape(-1, 784).astype('float32')  # pixels in 0..255
    report = trial(build, x, epochs=5, changes=['scale_inputs'], jobs=1, verbose=False)
    print(report.table())
    print(report.settings['backend'], report.recommended, 'tensorflow' in sys.modules)
'''


@pytest.mark.parametrize('backend', ['jax', pytest.param('torch', marks=pytest.mark.slow)])
def test_a_trial_runs_its_workers_on_the_backend_in_use(tmp_path, backend):
    (tmp_path / 'trial_script.py').write_text(TRIAL)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, 'trial_script.py', str(SUBSET)], capture_output=True, text=True,
                          timeout=HANG, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == [backend, 'scale_inputs', 'False'], proc.stdout
