"""The README and docs stay true to the code: the test command is CI's, flags and figures exist, outputs are real."""
import json
import re

import ablation
import autoencoder as ae
import diagnostics
from aehealth import rules
from conftest import ROOT

README = (ROOT / 'README.md').read_text()
DOCS = {p.name: p.read_text() for p in (ROOT / 'docs').glob('*.md')}


def test_the_readme_is_at_most_16_kb():
    assert len(README.encode()) <= 16 * 1024


def test_ci_runs_the_readme_test_command():
    test_command = [line for line in README.splitlines() if 'pytest' in line and line.startswith('python3 -m venv')]
    assert len(test_command) == 1
    ci = (ROOT / '.ci' / 'run').read_text()
    for part in test_command[0].split('&&')[1:]:  # the same steps, in a fresh venv
        assert part.strip().replace('pip install -r', 'pip install -q -r') in ci, part


def test_every_flag_the_readme_names_exists():
    options = set(ae.make_parser()._option_string_actions) | set(ablation.make_parser()._option_string_actions)
    for text in (README, *DOCS.values()):
        named = set(re.findall(r'`(--[a-z][a-z0-9-]*)', text))
        assert named <= options, named - options


def test_every_figure_and_doc_the_readme_shows_is_committed():
    shown = re.findall(r'\]\(((?:figures|docs)/[^)#]+)\)', README)
    assert len(shown) >= 10
    for path in shown:
        assert (ROOT / path).is_file(), path
    for name, text in DOCS.items():
        for path in re.findall(r'\]\(\.\./(figures/[^)]+)\)', text):
            assert (ROOT / path).is_file(), (name, path)


def test_no_path_of_our_machines_in_what_a_user_reads():
    texts = {'README.md': README, **DOCS, '--help': ae.make_parser().format_help() + ablation.make_parser().format_help(),
             'ablation.md': (ROOT / 'figures' / 'ablation.md').read_text()}
    for name, text in texts.items():
        assert '/work/' not in text and '../shared' not in text and '/root/' not in text and '/tmp/' not in text, name


def sample_output():
    """The lines of the README's sample output: the code block after 'The run prints'."""
    after = README.split('The run prints', 1)[1]
    return after.split('```', 2)[1].strip('\n').splitlines()


def test_the_sample_output_is_what_the_code_prints_for_the_committed_run():
    metrics = json.loads((ROOT / 'figures' / 'question_metrics.json').read_text())
    lines = sample_output()
    printed = [ae.iteration_line(epoch, loss) for epoch, loss in metrics['loss_history'] if epoch < metrics['epochs_done']]
    assert [line for line in lines if line.startswith('Iteration:')] == printed
    summary = ae.summary_lines(metrics)
    start = lines.index(summary[0])
    assert lines[start:start + len(summary)] == summary
    # every line left out or varying with the machine is marked
    for line in lines:
        if line.startswith('['):
            assert re.fullmatch(r'\[\.\.\. .+ \.\.\.\]', line), line


def test_the_mechanism_numbers_come_from_the_committed_runs():
    question = json.loads((ROOT / 'figures' / 'question_metrics.json').read_text())
    fix = json.loads((ROOT / 'figures' / 'fix_metrics.json').read_text())
    text = DOCS['mechanism.md']
    assert f'output diversity {question["health"][0]["output_diversity"]:.1e}' in text
    assert f'ends at {fix["health"][-1]["output_diversity"]:.2f}' in text


def test_the_rule_tables_are_the_registrys():
    """The README's table and docs/rules.md's are made from the rules themselves (diagnostics.RULES: aehealth's and the
    question loop's two)."""
    assert diagnostics.RULES.table() in README, 'python docs/rule_tables.py writes the tables'
    assert diagnostics.RULES.table(('named', 'kind', 'threshold', 'why')) in DOCS['rules.md']
    assert set(rules.REGISTRY.names()) < set(diagnostics.RULES.names())
    assert diagnostics.RULES.table(('words', 'changes')) in DOCS['aehealth.md']
    from aehealth import trial
    assert trial.changes_table() in DOCS['aehealth.md']
    named = {c for unit in diagnostics.RULES for c in unit.changes}
    assert named == set(trial.CHANGES)  # each change is one some rule suggests, and each it suggests exists
