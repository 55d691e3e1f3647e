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
    rng = np.random.RandomState(4)
    y = rng.randint(0, 10, 3000)
    centres, mix = rng.randn(10, 3), rng.randn(3, 64)  # a few directions shared by all 64 units: ill-conditioned
    signal = (centres[y] + 0.5 * rng.randn(3000, 3)) @ mix + 0.1 * rng.randn(3000, 64)
    codes = (0.98 + 4e-5 * signal).astype(np.float32)  # near-saturated, as the posted network's code
    codes, y, n_train = split(codes, y)
    scaler = StandardScaler().fit(codes[:n_train])
    slow = LogisticRegression(max_iter=dg.PROBE_LBFGS_ITERATIONS).fit(scaler.transform(codes[:n_train]), y[:n_train])
    assert slow.n_iter_[0] >= dg.PROBE_LBFGS_ITERATIONS  # the case the Newton finish is for
    exact = LogisticRegression(solver='newton-cholesky', tol=1e-8)
    exact.fit(scaler.transform(codes[:n_train]), y[:n_train])
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


def test_health_snapshot_gradient_norms_and_update_sizes():
    w0 = {'encoding/conv1/w': np.ones((2, 2, 1, 16)), 'decoding/deconv2/w': np.ones((2, 2, 1, 16))}
    w1 = {k: v * 1.01 for k, v in w0.items()}
    grads = {'encoding/conv1/w': np.full((2, 2, 1, 16), 1e-9), 'decoding/deconv2/w': np.full((2, 2, 1, 16), 1e-2)}
    x = np.random.RandomState(4).rand(20, 784)
    first = dg.health_snapshot(0, {'y2': x[:, :10]}, 'sigmoid', grads, w0, {}, x, x)
    assert first['grad_norm']['encoding/conv1/w'] == pytest.approx(8e-9)  # sqrt(64) * 1e-9
    assert first['update'] == {'encoding/conv1/w': None, 'decoding/deconv2/w': None}
    later = dg.health_snapshot(100, {'y2': x[:, :10]}, 'sigmoid', grads, w1, w0, x, x)
    assert later['update']['encoding/conv1/w'] == pytest.approx(0.01)
    assert later['output_diversity'] == pytest.approx(1.0) and later['epoch'] == 100


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

def run_metrics(**over):
    """Metrics of a run that learns, with nothing wrong; `over` puts one thing wrong."""
    layers = {k: {'mean': 0.5, 'std': 0.2, 'dead': 0.1, 'derivative': 0.5, 'spread': 0.2} for k in dg.LAYERS}
    layers['u7'] = {'mean': 0.1, 'std': 0.2, 'saturated': 0.9, 'derivative': 0.05, 'spread': 0.2}
    end = {'epoch': 20, 'layers': layers, 'output_diversity': 0.93,
           'grad_norm': {dg.FIRST: 0.16, dg.LAST: 1.0}, 'update': {}}
    m = {'health': [end], 'final_loss': 0.0073, 'baselines': {'mean_image': 0.0673, 'all_black': 0.1123},
         'epochs_done': 20, 'plateau_exit_epoch': 1,
         'feeding': dg.feeding([1000] * 70, 20, [140000] * 10)}
    for key, value in over.items():
        if key in ('output_diversity', 'grad_norm'):
            end[key] = value
        elif key in dg.LAYERS:
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
    saturated = {'mean': 0.99, 'std': 0.01, 'saturated': 0.88, 'derivative': 0.01, 'spread': 1e-5}
    m = run_metrics(output_diversity=0.0, grad_norm={dg.FIRST: 1.2e-10, dg.LAST: 4.9e-4}, y6=saturated,
                    final_loss=0.0696, plateau_exit_epoch=None, epochs_done=501,
                    feeding=dg.feeding([1000] + [0] * 69, 501, [50100] * 10))
    found = dg.findings(m)
    assert rules(found, 'failure') == ['one_output', 'plateau', 'empty_batches', 'vanishing_gradient',
                                       'saturated_units']
    text = {f['rule']: f['evidence'] for f in found}
    assert text['empty_batches'] == '69 of 70 batches per epoch are empty: 501 real steps in 501 epochs'
    assert 'conv1\'s gradient is 2e-07 of deconv2\'s' in text['vanishing_gradient']
    assert '1.03x the mean image' in text['plateau'] and 'never below 0.9x in 501 epochs' in text['plateau']
    assert text['saturated_units'] == 'saturated sigmoid units: 88% of fc1 (y6)'
    fixes = {f['rule']: f['fix'] for f in found}
    assert fixes['empty_batches'] == '--batching fixed' and fixes['vanishing_gradient'] == '--activation relu'
    lines = dg.finding_lines(found)
    assert lines[0] == 'why it is stuck (failure symptoms):' and lines[3].endswith('-> --batching fixed')


def test_training_on_one_digit_is_named():
    m = run_metrics(feeding=dg.feeding([1000] + [0] * 69, 501, [501000] + [0] * 9), output_diversity=0.0)
    text = {f['rule']: f['evidence'] for f in dg.findings(m)}
    assert text['one_digit'] == 'all 501000 trained images were digit 0'
    m = run_metrics(feeding=dg.feeding([1000] * 2, 1, [600, 200, 200] + [0] * 7))
    assert {f['rule']: f['evidence'] for f in dg.findings(m)}['one_digit'] == '60% of the 1000 trained images were digit 0'
    assert 'one_digit' not in rules(dg.findings(run_metrics(feeding=dg.feeding([1000], 1, [450, 450, 100] + [0] * 7))))


def test_a_healthy_gradient_ratio_is_not_vanishing():
    assert dg.findings(run_metrics(grad_norm={dg.FIRST: 2e-3, dg.LAST: 1.0})) == []
    assert rules(dg.findings(run_metrics(grad_norm={dg.FIRST: 5e-4, dg.LAST: 1.0}))) == ['vanishing_gradient']


def test_causes_in_a_run_that_learns_are_warnings():
    dead = {'mean': 0.3, 'std': 0.9, 'dead': 0.69, 'derivative': 0.31, 'spread': 0.5}
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


def test_every_rule_has_a_kind_and_is_documented():
    assert {rule for rule, _, _, _ in dg.RULES} == {'one_output', 'plateau', 'empty_batches', 'one_digit',
                                                    'vanishing_gradient', 'saturated_units', 'dead_units'}
    assert {kind for _, kind, _, _ in dg.RULES} == {'outcome', 'cause'}
