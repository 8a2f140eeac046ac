/* hb-cli-version.c — huabu-cli version
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>

#include "hb-cli-commands.h"

int
hb_cli_version (int argc, char **argv)
{
  printf ("huabu-cli %s\n", PACKAGE_VERSION);
  return 0;
}
