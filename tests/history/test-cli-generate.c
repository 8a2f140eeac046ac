/* test-cli-generate.c — huabu-cli generate, run as a program, on the
 * built-in model: what it paints is written with its parameters
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The path of huabu-cli is the first argument (meson passes it).
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "hb-png.h"

static const char *cli;

/* Generates one step of the built-in model with extra arguments and
 * returns the PNG's "parameters" text. */
static char *
generate (const char *extra)
{
  g_autofree char *dir = g_dir_make_tmp ("huabu-cli-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "out.png", NULL);
  g_autofree char *cmd = g_strdup_printf ("'%s' generate --prompt 'a red circle' --seed 3 --steps 1 "
                                          "--no-history --out '%s' %s", cli, out, extra);
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HbImage) image = NULL;
  int status;

  g_assert_true (g_spawn_command_line_sync (cmd, NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("%s failed: %s", cmd, err);
  image = hb_png_load (out, &texts, &error);
  g_assert_no_error (error);
  g_unlink (out);
  g_rmdir (dir);
  g_assert_nonnull (g_hash_table_lookup (texts, "parameters"));
  return g_strdup (g_hash_table_lookup (texts, "parameters"));
}

/* Without --cfg and --sampler the model's own guidance scale and sampler
 * are used (the built-in model names both in its metadata); the options
 * still win. */
static void
test_model_cfg (void)
{
  g_autofree char *own = generate ("");
  g_autofree char *given = generate ("--cfg 6.5 --sampler 'DPM++ 2M'");
  double cfg = hb_model_file_recommended_cfg (NULL);
  g_autofree char *expected = g_strdup_printf ("CFG scale: %g,", cfg);
  HbSampler sampler;
  g_autofree char *expected_sampler = NULL;

  g_test_message ("%s", own);
  g_assert_cmpfloat (cfg, >, 0);
  g_assert_cmpfloat (cfg, !=, HB_DEFAULT_CFG);
  g_assert_nonnull (strstr (own, expected));
  g_assert_nonnull (strstr (given, "CFG scale: 6.5,"));

  g_assert_true (hb_model_file_recommended_sampler (NULL, &sampler));
  g_assert_cmpint (sampler, !=, HB_SAMPLER_EULER_A);
  expected_sampler = g_strdup_printf ("Sampler: %s,", hb_sampler_to_string (sampler));
  g_assert_nonnull (strstr (own, expected_sampler));
  g_assert_nonnull (strstr (given, "Sampler: DPM++ 2M,"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (argc, ==, 2);
  cli = argv[1];
  g_test_add_func ("/huabu/cli/generate/model-cfg", test_model_cfg);
  return g_test_run ();
}
