"""aehealth.lightning: the callback on LightningModules written as the Lightning tutorials write them (a DataModule,
the loss as an attribute), failing and healthy; the findings in the trainer's logger; a fit it watches trains to the
same weights as one it does not; the older pytorch_lightning package; two processes under strategy="ddp", and a plain
DistributedDataParallel loop, each ending with one report and the one-process findings."""
import csv
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import HANG, ROOT, SUBSET

torch = pytest.importorskip('torch')
L = pytest.importorskip('lightning.pytorch')
from torch import nn  # noqa: E402

from aehealth.contracts import UsageError  # noqa: E402
from aehealth.lightning import HealthCallback  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'].reshape(-1, 784).astype('float32') / 255


class Autoencoder(L.LightningModule):
    """The Lightning tutorial's autoencoder: an encoder, a decoder, the loss kept on the module."""

    def __init__(self, output='sigmoid', loss=True):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 32))
        self.decoder = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 784),
                                     nn.Softmax(dim=1) if output == 'softmax' else nn.Sigmoid())
        if loss:
            self.criterion = nn.MSELoss()

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self(batch), batch)
        self.log('train_loss', loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


class Digits(L.LightningDataModule):
    def __init__(self, batch_size=32):
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.as_tensor(X), batch_size=self.batch_size, shuffle=True)


def fit(module, callbacks=(), epochs=4, logger=False, batch_size=32, **kwargs):
    torch.manual_seed(0)
    trainer = L.Trainer(max_epochs=epochs, accelerator='cpu', callbacks=list(callbacks), logger=logger,
                        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False, **kwargs)
    trainer.fit(module, datamodule=Digits(batch_size))
    return trainer


def failures(found):
    return sorted(f['rule'] for f in found if f['level'] == 'failure')


def test_a_softmax_output_is_named_a_healthy_module_gets_no_failure_and_the_logger_has_both(tmp_path):
    broken = HealthCallback(X[:300], verbose=False)
    fit(Autoencoder('softmax'), [broken], logger=L.loggers.CSVLogger(tmp_path, name='broken'))
    assert 'softmax_output' in failures(broken.findings) and broken.metrics['epochs_done'] == 4
    assert len(broken.metrics['health']) == 5 and broken.metrics['health'][-1]['step_update']  # the optimizer's step
    healthy = HealthCallback(X[:300], verbose=False)
    fit(Autoencoder('sigmoid'), [healthy], logger=L.loggers.CSVLogger(tmp_path, name='healthy'))
    assert failures(healthy.findings) == []
    for name, expected in (('broken', 3.0), ('healthy', 0.0)):
        (metrics,) = tmp_path.glob(f'{name}/*/metrics.csv')
        rows = list(csv.DictReader(metrics.open()))
        assert float(next(r['aehealth/failures'] for r in rows if r.get('aehealth/failures'))) == expected
        assert any(r.get('aehealth/output_diversity') for r in rows)


def test_a_fit_it_watches_trains_to_the_same_weights_as_one_it_does_not():
    plain, watched = Autoencoder(), Autoencoder()
    watched.load_state_dict(plain.state_dict())
    fit(plain, epochs=2)
    fit(watched, [HealthCallback(X[:300], verbose=False)], epochs=2)
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), name
    assert all(p.grad is None or p.grad.any() for p in watched.parameters())


def test_a_module_without_its_loss_gets_one_line_before_training():
    with pytest.raises(UsageError, match='has no loss_fn or criterion attribute: pass HealthCallback') as e:
        fit(Autoencoder(loss=False), [HealthCallback(X[:300], verbose=False)])
    assert '\n' not in str(e.value)
    given = HealthCallback(X[:300], loss_fn=nn.MSELoss(), verbose=False)
    fit(Autoencoder('softmax', loss=False), [given], epochs=2)
    assert 'softmax_output' in failures(given.findings)


def test_the_older_pytorch_lightning_package_runs_it_too():
    script = textwrap.dedent(f'''
        import sys; sys.path.insert(0, {str(ROOT)!r})
        import numpy as np, torch, pytorch_lightning as pl
        from torch import nn
        from aehealth.lightning import HealthCallback
        x = np.load({str(SUBSET)!r})['x_train'].reshape(-1, 784)[:300].astype('float32') / 255
        class Module(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Softmax(dim=1))
                self.loss_fn = nn.MSELoss()
            def forward(self, x):
                return self.net(x)
            def training_step(self, batch, i):
                return self.loss_fn(self(batch), batch)
            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), 1e-3)
        callback = HealthCallback(x, verbose=False)
        pl.Trainer(max_epochs=2, callbacks=[callback], logger=False, enable_progress_bar=False,
                   enable_checkpointing=False).fit(Module(), torch.utils.data.DataLoader(torch.as_tensor(x), 32))
        print('findings', sorted(f['rule'] for f in callback.findings if f['level'] == 'failure'))
    ''')
    pytest.importorskip('pytorch_lightning')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'softmax_output'" in proc.stdout.splitlines()[-1]


DDP = '''
import os, sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import torch
from test_lightning import Autoencoder, X, fit
from aehealth.lightning import HealthCallback

if __name__ == '__main__':
    callback = HealthCallback(X[:300])
    trainer = fit(Autoencoder({output!r}), [callback], epochs=8, devices=2, strategy='ddp')
    print(f'rank {{trainer.global_rank}} failures', sorted(f['rule'] for f in callback.findings
                                                         if f['level'] == 'failure'), flush=True)
'''


@pytest.mark.parametrize('output', ['softmax', pytest.param('sigmoid', marks=pytest.mark.slow)])
def test_under_ddp_with_two_processes_it_ends_with_one_report_and_the_one_process_findings(tmp_path, output):
    alone = HealthCallback(X[:300], verbose=False)
    fit(Autoencoder(output), [alone], epochs=8, batch_size=64)  # the steps of two processes with 32 rows each
    (tmp_path / 'ddp.py').write_text(DDP.format(root=str(ROOT), tests=str(ROOT / 'tests'), output=output))
    proc = subprocess.run([sys.executable, str(tmp_path / 'ddp.py')], capture_output=True, text=True, timeout=HANG,
                          cwd=tmp_path, env={**__import__('os').environ, 'MASTER_ADDR': '127.0.0.1',
                                             'PL_DISABLE_FORK': '1'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert out.count('health monitor:') == 1, out[-3000:]  # one report, from rank 0
    assert 'rank 1 failures []' in out
    assert f'rank 0 failures {failures(alone.findings)}' in out, out[-3000:]
