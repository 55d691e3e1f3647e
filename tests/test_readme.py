"""The README stays true to the code: its test command is what CI runs, its flags and figures exist."""
import json
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


def sample_output():
    """The lines of the README's sample output: the code block after 'It prints'."""
    after = README.split('It prints', 1)[1]
    return after.split('```', 2)[1].strip('\n').splitlines()


def test_the_sample_output_is_what_the_code_prints_for_the_committed_run():
    metrics = json.loads((ROOT / 'figures' / 'question_metrics.json').read_text())
    lines = sample_output()
    printed = [ae.iteration_line(epoch, loss) for epoch, loss in metrics['loss_history'] if epoch < metrics['epochs_done']]
    assert [line for line in lines if line.startswith('Iteration:')] == printed
    summary = ae.summary_lines(metrics)
    start = lines.index(summary[0])
    assert lines[start:start + len(summary)] == summary
    # every line left out is marked, and says how many
    for line in lines:
        if line.startswith('['):
            assert re.fullmatch(r'\[\.\.\. \d+ .+ left out \.\.\.\]', line), line


def test_the_fix_numbers_and_times_quoted_come_from_the_committed_runs():
    fix = json.loads((ROOT / 'figures' / 'fix_metrics.json').read_text())
    assert f'{fix["final_loss"]:.4f}' in README and f'{fix["probe_accuracy"]:.3f}' in README
