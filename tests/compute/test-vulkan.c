/* test-vulkan.c — the Vulkan runtime: device choice, errors, memory, cache
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "hb-test-compare.h"
#include "hb-vk-private.h"

/* Runs in a subprocess: the loader reads these variables when it first
 * looks for drivers. */
static void
test_no_driver (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HbVulkanDevice) dev = NULL;
      g_autoptr(GArray) list = NULL;

      g_setenv ("VK_ICD_FILENAMES", "/nonexistent.json", TRUE);
      g_setenv ("VK_DRIVER_FILES", "/nonexistent.json", TRUE);
      dev = hb_vulkan_device_new (NULL, &error);
      g_assert_null (dev);
      g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN);
      g_printerr ("%s\n", error->message);
      g_clear_error (&error);
      list = hb_vulkan_list_devices (NULL, NULL, &error);
      g_assert_null (list);
      g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*mesa-vulkan-drivers*");
}

static void
test_select (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = NULL;
  g_autoptr(HbVulkanDevice) by_index = NULL;
  g_autoptr(HbVulkanDevice) none = NULL;
  g_autofree char *needle = NULL;
  int chosen = -1;

  list = hb_vulkan_list_devices (NULL, &chosen, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, >, 0);
  g_assert_cmpint (chosen, >=, 0);

  /* by index, and by a part of the name in another case */
  by_index = hb_vulkan_device_new ("0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hb_vulkan_device_info (by_index)->name, ==,
                   g_array_index (list, HbVkDeviceInfo, 0).name);
  needle = g_ascii_strup (g_array_index (list, HbVkDeviceInfo, 0).name, 4);
  g_clear_pointer (&list, g_array_unref);
  list = hb_vulkan_list_devices (needle, &chosen, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chosen, ==, 0);

  none = hb_vulkan_device_new ("no such device anywhere", &error);
  g_assert_null (none);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN);
}

static void
test_limits (void)
{
  HbVulkanDevice *dev = hb_backend_vulkan_device (hb_test_vk_backend ());
  const HbVkDeviceInfo *info = hb_vulkan_device_info (dev);

  g_assert_cmpuint (info->max_storage_buffer_range, >=, 1 << 27);
  g_assert_cmpuint (info->subgroup_size, >, 0);
  g_assert_cmpuint (info->max_workgroup_count[0], >=, 65535);
  g_assert_true (info->has_16bit_storage);
  g_assert_cmpuint (info->min_storage_offset_alignment, <=, 256);
}

static void
test_oom_alloc (void)
{
  HbVulkanDevice *dev = hb_backend_vulkan_device (hb_test_vk_backend ());
  g_autoptr(GError) error = NULL;
  HbVkAlloc alloc;

  g_assert_false (hb_vk_alloc (dev, HB_VK_MEM_DEVICE, (VkDeviceSize) 1 << 40, &alloc, &error));
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);

  /* the device still works afterwards */
  g_assert_true (hb_vk_alloc (dev, HB_VK_MEM_DEVICE, 1000, &alloc, &error));
  g_assert_no_error (error);
  hb_vk_free (dev, &alloc);
}

static void
test_oom_graph (void)
{
  g_autoptr(HbGraph) g = hb_graph_new ();
  g_autoptr(GError) error = NULL;
  int64_t shape[2] = { (int64_t) 1 << 18, (int64_t) 1 << 20 };   /* 1 TiB of fp32 */
  HbTensor *x = hb_graph_input (g, "huge", HB_DTYPE_F32, 2, shape);
  HbBackend *vk = hb_test_vk_backend ();

  hb_graph_mark_output (g, hb_unary (g, HB_OP_SILU, x));
  g_assert_false (hb_backend_prepare (vk, g, &error));
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY);
  g_test_message ("%s", error->message);
  hb_backend_release (vk, g);
}

/* The command buffer is recorded once; each compute() must see the new
 * inputs. */
static void
test_rerun (void)
{
  g_autoptr(HbGraph) g = hb_graph_new ();
  g_autoptr(GError) error = NULL;
  int64_t shape[1] = { 1000 };
  HbTensor *x = hb_graph_input (g, "x", HB_DTYPE_F32, 1, shape);
  HbTensor *y = hb_scale (g, hb_add (g, x, x), 1.0f, 1.0f, -1e9f, 1e9f);
  HbBackend *vk = hb_test_vk_backend ();
  float in[1000], out[1000];

  hb_graph_mark_output (g, y);
  g_assert_true (hb_backend_prepare (vk, g, &error));
  for (int run = 0; run < 3; run++)
    {
      for (int i = 0; i < 1000; i++)
        in[i] = (float) (i * (run + 1));
      g_assert_true (hb_backend_set_input (vk, x, in, sizeof in, &error));
      g_assert_true (hb_backend_compute (vk, g, &error));
      g_assert_true (hb_backend_get_output (vk, y, out, sizeof out, &error));
      g_assert_no_error (error);
      for (int i = 0; i < 1000; i++)
        g_assert_cmpfloat (out[i], ==, 2.0f * in[i] + 1.0f);
    }
  hb_backend_release (vk, g);
}

static void
test_profile (void)
{
  g_autoptr(HbGraph) g = hb_graph_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) timings = NULL;
  int64_t shape[2] = { 256, 256 };
  HbTensor *x = hb_graph_input (g, "x", HB_DTYPE_F32, 2, shape);
  HbTensor *y = hb_softmax (g, hb_unary (g, HB_OP_GELU, x));
  HbBackend *vk = hb_test_vk_backend ();
  static float in[256 * 256];

  hb_graph_mark_output (g, y);
  hb_backend_vk_set_profiling (vk, TRUE);
  g_assert_true (hb_backend_prepare (vk, g, &error));
  hb_backend_vk_set_profiling (vk, FALSE);
  g_assert_true (hb_backend_set_input (vk, x, in, sizeof in, &error));
  /* the second run: the first one includes llvmpipe's lazy shader compile */
  for (int run = 0; run < 2; run++)
    g_assert_true (hb_backend_compute (vk, g, &error));
  g_assert_no_error (error);
  timings = hb_backend_vk_get_timings (vk);
  g_assert_nonnull (timings);
  g_assert_cmpuint (timings->len, ==, 2);
  g_assert_cmpint (g_array_index (timings, HbOpTiming, 0).op, ==, HB_OP_GELU);
  g_assert_cmpint (g_array_index (timings, HbOpTiming, 1).op, ==, HB_OP_SOFTMAX);
  for (guint i = 0; i < timings->len; i++)
    {
      g_test_message ("%s: %.3f ms", g_array_index (timings, HbOpTiming, i).name,
                      g_array_index (timings, HbOpTiming, i).ms);
      g_assert_cmpfloat (g_array_index (timings, HbOpTiming, i).ms, >, 0.0);
      g_assert_cmpfloat (g_array_index (timings, HbOpTiming, i).ms, <, 10000.0);
    }
  hb_backend_release (vk, g);
}

static void
test_pipeline_cache (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbVulkanDevice) dev = hb_vulkan_device_new (NULL, &error);
  g_autofree char *path = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  g_assert_no_error (error);
  path = hb_vulkan_device_pipeline_cache_path (dev);
  g_assert_true (g_str_has_prefix (path, g_get_user_cache_dir ()));
  g_assert_nonnull (hb_vk_get_pipeline (dev, "silu_f32", &error));
  g_assert_true (hb_vulkan_device_save_pipeline_cache (dev, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >=, 32);
  g_assert_cmpuint (((guint32 *) data)[1], ==, VK_PIPELINE_CACHE_HEADER_VERSION_ONE);

  /* a damaged cache file is ignored, not fed to the driver */
  g_clear_pointer (&dev, hb_vulkan_device_free);
  memset (data + 16, 0xab, 16);
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  dev = hb_vulkan_device_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (hb_vk_get_pipeline (dev, "silu_f32", &error));

  g_assert_null (hb_vk_get_pipeline (dev, "no_such_shader", &error));
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED);
}

static void
remove_cache_dir (const char *cache)
{
  g_autofree char *dir = g_build_filename (cache, "huabu", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *file = g_build_filename (dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (dir);
  g_rmdir (cache);
}

int
main (int argc, char **argv)
{
  g_autofree char *cache = g_dir_make_tmp ("huabu-test-XXXXXX", NULL);
  int ret;

  /* before GLib reads it: the pipeline cache goes to a scratch folder */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/vulkan/no-driver", test_no_driver);
  g_test_add_func ("/huabu/vulkan/select", test_select);
  g_test_add_func ("/huabu/vulkan/limits", test_limits);
  g_test_add_func ("/huabu/vulkan/oom-alloc", test_oom_alloc);
  g_test_add_func ("/huabu/vulkan/oom-graph", test_oom_graph);
  g_test_add_func ("/huabu/vulkan/rerun", test_rerun);
  g_test_add_func ("/huabu/vulkan/profile", test_profile);
  g_test_add_func ("/huabu/vulkan/pipeline-cache", test_pipeline_cache);
  ret = g_test_run ();
  hb_test_vk_backend_free ();
  remove_cache_dir (cache);
  return ret;
}
