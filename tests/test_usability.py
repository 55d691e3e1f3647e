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
from conftest import ROOT, SUBSET, cli, interruptible


def short_run(out, *flags, data_path=SUBSET, cwd=ROOT):
    """A two-epoch run without figures; returns its folder."""
    proc = subprocess.run([sys.executable, str(ROOT / 'autoencoder.py'), '--data', str(data_path), '--epochs', '2',
                           '--no-figures', '--out', str(out), *map(str, flags)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / proc.stdout.split('run folder: ')[1].split()[0].split('/')[-1]


def test_tensorboard_reads_the_scalar_image_and_histogram_tags(faithful_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(faithful_run[1] / 'tensorboard'), size_guidance={'images': 0, 'histograms': 0})
    tags = events.Reload().Tags()
    assert {'loss/all_data', 'loss/batch', 'health/output_diversity', 'grad_norm/encoding/conv1/w',
            'health/y6/saturated'} <= set(tags['scalars'])
    assert {'input/image/0', 'reconstruction/image/9'} <= set(tags['images'])
    assert {f'activation/{k}' for k in ('y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5', 'u7')} <= set(tags['histograms'])


def test_redraw_works_from_another_directory(tmp_path):
    run_dir = short_run(tmp_path / 'runs', data_path='tests/data/mnist_subset.npz')  # relative, as a user types it
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['data_path'] == str(SUBSET) and len(config['data_sha256']) == 64
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / 'autoencoder.py'), '--redraw', str(run_dir)], cwd=elsewhere,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / 'health.png').is_file() and (run_dir / 'loss.png').is_file()


def test_redraw_takes_the_data_from_data_or_mnist_path_and_checks_it(tmp_path):
    moved = tmp_path / 'mnist_subset.npz'
    shutil.copy(SUBSET, moved)
    run_dir = short_run(tmp_path / 'runs', data_path=moved)
    moved.rename(tmp_path / 'now_here.npz')
    env = {k: v for k, v in ae.os.environ.items() if k != data.ENV_VAR}
    gone = subprocess.run([sys.executable, str(ROOT / 'autoencoder.py'), '--redraw', str(run_dir)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=dict(env, HOME=str(tmp_path)))
    assert gone.returncode == 2 and gone.stderr.count('\n') == 1 and 'pass --data PATH' in gone.stderr
    with_env = cli('autoencoder.py', '--redraw', run_dir, env={data.ENV_VAR: str(tmp_path / 'now_here.npz')})
    assert with_env.returncode == 0, with_env.stderr
    with_flag = cli('autoencoder.py', '--redraw', run_dir, '--data', tmp_path / 'now_here.npz')
    assert with_flag.returncode == 0, with_flag.stderr
    raw = data.read_arrays(SUBSET)
    raw['x_test'] = raw['x_test'].copy()
    raw['x_test'][0, 0, 0] ^= 1
    np.savez(tmp_path / 'other.npz', **raw)
    wrong = cli('autoencoder.py', '--redraw', run_dir, '--data', tmp_path / 'other.npz')
    assert wrong.returncode == 2 and wrong.stderr.count('\n') == 1
    assert 'not the data this run was trained on' in wrong.stderr


def test_redraw_refuses_training_flags_and_other_modes_refuse_ablation_flags(tmp_path):
    for flags, words in ((['--redraw', tmp_path, '--epochs', 5], 'drop --epochs'),
                         (['--redraw', tmp_path, '--fix'], 'drop --fix'),
                         (['--budget', 3], '--budget only apply to --ablate'),
                         (['--seeds', 2, '--resume', tmp_path], '--seeds, --resume only apply to --ablate')):
        proc = cli('autoencoder.py', *flags)
        assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and words in proc.stderr, (flags, proc.stderr)


def test_a_failed_download_says_why(tmp_path, monkeypatch):
    class NoNetwork:
        class datasets:
            class mnist:
                @staticmethod
                def load_data():
                    raise Exception('URL fetch failure on https://storage.googleapis.com/mnist.npz: None -- '
                                    '[Errno -3] Temporary failure in name resolution')
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, 'KERAS_CACHE', tmp_path / 'none' / 'mnist.npz')
    monkeypatch.setitem(sys.modules, 'keras', NoNetwork)
    with pytest.raises(data.DataError, match=r'download failed \(URL fetch failure .*name resolution\); pass --data'):
        data.load_mnist()


def test_mnist_path_pointing_nowhere_says_where_the_path_came_from(tmp_path):
    proc = cli('autoencoder.py', env={data.ENV_VAR: str(tmp_path / 'missing.npz')})
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1
    assert 'the path came from $MNIST_PATH' in proc.stderr and 'unset it and pass --data PATH' in proc.stderr


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
    for line in proc.stdout:
        if line.startswith('run folder:'):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and 'Starting training' not in out
    assert err.startswith('interrupted: before training started; removed') and err.count('\n') == 1
    assert list(tmp_path.iterdir()) == []


def test_a_subset_too_small_for_every_digit_is_refused_and_the_smallest_works(tmp_path):
    proc = cli('autoencoder.py', '--data', SUBSET, '--subset', 69, '--out', tmp_path)
    assert proc.returncode == 2 and 'use at least 70' in proc.stderr
    m = data.load_mnist(SUBSET, subset=70)
    assert np.bincount(m.y[m.n_train:]).tolist() == [1] * 10 and np.bincount(m.y[:m.n_train]).tolist() == [6] * 10
    run_dir = short_run(tmp_path, '--subset', 70)
    assert json.loads((run_dir / 'metrics.json').read_text())['probe_accuracy'] is not None


def test_the_comparison_sheet_titles_each_run_by_its_folder(tmp_path):
    first, second = short_run(tmp_path), short_run(tmp_path)
    assert (first.name, second.name) == ('epochs-2', 'epochs-2-2')
    titles = [visualize.run_title(visualize.load_run(d)) for d in (first, second)]
    assert titles[0].startswith('epochs-2: ') and titles[1].startswith('epochs-2-2: ')
