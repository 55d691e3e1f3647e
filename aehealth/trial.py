"""Prove the fix: try each change the rules suggest on the user's own model, over seeds, in parallel, judge every run
with the same rules, and say which change unsticks it (the question's ablation, for anyone's autoencoder).

numpy only. The changes are named here, once (`CHANGES`: what each does, in words, and what it touches); each rule
names the changes that treat it (`Rule.changes`); a front-end applies them to its framework's model
(aehealth.trial_keras, aehealth.trial_torch) in worker processes that this module schedules on any
`concurrent.futures.Executor` (a process pool by default, a Dask cluster's if given). The data changes are numpy,
and live here.
"""
import concurrent.futures
import importlib
import json
import math
import multiprocessing
import os
import pickle
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aehealth import rules
from aehealth.contracts import UsageError

KINDS = ('data', 'optimizer', 'loss', 'model', 'pair', 'variant')  # what a change touches, least first: ties go first
# the order a pair's changes are made in: the targets are mapped into the changed output's range, and the loss checks
# the changed targets
APPLIED = ('model', 'data', 'loss', 'optimizer')


@dataclass(frozen=True)
class Change:
    """A change a trial can make to the user's set-up, and the words its report prints."""
    name: str
    kind: str   # KINDS
    words: str


CHANGES = {c.name: c for c in (
    Change('scale_inputs', 'data', 'inputs scaled (to [0, 1] if none is negative, else standardised)'),
    Change('targets_in_range', 'data', 'targets mapped into the output activation\'s range'),
    Change('lr_div10', 'optimizer', 'the learning rate divided by 10'),
    Change('lr_x10', 'optimizer', 'the learning rate multiplied by 10'),
    Change('adam', 'optimizer', 'Adam (learning rate 1e-3) in place of the optimizer'),
    Change('bce', 'loss', 'binary cross-entropy (on the logits in PyTorch)'),
    Change('loss_swapped', 'loss', 'the loss given its two arguments the other way round'),
    Change('kl_warmup', 'loss', 'the KL weight warmed up from 0 over the first half of the epochs'),
    Change('kl_div10', 'loss', 'the KL weight divided by 10'),
    Change('kl_per_value', 'loss', 'the KL weight divided by the values in each target, as if the reconstruction loss '
                                   'were summed over them, not averaged'),
    Change('kl_to_data', 'loss', 'the KL weight divided until the Gaussian decoder noise it implies is a tenth of the '
                                 'targets\' largest variance (a squared-error loss)'),
    Change('relu_he', 'model', 'hidden sigmoid, tanh and softmax layers made ReLU, with He initialisation'),
    Change('leaky_relu', 'model', 'ReLU made LeakyReLU'),
    Change('output_linear', 'model', 'a linear output'),
    Change('output_sigmoid', 'model', 'a sigmoid output'),
    Change('output_tanh', 'model', 'a tanh output'),
    Change('reinit', 'model', 'the weights re-initialised with the framework\'s defaults'),
    Change('he_init', 'model', 'the weights initialised at He\'s scale, the biases at 0'),
    Change('reshape_output', 'model', 'the output reshaped to the targets\' shape'),
)}


def parts(label):
    """The change names a label makes: [] for the model as it is, one name, or a pair's two ('scale_inputs+adam'), in
    the order they are made (APPLIED); None for a user's variant."""
    if label is None:
        return []
    names = label.split('+')
    if not all(n in CHANGES for n in names):
        return None
    return sorted(names, key=lambda n: APPLIED.index(CHANGES[n].kind))


def words(label):
    """What a label's run changed, in the report's words."""
    names = parts(label)
    if names is None:
        return f'your variant "{label}"'
    return ', and '.join(CHANGES[n].words for n in names) if names else 'the model as it is'


def _pairs(report):
    """Labels of the pairs a trial tries when nothing single learns in every seed: each two changes that were made
    (not skipped, not crashed) and touch different parts of the set-up, in the order the changes were tried."""
    made = [c['change'] for c in report.changes if c['change'] in CHANGES and not c['not_applicable']
            and not c['errors']]
    tried = {frozenset(parts(c['change'])) for c in report.changes if parts(c['change'])}  # pairs the user named
    return [f'{a}+{b}' for i, a in enumerate(made) for b in made[i + 1:]
            if CHANGES[a].kind != CHANGES[b].kind and frozenset((a, b)) not in tried]


def changes_table():
    """The changes as a markdown table (docs/aehealth.md's): name, what it touches, what it does."""
    rows = ['| change | touches | what it does |', '|---|---|---|']
    return '\n'.join(rows + [f'| `{c.name}` | {c.kind} | {c.words} |' for c in CHANGES.values()])


class NotApplicable(Exception):
    """A change that cannot be made to this model (the message says why, and what the user can do instead)."""


# ---------------------------------------------------------------- the data changes (numpy)

def scale_inputs(x):
    """Inputs to [0, 1] when none is negative (pixels), else standardised (mean 0, standard deviation 1)."""
    x = np.asarray(x, np.float32)
    if x.min() >= 0:
        top = float(x.max())
        if top <= 1.0:
            raise NotApplicable('the inputs are in [0, 1] already')
        return x / top
    std = float(x.std())
    if abs(float(x.mean())) < 0.1 and 0.5 < std < 2:
        raise NotApplicable('the inputs are standardised already')
    return (x - x.mean()) / (std or 1.0)


def targets_in_range(y, output_range):
    """Targets mapped linearly into what the output activation can produce (a bounded range), or shifted above a lower
    bound (ReLU's)."""
    lo, hi = output_range
    y = np.asarray(y, np.float32)
    if not np.issubdtype(y.dtype, np.floating) or (not math.isfinite(lo) and not math.isfinite(hi)):
        raise NotApplicable('the output is linear: every target is in its range')
    if float(y.min()) >= lo and float(y.max()) <= hi:
        raise NotApplicable(f'the targets are in [{lo:g}, {hi:g}] already')
    if math.isfinite(hi):
        span = float(y.max() - y.min()) or 1.0
        return lo + (y - y.min()) * (hi - lo) / span
    return y - y.min() + lo


def kl_factor(name, y, measured=None):
    """What a KL change multiplies the KL weight by (after each framework's check that the weight is exposed);
    `measured`: for kl_to_data, the metrics of a post-mortem of the run's model on its data, its changes made."""
    if name == 'kl_div10':
        return 0.1
    if name == 'kl_to_data':
        scale = rules.kl_noise((measured or {}).get('baselines'))
        if scale is None or not math.isfinite(scale[2]):
            raise NotApplicable('the loss is not a squared error plus a KL term whose weight could be measured, '
                                'which this change needs')
        return 1.0 / scale[2]
    values = int(np.prod(np.shape(y)[1:]))
    if values < 2:
        raise NotApplicable('each target is one value: averaging the reconstruction over it changes nothing')
    return 1.0 / values  # the ELBO sums the reconstruction's log-likelihood over the values; a mean divides it by them


def data_change(name, x, y, output_range):
    """(x, y) with a data change made; y is x when it was, or was equal to it (an autoencoder's targets are its
    inputs: scaled with them)."""
    same = y is x or (np.shape(y) == np.shape(x) and np.array_equal(y, x))
    if name == 'scale_inputs':
        x = scale_inputs(x)
        return x, x if same else y
    return x, targets_in_range(y, output_range)


# ---------------------------------------------------------------- judging a run

def judged(metrics, epochs, seconds):
    """A run's dict from its monitor's metrics: how far it got, whether it learns, what was found."""
    base, health = metrics.get('baselines'), metrics.get('health') or []
    gap = base['mean_input'] - base['floor'] if base else 0.0
    ratios = [(h['loss'] - base['floor']) / gap if gap > 0 and h.get('loss') is not None else None for h in health]
    final = ratios[-1] if ratios else None
    diversity = health[-1]['output_diversity'] if health else None
    failures = [f for f in metrics['findings'] if f['level'] == 'failure']
    finite = final is not None and math.isfinite(final)
    learns = (not failures and finite and final < rules.PLATEAU
              and (diversity is None or diversity >= rules.ONE_OUTPUT))
    if base and math.isclose(base['mean_input'], base['floor'], rel_tol=1e-6, abs_tol=1e-12):
        # every target alike (the mean target is the answer): no plateau to leave, so the rules alone judge the run
        loss = metrics.get('final_loss')
        learns = not failures and loss is not None and math.isfinite(loss)
    return dict(final_ratio=final if finite else None, output_diversity=diversity,
                plateau_exit=metrics.get('plateau_exit_epoch'), learns=bool(learns),
                findings=[{'rule': f['rule'], 'level': f['level']} for f in metrics['findings']],
                epoch_ratios=[r if r is None or math.isfinite(r) else None for r in ratios], epochs=epochs,
                seconds=round(seconds, 2))


# ---------------------------------------------------------------- running it

def _dumps(obj):
    """Pickled for a worker process: by value where cloudpickle is installed (functions in a script or notebook)."""
    try:
        import cloudpickle
        return cloudpickle.dumps(obj)
    except ImportError:
        return pickle.dumps(obj)


def work(payload):
    """In a worker: one run (aehealth.trial_keras.run_one or aehealth.trial_torch.run_one); never raises."""
    from aehealth.monitor import quiet_stderr
    with quiet_stderr():  # unpickling the user's functions imports their framework: TensorFlow's start-up lines
        task = pickle.loads(payload)
    t0 = time.perf_counter()
    try:
        return importlib.import_module(task['runner']).run_one(task)
    except NotApplicable as e:
        return dict(not_applicable=str(e), seconds=round(time.perf_counter() - t0, 2))
    except Exception as e:  # a run that crashes is a finding of the trial, not the end of it
        return dict(error=f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300], learns=False,
                    seconds=round(time.perf_counter() - t0, 2))


def _key(label, seed):
    return f'{label}|{seed}'


class TrialReport:
    """What a trial found: `runs` (one dict per run), `recommended` (the change that touches least among those that
    learn in every seed, a pair of changes ('a+b') when no single one does; None when the model learns as it is, or
    nothing tried does), `changes` (each tried, with its words and kind, or why it could not be made), `table()`."""

    def __init__(self, runs, labels, seeds, settings):
        self.runs, self.labels, self.seeds, self.settings = runs, labels, list(seeds), settings
        self.changes = [self._summary(label) for label in labels]
        baseline = next(c for c in self.changes if c['change'] is None)
        learned = [c for c in self.changes if c['change'] is not None and c['learns_in'] == len(self.seeds)]
        learned.sort(key=lambda c: KINDS.index(c['kind']))  # stable: the rules' order among changes of one kind
        self.recommended = None if baseline['learns_in'] == len(self.seeds) or not learned else learned[0]['change']

    def _summary(self, label):
        mine = [r for r in self.runs if r['change'] == label]
        names = parts(label)
        if label is None:
            kind = 'as it is'
        elif names is None:
            kind = 'variant'
        else:
            kind = 'pair' if len(names) == 2 else CHANGES[label].kind
        skipped = next((r['not_applicable'] for r in mine if r.get('not_applicable')), None)
        done = [r for r in mine if not r.get('not_applicable')]
        ratios = [r['final_ratio'] for r in done if r.get('final_ratio') is not None]
        return dict(change=label, kind=kind, words=words(label), not_applicable=skipped, runs=len(done),
                    learns_in=sum(bool(r.get('learns')) for r in done),
                    median_ratio=float(np.median(ratios)) if ratios else None,
                    errors=[r['error'] for r in done if r.get('error')])

    def table(self):
        """The trial as a markdown table, one row per change, the recommended one marked."""
        rows = ['| change | touches | learns in | final loss / mean target\'s (median) | verdict |',
                '|---|---|---|---|---|']
        for c in self.changes:
            ratio = '-' if c['median_ratio'] is None else f'{c["median_ratio"]:.2f}'
            if c['not_applicable']:
                verdict = f'not tried: {c["not_applicable"]}'
            elif c['errors']:
                verdict = f'crashed: {c["errors"][0]}'
            elif self.recommended is not None and c['change'] == self.recommended:
                verdict = '**recommended**'
            else:
                verdict = 'learns' if c['learns_in'] == len(self.seeds) else 'stuck' if not c['learns_in'] else 'mixed'
            seeds = '-' if c['not_applicable'] else f'{c["learns_in"]} of {c["runs"]} seeds'
            rows.append(f'| {c["words"]} | {c["kind"]} | {seeds} | {ratio} | {verdict} |')
        return '\n'.join(rows)

    def __repr__(self):
        return f'TrialReport(recommended={self.recommended!r}, runs={len(self.runs)})'


def _suggested(runs, registry=None):
    """The changes the rules name for the failures of the model as it is, in the rules' order."""
    registry = registry or rules.REGISTRY
    found = {f['rule'] for r in runs for f in r.get('findings') or [] if f['level'] == 'failure'}
    names = []
    for unit in registry:
        if unit.name in found:
            names += [c for c in unit.changes if c not in names]
    return names


def _checked(changes):
    """`changes` as given when it is 'suggested' or a list of known names; else a one-line error, before any run."""
    if changes == 'suggested':
        return changes
    if isinstance(changes, str) or not isinstance(changes, (list, tuple)):
        raise UsageError(f'changes={changes!r}: give \'suggested\' or a list of names, for example '
                         f'changes=[\'lr_div10\', \'adam\']')
    unknown = [c for c in changes if not isinstance(c, str) or parts(c) is None or len(parts(c)) > 2]
    if unknown:
        raise UsageError(f'changes={unknown!r}: not changes a trial knows; choose from {", ".join(CHANGES)} (two '
                         f'joined by + make a pair, as \'scale_inputs+output_sigmoid\'), or pass changes=\'suggested\'')
    return list(changes)


def _labels(changes, variants, baseline_runs):
    """The changes to try: 'suggested' (what the rules name), or the names given; then the user's variants."""
    chosen = _suggested(baseline_runs) if changes == 'suggested' else changes
    return [None] + chosen + list(variants or {})


def _resumed(resume):
    """The finished runs of an earlier trial (a trial.json, or the folder that holds one)."""
    if resume is None:
        return []
    path = Path(resume)
    path = path / 'trial.json' if path.is_dir() else path
    try:
        return [r for r in json.loads(path.read_text())['runs'] if not r.get('error')]
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f'resume={str(resume)!r}: not a trial.json this can continue ({e}); pass the folder an '
                         f'earlier trial wrote with out=') from None


def _executor(jobs, executor):
    """The executor runs go to, and whether this module made it (and so must shut it down)."""
    if executor is not None:
        return executor, False
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f'jobs={jobs!r}: give a whole number of worker processes, at least 1')
    return concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')), True


def _command():
    """The command line that made this trial, as the user typed it (python -m aehealth trial ..., python script.py)."""
    argv = [str(a) for a in sys.argv]
    if not argv or not argv[0]:
        return 'an interactive session'
    first = 'python -m aehealth' if argv[0].endswith(os.path.join('aehealth', '__main__.py')) else f'python {argv[0]}'
    return ' '.join([first] + argv[1:])


def _eta(started, done, total):
    if not done:
        return '?'
    left = (time.perf_counter() - started) / done * (total - done)
    return f'{int(left // 60)} min {int(left % 60)} s' if left >= 60 else f'{left:.0f} s'


def check_arguments(needed, optional, counts, variants, makes):
    """One-line errors for what every front-end's trial takes: `needed` and `optional` functions (by name), whole
    `counts`, and `variants`; `makes` says what build() does in this framework (for the words)."""
    for name, value in needed.items():
        if not callable(value):
            raise UsageError(f'{name}={value!r} is not callable: pass the function that {makes}' + (
                ', and the loss your loop uses' if len(needed) > 1 else ''))
    for name, value in optional.items():
        if value is not None and not callable(value):
            raise UsageError(f'{name}={value!r} is not callable: pass a function, or None for the default')
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f'{name}={value!r}: give a whole number, at least 1')
    if variants is not None and not (isinstance(variants, dict) and all(callable(v) for v in variants.values())):
        raise UsageError(f'variants: give a dict {{name: a function that {makes.replace("your model", "the variant model")}}}')


def run(runner, common, changes, variants, seeds, jobs=1, executor=None, out=None, verbose=True, resume=None):
    """A trial: the model as it is over `seeds`, then each change (suggested, or named) and each user variant over
    the same seeds, in worker processes; a TrialReport, written to `out` (trial.json, trial.md, trial.png) as runs
    finish. Ctrl-C keeps the finished runs in trial.json; `resume=` continues them."""
    changes = _checked(changes)
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
        raise UsageError(f'seeds={seeds!r}: give whole numbers, for example seeds=(0, 1, 2)')
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    done = {_key(r['change'], r['seed']): r for r in _resumed(resume)}
    pool, own = _executor(jobs, executor)
    settings = dict(common.get('settings', {}), seeds=seeds, runner=runner, command=_command(),
                    machine=f'{os.cpu_count()} cores')
    labels = [None]
    started = time.perf_counter()
    try:
        _phase(pool, runner, common, variants, [None], seeds, done, verbose, started, out, labels, settings)
        labels = _labels(changes, variants, [done[_key(None, s)] for s in seeds])
        _phase(pool, runner, common, variants, labels[1:], seeds, done, verbose, started, out, labels, settings)
        singles = TrialReport([done[_key(label, s)] for label in labels for s in seeds], labels, seeds, settings)
        pairs = [] if singles.recommended or singles.changes[0]['learns_in'] == len(seeds) else _pairs(singles)
        if pairs:
            if verbose:
                print(f'trial: no single change learns in every seed; trying {len(pairs)} pair'
                      f'{"s" if len(pairs) > 1 else ""} of them', flush=True)
            labels += pairs
            _phase(pool, runner, common, variants, pairs, seeds, done, verbose, started, out, labels, settings)
    except (KeyboardInterrupt, BrokenProcessPool) as stopped:
        if out is not None:
            _write(out, TrialReport(list(done.values()), labels, seeds, settings), interrupted=True)
        if verbose:
            print(f'trial: interrupted; {len(done)} finished runs kept' + (f' in {out / "trial.json"} (resume='
                                                                            f'{str(out)!r} continues)' if out else ''),
                  file=sys.stderr)
        if isinstance(stopped, KeyboardInterrupt):
            raise
        # A spawned worker imports the caller's script; one that calls trial() at its top level starts it again there
        raise UsageError('a trial worker process died before its run ended: if trial() is called at the top level of '
                         'a script, put the call under `if __name__ == \'__main__\':` (each worker imports the '
                         'script); else it may have run out of memory (try fewer jobs)') from None
    finally:
        if own:
            pool.shutdown(wait=False, cancel_futures=True)
    report = TrialReport([done[_key(label, s)] for label in labels for s in seeds if _key(label, s) in done], labels,
                         seeds, settings)
    if out is not None:
        _write(out, report)
    if verbose:
        print(report.table())
        if report.recommended:
            print(f'recommended: {words(report.recommended)}')
        else:
            why = ('the model learns as it is' if report.changes[0]['learns_in'] == len(seeds)
                   else 'no change tried learns in every seed')
            print(f'recommended: nothing ({why})')
    return report


def _phase(pool, runner, common, variants, labels, seeds, done, verbose, started, out, all_labels, settings):
    """Every (label, seed) run not done yet, in parallel; each kept as it finishes."""
    todo = [(label, s) for label in labels for s in seeds if _key(label, s) not in done]
    futures = {}
    for label, seed in todo:
        task = dict(common, runner=runner, changes=parts(label) or [], variant=(variants or {}).get(label),
                    seed=int(seed))
        futures[pool.submit(work, _dumps(task))] = (label, seed)
    total = len(done) + len(futures)
    for future in concurrent.futures.as_completed(futures):
        label, seed = futures[future]
        result = dict(future.result(), change=label, seed=int(seed))
        done[_key(label, seed)] = result
        if out is not None:  # on disk before the line that says it is done
            _write(out, TrialReport(list(done.values()), all_labels, seeds, settings), interrupted=True)
        if verbose:
            what = ('not tried: ' + result['not_applicable'] if result.get('not_applicable') else
                    'crashed: ' + result['error'] if result.get('error') else
                    f'{"learns" if result["learns"] else "stuck"}, final loss {result["final_ratio"]:.2f}x the mean '
                    f'target\'s' if result.get('final_ratio') is not None else 'stuck')
            print(f'trial: {len(done)}/{total} runs done ({label or "as it is"}, seed {seed}: {what}); ETA '
                  f'{_eta(started, len(done), total)}', flush=True)


def _write(out, report, interrupted=False):
    """trial.json (every run; what made it), trial.md (the table), trial.png (with matplotlib)."""
    summary = dict(recommended=None if interrupted else report.recommended, complete=not interrupted,
                   settings=report.settings, changes=report.changes, runs=report.runs)
    tmp = out / 'trial.json.tmp'
    tmp.write_text(json.dumps(summary, indent=1, default=float) + '\n')
    tmp.replace(out / 'trial.json')
    if interrupted:
        return
    (out / 'trial.md').write_text(f'# Trial\n\n{report.table()}\n\nRecommended: {report.recommended or "nothing"}.\n'
                                  f'Made by: `{report.settings.get("command", "")}`\n')
    try:
        from aehealth import plot
    except ImportError:
        return
    plot.plot_trial(report, out / 'trial.png')
