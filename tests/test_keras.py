"""aehealth.keras on the autoencoders people write: every structure is found, healthy ones get no failure, failing
ones name their cause, bad input gets one line, and nothing the monitor does changes the model or stops fit."""
import json
import os
import tempfile

import numpy as np
import pytest

from conftest import SUBSET

keras = pytest.importorskip('keras')
import tensorflow as tf  # noqa: E402
from keras import layers as L  # noqa: E402
from keras import ops  # noqa: E402

from aehealth.keras import HealthMonitor, UsageError, postmortem, preflight  # noqa: E402
from cases import question  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'].reshape(-1, 784).astype('float32') / 255
IMG = X.reshape(-1, 28, 28, 1)
STEPS = np.linspace(0, 2 * np.pi, 24)
WAVES = (0.5 + 0.4 * np.sin(2 * STEPS[None] + np.random.default_rng(0).uniform(0, 2 * np.pi, (512, 1))))[..., None] \
    .astype('float32')


def rules(found, level=None):
    return [f['rule'] for f in found if level is None or f['level'] == level]


def run(model, xs, ys, epochs, batch, forward=None):
    """Pre-flight, then fit with the monitor: what each said."""
    held = [len(model.losses)]  # the loss tensors the model holds, before and after pre-flight
    pre = preflight(model, xs[:300], targets=ys[:300], verbose=False, forward=forward)
    held.append(len(model.losses))
    monitor = HealthMonitor(xs[:300], targets=ys[:300], verbose=False, forward=forward)
    model.fit(xs, ys if forward is None else None, epochs=epochs, batch_size=batch, verbose=0, callbacks=[monitor])
    net = monitor.metrics['network']
    return dict(preflight=rules(pre, 'failure'), pre_warnings=rules(pre, 'warning'),
                failures=rules(monitor.findings, 'failure'), warnings=rules(monitor.findings, 'warning'),
                evidence={f['rule']: f['evidence'] for f in monitor.findings},
                layers=[(layer['key'], layer['activation'], layer['units']) for layer in net['layers']],
                code=net['code'], kernels=list(net['kernels']), notes=monitor.metrics['notes'], end=monitor.health[-1],
                data=monitor.metrics['data'], held=held)


class Autoencoder(keras.Model):
    """The TensorFlow tutorials' subclassed style."""

    def __init__(self, latent=64):
        super().__init__()
        self.encoder = keras.Sequential([L.Flatten(), L.Dense(latent, activation='relu')])
        self.decoder = keras.Sequential([L.Dense(784, activation='sigmoid'), L.Reshape((28, 28))])

    def call(self, x):
        return self.decoder(self.encoder(x))


def lstm(output_activation=None):
    return keras.Sequential([keras.Input((24, 1)), L.LSTM(32), L.RepeatVector(24), L.LSTM(32, return_sequences=True),
                             L.TimeDistributed(L.Dense(1, activation=output_activation))])


def conv(first):
    return keras.Sequential([keras.Input((28, 28, 1)), first,
                             L.Conv2D(16, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2D(8, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2DTranspose(8, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2DTranspose(16, 3, strides=2, padding='same', activation='relu'),
                             L.Conv2D(1, 3, padding='same', activation='sigmoid')])


def kerasio_conv():
    """keras.io's convolutional autoencoder."""
    i = keras.Input((28, 28, 1))
    h = L.MaxPooling2D(2, padding='same')(L.Conv2D(32, 3, activation='relu', padding='same')(i))
    h = L.MaxPooling2D(2, padding='same')(L.Conv2D(32, 3, activation='relu', padding='same')(h))
    h = L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    h = L.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    return keras.Model(i, L.Conv2D(1, 3, activation='sigmoid', padding='same')(h))


class Penalty(L.Layer):
    def call(self, z):
        self.add_loss(1e-3 * ops.mean(ops.square(z)))
        return z


def seeded(make):
    keras.utils.set_random_seed(0)
    return make()


@pytest.fixture(scope='module')
def got():
    """Each structure, with its pre-flight check and a short fit beside the monitor."""
    out = {}
    flat28 = X.reshape(-1, 28, 28)
    for name, scale in (('subclassed', 1), ('subclassed_raw', 255)):
        model = seeded(Autoencoder)
        model.compile(optimizer='adam', loss='mse')
        out[name] = run(model, flat28 * scale, flat28 * scale, 10 if scale == 1 else 3, 64)
    for name, make, targets in (('lstm', lstm, WAVES), ('lstm_sigmoid_signed', lambda: lstm('sigmoid'), WAVES * 2 - 1)):
        model = seeded(make)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
        out[name] = run(model, targets, targets, 20 if name == 'lstm' else 5, 32)
    model = seeded(lambda: keras.Sequential([keras.Input((24, 1)), L.Bidirectional(L.GRU(16)), L.RepeatVector(24),
                                             L.SimpleRNN(32, return_sequences=True), L.TimeDistributed(L.Dense(1))]))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
    out['bidirectional'] = run(model, WAVES, WAVES, 20, 32)
    out['bidirectional']['kernel_shape'] = list(model.layers[0].forward_layer.cell.kernel.shape)
    model = seeded(lambda: keras.Sequential([
        keras.Input((24, 1)), L.Conv1D(16, 3, padding='same'), L.LeakyReLU(), L.MaxPooling1D(2),
        L.Conv1D(8, 3, padding='same'), L.PReLU(), L.Dropout(0.1), L.BatchNormalization(), L.UpSampling1D(2),
        L.Conv1DTranspose(16, 3, padding='same'), L.ELU(), L.Conv1D(1, 3, padding='same', activation='sigmoid')]))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse')
    out['conv1d'] = run(model, WAVES, WAVES, 20, 32)
    model = seeded(lambda: conv(L.Rescaling(1 / 255)))  # preprocessing inside the model
    model.compile(optimizer='adam', loss='binary_crossentropy')
    out['rescaling'] = run(model, IMG * 255, IMG, 10, 64)
    keras.utils.set_random_seed(0)
    norm = L.Normalization()
    norm.adapt(IMG[:500] * 255)
    model = conv(norm)
    model.compile(optimizer='adam', loss='mse')
    out['normalization'] = run(model, IMG * 255, IMG, 10, 64)
    model = seeded(lambda: conv(L.Identity()))
    model.compile(optimizer='adam', loss='mse')
    out['no_rescaling_preflight'] = rules(preflight(model, IMG[:300] * 255, targets=IMG[:300], verbose=False))
    def reconstruction_loss(y, p):  # a squared error as users write it, under a name of their own
        return keras.ops.mean(keras.ops.square(y - p))
    for name, loss in (('all_black', 'mse'), ('all_black_fixed', 'binary_crossentropy'),  # all black under MSE
                       ('all_black_own_loss', reconstruction_loss)):
        model = seeded(kerasio_conv)
        model.compile(optimizer='adam', loss=loss)
        out[name] = run(model, np.concatenate([IMG] * 5), np.concatenate([IMG] * 5), 2, 128)
    for name, middle in (('activity_regularizer', lambda: [L.Dense(32, activation='relu',
                                                                   activity_regularizer=keras.regularizers.l1(1e-5))]),
                         ('add_loss', lambda: [L.Dense(32, activation='relu'), Penalty()])):  # extra losses
        model = seeded(lambda: keras.Sequential([keras.Input((784,)), *middle(), L.Dense(784, activation='sigmoid')]))
        model.compile(optimizer='adam', loss='binary_crossentropy')
        out[name] = run(model, X, X, 10, 64)
    return out


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
    own = got['all_black_own_loss']  # the same numbers under a loss of the user's own name: known by its values
    assert own['failures'] == black['failures'] and 'reconstruction_loss (a squared error, by its values near the ' \
        'targets)' in own['evidence']['saturated_output']


def preflight_of(model, x, loss='binary_crossentropy', **kw):
    model.compile(optimizer='adam', loss=loss)
    return [(f['rule'], f['level']) for f in preflight(model, x, verbose=False, **kw)]


def swapped_cross_entropy(y_true, y_pred):
    """A loss written as if Keras passed the output first: the targets become the logits, the output the labels."""
    return keras.losses.binary_crossentropy(y_pred, y_true, from_logits=True)


def test_a_loss_given_its_arguments_in_the_wrong_order_is_a_blocker_and_in_order_the_model_learns():
    # linear in the output, the swapped loss falls without bound as the outputs grow; the fix as the finding says it
    def made(loss):
        model = seeded(lambda: keras.Sequential([keras.Input((784,)), L.Dense(64, activation='relu'), L.Dense(784)]))
        model.compile(optimizer='adam', loss=loss)
        return model
    broken = run(made(swapped_cross_entropy), X, X, 2, 64)
    assert broken['preflight'] == ['loss_unbounded'] and 'loss_unbounded' in broken['failures'], broken
    assert broken['end']['loss'] < 0
    fixed = run(made(keras.losses.BinaryCrossentropy(from_logits=True)), X, X, 10, 64)
    assert fixed['preflight'] == [] and fixed['failures'] == [], fixed
    assert 'loss_unbounded' not in fixed['warnings']


def swapped_probabilities(y_true, y_pred):
    """Binary cross-entropy written as if Keras passed the output first: the pixels become the prediction (clipped
    away from 0 and 1), the sigmoid's output the labels."""
    return keras.losses.binary_crossentropy(y_pred, y_true)


def test_a_loss_lower_at_rounded_targets_is_a_blocker_and_in_order_the_model_learns():
    # linear in the sigmoid's output, the swapped loss draws every pixel to 0 or 1 instead of to its grey
    def made(loss):
        model = seeded(lambda: keras.Sequential([keras.Input((784,)), L.Dense(64, activation='relu'),
                                                 L.Dense(784, activation='sigmoid')]))
        model.compile(optimizer='adam', loss=loss)
        return model
    broken = run(made(swapped_probabilities), X, X, 2, 64)
    assert broken['preflight'] == ['loss_lower_rounded'] and 'loss_lower_rounded' in broken['failures'], broken
    fixed = run(made('binary_crossentropy'), X, X, 10, 64)
    assert fixed['preflight'] == [] and fixed['failures'] == [], fixed
    assert 'loss_lower_rounded' not in fixed['warnings']


def test_a_loss_on_logits_that_its_name_does_not_tell_gets_the_baselines_of_one_that_does():
    from aehealth.keras import postmortem

    def own(y_true, y_pred):
        return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)
    model = seeded(lambda: keras.Sequential([keras.Input((784,)), L.Dense(64, activation='relu'), L.Dense(784)]))
    found = {}
    for name, loss in (('told', keras.losses.BinaryCrossentropy(from_logits=True)), ('own', own), ('squared', 'mse')):
        model.compile(optimizer='adam', loss=loss)
        found[name] = postmortem(model, X[:300], verbose=False)['baselines']
    assert found['own']['floor'] == pytest.approx(found['told']['floor'], rel=1e-5)
    assert found['own']['mean_input'] == pytest.approx(found['told']['mean_input'], rel=1e-5)
    assert 0 < found['told']['floor'] < found['told']['mean_input'] and found['squared']['floor'] == 0


def test_initial_weights_off_scale_and_shapes_that_broadcast_are_named_before_training():
    def dense(init):
        return keras.Sequential([keras.Input((784,))] + [L.Dense(n, activation='relu', kernel_initializer=init)
                                                         for n in (256, 64, 256)] + [L.Dense(784, activation='sigmoid')])
    assert ('init_scale', 'warning') in preflight_of(seeded(lambda: dense(keras.initializers.RandomNormal(stddev=1.0))),
                                                     X[:300])
    assert preflight_of(seeded(lambda: dense('glorot_uniform')), X[:300]) == []

    def wide():
        return keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')])
    assert ('shape_mismatch', 'failure') in preflight_of(seeded(wide), X[:300], 'mse', targets=X[:300, :1])
    assert preflight_of(seeded(wide), X[:300], 'mse', targets=X[:300]) == []


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
    assert [a for _, a, _ in got['conv1d']['layers']] == ['leaky_relu', 'prelu', 'elu', 'sigmoid']
    assert len(got['conv1d']['kernels']) == 4


def test_dropout_between_a_weight_layer_and_its_activation_layer_changes_nothing_measured():
    # in inference Dropout hands its input on: Dense, Dropout, ReLU is measured once, after the relu, as Dense, ReLU
    described = []
    for middle in ([], [L.Dropout(0.2)]):
        model = keras.Sequential([keras.Input((784,)), L.Dense(32), *middle, L.ReLU(), L.Dense(784, activation='sigmoid')])
        model.compile(optimizer='adam', loss='mse')
        net = postmortem(model, X[:300], verbose=False)['network']
        described.append([(layer['activation'], layer['units']) for layer in net['layers']]
                         + [net['code'] == net['layers'][0]['key']])
    assert described[0] == described[1] == [('relu', 32), ('sigmoid', 784), True]


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


class Sampling(L.Layer):
    """keras.io's, as published (its VAE example, and the guide to subclassing)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    """keras.io's VAE: its own train_step, compiled without a loss, no call."""

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
            total_loss = reconstruction_loss + ops.mean(ops.sum(kl_loss, axis=1))
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        return {'loss': self.total_loss_tracker.result()}


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


def test_a_vae_with_its_own_train_step_attaches_with_forward_and_keeps_its_random_draws():
    histories = []
    for with_monitor in (False, True):
        model = seeded(vae)
        callbacks = [HealthMonitor(IMG[:300], forward=forward_of(model), verbose=False)] if with_monitor else []
        histories.append(model.fit(IMG, epochs=2, batch_size=128, verbose=0, callbacks=callbacks).history['loss'])
    monitor = callbacks[0]
    assert histories[0] == histories[1]  # the same losses with and without the monitor: Sampling drew nothing extra
    posterior = monitor.health[-1]['posterior']
    assert posterior['dims'] == 2 and len(posterior['kl']) == 2
    assert 'z_log_var' not in [layer['key'] for layer in monitor.metrics['network']['layers']]  # not on the way out
    assert monitor.metrics['network']['code'] == 'z_mean'
    assert any('mean squared error' in note for note in monitor.metrics['notes'])
    with pytest.raises(UsageError) as error:
        preflight(vae(), IMG[:300], verbose=False)
    assert 'forward=' in str(error.value) and '\n' not in str(error.value)


class GuideVAE(keras.Model):
    """keras.io's guide to subclassing ("Putting it all together: an end-to-end example"): its VariationalAutoEncoder
    (Dense heads and Sampling; the KL an add_loss in call), its KL term weighted by `kl_weight`."""

    def __init__(self, kl_weight, original_dim=784, intermediate_dim=64, latent_dim=32):
        super().__init__()
        self.kl_weight = kl_weight
        self.dense_proj = L.Dense(intermediate_dim, activation='relu')
        self.dense_mean, self.dense_log_var, self.sampling = L.Dense(latent_dim), L.Dense(latent_dim), Sampling()
        self.decoder_proj = L.Dense(intermediate_dim, activation='relu')
        self.dense_output = L.Dense(original_dim, activation='sigmoid')

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean, z_log_var = self.dense_mean(x), self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(self.kl_weight * kl_loss)
        return self.dense_output(self.decoder_proj(z))


@pytest.mark.parametrize('kl_weight, collapsed', [(1.0, True), (0.01, False)])
def test_a_sampling_layer_gives_the_posterior_of_a_vae_that_adds_its_kl_as_a_loss(kl_weight, collapsed):
    histories = []
    for with_monitor in (False, True):
        model = seeded(lambda: GuideVAE(kl_weight))
        model.compile(keras.optimizers.Adam(1e-3), loss=keras.losses.MeanSquaredError())
        callbacks = [HealthMonitor(X[:300], verbose=False)] if with_monitor else []
        histories.append(model.fit(X, X, epochs=5, batch_size=16, verbose=0, callbacks=callbacks).history['loss'])
    assert histories[0] == histories[1]  # the monitor's runs that find the Sampling layer drew nothing extra
    monitor = callbacks[0]
    assert monitor.metrics['network']['code'] == model.dense_mean.name and monitor.health[-1]['posterior']['dims'] == 32
    assert ('posterior_collapse' in [f['rule'] for f in monitor.findings if f['level'] == 'failure']) == collapsed
    # the KL averaged over 32 dimensions beside the squared error averaged over 784 pixels: a Gaussian decoder's of
    # noise variance 12.25 w, against MNIST's top variance of about 5; the fix as printed unsticks it (more slowly than
    # a weight of 0.01: a noise a tenth of the top variance is the conventional summed squared error's on MNIST)
    outweighs = next((f for f in monitor.findings if f['rule'] == 'kl_outweighs'), None)
    assert (outweighs is not None) == collapsed, monitor.findings
    if collapsed:
        assert 'noise variance 12.2' in outweighs['evidence']
        factor = float(outweighs['fix'].split('divide the KL weight by ')[1].split()[0])
        model = seeded(lambda: GuideVAE(kl_weight / factor))
        model.compile(keras.optimizers.Adam(1e-3), loss=keras.losses.MeanSquaredError())
        fixed = HealthMonitor(X[:300], verbose=False)
        model.fit(X, X, epochs=10, batch_size=16, verbose=0, callbacks=[fixed])  # measured: 0.96x at 5, 0.83x at 10
        assert not [f for f in fixed.findings if f['level'] == 'failure'], fixed.findings
        assert 'kl_outweighs' not in [f['rule'] for f in fixed.findings]


@pytest.mark.parametrize('fixed', [False, True])
def test_the_keras_1_vae_example_shows_its_posterior_through_its_sampling_layer_without_forward(fixed):
    # cases/keras_3373: nested encoder and decoder models, a KL layer that hands [z_mean, z_log_var] on to Sampling
    from cases import keras_3373
    keras.utils.set_random_seed(0)
    spec = keras_3373.build(fixed)
    monitor = HealthMonitor(spec['x'][:500], every=5, verbose=False)
    spec['model'].fit(spec['x'], spec['x'], epochs=20, batch_size=100, verbose=0, callbacks=[monitor])
    assert monitor.metrics['network']['code'] == 'z_mean' and monitor.health[-1]['posterior']['dims'] == 2
    assert ('posterior_collapse' in [f['rule'] for f in monitor.findings if f['level'] == 'failure']) != fixed


def test_several_outputs_judge_the_reconstruction_and_leave_the_model_as_it_was():
    keras.utils.set_random_seed(0)
    i = keras.Input((784,))
    h = L.Dense(32, activation='relu')(i)
    model = keras.Model(i, [L.Dense(784, activation='sigmoid', name='reconstruction')(h),
                            L.Dense(10, activation='softmax', name='digit')(h)])
    model.compile(optimizer='adam', loss=['mse', 'sparse_categorical_crossentropy'])
    before = [w.copy() for w in model.get_weights()]
    pre = preflight(model, X[:300], verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    history = model.fit(X, [X, np.zeros(len(X), 'int32')], epochs=1, batch_size=100, verbose=0)
    assert len(history.history['loss']) == 1  # the user's own fit after preflight still works
    assert 'softmax_hidden' not in rules(pre)  # the second head is not a hidden layer


def test_a_token_autoencoder_with_a_sparse_loss_trains_to_the_end():
    keras.utils.set_random_seed(0)
    ids = np.random.default_rng(0).integers(1, 20, (400, 12)).astype('int32')
    model = keras.Sequential([keras.Input((12,), dtype='int32'), L.Embedding(20, 8), L.LSTM(16), L.RepeatVector(12),
                              L.LSTM(16, return_sequences=True), L.TimeDistributed(L.Dense(20, activation='softmax'))])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    monitor = HealthMonitor(ids[:200], verbose=False)
    history = model.fit(ids, ids, epochs=2, batch_size=50, verbose=0, callbacks=[monitor])
    assert len(history.history['loss']) == 2 and monitor.metrics['not_measured'] == {}
    assert 'inputs_not_scaled' not in rules(monitor.findings) and 'softmax_output' not in rules(monitor.findings)


def flat_model():
    model = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')])
    model.compile(optimizer='adam', loss='mse')
    return model


def two_inputs():
    i1, i2 = keras.Input((784,)), keras.Input((3,))
    model = keras.Model([i1, i2], L.Dense(784)(L.Concatenate()([i1, i2])))
    model.compile(optimizer='adam', loss='mse')
    return model


NAN = X[:300].copy()
NAN[5, 3] = np.nan
EXPECTED_ERRORS = {
    'wrong_shape': ("the sample's rows have shape (28, 28) but the model takes (784,)",
                    lambda: preflight(flat_model(), X[:300].reshape(-1, 28, 28), verbose=False)),
    'targets_shape': ('the loss cannot compare the targets (rows of shape (10,))',
                      lambda: preflight(flat_model(), X[:300], targets=X[:300, :10], verbose=False)),
    'nan': ('sample has NaN or Inf in 1 of its 300 rows (the first: row 5)', lambda: HealthMonitor(NAN)),
    'nan_targets': ('targets has NaN or Inf in 1 of its 300 rows', lambda: HealthMonitor(X[:300], targets=NAN)),
    'empty': ('sample is empty', lambda: HealthMonitor(X[:0])),
    'two_rows': ('sample has 2 rows: spreads across inputs need at least 8', lambda: HealthMonitor(X[:2])),
    'every': ('every=2.5: give a whole number of epochs', lambda: HealthMonitor(X[:300], every=2.5)),
    'list': ('sample is a list', lambda: HealthMonitor(list(X[:300]))),
    'dataset': ('not an array: pass a numpy array',
                lambda: HealthMonitor(tf.data.Dataset.from_tensor_slices(X[:300]))),
    'two_inputs': ('the model takes 2 inputs', lambda: preflight(two_inputs(), X[:300], verbose=False)),
    'not_compiled': ('compile the model first', lambda: preflight(keras.Sequential([keras.Input((784,)),
                                                                                     L.Dense(784)]), X[:300],
                                                                  verbose=False)),
}


@pytest.mark.parametrize('name', sorted(EXPECTED_ERRORS))
def test_bad_input_gets_one_line_that_says_what_to_do(name):
    text, call = EXPECTED_ERRORS[name]
    with pytest.raises(UsageError) as error:
        call()
    assert text in str(error.value) and '\n' not in str(error.value) and len(str(error.value)) < 300, str(error.value)


def test_an_out_folder_that_cannot_be_written_gets_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip('running as root: every folder can be written')
    unwritable = tempfile.mkdtemp(dir=tmp_path)
    os.chmod(unwritable, 0o500)
    with pytest.raises(UsageError) as error:
        HealthMonitor(X[:300], out=os.path.join(unwritable, 'runs'))
    assert 'cannot be written' in str(error.value) and '\n' not in str(error.value)


def test_a_check_that_fails_inside_fit_is_a_finding_and_fit_goes_on():
    def broken(x):
        raise RuntimeError('a forward function that fails')
    for monitor, words in ((HealthMonitor(X[:300].reshape(-1, 28, 28), verbose=False),
                            "the sample's rows have shape (28, 28)"),
                           (HealthMonitor(X[:300], verbose=False, forward=broken), 'a forward function that fails')):
        history = flat_model().fit(X, X, epochs=2, batch_size=100, verbose=0, callbacks=[monitor])
        assert len(history.history['loss']) == 2
        assert rules(monitor.findings) == ['not_measured'], monitor.findings
        assert words in monitor.findings[0]['evidence']


def test_initial_epoch_labels_the_checks_with_the_epochs_fit_runs():
    monitor = HealthMonitor(X[:300], every=1, verbose=False)
    flat_model().fit(X, X, epochs=6, initial_epoch=3, batch_size=100, verbose=0, callbacks=[monitor])
    assert [h['epoch'] for h in monitor.health] == [3, 4, 5, 6] and monitor.metrics['epochs_done'] == 3


def test_the_monitor_changes_no_number_of_the_training_and_writes_its_folder(tmp_path):
    def fit(callbacks):
        model = seeded(flat_model)
        history = model.fit(X, X, epochs=3, batch_size=100, verbose=0, callbacks=callbacks)
        return history.history['loss'], [w.tolist() for w in model.get_weights()[:1]]
    monitor = HealthMonitor(X[:300], out=tmp_path / 'mine', verbose=False)
    assert fit([monitor]) == fit([])
    assert [h['epoch'] for h in monitor.health] == [0, 1, 2, 3]
    saved = json.loads((tmp_path / 'mine' / 'health.json').read_text())
    assert saved['findings'] == monitor.findings and saved['epochs_done'] == 3 and saved['version'] == 3
    assert (tmp_path / 'mine' / 'health.png').stat().st_size > 20000
    assert list((tmp_path / 'mine' / 'tensorboard').glob('events.out.tfevents.*'))


def test_a_diverging_run_is_named_and_not_stopped():
    model = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784)])
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss='mse')
    monitor = HealthMonitor(X[:200], every=2, verbose=False)
    history = model.fit(X, X, epochs=4, batch_size=100, verbose=0, callbacks=[monitor])
    assert len(history.history['loss']) == 4  # training went on: stopping it is TerminateOnNaN's job
    assert rules(monitor.findings, 'failure')[0] == 'nonfinite'


def test_the_question_in_keras_gets_both_preflight_findings_and_its_fix_no_failure():
    found = {}
    for fixed in (False, True):
        model = question.network(fixed)
        model.compile(optimizer='adam', loss='mse')
        found[fixed] = preflight(model, X[:500], verbose=False)
    posted = {f['rule']: f for f in found[False]}
    assert {'one_output', 'vanishing_gradient'} <= set(posted)
    # predictions, not verdicts: the posted network learns with enough Adam steps (the ablation's row 10)
    assert all(f['level'] == 'warning' for f in posted.values())
    assert posted['one_output']['evidence'].startswith('one output for every input before training: output diversity ')
    assert posted['vanishing_gradient']['evidence'].startswith("vanishing gradient: conv1's gradient is ")
    assert not [f for f in found[True] if f['level'] == 'failure']


def test_each_model_traces_the_probes_step_once_and_tensorflow_does_not_warn_of_retracing(caplog):
    # a trial with jobs=1 checks one model after another in one process: each probe traces its step with and without
    # gradients once, and TensorFlow counts every probe's traces as one function's retracing
    traced = []
    for k in range(4):
        model = keras.Sequential([keras.Input((784,)), L.Dense(32 + k, 'relu'), L.Dense(784, 'sigmoid')])
        model.compile('adam', 'mse')
        monitor = HealthMonitor(X[:1100], verbose=False)
        model.fit(X[:256], X[:256], epochs=3, batch_size=64, verbose=0, callbacks=[monitor])
        traced.append(sum(f.experimental_get_tracing_count() for f in monitor.monitor.session.probe._steps.values()))
    assert traced == [2, 2, 2, 2]
    assert not [r for r in caplog.records if 'retracing' in r.getMessage()]


def test_a_stateful_rnn_gets_one_line_and_its_stateless_copy_is_checked():
    def made(stateful):
        shape = dict(batch_shape=(1, 24, 1)) if stateful else dict(shape=(24, 1))
        return keras.Sequential([keras.Input(**shape), L.LSTM(16, stateful=stateful), L.RepeatVector(24),
                                 L.LSTM(16, return_sequences=True, stateful=stateful), L.TimeDistributed(L.Dense(1))])
    model = seeded(lambda: made(True))
    model.compile(optimizer='adam', loss='mse')
    with pytest.raises(UsageError) as error:
        preflight(model, WAVES[:64], verbose=False)
    assert 'is a stateful RNN' in str(error.value) and '\n' not in str(error.value)
    with pytest.raises(UsageError) as error:  # rows it cannot take: a stateless copy would not take them either
        preflight(model, WAVES[:64].reshape(64, 12, 2), verbose=False)
    assert 'have shape (12, 2) but the model takes (24, 1)' in str(error.value), error.value
    copy = made(False)  # the fix as the line gives it
    copy.set_weights(model.get_weights())
    copy.compile(optimizer='adam', loss='mse')
    assert rules(preflight(copy, WAVES[:64], verbose=False), 'failure') == []
