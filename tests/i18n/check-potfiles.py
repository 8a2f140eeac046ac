#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# po/POTFILES.in lists every file of app/, ui/ and data/ that has
# translatable strings, each once, sorted, and nothing else.
#
#   check-potfiles.py SOURCE_ROOT

import pathlib
import re
import sys

# The gettext calls of glib/gi18n.h and GtkBuilder's translatable
# attribute; a word character before "_(" means another name (hb_foo_()).
MARKERS = {
    '.c': re.compile(r'(?<![A-Za-z0-9_])(?:N_|C_|NC_|_|g_dngettext|g_dpgettext2|g_dcgettext|ngettext)\s*\('),
    '.h': re.compile(r'(?<![A-Za-z0-9_])(?:N_|C_|NC_|_|g_dngettext|g_dpgettext2|g_dcgettext|ngettext)\s*\('),
    '.ui': re.compile(r'translatable="(?:yes|true|1)"'),
}
# Desktop file and metainfo are merged with the translations (i18n.merge_file):
# everything in them that xgettext extracts is for people to read.
MERGED = ('.desktop.in', '.metainfo.xml.in')


def has_strings(path):
    if path.name.endswith(MERGED):
        return True
    marker = MARKERS.get(path.suffix)
    return marker is not None and marker.search(path.read_text(encoding='utf-8')) is not None


def main():
    root = pathlib.Path(sys.argv[1])
    listed = [line.strip() for line in (root / 'po' / 'POTFILES.in').read_text(encoding='utf-8').splitlines()
              if line.strip() and not line.lstrip().startswith('#')]
    problems = []

    if listed != sorted(listed):
        problems.append('po/POTFILES.in is not sorted; sort its lines (LC_ALL=C sort).')
    duplicates = sorted({f for f in listed if listed.count(f) > 1})
    if duplicates:
        problems.append('listed more than once: ' + ', '.join(duplicates))

    wanted = sorted(str(p.relative_to(root))
                    for folder in ('app', 'ui', 'data')
                    for p in (root / folder).iterdir()
                    if p.is_file() and has_strings(p))
    missing = [f for f in wanted if f not in listed]
    extra = [f for f in listed if f not in wanted]
    if missing:
        problems.append('files with translatable strings missing from po/POTFILES.in '
                        '(add them, then run "ninja -C _build huabu-update-po" and translate):\n  '
                        + '\n  '.join(missing))
    if extra:
        problems.append('listed in po/POTFILES.in but absent or without translatable strings '
                        '(remove them):\n  ' + '\n  '.join(extra))

    print(f'{len(listed)} files listed, {len(wanted)} with translatable strings')
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
