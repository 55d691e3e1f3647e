"""Write the rule tables of README.md, docs/rules.md and docs/aehealth.md from the registry (aehealth's rules and the
question loop's), and docs/aehealth.md's table of the trial's changes from aehealth.trial.CHANGES.

    python docs/rule_tables.py          # after adding or changing a rule; tests/test_readme.py checks the tables
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import diagnostics  # noqa: E402
from aehealth import trial  # noqa: E402

TABLES = {'README.md': ('| rule | kind | fires when |', ('words', 'kind', 'fires_when')),
          'docs/rules.md': ('| rule | kind | threshold | why this threshold |', ('named', 'kind', 'threshold', 'why')),
          'docs/aehealth.md': ('| rule | changes a trial tries |', ('words', 'changes'))}
CHANGES = ('docs/aehealth.md', '| change | touches | what it does |')


def rewrite(path, heading, table):
    """Replace the table that starts with `heading` in the file at `path` by `table`."""
    text = path.read_text()
    start = text.index(heading)
    end = text.find('\n\n', start)
    path.write_text(text[:start] + table + (text[end:] if end >= 0 else '\n'))


if __name__ == '__main__':
    for name, (heading, columns) in TABLES.items():
        rewrite(ROOT / name, heading, diagnostics.RULES.table(columns))
        print(f'{name}: {len(diagnostics.RULES)} rules')
    rewrite(ROOT / CHANGES[0], CHANGES[1], trial.changes_table())
    print(f'{CHANGES[0]}: {len(trial.CHANGES)} changes')
