"""The ablation on the committed subset: the table over seeds with its symptoms column, and --resume."""
import json
import shutil
import signal
import subprocess
import sys

import pytest

import autoencoder as ae
from conftest import ROOT, SUBSET, cli, interruptible

SMOKE = ('--ablate', '--budget', 1, '--seeds', 2, '--data', SUBSET, '--no-figures')


def table_rows(root):
    """The table's configuration rows, without the wall-time column (the only one that may differ)."""
    lines = (root / 'ablation.md').read_text().splitlines()
    return [line.rsplit('|', 2)[0] for line in lines if line.startswith('| ') and line[2].isdigit()]


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """An uninterrupted two-seed smoke ablation (every configuration capped at one epoch)."""
    out = tmp_path_factory.mktemp('smoke')
    proc = cli('autoencoder.py', *SMOKE, '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / 'ablation'


def test_smoke_ablation_runs_every_configuration_with_every_seed(smoke):
    summary = json.loads((smoke / 'ablation.json').read_text())
    assert summary['seeds'] == [0, 1] and len(summary['rows']) == 2 * len(ae.ABLATION)
    assert {(r['label'], r['seed']) for r in summary['rows']} == {(label, s) for label, _ in ae.ABLATION for s in (0, 1)}
    rows = table_rows(smoke)
    assert len(rows) == len(ae.ABLATION)
    for (label, _), row in zip(ae.ABLATION, rows):
        assert f'| {label} |' in row and '| 2 |' in row
    assert '| question before its edit | `--no-shuffle --epochs 1` |' in rows[0]
    assert (smoke / 'ablation.png').stat().st_size > 10000
    assert 'interrupted' not in (smoke / 'ablation.md').read_text()


def test_the_table_has_the_symptoms_and_their_agreement(smoke):
    header = next(line for line in (smoke / 'ablation.md').read_text().splitlines() if line.startswith('| # |'))
    for column in ('failure symptoms', 'warnings', 'agrees', 'leaves the plateau at epoch', 'gain over init',
                   'verdict'):
        assert f'| {column} |' in header
    posted = table_rows(smoke)[1]
    cells = [c.strip() for c in posted.split('|')]
    symptoms = cells[header.split('|').index(' failure symptoms ')]
    # one epoch of the posted loop on 1400 images: 1 real and 1 empty batch, and the untrained network's symptoms
    assert 'empty batches' in symptoms and 'one output' in symptoms and 'vanishing gradient' in symptoms
    assert cells[header.split('|').index(' verdict ')] == 'collapsed 2/2'
    assert cells[header.split('|').index(' agrees ')] == '2/2'


def test_an_interrupted_ablation_resumes_to_the_same_table(smoke, tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / 'autoencoder.py'), *map(str, SMOKE), '--out', str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    for line in proc.stdout:
        if line.startswith('=== ablation run 5/'):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    root = tmp_path / 'ablation'
    kept = json.loads((root / 'ablation.json').read_text())['rows']
    assert 4 <= len(kept) < 2 * len(ae.ABLATION)
    assert f'--resume {root}' in err and 'Traceback' not in err
    # as a later session on another machine would: only the small ablation.json, none of the run folders
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    shutil.copy(root / 'ablation.json', elsewhere)
    again = cli('autoencoder.py', *SMOKE, '--resume', elsewhere)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f'(resumed: {len(kept)} finished runs kept)' in again.stdout
    assert again.stdout.count('=== ablation run') == 2 * len(ae.ABLATION) - len(kept)
    assert table_rows(elsewhere) == table_rows(smoke)


def test_resume_refuses_other_settings_and_its_suggestion_works(smoke, tmp_path):
    proc = cli('autoencoder.py', '--ablate', '--budget', 2, '--seeds', 2, '--data', SUBSET, '--resume', smoke)
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1
    assert 'budget 1 (now 2)' in proc.stderr
    suggested = proc.stderr.split('continue it with: ')[1].split()
    assert suggested[:2] == ['python', 'autoencoder.py'] and '--budget' in suggested
    again = cli(*suggested[1:])
    assert again.returncode == 0, again.stderr[-2000:]
    assert 'resumed: 28 finished runs kept' in again.stdout and '=== ablation run' not in again.stdout


def test_resume_refuses_other_data_and_missing_folders(smoke, tmp_path):
    import data
    raw = data.read_arrays(SUBSET)
    raw['x_test'] = raw['x_test'].copy()
    raw['x_test'][0, 0, 0] ^= 1
    ae.np.savez(tmp_path / 'other.npz', **raw)
    proc = cli('autoencoder.py', *SMOKE[:-3], '--data', tmp_path / 'other.npz', '--no-verify', '--resume', smoke)
    assert proc.returncode == 2 and 'made from other data' in proc.stderr and str(SUBSET) in proc.stderr
    proc = cli('autoencoder.py', '--ablate', '--data', SUBSET, '--resume', tmp_path / 'nothing')
    assert proc.returncode == 2 and 'no readable ablation.json' in proc.stderr


def test_ablation_refuses_its_own_switches():
    proc = cli('autoencoder.py', '--ablate', '--kernels', '5x5')
    assert proc.returncode == 2 and '--ablate runs its own list' in proc.stderr
