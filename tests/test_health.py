"""health.py on small Keras models: it finds the layers of any autoencoder, changes nothing, stops nothing.

Keras runs in a process of its own (autoencoder.py, imported by other tests, turns eager execution off): one
process measures every model below and the tests read what it found.
"""
import json
import subprocess
import sys

import pytest

from conftest import HANG, ROOT, SUBSET

SCRIPT = f'''
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
import keras
from keras import layers
import health, data
from cases import question
out_dir = sys.argv[1]
keras.utils.set_random_seed(0)
raw = data.read_arrays({str(SUBSET)!r})
x = raw['x_train'].reshape(-1, 784).astype('float32') / 255
images = x.reshape(-1, 28, 28, 1)
got = {{}}

for fixed in (False, True):  # the question's network, posted and fixed, before training
    model = question.network(fixed)
    model.compile(optimizer='adam', loss='mse')
    got['preflight', fixed] = health.preflight(model, x[:500], verbose=False)

def sequential():
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, strides=2, padding='same', activation='relu'),
                             layers.Conv2DTranspose(1, 3, strides=2, padding='same', activation='sigmoid')]), images
def functional():
    i = keras.Input((784,))
    return keras.Model(i, layers.Dense(784, activation='sigmoid')(layers.Dense(32, activation='tanh')(i))), x
def nested():
    encoder = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation='relu', name='code')])
    decoder = keras.Sequential([keras.Input((32,)), layers.Dense(784, activation='sigmoid', name='pixels')])
    i = keras.Input((784,))
    return keras.Model(i, decoder(encoder(i))), x
def activation_layers():
    return keras.Sequential([keras.Input((784,)), layers.Dense(32), layers.Activation('relu'), layers.Dense(784),
                             layers.Activation('sigmoid')]), x
def branch():  # not a chain: a skip connection
    i = keras.Input((784,))
    h = layers.Dense(784, activation='relu')(i)
    return keras.Model(i, layers.Activation('sigmoid')(layers.Add()([h, i]))), x
for make in (sequential, functional, nested, activation_layers, branch):
    model, sample = make()
    model.compile(optimizer='adam', loss='binary_crossentropy')
    probe = health.Probe(model, sample[:100])
    got['layers', make.__name__] = dict(layers=[(l['label'], l['activation']) for l in probe.net['layers']],
                                        kernels=list(probe.net['kernels']), code=probe.net['code'], output=probe.output)

def fit(callbacks):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation='relu'), layers.Dense(784, activation='sigmoid')])
    model.compile(optimizer='adam', loss='mse')
    history = model.fit(x, x, epochs=3, batch_size=100, verbose=0, callbacks=callbacks)
    return history.history['loss'], [w.tolist() for w in model.get_weights()[:1]]
monitor = health.HealthMonitor(x[:300], out=out_dir + '/mine', verbose=False)
with_it, without = fit([monitor]), fit([])
got['monitor'] = dict(same=with_it == without, losses=with_it[0], findings=monitor.findings,
                      checks=[h['epoch'] for h in monitor.health])

model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation='relu'), layers.Dense(784)])
model.compile(optimizer=keras.optimizers.SGD(1e6), loss='mse')
monitor = health.HealthMonitor(x[:200], every=2, verbose=False)
history = model.fit(x, x, epochs=4, batch_size=100, verbose=0, callbacks=[monitor])
got['diverging'] = dict(epochs=len(history.history['loss']), findings=monitor.findings)

errors = []
model = keras.Sequential([keras.Input((784,)), layers.Dense(784)])
for call in (lambda: health.preflight(model, x[:10]), lambda: health.HealthMonitor(x[:10], every=0),
             lambda: health.HealthMonitor(x[:10], targets=x[:5])):
    try:
        call()
    except ValueError as e:
        errors.append(str(e))
got['errors'] = errors
print(json.dumps({{str(k): v for k, v in got.items()}}))
'''


@pytest.fixture(scope='module')
def got(tmp_path_factory):
    out = tmp_path_factory.mktemp('health')
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(out)], capture_output=True, text=True, timeout=HANG,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    found['out'] = out
    return found


def test_preflight_finds_the_questions_failure_before_training_and_nothing_in_the_fix(got):
    posted = {f['rule']: f for f in got[str(('preflight', False))]}
    assert set(posted) == {'one_output', 'vanishing_gradient'}
    assert all(f['level'] == 'failure' for f in posted.values())
    assert posted['one_output']['evidence'].startswith('one output for every input before training: output diversity ')
    assert posted['vanishing_gradient']['evidence'].startswith("vanishing gradient: conv1's gradient is ")
    assert got[str(('preflight', True))] == []


@pytest.mark.parametrize('kind, activations', [('sequential', ['relu', 'sigmoid']), ('functional', ['tanh', 'sigmoid']),
                                               ('nested', ['relu', 'sigmoid']),
                                               ('activation_layers', ['linear', 'relu', 'linear', 'sigmoid']),
                                               ('branch', ['relu', 'sigmoid'])])
def test_layers_are_found_in_every_kind_of_model(got, kind, activations):
    found = got[str(('layers', kind))]
    assert [a for _, a in found['layers']] == activations
    assert len(found['kernels']) == (1 if kind == 'branch' else 2)
    assert found['output'] == found['layers'][-1][0]
    if kind == 'nested':
        assert [name for name, _ in found['layers']] == ['code', 'pixels']  # the sub-models' own layers


def test_the_monitor_changes_no_number_of_the_training_and_writes_its_folder(got):
    m = got['monitor']
    assert m['same'] and len(m['losses']) == 3 and m['checks'] == [0, 1, 2, 3]
    saved = json.loads((got['out'] / 'mine' / 'health.json').read_text())
    assert saved['findings'] == m['findings'] and saved['epochs_done'] == 3
    assert (got['out'] / 'mine' / 'health.png').stat().st_size > 20000
    assert list((got['out'] / 'mine' / 'tensorboard').glob('events.out.tfevents.*'))


def test_a_diverging_run_is_named_and_not_stopped(got):
    assert got['diverging']['epochs'] == 4  # training went on: stopping it is TerminateOnNaN's job, not the monitor's
    assert [f['rule'] for f in got['diverging']['findings'] if f['level'] == 'failure'][0] == 'nonfinite'


def test_bad_arguments_say_what_to_do(got):
    errors = got['errors']
    assert len(errors) == 3 and 'compile the model first' in errors[0] and 'every=0' in errors[1]
    assert 'one target per input' in errors[2]
