"""Every rule, threshold and fix text of aehealth, numpy only: why an autoencoder is stuck, from its numbers.

A front-end (aehealth.keras, aehealth.torch, or a program of its own) measures a network on a sample and hands the
numbers over as a metrics dict; `findings(m)` says what is wrong and `finding_lines` prints it. The network is
described by `network()`: its measured layers in order (key, label, activation, width), which one is the output
and which the code, its loss, and its weight matrices ("kernels") in order. docs/rules.md explains each threshold.
"""
import math

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
ONE_DIGIT = 0.5           # one class makes up at least half of the examples trained on
INPUT_SCALE = 10.0        # what the first weight layer receives has a root mean square over 10
TARGET_SHARE = 0.01       # at least 1% of the target values outside what the output activation can produce
TARGET_MARGIN = 0.01      # ...by more than 1% of the targets' own range (float noise at a bound is not outside)
STEP_UPDATE = (1e-6, 1e-1)  # one training step moves the fastest-moving weight matrix by this share of its size
ACTIVE_VARIANCE = 0.01    # a latent dimension is active when its posterior mean varies across inputs by more (Burda)
PINNED_SHARE = 0.5        # saturated output: half the values whose target is away from a limit sit at that limit
PINNED_DISTANCE = 0.25    # ...a target "away from a limit" by a quarter of the output's range
INIT_FACTOR = 4.0         # an initial weight scale over 4x the larger of Glorot's and He's, or under 1/4 of the smaller
MIN_ROWS = 8              # spreads from fewer rows are off by over 27% (1/sqrt(2(n-1))): a sample needs at least 8
FEW_ROWS = 100            # under 100 rows "99% of the sample" means every row: said in a note

# What each activation can produce, for the target-range rule.
RANGES = {'sigmoid': (0.0, 1.0), 'softmax': (0.0, 1.0), 'tanh': (-1.0, 1.0), 'relu': (0.0, math.inf),
          'softplus': (0.0, math.inf), 'elu': (-1.0, math.inf), 'selu': (-1.7581, math.inf), 'hard_sigmoid': (0.0, 1.0),
          'relu6': (0.0, 6.0)}
BOUNDED = ('sigmoid', 'tanh', 'hard_sigmoid')  # outputs that can be pinned at a limit, for the saturated-output rule

# (rule, kind, when it fires, what a Keras user can do, what a PyTorch user can do (None: the same words)).
# "blocker": the set-up cannot fit the data, whatever training does; "outcome": the run is stuck; "cause": why;
# "note": something the monitor could not judge. After training, when a blocker or an outcome fires every finding
# is a failure symptom, otherwise the causes are warnings (defects the run learned in spite of). Before training
# only a blocker makes a failure: an outcome then is a prediction, and networks that start that way can still learn.
RULES = [
    ('nonfinite', 'blocker', 'the loss or a weight is NaN or infinite',
     'lower the learning rate (divide it by 10) and check the inputs for NaN', None),
    ('shape_mismatch', 'blocker', 'the output and the targets have different shapes, so the loss broadcasts them',
     'make the output the targets\' shape (a Reshape layer, or targets reshaped to the output\'s shape)',
     'make the output the targets\' shape (output.view(target.shape), or targets reshaped); MSELoss only warns'),
    ('targets_out_of_range', 'blocker', f'at least {TARGET_SHARE:.0%} of the target values lie outside what the output '
     f'activation can produce',
     'scale the targets into the output\'s range (pixels: divide by 255), or use an output activation that '
     'covers them (linear for any value, tanh for [-1,1])',
     'scale the targets into the output\'s range (pixels: divide by 255; drop a Normalize that makes them negative), '
     'or end forward() with an activation that covers them (none for any value, torch.tanh for [-1,1])'),
    ('softmax_output', 'blocker', 'a softmax output whose target rows do not sum to 1 (it makes the output pixels '
     'compete)', 'use sigmoid on the output (each pixel in [0,1] on its own)',
     'use torch.sigmoid on the output (each pixel in [0,1] on its own)'),
    ('one_output', 'outcome', f'output diversity under {ONE_OUTPUT}; before training, only if the last hidden layer '
     f'also spreads under {COLLAPSE_RATIO:.0%} of its scale across inputs',
     'the input does not reach the output: see the causes listed with it', None),
    ('collapsed_code', 'outcome', f'the narrowest layer\'s spread across inputs under {COLLAPSE_RATIO:.0%} of its '
     f'scale after training', 'the code is the same for every input: see the causes listed with it', None),
    ('plateau', 'outcome', f'final loss at or above {PLATEAU}x the mean target\'s (above the loss\'s own minimum)',
     'no better than predicting the average target: see the causes listed with it', None),
    ('empty_batches', 'cause', 'any batch of the loop is empty (an Adam step on momentum alone)',
     'drop empty batches from the loop', None),
    ('one_digit', 'cause', f'one class is at least {ONE_DIGIT:.0%} of the examples trained on',
     'shuffle the data before batching', None),
    ('inputs_not_scaled', 'cause', f'what the first weight layer receives has a root mean square over '
     f'{INPUT_SCALE:g}', 'scale the inputs to about [0,1] (pixels: divide by 255) or standardise them', None),
    ('softmax_hidden', 'cause', 'a hidden layer uses softmax',
     'use relu (or tanh, sigmoid) in hidden layers; softmax makes a layer\'s units compete', None),
    ('vanishing_gradient', 'cause', f'the first weight matrix\'s gradient under {VANISHING_RATIO:g} of the last one\'s',
     'use relu in the hidden layers, or fewer sigmoid/tanh layers in a row', None),
    ('saturated_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden sigmoid or tanh layer\'s units within '
     f'{SATURATION_MARGIN} of their limits for {UNIT_SHARE:.0%} of the sample',
     'use relu in the hidden layers, scale the inputs, or lower the learning rate', None),
    ('saturated_output', 'cause', f'under a squared (or absolute) error, at least {PINNED_SHARE:.0%} of the output '
     f'values whose target lies {PINNED_DISTANCE:.0%} of the range away from a limit of the sigmoid or tanh sit at '
     f'that limit ("all black", "all white")',
     'use binary cross-entropy (for targets in [0,1]), a 10x lower learning rate, or a linear output',
     'use nn.BCEWithLogitsLoss on the logits (targets in [0,1]), a 10x lower learning rate, or no output activation'),
    ('dead_units', 'cause', f'at least {LAYER_SHARE:.0%} of a hidden ReLU layer\'s units zero for {UNIT_SHARE:.0%} '
     f'of the sample', 'lower the learning rate, use he_normal initialisation, or LeakyReLU',
     'lower the learning rate, use torch.nn.init.kaiming_normal_, or nn.LeakyReLU'),
    ('posterior_collapse', 'cause', f'no latent dimension is active: the variance of the posterior mean across inputs '
     f'is under {ACTIVE_VARIANCE:g} in every one (Burda et al. 2016)',
     'warm the KL term up from 0 over the first epochs, or weigh it less; sum the reconstruction loss over pixels '
     'instead of averaging it (keras-team/keras#3373)',
     'warm the KL term up from 0 over the first epochs, or weigh it less; sum the reconstruction loss over pixels '
     '(reduction=\'sum\') instead of averaging it'),
    ('init_scale', 'cause', f'before training, a weight matrix\'s standard deviation is over {INIT_FACTOR:g}x the '
     f'larger of its Glorot and He scales, or under 1/{INIT_FACTOR:g} of the smaller',
     'use the default glorot_uniform, or he_normal before relu', 'use the default initialisation, or '
     'torch.nn.init.kaiming_normal_ before relu (xavier_uniform_ before tanh or sigmoid)'),
    ('learning_rate_high', 'cause', f'one training step moves a weight matrix by over {STEP_UPDATE[1]:g} of its size',
     'divide the learning rate by 10', None),
    ('learning_rate_low', 'cause', f'one training step moves every weight matrix by under {STEP_UPDATE[0]:g} of its '
     f'size', 'multiply the learning rate by 10', None),
    ('unexplained', 'cause', 'an outcome fires and no cause rule does: names the layer where the input\'s '
     'differences are lost',
     'try a 10x larger and a 10x smaller learning rate, relu up to that layer, and more epochs; check that each '
     'target belongs to its input', None),
    ('not_measured', 'note', 'a check could not run (the report says why)',
     'see why; the other checks went on', None),
]
KINDS = {rule: kind for rule, kind, *_ in RULES}
FIXES = {'keras': {rule: keras for rule, _, _, keras, _ in RULES},
         'torch': {rule: torch or keras for rule, _, _, keras, torch in RULES}}
WORDS = {'one_output': 'one output', 'collapsed_code': 'collapsed code', 'plateau': 'plateau',
         'empty_batches': 'empty batches', 'one_digit': 'one digit', 'vanishing_gradient': 'vanishing gradient',
         'saturated_units': 'saturated', 'dead_units': 'dead units', 'nonfinite': 'NaN or Inf',
         'targets_out_of_range': 'targets out of range', 'softmax_output': 'softmax output',
         'inputs_not_scaled': 'inputs not scaled', 'softmax_hidden': 'softmax in a hidden layer',
         'learning_rate_high': 'learning rate too high', 'learning_rate_low': 'learning rate too low',
         'shape_mismatch': 'shapes broadcast', 'saturated_output': 'saturated output',
         'posterior_collapse': 'posterior collapse', 'init_scale': 'initial weights off scale',
         'unexplained': 'no cause found', 'not_measured': 'not measured'}
SQUARED = ('mse', 'mean_squared', 'squared', 'mae', 'mean_absolute', 'l1', 'l2', 'huber')  # losses that give a
# pinned sigmoid almost no gradient (cross-entropy on the sigmoid's own logit does not; an unknown loss is not judged)


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


# ---------------------------------------------------------------- the rules

def _plateau(m):
    """(loss, its mean-target baseline, the loss's minimum on these targets, words for the baseline)."""
    b = m['baselines']
    if 'mean_input' in b:
        return m['final_loss'], b['mean_input'], b.get('floor', 0.0), 'the mean input'
    return m['final_loss'], b['mean_image'], 0.0, 'the mean image'


def _still_falling(m, mean, floor):
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


def _trained(m):
    """Whether the metrics are of a model that has trained (epochs_done None: trained, for how long unknown)."""
    done = m.get('epochs_done', 1)
    return done is None or done > 0


def _label(net, key):
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


def lost_at(net, snap):
    """(label, spread / scale) of the first hidden layer whose spread across inputs is under COLLAPSE_RATIO of its
    scale, or of the hidden layer that spreads least when none is; None when no hidden layer was measured."""
    hidden = [(layer['label'], collapse_ratio(snap['layers'][layer['key']]['spread'], snap['layers'][layer['key']]['rms']))
              for layer in net['layers'] if layer['key'] != net['output'] and 'rms' in snap['layers'].get(layer['key'], {})]
    if not hidden:
        return None
    return next(((label, r) for label, r in hidden if r < COLLAPSE_RATIO), min(hidden, key=lambda h: h[1]))


def _data_checks(m, net, stats):
    """The rules about the data and the output layer."""
    out = []
    output = next((layer for layer in net['layers'] if layer['key'] == net['output']), None)
    act = (output or {}).get('activation') or stats.get('output_activation')
    if stats.get('output_shape') is not None and stats.get('target_shape') is not None \
            and list(stats['output_shape']) != list(stats['target_shape']):
        out.append(('shape_mismatch', f'shapes broadcast: the output is {_shape(stats["output_shape"])} per input and '
                                      f'the target {_shape(stats["target_shape"])}: the loss compares arrays of '
                                      f'different shapes, and the best it can do is predict their mean'))
    if stats['target_outside'] >= TARGET_SHARE:
        lo, hi = stats['output_range']
        out.append(('targets_out_of_range', f'targets out of range: {stats["target_outside"]:.0%} of the target values '
                                            f'lie outside [{lo:g}, {hi:g}], what the output\'s {act} '
                                            f'can produce (targets span {stats["target_min"]:.3g} to '
                                            f'{stats["target_max"]:.3g})'))
    if act == 'softmax' and output and (output['units'] or 0) > 1 and not stats['target_rows_sum_to_1']:
        out.append(('softmax_output', f'softmax across the {output["units"]} outputs of {output["label"]}: they must '
                                      f'sum to 1, the targets\' rows do not'))
    return out


def _shape(shape):
    return '(' + ', '.join(str(n) for n in shape) + (',)' if len(shape) == 1 else ')')


def _checks(m):
    """(rule, evidence) for every rule that fires on a run's metrics, in RULES order."""
    net = m['network']
    trained = _trained(m)
    health = m.get('health') or []
    end = health[-1] if health else None
    stats = m.get('data')
    loss_name = str(net.get('loss') or '').lower()
    out = []
    if m.get('nonfinite'):
        out.append(('nonfinite', f'NaN or Inf: {m["nonfinite"]}'))
    if stats:
        out += _data_checks(m, net, stats)
    if end is not None:
        diversity = end['output_diversity']
        if diversity is not None and diversity < ONE_OUTPUT and trained:
            falling = _still_falling(m, *_plateau(m)[1:3]) if m.get('baselines') else ''
            out.append(('one_output', f'one output for every input: output diversity {diversity:.3f} (0 = the same '
                                      f'picture whatever the input){falling}'))
        elif diversity is not None and diversity < ONE_OUTPUT:
            # Untrained networks draw nearly one picture anyway (their last layer's weights are small); it is worth
            # saying when the hidden layers have already lost the input's differences.
            last = _last_hidden(net, end)
            if last is not None and collapse_ratio(last[1]['spread'], last[1]['rms']) < COLLAPSE_RATIO:
                out.append(('one_output', f'one output for every input before training: output diversity '
                                          f'{diversity:.1e}; the last hidden layer, {last[0]}, spreads only '
                                          f'{collapse_ratio(last[1]["spread"], last[1]["rms"]):.2g} of its scale '
                                          f'across inputs (the input\'s differences are lost before the output)'))
        varies = end['output_diversity'] is not None  # targets all alike: no code can tell them apart
        code = end['layers'].get(net['code']) if trained and net['code'] and varies else None
        if code is not None and 'rms' in code and collapse_ratio(code['spread'], code['rms']) < COLLAPSE_RATIO:
            out.append(('collapsed_code', f'collapsed code: {_label(net, net["code"])}, the narrowest layer, spreads '
                                          f'{collapse_ratio(code["spread"], code["rms"]):.1%} of its scale across '
                                          f'inputs'))
    if trained and m.get('final_loss') is not None and m.get('baselines') and math.isfinite(m['final_loss']):
        loss, mean, floor, words = _plateau(m)
        # no plateau to judge when the mean target is the best (targets all alike) or the loss means nothing there
        ratio = (loss - floor) / (mean - floor) if mean > floor else None
        if ratio is not None and ratio >= PLATEAU:
            what = (f'stuck on the {words[4:].replace(" ", "-")} plateau' if ratio <= 2 - PLATEAU
                    else f'no better than {words}')
            never = 'plateau_exit_epoch' in m and m['plateau_exit_epoch'] is None
            exit_text = f' (never below {PLATEAU_EXIT}x in {m["epochs_done"]} epochs)' if never else ''
            above = f', counted from the loss\'s minimum {floor:.4g} on these targets' if floor else ''
            out.append(('plateau', f'{what}: final loss {loss:.4f} is {ratio:.2f}x {words}\'s '
                                   f'{mean:.4f}{above}{exit_text}{_still_falling(m, mean, floor)}'))
    f = m.get('feeding')
    if trained and f and f['empty_per_epoch'] and f['epochs']:
        out.append(('empty_batches', f'{f["empty_per_epoch"]} of {f["batches_per_epoch"]} batches per epoch are empty: '
                                     f'{f["real_per_epoch"] * f["epochs"]} real steps in {f["epochs"]} epochs'))
    if f and f['images_trained']:
        counts = np.asarray(f['label_histogram'])
        digit, share = int(counts.argmax()), counts.max() / counts.sum()
        if share >= ONE_DIGIT:
            text = (f'all {counts.sum()} trained images were digit {digit}' if share == 1 else
                    f'{share:.0%} of the {counts.sum()} trained images were digit {digit}')
            out.append(('one_digit', text))
    if stats and stats.get('input_rms') is not None and stats['input_rms'] > INPUT_SCALE:
        where = f'what {stats["input_seen_by"]} receives' if stats.get('input_seen_by') else 'the inputs'
        out.append(('inputs_not_scaled', f'inputs not scaled: {where} has a root mean square of '
                                         f'{stats["input_rms"]:.3g} (inputs of order 1 are what initialisers assume)'))
    hidden = [layer for layer in net['layers'] if layer['key'] != net['output']]
    soft = [layer['label'] for layer in hidden if layer['activation'] == 'softmax']
    if soft:
        out.append(('softmax_hidden', f'softmax in a hidden layer: {", ".join(soft)}'))
    if end is not None:
        out += _training_checks(m, net, end, trained, loss_name)
    for what, why in (m.get('not_measured') or {}).items():
        out.append(('not_measured', f'could not measure {what}: {why}'))
    return out


def _training_checks(m, net, end, trained, loss_name):
    """The rules about gradients, units, the latent code, initial weights and steps, on the last check."""
    out = []
    kernels = [k for k in net['kernels'] if k in end['grad_norm']]
    if len(kernels) > 1:
        first, last = end['grad_norm'][kernels[0]], end['grad_norm'][kernels[-1]]
        if last and first / last < VANISHING_RATIO:
            names = net['kernels'][kernels[0]], net['kernels'][kernels[-1]]
            out.append(('vanishing_gradient', f'vanishing gradient: {names[0]}\'s gradient is {first / last:.0e} '
                                              f'of {names[1]}\'s ({first:.1e} against {last:.1e})'))
    measured = {k: v for k, v in end['layers'].items() if k != net['output']}
    for key, rule, what in (('saturated', 'saturated_units', 'saturated sigmoid units'),
                            ('dead', 'dead_units', 'dead ReLU units')):
        hit = [(k, v[key]) for k, v in measured.items() if v.get(key, 0) >= LAYER_SHARE]
        if key == 'dead' and (end.get('dead_outputs') or 0) >= LAYER_SHARE:
            hit.append((net['output'], end['dead_outputs']))
        if hit:
            if key == 'saturated' and any(net_act(net, k) == 'tanh' for k, _ in hit):
                what = 'saturated sigmoid or tanh units'
            out.append((rule, f'{what}: ' + ', '.join(f'{share:.0%} of {_label(net, k)}' for k, share in hit)))
        if key == 'saturated':
            out += _saturated_output(end, net, loss_name)
    posterior = end.get('posterior')
    if trained and posterior and posterior['active'] == 0:  # untrained encoders have small means: not judged
        kl = np.asarray(posterior['kl'], float)
        out.append(('posterior_collapse', f'posterior collapse: none of the {posterior["dims"]} latent dimensions is '
                                          f'active (the variance of the posterior mean across inputs is at most '
                                          f'{max(posterior["mean_variance"]):.2g}, under {ACTIVE_VARIANCE:g}); KL per '
                                          f'dimension {kl.mean():.2g} on average, at most {kl.max():.2g} nats: every '
                                          f'input gets the prior, and the decoder draws one picture'))
    first = (m.get('health') or [{}])[0]
    off = [_off_scale(net['kernels'].get(name, name), *scale)
           for name, scale in (first.get('weight_scale') or {}).items() if first.get('epoch') == 0]
    off = [text for text in off if text]
    if off:
        out.append(('init_scale', f'initial weights off scale: {", ".join(off[:3])}'
                                  + (f' and {len(off) - 3} more' if len(off) > 3 else '')
                                  + ': the signal grows or shrinks by about that factor at each such layer'))
    steps = {k: v for k, v in (end.get('step_update') or {}).items() if v is not None}
    # one step too large wrecks a network (its units die, its later steps are small): any check's counts
    high = [(h['epoch'], k, v) for h in m.get('health') or [] for k, v in (h.get('step_update') or {}).items()
            if v is not None and v > STEP_UPDATE[1]]
    if trained and high:
        epoch, fastest, size = max(high, key=lambda e: e[2])
        name = net['kernels'].get(fastest, fastest)
        out.append(('learning_rate_high', f'learning rate too high: one step moves {name} by {size:.2g} of its size '
                                          f'(in the epoch before the check at {epoch})'))
    elif trained and steps:
        fastest = max(steps, key=steps.get)
        if steps[fastest] < STEP_UPDATE[0]:
            name = net['kernels'].get(fastest, fastest)
            out.append(('learning_rate_low', f'learning rate too low: one step moves even the fastest weight '
                                             f'matrix, {name}, by only {steps[fastest]:.2g} of its size'))
    return out


def _off_scale(label, std, fan_in, fan_out):
    """Words for a weight matrix whose initial standard deviation is far from Glorot's and He's, or None."""
    glorot, he = math.sqrt(2.0 / (fan_in + fan_out)), math.sqrt(2.0 / fan_in)
    if std > INIT_FACTOR * max(glorot, he):
        return f'{label} has standard deviation {std:.2g}, {std / max(glorot, he):.2g}x the larger of Glorot\'s and He\'s'
    if std < min(glorot, he) / INIT_FACTOR:
        return f'{label} has standard deviation {std:.2g}, {std / min(glorot, he):.2g}x the smaller of Glorot\'s and He\'s'
    return None


def _saturated_output(end, net, loss_name):
    """The saturated-output rule: a bounded output pinned at a limit its targets are not at, under a loss that then
    gives it no gradient."""
    pinned = end.get('output_pinned')
    if not pinned or not any(word in loss_name for word in SQUARED):
        return []
    side, share = max(pinned.items(), key=lambda kv: kv[1] if kv[1] is not None else -1)
    if share is None or share < PINNED_SHARE:
        return []
    lo, hi = RANGES[net_act(net, net['output'])] if net_act(net, net['output']) in RANGES else (0.0, 1.0)
    limit, colour = (lo, 'black') if side == 'low' else (hi, 'white')
    return [('saturated_output', f'saturated output: {share:.0%} of the output values whose target is '
                                 f'{PINNED_DISTANCE:.0%} of the range away from {limit:g} sit within '
                                 f'{SATURATION_MARGIN:g} of it ("all {colour}"), where the {net_act(net, net["output"])} '
                                 f'gives {loss_name or "the loss"} almost no gradient')]


def findings(m, fixes='keras'):
    """What is wrong with a run (or, with epochs_done 0, an untrained network; None, a trained one whose history is
    not known), from its metrics: a list of
    {rule, level, evidence, fix}, in RULES order. `fixes`: 'keras', 'torch', or a dict {rule: fix text} of one's own."""
    found = _checks(m)
    trained = _trained(m)
    kinds = {KINDS[rule] for rule, _ in found}
    stuck = 'blocker' in kinds or (trained and 'outcome' in kinds)
    if trained and 'outcome' in kinds and not kinds & {'blocker', 'cause'} and m.get('health'):
        found.append(_unexplained(m))
    table = FIXES[fixes] if isinstance(fixes, str) else fixes
    return [{'rule': rule, 'level': 'failure' if stuck and KINDS[rule] != 'note' else 'warning', 'evidence': evidence,
             'fix': table.get(rule)} for rule, evidence in found]


def _unexplained(m):
    """The finding that says no cause fired, and where the input's differences are lost."""
    net, snap = m['network'], m['health'][-1]
    where = lost_at(net, snap)
    falling = _still_falling(m, *_plateau(m)[1:3]) if m.get('baselines') and m.get('final_loss') is not None else ''
    if where is None:
        text = 'no hidden layer was measured'
    elif where[1] < COLLAPSE_RATIO:
        text = (f'the input\'s differences are lost at {where[0]}, the first layer whose spread across the sample is '
                f'under {COLLAPSE_RATIO:.0%} of its scale ({where[1]:.2g})')
    else:
        text = (f'every hidden layer still varies with the input ({where[0]} least, {where[1]:.2g} of its scale), so '
                f'the input reaches the output but the fit is no better than the average')
    return 'unexplained', f'no cause rule fired: {text}{falling}'


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
