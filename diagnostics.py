"""Numbers from arrays, never TensorFlow: baselines, code collapse, the linear probe, and why a run is stuck.

autoencoder.py and health.py run a network and hand the values of its tensors over; this module turns them
into numbers and into findings. Every rule, threshold and remedy is in this file: the constants below and
RULES. A network is described to the rules by `network()`: its measured layers (label, activation, width) in
order, which one is the output and which the code, its loss, and its weight matrices (kernels) in order.
"""
import math

import numpy as np

import data

# ---------------------------------------------------------------- thresholds (docs/rules.md explains each)

COLLAPSE_RATIO = 0.05     # code spread under 5% of the code's RMS: the same code for every input
SATURATION_MARGIN = 0.01  # a sigmoid within 0.01 of 0 or 1 (derivative under 0.0099, 4% of its peak); tanh likewise
UNIT_SHARE = 0.99         # a unit saturated (sigmoid, tanh) or zero (ReLU, "dead") for >= 99% of the sample
LAYER_SHARE = 0.5         # a hidden layer with >= half of its units saturated or dead
VANISHING_RATIO = 1e-3    # the first kernel's gradient under 1/1000 of the last one's (AUTOTRAINER's ratio)
ONE_OUTPUT = 0.1          # after training: reconstructions spread under 10% as much as the inputs: one picture for all
PLATEAU = 0.95            # final loss at or above 0.95x the mean input's: no better than drawing the average input
PLATEAU_EXIT = 0.9        # the epoch a run leaves the plateau: its loss first falls below 0.9x the mean input's
STILL_FALLING = 0.05      # over the last third of a run the loss fell by 5% of the mean input's: say it may need time
ONE_DIGIT = 0.5           # one digit makes up at least half of the images trained on
INPUT_SCALE = 10.0        # inputs whose root mean square is over 10: initialisers assume inputs of order 1
TARGET_SHARE = 0.01       # at least 1% of the target values outside what the output activation can produce
TARGET_MARGIN = 0.01      # ...by more than 1% of the targets' own range (float noise at a bound is not outside)
STEP_UPDATE = (1e-6, 1e-1)  # one training step moves the fastest-moving weight matrix by this share of its size
PROBE_LBFGS_ITERATIONS = 100  # the probe's lbfgs converges within this on a code that varies (54-88 measured)

# What each activation can produce, for the target-range rule.
RANGES = {'sigmoid': (0.0, 1.0), 'softmax': (0.0, 1.0), 'tanh': (-1.0, 1.0), 'relu': (0.0, math.inf),
          'softplus': (0.0, math.inf), 'elu': (-1.0, math.inf), 'selu': (-1.7581, math.inf)}

# (rule, kind, when it fires, the flag of autoencoder.py that removes it, what a Keras user can do).
# "blocker": the set-up cannot fit the data, whatever training does; "outcome": the run is stuck; "cause": why.
# When a blocker or an outcome fires, every finding is a failure symptom; otherwise the causes that still fire
# are warnings (a defect the run learned in spite of). The flags are what the question's ablation measured.
RULES = [
    ('nonfinite', 'blocker', 'the loss or a weight is NaN or infinite', 'a 10x smaller --lr',
     'lower the learning rate (divide it by 10) and check the inputs for NaN'),
    ('targets_out_of_range', 'blocker', f'at least {TARGET_SHARE:.0%} of the target values lie outside what the output '
     f'activation can produce', None,
     'scale the targets into the output\'s range (pixels: divide by 255), or use an output activation that '
     'covers them (linear for any value, tanh for [-1,1])'),
    ('softmax_output', 'blocker', 'a softmax output whose target rows do not sum to 1 (it makes the output pixels '
     'compete)', None, 'use sigmoid on the output (each pixel in [0,1] on its own)'),
    ('one_output', 'outcome', f'output diversity under {ONE_OUTPUT}; before training, only if the last hidden layer '
     f'also spreads under {COLLAPSE_RATIO:.0%} of its scale across inputs', '--activation relu, or --batching fixed for '
     '501 epochs',
     'the input does not reach the output: see the causes listed with it'),
    ('collapsed_code', 'outcome', f'the narrowest layer\'s spread across inputs under {COLLAPSE_RATIO:.0%} of its '
     f'scale after training', None, 'the code is the same for every input: see the causes listed with it'),
    ('plateau', 'outcome', f'final loss at or above {PLATEAU}x the mean input\'s (above the loss\'s own minimum)',
     '--activation relu, or --batching fixed for 501 epochs',
     'no better than predicting the average input: see the causes listed with it'),
    ('empty_batches', 'cause', 'any batch of the loop is empty (an Adam step on momentum alone)', '--batching fixed',
     None),
    ('one_digit', 'cause', f'one digit is at least {ONE_DIGIT:.0%} of the images trained on', '--shuffle', None),
    ('inputs_not_scaled', 'cause', f'the inputs\' root mean square is over {INPUT_SCALE:g}', None,
     'scale the inputs to about [0,1] (pixels: divide by 255) or standardise them'),
    ('softmax_hidden', 'cause', 'a hidden layer uses softmax', None,
     'use relu (or tanh, sigmoid) in hidden layers; softmax makes a layer\'s units compete'),
    ('vanishing_gradient', 'cause', f'the first weight matrix\'s gradient under {VANISHING_RATIO:g} of the last one\'s',
     '--activation relu', 'use relu in the hidden layers, or fewer sigmoid/tanh layers in a row'),
    ('saturated_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden sigmoid or tanh layer\'s units within '
     f'{SATURATION_MARGIN} of their limits for {UNIT_SHARE:.0%} of the sample', '--activation relu',
     'use relu in the hidden layers, scale the inputs, or lower the learning rate'),
    ('dead_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden ReLU layer\'s units zero for {UNIT_SHARE:.0%} '
     f'of the sample', None, 'lower the learning rate, use he_normal initialisation, or LeakyReLU'),
    ('learning_rate_high', 'cause', f'one training step moves a weight matrix by over {STEP_UPDATE[1]:g} of its size',
     'a 10x smaller --lr', 'divide the learning rate by 10'),
    ('learning_rate_low', 'cause', f'one training step moves every weight matrix by under {STEP_UPDATE[0]:g} of its '
     f'size', 'a 10x larger --lr', 'multiply the learning rate by 10'),
]
KINDS = {rule: kind for rule, kind, _, _, _ in RULES}
FIXES = {'flags': {rule: fix for rule, _, _, fix, _ in RULES}, 'keras': {rule: fix for rule, _, _, _, fix in RULES}}
WORDS = {'one_output': 'one output', 'collapsed_code': 'collapsed code', 'plateau': 'plateau',
         'empty_batches': 'empty batches', 'one_digit': 'one digit', 'vanishing_gradient': 'vanishing gradient',
         'saturated_units': 'saturated', 'dead_units': 'dead units', 'nonfinite': 'NaN or Inf',
         'targets_out_of_range': 'targets out of range', 'softmax_output': 'softmax output',
         'inputs_not_scaled': 'inputs not scaled', 'softmax_hidden': 'softmax in a hidden layer',
         'learning_rate_high': 'learning rate too high', 'learning_rate_low': 'learning rate too low'}


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


def collapse_ratio(spread, scale):
    """Spread across inputs relative to the values' own scale (RMS); 0 when there is no scale."""
    return spread / scale if scale > 0 else 0.0


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


# ---------------------------------------------------------------- training health

def network(layers, output, loss, kernels, code=None):
    """A network as the rules see it: measured layers [{key, label, activation, units}] in order, the output's and the
    code's keys (code None: not judged), the loss's name, and {kernel name: label} of the weight matrices in order."""
    return {'layers': layers, 'output': output, 'code': code, 'loss': loss, 'kernels': kernels}


PERCENTILE_VALUES = 100000  # the 10th and 90th percentiles are read from at most this many of a layer's values


def layer_sums(a, activation, percentiles=True, shift=None):
    """Per-unit sums of one batch of a layer's values; added up over batches, layer_health turns them into numbers.

    The sums are of the values minus `shift` (by default this batch's per-unit mean; later batches must pass the first
    one's): a saturated layer varies in the sixth decimal, and sums of raw squares would lose that to rounding.
    The 10th and 90th percentiles come from the first batch (add_sums keeps them): a layer need not fit in memory.
    """
    a = np.asarray(a, np.float32).reshape(len(a), -1)
    shift = a.mean(0) if shift is None else shift
    d = a - shift
    values = a.ravel()
    sums = {'n': len(a), 'shift': shift, 'sum': d.sum(0, dtype=np.float64),
            'sumsq': np.square(d).sum(0, dtype=np.float64), 'derivative': None, 'stuck': None,
            'percentiles': np.percentile(values[::max(1, len(values) // PERCENTILE_VALUES)], (10, 90))
            if percentiles else None}
    if activation == 'sigmoid':
        sums['stuck'] = ((a < SATURATION_MARGIN) | (a > 1 - SATURATION_MARGIN)).sum(0)
        sums['derivative'] = float((a * (1 - a)).sum(dtype=np.float64))
    elif activation == 'tanh':  # tanh(z) = 2 sigmoid(2z) - 1: the same margin, doubled
        sums['stuck'] = (np.abs(a) > 1 - 2 * SATURATION_MARGIN).sum(0)
        sums['derivative'] = float((1 - np.square(a)).sum(dtype=np.float64))
    elif activation == 'relu':
        sums['stuck'] = (a <= 0).sum(0)
        sums['derivative'] = float((a > 0).sum())
    return sums


def add_sums(total, sums):
    """Two batches' layer_sums (with the same shift) as one; total may be None."""
    if total is None:
        return sums
    out = dict(total, n=total['n'] + sums['n'], sum=total['sum'] + sums['sum'], sumsq=total['sumsq'] + sums['sumsq'])
    for k in ('stuck', 'derivative'):
        if total[k] is not None:
            out[k] = total[k] + sums[k]
    return out


def layer_health(a, activation):
    """Mean, std, 10th and 90th percentile, saturated (sigmoid, tanh) or dead (ReLU) unit share, mean derivative,
    spread across inputs and RMS of one layer: from its values, or from their layer_sums added up."""
    s = a if isinstance(a, dict) else layer_sums(a, activation)
    n = s['n']
    offset = s['sum'] / n  # each unit's mean, less the shift
    var_unit = np.maximum(s['sumsq'] / n - np.square(offset), 0)
    mean_unit = np.asarray(s['shift'], np.float64) + offset
    square = var_unit + np.square(mean_unit)  # each unit's mean square
    mean = float(mean_unit.mean())
    out = {'mean': mean, 'std': float(np.sqrt(max(square.mean() - mean ** 2, 0))),
           'p10': float(s['percentiles'][0]), 'p90': float(s['percentiles'][1])}
    if s['stuck'] is not None:  # per unit: how much of the sample finds it stuck
        out['dead' if activation == 'relu' else 'saturated'] = float(np.mean(s['stuck'] / n >= UNIT_SHARE))
        out['derivative'] = s['derivative'] / (n * len(var_unit))
    out['spread'] = float(np.sqrt(var_unit).mean())
    out['rms'] = float(np.sqrt(square.mean()))
    return out


def output_diversity(x, out):
    """How far the reconstructions spread around their mean picture, relative to the inputs (0: one for all; None
    when the inputs are all alike)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    out = np.asarray(out, np.float64).reshape(len(out), -1)
    spread_in = np.sqrt(np.square(x - x.mean(0)).sum())
    return float(np.sqrt(np.square(out - out.mean(0)).sum()) / spread_in) if spread_in > 0 else None


def dead_outputs(out, targets):
    """Share of the output units that are zero for UNIT_SHARE of the sample although their targets are not (a ReLU
    output unit whose target is always 0 is right to be 0); None when no target is above 0."""
    out = np.asarray(out).reshape(len(out), -1)
    t = np.asarray(targets).reshape(len(targets), -1)
    wanted = (t > 0).mean(axis=0) > 1 - UNIT_SHARE
    if not wanted.any():
        return None
    return float(((out <= 0).mean(axis=0) >= UNIT_SHARE)[wanted].mean())


def health_snapshot(epoch, net, layers, grads, weights, previous, x, out):
    """Every health number at one point of training, from the values of the network on a fixed sample."""
    acts = {layer['key']: layer['activation'] for layer in net['layers']}
    update = {}
    for k, w in weights.items():
        norm = np.linalg.norm(previous[k]) if previous else 0.0
        update[k] = float(np.linalg.norm(w - previous[k]) / norm) if norm > 0 else None
    return {'epoch': epoch, 'layers': {k: layer_health(a, acts[k]) for k, a in layers.items()},
            'grad_norm': {k: float(np.linalg.norm(g)) for k, g in grads.items()},
            'update': update, 'output_diversity': output_diversity(x, out)}


def health_scalars(snap):
    """A health snapshot as TensorBoard scalar tags and values."""
    values = {f'health/{k}/{stat}': v for k, layer in snap['layers'].items() for stat, v in layer.items()}
    values.update({f'grad_norm/{k}': v for k, v in snap['grad_norm'].items()})
    values.update({f'update/{k}': v for k, v in snap['update'].items() if v is not None})
    values.update({f'step_update/{k}': v for k, v in (snap.get('step_update') or {}).items()})
    values['health/output_diversity'] = snap['output_diversity']
    if snap.get('loss') is not None:
        values['health/loss'] = snap['loss']
    return {tag: float(v) for tag, v in values.items() if v is not None and math.isfinite(v)}


def data_stats(x, targets, output_activation):
    """What the data rules need: the inputs' RMS, the targets' range and row sums, and the share of target values
    the output activation cannot produce."""
    x = np.asarray(x, np.float64)
    t = np.asarray(targets, np.float64).reshape(len(targets), -1)
    lo, hi = RANGES.get(output_activation, (-math.inf, math.inf))
    margin = TARGET_MARGIN * float(t.max() - t.min()) if t.size else 0.0
    outside = float(np.mean((t < lo - margin) | (t > hi + margin))) if t.size else 0.0
    return {'input_rms': float(np.sqrt(np.mean(np.square(x)))), 'target_min': float(t.min()),
            'target_max': float(t.max()), 'target_outside': outside, 'output_range': [lo, hi],
            'target_rows_sum_to_1': bool(np.allclose(t.sum(axis=1), 1, rtol=0.01))}


def feeding(batch_sizes, epochs_done, label_counts):
    """Real, empty and short batches per epoch, images trained on, and their label histogram."""
    sizes = np.asarray(batch_sizes)
    full = sizes.max() if len(sizes) else 0
    return {'batches_per_epoch': int(len(sizes)), 'real_per_epoch': int(np.sum(sizes > 0)),
            'empty_per_epoch': int(np.sum(sizes == 0)), 'short_per_epoch': int(np.sum((sizes > 0) & (sizes < full))),
            'epochs': int(epochs_done), 'images_trained': int(np.sum(label_counts)),
            'label_histogram': [int(c) for c in label_counts]}


def plateau_exit(epoch_loss, baseline, floor=0.0):
    """The first epoch whose loss is below PLATEAU_EXIT of the way from `floor` to `baseline`, or None if none is."""
    excess = np.asarray(epoch_loss, np.float64) - floor
    below = np.flatnonzero(excess < PLATEAU_EXIT * (baseline - floor))
    return int(below[0]) if len(below) else None


# ---------------------------------------------------------------- the rules

def _layers(m):
    """Label and activation of each measured layer, from the run's network (or the question's, for older runs)."""
    net = m.get('network')
    if net is None:  # a run written before networks were described: the question's layers, as autoencoder.py had them
        labels = {'y2': 'conv1', 'y4': 'conv2', 'y6': 'fc1', 'encode': 'code', 'u1': 'decoder fc1',
                  'u2': 'decoder fc2', 'u5': 'deconv1', 'u7': 'output'}
        net = network([dict(key=k, label=f'{v} ({k})', activation=None, units=None) for k, v in labels.items()],
                      output='u7', loss='mse', kernels={'encoding/conv1/w': 'conv1', 'decoding/deconv2/w': 'deconv2'})
    return net


def _plateau(m):
    """(loss, its mean-input baseline, the loss's minimum on these targets, words for the baseline)."""
    b = m['baselines']
    if 'mean_input' in b:
        return m['final_loss'], b['mean_input'], b.get('floor', 0.0), 'the mean input'
    return m['final_loss'], b['mean_image'], 0.0, 'the mean image'


def _still_falling(m, mean, floor):
    """Words saying that the loss is still falling fast (the run may only need more epochs), or ''."""
    losses = [(h['epoch'], h['loss']) for h in m.get('health') or [] if h.get('loss') is not None]
    if len(losses) < 3 or mean <= floor:
        return ''
    (then, before), (now, after) = losses[(2 * len(losses)) // 3 - 1], losses[-1]
    drop = (before - after) / (mean - floor)
    if drop <= STILL_FALLING:
        return ''
    return (f'; the loss is still falling ({drop:.0%} of the mean input\'s in the last {now - then} epochs): it may '
            f'only need more epochs')


def _checks(m):
    """(rule, evidence) for every rule that fires on a run's metrics, in RULES order."""
    net = _layers(m)
    trained = m.get('epochs_done', 1) > 0
    health = m.get('health') or []
    end = health[-1] if health else None
    stats = m.get('data')
    out = []
    if m.get('nonfinite'):
        out.append(('nonfinite', f'NaN or Inf: {m["nonfinite"]}'))
    output = next((layer for layer in net['layers'] if layer['key'] == net['output']), None)
    if stats and stats['target_outside'] >= TARGET_SHARE:
        lo, hi = stats['output_range']
        out.append(('targets_out_of_range', f'targets out of range: {stats["target_outside"]:.0%} of the target values '
                                            f'lie outside [{lo:g}, {hi:g}], what the output\'s {output["activation"]} '
                                            f'can produce (targets span {stats["target_min"]:.3g} to '
                                            f'{stats["target_max"]:.3g})'))
    if output and output['activation'] == 'softmax' and (output['units'] or 0) > 1 and stats \
            and not stats['target_rows_sum_to_1']:
        out.append(('softmax_output', f'softmax across the {output["units"]} outputs of {output["label"]}: they must '
                                      f'sum to 1, the targets\' rows do not'))
    if end is not None:
        diversity = end['output_diversity']
        if diversity is not None and diversity < ONE_OUTPUT and trained:
            falling = _still_falling(m, *_plateau(m)[1:3]) if m.get('baselines') else ''
            out.append(('one_output', f'one output for every input: output diversity {diversity:.3f} (0 = the same '
                                      f'picture whatever the input){falling}'))
        elif diversity is not None and diversity < ONE_OUTPUT:
            # Untrained networks draw nearly one picture anyway (their last layer's weights are small); it is a
            # failure when the hidden layers have already lost the input's differences.
            last = _last_hidden(net, end)
            if last is not None and collapse_ratio(last[1]['spread'], last[1]['rms']) < COLLAPSE_RATIO:
                out.append(('one_output', f'one output for every input before training: output diversity '
                                          f'{diversity:.1e}; the last hidden layer, {last[0]}, spreads only '
                                          f'{collapse_ratio(last[1]["spread"], last[1]["rms"]):.2g} of its scale '
                                          f'across inputs (the input\'s differences are lost before the output)'))
        varies = end['output_diversity'] is not None  # inputs all alike: no code can tell them apart
        code = end['layers'].get(net['code']) if trained and net['code'] and varies else None
        if code is not None and 'rms' in code and collapse_ratio(code['spread'], code['rms']) < COLLAPSE_RATIO:
            label = next(layer['label'] for layer in net['layers'] if layer['key'] == net['code'])
            out.append(('collapsed_code', f'collapsed code: {label}, the narrowest layer, spreads '
                                          f'{collapse_ratio(code["spread"], code["rms"]):.1%} of its scale across '
                                          f'inputs'))
    if trained and m.get('final_loss') is not None and m.get('baselines') and math.isfinite(m['final_loss']):
        loss, mean, floor, words = _plateau(m)
        # no plateau to judge when the mean input is the best (inputs all alike) or the loss means nothing there
        ratio = (loss - floor) / (mean - floor) if mean > floor else None
        if ratio is not None and ratio >= PLATEAU:
            what = (f'stuck on the {words[4:].replace(" ", "-")} plateau' if ratio <= 2 - PLATEAU
                    else f'no better than {words}')
            never = 'plateau_exit_epoch' in m and m['plateau_exit_epoch'] is None
            exit_text = f' (never below {PLATEAU_EXIT}x in {m["epochs_done"]} epochs)' if never else ''
            above = f', counted from the loss\'s minimum {floor:.4g} on these targets' if floor else ''
            out.append(('plateau', f'{what}: final loss {loss:.4f} is {ratio:.2f}x {words}\'s '
                                   f'{mean:.4f}{above}{exit_text}{_still_falling(m, mean, floor)}'))
    f = m.get('feeding')
    if trained and f and f['empty_per_epoch'] and f['epochs']:
        out.append(('empty_batches', f'{f["empty_per_epoch"]} of {f["batches_per_epoch"]} batches per epoch are empty: '
                                     f'{f["real_per_epoch"] * f["epochs"]} real steps in {f["epochs"]} epochs'))
    if f and f['images_trained']:
        counts = np.asarray(f['label_histogram'])
        digit, share = int(counts.argmax()), counts.max() / counts.sum()
        if share >= ONE_DIGIT:
            text = (f'all {counts.sum()} trained images were digit {digit}' if share == 1 else
                    f'{share:.0%} of the {counts.sum()} trained images were digit {digit}')
            out.append(('one_digit', text))
    if stats and stats['input_rms'] > INPUT_SCALE:
        out.append(('inputs_not_scaled', f'inputs not scaled: their root mean square is {stats["input_rms"]:.3g} '
                                         f'(inputs of order 1 are what initialisers assume)'))
    hidden = [layer for layer in net['layers'] if layer['key'] != net['output']]
    soft = [layer['label'] for layer in hidden if layer['activation'] == 'softmax']
    if soft:
        out.append(('softmax_hidden', f'softmax in a hidden layer: {", ".join(soft)}'))
    if end is not None:
        kernels = [k for k in net['kernels'] if k in end['grad_norm']]
        if len(kernels) > 1:
            first, last = end['grad_norm'][kernels[0]], end['grad_norm'][kernels[-1]]
            if last and first / last < VANISHING_RATIO:
                names = net['kernels'][kernels[0]], net['kernels'][kernels[-1]]
                out.append(('vanishing_gradient', f'vanishing gradient: {names[0]}\'s gradient is {first / last:.0e} '
                                                  f'of {names[1]}\'s ({first:.1e} against {last:.1e})'))
        labels = {layer['key']: layer['label'] for layer in net['layers']}
        measured = {k: v for k, v in end['layers'].items() if k != net['output']}
        for key, rule, what in (('saturated', 'saturated_units', 'saturated sigmoid units'),
                                ('dead', 'dead_units', 'dead ReLU units')):
            hit = [(k, v[key]) for k, v in measured.items() if v.get(key, 0) >= LAYER_SHARE]
            if key == 'dead' and (end.get('dead_outputs') or 0) >= LAYER_SHARE:
                hit.append((net['output'], end['dead_outputs']))
            if hit:
                if key == 'saturated' and any(net_act(net, k) == 'tanh' for k, _ in hit):
                    what = 'saturated sigmoid or tanh units'
                out.append((rule, f'{what}: ' + ', '.join(f'{share:.0%} of {labels.get(k, k)}' for k, share in hit)))
        steps = {k: v for k, v in (end.get('step_update') or {}).items() if v is not None}
        if trained and steps:
            fastest = max(steps, key=steps.get)
            if steps[fastest] > STEP_UPDATE[1]:
                name = net['kernels'].get(fastest, fastest)
                out.append(('learning_rate_high', f'learning rate too high: one step moves {name} by '
                                                  f'{steps[fastest]:.2g} of its size'))
            elif steps[fastest] < STEP_UPDATE[0]:
                name = net['kernels'].get(fastest, fastest)
                out.append(('learning_rate_low', f'learning rate too low: one step moves even the fastest weight '
                                                 f'matrix, {name}, by only {steps[fastest]:.2g} of its size'))
    return out


def _last_hidden(net, snap):
    """(label, numbers) of the last measured layer before the output that applies a nonlinearity, or None."""
    hidden = [layer for layer in net['layers'] if layer['key'] != net['output'] and layer['key'] in snap['layers']
              and 'rms' in snap['layers'][layer['key']]]
    shaped = [layer for layer in hidden if layer['activation'] not in (None, 'linear')] or hidden
    return (shaped[-1]['label'], snap['layers'][shaped[-1]['key']]) if shaped else None


def net_act(net, key):
    """The activation of a measured layer."""
    return next((layer['activation'] for layer in net['layers'] if layer['key'] == key), None)


def findings(m, fixes='flags'):
    """What is wrong with a run (or, with epochs_done 0, an untrained network), from its metrics: a list of
    {rule, level, evidence, fix}, in RULES order. `fixes`: 'flags' (autoencoder.py's) or 'keras' (words)."""
    found = _checks(m)
    stuck = any(KINDS[rule] in ('blocker', 'outcome') for rule, _ in found)
    return [{'rule': rule, 'level': 'failure' if stuck else 'warning', 'evidence': evidence,
             'fix': FIXES[fixes][rule]} for rule, evidence in found]


def finding_lines(found, before_training=False):
    """The report printed at the end of a run (or of a pre-flight check): failure symptoms first, then warnings, each
    with its remedy."""
    lines = []
    headings = (('failure', 'why it will not learn (failure symptoms, before training)'),
                ('warning', 'warnings (nothing found that stops it learning)')) if before_training else \
        (('failure', 'why it is stuck (failure symptoms)'), ('warning', 'warnings (the run learns)'))
    for level, heading in headings:
        chosen = [f for f in found if f['level'] == level]
        if chosen:
            lines.append(f'{heading}:')
            lines += [f'  - {f["evidence"]} -> {f["fix"] or "no switch here removes it"}' for f in chosen]
    return lines or ['no failure symptom and no warning']
