"""The corpus's cases trained where their users train: a Lightning VAE and its control (Trainer.fit with
aehealth.lightning.HealthCallback), and a Keras case and a control on Keras 3's JAX backend (each in a process of its
own). test_cases.py has the Keras ones."""
import pytest

from test_cases import check_case, check_stuck_runs_name_a_cause_and_preflight_holds, corpus

from cases import run  # noqa: E402

pytest.importorskip('lightning')
pytest.importorskip('jax')

# The convolutional control on JAX trains longest of the corpus (JAX's CPU convolutions: 49 s of the corpus's 241 s
# in cases/results.json), so it runs with the slow tests; a healthy model on JAX getting no finding is also
# tests/test_keras_backends.py's, in every run.
SLOW = ['jax_control_kerasio_conv']
QUICK = [name for name in run.PLACES if name not in SLOW]


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    return corpus(tmp_path_factory, QUICK)[0]


@pytest.fixture(scope='module')
def slow_results(tmp_path_factory):
    return corpus(tmp_path_factory, SLOW)[0]


@pytest.mark.parametrize('name', QUICK)
def test_each_case_gives_the_verdict_the_readme_records(results, name):
    check_case(results, name)


@pytest.mark.slow
@pytest.mark.parametrize('name', SLOW)
def test_each_slow_case_gives_the_verdict_the_readme_records(slow_results, name):
    check_case(slow_results, name)
    check_stuck_runs_name_a_cause_and_preflight_holds(slow_results)
    assert not [f for f in slow_results[name]['findings'] if f['level'] == 'failure'], name


def test_every_stuck_run_names_a_cause_and_every_preflight_failure_held(results):
    check_stuck_runs_name_a_cause_and_preflight_holds(results)


def test_the_controls_get_no_failure_finding(results):
    for name in [name for name in QUICK if 'control' in name]:
        assert not [f for f in results[name]['findings'] if f['level'] == 'failure'], name
