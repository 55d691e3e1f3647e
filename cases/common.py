"""What every case shares: the committed MNIST subset, and running a case as its reporter would, watched.

A case module names its SOURCE, the SYMPTOM reported, the CAUSE and FIX its answer or maintainer gave, the
rules whose findings name that cause (NAMES; empty for a control), and build(fixed) -> the model, the training
data and fit's arguments, as reported (fixed=True: with the answer's fix). `run` trains it with a HealthMonitor
after a pre-flight check; a case passes when its failure findings name the cause and its fixed version has none.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import data  # noqa: E402

with data.quiet_stderr():  # TF's C++ start-up chatter, hidden as autoencoder.py hides it
    import keras  # noqa: E402
    keras.ops.zeros(1)  # the first op looks for a GPU, and TF's C++ logs that there is none

from aehealth import rules  # noqa: E402
from aehealth.keras import HealthMonitor, preflight  # noqa: E402

SUBSET = ROOT / 'tests' / 'data' / 'mnist_subset.npz'
SAMPLE = 300  # rows the monitor measures on


def mnist():
    """The committed MNIST subset as keras.datasets.mnist.load_data() gives it: uint8 (1200, 28, 28) and (200, 28, 28)."""
    arrays = data.read_arrays(SUBSET)
    return arrays['x_train'], arrays['x_test']


def run(case, fixed=False, seed=0):
    """Build the case, check it before training, train it with the monitor; its findings and numbers."""
    keras.utils.set_random_seed(seed)
    spec = case.build(fixed)
    model, x, y = spec['model'], spec['x'], spec['y']
    sample, targets = x[:SAMPLE], y[:SAMPLE]
    repeat = spec.get('repeat', 1)  # an epoch here passes the data `repeat` times: Keras spends ~0.1 s on each epoch
    x, y = np.concatenate([x] * repeat), np.concatenate([y] * repeat)
    t0 = time.perf_counter()
    before = preflight(model, sample, targets=targets, verbose=False)
    monitor = HealthMonitor(sample, targets=targets, verbose=False, every=spec.get('every', 1))
    model.fit(x, y, callbacks=[monitor], verbose=0, **spec['fit'])
    return dict(preflight=before, findings=monitor.findings, metrics=monitor.metrics,
                seconds=time.perf_counter() - t0, model=model, sample=sample, targets=targets)


def failures(findings):
    """The rules of the failure findings."""
    return [f['rule'] for f in findings if f['level'] == 'failure']


def verdict(case, broken, fixed):
    """(names the cause?, fixed version clean?) as the case's test judges them."""
    names = bool(set(failures(broken['findings'])) & set(case.NAMES)) if case.NAMES else not failures(broken['findings'])
    return names, not failures(fixed['findings'])


def main(case):
    """Run a case and its fix as a user would, and print what each check said."""
    for fixed in (False, True):
        result = run(case, fixed)
        print(f'\n== {case.__name__.split(".")[-1]}, {"with the fix" if fixed else "as reported"} '
              f'({result["seconds"]:.1f} s): {case.FIX if fixed else case.SYMPTOM}')
        print('pre-flight:')
        print('\n'.join('  ' + line for line in rules.finding_lines(result['preflight'])))
        print(f'after training ({result["metrics"]["epochs_done"]} epochs, final loss {result["metrics"]["final_loss"]:.4g}):')
        print('\n'.join('  ' + line for line in rules.finding_lines(result['findings'])))
