"""Collapse diagnostics on hand-made codes, baselines against brute force, and a smoke ablation."""
import numpy as np
import pytest

import autoencoder as ae
from conftest import SUBSET, cli


def separable_codes(n_per_class=60, dim=16, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(10, dim) * 3
    y = np.repeat(np.arange(10), n_per_class)
    return centres[y] + rng.randn(len(y), dim), y


def split(codes, y, test_every=6):
    """Put every sixth row into the test part, as the rows after n_train."""
    test = np.arange(len(y)) % test_every == 0
    return np.concatenate([codes[~test], codes[test]]), np.concatenate([y[~test], y[test]]), int((~test).sum())


def test_identical_rows_are_collapsed():
    codes = np.tile(np.random.RandomState(1).rand(64), (2000, 1))
    collapsed, verdict = ae.collapse_verdict(codes)
    assert collapsed and verdict.startswith("collapsed") and ae.code_spread(codes) < 1e-12


def test_tiny_spread_around_a_saturated_value_is_collapsed():
    rng = np.random.RandomState(2)
    codes = 0.98 + 4e-5 * rng.randn(2000, 64)  # what the posted network's sigmoid code looks like
    assert ae.collapse_verdict(codes)[0]
    assert ae.code_spread(codes) == pytest.approx(4e-5, rel=0.05)


def test_spread_rows_are_not_collapsed():
    codes, _ = separable_codes()
    collapsed, verdict = ae.collapse_verdict(codes)
    assert not collapsed and verdict.startswith('not collapsed')


def test_probe_beats_chance_on_separable_codes_and_not_on_identical_ones():
    codes, y = separable_codes()
    assert ae.probe_accuracy(*split(codes, y)) > 0.9
    same = np.ones_like(codes)
    assert ae.probe_accuracy(*split(same, y)) <= 0.2
    noise = np.random.RandomState(3).randn(*codes.shape)
    assert ae.probe_accuracy(*split(noise, y)) < 0.3


def test_probe_needs_a_test_part():
    codes, y = separable_codes()
    assert ae.probe_accuracy(codes, y, len(y)) is None


def test_baselines_match_brute_force(subset):
    b = ae.baselines(subset.x)
    x = subset.x.astype(np.float64)
    assert b['all_black'] == pytest.approx(np.mean(x ** 2), rel=1e-9)
    assert b['mean_image'] == pytest.approx(np.mean((x - x.mean(0)) ** 2), rel=1e-9)


def test_per_digit_mse():
    y = np.array([0, 0, 1, 3])
    sq_err = np.array([784.0, 0.0, 78.4, 7.84])
    got = ae.per_digit_mse(sq_err, y)
    assert got[0] == pytest.approx(0.5) and got[1] == pytest.approx(0.1) and got[3] == pytest.approx(0.01)
    assert got[2] is None and len(got) == 10


def test_smoke_ablation_writes_table_and_figure(tmp_path):
    proc = cli('autoencoder.py', '--ablate', '--budget', 1, '--data', SUBSET, '--out', tmp_path, '--no-figures')
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = tmp_path / 'ablation'
    table = (root / 'ablation.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| ') and line[2].isdigit()]
    assert len(rows) == len(ae.ABLATION)
    for (label, _), row in zip(ae.ABLATION, rows):
        assert label in row
    assert 'question before its edit' in rows[0] and '`--no-shuffle --epochs 1`' in rows[0]
    assert (root / 'ablation.png').stat().st_size > 10000
    assert len([p for p in root.iterdir() if p.is_dir()]) == len(ae.ABLATION)
    assert 'interrupted' not in table


def test_ablation_refuses_its_own_switches():
    proc = cli('autoencoder.py', '--ablate', '--kernels', '5x5')
    assert proc.returncode == 2 and '--ablate runs its own list' in proc.stderr
