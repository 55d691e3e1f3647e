"""aehealth for Keras 3 (TensorFlow backend): a pre-flight check, and a callback that says why an autoencoder is stuck.

    from aehealth.keras import HealthMonitor, preflight
    preflight(model, x_train[:1000])                          # before training: what is wrong already
    monitor = HealthMonitor(x_train[:1000], out='runs/mine')  # at the end of fit: why it is stuck
    model.fit(x_train, x_train, epochs=20, callbacks=[monitor])
    monitor.findings                                          # [{rule, level, evidence, fix}, ...]

Both run the model on the sample you give, recording each layer's output as the model's own call makes it (so
Sequential, functional and subclassed models, nested ones and wrapped layers are all measured the same way), and
take each weight matrix's gradient of the compiled loss, extra losses (activity regularisers, add_loss) included,
with a GradientTape. A model without a `call` or a compiled loss (its own train_step, like keras.io's VAE) attaches
with `forward=`: a function from inputs to the reconstruction, or to (reconstruction, mean, log-variance).
Nothing in the model changes (its layers' losses and random generators are put back as they were), and training
is never stopped: a check that fails becomes a finding, "could not measure ...".
"""
import contextlib
import math
import sys
import time

import numpy as np

try:
    import keras
    import tensorflow as tf
except ImportError as e:  # the extra "keras" is not installed
    raise ImportError(f'aehealth.keras needs TensorFlow with Keras 3 ({e.name} is missing): pip install '
                      f'"aehealth[keras]"') from None

from aehealth import monitor as core
from aehealth import rules, stats

CHUNK = 1000  # sample rows per pass: a conv layer's maps for a few thousand inputs need not fit in memory at once
ACTIVATION_LAYERS = {keras.layers.ReLU: 'relu', keras.layers.LeakyReLU: 'leaky_relu', keras.layers.Softmax: 'softmax',
                     keras.layers.ELU: 'elu', keras.layers.PReLU: 'prelu'}
UsageError = core.UsageError
_NOT_SET = object()


# ---------------------------------------------------------------- what a layer is, to the rules

def inner(layer):
    """The layer whose activation and kernel judge `layer`: the one a TimeDistributed or Bidirectional wraps."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.forward_layer
    if isinstance(layer, keras.layers.Wrapper):
        return layer.layer
    return layer


def kernel(layer):
    """A layer's input weight matrix (an RNN's is its cell's), or None."""
    layer = inner(layer)
    if isinstance(layer, keras.layers.RNN):
        layer = layer.cell
    try:
        return getattr(layer, 'kernel', None)
    except Exception:  # a kernel property of a layer that is not built
        return None


def activation_name(layer):
    """'relu', 'sigmoid', 'linear', ... for a layer that applies a nonlinearity or a weight matrix; None otherwise."""
    layer = inner(layer)
    for kind, name in ACTIVATION_LAYERS.items():
        if isinstance(layer, kind):
            return 'leaky_relu' if name == 'relu' and getattr(layer, 'negative_slope', 0) else name
    fn = getattr(layer, 'activation', None)
    if fn is None or not callable(fn):
        return 'linear' if kernel(layer) is not None else None
    name = getattr(fn, '__name__', type(fn).__name__).lower()
    return 'linear' if name in ('linear', 'identity') else name


def _is_embedding(layer):
    return getattr(inner(layer), 'embeddings', None) is not None


def _leaves(model):
    """The layers whose outputs are recorded: every layer inside the model that holds no layers of its own, and the
    wrappers and RNN layers as wholes (their insides run in loops)."""
    out, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        subs = layer._flatten_layers(include_self=False, recursive=False)
        if not subs or isinstance(layer, (keras.layers.Wrapper, keras.layers.Bidirectional, keras.layers.RNN)):
            out.append(layer)
        else:
            for sub in subs:
                walk(sub)
    for layer in model._flatten_layers(include_self=False, recursive=False):
        walk(layer)
    return out


@contextlib.contextmanager
def _recording(leaves, record):
    """Each leaf's `call` wrapped for the duration, appending (layer, input, output) to `record` as the model runs."""
    saved = []
    try:
        for layer in leaves:
            original = layer.call

            def call(*args, _original=original, _layer=layer, **kwargs):
                out = _original(*args, **kwargs)
                record.append((_layer, args[0] if args else kwargs.get('inputs'), out))
                return out
            saved.append((layer, layer.__dict__.get('call', _NOT_SET)))
            object.__setattr__(layer, 'call', call)  # an instance attribute, past Keras' tracking
        yield record
    finally:
        for layer, own in saved:
            if own is _NOT_SET:
                object.__delattr__(layer, 'call')
            else:
                object.__setattr__(layer, 'call', own)


@contextlib.contextmanager
def _untouched(model):
    """Put back what running the model changes outside its weights: its layers' collected losses and random state."""
    layers = model._flatten_layers(include_self=True)
    losses = [(layer, list(layer._losses), set(getattr(layer, '_loss_ids', ()))) for layer in layers
              if hasattr(layer, '_losses')]
    generators = [sg for layer in layers for sg in getattr(layer, '_seed_generators', [])]
    from keras.src.random.seed_generator import global_seed_generator
    generators.append(global_seed_generator())
    states = [(sg, np.asarray(sg.state)) for sg in generators]
    try:
        yield
    finally:
        for layer, kept, ids in losses:
            layer._losses[:] = kept
            if hasattr(layer, '_loss_ids'):
                layer._loss_ids.clear()
                layer._loss_ids.update(ids)
        for sg, state in states:
            sg.state.assign(state)


def _first(value):
    """The first tensor of a layer's output (an RNN with return_state, a Bidirectional with merge_mode=None)."""
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value


def _same_values(a, b):
    """Whether a layer's output is the reconstruction, up to its shape."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6)


def _fans(shape):
    """(fan-in, fan-out) of a kernel shape, as Keras' initialisers count them."""
    if len(shape) < 2:
        return int(shape[0]), int(shape[0])
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def _inputs(model):
    """The model's symbolic inputs, or None when it has none to show (a subclassed model)."""
    try:
        return list(model.inputs) if model.inputs else None
    except (AttributeError, ValueError):
        return None


def _loss_name(loss):
    if loss is None:
        return None
    if isinstance(loss, str):
        return loss
    return getattr(loss, 'name', None) or getattr(loss, '__name__', type(loss).__name__)


# ---------------------------------------------------------------- the probe: one model's numbers on a sample

class Probe:
    """What the rules need to know about a model, found by running it once on a few rows, and a tf.function that
    measures it on the sample: every measured layer's values, the reconstruction, the loss and the kernels' gradients."""

    def __init__(self, model, sample, targets, forward=None):
        if keras.backend.backend() != 'tensorflow':
            raise UsageError(f'aehealth.keras needs Keras\' TensorFlow backend, not {keras.backend.backend()!r}: set '
                             f'KERAS_BACKEND=tensorflow (for a PyTorch module, use aehealth.torch)')
        self.model, self.notes, self.custom = model, [], forward is not None
        inputs = _inputs(model)
        if forward is None and inputs is not None and len(inputs) > 1:
            raise UsageError(f'the model takes {len(inputs)} inputs and the monitor feeds it one array: pass '
                             f'forward=lambda x: model([x, other]) with the other inputs as they should be')
        if forward is None and isinstance(model, keras.Model) and type(model).call is keras.Model.call \
                and not isinstance(model, keras.Sequential) and getattr(model, '_functional', None) is None \
                and not hasattr(model, '_run_through_graph'):
            raise UsageError(f'{type(model).__name__} has no call() to run (it trains with its own train_step): pass '
                             f'forward=, a function from inputs to the reconstruction or to (reconstruction, mean, '
                             f'log-variance)')
        self.forward = forward or (lambda x: model(x, training=False))
        self.leaves = _leaves(model)
        with _untouched(model):
            record, out = self._discover(sample[:rules.MIN_ROWS], targets[:rules.MIN_ROWS], forward)
        self._describe(record, out, targets)
        self.received_values = None
        try:
            self.loss_fn(tf.convert_to_tensor(targets[:rules.MIN_ROWS]), self._parts(out)[0])
        except Exception:
            raise UsageError(f'the loss cannot compare the targets (rows of shape {tuple(targets.shape[1:])}) with the '
                             f'output (rows of shape {self.output_shape}): pass one target per input, shaped like the '
                             f'output') from None
        self._step = self._make_step()

    def _fit_error(self, sample, error):
        """One line for a sample the model cannot take."""
        inputs = _inputs(self.model)
        wanted = tuple(inputs[0].shape[1:]) if inputs else None
        if wanted is not None and tuple(sample.shape[1:]) != wanted:
            fix = (f'sample.reshape(len(sample), {", ".join(str(n) for n in wanted)})'
                   if None not in wanted and np.prod(wanted) == np.prod(sample.shape[1:]) else 'x_train[:1000]')
            return UsageError(f'the sample\'s rows have shape {tuple(sample.shape[1:])} but the model takes '
                              f'{wanted}: pass rows shaped like its inputs, for example {fix}')
        return UsageError(f'the model could not run on the sample (rows of shape {tuple(sample.shape[1:])}): '
                          f'{core.one_line(error)}')

    def _discover(self, x, t, forward):
        """Run the model once, eagerly, recording every leaf; which recorded outputs the reconstruction depends on."""
        if isinstance(self.model, keras.Model) and not self.model.built and forward is None:
            try:
                self.model(x)  # build it: fit would, with the same shapes
            except Exception as e:
                raise self._fit_error(x, e) from None
            self.leaves = _leaves(self.model)
        record = []
        x = tf.convert_to_tensor(x)
        try:
            with tf.GradientTape(persistent=True) as tape:
                if x.dtype.is_floating:
                    tape.watch(x)
                with _recording(self.leaves, record):
                    out = self.forward(x)
                self._pick(out, t)
                recon = self._parts(out)[0]
                total = tf.reduce_sum(tf.cast(recon, tf.float32))
        except UsageError:
            raise
        except Exception as e:
            raise self._fit_error(np.asarray(x), e) from None
        tensors = [_first(o) for _, _, o in record]
        floating = [k for k, o in enumerate(tensors) if tf.is_tensor(o) and o.dtype.is_floating]
        grads = tape.gradient(total, [tensors[k] for k in floating])
        del tape
        self.upstream = {k for k, g in zip(floating, grads) if g is not None}
        return record, out

    def _pick(self, out, t):
        """Which of the model's outputs is the reconstruction (and, by the VAE convention, the posterior's mean and
        log-variance): self.parts, and a note when the model has several outputs."""
        if isinstance(out, dict):
            names, values = list(out), list(out.values())
        elif isinstance(out, (list, tuple)):
            names = list(getattr(self.model, 'output_names', None) or []) if self.custom is False else []
            names = names if len(names) == len(out) else [f'output {k}' for k in range(len(out))]
            values = list(out)
        else:
            self.parts, self.output_name = (None, None, None), None
            return
        shapes = [tuple(v.shape[1:]) for v in values]
        if len(values) == 3 and shapes[1] == shapes[2] and len(shapes[1]) == 1:
            self.parts, self.output_name = (0, 1, 2), names[0]  # (reconstruction, mean, log-variance)
            return
        target = tuple(t.shape[1:])
        fits = [k for k, s in enumerate(shapes) if s == target or (s[:-1] == target and
                                                                   np.issubdtype(t.dtype, np.integer))]
        if len(fits) != 1:
            listed = ', '.join(f'{name} {shape}' for name, shape in zip(names, shapes))
            raise UsageError(f'the model has {len(values)} outputs ({listed}) and {"none" if not fits else "several"} '
                             f'of them is shaped like the targets {target}: pass forward=lambda x: model(x)[k] with '
                             f'k the reconstruction\'s position')
        self.parts, self.output_name = (fits[0], None, None), names[fits[0]]
        self.notes.append(f'the model has {len(values)} outputs: judged {names[fits[0]]}, the one shaped like the '
                          f'targets (forward= chooses another)')

    def _parts(self, out):
        """(reconstruction, mean, log-variance) of a model output; the last two None without a posterior."""
        if self.parts[0] is None:
            return out, None, None
        values = list(out.values()) if isinstance(out, dict) else list(out)
        return tuple(None if k is None else values[k] for k in self.parts)

    def _describe(self, record, out, targets):
        """The network as the rules see it, the kernels to differentiate, the loss, and the first weight layer."""
        model = self.model
        recon = self._parts(out)[0]
        self.output_shape = tuple(int(n) for n in recon.shape[1:])
        counts, measured = {}, []
        for k, (layer, _, value) in enumerate(record):
            counts[layer.name] = counts.get(layer.name, 0) + 1
            key = layer.name if counts[layer.name] == 1 else f'{layer.name}#{counts[layer.name]}'
            if k in self.upstream and activation_name(layer) is not None:
                measured.append((k, key, layer, value))
        weighted = [(key, layer) for _, key, layer, _ in measured if kernel(layer) is not None]
        # a weight layer whose output an activation layer takes whole is measured after it, as Dense(activation=...)
        fed = {id(_first(record[k][1])) for k, _, layer, _ in measured if kernel(layer) is None
               and activation_name(layer) not in ('linear', None) and tf.is_tensor(_first(record[k][1]))}
        measured = [m for m in measured if not (activation_name(m[2]) == 'linear' and kernel(m[2]) is not None
                                                and id(_first(m[3])) in fed)]
        self.index = [k for k, *_ in measured]
        self.keys = [key for _, key, _, _ in measured]
        self.output = self.keys[-1] if self.keys else None
        widths = {key: int(np.prod(_first(value).shape[1:])) for _, key, _, value in measured}
        self.channels = {key: -1 for _, key, _, value in measured if len(_first(value).shape) > 2}  # channels last
        hidden = [key for key in self.keys if key != self.output]
        if hidden and kernel(measured[-1][2]) is None and activation_name(measured[-2][2]) == 'linear':
            hidden = hidden[:-1]  # an activation layer at the end, after BatchNorm say: the layer before is the output's
        code = min(reversed(hidden), key=lambda key: widths[key]) if hidden else None  # narrowest; the later if tied
        self.kernels = {}
        for key, layer in weighted:
            w = kernel(layer)
            if w.trainable and key not in self.kernels and all(w is not v for v in self.kernels.values()):
                self.kernels[key] = w
        self.received, self.received_by = None, None
        first = next(((k, layer) for k, (layer, _, _) in enumerate(record)
                      if kernel(layer) is not None or _is_embedding(layer)), None)
        if first is not None and not _is_embedding(first[1]):
            self.received, self.received_by = first[0], first[1].name
        loss = getattr(model, 'loss', None)
        if isinstance(loss, (list, tuple)):
            loss = loss[self.parts[0]] if self.parts[0] is not None and self.parts[0] < len(loss) else None
        elif isinstance(loss, dict):
            loss = loss.get(self.output_name)
        if loss is None:
            self.notes.append('no compiled loss for the reconstruction: judged with mean squared error')
            loss = 'mean_squared_error'
        fn = keras.losses.get(loss)
        self.from_logits = bool(getattr(fn, 'from_logits', False))
        name = _loss_name(loss)
        self.sparse = 'sparse' in name.lower()
        self.loss_fn = lambda t, p: tf.reduce_mean(tf.cast(fn(t, p), tf.float32))
        act = activation_name(record[self.index[-1]][0]) if self.index else None
        if self.index and not _same_values(_first(record[self.index[-1]][2]), recon):
            self.notes.append(f'the output is made from {self.output} by layers the monitor cannot read: the '
                              f'output\'s range is not judged')
            act = None
        if self.from_logits:
            act = 'logits'
        self.to_output = None if not self.from_logits else (np.log if 'categorical' in name.lower() else core.logit)
        self.net = rules.network(
            [dict(key=key, label=key, activation=activation_name(layer) if key != self.output else act,
                  units=widths[key]) for _, key, layer, _ in measured],
            output=self.output, code=code, loss=name, kernels={key: key for key in self.kernels})

    def _make_step(self):
        model, kernels = self.model, list(self.kernels.values())

        @tf.function(reduce_retracing=True)
        def step(x, t):
            record = []
            with tf.GradientTape() as tape:
                with _recording(self.leaves, record):
                    out = self.forward(x)
                recon, mean, log_variance = self._parts(out)
                data = self.loss_fn(t, recon)
                extra = [tf.cast(v, tf.float32) for v in model.losses]
                total = data + tf.add_n(extra) if extra else data
            grads = tape.gradient(total, kernels)
            values = [_first(record[k][2]) for k in self.index]
            received = record[self.received][1] if self.received is not None else tf.zeros((0,))
            return values, recon, data, total, grads, received, \
                mean if mean is not None else tf.zeros((0,)), log_variance if log_variance is not None else tf.zeros((0,))
        return step

    chunk = CHUNK

    def dense(self, targets):
        """The targets as the output is compared with them (a sparse loss's class ids as one-hot rows)."""
        return core.dense_targets(targets, self.output_shape) if self.sparse else targets

    def loss_of(self, targets):
        """loss(rows, predictions) on `targets`, for the baselines: the compiled loss, with nothing extra."""
        return lambda rows, p: float(self.loss_fn(targets[rows], tf.convert_to_tensor(p, tf.float32)))

    def measure(self, epoch, x, targets, dense, previous, first=False):
        """A health snapshot of the model now, and its kernels (for the next check's update ratios)."""
        check = core.Check(self.net, self.channels)
        received = []
        with _untouched(self.model):
            for i in range(0, len(x), CHUNK):
                xb, tb = x[i:i + CHUNK], targets[i:i + CHUNK]
                values, recon, data, total, grads, seen, mean, log_variance = self._step(xb, tb)
                check.add({key: v for key, v in zip(self.keys, values)}, np.asarray(recon), float(data), float(total),
                          {name: g for name, g in zip(self.kernels, grads)}, len(xb),
                          np.asarray(mean) if mean.shape[0] else None,
                          np.asarray(log_variance) if log_variance.shape[0] else None)
                if first and self.received is not None:
                    received.append(np.asarray(seen, np.float32))
        weights = {name: np.asarray(v) for name, v in self.kernels.items()}
        snap = check.snapshot(epoch, self.net, dense, weights, previous)
        if first:
            snap['weight_scale'] = {name: stats.weight_scale(w, *_fans(w.shape)) for name, w in weights.items()}
            self.received_values = np.concatenate(received) if received else None
        return snap, weights


def _nonfinite(model, loss=None):
    """Words for what is NaN or infinite now (the loss, or which weights), or None."""
    if loss is not None and not math.isfinite(loss):
        return f'the loss is {loss}'
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w)))]
    return f'weights of {", ".join(bad[:3])}' + (' and more' if len(bad) > 3 else '') if bad else None


def preflight(model, sample, targets=None, verbose=True, forward=None):
    """The findings for the untrained model, before any training: [{rule, level, evidence, fix}, ...]."""
    sample, targets = core.pair(sample, targets)
    if forward is None and not getattr(model, 'compiled', False):
        raise UsageError('compile the model first (model.compile(optimizer=..., loss=...)): the pre-flight check '
                         'measures gradients of its loss')
    record = core.Record()
    session = core.Session(Probe(model, sample, targets, forward), sample, targets, record)
    snap = session.check(0)
    m = session.metrics(0, _nonfinite(model, snap['loss']))
    if verbose:
        print(core.report(m, 'pre-flight check (untrained model):', True))
    return m['findings']


def postmortem(model, sample, targets=None, verbose=True, forward=None):
    """The findings for a model that has already trained, from every rule that needs no training history: its
    metrics dict (with 'findings'). A model saved without its loss is judged with mean squared error (noted)."""
    sample, targets = core.pair(sample, targets)
    record = core.Record()
    session = core.Session(Probe(model, sample, targets, forward), sample, targets, record)
    snap = session.check(None)
    m = session.metrics(None, _nonfinite(model, snap['loss']))
    if verbose:
        print(core.report(m, f'post-mortem ({len(sample)} rows):', False))
    return m


class HealthMonitor(keras.callbacks.Callback):
    """Measures the model on `sample` at the start of fit and every `every` epochs; after fit, `findings` says why it
    is stuck (and `metrics` holds every number). With `out`, a folder gets health.json, health.png and TensorBoard
    scalars. `targets`: what the model should output for `sample` (default: the sample itself). `forward`: for a
    model without `call` or compiled loss, a function from inputs to the reconstruction, or to (reconstruction,
    mean, log-variance)."""

    def __init__(self, sample, every=1, out=None, targets=None, verbose=True, forward=None):
        super().__init__()
        self.sample, self.targets = core.pair(sample, targets)
        self.every, self.out = core.check_every(every), core.check_out(out)
        self.verbose, self.forward = verbose, forward
        self.findings, self.metrics, self.health = [], None, []
        self.seconds = 0.0  # spent in this callback, so that its cost can be measured within one fit
        self._session = self._record = self._before = self._step_update = None
        self._epoch, self._start, self._epochs_done, self._nonfinite = 0, None, 0, None

    @contextlib.contextmanager
    def _guard(self, what):
        """Time the callback's own work, and turn any error of a check into a finding: fit goes on."""
        t0 = time.perf_counter()
        try:
            yield
        except Exception as e:
            self._record.failed(what, e)
            if self.verbose:
                print(f'aehealth: could not measure {what}: {core.one_line(e)} (training goes on)', file=sys.stderr)
        finally:
            self.seconds += time.perf_counter() - t0

    def on_train_begin(self, logs=None):
        self._record = core.Record(self.out, fixes='keras')
        self.health, self.seconds, self._session, self._start = self._record.health, 0.0, None, None
        self._epochs_done, self._nonfinite, self._step_update = 0, None, None
        with self._guard('the model on the sample'):
            self._session = core.Session(Probe(self.model, self.sample, self.targets, self.forward), self.sample,
                                         self.targets, self._record)

    def _due(self, epoch):
        return (epoch + 1 - self._start) % self.every == 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._start is None:  # the first check, labelled with the epoch fit starts from (initial_epoch)
            self._start = epoch
            if self._session is not None:
                with self._guard('the untrained model'):
                    self._session.check(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self._session is not None and self._due(self._epoch):
            with self._guard('one step\'s update'):
                self._before = {k: np.asarray(v) for k, v in self._session.probe.kernels.items()}

    def on_train_batch_end(self, batch, logs=None):
        if self._before is not None:
            with self._guard('one step\'s update'):
                self._step_update = {k: stats.update_ratio(v, self._before[k])
                                     for k, v in self._session.probe.kernels.items()}
            self._before = None

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1 - self._start
        loss = (logs or {}).get('loss')
        if loss is not None and not math.isfinite(float(loss)):
            self._nonfinite = self._nonfinite or f'the training loss is {float(loss)} in epoch {epoch + 1}'
        if self._session is not None and self._due(epoch):
            with self._guard(f'the model after epoch {epoch + 1}'):
                self._session.check(epoch + 1, self._step_update)
            self._step_update = None

    def on_train_end(self, logs=None):
        t0 = time.perf_counter()
        try:
            self._finish()
        except Exception as e:  # never out of fit: the History is the user's
            self._record.failed('the end of training', e)
            self.findings = rules.findings({'network': rules.network([], None, None, {}), 'epochs_done':
                                            self._epochs_done, 'not_measured': self._record.not_measured})
            if self.verbose:
                print(f'aehealth: could not finish the report: {core.one_line(e)}', file=sys.stderr)
        self.seconds += time.perf_counter() - t0

    def _finish(self):
        session, end = self._session, (self._start or 0) + self._epochs_done
        if session is not None and (not self.health or self.health[-1]['epoch'] != end):
            with self._guard('the model at the end of training'):
                session.check(end, self._step_update)
        if session is None or not self.health:
            net = session.probe.net if session else rules.network([], None, None, {})
            self.metrics = self._record.metrics(net, None, None, self._epochs_done)
        else:
            nonfinite = self._nonfinite or _nonfinite(self.model, self.health[-1]['loss'])
            self.metrics = session.metrics(self._epochs_done, nonfinite)
        self.findings = self.metrics['findings']
        if self.verbose:
            print(core.report(self.metrics, 'health monitor:', False))
        if self.out:
            self._record.save(self.metrics, f'{self.model.name}: health over training')
