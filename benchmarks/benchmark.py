"""Where the faithful run's time goes, what the probe and the health monitor cost, and our training step against Keras.

    python benchmarks/benchmark.py                       # everything (MNIST as autoencoder.py finds it)
    python benchmarks/benchmark.py --only callback --epochs 5   # the Keras callback's cost on a fit of the fixed network
    python benchmarks/benchmark.py --only probe          # the probe alone and beside two busy processes
    python benchmarks/benchmark.py --only torch --epochs 3      # aehealth.torch's cost on a PyTorch conv autoencoder
    python benchmarks/benchmark.py --only cost           # one check against a training pass; every='auto''s share
    python benchmarks/benchmark.py --only trial --repeats 3     # a trial with jobs=2 against jobs=1
    python benchmarks/benchmark.py --only lightning --epochs 3  # aehealth.lightning's cost on a Lightning fit

Not a test: it prints tables. Each measurement runs in its own process (our code disables eager execution,
Keras needs it), alternating the two sides so both see the same machine state; medians over --repeats.
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

import data  # noqa: E402  (no TensorFlow: the machine's name, and MNIST in the workers)

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


def worker_probe(run_dir):
    """Seconds and accuracy of the probe on a run's codes, its BLAS unlimited (before) and held to 1 thread (now),
    alone and beside two busy processes."""
    import multiprocessing

    import autoencoder as ae
    import diagnostics
    record = json.loads((Path(run_dir) / 'config.json').read_text())
    cfg = ae.saved_config(record)
    mnist = ae.redraw_data(record, None)
    graph, g, _, saver, sess = ae.build_session(cfg)
    with graph.as_default(), sess:
        codes = {'at init': ae.evaluate(sess, g, mnist.x, ('encode',))['encode']}
        saver.restore(sess, str(Path(run_dir) / 'checkpoint' / 'model'))
        codes['trained'] = ae.evaluate(sess, g, mnist.x, ('encode',))['encode']
    out = {}
    for load in ('alone', 'beside two busy processes'):
        hogs = [multiprocessing.get_context('spawn').Process(target=busy, daemon=True) for _ in range(2 * (load != 'alone'))]
        for h in hogs:
            h.start()
        for which, threads in (('before', None), ('now', 1)):
            t0 = time.perf_counter()
            accuracy = [diagnostics.probe_accuracy(c, mnist.y, mnist.n_train, threads) for c in codes.values()]
            out[f'{which}, {load}'] = (accuracy, time.perf_counter() - t0)
        for h in hogs:
            h.terminate()
    return out


def busy():
    """A process that keeps one core busy (the load of another program on the machine)."""
    while True:
        pass


def worker_callback(x, epochs, sample, monitor):
    """Seconds per epoch of Keras fit on the fixed network (batch 1000), with or without the health monitor."""
    import keras

    from aehealth.keras import HealthMonitor
    from cases import question
    keras.utils.set_random_seed(0)
    model = question.network(fixed=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')
    model.fit(x[:3 * BATCH], x[:3 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace and compile first
    callbacks = [HealthMonitor(x[:sample], every=1, verbose=False)] if monitor else []
    t0 = time.perf_counter()
    model.fit(x, x, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    return seconds / epochs, (callbacks[0].seconds / (seconds - callbacks[0].seconds) if monitor else None)


TORCH_BATCH = 128


def torch_conv_autoencoder():
    """The PyTorch conv autoencoder timed: the tutorials' style, activations in forward() (cases/torch_control_conv)."""
    from cases.torch_control_conv import ConvAutoencoder
    return ConvAutoencoder()


def worker_torch(x, epochs, sample, monitor):
    """Seconds per epoch of a plain PyTorch loop over x (batch 128, Adam 1e-3, MSE), with or without the monitor; the
    monitor's own share of the rest; and, with it, where a check's time goes (cProfile of 3 more checks)."""
    import cProfile
    import pstats

    import torch
    from torch import nn

    from aehealth.torch import HealthMonitor
    torch.manual_seed(0)
    images = torch.as_tensor(x.reshape(-1, 1, 28, 28))
    model, loss_fn = torch_conv_autoencoder(), nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    for i in range(0, 3 * TORCH_BATCH, TORCH_BATCH):  # warm up the kernels first
        optimizer.zero_grad()
        loss_fn(model(images[i:i + TORCH_BATCH]), images[i:i + TORCH_BATCH]).backward()
        optimizer.step()
    mon = HealthMonitor(model, images[:sample].numpy(), loss_fn, optimizer, every=1, verbose=False) if monitor else None
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images))
        for i in range(0, len(images), TORCH_BATCH):
            batch = images[order[i:i + TORCH_BATCH]]
            optimizer.zero_grad()
            loss_fn(model(batch), batch).backward()
            optimizer.step()
        if mon:
            mon.epoch_end()
    seconds = time.perf_counter() - t0
    if not mon:
        return seconds / epochs, None, None
    share = mon.seconds / (seconds - mon.seconds)
    profile = cProfile.Profile()
    profile.enable()
    for k in range(3):
        mon.monitor.session.check(epochs + 1 + k)
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(row[3] for key, row in stats.stats.items() if key[2] == 'check')
    parts = {'the model on the sample, with forward hooks': '_run', 'torch.autograd.grad': 'grad',
             'the loss (twice for a VAE)': 'forward', 'adding a chunk up (numpy: layer sums)': 'add',
             'the snapshot (numbers per layer, output diversity)': 'snapshot'}
    shares = {}
    for words, name in parts.items():
        cumulative = [row[3] for key, row in stats.stats.items() if key[2] == name and
                      ('aehealth' in key[0] or name == 'grad' and 'autograd' in key[0]
                       or name == 'forward' and 'loss.py' in key[0])]
        shares[words] = max(cumulative, default=0.0) / total if total else 0.0
    return seconds / epochs, share, dict(shares, check_seconds=total / 3)


def worker_lightning(x, epochs, sample, monitor):
    """Seconds per epoch of a Lightning fit of the same conv autoencoder (batch 128, Adam 1e-3, MSE), with or without
    aehealth.lightning.HealthCallback(every=1); the callback's own share of the rest."""
    import lightning.pytorch as L
    import torch
    from torch import nn

    from aehealth.lightning import HealthCallback

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model, self.loss_fn = torch_conv_autoencoder(), nn.MSELoss()

        def forward(self, batch):
            return self.model(batch)

        def training_step(self, batch, batch_idx):
            return self.loss_fn(self(batch), batch)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), 1e-3)

    torch.manual_seed(0)
    images = torch.as_tensor(x.reshape(-1, 1, 28, 28))
    loader = torch.utils.data.DataLoader(images, batch_size=TORCH_BATCH, shuffle=True)
    callback = HealthCallback(images[:sample].numpy(), verbose=False) if monitor else None
    trainer = L.Trainer(max_epochs=epochs, accelerator='cpu', logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False, callbacks=[callback] if callback else [])
    t0 = time.perf_counter()
    trainer.fit(Module(), loader)
    seconds = time.perf_counter() - t0
    return seconds / epochs, callback.monitor.seconds / (seconds - callback.monitor.seconds) if callback else None


COST_BATCH = 128  # the batch size of the cost measurements, as the tutorials train


def worker_cost(framework, x, epochs, sample):
    """What one check costs against a training pass over the same rows, and the share every='auto' takes of a run."""
    if framework == 'keras':
        import keras

        from aehealth.keras import HealthMonitor
        from cases import question
        keras.utils.set_random_seed(0)
        model = question.network(fixed=True)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')

        def fit(callbacks, n_epochs):
            model.fit(x, x, batch_size=COST_BATCH, epochs=n_epochs, shuffle=True, verbose=0, callbacks=callbacks)
        fit([], 1)  # trace and compile first
        make = lambda every: HealthMonitor(x[:sample], every=every, verbose=False)  # noqa: E731
        run = lambda monitor, n_epochs: fit([monitor], n_epochs)  # noqa: E731
    else:
        import torch
        from torch import nn

        from aehealth.torch import HealthMonitor
        torch.manual_seed(0)
        images = torch.as_tensor(x.reshape(-1, 1, 28, 28))
        model, loss_fn = torch_conv_autoencoder(), nn.MSELoss()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)

        def run(monitor, n_epochs):
            for _ in range(n_epochs):
                order = torch.randperm(len(images))
                for i in range(0, len(images), COST_BATCH):
                    batch = images[order[i:i + COST_BATCH]]
                    optimizer.zero_grad()
                    loss_fn(model(batch), batch).backward()
                    optimizer.step()
                if monitor:
                    monitor.epoch_end()
            if monitor:
                monitor.finish()
        run(None, 1)  # warm up
        make = lambda every: HealthMonitor(model, x[:sample].reshape(-1, 1, 28, 28), loss_fn, optimizer,  # noqa: E731
                                           every=every, verbose=False)
    t0 = time.perf_counter()
    run(None, 1) if framework == 'torch' else fit([], 1)
    epoch = time.perf_counter() - t0
    monitor = make(1)
    if framework == 'keras':
        monitor.set_model(model)
        monitor.on_train_begin()
        monitor.on_epoch_begin(0)
    session = monitor.monitor.session

    def timed_check(chunk):
        """Seconds per check (3 of them), with the sample run through the model `chunk` rows at a time."""
        kept, session.probe.chunk = session.probe.chunk, chunk
        t0 = time.perf_counter()
        for k in range(3):
            session.check(k + 1)
        session.probe.chunk = kept
        return (time.perf_counter() - t0) / 3
    check = timed_check(session.probe.chunk)
    by_chunk = {chunk: timed_check(chunk) for chunk in (1000, 256, 1000, 256)}  # side by side, twice each
    auto = make('auto')
    t0 = time.perf_counter()
    run(auto, epochs)
    seconds = time.perf_counter() - t0
    return dict(epoch=epoch, per_pass=epoch * sample / len(x), check=check, by_chunk=by_chunk, auto_share=auto.seconds /
                (seconds - auto.seconds), auto_checks=len(auto.health), epochs=epochs, images=len(x))


def trial_table(args):
    """The README's trial (examples/trial_torch.py: 3 changes x 2 seeds) with jobs=1 and jobs=2, alternating."""
    script = ('import sys, time, json; sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + "/examples")\n'
              'import numpy as np, torch; from torch import nn; import trial_torch as t\n'
              'from aehealth.torch import trial\n'
              'if __name__ == "__main__":\n'
              '    x = np.load({root!r} + "/tests/data/mnist_subset.npz")["x_train"].reshape(-1, 784) / 255\n'
              '    t0 = time.perf_counter()\n'
              '    r = trial(t.build, x.astype("float32"), nn.MSELoss(), seeds=(0, 1), variants={{"a code of 64": '
              't.wider_code}}, jobs={jobs}, verbose=False)\n'
              '    print(json.dumps(dict(seconds=time.perf_counter() - t0, ratios=[run["final_ratio"] for run in r.runs])))\n')
    times = {1: [], 2: []}
    ratios = {}
    for k in range(args.repeats):
        for jobs in (1, 2):
            out = subprocess.run([sys.executable, '-c', script.format(root=str(ROOT), jobs=jobs)], capture_output=True,
                                 text=True, cwd=ROOT, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            times[jobs].append(got['seconds'])
            ratios[jobs] = got['ratios']
        print(f'repeat {k + 1}/{args.repeats}: jobs=1 {times[1][-1]:.1f} s, jobs=2 {times[2][-1]:.1f} s', flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f'\nthe README\'s trial (6 runs of 5 epochs on 1200 images, each process with 1 thread), median of '
          f'{args.repeats}\n')
    print('| jobs | seconds |\n|---|---|')
    print(f'| 1 | {one:.1f} |\n| 2 | {two:.1f} |\n| jobs=2 finishes sooner by (jobs=1 / jobs=2) | {one / two:.2f}x |')
    print(f'| the same final losses in both | {ratios[1] == ratios[2]} |', flush=True)


def run_worker(kind, args, *extra):
    out = subprocess.run([sys.executable, __file__, '--worker', kind, '--data', args.data or '',
                          '--images', str(args.images), '--epochs', str(args.epochs), '--sample', str(args.sample),
                          *extra],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f'{kind} worker failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def faithful_run(args, tmp):
    """Wall time, peak memory and the run's own timing of `autoencoder.py` with the question's settings."""
    t0 = time.perf_counter()
    cmd = [sys.executable, str(ROOT / 'autoencoder.py'), '--out', tmp]
    out = subprocess.run(cmd + (['--data', args.data] if args.data else []), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f'faithful run failed:\n{out.stderr[-3000:]}')
    run_dir = Path(tmp) / 'question'
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    return dict(seconds=seconds, rss=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, metrics=metrics,
                run_dir=run_dir)


def probe_table(probe):
    """The probe's seconds (both probes of a run) alone and under load, BLAS threads unlimited against held to 1."""
    rows = ['| probe, both of a run\'s codes | BLAS threads unlimited (before) | held to 1 (now) |', '|---|---|---|']
    same = True
    for load in ('alone', 'beside two busy processes'):
        (a0, s0), (a1, s1) = probe[f'before, {load}'], probe[f'now, {load}']
        rows.append(f'| {load} | {s0:.1f} s | {s1:.1f} s |')
        same = same and a0 == a1
    rows.append(f'\naccuracies the same with both: {same} ({probe["now, alone"][0]})')
    return '\n'.join(rows)


def time_table(run):
    """The faithful run's wall time broken down, from the timing it records."""
    t, m = run['metrics']['timing'], run['metrics']
    parts = [('TensorFlow import', t['tensorflow_import']),
             (f'real training steps ({m["real_steps"]})', t['real_steps']),
             (f'empty-batch steps ({m["empty_steps"]})', t['empty_steps']),
             (f'loss over all 70000 images ({len(m["loss_history"]) - 1} times, as the question printed it)',
              t['evaluations']),
             (f'health monitor in training ({len(m["health"]) - 1} checks on 2000 images, loss on 200 after each epoch)',
              t['health']),
             ('final evaluation, diagnostics and the last health check', t['final_evaluation']),
             ('linear probes (at initialisation and trained)', t['probes']),
             ('figures (7 PNGs)', t.get('figures', 0.0))]
    rest = run['seconds'] - sum(v for _, v in parts)
    rows = ['| part of `python autoencoder.py` (as posted) | seconds | share |', '|---|---|---|']
    rows += [f'| {name} | {v:.1f} | {v / run["seconds"]:.0%} |' for name, v in parts]
    rows.append(f'| the rest: Python start, other imports, loading MNIST, building the graph, checkpoint, events '
                f'| {rest:.1f} | {rest / run["seconds"]:.0%} |')
    rows.append(f'| **end to end (wall clock)** | **{run["seconds"]:.1f}** | 100% |')
    return '\n'.join(rows)


def cost_table(args):
    """Per check, in seconds and against a training pass over the sample's rows; every='auto''s share of a run."""
    rows = ['| front-end | images | training pass over the sample\'s rows | one check | check / pass | '
            'every=\'auto\': checks in the run | its share of the training time |', '|---|---|---|---|---|---|---|']
    chunks = ['| front-end | images | in chunks of 1000 | in chunks of 256 |', '|---|---|---|---|']
    for framework in ('keras', 'torch'):
        for images, epochs in ((10000, 10), (70000, 3)):
            extra = ['--images', str(images), '--epochs', str(epochs)]
            got = json.loads(subprocess.run(
                [sys.executable, __file__, '--worker', f'cost_{framework}', '--data', args.data or '',
                 '--sample', str(args.sample), *extra], capture_output=True, text=True, cwd=ROOT,
                check=True).stdout.strip().splitlines()[-1])
            rows.append(f'| {framework} | {images} | {got["per_pass"]:.3f} s | {got["check"]:.3f} s | '
                        f'{got["check"] / got["per_pass"]:.2f} | {got["auto_checks"]} in {epochs} epochs | '
                        f'{got["auto_share"]:.1%} |')
            print(rows[-1], flush=True)
            chunks.append(f'| {framework} | {images} | {got["by_chunk"]["1000"]:.3f} s | {got["by_chunk"]["256"]:.3f} s |')
    print(f'\nthe cost of a check ({args.sample} rows; Keras: the question\'s fixed network, PyTorch: the tutorials\' '
          f'conv autoencoder; batch {COST_BATCH}):\n')
    print('\n'.join(rows), flush=True)
    print('\none check with the sample run through the model 1000 or 256 rows at a time (the last of two of each, '
          'alternated):\n')
    print('\n'.join(chunks), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=None, help='MNIST file, as for autoencoder.py (default: its search order)')
    p.add_argument('--images', type=int, default=70000, help='images per timed pass (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=1, help='timed passes per measurement (default: %(default)s)')
    p.add_argument('--repeats', type=int, default=5, help='measurements of each side (default: %(default)s)')
    p.add_argument('--sample', type=int, default=1000, help='rows the health monitor measures (default: %(default)s)')
    p.add_argument('--only', choices=('faithful', 'probe', 'callback', 'torch', 'step', 'cost', 'trial', 'lightning'),
                   action='append',
                   help='run only these parts (default: all)')
    p.add_argument('--worker', choices=('ours', 'keras', 'probe', 'callback', 'plain', 'torch', 'torch_plain',
                                        'cost_keras', 'cost_torch', 'lightning', 'lightning_plain'),
                   help=argparse.SUPPRESS)
    p.add_argument('--run', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == 'probe':
        print(json.dumps(worker_probe(args.run)))
        return
    if args.worker:
        x = data.load_mnist(args.data or None).x[:args.images]
        if args.worker in ('callback', 'plain'):
            seconds, share = worker_callback(x, args.epochs, args.sample, monitor=args.worker == 'callback')
            print(json.dumps({'seconds_per_epoch': seconds, 'own_share': share}))
            return
        if args.worker in ('cost_keras', 'cost_torch'):
            print(json.dumps(worker_cost(args.worker.split('_')[1], x, args.epochs, args.sample)))
            return
        if args.worker in ('lightning', 'lightning_plain'):
            seconds, share = worker_lightning(x, args.epochs, args.sample, monitor=args.worker == 'lightning')
            print(json.dumps({'seconds_per_epoch': seconds, 'own_share': share}))
            return
        if args.worker in ('torch', 'torch_plain'):
            seconds, share, where = worker_torch(x, args.epochs, args.sample, monitor=args.worker == 'torch')
            print(json.dumps({'seconds_per_epoch': seconds, 'own_share': share, 'where': where}))
            return
        rate = (worker_ours if args.worker == 'ours' else worker_keras)(x, args.epochs)
        print(json.dumps({'images_per_second': rate}))
        return
    parts = args.only or ['faithful', 'probe', 'callback', 'torch', 'step']
    print(f'machine: {data.machine()}', flush=True)
    if 'faithful' in parts or 'probe' in parts:  # first, so the peak memory of finished children is this run's alone
        with tempfile.TemporaryDirectory() as tmp:
            faithful = faithful_run(args, tmp)
            if 'faithful' in parts:
                print('\nwhere the faithful 501-epoch run\'s time goes\n')
                print(time_table(faithful), flush=True)
                print(f'\npeak resident memory of that run: {faithful["rss"]:,.0f} MiB', flush=True)
            if 'probe' in parts:
                print('\nthe linear probe on that run\'s codes, alone and under load\n')
                print(probe_table(run_worker('probe', args, '--run', str(faithful['run_dir']))), flush=True)
    if 'callback' in parts:
        plain, monitored, shares = [], [], []
        for k in range(args.repeats):
            plain.append(run_worker('plain', args)['seconds_per_epoch'])
            got = run_worker('callback', args)
            monitored.append(got['seconds_per_epoch'])
            shares.append(got['own_share'])
            print(f'repeat {k + 1}/{args.repeats}: fit {plain[-1]:.2f} s/epoch, with HealthMonitor(every=1) '
                  f'{monitored[-1]:.2f} s/epoch, of which the callback\'s own work {shares[-1]:.1%} of the rest', flush=True)
        a, b = statistics.median(plain), statistics.median(monitored)
        paired = statistics.median(m / p for p, m in zip(plain, monitored))  # each pair ran one after the other
        print(f'\nthe health monitor on a Keras fit of the fixed network ({args.images} images x {args.epochs} '
              f'epoch(s), batch {BATCH}, sample {args.sample}, every=1), median of {args.repeats}\n')
        print('| fit | seconds per epoch |\n|---|---|')
        print(f'| without the callback | {a:.2f} |\n| with HealthMonitor(sample, every=1) | {b:.2f} |')
        print(f'| cost: the medians\' ratio | {b / a - 1:+.1%} |')
        print(f'| cost: the median of the {args.repeats} pairs\' ratios | {paired - 1:+.1%} |')
        print(f'| cost: the callback\'s own time (it times itself) over the rest of the fit, median | '
              f'{statistics.median(shares):+.1%} |', flush=True)
    if 'torch' in parts:
        plain, monitored, shares, where = [], [], [], []
        for k in range(args.repeats):
            plain.append(run_worker('torch_plain', args)['seconds_per_epoch'])
            got = run_worker('torch', args)
            monitored.append(got['seconds_per_epoch'])
            shares.append(got['own_share'])
            where.append(got['where'])
            print(f'repeat {k + 1}/{args.repeats}: loop {plain[-1]:.2f} s/epoch, with aehealth.torch.HealthMonitor(every=1) '
                  f'{monitored[-1]:.2f} s/epoch, of which the monitor\'s own work {shares[-1]:.1%} of the rest', flush=True)
        a, b = statistics.median(plain), statistics.median(monitored)
        paired = statistics.median(m / p for p, m in zip(plain, monitored))
        print(f'\nthe PyTorch monitor on a loop of a conv autoencoder ({args.images} images x {args.epochs} epoch(s), '
              f'batch {TORCH_BATCH}, sample {args.sample}, every=1), median of {args.repeats}\n')
        print('| loop | seconds per epoch |\n|---|---|')
        print(f'| without the monitor | {a:.2f} |\n| with HealthMonitor(model, sample, loss_fn, optimizer, every=1) | {b:.2f} |')
        print(f'| cost: the medians\' ratio | {b / a - 1:+.1%} |')
        print(f'| cost: the median of the {args.repeats} pairs\' ratios | {paired - 1:+.1%} |')
        print(f'| cost: the monitor\'s own time (it times itself) over the rest of the loop, median | '
              f'{statistics.median(shares):+.1%} |')
        print(f'\nwhere one check\'s {statistics.median(w["check_seconds"] for w in where):.2f} s go (cProfile, median '
              f'of the repeats; parts overlap: the loss runs inside the model pass of a VAE only)\n')
        print('| part | share of a check |\n|---|---|')
        for words in where[0]:
            if words != 'check_seconds':
                print(f'| {words} | {statistics.median(w[words] for w in where):.0%} |')
    if 'cost' in parts:
        cost_table(args)
    if 'trial' in parts:
        trial_table(args)
    if 'lightning' in parts:
        plain, monitored, shares = [], [], []
        for k in range(args.repeats):
            plain.append(run_worker('lightning_plain', args)['seconds_per_epoch'])
            got = run_worker('lightning', args)
            monitored.append(got['seconds_per_epoch'])
            shares.append(got['own_share'])
            print(f'repeat {k + 1}/{args.repeats}: fit {plain[-1]:.2f} s/epoch, with HealthCallback(every=1) '
                  f'{monitored[-1]:.2f} s/epoch, of which the callback\'s own work {shares[-1]:.1%} of the rest',
                  flush=True)
        a, b = statistics.median(plain), statistics.median(monitored)
        paired = statistics.median(m / p for p, m in zip(plain, monitored))
        print(f'\nthe Lightning callback on a fit of the conv autoencoder ({args.images} images x {args.epochs} '
              f'epoch(s), batch {TORCH_BATCH}, sample {args.sample}, every=1), median of {args.repeats}\n')
        print('| fit | seconds per epoch |\n|---|---|')
        print(f'| Trainer.fit | {a:.2f} |\n| with HealthCallback(sample, every=1) | {b:.2f} |')
        print(f'| cost: the medians\' ratio | {b / a - 1:+.1%} |')
        print(f'| cost: the median of the {args.repeats} pairs\' ratios | {paired - 1:+.1%} |')
        print(f'| cost: the callback\'s own time over the rest of the fit, median | {statistics.median(shares):+.1%} |',
              flush=True)
    if 'step' in parts:
        ours, keras = [], []
        for k in range(args.repeats):
            ours.append(run_worker('ours', args)['images_per_second'])
            keras.append(run_worker('keras', args)['images_per_second'])
            print(f'repeat {k + 1}/{args.repeats}: ours {ours[-1]:,.0f} img/s, Keras {keras[-1]:,.0f} img/s', flush=True)
        forward, train = training_flops_per_image(*KERNELS)
        limit = numpy_gflops()
        o, k = statistics.median(ours), statistics.median(keras)
        print(f'\ntraining step, fixed batching, kernels {KERNELS[0]}x{KERNELS[0]},{KERNELS[1]}x{KERNELS[1]}, batch '
              f'{BATCH}, {args.images} images x {args.epochs} pass(es), median of {args.repeats}, {os.cpu_count()} cores\n')
        print('| measure | value |\n|---|---|')
        print(f'| ours (tf.compat.v1 Session) | {o:,.0f} img/s |')
        print(f'| Keras Model.fit | {k:,.0f} img/s |')
        print(f'| ours / Keras | {o / k:.2f} |')
        print(f'| FLOPs per image: forward / training | {forward / 1e6:.2f} M / {train / 1e6:.2f} M |')
        print(f'| ours achieved | {o * train / 1e9:.1f} GFLOP/s |')
        print(f'| numpy float32 2048x2048 matmul | {limit:.1f} GFLOP/s |')
        print(f'| ours / matmul limit | {o * train / 1e9 / limit:.2f} |')


if __name__ == '__main__':
    main()
