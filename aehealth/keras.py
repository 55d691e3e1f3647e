"""aehealth for Keras 3 (TensorFlow, JAX or PyTorch backend): a pre-flight check, and a callback that says why an
autoencoder is stuck.

    from aehealth.keras import HealthMonitor, preflight
    preflight(model, x_train[:1000])                          # before training: what is wrong already
    monitor = HealthMonitor(x_train[:1000], out='runs/mine')  # at the end of fit: why it is stuck
    model.fit(x_train, x_train, epochs=20, callbacks=[monitor])
    monitor.findings                                          # [{rule, level, evidence, fix}, ...]

Both run the model on the sample you give, recording each layer's output as the model's own call makes it (so
Sequential, functional and subclassed models, nested ones and wrapped layers are all measured the same way; an
activation written in call() is told from the values), and take each weight matrix's gradient of the compiled loss,
extra losses (activity regularisers, add_loss) included, through the backend in use (aehealth.keras_backends). A
model without a `call` or a compiled loss (its own train_step, like keras.io's VAE) attaches with `forward=`: a
function from inputs to the reconstruction, or to (reconstruction, mean, log-variance). A VAE whose Sampling layer
takes [z_mean, z_log_var] is checked for posterior collapse as it is.
Nothing in the model changes (its layers' losses and random generators are put back as they were), and training
is never stopped: a check that fails becomes a finding, "could not measure ...".
"""
import contextlib

import numpy as np

try:
    import keras

    from aehealth import keras_backends as backend
except ImportError as e:  # no Keras, or not its backend: the extras say what to install
    raise ImportError(f'aehealth.keras needs Keras 3 and its backend ({e.name} is missing): pip install '
                      f'"aehealth[keras]" for TensorFlow, "aehealth[keras-jax]" or "aehealth[keras-torch]"') from None

from aehealth import monitor as core
from aehealth import network, rules
from aehealth.contracts import Chunk, LayerRecord

CHUNK = 1000  # sample rows per pass: a conv layer's maps for a few thousand inputs need not fit in memory at once
ACTIVATION_LAYERS = {keras.layers.ReLU: 'relu', keras.layers.LeakyReLU: 'leaky_relu', keras.layers.Softmax: 'softmax',
                     keras.layers.ELU: 'elu', keras.layers.PReLU: 'prelu'}
MODAL = (keras.layers.BatchNormalization, keras.layers.Dropout, keras.layers.SpatialDropout1D,
         keras.layers.SpatialDropout2D, keras.layers.GaussianNoise)  # layers that act otherwise in training
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


def _axis_units(layer, tensor):
    """How many values a softmax layer makes sum to 1 (the size of its axis); None for other layers."""
    if activation_name(layer) != 'softmax':
        return None
    axis = getattr(inner(layer), 'axis', -1)
    return int(tensor.shape[axis if isinstance(axis, int) else axis[-1]])


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
def _recording(leaves, record, nudge=None):
    """Each leaf's `call` wrapped for the duration, appending (layer, input, output) to `record` as the model runs
    (`nudge(k, output)`: what the k-th leaf to run returns instead, for keras_backends.upstream on JAX)."""
    saved = []
    try:
        for layer in leaves:
            original = layer.call

            def call(*args, _original=original, _layer=layer, **kwargs):
                out = _original(*args, **kwargs)
                if nudge is not None:
                    out = nudge(len(record), out)
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
    states = [(sg, backend.numpy(sg.state)) for sg in generators]
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


def _same_values(a, b):
    """Whether a layer's output is the reconstruction, up to its shape."""
    a, b = backend.numpy(a).astype(np.float64).ravel(), backend.numpy(b).astype(np.float64).ravel()
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6)


def _pair(given, made):
    """The indices of the two records that made the two tensors a layer received as its inputs (the first to make
    each: a layer that hands its inputs on, as a KL layer does, made nothing), or None."""
    if isinstance(given, (list, tuple)) and len(given) == 2:
        k = [made.get(id(backend.first(g))) for g in given]
        return tuple(k) if None not in k else None
    return None


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

def graph_model(model):
    """Whether the model is a graph of layers (Sequential or functional, so it can be rebuilt layer by layer), not a
    subclass whose call() is code."""
    return isinstance(model, keras.Sequential) or hasattr(model, '_run_through_graph')


class Probe:
    """A Keras model as aehealth.contracts.Probe: found by running it once on a few rows (the core describes the
    network from what ran), then measured on the sample (keras_backends.step): every measured layer's values, the
    reconstruction, the loss and the kernels' gradients."""

    framework = 'keras'
    chunk = CHUNK

    def __init__(self, model, sample, targets, forward=None):
        self.model, self.notes, self.custom = model, [], forward is not None
        inputs = _inputs(model)
        if forward is None and inputs is not None and len(inputs) > 1:
            raise UsageError(f'the model takes {len(inputs)} inputs and the monitor feeds it one array: pass '
                             f'forward=lambda x: model([x, other]) with the other inputs as they should be')
        if forward is None and isinstance(model, keras.Model) and type(model).call is keras.Model.call \
                and not graph_model(model):
            raise UsageError(f'{type(model).__name__} has no call() to run (it trains with its own train_step): pass '
                             f'forward=, a function from inputs to the reconstruction or to (reconstruction, mean, '
                             f'log-variance)')
        self.forward = forward or (lambda x: model(x, training=False))
        self.leaves = _leaves(model)
        with _untouched(model):
            records, out = self._discover(sample[:rules.MIN_ROWS], targets[:rules.MIN_ROWS], forward)
        self._loss()
        recon = self.outputs.parts(out)[0]
        self.output_shape = tuple(int(n) for n in recon.shape[1:])
        output = LayerRecord('output', 'output', None, False, int(np.prod(self.output_shape)), is_output=True,
                             channels=-1 if len(recon.shape) > 2 else None, handle=RECON)
        described = network.describe(records, output, self.loss_kind.name, self.loss_kind.from_logits)
        self.net, self.channels, self.kernels = described.net, described.channels, described.kernels
        self.frozen, self.posterior, self.cut = described.frozen, described.posterior, described.cut
        self.measured = [r.handle for r in described.measured]
        self.notes += described.notes
        try:
            self.loss_fn(keras.ops.convert_to_tensor(targets[:rules.MIN_ROWS]), recon)
        except Exception:
            raise UsageError(f'the loss cannot compare the targets (rows of shape {tuple(targets.shape[1:])}) with the '
                             f'output (rows of shape {self.output_shape}): pass one target per input, shaped like the '
                             f'output') from None
        self._steps = {}

    def _fit_error(self, sample, error):
        """One line for a sample the model cannot take."""
        inputs = _inputs(self.model)
        stateful = [layer.name for layer in self.model._flatten_layers() if getattr(layer, 'stateful', False)]
        wanted = tuple(inputs[0].shape[1:]) if inputs else None
        if stateful and len(wanted or ()) == len(sample.shape[1:]) and all(
                a in (None, b) for a, b in zip(wanted, sample.shape[1:])):  # rows it takes: the fixed batch failed
            return UsageError(f'{stateful[0]} is a stateful RNN, whose state carries from batch to batch, which '
                              f'aehealth cannot measure without changing it: check a stateless copy (stateful=False, '
                              f'keras.Input(shape={wanted}), set_weights(model.get_weights())) '
                              f'with preflight or postmortem')
        return core.fit_error(sample.shape[1:], wanted, error)

    def _discover(self, x, t, forward):
        """Run the model once, eagerly, recording every leaf: the records (what ran, and what the reconstruction
        depends on) and the model's output."""
        if isinstance(self.model, keras.Model) and not self.model.built and forward is None:
            try:
                self.model(x)  # build it: fit would, with the same shapes
            except Exception as e:
                raise self._fit_error(x, e) from None
            self.leaves = _leaves(self.model)

        def run(x, record, nudge):
            with _recording(self.leaves, record, nudge):
                return self.forward(x)

        def scalar(out):
            if getattr(self, 'outputs', None) is None:
                self._pick(out, t)
            return keras.ops.sum(keras.ops.cast(self.outputs.parts(out)[0], 'float32'))
        self.outputs = None
        try:
            out, record, upstream = backend.upstream(run, x, scalar)
        except UsageError:
            raise
        except Exception as e:
            raise self._fit_error(np.asarray(x), e) from None
        drawing = network.drawing(self._run_values(x), self._run_values(x))  # a sampling layer's draws, put back
        records = self._records(record, upstream, drawing, *self.outputs.parts(out)[:2])
        self.received, self.received_by = None, None
        first = next(((k, layer) for k, (layer, _, _) in enumerate(record)
                      if kernel(layer) is not None or _is_embedding(layer)), None)
        if first is not None and not _is_embedding(first[1]):
            self.received, self.received_by = first[0], first[1].name
        return records, out

    def _records(self, record, upstream, drawing, recon, mean):
        """The run's records as neutral LayerRecords (an activation written in call() as one of its own, before the
        layer it went to): what each is, what the reconstruction depends on (`upstream`), what each takes whole, and
        of a layer given two tensors, which records made them and whether it draws random numbers (`drawing`)."""
        tensors = [backend.first(o) for _, _, o in record]
        makers = {}  # the first record to make each tensor: a layer that hands its input on (Dropout) made nothing
        for k, v in enumerate(tensors):
            makers.setdefault(id(v), k)
        counts, records, at = {}, [], {}  # at: a run's record's index among the LayerRecords
        for k, (layer, given, value) in enumerate(record):
            counts[layer.name] = counts.get(layer.name, 0) + 1
            key = layer.name if counts[layer.name] == 1 else f'{layer.name}#{counts[layer.name]}'
            tensor, w = tensors[k], kernel(layer)
            applied = self._applied(given, k, tensors, makers, records, at, k in upstream)
            if applied is not None:
                records.append(applied)
            at[k] = len(records)
            if not keras.ops.is_tensor(tensor):
                records.append(LayerRecord(key, key, None, False, 0, upstream=False, handle=k))
                continue
            pair = _pair(given, makers)
            records.append(LayerRecord(
                key, key, activation_name(layer), w is not None, int(np.prod(tensor.shape[1:])), upstream=k in upstream,
                takes=at[k] - 1 if applied is not None else at.get(makers.get(id(backend.first(given)))),
                channels=-1 if len(tensor.shape) > 2 else None,  # channels last
                is_mean=mean is not None and (tensor is mean or _same_values(tensor, mean)),
                is_output=_same_values(tensor, recon), kernel=w if w is not None and w.trainable else None, handle=k,
                axis_units=_axis_units(layer, tensor), stochastic=k in drawing,
                pair=None if pair is None else tuple(at[j] for j in pair)))
        last = self._applied(recon, None, tensors, makers, records, at, True)
        if last is not None and not any(r.is_output for r in records):
            records.append(last)
        return records

    def _applied(self, given, k, tensors, makers, records, at, upstream):
        """A record of an activation the model's own code applied (keras.ops.relu(self.dense(x))) to the nearest earlier
        output shaped alike, before layer k received it (k None: the reconstruction); the core tells which from the
        values (aehealth.network.applied). None when no layer's output was changed so."""
        if not keras.ops.is_tensor(given) or id(given) in makers:
            return None
        j = next((j for j in reversed(range(len(tensors) if k is None else k)) if keras.ops.is_tensor(tensors[j])
                  and tuple(tensors[j].shape) == tuple(given.shape)), None)
        act = None if j is None else network.applied(backend.numpy(tensors[j]), backend.numpy(given))
        if act is None:
            return None
        source = records[at[j]]
        return LayerRecord(f'{source.key}+{act}', f'{source.key} + {act} in call()', act, False, source.units,
                           upstream=upstream, takes=at[j], channels=source.channels, is_output=k is None,
                           handle=RECON if k is None else ('in', k),
                           axis_units=int(given.shape[-1]) if act == 'softmax' else None)

    def _run_values(self, x):
        """Every leaf's output on x, as numpy arrays (None for what is not a tensor): for network.drawing."""
        record = []
        with _recording(self.leaves, record):
            self.forward(x)
        return [backend.numpy(backend.first(o)) if keras.ops.is_tensor(backend.first(o)) else None for _, _, o in record]

    def _pick(self, out, t):
        """Which of the model's outputs is the reconstruction, and which a VAE's posterior mean and log-variance."""
        if not isinstance(out, (dict, list, tuple)):
            self.outputs = network.Outputs()
            return
        values = list(out.values()) if isinstance(out, dict) else list(out)
        names = list(out) if isinstance(out, dict) else \
            list(getattr(self.model, 'output_names', None) or []) if not self.custom else []
        names = names if len(names) == len(values) else [f'output {k}' for k in range(len(values))]
        self.outputs = network.outputs(names, [tuple(v.shape[1:]) for v in values], t, -1, [True] * len(values),
                                       self.notes)

    def _loss(self):
        """The compiled loss of the reconstruction (mean squared error, noted, when there is none)."""
        loss, k = getattr(self.model, 'loss', None), self.outputs.recon
        if isinstance(loss, (list, tuple)):
            loss = loss[k] if k is not None and k < len(loss) else None
        elif isinstance(loss, dict):
            loss = loss.get(self.outputs.name)
        if loss is None:
            self.notes.append('no compiled loss for the reconstruction: judged with mean squared error')
            loss = 'mean_squared_error'
        fn = keras.losses.get(loss)
        self.loss_kind = network.loss_kind(_loss_name(loss), -1, from_logits=bool(getattr(fn, 'from_logits', False)))
        self.loss_fn = lambda t, p: keras.ops.mean(keras.ops.cast(fn(t, p), 'float32'))

    def _body(self, x, t):
        """The measurement of a chunk: (the loss with extra losses, what a check reads), for keras_backends.step."""
        record = []
        with _recording(self.leaves, record):
            out = self.forward(x)
        recon, mean, log_variance = self.outputs.parts(out)
        data = self.loss_fn(t, recon)
        extra = [keras.ops.cast(v, 'float32') for v in self.model.losses]
        total = data + sum(extra) if extra else data
        values = [recon if h is RECON else backend.first(record[h[1]][1]) if isinstance(h, tuple) else
                  backend.first(record[h][2]) for h in self.measured]  # ('in', k): what layer k received
        nothing = keras.ops.zeros((0,))
        received = record[self.received][1] if self.received is not None else nothing
        return total, (values, recon, data, total, received, nothing if mean is None else mean,
                       nothing if log_variance is None else log_variance)

    def measuring(self):
        """For the duration of a check: the model's collected losses and random state put back afterwards."""
        return _untouched(self.model)

    def measure(self, x, targets, received=False, gradients=True):
        """One chunk of the sample, measured (aehealth.contracts.Chunk); without `gradients`, no tape."""
        (values, recon, data, total, seen, mean, log_variance), grads = backend.step(
            self._body, list(self.kernels.values()), x, targets, gradients, self._steps, self.model.variables)
        n = backend.numpy
        return Chunk(values={layer['key']: n(v) for layer, v in zip(self.net['layers'], values)},
                     output=n(recon), loss=float(n(data)), total=float(n(total)),
                     grads={name: None if g is None else n(g) for name, g in zip(self.kernels, grads)},
                     rows=len(x), mean=n(mean) if mean.shape[0] else None,
                     log_variance=n(log_variance) if log_variance.shape[0] else None,
                     received=n(seen).astype(np.float32) if received and self.received is not None else None)

    def weights(self):
        return {name: backend.numpy(v) for name, v in self.kernels.items()}

    @property
    def has_modes(self):
        """Whether the model computes otherwise in training mode (BatchNorm, Dropout); not judged through forward=."""
        return not self.custom and any(isinstance(inner(layer), MODAL) for layer in self.leaves)

    def train_mode_loss(self, x, targets):
        """The reconstruction's loss on the sample in training mode; BatchNorm's moving statistics and the random
        state put back."""
        state = [(v, backend.numpy(v)) for v in self.model.non_trainable_variables]
        total = 0.0
        try:
            with _untouched(self.model):
                for i in range(0, len(x), self.chunk):
                    recon = self.outputs.parts(self.model(x[i:i + self.chunk], training=True))[0]
                    total += float(backend.numpy(self.loss_fn(targets[i:i + self.chunk], recon))) * len(x[i:i + self.chunk])
        finally:
            for v, value in state:
                v.assign(value)
        return total / len(x)

    def fans(self, key):
        return _fans(self.kernels[key].shape)

    def loss_of(self, targets):
        """loss(rows, predictions) on `targets`, for the baselines: the compiled loss, with nothing extra."""
        return lambda rows, p: float(backend.numpy(self.loss_fn(targets[rows], keras.ops.convert_to_tensor(p, 'float32'))))

    def nonfinite(self, loss=None):
        """Words for what is NaN or infinite now (the loss, or which weights), or None."""
        return core.nonfinite_words(loss, [w.path for w in self.model.weights
                                           if not np.all(np.isfinite(backend.numpy(w)))])


def _learning_rate(model):
    """(the optimizer's learning rate now, what sets it), or None without an optimizer."""
    optimizer = getattr(model, 'optimizer', None)
    if optimizer is None or not hasattr(optimizer, 'learning_rate'):
        return None
    schedule = getattr(optimizer, '_learning_rate', None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return float(backend.numpy(optimizer.learning_rate)), type(schedule).__name__
    return float(backend.numpy(optimizer.learning_rate)), 'a callback that sets optimizer.learning_rate'


RECON = 'reconstruction'  # the handle of the record that is the reconstruction itself


def preflight(model, sample, targets=None, verbose=True, forward=None):
    """The findings for the untrained model, before any training: [{rule, level, evidence, fix}, ...]."""
    sample, targets = core.pair(sample, targets)
    if forward is None and not getattr(model, 'compiled', False):
        raise UsageError('compile the model first (model.compile(optimizer=..., loss=...)): the pre-flight check '
                         'measures gradients of its loss')
    return core.preflight(Probe(model, sample, targets, forward), sample, targets, verbose)


def postmortem(model, sample, targets=None, verbose=True, forward=None):
    """The findings for a model that has already trained, from every rule that needs no training history: its
    metrics dict (with 'findings'). A model saved without its loss is judged with mean squared error (noted)."""
    sample, targets = core.pair(sample, targets)
    return core.postmortem(Probe(model, sample, targets, forward), sample, targets, verbose)


class HealthMonitor(core.Results, keras.callbacks.Callback):
    """Measures the model on `sample` at the start of fit and every `every` epochs; after fit, `findings` says why it
    is stuck (and `metrics` holds every number). With `out`, a folder gets health.json, health.png and TensorBoard
    scalars. `targets`: what the model should output for `sample` (default: the sample itself). `forward`: for a
    model without `call` or compiled loss, a function from inputs to the reconstruction, or to (reconstruction,
    mean, log-variance). `every='auto'` spaces the checks so that they take at most `budget` of the training time."""

    def __init__(self, sample, every=1, out=None, targets=None, verbose=True, forward=None, budget=core.BUDGET):
        super().__init__()
        self.monitor = core.Monitor(sample, targets, every, out, verbose, framework='keras', budget=budget)
        self.forward = forward

    def on_train_begin(self, logs=None):
        self.monitor.reset()
        self._rate = _learning_rate(self.model)

    def _watch_rate(self):
        """The learning rate now against when fit started, and what sets it (a schedule, or a callback)."""
        now, (start, by) = _learning_rate(self.model), self._rate or (None, None)
        if now is not None and start:
            self.monitor.record.loop['learning_rate'] = dict(start=start, now=now[0], by=by)

    def on_epoch_begin(self, epoch, logs=None):
        if self.monitor.start is None:  # the first check, labelled with the epoch fit starts from (initial_epoch)
            self.monitor.attach(lambda sample, targets: Probe(self.model, sample, targets, self.forward))
            self.monitor.begin(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self.monitor.step_begins()

    def on_train_batch_end(self, batch, logs=None):
        if self.monitor.before is not None and hasattr(self.model, 'jax_state_sync'):
            self.model.jax_state_sync()  # on JAX, fit keeps the weights outside the model between an epoch's steps
        self.monitor.step_ends()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor.due(ahead=1):
            self._watch_rate()
        self.monitor.epoch_end((logs or {}).get('loss'))

    def on_train_end(self, logs=None):
        self.monitor.finish(f'{self.model.name}: health over training')


def trial(build, x, y=None, *, epochs=5, batch_size=32, seeds=(0,), changes='suggested', variants=None, jobs=1,
          executor=None, out=None, verbose=True, resume=None, threads=1):
    """Try the changes the rules suggest (or `changes`, a list of names; or `variants`, {name: build function}) on
    your own model, each over `seeds`, and say which one unsticks it: a aehealth.trial.TrialReport (`.recommended`,
    `.runs`, `.table()`), written to `out` (trial.json, trial.md, trial.png).

    `build()` returns a new compiled model; `y`: its targets (default: x). Runs go to `jobs` worker processes
    (spawned: guard your script with `if __name__ == '__main__':`), or to `executor`, any
    concurrent.futures.Executor (a Dask client's `get_executor()`); each uses `threads` threads and deterministic
    kernels, so any `jobs` gives the same numbers."""
    from aehealth import trial as core_trial
    x, y = core.pair(x, y)
    core_trial.check_arguments(dict(build=build), {}, dict(epochs=epochs, batch_size=batch_size, threads=threads),
                               variants, 'makes and compiles your model')
    common = dict(build=build, x=x, y=y, epochs=epochs, batch_size=batch_size, threads=threads,
                  backend=keras.backend.backend(),
                  settings=dict(framework='keras', epochs=epochs, batch_size=batch_size, rows=len(x), threads=threads,
                                keras=keras.__version__, backend=keras.backend.backend()))
    return core_trial.run('aehealth.trial_keras', common, changes, variants, seeds, jobs, executor, out, verbose,
                          resume)
