"""What every front-end shares, numpy only: checking what a user passes, adding a check's batches up, the metrics
and the report, and the run folder (health.json, health.png, TensorBoard scalars).

A front-end turns its framework's model into arrays (each measured layer's values, the output, the loss, the
gradients' norms) and hands them to `Check`; `Record` keeps the checks of one training run and judges them with
aehealth.rules.
"""
import contextlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from aehealth import rules, stats


class UsageError(ValueError):
    """Something passed to the monitor that it cannot use; the message says what, and how to fix it, in one line."""


def as_rows(array, name='sample'):
    """`array` checked to be a non-empty numpy array of at least MIN_ROWS finite rows; one-line errors otherwise."""
    if isinstance(array, (list, tuple)):
        raise UsageError(f'{name} is a {type(array).__name__}: pass one numpy array of rows (for example '
                         f'np.asarray({name}), or x_train[:1000]); a model with several inputs takes forward=')
    if not hasattr(array, 'shape') or not hasattr(array, 'dtype'):
        raise UsageError(f'{name} is a {type(array).__module__}.{type(array).__name__}, not an array: pass a numpy '
                         f'array of input rows, for example x_train[:1000]')
    array = np.asarray(array)
    if array.ndim == 0 or len(array) == 0 or array.size == 0:
        raise UsageError(f'{name} is empty (shape {array.shape}): pass rows of data, for example x_train[:1000]')
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise UsageError(f'{name} has dtype {array.dtype}: pass numbers (for example {name}.astype("float32"))')
    if len(array) < rules.MIN_ROWS:
        raise UsageError(f'{name} has {len(array)} rows: spreads across inputs need at least {rules.MIN_ROWS} '
                         f'(1000 is a good size), for example x_train[:1000]')
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if bad.any():
            raise UsageError(f'{name} has NaN or Inf in {int(bad.sum())} of its {len(array)} rows (the first: row '
                             f'{int(np.flatnonzero(bad)[0])}): drop them, for example '
                             f'{name}[np.isfinite({name}).reshape(len({name}), -1).all(axis=1)]')
        return array.astype(np.float32, copy=False)
    return array


def pair(sample, targets):
    """The sample and its targets (the sample itself when None), checked."""
    sample = as_rows(sample, 'sample')
    targets = sample if targets is None else as_rows(targets, 'targets')
    if len(sample) != len(targets):
        raise UsageError(f'sample has {len(sample)} rows but targets has {len(targets)}: give one target per input')
    return sample, targets


def check_every(every):
    """`every` checked to be a whole number of epochs, at least 1."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise UsageError(f'every={every!r}: give a whole number of epochs, at least 1 (every=1 checks each epoch)')
    return int(every)


def check_out(out):
    """`out` as a folder that can be written, made if needed; None stays None."""
    if out is None:
        return None
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / '.aehealth-write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as e:
        raise UsageError(f'out={str(out)!r} cannot be written ({e.strerror or e}): pass a folder you can write to, '
                         f'or out=None') from None
    return path


def one_line(error):
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'.rstrip(': ')[:300]


def dense_targets(targets, output_shape):
    """The targets as the output is compared with them: integer class ids of a sparse loss become one-hot rows."""
    shape = tuple(np.shape(targets)[1:])
    if np.issubdtype(np.asarray(targets).dtype, np.integer) and tuple(output_shape[:-1]) == shape:
        return stats.one_hot(targets, output_shape[-1])
    return np.asarray(targets, np.float32)


class Check:
    """One check's numbers, added up over the sample's chunks: each measured layer, the output, the loss, gradients."""

    def __init__(self, net, channels=None):
        self.acts = {layer['key']: layer['activation'] for layer in net['layers']}
        self.channels = channels or {}  # {key: the channels' axis} of maps and sequences
        self.sums, self.outputs, self.latent = {}, [], ([], [])
        self.grads, self.loss, self.total, self.rows = {}, 0.0, 0.0, 0

    def add(self, values, out, loss, total, grads, rows, mean=None, log_variance=None):
        """One chunk: {key: layer values}, the output, its mean loss and mean loss with extra losses, {kernel: grad}."""
        for key, a in values.items():
            first = self.sums.get(key)  # later chunks keep the first one's shift
            self.sums[key] = stats.add_sums(first, stats.layer_sums(
                a, self.acts[key], first is None, None if first is None else first['shift'], self.channels.get(key)))
        self.outputs.append(np.asarray(out))
        for name, g in grads.items():
            self.grads[name] = self.grads.get(name, 0.0) + (0.0 if g is None else np.asarray(g, np.float64) * rows)
        self.loss += float(loss) * rows
        self.total += float(total) * rows
        self.rows += rows
        if mean is not None:
            self.latent[0].append(np.asarray(mean))
            self.latent[1].append(np.asarray(log_variance))

    def snapshot(self, epoch, net, dense, weights, previous):
        """The health snapshot: numbers per layer, gradient norms, updates since `previous`, output diversity, ..."""
        out = np.concatenate(self.outputs)
        n = max(self.rows, 1)
        snap = {'epoch': epoch, 'layers': {k: stats.layer_health(s, self.acts[k]) for k, s in self.sums.items()},
                'grad_norm': {k: float(np.linalg.norm(g / n)) for k, g in self.grads.items()},
                'update': {k: stats.update_ratio(w, previous[k]) if previous else None for k, w in weights.items()},
                'output_diversity': stats.output_diversity(dense, out), 'loss': self.loss / n}
        if abs(self.total - self.loss) > 1e-12 * max(abs(self.loss), 1.0):
            snap['total_loss'] = self.total / n
        act = self.acts.get(net['output'])
        if act == 'relu':
            snap['dead_outputs'] = stats.dead_outputs(out, dense)
        pinned = stats.output_pinned(out, dense, act)
        if pinned:
            snap['output_pinned'] = pinned
        if self.latent[0]:
            snap['posterior'] = stats.posterior(np.concatenate(self.latent[0]), np.concatenate(self.latent[1]))
        return snap


class Record:
    """The checks of one training run, and what they say: a front-end adds snapshots, then asks for the metrics."""

    def __init__(self, out=None, fixes='keras'):
        self.out, self.fixes = out, fixes
        self.health, self.notes, self.not_measured = [], [], {}
        self.writer = None
        if out is not None:
            from aehealth.events import EventWriter
            self.writer = EventWriter(Path(out) / 'tensorboard')

    def add(self, snap):
        self.health.append(snap)
        if self.writer is not None:
            self.writer.scalars(snap['epoch'] or 0, stats.health_scalars(snap))  # a post-mortem's check: step 0

    def failed(self, what, error):
        """A check that raised: kept as a finding ("could not measure ..."), never raised into the user's training."""
        self.not_measured.setdefault(what, one_line(error))

    def metrics(self, net, data, baselines, epochs_done, nonfinite=None):
        """Every number and the findings, for aehealth.rules."""
        m = {'network': net, 'health': self.health, 'epochs_done': epochs_done,
             'final_loss': self.health[-1]['loss'] if self.health else None, 'baselines': baselines,
             'nonfinite': nonfinite, 'data': data, 'not_measured': self.not_measured, 'notes': self.notes}
        if epochs_done and baselines:
            m['plateau_exit_epoch'] = rules.plateau_exit_epoch(self.health, baselines)
        m['findings'] = rules.findings(m, fixes=self.fixes)
        return m

    def save(self, metrics, title):
        """health.json, health.png (with matplotlib) and the TensorBoard events in `out`."""
        (self.out / 'health.json').write_text(json.dumps(metrics, indent=1, default=_plain) + '\n')
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        try:
            from aehealth import plot
        except ImportError:  # matplotlib is the extra "plot"
            metrics['notes'].append('no health.png: matplotlib is not installed (pip install "aehealth[plot]")')
            return
        plot.plot_health(metrics, title, self.out / 'health.png')


def _plain(value):
    """JSON for numpy numbers and arrays."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


class Session:
    """One model's probe on one sample, and the checks made with it: what a pre-flight check, a training monitor and a
    post-mortem share. The probe is a front-end's: it measures the model (`measure`) and knows its network (`net`),
    the output's shape, the loss (`loss_of`) and what the first weight layer receives."""

    def __init__(self, probe, sample, targets, record):
        self.probe, self.sample, self.targets, self.record = probe, sample, targets, record
        self.dense = probe.dense(targets)
        record.notes += probe.notes
        if len(sample) < rules.FEW_ROWS:
            record.notes.append(f'the sample has {len(sample)} rows: "99% of the sample" means every row')
        self.weights, self.first = None, True

    def check(self, epoch, step_update=None):
        """Measure the model now and keep the snapshot."""
        snap, self.weights = self.probe.measure(epoch, self.sample, self.targets, self.dense, self.weights,
                                                first=self.first)
        self.first = False
        if step_update:
            snap['step_update'] = step_update
        self.record.add(snap)
        return snap

    def metrics(self, epochs_done, nonfinite):
        """Every number and the findings, with the data's numbers and the loss's baselines."""
        p = self.probe
        act = p.net['layers'][-1]['activation'] if p.net['layers'] else None
        data = stats.data_stats(p.received_values, self.dense, act, self.dense.shape[1:] if p.sparse else
                                p.output_shape, p.received_by)
        try:
            base = baselines(p.loss_of(self.targets), self.dense, p.to_output, p.chunk)
        except Exception as e:  # a loss that cannot take the mean target: the plateau is not judged
            self.record.failed('the mean-target baseline', e)
            base = None
        return self.record.metrics(p.net, data, base, epochs_done, nonfinite)


def baselines(loss_of, dense, to_output=None, chunk=1000):
    """The loss of predicting the mean target for every row, and the loss's minimum on these targets (the targets
    against themselves), from `loss_of(rows, predictions)` -> a mean over rows. `to_output` maps target values to what
    the model outputs (logits, for a loss that takes them)."""
    to_output = to_output or (lambda t: t)
    mean = np.broadcast_to(dense.mean(0, keepdims=True), dense.shape)
    totals = [0.0, 0.0]
    for i in range(0, len(dense), chunk):
        rows = slice(i, i + chunk)
        n = len(dense[rows])
        totals[0] += float(loss_of(rows, to_output(np.ascontiguousarray(mean[rows])))) * n
        totals[1] += float(loss_of(rows, to_output(dense[rows]))) * n
    base = {'mean_input': totals[0] / len(dense), 'floor': max(totals[1] / len(dense), 0.0)}
    if not all(math.isfinite(v) for v in base.values()):
        return None
    return base


def logit(p):
    """What a loss that takes logits must receive to mean the probabilities p."""
    p = np.clip(np.asarray(p, np.float32), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def report(metrics, heading, before_training):
    """The printed report: a heading, the findings with their fixes, and the notes."""
    return '\n'.join([heading] + rules.finding_lines(metrics['findings'], before_training, metrics.get('notes') or ()))


@contextlib.contextmanager
def quiet_stderr():
    """For command lines: hide TensorFlow's C++ start-up lines (they ignore TF_CPP_MIN_LOG_LEVEL); replay them if
    something fails."""
    sys.stderr.flush()
    saved, buf = os.dup(2), tempfile.TemporaryFile()
    os.dup2(buf.fileno(), 2)
    try:
        yield
    except BaseException:
        os.dup2(saved, 2)
        buf.seek(0)
        sys.stderr.write(buf.read().decode(errors='replace'))
        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        buf.close()
