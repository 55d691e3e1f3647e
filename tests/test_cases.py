"""The corpus of real "my autoencoder does not learn" cases: each case and its fix, as the README's table says."""
import importlib
import json
import re

import pytest

from conftest import ROOT, cli

from cases import run  # noqa: E402


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    """Every case and its fix, run as cases/run.py runs them (Keras needs a process of its own)."""
    out = tmp_path_factory.mktemp('cases') / 'results.json'
    proc = cli('cases/run.py', '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # none of TensorFlow's C++ start-up lines (its later C++ messages, e.g. from oneDNN, are left to show)
    assert not re.search(r'absl::InitializeLog|oneDNN custom operations|cuda', proc.stderr, re.I), proc.stderr[:500]
    return json.loads(out.read_text())


@pytest.mark.parametrize('name', run.CASES)
def test_each_case_gives_the_verdict_the_readme_records(results, name):
    case = importlib.import_module(f'cases.{name}')
    r = results[name]
    assert (r['names_cause'], r['fixed_clean']) == case.EXPECTED, (r['findings'], r['fixed_findings'])
    failures = {f['rule'] for f in r['findings'] if f['level'] == 'failure'}
    assert bool(failures & set(case.NAMES)) == (r['names_cause'] and bool(case.NAMES))


def test_the_question_in_keras_gets_both_preflight_findings_and_its_fix_no_failure(results):
    posted = {f['rule']: f for f in results['question']['preflight']}
    assert {'one_output', 'vanishing_gradient'} <= set(posted)
    assert not [f for f in results['question']['fixed_preflight'] + results['question']['fixed_findings']
                if f['level'] == 'failure']


def test_controls_get_no_failure_finding(results):
    for name in ('control_kerasio_conv', 'control_cv_441750'):
        assert not [f for f in results[name]['findings'] if f['level'] == 'failure'], name


def test_the_readme_table_is_the_committed_results():
    committed = json.loads((ROOT / 'cases' / 'results.json').read_text())
    assert list(committed) == run.CASES
    assert run.table(committed) in (ROOT / 'README.md').read_text()
    for name, r in committed.items():
        assert (r['names_cause'], r['fixed_clean']) == importlib.import_module(f'cases.{name}').EXPECTED, name
