"""The command line end to end on the committed subset: the run folder, the printed lines, the bug's signature."""
import json
import re

import numpy as np

from conftest import SUBSET, cli

RUN_FILES = {'config.json', 'metrics.json', 'arrays.npz', 'checkpoint', 'tensorboard'}


def test_faithful_run_prints_the_questions_lines(faithful_run):
    proc, run_dir = faithful_run
    lines = proc.stdout.splitlines()
    assert 'Starting training...' in lines and 'Training done' in lines
    iterations = [line for line in lines if line.startswith('Iteration:')]
    assert [line.split()[1] for line in iterations] == ['0', '25', '50', '75']
    assert all(re.fullmatch(r'Iteration: \d+ Loss: \d\.\d+', line) for line in iterations)
    assert any(re.search(r'ETA \d:\d\d:\d\d', line) for line in lines)
    assert proc.stderr == ''


def test_run_folder_holds_config_metrics_checkpoint_and_events(faithful_run):
    proc, run_dir = faithful_run
    assert run_dir.name == 'epochs-100_eval-every-25' or run_dir.name.startswith('epochs-100')
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['kernels'] == '2x2' and config['batching'] == 'buggy' and config['lr'] == 1e-4
    assert config['epochs'] == 100 and config['batch_size'] == 1000 and config['shuffle'] is True
    assert config['data_content'] == 'MNIST test subset' and config['flags'] == '--epochs 100'
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    history = metrics['loss_history']
    assert [e for e, _ in history] == [0, 25, 50, 75, 100]
    assert history[-1][1] == metrics['final_loss']
    # 1400 images in batches of 1000: the posted slice gives [0:1000] and [1000000:1001000]
    assert metrics['real_steps'] == 100 and metrics['empty_steps'] == 100
    assert metrics['seconds'] > 0 and metrics['interrupted'] is False
    assert (run_dir / 'checkpoint' / 'model.index').is_file()
    assert list((run_dir / 'tensorboard').glob('events.out.tfevents.*'))


def test_printed_losses_match_the_metrics(faithful_run):
    proc, run_dir = faithful_run
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    printed = [float(line.split()[-1]) for line in proc.stdout.splitlines() if line.startswith('Iteration:')]
    np.testing.assert_allclose(printed, [loss for _, loss in metrics['loss_history'][:-1]], rtol=1e-6)


def test_faithful_run_shows_the_bug_and_fix_removes_it(faithful_run, fix_run):
    faithful = json.loads((faithful_run[1] / 'metrics.json').read_text())
    fixed = json.loads((fix_run[1] / 'metrics.json').read_text())
    mean_image = faithful['baselines']['mean_image']
    assert faithful['collapsed'] is True and faithful['final_loss'] > mean_image
    assert fixed['collapsed'] is False and fixed['final_loss'] < 0.5 * mean_image
    assert fixed['probe_accuracy'] > fixed['probe_accuracy_at_init']
    assert fixed['real_steps'] == 200 and fixed['empty_steps'] == 0


def test_a_second_run_never_overwrites_the_first(tmp_path):
    for _ in range(2):
        proc = cli('autoencoder.py', '--data', SUBSET, '--epochs', 0, '--no-figures', '--out', tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epochs-0', 'epochs-0-2']


def test_help_states_every_default():
    proc = cli('autoencoder.py', '--help')
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    for expected in ('default: 2x2', 'default: --shuffle', 'default: buggy', 'default: sigmoid',
                     'default: truncated_normal', 'default: --no-tied', 'default: 501', 'default: 1000',
                     'default: 1e-4', 'default: 128', 'default: 64', 'default: 100', 'default: 0', 'default: runs',
                     'default: label'):
        assert expected in text, expected
