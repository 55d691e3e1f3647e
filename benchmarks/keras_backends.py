"""The Keras monitor's own time on each backend: keras.io's convolutional autoencoder (cases/control_kerasio_conv.py,
the case's fit on the committed subset) with HealthMonitor(x[:300]) beside it, in a process per backend.

    python benchmarks/keras_backends.py                 # tensorflow, jax and torch
    python benchmarks/keras_backends.py jax
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker():
    """One fit on the backend KERAS_BACKEND names: its seconds, the monitor's own seconds, and the checks made."""
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from aehealth.keras import HealthMonitor
    from cases import control_kerasio_conv as case
    spec = case.build(False)
    x = np.concatenate([spec['x']] * spec.get('repeat', 1))
    monitor = HealthMonitor(spec['x'][:300], verbose=False)
    t0 = time.perf_counter()
    spec['model'].fit(x, x, callbacks=[monitor], verbose=0, **spec['fit'])
    print(json.dumps(dict(backend=keras.backend.backend(), fit=time.perf_counter() - t0, monitor=monitor.monitor.seconds,
                          checks=len(monitor.monitor.health))))


def main():
    print('| backend | fit, s | the monitor\'s own time, s | checks | its share of the rest |\n|---|---|---|---|---|')
    for backend in sys.argv[1:] or ('tensorflow', 'jax', 'torch'):
        proc = subprocess.run([sys.executable, __file__, '--worker'], capture_output=True, text=True, check=True,
                              env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL='2'))
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f'| {r["backend"]} | {r["fit"]:.1f} | {r["monitor"]:.1f} | {r["checks"]} | '
              f'{r["monitor"] / (r["fit"] - r["monitor"]):.1%} |', flush=True)


if __name__ == '__main__':
    worker() if sys.argv[1:] == ['--worker'] else main()
