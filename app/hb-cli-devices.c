/* hb-cli-devices.c — huabu-cli devices: the Vulkan devices and their limits
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>

#include "hb-cli-commands.h"
#include "hb-vulkan.h"

static void
print_device (const HbVkDeviceInfo *info, gboolean chosen)
{
  printf ("%s %u: %s\n", chosen ? "*" : " ", info->index, info->name);
  printf ("     type %s, driver %s (%s), Vulkan %u.%u.%u\n",
          hb_vk_device_type_name (info->type), info->driver_name, info->driver_info,
          VK_API_VERSION_MAJOR (info->api_version), VK_API_VERSION_MINOR (info->api_version),
          VK_API_VERSION_PATCH (info->api_version));
  printf ("     memory %.1f GiB, storage buffer range %.0f MiB, texel buffer %u texels\n",
          info->device_local_bytes / (1024.0 * 1024 * 1024),
          info->max_storage_buffer_range / (1024.0 * 1024), info->max_texel_buffer_elements);
  printf ("     shared memory %u KiB, subgroup %u (%u–%u), workgroups %u×%u×%u\n",
          info->max_shared_memory / 1024, info->subgroup_size, info->min_subgroup_size,
          info->max_subgroup_size, info->max_workgroup_count[0], info->max_workgroup_count[1],
          info->max_workgroup_count[2]);
  printf ("     fp16 %s, 16-bit storage %s, cooperative matrix %s, kernels for %s\n",
          info->has_fp16 ? "yes" : "no", info->has_16bit_storage ? "yes" : "no",
          info->has_coopmat ? "yes" : "no", hb_vk_device_info_is_cpu (info) ? "CPU" : "GPU");
}

int
hb_cli_devices (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("[DEVICE] — list the Vulkan devices");
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) devices = NULL;
  const char *selector;
  int chosen = -1;

  g_option_context_set_summary (context,
                                "Lists every Vulkan device with the limits Huabu cares about and marks "
                                "with * the one it would use. DEVICE (an index or part of a name) "
                                "tries a choice; so does the HUABU_DEVICE environment variable.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "huabu-cli devices: %s\n", error->message);
      return 2;
    }
  selector = argc > 1 ? argv[1] : NULL;

  devices = hb_vulkan_list_devices (selector, &chosen, &error);
  if (devices == NULL)
    {
      fprintf (stderr, "huabu-cli: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < devices->len; i++)
    print_device (&g_array_index (devices, HbVkDeviceInfo, i), (int) i == chosen);
  if (selector == NULL)
    selector = g_getenv ("HUABU_DEVICE");
  if (chosen < 0 && selector != NULL && *selector != '\0')
    {
      fprintf (stderr, "huabu-cli: no usable Vulkan device matches “%s”; pass an index or part "
               "of a name from the list above.\n", selector);
      return 1;
    }
  if (chosen < 0)
    {
      fprintf (stderr, "huabu-cli: none of these devices offers Vulkan 1.2 with 16-bit storage, "
               "which Huabu needs; update the driver (mesa-vulkan-drivers provides one that "
               "runs on the CPU).\n");
      return 1;
    }
  printf ("\nHuabu would use device %d, %s. Set HUABU_DEVICE to an index or part of a name "
          "to choose another.\n",
          chosen, g_array_index (devices, HbVkDeviceInfo, chosen).name);
  return 0;
}
