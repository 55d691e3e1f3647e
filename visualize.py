"""The question's pictures, and more, drawn from a finished run folder (no TensorFlow needed).

    python visualize.py runs/question                       # redraw every figure of one run, in its folder
    python visualize.py runs/question runs/fix --out figures/before_after.png   # a side-by-side sheet, key numbers
    python visualize.py runs/ablation                       # an ablation's table and figure

A run folder holds config.json, metrics.json and arrays.npz (written by autoencoder.py); each plotting
function below takes plain arrays and saves one PNG.
"""
import json
import sys
from pathlib import Path

import data


def make_parser():
    """The command line."""
    p = data.OneLineErrors(prog='visualize.py',
                           description='Redraw the figures of finished autoencoder runs from their folders '
                                       '(config.json, metrics.json, arrays.npz); no training, no TensorFlow.')
    p.add_argument('runs', nargs='+', metavar='RUN_DIR',
                   help='run folders written by autoencoder.py; an ablation folder redraws ablation.md and .png')
    p.add_argument('--out', default='comparison.png',
                   help='where to save the side-by-side sheet when two or more runs are given (default: %(default)s)')
    return p


if __name__ == '__main__':
    make_parser().parse_args()  # a mistyped flag is answered now, before matplotlib loads

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import diagnostics  # noqa: E402
from aehealth.plot import plot_health  # noqa: E402

DPI = 100
FIGURES = ('reconstructions', 'activations', 'codes', 'loss', 'filters', 'pca', 'health')


class RunError(Exception):
    """A folder that is not a finished run."""


def mosaic(images, ncols, pad=1, fill=np.nan):
    """Tile equal-size 2-D images into one array, ncols per row, separated by `pad` cells of `fill`."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill, np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = im
    return out


def _maps(a):
    """(h, w, c) feature maps -> (c, h, w) images."""
    return np.moveaxis(np.asarray(a), -1, 0)


def _save(fig, path):
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _show(ax, image, title=None, cmap='gray', vmin=None, vmax=None, aspect='equal'):
    cm = plt.get_cmap(cmap).with_extremes(bad='white')  # the gaps between mosaic tiles are NaN
    im = ax.imshow(image, cmap=cm, vmin=vmin, vmax=vmax, interpolation='nearest', aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return im


def plot_reconstructions(x, out, y, title, path):
    """Inputs over their outputs, ten per row pair (autoencoder.py orders them one of each digit, then again)."""
    x, out = np.asarray(x).reshape(-1, 28, 28), np.asarray(out).reshape(-1, 28, 28)
    tiles = []
    for start in range(0, len(x), 10):
        tiles += [*x[start:start + 10], *np.zeros((10 - len(x[start:start + 10]), 28, 28)) * np.nan,
                  *out[start:start + 10], *np.zeros((10 - len(out[start:start + 10]), 28, 28)) * np.nan]
    rows = len(tiles) // 10
    fig, ax = plt.subplots(figsize=(7, 0.7 * rows + 1.0), layout="constrained")
    _show(ax, mosaic(tiles, 10, pad=2), vmin=0, vmax=1)
    ax.set_xlabel(f'{len(x)} inputs (rows 1, 3, ...) over their outputs (rows 2, 4, ...); '
                  f'digits {" ".join(str(int(d)) for d in np.asarray(y)[:10])}', fontsize=9)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_activations(layers, title, path):
    """One input's path through the network: the layers in `layers` (name -> array), as in the question."""
    fig = plt.figure(figsize=(11, 8), layout='constrained')
    grid = fig.add_gridspec(4, 2, height_ratios=[1.3, 1.1, 0.9, 0.35])
    enc = [('input', layers['input'], 1), ('conv1 (y2): 16 maps', _maps(layers['y2']), 4),
           ('conv2 (y4): 32 maps', _maps(layers['y4']), 8)]
    dec = [('output (u7)', np.asarray(layers['u7']).reshape(28, 28), 1),
           ('deconv1 (u5): 16 maps', _maps(layers['u5']), 4), ('fc2 of decoder (u3): 32 maps', _maps(layers['u3']), 8)]
    for col, column in enumerate((enc, dec)):
        for row, (name, a, ncols) in enumerate(column):
            ax = fig.add_subplot(grid[row, col])
            a = np.asarray(a)
            _show(ax, a if a.ndim == 2 else mosaic(a, ncols), name, cmap='gray' if a.ndim == 2 else 'viridis')
    for col, names in enumerate((('y6', 'encode'), ('u1',))):
        sub = grid[3, col].subgridspec(len(names), 1)
        for k, name in enumerate(names):
            ax = fig.add_subplot(sub[k])
            label = {'y6': 'fc1 (y6)', 'encode': 'code (encode)', 'u1': 'decoder fc1 (u1)'}[name]
            _show(ax, np.asarray(layers[name])[None, :], None, cmap='viridis', aspect='auto')
            ax.set_ylabel(label, rotation=0, ha='right', va='center', fontsize=8)
    fig.suptitle(title + '\nencoder on the left, decoder on the right (colour scale per panel)', fontsize=9)
    return _save(fig, path)


def _digit_ticks(ax, y):
    y = np.asarray(y)
    starts = np.flatnonzero(np.r_[True, y[1:] != y[:-1]])
    ends = np.r_[starts[1:], len(y)]
    ax.set_yticks((starts + ends - 1) / 2)
    ax.set_yticklabels([str(int(y[s])) for s in starts], fontsize=8)
    for s in starts[1:]:
        ax.axhline(s - 0.5, color='white', lw=0.6)
    ax.set_ylabel('input (grouped by digit)', fontsize=9)


def plot_codes(fc1, code, y, title, path):
    """fc1 and code activations, one row per input, grouped by digit (identical rows = collapse); one colour scale."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), gridspec_kw=dict(width_ratios=[2, 1]), layout='constrained')
    low = float(min(np.min(fc1), np.min(code)))
    high = max(float(max(np.max(fc1), np.max(code))), low + 1e-6)
    for ax, a, name in ((axes[0], fc1, 'fc1 (y6)'), (axes[1], code, 'code (encode)')):
        im = ax.imshow(a, cmap='viridis', interpolation='nearest', aspect='auto', vmin=low, vmax=high)
        ax.set_title(f'{name}: {a.shape[0]} inputs x {a.shape[1]} units', fontsize=9)
        ax.set_xlabel('unit', fontsize=9)
        _digit_ticks(ax, y)
    fig.colorbar(im, ax=axes, fraction=0.04, label='activation (both panels)')
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_loss(history, baselines, title, path, ax=None, batch=None):
    """Loss over all data against epochs, the loss of each batch trained on, and the two baselines."""
    history = np.asarray(history, dtype=float).reshape(-1, 2)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 4.2), layout='constrained')
    if batch is not None and len(batch):
        batch = np.asarray(batch, dtype=float)
        ax.plot(batch[:, 0], batch[:, 1], color='C1', lw=0.6, alpha=0.7, label='loss of each batch trained on')
    # markers only: a line between evaluations far apart would invent a trajectory
    ax.plot(history[:, 0], history[:, 1], 'o', color='C0', label='loss over all data')
    for (name, value), style in zip(sorted(baselines.items()), ('--', ':')):
        ax.axhline(value, color='gray', ls=style, label=f'{name.replace("_", " ")} baseline {value:.4f}')
    ax.set_xlabel('epoch', fontsize=9)
    ax.set_ylabel('mean squared error per pixel', fontsize=9)
    ax.set_ylim(0, max(0.12, float(np.nanmax(history[:, 1])) * 1.05) if len(history) else 0.12)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if own:
        ax.set_title(title, fontsize=9)
        return _save(fig, path)


def plot_filters(filters, title, path):
    """The learned conv1 filters, one small image each."""
    maps = np.moveaxis(np.asarray(filters)[:, :, 0, :], -1, 0)
    fig, axes = plt.subplots(2, 8, figsize=(8, 3.4), layout='constrained')
    lim = float(np.abs(maps).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        im = _show(ax, maps[k], f'filter {k}', cmap='RdBu_r', vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes, fraction=0.02)
    fig.suptitle(title + f'\nconv1 filters ({maps.shape[1]}x{maps.shape[2]}), shared colour scale', fontsize=9)
    return _save(fig, path)


def plot_pca(codes, y, title, path):
    """Codes projected to 2-D with PCA, coloured by digit; axes span the code's own scale, so collapse is a dot."""
    from sklearn.decomposition import PCA
    codes = np.asarray(codes, dtype=np.float64)
    xy = PCA(2).fit_transform(codes) if len(codes) > 2 else np.zeros((len(codes), 2))
    scale = float(np.sqrt(np.mean(np.square(codes)))) or 1.0
    fig, ax = plt.subplots(figsize=(6, 5.5), layout='constrained')
    for d in range(10):
        pts = xy[np.asarray(y) == d]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, color=plt.get_cmap('tab10')(d), label=str(d), alpha=0.6)
    lim = max(scale, float(np.abs(xy).max()) if len(xy) else 0) * 1.05
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect('equal')
    ax.set_xlabel('principal component 1', fontsize=9)
    ax.set_ylabel('principal component 2', fontsize=9)
    ax.legend(title='digit', fontsize=8, markerscale=3, loc='upper right')
    ax.set_title(title + f'\n{len(codes)} codes; axes span at least the code scale ({scale:.2g})', fontsize=9)
    return _save(fig, path)


def load_run(run_dir):
    """config, metrics and figure arrays of a finished run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / 'config.json').is_file():
        raise RunError(f'{run_dir}: not a run folder (no config.json); pass a folder made by autoencoder.py, '
                       f'or an ablation folder (with ablation.json)')
    redraw = f'python autoencoder.py --redraw {run_dir}'
    has_checkpoint = (run_dir / 'checkpoint' / 'model.index').is_file()
    try:
        config = json.loads((run_dir / 'config.json').read_text())
        metrics = json.loads((run_dir / 'metrics.json').read_text())
        with np.load(run_dir / 'arrays.npz', allow_pickle=False) as f:
            arrays = dict(f)
        if 'final_loss' not in metrics:
            raise ValueError('it has no final results')
    except (OSError, ValueError) as e:
        fix = f'{redraw} computes what is missing from its checkpoint' if has_checkpoint else \
            'it saved no checkpoint (stopped before training), so run it again'
        raise RunError(f'{run_dir}: not a finished run ({e}); {fix}') from None
    return dict(dir=run_dir, config=config, metrics=metrics, arrays=arrays)


def run_title(run):
    """The run's name and flags over its key numbers."""
    m, c = run['metrics'], run['config']
    probe = '' if m.get('probe_accuracy') is None else f' | probe acc {m["probe_accuracy"]:.2f}'
    images = f' | {c["n_images"]} images' if c.get('n_images') else ''
    return (f'{run["dir"].name}: {c["flags"]}\nfinal loss {m["final_loss"]:.4f} | code spread {m["code_spread"]:.2g}'
            f' ({"collapsed" if m["collapsed"] else "not collapsed"}){probe} | {m["epochs_done"]} epochs{images}')


def draw_run(run_dir):
    """Every figure of one run, saved in its folder; returns the paths."""
    run = load_run(run_dir)
    a, title, d = run['arrays'], run_title(run), run['dir']
    layers = {k[len('path_'):]: a[k] for k in a if k.startswith('path_') and k != 'path_y'}
    layers['input'] = layers.pop('x')
    return [plot_reconstructions(a['recon_x'], a['recon_out'], a['recon_y'], title, d / 'reconstructions.png'),
            plot_activations(layers, title + f' | input: a {int(a["path_y"])}', d / 'activations.png'),
            plot_codes(a['rows_fc1'], a['rows_code'], a['rows_y'], title, d / 'codes.png'),
            plot_loss(run['metrics']['loss_history'], run['metrics']['baselines'], title, d / 'loss.png',
                      batch=a.get('batch_loss')),
            plot_filters(a['conv1_filters'], title, d / 'filters.png'),
            plot_pca(a['codes'], a['codes_y'], title, d / 'pca.png')] + (
        # a run made before the health monitor has no health numbers; --redraw adds those of its end
        [plot_health(diagnostics.with_network(run['metrics']), title, d / 'health.png', epoch_loss=a.get('epoch_loss'),
                     epoch_baseline=run['metrics'].get('epoch_sample_baseline'), epoch_sample='200-image sample',
                     words=diagnostics.RULES.words)]
        if run['metrics'].get('health') else [])


def plot_comparison(runs, path):
    """Runs side by side, one column each: reconstructions, code rows (one colour scale for all), loss curve."""
    fig, axes = plt.subplots(3, len(runs), figsize=(5 * len(runs), 11), layout='constrained',
                             gridspec_kw=dict(height_ratios=[1.1, 1.4, 1]), squeeze=False)
    top = max(max(h[1] for h in r['metrics']['loss_history']) for r in runs)
    # one colour scale for every run: each run's code over its own largest value (a sigmoid code spans 0..1, a ReLU
    # code 0..hundreds: on raw values the sigmoid runs' stripes would vanish)
    scaled = [r['arrays']['rows_code'] / max(float(np.max(np.abs(r['arrays']['rows_code']))), 1e-12) for r in runs]
    low = min(0.0, min(float(np.min(c)) for c in scaled))
    sizes = sorted({r['config'].get('n_images') for r in runs if r['config'].get('n_images')})
    if len(sizes) > 1:  # a run on a subset next to one on all of MNIST: say so, the numbers are not comparable as is
        fig.suptitle(f'These runs trained on different data: {" and ".join(map(str, sizes))} images', fontsize=10,
                     color='C3')
    for col, run in enumerate(runs):
        a, m = run['arrays'], run['metrics']
        tiles = [*a['recon_x'][:10].reshape(-1, 28, 28), *a['recon_out'][:10].reshape(-1, 28, 28)]  # one per digit
        _show(axes[0, col], mosaic(tiles, 5, pad=2), 'inputs (rows 1-2) over outputs (rows 3-4)', vmin=0, vmax=1)
        head, numbers = run_title(run).split('\n')
        parts = numbers.split(' | ')  # final loss, code spread, [probe,] epochs, images: three short lines
        axes[0, col].set_title('\n'.join([head, ' | '.join([parts[0]] + parts[-2:]), ' | '.join(parts[1:-2])]),
                               fontsize=9)
        im = axes[1, col].imshow(scaled[col], cmap='viridis', interpolation='nearest', aspect='auto', vmin=low, vmax=1)
        axes[1, col].set_title(f'code layer: one row per input (value / largest, {np.max(a["rows_code"]):.3g})',
                               fontsize=9)
        axes[1, col].set_xlabel('code unit', fontsize=9)
        _digit_ticks(axes[1, col], a['rows_y'])
        plot_loss(m['loss_history'], m['baselines'], None, None, ax=axes[2, col], batch=a.get('batch_loss'))
        axes[2, col].set_ylim(0, max(0.12, top * 1.05))
    fig.colorbar(im, ax=axes[1, :], fraction=0.02, label='code value / the run\'s largest (every run)')
    return _save(fig, path)


def plot_ablation(labels, losses, probes, probes_init, collapsed, baselines, title, path):
    """Final loss and probe accuracy per configuration: a bar at the median over seeds, a dot for each seed.

    Every argument but `labels`, `baselines`, `title` and `path` holds one list per configuration (one value per
    seed); a bar is red when most of its seeds collapsed.
    """
    n = len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.6 + 0.42 * n), sharey=True, layout='constrained')
    pos = np.arange(n)[::-1]
    red, blue = '#d62728', '#1f77b4'
    colors = [red if 2 * sum(c) > len(c) else blue for c in collapsed]

    def values(rows):
        return [np.array([np.nan if v is None else v for v in row], dtype=float) for row in rows]

    losses, probes, init = values(losses), values(probes), values(probes_init)
    for ax, rows in ((axes[0], losses), (axes[1], probes)):
        medians = [np.nanmedian(r) if np.any(np.isfinite(r)) else np.nan for r in rows]
        ax.barh(pos, np.nan_to_num(medians), color=colors, alpha=0.75)
        for p, r, m in zip(pos, rows, medians):
            ax.plot(r, np.full(len(r), p), 'o', color='black', ms=3.5, zorder=3)
            text = 'n/a' if np.isnan(m) else (f'{m:.4f}' if ax is axes[0] else f'{m:.3f}')
            ax.text(0 if np.isnan(m) else np.nanmax(r), p, f'  {text}', va='center', fontsize=8)
    for (name, value), style in zip(sorted(baselines.items()), ('--', ':')):
        axes[0].axvline(value, color='gray', ls=style, label=f'{name.replace("_", " ")} baseline {value:.4f}')
    top = max([np.nanmax(r) for r in losses if np.any(np.isfinite(r))] + list(baselines.values()))
    axes[0].set_xlim(0, top * 1.3)
    axes[0].set_xlabel('final loss (MSE per pixel, lower is better)', fontsize=9)
    axes[0].set_yticks(pos)
    axes[0].set_yticklabels(labels, fontsize=9)
    for p, r in zip(pos, init):
        axes[1].plot(r, np.full(len(r), p), '|', color='black', ms=12, mew=1.5)
    axes[1].plot([], [], 'k|', ms=12, mew=1.5, label='same probe, untrained network')
    axes[1].axvline(0.1, color='gray', ls=':', label='chance 0.10')
    axes[1].set_xlim(0, 1.15)
    axes[1].set_xlabel('linear-probe accuracy on the codes (higher is better)', fontsize=9)
    for ax in axes:
        ax.grid(axis='x', alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=red), plt.Rectangle((0, 0), 1, 1, color=blue),
               plt.Line2D([], [], ls='', marker='o', color='black', ms=3.5)]
    names = ['collapsed code (most seeds)', 'code varies with the input', 'one seed (bar: median)']
    for ax in axes:
        handles += ax.get_legend_handles_labels()[0]
        names += ax.get_legend_handles_labels()[1]
    fig.legend(handles, names, loc='outside lower center', ncol=3, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def machines(summary):
    """Which machines ran an ablation's runs, and how many each: 'AMD EPYC, 2 cores (42 runs)'."""
    counts = {}
    for r in summary['rows']:
        name = r.get('machine') or summary.get('machine', '?')
        counts[name] = counts.get(name, 0) + 1
    return '; '.join(f'{name} ({n} runs)' for name, n in counts.items()) or summary.get('machine', '?')


def fmt_duration(seconds):
    """'1 h 56 min', '6 min 26 s', '48 s': a duration in words, never ambiguous."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f'{seconds // 3600} h {seconds // 60 % 60} min'
    return f'{seconds // 60} min {seconds % 60} s' if seconds >= 60 else f'{seconds} s'


def fmt_time(seconds):
    """h:mm:ss."""
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


LEARNS = 0.5  # a run learns when its final loss is under half the mean image's


def ablation_groups(summary):
    """The ablation's finished runs grouped by configuration, in the order they were planned."""
    order = summary.get('configurations') or list(dict.fromkeys(r['label'] for r in summary['rows']))
    groups = {label: [] for label in order}
    for r in summary['rows']:
        groups.setdefault(r['label'], []).append(r)
    return [(label, sorted(rows, key=lambda r: r.get('seed', 0))) for label, rows in groups.items() if rows]


def _number(value, fmt):
    """format(value, fmt), but a value that rounds to zero never shows a minus sign."""
    text = format(value, fmt)
    return text.replace('-', '+' if fmt.startswith('+') else '') if float(text) == 0 else text


def _spread(values, fmt):
    """'median' for one value, 'median (min to max)' for several."""
    values = [v for v in values if v is not None]
    if not values:
        return 'n/a'
    if len(values) == 1:
        return _number(values[0], fmt)
    return f'{_number(float(np.median(values)), fmt)} ({_number(min(values), fmt)} to {_number(max(values), fmt)})'


def _count(rows, test):
    hits = sum(bool(test(r)) for r in rows)
    return '' if not hits else ('' if hits == len(rows) else f' {hits}/{len(rows)}')


def _rules(rows, level):
    """The rules found at `level` in any seed, with how many seeds when not all."""
    found = [[f['rule'] for f in r.get('findings') or [] if f['level'] == level] for r in rows]
    names = list(dict.fromkeys(rule for f in found for rule in f))
    return ', '.join(diagnostics.RULES.words(rule) + _count(found, lambda f, rule=rule: rule in f) for rule in names) or '-'


def agreement(row, mean_image):
    """Does the run's health verdict agree with its outcome? None when the outcome is neither collapsed nor learned."""
    failures = [f for f in row.get('findings') or [] if f['level'] == 'failure']
    if row['collapsed']:
        return bool(failures)
    if row['final_loss'] < LEARNS * mean_image:
        return not failures
    return None


def ablation_table(summary):
    """ablation.md: the command, the data, and one row per configuration over its seeds."""
    base = summary['baselines']
    budget = summary['budget']
    seeds = summary.get('seeds', [0])
    groups = ablation_groups(summary)
    done = sum('final_loss' in r or bool(r.get('diverged')) for _, rows in groups for r in rows)
    planned = len(summary.get('chosen') or summary.get('configurations') or groups) * len(seeds)
    lines = ['# Ablation: what makes the autoencoder learn', '',
             f'Command: `{summary["command"]}`  ',
             f'Data: {summary["n_images"]} images ({summary["data"]}), the first {summary["n_train"]} (the training '
             f'part) fit the probe, the rest score it. Seeds {", ".join(map(str, seeds))}: {done} of {planned} runs '
             f'finished. Run time: {fmt_duration(summary["seconds"])} in all (the sum of the runs\' own times), on '
             f'{machines(summary)}'
             + (f'; every configuration capped at {budget} epochs (--budget).' if budget is not None else '.') + '  ',
             f'Baselines: the mean image scores {base["mean_image"]:.4f}, an all-black image {base["all_black"]:.4f}; '
             f'"vs mean" is final loss / mean-image loss (below 1 beats predicting the average digit). A run learns '
             f'when it ends under {LEARNS}x. Numbers are the median over seeds, then the range. The probe is a '
             f'logistic regression on the standardised codes; its gain is over the same probe on the untrained '
             f'network. "Leaves the plateau": the first epoch whose loss (on a fixed 200-image sample) is under '
             f'0.9x the mean image\'s, per seed. Symptoms and warnings: the health rules of aehealth.rules, with how '
             f'many seeds showed them when not all. "Agrees": in how many seeds a collapsed run shows a failure '
             f'symptom and a run that learns shows none (runs that do neither are not counted).',
             '',
             '| # | configuration | flags | epochs | real steps | seeds | final loss | vs mean | probe acc | gain over init '
             '| verdict | leaves the plateau at epoch | failure symptoms | warnings | agrees | wall time |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    order = summary.get('configurations') or []
    for k, (label, rows) in enumerate(groups, 1):
        finished = [r for r in rows if 'final_loss' in r]
        first = rows[0]
        cells = [str(order.index(label) + 1 if label in order else k), label, f'`{first["flags"]}`', str(first['epochs_done']), str(first['real_steps']),
                 f'{len(finished)}' + ('' if len(finished) == len(seeds) else f' of {len(seeds)}')]
        if finished:
            gains = [r['probe_accuracy'] - r['probe_accuracy_at_init'] if r.get('probe_accuracy') is not None and
                     r.get('probe_accuracy_at_init') is not None else None for r in finished]
            collapsed = sum(r['collapsed'] for r in finished)
            verdict = (f'collapsed {collapsed}/{len(finished)}' if collapsed * 2 >= len(finished) else
                       f'not collapsed {len(finished) - collapsed}/{len(finished)}')
            exits = ', '.join('never' if r.get('plateau_exit_epoch') is None else str(r['plateau_exit_epoch'])
                              for r in finished)
            checks = [agreement(r, base['mean_image']) for r in finished]
            counted = [c for c in checks if c is not None]
            cells += [_spread([r['final_loss'] for r in finished], '.4f'),
                      f'{np.median([r["final_loss"] for r in finished]) / base["mean_image"]:.2f}',
                      _spread([r.get('probe_accuracy') for r in finished], '.3f'), _spread(gains, '+.3f'), verdict,
                      exits if 'plateau_exit_epoch' in finished[0] else '?', _rules(finished, 'failure'),
                      _rules(finished, 'warning'), f'{sum(counted)}/{len(counted)}' if counted else 'not counted']
        else:
            cells += ['', '', '', '', 'interrupted' if first.get('interrupted') else 'diverged', '', '', '', '']
        cells.append(fmt_time(float(np.median([r.get('total_seconds', r['seconds']) for r in rows]))))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def draw_ablation(root):
    """ablation.md and ablation.png from an ablation folder's ablation.json; returns the paths."""
    root = Path(root)
    try:
        summary = json.loads((root / 'ablation.json').read_text())
    except (OSError, ValueError) as e:
        raise RunError(f'{root}: not an ablation folder ({e}); make one with python autoencoder.py --ablate') from None
    (root / 'ablation.md').write_text(ablation_table(summary))
    groups = [(label, [r for r in rows if 'final_loss' in r]) for label, rows in ablation_groups(summary)]
    groups = [(label, rows) for label, rows in groups if rows]
    done = sum(len(rows) for _, rows in groups)
    planned = len(summary.get('chosen') or summary.get('configurations') or groups) * len(summary.get('seeds', [0]))
    paths = [root / 'ablation.md']
    if groups:
        seeds = summary.get('seeds', [0])
        paths.append(plot_ablation(
            [label for label, _ in groups], [[r['final_loss'] for r in rows] for _, rows in groups],
            [[r['probe_accuracy'] for r in rows] for _, rows in groups],
            [[r.get('probe_accuracy_at_init') for r in rows] for _, rows in groups],
            [[r['collapsed'] for r in rows] for _, rows in groups], summary['baselines'],
            f'Ablation on {summary["n_images"]} images ({summary["data"]}), seeds {", ".join(map(str, seeds))}'
            + ('' if done == planned else f' ({done} of {planned} runs so far)') + ': final loss and linear-probe accuracy',
            root / 'ablation.png'))
    return paths


def key_numbers(runs):
    """The runs' key numbers side by side, one line per number."""
    def cell(run, what):
        m, c = run['metrics'], run['config']
        found = m.get('findings') or []
        named = {level: ', '.join(diagnostics.RULES.words(f['rule']) for f in found if f['level'] == level)
                 or '-' for level in ('failure', 'warning')}
        end = (m.get('health') or [{}])[-1]
        return {'flags': c.get('flags', '?'), 'images': str(c.get('n_images', '?')),
                'epochs': str(m['epochs_done']), 'final loss': f'{m["final_loss"]:.5f}',
                'vs the mean image': f'{m["final_loss"] / m["baselines"]["mean_image"]:.2f}x',
                'output diversity': '?' if end.get('output_diversity') is None else f'{end["output_diversity"]:.3f}',
                'code': 'collapsed' if m['collapsed'] else 'not collapsed',
                'probe accuracy': 'n/a' if m.get('probe_accuracy') is None else f'{m["probe_accuracy"]:.3f}',
                'failure symptoms': named['failure'], 'warnings': named['warning']}[what]
    names = ['flags', 'images', 'epochs', 'final loss', 'vs the mean image', 'output diversity', 'code',
             'probe accuracy', 'failure symptoms', 'warnings']
    table = [[''] + [str(run['dir']) for run in runs]] + [[name] + [cell(run, name) for run in runs] for name in names]
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    return ['  '.join(text.ljust(w) for text, w in zip(row, widths)).rstrip() for row in table]


def main(argv=None):
    """Redraw the figures of each run folder given; with two or more, also a comparison sheet and the key numbers."""
    args = make_parser().parse_args(argv)
    try:
        ablations = [Path(r) for r in args.runs if (Path(r) / 'ablation.json').is_file()]
        for root in ablations:
            for path in draw_ablation(root):
                print(f'figure: {path}')
        runs = [load_run(r) for r in args.runs if Path(r) not in ablations]
        for r in runs:
            for path in draw_run(r['dir']):
                print(f'figure: {path}')
        if len(runs) > 1:
            print(f'figure: {plot_comparison(runs, args.out)}')
            print('\n' + '\n'.join(key_numbers(runs)))
    except RunError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
