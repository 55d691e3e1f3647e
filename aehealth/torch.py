"""aehealth for PyTorch: a pre-flight check, and a monitor for a plain training loop that says why it is stuck.

    from aehealth.torch import HealthMonitor, preflight
    preflight(model, x[:1000], loss_fn)                       # before training: what is wrong already
    with HealthMonitor(model, x[:1000], loss_fn, optimizer, out='runs/mine') as monitor:
        for epoch in range(20):
            for batch in loader:
                ...                                           # your loop, unchanged
            monitor.epoch_end()
    monitor.findings                                          # [{rule, level, evidence, fix}, ...]

Each check runs the model on the sample in eval mode with forward hooks on its modules and a torch function mode
that records the activations forward() applies itself (F.relu, torch.sigmoid, in place or not), and takes each
weight's gradient of `loss_fn(model(x), targets)` with torch.autograd.grad. It writes no .grad, puts every module's
train/eval mode back, leaves the random state as it was (a seeded run gives the same numbers with or without it),
never steps the optimizer and never stops training. With `optimizer`, its step hooks measure the first step of each checked
epoch, for the learning-rate rules. A model that returns (reconstruction, mean, log-variance), the convention of
pytorch/examples' VAE, is also checked for posterior collapse (as is one that samples z in a module of its own, given
mu and logvar); of any other tuple, the element the loss depends on is
judged (the tutorials' `return encoded, decoded`).
"""
import contextlib
import gc
from dataclasses import dataclass
from typing import Optional

import numpy as np

try:
    import torch
    from torch import nn
    from torch.overrides import TorchFunctionMode
except ImportError:  # the extra "torch" is not installed
    raise ImportError('aehealth.torch needs PyTorch: pip install "aehealth[torch]"') from None

from aehealth import monitor as core
from aehealth import network, rules
from aehealth.contracts import Chunk, LayerRecord

CHUNK = 256  # sample rows per pass: a few hundred inputs' maps stay in the CPU's cache (docs/speed.md)
UsageError = core.UsageError
ACTIVATION_MODULES = {nn.ReLU: 'relu', nn.LeakyReLU: 'leaky_relu', nn.Sigmoid: 'sigmoid', nn.Tanh: 'tanh',
                      nn.Softmax: 'softmax', nn.ELU: 'elu', nn.SELU: 'selu', nn.GELU: 'gelu', nn.SiLU: 'silu',
                      nn.Softplus: 'softplus', nn.PReLU: 'prelu', nn.ReLU6: 'relu6', nn.Hardtanh: 'hardtanh',
                      nn.LogSoftmax: 'log_softmax', nn.Hardsigmoid: 'hard_sigmoid'}
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
            nn.RNNBase)
# The activations forward() can apply itself (F.relu, torch.sigmoid, x.tanh(), relu_), by the function's name; and
# what the operations that only reshape leave in the autograd graph.
FUNCTIONS = {**{name: name for name in ('relu', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'leaky_relu', 'elu',
                                        'selu', 'gelu', 'silu', 'softplus', 'hardtanh', 'relu6')},
             'relu_': 'relu', 'sigmoid_': 'sigmoid', 'tanh_': 'tanh', 'leaky_relu_': 'leaky_relu', 'elu_': 'elu',
             'hardtanh_': 'hardtanh', 'hardsigmoid': 'hard_sigmoid'}
RESHAPES = {'ViewBackward0', 'ReshapeAliasBackward0', 'UnsafeViewBackward0', 'PermuteBackward0',
            'TransposeBackward0', 'SqueezeBackward0', 'SqueezeBackward1', 'SqueezeDimBackward0',
            'SqueezeDimsBackward0', 'UnsqueezeBackward0', 'CloneBackward0', 'ExpandBackward0', 'AliasBackward0'}
JOINS = {'StackBackward0', 'CatBackward0'}
MODAL = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)  # modules that act otherwise in training


def refuse_sharded(model):
    """A one-line error for weights sharded across processes (FSDP, fully_shard, tensor parallelism): a check on one
    rank would run the model's forward, which gathers the shards from the other ranks, and wait for them forever."""
    sharded = [type(m).__name__ for m in model.modules() if 'FullyShardedDataParallel' in type(m).__name__ or
               type(m).__name__.startswith('FSDP')]
    if sharded or any(type(p).__name__ == 'DTensor' for p in model.parameters()):
        raise UsageError(f'{sharded[0] if sharded else "a model with DTensor weights"}: its weights are sharded across '
                         f'processes, which aehealth cannot measure from one; monitor the same model unsharded, on '
                         f'one process (or under DistributedDataParallel)')


def _rank():
    """This process's rank in torch.distributed's default group (0 when it is not initialised)."""
    distributed = torch.distributed
    return distributed.get_rank() if distributed.is_available() and distributed.is_initialized() else 0


def _unwrapped(model):
    """The module a wrapper runs: torch.compile's original module (measured eagerly, with hooks), a
    DistributedDataParallel's or DataParallel's (measured without their collectives)."""
    while True:
        inner = getattr(model, '_orig_mod', None) or (getattr(model, 'module', None) if isinstance(
            model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _kernel(module):
    """A weight layer's input weight matrix (an RNN's first input-to-hidden one), or None."""
    if isinstance(module, nn.RNNBase):
        return getattr(module, 'weight_ih_l0', None)
    return getattr(module, 'weight', None) if isinstance(module, WEIGHTED) else None


def _axis_units(tap, tensor):
    """How many values a softmax makes sum to 1 (the size of its dim); None for other taps."""
    if tap.activation != 'softmax' or tensor is None:
        return None
    dim = getattr(tap.module, 'dim', None) if tap.module is not None else tap.dim
    if dim is None:  # F.softmax(x) without dim: the axis PyTorch picks (with a warning)
        dim = 0 if tensor.dim() in (0, 1, 3) else 1
    return int(tensor.shape[dim])


def _flat(value):
    """The tensors of a module's output, in order (an LSTM's (output, (h, c)): output, h, c)."""
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return []


def _walk(fn):
    """The autograd node behind any reshapes (a stack or cat of one tensor is one: forward= joining rows, found on one)."""
    while fn is not None and fn.next_functions and (type(fn).__name__ in RESHAPES or (
            type(fn).__name__ in JOINS and len(fn.next_functions) == 1)):
        fn = fn.next_functions[0][0]
    return fn


def _made_by(fn, outputs):
    """outputs[node] of the first node on the way back from `fn` through reshapes that a module's output is (a
    Linear's on (N, T, F) is the view behind its matrix product), or None."""
    while fn is not None:
        if fn in outputs:
            return outputs[fn]
        if not fn.next_functions or _walk(fn) is fn:
            return None
        fn = fn.next_functions[0][0]
    return None


def _fans(w):
    """(fan-in, fan-out) as torch.nn.init counts them: dimension 1 in, dimension 0 out, times the kernel's size."""
    receptive = int(np.prod(w.shape[2:])) if w.dim() > 2 else 1
    return int(w.shape[1]) * receptive, int(w.shape[0]) * receptive


def _loss_name(loss_fn):
    return getattr(loss_fn, '__name__', None) or type(loss_fn).__name__


def _as_tensor(array, dtype=torch.float32):
    """A numpy array (or tensor) as the tensor fed to the model: floats in the model's own dtype, ids as int64."""
    t = torch.as_tensor(array)
    return t.to(dtype) if t.is_floating_point() else t.long()


def _numpy(value, name):
    """A tensor or array as a numpy array, for checking; one line for anything else."""
    if torch.is_tensor(value):
        return _numpy_of(value)
    if isinstance(value, torch.utils.data.DataLoader) or isinstance(value, torch.utils.data.Dataset):
        raise UsageError(f'{name} is a {type(value).__name__}: pass a tensor or numpy array of rows, for example '
                         f'next(iter(loader))[0] or a slice of the training data')
    return value


@dataclass(eq=False)
class Call:
    """One call in a run of the model: a leaf module's, or an activation forward() applied itself (`module` None).
    `made`: the autograd node of each output tensor when made (an in-place activation after it rewrites the
    tensor's); `takes`: an activation's input's node when applied; `dim`: a softmax's."""
    module: Optional[nn.Module]
    given: object
    value: object
    made: tuple
    activation: Optional[str] = None
    takes: object = None
    dim: Optional[int] = None


class _Activations(TorchFunctionMode):
    """Records the activations forward() applies itself, outside the leaf modules (whose hooks stand for what runs
    inside them), as calls of their own."""

    def __init__(self, record):
        super().__init__()
        self.record, self.depth = record, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = FUNCTIONS.get(getattr(func, '__name__', None)) if self.depth == 0 else None
        given = args[0] if args else None
        takes = given.grad_fn if name and torch.is_tensor(given) else None  # before an in-place op rewrites it
        out = func(*args, **kwargs)
        if name and torch.is_tensor(given) and torch.is_tensor(out):
            dim = kwargs.get('dim', args[1] if len(args) > 1 else None) if 'softmax' in name else None
            self.record.append(Call(None, given, out, (out.grad_fn,), name, takes, dim))
        return out


@contextlib.contextmanager
def _hooks(modules, record, pairs=None):
    """Forward hooks on `modules`, and the activations forward() applies, for the duration, appending a Call for each
    to `record`; `pairs`: {index in the record: (first, second)} of the modules called with two tensors (a VAE's
    sampling module, given (mu, logvar))."""
    mode = _Activations(record)

    def enter(mod, args):
        mode.depth += 1

    def hook(mod, args, out):
        mode.depth -= 1
        given = args[0] if args else None
        if pairs is not None and (len(args) == 2 or (len(args) == 1 and isinstance(args[0], (list, tuple))
                                                     and len(args[0]) == 2)):
            pairs[len(record)] = tuple(args if len(args) == 2 else args[0])
        # a module that hands its input on (Dropout in eval mode) made nothing
        made = tuple(None if torch.is_tensor(given) and v.grad_fn is given.grad_fn else v.grad_fn for v in _flat(out))
        record.append(Call(mod, given, out, made))
    handles = [m.register_forward_pre_hook(enter) for m in modules] + [m.register_forward_hook(hook) for m in modules]
    try:
        with mode:
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


@dataclass(eq=False)
class Tap:
    """A tensor the probe can measure: a call's output (`part` j of an RNN's), or the reconstruction; `of` is the tap
    an activation of forward() was applied to."""
    key: str
    label: str
    activation: Optional[str]
    where: str                # 'out' or 'recon'
    at: int                   # the index of the call in the record (the reconstruction: after the last)
    part: int = 0
    module: Optional[nn.Module] = None
    of: Optional['Tap'] = None
    dim: Optional[int] = None  # a softmax of forward()'s


class Probe:
    """A PyTorch module as aehealth.contracts.Probe: found by running it once on a few rows with hooks (the core
    describes the network from what ran), then measured on the sample: every measured tensor, the reconstruction, the
    loss and the weights' gradients."""

    framework = 'torch'
    chunk = CHUNK

    def __init__(self, model, sample, targets, loss_fn, forward=None):
        if not isinstance(model, nn.Module):
            raise UsageError(f'model is a {type(model).__name__}, not a torch.nn.Module')
        refuse_sharded(model)
        model = _unwrapped(model)
        if not callable(loss_fn):
            raise UsageError(f'loss_fn={loss_fn!r} is not callable: pass the loss your loop uses, for example '
                             f'nn.MSELoss() or F.binary_cross_entropy')
        self.model, self.loss_fn, self.notes = model, loss_fn, []
        self.forward = forward or model
        params = list(model.parameters())
        self.device = params[0].device if params else torch.device('cpu')
        self.dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)  # float64, half, ...
        self.names = {m: name or type(m).__name__ for name, m in model.named_modules()}
        self.leaves = [m for m in model.modules() if not list(m.children()) or isinstance(m, nn.RNNBase)]
        self._discover(sample[:rules.MIN_ROWS], targets[:rules.MIN_ROWS])

    # ---- finding the network

    def _in(self, array):
        """Rows as the model takes them: on its device, floats in its dtype."""
        return _as_tensor(array, self.dtype).to(self.device)

    def _run(self, x, pairs=None):
        """The model on x with every leaf recorded: (record, output)."""
        record = []
        with _hooks(self.leaves, record, pairs):
            out = self.forward(x)
        return record, out

    def _run_values(self, x):
        """Every leaf's output on x, as numpy arrays (None for what is not a tensor): for network.drawing."""
        with torch.no_grad():
            return [_cpu(_flat(c.value)[0]) if _flat(c.value) else None for c in self._run(x)[0]]

    def _discover(self, x, t):
        """Run the model once with hooks; which tensors the reconstruction depends on; the activations forward()
        applies itself; the loss's kind; the network, as the core describes it."""
        xt = self._in(x)
        if xt.is_floating_point():
            xt.requires_grad_(True)  # so that every tensor made from the input has a place in the graph
        with _untouched(self.model, self.device), torch.enable_grad():
            pairs = {}
            try:
                record, out = self._run(xt, pairs)
            except Exception as e:
                raise self._one_at_a_time(xt, t, e) or core.fit_error(x.shape[1:], None, e) from None
            self.per_row = self._loops_over_rows(xt, len(record))
            if self.per_row:  # found on one row, measured row by row: each pass runs the same modules
                xt, t, pairs = xt[:1], t[:1], {}
                record, out = self._run(xt, pairs)
            if not torch.is_tensor(out) and not (isinstance(out, (list, tuple))
                                                 and any(torch.is_tensor(v) for v in out)):
                raise UsageError(f'the model returned a {type(out).__name__}, not a tensor or a tuple with one: pass '
                                 f'forward=, a function from inputs to the reconstruction (for example forward=lambda '
                                 f'x: model(x)["reconstruction"]), with a loss_fn that takes what it returns')
            self._find_reconstruction(out, self._first_loss(out, t), t, xt)
            recon, mean, log_variance = self.outputs.parts(out)
            self.output_shape = tuple(recon.shape[1:])
            ids = np.issubdtype(np.asarray(t).dtype, np.integer)
            self.loss_kind = network.loss_kind(_loss_name(self.loss_fn), 1, sparse=network.class_ids(
                self.output_shape, t.shape[1:], ids, 1))
            drawing = network.drawing(self._run_values(xt), self._run_values(xt))  # a sampling module's; put back
            records = self._records(record, recon, mean, pairs, drawing)
            output = LayerRecord('output', 'output', None, False, int(np.prod(self.output_shape)), is_output=True,
                                 channels=self._channels(recon, record, len(record)),
                                 handle=Tap('output', 'output', None, 'recon', len(record)))
            described = network.describe(records, output, self.loss_kind.name, self.loss_kind.from_logits)
        self.length = len(record)
        self.net, self.channels, self.kernels = described.net, described.channels, described.kernels
        self.frozen, self.posterior, self.cut = described.frozen, described.posterior, described.cut
        self.taps = [(r.key, r.handle) for r in described.measured]  # (key, tap) of what is measured
        self.notes += described.notes
        first = next(((k, c.module) for k, c in enumerate(record) if _kernel(c.module) is not None
                      or isinstance(c.module, nn.Embedding)), None)
        self.received, self.received_by = None, None
        if first is not None and not isinstance(first[1], nn.Embedding):
            self.received, self.received_by = first[0], self.names.get(first[1])

    def _first_loss(self, out, t):
        """loss_fn on the model's first output, or a one-line error that says why it cannot be one number."""
        try:
            loss = self.loss_fn(out, self._in(t))
        except Exception as e:
            shapes = tuple(out.shape[1:]) if torch.is_tensor(out) else \
                [tuple(v.shape[1:]) if torch.is_tensor(v) else type(v).__name__ for v in out]
            fix = ''  # BCELoss refuses an output that is not a probability: say how to make it one
            if rules.takes_probabilities(_loss_name(self.loss_fn)) and torch.is_tensor(out) \
                    and not bool(((out >= 0) & (out <= 1)).all()):
                fix = ': ' + rules.REGISTRY['output_not_probability'].fix_for('torch')
            raise UsageError(f'loss_fn(model(x), targets) failed on the sample (output rows {shapes}, '
                             f'targets rows {tuple(t.shape[1:])}): {core.one_line(e)}{fix}') from None
        if torch.is_tensor(loss) and loss.numel() != 1:
            raise UsageError(f'loss_fn returned a tensor of shape {tuple(loss.shape)}, not one number: reduce it '
                             f'as your loop does before backward() (for example nn.MSELoss(), whose reduction is '
                             f'the mean, or loss_fn(out, x).mean())')
        return loss

    def _loops_over_rows(self, xt, length):
        """Whether forward() runs its modules once per row (`length` module calls on xt, a multiple of one row's)."""
        try:
            one = len(self._run(xt[:1])[0])
        except Exception:  # a model that needs more than one row (a squeeze() that drops the batch axis)
            return False
        return len(xt) > 1 and length == len(xt) * one != one

    def _one_at_a_time(self, xt, t, error):
        """A one-line error with the forward= that works, for a model that runs on one row but not on several (a
        reshape to batch 1 in forward(), as in tutorials that train on one sequence at a time); else None."""
        try:
            out = self.forward(xt[:1])
        except Exception:
            return None
        if not torch.is_tensor(out):
            return None
        join = 'stack' if tuple(out.shape) == tuple(t.shape[1:]) else 'cat'  # the model drops the batch axis, or not
        return UsageError(f'the model runs on one row of the sample but not on {len(xt)} ({core.one_line(error)}): pass '
                          f'forward=lambda x: torch.{join}([model(row[None]) for row in x]), the sample is then '
                          f'measured row by row')

    def _find_reconstruction(self, out, loss, t, given):
        """Which element of a returned tuple is the reconstruction (the core decides, from what the loss compares and
        what is shaped like the targets), and which a VAE's posterior."""
        self.outputs = network.Outputs()
        if torch.is_tensor(out):
            return
        self.rows = [tuple(v.shape[1:]) if torch.is_tensor(v) else None for v in out]
        self.others = [None if torch.is_tensor(v) else v for v in out]  # passed back as returned, for the baselines
        self.passthrough = [k for k, v in enumerate(out) if v is given]  # the input handed back (AntixK's VAEs)
        self.returned = type(out)
        tensors = [k for k, v in enumerate(out) if torch.is_tensor(v)]
        graded = [k for k in tensors if out[k].requires_grad]
        grads = torch.autograd.grad(loss, [out[k] for k in graded], allow_unused=True, retain_graph=True) \
            if torch.is_tensor(loss) and loss.requires_grad and graded else [None] * len(graded)
        used = {k for k, g in zip(graded, grads) if g is not None} or set(tensors)
        self.outputs = network.outputs([f'element {k}' for k in range(len(out))], self.rows, t, 1,
                                       [k in used for k in range(len(out))], self.notes,
                                       [k in self.passthrough for k in range(len(out))])

    def _taps(self, record, recon, pairs):
        """Every tensor that could be measured, in the order the model makes them: each module's output (an RNN's
        output, h and c), and each activation forward() applies to one (F.relu(self.fc1(x)), behind a Linear's view
        or not, in place or not) or to make the reconstruction."""
        outputs = {}  # each module output's autograd node: the call that made it
        for k, call in enumerate(record):
            for fn in call.made if call.module is not None else ():
                if fn is not None:
                    outputs.setdefault(fn, k)
        taps, counts, keys = [], {}, set()
        for k, call in enumerate(record):
            module, value = call.module, call.value
            if module is None:  # an activation of forward(): of the module output it was applied to, or the output's
                j = _made_by(call.takes, outputs)
                src = next((t for t in taps if t.module is not None and t.at == j), None)
                last = value is recon or (value.grad_fn is not None and _walk(recon.grad_fn) is value.grad_fn)
                key = f'{src.key}+{call.activation}' if src else 'output'
                if (src or last) and key not in keys:
                    keys.add(key)
                    taps.append(Tap(key, f'{src.key} + {call.activation} in forward()' if src else 'output',
                                    call.activation, 'out', k, of=src, dim=call.dim))
                continue
            act = next((a for cls, a in ACTIVATION_MODULES.items() if isinstance(module, cls)), None)
            if isinstance(module, nn.RNNBase):
                act = getattr(module, 'nonlinearity', 'tanh')  # an LSTM's or GRU's output is tanh-bounded
            elif act is None and _kernel(module) is not None:
                act = 'linear'  # the weight layer's own output: an activation, if any, comes after it
            counts[module] = counts.get(module, 0) + 1
            key = self.names.get(module, type(module).__name__) + (f'#{counts[module]}' if counts[module] > 1 else '')
            parts = len(_flat(value)) if isinstance(module, nn.RNNBase) else 1  # an RNN: its output, then h (and c)
            taps += [Tap(key, f'{key} ({type(module).__name__})', act, 'out', k, j, module)
                     for j in range(parts if act is not None or k in pairs else 0)]  # a sampling module: its pair
        return taps

    def _records(self, record, recon, mean, pairs, drawing):
        """The taps as neutral records: what the reconstruction depends on, what each takes whole, its kernel, and of
        a module given two tensors, which records made them (`pairs`) and whether it draws random numbers
        (`drawing`, by index in the record)."""
        taps = self._taps(record, recon, pairs)
        tensors = [self._tensor(tap, record, recon, raw=True) for tap in taps]
        wanted = [k for k, v in enumerate(tensors) if v is not None and v.requires_grad]
        grads = torch.autograd.grad(recon.float().sum(), [tensors[k] for k in wanted], allow_unused=True,
                                    retain_graph=True)
        connected = {k for k, g in zip(wanted, grads) if g is not None}
        rnn_seen, records = set(), []
        for k, (tap, tensor) in enumerate(zip(taps, tensors)):
            rnn = isinstance(tap.module, nn.RNNBase)
            upstream = (k in connected or tap.where == 'recon') and not (rnn and tap.module in rnn_seen)
            if upstream and rnn:
                rnn_seen.add(tap.module)  # of an RNN's tensors, the first the reconstruction depends on
            if tap.of is not None:  # an activation of forward() takes the module's output whole
                takes = taps.index(tap.of)
            else:
                given = record[tap.at].given if tap.module is not None else None
                takes = next((j for j, t in enumerate(tensors) if given is not None and t is given
                              and taps[j].where == 'out'), None)
            w = _kernel(tap.module) if tap.module is not None else None
            batch_first = self._tensor(tap, record, recon)
            pair = [next((j for j, t in enumerate(tensors) if t is g and taps[j].where == 'out'), None)
                    for g in pairs.get(tap.at, ())] if tap.where == 'out' else []
            made = tensor is recon or (tensor.grad_fn is not None and _walk(recon.grad_fn) is tensor.grad_fn)
            records.append(LayerRecord(
                tap.key, tap.label, tap.activation, w is not None, int(np.prod(batch_first.shape[1:])),
                upstream=upstream, takes=takes, channels=self._channels(batch_first, record, tap.at),
                is_mean=mean is not None and tensor is mean, is_output=tap.where == 'recon' or made,
                kernel=w if w is not None and w.requires_grad else None, handle=tap,
                axis_units=_axis_units(tap, tensor), pair=tuple(pair) if pair and None not in pair else None,
                stochastic=tap.where == 'out' and tap.at in drawing))
        return records

    def _channels(self, tensor, record, at):
        """The channels' axis of a map (N, C, ...) or a sequence (N, T, features); None for flat rows."""
        weighted = next((c.module for c in reversed(record[:at + 1]) if _kernel(c.module) is not None), None)
        if tensor.dim() > 3 or (tensor.dim() == 3 and isinstance(weighted, (nn.Conv1d, nn.ConvTranspose1d))):
            return 1
        return -1 if tensor.dim() == 3 else None

    @staticmethod
    def _tensor(tap, record, recon, raw=False):
        """The tap's tensor in this pass (`raw`: as the model made it, for autograd; else batch first)."""
        if tap.where == 'recon':
            return recon
        tensor = _flat(record[tap.at].value)[tap.part]
        return tensor.transpose(0, 1) if tap.part and not raw else tensor  # an RNN's h, c: batch second

    # ---- measuring

    def loss_of(self, targets):
        """loss(rows, predictions) on `targets`, for the baselines: the reconstruction's loss, with no KL term."""
        def loss(rows, p):
            with torch.no_grad():
                p = torch.as_tensor(np.ascontiguousarray(p), dtype=self.dtype, device=self.device)
                target = self._in(targets[rows])
                return float(self.loss_fn(self._as_output(p, target), target))
        return loss

    def _as_output(self, recon, given):
        """A reconstruction as the model would return it, for its reconstruction's loss alone: a VAE's posterior
        equal to the prior, the input handed back where the model hands it back (`given`), zeros elsewhere."""
        o = self.outputs
        if o.recon is None:
            return recon
        out = [other if rows is None else torch.zeros((len(recon),) + rows, dtype=recon.dtype, device=recon.device)
               for rows, other in zip(self.rows, self.others)]
        out[o.recon] = recon
        for k in self.passthrough:
            out[k] = given
        return tuple(out) if self.returned is tuple else out

    @contextlib.contextmanager
    def measuring(self):
        """For the duration of a check: eval mode, gradients on, the random state and every module's mode put back."""
        with _untouched(self.model, self.device), torch.enable_grad():
            yield

    def measure(self, x, targets, received=False, gradients=True):
        """One chunk of the sample, measured (aehealth.contracts.Chunk); without `gradients`, no graph is made."""
        xb, tb = self._in(x), self._in(targets)
        with torch.set_grad_enabled(gradients):
            passes = [self._run(xb[i:i + 1]) for i in range(len(xb))] if self.per_row else [self._run(xb)]
            for record, _ in passes:
                if len(record) != self.length:
                    raise RuntimeError(f'the model ran {len(record)} modules on this chunk and {self.length} when '
                                       f'first measured: a forward() that changes with the data cannot be followed')
            out = _joined([out for _, out in passes])
            recon, mean, log_variance = self.outputs.parts(out)
            total = self.loss_fn(out, tb)
            data = self.loss_fn(self._as_output(recon, xb), tb) if self.outputs.vae else total
        params = list(self.kernels.values()) if gradients else []
        grads = torch.autograd.grad(total, params, allow_unused=True) if params else []
        ends = [self.outputs.parts(out)[0] for _, out in passes]  # each pass's reconstruction
        return Chunk(values={key: _rows([_cpu(self._tensor(tap, record, end)) for (record, _), end in
                                         zip(passes, ends)]) for key, tap in self.taps},
                     output=_cpu(recon), loss=float(data.detach()), total=float(total.detach()),
                     grads={name: None if g is None else _cpu(g) for name, g in zip(self.kernels, grads)},
                     rows=len(xb), mean=None if mean is None else _cpu(mean),
                     log_variance=None if log_variance is None else _cpu(log_variance),
                     received=_rows([_cpu(record[self.received].given) for record, _ in passes])
                     if received and self.received is not None else None)

    def weights(self):
        return {name: _numpy_of(w) for name, w in self.kernels.items()}

    @property
    def has_modes(self):
        """Whether the model computes otherwise in training mode (BatchNorm, Dropout)."""
        return any(isinstance(m, MODAL) for m in self.model.modules())

    def train_mode_loss(self, x, targets):
        """The reconstruction's loss on the sample in training mode; BatchNorm's statistics, every module's mode and
        the random state put back."""
        buffers = {k: b.detach().clone() for k, b in self.model.named_buffers()}
        total = 0.0
        try:
            with _untouched(self.model, self.device), torch.no_grad():
                self.model.train()
                for i in range(0, len(x), self.chunk):
                    xb, tb = self._in(x[i:i + self.chunk]), self._in(targets[i:i + self.chunk])
                    out = self.forward(xb)
                    recon, mean, _ = self.outputs.parts(out)
                    loss = self.loss_fn(self._as_output(recon, xb), tb) if self.outputs.vae \
                        else self.loss_fn(out, tb)
                    total += float(loss) * len(xb)
        finally:
            with torch.no_grad():
                for k, b in self.model.named_buffers():
                    b.copy_(buffers[k])
        return total / len(x)

    def fans(self, key):
        return _fans(self.kernels[key])

    def nonfinite(self, loss=None):
        """Words for what is NaN or infinite now (the loss, or which weights), or None."""
        return core.nonfinite_words(loss, [name for name, p in self.model.named_parameters()
                                           if not torch.isfinite(p.detach()).all()])


class LoopWatch:
    """What the loop does around the optimizer's steps: the optimizer's parameters against the model's, a step that
    finds no gradient, each watched step's applied gradient against what its own backward passes made and against
    that plus the step before's (read with tensor hooks between the first step of a checked epoch and the next; the
    core judges which it is), and the learning rate with what set it. It reads gradients and never writes one."""

    def __init__(self, model, optimizer, loop):
        self.optimizer, self.loop = optimizer, loop
        self.params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        held = {id(p) for group in optimizer.param_groups for p in group['params']}
        missing = [name for name, p in self.params if id(p) not in held]
        if missing:
            loop['optimizer'] = dict(held=len(self.params) - len(missing), trainable=len(self.params), missing=missing)
        self.stepped = [(name, p) for name, p in self.params if id(p) in held]  # what the optimizer's zero_grad clears
        group = optimizer.param_groups[0]
        self.start = float(group.get('initial_lr', group['lr']))
        self.steps, self.previous, self.incoming, self.handles = 0, None, None, []

    def before_step(self, armed):
        """Before a step: compare with the step before (when watched); at a watched step, any gradient at all?"""
        self.steps += 1
        if self.previous is not None:
            self._compare()
        if armed and all(p.grad is None or not p.grad.any() for _, p in self.params) and self.params:
            self.loop['no_gradient'] = [name for name, _ in self.params]

    def after_step(self, armed):
        """After a watched step: keep its gradients, and sum what the backward passes before the next step add."""
        if not armed:
            return
        self.previous = {id(p): p.grad.detach().clone() for _, p in self.stepped if p.grad is not None}
        self.incoming = {}

        def add(key):
            def hook(grad):
                self.incoming[key] = self.incoming[key] + grad.detach() if key in self.incoming else grad.detach()
            return hook
        self.handles = [p.register_hook(add(id(p))) for _, p in self.stepped if id(p) in self.previous]

    def _compare(self):
        """The gradient this step applies is its own backward's (cleared), or that plus the step before's (carried)."""
        for handle in self.handles:
            handle.remove()
        pairs = [(p.grad.detach(), self.incoming.get(id(p)), self.previous[id(p)]) for _, p in self.stepped
                 if id(p) in self.previous and p.grad is not None and id(p) in self.incoming]
        self.previous, self.incoming, self.handles = None, None, []
        if not pairs:
            return
        g, i, b = (torch.cat([t.reshape(-1).double() for t in ts]) for ts in zip(*pairs))
        scale = float(g.norm()) or 1.0
        self.loop.setdefault('compared', []).append(dict(
            step=self.steps, cleared=float((g - i).norm()) / scale, carried=float((g - i - b).norm()) / scale,
            share=float(b.norm()) / scale))

    def learning_rate(self):
        """{'start', 'now', 'by'}: the rate now, and what set it (a scheduler found beside the optimizer)."""
        scheduler = next((r for r in gc.get_referrers(self.optimizer)
                          if isinstance(r, torch.optim.lr_scheduler.LRScheduler)), None)
        by = 'the learning rate\'s setter'
        if scheduler is not None:
            settings = {k: getattr(scheduler, k) for k in ('step_size', 'gamma') if hasattr(scheduler, k)}
            by = type(scheduler).__name__ + (f' ({", ".join(f"{k}={v}" for k, v in settings.items())}, stepped '
                                              f'{scheduler.last_epoch} times)' if settings else '')
        return dict(start=self.start, now=float(self.optimizer.param_groups[0]['lr']), by=by)


def _joined(outs):
    """The model's outputs of several passes as one: tensors (and a tuple's tensors) joined along the batch axis."""
    if len(outs) == 1:
        return outs[0]
    if torch.is_tensor(outs[0]):
        return torch.cat(outs)
    joined = [torch.cat(parts) if torch.is_tensor(parts[0]) else parts[0] for parts in zip(*outs)]
    return type(outs[0])(joined) if type(outs[0]) in (tuple, list) else type(outs[0])(*joined)  # a namedtuple


def _rows(arrays):
    """The arrays of several passes as one (one pass's as it is, uncopied)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _numpy_of(tensor):
    """A tensor's values as a numpy copy in its own precision (bfloat16, which numpy lacks, as float32)."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy().copy()


def _cpu(tensor):
    """A tensor's values as a float32 numpy array (a gradient's in its own precision)."""
    return tensor.detach().float().cpu().numpy()


def _pair(sample, targets):
    sample = core.as_rows(_numpy(sample, 'sample'), 'sample')
    targets = None if targets is None else core.as_rows(_numpy(targets, 'targets'), 'targets')
    return core.pair(sample, targets)


def preflight(model, sample, loss_fn, targets=None, verbose=True, forward=None):
    """The findings for the untrained model, before any training: [{rule, level, evidence, fix}, ...]."""
    sample, targets = _pair(sample, targets)
    return core.preflight(Probe(model, sample, targets, loss_fn, forward), sample, targets, verbose)


def postmortem(model, sample, loss_fn, targets=None, verbose=True, forward=None):
    """The findings for a model that has already trained, from every rule that needs no training history: its
    metrics dict (with 'findings')."""
    sample, targets = _pair(sample, targets)
    return core.postmortem(Probe(model, sample, targets, loss_fn, forward), sample, targets, verbose)


class HealthMonitor(core.Results):
    """Measures `model` on `sample` now and after every `every` epochs (call `epoch_end()` after each); `finish()` (or
    leaving a `with` block) says why it is stuck: `findings`, and `metrics` with every number. With `optimizer`, its
    step hooks measure one step's update per checked epoch. With `out`, a folder gets health.json, health.png and
    TensorBoard scalars. `targets`: what the model should output for `sample` (default: the sample itself).
    `forward`: a function from inputs to what `loss_fn` takes, for a model that needs more than `model(x)`.
    `every='auto'` spaces the checks so that they take at most `budget` of the training time. `step_hooks=False`:
    the caller calls `step_begins()` once the step's gradients are made and `step_ends()` after the update (as
    aehealth.lightning does: Lightning runs the backward pass inside `optimizer.step(closure)`)."""

    def __init__(self, model, sample, loss_fn, optimizer=None, targets=None, every=1, out=None, verbose=True,
                 forward=None, budget=core.BUDGET, step_hooks=True):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        if isinstance(model, nn.Module):
            refuse_sharded(model)  # on every rank alike, so that all of them stop, not only the one that checks
        if optimizer is not None and not hasattr(optimizer, 'register_step_pre_hook'):
            raise UsageError(f'optimizer is a {type(optimizer).__name__}, not a torch.optim.Optimizer: pass the '
                             f'optimizer your loop steps, or none')
        self.monitor = core.Monitor(*_pair(sample, targets), every, out, verbose, framework='torch', budget=budget)
        self._handles, self._finished, self._watched, self.watch = [], False, False, None
        self.rank = _rank()
        if self.rank != 0:  # one process checks (and reports); the others return at once, never in a collective
            return
        if optimizer is None:
            self.monitor.record.notes.append('no optimizer given: the learning-rate rules were skipped (pass '
                                             'optimizer= to measure one step of each checked epoch)')
        self.monitor.attach(lambda s, t: Probe(model, s, t, loss_fn, forward), inside_training=False)
        if optimizer is not None:
            self.watch = LoopWatch(_unwrapped(model), optimizer, self.monitor.record.loop)
            if step_hooks:
                self._handles = [optimizer.register_step_pre_hook(self.step_begins),
                                 optimizer.register_step_post_hook(self.step_ends)]
        self.monitor.begin(0)

    def step_begins(self, *_):
        """Before an optimizer step, its gradients made (the optimizer's pre-step hook, unless step_hooks=False)."""
        self._watched = self.monitor.armed and self.monitor.session is not None
        with self.monitor.guard('the loop around a step'):
            self.watch.before_step(self._watched)
        self.monitor.step_begins()

    def step_ends(self, *_):
        """After an optimizer step's update (its post-step hook, unless step_hooks=False)."""
        self.monitor.step_ends()
        with self.monitor.guard('the loop around a step'):
            self.watch.after_step(self._watched)

    epochs_done = property(lambda self: self.monitor.epochs_done, doc='epochs ended with epoch_end()')

    def epoch_end(self, loss=None):
        """Call after each epoch (`loss`: its training loss, if you have it, to catch NaN between checks)."""
        if self.rank != 0:
            return
        if self.watch is not None and self.monitor.due(ahead=1):
            self.monitor.record.loop['learning_rate'] = self.watch.learning_rate()
        self.monitor.epoch_end(loss)

    def finish(self):
        """The report: prints it (verbose), writes the folder (out), removes the optimizer's hooks; the findings."""
        if not self._finished and self.rank == 0:
            for handle in self._handles:
                handle.remove()
            self.monitor.finish(f'{type(self.model).__name__}: health over training')
            self._finished = True
        return self.findings

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self.finish()
        return False  # an exception of the loop goes on to the user


def trial(build, x, loss_fn, *, optimizer=None, targets=None, epochs=5, batch_size=64, seeds=(0,), changes='suggested',
          variants=None, jobs=1, executor=None, out=None, verbose=True, train=None, resume=None, threads=1):
    """Try the changes the rules suggest (or `changes`, a list of names; or `variants`, {name: build function}) on
    your own model, each over `seeds`, and say which one unsticks it: a aehealth.trial.TrialReport (`.recommended`,
    `.runs`, `.table()`), written to `out` (trial.json, trial.md, trial.png).

    `build()` returns a new module; `optimizer(params)` makes its optimizer (default Adam 1e-3); `train(model,
    optimizer, loss_fn, x, targets, batch_size)` runs one epoch on tensors and returns its last loss (default:
    shuffled batches, the plain loop). Runs go to `jobs` worker processes (spawned: guard your script with `if
    __name__ == '__main__':`), or to `executor`, any concurrent.futures.Executor (a Dask client's
    `get_executor()`); each uses `threads` threads, so any `jobs` gives the same numbers."""
    from aehealth import trial as core_trial
    x, targets = _pair(x, targets)
    core_trial.check_arguments(dict(build=build, loss_fn=loss_fn), dict(optimizer=optimizer, train=train),
                               dict(epochs=epochs, batch_size=batch_size, threads=threads), variants,
                               'makes your model')
    common = dict(build=build, x=x, y=targets, loss_fn=loss_fn, kl_weight=getattr(loss_fn, 'kl_weight', None),
                  optimizer=optimizer, train=train, epochs=epochs, batch_size=batch_size, threads=threads,
                  settings=dict(framework='torch', epochs=epochs, batch_size=batch_size, rows=len(x), threads=threads,
                                torch=torch.__version__))
    return core_trial.run('aehealth.trial_torch', common, changes, variants, seeds, jobs, executor, out, verbose,
                          resume)
