/* hb-cli-commands.h — the subcommands of huabu-cli
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each subcommand lives in its own hb-cli-*.c file and takes the argument
 * vector starting at its own name. It returns the process exit status.
 */
#pragma once

int hb_cli_version  (int argc, char **argv);
int hb_cli_generate (int argc, char **argv);
int hb_cli_info     (int argc, char **argv);
int hb_cli_bench    (int argc, char **argv);
int hb_cli_bench_ops (int argc, char **argv);
int hb_cli_history  (int argc, char **argv);
int hb_cli_devices  (int argc, char **argv);

#define HB_CLI_COMMANDS \
  { "generate", hb_cli_generate, "Generate a picture from a prompt (and a sketch)" }, \
  { "info",     hb_cli_info,     "Print a checkpoint's architecture and parameter counts" }, \
  { "bench",    hb_cli_bench,    "Time the text encoder, a sampling step and the VAE decoder" }, \
  { "bench-ops", hb_cli_bench_ops, "Time each kernel on Stable Diffusion 1.5 shapes" }, \
  { "history",  hb_cli_history,  "List, search, show, export or rebuild the history" }, \
  { "devices",  hb_cli_devices,  "List the Vulkan devices, their limits and the one in use" }, \
  { "version",  hb_cli_version,  "Print the version" },
