"""What a new user trips on: TensorBoard, redrawing from elsewhere, finding MNIST, one-line errors, stopped runs."""
import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import autoencoder as ae
import data
import visualize
from conftest import HANG, ROOT, SUBSET, cli, interruptible, wait_for_line


def short_run(out, *flags, data_path=SUBSET):
    """A two-epoch run without figures, in this process (no second TensorFlow start-up); returns its folder."""
    assert ae.main(['--data', str(data_path), '--epochs', '2', '--no-figures', '--out', str(out), *map(str, flags)]) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def test_tensorboard_reads_the_scalar_image_and_histogram_tags(faithful_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(faithful_run[1] / 'tensorboard'), size_guidance={'images': 0, 'histograms': 0})
    tags = events.Reload().Tags()
    assert {'loss/all_data', 'loss/batch', 'health/output_diversity', 'grad_norm/encoding/conv1/w',
            'health/y6/saturated'} <= set(tags['scalars'])
    assert {'input/image/0', 'reconstruction/image/9'} <= set(tags['images'])
    assert {f'activation/{k}' for k in ('y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5', 'u7')} <= set(tags['histograms'])


def test_redraw_works_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    run_dir = short_run(tmp_path / 'runs', data_path='tests/data/mnist_subset.npz')  # relative, as a user types it
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['data_path'] == str(SUBSET) and len(config['data_sha256']) == 64
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / 'autoencoder.py'), '--redraw', str(run_dir)], cwd=elsewhere,
                          capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / 'health.png').is_file() and (run_dir / 'loss.png').is_file()


def test_redraw_takes_the_data_from_data_or_mnist_path_and_checks_it(tmp_path, monkeypatch, capsys):
    moved = tmp_path / 'mnist_subset.npz'
    shutil.copy(SUBSET, moved)
    run_dir = short_run(tmp_path / 'runs', data_path=moved)
    moved.rename(tmp_path / 'now_here.npz')
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, 'KERAS_CACHE', tmp_path / 'no-cache' / 'mnist.npz')
    assert ae.main(['--redraw', str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'pass --data PATH' in err
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / 'now_here.npz'))
    assert ae.main(['--redraw', str(run_dir)]) == 0
    monkeypatch.delenv(data.ENV_VAR)
    assert ae.main(['--redraw', str(run_dir), '--data', str(tmp_path / 'now_here.npz')]) == 0
    raw = data.read_arrays(SUBSET)
    raw['x_test'] = raw['x_test'].copy()
    raw['x_test'][0, 0, 0] ^= 1
    np.savez(tmp_path / 'other.npz', **raw)
    capsys.readouterr()
    assert ae.main(['--redraw', str(run_dir), '--data', str(tmp_path / 'other.npz')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'not the data this run was trained on' in err
    # $MNIST_PATH naming other data does not hide the run's own file, still where it was
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / 'other.npz'))
    (tmp_path / 'now_here.npz').rename(moved)
    assert ae.main(['--redraw', str(run_dir)]) == 0


def test_redraw_refuses_training_flags(tmp_path, capsys):
    for flags, words in ((['--redraw', str(tmp_path), '--epochs', '5'], 'drop --epochs'),
                         (['--redraw', str(tmp_path), '--fix'], 'drop --fix')):
        assert ae.main(flags) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and words in err, (flags, err)
    with pytest.raises(SystemExit):
        ae.main(['--budget', '3'])
    assert 'unrecognized arguments: --budget 3' in capsys.readouterr().err


def test_mnist_path_pointing_nowhere_says_where_the_path_came_from(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / 'missing.npz'))
    assert ae.main([]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'the path came from $MNIST_PATH' in err and 'unset it and pass --data PATH' in err


@pytest.mark.parametrize('flags, words', [(['--batch-size', '0'], 'must be a whole number >= 1'),
                                          (['--kernels', '15x15'], 'use 2..14'),
                                          (['--order', 'random'], "invalid choice: 'random'"),
                                          (['--epochs'], 'expected one argument'),
                                          (['--no-such-flag'], 'unrecognized arguments')])
def test_bad_flag_values_print_one_line_that_points_at_help(flags, words):
    proc = cli('autoencoder.py', *flags)
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.count('\n') == 1 and proc.stderr.startswith('error: ') and words in proc.stderr
    assert '(python autoencoder.py --help lists every flag)' in proc.stderr
    assert '1x1' not in proc.stderr


def test_visualize_errors_are_one_line_too(tmp_path):
    proc = cli('visualize.py')
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and '--help' in proc.stderr


def test_a_folder_that_is_not_a_run_is_not_sent_to_redraw(tmp_path):
    proc = cli('visualize.py', tmp_path)
    assert proc.returncode == 2 and 'not a run folder (no config.json)' in proc.stderr and '--redraw' not in proc.stderr


def test_help_reads_as_prose_and_names_no_source_identifier():
    text = cli('autoencoder.py', '--help').stdout
    description = text.split('\n\n')[1]
    assert max(len(line) for line in description.splitlines()) <= 100
    assert 'ABLATION' not in text and 'see --ablate' not in text


def test_ctrl_c_before_training_leaves_no_folder(tmp_path):
    # --eval-chunk 1 makes the untrained network's evaluation (before training) take a few seconds
    proc = subprocess.Popen([sys.executable, str(ROOT / 'autoencoder.py'), '--data', str(SUBSET), '--eval-chunk', '1',
                             '--out', str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=interruptible)
    wait_for_line(proc.stdout, lambda line: line.startswith('run folder:'))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130 and 'Starting training' not in out
    assert err.startswith('interrupted: before training started; removed') and err.count('\n') == 1
    assert list(tmp_path.iterdir()) == []


def test_a_subset_too_small_for_every_digit_is_refused_and_the_smallest_works(tmp_path, capsys):
    assert ae.main(['--data', str(SUBSET), '--subset', '69', '--out', str(tmp_path)]) == 2
    assert 'use at least 70' in capsys.readouterr().err
    m = data.load_mnist(SUBSET, subset=70)
    assert np.bincount(m.y[m.n_train:]).tolist() == [1] * 10 and np.bincount(m.y[:m.n_train]).tolist() == [6] * 10
    run_dir = short_run(tmp_path, '--subset', 70)
    assert json.loads((run_dir / 'metrics.json').read_text())['probe_accuracy'] is not None


def test_the_comparison_sheet_titles_each_run_and_prints_their_key_numbers(faithful_run, fix_run, tmp_path):
    proc = cli('visualize.py', faithful_run[1], fix_run[1], '--out', tmp_path / 'sheet.png')
    assert proc.returncode == 0, proc.stderr
    titles = [visualize.run_title(visualize.load_run(d)) for d in (faithful_run[1], fix_run[1])]
    assert titles[0].startswith(faithful_run[1].name + ': ') and titles[1].startswith(fix_run[1].name + ': ')
    table = {line.split('  ')[0]: line for line in proc.stdout.splitlines() if '  ' in line}
    assert 'collapsed' in table['code'] and 'not collapsed' in table['code']
    assert 'one output' in table['failure symptoms'] and table['images'].split()[1:] == ['1400', '1400']
    assert (tmp_path / 'sheet.png').stat().st_size > 50000


@pytest.mark.parametrize('script', ['autoencoder.py', 'ablation.py', 'visualize.py'])
def test_a_mistyped_flag_is_answered_before_the_heavy_imports(script):
    code = (f'import runpy, sys\nsys.argv = [{script!r}, "--epocs", "1"]\ntry:\n'
            f'    runpy.run_path({script!r}, run_name="__main__")\nexcept SystemExit as e:\n    print("exit", e.code)\n'
            f'print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras", "matplotlib", "sklearn"}}))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert proc.stdout.splitlines() == ['exit 2', '[]'], proc.stdout + proc.stderr
    assert 'unrecognized arguments: --epocs' in proc.stderr
