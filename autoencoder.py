"""The convolutional autoencoder from "my convolutional autoencoder does not learn", exactly as posted.

No flags = the question's code (TF 0.x graph style, via tf.compat.v1). Each run writes runs/<its flags>/ and
ends with the symptoms that explain a failure. Numbers are full MNIST, seed 0; times are in the README. The
experiment built on this program, every suspected cause over seeds, is ablation.py.

    python autoencoder.py --no-shuffle            # before the question's edit: loss 0.097, every output a "0"
    python autoencoder.py                         # as posted: loss 0.070 (mean image: 0.067), one output for all
    python autoencoder.py --kernels 5x5,3x3       # the accepted answer alone: 0.067, still one output
    python autoencoder.py --batching fixed        # the slicing bug fixed alone: learns, 0.013 after 501 epochs
    python autoencoder.py --activation relu       # ReLU instead of sigmoid alone: learns, 0.019
    python autoencoder.py --init xavier           # Xavier conv init alone: still stuck
    python autoencoder.py --tied                  # tied decoder weights alone: still stuck
    python autoencoder.py --lr 1e-3               # learning rate 1e-3 alone: 0.063, barely below the mean image
    python autoencoder.py --fix                   # fixed batching, ReLU, 5x5,3x3, lr 1e-3, 20 epochs: 0.007
    python autoencoder.py --epochs 0              # the pre-flight check: what is wrong before one step of training
    python autoencoder.py --redraw runs/question  # diagnostics and figures again, from the checkpoint
    python visualize.py runs/question runs/fix    # redraw figures; side-by-side sheet and key numbers
"""
import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import data
import diagnostics
from aehealth import rules, stats
from aehealth.monitor import quiet_stderr

M_C1, M_C2 = 16, 32  # conv channels, as posted
EVAL_CHUNK = 2000    # images per feed when evaluating; the question fed all 70000 at once
# The question's settings; every flag defaults to these.
QUESTION = dict(kernels=(2, 2), shuffle=True, batching='buggy', activation='sigmoid', init='truncated_normal',
                tied=False, lr=1e-4, epochs=501, batch_size=1000)
# What --fix sets (explicit flags still win); chosen from the ablation, see README.
FIX = dict(batching='fixed', kernels=(5, 3), activation='relu', lr=1e-3, epochs=20)


# ---------------------------------------------------------------- command line (no TensorFlow needed yet)

def parse_kernels(text):
    """'2x2' or '5x5,3x3' -> (k1, k2); one size means both convolutions."""
    sizes = []
    for part in text.split(','):
        h, sep, w = part.strip().lower().partition('x')
        if not (sep and h.isdigit() and w.isdigit()):
            raise argparse.ArgumentTypeError(f'{part!r} is not a kernel size like 5x5')
        if h != w:
            raise argparse.ArgumentTypeError(f'{part!r}: kernels must be square, like 5x5')
        sizes.append(int(h))
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2:
        raise argparse.ArgumentTypeError(f'{text!r}: give one size for both convolutions or two (conv1,conv2)')
    for k, size_in, layer in ((sizes[0], 28, 'conv1'), (sizes[1], 14, 'conv2')):
        if not 2 <= k <= size_in:
            why = ' (1x1 would skip 3 of every 4 pixels)' if k == 1 else ''
            raise argparse.ArgumentTypeError(
                f'{layer} kernel {k}x{k} cannot map {size_in}x{size_in} to {size_in // 2}x{size_in // 2} with stride 2: '
                f'use 2..{size_in}{why}')
    return tuple(sizes)


def kernels_text(kernels):
    """(5, 3) -> '5x5,3x3'; (2, 2) -> '2x2'."""
    k1, k2 = kernels
    return f'{k1}x{k1}' if k1 == k2 else f'{k1}x{k1},{k2}x{k2}'


def make_parser():
    """The command line; every default is the question's code."""
    fix = ', '.join(f'{k}={kernels_text(v) if k == "kernels" else v}' for k, v in FIX.items())
    p = data.OneLineErrors(
        prog='autoencoder.py',
        description='The convolutional autoencoder of "my convolutional autoencoder does not learn", exactly as\n'
                    'posted unless a flag says otherwise. With no flags it reproduces the failure: the loss stays\n'
                    'near the mean image\'s (0.07 on MNIST), one output for every input, and the run lists the\n'
                    'symptoms that explain it, each with the flag that removes it.',
        epilog='examples (full MNIST):\n' + '\n'.join(
            line for line in __doc__.splitlines() if line.startswith('    python')),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_data_arguments(p)
    f = p.add_argument_group('suspected causes (each default is the posted code)')
    f.add_argument('--kernels', type=parse_kernels, default=None,
                   help='conv kernel sizes, conv1,conv2 (one value = both), e.g. 5x5,3x3, the accepted answer\'s '
                        'fix. 2x2 keeps the posted VALID padding; other sizes use SAME so shapes stay '
                        '28->14->7; the decoder mirrors the encoder (default: 2x2)')
    f.add_argument('--shuffle', action=argparse.BooleanOptionalAction, default=None,
                   help='permute the data every epoch; --no-shuffle is the question before its edit, which '
                        'trained on label-sorted data (default: --shuffle, as posted)')
    f.add_argument('--batching', choices=('buggy', 'fixed'), default=None,
                   help='buggy: the posted slice data[j*bs:(j+1)*bs] with j stepping by bs, so only the first '
                        'batch holds images and the other 69 are empty (Adam still steps on its momentum); '
                        'fixed: data[j:j+bs] (default: buggy)')
    f.add_argument('--activation', choices=('sigmoid', 'relu'), default=None,
                   help='nonlinearity of every hidden layer, the code layer (encode) included unless '
                        '--code-activation says otherwise; the output stays sigmoid because pixels are in [0,1] '
                        '(default: sigmoid, as posted)')
    f.add_argument('--code-activation', choices=('sigmoid', 'relu'), default=None,
                   help='nonlinearity of the code layer (encode) alone: --activation relu --code-activation '
                        'sigmoid keeps the sigmoid bottleneck most autoencoders keep, to tell the stack of '
                        'sigmoids from the bottleneck (default: the same as --activation)')
    f.add_argument('--init', choices=('truncated_normal', 'xavier'), default=None,
                   help='encoder conv weights: truncated_normal_initializer() has stddev 1.0 as posted; xavier '
                        'is what every other layer uses (default: truncated_normal)')
    f.add_argument('--tied', action=argparse.BooleanOptionalAction, default=None,
                   help='decoder fc layers use the transposed encoder fc weights (the question\'s '
                        'commented-out wdf1/wdf2 lines) (default: --no-tied)')
    f.add_argument('--fix', action='store_true', help=f'turn on the fixes the ablation shows are needed: {fix}')
    t = p.add_argument_group('training')
    t.add_argument('--epochs', type=data.COUNT, default=None,
                   help=f'epochs; 0 checks the untrained network (the pre-flight check) (default: 501; '
                        f'--fix: {FIX["epochs"]})')
    t.add_argument('--batch-size', type=data.POSITIVE_INT, default=None, help='batch size (default: 1000)')
    t.add_argument('--lr', type=data.POSITIVE, default=None,
                   help=f'Adam learning rate (default: 1e-4; --fix: {FIX["lr"]:g})')
    t.add_argument('--n-h1', type=data.POSITIVE_INT, default=128,
                   help='units in fc1; the question never says (default: %(default)s)')
    t.add_argument('--n-h2', type=data.POSITIVE_INT, default=64,
                   help='units in the code layer fc2; the question never says (default: %(default)s)')
    t.add_argument('--seed', type=int, default=0, help='seed for numpy, TF and --subset (default: %(default)s)')
    t.add_argument('--threads', type=data.POSITIVE_INT, default=None,
                   help='CPU threads of TensorFlow\'s ops; a run\'s last digits depend on it, so it is recorded in '
                        'config.json (default: every core)')
    t.add_argument('--eval-every', type=data.POSITIVE_INT, default=100,
                   help='print the question\'s "Iteration: i Loss: l" line every this many epochs '
                        '(default: %(default)s)')
    t.add_argument('--eval-chunk', metavar='N', type=data.COUNT, default=EVAL_CHUNK,
                   help='evaluate the loss over all data N images per feed, which gives the same mean with far less '
                        'memory; 0 feeds everything at once, as the question did (default: %(default)s)')
    o = p.add_argument_group('output')
    o.add_argument('--out', default='runs',
                   help='each run writes a new folder here, named after its flags (default: %(default)s)')
    o.add_argument('--name', default=None,
                   help='the run folder\'s name (default: made from the flags, e.g. kernels-5x5,3x3)')
    o.add_argument('--no-figures', dest='figures', action='store_false',
                   help='skip drawing the PNGs at the end (default: draw them)')
    o.add_argument('--redraw', metavar='RUN_DIR', default=None,
                   help='recompute the diagnostics and figures of a run (finished or interrupted) from its '
                        'checkpoint, no training; its data: --data, else where the run found it, else $MNIST_PATH')
    return p


SETTINGS = (*QUESTION, 'code_activation')  # the settings --fix and the suspected-cause flags choose between


def preset_for(fix):
    """The values a run starts from: the question's, or with --fix its preset on top."""
    return dict(QUESTION, **FIX) if fix else QUESTION


def resolve(args):
    """The run's full configuration: explicit flags, else --fix's preset, else the question's values."""
    preset = preset_for(args.fix)
    cfg = {k: preset[k] if getattr(args, k) is None else getattr(args, k) for k in QUESTION}
    cfg['code_activation'] = args.code_activation or cfg['activation']
    cfg.update(n_h1=args.n_h1, n_h2=args.n_h2, seed=args.seed, order=args.order, subset=args.subset,
               data=args.data, verify=args.verify, eval_every=args.eval_every, eval_chunk=args.eval_chunk,
               threads=args.threads or os.cpu_count() or 1, out=args.out, figures=args.figures, fix=args.fix)
    cfg['name'], cfg['flags'] = args.name or run_name(cfg), flags_text(cfg)
    return cfg


def changed_settings(cfg):
    """[(flag, value or None)] for --fix and every setting that differs from its preset or the question."""
    preset = preset_for(cfg['fix'])
    base = {k: preset[k] for k in ('kernels', 'shuffle', 'batching', 'activation')}
    base.update(code_activation=cfg['activation'], **{k: preset[k] for k in ('init', 'tied', 'lr', 'epochs',
                                                                           'batch_size')})
    base.update(n_h1=128, n_h2=64, order='label', subset=None, seed=0)
    out = [('fix', None)] if cfg['fix'] else []
    for k, default in base.items():
        v, flag = cfg.get(k, default), k.replace('_', '-')
        if v == default:
            continue
        if isinstance(v, bool):
            out.append((flag if v else 'no-' + flag, None))
        else:
            out.append((flag, kernels_text(v) if k == 'kernels' else f'{v:g}' if isinstance(v, float) else str(v)))
    return out


def run_name(cfg):
    """'question', 'fix', or the changed settings, e.g. 'kernels-5x5,3x3_batching-fixed'."""
    return '_'.join(f if v is None else f'{f}-{v}' for f, v in changed_settings(cfg)) or 'question'


def flags_text(cfg):
    """The flags that make this configuration, e.g. '--kernels 5x5,3x3 --batching fixed'."""
    return ' '.join(f'--{f}' if v is None else f'--{f} {v}' for f, v in changed_settings(cfg)) or 'no flags (as posted)'


class UsageError(Exception):
    """A problem with the command line or the environment, described in one line."""


def refuse_ignored(parser, args):
    """Flags that --redraw would ignore are an error, not silently dropped."""
    if args.redraw:
        given = [a for a in parser._actions if a.dest not in ('help', 'redraw', 'data')
                 and getattr(args, a.dest) != a.default]
        extra = [a.option_strings[-1] if a.dest != 'verify' else '--no-verify' for a in given]
        if extra:
            raise UsageError(f'--redraw recomputes a finished run with its own settings; drop {", ".join(extra)} '
                             f'(only --data may say where its data is now)')


def refuse_ablate(argv):
    """The ablation's flag of old: name the program that runs it now (the exit status, or None)."""
    if '--ablate' in argv:
        print('error: the ablation is its own program now: python ablation.py --seeds 3 '
              '(python ablation.py --help lists its flags)', file=sys.stderr)
        return 2
    return None


if __name__ == '__main__':  # a mistyped flag is answered now, before the seconds TensorFlow takes to load
    if refuse_ablate(sys.argv[1:]):
        sys.exit(2)
    make_parser().parse_args()


# ---------------------------------------------------------------- the question's graph

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
_t = time.perf_counter()
with quiet_stderr():
    import tensorflow as tf
IMPORT_SECONDS = time.perf_counter() - _t  # reported in each run's timing
import visualize  # noqa: E402  (matplotlib, also after the flags are checked)

tf1 = tf.compat.v1  # graph mode, placeholders and Sessions, as in TF 0.x: every op is made inside a run's own tf.Graph


def padding(k):
    """VALID for the posted 2x2 kernels; SAME otherwise, so shapes stay 28 -> 14 -> 7."""
    return 'VALID' if k == 2 else 'SAME'


def build_graph(cfg):
    """The question's graph (with the fixes cfg switches on), as a dict of named tensors and ops."""
    k1, k2 = cfg['kernels']
    n_h1, n_h2 = cfg['n_h1'], cfg['n_h2']
    act = tf.nn.sigmoid if cfg['activation'] == 'sigmoid' else tf.nn.relu
    xavier = tf1.glorot_uniform_initializer()  # what the question's xavier_initializer() was
    conv_init = tf1.truncated_normal_initializer() if cfg['init'] == 'truncated_normal' else xavier  # stddev 1.0 as posted
    zero = tf1.constant_initializer(0)

    x = tf1.placeholder('float', shape=(None, 784), name='x')
    batch_size = tf.shape(x)[0]  # conv2d_transpose cannot take -1 as a size

    with tf1.variable_scope('encoding'):
        with tf1.variable_scope('conv1'):
            wec1 = tf1.get_variable('w', shape=(k1, k1, 1, M_C1), initializer=conv_init)
            bec1 = tf1.get_variable('b', shape=(M_C1,), initializer=zero)
        with tf1.variable_scope('conv2'):
            wec2 = tf1.get_variable('w', shape=(k2, k2, M_C1, M_C2), initializer=conv_init)
            bec2 = tf1.get_variable('b', shape=(M_C2,), initializer=zero)
        with tf1.variable_scope('fc1'):
            wef1 = tf1.get_variable('w', shape=(7 * 7 * M_C2, n_h1), initializer=xavier)
            bef1 = tf1.get_variable('b', shape=(n_h1,), initializer=zero)
        with tf1.variable_scope('fc2'):
            wef2 = tf1.get_variable('w', shape=(n_h1, n_h2), initializer=xavier)
            bef2 = tf1.get_variable('b', shape=(n_h2,), initializer=zero)

    reshaped_x = tf.reshape(x, (-1, 28, 28, 1))
    y1 = tf.nn.conv2d(reshaped_x, wec1, strides=(1, 2, 2, 1), padding=padding(k1))
    y2 = act(y1 + bec1)
    y3 = tf.nn.conv2d(y2, wec2, strides=(1, 2, 2, 1), padding=padding(k2))
    y4 = act(y3 + bec2)
    y5 = tf.reshape(y4, (-1, 7 * 7 * M_C2))
    y6 = act(tf.matmul(y5, wef1) + bef1)
    code_act = act
    if cfg['code_activation'] != cfg['activation']:  # --code-activation: the bottleneck alone keeps its own
        code_act = tf.nn.sigmoid if cfg['code_activation'] == 'sigmoid' else tf.nn.relu
    encode = code_act(tf.matmul(y6, wef2) + bef2)

    with tf1.variable_scope('decoding'):
        with tf1.variable_scope('fc1'):
            if cfg['tied']:
                wdf1 = tf.transpose(wef2)
            else:
                wdf1 = tf1.get_variable('w', shape=(n_h2, n_h1), initializer=xavier)
            bdf1 = tf1.get_variable('b', shape=(n_h1,), initializer=zero)
        with tf1.variable_scope('fc2'):
            if cfg['tied']:
                wdf2 = tf.transpose(wef1)
            else:
                wdf2 = tf1.get_variable('w', shape=(n_h1, 7 * 7 * M_C2), initializer=xavier)
            bdf2 = tf1.get_variable('b', shape=(7 * 7 * M_C2,), initializer=zero)
        with tf1.variable_scope('deconv1'):
            wdd1 = tf1.get_variable('w', shape=(k2, k2, M_C1, M_C2), initializer=xavier)
            bdd1 = tf1.get_variable('b', shape=(M_C1,), initializer=zero)
        with tf1.variable_scope('deconv2'):
            wdd2 = tf1.get_variable('w', shape=(k1, k1, 1, M_C1), initializer=xavier)
            bdd2 = tf1.get_variable('b', shape=(1,), initializer=zero)

    u1 = act(tf.matmul(encode, wdf1) + bdf1)
    u2 = act(tf.matmul(u1, wdf2) + bdf2)
    u3 = tf.reshape(u2, (-1, 7, 7, M_C2))
    u4 = tf.nn.conv2d_transpose(u3, wdd1, output_shape=(batch_size, 14, 14, M_C1), strides=(1, 2, 2, 1),
                                padding=padding(k2))
    u5 = act(u4 + bdd1)
    u6 = tf.nn.conv2d_transpose(u5, wdd2, output_shape=(batch_size, 28, 28, 1), strides=(1, 2, 2, 1),
                                padding=padding(k1))
    u7 = tf.nn.sigmoid(u6 + bdd2)  # pixels live in [0,1], so the output stays sigmoid under every flag
    decode = tf.reshape(u7, (-1, 784))

    loss = tf.reduce_mean(tf.square(x - decode))
    sq_err = tf.reduce_sum(tf.square(x - decode), axis=1)  # per image, for chunked evaluation
    optimizer = tf1.train.AdamOptimizer(cfg['lr'])
    grads_and_vars = optimizer.compute_gradients(loss)
    opt = optimizer.apply_gradients(grads_and_vars)
    # TF 0.x ran `opt` on an empty batch: every gradient was zero, yet Adam still stepped on its momentum.
    # TF 2.x refuses an empty batch, so this op performs that same update directly.
    empty_step = optimizer.apply_gradients([(tf.zeros_like(v), v) for g, v in grads_and_vars if g is not None])
    # For the health monitor: every weight matrix and its gradient, by variable name (no new ops: the same gradients).
    weights = {v.op.name: v for g, v in grads_and_vars if v.op.name.endswith('/w')}
    grads = {v.op.name: g for g, v in grads_and_vars if v.op.name.endswith('/w')}
    names = ('x', 'wec1', 'bec1', 'wec2', 'bec2', 'wef1', 'bef1', 'wef2', 'bef2', 'y1', 'y2', 'y3', 'y4', 'y5', 'y6',
             'encode', 'wdf1', 'bdf1', 'wdf2', 'bdf2', 'wdd1', 'bdd1', 'wdd2', 'bdd2',
             'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'decode', 'loss', 'sq_err', 'opt', 'empty_step',
             'weights', 'grads')
    local = locals()
    return {name: local[name] for name in names}


def batch_bounds(n, bs, batching):
    """(lo, hi) of every batch the question's loop slices from n rows, empty ones included."""
    for j in range(0, n, bs):
        if batching == 'buggy':
            yield j * bs, (j + 1) * bs  # the posted slice: j already counts rows, so only j=0 is non-empty
        else:
            yield j, j + bs


def evaluate(sess, g, x, fetches=('sq_err',), chunk=EVAL_CHUNK):
    """Run `fetches` over x in chunks of `chunk` rows (0: all at once); return one array per fetch."""
    out = {name: [] for name in fetches}
    chunk = chunk or len(x)
    for i in range(0, len(x), chunk):
        values = sess.run([g[name] for name in fetches], {g['x']: x[i:i + chunk]})
        for name, v in zip(fetches, values):
            out[name].append(v)
    return {name: np.concatenate(v) for name, v in out.items()}


def mean_loss(sess, g, x, chunk=EVAL_CHUNK):
    """The question's loss over all of x (the mean squared error per pixel), fed in chunks."""
    return float(evaluate(sess, g, x, chunk=chunk)['sq_err'].astype(np.float64).sum() / x.size)


# ---------------------------------------------------------------- one run: folder, training loop, results

class Diverged(Exception):
    """The loss stopped being a finite number."""


def write_atomic(path, write):
    """Write a file through a temporary name, so a crash never leaves it half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.' + path.name, suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; results are meant to be shared
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj):
    """Atomically write obj as indented JSON."""
    write_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode() + b'\n'))


def new_run_dir(out, name):
    """A fresh folder out/name, or out/name-2, -3, ... so an earlier run is never overwritten."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10000):
        path = out / (name if k == 1 else f'{name}-{k}')
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f'{out}: too many runs named {name}')


def seed_everything(seed):
    """The one place randomness is seeded: Python, numpy's global RNG, the current TF graph, TF's kernels."""
    random.seed(seed)
    np.random.seed(seed)
    tf1.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_session(threads):
    """A CPU session whose ops use `threads` threads each (the last digits of a run depend on the count)."""
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    with quiet_stderr():
        return tf1.Session(config=config)


def sample_indices(y, start, per_digit):
    """The first `per_digit` rows of each digit at or after row `start`, grouped by digit."""
    rows = np.arange(start, len(y))
    return np.concatenate([rows[y[start:] == d][:per_digit] for d in range(data.N_CLASSES)])


def add_summaries(g):
    """TensorBoard summaries: inputs and reconstructions as images, activation histograms per layer."""
    ops = [tf1.summary.image('input', tf.reshape(g['x'], (-1, 28, 28, 1)), max_outputs=10),
           tf1.summary.image('reconstruction', g['u7'], max_outputs=10)]
    ops += [tf1.summary.histogram('activation/' + name, g[name]) for name in LAYERS]
    return tf1.summary.merge(ops)


def scalar_summary(tag, value):
    """A scalar event built in Python, so logging it adds no op to the training step."""
    return tf1.Summary(value=[tf1.Summary.Value(tag=tag, simple_value=value)])


def health_summary(snap):
    """TensorBoard scalars of one health snapshot (aehealth.stats.health_scalars names them)."""
    return tf1.Summary(value=[tf1.Summary.Value(tag=tag, simple_value=v)
                              for tag, v in stats.health_scalars(snap).items()])


# The hidden layers and output whose activations the health monitor measures, with the names findings use.
LAYERS = {'y2': 'conv1', 'y4': 'conv2', 'y6': 'fc1', 'encode': 'code', 'u1': 'decoder fc1', 'u2': 'decoder fc2',
          'u5': 'deconv1', 'u7': 'output'}
HEALTH_SAMPLE = 2000  # images the health numbers are measured on, drawn once per run
EPOCH_SAMPLE = 200    # the first of them, whose loss is measured after every epoch (when a run leaves the plateau)


def network(cfg):
    """The network as the health rules see it: each measured layer's label, activation and width; the kernels."""
    acts = {k: cfg['activation'] for k in LAYERS}
    acts.update(encode=cfg['code_activation'], u7='sigmoid')
    widths = {'y2': 14 * 14 * M_C1, 'y4': 7 * 7 * M_C2, 'y6': cfg['n_h1'], 'encode': cfg['n_h2'], 'u1': cfg['n_h1'],
              'u2': 7 * 7 * M_C2, 'u5': 14 * 14 * M_C1, 'u7': 784}
    kernels = [f'encoding/{k}/w' for k in ('conv1', 'conv2', 'fc1', 'fc2')]
    kernels += [] if cfg['tied'] else ['decoding/fc1/w', 'decoding/fc2/w']
    kernels += ['decoding/deconv1/w', 'decoding/deconv2/w']
    # No code layer for the collapsed-code rule: a run judges its code on every image instead (collapse_verdict).
    return rules.network(
        [dict(key=k, label=f'{name} ({k})', activation=acts[k], units=widths[k]) for k, name in LAYERS.items()],
        output='u7', loss='mse',
        kernels={k: k.split('/')[1] if k.startswith('encoding') or 'deconv' in k else 'decoder ' + k.split('/')[1]
                 for k in kernels})


def health_rows(n, seed):
    """Rows of the run's fixed health sample (its own generator, so the question's permutations stay the same)."""
    return np.random.default_rng(seed).permutation(n)[:HEALTH_SAMPLE]


def health_check(sess, g, net, sample, epoch, last_weights):
    """The health numbers on the fixed sample now; `last_weights` (those of the previous check) is updated."""
    layers, grads, weights, out = sess.run(({k: g[k] for k in LAYERS}, g['grads'], g['weights'], g['decode']),
                                           {g['x']: sample})
    snap = stats.health_snapshot(epoch, net, layers, grads, weights, last_weights, sample, out)
    last_weights.update(weights)
    return snap


def iteration_line(i, loss):
    """The question's progress line."""
    return f'Iteration: {i} Loss: {str(np.float32(loss))}'  # str(), as print() showed it; format() gives float64 digits


def train(cfg, mnist, g, sess, writer, summary_op, state, record, last_weights, pressed):
    """The question's training loop; fills `state` and `record` (losses per batch and epoch) as it goes."""
    x, y, n = mnist.x, mnist.y, len(mnist.x)
    rng = np.random.RandomState(cfg['seed'])  # the question's np.random.permutation, seeded
    bounds = list(batch_bounds(n, cfg['batch_size'], cfg['batching']))
    sample = x[health_rows(n, cfg['seed'])]
    net = network(cfg)
    batch_losses, epoch_losses = record['batch_loss'], record['epoch_loss']
    digits = x[sample_indices(y, 0, 1)]  # one of each digit, for TensorBoard's images
    labels = np.zeros(data.N_CLASSES, np.int64)  # digits of the images trained on, so far
    timing = state['timing']
    variables = tf1.global_variables()
    snapshot = sess.run(variables)  # the weights and Adam state at the end of the last completed epoch
    counted = dict(real_steps=0, empty_steps=0, labels=labels.copy(), batches=0)  # and the counts that go with them
    t0 = last_log = time.time()
    epochs = cfg['epochs']

    def log(epoch, frac, loss_text):
        elapsed = time.time() - t0
        eta = elapsed / frac * (1 - frac) if frac > 0 else float('nan')
        print(f'epoch {epoch:>4}/{epochs} {100 * frac:5.1f}% | {loss_text} | steps {state["real_steps"]} real '
              f'+ {state["empty_steps"]} empty | {visualize.fmt_time(elapsed)} elapsed, '
              f'ETA {visualize.fmt_time(eta) if frac > 0 else "?"}', flush=True)

    def sample_loss():
        t = time.perf_counter()
        epoch_losses.append(float(sess.run(g['loss'], {g['x']: sample[:EPOCH_SAMPLE]})))
        timing['health'] += time.perf_counter() - t

    try:
        sample_loss()
        for i in range(epochs):
            order = rng.permutation(n) if cfg['shuffle'] else None  # same draws as permuting the rows
            if i % cfg['eval_every'] == 0:
                t = time.perf_counter()
                loss = mean_loss(sess, g, x, cfg['eval_chunk'])
                print(iteration_line(i, loss), flush=True)
                state['loss_history'].append([i, loss])
                writer.add_summary(scalar_summary('loss/all_data', loss), i)
                writer.add_summary(sess.run(summary_op, {g['x']: digits}), i)
                timing['evaluations'] += time.perf_counter() - t
                if not math.isfinite(loss):
                    raise Diverged(f'the loss over all data is {loss} at epoch {i}')
                t = time.perf_counter()
                state['health'].append(health_check(sess, g, net, sample, i, last_weights))
                writer.add_summary(health_summary(state['health'][-1]), i)
                timing['health'] += time.perf_counter() - t
                log(i, i / epochs, f'loss {loss:.5f}')
                last_log = time.time()
            for step, (lo, hi) in enumerate(bounds):
                rows = order[lo:hi] if order is not None else np.arange(lo, min(hi, n))
                if len(rows):
                    t = time.perf_counter()
                    _, batch_loss = sess.run([g['opt'], g['loss']], {g['x']: x[rows]})
                    timing['real_steps'] += time.perf_counter() - t
                    state['real_steps'] += 1
                    labels += np.bincount(y[rows], minlength=data.N_CLASSES)
                    batch_losses.append((i + (step + 1) / len(bounds), batch_loss))
                    writer.add_summary(scalar_summary('loss/batch', batch_loss), state['real_steps'])
                    if not np.isfinite(batch_loss):
                        raise Diverged(f'the batch loss is {batch_loss} at epoch {i}, step {step}')
                else:
                    t = time.perf_counter()
                    sess.run(g['empty_step'])
                    timing['empty_steps'] += time.perf_counter() - t
                    state['empty_steps'] += 1
                if pressed():
                    raise KeyboardInterrupt
                if time.time() - last_log > 15:
                    log(i, (i + (step + 1) / len(bounds)) / epochs, f'batch loss {batch_loss:.5f}'
                        if state['real_steps'] else 'no real step yet')
                    last_log = time.time()
            sample_loss()
            snapshot = sess.run(variables)
            counted = dict(real_steps=state['real_steps'], empty_steps=state['empty_steps'], labels=labels.copy(),
                           batches=len(batch_losses))
            state['epochs_done'] = i + 1
    except (KeyboardInterrupt, Diverged):
        # back to the end of the last completed epoch: weights, Adam state and every count that goes with them
        sess.run([v.assign(value) for v, value in zip(variables, snapshot)])
        state['real_steps'], state['empty_steps'] = counted['real_steps'], counted['empty_steps']
        labels[:] = counted['labels']
        del batch_losses[counted['batches']:]
        del epoch_losses[state['epochs_done'] + 1:]
        raise
    finally:
        state['seconds'] = time.time() - t0
        n_real = [max(0, min(hi, n) - lo) for lo, hi in bounds]
        state['feeding'] = diagnostics.feeding(n_real, state['epochs_done'], labels)


def figure_arrays(sess, g, mnist, codes, record):
    """Everything visualize.py draws, computed once from the trained weights (`codes`: of every row)."""
    start = mnist.n_train if mnist.n_train < len(mnist.y) else 0  # draw held-out digits where there are any
    first = sample_indices(mnist.y, start, 1)
    seen = set(first)
    recon = np.array([*first, *(i for i in sample_indices(mnist.y, start, 2) if i not in seen)], dtype=int)
    rows = sample_indices(mnist.y, start, 20)
    sevens = first[mnist.y[first] == 7]
    one = sevens if len(sevens) else first[:1]  # one input walked through every layer, a "7" if there is one
    path = sess.run({k: g[k] for k in ('y2', 'y4', 'y6', 'encode', 'u1', 'u3', 'u5', 'u7')}, {g['x']: mnist.x[one]})
    grid = evaluate(sess, g, mnist.x[rows], ('y6',))
    arrays = dict(recon_x=mnist.x[recon], recon_out=evaluate(sess, g, mnist.x[recon], ('decode',))['decode'],
                  recon_y=mnist.y[recon], path_x=mnist.x[one][0].reshape(28, 28), path_y=mnist.y[one][0],
                  rows_fc1=grid['y6'], rows_code=codes[rows], rows_y=mnist.y[rows],
                  codes=codes[start:], codes_y=mnist.y[start:], conv1_filters=sess.run(g['wec1']))
    arrays.update({'path_' + k: v[0] for k, v in path.items()})
    arrays.update(record_arrays(record))
    return arrays


def record_arrays(record):
    """The losses recorded while training, as arrays: (epochs done, loss) per real step, and loss per epoch."""
    return dict(batch_loss=np.asarray(record['batch_loss'], np.float32).reshape(-1, 2),
                epoch_loss=np.asarray(record['epoch_loss'], np.float32))


def finish(cfg, mnist, g, sess, run_dir, metrics, record, last_weights):
    """Final loss, diagnostics, health and findings (added to `metrics`) and arrays.npz, from the current weights."""
    timing = metrics.setdefault('timing', {})
    t = time.perf_counter()
    got = evaluate(sess, g, mnist.x, ('sq_err', 'encode'), cfg['eval_chunk'])
    sq_err, codes = got['sq_err'].astype(np.float64), got['encode']
    sample = mnist.x[health_rows(len(mnist.x), cfg['seed'])]
    net = network(cfg)
    snap = health_check(sess, g, net, sample, metrics['epochs_done'], last_weights)
    health = metrics.setdefault('health', [])
    if health and health[-1]['epoch'] == snap['epoch']:  # redrawn: the update since the check before is not known here
        snap['update'] = {k: v if v is not None else health[-1]['update'].get(k) for k, v in snap['update'].items()}
        health[-1] = snap
    else:
        health.append(snap)
    collapsed, verdict = diagnostics.collapse_verdict(codes)
    epoch_base = diagnostics.mean_image_loss(sample[:EPOCH_SAMPLE], mnist.x.mean(0, dtype=np.float64))
    metrics.update(network=net, data=stats.data_stats(sample, sample, 'sigmoid'),
                   final_loss=float(sq_err.sum() / mnist.x.size), baselines=diagnostics.baselines(mnist.x),
                   code_spread=diagnostics.code_spread(codes), collapsed=collapsed, verdict=verdict,
                   per_digit_mse=diagnostics.per_digit_mse(sq_err, mnist.y), epoch_sample_baseline=epoch_base,
                   plateau_exit_epoch=rules.plateau_exit(record['epoch_loss'], epoch_base)
                   if record['epoch_loss'] else None)
    if not metrics['loss_history'] or metrics['loss_history'][-1][0] != metrics['epochs_done']:
        metrics['loss_history'].append([metrics['epochs_done'], metrics['final_loss']])
    timing['final_evaluation'] = time.perf_counter() - t
    t = time.perf_counter()
    metrics['probe_accuracy'] = diagnostics.probe_accuracy(codes, mnist.y, mnist.n_train)
    timing['probes'] = timing.get('probe_at_init', 0.0) + time.perf_counter() - t
    metrics['findings'] = diagnostics.findings(metrics)
    arrays = figure_arrays(sess, g, mnist, codes, record)
    write_atomic(run_dir / 'arrays.npz', lambda f: np.savez_compressed(f, **arrays))
    return metrics


def summary_lines(m):
    """The short report printed at the end of a run."""
    b = m['baselines']
    probe, init = (('n/a' if p is None else f'{p:.3f}') for p in (m['probe_accuracy'], m.get('probe_accuracy_at_init')))
    worst = max((v, d) for d, v in enumerate(m['per_digit_mse']) if v is not None)
    best = min((v, d) for d, v in enumerate(m['per_digit_mse']) if v is not None)
    untrained = ['the untrained network (--epochs 0): the pre-flight check'] if m['epochs_done'] == 0 else []
    return untrained + [
        f'final loss {m["final_loss"]:.5f} | baselines: mean image {b["mean_image"]:.5f}, all black {b["all_black"]:.5f}',
        f'code spread {m["code_spread"]:.4g}: {m["verdict"]}',
        f'linear probe accuracy on the codes {probe} (at initialisation {init}; chance about 0.10)',
        f'per-digit MSE: best {best[1]} ({best[0]:.4f}), worst {worst[1]} ({worst[0]:.4f})',
        *rules.finding_lines(m['findings'], before_training=m['epochs_done'] == 0)]


@contextlib.contextmanager
def ctrl_c_at_safe_points():
    """Record Ctrl-C instead of raising it where it lands; yields pressed(), which the code asks where stopping is safe.

    A KeyboardInterrupt raised while TensorFlow's C++ runs can be swallowed (a SystemError is printed and the
    run goes on), so it is only ever raised between steps, and the results are on disk before it takes effect.
    """
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def build_session(cfg):
    """Seeded graph, its named tensors, summaries, saver and an initialised session."""
    graph = tf.Graph()
    with graph.as_default():
        seed_everything(cfg['seed'])
        g = build_graph(cfg)
        summary_op = add_summaries(g)
        saver = tf1.train.Saver(max_to_keep=1)
        sess = make_session(cfg['threads'])
        sess.run(tf1.global_variables_initializer())
    return graph, g, summary_op, saver, sess


def config_record(cfg, mnist):
    """config.json: every setting, the data it ran on (where, and its hash), versions, machine and command."""
    record = dict(cfg, kernels=kernels_text(cfg['kernels']))
    record.update(data_source=mnist.source, data_path=mnist.path, data_sha256=mnist.sha256, data_content=mnist.content,
                  n_images=len(mnist.y), n_train=mnist.n_train, tensorflow=tf.__version__, numpy=np.__version__,
                  python=sys.version.split()[0], machine=data.machine(), cwd=os.getcwd(),
                  command=' '.join(['python', 'autoencoder.py'] + sys.argv[1:]),
                  started=time.strftime('%Y-%m-%d %H:%M:%S'))
    return record


def run(cfg, mnist):
    """Train one configuration into its own run folder; return (exit status, folder, metrics)."""
    with ctrl_c_at_safe_points() as pressed:
        try:
            run_dir = new_run_dir(cfg['out'], cfg['name'])
        except OSError as e:
            raise UsageError(f'--out {cfg["out"]}: cannot create a run folder there ({e.strerror}); '
                             f'pass a writable folder') from None
        return train_run(cfg, mnist, run_dir, pressed)


def train_run(cfg, mnist, run_dir, pressed):
    """run()'s work in its fresh folder; Ctrl-C (pressed()) is honoured between steps, with nothing half-written."""
    print(f'run folder: {run_dir}  ({len(mnist.y)} images from {mnist.source})', flush=True)
    record = dict(batch_loss=[], epoch_loss=[])  # (epochs done, loss) of every real step; sample loss per epoch
    last_weights = {}  # the weight matrices at the last health check, for the update size since then
    timing = dict(tensorflow_import=IMPORT_SECONDS, probe_at_init=0.0, real_steps=0.0, empty_steps=0.0,
                  evaluations=0.0, health=0.0)
    state = dict(run=cfg['name'], flags=cfg['flags'], loss_history=[], real_steps=0, empty_steps=0, epochs_done=0,
                 seconds=0.0, interrupted=False, diverged=None, health=[], timing=timing)
    status = 0
    t0 = time.time()
    write_json(run_dir / 'config.json', config_record(cfg, mnist))
    graph, g, summary_op, saver, sess = build_session(cfg)
    with graph.as_default():
        # A random encoder already gives a linearly decodable code; training must beat this to have learned.
        t = time.perf_counter()
        codes = evaluate(sess, g, mnist.x, ('encode',), cfg['eval_chunk'])['encode']
        state['probe_accuracy_at_init'] = diagnostics.probe_accuracy(codes, mnist.y, mnist.n_train)
        timing['probe_at_init'] = time.perf_counter() - t
    if pressed():
        sess.close()
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing trained yet, so nothing worth keeping
        raise KeyboardInterrupt(f'before training started; removed {run_dir}')
    with graph.as_default(), sess:
        writer = tf1.summary.FileWriter(str(run_dir / 'tensorboard'), graph)
        print('Starting training...', flush=True)
        try:
            train(cfg, mnist, g, sess, writer, summary_op, state, record, last_weights, pressed)
            print('Training done', flush=True)
        except KeyboardInterrupt:
            state['interrupted'], status = True, 130
        except Diverged as e:
            state['diverged'], status = str(e), 3
        saver.save(sess, str(run_dir / 'checkpoint' / 'model'), write_meta_graph=False)
        if status:
            write_atomic(run_dir / 'arrays.npz', lambda f: np.savez_compressed(f, **record_arrays(record)))
            write_json(run_dir / 'metrics.json', state)
            writer.close()
            what = (f'interrupted during epoch {state["epochs_done"]} of {cfg["epochs"]}' if status == 130 else
                    f'stopped: {state["diverged"]}; the learning rate (--lr {cfg["lr"]:g}) is probably too high '
                    f'(the question used 1e-4, --fix uses {FIX["lr"]:g})')
            print(f'{what}. Saved metrics.json and the checkpoint after {state["epochs_done"]} completed epochs '
                  f'in {run_dir}; draw it with: python autoencoder.py --redraw {run_dir.resolve()}', file=sys.stderr)
            return status, run_dir, state
        metrics = finish(cfg, mnist, g, sess, run_dir, state, record, last_weights)
        writer.add_summary(scalar_summary('loss/all_data', metrics['final_loss']), state['epochs_done'])
        writer.add_summary(health_summary(metrics['health'][-1]), state['epochs_done'])
        writer.close()
        metrics['total_seconds'] = time.time() - t0
        write_json(run_dir / 'metrics.json', metrics)
    for line in summary_lines(metrics):
        print(line)
    if cfg['figures'] and not pressed():
        t = time.perf_counter()
        draw(run_dir)
        timing['figures'] = time.perf_counter() - t
        write_json(run_dir / 'metrics.json', metrics)
    if pressed():  # after training: everything is saved, so stop here
        print(f'interrupted; the results are saved in {run_dir}', file=sys.stderr)
        return 130, run_dir, metrics
    print(f'done in {visualize.fmt_time(time.time() - t0)} (training {visualize.fmt_time(metrics["seconds"])}); '
          f'results in {run_dir}')
    return 0, run_dir, metrics


def draw(run_dir):
    """Draw every figure of a run folder (visualize.py reads only the folder)."""
    for path in visualize.draw_run(run_dir):
        print(f'figure: {path}')


def load_data(settings):
    """MNIST as a run's settings (data, order, subset, seed, verify) ask for."""
    return data.load_mnist(settings['data'], order=settings['order'], subset=settings['subset'],
                           seed=settings['seed'], verify=settings['verify'])


def redraw_data(record, data_path):
    """The data a run was trained on: from --data, else where the run found it, else $MNIST_PATH; hash-checked."""
    recorded = record.get('data_path') or record.get('data')
    if data_path is None and recorded and Path(recorded).exists():
        data_path = recorded  # the very file, even when $MNIST_PATH names other data
    elif data_path is None and recorded and not os.environ.get(data.ENV_VAR):
        raise UsageError(f'{recorded}: the data this run was trained on is not there any more; pass --data PATH '
                         f'(or set ${data.ENV_VAR}) with where it is now')
    mnist = data.load_mnist(data_path, order=record['order'], subset=record['subset'], seed=record['seed'],
                            verify=record['verify'] if 'data_sha256' not in record else False)
    if record.get('data_sha256', mnist.sha256) != mnist.sha256:
        raise UsageError(f'{mnist.source}: not the data this run was trained on (content hash differs); pass --data '
                         f'with the file it used, {recorded}')
    return mnist


def saved_config(record):
    """A run's configuration from its config.json, with the defaults of settings added since it was written."""
    cfg = dict(record, kernels=parse_kernels(record['kernels']))
    cfg.setdefault('code_activation', cfg['activation'])
    cfg.setdefault('threads', os.cpu_count() or 1)  # before --threads, a run used every core
    return cfg


def redraw(run_dir, data_path=None):
    """Recompute a run's diagnostics and figures from its checkpoint, without training."""
    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / 'config.json').read_text())
        metrics = json.loads((run_dir / 'metrics.json').read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f'{run_dir}: not a run folder made by autoencoder.py ({e}); pass the folder a run printed '
                         f'after "run folder:"') from None
    if not (run_dir / 'checkpoint' / 'model.index').is_file():
        raise UsageError(f'{run_dir}: the run saved no checkpoint, so there is nothing to redraw; run it again')
    cfg = saved_config(record)
    mnist = redraw_data(record, data_path)
    graph, g, summary_op, saver, sess = build_session(cfg)
    with graph.as_default(), sess:
        saver.restore(sess, str(run_dir / 'checkpoint' / 'model'))
        try:  # the recorded losses are not in the checkpoint: keep those of the run's arrays.npz
            with np.load(run_dir / 'arrays.npz', allow_pickle=False) as f:
                record = {k: f[k].tolist() if k in f.files else [] for k in ('batch_loss', 'epoch_loss')}
        except (OSError, ValueError):
            record = dict(batch_loss=[], epoch_loss=[])
        metrics = finish(cfg, mnist, g, sess, run_dir, metrics, record, {})
    write_json(run_dir / 'metrics.json', metrics)
    for line in summary_lines(metrics):
        print(line)
    draw(run_dir)
    return 0


def main(argv=None):
    """Parse flags, load MNIST, train; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if refuse_ablate(argv):
        return 2
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        refuse_ignored(parser, args)
        if args.redraw:
            return redraw(args.redraw, args.data)
        cfg = resolve(args)
        mnist = load_data(cfg)
        return run(cfg, mnist)[0]
    except (data.DataError, UsageError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # outside training (loading, diagnostics, drawing): nothing half-written to keep
        print(f'interrupted{": " + str(e) if str(e) else ""}', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
