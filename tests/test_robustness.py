"""Bad input gets one clear line and status 2; Ctrl-C and NaN stop cleanly; the same seed gives the same run."""
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import autoencoder as ae
import data
from conftest import HANG, ROOT, SUBSET, cli, interruptible, wait_for_line


@pytest.fixture(scope='module')
def raw():
    return data.read_arrays(SUBSET)


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def bad_files(tmp, raw):
    """(name, path, words expected in the error) for every kind of broken data file."""
    ok = dict(raw)
    yield 'missing', tmp / 'nope.npz', 'no such file'
    (tmp / 'empty.npz').write_bytes(b'')
    yield 'empty', tmp / 'empty.npz', 'empty'
    blob = SUBSET.read_bytes()
    (tmp / 'truncated.npz').write_bytes(blob[:len(blob) // 2])
    yield 'truncated', tmp / 'truncated.npz', 'not a readable .npz'
    (tmp / 'text.npz').write_text('hello, not numpy\n')
    yield 'not an npz', tmp / 'text.npz', 'not an .npz file (not a zip archive)'
    yield 'pickled', save(tmp / 'pickled.npz', **dict(ok, y_test=np.array([{'a': 1}], dtype=object))), 'pickled'
    yield 'wrong names', save(tmp / 'names.npz', images=ok['x_train']), 'no array named x_train'
    yield 'wrong shape', save(tmp / 'shape.npz', **dict(ok, x_train=ok['x_train'].reshape(-1, 784))), 'expected (n, 28, 28)'
    yield 'wrong dtype', save(tmp / 'dtype.npz', **dict(ok, x_train=ok['x_train'] / 255.0)), 'dtype float64'
    yield 'label count', save(tmp / 'count.npz', **dict(ok, y_train=ok['y_train'][:-1])), 'to match x_train'
    yield 'label range', save(tmp / 'range.npz', **dict(ok, y_test=ok['y_test'] + 5)), 'label 14'
    changed = ok['x_train'].copy()
    changed[0, 0, 0] ^= 1
    yield 'hash', save(tmp / 'hash.npz', **dict(ok, x_train=changed)), 'match no known file'


def test_every_bad_data_file_gets_one_line_and_status_2(tmp_path, raw, capsys):
    cases = list(bad_files(tmp_path, raw))
    assert len(cases) == 11
    for name, path, words in cases:
        assert ae.main(['--data', str(path), '--out', str(tmp_path / 'runs')]) == 2, name
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and err.startswith('error: ') and words in err, (name, err)
    assert not (tmp_path / 'runs').exists()  # nothing half-written


def test_hash_failure_says_how_to_override_and_no_verify_accepts(tmp_path, raw):
    changed = raw['x_train'].copy()
    changed[0, 0, 0] ^= 1
    path = save(tmp_path / 'other.npz', **dict(raw, x_train=changed))
    with pytest.raises(data.DataError, match='--no-verify'):
        data.load_mnist(path)
    assert data.load_mnist(path, verify=False).content == 'unverified'


def test_a_real_process_exits_2_without_a_traceback(tmp_path):
    proc = cli('autoencoder.py', '--data', tmp_path / 'missing.npz')
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.count('\n') == 1 and 'no such file' in proc.stderr


@pytest.mark.parametrize('flags, words', [
    (['--batch-size', '0'], 'must be a whole number >= 1'),
    (['--epochs', '-1'], 'must be a whole number >= 0'),
    (['--lr', '0'], 'must be a finite number > 0'),
    (['--lr=-1e-3'], 'must be a finite number > 0'),
    (['--lr', 'nan'], 'must be a finite number > 0'),
    (['--lr', 'fast'], 'is not a number'),
    (['--kernels', '5x'], 'not a kernel size'),
    (['--kernels', '0x0'], 'cannot map'),
    (['--kernels', '3x5'], 'square'),
    (['--kernels', '16x16,16x16'], 'conv2 kernel 16x16 cannot map 14x14'),
])
def test_bad_arguments_use_argparse_status_2(flags, words, capsys):
    with pytest.raises(SystemExit) as e:
        ae.make_parser().parse_args(flags)
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and err.count('\n') == 1 and err.startswith('error: ')


@pytest.mark.parametrize('n, words', [('1401', 'larger than the data (1400 images)'), ('69', 'use at least 70')])
def test_subset_size_is_checked_against_the_data(n, words, tmp_path, capsys):
    assert ae.main(['--data', str(SUBSET), '--subset', n, '--out', str(tmp_path)]) == 2
    assert words in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_unwritable_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    assert ae.main(['--data', str(SUBSET), '--out', str(blocker / 'runs')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cannot create a run folder there' in err


def variables(checkpoint):
    reader = ae.tf1.train.load_checkpoint(str(checkpoint))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


def test_ctrl_c_saves_the_last_completed_epoch_and_exits_130(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / 'autoencoder.py'), '--data', str(SUBSET), '--epochs', '100000',
                             '--eval-every', '1', '--out', str(tmp_path / 'a')], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    wait_for_line(proc.stdout, lambda line: line.startswith('Iteration: 2 '))  # two epochs are done, however slowly
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130, err
    assert 'interrupted during epoch' in err and 'Traceback' not in err
    (run_dir,) = (tmp_path / 'a').iterdir()
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    done = metrics['epochs_done']
    assert metrics['interrupted'] is True and done > 0
    assert not list(run_dir.glob('.*.tmp'))
    # the saved weights are exactly those after `done` epochs: a fresh run of that length gives the same
    assert ae.main(['--data', str(SUBSET), '--epochs', str(done), '--eval-every', '1', '--no-figures', '--out',
                    str(tmp_path / 'b')]) == 0
    (other,) = (tmp_path / 'b').iterdir()
    saved, fresh = variables(run_dir / 'checkpoint' / 'model'), variables(other / 'checkpoint' / 'model')
    assert saved.keys() == fresh.keys()
    for k in saved:
        np.testing.assert_array_equal(saved[k], fresh[k], err_msg=k)
    # ...and so are the counts: no step that was rolled back is counted
    fresh_metrics = json.loads((other / 'metrics.json').read_text())
    for k in ('real_steps', 'empty_steps', 'feeding'):
        assert metrics[k] == fresh_metrics[k], k
    # and the interrupted run can still be drawn from its checkpoint, with its batch losses and final loss
    assert ae.main(['--redraw', str(run_dir)]) == 0
    assert (run_dir / 'codes.png').is_file() and (run_dir / 'health.png').is_file()
    redrawn = json.loads((run_dir / 'metrics.json').read_text())
    assert redrawn['loss_history'][-1] == [done, redrawn['final_loss']]
    assert redrawn['final_loss'] == pytest.approx(fresh_metrics['final_loss'], rel=1e-6)
    with np.load(run_dir / 'arrays.npz') as f:
        assert len(f['batch_loss']) == metrics['real_steps'] and len(f['epoch_loss']) == done + 1


def test_a_nan_loss_stops_at_once_with_the_likely_cause(tmp_path):
    proc = cli('autoencoder.py', '--data', SUBSET, '--fix', '--lr', '1e10', '--epochs', 50, '--out', tmp_path)
    assert proc.returncode == 3
    assert 'the batch loss is nan' in proc.stderr and 'learning rate (--lr 1e+10) is probably too high' in proc.stderr
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['diverged'] and metrics['epochs_done'] < 50
    saved = variables(run_dir / 'checkpoint' / 'model')
    assert all(np.all(np.isfinite(v)) for v in saved.values())


def test_same_flags_and_seed_give_an_identical_loss_history(tmp_path):
    flags = ['--data', str(SUBSET), '--fix', '--epochs', '2', '--eval-every', '1', '--no-figures']
    proc = cli('autoencoder.py', *flags, '--out', tmp_path / 'a')  # in a fresh process
    assert proc.returncode == 0, proc.stderr
    assert ae.main(flags + ['--out', str(tmp_path / 'b')]) == 0  # in this one, which has built other graphs before
    assert ae.main(flags + ['--seed', '1', '--out', str(tmp_path / 'seed1')]) == 0
    histories = []
    for out in ('a', 'b', 'seed1'):
        (run_dir,) = (tmp_path / out).iterdir()
        histories.append(json.loads((run_dir / 'metrics.json').read_text())['loss_history'])
    assert len(histories[0]) == 3 and histories[0] == histories[1]
    assert histories[2] != histories[0]
