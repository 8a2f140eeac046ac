/* hb-cli-history.h — huabu-cli history
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

/* argv[0] is "history"; returns the exit status. */
int hb_cli_history (int argc, char **argv);
