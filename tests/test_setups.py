"""Set-ups that must not fool the monitor: torch.compile, a model's own dtype, models that take several inputs or
return a dict (forward=), a loss that is not one number, and the smaller points: what a pre-flight warning points
to, a softmax over one value, learning-rate advice scaled to what was measured, a line per check with the findings
kept current, the health.png note without matplotlib, and the command line's words for files it cannot read."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import HANG, ROOT, SUBSET

torch = pytest.importorskip('torch')
from torch import nn  # noqa: E402

from aehealth import monitor as core  # noqa: E402
from aehealth.torch import HealthMonitor, UsageError, postmortem, preflight  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'].reshape(-1, 784).astype('float32') / 255


def autoencoder():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(),
                         nn.Linear(128, 784), nn.Sigmoid())


def rules_of(found, level=None):
    return [f['rule'] for f in found if level is None or f['level'] == level]


def fit(model, epochs=5, forward=None, loss_fn=None, verbose=False, lr=1e-3, **kw):
    """The tutorials' loop, the monitor beside it."""
    torch.manual_seed(0)
    loss_fn = loss_fn or nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr)
    xt = torch.as_tensor(X).to(next(model.parameters()).dtype)
    monitor = HealthMonitor(model, X[:300], loss_fn, optimizer, verbose=verbose, forward=forward, **kw)
    run = forward or model
    for _ in range(epochs):
        for i in range(0, len(xt), 64):
            x = xt[i:i + 64]
            optimizer.zero_grad()
            loss = loss_fn(run(x), x)
            loss.backward()
            optimizer.step()
        monitor.epoch_end(loss.item())
    monitor.finish()
    return monitor


def test_a_compiled_model_is_measured_through_its_original_module():
    torch.manual_seed(0)
    eager = fit(autoencoder())
    torch.manual_seed(0)
    model = autoencoder()
    compiled = fit(torch.compile(model, backend='aot_eager'))
    assert compiled.metrics['not_measured'] == {} and len(compiled.health) == 6
    assert rules_of(compiled.findings) == rules_of(eager.findings)
    assert compiled.health[-1]['loss'] == pytest.approx(eager.health[-1]['loss'], rel=1e-3)


def test_a_check_that_could_not_measure_never_yields_an_outcome():
    class Broken(nn.Sequential):
        def forward(self, x):
            if not self.training and getattr(self, 'trained', False):
                raise RuntimeError('a forward() that fails after training')
            return super().forward(x)
    model = Broken(*autoencoder())
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    monitor = HealthMonitor(model, X[:300], nn.MSELoss(), optimizer, verbose=False)
    model.trained = True  # every check after the untrained one fails
    for _ in range(2):
        monitor.epoch_end()
    monitor.finish()
    assert set(rules_of(monitor.findings)) == {'not_measured'} and monitor.metrics['end_measured'] is False


@pytest.mark.parametrize('dtype', ['float64', 'float16', 'bfloat16'])
def test_the_models_own_dtype_is_kept(dtype):
    torch.manual_seed(0)
    model = autoencoder()
    reference = preflight(model, X[:300], nn.MSELoss(), verbose=False)
    found = preflight(model.to(getattr(torch, dtype)), X[:300], nn.MSELoss(), verbose=False)
    assert rules_of(found) == rules_of(reference)


class TwoInputs(nn.Module):
    """A conditional autoencoder: the image and a one-hot label in, the image out."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(784 + 10, 32), nn.Linear(32 + 10, 784)

    def forward(self, x, label):
        return torch.sigmoid(self.decoder(torch.cat([torch.relu(self.encoder(torch.cat([x, label], 1))), label], 1)))


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = autoencoder()

    def forward(self, x):
        return {'reconstruction': self.net(x), 'input': x}


def test_several_inputs_and_dict_outputs_attach_with_forward():
    label = torch.zeros(len(X), 10)
    label[:, 0] = 1
    model = TwoInputs()
    monitor = fit(model, forward=lambda x: model(x, label[:len(x)]), lr=1e-2)
    assert monitor.metrics['not_measured'] == {} and rules_of(monitor.findings, 'failure') == []
    with pytest.raises(UsageError) as error:
        preflight(DictOut(), X[:300], lambda out, x: nn.functional.mse_loss(out['reconstruction'], x))
    assert 'forward=' in str(error.value) and '\n' not in str(error.value)
    model = DictOut()
    found = preflight(model, X[:300], nn.MSELoss(), verbose=False, forward=lambda x: model(x)['reconstruction'])
    assert rules_of(found, 'failure') == []


def test_a_loss_that_is_not_one_number_gets_one_line():
    with pytest.raises(UsageError) as error:
        preflight(autoencoder(), X[:300], nn.MSELoss(reduction='none'))
    assert "loss_fn returned a tensor of shape (8, 784), not one number" in str(error.value)
    assert '\n' not in str(error.value)


def test_an_untrained_model_that_draws_one_picture_is_told_what_to_do_not_pointed_at_causes_not_listed():
    torch.manual_seed(0)
    deep = nn.Sequential(*[m for a, b in ((784, 256), (256, 128), (128, 64), (64, 128), (128, 256))
                           for m in (nn.Linear(a, b), nn.ReLU())], nn.Linear(256, 784), nn.Sigmoid())
    found = preflight(deep, X[:300], nn.MSELoss(), verbose=False)
    assert rules_of(found) == ['one_output']
    assert 'see the causes' not in found[0]['fix'] and 'train it with the monitor' in found[0]['fix']


def test_learning_rate_advice_scales_with_the_step_measured():
    torch.manual_seed(0)
    model = autoencoder()
    optimizer = torch.optim.SGD(model.parameters(), lr=3000.0)
    xt = torch.as_tensor(X)
    with HealthMonitor(model, X[:300], nn.MSELoss(), optimizer, verbose=False) as monitor:
        for i in range(0, 640, 64):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(xt[i:i + 64]), xt[i:i + 64]).backward()
            optimizer.step()
        monitor.epoch_end()
    high = next(f for f in monitor.findings if f['rule'] == 'learning_rate_high')
    step = max(monitor.health[1]['step_update'].values())
    factor = 10 ** max(1, int(np.ceil(np.log10(step / 0.1))))
    assert factor >= 100 and high['fix'].startswith(f'divide the learning rate by {factor:g} (or more)')


def test_a_line_per_check_and_findings_kept_current(capsys):
    torch.manual_seed(0)
    model = autoencoder()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    monitor = HealthMonitor(model, X[:300], nn.MSELoss(), optimizer, verbose=True)
    monitor.epoch_end()  # no training at all: stuck where it started
    assert 'one_output' in rules_of(monitor.findings, 'failure')  # known now, before finish()
    monitor.epoch_end()
    monitor.finish()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('aehealth: epoch 1: loss ') and 'failing now: one output' in lines[0]
    assert lines[1].startswith('aehealth: epoch 2: loss ') and 'failing now' not in lines[1]
    assert lines[2] == 'health monitor:'


def test_without_matplotlib_the_note_is_in_the_report_and_in_health_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'aehealth.plot', None)  # as if matplotlib were not installed
    monitor = fit(autoencoder(), epochs=1, verbose=True, out=tmp_path / 'run')
    report = capsys.readouterr().out
    assert 'no health.png: matplotlib is not installed' in report.split('health monitor:')[1]
    saved = json.loads((tmp_path / 'run' / 'health.json').read_text())
    assert any('no health.png' in note for note in saved['notes']) and not (tmp_path / 'run' / 'health.png').exists()
    assert monitor.metrics['notes'] == saved['notes']


def test_a_softmax_over_one_value_is_named_as_such():
    keras = pytest.importorskip('keras')
    from aehealth.keras import preflight as keras_preflight
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, padding='same', activation='relu'),
                              keras.layers.Conv2D(1, 3, padding='same', activation='softmax')])
    model.compile(optimizer='adam', loss='mse')
    found = keras_preflight(model, X[:300].reshape(-1, 28, 28, 1), verbose=False)
    text = next(f['evidence'] for f in found if f['rule'] == 'softmax_output')
    assert text.startswith('softmax over an axis of one value in conv2d') and '784' not in text


def aehealth(*args):
    return subprocess.run([sys.executable, '-m', 'aehealth', *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG)


def test_the_command_line_names_what_a_file_is_when_it_cannot_read_it(tmp_path):
    sample = tmp_path / 'sample.npy'
    np.save(sample, X[:50])
    saved = tmp_path / 'saved_model'
    saved.mkdir()
    (saved / 'saved_model.pb').write_bytes(b'')
    torch.save(autoencoder().state_dict(), tmp_path / 'model.pt')
    script = ('import keras\n'
              'class Doubler(keras.layers.Layer):\n'
              '    def call(self, x):\n'
              '        return 2 * x\n'
              'm = keras.Sequential([keras.Input((784,)), keras.layers.Dense(784), Doubler()])\n'
              f'm.compile(loss="mse"); m.save({str(tmp_path / "custom.keras")!r})\n')
    subprocess.run([sys.executable, '-c', script], check=True, capture_output=True, timeout=HANG)
    for model, words in ((saved, 'a TensorFlow SavedModel, not a Keras model file'),
                         (tmp_path, 'a folder, not a Keras model file'),
                         (tmp_path / 'model.pt', 'a PyTorch file'),
                         (tmp_path / 'custom.keras', 'needs custom objects (Doubler)')):
        proc = aehealth(model, sample)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], (model, proc.stderr[-1000:])


def test_what_is_not_finite_is_said_in_words():
    assert core.nonfinite_words(float('nan'), []) == 'the loss is nan'
    assert core.nonfinite_words(0.1, ['a', 'b', 'c', 'd']) == 'weights of a, b, c and more'


def test_every_auto_spaces_the_checks_to_keep_the_monitor_within_its_budget(monkeypatch):
    """A fake clock: each epoch trains for 1 s and each check takes 0.3 s; at 5% the monitor may check every 6th,
    keeping room for the check finish() makes."""
    clock = [0.0]
    monkeypatch.setattr(core.time, 'perf_counter', lambda: clock[0])
    monitor = core.Monitor(X[:300], every='auto', verbose=False, budget=0.05)

    class Session:
        def check(self, epoch, step_update=None):
            clock[0] += 0.3
            monitor.health.append({'epoch': epoch})

        def metrics(self, *args):
            return {'findings': []}
    monitor.session = Session()
    monitor.begin(0)
    for _ in range(40):
        clock[0] += 1.0  # an epoch of training
        monitor.epoch_end()
    checked = [h['epoch'] for h in monitor.health]
    assert checked[0] == 0 and 5 <= len(checked) <= 6, checked  # 0.3 s a check within 5% of 40 s: 6 at most
    # with the check finish() makes when the last epoch had none, still within the budget
    assert monitor.seconds + (0.3 if checked[-1] != 40 else 0.0) <= 0.05 * 40 + 1e-9, checked
    with pytest.raises(UsageError):
        core.Monitor(X[:300], every='auto', budget=5)


class OneRowAtATime(nn.Module):
    """Written for a loop that feeds one row at a time (curiousily's LSTM autoencoder reshapes so): batch 1 in, no
    batch axis out."""

    def __init__(self):
        super().__init__()
        self.net = autoencoder()

    def forward(self, x):
        return self.net(x.reshape(1, 784)).reshape(784)


def test_a_model_of_one_row_at_a_time_gets_the_forward_that_works_and_is_measured_row_by_row():
    torch.manual_seed(0)
    model = OneRowAtATime()
    with pytest.raises(UsageError) as error:
        preflight(model, X[:300], nn.MSELoss())
    message = str(error.value)
    assert 'runs on one row of the sample but not on 8' in message and '\n' not in message
    forward = eval(message.split('pass forward=')[1].split(', the sample')[0], {'torch': torch, 'model': model})
    twin = autoencoder()  # the same weights, taking batches
    twin.load_state_dict(model.net.state_dict())
    rows = postmortem(model, X[:300], nn.MSELoss(), verbose=False, forward=forward)['health'][0]
    batched = postmortem(twin, X[:300], nn.MSELoss(), verbose=False)['health'][0]
    assert rows['loss'] == pytest.approx(batched['loss'], rel=1e-5)
    assert rows['output_diversity'] == pytest.approx(batched['output_diversity'], rel=1e-4)
    for (_, a), (_, b) in zip(rows['layers'].items(), batched['layers'].items(), strict=True):
        assert a.get('dead') == b.get('dead') and (a['spread'], a['rms']) == pytest.approx((b['spread'], b['rms']), rel=1e-4)
    grads = [rows['grad_norm'], batched['grad_norm']]
    assert list(grads[0].values()) == pytest.approx(list(grads[1].values()), rel=1e-4)


@pytest.mark.parametrize('lr', [1e-1, 1e-3])
def test_a_loop_of_one_row_at_a_time_is_watched_through_that_forward(lr):
    torch.manual_seed(0)
    model = OneRowAtATime()
    optimizer = torch.optim.Adam(model.parameters(), lr)
    with HealthMonitor(model, X[:300], nn.MSELoss(), optimizer, verbose=False,
                       forward=lambda x: torch.stack([model(row[None]) for row in x])) as monitor:
        for _ in range(3):
            for row in torch.as_tensor(X[:600]):
                loss = nn.functional.mse_loss(model(row[None]), row)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            monitor.epoch_end()
    failures = rules_of(monitor.findings, 'failure')
    if lr == 1e-1:  # Adam at 0.1, as a popular tutorial has it: every output one picture, the step named
        assert {'one_output', 'learning_rate_high'} <= set(failures)
    else:
        assert failures == [] and monitor.health[-1]['output_diversity'] > 0.3


class Squeezed(nn.Module):
    """A squeeze() that drops the batch axis of one row: runs on the sample, not on one row."""

    def __init__(self):
        super().__init__()
        self.net = autoencoder()

    def forward(self, x):
        x = x.squeeze()
        return self.net(x).view(x.shape[0], 784)


def test_a_model_that_cannot_run_on_one_row_is_measured_as_before():
    torch.manual_seed(0)
    with pytest.raises(RuntimeError):
        Squeezed()(torch.as_tensor(X[:1]))
    assert rules_of(preflight(Squeezed(), X[:300], nn.MSELoss(), verbose=False), 'failure') == []
