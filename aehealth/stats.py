"""Numbers from arrays, numpy only: what a layer's values, a network's outputs and a sample say to the rules.

A front-end hands over the values it measured (a layer's activations in batches, the outputs, the targets, the
gradients' norms, the posterior's mean and log-variance); these functions turn them into the numbers that
aehealth.rules judges. The thresholds they count against are the rules' (SATURATION_MARGIN, UNIT_SHARE, ...).
"""
import math

import numpy as np

from aehealth.rules import (ACTIVE_VARIANCE, BOUNDED, CLIP, PINNED_DISTANCE, RANGES, SATURATION_MARGIN,
                            TARGET_MARGIN, UNIT_SHARE)

PERCENTILE_VALUES = 100000  # the 10th and 90th percentiles are read from at most this many of a layer's values


def layer_sums(a, activation, percentiles=True, shift=None, channels=None):
    """Per-unit sums of one batch of a layer's values; added up over batches, layer_health turns them into numbers.

    The sums are of the values minus `shift` (by default this batch's per-unit mean; later batches must pass the first
    one's): a saturated layer varies in the sixth decimal, and sums of raw squares would lose that to rounding.
    The 10th and 90th percentiles come from the first batch (add_sums keeps them): a layer need not fit in memory.
    `channels`: for maps and sequences, the axis of a's channels; a channel then counts as stuck (saturated, dead) for
    an input only where it is stuck at every position, as a filter that is zero everywhere gets no gradient.
    """
    a = np.asarray(a, np.float32)
    flat = a.reshape(len(a), -1)  # units in a's own order: moving the channels last would copy the layer
    shift = flat.mean(0) if shift is None else shift
    d = flat - shift
    sums = {'n': len(a), 'shift': shift, 'sum': _column_sums(d), 'sumsq': _column_sums(np.square(d, out=d)),
            'derivative': None, 'stuck': None, 'percentiles': _percentiles(flat) if percentiles else None}
    stuck = None
    if activation == 'sigmoid':
        stuck = (flat < SATURATION_MARGIN) | (flat > 1 - SATURATION_MARGIN)
        sums['derivative'] = float((flat * (1 - flat)).sum(dtype=np.float64))
    elif activation == 'tanh':  # tanh(z) = 2 sigmoid(2z) - 1: the same margin, doubled
        stuck = np.abs(flat) > 1 - 2 * SATURATION_MARGIN
        sums['derivative'] = float((1 - np.square(flat)).sum(dtype=np.float64))
    elif activation == 'relu':
        stuck = flat <= 0
        sums['derivative'] = float(np.count_nonzero(flat > 0))
    if stuck is not None and channels is not None and a.ndim > 2:
        channels %= a.ndim
        stuck = stuck.reshape(a.shape).all(axis=tuple(k for k in range(1, a.ndim) if k != channels))
    if stuck is not None:
        sums['stuck'] = stuck.sum(0)
    return sums


SUM_ROWS = 128  # rows summed in float32 before the float64 total: exact enough for a mean and a variance, 5x faster


def _column_sums(d):
    """Each column's sum, in float64 across blocks of SUM_ROWS rows."""
    return sum(d[i:i + SUM_ROWS].sum(0).astype(np.float64) for i in range(0, len(d), SUM_ROWS))


def _percentiles(values):
    """The 10th and 90th percentile of at most PERCENTILE_VALUES of the values, taken evenly."""
    values = values.ravel()
    return np.percentile(values[::max(1, len(values) // PERCENTILE_VALUES)], (10, 90))


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


def _rows(a):
    return np.asarray(a, np.float64).reshape(len(a), -1)


def output_diversity(targets, out):
    """How far the outputs spread around their mean, relative to how far the targets do (0: one output for all;
    None when the targets are all alike). Root mean squares per value, so that the two may differ in shape."""
    t, out = _rows(targets), _rows(out)
    spread_t = np.sqrt(np.square(t - t.mean(0)).mean())
    return float(np.sqrt(np.square(out - out.mean(0)).mean()) / spread_t) if spread_t > 0 else None


def dead_outputs(out, targets):
    """Share of the output units that are zero for UNIT_SHARE of the sample although their targets are not (a ReLU
    output unit whose target is always 0 is right to be 0); None when no target is above 0 or the shapes differ."""
    out, t = np.asarray(out).reshape(len(out), -1), np.asarray(targets).reshape(len(targets), -1)
    if out.shape != t.shape:
        return None
    wanted = (t > 0).mean(axis=0) > 1 - UNIT_SHARE
    if not wanted.any():
        return None
    return float(((out <= 0).mean(axis=0) >= UNIT_SHARE)[wanted].mean())


def output_pinned(out, targets, activation):
    """For a sigmoid or tanh output: {'low': share of the values whose target is PINNED_DISTANCE of the range above the
    lower limit that sit within SATURATION_MARGIN of it, 'high': likewise at the upper limit}; None for other outputs
    or shapes that differ."""
    if activation not in BOUNDED:
        return None
    out, t = _rows(out), _rows(targets)
    if out.shape != t.shape:
        return None
    lo, hi = RANGES[activation]
    width = hi - lo
    shares = {}
    for side, at_limit, away in (('low', out < lo + SATURATION_MARGIN * width, t > lo + PINNED_DISTANCE * width),
                                 ('high', out > hi - SATURATION_MARGIN * width, t < hi - PINNED_DISTANCE * width)):
        shares[side] = float(at_limit[away].mean()) if away.any() else None
    return shares


def clipped_share(out, targets):
    """The share of a probability loss above its minimum (binary cross-entropy against the targets' own) carried by the
    output values it clips to [CLIP, 1 - CLIP] on the wrong side of their target; None when the targets leave [0, 1],
    the shapes differ or the loss is at its minimum."""
    out, t = _rows(out), _rows(targets)
    if out.shape != t.shape or t.min() < 0 or t.max() > 1:
        return None
    p, tc = np.clip(out, CLIP, 1 - CLIP), np.clip(t, CLIP, 1 - CLIP)
    excess = -(t * np.log(p) + (1 - t) * np.log(1 - p)) + (t * np.log(tc) + (1 - t) * np.log(1 - tc))
    clipped = ((out <= CLIP) & (t > CLIP)) | ((out >= 1 - CLIP) & (t < 1 - CLIP))
    total = excess.sum()
    return float(excess[clipped].sum() / total) if total > 0 else None


def posterior(mean, log_variance):
    """Active latent dimensions (Burda et al. 2016: the posterior mean's variance across inputs over ACTIVE_VARIANCE)
    and the KL divergence from the standard normal prior per dimension, averaged over the sample, in nats."""
    mu, logvar = _rows(mean), _rows(log_variance)
    variance = mu.var(axis=0)
    kl = 0.5 * (np.square(mu) + np.exp(logvar) - 1.0 - logvar).mean(axis=0)
    return {'dims': int(mu.shape[1]), 'active': int((variance > ACTIVE_VARIANCE).sum()),
            'mean_variance': [float(v) for v in variance], 'kl': [float(v) for v in kl]}


def top_variance(targets, iterations=100, tolerance=1e-6):
    """The largest eigenvalue of the targets' covariance (their variance along the direction they vary most), by power
    iteration from a fixed start: the random state is not touched."""
    t = _rows(targets)
    t = t - t.mean(axis=0)
    v = np.random.default_rng(0).normal(size=t.shape[1])
    v /= np.linalg.norm(v)
    value = 0.0
    for _ in range(iterations):
        w = t.T @ (t @ v) / len(t)
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 0.0
        v, previous, value = w / norm, value, norm
        if abs(value - previous) <= tolerance * value:
            break
    return value


def weight_scale(w, fan_in, fan_out):
    """[standard deviation, fan-in, fan-out] of a weight matrix, for the initial-scale rule."""
    return [float(np.asarray(w, np.float64).std()), int(fan_in), int(fan_out)]


def update_ratio(now, before):
    """How far a weight matrix moved, relative to its size before; None when it was all zero."""
    norm = np.linalg.norm(before)
    return float(np.linalg.norm(np.asarray(now) - before) / norm) if norm > 0 else None


def movable(w, grad_norm, lr):
    """Whether plain SGD at `lr` on a gradient of norm `grad_norm` moves at least one of `w`'s values in its own
    precision: its largest gradient (at least the norm over the square root of the size) times lr against half the
    spacing of floats at w's largest value. Adam's and momentum's steps are no smaller on gradients under 1; one that
    moves none is float rounding, not an optimizer that skips the weight."""
    w = np.asarray(w)
    if not grad_norm or not lr or not w.size or not np.issubdtype(w.dtype, np.floating):
        return False
    return lr * grad_norm / np.sqrt(w.size) > np.spacing(np.abs(w).max()) / 2


def health_snapshot(epoch, net, layers, grads, weights, previous, targets, out):
    """Every health number at one point of training, from the values of the network on a fixed sample."""
    acts = {layer['key']: layer['activation'] for layer in net['layers']}
    return {'epoch': epoch, 'layers': {k: layer_health(a, acts[k]) for k, a in layers.items()},
            'grad_norm': {k: float(np.linalg.norm(g)) for k, g in grads.items()},
            'update': {k: update_ratio(w, previous[k]) if previous else None for k, w in weights.items()},
            'output_diversity': output_diversity(targets, out)}


def health_scalars(snap):
    """A health snapshot as TensorBoard scalar tags and values."""
    values = {f'health/{k}/{stat}': v for k, layer in snap['layers'].items() for stat, v in layer.items()}
    values.update({f'grad_norm/{k}': v for k, v in snap['grad_norm'].items()})
    values.update({f'update/{k}': v for k, v in snap['update'].items() if v is not None})
    values.update({f'step_update/{k}': v for k, v in (snap.get('step_update') or {}).items()})
    values['health/output_diversity'] = snap['output_diversity']
    if snap.get('loss') is not None:
        values['health/loss'] = snap['loss']
    if snap.get('posterior'):
        values['health/posterior/active'] = snap['posterior']['active']
    return {tag: float(v) for tag, v in values.items() if isinstance(v, (int, float)) and v is not None
            and math.isfinite(v)}


def data_stats(received, targets, output_activation, output_shape=None, received_by=None):
    """What the data rules need: the root mean square of what the first weight layer receives (`received`; None when
    it takes indices, such as an embedding), the targets' range and their sums along the last axis (a softmax's), the
    share of target values the output activation cannot produce, and the output's and targets' shapes per row (when
    `output_shape` is given)."""
    t = np.asarray(targets, np.float64).reshape(len(targets), -1)
    lo, hi = RANGES.get(output_activation, (-math.inf, math.inf))
    margin = TARGET_MARGIN * float(t.max() - t.min()) if t.size else 0.0
    outside = float(np.mean((t < lo - margin) | (t > hi + margin))) if t.size else 0.0
    stats = {'input_rms': None if received is None else float(np.sqrt(np.mean(np.square(np.asarray(received,
                                                                                                   np.float64))))),
             'target_min': float(t.min()), 'target_max': float(t.max()), 'target_outside': outside,
             'output_range': [lo, hi], 'output_activation': output_activation,
             'target_rows_sum_to_1': bool(np.allclose(np.asarray(targets, np.float64).sum(axis=-1), 1, rtol=0.01))}
    if received_by:
        stats['input_seen_by'] = received_by
    if output_shape is not None:
        stats['output_shape'] = [int(n) for n in output_shape]
        stats['target_shape'] = [int(n) for n in np.shape(targets)[1:]]
    return stats


def one_hot(ids, classes):
    """Integer targets (a sparse loss's) as the one-hot rows the output is compared with."""
    ids = np.asarray(ids).astype(np.int64)
    return np.eye(classes, dtype=np.float32)[np.clip(ids, 0, classes - 1)]


def dense_targets(targets, output_shape, loss_kind):
    """The targets as the output is compared with them: a sparse loss's class ids as one-hot scores on the output's
    class axis (aehealth.contracts.LossKind), anything else as float32."""
    if not loss_kind.sparse:
        return np.asarray(targets, np.float32)
    axis = loss_kind.class_axis
    return np.moveaxis(one_hot(targets, output_shape[axis - 1 if axis > 0 else axis]), -1, axis)


def log_probabilities(p):
    """What a softmax cross-entropy on logits must receive to mean the probabilities p (-inf for 0, silently)."""
    with np.errstate(divide='ignore'):
        return np.log(p)


def logit(p):
    """What a loss that takes logits must receive to mean the probabilities p."""
    p = np.clip(np.asarray(p, np.float32), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))
