"""diagnostics.py on hand-made arrays: collapse, probe, baselines, and every health rule and its level."""
import subprocess
import sys

import numpy as np
import pytest

import diagnostics as dg
from conftest import ROOT


def separable_codes(n_per_class=60, dim=16, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(10, dim) * 3
    y = np.repeat(np.arange(10), n_per_class)
    return centres[y] + rng.randn(len(y), dim), y


def split(codes, y, test_every=6):
    """Put every sixth row into the test part, as the rows after n_train."""
    test = np.arange(len(y)) % test_every == 0
    return np.concatenate([codes[~test], codes[test]]), np.concatenate([y[~test], y[test]]), int((~test).sum())


def test_diagnostics_never_imports_tensorflow():
    out = subprocess.run([sys.executable, '-c', 'import sys, diagnostics; print(sorted(m for m in sys.modules '
                          'if m.split(".")[0] in ("tensorflow", "keras", "autoencoder")))'],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == '[]'


def test_identical_rows_are_collapsed():
    codes = np.tile(np.random.RandomState(1).rand(64), (2000, 1))
    collapsed, verdict = dg.collapse_verdict(codes)
    assert collapsed and verdict.startswith("collapsed") and dg.code_spread(codes) < 1e-12


def test_tiny_spread_around_a_saturated_value_is_collapsed():
    rng = np.random.RandomState(2)
    codes = 0.98 + 4e-5 * rng.randn(2000, 64)  # what the posted network's sigmoid code looks like
    assert dg.collapse_verdict(codes)[0]
    assert dg.code_spread(codes) == pytest.approx(4e-5, rel=0.05)


def test_spread_rows_are_not_collapsed():
    codes, _ = separable_codes()
    collapsed, verdict = dg.collapse_verdict(codes)
    assert not collapsed and verdict.startswith('not collapsed')


def test_probe_beats_chance_on_separable_codes_and_not_on_identical_ones():
    codes, y = separable_codes()
    assert dg.probe_accuracy(*split(codes, y)) > 0.9
    same = np.ones_like(codes)
    assert dg.probe_accuracy(*split(same, y)) <= 0.2
    noise = np.random.RandomState(3).randn(*codes.shape)
    assert dg.probe_accuracy(*split(noise, y)) < 0.3


@pytest.mark.filterwarnings('ignore::sklearn.exceptions.ConvergenceWarning')
def test_probe_converges_on_a_collapsed_code():
    """lbfgs stops unconverged on a collapsed, standardised code; the probe must still give the optimum."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits
    rng = np.random.RandomState(4)
    y = rng.randint(0, 10, 3000)
    centres, mix = rng.randn(10, 3), rng.randn(3, 64)  # a few directions shared by all 64 units: ill-conditioned
    signal = (centres[y] + 0.5 * rng.randn(3000, 3)) @ mix + 0.1 * rng.randn(3000, 64)
    codes = (0.98 + 4e-5 * signal).astype(np.float32)  # near-saturated, as the posted network's code
    codes, y, n_train = split(codes, y)
    scaler = StandardScaler().fit(codes[:n_train])
    with threadpool_limits(limits=1):  # as the probe does: BLAS threads spin on a busy machine
        slow = LogisticRegression(max_iter=dg.PROBE_LBFGS_ITERATIONS).fit(scaler.transform(codes[:n_train]),
                                                                         y[:n_train])
        exact = LogisticRegression(solver='newton-cholesky', tol=1e-8)
        exact.fit(scaler.transform(codes[:n_train]), y[:n_train])
    assert slow.n_iter_[0] >= dg.PROBE_LBFGS_ITERATIONS  # the case the Newton finish is for
    assert dg.probe_accuracy(codes, y, n_train) == pytest.approx(exact.score(scaler.transform(codes[n_train:]),
                                                                             y[n_train:]), abs=0.002)


def test_probe_needs_a_test_part():
    codes, y = separable_codes()
    assert dg.probe_accuracy(codes, y, len(y)) is None


def test_baselines_match_brute_force(subset):
    b = dg.baselines(subset.x)
    x = subset.x.astype(np.float64)
    assert b['all_black'] == pytest.approx(np.mean(x ** 2), rel=1e-9)
    assert b['mean_image'] == pytest.approx(np.mean((x - x.mean(0)) ** 2), rel=1e-9)
    assert dg.mean_image_loss(subset.x, x.mean(0)) == pytest.approx(b['mean_image'], rel=1e-9)


def test_per_digit_mse():
    y = np.array([0, 0, 1, 3])
    sq_err = np.array([784.0, 0.0, 78.4, 7.84])
    got = dg.per_digit_mse(sq_err, y)
    assert got[0] == pytest.approx(0.5) and got[1] == pytest.approx(0.1) and got[3] == pytest.approx(0.01)
    assert got[2] is None and len(got) == 10


# ---------------------------------------------------------------- health measurements

def test_saturated_sigmoid_units_are_counted_per_unit():
    rng = np.random.RandomState(0)
    a = rng.uniform(0.2, 0.8, (200, 10)).astype(np.float32)
    a[:, :6] = 0.999                    # six units pinned near 1 for every input
    a[:, 6] = 0.001                     # one pinned near 0
    a[:3, 7] = 0.999                    # saturated for 1.5% of the inputs only: not a saturated unit
    h = dg.layer_health(a, 'sigmoid')
    assert h['saturated'] == pytest.approx(0.7)
    assert h['derivative'] == pytest.approx(np.mean(a * (1 - a)), rel=1e-6)
    assert h['mean'] == pytest.approx(a.mean(), rel=1e-6) and h['std'] == pytest.approx(a.std(), rel=1e-5)
    assert 'dead' not in h


def test_healthy_sigmoid_layer_has_no_saturated_unit():
    a = np.random.RandomState(1).uniform(0.1, 0.9, (500, 4, 4, 3))  # conv maps: units are every position x channel
    h = dg.layer_health(a, 'sigmoid')
    assert h['saturated'] == 0.0 and h['spread'] > 0.2
    assert dg.layer_health(np.full((50, 8), 0.5), 'sigmoid')['derivative'] == pytest.approx(0.25)


def test_dead_relu_units():
    rng = np.random.RandomState(2)
    a = np.maximum(rng.randn(300, 10), 0)
    a[:, :7] = 0.0                       # never active
    a[:, 7] = np.where(np.arange(300) < 6, 1.0, 0.0)  # active for 2% of the inputs: alive
    a[:, 8:] = np.abs(a[:, 8:]) + 0.1    # always active
    h = dg.layer_health(a, 'relu')
    assert h['dead'] == pytest.approx(0.7) and 'saturated' not in h
    assert h['derivative'] == pytest.approx(np.mean(a > 0))


def test_output_diversity():
    rng = np.random.RandomState(3)
    x = rng.rand(100, 784)
    assert dg.output_diversity(x, np.tile(x.mean(0), (100, 1))) == pytest.approx(0, abs=1e-12)
    assert dg.output_diversity(x, x) == pytest.approx(1.0)
    assert dg.output_diversity(x, x.mean(0) + 0.5 * (x - x.mean(0))) == pytest.approx(0.5)


TWO_KERNELS = dg.network([dict(key='y2', label='conv1 (y2)', activation='sigmoid', units=10),
                          dict(key='u7', label='output (u7)', activation='sigmoid', units=784)], output='u7', loss='mse',
                         kernels={'encoding/conv1/w': 'conv1', 'decoding/deconv2/w': 'deconv2'})


def test_health_snapshot_gradient_norms_and_update_sizes():
    w0 = {'encoding/conv1/w': np.ones((2, 2, 1, 16)), 'decoding/deconv2/w': np.ones((2, 2, 1, 16))}
    w1 = {k: v * 1.01 for k, v in w0.items()}
    grads = {'encoding/conv1/w': np.full((2, 2, 1, 16), 1e-9), 'decoding/deconv2/w': np.full((2, 2, 1, 16), 1e-2)}
    x = np.random.RandomState(4).rand(20, 784)
    first = dg.health_snapshot(0, TWO_KERNELS, {'y2': x[:, :10]}, grads, w0, {}, x, x)
    assert first['grad_norm']['encoding/conv1/w'] == pytest.approx(8e-9)  # sqrt(64) * 1e-9
    assert first['update'] == {'encoding/conv1/w': None, 'decoding/deconv2/w': None}
    later = dg.health_snapshot(100, TWO_KERNELS, {'y2': x[:, :10]}, grads, w1, w0, x, x)
    assert later['update']['encoding/conv1/w'] == pytest.approx(0.01)
    assert later['output_diversity'] == pytest.approx(1.0) and later['epoch'] == 100


def test_layer_numbers_summed_over_batches_equal_those_of_the_whole():
    a = np.random.RandomState(5).rand(300, 40)
    whole = dg.layer_health(a, 'sigmoid')
    total = None
    for i in range(0, 300, 64):
        total = dg.add_sums(total, dg.layer_sums(a[i:i + 64], 'sigmoid', i == 0, None if total is None else total['shift']))
    batched = dg.layer_health(total, 'sigmoid')
    for k in ('mean', 'std', 'saturated', 'derivative', 'spread', 'rms'):
        assert batched[k] == pytest.approx(whole[k], rel=1e-6), k
    assert whole['p10'] == pytest.approx(np.percentile(a, 10)) and whole['p90'] == pytest.approx(np.percentile(a, 90))


def test_a_saturated_layers_tiny_spread_is_measured_exactly():
    """Sigmoid values near 0.5 that differ in the sixth decimal: the spread must come out as computed in float64."""
    rng = np.random.RandomState(6)
    a = (0.5 + 3e-6 * rng.randn(2000, 784)).astype(np.float32)
    exact = a.astype(np.float64).std(axis=0).mean()
    assert dg.layer_health(a, 'sigmoid')['spread'] == pytest.approx(exact, rel=1e-3)
    total = None
    for i in range(0, 2000, 300):
        total = dg.add_sums(total, dg.layer_sums(a[i:i + 300], 'sigmoid', i == 0, None if total is None else total['shift']))
    assert dg.layer_health(total, 'sigmoid')['spread'] == pytest.approx(exact, rel=1e-3)


def test_tanh_saturates_at_the_sigmoid_margin_doubled():
    a = np.full((100, 4), 0.5)
    a[:, 0], a[:, 1] = 0.99, -0.985  # |a| > 0.98: saturated; 0.97 is not
    a[:, 2] = 0.97
    h = dg.layer_health(a, 'tanh')
    assert h['saturated'] == pytest.approx(0.5) and h['derivative'] == pytest.approx(np.mean(1 - a ** 2))


def test_dead_output_units_count_only_where_the_target_is_not_zero():
    t = np.zeros((200, 4))
    t[:, 1:] = np.random.RandomState(6).rand(200, 3)  # unit 0's target is always 0
    out = t.copy()
    out[:, 0] = out[:, 2] = 0  # unit 0 is right to be 0; unit 2 is dead
    assert dg.dead_outputs(out, t) == pytest.approx(1 / 3)
    assert dg.dead_outputs(out, np.zeros_like(t)) is None


def test_feeding_counts_real_empty_and_short_batches():
    posted = dg.feeding([1000] + [0] * 69, 501, [1000 * 501] + [0] * 9)
    assert (posted['real_per_epoch'], posted['empty_per_epoch'], posted['short_per_epoch']) == (1, 69, 0)
    assert posted['images_trained'] == 501000 and posted['batches_per_epoch'] == 70
    subset = dg.feeding([1000, 400], 3, [140] * 10)
    assert (subset['real_per_epoch'], subset['empty_per_epoch'], subset['short_per_epoch']) == (2, 0, 1)


def test_plateau_exit_is_the_first_epoch_below_0_9_of_the_mean_image():
    assert dg.plateau_exit([0.3, 0.07, 0.065, 0.059, 0.07, 0.02], 0.067) == 3  # 0.059 < 0.0603
    assert dg.plateau_exit([0.3, 0.07, 0.0675], 0.067) is None


# ---------------------------------------------------------------- the rules

import autoencoder as ae  # noqa: E402  (the question's network, as its runs describe it to the rules)

QUESTION_NET = ae.network(dict(ae.QUESTION, code_activation='sigmoid', n_h1=128, n_h2=64))
FIRST, LAST = 'encoding/conv1/w', 'decoding/deconv2/w'


def run_metrics(**over):
    """Metrics of a run that learns, with nothing wrong; `over` puts one thing wrong."""
    net = dict(QUESTION_NET, layers=[dict(layer, activation='relu' if layer['key'] != 'u7' else 'sigmoid')
                                     for layer in QUESTION_NET['layers']])
    layers = {k['key']: {'mean': 0.5, 'std': 0.2, 'dead': 0.1, 'derivative': 0.5, 'spread': 0.2, 'rms': 0.5}
              for k in net['layers']}
    layers['u7'] = {'mean': 0.1, 'std': 0.2, 'saturated': 0.9, 'derivative': 0.05, 'spread': 0.2, 'rms': 0.3}
    end = {'epoch': 20, 'layers': layers, 'output_diversity': 0.93,
           'grad_norm': {FIRST: 0.16, LAST: 1.0}, 'update': {}}
    m = {'network': net, 'health': [end], 'final_loss': 0.0073, 'baselines': {'mean_image': 0.0673, 'all_black': 0.1123},
         'epochs_done': 20, 'plateau_exit_epoch': 1,
         'feeding': dg.feeding([1000] * 70, 20, [140000] * 10)}
    for key, value in over.items():
        if key in ('output_diversity', 'grad_norm', 'step_update', 'dead_outputs'):
            end[key] = value
        elif key in layers:
            layers[key] = value
        else:
            m[key] = value
    return m


def rules(found, level=None):
    return [f['rule'] for f in found if level is None or f['level'] == level]


def test_a_healthy_run_has_no_finding():
    assert dg.findings(run_metrics()) == []
    assert dg.finding_lines([]) == ['no failure symptom and no warning']


def test_the_posted_run_names_every_symptom_as_a_failure():
    saturated = {'mean': 0.99, 'std': 0.01, 'saturated': 0.88, 'derivative': 0.01, 'spread': 1e-5, 'rms': 0.99}
    m = run_metrics(network=QUESTION_NET, output_diversity=0.0, grad_norm={FIRST: 1.2e-10, LAST: 4.9e-4}, y6=saturated,
                    final_loss=0.0696, plateau_exit_epoch=None, epochs_done=501,
                    feeding=dg.feeding([1000] + [0] * 69, 501, [50100] * 10))
    found = dg.findings(m)
    assert rules(found, 'failure') == ['one_output', 'plateau', 'empty_batches', 'vanishing_gradient',
                                       'saturated_units']
    text = {f['rule']: f['evidence'] for f in found}
    assert text['empty_batches'] == '69 of 70 batches per epoch are empty: 501 real steps in 501 epochs'
    assert text['vanishing_gradient'] == 'vanishing gradient: conv1\'s gradient is 2e-07 of deconv2\'s (1.2e-10 against 4.9e-04)'
    assert text['plateau'] == ('stuck on the mean-image plateau: final loss 0.0696 is 1.03x the mean image\'s 0.0673 '
                               '(never below 0.9x in 501 epochs)')
    assert text['saturated_units'] == 'saturated sigmoid units: 88% of fc1 (y6)'
    assert text['one_output'] == 'one output for every input: output diversity 0.000 (0 = the same picture whatever the input)'
    fixes = {f['rule']: f['fix'] for f in found}
    assert fixes['empty_batches'] == '--batching fixed' and fixes['vanishing_gradient'] == '--activation relu'
    lines = dg.finding_lines(found)
    assert lines[0] == 'why it is stuck (failure symptoms):' and lines[3].endswith('-> --batching fixed')
    keras_fixes = {f['rule']: f['fix'] for f in dg.findings(m, fixes='keras')}
    assert keras_fixes['vanishing_gradient'].startswith('use relu in the hidden layers')


def test_training_on_one_digit_is_named():
    m = run_metrics(feeding=dg.feeding([1000] + [0] * 69, 501, [501000] + [0] * 9), output_diversity=0.0)
    text = {f['rule']: f['evidence'] for f in dg.findings(m)}
    assert text['one_digit'] == 'all 501000 trained images were digit 0'
    m = run_metrics(feeding=dg.feeding([1000] * 2, 1, [600, 200, 200] + [0] * 7))
    assert {f['rule']: f['evidence'] for f in dg.findings(m)}['one_digit'] == '60% of the 1000 trained images were digit 0'
    assert 'one_digit' not in rules(dg.findings(run_metrics(feeding=dg.feeding([1000], 1, [450, 450, 100] + [0] * 7))))


def test_a_healthy_gradient_ratio_is_not_vanishing():
    assert dg.findings(run_metrics(grad_norm={FIRST: 2e-3, LAST: 1.0})) == []
    assert rules(dg.findings(run_metrics(grad_norm={FIRST: 5e-4, LAST: 1.0}))) == ['vanishing_gradient']


def test_causes_in_a_run_that_learns_are_warnings():
    dead = {'mean': 0.3, 'std': 0.9, 'dead': 0.69, 'derivative': 0.31, 'spread': 0.5, 'rms': 0.5}
    m = run_metrics(y6=dead, feeding=dg.feeding([1000] + [0] * 69, 501, [50100] * 10))
    found = dg.findings(m)
    assert rules(found, 'warning') == ['empty_batches', 'dead_units'] and not rules(found, 'failure')
    assert {f['rule']: f['evidence'] for f in found}['dead_units'] == 'dead ReLU units: 69% of fc1 (y6)'
    assert dg.finding_lines(found)[0] == 'warnings (the run learns):'
    assert dg.finding_lines(found)[-1].endswith('-> no switch here removes it')


def test_the_output_layer_is_never_called_saturated():
    """A good reconstruction keeps the always-black border pixels near 0: that is not a fault."""
    assert dg.findings(run_metrics()) == []  # u7 is 90% saturated in run_metrics


@pytest.mark.parametrize('loss, fires', [(0.0630, False), (0.0640, True), (0.0696, True), (0.1125, True)])
def test_plateau_band(loss, fires):
    found = dg.findings(run_metrics(final_loss=loss))
    assert ('plateau' in rules(found)) is fires
    if loss > 0.0673 * 1.05:
        assert 'no better than the mean image' in found[0]['evidence']


def test_one_output_alone_makes_the_causes_failures():
    m = run_metrics(output_diversity=0.05, feeding=dg.feeding([1000] + [0] * 69, 501, [50100] * 10))
    assert rules(dg.findings(m), 'failure') == ['one_output', 'empty_batches']


def test_every_rule_has_a_kind_words_and_both_remedies_or_none():
    assert {kind for _, kind, _, _, _ in dg.RULES} == {'blocker', 'outcome', 'cause'}
    assert set(dg.WORDS) == {rule for rule, _, _, _, _ in dg.RULES}
    keras_only = {'empty_batches', 'one_digit'}  # the question's loop: a Keras fit has neither
    assert all(dg.FIXES['keras'][rule] for rule in dg.WORDS if rule not in keras_only)


# ---------------------------------------------------------------- rules for any autoencoder

def keras_metrics(**over):
    """A Keras run that learns, as health.py describes it: a dense autoencoder, binary cross-entropy."""
    net = dg.network([dict(key='dense', label='dense', activation='relu', units=32),
                      dict(key='dense_1', label='dense_1', activation='sigmoid', units=784)],
                     output='dense_1', code='dense', loss='binary_crossentropy',
                     kernels={'dense': 'dense', 'dense_1': 'dense_1'})
    layers = {'dense': {'mean': 1.0, 'std': 1.0, 'dead': 0.1, 'derivative': 0.5, 'spread': 0.8, 'rms': 1.2},
              'dense_1': {'mean': 0.1, 'std': 0.2, 'saturated': 0.5, 'derivative': 0.05, 'spread': 0.2, 'rms': 0.3}}
    health = [{'epoch': e, 'layers': layers, 'output_diversity': 0.8, 'grad_norm': {'dense': 0.1, 'dense_1': 0.2},
               'update': {}, 'loss': loss, 'step_update': {'dense': 1e-3, 'dense_1': 2e-3}}
              for e, loss in ((0, 0.7), (5, 0.2), (10, 0.15))]
    m = {'network': net, 'health': health, 'epochs_done': 10, 'final_loss': 0.15,
         'baselines': {'mean_input': 0.26, 'floor': 0.08}, 'nonfinite': None,
         'data': dg.data_stats(np.random.RandomState(7).rand(50, 784), np.random.RandomState(7).rand(50, 784),
                               'sigmoid')}
    for key, value in over.items():
        if key in ('output_diversity', 'step_update', 'dead_outputs', 'layers'):
            for h in health:
                h[key] = value
        else:
            m[key] = value
    return m


def test_a_healthy_keras_run_has_no_finding():
    assert dg.findings(keras_metrics(), fixes='keras') == []


@pytest.mark.parametrize('targets, activation, fires', [
    (np.random.RandomState(8).randint(0, 256, (50, 784)), 'sigmoid', True),   # pixels left at 0-255
    (np.random.RandomState(8).randn(50, 784), 'sigmoid', True),               # standardised
    (np.random.RandomState(8).randn(50, 784), 'relu', True),
    (np.random.RandomState(8).randn(50, 784), 'linear', False),
    (np.random.RandomState(8).rand(50, 784) * 2 - 1, 'tanh', False),
    (np.random.RandomState(8).rand(50, 784) * 1.005, 'sigmoid', False),       # within 1% of the range: float noise
])
def test_targets_outside_the_output_range(targets, activation, fires):
    stats = dg.data_stats(targets, targets, activation)
    found = dg.findings(keras_metrics(data=stats), fixes='keras')
    assert ('targets_out_of_range' in rules(found, 'failure')) is fires


def test_unscaled_inputs_softmax_and_nan_are_named():
    x = np.random.RandomState(9).randint(0, 256, (50, 784)).astype(float)
    found = dg.findings(keras_metrics(data=dg.data_stats(x, x / 255, 'sigmoid')), fixes='keras')
    assert rules(found) == ['inputs_not_scaled'] and found[0]['level'] == 'warning'  # the run learns: a warning
    net = keras_metrics()['network']
    soft = dict(net, layers=[dict(net['layers'][0], activation='softmax'), dict(net['layers'][1], activation='softmax')])
    found = dg.findings(keras_metrics(network=soft), fixes='keras')
    assert rules(found, 'failure') == ['softmax_output', 'softmax_hidden']
    found = dg.findings(keras_metrics(nonfinite='the loss is nan'), fixes='keras')
    assert rules(found, 'failure') == ['nonfinite']


@pytest.mark.parametrize('step, rule', [(0.5, 'learning_rate_high'), (3e-7, 'learning_rate_low'), (1e-3, None)])
def test_learning_rate_band(step, rule):
    found = dg.findings(keras_metrics(step_update={'dense': step, 'dense_1': step}), fixes='keras')
    assert rules(found) == ([rule] if rule else [])


def test_plateau_counts_from_the_losss_minimum_and_says_when_the_loss_still_falls():
    # binary cross-entropy on non-binary targets: 0.26 is the mean input's, 0.08 the minimum (the targets' entropy)
    assert 'plateau' not in rules(dg.findings(keras_metrics(final_loss=0.2), fixes='keras'))  # 0.67x of the gap
    found = dg.findings(keras_metrics(final_loss=0.255), fixes='keras')
    assert rules(found) == ['plateau'] and 'counted from the loss\'s minimum 0.08' in found[0]['evidence']
    assert 'still falling' in found[0]['evidence']  # 0.7 -> 0.2 -> 0.15 over the checks


def test_collapsed_code_and_the_preflight_one_output():
    layers = keras_metrics()['health'][0]['layers']
    flat = dict(layers, dense={'mean': 1.0, 'std': 0.01, 'dead': 0.0, 'derivative': 1.0, 'spread': 0.01, 'rms': 1.0})
    found = dg.findings(keras_metrics(layers=flat, output_diversity=0.05), fixes='keras')
    assert rules(found, 'failure') == ['one_output', 'collapsed_code']
    # before training: a small output diversity is normal; it is a failure when the hidden layers lost the input
    m = keras_metrics(layers=layers, output_diversity=0.01, epochs_done=0)
    assert dg.findings(m, fixes='keras') == []
    m = keras_metrics(layers=flat, output_diversity=0.01, epochs_done=0)
    assert rules(dg.findings(m, fixes='keras'), 'failure') == ['one_output']


def test_inputs_all_alike_leave_diversity_collapse_and_plateau_unjudged():
    x = np.tile([[1.0, 2.0, 3.0]], (9, 1))
    assert dg.output_diversity(x, x) is None
    m = keras_metrics(output_diversity=None, baselines={'mean_input': 0.0, 'floor': 0.0}, final_loss=0.5)
    assert dg.findings(m, fixes='keras') == []
