"""Speed of our graph-mode training step against Keras on the same work, FLOPs, and the faithful run's wall time.

    python benchmarks/benchmark.py --data ../shared/data/mnist.npz

Not a test: it prints a table. Each measurement runs in its own process (our code disables eager execution,
Keras needs it), alternating ours and Keras so both see the same machine state; medians over --repeats.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KERNELS = (5, 3)
BATCH = 1000


def training_flops_per_image(k1, k2, n_h1=128, n_h2=64, m_c1=16, m_c2=32):
    """Forward and training (forward + backward ~ 3x forward) FLOPs per image, counting a multiply-add as 2."""
    macs = {'conv1': 14 * 14 * m_c1 * k1 * k1, 'conv2': 7 * 7 * m_c2 * k2 * k2 * m_c1,
            'fc1': 7 * 7 * m_c2 * n_h1, 'fc2': n_h1 * n_h2, 'dec fc1': n_h2 * n_h1, 'dec fc2': n_h1 * 7 * 7 * m_c2,
            'deconv1': 7 * 7 * m_c2 * k2 * k2 * m_c1, 'deconv2': 14 * 14 * m_c1 * k1 * k1}
    forward = 2 * sum(macs.values())
    return forward, 3 * forward


def worker_ours(x, epochs):
    """Images per second of autoencoder.py's training step (fixed batching, 5x5,3x3, batch 1000)."""
    import numpy as np
    import autoencoder as ae
    cfg = dict(ae.QUESTION, kernels=KERNELS, batching='fixed', n_h1=128, n_h2=64)
    graph, g, _, _, sess = ae.build_session(dict(cfg, seed=0))
    rng = np.random.RandomState(0)
    bounds = list(ae.batch_bounds(len(x), BATCH, 'fixed'))
    with graph.as_default(), sess:
        for _ in range(3):
            sess.run([g['opt'], g['loss']], {g['x']: x[:BATCH]})
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for lo, hi in bounds:
                sess.run([g['opt'], g['loss']], {g['x']: x[order[lo:hi]]})
        return epochs * len(x) / (time.perf_counter() - t0)


def keras_model():
    """The same network in Keras: layers, initialisers, activations, optimizer."""
    import keras
    from keras import layers
    k1, k2 = KERNELS
    tn, xavier = keras.initializers.TruncatedNormal(stddev=1.0), 'glorot_uniform'
    model = keras.Sequential([
        keras.Input((784,)), layers.Reshape((28, 28, 1)),
        layers.Conv2D(16, k1, strides=2, padding='same', activation='sigmoid', kernel_initializer=tn),
        layers.Conv2D(32, k2, strides=2, padding='same', activation='sigmoid', kernel_initializer=tn),
        layers.Flatten(),
        layers.Dense(128, activation='sigmoid', kernel_initializer=xavier),
        layers.Dense(64, activation='sigmoid', kernel_initializer=xavier),
        layers.Dense(128, activation='sigmoid', kernel_initializer=xavier),
        layers.Dense(7 * 7 * 32, activation='sigmoid', kernel_initializer=xavier),
        layers.Reshape((7, 7, 32)),
        layers.Conv2DTranspose(16, k2, strides=2, padding='same', activation='sigmoid', kernel_initializer=xavier),
        layers.Conv2DTranspose(1, k1, strides=2, padding='same', activation='sigmoid', kernel_initializer=xavier),
        layers.Reshape((784,)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-4, epsilon=1e-8), loss='mse')
    return model


def worker_keras(x, epochs):
    """Images per second of Keras Model.fit on the same network and batch."""
    model = keras_model()
    model.fit(x[:3 * BATCH], x[:3 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace and compile first
    t0 = time.perf_counter()
    model.fit(x, x, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    return epochs * len(x) / (time.perf_counter() - t0)


def numpy_gflops(n=2048, repeats=5):
    """Median GFLOP/s of a float32 n x n matrix product in numpy (the machine's practical limit)."""
    import numpy as np
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def run_worker(kind, args):
    out = subprocess.run([sys.executable, __file__, '--worker', kind, '--data', args.data or '',
                          '--images', str(args.images), '--epochs', str(args.epochs)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f'{kind} worker failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])['images_per_second']


def faithful_run(args):
    """Wall time and peak memory of `autoencoder.py` with the question's settings, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cmd = [sys.executable, str(ROOT / 'autoencoder.py'), '--no-figures', '--out', tmp]
        out = subprocess.run(cmd + (['--data', args.data] if args.data else []), capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f'faithful run failed:\n{out.stderr[-3000:]}')
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=None, help='MNIST file, as for autoencoder.py (default: its search order)')
    p.add_argument('--images', type=int, default=70000, help='images per timed pass (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=1, help='timed passes per measurement (default: %(default)s)')
    p.add_argument('--repeats', type=int, default=5, help='measurements of each side (default: %(default)s)')
    p.add_argument('--skip-faithful', action='store_true', help='do not time the faithful 501-epoch run')
    p.add_argument('--worker', choices=('ours', 'keras'), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        import data
        x = data.load_mnist(args.data or None).x[:args.images]
        rate = (worker_ours if args.worker == 'ours' else worker_keras)(x, args.epochs)
        print(json.dumps({'images_per_second': rate}))
        return
    if not args.skip_faithful:  # first, so the peak memory of finished children is this run's alone
        seconds, rss = faithful_run(args)
    ours, keras = [], []
    for k in range(args.repeats):
        ours.append(run_worker('ours', args))
        keras.append(run_worker('keras', args))
        print(f'repeat {k + 1}/{args.repeats}: ours {ours[-1]:,.0f} img/s, Keras {keras[-1]:,.0f} img/s', flush=True)
    forward, train = training_flops_per_image(*KERNELS)
    limit = numpy_gflops()
    o, k = statistics.median(ours), statistics.median(keras)
    print(f'\ntraining step, fixed batching, kernels {KERNELS[0]}x{KERNELS[0]},{KERNELS[1]}x{KERNELS[1]}, batch {BATCH}, '
          f'{args.images} images x {args.epochs} pass(es), median of {args.repeats}, {os.cpu_count()} cores\n')
    print('| measure | value |\n|---|---|')
    print(f'| ours (tf.compat.v1 Session) | {o:,.0f} img/s |')
    print(f'| Keras Model.fit | {k:,.0f} img/s |')
    print(f'| ours / Keras | {o / k:.2f} |')
    print(f'| FLOPs per image: forward / training | {forward / 1e6:.2f} M / {train / 1e6:.2f} M |')
    print(f'| ours achieved | {o * train / 1e9:.1f} GFLOP/s |')
    print(f'| numpy float32 2048x2048 matmul | {limit:.1f} GFLOP/s |')
    print(f'| ours / matmul limit | {o * train / 1e9 / limit:.2f} |')
    if not args.skip_faithful:
        print(f'| faithful 501-epoch run, end to end | {seconds:.1f} s |')
        print(f'| its peak resident memory | {rss:,.0f} MiB |')


if __name__ == '__main__':
    main()
