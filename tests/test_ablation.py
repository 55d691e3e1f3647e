"""ablation.py on the committed subset: the table, --jobs giving the same numbers, Ctrl-C, a killed worker, --resume."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import ablation
from conftest import HANG, ROOT, SUBSET, cli, interruptible, wait_for_line

SMALL = ('--rows', '2,8', '--budget', 20, '--data', SUBSET, '--no-figures')  # two of the smoke's runs again


def table_rows(root):
    """The table's configuration rows, without the wall-time column (the only one that may differ)."""
    lines = (root / 'ablation.md').read_text().splitlines()
    return [line.rsplit('|', 2)[0] for line in lines if line.startswith('| ') and line[2].isdigit()]


def histories(root):
    return {(r['label'], r['seed']): (r['loss_history'], r['final_loss'], r['findings'])
            for r in json.loads((root / 'ablation.json').read_text())['rows']}


# Five configurations whose findings before the monitor was generalised hold every rule found on the 14 rows then
# (row 8 came later); each run costs a TensorFlow start-up, so the smoke runs these rather than all 15.
SMOKE_ROWS = (2, 6, 8, 9, 11)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """Five configurations, capped at 20 epochs of the subset, two at a time."""
    out = tmp_path_factory.mktemp('smoke')
    proc = cli('ablation.py', '--rows', ','.join(map(str, SMOKE_ROWS)), '--budget', 20, '--data', SUBSET,
               '--no-figures', '--jobs', 2, '--out', out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out / 'ablation', proc


def smoke_rows(smoke, *numbers):
    """Table rows of the smoke ablation, by configuration number."""
    return [row for row in table_rows(smoke[0]) if int(row.split('|')[1]) in numbers]


def smoke_histories(smoke, labels):
    return {k: v for k, v in histories(smoke[0]).items() if k[0] in labels}


def test_the_smoke_ablation_tabulates_every_row_with_its_symptoms(smoke):
    root, proc = smoke
    rows = table_rows(root)
    assert [int(r.split('|')[1]) for r in rows] == list(SMOKE_ROWS)
    assert '| question as posted | `--epochs 20` |' in rows[0]
    header = next(line for line in (root / 'ablation.md').read_text().splitlines() if line.startswith('| # |'))
    cells = [c.strip() for c in rows[0].split('|')]
    symptoms = cells[header.split('|').index(' failure symptoms ')]
    # 20 epochs of the posted loop on 1400 images: 1 real and 1 empty batch each
    assert 'empty batches' in symptoms and 'one output' in symptoms and 'vanishing gradient' in symptoms
    assert cells[header.split('|').index(' verdict ')] == 'collapsed 1/1'
    assert (root / 'ablation.png').stat().st_size > 10000
    assert proc.stdout.count('] done ') == len(SMOKE_ROWS) and 'ETA' in proc.stdout
    assert len(list((root / 'logs').glob('*.log'))) == len(SMOKE_ROWS)
    config = json.loads((root / 'epochs-20' / 'config.json').read_text())
    assert config['threads'] == 1 and '--threads=1' in config['command']


def test_the_question_rows_find_what_they_found_before_the_monitor_was_generalised(smoke):
    """autoencoder.py's runs go through aehealth's rules, as a Keras model's do; on these rows nothing they find changed."""
    before = json.loads((ROOT / 'tests' / 'data' / 'findings_before.json').read_text())['findings']
    now = {r['label']: [[f['rule'], f['level']] for f in r['findings']]
           for r in json.loads((smoke[0] / 'ablation.json').read_text())['rows']}
    assert len(before) == 14 and set(now) - set(before) == {'ReLU but a sigmoid code'}
    compared = [label for label in before if label in now]
    assert len(compared) == 4
    for label in compared:  # a rule added since (input fades with depth) names the sigmoid stack's fade as well
        assert [f for f in now[label] if f[0] != 'signal_fades'] == before[label], label
    assert ['signal_fades', 'failure'] in now['question as posted'] and ['signal_fades', 'failure'] not in now['--fix']
    rules = {rule for found in before.values() for rule, _ in found}
    assert {rule for label in compared for rule, _ in now[label]} - {'signal_fades'} == rules  # all 14 rows' rules


def test_configurations_that_a_budget_makes_alike_still_get_folders_of_their_own():
    import data
    args = ablation.make_parser().parse_args(['--budget', '1', '--rows', '9,10'])
    settings = ablation.plan_settings(args)
    runs = ablation.planned(args, settings, [0], data.load_mnist(SUBSET), args.rows)
    assert [r['name'] for r in runs] == ['batching-fixed_epochs-1', 'batching-fixed_epochs-1-2']
    assert [r['argv'][-1] for r in runs] == ['--name=batching-fixed_epochs-1', '--name=batching-fixed_epochs-1-2']


@pytest.mark.slow
def test_an_interrupted_ablation_resumes_elsewhere_to_the_numbers_of_two_jobs(smoke, tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / 'ablation.py'), *map(str, SMALL), '--out', str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    wait_for_line(proc.stdout, lambda line: '] done ' in line)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130, err
    root = tmp_path / 'ablation'
    kept = json.loads((root / 'ablation.json').read_text())['rows']
    assert len(kept) == 1
    assert f'python ablation.py --resume {root}' in err and 'Traceback' not in err
    # as a later session on another machine would: only the small ablation.json, none of the run folders
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    shutil.copy(root / 'ablation.json', elsewhere)
    again = cli('ablation.py', '--resume', elsewhere, '--data', SUBSET)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f'(resumed: {len(kept)} finished runs kept)' in again.stdout
    assert again.stdout.count('] started ') == 1
    assert table_rows(elsewhere) == smoke_rows(smoke, 2, 8)
    # one job at a time (here) gives the numbers that two at a time (the smoke ablation) gave, to the last digit
    assert histories(elsewhere) == smoke_histories(smoke, {'question as posted', 'ReLU but a sigmoid code'})


def children(pid):
    """Process ids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


@pytest.mark.slow
def test_a_killed_worker_is_named_the_others_go_on_and_resume_reruns_it(tmp_path):
    # row 2 with 40 epochs runs long enough to be killed while it trains
    proc = subprocess.Popen([sys.executable, str(ROOT / 'ablation.py'), '--rows', '2', '--budget', '40', '--data',
                             str(SUBSET), '--no-figures', '--out', str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_line(proc.stdout, lambda line: '] started ' in line)
    log = tmp_path / 'ablation' / 'logs' / 'epochs-40.log'
    deadline = time.monotonic() + HANG
    while 'Starting training' not in (log.read_text() if log.exists() else ''):  # an event, not a fixed wait
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    (worker,) = children(proc.pid)
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 1
    assert 'question as posted, seed 0 (killed by signal 9' in err and f'--resume {tmp_path / "ablation"}' in err
    assert (tmp_path / 'ablation' / 'epochs-40').is_dir()  # left half-written by the kill
    again = cli('ablation.py', '--resume', tmp_path / 'ablation', '--data', SUBSET)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f'removed {tmp_path / "ablation" / "epochs-40"}, left unfinished' in again.stdout
    rows = json.loads((tmp_path / 'ablation' / 'ablation.json').read_text())['rows']
    assert [(r['label'], r['epochs_done']) for r in rows] == [('question as posted', 40)]


@pytest.mark.parametrize('content, words', [('{"settings": 5, "rows": []}', '"settings" is missing or not an object'),
                                            ('[1, 2]', 'it holds a list, not an object'),
                                            ('{"settings": {"format": 2}, "rows": [3]}', '"rows" is missing'),
                                            ('not json', 'no readable ablation.json')])
def test_resume_refuses_an_ablation_json_of_the_wrong_shape(tmp_path, capsys, content, words):
    (tmp_path / 'ablation.json').write_text(content)
    assert ablation.main(['--resume', str(tmp_path), '--data', str(SUBSET)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and words in err, err


def test_resume_refuses_other_settings_and_other_data_naming_what_it_needs(smoke, tmp_path, capsys):
    assert ablation.main(['--resume', str(smoke[0]), '--budget', '2', '--data', str(SUBSET)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '--budget 20 (given: 2)' in err and 'drop --budget' in err
    # the committed 3-seed ablation was made from full MNIST: the refusal says which data it needs
    shutil.copy(ROOT / 'figures' / 'ablation.json', tmp_path)
    assert ablation.main(['--resume', str(tmp_path), '--data', str(SUBSET)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'made from other data (MNIST, 70000 images, content sha256 ' in err
    assert 'pass --data with that file' in err


def test_the_committed_ablation_resumes_with_its_own_settings():
    summary = ablation.read_summary(ROOT / 'figures')
    settings = ablation.recorded_settings(summary)
    assert settings['threads'] == summary['cores'] == 2  # its runs used every core of a 2-core machine
    args = ablation.make_parser().parse_args(['--resume', str(ROOT / 'figures')])
    assert ablation.plan_settings(args, summary) == settings
    labels = {label for label, _ in ablation.CONFIGURATIONS}
    assert {r['label'] for r in summary['rows']} == labels and len(summary['rows']) == 3 * len(labels)


@pytest.mark.parametrize('flags, words', [(['--budget', '0'], 'must be a whole number >= 1'),
                                          (['--jobs', '0'], 'must be a whole number >= 1'),
                                          (['--rows', '0'], 'rows are 1..15'),
                                          (['--rows', '2,x'], "'x' is not a row number")])
def test_bad_flags_are_one_line(flags, words, capsys):
    with pytest.raises(SystemExit) as e:
        ablation.main(flags)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and words in err


def test_autoencoder_names_the_new_program_for_the_old_flag():
    proc = cli('autoencoder.py', '--ablate', '--seeds', 3)
    assert proc.returncode == 2 and 'python ablation.py --seeds 3' in proc.stderr and proc.stderr.count('\n') == 1
