"""The corpus of real "my autoencoder does not learn" cases, Keras ones: each case and its fix as the README's table
says, pre-flight verdicts that hold, a cause (or "none found") for every stuck run, and the post-mortem command line
on the trained models (the PyTorch cases: test_cases_torch.py; Lightning and Keras on JAX: test_cases_places.py)."""
import importlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import HANG, ROOT, THREADS, cli

from cases import common, run  # noqa: E402

KERAS = [name for name in run.CASES if not name.startswith('torch_') and name not in run.PLACES]


def corpus(tmp_path_factory, names, save=False):
    """The cases and their fixes, run as cases/run.py runs them (Keras needs a process of its own)."""
    out = tmp_path_factory.mktemp('cases')
    proc = cli('cases/run.py', *names, '--out', out / 'results.json', *(('--save', out / 'models') if save else ()),
               env=dict(TF_NUM_INTRAOP_THREADS=str(THREADS), TF_NUM_INTEROP_THREADS='1'))  # its share of the cores
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / 'results.json').read_text()), out, proc


@pytest.fixture(scope='module')
def keras_corpus(tmp_path_factory):
    return corpus(tmp_path_factory, KERAS, save=True)


@pytest.fixture(scope='module')
def results(keras_corpus):
    return keras_corpus[0]


def test_cases_run_without_tensorflows_start_up_lines(keras_corpus):
    # none of TensorFlow's C++ start-up lines (its later C++ messages, e.g. from oneDNN, are left to show)
    stderr = keras_corpus[2].stderr
    assert not re.search(r'absl::InitializeLog|oneDNN custom operations|cuda', stderr, re.I), stderr[:500]


def check_case(results, name):
    case = importlib.import_module(f'cases.{name}')
    r = results[name]
    assert (r['names_cause'], r['fixed_clean']) == case.EXPECTED, (r['findings'], r['fixed_findings'])
    failures = {f['rule'] for f in r['findings'] if f['level'] == 'failure'}
    if case.NAMES:
        assert bool(failures & set(case.NAMES)) == r['names_cause']


def check_stuck_runs_name_a_cause_and_preflight_holds(results):
    for name, r in results.items():
        for preflight, found in ((r['preflight'], r['findings']), (r['fixed_preflight'], r['fixed_findings'])):
            if common.failures(found):  # every stuck run names a cause, or says that none fired and where
                assert common.names_a_cause(found), (name, found)
            if common.failures(preflight):  # a pre-flight failure is a prediction that held
                assert common.failures(found), (name, preflight)


@pytest.mark.parametrize('name', KERAS)
def test_each_case_gives_the_verdict_the_readme_records(results, name):
    check_case(results, name)


def test_every_stuck_run_names_a_cause_and_every_preflight_failure_held(results):
    check_stuck_runs_name_a_cause_and_preflight_holds(results)


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
    assert run.summary(committed) in ' '.join((ROOT / 'README.md').read_text().split())
    assert run.table(committed) in (ROOT / 'docs' / 'cases.md').read_text()
    from cases import trials  # the trial on each documented case: its table is the committed trials.json's
    tried = json.loads((ROOT / 'cases' / 'trials.json').read_text())
    assert set(tried) == set(trials.DOCUMENTED) and trials.doc(tried) in (ROOT / 'docs' / 'cases.md').read_text()
    for name, r in committed.items():
        assert (r['names_cause'], r['fixed_clean']) == importlib.import_module(f'cases.{name}').EXPECTED, name


def aehealth(*args):
    return subprocess.run([sys.executable, '-m', 'aehealth', *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG)


def test_the_post_mortem_of_a_saved_trained_model_names_its_cause(keras_corpus, tmp_path):
    models = keras_corpus[1] / 'models'
    proc = aehealth(models / 'keras_3642.keras', models / 'keras_3642.npy', '--out', tmp_path / 'pm')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith('post-mortem of ') and 'why it is stuck (failure symptoms):' in proc.stdout
    assert 'targets out of range' in proc.stdout and 'inputs not scaled' in proc.stdout
    saved = json.loads((tmp_path / 'pm' / 'health.json').read_text())
    assert {'targets_out_of_range', 'inputs_not_scaled'} <= {f['rule'] for f in saved['findings']}
    assert saved['epochs_done'] is None and (tmp_path / 'pm' / 'health.png').is_file()
    proc = aehealth(models / 'question.keras', models / 'question.npy')
    assert proc.returncode == 0 and 'one output for every input' in proc.stdout and 'vanishing gradient' in proc.stdout


def test_every_file_the_post_mortem_cannot_use_gets_one_line_and_exit_2(keras_corpus, tmp_path, capsys, monkeypatch):
    from aehealth.__main__ import main
    monkeypatch.delenv('TF_CPP_MIN_LOG_LEVEL', raising=False)  # the command sets it; put back for the tests after
    models = keras_corpus[1] / 'models'
    (tmp_path / 'garbage.keras').write_text('not a model')
    (tmp_path / 'garbage.npy').write_text('not an array')
    np.save(tmp_path / 'flat.npy', np.zeros((50, 28, 28), 'float32'))
    np.save(tmp_path / 'targets.npy', np.zeros((300, 10), 'float32'))
    model, sample = models / 'keras_3642.keras', models / 'keras_3642.npy'
    # the command's own function, in this process: each process would pay TensorFlow's start-up (about 5 s)
    for args, words in (((tmp_path / 'missing.keras', sample), 'no such file'),
                        ((tmp_path / 'garbage.keras', sample), 'not a Keras model file'),
                        ((model, tmp_path / 'missing.npy'), 'no such file'),
                        ((model, tmp_path / 'garbage.npy'), 'not a readable .npy array'),
                        ((model, tmp_path / 'flat.npy'), "the sample's rows have shape (28, 28)"),
                        ((model, sample, '--targets', tmp_path / 'targets.npy'), 'the loss cannot compare the targets'),
                        ((models / 'keras_3373.keras', models / 'keras_3373.npy'), 'needs custom objects')):
        code = main(list(map(str, args)))
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith('error: '), (args, lines)
        assert words in lines[0], (args, lines[0])
    proc = aehealth(models / 'libsdae_3.keras', models / 'libsdae_3.npy')  # and as a real process: exit 2, one line
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and 'needs custom objects' in lines[0], proc.stderr[-1500:]
