"""The corpus' PyTorch cases of the training loop's own mistakes, and their controls (the others:
test_cases_torch.py)."""
import pytest

from test_cases import check_case, check_stuck_runs_name_a_cause_and_preflight_holds, corpus

from cases import run  # noqa: E402

TORCH = [name for name in run.LOOP_CASES if name.startswith('torch_')]


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    return corpus(tmp_path_factory, TORCH)[0]


@pytest.mark.parametrize('name', TORCH)
def test_each_case_gives_the_verdict_the_readme_records(results, name):
    check_case(results, name)


def test_every_stuck_run_names_a_cause_and_every_preflight_failure_held(results):
    check_stuck_runs_name_a_cause_and_preflight_holds(results)


def test_the_controls_get_no_failure_finding(results):
    for name in [name for name in TORCH if 'control' in name]:  # accumulation on purpose, a frozen encoder among them
        assert not [f for f in results[name]['findings'] if f['level'] == 'failure'], name
