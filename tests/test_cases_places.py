"""The corpus's cases trained where their users train: a Lightning VAE and its control (Trainer.fit with
aehealth.lightning.HealthCallback), and a Keras case and a control on Keras 3's JAX backend (each in a process of its
own). test_cases.py has the Keras ones."""
import pytest

from test_cases import check_case, check_stuck_runs_name_a_cause_and_preflight_holds, corpus

from cases import run  # noqa: E402

pytest.importorskip('lightning')
pytest.importorskip('jax')


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    return corpus(tmp_path_factory, run.PLACES)[0]


@pytest.mark.parametrize('name', run.PLACES)
def test_each_case_gives_the_verdict_the_readme_records(results, name):
    check_case(results, name)


def test_every_stuck_run_names_a_cause_and_every_preflight_failure_held(results):
    check_stuck_runs_name_a_cause_and_preflight_holds(results)


def test_the_controls_get_no_failure_finding(results):
    for name in [name for name in run.PLACES if 'control' in name]:
        assert not [f for f in results[name]['findings'] if f['level'] == 'failure'], name
