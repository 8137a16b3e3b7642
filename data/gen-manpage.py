#!/usr/bin/env python3
"""Writes nornicdb.8 from nornicdb.8.in.

The ENVIRONMENT list is made from the Markdown table that
`nornicdb --config-reference` prints (the same text as docs/configuration.md),
so the man page and the configuration table cannot drift apart. The other
@NAME@ placeholders are install paths given on the command line.
"""
import argparse
import re
import subprocess
import sys


def roff_escape(text):
    text = text.replace('\\', '\\e')
    text = text.replace('-', '\\-')
    # A line starting with . or ' would be read as a request.
    return re.sub(r"^([.'])", r"\\&\1", text)


def inline(md):
    """Markdown cell -> roff: `code` becomes bold, the rest is escaped."""
    out = []
    for i, part in enumerate(md.split('`')):
        part = roff_escape(part)
        out.append('\\fB%s\\fR' % part if i % 2 else part)
    return ''.join(out)


def split_row(line):
    cells = line.strip()
    if not (cells.startswith('|') and cells.endswith('|')):
        return None
    return [c.strip() for c in cells[1:-1].split(' | ')]


def environment(markdown):
    rows = []
    header = None
    for line in markdown.splitlines():
        cells = split_row(line)
        if cells is None:
            continue
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= set('-: ') for c in cells):
            continue
        if len(cells) != len(header):
            sys.exit('gen-manpage: table row has %d cells, expected %d: %s'
                     % (len(cells), len(header), line))
        rows.append(dict(zip(header, cells)))
    need = {'variable', 'type', 'default', 'allowed', 'reloadable', 'description'}
    if header is None or not need <= set(header):
        sys.exit('gen-manpage: no configuration table with columns %s' % sorted(need))
    if not rows:
        sys.exit('gen-manpage: the configuration table is empty')
    out = []
    for r in rows:
        name = r['variable'].strip('`')
        facts = [r['type']]
        if r['default'] not in ('', '-'):
            facts.append('default ' + r['default'])
        if r['allowed']:
            facts.append('allowed ' + r['allowed'])
        if r['reloadable'] == 'yes':
            facts.append('reloadable')
        out.append('.TP')
        out.append('.B %s' % roff_escape(name))
        out.append(inline(r['description']) + '.')
        out.append('(' + inline('; '.join(facts)) + ')')
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--template', required=True)
    ap.add_argument('--output', required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--binary', help='nornicdb executable to run with --config-reference')
    src.add_argument('--markdown', help='a file holding the --config-reference output')
    ap.add_argument('--set', action='append', default=[], metavar='NAME=VALUE')
    a = ap.parse_args()

    if a.binary:
        # English text whatever the build machine's locale is.
        env = {'LC_ALL': 'C', 'LANGUAGE': '', 'PATH': '/usr/bin:/bin'}
        md = subprocess.run([a.binary, '--config-reference'], check=True,
                            capture_output=True, text=True, env=env).stdout
    else:
        with open(a.markdown, encoding='utf-8') as f:
            md = f.read()

    with open(a.template, encoding='utf-8') as f:
        text = f.read()
    values = {'ENVIRONMENT': environment(md)}
    for s in a.set:
        k, _, v = s.partition('=')
        values[k] = v

    def sub(m):
        if m.group(1) not in values:
            sys.exit('gen-manpage: no value for @%s@' % m.group(1))
        return values[m.group(1)]

    text = re.sub(r'@([A-Za-z_]+)@', sub, text)
    with open(a.output, 'w', encoding='utf-8') as f:
        f.write(text)


if __name__ == '__main__':
    main()
