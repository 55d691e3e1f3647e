"""The README stays true to the code: its test command is what CI runs, its flags and figures exist."""
import re

import autoencoder as ae
from conftest import ROOT

README = (ROOT / 'README.md').read_text()


def test_ci_runs_the_readme_test_command():
    test_command = [line for line in README.splitlines() if 'pytest' in line and line.startswith('python3 -m venv')]
    assert len(test_command) == 1
    pytest_part = test_command[0].split('&&')[-1].strip()
    assert pytest_part in (ROOT / '.ci' / 'run').read_text()


def test_every_flag_the_readme_names_exists():
    options = set(ae.make_parser()._option_string_actions)
    named = set(re.findall(r'`(--[a-z][a-z0-9-]*)', README))
    assert named and named <= options, named - options


def test_every_figure_the_readme_shows_is_committed():
    shown = re.findall(r'\]\((figures/[^)]+)\)', README)
    assert len(shown) >= 5
    for path in shown:
        assert (ROOT / path).is_file(), path
