#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The metainfo's screenshots are images of this repository: each URL names
# a PNG in the tree (on the main branch of the project's repository), of the
# size the metainfo states.
#
#   check-screenshots.py SOURCE_ROOT METAINFO

import pathlib
import struct
import sys
import xml.etree.ElementTree as ET

REPO_RAW = 'https://raw.githubusercontent.com/huabu/huabu/main/'


def png_size(path):
    head = path.read_bytes()[:24]
    if head[:8] != b'\x89PNG\r\n\x1a\n' or head[12:16] != b'IHDR':
        return None
    return struct.unpack('>II', head[16:24])


def main():
    root = pathlib.Path(sys.argv[1])
    images = ET.parse(sys.argv[2]).getroot().findall('./screenshots/screenshot/image')
    failed = not images
    if not images:
        print('the metainfo has no screenshots', file=sys.stderr)
    for image in images:
        url = image.text.strip()
        if not url.startswith(REPO_RAW):
            print(f'{url} is not an image of the repository ({REPO_RAW}…)', file=sys.stderr)
            failed = True
            continue
        path = root / url[len(REPO_RAW):]
        size = png_size(path) if path.is_file() else None
        if size is None:
            print(f'{url}: {path.relative_to(root)} is not a PNG in the tree', file=sys.stderr)
            failed = True
            continue
        stated = (int(image.get('width', size[0])), int(image.get('height', size[1])))
        if stated != size:
            print(f'{url}: the metainfo says {stated[0]}×{stated[1]}, the PNG is {size[0]}×{size[1]}',
                  file=sys.stderr)
            failed = True
        print(f'{path.relative_to(root)}: {size[0]}×{size[1]}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
