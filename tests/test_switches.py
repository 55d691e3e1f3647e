"""Each suspected-cause switch changes the graph or loop as documented; --fix and overrides resolve as documented."""
import argparse
import json

import numpy as np
import pytest

import autoencoder as ae
from conftest import SUBSET, cli
from test_graph import build

tf1 = ae.tf1


def resolved(*flags):
    return ae.resolve(ae.make_parser().parse_args(list(flags)))


def variable_shapes(graph):
    with graph.as_default():
        return {v.op.name: tuple(v.shape) for v in tf1.trainable_variables()}


def test_kernels_change_sizes_and_padding_but_keep_28_14_7(subset):
    graph, g, sess = build(kernels=(5, 3))
    shapes = variable_shapes(graph)
    assert shapes['encoding/conv1/w'] == (5, 5, 1, 16) and shapes['encoding/conv2/w'] == (3, 3, 16, 32)
    assert shapes['decoding/deconv1/w'] == (3, 3, 16, 32) and shapes['decoding/deconv2/w'] == (5, 5, 1, 16)
    for k in ('y1', 'y3', 'u4', 'u6'):
        assert g[k].op.get_attr('padding') == b'SAME'
    y2, y4, u5, u7 = sess.run([g['y2'], g['y4'], g['u5'], g['u7']], {g['x']: subset.x[:3]})
    assert y2.shape == (3, 14, 14, 16) and y4.shape == (3, 7, 7, 32)
    assert u5.shape == (3, 14, 14, 16) and u7.shape == (3, 28, 28, 1)


def test_mixed_kernels_keep_valid_padding_for_the_2x2_layer():
    graph, g, sess = build(kernels=(2, 3))
    assert g['y1'].op.get_attr('padding') == b'VALID' and g['u6'].op.get_attr('padding') == b'VALID'
    assert g['y3'].op.get_attr('padding') == b'SAME' and g['u4'].op.get_attr('padding') == b'SAME'


@pytest.mark.parametrize('text, expected', [('2x2', (2, 2)), ('5x5,3x3', (5, 3)), ('3X3', (3, 3)),
                                            (' 5x5 , 3x3 ', (5, 3)), ('28x28,14x14', (28, 14))])
def test_kernel_sizes_parse(text, expected):
    assert ae.parse_kernels(text) == expected


@pytest.mark.parametrize('text, words', [('5x', 'not a kernel size'), ('0x0', 'cannot map'), ('3x5', 'square'),
                                         ('1x1', 'skip 3 of every 4'), ('29x29', 'cannot map 28x28'),
                                         ('5x5,15x15', 'conv2 kernel 15x15'), ('3x3,3x3,3x3', 'one size'),
                                         ('axa', 'not a kernel size'), ('', 'not a kernel size')])
def test_bad_kernel_sizes_are_refused(text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        ae.parse_kernels(text)


def test_relu_changes_every_hidden_layer_but_not_the_output():
    graph, g, sess = build(activation='relu')
    assert [g[k].op.type for k in ('y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5')] == ['Relu'] * 7
    assert g['u7'].op.type == 'Sigmoid'


def test_xavier_init_for_the_encoder_convs():
    graph, g, sess = build(init='xavier')
    w = sess.run(g['wec2'])
    limit = np.sqrt(6 / (4 * (16 + 32)))
    assert np.abs(w).max() <= limit and w.std() > 0.8 * limit / np.sqrt(3)


def test_tied_decoder_uses_the_transposed_encoder_weights(subset):
    graph, g, sess = build(tied=True)
    shapes = variable_shapes(graph)
    assert 'decoding/fc1/w' not in shapes and 'decoding/fc2/w' not in shapes and len(shapes) == 14
    wef1, wdf2, wef2, wdf1 = sess.run([g['wef1'], g['wdf2'], g['wef2'], g['wdf1']])
    assert np.array_equal(wdf2, wef1.T) and np.array_equal(wdf1, wef2.T)


def test_fixed_batching_uses_every_image_each_epoch():
    bounds = list(ae.batch_bounds(1400, 1000, 'fixed'))
    assert bounds == [(0, 1000), (1000, 2000)]  # the second batch holds the last 400 images


def test_fix_preset_and_explicit_flags_win():
    cfg = resolved('--fix')
    assert {k: cfg[k] for k in ae.FIX} == ae.FIX and cfg['name'] == 'fix' and cfg['flags'] == '--fix'
    cfg = resolved('--fix', '--lr', '0.01', '--kernels', '2x2', '--no-shuffle')
    assert cfg['lr'] == 0.01 and cfg['kernels'] == (2, 2) and cfg['shuffle'] is False
    assert cfg['batching'] == 'fixed' and cfg['activation'] == 'relu'
    assert cfg['name'] == 'fix_kernels-2x2_no-shuffle_lr-0.01'
    cfg = resolved()
    assert {k: cfg[k] for k in ae.QUESTION} == ae.QUESTION and cfg['name'] == 'question'
    assert cfg['flags'] == 'no flags (as posted)'


def test_switches_reach_the_run_loop(tmp_path):
    proc = cli('autoencoder.py', '--data', SUBSET, '--out', tmp_path, '--epochs', 2, '--no-figures',
               '--batching', 'fixed', '--kernels', '5x5,3x3', '--activation', 'relu', '--init', 'xavier', '--tied')
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name == 'kernels-5x5,3x3_batching-fixed_activation-relu_init-xavier_tied_epochs-2'
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['real_steps'] == 4 and metrics['empty_steps'] == 0
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['kernels'] == '5x5,3x3' and config['tied'] is True and config['init'] == 'xavier'


def test_bad_kernels_on_the_command_line_exit_2_with_one_line():
    proc = cli('autoencoder.py', '--kernels', '3x5')
    assert proc.returncode == 2
    assert 'square' in proc.stderr.strip().splitlines()[-1] and 'Traceback' not in proc.stderr
