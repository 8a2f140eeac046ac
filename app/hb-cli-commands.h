/* hb-cli-commands.h — the subcommands of huabu-cli
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each subcommand lives in its own hb-cli-*.c file and takes the argument
 * vector starting at its own name. It returns the process exit status.
 */
#pragma once

int hb_cli_version (int argc, char **argv);

#define HB_CLI_COMMANDS \
  { "version", hb_cli_version, "Print the version" },
