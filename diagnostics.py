"""Numbers from arrays, never TensorFlow: baselines, code collapse, the linear probe, and why a run is stuck.

autoencoder.py runs the network and hands the values of its tensors over; this module turns them into numbers
and into findings. Every rule, threshold and remedy is in this file: the constants below and RULES.
"""
import numpy as np

import data

# ---------------------------------------------------------------- thresholds (the README's "Why it is stuck")

COLLAPSE_RATIO = 0.05     # code spread under 5% of the code's RMS: the same code for every input
SATURATION_MARGIN = 0.01  # a sigmoid value within 0.01 of 0 or 1 is saturated (its derivative is under 0.0099)
UNIT_SHARE = 0.99         # a unit saturated (sigmoid) or zero (ReLU, "dead") for >= 99% of the sample
LAYER_SHARE = 0.5         # a hidden layer with >= half of its units saturated or dead
VANISHING_RATIO = 1e-3    # conv1's weight gradient under 1/1000 of deconv2's (same shape: the kernels mirror)
ONE_OUTPUT = 0.1          # reconstructions spread under 10% as much as the inputs: one picture for all
PLATEAU = 0.95            # final loss at or above 0.95x the mean image's: no better than drawing the average digit
PLATEAU_EXIT = 0.9        # the epoch a run leaves the plateau: its loss first falls below 0.9x the mean image's
ONE_DIGIT = 0.5           # one digit makes up at least half of the images trained on
PROBE_LBFGS_ITERATIONS = 100  # the probe's lbfgs converges within this on a code that varies (54-88 measured)

# Hidden layers whose activations are measured, with the names the findings use.
LAYERS = {'y2': 'conv1', 'y4': 'conv2', 'y6': 'fc1', 'encode': 'code', 'u1': 'decoder fc1', 'u2': 'decoder fc2',
          'u5': 'deconv1', 'u7': 'output'}
FIRST, LAST = 'encoding/conv1/w', 'decoding/deconv2/w'

# (rule, kind, when it fires, the flag that removes it). An "outcome" rule says the run is stuck; a "cause"
# rule says why. When an outcome rule fires, every finding is a failure symptom; otherwise the causes that
# still fire are warnings (a defect the run learned in spite of). The remedies are what the ablation measured.
RULES = [
    ('one_output', 'outcome', f'output diversity under {ONE_OUTPUT} at the end (the question\'s symptom)',
     '--activation relu, or --batching fixed for 501 epochs'),
    ('plateau', 'outcome', f'final loss at or above {PLATEAU}x the mean-image loss',
     '--activation relu, or --batching fixed for 501 epochs'),
    ('empty_batches', 'cause', 'any batch of the loop is empty (an Adam step on momentum alone)', '--batching fixed'),
    ('one_digit', 'cause', f'one digit is at least {ONE_DIGIT:.0%} of the images trained on', '--shuffle'),
    ('vanishing_gradient', 'cause', f'conv1\'s weight gradient under {VANISHING_RATIO:g} of deconv2\'s at the end',
     '--activation relu'),
    ('saturated_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden sigmoid layer\'s units within '
     f'{SATURATION_MARGIN} of 0 or 1 for {UNIT_SHARE:.0%} of the sample', '--activation relu'),
    ('dead_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden ReLU layer\'s units zero for {UNIT_SHARE:.0%} '
     f'of the sample', None),
]
FIXES = {rule: fix for rule, _, _, fix in RULES}


# ---------------------------------------------------------------- loss baselines, collapse, probe

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
    ratio = spread / scale if scale > 0 else 0.0
    if ratio < COLLAPSE_RATIO:
        return True, (f'collapsed: the code barely depends on the input (spread {spread:.2g} is {ratio:.1%} '
                      f'of its scale {scale:.2g}; under {COLLAPSE_RATIO:.0%} counts as the same code for every input)')
    return False, (f'not collapsed: the code varies with the input (spread {spread:.2g} is {ratio:.1%} '
                   f'of its scale {scale:.2g})')


def probe_accuracy(codes, y, n_train):
    """Test accuracy of a logistic regression on standardised codes, fitted on the first n_train rows."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    if len(np.unique(y[:n_train])) < 2 or n_train == len(y):
        return None
    scaler = StandardScaler().fit(codes[:n_train])
    train, test = scaler.transform(codes[:n_train]), scaler.transform(codes[n_train:])
    model = LogisticRegression(max_iter=PROBE_LBFGS_ITERATIONS, warm_start=True)
    with warnings.catch_warnings():
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


# ---------------------------------------------------------------- training health

def layer_health(a, activation):
    """Mean, std, saturated (sigmoid) or dead (ReLU) unit share, mean derivative and spread of one layer's values."""
    a = np.asarray(a, np.float32).reshape(len(a), -1)
    if activation == 'sigmoid':
        stuck = (a < SATURATION_MARGIN) | (a > 1 - SATURATION_MARGIN)
        derivative = a * (1 - a)
    else:
        stuck = a <= 0
        derivative = ~stuck
    share = stuck.mean(axis=0)  # per unit: how much of the sample finds it stuck
    return {'mean': float(a.mean(dtype=np.float64)), 'std': float(a.std(dtype=np.float64)),
            'saturated' if activation == 'sigmoid' else 'dead': float(np.mean(share >= UNIT_SHARE)),
            'derivative': float(derivative.mean(dtype=np.float64)), 'spread': float(a.std(axis=0).mean())}


def output_diversity(x, out):
    """How far the reconstructions spread around their mean picture, relative to the inputs (0: one for all)."""
    x, out = np.asarray(x, np.float64), np.asarray(out, np.float64)
    spread_in = np.sqrt(np.square(x - x.mean(0)).sum())
    return float(np.sqrt(np.square(out - out.mean(0)).sum()) / spread_in) if spread_in > 0 else 0.0


def health_snapshot(epoch, layers, activation, grads, weights, previous, x, out):
    """Every health number at one point of training, from the values of the network on a fixed sample."""
    update = {}
    for k, w in weights.items():
        norm = np.linalg.norm(previous[k]) if previous else 0.0
        update[k] = float(np.linalg.norm(w - previous[k]) / norm) if norm > 0 else None
    return {'epoch': epoch,
            'layers': {k: layer_health(a, 'sigmoid' if k == 'u7' else activation) for k, a in layers.items()},
            'grad_norm': {k: float(np.linalg.norm(g)) for k, g in grads.items()},
            'update': update, 'output_diversity': output_diversity(x, out)}


def feeding(batch_sizes, epochs_done, label_counts):
    """Real, empty and short batches per epoch, images trained on, and their label histogram."""
    sizes = np.asarray(batch_sizes)
    full = sizes.max() if len(sizes) else 0
    return {'batches_per_epoch': int(len(sizes)), 'real_per_epoch': int(np.sum(sizes > 0)),
            'empty_per_epoch': int(np.sum(sizes == 0)), 'short_per_epoch': int(np.sum((sizes > 0) & (sizes < full))),
            'epochs': int(epochs_done), 'images_trained': int(np.sum(label_counts)),
            'label_histogram': [int(c) for c in label_counts]}


def plateau_exit(epoch_loss, baseline):
    """The first epoch whose loss is below PLATEAU_EXIT times `baseline`, or None if there is none."""
    below = np.flatnonzero(np.asarray(epoch_loss, np.float64) < PLATEAU_EXIT * baseline)
    return int(below[0]) if len(below) else None


def _share_text(values):
    return ', '.join(f'{share:.0%} of {LAYERS[k]} ({k})' for k, share in values)


def findings(m):
    """What is wrong with a finished run, from its metrics: a list of {rule, level, evidence, fix}, worst first."""
    out = []
    health = m.get('health') or []
    end = health[-1] if health else None
    if end is not None and end['output_diversity'] < ONE_OUTPUT:
        out.append(('one_output', f'one output for every input: output diversity {end["output_diversity"]:.3f} '
                                  f'(0 = the same picture whatever the input)'))
    mean = m['baselines']['mean_image']
    ratio = m['final_loss'] / mean
    if ratio >= PLATEAU:
        what = 'stuck on the mean-image plateau' if ratio <= 2 - PLATEAU else 'no better than the mean image'
        never = 'plateau_exit_epoch' in m and m['plateau_exit_epoch'] is None
        exit_text = f' (never below {PLATEAU_EXIT}x in {m["epochs_done"]} epochs)' if never else ''
        out.append(('plateau', f'{what}: final loss {m["final_loss"]:.4f} is {ratio:.2f}x the mean image\'s '
                               f'{mean:.4f}{exit_text}'))
    f = m.get('feeding')
    if f and f['empty_per_epoch'] and f['epochs']:
        out.append(('empty_batches', f'{f["empty_per_epoch"]} of {f["batches_per_epoch"]} batches per epoch are empty: '
                                     f'{f["real_per_epoch"] * f["epochs"]} real steps in {f["epochs"]} epochs'))
    if f and f['images_trained']:
        counts = np.asarray(f['label_histogram'])
        digit, share = int(counts.argmax()), counts.max() / counts.sum()
        if share >= ONE_DIGIT:
            text = (f'all {counts.sum()} trained images were digit {digit}' if share == 1 else
                    f'{share:.0%} of the {counts.sum()} trained images were digit {digit}')
            out.append(('one_digit', text))
    if end is not None:
        first, last = end['grad_norm'].get(FIRST), end['grad_norm'].get(LAST)
        if first is not None and last and first / last < VANISHING_RATIO:
            out.append(('vanishing_gradient', f'vanishing gradient: conv1\'s gradient is {first / last:.0e} of '
                                              f'deconv2\'s ({first:.1e} against {last:.1e})'))
        hidden = {k: v for k, v in end['layers'].items() if k != 'u7'}
        for key, rule, what in (('saturated', 'saturated_units', 'saturated sigmoid units'),
                                ('dead', 'dead_units', 'dead ReLU units')):
            hit = [(k, v[key]) for k, v in hidden.items() if v.get(key, 0) >= LAYER_SHARE]
            if hit:
                out.append((rule, f'{what}: {_share_text(hit)}'))
    kinds = {rule: kind for rule, kind, _, _ in RULES}
    stuck = any(kinds[rule] == 'outcome' for rule, _ in out)
    return [{'rule': rule, 'level': 'failure' if stuck else 'warning', 'evidence': evidence, 'fix': FIXES[rule]}
            for rule, evidence in out]


def finding_lines(found):
    """The report printed at the end of a run: failure symptoms first, then warnings, each with its remedy."""
    lines = []
    for level, heading in (('failure', 'why it is stuck (failure symptoms)'), ('warning', 'warnings (the run learns)')):
        chosen = [f for f in found if f['level'] == level]
        if chosen:
            lines.append(f'{heading}:')
            lines += [f'  - {f["evidence"]} -> {f["fix"] or "no switch here removes it"}' for f in chosen]
    return lines or ['no failure symptom and no warning']
