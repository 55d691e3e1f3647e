"""docs/extending.md's worked example, run: a rule registered from outside aehealth fires in both front-ends, in the
registry's order, with its fix in each framework's words, and leaves the registry as it was when removed; and the
front-ends' size limit that page states."""
import ast
from pathlib import Path

import numpy as np
import pytest

from aehealth import rules

X = np.random.default_rng(0).uniform(size=(200, 64)).astype('float32')


def overcomplete_code(ctx):
    """The code as wide as the output or wider: an autoencoder that can copy its input learns nothing of it."""
    units = {layer['key']: layer['units'] for layer in ctx.net['layers']}
    code, out = units.get(ctx.net['code']), units.get(ctx.net['output'])
    if code and out and code >= out:
        return f'overcomplete code: {ctx.net["code"]} has {code} units for {out} outputs: it can copy its input'


@pytest.fixture
def registered():
    """The example rule, registered for one test."""
    unit = rules.register(rules.Rule(
        'overcomplete_code', 'cause', 'overcomplete code', 'the code layer is as wide as the output or wider',
        'code units >= output units', 'an autoencoder that can copy its input need not learn anything about it',
        {'keras': 'make the code narrower than the input (Dense(16))',
         'torch': 'make the code narrower than the input (nn.Linear(64, 16))'}, overcomplete_code),
        after='softmax_hidden')
    try:
        yield unit
    finally:
        rules.unregister('overcomplete_code')


def test_a_rule_registered_from_outside_fires_in_keras(registered):
    keras = pytest.importorskip('keras')
    from aehealth.keras import preflight
    for width, fires in ((128, True), (16, False)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(width, activation='relu'),
                                  keras.layers.Dense(64, activation='sigmoid')])
        model.compile(optimizer='adam', loss='mse')
        found = {f['rule']: f for f in preflight(model, X, verbose=False)}
        assert ('overcomplete_code' in found) is fires
        if fires:
            assert found['overcomplete_code']['fix'].endswith('(Dense(16))')


def test_a_rule_registered_from_outside_fires_in_torch(registered):
    torch = pytest.importorskip('torch')
    from aehealth.torch import preflight
    for width, fires in ((128, True), (16, False)):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 64),
                                    torch.nn.Sigmoid())
        found = {f['rule']: f for f in preflight(model, X, torch.nn.MSELoss(), verbose=False)}
        assert ('overcomplete_code' in found) is fires
        if fires:
            assert found['overcomplete_code']['fix'].endswith('(nn.Linear(64, 16))')
            assert found['overcomplete_code']['level'] == 'warning'  # a cause before training: a warning


def test_registering_keeps_the_order_and_refuses_a_name_twice(registered):
    names = rules.REGISTRY.names()
    assert names[names.index('softmax_hidden') + 1] == 'overcomplete_code' and names[-1] == 'unexplained'
    with pytest.raises(ValueError, match='registered already'):
        rules.register(registered)
    with pytest.raises(ValueError, match='kind'):
        rules.register(rules.Rule('odd', 'symptom', 'odd', '', '', '', {}, lambda ctx: None))


def test_unregistering_leaves_the_default_registry_as_it_was():
    assert 'overcomplete_code' not in rules.REGISTRY
    assert rules.REGISTRY.names()[-2:] == ['not_measured', 'unexplained']


def test_no_function_of_a_front_end_is_over_60_lines():
    """docs/extending.md: a front-end only records what ran, in functions a reader can hold."""
    package = Path(__file__).resolve().parents[1] / 'aehealth'
    for name in ('keras.py', 'keras_backends.py', 'torch.py', 'lightning.py'):
        tree = ast.parse((package / name).read_text())
        long = [(f.name, f.end_lineno - f.lineno + 1) for f in ast.walk(tree)
                if isinstance(f, ast.FunctionDef) and f.end_lineno - f.lineno + 1 > 60]
        assert long == [], (name, long)
