"""visualize.py: each plot writes a PNG of the expected size; figures redraw from a run folder; TensorBoard tags."""
import json
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import visualize
from conftest import ROOT, cli


def png_size(path):
    """(width, height) from the PNG header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', head[16:24])


@pytest.fixture
def arrays():
    rng = np.random.RandomState(0)
    y20 = np.repeat(np.arange(10), 2)
    y200 = np.repeat(np.arange(10), 20)
    return dict(x=rng.rand(20, 784), out=rng.rand(20, 784), y20=y20, y200=y200,
                fc1=rng.rand(200, 128), code=rng.rand(200, 64), filters=rng.randn(5, 5, 1, 16),
                codes=rng.randn(300, 64), codes_y=rng.randint(0, 10, 300))


def test_each_plot_writes_a_png_of_the_expected_size(tmp_path, arrays):
    a = arrays
    layers = dict(input=a['x'][0].reshape(28, 28), y2=np.random.rand(14, 14, 16), y4=np.random.rand(7, 7, 32),
                  y6=np.random.rand(128), encode=np.random.rand(64), u1=np.random.rand(128),
                  u3=np.random.rand(7, 7, 32), u5=np.random.rand(14, 14, 16), u7=np.random.rand(28, 28, 1))
    made = {
        'reconstructions': (visualize.plot_reconstructions(a['x'], a['out'], a['y20'], 't', tmp_path / 'r.png'), (700, 380)),
        'activations': (visualize.plot_activations(layers, 't', tmp_path / 'a.png'), (1100, 800)),
        'codes': (visualize.plot_codes(a['fc1'], a['code'], a['y200'], 't', tmp_path / 'c.png'), (1000, 500)),
        'loss': (visualize.plot_loss([[0, 0.3], [100, 0.1]], {'mean_image': 0.07, 'all_black': 0.11}, 't',
                                     tmp_path / 'l.png'), (600, 420)),
        'filters': (visualize.plot_filters(a['filters'], 't', tmp_path / 'f.png'), (800, 340)),
        'pca': (visualize.plot_pca(a['codes'], a['codes_y'], 't', tmp_path / 'p.png'), (600, 550)),
        'ablation': (visualize.plot_ablation(['a', 'b', 'c'], [[0.07, 0.071], [0.02], [0.11, 0.1, 0.12]],
                                             [[0.8, 0.81], [None], [0.9, 0.9, 0.91]], [[0.8, 0.8], [0.7], [None] * 3],
                                             [[True, True], [False], [True, False, True]],
                                             {'mean_image': 0.07, 'all_black': 0.11}, 't', tmp_path / 'ab.png'),
                     (1100, 286)),
    }
    for name, (path, size) in made.items():
        assert png_size(path) == size, name


def test_mosaic_tiles_images_in_rows():
    tiles = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    m = visualize.mosaic(tiles, 2, pad=1)
    assert m.shape == (3 * 2 + 2, 2 * 3 + 1)
    assert np.array_equal(m[3:5, 4:7], tiles[3]) and np.isnan(m[2, 0]) and np.isnan(m[-1, -1])


def test_every_figure_is_drawn_at_the_end_of_a_run(faithful_run):
    proc, run_dir = faithful_run
    for name in visualize.FIGURES:
        assert png_size(run_dir / f'{name}.png')[0] >= 600, name


def test_figures_redraw_from_a_copied_run_folder_without_tensorflow(faithful_run, fix_run, tmp_path):
    copy = tmp_path / 'run'
    shutil.copytree(faithful_run[1], copy, ignore=shutil.ignore_patterns('*.png'))
    proc = cli('visualize.py', copy, fix_run[1], '--out', tmp_path / 'sheet.png')
    assert proc.returncode == 0, proc.stderr
    for name in visualize.FIGURES:
        assert (copy / f'{name}.png').is_file()
    assert png_size(tmp_path / 'sheet.png') == (1000, 1100)


def test_visualize_never_imports_tensorflow():
    out = subprocess.run([sys.executable, '-c', 'import sys, visualize; print(sorted(m for m in sys.modules '
                          'if m.split(".")[0] in ("tensorflow", "keras", "autoencoder")))'],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == '[]'


def test_redraw_rebuilds_figures_and_diagnostics_from_the_checkpoint(faithful_run, tmp_path):
    copy = tmp_path / 'run'
    shutil.copytree(faithful_run[1], copy, ignore=shutil.ignore_patterns('*.png', 'arrays.npz'))
    before = json.loads((copy / 'metrics.json').read_text())
    proc = cli('autoencoder.py', '--redraw', copy)
    assert proc.returncode == 0, proc.stderr
    after = json.loads((copy / 'metrics.json').read_text())
    assert after['final_loss'] == pytest.approx(before['final_loss'], rel=1e-6)
    assert after['code_spread'] == pytest.approx(before['code_spread'], rel=1e-4)
    assert after['loss_history'] == before['loss_history']
    for name in visualize.FIGURES:
        assert (copy / f'{name}.png').is_file()


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    proc = cli('visualize.py', tmp_path)
    assert proc.returncode == 2 and 'not a run folder' in proc.stderr and 'Traceback' not in proc.stderr
    (tmp_path / 'config.json').write_text('{}')
    proc = cli('visualize.py', tmp_path)
    assert proc.returncode == 2 and 'not a finished run' in proc.stderr and 'run it again' in proc.stderr


def test_tensorboard_events_hold_scalars_images_and_histograms(faithful_run):
    import autoencoder as ae
    proc, run_dir = faithful_run
    tags = {}
    for path in (run_dir / 'tensorboard').glob('events.out.tfevents.*'):
        for event in ae.tf1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                kind = value.WhichOneof('value')
                tags.setdefault(value.tag, set()).add(kind)
    assert tags['loss/all_data'] == {'simple_value'} and tags['loss/batch'] == {'simple_value'}
    assert tags['input/image/0'] == {'image'} and tags['reconstruction/image/9'] == {'image'}
    for layer in ('y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5', 'u7'):
        assert tags[f'activation/{layer}'] == {'histo'}, layer


def test_ablation_table_summarises_seeds_symptoms_and_agreement(tmp_path):
    def row(seed, loss, collapsed, exit_epoch, failures, label='question as posted', flags='no flags (as posted)'):
        return dict(label=label, flags=flags, seed=seed, epochs_done=501, real_steps=501, final_loss=loss,
                    code_spread=4e-5, probe_accuracy=0.873 + seed / 1000, probe_accuracy_at_init=0.873,
                    collapsed=collapsed, total_seconds=48.0 + seed, seconds=37.0, plateau_exit_epoch=exit_epoch,
                    findings=[dict(rule=r, level=level, evidence='', fix=None) for r, level in failures])
    stuck = [('one_output', 'failure'), ('empty_batches', 'failure')]
    rows = [row(0, 0.0696, True, None, stuck), row(1, 0.0690, True, None, stuck[1:]),
            row(2, 0.0701, True, None, stuck),
            row(0, 0.0186, False, 120, [('empty_batches', 'warning')], 'ReLU', '--activation relu'),
            row(2, 0.0190, False, 131, [('empty_batches', 'failure')], 'ReLU', '--activation relu'),
            dict(label='--fix', flags='--fix', seed=0, epochs_done=3, real_steps=210, seconds=12.0, interrupted=True)]
    summary = dict(command='python autoencoder.py --ablate --seeds 3', data='MNIST', n_images=70000, n_train=60000,
                   machine='a 2-core test machine', budget=None, seeds=[0, 1, 2],
                   configurations=['question as posted', 'ReLU', '--fix'],
                   baselines={'mean_image': 0.0673, 'all_black': 0.1123}, seconds=600.0, rows=rows)
    (tmp_path / 'ablation.json').write_text(json.dumps(summary))
    assert cli('visualize.py', tmp_path).returncode == 0
    lines = (tmp_path / 'ablation.md').read_text().splitlines()
    assert '| 1 | question as posted | `no flags (as posted)` | 501 | 501 | 3 | 0.0696 (0.0690 to 0.0701) | 1.03 ' \
           '| 0.874 (0.873 to 0.875) | +0.001 (+0.000 to +0.002) | collapsed 3/3 | never, never, never ' \
           '| one output 2/3, empty batches | - | 3/3 | 0:00:49 |' in lines
    assert '| 2 | ReLU | `--activation relu` | 501 | 501 | 2 of 3 | 0.0188 (0.0186 to 0.0190) | 0.28 ' \
           '| 0.874 (0.873 to 0.875) | +0.001 (+0.000 to +0.002) | not collapsed 2/2 | 120, 131 ' \
           '| empty batches 1/2 | empty batches 1/2 | 1/2 | 0:00:49 |' in lines
    assert '| 3 | --fix | `--fix` | 3 | 210 | 0 of 3 |  |  |  |  | interrupted |  |  |  |  | 0:00:12 |' in lines
    assert all(line.count('|') == 17 for line in lines if line.startswith('| '))
    assert '5 of 9 runs finished' in ' '.join(lines) and 'a 2-core test machine' in ' '.join(lines)
    assert png_size(tmp_path / 'ablation.png') == (1100, 244)  # two configurations with finished runs


def test_health_figure_is_drawn_from_the_run_folder(faithful_run):
    assert png_size(faithful_run[1] / 'health.png') == (1100, 900)


def test_a_run_from_before_the_health_monitor_still_draws(faithful_run, tmp_path):
    copy = tmp_path / 'old'
    shutil.copytree(faithful_run[1], copy, ignore=shutil.ignore_patterns('*.png'))
    metrics = json.loads((copy / 'metrics.json').read_text())
    for key in ('health', 'feeding', 'findings', 'timing', 'plateau_exit_epoch'):
        del metrics[key]
    (copy / 'metrics.json').write_text(json.dumps(metrics))
    proc = cli('visualize.py', copy)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in copy.glob('*.png')} == {f'{name}.png' for name in visualize.FIGURES if name != 'health'}
