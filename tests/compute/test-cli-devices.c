/* test-cli-devices.c — huabu-cli devices, with and without a Vulkan driver
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The path of huabu-cli is the first argument (meson passes it).
 */

#include "config.h"

#include <glib.h>
#include <string.h>
#include <sys/wait.h>

static const char *cli;

static void
run_devices (const char *driver_files, char **out, char **err, int *status)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_get_environ ();
  const char *argv[] = { cli, "devices", NULL };

  if (driver_files != NULL)
    {
      env = g_environ_setenv (env, "VK_ICD_FILENAMES", driver_files, TRUE);
      env = g_environ_setenv (env, "VK_DRIVER_FILES", driver_files, TRUE);
    }
  g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, out, err, status, &error);
  g_assert_no_error (error);
}

static void
test_no_driver (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  int status;

  run_devices ("/nonexistent.json", &out, &err, &status);
  /* exit code 1, not a signal: it must say so, not crash */
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (err, "mesa-vulkan-drivers"));
  /* one sentence on one line */
  lines = g_strsplit (g_strstrip (err), "\n", -1);
  g_assert_cmpint (g_strv_length (lines), ==, 1);
}

static void
test_list (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  run_devices (NULL, &out, &err, &status);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_nonnull (strstr (out, "Huabu would use device"));
  g_assert_nonnull (strstr (out, "storage buffer range"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (argc, ==, 2);
  cli = argv[1];
  g_test_add_func ("/huabu/cli/devices/no-driver", test_no_driver);
  g_test_add_func ("/huabu/cli/devices/list", test_list);
  return g_test_run ();
}
