"""Write the rule tables of README.md and docs/rules.md from the registry (aehealth's rules and the question loop's).

    python docs/rule_tables.py          # after adding or changing a rule; tests/test_readme.py checks the tables
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import diagnostics  # noqa: E402

TABLES = {'README.md': ('| rule | kind | fires when |', ('words', 'kind', 'fires_when')),
          'docs/rules.md': ('| rule | kind | threshold | why this threshold |', ('named', 'kind', 'threshold', 'why'))}


def rewrite(path, heading, columns):
    """Replace the table that starts with `heading` in the file at `path` by the registry's."""
    text = path.read_text()
    start = text.index(heading)
    end = text.find('\n\n', start)
    path.write_text(text[:start] + diagnostics.RULES.table(columns) + (text[end:] if end >= 0 else '\n'))


if __name__ == '__main__':
    for name, (heading, columns) in TABLES.items():
        rewrite(ROOT / name, heading, columns)
        print(f'{name}: {len(diagnostics.RULES)} rules')
