"""The question's pictures, and more, drawn from a finished run folder (no TensorFlow needed).

    python visualize.py runs/question                       # redraw every figure of one run, in its folder
    python visualize.py runs/question runs/fix --out figures/before_after.png   # plus a side-by-side sheet

A run folder holds config.json, metrics.json and arrays.npz (written by autoencoder.py); each plotting
function below takes plain arrays and saves one PNG.
"""
import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
FIGURES = ('reconstructions', 'activations', 'codes', 'loss', 'filters', 'pca')


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
    """fc1 and code activations, one row per input, grouped by digit (identical rows = collapse)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), gridspec_kw=dict(width_ratios=[2, 1]), layout='constrained')
    for ax, a, name in ((axes[0], fc1, 'fc1 (y6)'), (axes[1], code, 'code (encode)')):
        im = ax.imshow(a, cmap='viridis', interpolation='nearest', aspect='auto')
        ax.set_title(f'{name}: {a.shape[0]} inputs x {a.shape[1]} units', fontsize=9)
        ax.set_xlabel('unit', fontsize=9)
        _digit_ticks(ax, y)
        fig.colorbar(im, ax=ax, fraction=0.05)
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
    try:
        config = json.loads((run_dir / 'config.json').read_text())
        metrics = json.loads((run_dir / 'metrics.json').read_text())
        with np.load(run_dir / 'arrays.npz', allow_pickle=False) as f:
            arrays = dict(f)
    except (OSError, ValueError) as e:
        raise RunError(f'{run_dir}: not a finished run folder ({e}); '
                       f'finish it, or redraw an interrupted one with python autoencoder.py --redraw {run_dir}') from None
    if 'final_loss' not in metrics:
        raise RunError(f'{run_dir}: the run has no final results; python autoencoder.py --redraw {run_dir} computes them')
    return dict(dir=run_dir, config=config, metrics=metrics, arrays=arrays)


def run_title(run):
    """The run's name and flags over its key numbers."""
    m, c = run['metrics'], run['config']
    probe = '' if m.get('probe_accuracy') is None else f' | probe acc {m["probe_accuracy"]:.2f}'
    return (f'{c["name"]}: {c["flags"]}\nfinal loss {m["final_loss"]:.4f} | code spread {m["code_spread"]:.2g}'
            f' ({"collapsed" if m["collapsed"] else "not collapsed"}){probe} | {m["epochs_done"]} epochs')


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
            plot_pca(a['codes'], a['codes_y'], title, d / 'pca.png')]


def plot_comparison(runs, path):
    """Runs side by side, one column each: reconstructions, code rows, loss curve."""
    fig, axes = plt.subplots(3, len(runs), figsize=(5 * len(runs), 11), layout='constrained',
                             gridspec_kw=dict(height_ratios=[1.1, 1.4, 1]), squeeze=False)
    top = max(max(h[1] for h in r['metrics']['loss_history']) for r in runs)
    for col, run in enumerate(runs):
        a, m = run['arrays'], run['metrics']
        tiles = [*a['recon_x'][:10].reshape(-1, 28, 28), *a['recon_out'][:10].reshape(-1, 28, 28)]  # one per digit
        _show(axes[0, col], mosaic(tiles, 5, pad=2), 'inputs (rows 1-2) over outputs (rows 3-4)', vmin=0, vmax=1)
        axes[0, col].set_title(run_title(run).replace(' | ', '\n', 1), fontsize=9)
        im = axes[1, col].imshow(a['rows_code'], cmap='viridis', interpolation='nearest', aspect='auto')
        axes[1, col].set_title('code layer: one row per input', fontsize=9)
        axes[1, col].set_xlabel('code unit', fontsize=9)
        _digit_ticks(axes[1, col], a['rows_y'])
        fig.colorbar(im, ax=axes[1, col], fraction=0.05)
        plot_loss(m['loss_history'], m['baselines'], None, None, ax=axes[2, col], batch=a.get('batch_loss'))
        axes[2, col].set_ylim(0, max(0.12, top * 1.05))
    return _save(fig, path)


def plot_ablation(labels, losses, probes, probes_init, collapsed, baselines, title, path):
    """Final loss and probe accuracy per configuration, coloured by the collapse verdict."""
    n = len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.6 + 0.42 * n), sharey=True, layout='constrained')
    pos = np.arange(n)[::-1]
    red, blue = '#d62728', '#1f77b4'
    colors = [red if c else blue for c in collapsed]
    axes[0].barh(pos, losses, color=colors)
    for (name, value), style in zip(sorted(baselines.items()), ('--', ':')):
        axes[0].axvline(value, color='gray', ls=style, label=f'{name.replace("_", " ")} baseline {value:.4f}')
    for p, v in zip(pos, losses):
        axes[0].text(v, p, f' {v:.4f}', va='center', fontsize=8)
    axes[0].set_xlim(0, max(max(losses), max(baselines.values())) * 1.25)
    axes[0].set_xlabel('final loss (MSE per pixel, lower is better)', fontsize=9)
    axes[0].set_yticks(pos)
    axes[0].set_yticklabels(labels, fontsize=9)
    probes = np.array([np.nan if p is None else p for p in probes], dtype=float)
    init = np.array([np.nan if p is None else p for p in probes_init], dtype=float)
    axes[1].barh(pos, np.nan_to_num(probes), color=colors)
    axes[1].plot(init, pos, 'k|', markersize=14, mew=2, label='same probe, untrained network')
    axes[1].axvline(0.1, color='gray', ls=':', label='chance 0.10')
    for p, v in zip(pos, probes):
        axes[1].text(0 if np.isnan(v) else v, p, '  n/a' if np.isnan(v) else f'  {v:.3f}', va='center', fontsize=8)
    axes[1].set_xlim(0, 1.15)
    axes[1].set_xlabel('linear-probe accuracy on the codes (higher is better)', fontsize=9)
    for ax in axes:
        ax.grid(axis='x', alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=red), plt.Rectangle((0, 0), 1, 1, color=blue)]
    for ax in axes:
        handles += ax.get_legend_handles_labels()[0]
    names = ['collapsed code (same for every input)', 'code varies with the input']
    for ax in axes:
        names += ax.get_legend_handles_labels()[1]
    fig.legend(handles, names, loc='outside lower center', ncol=3, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def fmt_time(seconds):
    """h:mm:ss."""
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def ablation_table(summary):
    """ablation.md: the command, the data, and one table row per configuration."""
    base = summary['baselines']
    budget = summary['budget']
    lines = ['# Ablation: what makes the autoencoder learn', '',
             f'Command: `{summary["command"]}`  ',
             f'Data: {summary["n_images"]} images ({summary["data"]}), the first {summary["n_train"]} (the training '
             f'part) fit the probe, the rest score it. Wall time: {fmt_time(summary["seconds"])} on '
             f'{summary["cores"]} CPU cores' + (f'; every configuration capped at {budget} epochs (--budget).'
                                                if budget is not None else '.') + '  ',
             f'Baselines: the mean image scores {base["mean_image"]:.4f}, an all-black image {base["all_black"]:.4f}; '
             f'"vs mean" is final loss / mean-image loss (below 1 beats predicting the average digit). The probe is a '
             f'logistic regression on the standardised codes; in brackets, the same probe on the untrained network.',
             '',
             '| # | configuration | flags | epochs | real steps | final loss | vs mean | code spread | probe acc (at init) '
             '| verdict | wall time |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for k, r in enumerate(summary['rows'], 1):
        cells = [str(k), r['label'], f'`{r["flags"]}`', str(r['epochs_done']), str(r['real_steps'])]
        if 'final_loss' in r:
            probe = ('n/a' if r.get('probe_accuracy') is None else f'{r["probe_accuracy"]:.3f}') + (
                '' if r.get('probe_accuracy_at_init') is None else f' ({r["probe_accuracy_at_init"]:.3f})')
            cells += [f'{r["final_loss"]:.4f}', f'{r["final_loss"] / base["mean_image"]:.2f}', f'{r["code_spread"]:.2g}',
                      probe, 'collapsed' if r['collapsed'] else 'not collapsed']
        else:
            cells += ['', '', '', '', 'interrupted' if r.get('interrupted') else 'diverged']
        cells.append(fmt_time(r.get('total_seconds', r['seconds'])))
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
    done = [r for r in summary['rows'] if 'final_loss' in r]
    paths = [root / 'ablation.md']
    if done:
        paths.append(plot_ablation(
            [r['label'] for r in done], [r['final_loss'] for r in done], [r['probe_accuracy'] for r in done],
            [r.get('probe_accuracy_at_init') for r in done], [r['collapsed'] for r in done], summary['baselines'],
            f'Ablation on {summary["n_images"]} images ({summary["data"]}): final loss and linear-probe accuracy',
            root / 'ablation.png'))
    return paths


def main(argv=None):
    """Redraw the figures of each run folder given; with two or more, also a comparison sheet."""
    p = argparse.ArgumentParser(description='Redraw the figures of finished autoencoder runs from their folders '
                                            '(config.json, metrics.json, arrays.npz); no training, no TensorFlow.')
    p.add_argument('runs', nargs='+', metavar='RUN_DIR',
                   help='run folders written by autoencoder.py; an ablation folder redraws ablation.md and .png')
    p.add_argument('--out', default='comparison.png',
                   help='where to save the side-by-side sheet when two or more runs are given (default: %(default)s)')
    args = p.parse_args(argv)
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
    except RunError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
