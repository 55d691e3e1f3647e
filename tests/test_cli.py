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


def test_faithful_run_names_its_symptoms_and_fix_shows_none(faithful_run, fix_run):
    proc, run_dir = faithful_run
    faithful = json.loads((run_dir / 'metrics.json').read_text())
    failures = {f['rule']: f for f in faithful['findings'] if f['level'] == 'failure'}
    # 1400 images in batches of 1000: the posted slice leaves the second batch empty in every epoch
    assert failures['empty_batches']['evidence'] == '1 of 2 batches per epoch are empty: 100 real steps in 100 epochs'
    assert {'one_output', 'plateau', 'vanishing_gradient'} <= set(failures)
    assert 'why it is stuck (failure symptoms):' in proc.stdout
    assert '  - 1 of 2 batches per epoch are empty: 100 real steps in 100 epochs -> --batching fixed' in proc.stdout
    fixed = json.loads((fix_run[1] / 'metrics.json').read_text())
    assert [f for f in fixed['findings'] if f['level'] == 'failure'] == []
    assert fixed['health'][-1]['output_diversity'] > 0.5
    assert faithful['health'][-1]['output_diversity'] < 0.1


def test_health_is_measured_at_every_evaluation_and_at_the_end(faithful_run):
    metrics = json.loads((faithful_run[1] / 'metrics.json').read_text())
    assert [h['epoch'] for h in metrics['health']] == [0, 25, 50, 75, 100]
    end = metrics['health'][-1]
    assert set(end['layers']) == {'y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5', 'u7'}
    assert all('saturated' in v for v in end['layers'].values())  # sigmoid everywhere as posted
    assert set(end['grad_norm']) == {f'{part}/w' for part in ('encoding/conv1', 'encoding/conv2', 'encoding/fc1',
                                                               'encoding/fc2', 'decoding/fc1', 'decoding/fc2',
                                                               'decoding/deconv1', 'decoding/deconv2')}
    assert metrics['health'][0]['update']['encoding/fc1/w'] is None and end['update']['encoding/fc1/w'] > 0
    feeding = metrics['feeding']
    assert (feeding['real_per_epoch'], feeding['empty_per_epoch'], feeding['images_trained']) == (1, 1, 100000)
    assert sum(feeding['label_histogram']) == 100000
    with np.load(faithful_run[1] / 'arrays.npz') as f:
        assert f['epoch_loss'].shape == (101,) and f['batch_loss'].shape == (100, 2)
    assert set(metrics['timing']) >= {'tensorflow_import', 'real_steps', 'empty_steps', 'evaluations', 'health',
                                      'probes', 'figures'}


def test_a_second_run_never_overwrites_the_first(tmp_path, capsys):
    import autoencoder as ae
    for _ in range(2):
        assert ae.main(['--data', str(SUBSET), '--epochs', '0', '--no-figures', '--out', str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epochs-0', 'epochs-0-2']


def test_zero_epochs_is_the_preflight_check_without_the_training_rules(tmp_path, capsys):
    import autoencoder as ae
    assert ae.main(['--data', str(SUBSET), '--epochs', '0', '--no-figures', '--out', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'the untrained network (--epochs 0): the pre-flight check' in out
    # before training the outcome is a prediction (the posted network learns with enough steps): warnings, not failures
    assert 'warnings (what may keep it from learning):' in out and 'failure symptoms' not in out
    assert 'one output for every input before training' in out and 'vanishing gradient' in out
    assert 'plateau' not in out and 'batches per epoch are empty' not in out


def test_help_states_every_default():
    proc = cli('autoencoder.py', '--help')
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    for expected in ('default: 2x2', 'default: --shuffle', 'default: buggy', 'default: sigmoid',
                     'default: truncated_normal', 'default: --no-tied', 'default: 501', 'default: 1000',
                     'default: 1e-4', 'default: 128', 'default: 64', 'default: 100', 'default: 0', 'default: runs',
                     'default: label'):
        assert expected in text, expected
