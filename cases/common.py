"""What every case shares: the committed MNIST subset, and running a case as its reporter would, watched.

A case module names its FRAMEWORK ('keras' unless it says 'torch' or 'lightning'; a Keras case may name the BACKEND
it ran on), its SOURCE, the SYMPTOM reported, the CAUSE and FIX its answer or maintainer gave, the rules whose
findings name that cause (NAMES; empty for a control, None when no cause was given), and build(fixed) -> the model,
the training data and how it was trained, as reported (fixed=True: with the answer's fix). `run` trains it beside a
monitor after a pre-flight check; a case passes when its failure findings name the cause and its fixed version has
none; a case with no documented cause, when its run is stuck and the report names a cause or says that none fired.
"""
import importlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import data  # noqa: E402
from aehealth import rules  # noqa: E402
from aehealth.monitor import quiet_stderr  # noqa: E402

SUBSET = ROOT / 'tests' / 'data' / 'mnist_subset.npz'
SAMPLE = 300  # rows the monitor measures on


def mnist():
    """The committed MNIST subset as keras.datasets.mnist.load_data() gives it: uint8 (1200, 28, 28) and (200, 28, 28)."""
    arrays = data.read_arrays(SUBSET)
    return arrays['x_train'], arrays['x_test']


def quiet_keras():
    """Keras, imported with TensorFlow's C++ start-up chatter hidden, as autoencoder.py hides it."""
    with quiet_stderr():
        import keras
        keras.ops.zeros(1)  # the first op looks for a GPU, and TF's C++ logs that there is none
    return keras


def load(name):
    """A case's module; TensorFlow comes in (quietly) for a Keras case only, so a PyTorch case's process never has it."""
    with quiet_stderr():  # a Keras case imports keras first thing
        case = importlib.import_module(f'cases.{name}')
    if getattr(case, 'FRAMEWORK', 'keras') == 'keras':
        quiet_keras()
    return case


def run(case, fixed=False, seed=0):
    """Build the case, check it before training, train it with the monitor; its findings and numbers."""
    if getattr(case, 'FRAMEWORK', 'keras') == 'torch':
        return run_torch(case, fixed, seed)
    if getattr(case, 'FRAMEWORK', 'keras') == 'lightning':
        return run_lightning(case, fixed, seed)
    if getattr(case, 'BACKEND', 'tensorflow') != os.environ.get('KERAS_BACKEND', 'tensorflow'):
        return run_elsewhere(case, fixed, seed)
    import keras

    from aehealth.keras import HealthMonitor, preflight
    keras.utils.set_random_seed(seed)
    spec = case.build(fixed)
    model, x, y = spec['model'], spec['x'], spec['y']
    sample, targets = x[:SAMPLE], y[:SAMPLE]
    repeat = spec.get('repeat', 1)  # an epoch here passes the data `repeat` times: Keras spends ~0.1 s on each epoch
    x, y = np.concatenate([x] * repeat), np.concatenate([y] * repeat)
    t0 = time.perf_counter()
    forward = spec.get('forward')  # a VAE's: (reconstruction, mean, log-variance)
    before = preflight(model, sample, targets=targets, verbose=False, forward=forward)
    monitor = HealthMonitor(sample, targets=targets, verbose=False, every=spec.get('every', 1), forward=forward)
    model.fit(x, y, callbacks=[monitor], verbose=0, **spec['fit'])
    return dict(preflight=before, findings=monitor.findings, metrics=monitor.metrics,
                seconds=time.perf_counter() - t0, model=model, sample=sample, targets=targets)


def plain_epoch(model, optimizer, loss_fn, xt, yt, batch_size, scheduler=None):
    """One epoch of the tutorials' loop: shuffled batches, zero_grad, backward, step; the scheduler stepped after it.
    Returns the last batch's loss."""
    import torch
    model.train()
    order = torch.randperm(len(xt))
    for i in range(0, len(xt), batch_size):
        rows = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(xt[rows]), yt[rows])
        loss.backward()
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss


ELSEWHERE = """
import json, sys
from cases import common
result = common.run(common.load(sys.argv[1]), sys.argv[2] == 'fixed', int(sys.argv[3]))
print(json.dumps({k: result[k] for k in ('preflight', 'findings', 'metrics', 'seconds')},
                 default=lambda o: o.tolist() if hasattr(o, 'tolist') else str(o)))
"""


def run_elsewhere(case, fixed=False, seed=0):
    """A Keras case on the backend it names (BACKEND), in a process of its own: Keras picks its backend at import.
    Its findings and numbers, not its model."""
    import json
    import subprocess
    env = dict(os.environ, KERAS_BACKEND=case.BACKEND, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, '-c', ELSEWHERE, case.__name__.split('.')[-1],
                           'fixed' if fixed else 'reported', str(seed)], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f'{case.__name__} on {case.BACKEND}: {proc.stderr.strip().splitlines()[-1:]}')
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), model=None, sample=None, targets=None)


def run_lightning(case, fixed=False, seed=0):
    """A Lightning case: its LightningModule fitted by a Trainer on (image, label) batches, as its repository trains
    it, with aehealth.lightning.HealthCallback beside it."""
    import lightning.pytorch as pl
    import torch

    from aehealth.lightning import HealthCallback
    from aehealth.torch import preflight as torch_preflight
    torch.manual_seed(seed)
    spec = case.build(fixed)
    module, x, loss_fn = spec['module'], spec['x'], spec['loss_fn']
    labels = data.read_arrays(SUBSET)['y_train'][:len(x)].astype('int64')
    sample = x[:SAMPLE]
    t0 = time.perf_counter()
    before = torch_preflight(module, sample, loss_fn, verbose=False)
    callback = HealthCallback(sample, loss_fn=loss_fn, verbose=False)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(labels)),
                                         batch_size=spec['batch_size'], shuffle=True)
    logging.getLogger('lightning.pytorch').setLevel(logging.WARNING)  # its start-up lines (no GPU, tips)
    trainer = pl.Trainer(max_epochs=spec['epochs'], accelerator='cpu', callbacks=[callback], logger=False,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # Lightning's advice on workers and logging: about its set-up, not the case
        trainer.fit(module, loader)
    return dict(preflight=before, findings=callback.findings, metrics=callback.metrics,
                seconds=time.perf_counter() - t0, model=module, sample=sample, targets=sample)


def run_torch(case, fixed=False, seed=0):
    """A PyTorch case: the loop its report ran (the tutorials' plain loop unless the case gives its own `epoch`),
    with aehealth.torch beside it."""
    import torch

    from aehealth.torch import HealthMonitor as TorchMonitor
    from aehealth.torch import preflight as torch_preflight
    torch.manual_seed(seed)
    spec = case.build(fixed)
    model, x, y, loss_fn = spec['model'], spec['x'], spec['y'], spec['loss_fn']
    sample, targets = x[:SAMPLE], y[:SAMPLE]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # MSELoss' broadcast warning: a case reproduces what it warns of
        before = torch_preflight(model, sample, loss_fn, targets=targets, verbose=False)
        optimizer = spec['make_optimizer'](model) if 'make_optimizer' in spec else spec['optimizer'](model.parameters())
        scheduler = spec['scheduler'](optimizer) if 'scheduler' in spec else None
        monitor = TorchMonitor(model, sample, loss_fn, optimizer, targets=targets, every=spec.get('every', 1),
                               verbose=False)
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        epoch = spec.get('epoch', plain_epoch)
        for _ in range(spec['epochs']):
            loss = epoch(model, optimizer, loss_fn, xt, yt, spec['batch_size'], scheduler)
            monitor.epoch_end(loss.item())
        monitor.finish()
    return dict(preflight=before, findings=monitor.findings, metrics=monitor.metrics,
                seconds=time.perf_counter() - t0, model=model, sample=sample, targets=targets)


def failures(findings):
    """The rules of the failure findings."""
    return [f['rule'] for f in findings if f['level'] == 'failure']


def names_a_cause(findings):
    """Whether a stuck run's report names a cause, or says that none fired (the rule 'unexplained')."""
    return any(rules.REGISTRY.kind(f['rule']) in ('blocker', 'cause') for f in findings if f['level'] == 'failure')


def verdict(case, broken, fixed):
    """(names the cause?, fixed version clean?) as the case's test judges them; a case with no documented cause:
    (stuck and a cause named or none said to fire?, None)."""
    if case.NAMES is None:
        return bool(failures(broken['findings'])) and names_a_cause(broken['findings']), None
    names = bool(set(failures(broken['findings'])) & set(case.NAMES)) if case.NAMES else not failures(broken['findings'])
    return names, not failures(fixed['findings'])


def main(case):
    """Run a case and its fix as a user would, and print what each check said."""
    for fixed in (False, True) if case.FIX else (False,):
        result = run(case, fixed)
        print(f'\n== {case.__name__.split(".")[-1]}, {"with the fix" if fixed else "as reported"} '
              f'({result["seconds"]:.1f} s): {case.FIX if fixed else case.SYMPTOM}')
        print('pre-flight:')
        print('\n'.join('  ' + line for line in rules.finding_lines(result['preflight'])))
        print(f'after training ({result["metrics"]["epochs_done"]} epochs, final loss {result["metrics"]["final_loss"]:.4g}):')
        print('\n'.join('  ' + line for line in rules.finding_lines(result['findings'])))
