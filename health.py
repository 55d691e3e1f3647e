"""Why is *your* Keras autoencoder stuck? The question's health monitor as a callback, and a pre-flight check.

    from health import HealthMonitor, preflight
    preflight(model, x[:1000])                                   # before training: what is wrong already
    monitor = HealthMonitor(x[:1000], out='runs/mine')           # at the end of fit: why it is stuck
    model.fit(x, x, epochs=20, callbacks=[monitor])
    monitor.findings                                             # [{rule, level, evidence, fix}, ...]

Both measure the model on the sample you give (inputs; the targets are the inputs unless you pass `targets`):
each layer's activations through one extra model over the layers' outputs, and each weight matrix's gradient
from a GradientTape with the model's compiled loss. The rules and thresholds are diagnostics.py's, the same
that judge autoencoder.py's runs. Nothing in your model changes and training is never stopped (Keras'
TerminateOnNaN does that). Keras 3 on the TensorFlow backend.
"""
import json
import math
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import diagnostics  # noqa: E402

CHUNK = 1000  # sample rows per pass: a conv layer's maps for a few thousand inputs need not fit in memory at once
ACTIVATION_LAYERS = {keras.layers.ReLU: 'relu', keras.layers.LeakyReLU: 'leaky_relu', keras.layers.Softmax: 'softmax',
                     keras.layers.ELU: 'elu', keras.layers.PReLU: 'prelu'}


def activation_name(layer):
    """'relu', 'sigmoid', 'linear', ... for a layer that applies a nonlinearity or a weight matrix; None otherwise."""
    for kind, name in ACTIVATION_LAYERS.items():
        if isinstance(layer, kind):
            return 'leaky_relu' if name == 'relu' and getattr(layer, 'negative_slope', 0) else name
    fn = getattr(layer, 'activation', None)
    if fn is None:
        return 'linear' if getattr(layer, 'kernel', None) is not None else None
    return getattr(fn, '__name__', type(fn).__name__).lower()


def _chain(model, x):
    """Call the model's layers one after another on x, entering nested models; [(layer, output)] or None if the
    model is not a chain of single-input layers."""
    taps = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            inner = _chain(layer, x)
            if inner is None:
                return None
            taps += inner
            x = inner[-1][1]
        else:
            try:
                x = layer(x)
            except Exception:  # a merge layer, or one that needs more than the previous output
                return None
            taps.append((layer, x))
    return taps


class Probe:
    """One extra model over the layers' outputs, and what the rules need to know about those layers."""

    def __init__(self, model, sample):
        sample = np.asarray(sample)
        if not model.built:
            model(sample[:1])
        x = keras.Input(shape=sample.shape[1:])
        taps = _chain(model, x)
        if taps is not None:
            probe = keras.Model(x, [t for _, t in taps])
            got = probe(sample[:8], training=False)[-1]
            if not np.allclose(np.asarray(got), np.asarray(model(sample[:8], training=False)), rtol=1e-4, atol=1e-5):
                taps = None  # the chain does not compute what the model computes (e.g. a branch): tap the graph instead
        if taps is None:  # every layer's output in the model's own graph, from its nodes, deepest first
            nodes = [n for depth in sorted(model._nodes_by_depth, reverse=True) for n in model._nodes_by_depth[depth]]
            taps = [(n.operation, n.output_tensors[0]) for n in nodes
                    if not isinstance(n.operation, keras.layers.InputLayer)]
            taps.append((None, model.outputs[0]))  # the model's output last, whichever layer made it
            probe = keras.Model(model.inputs, [t for _, t in taps])
            x = model.inputs
        self.model, self.probe = model, probe
        measured = [(k, layer) for k, (layer, _) in enumerate(taps) if layer is not None
                    and activation_name(layer) is not None]
        self.index = [k for k, _ in measured]
        self.keys = [layer.name for _, layer in measured]
        self.output = self.keys[-1]
        widths = {layer.name: int(np.prod(taps[k][1].shape[1:])) for k, layer in measured}
        hidden = [key for key in self.keys if key != self.output]
        code = min(reversed(hidden), key=lambda key: widths[key]) if hidden else None  # narrowest; the later if tied
        self.kernels = {}
        for _, layer in measured:
            kernel = getattr(layer, 'kernel', None)
            if kernel is not None and kernel.trainable:
                self.kernels[layer.name] = kernel
        loss = model.loss if isinstance(model.loss, str) else getattr(model.loss, 'name', type(model.loss).__name__)
        self.net = diagnostics.network(
            [dict(key=layer.name, label=layer.name, activation=activation_name(layer), units=widths[layer.name])
             for _, layer in measured], output=self.output, code=code, loss=loss,
            kernels={name: name for name in self.kernels})

    @tf.function(reduce_retracing=True)
    def _values_and_grads(self, x, targets):
        """Every tapped layer's values on x (the model's output last), the loss, and the kernels' gradients of it."""
        with tf.GradientTape() as tape:
            values = self.probe(x, training=False)
            loss = self.model.compute_loss(y=targets, y_pred=values[-1], training=False)
        return values, loss, tape.gradient(loss, list(self.kernels.values()))

    def loss(self, targets, predictions):
        """The model's compiled loss (with its regularisation) of `predictions` against `targets`, over all rows."""
        total = 0.0
        for i in range(0, len(targets), CHUNK):
            t, p = targets[i:i + CHUNK], predictions[i:i + CHUNK]
            total += float(self.model.compute_loss(y=t, y_pred=p, training=False)) * len(t)
        return total / len(targets)

    def measure(self, epoch, x, targets, previous):
        """A health snapshot of the model now (diagnostics.health_snapshot's numbers), the sample loss included."""
        acts = {layer['key']: layer['activation'] for layer in self.net['layers']}
        sums, outputs, grads, loss = {}, [], {k: 0.0 for k in self.kernels}, 0.0
        for i in range(0, len(x), CHUNK):
            xb, tb = x[i:i + CHUNK], targets[i:i + CHUNK]
            values, chunk_loss, chunk_grads = self._values_and_grads(xb, tb)
            loss += float(chunk_loss) * len(xb) / len(x)  # the loss is a mean over the chunk's rows
            for name, g in zip(self.kernels, chunk_grads):
                grads[name] = grads[name] + (0.0 if g is None else np.asarray(g, np.float64) * len(xb) / len(x))
            for key, k in zip(self.keys, self.index):
                first = sums.get(key)  # later batches keep the first one's shift
                sums[key] = diagnostics.add_sums(first, diagnostics.layer_sums(
                    values[k], acts[key], first is None, None if first is None else first['shift']))
            outputs.append(np.asarray(values[-1]))
        weights = {name: np.asarray(v) for name, v in self.kernels.items()}
        out = np.concatenate(outputs)
        snap = {'epoch': epoch, 'layers': {k: diagnostics.layer_health(s, acts[k]) for k, s in sums.items()},
                'grad_norm': {k: float(np.linalg.norm(g)) for k, g in grads.items()},
                'update': {k: (float(np.linalg.norm(w - previous[k]) / np.linalg.norm(previous[k]))
                               if previous and np.linalg.norm(previous[k]) > 0 else None) for k, w in weights.items()},
                'output_diversity': diagnostics.output_diversity(x, out), 'loss': loss}
        if acts[self.output] == 'relu':
            snap['dead_outputs'] = diagnostics.dead_outputs(out, targets)
        return snap, weights, out


def _nonfinite(model, loss=None):
    """Words for what is NaN or infinite now (the loss, or which weights), or None."""
    if loss is not None and not math.isfinite(loss):
        return f'the loss is {loss}'
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w)))]
    return f'weights of {", ".join(bad[:3])}' + (' and more' if len(bad) > 3 else '') if bad else None


def _baselines(probe, targets):
    """The loss of predicting the mean target for every row, and the loss's own minimum on these targets."""
    t = np.asarray(targets, np.float32)
    mean = np.broadcast_to(t.mean(0, keepdims=True), t.shape)
    return {'mean_input': probe.loss(t, mean), 'floor': max(probe.loss(t, t), 0.0)}


def _metrics(probe, health, sample, targets, epochs_done, nonfinite):
    """What diagnostics.findings reads, for a Keras model."""
    end = health[-1]
    base = _baselines(probe, targets)
    losses = [(h['epoch'], h['loss']) for h in health]
    exit_at = next((e for e, loss in losses if e > 0 and loss - base['floor'] <
                    diagnostics.PLATEAU_EXIT * (base['mean_input'] - base['floor'])), None)
    m = {'network': probe.net, 'health': health, 'epochs_done': epochs_done, 'final_loss': end['loss'],
         'baselines': base, 'nonfinite': nonfinite,
         'data': diagnostics.data_stats(sample, targets, probe.net['layers'][-1]['activation'])}
    if epochs_done:
        m['plateau_exit_epoch'] = exit_at
    m['findings'] = diagnostics.findings(m, fixes='keras')
    return m


def _arrays(sample, targets):
    sample = np.asarray(sample, np.float32)
    targets = sample if targets is None else np.asarray(targets, np.float32)
    if len(sample) != len(targets):
        raise ValueError(f'sample has {len(sample)} rows but targets has {len(targets)}; give one target per input')
    return sample, targets


def preflight(model, sample, targets=None, verbose=True):
    """The findings for the untrained model, before any training (a compiled model: its loss is measured)."""
    sample, targets = _arrays(sample, targets)
    if getattr(model, 'loss', None) is None:
        raise ValueError('compile the model first: the pre-flight check measures gradients of its loss')
    probe = Probe(model, sample)
    snap, _, _ = probe.measure(0, sample, targets, None)
    m = _metrics(probe, [snap], sample, targets, 0, _nonfinite(model, snap['loss']))
    if verbose:
        print('\n'.join(['pre-flight check (untrained model):'] + diagnostics.finding_lines(m['findings'], True)))
    return m['findings']


class HealthMonitor(keras.callbacks.Callback):
    """Measures the model on `sample` before training and every `every` epochs; after fit, `findings` says why it is
    stuck (and `metrics` holds every number). With `out`, a folder gets health.json, health.png and TensorBoard
    scalars. `targets`: what the model should output for `sample` (default: the sample itself)."""

    def __init__(self, sample, every=1, out=None, targets=None, verbose=True):
        super().__init__()
        if every < 1:
            raise ValueError(f'every={every}: check at least every 1 epoch')
        self.sample, self.targets = _arrays(sample, targets)
        self.every, self.out, self.verbose = every, Path(out) if out else None, verbose
        self.findings, self.metrics, self.health = [], None, []
        self.seconds = 0.0  # spent in this callback, so that its cost can be measured within one fit
        self._probe = self._weights = self._step_before = self._step_update = self._writer = None
        self._epoch, self._epochs_done, self._nonfinite = 0, 0, None

    def _check(self, epoch):
        t0 = time.perf_counter()
        snap, self._weights, _ = self._probe.measure(epoch, self.sample, self.targets, self._weights)
        if self._step_update:
            snap['step_update'], self._step_update = self._step_update, None
        self.health.append(snap)
        self._nonfinite = self._nonfinite or _nonfinite(self.model, snap['loss'])
        if self._writer is not None:
            with self._writer.as_default():
                for tag, value in diagnostics.health_scalars(snap).items():
                    tf.summary.scalar(tag, value, step=epoch)
            self._writer.flush()
        self.seconds += time.perf_counter() - t0

    def on_train_begin(self, logs=None):
        t0 = time.perf_counter()
        self._probe = Probe(self.model, self.sample)
        self.seconds = time.perf_counter() - t0  # the first check adds its own time
        self.health, self._weights, self._epochs_done, self._nonfinite = [], None, 0, None
        if self.out:
            self.out.mkdir(parents=True, exist_ok=True)
            self._writer = tf.summary.create_file_writer(str(self.out / 'tensorboard'))
        self._check(0)

    def _due(self, epoch):
        return (epoch + 1) % self.every == 0

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self._due(self._epoch):  # one step's update, for the learning-rate rules
            t0 = time.perf_counter()
            self._step_before = {k: np.asarray(v) for k, v in self._probe.kernels.items()}
            self.seconds += time.perf_counter() - t0

    def on_train_batch_end(self, batch, logs=None):
        if self._step_before is not None:
            t0 = time.perf_counter()
            self._step_update = {k: (float(np.linalg.norm(np.asarray(v) - self._step_before[k])
                                           / np.linalg.norm(self._step_before[k]))
                                     if np.linalg.norm(self._step_before[k]) > 0 else None)
                                 for k, v in self._probe.kernels.items()}
            self._step_before = None
            self.seconds += time.perf_counter() - t0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        loss = (logs or {}).get('loss')
        if loss is not None and not math.isfinite(float(loss)):
            self._nonfinite = self._nonfinite or f'the training loss is {float(loss)} in epoch {epoch + 1}'
        if self._due(epoch):
            self._check(epoch + 1)

    def on_train_end(self, logs=None):
        if self.health[-1]['epoch'] != self._epochs_done:
            self._check(self._epochs_done)
        self.metrics = _metrics(self._probe, self.health, self.sample, self.targets, self._epochs_done,
                                self._nonfinite)
        self.findings = self.metrics['findings']
        if self.verbose:
            print('\n'.join(['health monitor:'] + diagnostics.finding_lines(self.findings)))
        if self.out:
            self._save()

    def _save(self):
        (self.out / 'health.json').write_text(json.dumps(self.metrics, indent=1, default=float) + '\n')
        if self._writer is not None:
            self._writer.close()
        import visualize  # matplotlib only when a figure is asked for
        visualize.plot_health(self.metrics, f'{self.model.name}: health over training', self.out / 'health.png')
