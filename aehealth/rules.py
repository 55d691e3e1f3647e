"""Every rule, threshold and fix text of aehealth, numpy only: why an autoencoder is stuck, from its numbers.

A rule is one unit (`Rule`): its name, kind, words, when it fires, its threshold and why, its fix per framework and
its check, a function of the run's metrics (aehealth.contracts.Metrics). The rules sit in a registry (`REGISTRY`) in
the order their findings are reported; a program adds its own with `@rule(...)` or `REGISTRY.register(...)`, or
keeps a registry of its own (`REGISTRY.copy()`). `findings(m)` says what is wrong, `finding_lines` prints it.
docs/rules.md explains each threshold; docs/extending.md how to add a rule.
"""
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np

# ---------------------------------------------------------------- thresholds (docs/rules.md explains each)

COLLAPSE_RATIO = 0.05     # a layer's spread under 5% of its RMS: the same values for every input
SATURATION_MARGIN = 0.01  # a sigmoid within 0.01 of 0 or 1 (derivative under 0.0099, 4% of its peak); tanh likewise
UNIT_SHARE = 0.99         # a unit saturated (sigmoid, tanh) or zero (ReLU, "dead") for >= 99% of the sample
LAYER_SHARE = 0.5         # a hidden layer with >= half of its units saturated or dead
VANISHING_RATIO = 1e-3    # the first kernel's gradient under 1/1000 of the last one's (AUTOTRAINER's ratio)
ONE_OUTPUT = 0.1          # outputs spread under 10% as much as the targets: one picture for all
PLATEAU = 0.95            # final loss at or above 0.95x the mean target's: no better than drawing the average
PLATEAU_EXIT = 0.9        # the epoch a run leaves the plateau: its loss first falls below 0.9x the mean target's
STILL_FALLING = 0.05      # over the last third of a run the loss fell by 5% of the mean target's: say it may need time
INPUT_SCALE = 10.0        # what the first weight layer receives has a root mean square over 10
TARGET_SHARE = 0.01       # at least 1% of the target values outside what the output activation can produce
TARGET_MARGIN = 0.01      # ...by more than 1% of the targets' own range (float noise at a bound is not outside)
STEP_UPDATE = (1e-5, 1e-1)  # one training step moves the fastest-moving weight matrix by this share of its size
ACTIVE_VARIANCE = 0.01    # a latent dimension is active when its posterior mean varies across inputs by more (Burda)
KL_NOISE = 0.1            # kl_outweighs' fix: a decoder noise a tenth of the top variance (MNIST's summed squared error)
PINNED_SHARE = 0.5        # saturated output: half the values whose target is away from a limit sit at that limit
PINNED_DISTANCE = 0.25    # ...a target "away from a limit" by a quarter of the output's range
INIT_FACTOR = 4.0         # an initial weight scale over 4x the larger of Glorot's and He's, or under 1/4 of the smaller
FADED_SPREAD = 1e-3       # untrained, the last hidden layer spreads under 0.1% of its scale: healthy ones 0.028 at least
FADE_DEPTH = 4            # over at least 4 hidden layers: a fade, not one layer that loses the input
CARRY_EXACT = 1e-4        # an applied gradient equal to a sum of gradients (measured: equal to 3e-08 of its norm)
STEP_MIDDLE = 1e-3        # the band's geometric middle, where healthy Adam runs step: what a low rate's fix aims at
LR_DECAYED = 1e-3         # a learning rate brought to under 1/1000 of where it started: near 0 for any optimizer
MIN_ROWS = 8              # spreads from fewer rows are off by over 27% (1/sqrt(2(n-1))): a sample needs at least 8
FEW_ROWS = 100            # under 100 rows "99% of the sample" means every row: said in a note

# What each activation can produce, for the target-range rule.
RANGES = {'sigmoid': (0.0, 1.0), 'softmax': (0.0, 1.0), 'tanh': (-1.0, 1.0), 'relu': (0.0, math.inf),
          'softplus': (0.0, math.inf), 'elu': (-1.0, math.inf), 'selu': (-1.7581, math.inf), 'hard_sigmoid': (0.0, 1.0),
          'relu6': (0.0, 6.0)}
BOUNDED = ('sigmoid', 'tanh', 'hard_sigmoid')  # outputs that can be pinned at a limit, for the saturated-output rule
SQUASHING = BOUNDED + ('softmax',)  # hidden activations whose derivative is at most 1/4 to 1
SQUARED = ('mse', 'mean_squared', 'squared', 'mae', 'mean_absolute', 'l1', 'l2', 'huber')  # losses that give a
# pinned sigmoid almost no gradient (cross-entropy on the sigmoid's own logit does not); a loss named otherwise is one
# of them if its values near the targets are a squared or absolute error's (error_kind)
AROUND_STEP = 0.05        # the targets moved by 5% of their range: inside any output's range, past none but its edges
AROUND_TOLERANCE = 0.02   # squared errors in float32 miss by under 1e-6; a cross-entropy, locally quadratic too, by 10%
# Losses that take probabilities (unless on logits): Keras clips what it is given, PyTorch refuses values outside [0, 1]
PROBABILITY_LOSSES = ('binarycrossentropy', 'binaryfocalcrossentropy', 'bceloss')  # in names lowered, without '_'
PROBABILITIES = ('sigmoid', 'softmax', 'hard_sigmoid', 'logits')  # outputs such a loss takes as they are
ROUNDED_SHARE = 0.01      # targets in [0, 1] with 1% of values strictly inside: rounding them moves them
ROUNDED_NOISE = 1e-4      # a loss lower at rounded targets by over 1e-4 of itself: float32 sums miss by ~1e-6
SCALES = (1.0, 10.0, 100.0)  # the loss at outputs 1, 10 and 100 times the targets: a reconstruction loss rises
CLIP = 1e-7               # Keras' epsilon: such a loss clips its input to [1e-7, 1 - 1e-7], with no gradient outside

# "blocker": the set-up cannot fit the data, whatever training does; "outcome": the run is stuck; "cause": why;
# "note": something the monitor could not judge. After training, when a blocker or an outcome fires every finding
# is a failure symptom, otherwise the causes are warnings (defects the run learned in spite of). Before training
# only a blocker makes a failure: an outcome then is a prediction, and networks that start that way can still learn.
KIND_NAMES = ('blocker', 'outcome', 'cause', 'note')


# ---------------------------------------------------------------- a rule, and the registry

@dataclass(frozen=True)
class Rule:
    """One rule: what it is called, when it fires, why there, what to do, and the check that decides."""
    name: str                      # the finding's `rule` ('plateau')
    kind: str                      # 'blocker', 'outcome', 'cause' or 'note' (KIND_NAMES)
    words: str                     # how reports and tables name it ('plateau', 'targets out of range')
    fires_when: str                # the condition in one line (the README's table)
    threshold: str                 # the condition with its constants (docs/rules.md)
    why: str                       # why that threshold (docs/rules.md)
    fix: Mapping[str, str]         # what to do, per framework ('keras', 'torch', ...; 'default' for any other)
    check: Callable                # check(ctx) -> None, evidence, or a list of them; evidence is a string, or
    #                                (string, {name: value}) whose values fill the fix text's {name} fields
    closing: bool = False          # judged after every other rule, reading their findings (kept last)
    changes: tuple = ()            # the names of the changes that treat it (aehealth.changes)
    fix_alone: Optional[str] = None  # an outcome's fix when no blocker or cause fires with it, before training

    def fix_for(self, framework):
        """The fix text in `framework`'s words."""
        return self.fix.get(framework, self.fix.get('default'))


class Context:
    """What a check reads: the run's metrics, what is derived from them once, and what the rules before it found."""

    def __init__(self, m, found, registry):
        self.m = m
        self.net = m['network']
        self.health = m.get('health') or []
        self.end = self.health[-1] if self.health else None  # the last check
        self.first = self.health[0] if self.health else {}
        self.data = m.get('data')
        self.trained = trained(m)
        # trained, but no check after training measured the model: what the outcomes would judge is the untrained one
        self.stale = m.get('end_measured') is False
        self.loss_name = str(self.net.get('loss') or '').lower()
        self.found = found  # {rule name: [evidence, ...]} of the rules judged before this one
        self._registry = registry

    def kind_of(self, name):
        """The kind of a rule of this registry ('blocker', 'outcome', 'cause', 'note')."""
        return self._registry[name].kind


class Registry:
    """The rules in the order their findings are reported; closing rules (which read the others' findings) last."""

    def __init__(self, rules=()):
        self._rules = list(rules)

    def __iter__(self):
        return iter(self._rules)

    def __len__(self):
        return len(self._rules)

    def __contains__(self, name):
        return any(r.name == name for r in self._rules)

    def __getitem__(self, name):
        for r in self._rules:
            if r.name == name:
                return r
        raise KeyError(f'no rule named {name!r} (the registry has {", ".join(r.name for r in self._rules)})')

    def names(self):
        return [r.name for r in self._rules]

    def copy(self):
        """A registry of the same rules, to extend without touching this one."""
        return Registry(self._rules)

    def register(self, unit, after=None):
        """Add a rule (after the rule named `after`; by default before the closing rules); returns it."""
        if unit.kind not in KIND_NAMES:
            raise ValueError(f'rule {unit.name!r}: kind {unit.kind!r} is not one of {", ".join(KIND_NAMES)}')
        if unit.name in self:
            raise ValueError(f'a rule named {unit.name!r} is registered already: unregister it first, or name yours '
                             f'otherwise')
        if after is not None:
            at = self.names().index(self[after].name) + 1
        elif unit.closing:
            at = len(self._rules)
        else:
            at = next((k for k, r in enumerate(self._rules) if r.closing), len(self._rules))
        self._rules.insert(at, unit)
        return unit

    def unregister(self, name):
        """Remove a rule; returns it."""
        unit = self[name]
        self._rules.remove(unit)
        return unit

    def rule(self, name, kind, words, fires_when, threshold, why, fix, after=None, closing=False, changes=(),
             fix_alone=None):
        """A decorator: the function below is the check of a new rule, registered here."""
        fix = {'default': fix} if isinstance(fix, str) else dict(fix)

        def register(check):
            self.register(Rule(name, kind, words, fires_when, threshold, why, fix, check, closing, tuple(changes),
                               fix_alone), after=after)
            return check
        return register

    def findings(self, m, fixes='keras'):
        """What is wrong with a run (or, with epochs_done 0, an untrained network; None, a trained one whose history
        is not known), from its metrics: [{rule, level, evidence, fix}] in the registry's order. `fixes`: a
        framework's name ('keras', 'torch'), or a dict {rule: fix text} of one's own."""
        found, values = {}, {}
        for unit in sorted(self._rules, key=lambda r: r.closing):  # the closing ones read every other's findings
            evidence = unit.check(Context(m, found, self))
            if evidence:
                items = [evidence] if isinstance(evidence, (str, tuple)) else list(evidence)
                found[unit.name] = [e[0] if isinstance(e, tuple) else e for e in items]
                values[unit.name] = [e[1] if isinstance(e, tuple) else {} for e in items]
        kinds = {self[name].kind for name in found}
        stuck = 'blocker' in kinds or (trained(m) and 'outcome' in kinds)
        alone = not kinds & {'blocker', 'cause'} and not trained(m)
        out = []
        for unit in self._rules:
            fix = unit.fix_for(fixes) if isinstance(fixes, str) else fixes.get(unit.name)
            if alone and unit.fix_alone and isinstance(fixes, str):
                fix = unit.fix_alone
            out += [{'rule': unit.name, 'level': 'failure' if stuck and unit.kind != 'note' else 'warning',
                     'evidence': text, 'fix': fix.format(**given) if fix and given else fix}
                    for text, given in zip(found.get(unit.name, ()), values.get(unit.name, ()))]
        return out

    def words(self, name):
        """How reports name a rule (its name, for one this registry does not hold)."""
        return self[name].words if name in self else name

    def kind(self, name):
        return self[name].kind

    def table(self, columns=('words', 'kind', 'fires_when')):
        """The rules as a markdown table: the README's (words, kind, fires_when), or docs/rules.md's (named, kind,
        threshold, why; 'named' is the words with the rule's name)."""
        heads = {'words': 'rule', 'named': 'rule', 'kind': 'kind', 'fires_when': 'fires when', 'threshold': 'threshold',
                 'why': 'why this threshold', 'changes': 'changes a trial tries'}
        rows = [f'| {" | ".join(heads[c] for c in columns)} |', '|' + '---|' * len(columns)]
        for unit in self._rules:
            cells = [f'{unit.words} (`{unit.name}`)' if c == 'named' else
                     ', '.join(f'`{name}`' for name in unit.changes) or '-' if c == 'changes' else getattr(unit, c)
                     for c in columns]
            rows.append(f'| {" | ".join(cells)} |')
        return '\n'.join(rows)


REGISTRY = Registry()
rule = REGISTRY.rule
register = REGISTRY.register
unregister = REGISTRY.unregister


def findings(m, fixes='keras', registry=None):
    """The default registry's findings on a run's metrics (Registry.findings)."""
    return (registry or REGISTRY).findings(m, fixes)


# ---------------------------------------------------------------- what the checks share

def network(layers, output, loss, kernels, code=None):
    """A network as the rules see it: measured layers [{key, label, activation, units}] in order, the output's and the
    code's keys (code None: not judged), the loss's name, and {kernel name: label} of the weight matrices in order."""
    return {'layers': layers, 'output': output, 'code': code, 'loss': loss, 'kernels': kernels}


def collapse_ratio(spread, scale):
    """Spread across inputs relative to the values' own scale (RMS); 0 when there is no scale."""
    return spread / scale if scale > 0 else 0.0


def plateau_exit(epoch_loss, baseline, floor=0.0):
    """The first epoch whose loss is below PLATEAU_EXIT of the way from `floor` to `baseline`, or None if none is."""
    excess = np.asarray(epoch_loss, np.float64) - floor
    below = np.flatnonzero(excess < PLATEAU_EXIT * (baseline - floor))
    return int(below[0]) if len(below) else None


def plateau_exit_epoch(health, baselines):
    """The first checked epoch after 0 whose loss on the sample left the plateau, or None."""
    mean, floor = baselines['mean_input'], baselines.get('floor', 0.0)
    return next((h['epoch'] for h in health if h['epoch'] > 0 and h.get('loss') is not None
                 and h['loss'] - floor < PLATEAU_EXIT * (mean - floor)), None)


def trained(m):
    """Whether the metrics are of a model that has trained (epochs_done None: trained, for how long unknown)."""
    done = m.get('epochs_done', 1)
    return done is None or done > 0


def plateau_numbers(m):
    """(loss, its mean-target baseline, the loss's minimum on these targets, words for the baseline)."""
    b = m['baselines']
    return m['final_loss'], b['mean_input'], b.get('floor', 0.0), b.get('name', 'the mean input')


def still_falling(m, mean, floor):
    """Words saying that the loss is still falling fast (the run may only need more epochs), or ''."""
    losses = [(h['epoch'], h['loss']) for h in m.get('health') or [] if h.get('loss') is not None]
    if len(losses) < 3 or mean <= floor:
        return ''
    (then, before), (now, after) = losses[(2 * len(losses)) // 3 - 1], losses[-1]
    drop = (before - after) / (mean - floor)
    if drop <= STILL_FALLING:
        return ''
    return (f'; the loss is still falling ({drop:.0%} of the mean input\'s in the last {now - then} epochs): it may '
            f'only need more epochs')


def label(net, key):
    """How reports name a measured layer (or a kernel's key)."""
    return next((layer['label'] for layer in net['layers'] if layer['key'] == key), key)


def net_act(net, key):
    """The activation of a measured layer."""
    return next((layer['activation'] for layer in net['layers'] if layer['key'] == key), None)


def _last_hidden(net, snap):
    """(label, numbers) of the last measured layer before the output that applies a nonlinearity, or None."""
    hidden = [layer for layer in net['layers'] if layer['key'] != net['output'] and layer['key'] in snap['layers']
              and 'rms' in snap['layers'][layer['key']]]
    shaped = [layer for layer in hidden if layer['activation'] not in (None, 'linear')] or hidden
    return (shaped[-1]['label'], snap['layers'][shaped[-1]['key']]) if shaped else None


def spreads(net, snap):
    """[(label, spread / scale)] of every measured hidden layer, in the network's order."""
    return [(layer['label'], collapse_ratio(snap['layers'][layer['key']]['spread'], snap['layers'][layer['key']]['rms']))
            for layer in net['layers'] if layer['key'] != net['output'] and 'rms' in snap['layers'].get(layer['key'], {})]


def lost_at(net, snap):
    """(label, spread / scale) of the first hidden layer whose spread across inputs is under COLLAPSE_RATIO of its
    scale, or of the hidden layer that spreads least when none is; None when no hidden layer was measured."""
    hidden = spreads(net, snap)
    if not hidden:
        return None
    return next(((label, r) for label, r in hidden if r < COLLAPSE_RATIO), min(hidden, key=lambda h: h[1]))


def _e(x):
    """0.001 as 1e-3, 1e-06 as 1e-6."""
    return f'{x:.0e}'.replace('e-0', 'e-')


def _shape(shape):
    return '(' + ', '.join(str(n) for n in shape) + (',)' if len(shape) == 1 else ')')


def error_kind(around):
    """'squared' or 'absolute' when the loss near the targets (aehealth.contracts.LossAround) rises as a mean or sum of
    squared (or absolute) differences does, at the targets moved by one step, by two, and at the mean target, to
    AROUND_TOLERANCE; else None."""
    rise = around['plus'] - around['at'] if around else 0.0
    if not rise > 0:
        return None
    for kind, power, spread in (('squared', 2, around['spread_squared']), ('absolute', 1, around['spread_absolute'])):
        per_unit = rise / around['step'] ** power
        expected = {'plus2': per_unit * (2 * around['step']) ** power, 'mean': per_unit * spread}
        if all(math.isclose(around[k] - around['at'], v, rel_tol=AROUND_TOLERANCE) for k, v in expected.items()):
            return kind
    return None


def takes_probabilities(loss_name):
    """Whether a loss of this name takes probabilities, not logits."""
    loss = str(loss_name or '').lower().replace('_', '')  # 'binary_crossentropy', 'BinaryCrossentropy', 'bce', 'BCELoss'
    return 'logit' not in loss and (loss == 'bce' or any(word in loss for word in PROBABILITY_LOSSES))


def clips(loss_name, activation):
    """Whether a loss of this name takes probabilities and clips an output of this activation (not one, nor logits)."""
    return activation is not None and activation not in PROBABILITIES and takes_probabilities(loss_name)


def _output_layer(ctx):
    return next((layer for layer in ctx.net['layers'] if layer['key'] == ctx.net['output']), None)


def _output_activation(ctx):
    return (_output_layer(ctx) or {}).get('activation') or (ctx.data or {}).get('output_activation')


def _off_scale(label, std, fan_in, fan_out):
    """Words for a weight matrix whose initial standard deviation is far from Glorot's and He's, or None."""
    glorot, he = math.sqrt(2.0 / (fan_in + fan_out)), math.sqrt(2.0 / fan_in)
    if std > INIT_FACTOR * max(glorot, he):
        return f'{label} has standard deviation {std:.2g}, {std / max(glorot, he):.2g}x the larger of Glorot\'s and He\'s'
    if std < min(glorot, he) / INIT_FACTOR:
        return f'{label} has standard deviation {std:.2g}, {std / min(glorot, he):.2g}x the smaller of Glorot\'s and He\'s'
    return None


def _stuck_layers(ctx, key):
    """[(layer key, share)] of the hidden layers with at least LAYER_SHARE of their units saturated or dead."""
    measured = {k: v for k, v in ctx.end['layers'].items() if k != ctx.net['output']}
    return [(k, v[key]) for k, v in measured.items() if v.get(key, 0) >= LAYER_SHARE]


def _high_steps(ctx):
    """(epoch, kernel key, step update) of every step that moved a weight matrix by over STEP_UPDATE[1] of its size."""
    return [(h['epoch'], k, v) for h in ctx.health for k, v in (h.get('step_update') or {}).items()
            if v is not None and v > STEP_UPDATE[1]]


# ---------------------------------------------------------------- the rules, in the order they are reported

@rule('nonfinite', 'blocker', 'NaN or Inf', 'the loss or a weight is not finite', 'the loss or any weight',
      'nothing finite can be learned from', 'lower the learning rate (divide it by 10) and check the inputs for NaN', changes=('lr_div10', 'scale_inputs'))
def nonfinite(ctx):
    if ctx.m.get('nonfinite'):
        return f'NaN or Inf: {ctx.m["nonfinite"]}'


@rule('loss_undefined', 'blocker', 'loss undefined',
      'the loss is NaN or Inf where the outputs, inputs and targets are finite',
      'a check whose loss is NaN or Inf while the output\'s values, the inputs and the targets on the sample are finite',
      'exact: then the loss itself is not defined at some output the model gives (the log of an output that can be 0 '
      'or negative, a division by one), and no learning rate mends a loss that is NaN before any step',
      {'keras': 'use a loss defined for every output (binary cross-entropy, from_logits=True on a linear output), or '
                'an output activation within the loss\'s domain (a sigmoid before a log)',
       'torch': 'use a loss defined for every output (nn.BCEWithLogitsLoss on the logits), or an output activation '
                'within the loss\'s domain (a sigmoid before a log)'}, changes=('bce', 'output_sigmoid'))
def loss_undefined(ctx):
    data = ctx.data or {}
    if not all(isinstance(data.get(k), (int, float)) and math.isfinite(data[k])
               for k in ('input_rms', 'target_min', 'target_max')):
        return None  # NaN in the inputs or targets is the data's fault, not the loss's
    for snap in ctx.health:
        loss, out = snap.get('loss'), snap.get('layers', {}).get(ctx.net['output'], {}).get('rms')
        if loss is not None and not math.isfinite(loss) and out is not None and math.isfinite(out):
            when = 'on the untrained model' if snap.get('epoch') == 0 else (
                'on the trained model' if snap.get('epoch') is None else f'after epoch {snap["epoch"]}')
            return (f'loss undefined: the loss is {loss} {when} while its outputs (root mean square {out:.2g}), the '
                    f'inputs and the targets are finite: the loss is not defined at some output the model gives')


# What the two rules of a loss lowest away from the targets print: most often, its arguments in the wrong order.
LOSS_ORDER_FIX = {
    'keras': 'a Keras loss is called as loss(y_true, y_pred), the targets first: pass them to yours in that order, and '
             'make it lowest where the outputs equal the targets',
    'torch': 'call the loss with the model\'s output first and the targets second, loss_fn(output, targets) (as '
             'F.binary_cross_entropy(output, targets)), and make it lowest where they are equal'}


@rule('loss_unbounded', 'blocker', 'loss falls without bound',
      'the loss falls below 0 as the outputs grow to 10x and 100x the targets',
      f'the loss at outputs {SCALES[1]:g} and {SCALES[2]:g} times the targets (`SCALES`) lower than at the targets and '
      f'lower again, and under 0, where the output activation can produce them',
      'exact: a reconstruction loss is lowest where the outputs equal the targets and rises away from them; one that '
      'falls without bound as the outputs grow (a loss given its arguments in the wrong order, or the wrong sign) '
      'trains the outputs away from the targets, for ever',
      LOSS_ORDER_FIX, changes=('loss_swapped',))
def loss_unbounded(ctx):
    scaled, data = (ctx.m.get('baselines') or {}).get('scaled'), ctx.data or {}
    act = _output_activation(ctx)
    lo, hi = (-math.inf, 0.0) if act == 'log_softmax' else RANGES.get(act, (-math.inf, math.inf))
    if not scaled or not all(isinstance(data.get(k), (int, float)) for k in ('target_min', 'target_max')):
        return None
    reachable = all(lo <= SCALES[-1] * data[k] <= hi for k in ('target_min', 'target_max'))
    at, ten, hundred = scaled
    if reachable and at > ten > hundred and hundred < 0 and not math.isclose(at, hundred, rel_tol=1e-6):
        return (f'loss falls without bound: the loss on the sample is {at:.4g} at the targets, {ten:.4g} at outputs '
                f'{SCALES[1]:g} times them and {hundred:.4g} at {SCALES[2]:g} times: training drives the outputs away '
                f'from the targets, and the loss below any reconstruction\'s')


@rule('loss_lower_rounded', 'blocker', 'targets not the loss\'s minimum',
      'the loss is lower at the targets rounded to 0 and 1 than at the targets',
      f'for targets in [0, 1] with at least {ROUNDED_SHARE:.0%} of their values strictly inside: the loss at the targets '
      f'rounded lower than at the targets by over {ROUNDED_NOISE:g} of the larger (`ROUNDED_SHARE`, `ROUNDED_NOISE`), '
      f'and the output able to produce 0 and 1',
      'exact but for float noise: a reconstruction loss is lowest where the outputs equal the targets (a squared or '
      'absolute error at 0, a cross-entropy at the targets\' entropy); one lower at rounded targets trains the outputs '
      'away from them (binary cross-entropy given the output as its target is linear in it, and draws every value to '
      '0 or 1): on MNIST, 0.033 at the rounded pixels against 0.059 at the pixels (`tests/test_torch.py`)',
      LOSS_ORDER_FIX, changes=('loss_swapped',))
def loss_lower_rounded(ctx):
    rounded, act = (ctx.m.get('baselines') or {}).get('rounded'), _output_activation(ctx)
    lo, hi = RANGES.get(act, (-math.inf, math.inf))
    if not rounded or 'loss_unbounded' in ctx.found or act == 'softmax' or lo > 0 or hi < 1:
        return None
    at, low = rounded
    if low < at - ROUNDED_NOISE * max(abs(at), abs(low)):
        return (f'targets not the loss\'s minimum: the loss on the sample is {low:.4g} at the targets rounded to 0 and '
                f'1 and {at:.4g} at the targets themselves: training draws the outputs away from the targets, towards '
                f'values the loss prefers')


@rule('shape_mismatch', 'blocker', 'shapes broadcast',
      'the output and the targets differ in shape per row, so the loss broadcasts them',
      'the output\'s and the targets\' shapes per row differ (a sparse loss\'s class ids excepted)',
      'exact: a loss of arrays of different shapes compares every output with every target it broadcasts against, '
      'and the best answer is their mean; PyTorch\'s `MSELoss` only warns, Keras\' losses often say nothing',
      {'keras': 'make the output the targets\' shape (a Reshape layer, or targets reshaped to the output\'s shape)',
       'torch': 'make the output the targets\' shape (output.view(target.shape), or targets reshaped); MSELoss only '
                'warns'}, changes=('reshape_output',))
def shape_mismatch(ctx):
    d = ctx.data
    if d and d.get('output_shape') is not None and d.get('target_shape') is not None \
            and list(d['output_shape']) != list(d['target_shape']):
        return (f'shapes broadcast: the output is {_shape(d["output_shape"])} per input and the target '
                f'{_shape(d["target_shape"])}: the loss compares arrays of different shapes, and the best it can do is '
                f'predict their mean')


@rule('targets_out_of_range', 'blocker', 'targets out of range',
      f'{TARGET_SHARE:.0%} of the target values lie outside what the output activation can produce',
      f'{TARGET_SHARE:.0%} of the target values (`TARGET_SHARE`) outside the output activation\'s range by over '
      f'{TARGET_MARGIN:.0%} of the targets\' range (`TARGET_MARGIN`)',
      'a sigmoid cannot produce 255, a ReLU cannot produce -0.4: the loss has a floor the model cannot get under',
      {'keras': 'scale the targets into the output\'s range (pixels: divide by 255), or use an output activation that '
                'covers them (linear for any value, tanh for [-1,1])',
       'torch': 'scale the targets into the output\'s range (pixels: divide by 255; drop a Normalize that makes them '
                'negative), or end forward() with an activation that covers them (none for any value, torch.tanh for '
                '[-1,1])'}, changes=('targets_in_range', 'output_linear', 'output_tanh'))
def targets_out_of_range(ctx):
    d = ctx.data
    if d and d['target_outside'] >= TARGET_SHARE:
        lo, hi = d['output_range']
        return (f'targets out of range: {d["target_outside"]:.0%} of the target values lie outside [{lo:g}, {hi:g}], '
                f'what the output\'s {_output_activation(ctx)} can produce (targets span {d["target_min"]:.3g} to '
                f'{d["target_max"]:.3g})')


@rule('softmax_output', 'blocker', 'softmax output', 'a softmax output whose targets do not sum to 1',
      'a softmax output of more than one unit whose targets do not sum to 1 (within 1%) along its axis',
      'softmax makes the outputs sum to 1: 784 pixels of a digit sum to about 100',
      {'keras': 'use sigmoid on the output (each pixel in [0,1] on its own)',
       'torch': 'use torch.sigmoid on the output (each pixel in [0,1] on its own)'}, changes=('output_sigmoid',))
def softmax_output(ctx):
    output = _output_layer(ctx)
    if not (ctx.data and _output_activation(ctx) == 'softmax' and output):
        return None
    over = output.get('softmax_over') or output['units'] or 0
    if over == 1:
        return (f'softmax over an axis of one value in {output["label"]}: every output is 1, whatever the input (the '
                f'softmax normalises each value by itself)')
    if over > 1 and not ctx.data['target_rows_sum_to_1']:
        return f'softmax across the {over} outputs of {output["label"]}: they must sum to 1, the targets\' rows do not'


@rule('one_output', 'outcome', 'one output',
      f'the outputs spread under {ONE_OUTPUT:g} as much as the targets (untrained: and the last hidden layer under '
      f'{COLLAPSE_RATIO:.0%})',
      f'output diversity under {ONE_OUTPUT:g} (`ONE_OUTPUT`); before training, only if the last hidden layer also '
      f'spreads under {COLLAPSE_RATIO:.0%} of its scale (`COLLAPSE_RATIO`)',
      'the question\'s symptom; set before the ablation ran',
      'the input does not reach the output: see the causes listed with it',
      fix_alone='untrained networks often start so, and most learn: train it with the monitor, which names a cause '
                'if it stays so')
def one_output(ctx):
    diversity = ctx.end['output_diversity'] if ctx.end is not None else None
    if ctx.stale or diversity is None or not diversity < ONE_OUTPUT:  # NaN (a model that diverged) is not one output
        return None
    if ctx.trained:
        falling = still_falling(ctx.m, *plateau_numbers(ctx.m)[1:3]) if ctx.m.get('baselines') else ''
        return f'one output for every input: output diversity {diversity:.3f} (0 = the same picture whatever the input){falling}'
    # Untrained networks draw nearly one picture anyway (their last layer's weights are small); it is worth saying
    # when the hidden layers have already lost the input's differences.
    last = _last_hidden(ctx.net, ctx.end)
    if last is not None and collapse_ratio(last[1]['spread'], last[1]['rms']) < COLLAPSE_RATIO:
        return (f'one output for every input before training: output diversity {diversity:.1e}; the last hidden layer, '
                f'{last[0]}, spreads only {collapse_ratio(last[1]["spread"], last[1]["rms"]):.2g} of its scale across '
                f'inputs (the input\'s differences are lost before the output)')


@rule('collapsed_code', 'outcome', 'collapsed code',
      f'after training, the narrowest layer spreads under {COLLAPSE_RATIO:.0%} of its scale across inputs',
      f'after training, the narrowest layer spreads under {COLLAPSE_RATIO:.0%} of its scale across inputs '
      f'(`COLLAPSE_RATIO`)',
      'the question\'s third picture; the same 5% as the run\'s collapse verdict',
      'the code is the same for every input: see the causes listed with it')
def collapsed_code(ctx):
    varies = ctx.end is not None and ctx.end['output_diversity'] is not None and not ctx.stale  # all alike: no code
    code = ctx.end['layers'].get(ctx.net['code']) if ctx.trained and ctx.net['code'] and varies else None
    if code is not None and 'rms' in code and collapse_ratio(code['spread'], code['rms']) < COLLAPSE_RATIO:
        return (f'collapsed code: {label(ctx.net, ctx.net["code"])}, the narrowest layer, spreads '
                f'{collapse_ratio(code["spread"], code["rms"]):.1%} of its scale across inputs')


@rule('plateau', 'outcome', 'plateau',
      f'the loss is at or above {PLATEAU:g}x the mean target\'s (counted from the loss\'s own minimum)',
      f'the loss at or above {PLATEAU:g}x (`PLATEAU`) of the way from its minimum to the mean target\'s',
      'no better than drawing the average target',
      'no better than predicting the average target: see the causes listed with it')
def plateau(ctx):
    m = ctx.m
    if ctx.stale or not (ctx.trained and m.get('final_loss') is not None and m.get('baselines')
                         and math.isfinite(m['final_loss'])):
        return None
    loss, mean, floor, words = plateau_numbers(m)
    # no plateau to judge when the mean target is the best (targets all alike) or the loss means nothing there
    ratio = (loss - floor) / (mean - floor) if mean > floor else None
    if ratio is None or ratio < PLATEAU:
        return None
    what = f'stuck on the {words[4:].replace(" ", "-")} plateau' if ratio <= 2 - PLATEAU else f'no better than {words}'
    never = 'plateau_exit_epoch' in m and m['plateau_exit_epoch'] is None
    exit_text = f' (never below {PLATEAU_EXIT}x in {m["epochs_done"]} epochs)' if never else ''
    above = f', counted from the loss\'s minimum {floor:.4g} on these targets' if floor else ''
    return (f'{what}: final loss {loss:.4f} is {ratio:.2f}x {words}\'s {mean:.4f}{above}{exit_text}'
            f'{still_falling(m, mean, floor)}')


def _loop(ctx):
    return ctx.m.get('loop') or {}


LOOP_RULES = ('gradients_carried', 'no_gradient', 'learning_rate_scheduled_to_zero', 'optimizer_misses_weights')


@rule('gradients_carried', 'cause', 'gradients carried over',
      'each step\'s gradient still holds the steps\' before (no zero_grad() between steps)',
      f'exact: the gradient a step applies equals the one its backward passes made plus the gradient of the step '
      f'before, to {CARRY_EXACT:g} of its norm (`CARRY_EXACT`), and differs from its own backward\'s by more',
      'a fact of the loop, not a threshold: in tests/test_loop.py\'s loop without zero_grad() the applied gradient '
      'matched that sum to 3e-08 of its norm and missed its own backward\'s by 0.51 or more; several backward passes '
      'between two steps (accumulation) are summed by design, match their own exactly, and do not fire',
      {'torch': 'call optimizer.zero_grad() before each backward() (or right after each optimizer.step())',
       'default': 'clear the gradients before each step'})
def gradients_carried(ctx):
    carried = next((c for c in _loop(ctx).get('compared') or [] if c['carried'] < CARRY_EXACT < c['cleared']), None)
    if carried:
        return (f'gradients carried over: the gradient step {carried["step"]} applied is the one its own backward made '
                f'plus the step before\'s ({carried["share"]:.0%} of it came from earlier steps): gradients pile up')


@rule('no_gradient', 'cause', 'no gradient reaches the weights',
      'a step found no gradient on any trainable weight (the loss is cut off)',
      'exact: at an optimizer step every trainable weight\'s gradient is None or 0, while the loss the monitor takes '
      'of the model on the sample has one', 'a fact of the loop: the weights cannot move, whatever the learning rate',
      {'torch': 'call backward() on the loss tensor the model made: not on one rebuilt from loss.item(), '
                'torch.tensor(...), or an output that was .detach()ed (loss.requires_grad_() hides it)',
       'default': 'compute the loss from the model\'s output inside the gradient tape'})
def no_gradient(ctx):
    none = _loop(ctx).get('no_gradient')
    grads = [v for v in (ctx.end or {}).get('grad_norm', {}).values() if v]
    if none and grads:
        return (f'no gradient reaches the weights: at an optimizer step none of the {len(none)} trainable weights had a '
                f'gradient, although the loss depends on them (the monitor\'s own gradient on the sample is not 0)')


@rule('learning_rate_scheduled_to_zero', 'cause', 'learning rate scheduled to 0',
      f'the learning rate fell to under {LR_DECAYED:g} of where training started',
      f'the rate at the last check under {LR_DECAYED:g} (`LR_DECAYED`) of the rate when training started',
      'three decades: no optimizer moves the weights at a thousandth of a rate that suited them; StepLR stepped every '
      'batch, or a gamma of 0, get there within an epoch',
      {'torch': 'step the scheduler once per epoch, after the epoch\'s batches (not every batch), and check its gamma '
                '(0 sets the rate to 0 after the first step)',
       'default': 'check the schedule (or the callback) that sets the learning rate: its decay is far too fast'})
def learning_rate_scheduled_to_zero(ctx):
    lr = _loop(ctx).get('learning_rate')
    if lr and ctx.trained and lr['start'] and lr['now'] < LR_DECAYED * lr['start']:
        return (f'learning rate scheduled to 0: {lr["by"]} brought it from {lr["start"]:.3g} when training started to '
                f'{lr["now"]:.3g} now')


@rule('optimizer_misses_weights', 'cause', 'optimizer misses weights',
      'the optimizer holds none or not all of the model\'s trainable weights',
      'exact: trainable weights of the model that are not among the optimizer\'s parameters, or that a step left '
      'exactly where they were although their gradient at the learning rate moves them past float rounding',
      'a fact of the loop: such weights never change, whatever the learning rate',
      {'torch': 'make the optimizer from this model\'s parameters once the model is final: '
                'optimizer = torch.optim.Adam(model.parameters()) after the model is built (not from a copy, not from '
                'an earlier model)',
       'default': 'make the optimizer from the trained model\'s weights (compile the model you fit, after building '
                  'it)'})
def optimizer_misses_weights(ctx):
    held = _loop(ctx).get('optimizer')
    if held and held['missing']:
        names = ', '.join(held['missing'][:3]) + (f' and {len(held["missing"]) - 3} more' if len(held['missing']) > 3
                                                  else '')
        return (f'the optimizer holds {held["held"]} of the model\'s {held["trainable"]} trainable weights: {names} '
                f'never change')
    still = _loop(ctx).get('still')  # weights that did not move: not the optimizer's doing if a loop fault above is
    if still and ctx.trained and not set(ctx.found) & set(LOOP_RULES):
        return (f'a training step left {", ".join(label(ctx.net, k) for k in still[:3])} exactly as it was although '
                f'its gradient at the learning rate moves it: the optimizer does not update it')


@rule('frozen_weights', 'cause', 'frozen weights', 'the run is stuck and some weight layers cannot train',
      'an outcome fires and weight layers have weights that cannot train (requires_grad False, trainable False)',
      'a frozen part is often deliberate (a pretrained encoder): named only when the run is stuck',
      {'keras': 'make the layers trainable (layer.trainable = True, or model.trainable = True) and compile again',
       'torch': 'let them train: p.requires_grad_(True) for their parameters, and give those to the optimizer'})
def frozen_weights(ctx):
    frozen = _loop(ctx).get('frozen')
    stuck = any(ctx.kind_of(name) == 'outcome' for name in ctx.found)
    if frozen and stuck and ctx.trained:
        return (f'frozen weights: {", ".join(frozen[:3])}' + (f' and {len(frozen) - 3} more' if len(frozen) > 3 else '')
                + f' cannot train ({len(frozen)} weight layer{"s" if len(frozen) > 1 else ""})')


@rule('gradient_cut', 'cause', 'encoder cut off',
      'the run is stuck and the first weight layer gets no gradient',
      'an outcome fires, and the first weight layer can train but the reconstruction\'s gradient does not reach its '
      'output, while a later weight layer\'s does: its values go on, its gradient stops',
      'in an autoencoder the reconstruction is made from the input through the first weight layer; a pretrained '
      'encoder run without gradient on purpose is named only when the run is stuck',
      {'keras': 'let the gradient through: remove keras.ops.stop_gradient (tf.stop_gradient) and conversions to numpy '
                'between the input and the output in call()',
       'torch': 'let the gradient through: remove .detach(), .data, torch.no_grad() and conversions to numpy between '
                'the input and the output in forward()'})
def gradient_cut(ctx):
    cut = _loop(ctx).get('cut')
    if cut and ctx.trained and any(ctx.kind_of(name) == 'outcome' for name in ctx.found):
        return (f'the reconstruction\'s gradient does not reach {cut}, the first weight layer: its weights can train '
                f'but never get a gradient, and only the layers after the cut learn')


@rule('eval_mode_gap', 'cause', 'worse in eval mode',
      'stuck in eval mode, while in training mode the loss left the plateau',
      f'an outcome fires on the model in eval mode and its loss in training mode is under {PLATEAU_EXIT:g}x '
      f'(`PLATEAU_EXIT`) of the way from the minimum to the mean target\'s',
      'the same threshold as a run leaving the plateau: the model has learned, and only its evaluation mode '
      '(BatchNorm\'s running statistics, Dropout) is stuck',
      {'keras': 'BatchNorm\'s moving statistics do not fit the data: lower its momentum (BatchNormalization(momentum='
                '0.9)), train with larger batches, or evaluate in training mode to check; GroupNormalization or '
                'LayerNormalization avoid them',
       'torch': 'BatchNorm\'s running statistics do not fit the data: recompute them (for each BatchNorm m: '
                'm.reset_running_stats(); m.momentum = None; then one pass over the training data in model.train() '
                'under torch.no_grad()), or raise their momentum (PyTorch\'s is 1 - Keras\'), or use nn.GroupNorm'})
def eval_mode_gap(ctx):
    train = _loop(ctx).get('train_mode_loss')
    stuck = any(ctx.kind_of(name) == 'outcome' for name in ctx.found)
    if train is None or not stuck or not ctx.m.get('baselines') or ctx.m.get('final_loss') is None:
        return None
    loss, mean, floor, words = plateau_numbers(ctx.m)
    if mean > floor and (train - floor) < PLATEAU_EXIT * (mean - floor):
        return (f'worse in eval mode: the loss on the sample is {(loss - floor) / (mean - floor):.2f}x {words}\'s in '
                f'eval mode and {(train - floor) / (mean - floor):.2f}x in training mode: the model learned, its '
                f'evaluation mode has not')


@rule('inputs_not_scaled', 'cause', 'inputs not scaled',
      f'what the first weight layer receives has a root mean square over {INPUT_SCALE:g}',
      f'what the first weight layer receives has a root mean square over {INPUT_SCALE:g} (`INPUT_SCALE`)',
      'a decade above the unit scale initialisers assume',
      'scale the inputs to about [0,1] (pixels: divide by 255) or standardise them', changes=('scale_inputs',))
def inputs_not_scaled(ctx):
    d = ctx.data
    if d and d.get('input_rms') is not None and d['input_rms'] > INPUT_SCALE:
        where = f'what {d["input_seen_by"]} receives' if d.get('input_seen_by') else 'the inputs'
        return (f'inputs not scaled: {where} has a root mean square of {d["input_rms"]:.3g} (inputs of order 1 are what '
                f'initialisers assume)')


@rule('softmax_hidden', 'cause', 'softmax in a hidden layer', 'a hidden layer uses softmax',
      'any hidden layer with softmax', 'its units compete for a sum of 1',
      'use relu (or tanh, sigmoid) in hidden layers; softmax makes a layer\'s units compete', changes=('relu_he',))
def softmax_hidden(ctx):
    soft = [layer['label'] for layer in ctx.net['layers']
            if layer['key'] != ctx.net['output'] and layer['activation'] == 'softmax']
    if soft:
        return f'softmax in a hidden layer: {", ".join(soft)}'


@rule('vanishing_gradient', 'cause', 'vanishing gradient',
      f'the first weight matrix\'s gradient is under 1/{1 / VANISHING_RATIO:g} of the last one\'s',
      f'the first weight matrix\'s gradient norm under {_e(VANISHING_RATIO)} (`VANISHING_RATIO`) of the last one\'s',
      'AUTOTRAINER\'s ratio; healthy networks: see below', '{advice}', changes=('relu_he', 'he_init'))
def vanishing_gradient(ctx):
    if ctx.end is None:
        return None
    kernels = [k for k in ctx.net['kernels'] if k in ctx.end['grad_norm']]
    if len(kernels) > 1:
        first, last = ctx.end['grad_norm'][kernels[0]], ctx.end['grad_norm'][kernels[-1]]
        if last and first / last < VANISHING_RATIO:
            names = ctx.net['kernels'][kernels[0]], ctx.net['kernels'][kernels[-1]]
            squashing = any(layer['activation'] in SQUASHING for layer in ctx.net['layers']
                            if layer['key'] != ctx.net['output'])
            advice = ('use relu in the hidden layers, or fewer sigmoid/tanh layers in a row' if squashing else
                      'no hidden layer squashes its input: initialise the weights at He\'s scale (he_normal in Keras, '
                      'kaiming_normal_ in PyTorch), or add batch normalisation or skip connections')
            return (f'vanishing gradient: {names[0]}\'s gradient is {first / last:.0e} of {names[1]}\'s ({first:.1e} '
                    f'against {last:.1e})', {'advice': advice})


@rule('saturated_units', 'cause', 'saturated',
      f'half of a hidden sigmoid or tanh layer is within {SATURATION_MARGIN:.0%} of its limits for {UNIT_SHARE:.0%} of '
      f'the sample',
      f'half a hidden sigmoid or tanh layer (`LAYER_SHARE`) stuck within {SATURATION_MARGIN:g} (tanh: '
      f'{2 * SATURATION_MARGIN:g}) of a limit (`SATURATION_MARGIN`) for {UNIT_SHARE:.0%} of the sample (`UNIT_SHARE`)',
      'there the derivative is under 4% of its peak',
      'use relu in the hidden layers, scale the inputs, or lower the learning rate', changes=('relu_he', 'scale_inputs', 'lr_div10'))
def saturated_units(ctx):
    hit = _stuck_layers(ctx, 'saturated') if ctx.end is not None else []
    if hit:
        tanh = any(net_act(ctx.net, k) == 'tanh' for k, _ in hit)
        what = 'saturated sigmoid or tanh units' if tanh else 'saturated sigmoid units'
        return f'{what}: ' + ', '.join(f'{share:.0%} of {label(ctx.net, k)}' for k, share in hit)


@rule('saturated_output', 'cause', 'saturated output',
      'under a squared error, half the outputs whose target is away from a limit sit at it ("all black")',
      f'under a squared or absolute error, half (`PINNED_SHARE`) of the output values whose target lies a quarter of '
      f'the range (`PINNED_DISTANCE`) away from a sigmoid\'s or tanh\'s limit sit within {SATURATION_MARGIN:g} of that '
      f'limit',
      'there the sigmoid\'s derivative is under 4% of its peak and a squared error passes it on; cross-entropy on the '
      'sigmoid\'s own logit does not (so it is not judged under it); a loss of another name counts when its values '
      'at the targets moved by 5% and 10% of their range and at the mean target are a squared or absolute error\'s '
      '(`AROUND_STEP`, to 2%: `AROUND_TOLERANCE`)',
      {'keras': 'use binary cross-entropy (for targets in [0,1]), a 10x lower learning rate, or a linear output',
       'torch': 'use nn.BCEWithLogitsLoss on the logits (targets in [0,1]), a 10x lower learning rate, or no output '
                'activation'}, changes=('bce', 'lr_div10', 'output_linear'))
def saturated_output(ctx):
    pinned = ctx.end.get('output_pinned') if ctx.end is not None else None
    named = any(word in ctx.loss_name for word in SQUARED)
    kind = None if named else error_kind((ctx.m.get('baselines') or {}).get('around'))
    if not pinned or not (named or kind):
        return None
    side, share = max(pinned.items(), key=lambda kv: kv[1] if kv[1] is not None else -1)
    if share is None or share < PINNED_SHARE:
        return None
    act = net_act(ctx.net, ctx.net['output'])
    lo, hi = RANGES[act] if act in RANGES else (0.0, 1.0)
    limit, colour = (lo, 'black') if side == 'low' else (hi, 'white')
    return (f'saturated output: {share:.0%} of the output values whose target is {PINNED_DISTANCE:.0%} of the range '
            f'away from {limit:g} sit within {SATURATION_MARGIN:g} of it ("all {colour}"), where the {act} gives '
            f'{ctx.loss_name or "the loss"}' + (f' (a {kind} error, by its values near the targets)' if kind else '')
            + ' almost no gradient')


@rule('output_not_probability', 'cause', 'output not a probability',
      'binary cross-entropy over an output that is not a probability (linear, ReLU, tanh)',
      'a loss named binary cross-entropy, not on logits, over an output whose activation is not a sigmoid or softmax; '
      'the evidence gives the share of the loss above its minimum carried by the values it clips',
      f'exact: such a loss clips its input to [{_e(CLIP)}, 1 - {_e(CLIP)}] (Keras) and passes no gradient to a value '
      f'outside, so an output below 0 whose target is not 0 gets no push back (PyTorch\'s BCELoss refuses such values)',
      {'keras': 'use a sigmoid output, or keras.losses.BinaryCrossentropy(from_logits=True) on a linear one',
       'torch': 'use a sigmoid output, or nn.BCEWithLogitsLoss on a linear one'}, changes=('bce', 'output_sigmoid'))
def output_not_probability(ctx):
    act = _output_activation(ctx)
    if not clips(ctx.loss_name, act):
        return None
    clipped = ctx.end.get('output_clipped') if ctx.end is not None else None
    carried = '' if clipped is None else f'; the values it clips carry {clipped:.0%} of the loss above its minimum'
    return (f'output not a probability: {ctx.net.get("loss")} takes probabilities, and the {act} output can leave [0, '
            f'1]: the loss clips it (Keras to [{_e(CLIP)}, 1 - {_e(CLIP)}]), with no gradient outside' + carried)


@rule('dead_units', 'cause', 'dead units',
      f'half of a ReLU layer (a map\'s channels) is zero for {UNIT_SHARE:.0%} of the sample',
      f'half a ReLU layer\'s units (a map\'s channels) zero for {UNIT_SHARE:.0%} of the sample; an output unit only '
      f'where its target is not always 0', 'a unit that is zero gets no gradient',
      {'keras': 'lower the learning rate, use he_normal initialisation, or LeakyReLU',
       'torch': 'lower the learning rate, use torch.nn.init.kaiming_normal_, or nn.LeakyReLU'}, changes=('lr_div10', 'leaky_relu', 'reinit', 'he_init', 'output_linear'))
def dead_units(ctx):
    if ctx.end is None:
        return None
    hit = _stuck_layers(ctx, 'dead')
    if (ctx.end.get('dead_outputs') or 0) >= LAYER_SHARE:
        hit.append((ctx.net['output'], ctx.end['dead_outputs']))
    if hit:
        return 'dead ReLU units: ' + ', '.join(f'{share:.0%} of {label(ctx.net, k)}' for k, share in hit)


@rule('posterior_collapse', 'cause', 'posterior collapse',
      f'after training, no latent dimension\'s posterior mean varies across inputs by over {ACTIVE_VARIANCE:g}',
      f'after training, no latent dimension is active: every posterior mean\'s variance across inputs under '
      f'{ACTIVE_VARIANCE:g} (`ACTIVE_VARIANCE`)',
      'Burda et al.\'s "active units", with the 0.01 that common code uses; only when *none* is active, since a healthy '
      'VAE leaves some dimensions unused (see below)',
      {'keras': 'weigh the KL term less (a tenth, to start), or warm it up from 0 over the first epochs; sum the '
                'reconstruction loss over pixels instead of averaging it (keras-team/keras#3373)',
       'torch': 'weigh the KL term less (a tenth, to start), or warm it up from 0 over the first epochs; sum the '
                'reconstruction loss over pixels (reduction=\'sum\') instead of averaging it'},
      changes=('kl_div10', 'kl_warmup', 'kl_per_value'))
def posterior_collapse(ctx):
    posterior = ctx.end.get('posterior') if ctx.end is not None else None
    if ctx.trained and posterior and posterior['active'] == 0:  # untrained encoders have small means: not judged
        kl = np.asarray(posterior['kl'], float)
        return (f'posterior collapse: none of the {posterior["dims"]} latent dimensions is active (the variance of the '
                f'posterior mean across inputs is at most {max(posterior["mean_variance"]):.2g}, under '
                f'{ACTIVE_VARIANCE:g}); KL per dimension {kl.mean():.2g} on average, at most {kl.max():.2g} nats: every '
                f'input gets the prior, and the decoder draws one picture')


def kl_noise(base):
    """(the decoder noise variance a VAE's loss implies, the targets' largest variance, what to divide the KL weight by
    to bring the first to KL_NOISE of the second), from the baselines' LossAround and KLWeight; None where the loss is
    not a squared error plus a KL term. The loss c * mean squared difference + w * KL (nats, over r rows of D values)
    is, up to a factor, the Gaussian ELBO sum of squared differences / (2 noise) + KL: noise = w r D / (2 c)."""
    kl, around = (base or {}).get('kl'), (base or {}).get('around')
    if not kl or error_kind(around) != 'squared':
        return None
    per_unit = (around['plus'] - around['at']) / around['step'] ** 2
    noise = kl['weight'] * kl['rows'] * kl['values'] / (2 * per_unit)
    top = kl['top_variance']
    if not top > 0:
        return noise, top, math.inf
    factor = noise / (KL_NOISE * top)
    step = 10.0 ** (math.floor(math.log10(factor)) - 1) if factor > 0 else 1.0
    return noise, top, math.ceil(factor / step) * step  # up to two significant digits: 113 -> 120


@rule('kl_outweighs', 'cause', 'KL term too strong',
      'a VAE\'s KL weight implies decoder noise above the targets\' top variance (squared error)',
      'the decoder noise variance the loss implies (w r D / 2c: KL weight w per nat over r rows of D values, c the loss '
      'per unit of mean squared difference) at or above the largest eigenvalue of the targets\' covariance',
      'a linear VAE (pPCA) encodes a direction only where the data varies more than the noise variance, so above the '
      'largest eigenvalue encoding nothing is its optimum (Lucas et al. 2019, "Don\'t blame the ELBO"); the same '
      'boundary holds for deep VAEs (arXiv 2510.01621); no margin. The fix brings the noise to a tenth of it (`KL_NOISE`), '
      'where a summed squared error at full weight puts MNIST (0.5 against 5.0), a VAE that learns',
      'divide the KL weight by {factor:g} (or more): the loss then weighs it as a Gaussian decoder whose noise is a '
      'tenth of the targets\' largest variance would',
      changes=('kl_to_data',))
def kl_outweighs(ctx):
    base = ctx.m.get('baselines')
    scale = kl_noise(base)
    if scale is not None and scale[0] >= scale[1]:
        noise, top, factor = scale
        values = base['kl']['values']
        averaged = math.isclose(base['around']['plus'] - base['around']['at'], base['around']['step'] ** 2,
                                rel_tol=AROUND_TOLERANCE) and values > 1
        return (f'KL term too strong: the loss weighs its KL term as a Gaussian decoder with noise '
                f'variance {noise:.3g} would, at or above the targets\' largest variance along any direction '
                f'({top:.3g}); at that weight encoding nothing is the loss\'s optimum, and every input gets the prior' +
                (f' (the squared error is averaged over each target\'s {values} values: summed, it would weigh the KL '
                 f'term {values} times less)' if averaged else ''), {'factor': factor})


@rule('init_scale', 'cause', 'initial weights off scale',
      f'before training, a weight matrix\'s std is over {INIT_FACTOR:g}x or under 1/{INIT_FACTOR:g} of its Glorot and '
      f'He scales',
      f'before training, a weight matrix\'s standard deviation over {INIT_FACTOR:g}x (`INIT_FACTOR`) the larger of its '
      f'Glorot and He scales, or under 1/{INIT_FACTOR:g} of the smaller',
      'the signal grows or shrinks by about that factor at each such layer; PyTorch\'s default (0.41x He\'s) and '
      'Keras\' (1x Glorot\'s) lie well inside',
      {'keras': 'use the default glorot_uniform, or he_normal before relu',
       'torch': 'use the default initialisation, or torch.nn.init.kaiming_normal_ before relu (xavier_uniform_ before '
                'tanh or sigmoid)'}, changes=('reinit',))
def init_scale(ctx):
    if ctx.end is None or ctx.first.get('epoch') != 0:
        return None
    off = [_off_scale(ctx.net['kernels'].get(name, name), *scale)
           for name, scale in (ctx.first.get('weight_scale') or {}).items()]
    off = [text for text in off if text]
    if off:
        return (f'initial weights off scale: {", ".join(off[:3])}' + (f' and {len(off) - 3} more' if len(off) > 3 else '')
                + ': the signal grows or shrinks by about that factor at each such layer')


@rule('signal_fades', 'cause', 'input fades with depth',
      f'untrained, the input\'s spread fades over {FADE_DEPTH}+ hidden layers to under {FADED_SPREAD:g} of the scale',
      f'before training, the last hidden layer spreads under {FADED_SPREAD:g} of its scale across inputs '
      f'(`FADED_SPREAD`) and the first over {COLLAPSE_RATIO:.0%}, with at least {FADE_DEPTH} hidden layers (`FADE_DEPTH`) '
      f'and no weight matrix off scale',
      'at a weight scale under He\'s (PyTorch\'s default is 0.41x) each ReLU-like layer passes on a fraction of the '
      'spread while the biases do not shrink, so every input ends as the biases\' one picture; healthy networks end '
      'at 0.028 or more (see below)',
      {'keras': 'initialise at He\'s scale: kernel_initializer=\'he_normal\' and zero biases, with relu in the hidden '
                'layers',
       'torch': 'initialise at He\'s scale: torch.nn.init.kaiming_normal_(m.weight, nonlinearity=\'relu\') and '
                'zeros_(m.bias) for every Linear and Conv, with ReLU in the hidden layers'},
      changes=('he_init', 'relu_he'))
def signal_fades(ctx):
    if ctx.end is None or ctx.first.get('epoch') != 0 or 'init_scale' in ctx.found:
        return None  # weights off scale are that rule's cause
    hidden = spreads(ctx.net, ctx.first)
    if len(hidden) >= FADE_DEPTH and hidden[0][1] > COLLAPSE_RATIO and hidden[-1][1] < FADED_SPREAD:
        return (f'input fades with depth: before training, the spread across inputs falls from {hidden[0][1]:.2g} of '
                f'its scale at {hidden[0][0]} to {hidden[-1][1]:.2g} at {hidden[-1][0]}, over {len(hidden)} hidden '
                f'layers: what reaches the output is the same for every input')


def _factor(ratio):
    """The power of 10, at least 10, that a learning rate should change by to move a step `ratio` times."""
    return 10 ** max(1, math.ceil(math.log10(ratio)))


@rule('learning_rate_high', 'cause', 'learning rate too high',
      f'one step moves a weight matrix by over {STEP_UPDATE[1]:g} of its size',
      f'one training step moves a weight matrix by over {STEP_UPDATE[1]:g} of its size at any check (`STEP_UPDATE`)',
      'healthy networks: see below; "at any check" because one step too large kills units, and the steps after it '
      'look small', 'divide the learning rate by {factor:g} (or more): that brings the step under the band\'s top', changes=('lr_div10',))
def learning_rate_high(ctx):
    high = _high_steps(ctx)  # one step too large wrecks a network (its units die, its later steps are small)
    if ctx.trained and ctx.end is not None and high:
        epoch, fastest, size = max(high, key=lambda e: e[2])
        return (f'learning rate too high: one step moves {ctx.net["kernels"].get(fastest, fastest)} by {size:.2g} of '
                f'its size (in the epoch before the check at {epoch})', {'factor': _factor(size / STEP_UPDATE[1])})


@rule('learning_rate_low', 'cause', 'learning rate too low',
      f'stuck, and one step moves even the fastest weight matrix by under {_e(STEP_UPDATE[0])} of its size',
      f'an outcome fires, one training step moves the fastest weight matrix by under {_e(STEP_UPDATE[0])} of its size '
      f'at the last check (`STEP_UPDATE`), and neither a fault of the loop nor a saturated output (whose gradient is '
      f'near 0 at any rate) explains weights that do not move',
      'even 10,000 such steps (20 epochs of MNIST in batches of 128) all one way move a weight matrix by a tenth of '
      'its size; healthy networks: see below',
      'multiply the learning rate by {factor:g}: that brings the step to the middle of the band, where healthy runs '
      'step', changes=('lr_x10', 'adam'))
def learning_rate_low(ctx):
    stuck = any(ctx.kind_of(name) == 'outcome' for name in ctx.found)  # a slow run that learns is not stuck by it
    if not stuck or not ctx.trained or ctx.end is None or _high_steps(ctx) or set(ctx.found) & {
            *LOOP_RULES, 'frozen_weights', 'gradient_cut', 'saturated_output'}:
        return None
    steps = {k: v for k, v in (ctx.end.get('step_update') or {}).items() if v is not None}
    if steps:
        fastest = max(steps, key=steps.get)
        if 0 < steps[fastest] < STEP_UPDATE[0]:  # 0: nothing moved at all, which no learning rate explains
            return (f'learning rate too low: one step moves even the fastest weight matrix, '
                    f'{ctx.net["kernels"].get(fastest, fastest)}, by only {steps[fastest]:.2g} of its size',
                    {'factor': _factor(STEP_MIDDLE / max(steps[fastest], 1e-30))})


@rule('not_measured', 'note', 'not measured', 'a check could not run (the report says why)', 'a check raised',
      'the report says which and why; never a failure by itself', 'see why; the other checks went on', closing=True)
def not_measured(ctx):
    return [f'could not measure {what}: {why}' for what, why in (ctx.m.get('not_measured') or {}).items()]


@rule('unexplained', 'cause', 'no cause found',
      'an outcome fires and no cause does (names where the input is lost)',
      'an outcome fires and no blocker or cause does',
      'names the first hidden layer whose spread falls under 5% of its scale (the input\'s differences are lost '
      'there), or says that every layer still varies; says when the loss is still falling; suggests what to try',
      'try a 10x larger and a 10x smaller learning rate, Adam 1e-3 in place of another optimizer, relu up to that '
      'layer, and more epochs; check that each target belongs to its input', closing=True,
      changes=('lr_x10', 'lr_div10', 'adam', 'relu_he'))
def unexplained(ctx):
    kinds = {ctx.kind_of(name) for name in ctx.found}
    if not (ctx.trained and 'outcome' in kinds and not kinds & {'blocker', 'cause'} and ctx.health):
        return None
    where = lost_at(ctx.net, ctx.end)
    m = ctx.m
    falling = still_falling(m, *plateau_numbers(m)[1:3]) if m.get('baselines') and m.get('final_loss') is not None else ''
    if where is None:
        text = 'no hidden layer was measured'
    elif where[1] < COLLAPSE_RATIO:
        text = (f'the input\'s differences are lost at {where[0]}, the first layer whose spread across the sample is '
                f'under {COLLAPSE_RATIO:.0%} of its scale ({where[1]:.2g})')
    else:
        text = (f'every hidden layer still varies with the input ({where[0]} least, {where[1]:.2g} of its scale), so '
                f'the input reaches the output but the fit is no better than the average')
    return f'no cause rule fired: {text}{falling}'


# ---------------------------------------------------------------- the report

def finding_lines(found, before_training=False, notes=()):
    """The report printed at the end of a run (or of a pre-flight check): failure symptoms first, then warnings, each
    with its remedy, then what the monitor could not see."""
    lines = []
    headings = (('failure', 'why it will not learn (failure symptoms, before training)'),
                ('warning', 'warnings (what may keep it from learning)')) if before_training else \
        (('failure', 'why it is stuck (failure symptoms)'), ('warning', 'warnings (the run learns)'))
    for level, heading in headings:
        chosen = [f for f in found if f['level'] == level]
        if chosen:
            lines.append(f'{heading}:')
            lines += [f'  - {f["evidence"]} -> {f["fix"] or "no switch here removes it"}' for f in chosen]
    lines = lines or ['no failure symptom and no warning']
    if notes:
        lines += ['notes:'] + [f'  - {note}' for note in notes]
    return lines
