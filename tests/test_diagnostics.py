"""diagnostics.py on hand-made arrays: the question's numbers (collapse, probe, baselines) and its runs' findings."""
import subprocess
import sys

import numpy as np
import pytest

import diagnostics as dg
from aehealth import rules as R
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
                          'if m.split(".")[0] in ("tensorflow", "keras", "torch", "autoencoder")))'],
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
    assert R.finding_lines([]) == ['no failure symptom and no warning']


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
    lines = R.finding_lines(found)
    assert lines[0] == 'why it is stuck (failure symptoms):' and lines[3].endswith('-> --batching fixed')
    keras_fixes = {f['rule']: f['fix'] for f in dg.RULES.findings(dg.judged(m), fixes='keras')}
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
    assert R.finding_lines(found)[0] == 'warnings (the run learns):'
    assert R.finding_lines(found)[-1].endswith('-> no switch here removes it')


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


def test_every_rule_has_a_kind_words_and_a_remedy_for_each_framework():
    assert {unit.kind for unit in R.REGISTRY} == {'blocker', 'outcome', 'cause', 'note'}
    assert all(unit.words and unit.fires_when and unit.threshold and unit.why for unit in dg.RULES)
    assert all(unit.fix_for('keras') and unit.fix_for('torch') for unit in dg.RULES)
    assert set(dg.FLAG_FIXES) <= set(dg.RULES.names())  # the flags name rules that exist


def test_the_question_loops_rules_are_the_programs_own():
    """aehealth knows nothing of the question: its two loop rules are registered by diagnostics, in a copy."""
    assert {'empty_batches', 'one_digit'} & set(R.REGISTRY.names()) == set()
    names = dg.RULES.names()
    assert names[names.index('plateau') + 1:names.index('plateau') + 3] == ['empty_batches', 'one_digit']
    assert names[-2:] == ['not_measured', 'unexplained']


def test_feeding_counts_real_empty_and_short_batches():
    posted = dg.feeding([1000] + [0] * 69, 501, [1000 * 501] + [0] * 9)
    assert (posted['real_per_epoch'], posted['empty_per_epoch'], posted['short_per_epoch']) == (1, 69, 0)
    assert posted['images_trained'] == 501000 and posted['batches_per_epoch'] == 70
    subset = dg.feeding([1000, 400], 3, [140] * 10)
    assert (subset['real_per_epoch'], subset['empty_per_epoch'], subset['short_per_epoch']) == (2, 0, 1)
