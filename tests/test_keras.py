"""aehealth.keras on the autoencoders people write: every structure is found, healthy ones get no failure, failing
ones name their cause, bad input gets one line, and nothing the monitor does changes the model or stops fit.

Keras runs in a process of its own (autoencoder.py, imported by other tests, turns eager execution off): one process
builds and measures every model below and the tests read what it found.
"""
import json
import subprocess
import sys

import pytest

from conftest import HANG, ROOT, SUBSET

SCRIPT = f'''
import json, os, sys, tempfile
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
import keras
import tensorflow as tf
from keras import layers as L, ops
from aehealth.keras import HealthMonitor, preflight, Probe, UsageError
from cases import question
keras.utils.set_random_seed(0)
with np.load({str(SUBSET)!r}) as f:
    raw = f['x_train']
x = raw.reshape(-1, 784).astype('float32') / 255
img = x.reshape(-1, 28, 28, 1)
rng = np.random.default_rng(0)
steps = np.linspace(0, 2 * np.pi, 24)
waves = (0.5 + 0.4 * np.sin(2 * steps[None] + rng.uniform(0, 2 * np.pi, (512, 1))))[..., None].astype('float32')
got = {{}}

def rules(found, level=None):
    return [f['rule'] for f in found if level is None or f['level'] == level]

def run(name, model, xs, ys, epochs, batch, **kw):
    """Pre-flight, then fit with the monitor: what each said."""
    held = [len(model.losses)]  # the loss tensors the model holds, before and after pre-flight
    pre = preflight(model, xs[:300], targets=ys[:300], verbose=False, forward=kw.get('forward'))
    held.append(len(model.losses))
    monitor = HealthMonitor(xs[:300], targets=ys[:300], verbose=False, forward=kw.get('forward'))
    model.fit(xs, ys if kw.get('forward') is None else None, epochs=epochs, batch_size=batch, verbose=0,
              callbacks=[monitor])
    net = monitor.metrics['network']
    got[name] = dict(preflight=rules(pre, 'failure'), pre_warnings=rules(pre, 'warning'),
                     failures=rules(monitor.findings, 'failure'), warnings=rules(monitor.findings, 'warning'),
                     evidence={{f['rule']: f['evidence'] for f in monitor.findings}},
                     layers=[(l['key'], l['activation'], l['units']) for l in net['layers']], code=net['code'],
                     kernels=list(net['kernels']), notes=monitor.metrics['notes'], end=monitor.health[-1],
                     data=monitor.metrics['data'], held=held)
    return monitor

# ---- subclassed models, the TensorFlow tutorials' style
class Autoencoder(keras.Model):
    def __init__(self, latent=64):
        super().__init__()
        self.encoder = keras.Sequential([L.Flatten(), L.Dense(latent, activation='relu')])
        self.decoder = keras.Sequential([L.Dense(784, activation='sigmoid'), L.Reshape((28, 28))])
    def call(self, x):
        return self.decoder(self.encoder(x))
flat28 = x.reshape(-1, 28, 28)
for name, scale in (('subclassed', 1), ('subclassed_raw', 255)):
    keras.utils.set_random_seed(0)
    model = Autoencoder()
    model.compile(optimizer='adam', loss='mse')
    run(name, model, flat28 * scale, flat28 * scale, 10 if scale == 1 else 3, 64)

# ---- wrappers and sequence autoencoders: LSTM / GRU / SimpleRNN with RepeatVector, TimeDistributed, Bidirectional
def lstm(output_activation=None):
    return keras.Sequential([keras.Input((24, 1)), L.LSTM(32), L.RepeatVector(24), L.LSTM(32, return_sequences=True),
                             L.TimeDistributed(L.Dense(1, activation=output_activation))])
for name, make, targets in (('lstm', lstm, waves), ('lstm_sigmoid_signed', lambda: lstm('sigmoid'), waves * 2 - 1)):
    keras.utils.set_random_seed(0)
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
    run(name, model, targets, targets, 20 if name == 'lstm' else 5, 32)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((24, 1)), L.Bidirectional(L.GRU(16)), L.RepeatVector(24),
                          L.SimpleRNN(32, return_sequences=True), L.TimeDistributed(L.Dense(1))])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
run('bidirectional', model, waves, waves, 20, 32)
got['bidirectional']['kernel_shape'] = list(model.layers[0].forward_layer.cell.kernel.shape)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((24, 1)), L.Conv1D(16, 3, padding='same'), L.LeakyReLU(), L.MaxPooling1D(2),
                          L.Conv1D(8, 3, padding='same'), L.PReLU(), L.Dropout(0.1), L.BatchNormalization(),
                          L.UpSampling1D(2), L.Conv1DTranspose(16, 3, padding='same'), L.ELU(),
                          L.Conv1D(1, 3, padding='same', activation='sigmoid')])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
run('conv1d', model, waves, waves, 20, 32)

# ---- preprocessing inside the model
def conv(first):
    return keras.Sequential([keras.Input((28, 28, 1)), first,
                             L.Conv2D(16, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2D(8, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2DTranspose(8, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2DTranspose(16, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2D(1, 3, padding='same', activation='sigmoid')])
keras.utils.set_random_seed(0)
model = conv(L.Rescaling(1 / 255))
model.compile(optimizer='adam', loss='binary_crossentropy')
run('rescaling', model, img * 255, img, 10, 64)
keras.utils.set_random_seed(0)
norm = L.Normalization()
norm.adapt(img[:500] * 255)
model = conv(norm)
model.compile(optimizer='adam', loss='mse')
run('normalization', model, img * 255, img, 10, 64)
keras.utils.set_random_seed(0)
model = conv(L.Identity())
model.compile(optimizer='adam', loss='mse')
got['no_rescaling_preflight'] = rules(preflight(model, img[:300] * 255, targets=img[:300], verbose=False))

# ---- keras.io's convolutional autoencoder under MSE: all black (a sigmoid pinned at 0); its fix, cross-entropy
for name, loss in (('all_black', 'mse'), ('all_black_fixed', 'binary_crossentropy')):
    keras.utils.set_random_seed(0)
    i = keras.Input((28, 28, 1))
    h = L.MaxPooling2D(2, padding='same')(L.Conv2D(32, 3, activation='relu', padding='same')(i))
    h = L.MaxPooling2D(2, padding='same')(L.Conv2D(32, 3, activation='relu', padding='same')(h))
    h = L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    h = L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    model = keras.Model(i, L.Conv2D(1, 3, activation='sigmoid', padding='same')(h))
    model.compile(optimizer='adam', loss=loss)
    run(name, model, np.concatenate([img] * 5), np.concatenate([img] * 5), 2, 128)

# ---- initial weights: TF1's stddev-1 normal against Keras' default; shapes that broadcast against their fix
for name, init in (('stddev_one', keras.initializers.RandomNormal(stddev=1.0)), ('glorot', 'glorot_uniform')):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,))] + [L.Dense(n, activation='relu', kernel_initializer=init)
                                                      for n in (256, 64, 256)] + [L.Dense(784, activation='sigmoid')])
    model.compile(optimizer='adam', loss='binary_crossentropy')
    got[name] = [(f['rule'], f['level']) for f in preflight(model, x[:300], verbose=False)]
for name, targets in (('broadcast', x[:300, :1]), ('broadcast_fixed', x[:300])):  # (N, 1) against (N, 784)
    keras.utils.set_random_seed(0)
    wide = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')])
    wide.compile(optimizer='adam', loss='mse')
    got[name] = [(f['rule'], f['level']) for f in preflight(wide, x[:300], targets=targets, verbose=False)]

# ---- extra losses: the Keras blog's sparse autoencoder, and add_loss
class Penalty(L.Layer):
    def call(self, z):
        self.add_loss(1e-3 * ops.mean(ops.square(z)))
        return z
for name, middle in (('activity_regularizer', [L.Dense(32, activation='relu',
                                                       activity_regularizer=keras.regularizers.l1(1e-5))]),
                     ('add_loss', [L.Dense(32, activation='relu'), Penalty()])):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), *middle, L.Dense(784, activation='sigmoid')])
    model.compile(optimizer='adam', loss='binary_crossentropy')
    run(name, model, x, x, 10, 64)

# ---- keras.io's VAE: its own train_step, compiled without a loss, no call
class Sampling(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)
    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon
class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name='total_loss')
    @property
    def metrics(self):
        return [self.total_loss_tracker]
    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        return {{'loss': self.total_loss_tracker.result()}}
def vae():
    i = keras.Input((28, 28, 1))
    h = L.Conv2D(32, 3, activation='relu', strides=2, padding='same')(i)
    h = L.Conv2D(64, 3, activation='relu', strides=2, padding='same')(h)
    h = L.Dense(16, activation='relu')(L.Flatten()(h))
    z_mean, z_log_var = L.Dense(2, name='z_mean')(h), L.Dense(2, name='z_log_var')(h)
    encoder = keras.Model(i, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])], name='encoder')
    j = keras.Input((2,))
    h = L.Reshape((7, 7, 64))(L.Dense(7 * 7 * 64, activation='relu')(j))
    h = L.Conv2DTranspose(64, 3, activation='relu', strides=2, padding='same')(h)
    h = L.Conv2DTranspose(32, 3, activation='relu', strides=2, padding='same')(h)
    decoder = keras.Model(j, L.Conv2DTranspose(1, 3, activation='sigmoid', padding='same')(h), name='decoder')
    model = VAE(encoder, decoder)
    model.compile(optimizer=keras.optimizers.Adam())
    return model
def forward_of(model):
    def forward(x):
        z_mean, z_log_var, _ = model.encoder(x)
        return model.decoder(z_mean), z_mean, z_log_var
    return forward
histories = []
for with_monitor in (False, True):
    keras.utils.set_random_seed(0)
    model = vae()
    callbacks = [HealthMonitor(img[:300], forward=forward_of(model), verbose=False)] if with_monitor else []
    histories.append(model.fit(img, epochs=2, batch_size=128, verbose=0, callbacks=callbacks).history['loss'])
got['vae'] = dict(same=histories[0] == histories[1], network=callbacks[0].metrics['network'],
                  posterior=callbacks[0].health[-1].get('posterior'), notes=callbacks[0].metrics['notes'])
try:
    HealthMonitor(img[:300]).set_model(vae())
    preflight(vae(), img[:300], verbose=False)
except UsageError as e:
    got['vae_without_forward'] = str(e)

# ---- several outputs, several inputs
keras.utils.set_random_seed(0)
i = keras.Input((784,))
h = L.Dense(32, activation='relu')(i)
model = keras.Model(i, [L.Dense(784, activation='sigmoid', name='reconstruction')(h),
                        L.Dense(10, activation='softmax', name='digit')(h)])
model.compile(optimizer='adam', loss=['mse', 'sparse_categorical_crossentropy'])
before = [w.copy() for w in model.get_weights()]
pre = preflight(model, x[:300], verbose=False)
unchanged = all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
labels = np.zeros(len(x), 'int32')
history = model.fit(x, [x, labels], epochs=1, batch_size=100, verbose=0)  # the user's own fit still works
got['two_outputs'] = dict(preflight=rules(pre), unchanged=unchanged, fit=len(history.history['loss']))
i1, i2 = keras.Input((784,)), keras.Input((3,))
two_in = keras.Model([i1, i2], L.Dense(784)(L.Concatenate()([i1, i2])))
two_in.compile(optimizer='adam', loss='mse')

# ---- a token autoencoder: Embedding ids in, sparse categorical cross-entropy out
keras.utils.set_random_seed(0)
ids = rng.integers(1, 20, (400, 12)).astype('int32')
model = keras.Sequential([keras.Input((12,), dtype='int32'), L.Embedding(20, 8), L.LSTM(16), L.RepeatVector(12),
                          L.LSTM(16, return_sequences=True), L.TimeDistributed(L.Dense(20, activation='softmax'))])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
monitor = HealthMonitor(ids[:200], verbose=False)
history = model.fit(ids, ids, epochs=2, batch_size=50, verbose=0, callbacks=[monitor])
got['tokens'] = dict(epochs=len(history.history['loss']), findings=rules(monitor.findings),
                     not_measured=monitor.metrics['not_measured'])

# ---- bad input: one line each, before fit or as a finding, never a traceback out of fit
flat = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')])
flat.compile(optimizer='adam', loss='mse')
nan = x[:300].copy()
nan[5, 3] = np.nan
unwritable = tempfile.mkdtemp()
os.chmod(unwritable, 0o500)
errors = {{}}
for name, call in (('wrong_shape', lambda: preflight(flat, x[:300].reshape(-1, 28, 28), verbose=False)),
                   ('targets_shape', lambda: preflight(flat, x[:300], targets=x[:300, :10], verbose=False)),
                   ('nan', lambda: HealthMonitor(nan)), ('nan_targets', lambda: HealthMonitor(x[:300], targets=nan)),
                   ('empty', lambda: HealthMonitor(x[:0])), ('two_rows', lambda: HealthMonitor(x[:2])),
                   ('every', lambda: HealthMonitor(x[:300], every=2.5)), ('list', lambda: HealthMonitor(list(x[:300]))),
                   ('dataset', lambda: HealthMonitor(tf.data.Dataset.from_tensor_slices(x[:300]))),
                   ('out', lambda: HealthMonitor(x[:300], out=os.path.join(unwritable, 'runs'))),
                   ('two_inputs', lambda: preflight(two_in, x[:300], verbose=False)),
                   ('not_compiled', lambda: preflight(keras.Sequential([keras.Input((784,)), L.Dense(784)]), x[:300],
                                                      verbose=False))):
    try:
        call()
        errors[name] = None
    except UsageError as e:
        errors[name] = str(e)
got['errors'] = errors if os.geteuid() != 0 else {{k: v for k, v in errors.items() if k != 'out'}}  # root writes anywhere
monitor = HealthMonitor(x[:300].reshape(-1, 28, 28), verbose=False)  # the wrong shape, found inside fit
history = flat.fit(x, x, epochs=2, batch_size=100, verbose=0, callbacks=[monitor])
got['wrong_shape_in_fit'] = dict(epochs=len(history.history['loss']), findings=[(f['rule'], f['evidence'])
                                                                               for f in monitor.findings])
def broken(x):
    raise RuntimeError('a forward function that fails')
monitor = HealthMonitor(x[:300], verbose=False, forward=broken)
history = flat.fit(x, x, epochs=2, batch_size=100, verbose=0, callbacks=[monitor])
got['broken_check'] = dict(epochs=len(history.history['loss']), findings=[(f['rule'], f['evidence'])
                                                                         for f in monitor.findings])

# ---- initial_epoch: the checks are labelled with the epochs fit runs
monitor = HealthMonitor(x[:300], every=1, verbose=False)
flat.fit(x, x, epochs=6, initial_epoch=3, batch_size=100, verbose=0, callbacks=[monitor])
got['initial_epoch'] = dict(checks=[h['epoch'] for h in monitor.health], epochs_done=monitor.metrics['epochs_done'])

# ---- the monitor changes no number of the training, and writes its folder
def fit(callbacks):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')])
    model.compile(optimizer='adam', loss='mse')
    history = model.fit(x, x, epochs=3, batch_size=100, verbose=0, callbacks=callbacks)
    return history.history['loss'], [w.tolist() for w in model.get_weights()[:1]]
monitor = HealthMonitor(x[:300], out=sys.argv[1] + '/mine', verbose=False)
with_it, without = fit([monitor]), fit([])
got['monitor'] = dict(same=with_it == without, losses=with_it[0], findings=monitor.findings,
                      checks=[h['epoch'] for h in monitor.health])

model = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784)])
model.compile(optimizer=keras.optimizers.SGD(1e6), loss='mse')
monitor = HealthMonitor(x[:200], every=2, verbose=False)
history = model.fit(x, x, epochs=4, batch_size=100, verbose=0, callbacks=[monitor])
got['diverging'] = dict(epochs=len(history.history['loss']), findings=monitor.findings)

# ---- the question's network in Keras, posted and fixed, before training
for fixed in (False, True):
    model = question.network(fixed)
    model.compile(optimizer='adam', loss='mse')
    got['question', fixed] = preflight(model, x[:500], verbose=False)
print(json.dumps({{str(k): v for k, v in got.items()}}, default=float))
'''


@pytest.fixture(scope='module')
def got(tmp_path_factory):
    out = tmp_path_factory.mktemp('keras')
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(out)], capture_output=True, text=True, timeout=HANG,
                          cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    found['out'] = out
    return found


HEALTHY = ('subclassed', 'lstm', 'bidirectional', 'conv1d', 'rescaling', 'normalization', 'activity_regularizer',
           'add_loss')


@pytest.mark.parametrize('name', HEALTHY)
def test_healthy_models_of_every_structure_get_no_failure(got, name):
    r = got[name]
    assert r['preflight'] == [] and r['failures'] == [], r['evidence']
    assert r['end']['output_diversity'] > 0.3  # against the targets: the model learned to tell inputs apart


def test_an_all_black_output_under_mse_is_named_and_cross_entropy_fixes_it(got):
    black, fixed = got['all_black'], got['all_black_fixed']
    assert 'saturated_output' in black['failures'] and 'one_output' in black['failures']
    assert '"all black"' in black['evidence']['saturated_output']
    assert fixed['failures'] == [] and fixed['end']['output_diversity'] > 0.3


def test_initial_weights_off_scale_and_shapes_that_broadcast_are_named_before_training(got):
    assert ['init_scale', 'warning'] in got['stddev_one'] and got['glorot'] == []
    assert ['shape_mismatch', 'failure'] in got['broadcast'] and got['broadcast_fixed'] == []


def test_a_subclassed_model_is_measured_through_its_sequential_attributes(got):
    r = got['subclassed']
    assert [(a, u) for _, a, u in r['layers']] == [('relu', 64), ('sigmoid', 784)] and len(r['kernels']) == 2
    raw = got['subclassed_raw']  # the same model on 0-255 pixels: the blocker is named
    assert 'targets_out_of_range' in raw['preflight'] and 'targets_out_of_range' in raw['failures']


def test_wrapped_layers_are_judged_by_the_layer_they_wrap(got):
    lstm = got['lstm']
    assert [a for _, a, _ in lstm['layers']] == ['tanh', 'tanh', 'linear']  # TimeDistributed(Dense(1)): linear
    assert lstm['layers'][0][2] == 32 and lstm['code'] == lstm['layers'][0][0] and len(lstm['kernels']) == 3
    assert 'targets_out_of_range' not in lstm['failures'] + lstm['warnings']  # the LSTM's tanh is not the output's
    signed = got['lstm_sigmoid_signed']  # TimeDistributed(Dense(1, sigmoid)) asked for values in [-1, 1]
    assert 'targets_out_of_range' in signed['preflight'] and 'targets_out_of_range' in signed['failures']
    assert '[0, 1]' in signed['evidence']['targets_out_of_range']
    bi = got['bidirectional']
    assert [(a, u) for _, a, u in bi['layers']] == [('tanh', 32), ('tanh', 768), ('linear', 24)]
    assert bi['kernel_shape'] == [1, 48]  # the forward GRU's input kernel is what its gradient is taken of


def test_conv1d_pooling_dropout_batchnorm_and_activation_layers_are_measured(got):
    # a convolution whose output an activation layer takes whole is measured after it, as Conv1D(activation=...)
    layers = [a for _, a, _ in got['conv1d']['layers']]
    assert layers == ['leaky_relu', 'prelu', 'elu', 'sigmoid']
    assert len(got['conv1d']['kernels']) == 4


def test_preprocessing_inside_the_model_is_not_unscaled_input(got):
    for name in ('rescaling', 'normalization'):  # raw 0-255 images in, [0,1] targets out
        r = got[name]
        assert 'inputs_not_scaled' not in r['warnings'] + r['failures'] and r['data']['input_rms'] < 3
        assert r['data']['input_seen_by'].startswith('conv2d')
    assert got['no_rescaling_preflight'] == ['inputs_not_scaled']  # the same images without the layer


def test_extra_losses_are_counted_and_crash_nothing(got):
    for name in ('activity_regularizer', 'add_loss'):
        end = got[name]['end']
        assert end['total_loss'] > end['loss'] > 0
        assert got[name]['held'] == [0, 0]  # pre-flight left no loss tensor of its own graph in the model


def test_a_vae_with_its_own_train_step_attaches_with_forward_and_keeps_its_random_draws(got):
    vae = got['vae']
    assert vae['same']  # the same losses with and without the monitor: its Sampling layer drew nothing extra
    assert vae['posterior']['dims'] == 2 and len(vae['posterior']['kl']) == 2
    assert 'z_log_var' not in [layer['key'] for layer in vae['network']['layers']]  # not on the way to the output
    assert vae['network']['code'] == 'z_mean'
    assert any('mean squared error' in note for note in vae['notes'])
    assert 'forward=' in got['vae_without_forward'] and '\n' not in got['vae_without_forward']


def test_several_outputs_judge_the_reconstruction_and_leave_the_model_as_it_was(got):
    two = got['two_outputs']
    assert two['unchanged'] and two['fit'] == 1  # the user's own fit after preflight still works
    assert 'softmax_hidden' not in two['preflight']  # the second head is not a hidden layer
    assert 'forward=' in got['errors']['two_inputs']


def test_a_token_autoencoder_with_a_sparse_loss_trains_to_the_end(got):
    tokens = got['tokens']
    assert tokens['epochs'] == 2 and tokens['not_measured'] == {}
    assert 'inputs_not_scaled' not in tokens['findings'] and 'softmax_output' not in tokens['findings']


EXPECTED_ERRORS = {
    'wrong_shape': "the sample's rows have shape (28, 28) but the model takes (784,)",
    'targets_shape': 'the loss cannot compare the targets (rows of shape (10,))',
    'nan': 'sample has NaN or Inf in 1 of its 300 rows (the first: row 5)',
    'nan_targets': 'targets has NaN or Inf in 1 of its 300 rows',
    'empty': 'sample is empty', 'two_rows': 'sample has 2 rows: spreads across inputs need at least 8',
    'every': 'every=2.5: give a whole number of epochs', 'list': 'sample is a list',
    'dataset': 'not an array: pass a numpy array', 'out': 'cannot be written',
    'two_inputs': 'the model takes 2 inputs', 'not_compiled': 'compile the model first'}


@pytest.mark.parametrize('name', sorted(EXPECTED_ERRORS))
def test_bad_input_gets_one_line_that_says_what_to_do(got, name):
    if name not in got['errors']:
        pytest.skip('running as root: every folder can be written')
    error = got['errors'][name]
    assert error is not None and EXPECTED_ERRORS[name] in error and '\n' not in error and len(error) < 300, error


def test_a_check_that_fails_inside_fit_is_a_finding_and_fit_goes_on(got):
    for name in ('wrong_shape_in_fit', 'broken_check'):
        r = got[name]
        assert r['epochs'] == 2
        assert [rule for rule, _ in r['findings']] == ['not_measured'], r['findings']
    assert "the sample's rows have shape (28, 28)" in got['wrong_shape_in_fit']['findings'][0][1]
    assert 'a forward function that fails' in got['broken_check']['findings'][0][1]


def test_initial_epoch_labels_the_checks_with_the_epochs_fit_runs(got):
    assert got['initial_epoch'] == dict(checks=[3, 4, 5, 6], epochs_done=3)


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


def test_the_question_in_keras_gets_both_preflight_findings_and_its_fix_no_failure(got):
    posted = {f['rule']: f for f in got[str(('question', False))]}
    assert {'one_output', 'vanishing_gradient'} <= set(posted)
    # predictions, not verdicts: the posted network learns with enough Adam steps (the ablation's row 10)
    assert all(f['level'] == 'warning' for f in posted.values())
    assert posted['one_output']['evidence'].startswith('one output for every input before training: output diversity ')
    assert posted['vanishing_gradient']['evidence'].startswith("vanishing gradient: conv1's gradient is ")
    assert not [f for f in got[str(('question', True))] if f['level'] == 'failure']
