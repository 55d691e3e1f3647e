"""What every front-end shares, numpy only: checking what a user passes, the lifecycle of a monitor (its checks, the
step-update capture, the error guard, the report, the run folder), the pre-flight check and the post-mortem.

A front-end supplies a probe of its model (aehealth.contracts.Probe): the probe measures the model on chunks of the
sample; `Session` adds a check's chunks up into a snapshot; `Record` keeps the checks of one run and judges them with
aehealth.rules; `Monitor` is the training monitor every front-end adapts to its framework's habits (a Keras
callback, a context manager with epoch_end(), a Lightning callback).
"""
import contextlib
import importlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aehealth import rules, stats
from aehealth.contracts import METRICS_VERSION, UsageError

GRADIENT_ROWS = 256  # the gradients are taken on the sample's first 256 rows, its values on all: a check costs about
# one training pass over the sample (docs/speed.md); the gradient norms of 256 rows against 1000: docs/rules.md

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


BUDGET = 0.05  # every='auto': checks are spaced so that the monitor takes at most 5% of the training time


def check_every(every):
    """`every` checked to be a whole number of epochs, at least 1, or 'auto' (spaced by the time budget)."""
    if every == 'auto':
        return every
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise UsageError(f'every={every!r}: give a whole number of epochs, at least 1 (every=1 checks each epoch), or '
                         f'\'auto\' (checks spaced to take at most {BUDGET:.0%} of the training time)')
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


def nonfinite_words(loss, bad):
    """Words for what is NaN or infinite (the loss, or the named weights in `bad`), or None."""
    if loss is not None and not math.isfinite(loss):
        return f'the loss is {loss}'
    return f'weights of {", ".join(bad[:3])}' + (' and more' if len(bad) > 3 else '') if bad else None


def fit_error(rows, wanted, error):
    """One line for a sample the model cannot take (`rows`: its rows' shape; `wanted`: the model's, if known)."""
    if wanted is not None and tuple(rows) != tuple(wanted):
        fix = (f'sample.reshape(len(sample), {", ".join(str(n) for n in wanted)})'
               if None not in wanted and np.prod(wanted) == np.prod(rows) else 'x_train[:1000]')
        return UsageError(f'the sample\'s rows have shape {tuple(rows)} but the model takes {tuple(wanted)}: pass rows '
                          f'shaped like its inputs, for example {fix}')
    return UsageError(f'the model could not run on the sample (rows of shape {tuple(rows)}): {one_line(error)}; pass '
                      f'rows shaped as your training feeds them')


class Check:
    """One check's numbers, added up over the sample's chunks: each measured layer, the output, the loss, gradients."""

    def __init__(self, net, channels=None, posterior=None):
        self.acts = {layer['key']: layer['activation'] for layer in net['layers']}
        self.channels = channels or {}  # {key: the channels' axis} of maps and sequences
        self.posterior = posterior  # (mean key, log-variance key) of measured layers, where no output is the posterior
        self.sums, self.outputs, self.latent = {}, [], ([], [])
        self.grads, self.loss, self.total, self.rows, self.grad_rows = {}, 0.0, 0.0, 0, 0

    def add(self, chunk):
        """One chunk (aehealth.contracts.Chunk)."""
        rows = chunk.rows
        for key, a in chunk.values.items():
            first = self.sums.get(key)  # later chunks keep the first one's shift
            self.sums[key] = stats.add_sums(first, stats.layer_sums(
                a, self.acts[key], first is None, None if first is None else first['shift'], self.channels.get(key)))
        self.outputs.append(np.asarray(chunk.output))
        for name, g in chunk.grads.items():
            self.grads[name] = self.grads.get(name, 0.0) + (0.0 if g is None else np.asarray(g, np.float64) * rows)
        self.grad_rows += rows if chunk.grads else 0
        self.loss += float(chunk.loss) * rows
        self.total += float(chunk.total) * rows
        self.rows += rows
        if chunk.mean is not None:
            self.latent[0].append(np.asarray(chunk.mean))
            self.latent[1].append(np.asarray(chunk.log_variance))
        elif self.posterior:
            self.latent[0].append(np.asarray(chunk.values[self.posterior[0]]))
            self.latent[1].append(np.asarray(chunk.values[self.posterior[1]]))

    def snapshot(self, epoch, net, dense, weights, previous):
        """The health snapshot: numbers per layer, gradient norms, updates since `previous`, output diversity, ..."""
        out = np.concatenate(self.outputs)
        n = max(self.rows, 1)
        snap = {'epoch': epoch, 'layers': {k: stats.layer_health(s, self.acts[k]) for k, s in self.sums.items()},
                'grad_norm': {k: float(np.linalg.norm(g / max(self.grad_rows, 1))) for k, g in self.grads.items()},
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
        if rules.clips(net.get('loss'), rules.net_act(net, net['output']) or act):
            snap['output_clipped'] = stats.clipped_share(out, dense)
        if self.latent[0]:
            snap['posterior'] = stats.posterior(np.concatenate(self.latent[0]), np.concatenate(self.latent[1]))
        return snap


class Record:
    """The checks of one training run, and what they say: snapshots go in, the metrics and the findings come out."""

    def __init__(self, out=None, fixes='keras'):
        self.out, self.fixes = out, fixes
        self.health, self.notes, self.not_measured, self.loop = [], [], {}, {}
        self.writer = None  # TensorBoard's event file, opened at the first check

    def add(self, snap):
        self.health.append(snap)
        if self.out is not None:
            if self.writer is None:
                from aehealth.events import EventWriter
                self.writer = EventWriter(Path(self.out) / 'tensorboard')
            self.writer.scalars(snap['epoch'] or 0, stats.health_scalars(snap))  # a post-mortem's check: step 0

    def failed(self, what, error):
        """A check that raised: kept as a finding ("could not measure ..."), never raised into the user's training."""
        self.not_measured.setdefault(what, one_line(error))

    def metrics(self, net, data, baselines, epochs_done, nonfinite=None, end_measured=True):
        """Every number and the findings, for aehealth.rules."""
        m = {'version': METRICS_VERSION, 'network': net, 'health': self.health, 'epochs_done': epochs_done,
             'final_loss': self.health[-1]['loss'] if self.health else None, 'baselines': baselines,
             'nonfinite': nonfinite, 'data': data, 'not_measured': self.not_measured, 'notes': self.notes,
             'loop': self.loop}
        if not end_measured:
            m['end_measured'] = False
        if epochs_done and baselines:
            m['plateau_exit_epoch'] = rules.plateau_exit_epoch(self.health, baselines)
        m['findings'] = rules.findings(m, fixes=self.fixes)
        return m

    def can_draw(self):
        """Whether health.png can be drawn (matplotlib, the extra "plot"); a note says so when it cannot."""
        try:
            importlib.import_module('aehealth.plot')
        except ImportError:
            self.notes.append('no health.png: matplotlib is not installed (pip install "aehealth[plot]")')
            return False
        return True

    def save(self, metrics, title, drawn=None):
        """health.json, health.png (with matplotlib) and the TensorBoard events in `out`."""
        if drawn is None:
            drawn = self.can_draw()
        (self.out / 'health.json').write_text(json.dumps(metrics, indent=1, default=_plain) + '\n')
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if drawn:
            importlib.import_module('aehealth.plot').plot_health(metrics, title, self.out / 'health.png')


def _plain(value):
    """JSON for numpy numbers and arrays."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


EMPTY_NETWORK = rules.network([], None, None, {})


class Session:
    """One model's probe on one sample, and the checks made with it: what a pre-flight check, a training monitor and a
    post-mortem share."""

    def __init__(self, probe, sample, targets, record):
        self.probe, self.sample, self.targets, self.record = probe, sample, targets, record
        self.dense = stats.dense_targets(targets, probe.output_shape, probe.loss_kind)
        record.notes += probe.notes
        if getattr(probe, 'frozen', None):
            record.loop['frozen'] = list(probe.frozen)
        if getattr(probe, 'cut', None):
            record.loop['cut'] = probe.cut
        if len(sample) < rules.FEW_ROWS:
            record.notes.append(f'the sample has {len(sample)} rows: "99% of the sample" means every row')
        self.weights, self.received = None, None  # the kernels at the last check; what the first weight layer receives
        self.fixed = None  # (the data's numbers, the baselines): the same at every check

    def check(self, epoch, step_update=None):
        """Measure the model now, chunk by chunk, and keep the snapshot."""
        p, first = self.probe, self.weights is None
        check, received = Check(p.net, p.channels, p.posterior), []
        n, g = len(self.sample), min(GRADIENT_ROWS, len(self.sample))
        with p.measuring():
            for lo, hi in [(0, g)] + [(i, min(i + p.chunk, n)) for i in range(g, n, p.chunk)]:
                chunk = p.measure(self.sample[lo:hi], self.targets[lo:hi], received=first and p.received_by is not None,
                                  gradients=lo == 0)
                check.add(chunk)
                if chunk.received is not None:
                    received.append(np.asarray(chunk.received, np.float32))
        weights = p.weights()
        snap = check.snapshot(epoch, p.net, self.dense, weights, self.weights)
        if first:
            snap['weight_scale'] = {name: stats.weight_scale(w, *p.fans(name)) for name, w in weights.items()}
            self.received = np.concatenate(received) if received else None
        self.weights = weights
        if step_update:
            snap['step_update'] = step_update
            # a step that left a kernel exactly where it was, though its gradient moves it at this rate: never updated
            rate = (self.record.loop.get('learning_rate') or {}).get('now')
            still = [k for k, v in step_update.items() if v == 0.0 and stats.movable(weights[k],
                                                                                  snap['grad_norm'].get(k), rate)]
            if still:
                self.record.loop['still'] = still
        self.record.add(snap)
        return snap

    def metrics(self, epochs_done, nonfinite, end_measured=True):
        """Every number and the findings, with the data's numbers and the loss's baselines."""
        p = self.probe
        if self.fixed is None:
            act = p.net['layers'][-1]['activation'] if p.net['layers'] else None
            sparse = p.loss_kind.sparse
            data = stats.data_stats(self.received, self.dense, act, self.dense.shape[1:] if sparse else
                                    p.output_shape, p.received_by)
            to_output = p.loss_kind.to_output
            if to_output is None and act == 'linear' and not sparse:
                try:  # a loss on logits that its name does not tell (a function of the user's own)
                    to_output = stats.logit if takes_logits(p.loss_of(self.targets), self.dense, p.chunk) else None
                except Exception:  # a loss that refuses values outside [0, 1] takes probabilities
                    to_output = None
            try:
                base = baselines(p.loss_of(self.targets), self.dense, to_output, p.chunk)
            except Exception as e:  # a loss that cannot take the mean target: the plateau is not judged
                self.record.failed('the mean-target baseline', e)
                base = None
            if base is not None:
                loss_of = p.loss_of(self.targets)
                # a loss that refuses such outputs (BCELoss past 1, a log of 0) is not that kind of loss: not judged
                around = _kept(base, 'around', lambda: loss_around(loss_of, self.dense, to_output, p.chunk))
                _kept(base, 'scaled', lambda: loss_scaled(loss_of, self.dense, p.chunk))
                _kept(base, 'rounded', lambda: loss_rounded(loss_of, self.dense, to_output, p.chunk))
                if around is not None and rules.error_kind(around) == 'squared':
                    _kept(base, 'kl', self.kl_weight, lambda e: self.record.failed('the KL term\'s weight', e))
            self.fixed = data, base
        return self.record.metrics(p.net, *self.fixed, epochs_done, nonfinite, end_measured)

    def kl_weight(self):
        """How a VAE's loss weighs its KL term against its squared error (aehealth.contracts.KLWeight), measured on
        the rows loss_around measures; None for a model with no posterior in its loss."""
        if not (self.record.health and self.record.health[0].get('posterior')):
            return None
        p, rows = self.probe, slice(0, min(self.probe.chunk, len(self.sample)))
        with p.measuring():
            chunk = p.measure(self.sample[rows], self.targets[rows], gradients=False)
        if chunk.mean is not None:
            mean, log_variance = chunk.mean, chunk.log_variance
        elif p.posterior:
            mean, log_variance = chunk.values[p.posterior[0]], chunk.values[p.posterior[1]]
        else:
            return None
        kl = float(np.sum(stats.posterior(mean, log_variance)['kl'])) * chunk.rows  # nats, summed over the rows
        term = chunk.total - chunk.loss
        if not (kl > 0 and term > 0 and math.isfinite(term)):
            return None
        return {'weight': term / kl, 'rows': chunk.rows, 'values': int(np.prod(self.dense.shape[1:])),
                'top_variance': stats.top_variance(self.dense)}

    def train_mode(self):
        """The loss on the sample with the model in training mode, for a model whose layers act otherwise in eval
        mode (BatchNorm, Dropout); kept in the loop's facts."""
        if getattr(self.probe, 'has_modes', False):
            self.record.loop['train_mode_loss'] = self.probe.train_mode_loss(self.sample, self.targets)


def preflight(probe, sample, targets, verbose=True):
    """The findings for the untrained model, before any training: [{rule, level, evidence, fix}, ...]."""
    session = Session(probe, sample, targets, Record(fixes=probe.framework))
    snap = session.check(0)
    m = session.metrics(0, probe.nonfinite(snap['loss']))
    if verbose:
        print(report(m, 'pre-flight check (untrained model):', True))
    return m['findings']


def postmortem(probe, sample, targets, verbose=True):
    """The metrics (with 'findings') of a model that has already trained, from every rule that needs no history."""
    session = Session(probe, sample, targets, Record(fixes=probe.framework))
    snap = session.check(None)
    session.train_mode()
    m = session.metrics(None, probe.nonfinite(snap['loss']))
    if verbose:
        print(report(m, f'post-mortem ({len(sample)} rows):', False))
    return m


class Results:
    """What a front-end's monitor shows of its core Monitor (`self.monitor`)."""
    findings = property(lambda self: self.monitor.findings, doc='[{rule, level, evidence, fix}], after training')
    metrics = property(lambda self: self.monitor.metrics, doc='every number, as in health.json, after training')
    health = property(lambda self: self.monitor.health, doc='one snapshot per check')
    seconds = property(lambda self: self.monitor.seconds, doc='spent in the monitor (the last run\'s)')


class Monitor:
    """The training monitor, whatever the framework: measures the model on `sample` when training starts and every
    `every` epochs, the update of the first step of each checked epoch, and at the end says why the run is stuck.

    A front-end adapts it to its framework's habits: it calls `attach` with a way to make its probe, then `begin`,
    `step_begins`/`step_ends` around optimizer steps, `epoch_end` after each epoch and `finish` at the end. A check
    that raises becomes a finding ("could not measure ..."), never an exception in the user's training; a user's
    mistake found before training starts (attach with `inside_training=False`) is raised, in one line."""

    def __init__(self, sample, targets=None, every=1, out=None, verbose=True, framework='keras', budget=BUDGET):
        self.sample, self.targets = pair(sample, targets)
        self.every, self.out, self.verbose, self.framework = check_every(every), check_out(out), verbose, framework
        if not (isinstance(budget, (int, float)) and 0 < budget < 1):
            raise UsageError(f'budget={budget!r}: give the share of the training time the monitor may take, between '
                             f'0 and 1 (for example 0.05)')
        self.budget = budget
        self.findings, self.metrics, self.seconds = [], None, 0.0
        self.reset()

    def reset(self):
        """A new run: no checks, no findings (a Keras callback is reused by every fit it is passed to)."""
        self.record = Record(self.out, fixes=self.framework)
        self.health, self.session, self.start, self.epochs_done = self.record.health, None, None, 0
        self.nonfinite, self.before, self.step_update, self.armed = None, None, None, False
        self.seconds, self.began, self.seconds_before, self.check_seconds = 0.0, None, 0.0, 0.0  # own time, when
        # training began and own time by then, the slowest check's time (every='auto' spaces checks by them)

    @contextlib.contextmanager
    def guard(self, what, inside_training=True):
        """Time the monitor's own work, and turn any error of a check into a finding: training goes on. A UsageError
        found before training (inside_training=False) is raised: the user can fix it before starting."""
        t0 = time.perf_counter()
        try:
            yield
        except UsageError:
            if not inside_training:
                raise
            self._failed(what, sys.exc_info()[1])
        except Exception as e:
            self._failed(what, e)
        finally:
            self.seconds += time.perf_counter() - t0

    def _failed(self, what, error):
        self.record.failed(what, error)
        if self.verbose:
            print(f'aehealth: could not measure {what}: {one_line(error)} (training goes on)', file=sys.stderr)

    def attach(self, make_probe, inside_training=True):
        """Make the probe of the model on the sample (make_probe(sample, targets) -> a probe)."""
        with self.guard('the model on the sample', inside_training):
            self.session = Session(make_probe(self.sample, self.targets), self.sample, self.targets, self.record)

    def begin(self, epoch=0):
        """Training starts at `epoch` (fit's initial_epoch): the first check, of the untrained model."""
        self.start = epoch
        if self.session is not None:
            t0 = time.perf_counter()
            with self.guard('the untrained model'):
                self.session.check(epoch)
                self.session.metrics(0, None)  # the data's numbers and the baselines, made once: finish() needs them,
                # and every='auto' keeps room for a check and that work
            self.check_seconds = time.perf_counter() - t0
        self.began, self.seconds_before = time.perf_counter(), self.seconds
        self.armed = self.due(ahead=1)

    def step_begins(self):
        """Before an optimizer step: copy the kernels, once in each epoch that ends with a check."""
        if self.armed and self.session is not None:
            self.armed = False
            with self.guard('one step\'s update'):
                self.before = self.session.probe.weights()

    def step_ends(self):
        """After that step: how far it moved each kernel."""
        if self.before is not None:
            with self.guard('one step\'s update'):
                self.step_update = {k: stats.update_ratio(w, self.before[k])
                                    for k, w in self.session.probe.weights().items()}
            self.before = None

    def epoch_end(self, loss=None):
        """After each epoch (`loss`: its training loss, if known, to catch NaN between checks); checks when due, and
        keeps `findings` current (a user may stop a hopeless run; the monitor never does)."""
        self.epochs_done += 1
        epoch = (self.start or 0) + self.epochs_done
        if loss is not None and not math.isfinite(float(loss)):
            self.nonfinite = self.nonfinite or f'the training loss is {float(loss)} in epoch {epoch}'
        if self.session is not None and self.due():
            t0 = time.perf_counter()
            with self.guard(f'the model after epoch {epoch}'):
                self.session.check(epoch, self.step_update)
                self._judge(epoch)
            self.check_seconds = max(self.check_seconds, time.perf_counter() - t0)  # the slowest yet: checks vary
            self.step_update = None
        self.armed = self.due(ahead=1)

    def due(self, ahead=0):
        """Whether the epoch `ahead` epochs from now ends with a check (every='auto': now, if the monitor's time stays
        within the budget's share of the training time with this check and the one finish() makes if training ends
        here; ahead, maybe)."""
        if self.every != 'auto':
            return (self.epochs_done + ahead) % self.every == 0
        if ahead:
            return True
        training = time.perf_counter() - (self.began or time.perf_counter()) - (self.seconds - self.seconds_before)
        return self.seconds + 2 * self.check_seconds <= self.budget * training

    def _judge(self, epoch):
        """The findings as they stand, and with `verbose` a line: the epoch, the loss, and any new failure."""
        before = {f['rule'] for f in self.findings if f['level'] == 'failure'}
        self.metrics = self.session.metrics(self.epochs_done, self.nonfinite)
        self.findings = self.metrics['findings']
        if self.verbose:
            snap, base = self.health[-1], self.metrics.get('baselines')
            ratio = (f' ({(snap["loss"] - base["floor"]) / (base["mean_input"] - base["floor"]):.2f}x the mean '
                     f'target\'s)' if base and base['mean_input'] > base['floor'] else '')
            new = [rules.REGISTRY.words(f['rule']) for f in self.findings if f['level'] == 'failure'
                   and f['rule'] not in before]
            print(f'aehealth: epoch {epoch}: loss {snap["loss"]:.4g}{ratio}, output diversity '
                  f'{snap["output_diversity"] if snap["output_diversity"] is None else round(snap["output_diversity"], 3)}'
                  + (f'; failing now: {", ".join(dict.fromkeys(new))}' if new else ''), flush=True)

    def _end_measured(self):
        """False when training ran and no check after its start measured the model (they all failed)."""
        return not self.epochs_done or any(h['epoch'] != self.start for h in self.health)

    def finish(self, title):
        """The end of training: a last check if the last epoch had none, the findings, the report (verbose), the run
        folder (out). Never raises."""
        t0 = time.perf_counter()
        try:
            session, end = self.session, (self.start or 0) + self.epochs_done
            if session is not None and (not self.health or self.health[-1]['epoch'] != end):
                with self.guard('the model at the end of training'):
                    session.check(end, self.step_update)
            if session is not None and self.health:
                with self.guard('the model in training mode'):
                    session.train_mode()
            if session is None or not self.health:
                net = session.probe.net if session else EMPTY_NETWORK
                self.metrics = self.record.metrics(net, None, None, self.epochs_done)
            else:
                nonfinite = self.nonfinite or session.probe.nonfinite(self.health[-1]['loss'])
                self.metrics = session.metrics(self.epochs_done, nonfinite, self._end_measured())
            self.findings = self.metrics['findings']
            drawn = self.out is not None and self.record.can_draw()  # its note belongs in the report
            if self.verbose:
                print(report(self.metrics, 'health monitor:', False))
            if self.out:
                self.record.save(self.metrics, title, drawn)
        except Exception as e:  # the report must not take the user's training down with it
            self.record.failed('the end of training', e)
            self.findings = rules.findings({'network': EMPTY_NETWORK, 'epochs_done': self.epochs_done,
                                            'not_measured': self.record.not_measured}, fixes=self.framework)
            if self.verbose:
                print(f'aehealth: could not finish the report: {one_line(e)}', file=sys.stderr)
        self.seconds += time.perf_counter() - t0
        return self.findings


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


def takes_logits(loss_of, dense, chunk=1000):
    """Whether the loss, on the sample's first chunk, is lower at the targets' logits than at the targets themselves
    by over 1%, for targets in [0, 1]: binary cross-entropy on logits scores the logits at the targets' entropy and
    the targets at 0.31 to 0.69 a value, while a loss on the values themselves is lowest at the targets."""
    t = np.asarray(dense[:chunk], np.float32)
    if not t.size or t.min() < 0 or t.max() > 1:
        return False
    rows = slice(0, len(t))
    as_given, as_logits = float(loss_of(rows, t)), float(loss_of(rows, stats.logit(t)))
    return math.isfinite(as_logits) and as_logits < as_given - 0.01 * abs(as_given)


def loss_around(loss_of, dense, to_output=None, chunk=1000):
    """The loss near the targets, on the sample's first chunk (aehealth.contracts.LossAround), for rules.error_kind;
    None for targets that do not vary or a loss that is not finite there."""
    to_output = to_output or (lambda t: t)
    t = np.asarray(dense[:chunk], np.float64)
    span = float(t.max() - t.min()) if t.size else 0.0
    if not span > 0:
        return None
    rows, step, mean = slice(0, len(t)), rules.AROUND_STEP * span, t.mean(0, keepdims=True)
    at = {k: float(loss_of(rows, to_output(np.ascontiguousarray(p, np.float32))))
          for k, p in (('at', t), ('plus', t + step), ('plus2', t + 2 * step), ('mean', np.broadcast_to(mean, t.shape)))}
    if not all(math.isfinite(v) for v in at.values()):
        return None
    return {'step': step, **at, 'spread_squared': float(((t - mean) ** 2).mean()),
            'spread_absolute': float(np.abs(t - mean).mean())}


def _kept(base, key, measure, failed=None):
    """base[key] = measure(), unless it is None or raises (then `failed(error)`, if given); what it measured."""
    try:
        value = measure()
    except Exception as e:
        if failed is not None:
            failed(e)
        return None
    if value is not None:
        base[key] = value
    return value


def loss_scaled(loss_of, dense, chunk=1000):
    """The loss on the sample's first chunk at outputs rules.SCALES times the targets, as the targets are (no logits
    made of them), for the unbounded-loss rule; None where it is not finite."""
    t = np.asarray(dense[:chunk], np.float32)
    values = [float(loss_of(slice(0, len(t)), np.ascontiguousarray(k * t))) for k in rules.SCALES]
    return values if all(math.isfinite(v) for v in values) else None


def loss_rounded(loss_of, dense, to_output=None, chunk=1000):
    """The loss on the sample's first chunk at the targets and at the targets rounded to 0 and 1, for targets in [0, 1]
    with at least rules.ROUNDED_SHARE of their values strictly inside; None otherwise, or where it is not finite."""
    t = np.asarray(dense[:chunk], np.float32)
    if not t.size or t.min() < 0 or t.max() > 1 or ((t > 0) & (t < 1)).mean() < rules.ROUNDED_SHARE:
        return None
    to_output = to_output or (lambda v: v)
    rows = slice(0, len(t))
    values = [float(loss_of(rows, to_output(np.ascontiguousarray(v)))) for v in (t, np.round(t))]
    return values if all(math.isfinite(v) for v in values) else None


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
