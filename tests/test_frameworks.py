"""The same network, built in Keras and in PyTorch with the same weights, is described alike and judged alike: the
judgements about a network (which layer is the output's, the code, what is measured after an activation, what is a
VAE) are the core's, made once (aehealth.network), so the two front-ends agree by construction."""
import numpy as np
import pytest

from conftest import SUBSET

keras = pytest.importorskip('keras')
torch = pytest.importorskip('torch')
import torch.nn.functional as F  # noqa: E402
from keras import layers as L  # noqa: E402
from torch import nn  # noqa: E402

from aehealth import keras as ak  # noqa: E402
from aehealth import monitor as core  # noqa: E402
from aehealth import torch as at  # noqa: E402

with np.load(SUBSET) as f:
    X = f['x_train'][:300].reshape(-1, 784).astype('float32') / 255


def copy_dense(dense, linear):
    """A Keras Dense layer's weights into a torch Linear (its kernel is the Linear's weight transposed)."""
    kernel, bias = dense.get_weights()
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(kernel.T))
        linear.bias.copy_(torch.as_tensor(bias))


def snapshot(probe, x, targets):
    """The metrics of one check of the untrained model, made from a front-end's probe."""
    session = core.Session(probe, x, targets, core.Record(fixes=probe.framework))
    session.check(0)
    return session.metrics(0, None)


class FunctionalDense(nn.Module):
    """Activations written in forward(), as PyTorch users write them."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 32), nn.Linear(32, 784)

    def forward(self, x):
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x))))


class Scaled(nn.Module):
    """An output made after the last activation (`255 * sigmoid`): its range is not judged. (The sigmoid is a module
    here: one written in forward() whose result only an operation takes is not seen, docs/aehealth.md.)"""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.sigmoid = nn.Linear(784, 32), nn.Linear(32, 784), nn.Sigmoid()

    def forward(self, x):
        return 255 * self.sigmoid(self.fc2(F.relu(self.fc1(x))))


class ModuleDense(nn.Module):
    """Activation modules after the weight layers, and a trailing activation."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 784),
                                 nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


class MeanDecoded(nn.Module):
    """A VAE's (reconstruction, mean, log-variance), the mean decoded (no sampling, so both frameworks agree)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.mu, self.log_var, self.fc2 = nn.Linear(784, 64), nn.Linear(64, 4), nn.Linear(64, 4), \
            nn.Linear(4, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu = self.mu(h)
        return torch.sigmoid(self.fc2(mu)), mu, self.log_var(h)


def keras_functional_dense(scale=None):
    model = keras.Sequential([keras.Input((784,)), L.Dense(32, activation='relu'), L.Dense(784, activation='sigmoid')]
                             + ([L.Rescaling(scale)] if scale else []))
    return model, [model.layers[0], model.layers[1]]


class InCall(keras.Model):
    """Activations written in call(), as PyTorch users write Keras: read from the values (aehealth.network.applied)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = L.Dense(32), L.Dense(784)

    def call(self, x):
        return keras.ops.sigmoid(self.fc2(keras.ops.relu(self.fc1(x))))


def keras_in_call():
    model = InCall()
    model(X[:1])  # built, so that its weights can be copied
    return model, [model.fc1, model.fc2]


def keras_module_dense():
    model = keras.Sequential([keras.Input((784,)), L.Dense(64), L.ReLU(), L.Dense(16), L.Activation('tanh'),
                              L.Dense(784), L.Activation('sigmoid')])
    return model, [model.layers[0], model.layers[2], model.layers[4]]


def keras_mean_decoded():
    dense = [L.Dense(64, activation='relu'), L.Dense(4), L.Dense(4), L.Dense(784, activation='sigmoid')]
    i = keras.Input((784,))
    h = dense[0](i)
    mu, log_var = dense[1](h), dense[2](h)
    return keras.Model(i, [dense[3](mu), mu, log_var]), dense


CASES = {
    'functional': (keras_functional_dense, FunctionalDense, lambda out, x: F.mse_loss(out, x), X),
    'activations_in_call': (keras_in_call, FunctionalDense, lambda out, x: F.mse_loss(out, x), X),
    'modules': (keras_module_dense, ModuleDense, lambda out, x: F.mse_loss(out, x), X),
    'vae': (keras_mean_decoded, MeanDecoded, lambda out, x: F.mse_loss(out[0], x), X),
    'scaled_output': (lambda: keras_functional_dense(255.0), Scaled,
                      lambda out, x: F.mse_loss(out, x), X * 255),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_the_same_network_in_both_frameworks_is_described_and_judged_alike(name):
    make_keras, make_torch, loss_fn, targets = CASES[name]
    keras.utils.set_random_seed(0)
    model, dense = make_keras()
    model.compile(optimizer='adam', loss=['mse', None, None] if name == 'vae' else 'mse')
    module = make_torch()
    for layer, linear in zip(dense, [m for m in module.modules() if isinstance(m, nn.Linear)]):
        copy_dense(layer, linear)
    k = snapshot(ak.Probe(model, X, targets), X, targets)
    t = snapshot(at.Probe(module, X, targets, loss_fn), X, targets)
    kn, tn = k['network'], t['network']
    assert [(layer['activation'], layer['units']) for layer in kn['layers']] == \
        [(layer['activation'], layer['units']) for layer in tn['layers']]
    keys = [[layer['key'] for layer in net['layers']] for net in (kn, tn)]
    assert keys[0].index(kn['code']) == keys[1].index(tn['code']) and keys[0][-1] == kn['output']
    assert len(kn['kernels']) == len(tn['kernels'])
    ks, ts = k['health'][0], t['health'][0]
    for a, b in zip(keys[0], keys[1]):
        for stat in ('mean', 'spread', 'rms', 'dead', 'saturated'):
            if stat in ks['layers'][a] or stat in ts['layers'][b]:
                assert ks['layers'][a][stat] == pytest.approx(ts['layers'][b][stat], rel=1e-3, abs=1e-6), (a, stat)
    assert ks['output_diversity'] == pytest.approx(ts['output_diversity'], rel=1e-4)
    assert list(ks['grad_norm'].values()) == pytest.approx(list(ts['grad_norm'].values()), rel=1e-3)
    assert [(f['rule'], f['level']) for f in k['findings']] == [(f['rule'], f['level']) for f in t['findings']]
    if name == 'vae':
        assert kn['code'] == keys[0][1] and ks['posterior']['dims'] == ts['posterior']['dims'] == 4
    if name == 'scaled_output':  # the output is made after the sigmoid: its range is not judged, in either
        assert kn['layers'][-1]['activation'] is None and tn['layers'][-1]['activation'] is None
