"""The health figure, drawn with matplotlib (the extra "plot"): a pure function from a run's metrics to a PNG."""
import textwrap
from pathlib import Path

try:
    import matplotlib
except ImportError:  # the extra "plot" is not installed
    raise ImportError('aehealth.plot needs matplotlib: pip install "aehealth[plot]"') from None

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from aehealth import rules  # noqa: E402

DPI = 100


def _save(fig, path):
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _legend_below(ax, ncol=2, handles=None, labels=None):
    """A legend under the axes, so that it never covers a line."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, fontsize=7, ncol=ncol, loc='upper center', bbox_to_anchor=(0.5, -0.16))


def plot_health(metrics, title, path, epoch_loss=None, epoch_baseline=None, epoch_sample='a fixed sample', words=None):
    """The health monitor over training: activations, stuck units, gradient norms, loss and output diversity.

    Layers and weight matrices are labelled as `metrics['network']` names them. `epoch_loss`: a loss measured after
    every epoch on `epoch_sample`, with `epoch_baseline` its mean-target loss; without them, the loss at each check.
    `words(rule)`: how the title names a finding's rule (default: aehealth.rules.REGISTRY's words).
    """
    health = metrics['health']
    epochs = np.array([h['epoch'] or 0 for h in health], dtype=float)  # a post-mortem's one check: at 0
    layers = list(health[-1]['layers'])
    names = {layer['key']: layer['label'] for layer in metrics['network']['layers']}
    kernel_names = metrics['network']['kernels']
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout='constrained')
    width = max(1.0, float(np.ptp(epochs)) if len(epochs) > 1 else 1.0) * 0.012
    for k, name in enumerate(layers):
        mean = np.array([h['layers'][name]['mean'] for h in health])
        if all('p10' in h['layers'][name] for h in health):  # a range inside the activation's own bounds
            low = mean - [h['layers'][name]['p10'] for h in health]
            high = np.array([h['layers'][name]['p90'] for h in health]) - mean
        else:  # runs written before percentiles were measured
            low = high = np.array([h['layers'][name]['std'] for h in health])
        axes[0, 0].errorbar(epochs + (k - len(layers) / 2) * width, mean, yerr=np.maximum([low, high], 0), marker='o',
                            ms=3, capsize=2, lw=1, label=names.get(name, name))
    axes[0, 0].set_title('activation mean; bars: 10th to 90th percentile over units and inputs', fontsize=9)
    _legend_below(axes[0, 0], ncol=4)
    for name in layers:
        stat = next((s for s in ('saturated', 'dead') if s in health[-1]['layers'][name]), None)
        if stat:
            axes[0, 1].plot(epochs, [h['layers'][name].get(stat, np.nan) for h in health], marker='o', ms=3,
                            label=f'{names.get(name, name)}: {stat}')
    axes[0, 1].set_ylim(-0.03, 1.03)
    axes[0, 1].set_title(f'share of units saturated (sigmoid, tanh) or dead (ReLU) for {rules.UNIT_SHARE:.0%} of the '
                        f'sample', fontsize=9)
    _legend_below(axes[0, 1], ncol=3)
    for name in health[-1]['grad_norm']:
        norms = np.array([h['grad_norm'].get(name, np.nan) for h in health], dtype=float)
        axes[1, 0].semilogy(epochs, np.where(norms > 0, norms, np.nan), marker='o', ms=3,
                            label=kernel_names.get(name, name))
    axes[1, 0].set_title('gradient norm of each weight matrix on the sample (log)', fontsize=9)
    _legend_below(axes[1, 0], ncol=4)
    ax = axes[1, 1]
    if epoch_loss is not None and len(epoch_loss) and epoch_baseline:
        x, y = np.arange(len(epoch_loss)), np.asarray(epoch_loss, float)
        base, floor, what = epoch_baseline, 0.0, f'loss after each epoch ({epoch_sample})'
    elif all(h.get('loss') is not None for h in health) and 'mean_input' in metrics.get('baselines', {}):
        x, y = epochs, np.array([h['loss'] for h in health], float)
        base, floor = metrics['baselines']['mean_input'], metrics['baselines'].get('floor', 0.0)
        what = 'loss on the sample at each check'
    else:
        x = None
    if x is not None:
        ax.semilogy(x, (y - floor) / (base - floor), color='C0', lw=1, marker='o' if len(x) < 30 else None, ms=3,
                    label=f'{what} / mean input\'s' + (' (above its minimum)' if floor else ''))
        ax.axhline(1, color='gray', ls='--', lw=1, label='mean input')
        ax.axhline(rules.PLATEAU_EXIT, color='gray', ls=':', lw=1, label=f'{rules.PLATEAU_EXIT:g}x: left the plateau')
        if metrics.get('plateau_exit_epoch') is not None:
            ax.axvline(metrics['plateau_exit_epoch'], color='C0', ls=':', lw=1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.tick_params(axis='y', which='minor', labelsize=7)
    ax.set_ylabel('loss / mean-input loss', fontsize=9)
    twin = ax.twinx()
    diversity = np.array([np.nan if h['output_diversity'] is None else h['output_diversity'] for h in health])
    twin.plot(epochs, diversity, 'o', color='C3', ms=4, label='output diversity (0: one picture for every input)')
    twin.set_ylim(0, max(1.05, np.nanmax(diversity, initial=0) * 1.05))
    twin.set_ylabel('output diversity', fontsize=9, color='C3')
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    _legend_below(ax, 2, handles, labels)
    ax.set_title('loss and output diversity', fontsize=9)
    for a in axes.flat:
        a.set_xlabel('epoch', fontsize=9)
        a.grid(alpha=0.3)
    found = metrics.get('findings') or []
    name = words or rules.REGISTRY.words
    named = {level: [name(f['rule']) for f in found if f['level'] == level] for level in ('failure', 'warning')}
    verdict = ('failure symptoms: ' + ', '.join(named['failure'])) if named['failure'] else 'no failure symptom'
    fig.suptitle(title + f'\n{verdict}' + (f' | warnings: {", ".join(named["warning"])}' if named['warning'] else ''),
                 fontsize=9)
    return _save(fig, path)


def plot_trial(report, path):
    """A trial: each run's loss over the mean target's after every epoch, one colour per change, the plateau drawn."""
    fig, ax = plt.subplots(figsize=(10, 6), layout='constrained')
    for k, change in enumerate(report.changes):
        runs = [r for r in report.runs if r['change'] == change['change'] and r.get('epoch_ratios')]
        for j, r in enumerate(runs):
            y = np.array([np.nan if v is None else max(v, 1e-4) for v in r['epoch_ratios']], float)
            label = (textwrap.fill(change['words'] + (' (recommended)' if change['change'] == report.recommended
                                                      else ''), 70) if j == 0 else None)  # a pair's words are long
            ax.semilogy(np.arange(len(y)), y, color=f'C{k % 10}', lw=2.2 if change['change'] == report.recommended
                        else 1.2, ls='-' if change['change'] is not None else '--', marker='o', ms=3, label=label)
    ax.axhline(rules.PLATEAU, color='gray', ls='--', lw=1, label=f'{rules.PLATEAU:g}x: the plateau')
    ax.axhline(rules.PLATEAU_EXIT, color='gray', ls=':', lw=1, label=f'{rules.PLATEAU_EXIT:g}x: left the plateau')
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.set_xlabel('epoch (0: untrained)', fontsize=9)
    ax.set_ylabel('loss on the sample / the mean target\'s (above the loss\'s minimum)', fontsize=9)
    ax.grid(alpha=0.3)
    _legend_below(ax, ncol=2)
    seeds = len(report.seeds)
    ax.set_title(f'trial: each change on the model, {seeds} seed{"s" if seeds > 1 else ""} each; recommended: '
                 f'{report.recommended or "nothing"}', fontsize=10)
    return _save(fig, path)
