"""The graph and the training loop, as posted: shapes, variables, initial values, batching, Adam on empty batches."""
import numpy as np
import pytest

import autoencoder as ae

tf, tf1 = ae.tf, ae.tf1


def config(**overrides):
    cfg = dict(ae.QUESTION, n_h1=128, n_h2=64, **overrides)
    cfg.setdefault('code_activation', cfg['activation'])
    return cfg


def build(seed=0, **overrides):
    graph = tf.Graph()
    with graph.as_default():
        ae.seed_everything(seed)
        g = ae.build_graph(config(**overrides))
        sess = tf1.Session(graph=graph)
        sess.run(tf1.global_variables_initializer())
    return graph, g, sess


@pytest.fixture(scope='module')
def question():
    return build()


QUESTION_VARIABLES = {
    'encoding/conv1/w': (2, 2, 1, 16), 'encoding/conv1/b': (16,),
    'encoding/conv2/w': (2, 2, 16, 32), 'encoding/conv2/b': (32,),
    'encoding/fc1/w': (1568, 128), 'encoding/fc1/b': (128,),
    'encoding/fc2/w': (128, 64), 'encoding/fc2/b': (64,),
    'decoding/fc1/w': (64, 128), 'decoding/fc1/b': (128,),
    'decoding/fc2/w': (128, 1568), 'decoding/fc2/b': (1568,),
    'decoding/deconv1/w': (2, 2, 16, 32), 'decoding/deconv1/b': (16,),
    'decoding/deconv2/w': (2, 2, 1, 16), 'decoding/deconv2/b': (1,),
}


def test_variables_have_the_question_names_and_shapes(question):
    graph, g, sess = question
    with graph.as_default():
        got = {v.op.name: tuple(v.shape) for v in tf1.trainable_variables()}
    assert got == QUESTION_VARIABLES


@pytest.mark.parametrize('n', [1, 7, 1000])
def test_every_layer_has_the_question_shape(question, subset, n):
    graph, g, sess = question
    names = ['y1', 'y2', 'y3', 'y4', 'y5', 'y6', 'encode', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'decode']
    got = sess.run([g[k] for k in names], {g['x']: subset.x[:n]})
    shapes = dict(zip(names, (a.shape for a in got)))
    assert shapes == {'y1': (n, 14, 14, 16), 'y2': (n, 14, 14, 16), 'y3': (n, 7, 7, 32), 'y4': (n, 7, 7, 32),
                      'y5': (n, 1568), 'y6': (n, 128), 'encode': (n, 64), 'u1': (n, 128), 'u2': (n, 1568),
                      'u3': (n, 7, 7, 32), 'u4': (n, 14, 14, 16), 'u5': (n, 14, 14, 16), 'u6': (n, 28, 28, 1),
                      'u7': (n, 28, 28, 1), 'decode': (n, 784)}
    # sigmoid after every layer, output included
    for k in ('y2', 'y4', 'y6', 'encode', 'u1', 'u2', 'u5', 'u7'):
        assert got[names.index(k)].min() >= 0 and got[names.index(k)].max() <= 1


def test_posted_convolutions_are_2x2_stride_2_valid(question):
    graph, g, sess = question
    for k in ('y1', 'y3', 'u4', 'u6'):
        op = g[k].op
        assert op.get_attr('padding') == b'VALID'
        assert list(op.get_attr('strides')) == [1, 2, 2, 1]
    assert g['y2'].op.type == 'Sigmoid' and g['encode'].op.type == 'Sigmoid' and g['u7'].op.type == 'Sigmoid'


def test_initial_values_follow_the_question_initialisers(question):
    graph, g, sess = question
    w = sess.run({k: g[k] for k in ('wec1', 'wec2', 'wef1', 'wef2', 'wdf1', 'wdf2', 'wdd1', 'wdd2')})
    # truncated_normal_initializer(): stddev 1.0 cut at 2 sigma, so the sample std is about 0.88
    assert abs(w['wec2'].std() - 0.8796) < 0.04 and np.abs(w['wec2']).max() <= 2.0
    assert abs(w['wec2'].mean()) < 0.05 and np.abs(w['wec1']).max() <= 2.0
    # Xavier: uniform on +-sqrt(6 / (fan_in + fan_out)), fans counting the receptive field
    fans = {'wef1': 1568 + 128, 'wef2': 128 + 64, 'wdf1': 64 + 128, 'wdf2': 128 + 1568,
            'wdd1': 4 * (16 + 32), 'wdd2': 4 * (1 + 16)}
    for k, fan in fans.items():
        limit = np.sqrt(6 / fan)
        assert np.abs(w[k]).max() <= limit
        assert abs(w[k].std() - limit / np.sqrt(3)) < 0.15 * limit / np.sqrt(3), k
    biases = sess.run([g[k] for k in ('bec1', 'bec2', 'bef1', 'bef2', 'bdf1', 'bdf2', 'bdd1', 'bdd2')])
    assert all(np.all(b == 0) for b in biases)


def test_buggy_slicing_gives_1_real_and_69_empty_batches_on_70000_images():
    sizes = [max(0, min(hi, 70000) - lo) for lo, hi in ae.batch_bounds(70000, 1000, 'buggy')]
    assert len(sizes) == 70 and sizes[0] == 1000 and sizes[1:] == [0] * 69
    fixed = [min(hi, 70000) - lo for lo, hi in ae.batch_bounds(70000, 1000, 'fixed')]
    assert fixed == [1000] * 70
    # with batch 100 the posted slice reaches further: j = 0, 100, ..., 600 are non-empty
    small = [max(0, min(hi, 70000) - lo) for lo, hi in ae.batch_bounds(70000, 100, 'buggy')]
    assert sum(s > 0 for s in small) == 7 and len(small) == 700


def test_an_empty_batch_is_an_adam_step_with_zero_gradients(subset):
    graph, g, sess = build()
    with graph.as_default():
        variables = {v.op.name: v for v in tf1.global_variables()}
    m, v = variables['encoding/fc1/w/Adam'], variables['encoding/fc1/w/Adam_1']
    w, b1p = variables['encoding/fc1/w'], variables['beta1_power']
    sess.run(g['opt'], {g['x']: subset.x[:1000]})
    before = sess.run([w, m, v, b1p])
    sess.run(g['empty_step'])
    after = sess.run([w, m, v, b1p])
    np.testing.assert_allclose(after[1], 0.9 * before[1], rtol=1e-6)   # m <- beta1 m + 0
    np.testing.assert_allclose(after[2], 0.999 * before[2], rtol=1e-6)  # v <- beta2 v + 0
    np.testing.assert_allclose(after[3], 0.9 * before[3], rtol=1e-6)    # shared bias-correction state
    assert np.abs(after[0] - before[0]).max() > 1e-6                      # ...and the weights still move
    # the same update by hand: w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
    t = 2
    lr_t = 1e-4 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    np.testing.assert_allclose(after[0], before[0] - lr_t * after[1] / (np.sqrt(after[2]) + 1e-8), atol=1e-7)


def test_permuting_indices_draws_exactly_the_questions_permutation():
    rows = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    expected = np.random.RandomState(7).permutation(rows)  # what the question ran on its data
    assert np.array_equal(rows[np.random.RandomState(7).permutation(len(rows))], expected)


def test_chunked_evaluation_equals_the_single_feed_mean(question, subset, monkeypatch):
    graph, g, sess = question
    single = float(sess.run(g['loss'], {g['x']: subset.x}))
    monkeypatch.setattr(ae, 'EVAL_CHUNK', 300)  # 1400 rows in five uneven chunks
    chunked = ae.mean_loss(sess, g, subset.x)
    assert abs(chunked - single) <= 1e-6 * single
