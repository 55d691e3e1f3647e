"""data.py: the question's MNIST layout, sources, subsets and the content check."""
import gzip

import numpy as np
import pytest

import data
from conftest import SUBSET, cli


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


# ---------------------------------------------------------------- the download, served from this machine

class Server:
    """A local HTTP server: serves a folder, or with silent=True accepts connections and never answers."""

    def __init__(self, folder=None, silent=False):
        import functools
        import http.server
        import socket
        import threading
        if silent:
            self.sock = socket.socket()
            self.sock.bind(('127.0.0.1', 0))
            self.sock.listen(1)
            self.port = self.sock.getsockname()[1]
            self.httpd = None
        else:
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
            handler.log_message = lambda *args: None
            self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
            self.port = self.httpd.server_address[1]
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return f'http://127.0.0.1:{self.port}/{name}'

    def close(self):
        if self.httpd:
            self.httpd.shutdown()
        else:
            self.sock.close()


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No --data, no $MNIST_PATH, an empty Keras cache: load_mnist must download."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    cache = tmp_path / 'home' / '.keras' / 'datasets' / 'mnist.npz'
    monkeypatch.setattr(data, 'KERAS_CACHE', cache)
    return cache


def test_a_good_download_is_checked_and_cached(tmp_path, no_mnist, monkeypatch):
    served = tmp_path / 'served'
    served.mkdir()
    (served / 'mnist.npz').write_bytes(SUBSET.read_bytes())
    server = Server(served)
    try:
        monkeypatch.setenv(data.URL_VAR, server.url('mnist.npz'))
        m = data.load_mnist()
    finally:
        server.close()
    assert m.content == 'MNIST test subset' and m.source.endswith('(downloaded)')
    assert no_mnist.read_bytes() == SUBSET.read_bytes() and list(no_mnist.parent.iterdir()) == [no_mnist]
    assert data.find_source() == (no_mnist, 'Keras cache')  # the next run reads the cache


@pytest.mark.parametrize('damage, words', [(lambda b: b[:len(b) // 2], 'is not a readable MNIST'),
                                           (lambda b: b.replace(b'x_test', b'x_tost'), 'is not a readable MNIST'),
                                           (None, 'matches no known MNIST')])
def test_a_corrupted_download_is_refused_and_not_cached(tmp_path, no_mnist, monkeypatch, damage, words):
    served = tmp_path / 'served'
    served.mkdir()
    if damage:
        (served / 'mnist.npz').write_bytes(damage(SUBSET.read_bytes()))
    else:  # valid arrays, one pixel changed: only the hashes tell
        raw = data.read_arrays(SUBSET)
        raw['x_train'] = raw['x_train'].copy()
        raw['x_train'][0, 0, 0] ^= 1
        np.savez(served / 'mnist.npz', **raw)
    server = Server(served)
    try:
        monkeypatch.setenv(data.URL_VAR, server.url('mnist.npz'))
        with pytest.raises(data.DataError, match=words) as e:
            data.load_mnist()
    finally:
        server.close()
    assert 'it was not kept' in str(e.value) and '\n' not in str(e.value)
    assert not no_mnist.exists() and not any(no_mnist.parent.iterdir())


def test_a_server_that_does_not_answer_gives_one_line(no_mnist, monkeypatch):
    silent = Server(silent=True)
    try:
        monkeypatch.setenv(data.URL_VAR, silent.url('mnist.npz'))
        monkeypatch.setattr(data, 'DOWNLOAD_TIMEOUT', 1)  # the event under test is the timeout itself
        with pytest.raises(data.DataError, match=r'download from http://127.0.0.1:\d+/mnist.npz failed \(.*timed out'):
            data.load_mnist()
    finally:
        silent.close()
    assert not no_mnist.exists()


def test_no_server_at_all_says_how_to_supply_the_file(tmp_path, no_mnist, monkeypatch):
    closed = Server(silent=True)
    closed.close()  # nothing listens on that port any more
    monkeypatch.setenv(data.URL_VAR, closed.url('mnist.npz'))
    with pytest.raises(data.DataError, match='failed .*refused.*pass --data PATH') as e:
        data.load_mnist()
    assert '\n' not in str(e.value)


def test_a_real_process_without_data_gives_one_line_and_names_no_path_of_ours(tmp_path):
    proc = cli('autoencoder.py', env={data.ENV_VAR: '', 'HOME': str(tmp_path), data.URL_VAR: 'http://127.0.0.1:9/x'})
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'pass --data PATH' in proc.stderr
    assert '~/.keras/datasets' in proc.stderr and str(tmp_path) not in proc.stderr
