"""The training loop's own mistakes, named exactly, on a dense autoencoder trained as the tutorials train it: each
broken loop names its cause (and "learning rate too low" does not fire for weights that cannot move), the fix it
prints, applied, makes the run learn, and the deliberate variants (gradient accumulation, a frozen pretrained
encoder) get no failure."""
import copy
import functools
import warnings

import numpy as np
import pytest

from conftest import SUBSET

torch = pytest.importorskip('torch')
from torch import nn  # noqa: E402

from aehealth.torch import HealthMonitor, postmortem  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'].reshape(-1, 784).astype('float32') / 255


def failures(found):
    return [f['rule'] for f in found if f['level'] == 'failure']


def autoencoder(batch_norm=False):
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), *([nn.BatchNorm1d(128, momentum=0.01)] if batch_norm else []),
                         nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 784),
                         nn.Sigmoid())


def train(mistake=None, epochs=10, batch=64, model=None):
    """The tutorials' loop, with one mistake in it (None: as it should be); the monitor beside it."""
    torch.manual_seed(0)
    if mistake == 'batch_norm':  # BatchNorm1d(momentum=0.01), Keras' 0.99 carried over: 50 steps of batches of 256
        batch = 256
    model = model or autoencoder(batch_norm=mistake == 'batch_norm')
    loss_fn, xt = nn.MSELoss(), torch.as_tensor(X)
    optimizer = torch.optim.Adam(copy.deepcopy(model).parameters() if mistake == 'deepcopy' else
                                 [p for p in model.parameters() if p.requires_grad], 1e-3)
    if mistake == 'rebuilt':  # the model made again after its optimizer
        model = autoencoder()
    scheduler = None
    if mistake in ('steplr_every_batch', 'steplr_every_epoch'):
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    elif mistake in ('gamma_0', 'gamma_0.95'):  # AntixK/PyTorch-VAE's scheduler, its gamma set to 0 (its issue 71)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(mistake.split('_')[1]))
    monitor = HealthMonitor(model, X[:300], loss_fn, optimizer, verbose=False)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt))
        for k, i in enumerate(range(0, len(xt), batch)):
            x = xt[order[i:i + batch]]
            if mistake == 'accumulation':  # on purpose: four backward passes per step
                loss = loss_fn(model(x), x) / 4
                loss.backward()
                if k % 4 == 3:
                    optimizer.step()
                    optimizer.zero_grad()
                continue
            if mistake != 'no_zero_grad':
                optimizer.zero_grad()
            out = model(x)
            if mistake == 'item':
                loss = torch.tensor(loss_fn(out, x).item(), requires_grad=True)
            elif mistake == 'detached':
                loss = loss_fn(out.detach(), x)
                loss.requires_grad_()
            else:
                loss = loss_fn(out, x)
            loss.backward()
            optimizer.step()
            if mistake == 'steplr_every_batch':
                scheduler.step()
        if mistake in ('gamma_0', 'gamma_0.95', 'steplr_every_epoch'):
            scheduler.step()
        monitor.epoch_end(loss.item())
    monitor.finish()
    return monitor, model


@pytest.fixture(scope='module')
def runs():
    names = ('plain', 'no_zero_grad', 'deepcopy', 'rebuilt', 'item', 'detached', 'steplr_every_batch', 'gamma_0',
             'steplr_every_epoch', 'gamma_0.95', 'batch_norm')
    return {name: train(None if name == 'plain' else name)[0] for name in names}


CAUSES = {'no_zero_grad': 'gradients_carried', 'deepcopy': 'optimizer_misses_weights',
          'rebuilt': 'optimizer_misses_weights', 'item': 'no_gradient', 'detached': 'no_gradient',
          'steplr_every_batch': 'learning_rate_scheduled_to_zero', 'gamma_0': 'learning_rate_scheduled_to_zero',
          'batch_norm': 'eval_mode_gap'}


@pytest.mark.parametrize('mistake', sorted(CAUSES))
def test_each_mistake_of_the_loop_is_named_with_its_fix(runs, mistake):
    found = runs[mistake].findings
    assert CAUSES[mistake] in failures(found), found
    assert 'learning_rate_low' not in failures(found) and 'unexplained' not in failures(found)
    causes = [f['rule'] for f in found if f['rule'] in CAUSES.values()]
    assert causes == [CAUSES[mistake]], causes  # the one exact cause, not a consequence of it


def test_the_fixes_printed_applied_make_the_run_learn(runs):
    # zero_grad(), an optimizer of this model's parameters, backward() on the model's own loss: the plain loop
    loop = runs['plain'].metrics['loop']
    assert failures(runs['plain'].findings) == [] and sorted(loop) == ['compared', 'learning_rate'], loop
    assert loop['learning_rate'] == {'start': 1e-3, 'now': 1e-3, 'by': "the learning rate's setter"}
    assert loop['compared'] and all(c['cleared'] == 0 and c['carried'] > 0.5 for c in loop['compared']), loop
    # the scheduler stepped once per epoch; a gamma that is not 0
    assert failures(runs['steplr_every_epoch'].findings) == [] and failures(runs['gamma_0.95'].findings) == []
    fix = next(f['fix'] for f in runs['gamma_0'].findings if f['rule'] == 'learning_rate_scheduled_to_zero')
    assert 'once per epoch' in fix and 'gamma' in fix
    evidence = next(f['evidence'] for f in runs['steplr_every_batch'].findings
                    if f['rule'] == 'learning_rate_scheduled_to_zero')
    assert evidence.startswith('learning rate scheduled to 0: StepLR (step_size=10, gamma=0.1, stepped 190 times) '
                               'brought it from 0.001 when training started to ')


def test_batchnorm_statistics_recomputed_as_the_fix_says_make_the_model_learn_in_eval_mode():
    monitor, model = train('batch_norm')
    assert 'eval_mode_gap' in failures(monitor.findings)
    assert 'm.reset_running_stats(); m.momentum = None' in next(f['fix'] for f in monitor.findings
                                                                if f['rule'] == 'eval_mode_gap')
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(X), 256):
            model(torch.as_tensor(X[i:i + 256]))
    assert failures(postmortem(model, X[:300], nn.MSELoss(), verbose=False)['findings']) == []


def test_gradient_accumulation_on_purpose_is_not_a_carried_gradient():
    monitor, _ = train('accumulation', epochs=30)
    compared = monitor.metrics['loop']['compared']  # each step applies what its own backward passes summed
    assert compared and all(c['cleared'] < 1e-6 for c in compared), compared
    assert failures(monitor.findings) == [], monitor.findings


def test_a_frozen_decoder_is_named_when_stuck_and_a_frozen_pretrained_encoder_is_not():
    torch.manual_seed(0)
    frozen = autoencoder()
    for p in list(frozen.parameters())[4:]:
        p.requires_grad_(False)
    monitor, _ = train(model=frozen)
    assert 'frozen_weights' in failures(monitor.findings) and 'learning_rate_low' not in failures(monitor.findings)
    _, pretrained = train()  # trained first, then its encoder frozen while a new decoder learns
    fresh = autoencoder()
    encoder = nn.Sequential(*list(pretrained)[:4]).requires_grad_(False)
    monitor, _ = train(model=nn.Sequential(encoder, *list(fresh)[4:]))
    assert failures(monitor.findings) == [] and monitor.metrics['loop']['frozen'] == ['0.0', '0.2']


class Cut(nn.Module):
    """The autoencoder with its code passed to the decoder without a gradient (`how`), or with one (None)."""

    def __init__(self, how=None, encoder=None):
        super().__init__()
        layers = list(autoencoder())
        self.encoder, self.decoder, self.how = encoder or nn.Sequential(*layers[:4]), nn.Sequential(*layers[4:]), how

    def forward(self, x):
        with torch.set_grad_enabled(self.how != 'no_grad' and torch.is_grad_enabled()):
            code = self.encoder(x)
        if self.how == 'detach':
            code = code.detach()
        elif self.how == 'numpy':
            code = torch.from_numpy(code.detach().numpy())
        return self.decoder(code)


@pytest.mark.parametrize('how', ['detach', 'numpy', 'no_grad'])
def test_an_encoder_cut_from_the_loss_in_forward_is_named_and_the_printed_fix_learns(how):
    torch.manual_seed(0)
    monitor, _ = train(model=Cut(how))
    assert 'gradient_cut' in failures(monitor.findings) and 'unexplained' not in failures(monitor.findings)
    fix = next(f['fix'] for f in monitor.findings if f['rule'] == 'gradient_cut')
    assert '.detach()' in fix and 'torch.no_grad()' in fix and 'numpy' in fix
    torch.manual_seed(0)
    monitor, _ = train(model=Cut())  # the fix applied: the code goes to the decoder with its gradient
    assert failures(monitor.findings) == [] and 'cut' not in monitor.metrics['loop']


def test_a_pretrained_encoder_run_without_gradient_on_purpose_is_not_named_when_the_decoder_learns():
    _, pretrained = train()
    torch.manual_seed(0)
    monitor, _ = train(model=Cut('detach', encoder=nn.Sequential(*list(pretrained)[:4])))
    assert failures(monitor.findings) == [] and monitor.metrics['loop']['cut'] == 'encoder.0'


# ---------------------------------------------------------------- Keras: fit makes the gradients; the rest can go wrong

@functools.lru_cache(maxsize=None)
def keras_fit(mistake=None):
    """A dense autoencoder in Keras, compiled and fitted as the Keras blog does, with one mistake in it."""
    keras = pytest.importorskip('keras')
    from keras import layers as L

    from aehealth.keras import HealthMonitor as KerasMonitor
    keras.utils.set_random_seed(0)
    momentum = 0.9 if mistake == 'bn_momentum_0.9' else 0.99  # Keras' default 0.99: slow moving statistics
    model = keras.Sequential([keras.Input((784,)), L.Dense(128, activation='relu'),
                              *([L.BatchNormalization(momentum=momentum)] if mistake and 'bn' in mistake else []),
                              L.Dense(32, activation='relu'),
                              *([L.Lambda(keras.ops.stop_gradient)] if mistake == 'stop_gradient' else []),
                              L.Dense(128, activation='relu'), L.Dense(784, activation='sigmoid')])
    rate, callbacks = 1e-3, []
    if mistake in ('decay_every_step', 'decay_slow'):
        rate = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=1 if mistake == 'decay_every_step'
                                                           else 1000, decay_rate=0.5)
    if mistake == 'callback_to_0':
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.0 if epoch else lr))
    if mistake == 'trainable_false':
        model.trainable = False
    if mistake == 'frozen_decoder':
        for layer in model.layers[2:]:
            layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(rate), loss='mse')
    monitor = KerasMonitor(X[:300], verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # "The model does not have any trainable weights"
        model.fit(X, X, epochs=10, batch_size=256 if mistake and 'bn' in mistake else 64, verbose=0,
                  callbacks=callbacks + [monitor])
    return monitor


KERAS_CAUSES = {'decay_every_step': 'learning_rate_scheduled_to_zero', 'callback_to_0': 'learning_rate_scheduled_to_zero',
                'trainable_false': 'frozen_weights', 'frozen_decoder': 'frozen_weights', 'bn': 'eval_mode_gap'}
KERAS_FIXES = {'decay_every_step': 'decay_slow', 'callback_to_0': None, 'trainable_false': None,
               'frozen_decoder': None, 'bn': 'bn_momentum_0.9'}


@pytest.mark.parametrize('mistake', sorted(KERAS_CAUSES))
def test_keras_mistakes_are_named_and_their_fix_learns(mistake):
    monitor = keras_fit(mistake)
    assert KERAS_CAUSES[mistake] in failures(monitor.findings), monitor.findings
    assert 'learning_rate_low' not in failures(monitor.findings) and 'unexplained' not in failures(monitor.findings)
    if mistake == 'decay_every_step':
        assert any('ExponentialDecay brought it from 0.001' in f['evidence'] for f in monitor.findings)
    assert failures(keras_fit(KERAS_FIXES[mistake]).findings) == []


def test_keras_records_an_encoder_cut_by_stop_gradient_and_names_it_only_when_the_run_is_stuck():
    cut, plain = keras_fit('stop_gradient'), keras_fit(None)
    assert cut.metrics['loop']['cut'].startswith('dense') and 'cut' not in plain.metrics['loop']  # the first Dense
    # here the decoder alone learns from the random code (as a pretrained encoder's would): not stuck, not named
    assert plain.metrics['final_loss'] < cut.metrics['final_loss'] and failures(cut.findings) == []


def _blog(optimizer):
    """The Keras blog's dense autoencoder (tensorflow/tensorflow#39432) under binary cross-entropy, 20 epochs of the
    subset passed 10 times an epoch in batches of 256 (940 steps, as cases/tf_39432.py)."""
    keras = pytest.importorskip('keras')
    from aehealth.keras import HealthMonitor as KerasMonitor
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation='relu'),
                              keras.layers.Dense(784, activation='sigmoid')])
    model.compile(optimizer=optimizer, loss='binary_crossentropy')
    monitor = KerasMonitor(X[:300], verbose=False)
    x = np.concatenate([X] * 10)
    model.fit(x, x, epochs=20, batch_size=256, verbose=0, callbacks=[monitor])
    return monitor


def test_keras_3s_adadelta_is_a_learning_rate_too_low_and_the_printed_factor_makes_the_blog_s_model_learn():
    # Keras 3 keeps tf.keras' default of 1e-3 for the string 'adadelta' (Keras 2's was 1.0): steps of about 2e-6
    found = _blog('adadelta').findings
    assert failures(found)[-1] == 'learning_rate_low' and 'plateau' in failures(found), found
    fix = next(f['fix'] for f in found if f['rule'] == 'learning_rate_low')
    factor = float(fix.split('multiply the learning rate by ')[1].split(':')[0])
    keras = pytest.importorskip('keras')
    assert failures(_blog(keras.optimizers.Adadelta(1e-3 * factor)).findings) == [], fix


def _stepped(model, optimizer, epochs=3, batch=64):
    """The plain loop on the subset's first 2000 rows, with the monitor beside it."""
    loss_fn, xt = nn.MSELoss(), torch.as_tensor(X[:2000])
    with HealthMonitor(model, X[:300], loss_fn, optimizer, verbose=False) as monitor:
        for _ in range(epochs):
            for i in range(0, len(xt), batch):
                optimizer.zero_grad()
                loss_fn(model(xt[i:i + batch]), xt[i:i + batch]).backward()
                optimizer.step()
            monitor.epoch_end()
    return monitor


@pytest.mark.parametrize('bias', [-30.0, -40.0])
def test_a_step_too_small_for_float32_on_a_saturated_output_is_not_blamed_on_the_optimizer_or_learning_rate(bias):
    # a sigmoid output pinned at 0: gradients of 1e-14 and less, which Adam's steps (lr g / eps) move by less than
    # the spacing of float32 weights (-40: not at all, once named "optimizer misses weights"; -30: by 1e-12 of their
    # size, once named "learning rate too low, multiply it by 1e+06")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid())
    nn.init.constant_(model[2].bias, bias)
    found = failures(_stepped(model, torch.optim.Adam(model.parameters(), 1e-3)).findings)
    assert 'saturated_output' in found and 'one_output' in found, found
    assert not {'optimizer_misses_weights', 'learning_rate_low'} & set(found), found


def test_weights_a_step_leaves_though_their_gradient_moves_them_are_recorded_as_still():
    # the encoder held by the optimizer at a learning rate of 0 in a group of its own: its step leaves it exactly
    torch.manual_seed(0)
    model = autoencoder()
    encoder, decoder = list(model[:4].parameters()), list(model[4:].parameters())
    optimizer = torch.optim.Adam([{'params': decoder}, {'params': encoder, 'lr': 0.0}], 1e-3)
    loop = _stepped(model, optimizer).metrics['loop']
    assert loop['still'] == ['0', '2'], loop
