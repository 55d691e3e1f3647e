"""MNIST as the question had it: 70000x784 floats in [0,1], train then test, each part sorted by label.

The question's `mnist.data` came from scikit-learn's old `fetch_mldata('MNIST original')`: the 60000
training images followed by the 10000 test images, each part sorted by label. `load_mnist` rebuilds that
array from a Keras-layout `mnist.npz` or the four IDX files and checks the content against known hashes.
The data flags, the one-line errors and the quiet TensorFlow start-up that every program shares are here too:
this module loads nothing heavy, so a program can answer a mistyped flag before it imports TensorFlow.
"""
import argparse
import gzip
import hashlib
import math
import os
import platform
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = 'MNIST_PATH'
KERAS_CACHE = Path('~/.keras/datasets/mnist.npz').expanduser()  # where Keras keeps the file it downloads
DOWNLOAD_URL = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz'  # where Keras downloads it
URL_VAR = 'MNIST_URL'  # another place to download it from (a mirror)
DOWNLOAD_TIMEOUT = 60  # seconds without an answer before a download gives up
ARRAY_NAMES = ('x_train', 'y_train', 'x_test', 'y_test')
N_CLASSES = 10
MIN_SUBSET = 7 * N_CLASSES  # the smallest --subset whose test part (1/7) still holds every digit
ORDERS = ('label', 'original')
# sha256 of np.ascontiguousarray(a).tobytes() for each array of every file we accept without --no-verify.
KNOWN_SHA256 = {
    'MNIST': {
        'x_train': '741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757',
        'y_train': '1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13',
        'x_test': '6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161',
        'y_test': 'ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5',
    },
    # tests/data/mnist_subset.npz, written by tests/make_subset.py from the full file.
    'MNIST test subset': {
        'x_train': '13ebac46aca73541b0f3b6d944edc74a2adc09193f792d9a184cbb0f33b39326',
        'y_train': '86f51d077210cd3acf3ba985074f662d2a2f89249237f82a70181fd56525cceb',
        'x_test': '6712f045c9b7091d73c39860e5c1e4da38c8d3b2b8aefa8a22d20df68e642ef8',
        'y_test': '4b21ad390703f71a645d93281a43b81180b3bb444ca3e2c23a9aa85fde8a4b9c',
    },
}
IDX_FILES = {
    'x_train': 'train-images-idx3-ubyte',
    'y_train': 'train-labels-idx1-ubyte',
    'x_test': 't10k-images-idx3-ubyte',
    'y_test': 't10k-labels-idx1-ubyte',
}
HOW_TO_SUPPLY = (f'pass --data PATH (a Keras-layout mnist.npz or a folder with the four IDX files), '
                 f'set {ENV_VAR}, or put mnist.npz in ~/.keras/datasets')


class DataError(Exception):
    """A data problem, described in one line that says how to fix it."""


@dataclass
class MNIST:
    """Images as rows of floats in [0,1], labels, and where the training part ends."""
    x: np.ndarray  # (N, 784) float32
    y: np.ndarray  # (N,) int64
    n_train: int
    source: str    # where it was read from and how that place was chosen, for messages
    content: str   # which known file the arrays matched, or 'unverified'
    order: str
    path: str      # the file or folder read, as an absolute path
    sha256: str    # of the four arrays as read (before --subset), so a run's data can be checked later


def shown(path):
    """A path as messages show it: under the home folder as ~/..., so output names no one's home."""
    path = Path(path).expanduser()
    try:
        return '~/' + str(path.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)


def sha256(a):
    """Hash of an array's raw bytes, as in ../shared/data/README.md."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _read_npz(path):
    with open(path, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':  # np.load would take any other file for a pickle
            raise DataError(f'{path}: not an .npz file (not a zip archive); expected a Keras-layout mnist.npz')
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ARRAY_NAMES if k not in f.files]
            if missing:
                raise DataError(f'{path}: no array named {", ".join(missing)} (it holds {", ".join(f.files) or "nothing"}); '
                                f'expected the Keras layout x_train, y_train, x_test, y_test')
            return {k: f[k] for k in ARRAY_NAMES}
    except DataError:
        raise
    except ValueError as e:
        if 'pickle' in str(e).lower():
            raise DataError(f'{path}: holds pickled objects, which are never loaded (allow_pickle=False); '
                            f'save plain uint8 arrays with np.savez') from None
        raise DataError(f'{path}: not a readable .npz file ({e})') from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f'{path}: not a readable .npz file ({type(e).__name__}: {e}); '
                        f'is it truncated? re-copy it') from None


def _read_idx(path, ndim):
    opener = gzip.open if path.suffix == '.gz' else open
    try:
        with opener(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f'{path}: cannot read ({e})') from None
    magic = 0x800 + ndim
    if len(raw) < 4 + 4 * ndim or int.from_bytes(raw[:4], 'big') != magic:
        raise DataError(f'{path}: not an IDX file of {ndim} dimension(s) (magic number is not {magic})')
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise DataError(f'{path}: header says {shape} but {len(body)} bytes follow; the file is truncated')
    return np.frombuffer(body, np.uint8).reshape(shape)


def _read_idx_folder(folder):
    arrays = {}
    for key, stem in IDX_FILES.items():
        found = [folder / (stem + ext) for ext in ('', '.gz') if (folder / (stem + ext)).is_file()]
        if not found:
            raise DataError(f'{folder}: no {stem} or {stem}.gz; the folder needs the four MNIST IDX files')
        arrays[key] = _read_idx(found[0], 3 if key.startswith('x') else 1)
    return arrays


def read_arrays(path, how='--data'):
    """The four uint8 arrays from a Keras-layout .npz or a folder of IDX files, validated."""
    path = Path(path).expanduser()
    if path.is_dir():
        arrays = _read_idx_folder(path)
    elif path.is_file():
        if path.stat().st_size == 0:
            raise DataError(f'{path}: the file is empty; re-copy mnist.npz')
        arrays = _read_npz(path)
    elif how == '$' + ENV_VAR:
        raise DataError(f'{path}: no such file or folder (the path came from ${ENV_VAR}); set {ENV_VAR} to a '
                        f'Keras-layout mnist.npz or a folder of the four IDX files, or unset it and pass --data PATH')
    else:
        raise DataError(f'{path}: no such file or folder; {HOW_TO_SUPPLY}')
    validate(arrays, path)
    return arrays


def validate(arrays, where):
    """Refuse arrays that are not MNIST-shaped uint8 images with labels 0..9."""
    for part in ('train', 'test'):
        x, y = arrays['x_' + part], arrays['y_' + part]
        for name, a in (('x_' + part, x), ('y_' + part, y)):
            if a.dtype != np.uint8:
                raise DataError(f'{where}: {name} has dtype {a.dtype}, expected uint8 (raw 0..255 pixels, 0..9 labels)')
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f'{where}: x_{part} has shape {x.shape}, expected (n, 28, 28)')
        if y.shape != (x.shape[0],):
            raise DataError(f'{where}: y_{part} has shape {y.shape}, expected ({x.shape[0]},) to match x_{part}')
        if y.size and y.max() >= N_CLASSES:
            raise DataError(f'{where}: y_{part} holds label {int(y.max())}; MNIST labels are 0..9')


def identify(arrays, hashes=None):
    """Name of the known file whose hashes (of each array, computed if not given) these arrays match, or None."""
    hashes = hashes or {k: sha256(arrays[k]) for k in ARRAY_NAMES}
    for name, known in KNOWN_SHA256.items():
        if hashes == known:
            return name
    return None


def download(url, dest, timeout):
    """Fetch url into dest through a temporary file, and keep it only if its arrays are a known MNIST."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=dest.parent, prefix='.' + dest.name, suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, f)
        try:
            arrays = read_arrays(part)
        except DataError as e:
            raise DataError(f'the file downloaded from {url} is not a readable MNIST ({str(e).split(": ", 1)[-1]}); '
                            f'it was not kept; {HOW_TO_SUPPLY}') from None
        if identify(arrays) is None:
            raise DataError(f'the file downloaded from {url} matches no known MNIST (hashes checked); it was not kept; '
                            f'{HOW_TO_SUPPLY}')
        os.replace(part, dest)
    except (OSError, ValueError) as e:  # no network, refused, timed out, HTTP errors, a bad URL
        reason = ' '.join(str(getattr(e, 'reason', e)).split()) or type(e).__name__
        raise DataError(f'MNIST not found and the download from {url} failed ({reason[:300]}); {HOW_TO_SUPPLY}') from None
    finally:
        Path(part).unlink(missing_ok=True)


def find_source(path=None):
    """Where to read MNIST from: explicit path, $MNIST_PATH, Keras' cache, else a download into that cache."""
    if path:
        return Path(path), '--data'
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), '$' + ENV_VAR
    if KERAS_CACHE.is_file():
        return KERAS_CACHE, 'Keras cache'
    download(os.environ.get(URL_VAR) or DOWNLOAD_URL, KERAS_CACHE, DOWNLOAD_TIMEOUT)
    return KERAS_CACHE, 'downloaded'


def balanced_subset(arrays, n, seed=0):
    """n images, 6/7 from train and 1/7 from test, spread evenly over the digits, drawn with `seed`."""
    total = len(arrays['y_train']) + len(arrays['y_test'])
    if n > total:
        raise DataError(f'--subset {n} is larger than the data ({total} images); use at most {total}')
    if n < MIN_SUBSET:
        raise DataError(f'--subset {n} is too small to hold every digit in both the training part (6/7) and the '
                        f'test part (1/7); use at least {MIN_SUBSET}')
    rng = np.random.RandomState(seed)
    n_test = n // 7
    out = {}
    for part, m in (('train', n - n_test), ('test', n_test)):
        y = arrays['y_' + part]
        per_class = [m // N_CLASSES + (c < m % N_CLASSES) for c in range(N_CLASSES)]
        picks = []
        for c, k in enumerate(per_class):
            pool = np.flatnonzero(y == c)
            if k > len(pool):
                raise DataError(f'--subset {n} needs {k} {part} images of digit {c} but the data has {len(pool)}; '
                                f'use a smaller --subset')
            picks.append(rng.choice(pool, k, replace=False))
        idx = np.sort(np.concatenate(picks))  # keep the file's relative order
        out['x_' + part], out['y_' + part] = arrays['x_' + part][idx], y[idx]
    return out


def arrange(arrays, order):
    """Rows of [0,1] floats: train part then test part, each stably sorted by label if order == 'label'."""
    if order not in ORDERS:
        raise DataError(f'order {order!r} is not one of {", ".join(ORDERS)}')
    parts = []
    for part in ('train', 'test'):
        x, y = arrays['x_' + part], arrays['y_' + part]
        idx = np.argsort(y, kind='stable') if order == 'label' else np.arange(len(y))
        parts.append((x[idx], y[idx]))
    n = sum(len(y) for _, y in parts)
    x = np.empty((n, 784), np.float32)
    np.divide(np.concatenate([p[0].reshape(-1, 784) for p in parts]), 255.0, out=x, dtype=np.float32)
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return x, y, len(parts[0][1])


def load_mnist(path=None, order='label', subset=None, seed=0, verify=True):
    """MNIST as the question's `mnist.data` (order='label') or in the file's order; see the module docstring."""
    source, how = find_source(path)
    arrays = read_arrays(source, how)
    hashes = {k: sha256(arrays[k]) for k in ARRAY_NAMES}
    content = identify(arrays, hashes) if verify else 'unverified'
    if content is None:
        raise DataError(f'{source}: the arrays are valid MNIST-shaped data but match no known file '
                        f'(checked: {", ".join(KNOWN_SHA256)}); if you mean to use a different file, pass --no-verify')
    if subset is not None:
        arrays = balanced_subset(arrays, subset, seed)
    x, y, n_train = arrange(arrays, order)
    digest = hashlib.sha256(' '.join(hashes[k] for k in ARRAY_NAMES).encode()).hexdigest()
    return MNIST(x=x, y=y, n_train=n_train, source=f'{shown(source)} ({how})', content=content, order=order,
                 path=str(Path(source).expanduser().resolve()), sha256=digest)


# ---------------------------------------------------------------- command-line pieces every program shares

class OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose errors are one line that points at --help (argparse prints its usage block)."""

    def error(self, message):
        self.exit(2, f'error: {message} (python {self.prog} --help lists every flag)\n')


def _number(kind, low, what):
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
        if not (value >= low if kind is int else value > low and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f'{text}: must be {what}')
        return value
    return convert


POSITIVE_INT = _number(int, 1, 'a whole number >= 1')
COUNT = _number(int, 0, 'a whole number >= 0')
POSITIVE = _number(float, 0, 'a finite number > 0')


def add_data_arguments(parser, subset=True):
    """The flags that say which MNIST to read and how to arrange it (with `subset`, how much of it)."""
    d = parser.add_argument_group('data')
    d.add_argument('--data', metavar='PATH', default=None,
                   help=f'Keras-layout mnist.npz or a folder of the four IDX files (default: ${ENV_VAR}, then '
                        f'~/.keras/datasets/mnist.npz, then a download from where Keras gets it, or ${URL_VAR})')
    d.add_argument('--no-verify', dest='verify', action='store_false',
                   help='accept arrays that match no known MNIST hash, for a deliberately different file '
                        '(default: refuse them)')
    d.add_argument('--order', choices=ORDERS, default='label',
                   help="'label': as fetch_mldata('MNIST original') gave it, train then test, each sorted by "
                        "label; 'original': the file's order (default: %(default)s)")
    if subset:
        d.add_argument('--subset', metavar='N', type=POSITIVE_INT, default=None,
                       help='train on a balanced, seeded subset of N images (6/7 train, 1/7 test) (default: all)')
    return d


def machine():
    """The CPU model and core count, so a quoted time says where it was measured."""
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f'{model}, {os.cpu_count()} cores'
