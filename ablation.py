"""Which change makes the question's autoencoder learn: every suspected cause, over seeds, several runs at once.

Each configuration is one autoencoder.py command, run in a worker process of its own into OUT/ablation/<its
flags>/, its output in OUT/ablation/logs/. ablation.json keeps every finished run's numbers (all that
--resume needs, even on another machine), ablation.md the table, ablation.png the figure. A run's last
digits depend on how many threads it uses, so every run uses --threads threads whatever --jobs is: the same
seed gives the same numbers with any --jobs.

    python ablation.py --seeds 3                     # the README's table: every configuration with seeds 0, 1, 2
    python ablation.py --seeds 3 --jobs 2            # two runs at a time: the same numbers, sooner
    python ablation.py --rows 2,3,7 --budget 5       # a quick look: three configurations, at most 5 epochs each
    python ablation.py --resume runs/ablation        # continue a stopped ablation with the settings it recorded
    python visualize.py runs/ablation                # redraw its table and figure
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import data

ROOT = Path(__file__).resolve().parent
# (label, autoencoder.py flags), each run in its own folder. First the question and every suspected cause changed
# alone (the posted loop gets its 501 epochs, i.e. 501 real steps; fixed batching gets 20 epochs, 1400 real steps,
# and the question's 501); then --fix and --fix with one of its parts put back as posted.
CONFIGURATIONS = [
    ('question before its edit', '--no-shuffle'),
    ('question as posted', ''),
    ('accepted answer: 5x5,3x3 kernels', '--kernels 5x5,3x3'),
    ('Xavier init for the encoder convs', '--init xavier'),
    ('tied decoder weights', '--tied'),
    ('learning rate 1e-3', '--lr 1e-3'),
    ('ReLU', '--activation relu'),
    ('ReLU but a sigmoid code', '--activation relu --code-activation sigmoid'),
    ('fixed batching, 20 epochs', '--batching fixed --epochs 20'),
    ('fixed batching, 501 epochs', '--batching fixed'),
    ('--fix', '--fix'),
    ('--fix but sigmoid', '--fix --activation sigmoid'),
    ('--fix but 2x2 kernels', '--fix --kernels 2x2'),
    ('--fix but lr 1e-4', '--fix --lr 1e-4'),
    ('--fix but the posted batching, 501 epochs', '--fix --batching buggy --epochs 501'),
]
FORMAT = 2  # the layout of ablation.json; rows of another layout are not reused by --resume
# What every run of the ablation uses, recorded in ablation.json (autoencoder.py's defaults).
FIXED = dict(subset=None, n_h1=128, n_h2=64, eval_every=100, eval_chunk=2000)
PROGRESS_EVERY = 60  # seconds between status lines while runs are going


def parse_rows(text):
    """'2,3,7' or '1-5,9' -> sorted row numbers of CONFIGURATIONS."""
    rows = set()
    for part in text.split(','):
        lo, _, hi = part.strip().partition('-')
        if not (lo.isdigit() and (hi.isdigit() or not hi)):
            raise argparse.ArgumentTypeError(f'{part!r} is not a row number or a range like 3-5')
        rows.update(range(int(lo), int(hi or lo) + 1))
    bad = [r for r in rows if not 1 <= r <= len(CONFIGURATIONS)]
    if bad or not rows:
        raise argparse.ArgumentTypeError(f'{text!r}: rows are 1..{len(CONFIGURATIONS)} (python ablation.py --help '
                                         f'lists them)')
    return sorted(rows)


def make_parser():
    """The command line (no TensorFlow needed)."""
    rows = '\n'.join(f'  {k:>2}  {label}: {flags or "no flags"}' for k, (label, flags) in enumerate(CONFIGURATIONS, 1))
    p = data.OneLineErrors(
        prog='ablation.py', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Run the configurations of the question\'s ablation (the question, each suspected cause alone,\n'
                    '--fix with each part put back) with several seeds, and tabulate what makes it learn.',
        epilog=f'configurations (--rows):\n{rows}\n\nexamples:\n' + '\n'.join(
            line for line in __doc__.splitlines() if line.startswith('    python')))
    data.add_data_arguments(p, subset=False)
    p.add_argument('--seeds', metavar='N', type=data.POSITIVE_INT, default=None,
                   help='run every configuration with seeds SEED..SEED+N-1 (default: 1; with --resume: as recorded)')
    p.add_argument('--seed', type=int, default=None, help='the first seed (default: 0)')
    p.add_argument('--rows', type=parse_rows, default=None,
                   help='only these configurations, e.g. 2,3,7 or 1-5 (default: all of them)')
    p.add_argument('--budget', metavar='N', type=data.POSITIVE_INT, default=None,
                   help='cap every configuration at N epochs, a quick smoke run (default: no cap)')
    p.add_argument('--jobs', metavar='N', type=data.POSITIVE_INT, default=1,
                   help='runs at a time, each in its own process; up to the cores / --threads (default: %(default)s)')
    p.add_argument('--threads', metavar='N', type=data.POSITIVE_INT, default=None,
                   help='CPU threads of each run; a run\'s last digits depend on it, so it stays the same whatever '
                        '--jobs is (default: 1; with --resume: as recorded)')
    p.add_argument('--resume', metavar='FOLDER', default=None,
                   help='continue the ablation in FOLDER (one holding its ablation.json) with the settings it '
                        'recorded: finished runs are kept, the rest run')
    p.add_argument('--out', default='runs',
                   help='the ablation writes a new folder "ablation" here (default: %(default)s)')
    p.add_argument('--no-figures', dest='figures', action='store_false',
                   help='skip each run\'s seven PNGs; the table and ablation.png are still drawn (default: draw them)')
    return p


if __name__ == '__main__':
    make_parser().parse_args()  # a mistyped flag is answered now, before TensorFlow loads

import autoencoder as ae  # noqa: E402  (TensorFlow: to resolve each configuration as autoencoder.py does)
import diagnostics  # noqa: E402
import visualize  # noqa: E402


class UsageError(Exception):
    """A problem with the command line or an ablation folder, in one line."""


def describe_data(summary):
    """The data an ablation was made from, in words a user can match to a file."""
    settings = summary.get('settings') or {}
    where = f', last read from {summary["data_path"]}' if summary.get('data_path') else ''
    return (f'{summary.get("data", "?")}, {summary.get("n_images", "?")} images, content sha256 '
            f'{str(settings.get("data_sha256", "?"))[:16]}...{where}')


def read_summary(root):
    """ablation.json of an ablation folder, checked to have the shape an ablation writes."""
    try:
        summary = json.loads((root / 'ablation.json').read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f'--resume {root}: no readable ablation.json there ({e}); pass the folder an ablation printed '
                         f'after "ablation folder:"') from None
    problem = None
    if not isinstance(summary, dict):
        problem = f'it holds a {type(summary).__name__}, not an object'
    elif not isinstance(summary.get('settings'), dict):
        problem = '"settings" is missing or not an object'
    elif not isinstance(summary.get('rows'), list) or not all(
            isinstance(r, dict) and isinstance(r.get('label'), str) and isinstance(r.get('seed'), int)
            for r in summary['rows']):
        problem = '"rows" is missing or not a list of runs with a label and a seed'
    elif summary['settings'].get('format') != FORMAT:
        problem = f'its format is {summary["settings"].get("format")!r}, this program writes {FORMAT}'
    if problem:
        raise UsageError(f'--resume {root}: its ablation.json is not one this program wrote ({problem}); pass a folder '
                         f'an ablation made, or start a new one without --resume')
    return summary


def recorded_settings(summary):
    """The settings an ablation ran with, those added since it was written filled in as they were then."""
    settings = dict(summary['settings'])
    settings.setdefault('threads', summary.get('cores'))  # before --threads, every run used every core
    return settings


def plan_settings(args, summary=None):
    """This command's settings: from the flags, or with --resume from ablation.json (flags given must agree)."""
    given = dict(order=args.order if args.order != 'label' else None, first_seed=args.seed, budget=args.budget,
                 threads=args.threads)
    if summary is None:
        return dict(format=FORMAT, order=args.order, first_seed=args.seed or 0, budget=args.budget,
                    threads=args.threads or 1, **FIXED)
    settings = recorded_settings(summary)
    differ = [k for k, v in given.items() if v is not None and v != settings.get(k)]
    if differ:
        flag = {'order': '--order', 'first_seed': '--seed', 'budget': '--budget', 'threads': '--threads'}
        was = ', '.join(f'{flag[k]} {settings.get(k)} (given: {given[k]})' for k in differ)
        drop = ', '.join(flag[k] for k in differ)
        raise UsageError(f'--resume {args.resume}: that ablation ran with {was}; drop {drop} (a resumed ablation keeps '
                         f'its settings) or start a new one without --resume')
    return settings


def resume_data_path(args, summary):
    """Where to read the data of a resumed ablation: --data, else $MNIST_PATH, else where it was read before."""
    if args.data or os.environ.get(data.ENV_VAR):
        return args.data
    recorded = summary.get('data_path')
    return recorded if recorded and Path(recorded).exists() else None


def run_argv(flags, seed, settings, mnist, figures):
    """The autoencoder.py command line of one run of the ablation, and the configuration it resolves to."""
    argv = flags.split() + [f'--seed={seed}', f'--threads={settings["threads"]}', f'--order={settings["order"]}',
                            f'--data={mnist.path}'] + ['--no-verify'] * (mnist.content == 'unverified')
    argv += [] if figures else ['--no-figures']
    cfg = ae.resolve(ae.make_parser().parse_args(argv))
    if settings['budget'] is not None and cfg['epochs'] > settings['budget']:
        argv.append(f'--epochs={settings["budget"]}')
        cfg = ae.resolve(ae.make_parser().parse_args(argv))
    return argv, cfg


def planned(args, settings, seeds, mnist, rows):
    """{label, seed, argv, cfg, name, shown flags} of every run of `rows` (CONFIGURATIONS' numbers), in table order."""
    out, names = [], set()
    for seed in seeds:  # seed by seed, so that a stopped ablation already holds whole passes over the configurations
        for k in range(1, len(CONFIGURATIONS) + 1):
            label, flags = CONFIGURATIONS[k - 1]
            argv, cfg = run_argv(flags, seed, settings, mnist, args.figures)
            name = next(n for n in (cfg['name'] if j == 1 else f'{cfg["name"]}-{j}' for j in range(1, 99))
                        if n not in names)  # --budget can give two configurations the same flags
            names.add(name)
            if k in rows:
                out.append(dict(label=label, seed=seed, argv=argv + [f'--name={name}'], cfg=cfg, name=name,
                                shown=ae.flags_text(dict(cfg, seed=0))))
    return out


def ablation_row(metrics, run, machine):
    """What ablation.json keeps of a run: its metrics without the per-evaluation health history, and where it ran."""
    row = {k: v for k, v in metrics.items() if k != 'health'}
    row.update(health_end=metrics['health'][-1] if metrics.get('health') else None, label=run['label'],
               flags=run['shown'], seed=run['seed'], run=run['name'], machine=machine)
    return row


def finished(row):
    """A row with a result: a final loss, or a divergence (which is a result too)."""
    return 'final_loss' in row or bool(row.get('diverged'))


def estimate(run, rows, n):
    """Seconds this run should take, from the measured runs: the same configuration, else per-step rates."""
    same = [r['total_seconds'] for r in rows if r['label'] == run['label'] and 'total_seconds' in r]
    if same:
        return sum(same) / len(same)
    timed = [r for r in rows if 'total_seconds' in r and r.get('timing')]
    if not timed:
        return None
    real = sum(r['timing']['real_steps'] for r in timed) / max(1, sum(r['real_steps'] for r in timed))
    empty = sum(r['timing']['empty_steps'] for r in timed) / max(1, sum(r['empty_steps'] for r in timed))
    rest = sorted(r['total_seconds'] - r['timing']['real_steps'] - r['timing']['empty_steps'] for r in timed)
    cfg = run['cfg']
    sizes = [max(0, min(hi, n) - lo) for lo, hi in ae.batch_bounds(n, cfg['batch_size'], cfg['batching'])]
    steps = sum(s > 0 for s in sizes), sum(s == 0 for s in sizes)
    return cfg['epochs'] * (steps[0] * real + steps[1] * empty) + rest[len(rest) // 2]


def eta(running, queue, rows, n, jobs):
    """Seconds until every run is done, scheduling the queue onto the free workers in order; None if unknown."""
    slots = []
    for run in running:
        guess = estimate(run, rows, n)
        if guess is None:
            return None
        slots.append(max(guess - (time.time() - run['started']), 0.0))
    slots += [0.0] * (jobs - len(slots))
    for run in queue:
        guess = estimate(run, rows, n)
        if guess is None:
            return None
        slots.sort()
        slots[0] += guess
    return max(slots) if slots else 0.0


def last_progress(log):
    """The last progress line a run printed ('epoch  120/501 ...'), shortened, or ''."""
    try:
        with open(log, 'rb') as f:
            f.seek(max(0, f.seek(0, 2) - 4000))
            lines = f.read().decode(errors='replace').splitlines()
    except OSError:
        return ''
    line = next((line for line in reversed(lines) if line.startswith('epoch ')), '')
    return ' '.join(line.split('|')[0].split()[1:]) if line else ''


def start(run, root):
    """Launch one run's autoencoder.py in its own process, its output to its log."""
    stale = root / run['name']
    if stale.exists():  # left by a run that was interrupted or killed: it runs again from the start
        shutil.rmtree(stale)
        print(f'removed {stale}, left unfinished by an earlier attempt; it runs again', flush=True)
    run['log'] = root / 'logs' / f'{run["name"]}.log'
    run['log'].parent.mkdir(exist_ok=True)
    with open(run['log'], 'wb') as log:
        run['proc'] = subprocess.Popen([sys.executable, str(ROOT / 'autoencoder.py'), *run['argv'], f'--out={root}'],
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    run['started'] = time.time()


def outcome_words(row, baseline):
    """One run's result in a few words, for the progress line."""
    if row.get('diverged'):
        return f'diverged ({row["diverged"]})'
    symptoms = [diagnostics.RULES.words(f['rule']) for f in row.get('findings') or [] if f['level'] == 'failure']
    return (f'final loss {row["final_loss"]:.4f} ({row["final_loss"] / baseline:.2f}x the mean image), '
            f'{"collapsed" if row["collapsed"] else "not collapsed"}; '
            + (f'failure symptoms: {", ".join(symptoms)}' if symptoms else 'no failure symptom'))


def resume_command(root, jobs):
    """The command that continues this ablation."""
    return f'python ablation.py --resume {root}' + (f' --jobs {jobs}' if jobs > 1 else '')


def run_all(args, root, summary, plan):
    """Run the plan, `args.jobs` at a time; write ablation.json and the table as runs finish. Returns the status."""
    rows, failed = summary['rows'], []
    n = summary['n_images']
    queue, running = list(plan), []
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    t0 = last_status = time.time()
    total, done = len(plan), 0
    cores = os.cpu_count() or 1
    if args.jobs * summary['settings']['threads'] > cores:
        print(f'note: {args.jobs} jobs x {summary["settings"]["threads"]} threads is more than the {cores} cores here; '
              f'runs will share them', flush=True)
    try:
        while queue or running:
            while queue and len(running) < args.jobs and not pressed:
                run = queue.pop(0)
                start(run, root)
                running.append(run)
                print(f'[{done}/{total}] started {run["label"]}, seed {run["seed"]} ({run["shown"]}); '
                      f'log: {run["log"]}', flush=True)
            if pressed and not any(r.get('stopping') for r in running):
                for r in running:  # Ctrl-C reached this process; make sure it reaches every worker too
                    r['stopping'] = True
                    r['proc'].send_signal(signal.SIGINT)
                queue.clear()
            time.sleep(0.5)
            for run in [r for r in running if r['proc'].poll() is not None]:
                running.remove(run)
                status = run['proc'].returncode
                try:
                    metrics = json.loads((root / run['name'] / 'metrics.json').read_text())
                    machine = json.loads((root / run['name'] / 'config.json').read_text())['machine']
                except (OSError, ValueError, KeyError):
                    metrics, machine = {}, None
                if status in (0, 3) and (metrics.get('final_loss') is not None or metrics.get('diverged')):
                    row = ablation_row(metrics, run, machine)
                    rows.append(row)
                    order = [label for label, _ in CONFIGURATIONS]
                    rows.sort(key=lambda r: (r['seed'], order.index(r['label']) if r['label'] in order else len(order)))
                    summary['seconds'] = sum(r.get('total_seconds', r['seconds']) for r in rows)
                    ae.write_json(root / 'ablation.json', summary)
                    (root / 'ablation.md').write_text(visualize.ablation_table(summary))  # the figure: at the end
                    done += 1
                    left = eta(running, queue, rows, n, args.jobs)
                    print(f'[{done}/{total}] done {run["label"]}, seed {run["seed"]}: '
                          f'{outcome_words(row, summary["baselines"]["mean_image"])} '
                          f'| {visualize.fmt_time(time.time() - t0)} elapsed, ETA '
                          f'{"?" if left is None else visualize.fmt_time(left)}', flush=True)
                elif not pressed:
                    how = f'killed by signal {-status}' if status < 0 else f'exit status {status}'
                    failed.append(f'{run["label"]}, seed {run["seed"]} ({how}; its output: {run["log"]})')
                    print(f'[{done}/{total}] FAILED {failed[-1]}; the others go on', file=sys.stderr, flush=True)
            if running and time.time() - last_status > PROGRESS_EVERY:
                left = eta(running, queue, rows, n, args.jobs)
                now = '; '.join(f'{r["label"]}, seed {r["seed"]}: {last_progress(r["log"]) or "starting"}'
                                for r in running)
                print(f'[{done}/{total}] running {now} | {visualize.fmt_time(time.time() - t0)} elapsed, ETA '
                      f'{"?" if left is None else visualize.fmt_time(left)}', flush=True)
                last_status = time.time()
    finally:
        signal.signal(signal.SIGINT, previous)
        for r in running:  # only if this loop itself failed: leave no worker behind
            r['proc'].kill()
    visualize.draw_ablation(root)
    kept = f'{len(rows)} finished runs kept in {root / "ablation.json"}'
    if pressed:
        print(f'ablation interrupted; {kept}; continue with: {resume_command(root, args.jobs)}', file=sys.stderr)
        return 130
    if failed:
        print(f'ablation done except {len(failed)} failed run(s): {"; ".join(failed)}; {kept}; run them again with: '
              f'{resume_command(root, args.jobs)}', file=sys.stderr)
        return 1
    print(f'\nablation done ({visualize.fmt_time(time.time() - t0)} this time, '
          f'{visualize.fmt_time(summary["seconds"])} over all its runs): {root / "ablation.md"}, '
          f'{root / "ablation.png"}')
    return 0


def ablate(args):
    """Plan the ablation (new, or resumed from its folder), then run it."""
    summary = None
    data_path = args.data
    if args.resume:
        root = Path(args.resume)
        summary = read_summary(root)
        data_path = resume_data_path(args, summary)
    settings = plan_settings(args, summary)
    mnist = data.load_mnist(data_path, order=settings['order'], verify=args.verify)
    if summary is not None and settings.get('data_sha256') != mnist.sha256:
        raise UsageError(f'--resume {root}: that ablation was made from other data ({describe_data(summary)}), not '
                         f'{mnist.source}; pass --data with that file')
    settings['data_sha256'] = mnist.sha256
    if summary is None:
        try:
            root = ae.new_run_dir(args.out, 'ablation')
        except OSError as e:
            raise UsageError(f'--out {args.out}: cannot create a folder there ({e.strerror}); pass a writable folder') \
                from None
        rows = []
    else:
        labels = [label for label, _ in CONFIGURATIONS]
        rows = [r for r in summary['rows'] if finished(r) and r['label'] in labels]
    first = settings['first_seed']
    n_seeds = args.seeds or (len(summary['seeds']) if summary and summary.get('seeds') else 1)
    seeds = list(range(first, first + n_seeds))
    if summary is not None:  # a resumed ablation may run more seeds than before, never forget the ones it has
        seeds = sorted(set(seeds) | {r['seed'] for r in rows})
    # the configurations to run: --rows, else those a resumed ablation ran, else all
    chosen = args.rows or (summary or {}).get('chosen') or list(range(1, len(CONFIGURATIONS) + 1))
    summary = dict(command=' '.join(['python', 'ablation.py', *sys.argv[1:]]), settings=settings, data=mnist.content,
                   data_path=mnist.path, n_images=len(mnist.y), n_train=mnist.n_train, cores=os.cpu_count(),
                   machine=data.machine(), budget=settings['budget'], seeds=seeds, chosen=chosen,
                   configurations=[label for label, _ in CONFIGURATIONS], baselines=diagnostics.baselines(mnist.x),
                   rows=rows, seconds=sum(r.get('total_seconds', r['seconds']) for r in rows))
    done = {(r['label'], r['seed']) for r in rows}
    plan = [run for run in planned(args, settings, seeds, mnist, chosen) if (run['label'], run['seed']) not in done]
    print(f'ablation folder: {root}' + (f' (resumed: {len(rows)} finished runs kept)' if args.resume else '')
          + f'; {len(plan)} runs to do, {args.jobs} at a time, {settings["threads"]} thread(s) each', flush=True)
    ae.write_json(root / 'ablation.json', summary)
    visualize.draw_ablation(root)
    return run_all(args, root, summary, plan)


def main(argv=None):
    """Parse flags and run the ablation; returns the exit status."""
    args = make_parser().parse_args(argv)
    try:
        return ablate(args)
    except (data.DataError, UsageError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while loading or planning: nothing started, nothing to keep
        print('interrupted before any run started', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
