"""Shared fixtures: the committed MNIST subset and a way to run the command line."""
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ROOT / 'tests' / 'data' / 'mnist_subset.npz'
HANG = 1800  # seconds: a timeout only catches a hang; a slow, busy machine must never reach it
sys.path.insert(0, str(ROOT))
os.environ.pop('MNIST_PATH', None)  # the tests use the committed subset, whatever MNIST a user's shell names
# Under pytest-xdist each test process (and every program it starts) gets its share of the cores: a framework that
# takes every core in each process has its threads spin against the other's (the corpus ran 3x slower in CI).
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
THREADS = max(1, (os.cpu_count() or 1) // WORKERS)
if WORKERS > 1:
    for variable in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
        os.environ.setdefault(variable, str(THREADS))


def interruptible():
    """For Popen's preexec_fn: a child that Ctrl-C can stop even if this test run was started with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_line(stream, wanted, timeout=HANG):
    """Read lines from a child's output until one satisfies wanted(line); return it (fail if the output ends)."""
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream] + [lines.put(None)], daemon=True).start()
    while True:
        line = lines.get(timeout=timeout)
        assert line is not None, 'the program ended before printing the line waited for'
        if wanted(line):
            return line


def cli(script, *args, timeout=HANG, **kwargs):
    """Run `python script args...` from the repo root; return the CompletedProcess (text output)."""
    env = dict(os.environ, **kwargs.pop('env', {}))
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


@pytest.fixture(scope='session')
def subset():
    """The committed subset, in the question's label order."""
    import data
    return data.load_mnist(SUBSET)


def finished_run(tmp_path_factory, name, *flags):
    """Run autoencoder.py on the subset once for all test processes; return (completed process, run folder)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # the folder the xdist workers share: the first to ask makes the run, the others read it
    out, record = root / f'shared-{name}', root / f'shared-{name}.json'
    with open(root / f'shared-{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not record.exists():
            proc = cli('autoencoder.py', '--data', SUBSET, '--out', out, '--threads', THREADS, *flags)
            assert proc.returncode == 0, proc.stderr[-3000:]
            record.write_text(json.dumps(dict(args=proc.args, stdout=proc.stdout, stderr=proc.stderr)))
    saved = json.loads(record.read_text())
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return subprocess.CompletedProcess(saved['args'], 0, saved['stdout'], saved['stderr']), run_dir


@pytest.fixture(scope='session')
def faithful_run(tmp_path_factory):
    """The question's code on the subset: 100 epochs, loss printed every 25."""
    return finished_run(tmp_path_factory, 'faithful', '--epochs', 100, '--eval-every', 25)


@pytest.fixture(scope='session')
def fix_run(tmp_path_factory):
    """--fix on the subset for 100 epochs (200 real steps)."""
    return finished_run(tmp_path_factory, 'fix', '--fix', '--epochs', 100, '--eval-every', 25)
