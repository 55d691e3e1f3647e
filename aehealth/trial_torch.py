"""The trial's changes made to a PyTorch module, and one run of a trial, in a worker process (aehealth.trial schedules
them; aehealth.torch.trial is how a user calls it)."""
import copy
import random
import time

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # the extra "torch" is not installed
    raise ImportError('aehealth.trial_torch needs PyTorch: pip install "aehealth[torch]"') from None

from aehealth import rules, trial
from aehealth.torch import ACTIVATION_MODULES, HealthMonitor, Probe, postmortem
from aehealth.trial import NotApplicable

SAMPLE = 1000  # rows the monitor of each run measures
SQUASHING = (nn.Sigmoid, nn.Tanh, nn.Softmax)
ADAMS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.Adamax, torch.optim.NAdam, torch.optim.RAdam)
OUTPUTS = {'output_linear': nn.Identity, 'output_sigmoid': nn.Sigmoid, 'output_tanh': nn.Tanh}
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class Then(nn.Module):
    """A model followed by one more module (an output activation the model had not)."""

    def __init__(self, model, after):
        super().__init__()
        self.model, self.after = model, after

    def forward(self, *args, **kwargs):
        return self.after(self.model(*args, **kwargs))


class Reshaped(nn.Module):
    """A model whose output is reshaped to the targets' rows."""

    def __init__(self, model, rows):
        super().__init__()
        self.model, self.rows = model, tuple(rows)

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        return out.reshape((len(out),) + self.rows)


class Swapped:
    """A loss called with its two arguments the other way round: loss_fn(targets, output); of a model that returns
    several values, the reconstruction (element `recon`) and the targets trade places, so that a loss which takes the
    tuple apart puts its own two the other way round (a VAE's F.binary_cross_entropy_with_logits(x, recon))."""

    def __init__(self, loss_fn, recon=None):
        self.loss_fn, self.recon = loss_fn, recon

    def __call__(self, output, targets):
        if self.recon is None:
            return self.loss_fn(targets, output)
        values = list(output)
        values[self.recon] = targets
        if hasattr(output, '_fields'):  # a namedtuple
            values = type(output)(*values)
        elif isinstance(output, tuple):
            values = tuple(values)
        return self.loss_fn(values, output[self.recon])


def plain_epoch(model, optimizer, loss_fn, x, targets, batch_size):
    """One epoch of the tutorials' loop: shuffled batches, zero_grad, backward, step; the last batch's loss."""
    model.train()
    order = torch.randperm(len(x))
    loss = None
    for i in range(0, len(x), batch_size):
        rows = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(x[rows]), targets[rows])
        loss.backward()
        optimizer.step()
    return loss


def _replace(model, old, new):
    """Put `new` wherever `old` is a child module; whether it was anywhere."""
    found = False
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if child is old:
                setattr(parent, name, new)
                found = True
    return found


def _output(model, x, y, loss_fn):
    """(the output activation's name, its module if it is one, whether forward() applies it) of the model."""
    probe = Probe(model, x[:rules.MIN_ROWS], y[:rules.MIN_ROWS], loss_fn)
    tap = dict(probe.taps)[probe.net['output']]
    act = probe.net['layers'][-1]['activation']
    module = tap.module if tap.module is not None and isinstance(tap.module, tuple(ACTIVATION_MODULES)) else None
    return act, module, tap.module is None and act not in (None, 'linear'), probe


def _he(model):
    """Every Linear and Conv weight drawn at He's scale, every bias 0; whether there was one."""
    found = False
    for m in model.modules():
        if isinstance(m, WEIGHTED):
            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            found = True
    return found


def model_change(name, model, loss_fn, x, y):
    """(model, loss_fn) with a model or loss change made, or NotApplicable with why."""
    act, out_module, in_forward, probe = _output(model, x, y, loss_fn)
    tensor_out = probe.outputs.recon is None
    if name in ('relu_he', 'leaky_relu'):
        kinds = SQUASHING if name == 'relu_he' else (nn.ReLU,)
        hidden = [m for m in model.modules() if isinstance(m, kinds) and m is not out_module]
        if not hidden:
            written = [layer['label'] for layer in probe.net['layers'][:-1] if layer['activation'] in (
                ('sigmoid', 'tanh', 'softmax') if name == 'relu_he' else ('relu',))]
            raise NotApplicable(f'{", ".join(written)}: the activation is written in forward(); change it there'
                                if written else f'the model has no hidden {"sigmoid, tanh or softmax" if name == "relu_he" else "ReLU"} layer')
        for m in hidden:
            _replace(model, m, nn.ReLU() if name == 'relu_he' else nn.LeakyReLU(0.01))
        if name == 'relu_he':
            _he(model)
        return model, loss_fn
    if name == 'he_init':
        if not _he(model):
            raise NotApplicable('the model has no Linear or Conv module to initialise')
        return model, loss_fn
    if name in OUTPUTS:
        wanted = name.split('_')[1]
        if in_forward:
            raise NotApplicable(f'the output\'s {act} is written in forward(): change it there')
        if (act or 'linear') == wanted:
            raise NotApplicable(f'the output is {wanted} already')
        if out_module is not None:
            _replace(model, out_module, OUTPUTS[name]())
            return model, loss_fn
        if act == 'linear' and tensor_out:
            return Then(model, OUTPUTS[name]()), loss_fn
        raise NotApplicable('the output is made by operations the monitor cannot change')
    if name == 'bce':
        if float(np.min(y)) < 0 or float(np.max(y)) > 1:
            raise NotApplicable('binary cross-entropy needs targets in [0, 1]')
        if not tensor_out:
            raise NotApplicable('the model returns several values and the loss is yours: use '
                                'F.binary_cross_entropy_with_logits in it')
        if in_forward:
            raise NotApplicable(f'the output\'s {act} is written in forward(): drop it there and use '
                                f'nn.BCEWithLogitsLoss')
        if out_module is not None and act == 'sigmoid':
            _replace(model, out_module, nn.Identity())
        elif act != 'linear':
            raise NotApplicable(f'the output is {act}: binary cross-entropy on logits needs a sigmoid or linear output')
        return model, nn.BCEWithLogitsLoss()
    if name == 'loss_swapped':
        return model, Swapped(loss_fn, probe.outputs.recon)
    if name == 'reinit':
        for m in model.modules():
            if hasattr(m, 'reset_parameters') and m is not model:
                m.reset_parameters()
        return model, loss_fn
    if name == 'reshape_output':
        if not tensor_out or tuple(probe.output_shape) == tuple(np.shape(y)[1:]):
            raise NotApplicable('the output has the targets\' shape already')
        return Reshaped(model, np.shape(y)[1:]), loss_fn
    if name.startswith('kl_'):
        if not isinstance(getattr(loss_fn, 'kl_weight', None), (int, float)):
            raise NotApplicable('the loss does not expose its KL weight: give loss_fn a kl_weight attribute (a '
                                'number the loss multiplies the KL term by), or change it in your own code')
        loss_fn = copy.deepcopy(loss_fn)  # the run's own: the caller's loss keeps its weight
        if name != 'kl_warmup':
            measured = postmortem(model, x[:SAMPLE], loss_fn, None if y is x else y[:SAMPLE], verbose=False) \
                if name == 'kl_to_data' else None
            loss_fn.kl_weight *= trial.kl_factor(name, y, measured)
        return model, loss_fn
    raise NotApplicable(f'{name} is not a change of the model or the loss')


def optimizer_change(name, model, optimizer):
    """The optimizer with its change made, or NotApplicable with why."""
    if name in ('lr_x10', 'lr_div10'):
        factor = 10.0 if name == 'lr_x10' else 0.1
        for group in optimizer.param_groups:
            group['lr'] *= factor
            if 'initial_lr' in group:
                group['initial_lr'] *= factor
        return optimizer
    if isinstance(optimizer, ADAMS):
        raise NotApplicable(f'the optimizer is {type(optimizer).__name__}, Adam or of its family already')
    return torch.optim.Adam(model.parameters(), 1e-3)


def run_one(task):
    """One run of a trial: the model built with the task's seed, its change made, trained with the monitor beside
    it; the run judged (aehealth.trial.judged)."""
    # a function reaches a worker by name, with the kl_weight its module sets: the caller's is set again; and
    # deepcopy returns a function itself, so a KL change made to it is undone before the worker's next task
    loss_fn, weight = task['loss_fn'], getattr(task['loss_fn'], 'kl_weight', None)
    try:
        if task.get('kl_weight') is not None:
            loss_fn.kl_weight = task['kl_weight']
        return _run_one(task)
    finally:
        if weight is not None:
            loss_fn.kl_weight = weight


def _run_one(task):
    """run_one's run."""
    torch.set_num_threads(task['threads'])
    seed, names = task['seed'], task['changes']  # one change, or a pair's two in aehealth.trial.APPLIED order
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = (task['variant'] or task['build'])()
    x, y, loss_fn = task['x'], task['y'], task['loss_fn']
    for name in names:
        if trial.CHANGES[name].kind == 'data':
            act = _output(model, x, y, loss_fn)[0]
            x, y = trial.data_change(name, x, y, rules.RANGES.get(act, (-np.inf, np.inf)))
        elif trial.CHANGES[name].kind in ('model', 'loss'):
            model, loss_fn = model_change(name, model, loss_fn, x, y)
    optimizer = (task['optimizer'] or (lambda params: torch.optim.Adam(params, 1e-3)))(model.parameters())
    for name in names:
        if trial.CHANGES[name].kind == 'optimizer':
            optimizer = optimizer_change(name, model, optimizer)
    full_kl = getattr(loss_fn, 'kl_weight', None) if 'kl_warmup' in names else None
    n = min(SAMPLE, len(x))
    monitor = HealthMonitor(model, x[:n], loss_fn, optimizer, targets=None if y is x else y[:n], verbose=False)
    xt = torch.as_tensor(x)
    yt = xt if y is x else torch.as_tensor(y)
    train = task['train'] or plain_epoch
    t0 = time.perf_counter()
    for epoch in range(task['epochs']):
        if full_kl is not None:  # from 0 to the loss's own weight over the first half of the epochs
            loss_fn.kl_weight = full_kl * min(1.0, epoch / max(1.0, task['epochs'] / 2))
        loss = train(model, optimizer, loss_fn, xt, yt, task['batch_size'])
        monitor.epoch_end(None if loss is None else float(loss.detach() if torch.is_tensor(loss) else loss))
    monitor.finish()
    return trial.judged(monitor.metrics, task['epochs'], time.perf_counter() - t0)
