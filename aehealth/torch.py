"""aehealth for PyTorch: a pre-flight check, and a monitor for a plain training loop that says why it is stuck.

    from aehealth.torch import HealthMonitor, preflight
    preflight(model, x[:1000], loss_fn)                       # before training: what is wrong already
    with HealthMonitor(model, x[:1000], loss_fn, optimizer, out='runs/mine') as monitor:
        for epoch in range(20):
            for batch in loader:
                ...                                           # your loop, unchanged
            monitor.epoch_end()
    monitor.findings                                          # [{rule, level, evidence, fix}, ...]

Each check runs the model on the sample in eval mode with forward hooks on its modules (their outputs, and the
inputs of the layers after them, where an activation applied in forward() shows), and takes each weight's gradient
of `loss_fn(model(x), targets)` with torch.autograd.grad. It writes no .grad, puts every module's train/eval mode
back, leaves the random state as it was (a seeded run gives the same numbers with or without it), never steps
the optimizer and never stops training. With `optimizer`, its step hooks measure the first step of each checked
epoch, for the learning-rate rules. A model that returns (reconstruction, mean, log-variance), the convention of
pytorch/examples' VAE, is also checked for posterior collapse; of any other tuple, the element the loss depends on is
judged (the tutorials' `return encoded, decoded`).
"""
import contextlib
import math
import sys
import time

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # the extra "torch" is not installed
    raise ImportError('aehealth.torch needs PyTorch: pip install "aehealth[torch]"') from None

from aehealth import monitor as core
from aehealth import rules, stats

CHUNK = 1000  # sample rows per pass
UsageError = core.UsageError
ACTIVATION_MODULES = {nn.ReLU: 'relu', nn.LeakyReLU: 'leaky_relu', nn.Sigmoid: 'sigmoid', nn.Tanh: 'tanh',
                      nn.Softmax: 'softmax', nn.ELU: 'elu', nn.SELU: 'selu', nn.GELU: 'gelu', nn.SiLU: 'silu',
                      nn.Softplus: 'softplus', nn.PReLU: 'prelu', nn.ReLU6: 'relu6', nn.Hardtanh: 'hardtanh',
                      nn.LogSoftmax: 'log_softmax', nn.Hardsigmoid: 'hard_sigmoid'}
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
            nn.RNNBase)
# What an activation applied in forward() leaves in the autograd graph; and the operations that only reshape.
OPERATIONS = {'ReluBackward0': 'relu', 'SigmoidBackward0': 'sigmoid', 'TanhBackward0': 'tanh',
              'SoftmaxBackward0': 'softmax', 'LeakyReluBackward0': 'leaky_relu', 'EluBackward0': 'elu',
              'GeluBackward0': 'gelu', 'SiluBackward0': 'silu', 'SoftplusBackward0': 'softplus',
              'HardtanhBackward0': 'hardtanh', 'LogSoftmaxBackward0': 'log_softmax', 'HardsigmoidBackward0':
              'hard_sigmoid'}
RESHAPES = {'ViewBackward0', 'ReshapeAliasBackward0', 'UnsafeViewBackward0', 'PermuteBackward0',
            'TransposeBackward0', 'SqueezeBackward0', 'SqueezeBackward1', 'SqueezeDimBackward0',
            'SqueezeDimsBackward0', 'UnsqueezeBackward0', 'CloneBackward0', 'ExpandBackward0', 'AliasBackward0'}
LOGIT_LOSSES = ('with_logits', 'withlogits')


def _kernel(module):
    """A weight layer's input weight matrix (an RNN's first input-to-hidden one), or None."""
    if isinstance(module, nn.RNNBase):
        return getattr(module, 'weight_ih_l0', None)
    return getattr(module, 'weight', None) if isinstance(module, WEIGHTED) else None


def _flat(value):
    """The tensors of a module's output, in order (an LSTM's (output, (h, c)): output, h, c)."""
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return []


def _walk(fn):
    """The autograd node behind any reshapes."""
    while fn is not None and type(fn).__name__ in RESHAPES and fn.next_functions:
        fn = fn.next_functions[0][0]
    return fn


def _fans(w):
    """(fan-in, fan-out) as torch.nn.init counts them: dimension 1 in, dimension 0 out, times the kernel's size."""
    receptive = int(np.prod(w.shape[2:])) if w.dim() > 2 else 1
    return int(w.shape[1]) * receptive, int(w.shape[0]) * receptive


def _loss_name(loss_fn):
    return getattr(loss_fn, '__name__', None) or type(loss_fn).__name__


def _as_tensor(array):
    """A numpy array (or tensor) as the tensor fed to the model: floats as float32, ids as int64."""
    t = torch.as_tensor(array)
    return t.float() if t.is_floating_point() else t.long()


def _numpy(value, name):
    """A tensor or array as a numpy array, for checking; one line for anything else."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    if isinstance(value, torch.utils.data.DataLoader) or isinstance(value, torch.utils.data.Dataset):
        raise UsageError(f'{name} is a {type(value).__name__}: pass a tensor or numpy array of rows, for example '
                         f'next(iter(loader))[0] or a slice of the training data')
    return value


@contextlib.contextmanager
def _hooks(modules, record):
    """Forward hooks on `modules` for the duration, appending (module, input, output) to `record`."""
    handles = [m.register_forward_hook(lambda mod, args, out: record.append((mod, args[0] if args else None, out)))
               for m in modules]
    try:
        yield record
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _untouched(model, device):
    """Eval mode and the random generators for the duration; every module's mode and the random state put back."""
    modes = [(m, m.training) for m in model.modules()]
    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices, enabled=True):
        model.eval()
        try:
            yield
        finally:
            for m, mode in modes:
                m.training = mode


class Probe:
    """What the rules need to know about a module, found by running it once on a few rows, and a pass that measures
    it on the sample: every measured tensor, the reconstruction, the loss and the weights' gradients."""

    chunk = CHUNK

    def __init__(self, model, sample, targets, loss_fn):
        if not isinstance(model, nn.Module):
            raise UsageError(f'model is a {type(model).__name__}, not a torch.nn.Module')
        if not callable(loss_fn):
            raise UsageError(f'loss_fn={loss_fn!r} is not callable: pass the loss your loop uses, for example '
                             f'nn.MSELoss() or F.binary_cross_entropy')
        self.model, self.loss_fn, self.notes = model, loss_fn, []
        params = list(model.parameters())
        self.device = params[0].device if params else torch.device('cpu')
        self.names = {m: name or type(m).__name__ for name, m in model.named_modules()}
        self.leaves = [m for m in model.modules() if not list(m.children()) or isinstance(m, nn.RNNBase)]
        self.received_values = None
        self._discover(sample[:rules.MIN_ROWS], targets[:rules.MIN_ROWS])

    # ---- finding the network

    def _run(self, x):
        """The model on x with every leaf recorded: (record, output)."""
        record = []
        with _hooks(self.leaves, record):
            out = self.model(x)
        return record, out

    def _fit_error(self, x, error):
        return UsageError(f'the model could not run on the sample (rows of shape {tuple(x.shape[1:])}): '
                          f'{core.one_line(error)}; pass rows shaped as your loop feeds them')

    def _discover(self, x, t):
        """Run the model once with hooks; which tensors the reconstruction depends on; the activations forward()
        applies itself; the loss's kind."""
        xt = _as_tensor(x).to(self.device)
        if xt.is_floating_point():
            xt.requires_grad_(True)  # so that every tensor made from the input has a place in the graph
        with _untouched(self.model, self.device), torch.enable_grad():
            try:
                record, out = self._run(xt)
            except Exception as e:
                raise self._fit_error(x, e) from None
            if not torch.is_tensor(out) and not (isinstance(out, (list, tuple))
                                                 and any(torch.is_tensor(v) for v in out)):
                raise UsageError(f'the model returned a {type(out).__name__}, not a tensor or a tuple with one: '
                                 f'return the reconstruction, or a tuple that holds it')
            tt = _as_tensor(t).to(self.device)
            try:
                loss = self.loss_fn(out, tt)
            except Exception as e:
                shapes = tuple(out.shape[1:]) if torch.is_tensor(out) else \
                    [tuple(v.shape[1:]) if torch.is_tensor(v) else type(v).__name__ for v in out]
                raise UsageError(f'loss_fn(model(x), targets) failed on the sample (output rows {shapes}, '
                                 f'targets rows {tuple(t.shape[1:])}): {core.one_line(e)}') from None
            self._find_reconstruction(out, loss, tuple(t.shape[1:]))
            recon, mean, log_variance = self._parts(out)
            self.vae = mean is not None
            self.latent = mean.shape[1] if self.vae else None
            self.output_shape = tuple(recon.shape[1:])
            self._taps(record, recon, mean)
        self.length = len(record)
        name = _loss_name(self.loss_fn)
        self.from_logits = any(word in name.lower() for word in LOGIT_LOSSES) or name == 'CrossEntropyLoss'
        self.sparse = (np.issubdtype(np.asarray(t).dtype, np.integer) and recon.dim() == t.ndim + 1
                       and tuple(recon.shape[2:]) == tuple(t.shape[1:]))
        self.to_output = None
        if self.from_logits:
            self.to_output = np.log if self.sparse or name == 'CrossEntropyLoss' else core.logit
        self.loss_name = name

    def _find_reconstruction(self, out, loss, target_shape):
        """Which element of a returned tuple is the reconstruction: (reconstruction, mean, log-variance) is a VAE's;
        of any other tuple, the element the loss depends on (the one shaped like the targets if several are), as in
        the tutorials' `return encoded, decoded`."""
        self.index = self.posterior = None
        if torch.is_tensor(out):
            return
        tensors = [k for k, v in enumerate(out) if torch.is_tensor(v)]
        self.rows = [tuple(v.shape[1:]) if torch.is_tensor(v) else None for v in out]
        self.others = [None if torch.is_tensor(v) else v for v in out]  # passed back as returned, for the baselines
        if len(out) == 3 and tensors == [0, 1, 2] and out[1].shape == out[2].shape and out[1].dim() == 2:
            self.index, self.posterior = 0, (1, 2)
            return
        graded = [k for k in tensors if out[k].requires_grad]
        grads = torch.autograd.grad(loss, [out[k] for k in graded], allow_unused=True, retain_graph=True) \
            if torch.is_tensor(loss) and loss.requires_grad and graded else [None] * len(graded)
        used = [k for k, g in zip(graded, grads) if g is not None] or tensors
        shaped = [k for k in used if self.rows[k] == target_shape]
        self.index = (shaped or used)[0]
        self.notes.append(f'the model returns {len(out)} values: element {self.index} (rows {self.rows[self.index]}) '
                          f'is judged as the reconstruction, ' + ('the loss depends on it and its rows are shaped as '
                                                                  'the targets\'' if shaped else
                                                                  'the first the loss depends on'))

    def _parts(self, out):
        """(reconstruction, mean, log-variance) of a model output; the last two None without a posterior."""
        if self.index is None:
            return out, None, None
        if self.posterior:
            return out[self.index], out[self.posterior[0]], out[self.posterior[1]]
        return out[self.index], None, None

    def _taps(self, record, recon, mean=None):
        """Which tensors to measure, each with its key, label and activation, in the order the model makes them."""
        outputs = {}
        for k, (module, _, value) in enumerate(record):
            for v in _flat(value):
                if v.grad_fn is not None:
                    outputs.setdefault(v.grad_fn, k)
        taps, counts = [], {}

        def key_of(module):
            counts[module] = counts.get(module, 0) + 1
            name = self.names.get(module, type(module).__name__)
            return name if counts[module] == 1 else f'{name}#{counts[module]}'

        def functional(tensor):
            """(activation, index of the recorded output it was applied to) for an activation made in forward()."""
            fn = _walk(tensor.grad_fn) if tensor is not None and torch.is_tensor(tensor) else None
            if fn is None or type(fn).__name__ not in OPERATIONS or fn in outputs:
                return None
            source = _walk(fn.next_functions[0][0]) if fn.next_functions else None
            return (OPERATIONS[type(fn).__name__], outputs[source]) if source in outputs else None
        seen = set()
        for k, (module, given, value) in enumerate(record):
            kind = type(module)
            act = next((a for cls, a in ACTIVATION_MODULES.items() if isinstance(module, cls)), None)
            if isinstance(module, nn.RNNBase):
                act = getattr(module, 'nonlinearity', 'tanh')  # an LSTM's or GRU's output is tanh-bounded
            elif act is None and _kernel(module) is not None:
                act = 'linear'  # the weight layer's own output: an activation, if any, comes after it
            key = key_of(module)
            tensors = _flat(value) if isinstance(module, nn.RNNBase) else _flat(value)[:1]
            for j in range(len(tensors) if act is not None else 0):  # an RNN: its output, then h (and c)
                taps.append(dict(key=key, label=f'{key} ({kind.__name__})', activation=act, source=('out', k, j),
                                 module=module))
            inferred = functional(given)
            if inferred is not None and inferred[1] not in seen:  # e.g. F.relu(self.fc1(x)) fed to the next layer
                seen.add(inferred[1])
                src = taps_by_index(taps, inferred[1])
                if src is not None:
                    taps.insert(taps.index(src) + 1, dict(key=f'{src["key"]}+{inferred[0]}',
                                                          label=f'{src["key"]} + {inferred[0]} in forward()',
                                                          activation=inferred[0], source=('in', k), module=None,
                                                          of=inferred[1]))
        last = functional(recon)
        if last is not None:
            src = taps_by_index(taps, last[1])
            taps.append(dict(key=f'{src["key"]}+{last[0]}' if src else 'output', label=(f'{src["key"]} + {last[0]} '
                             f'in forward()' if src else 'output'), activation=last[0], source=('recon',), module=None,
                             of=last[1]))
        elif taps and not self._made_by(taps[-1], record, recon):
            op = type(_walk(recon.grad_fn)).__name__ if recon.grad_fn is not None else 'no operation'
            self.notes.append(f'the output is made by {op} after {taps[-1]["key"]}: its range is not judged')
            taps.append(dict(key='output', label='output', activation=None, source=('recon',), module=None))
        tensors = [self._tensor(tap, record, recon, raw=True) for tap in taps]
        wanted = [k for k, v in enumerate(tensors) if v is not None and v.requires_grad]
        grads = torch.autograd.grad(recon.float().sum(), [tensors[k] for k in wanted], allow_unused=True,
                                    retain_graph=True)
        connected = {k for k, g in zip(wanted, grads) if g is not None} | \
            {k for k, tap in enumerate(taps) if tap['source'] == ('recon',)}
        kept, modules = [], set()
        for k, tap in enumerate(taps):
            if k in connected and (tap['module'] is None or tap['module'] not in modules or
                                   not isinstance(tap['module'], nn.RNNBase)):
                kept.append(tap)  # of an RNN's tensors, the first the reconstruction depends on
                modules.add(tap['module'])
        self.weighted = [tap for tap in kept if tap['module'] is not None and _kernel(tap['module']) is not None]
        fed = set()  # the weight layers' outputs that an activation measured after them takes whole
        for tap in kept:
            if tap['activation'] in (None, 'linear'):
                continue
            if tap.get('of') is not None:
                fed.add(tap['of'])
            elif tap['source'][0] == 'out':
                given = record[tap['source'][1]][1]
                fed.update(t['source'][1] for t in kept if t['source'][0] == 'out' and t['activation'] == 'linear'
                           and self._tensor(t, record, recon, raw=True) is given)
        # a weight layer's own output is measured when no activation follows it: its activation's values say more
        self.taps = [tap for tap in kept if not (tap['activation'] == 'linear' and tap['source'][0] == 'out'
                                                 and tap['source'][1] in fed)]
        self._describe(record, recon, mean)

    @staticmethod
    def _tensor(tap, record, recon, raw=False):
        """The tap's tensor in this pass (`raw`: as the model made it, for autograd; else batch first)."""
        kind = tap['source'][0]
        if kind == 'recon':
            return recon
        module, given, value = record[tap['source'][1]]
        if kind == 'in':
            return given
        tensor = _flat(value)[tap['source'][2]]
        return tensor.transpose(0, 1) if tap['source'][2] and not raw else tensor  # an RNN's h, c: batch second

    def _made_by(self, tap, record, recon):
        """Whether the reconstruction is the tap's tensor, up to reshapes."""
        value = self._tensor(tap, record, recon)
        return value is not None and _walk(recon.grad_fn) is value.grad_fn

    def _describe(self, record, recon, mean=None):
        """The network as the rules see it, the weights to differentiate, and the first weight layer."""
        widths, self.channels = {}, {}
        layers = [(tap['source'][1], tap['module']) for tap in self.weighted]
        for tap in self.taps:
            tensor = self._tensor(tap, record, recon)
            widths[tap['key']] = int(np.prod(tensor.shape[1:]))
            at = len(record) if tap['source'][0] == 'recon' else tap['source'][1]
            weighted = next((m for k, m in reversed(layers) if k <= at), None)  # the weight layer that made it
            if tensor.dim() > 3 or (tensor.dim() == 3 and isinstance(weighted, (nn.Conv1d, nn.ConvTranspose1d))):
                self.channels[tap['key']] = 1  # maps: (N, C, ...)
            elif tensor.dim() == 3:
                self.channels[tap['key']] = -1  # sequences: (N, T, features)
        output = self.taps[-1]['key'] if self.taps else None
        hidden = [tap for tap in self.taps if tap['key'] != output]
        if hidden and self.taps[-1]['module'] is None and self.taps[-1]['source'] == ('recon',) and \
                hidden[-1]['activation'] == 'linear':
            hidden = hidden[:-1]  # the layer an output activation of forward() is applied to belongs to the output
        if hidden and self.taps[-1]['module'] is not None and _kernel(self.taps[-1]['module']) is None \
                and hidden[-1]['activation'] == 'linear':
            hidden = hidden[:-1]  # likewise for an activation module at the end
        code = min(reversed(hidden), key=lambda tap: widths[tap['key']])['key'] if hidden else None
        if mean is not None:  # a VAE's code is its posterior's mean
            code = next((tap['key'] for tap in hidden if self._tensor(tap, record, recon, raw=True) is mean), code)
        self.kernels = {}
        for tap in self.weighted:
            w = _kernel(tap['module'])
            if w.requires_grad and all(w is not v for v in self.kernels.values()):
                self.kernels[tap['key']] = w
        first = next(((k, m) for k, (m, _, _) in enumerate(record) if _kernel(m) is not None
                      or isinstance(m, nn.Embedding)), None)
        self.received, self.received_by = None, None
        if first is not None and not isinstance(first[1], nn.Embedding):
            self.received, self.received_by = first[0], self.names.get(first[1])
        self.net = rules.network([dict(key=tap['key'], label=tap['label'], activation=tap['activation'],
                                       units=widths[tap['key']]) for tap in self.taps],
                                 output=output, code=code, loss=_loss_name(self.loss_fn),
                                 kernels={key: key for key in self.kernels})

    # ---- measuring

    def dense(self, targets):
        """The targets as the output is compared with them (class ids of a sparse loss as one-hot, classes on dim 1)."""
        if not self.sparse:
            return np.asarray(targets, np.float32)
        return np.moveaxis(stats.one_hot(targets, self.output_shape[0]), -1, 1)

    def loss_of(self, targets):
        """loss(rows, predictions) on `targets`, for the baselines: the reconstruction's loss, with no KL term."""
        def loss(rows, p):
            with torch.no_grad():
                p = torch.as_tensor(np.ascontiguousarray(p), dtype=torch.float32, device=self.device)
                return float(self.loss_fn(self._as_output(p), _as_tensor(targets[rows]).to(self.device)))
        return loss

    def _as_output(self, recon, mean=None):
        """A reconstruction as the model would return it: for a VAE, with a posterior equal to the prior; in any other
        tuple, beside zeros in place of the other elements."""
        if self.index is None:
            return recon
        if self.vae:
            zeros = torch.zeros((len(recon), self.latent), device=recon.device) if mean is None else mean
            return recon, zeros, torch.zeros_like(zeros)
        out = [other if rows is None else torch.zeros((len(recon),) + rows, device=recon.device)
               for rows, other in zip(self.rows, self.others)]
        out[self.index] = recon
        return tuple(out)

    def measure(self, epoch, x, targets, dense, previous, first=False):
        """A health snapshot of the model now, and its weights (for the next check's update ratios)."""
        check = core.Check(self.net, self.channels)
        received = []
        params = list(self.kernels.values())
        with _untouched(self.model, self.device), torch.enable_grad():
            for i in range(0, len(x), CHUNK):
                xb = _as_tensor(x[i:i + CHUNK]).to(self.device)
                tb = _as_tensor(targets[i:i + CHUNK]).to(self.device)
                record, out = self._run(xb)
                if len(record) != self.length:
                    raise RuntimeError(f'the model ran {len(record)} modules on this chunk and {self.length} when '
                                       f'first measured: a forward() that changes with the data cannot be followed')
                recon, mean, log_variance = self._parts(out)
                total = self.loss_fn(out, tb)
                if self.vae:
                    data = self.loss_fn(self._as_output(recon, torch.zeros_like(mean)), tb)
                else:
                    data = total
                grads = torch.autograd.grad(total, params, allow_unused=True) if params else []
                values = {tap['key']: self._tensor(tap, record, recon).detach().float().cpu().numpy()
                          for tap in self.taps}
                check.add(values, recon.detach().float().cpu().numpy(), float(data.detach()), float(total.detach()),
                          {name: None if g is None else g.detach().cpu().numpy()
                           for name, g in zip(self.kernels, grads)}, len(xb),
                          None if mean is None else mean.detach().cpu().numpy(),
                          None if log_variance is None else log_variance.detach().cpu().numpy())
                if first and self.received is not None:
                    received.append(record[self.received][1].detach().float().cpu().numpy())
        weights = {name: w.detach().cpu().numpy().copy() for name, w in self.kernels.items()}
        snap = check.snapshot(epoch, self.net, dense, weights, previous)
        if first:
            snap['weight_scale'] = {name: stats.weight_scale(w, *_fans(self.kernels[name]))
                                    for name, w in weights.items()}
            self.received_values = np.concatenate(received) if received else None
        return snap, weights


def taps_by_index(taps, k):
    """The tap of the k-th recorded module's (first) output, or None."""
    return next((tap for tap in taps if tap['source'][:2] == ('out', k)), None)


def _nonfinite(model, loss=None):
    """Words for what is NaN or infinite now (the loss, or which weights), or None."""
    if loss is not None and not math.isfinite(loss):
        return f'the loss is {loss}'
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p.detach()).all()]
    return f'weights of {", ".join(bad[:3])}' + (' and more' if len(bad) > 3 else '') if bad else None


def _pair(sample, targets):
    sample = core.as_rows(_numpy(sample, 'sample'), 'sample')
    targets = None if targets is None else core.as_rows(_numpy(targets, 'targets'), 'targets')
    return core.pair(sample, targets)


def preflight(model, sample, loss_fn, targets=None, verbose=True):
    """The findings for the untrained model, before any training: [{rule, level, evidence, fix}, ...]."""
    sample, targets = _pair(sample, targets)
    record = core.Record(fixes='torch')
    session = core.Session(Probe(model, sample, targets, loss_fn), sample, targets, record)
    snap = session.check(0)
    m = session.metrics(0, _nonfinite(model, snap['loss']))
    if verbose:
        print(core.report(m, 'pre-flight check (untrained model):', True))
    return m['findings']


def postmortem(model, sample, loss_fn, targets=None, verbose=True):
    """The findings for a model that has already trained, from every rule that needs no training history: its
    metrics dict (with 'findings')."""
    sample, targets = _pair(sample, targets)
    record = core.Record(fixes='torch')
    session = core.Session(Probe(model, sample, targets, loss_fn), sample, targets, record)
    snap = session.check(None)
    m = session.metrics(None, _nonfinite(model, snap['loss']))
    if verbose:
        print(core.report(m, f'post-mortem ({len(sample)} rows):', False))
    return m


class HealthMonitor:
    """Measures `model` on `sample` now and after every `every` epochs (call `epoch_end()` after each); `finish()` (or
    leaving a `with` block) says why it is stuck: `findings`, and `metrics` with every number. With `optimizer`, its
    step hooks measure one step's update per checked epoch. With `out`, a folder gets health.json, health.png and
    TensorBoard scalars. `targets`: what the model should output for `sample` (default: the sample itself)."""

    def __init__(self, model, sample, loss_fn, optimizer=None, targets=None, every=1, out=None, verbose=True):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.sample, self.targets = _pair(sample, targets)
        self.every, self.out, self.verbose = core.check_every(every), core.check_out(out), verbose
        if optimizer is not None and not hasattr(optimizer, 'register_step_pre_hook'):
            raise UsageError(f'optimizer is a {type(optimizer).__name__}, not a torch.optim.Optimizer: pass the '
                             f'optimizer your loop steps, or none')
        self.findings, self.metrics, self.seconds, self.epochs_done = [], None, 0.0, 0
        self._record = core.Record(self.out, fixes='torch')
        self.health = self._record.health
        self._session, self._before, self._step_update, self._armed, self._handles = None, None, None, True, []
        self._finished, self._nonfinite = False, None
        if optimizer is None:
            self._record.notes.append('no optimizer given: the learning-rate rules were skipped (pass optimizer= to '
                                      'measure one step of each checked epoch)')
        else:
            self._handles = [optimizer.register_step_pre_hook(self._step_begins),
                             optimizer.register_step_post_hook(self._step_ends)]
        with self._guard('the model on the sample'):
            self._session = core.Session(Probe(model, self.sample, self.targets, loss_fn), self.sample, self.targets,
                                         self._record)
        if self._session is not None:
            with self._guard('the untrained model'):
                self._session.check(0)

    @contextlib.contextmanager
    def _guard(self, what):
        """Time the monitor's own work, and turn any error of a check into a finding: training goes on."""
        t0 = time.perf_counter()
        try:
            yield
        except UsageError:
            raise
        except Exception as e:
            self._record.failed(what, e)
            if self.verbose:
                print(f'aehealth: could not measure {what}: {core.one_line(e)} (training goes on)', file=sys.stderr)
        finally:
            self.seconds += time.perf_counter() - t0

    def _step_begins(self, optimizer, args, kwargs):
        if self._armed and self._session is not None:
            with self._guard('one step\'s update'):
                self._before = {k: w.detach().cpu().numpy().copy() for k, w in self._session.probe.kernels.items()}
            self._armed = False

    def _step_ends(self, optimizer, args, kwargs):
        if self._before is not None:
            with self._guard('one step\'s update'):
                self._step_update = {k: stats.update_ratio(w.detach().cpu().numpy(), self._before[k])
                                     for k, w in self._session.probe.kernels.items()}
            self._before = None

    def epoch_end(self, loss=None):
        """Call after each epoch (`loss`: its training loss, if you have it, to catch NaN between checks)."""
        self.epochs_done += 1
        if loss is not None and not math.isfinite(float(loss)):
            self._nonfinite = self._nonfinite or f'the training loss is {float(loss)} in epoch {self.epochs_done}'
        if self._session is not None and self.epochs_done % self.every == 0:
            with self._guard(f'the model after epoch {self.epochs_done}'):
                self._session.check(self.epochs_done, self._step_update)
            self._step_update = None
        self._armed = (self.epochs_done + 1) % self.every == 0

    def finish(self):
        """The report: prints it (verbose), writes the folder (out), removes the optimizer's hooks; the findings."""
        if self._finished:
            return self.findings
        t0 = time.perf_counter()
        for handle in self._handles:
            handle.remove()
        session = self._session
        try:
            if session is not None and (not self.health or self.health[-1]['epoch'] != self.epochs_done):
                with self._guard('the model at the end of training'):
                    session.check(self.epochs_done, self._step_update)
            if session is None or not self.health:
                net = session.probe.net if session else rules.network([], None, None, {})
                self.metrics = self._record.metrics(net, None, None, self.epochs_done)
            else:
                nonfinite = self._nonfinite or _nonfinite(self.model, self.health[-1]['loss'])
                self.metrics = session.metrics(self.epochs_done, nonfinite)
            self.findings = self.metrics['findings']
            if self.verbose:
                print(core.report(self.metrics, 'health monitor:', False))
            if self.out:
                self._record.save(self.metrics, f'{type(self.model).__name__}: health over training')
        except Exception as e:  # the report must not take the user's training down with it
            self._record.failed('the end of training', e)
            self.findings = rules.findings({'network': rules.network([], None, None, {}),
                                            'epochs_done': self.epochs_done,
                                            'not_measured': self._record.not_measured}, fixes='torch')
            if self.verbose:
                print(f'aehealth: could not finish the report: {core.one_line(e)}', file=sys.stderr)
        self._finished = True
        self.seconds += time.perf_counter() - t0
        return self.findings

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self.finish()
        return False  # an exception of the loop goes on to the user
