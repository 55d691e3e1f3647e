"""Run every case and its fix (or those named), and print what the pre-flight check and the monitor said.

    python cases/run.py                              # every case; writes cases/results.json
    python cases/run.py keras_3642 question          # some of them, printed only
    python cases/run.py --table                      # the README's sentence on the corpus, from cases/results.json
    python cases/run.py --doc > docs/cases.md        # every case in detail, from cases/results.json
    python cases/run.py --save DIR                   # also keep each case's trained model and sample there
"""
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cases import common  # noqa: E402

CASES = ['keras_3642', 'so_52441877', 'mikesj_pr9', 'so_44601367', 'cv_245448', 'libsdae_3', 'cv_269718', 'question',
         'keras_3373', 'tf_39432', 'keras_10753', 'keras_14564', 'control_kerasio_conv', 'control_cv_441750',
         'torch_atomai_85', 'torch_carla_155', 'torch_semisup_9', 'torch_conet_3', 'torch_vae_3', 'torch_beginner_38',
         'torch_sledge_4', 'torch_control_examples_vae', 'torch_control_conv', 'keras_frozen_decoder', 'torch_zero_grad',
         'torch_optimizer_rebuilt', 'torch_item_loss', 'torch_scheduler_gamma0', 'torch_batchnorm_eval',
         'torch_control_accumulation', 'torch_control_frozen_encoder', 'lightning_vae_gamma0', 'lightning_control_vae',
         'jax_keras_3642', 'jax_control_kerasio_conv']
LOOP_CASES = CASES[CASES.index('keras_frozen_decoder'):CASES.index('lightning_vae_gamma0')]  # the loop's own mistakes
PLACES = CASES[CASES.index('lightning_vae_gamma0'):]  # Lightning, Keras on JAX: where autoencoders are trained


def words(findings, level='failure'):
    return ', '.join(common.rules.REGISTRY.words(f['rule']) for f in findings if f['level'] == level) or '-'


def said(findings):
    """The failures, then the warnings in brackets: what a check said, in a table cell."""
    failures, warnings = words(findings), words(findings, 'warning')
    return failures if warnings == '-' else f'{failures} (warnings: {warnings})'.replace('- (warnings', '(warnings')


def numbers(result):
    """How far from failing a run ended: its loss against the mean input's (above the minimum), its output diversity."""
    m = result['metrics']
    b, end = m['baselines'] or {'mean_input': 0.0, 'floor': 0.0}, m['health'][-1]  # None: a loss that is not finite
    gap = b['mean_input'] - b['floor']
    return {'epochs': m['epochs_done'], 'final_loss': m['final_loss'],
            'vs_mean_input': (m['final_loss'] - b['floor']) / gap if gap > 0 else None,
            'output_diversity': end['output_diversity']}


def save(directory, name, result):
    """The trained model (as reported) and its sample, for `python -m aehealth DIR/name.keras DIR/name.npy`."""
    directory.mkdir(parents=True, exist_ok=True)
    result['model'].save(directory / f'{name}.keras')
    import numpy as np
    np.save(directory / f'{name}.npy', result['sample'])
    if result['targets'] is not result['sample']:
        np.save(directory / f'{name}_targets.npy', result['targets'])


def main(names, keep=None):
    results = {}
    t0 = time.perf_counter()
    for name in names:
        case = common.load(name)
        broken = common.run(case, False)
        fixed = common.run(case, True) if case.NAMES else broken  # a control has nothing to fix, nor a case without a fix
        names_cause, clean = common.verdict(case, broken, fixed)
        if keep and getattr(case, 'FRAMEWORK', 'keras') == 'keras' and broken['model'] is not None:
            save(keep, name, broken)
        framework = getattr(case, 'FRAMEWORK', 'keras') + (f' ({case.BACKEND})' if hasattr(case, 'BACKEND') else '')
        results[name] = dict(framework=framework, source=case.SOURCE, cause=case.CAUSE,
                             fix=case.FIX, names=None if case.NAMES is None else list(case.NAMES),
                             preflight=broken['preflight'], findings=broken['findings'],
                             fixed_preflight=fixed['preflight'], fixed_findings=fixed['findings'],
                             names_cause=names_cause, fixed_clean=clean, numbers=dict(as_reported=numbers(broken),
                                                                                       fixed=numbers(fixed)),
                             seconds=round(broken['seconds'] + fixed['seconds'], 1))
        r = results[name]
        print(f'{name}: pre-flight [{words(r["preflight"])}] run [{words(r["findings"])}] warnings '
              f'[{words(r["findings"], "warning")}] | fixed: pre-flight [{words(r["fixed_preflight"])}] run '
              f'[{words(r["fixed_findings"])}] warnings [{words(r["fixed_findings"], "warning")}] | '
              f'names the cause: {names_cause}, fixed clean: {clean} ({r["seconds"]} s) | end of training, as reported '
              f'and fixed: {r["numbers"]}', flush=True)
    print(f'{time.perf_counter() - t0:.0f} s in all')
    return results


def passes(r):
    """The table's verdict: the cause named and the fix clean; for a case with no documented cause, a report that is
    stuck and names a cause or says that none fired."""
    if r['names'] is None:
        return 'n/a: no documented cause' if r['names_cause'] else 'no: not reproduced, or says nothing of why'
    if r['names_cause'] and r['fixed_clean']:
        return 'yes'
    return 'no: ' + '; '.join(w for ok, w in ((r['names_cause'], 'misses the cause'),
                                              (r['fixed_clean'], 'the fix leaves a failure')) if not ok)


def table(results):
    """The README's table: one row per case."""
    rows = ['| case | framework | documented cause | pre-flight said | the run said | fixed version | passes |',
            '|---|---|---|---|---|---|---|']
    for name, r in results.items():
        fixed = 'clean' if r['fixed_clean'] else f'not clean: {words(r["fixed_findings"])}'
        if r['names'] is None:
            fixed = '(no fix was given)'
        elif not r['names']:
            fixed = '(a control: nothing to fix)'
        rows.append(f'| [{name}]({r["source"].split()[0]}) | {r.get("framework", "keras")} | {r["cause"]} | '
                    f'{said(r["preflight"])} | {words(r["findings"])} | {fixed} | {passes(r)} |')
    return '\n'.join(rows)


def by_source(results):
    """The results grouped by the report they come from (a case run again on Lightning or JAX shares its source)."""
    groups = {}
    for r in results:
        groups.setdefault(r['source'].split()[0], []).append(r)
    return list(groups.values())


def summary(results):
    """The README's sentence on the corpus, counted from its results, a report once however many places ran it."""
    reports = by_source(r for r in results.values() if r['names'] != [])
    documented = [group for group in reports if group[0]['names']]
    controls = by_source(r for r in results.values() if r['names'] == [])
    count = {fw: sum(group[0]['framework'].split()[0] in kinds for group in reports)
             for fw, kinds in (('keras', ('keras',)), ('torch', ('torch', 'lightning')))}
    return (f'In a corpus of {len(reports)} real failures ({count["keras"]} Keras, {count["torch"]} PyTorch) it names '
            f'the documented cause in {sum(all(r["names_cause"] for r in group) for group in documented)} of the '
            f'{len(documented)} that have one, reports why the {len(reports) - len(documented)} without one are '
            f'stuck, and finds nothing wrong with {sum(all(r["fixed_clean"] for r in group) for group in controls)} '
            f'of the {len(controls)} controls that learn')


def finding_list(findings):
    return '\n'.join(f'  - {f["level"]}: {f["evidence"]}' for f in findings) or '  - nothing'


def doc(results):
    """docs/cases.md: each case's docstring, and what the checks said as reported and fixed."""
    parts = ['# The corpus: real "my autoencoder does not learn" cases', '',
             'Written by `python cases/run.py --doc` from `cases/results.json` (itself written by `python cases/run.py`, '
             'on the 1400-image MNIST subset committed in `tests/data/`). Each case\'s script is `cases/<name>.py`; '
             '`python cases/<name>.py` runs it and its fix and prints what each check said.', '',
             table(results), '']
    trials_json = HERE / 'trials.json'
    if trials_json.is_file():
        from cases import trials
        parts += ['## Trials', '', trials.INTRO, '', trials.doc(json.loads(trials_json.read_text())), '']
    for name, r in results.items():
        case = common.load(name)
        n = r['numbers']
        parts += [f'## {name}', '', f'Source: {r["source"]}', '', case.__doc__.strip(), '',
                  f'- Symptom reported: {case.SYMPTOM}', f'- Cause given: {r["cause"]}', f'- Fix given: {r["fix"]}',
                  f'- Rules that name that cause: '
                  f'{"none documented" if r["names"] is None else ", ".join(r["names"]) or "none (a control)"}', '',
                  'Pre-flight, as reported:', finding_list(r['preflight']), '',
                  f'After training, as reported ({n["as_reported"]["epochs"]} epochs; loss '
                  f'{fmt(n["as_reported"]["vs_mean_input"])} of the mean input\'s, output diversity '
                  f'{fmt(n["as_reported"]["output_diversity"], False)}):', finding_list(r['findings']), '']
        if r['names'] and r['fix']:
            parts += ['Pre-flight, fixed:', finding_list(r['fixed_preflight']), '',
                      f'After training, fixed (loss {fmt(n["fixed"]["vs_mean_input"])} of the mean input\'s, output '
                      f'diversity {fmt(n["fixed"]["output_diversity"], False)}):', finding_list(r['fixed_findings']), '']
        if getattr(case, 'EXPECTED', (True, True)) not in ((True, True), (True, None)):
            note = [line[2:] for line in open(HERE / f'{name}.py').read().splitlines() if line.startswith('# ')]
            parts += ['**Marked in the table:** ' + ' '.join(note), '']
    return '\n'.join(parts)


def fmt(value, times=True):
    """A ratio to the mean input's loss ('0.91x'), or an output diversity ('0.246')."""
    if value is None:  # inputs all alike, or a loss whose baseline is not above its minimum (targets out of range)
        return 'n/a'
    return f'{value:.2f}x' if times else f'{value:.3f}'


if __name__ == '__main__':
    args = sys.argv[1:]
    if set(args) & {'-h', '--help'}:
        print(__doc__)
        sys.exit(0)
    if args in (['--table'], ['--doc']):
        results = json.loads((HERE / 'results.json').read_text())
        print(summary(results) if args == ['--table'] else doc(results))
        sys.exit(0)
    options = {}
    for option in ('--out', '--save'):
        if option in args:
            options[option] = Path(args[args.index(option) + 1])
            del args[args.index(option):args.index(option) + 2]
    unknown = [a for a in args if a not in CASES]
    if unknown:
        print(f'run.py: no case named {", ".join(unknown)}; the cases: {", ".join(CASES)}', file=sys.stderr)
        sys.exit(2)
    out = options.get('--out', HERE / 'results.json' if not args else None)
    results = main(args or CASES, options.get('--save'))
    if out:
        out.write_text(json.dumps(results, indent=1) + '\n')
