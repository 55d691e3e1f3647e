"""aehealth.torch beside a plain DistributedDataParallel loop: two processes on the CPU (gloo, loopback), the monitor
made on both ranks as a user writes it; the run ends, rank 0 prints the one report, rank 1 returns at once, and the
findings are the one-process run's, on a failing and a healthy model. (Lightning's strategy="ddp":
test_lightning.py.)"""
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import HANG, ROOT, SUBSET

torch = pytest.importorskip('torch')
from torch import nn  # noqa: E402

from aehealth.torch import HealthMonitor  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'].reshape(-1, 784).astype('float32') / 255


def autoencoder(output):
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(),
                         nn.Linear(128, 784), nn.Softmax(dim=1) if output == 'softmax' else nn.Sigmoid())


def train(rank, world, port, output, epochs=8, batch=32, data_parallel=False):
    """The DDP tutorial's loop, with the monitor beside it; world 1: one process, without torch.distributed
    (`data_parallel`: the model wrapped in nn.DataParallel, as single-machine code often is)."""
    torch.manual_seed(0)
    model, loss_fn = autoencoder(output), nn.MSELoss()
    if data_parallel:
        model = nn.DataParallel(model)
    if world > 1:
        torch.distributed.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                                             world_size=world)
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    data = torch.utils.data.TensorDataset(torch.as_tensor(X))
    sampler = torch.utils.data.distributed.DistributedSampler(data, world, rank) if world > 1 else None
    loader = torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler, shuffle=sampler is None)
    with HealthMonitor(model, X[:300], loss_fn, optimizer, verbose=world > 1) as monitor:
        for epoch in range(epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            for (x,) in loader:
                optimizer.zero_grad()
                loss_fn(model(x), x).backward()
                optimizer.step()
            monitor.epoch_end()
    if world > 1:
        torch.distributed.destroy_process_group()
    return sorted(f['rule'] for f in monitor.findings if f['level'] == 'failure')


def spawned(rank, world, port, output):
    print(f'rank {rank} failures', train(rank, world, port, output), flush=True)


SCRIPT = '''
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import torch.multiprocessing
import test_distributed as t
if __name__ == '__main__':
    torch.multiprocessing.spawn(t.spawned, args=(2, {port}, {output!r}), nprocs=2)
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('output', ['softmax', pytest.param('sigmoid', marks=pytest.mark.slow)])
def test_two_processes_end_with_one_report_and_the_one_process_findings(tmp_path, output):
    alone = train(0, 1, None, output, batch=64)  # the same steps as two processes of 32 rows each
    assert ('softmax_output' in alone) == (output == 'softmax') and (alone == []) == (output == 'sigmoid')
    (tmp_path / 'ddp.py').write_text(SCRIPT.format(root=str(ROOT), tests=str(ROOT / 'tests'), port=free_port(),
                                                   output=output))
    proc = subprocess.run([sys.executable, str(tmp_path / 'ddp.py')], capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('health monitor:') == 1, proc.stdout[-3000:]  # rank 0's report only
    assert 'rank 1 failures []' in proc.stdout
    assert f'rank 0 failures {alone}' in proc.stdout, proc.stdout[-3000:]


def test_weights_sharded_by_fsdp_get_one_line_on_every_rank(tmp_path):
    script = f'''
import sys; sys.path.insert(0, {str(ROOT)!r})
import numpy as np, torch
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from aehealth.contracts import UsageError
from aehealth.torch import HealthMonitor
torch.distributed.init_process_group('gloo', init_method='tcp://127.0.0.1:{free_port()}', rank=0, world_size=1)
model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid())
fully_shard(model, mesh=init_device_mesh('cpu', (1,)))
try:
    HealthMonitor(model, np.random.rand(16, 784).astype('float32'), nn.MSELoss())
except UsageError as e:
    print('refused:', e)
'''
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith('refused:')]
    assert 'sharded across processes' in line and 'unsharded' in line


@pytest.mark.parametrize('output', ['softmax', 'sigmoid'])
def test_a_data_parallel_model_is_measured_as_the_module_it_wraps(output):
    wrapped, plain = train(0, 1, None, output, data_parallel=True), train(0, 1, None, output)
    assert wrapped == plain
    assert ('softmax_output' in wrapped) if output == 'softmax' else wrapped == []
