#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Every language in po/LINGUAS is complete: msgfmt --check --statistics
# reports neither fuzzy nor untranslated messages, both for the .po as
# committed and for it merged with a template extracted from today's
# sources (so a string added to the code without a translation fails too).
#
#   check-po.py SOURCE_ROOT

import pathlib
import re
import subprocess
import sys
import tempfile

# meson's i18n 'glib' preset, as po/meson.build uses it.
XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3', '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format', '--flag=NC_:2:pass-c-format',
    '--flag=g_dngettext:2:pass-c-format', '--flag=g_strdup_printf:1:c-format',
    '--flag=g_string_printf:2:c-format', '--flag=g_string_append_printf:2:c-format',
    '--flag=g_error_new:3:c-format', '--flag=g_set_error:4:c-format',
    '--flag=g_markup_printf_escaped:1:c-format', '--flag=g_log:3:c-format',
    '--flag=g_print:1:c-format', '--flag=g_printerr:1:c-format', '--flag=g_printf:1:c-format',
    '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format', '--flag=g_snprintf:3:c-format',
]


def statistics(po):
    """msgfmt --check's verdict and counts; raises with its errors."""
    run = subprocess.run(['msgfmt', '--check', '--statistics', '-o', '/dev/null', str(po)],
                         capture_output=True, text=True)
    report = run.stderr.strip()
    if run.returncode != 0:
        raise RuntimeError(f'msgfmt --check failed on {po}:\n{report}')
    counts = {kind: int(n) for n, kind in
              re.findall(r'(\d+) (translated|fuzzy|untranslated)', report)}
    return report.splitlines()[-1], counts


def main():
    root = pathlib.Path(sys.argv[1])
    po_dir = root / 'po'
    languages = [line.strip() for line in (po_dir / 'LINGUAS').read_text(encoding='utf-8').splitlines()
                 if line.strip() and not line.startswith('#')]
    failed = False

    if not languages:
        print('po/LINGUAS lists no language', file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix='huabu-po-') as tmp:
        pot = pathlib.Path(tmp) / 'huabu.pot'
        run = subprocess.run(['xgettext', *XGETTEXT_ARGS, '--directory', str(root),
                              '--files-from', str(po_dir / 'POTFILES.in'), '-o', str(pot)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        for lang in languages:
            po = po_dir / f'{lang}.po'
            merged = pathlib.Path(tmp) / f'{lang}.po'
            try:
                line, counts = statistics(po)
                print(f'{lang}: {line}')
                if counts.get('fuzzy') or counts.get('untranslated') or not counts.get('translated'):
                    print(f'{lang}: po/{lang}.po is incomplete; translate its fuzzy and '
                          f'untranslated messages.', file=sys.stderr)
                    failed = True
                subprocess.run(['msgmerge', '--quiet', '-o', str(merged), str(po), str(pot)], check=True)
                line, counts = statistics(merged)
                print(f'{lang} against the sources: {line}')
                if counts.get('fuzzy') or counts.get('untranslated'):
                    missing = subprocess.run(['msgattrib', '--no-wrap', '--only-fuzzy', '--no-obsolete', str(merged)],
                                             capture_output=True, text=True).stdout
                    missing += subprocess.run(['msgattrib', '--no-wrap', '--untranslated', '--no-obsolete', str(merged)],
                                              capture_output=True, text=True).stdout
                    ids = re.findall(r'^msgid "(.+)"$', missing, re.M)
                    print(f'{lang}: the sources have strings po/{lang}.po does not translate '
                          f'(run "ninja -C _build huabu-update-po" and translate them): '
                          + '; '.join(ids[:10]) + (' …' if len(ids) > 10 else ''), file=sys.stderr)
                    failed = True
            except (RuntimeError, subprocess.CalledProcessError) as e:
                print(e, file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
