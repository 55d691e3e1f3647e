"""The question's own numbers, from arrays, never TensorFlow: MNIST baselines, the code's collapse verdict on every
image, the linear probe, per-digit error; the two rules of the question's loop (empty batches, one digit), which
this program registers beside aehealth's; and the flags of autoencoder.py that remove each cause aehealth names.

Every other rule and threshold lives in aehealth.rules; autoencoder.py measures its graph, hands the values to
aehealth.stats, and asks these rules for the findings with the flag fixes below.
"""
import numpy as np

import data
from aehealth import rules
from aehealth.rules import COLLAPSE_RATIO, collapse_ratio

PROBE_LBFGS_ITERATIONS = 100  # the probe's lbfgs converges within this on a code that varies (54-88 measured)
ONE_DIGIT = 0.5  # one class makes up at least half of the examples trained on

# aehealth's rules and the question loop's own two, after the plateau (where the question's reports have had them).
RULES = rules.REGISTRY.copy()


@RULES.rule('empty_batches', 'cause', 'empty batches', 'any batch of the question\'s loop is empty',
            'any batch of the loop is empty (an Adam step on momentum alone)', '(`autoencoder.py` only)',
            'drop empty batches from the loop', after='plateau')
def empty_batches(ctx):
    f = ctx.m.get('feeding')
    if ctx.trained and f and f['empty_per_epoch'] and f['epochs']:
        return (f'{f["empty_per_epoch"]} of {f["batches_per_epoch"]} batches per epoch are empty: '
                f'{f["real_per_epoch"] * f["epochs"]} real steps in {f["epochs"]} epochs')


@RULES.rule('one_digit', 'cause', 'one digit', f'one class is at least {ONE_DIGIT:.0%} of the examples trained on',
            'one class is half (`ONE_DIGIT`) of the examples trained on', '(`autoencoder.py` only)',
            'shuffle the data before batching', after='empty_batches')
def one_digit(ctx):
    f = ctx.m.get('feeding')
    if f and f['images_trained']:
        counts = np.asarray(f['label_histogram'])
        digit, share = int(counts.argmax()), counts.max() / counts.sum()
        if share >= ONE_DIGIT:
            return (f'all {counts.sum()} trained images were digit {digit}' if share == 1 else
                    f'{share:.0%} of the {counts.sum()} trained images were digit {digit}')


def feeding(batch_sizes, epochs_done, label_counts):
    """Real, empty and short batches per epoch, examples trained on, and their label histogram."""
    sizes = np.asarray(batch_sizes)
    full = sizes.max() if len(sizes) else 0
    return {'batches_per_epoch': int(len(sizes)), 'real_per_epoch': int(np.sum(sizes > 0)),
            'empty_per_epoch': int(np.sum(sizes == 0)), 'short_per_epoch': int(np.sum((sizes > 0) & (sizes < full))),
            'epochs': int(epochs_done), 'images_trained': int(np.sum(label_counts)),
            'label_histogram': [int(c) for c in label_counts]}

# The flag of autoencoder.py that removes each cause, as the question's ablation measured it (None: no flag does).
FLAG_FIXES = {'nonfinite': 'a 10x smaller --lr', 'one_output': '--activation relu, or --batching fixed for 501 epochs',
              'plateau': '--activation relu, or --batching fixed for 501 epochs', 'empty_batches': '--batching fixed',
              'one_digit': '--shuffle', 'vanishing_gradient': '--activation relu', 'saturated_units': '--activation relu',
              'learning_rate_high': 'a 10x smaller --lr', 'learning_rate_low': 'a 10x larger --lr',
              'signal_fades': '--activation relu'}

# The question's layers, as autoencoder.py has always named them, for runs written before networks were described.
QUESTION_LAYERS = {'y2': 'conv1', 'y4': 'conv2', 'y6': 'fc1', 'encode': 'code', 'u1': 'decoder fc1',
                   'u2': 'decoder fc2', 'u5': 'deconv1', 'u7': 'output'}


def with_network(m):
    """A run's metrics with its network described (older runs: the question's layers, as autoencoder.py had them)."""
    if m.get('network') is None:
        m = dict(m, network=rules.network(
            [dict(key=k, label=f'{v} ({k})', activation=None, units=None) for k, v in QUESTION_LAYERS.items()],
            output='u7', loss='mse', kernels={'encoding/conv1/w': 'conv1', 'decoding/deconv2/w': 'deconv2'}))
    return m


def judged(m):
    """A run's metrics as the rules read them: its network described, the mean image as the mean target."""
    m = with_network(m)
    if m.get('baselines') and 'mean_image' in m['baselines']:
        m = dict(m, baselines={'mean_input': m['baselines']['mean_image'], 'floor': 0.0, 'name': 'the mean image'})
    return m


def findings(m):
    """The rules' findings on a run of autoencoder.py, each with the flag that removes it."""
    return RULES.findings(judged(m), fixes=FLAG_FIXES)


def baselines(x):
    """MSE of predicting the mean image, and of predicting an all-black image, for every row of x."""
    s1 = np.zeros(x.shape[1])
    s2 = np.zeros(x.shape[1])
    for i in range(0, len(x), 10000):  # in chunks: x may be 70000x784 and memory is budgeted
        chunk = x[i:i + 10000].astype(np.float64)
        s1 += chunk.sum(0)
        s2 += np.square(chunk).sum(0)
    m1, m2 = s1 / len(x), s2 / len(x)
    return {'mean_image': float(np.mean(m2 - m1 ** 2)), 'all_black': float(np.mean(m2))}


def mean_image_loss(x, mean_image):
    """MSE per pixel of predicting `mean_image` for every row of x."""
    return float(np.mean(np.square(x.astype(np.float64) - mean_image)))


def code_spread(codes):
    """Mean over code units of each unit's standard deviation across inputs."""
    return float(codes.astype(np.float64).std(axis=0).mean())


def collapse_verdict(codes):
    """(collapsed?, one sentence): does the code change with the input, relative to its own scale?"""
    spread = code_spread(codes)
    scale = float(np.sqrt(np.mean(np.square(codes, dtype=np.float64))))
    ratio = collapse_ratio(spread, scale)
    if ratio < COLLAPSE_RATIO:
        return True, (f'collapsed: the code barely depends on the input (spread {spread:.2g} is {ratio:.1%} '
                      f'of its scale {scale:.2g}; under {COLLAPSE_RATIO:.0%} counts as the same code for every input)')
    return False, (f'not collapsed: the code varies with the input (spread {spread:.2g} is {ratio:.1%} '
                   f'of its scale {scale:.2g})')


def probe_accuracy(codes, y, n_train, threads=1):
    """Test accuracy of a logistic regression on standardised codes, fitted on the first n_train rows.

    Its BLAS uses `threads` threads (None: as many as it likes). One is faster here, alone and all the more beside
    other work, where threads wait for cores others hold (docs/speed.md), and its result does not depend on the machine.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits
    if len(np.unique(y[:n_train])) < 2 or n_train == len(y):
        return None
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        scaler = StandardScaler().fit(codes[:n_train])
        train, test = scaler.transform(codes[:n_train]), scaler.transform(codes[n_train:])
        model = LogisticRegression(max_iter=PROBE_LBFGS_ITERATIONS, warm_start=True)
        warnings.simplefilter('ignore', ConvergenceWarning)
        model.fit(train, y[:n_train])
        if model.n_iter_[0] >= PROBE_LBFGS_ITERATIONS:
            # A collapsed code, standardised, is so ill-conditioned that lbfgs crawls and stops unconverged (its
            # third decimal then varies between machines); Newton's method finishes from there in a few steps.
            model.set_params(solver='newton-cholesky').fit(train, y[:n_train])
        return float(model.score(test, y[n_train:]))


def per_digit_mse(sq_err, y):
    """Reconstruction MSE per pixel for each digit 0..9 (None for a digit with no images)."""
    return [float(sq_err[y == d].mean() / 784) if np.any(y == d) else None for d in range(data.N_CLASSES)]
