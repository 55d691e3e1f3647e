"""The judgements about a network that every front-end needs, made once, numpy only: which of a model's outputs is
the reconstruction, when a 3-tuple is a VAE, what is measured after an activation, which layer is the output's and
which the code. A front-end supplies neutral facts (aehealth.contracts.LayerRecord: what ran, its activation, its
kernel, its shape); these functions decide, so that Keras and PyTorch describe the same network alike.
"""
import numpy as np

from aehealth import rules, stats
from aehealth.contracts import Description, LossKind, UsageError

ACTIVATION_NONE = ('linear', None)  # a layer that applies no nonlinearity
LOGIT_WORDS = ('with_logits', 'withlogits')  # in a PyTorch loss's name (BCEWithLogitsLoss): it takes logits
SOFTMAX_LOSSES = ('CrossEntropyLoss', 'cross_entropy')  # PyTorch's categorical cross-entropy: a softmax inside


def loss_kind(name, class_axis, from_logits=None, sparse=None):
    """What a loss named `name` compares. `from_logits`: the loss's own flag where it has one (Keras'), else judged
    from the name (PyTorch's *WithLogits losses and its cross-entropy, nn.CrossEntropyLoss or F.cross_entropy, take
    logits); `sparse`: whether the targets are class ids of the output's scores (see class_ids), else judged from the
    name (Keras' sparse_* losses). A loss on logits is given log-probabilities for a softmax's scores, logits for
    sigmoids'."""
    if from_logits is None:
        from_logits = any(word in name.lower() for word in LOGIT_WORDS) or name in SOFTMAX_LOSSES
    if sparse is None:
        sparse = 'sparse' in name.lower()
    categorical = sparse or 'categorical' in name.lower() or name in SOFTMAX_LOSSES
    to_output = (stats.log_probabilities if categorical else stats.logit) if from_logits else None
    return LossKind(name, bool(from_logits), bool(sparse), class_axis, to_output)


def _softmax(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Activations a model can apply in its own code between layers (keras.ops.relu(self.dense(x))), as numpy computes them
APPLIED = {'relu': lambda v: np.maximum(v, 0), 'sigmoid': lambda v: 1 / (1 + np.exp(-v)), 'tanh': np.tanh,
           'softplus': lambda v: np.logaddexp(0, v), 'elu': lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
           'silu': lambda v: v / (1 + np.exp(-v)), 'softmax': _softmax}


def applied(before, after):
    """Which activation makes `after` from `before` (a layer's output, and what the model's own code made of it before
    the next layer, numpy arrays), or None. One that leaves `before` as it is (a relu of positive values) is not told
    from no activation at all, so it is not named."""
    if before is None or after is None or np.shape(before) != np.shape(after) or not np.size(before):
        return None
    b, a = np.asarray(before, np.float64), np.asarray(after, np.float64)
    with np.errstate(over='ignore', under='ignore'):
        for name, f in APPLIED.items():
            made = f(b)
            if np.allclose(a, made, rtol=1e-4, atol=1e-6) and not np.allclose(made, b, rtol=1e-4, atol=1e-6):
                return name
    return None


def class_ids(rows, target, ids, class_axis):
    """Whether targets of per-row shape `target` (integers: `ids`) are class ids that an output of per-row shape `rows`
    scores: the same shape but for one axis more, the classes' (`class_axis`, batch first: 1 or -1)."""
    if not ids or rows is None:
        return False
    return tuple(rows[1:] if class_axis == 1 else rows[:-1]) == tuple(target)


def is_vae(shapes):
    """Whether a model's outputs (shapes per row) are a VAE's (reconstruction, mean, log-variance): three, the last two
    flat and alike (pytorch/examples' convention, and the `forward=` of a Keras VAE)."""
    return len(shapes) == 3 and shapes[1] is not None and shapes[1] == shapes[2] and len(shapes[1]) == 1


class Outputs:
    """Which of a model's outputs is the reconstruction, and which a VAE's posterior mean and log-variance."""

    def __init__(self, recon=None, mean=None, log_variance=None, name=None):
        self.recon, self.mean, self.log_variance, self.name = recon, mean, log_variance, name  # positions; None: one

    @property
    def vae(self):
        return self.mean is not None

    def parts(self, out):
        """(reconstruction, mean, log-variance) of what the model returned; the last two None without a posterior."""
        if self.recon is None:
            return out, None, None
        values = list(out.values()) if isinstance(out, dict) else list(out)
        return tuple(None if k is None else values[k] for k in (self.recon, self.mean, self.log_variance))


def outputs(names, shapes, targets, class_axis, used, notes, passthrough=None):
    """The Outputs of a model that returned several values (names, shapes per row (None: not a tensor), whether the
    loss compares each, whether each is the input handed back, as AntixK/PyTorch-VAE's [reconstruction, input, mu,
    log_var]) for these targets: a VAE's, or the reconstruction's alone, noted."""
    target, ids = tuple(np.shape(targets)[1:]), np.issubdtype(np.asarray(targets).dtype, np.integer)
    fits = [rows is not None and (tuple(rows) == target or class_ids(rows, target, ids, class_axis)) for rows in shapes]
    keep = [k for k in range(len(shapes)) if not (passthrough and passthrough[k])]
    if is_vae([shapes[k] for k in keep]):
        return Outputs(*keep, name=names[keep[0]])
    k, note = reconstruction([names[k] for k in keep], [shapes[k] for k in keep], [fits[k] for k in keep],
                             [used[k] for k in keep], len(shapes))
    notes.append(note)
    return Outputs(keep[k], name=names[keep[k]])


def reconstruction(names, shapes, fits, used, returned=None):
    """(index, note) of the reconstruction among a model's outputs (not a VAE's): the one the loss compares that is
    shaped like the targets (`fits`, as the framework lays classes out), or the only one the loss compares.
    `names` and `shapes` (per row; None for what is not a tensor) say how to name them; `returned`: how many values
    the model returned, if more than these."""
    shaped = [k for k in range(len(shapes)) if used[k] and fits[k]]
    compared = [k for k in range(len(shapes)) if used[k]]
    if len(shaped) == 1:
        k, why = shaped[0], 'the one the loss compares that is shaped like the targets'
    elif not shaped and len(compared) == 1:
        k, why = compared[0], 'the only one the loss compares'
    else:
        listed = ', '.join(f'{name} {shape}' for name, shape in zip(names, shapes) if shape is not None)
        raise UsageError(f'the model has {returned or len(shapes)} outputs ({listed}) and '
                         f'{"none" if not shaped else "several"} of them is shaped like the targets: pass forward=, a '
                         f'function from inputs to the reconstruction (for example forward=lambda x: model(x)[k] with '
                         f'k its position)')
    return k, (f'the model returns {returned or len(shapes)} outputs: {names[k]} (rows {shapes[k]}) is judged as the '
               f'reconstruction, {why} (forward= chooses another)')


def describe(records, output, loss, from_logits=False):
    """The network as the rules see it, from a front-end's records (every tensor it could measure, in the order the
    model makes them; `is_output` on those whose values are the reconstruction's) and a record of the reconstruction
    itself (`output`, measured when no measured record is the reconstruction):

    - measured: what the reconstruction depends on and applies a nonlinearity or a weight matrix; a weight layer's
      own output is left out when an activation takes it whole (Dense then ReLU is measured once, after the relu, as
      Keras' Dense(activation='relu'));
    - the output: the last measured, or the reconstruction itself when the last measured is not it (its range is then
      not judged); a linear layer that the output is made from (through an activation, with no weight layer between)
      is part of the output, not a hidden layer;
    - the code: a VAE's posterior mean, else the narrowest hidden layer (the encoder's, the earlier, if tied);
    - the kernels: every weight layer's trainable kernel on the way, once each, in order.
    """
    index = {id(r): k for k, r in enumerate(records)}
    candidates = [r for r in records if r.upstream and r.activation is not None]
    fed = {r.takes for r in candidates if not r.weighted and r.activation not in ACTIVATION_NONE and r.takes is not None}
    measured = [r for r in candidates if not (r.weighted and r.activation == 'linear' and index[id(r)] in fed)]
    notes = []
    if not measured or not measured[-1].is_output:
        if measured:
            notes.append(f'the output is made from {measured[-1].key} by operations the monitor cannot read: its range '
                         f'is not judged')
        measured.append(output)
    hidden, last = measured[:-1], measured[-1]
    if hidden and not last.weighted and hidden[-1].activation == 'linear' and (last is output or not any(
            r.weighted and r.upstream for r in records[index[id(hidden[-1])] + 1:index[id(last)]])):
        hidden = hidden[:-1]  # the output is made from the weight layer before (an activation after BatchNorm, say)
    mean = [r for r in hidden if r.is_mean]
    drawn = None if mean else sampled(records, hidden)
    if drawn:
        mean = [drawn[0]]
    code = mean[0] if mean else (min(hidden, key=lambda r: r.units) if hidden else None)  # the encoder's, if tied
    kernels, seen = {}, set()
    for r in candidates:
        if r.weighted and r.kernel is not None and id(r.kernel) not in seen:
            seen.add(id(r.kernel))
            kernels[r.key] = r.kernel
    frozen = [r.key for r in candidates if r.weighted and r.kernel is None]  # weight layers that cannot train
    weighted = [r for r in records if r.weighted]  # the encoder's first cut from the loss, the decoder not
    first = weighted[0].key if weighted and weighted[0].kernel is not None else None  # an RNN's output, h, c: one key
    cut = first if first and not any(r.upstream for r in weighted if r.key == first) and any(
        r.upstream for r in weighted if r.key != first) else None
    output = measured[-1] if measured else None
    layers = [dict(key=r.key, label=r.label, activation=r.activation, units=r.units,
                   **({'softmax_over': r.axis_units} if r.activation == 'softmax' and r.axis_units else {}))
              for r in measured]
    if output is not None and from_logits:
        layers[-1]['activation'] = 'logits'
    net = rules.network(layers, output=output.key if output else None, code=code.key if code else None, loss=loss,
                        kernels={key: key for key in kernels})
    return Description(net=net, measured=measured, channels={r.key: r.channels for r in measured
                                                             if r.channels is not None},
                       kernels=kernels, notes=notes, frozen=frozen, cut=cut,
                       posterior=(drawn[0].key, drawn[1].key) if drawn else None)


def drawing(first, second):
    """The indices whose values differ between two runs of a model on the same rows (numpy arrays, None for what is
    not a tensor): in inference mode, the layers that draw random numbers. Empty when the runs did not run alike."""
    if len(first) != len(second):
        return set()
    return {k for k, (a, b) in enumerate(zip(first, second)) if a is not None and b is not None and a.shape == b.shape
            and not np.array_equal(a, b, equal_nan=True)}


def sampled(records, hidden):
    """(mean, log-variance) records of a posterior a layer samples from, or None: a layer that draws random numbers
    from two linear weight layers' outputs of its own width (keras.io's `Sampling()([z_mean, z_log_var])`), both
    measured hidden layers. The first is the mean, as every such layer takes them."""
    for r in records:
        if r.stochastic and r.pair is not None:
            mean, log_variance = (records[k] for k in r.pair)
            if all(p.weighted and p.activation == 'linear' and p.units == r.units and p.channels is None
                   and any(p is h for h in hidden) for p in (mean, log_variance)):
                return mean, log_variance
    return None
