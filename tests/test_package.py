"""aehealth as a package: installed alone in a fresh venv, importable with numpy only, deaf to a user's own modules."""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import HANG, ROOT

FRAMEWORKS = ('tensorflow', 'keras', 'torch', 'matplotlib', 'sklearn', 'data', 'diagnostics', 'visualize',
              'autoencoder')


# pip writes no bytecode into the test venvs: compiling torch's files took two thirds of its install (27 s against
# 9 s, docs/speed.md), and what a test imports is compiled as it is imported, as anywhere bytecode is not written.
PIP_INSTALL = ['-m', 'pip', 'install', '-q', '--no-compile']


def run(args, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=HANG, **kwargs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_import_aehealth_needs_numpy_only(tmp_path):
    out = run([sys.executable, '-c', 'import sys, aehealth, aehealth.rules, aehealth.stats, aehealth.monitor, '
               'aehealth.events, aehealth.__main__; print(sorted({m.split(".")[0] for m in sys.modules} & '
               f'set({FRAMEWORKS!r})))'], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.strip() == '[]'


USER_SCRIPT = '''
import numpy as np, keras, torch
from aehealth.keras import preflight as keras_preflight
from aehealth.torch import preflight as torch_preflight
x = np.random.default_rng(0).uniform(size=(64, 20)).astype('float32')
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(8, activation='relu'), keras.layers.Dense(20)])
model.compile(optimizer='adam', loss='mse')
print(sum(f['level'] == 'failure' for f in keras_preflight(model, x * 255, verbose=False)))
module = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 20))
print(','.join(f['rule'] for f in torch_preflight(module, x, torch.nn.MSELoss(), targets=x[:, :1], verbose=False)
               if f['level'] == 'failure'))
'''


def test_a_users_own_modules_next_to_the_script_make_no_difference(tmp_path):
    for name in ('data', 'visualize', 'utils', 'diagnostics', 'health', 'rules', 'stats', 'monitor'):
        (tmp_path / f'{name}.py').write_text(f'raise ImportError("the user\'s own {name}.py was imported")\n')
    (tmp_path / 'train.py').write_text(USER_SCRIPT)
    out = run([sys.executable, 'train.py'], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.split()[-2] == '0' and 'shape_mismatch' in out.split()[-1].split(',')


def copy_of_the_repository(dest):
    """The repository's files as a clone has them (no venv, runs or build folders), committed in a git repository."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns('.git', '.venv', 'runs', 'build', '*.egg-info',
                                                              '__pycache__', '.pytest_cache'))
    git = ['git', '-c', 'user.name=test', '-c', 'user.email=test@example.com']
    run(git + ['init', '-q'], cwd=dest)
    run(git + ['add', '-A'], cwd=dest)
    run(git + ['commit', '-q', '-m', 'copy'], cwd=dest)


TORCH_SCRIPT = '''
import importlib.util, sys
import numpy as np, torch
from aehealth.torch import HealthMonitor, preflight
assert importlib.util.find_spec('tensorflow') is None and importlib.util.find_spec('keras') is None
x = np.random.default_rng(0).uniform(size=(64, 20)).astype('float32')
module = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 20), torch.nn.Sigmoid())
print(preflight(module, x * 255, torch.nn.MSELoss(), verbose=False)[0]['rule'])
'''


def test_pip_install_gives_aehealth_alone_and_the_torch_extra_works_without_tensorflow(tmp_path):
    """In a venv of its own: `pip install .` (numpy only), then the torch extra from git, as a user would (a
    local URL needs its host named for pip to read it: file://localhost/...)."""
    clone, env_dir, elsewhere = tmp_path / 'clone', tmp_path / 'venv', tmp_path / 'elsewhere'
    copy_of_the_repository(clone)
    elsewhere.mkdir()
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / 'bin' / 'python')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    site = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], env=env).strip()
    before = set(os.listdir(site))
    run([python, *PIP_INSTALL, '.'], cwd=clone, env=env)
    added = {name for name in set(os.listdir(site)) - before if not name.startswith(('numpy', '__pycache__'))}
    assert {name.split('-')[0] for name in added} == {'aehealth'} and 'aehealth' in added, added
    out = run([python, '-c', 'import sys, aehealth, aehealth.rules; print(aehealth.__version__, sorted({m.split(".")[0] '
               f'for m in sys.modules}} & set({FRAMEWORKS!r})))'], cwd=elsewhere, env=env)
    assert out.split()[1:] == ['[]']
    missing = subprocess.run([python, '-c', 'import aehealth.keras'], cwd=elsewhere, env=env, capture_output=True,
                             text=True, timeout=HANG)
    assert missing.returncode == 1 and 'pip install "aehealth[keras]"' in missing.stderr.strip().splitlines()[-1]
    run([python, '-m', 'pip', 'uninstall', '-q', '-y', 'aehealth'], env=env)
    run([python, *PIP_INSTALL, 'torch==2.13.0', f'aehealth[torch] @ git+file://localhost{clone}'], env=env)
    assert run([python, '-c', TORCH_SCRIPT], cwd=elsewhere, env=env).strip() == 'targets_out_of_range'


def test_the_installed_keras_front_end_is_the_one_the_tests_use(tmp_path):
    """requirements.txt installs the package with its extras: from anywhere, aehealth.keras imports from it."""
    out = run([sys.executable, '-c', 'import aehealth.keras, aehealth.plot; print(aehealth.keras.__file__)'],
              cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
    if Path(out.strip()).parent == ROOT / 'aehealth':  # CI's venv lies inside the clone: compare the folder itself
        pytest.skip('aehealth is installed in editable mode here')
    assert 'site-packages' in out


KERAS_SCRIPT = '''
import importlib.util, os, sys
import numpy as np, keras
from aehealth.keras import HealthMonitor, preflight
assert importlib.util.find_spec('tensorflow') is None and keras.backend.backend() == os.environ['KERAS_BACKEND']
x = np.random.default_rng(0).uniform(size=(256, 20)).astype('float32')
model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(8, activation='relu'),
                          keras.layers.Dense(20, activation='sigmoid')])
model.compile(optimizer='adam', loss='mse')
print(','.join(f['rule'] for f in preflight(model, x * 255, verbose=False) if f['level'] == 'failure'))
monitor = HealthMonitor(x[:100], verbose=False)
model.fit(x, x, epochs=2, batch_size=32, verbose=0, callbacks=[monitor])
print(len(monitor.metrics['health']), sorted(monitor.metrics['not_measured']))
'''

LIGHTNING_SCRIPT = '''
import importlib.util
import numpy as np, torch, lightning as L
from aehealth.lightning import HealthCallback
assert importlib.util.find_spec('tensorflow') is None


class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 20))
        self.loss_fn = torch.nn.MSELoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        return self.loss_fn(self(batch), batch)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


x = np.random.default_rng(0).uniform(size=(256, 20)).astype('float32')
callback = HealthCallback(x[:100] * 255, verbose=False)
trainer = L.Trainer(max_epochs=2, callbacks=[callback], logger=False, enable_progress_bar=False,
                    enable_checkpointing=False, enable_model_summary=False)
trainer.fit(Module(), torch.utils.data.DataLoader(torch.as_tensor(x * 255), batch_size=32))
print(','.join(f['rule'] for f in callback.findings if f['rule'] == 'inputs_not_scaled'))
'''

EXTRAS = {  # extra: (what else pip installs with it, the environment, the script, what it prints last)
    'keras-jax': ([], {'KERAS_BACKEND': 'jax'}, KERAS_SCRIPT, "3 []"),
    'keras-torch': (['torch==2.13.0'], {'KERAS_BACKEND': 'torch'}, KERAS_SCRIPT, "3 []"),
    'lightning': (['torch==2.13.0'], {}, LIGHTNING_SCRIPT, 'inputs_not_scaled'),
}


@pytest.mark.parametrize('extra', list(EXTRAS))
def test_each_extra_installs_in_a_fresh_venv_and_its_front_end_runs_there(tmp_path, extra):
    """`pip install ".[extra]"` in a venv of its own (torch pinned to the CPU build), then the front-end's snippet,
    from another folder, without TensorFlow."""
    pins, variables, script, last = EXTRAS[extra]
    clone, env_dir, elsewhere = tmp_path / 'clone', tmp_path / 'venv', tmp_path / 'elsewhere'
    copy_of_the_repository(clone)
    elsewhere.mkdir()
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / 'bin' / 'python')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'KERAS_BACKEND')}
    run([python, *PIP_INSTALL, *pins, f'.[{extra}]'], cwd=clone, env=env)
    out = run([python, '-c', script], cwd=elsewhere, env=dict(env, **variables))
    lines = out.strip().splitlines()
    assert lines[-1] == last, out[-2000:]
    if extra.startswith('keras'):
        assert set(lines[-2].split(',')) >= {'inputs_not_scaled', 'targets_out_of_range'}, out[-2000:]
