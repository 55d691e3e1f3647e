"""data.py: the question's MNIST layout, sources, subsets and the content check."""
import gzip

import numpy as np
import pytest

import data
from conftest import SUBSET


@pytest.fixture(scope='module')
def raw():
    return data.read_arrays(SUBSET)


def test_committed_subset_is_known_real_mnist_and_balanced(subset, raw):
    assert data.identify(raw) == 'MNIST test subset'
    assert subset.content == 'MNIST test subset'
    assert subset.x.shape == (1400, 784) and subset.n_train == 1200
    assert np.bincount(subset.y[:1200]).tolist() == [120] * 10
    assert np.bincount(subset.y[1200:]).tolist() == [20] * 10


def test_label_order_is_train_then_test_each_stably_sorted(subset, raw):
    for part, rows in (('train', slice(0, 1200)), ('test', slice(1200, 1400))):
        y = subset.y[rows]
        assert np.all(np.diff(y) >= 0), f'{part} part is not sorted by label'
        # stable: within a digit, images keep the file's order
        for d in range(10):
            expected = raw['x_' + part][raw['y_' + part] == d].reshape(-1, 784)
            got = np.rint(subset.x[rows][y == d] * 255).astype(np.uint8)
            assert np.array_equal(got, expected)


def test_original_order_is_the_file_order(raw):
    m = data.load_mnist(SUBSET, order='original')
    assert np.array_equal(m.y, np.concatenate([raw['y_train'], raw['y_test']]))
    assert np.array_equal(np.rint(m.x[:1200] * 255).astype(np.uint8), raw['x_train'].reshape(-1, 784))
    assert not np.all(np.diff(m.y[:1200]) >= 0)


def test_pixels_are_float32_scaled_to_unit_interval(subset, raw):
    assert subset.x.dtype == np.float32 and subset.y.dtype == np.int64
    assert subset.x.min() == 0.0 and subset.x.max() == 1.0
    m = data.load_mnist(SUBSET, order='original')
    np.testing.assert_allclose(m.x[:1200], raw['x_train'].reshape(-1, 784) / 255.0, rtol=0, atol=1e-7)


def test_balanced_subset_is_seeded_and_even(raw):
    a = data.balanced_subset(raw, 105, seed=3)
    b = data.balanced_subset(raw, 105, seed=3)
    c = data.balanced_subset(raw, 105, seed=4)
    assert len(a['y_train']) == 90 and len(a['y_test']) == 15
    assert np.bincount(a['y_train'], minlength=10).tolist() == [9] * 10
    assert sorted(np.bincount(a['y_test'], minlength=10).tolist()) == [1] * 5 + [2] * 5
    assert np.array_equal(a['x_train'], b['x_train'])
    assert not np.array_equal(a['x_train'], c['x_train'])


def test_subset_option_of_load_mnist(raw):
    m = data.load_mnist(SUBSET, subset=70, seed=0)
    assert len(m.y) == 70 and m.n_train == 60
    assert np.bincount(m.y[:60]).tolist() == [6] * 10


@pytest.mark.parametrize('n, words', [(1401, 'larger than the data'), (69, 'use at least 70'), (9, 'use at least 70')])
def test_subset_size_errors(raw, n, words):
    with pytest.raises(data.DataError, match=words):
        data.balanced_subset(raw, n)


@pytest.mark.parametrize('gz', [False, True])
def test_idx_folder_gives_the_same_arrays(tmp_path, raw, gz):
    for key, stem in data.IDX_FILES.items():
        a = raw[key]
        header = (0x800 + a.ndim).to_bytes(4, 'big') + b''.join(s.to_bytes(4, 'big') for s in a.shape)
        blob = header + a.tobytes()
        if gz:
            (tmp_path / (stem + '.gz')).write_bytes(gzip.compress(blob))
        else:
            (tmp_path / stem).write_bytes(blob)
    got = data.read_arrays(tmp_path)
    for key in data.ARRAY_NAMES:
        assert np.array_equal(got[key], raw[key])
    assert data.load_mnist(tmp_path).content == 'MNIST test subset'


def test_source_order_explicit_then_env_then_keras_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'cache' / 'mnist.npz'
    monkeypatch.setattr(data, 'KERAS_CACHE', cache)
    monkeypatch.setenv(data.ENV_VAR, str(SUBSET))
    assert data.find_source('x.npz') == (data.Path('x.npz'), '--data')
    assert data.find_source() == (SUBSET, '$' + data.ENV_VAR)
    monkeypatch.delenv(data.ENV_VAR)
    cache.parent.mkdir()
    cache.write_bytes(SUBSET.read_bytes())
    assert data.find_source() == (cache, 'Keras cache')
