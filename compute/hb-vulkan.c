/* hb-vulkan.c — instance, device choice, memory blocks, pipelines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

#include "hb-vk-private.h"
#include "hb-shaders-embedded.h"

/* Blocks are big so that a model's thousand weights cost a handful of
 * vkAllocateMemory calls (drivers cap the number of allocations). */
#define HB_VK_BLOCK_SIZE   (256 * 1024 * 1024)
/* Sub-allocations are aligned for any binding: storage offsets, texel
 * offsets and RGBA32F texels all divide this on every known device. */
#define HB_VK_ALIGN        256

#define NO_DRIVER_HINT \
  "Install a Vulkan driver: the package mesa-vulkan-drivers provides one that runs on the CPU, " \
  "or install your GPU vendor’s Vulkan driver."

#define COOPMAT_EXT "VK_KHR_cooperative_matrix"

typedef struct {
  VkDeviceMemory memory;
  VkBuffer       buffer;
  VkDeviceSize   size;
  guint8        *mapped;
  HbVkMemKind    kind;
  gboolean       dedicated;
  GArray        *free_ranges;   /* HbVkRange, sorted by offset */
} HbVkBlock;

gboolean
hb_vk_check (VkResult result, const char *what, GError **error)
{
  if (result == VK_SUCCESS)
    return TRUE;
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
    g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY,
                 "The graphics device ran out of memory (%s). Try a smaller image size "
                 "or close other programs that use the GPU.", what);
  else if (result == VK_ERROR_DEVICE_LOST)
    g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_DEVICE,
                 "The graphics device stopped responding (%s). Restart Huabu; if it happens "
                 "again, update the GPU driver or choose another device with HUABU_DEVICE.", what);
  else
    g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_DEVICE,
                 "A Vulkan call failed: %s returned error %d. Update the Vulkan driver or "
                 "choose another device with HUABU_DEVICE.", what, (int) result);
  return FALSE;
}

const char *
hb_vk_device_type_name (VkPhysicalDeviceType type)
{
  switch (type)
    {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:   return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:    return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:            return "CPU";
    case VK_PHYSICAL_DEVICE_TYPE_OTHER:
    case VK_PHYSICAL_DEVICE_TYPE_MAX_ENUM:
    default:                                     return "other";
    }
}

gboolean
hb_vk_device_info_is_cpu (const HbVkDeviceInfo *info)
{
  return info->cpu_kernels;
}

static int
type_rank (VkPhysicalDeviceType type)
{
  switch (type)
    {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:   return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:    return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:            return 3;
    case VK_PHYSICAL_DEVICE_TYPE_OTHER:
    case VK_PHYSICAL_DEVICE_TYPE_MAX_ENUM:
    default:                                     return 4;
    }
}

static gboolean
has_layer (const char *name)
{
  guint32 n = 0;
  g_autofree VkLayerProperties *layers = NULL;

  if (vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS)
    return FALSE;
  layers = g_new0 (VkLayerProperties, MAX (n, 1));
  if (vkEnumerateInstanceLayerProperties (&n, layers) != VK_SUCCESS)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (strcmp (layers[i].layerName, name) == 0)
      return TRUE;
  return FALSE;
}

static VkInstance
create_instance (GError **error)
{
  const char *validation = "VK_LAYER_KHRONOS_validation";
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "Huabu",
    .applicationVersion = VK_MAKE_API_VERSION (0, 0, 1, 0),
    .pEngineName = "Huabu",
    .apiVersion = VK_API_VERSION_1_2,
  };
  VkInstanceCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  VkInstance instance = VK_NULL_HANDLE;
  VkResult res;

  if (g_strcmp0 (g_getenv ("HUABU_VK_VALIDATION"), "1") == 0)
    {
      if (has_layer (validation))
        {
          ci.enabledLayerCount = 1;
          ci.ppEnabledLayerNames = &validation;
        }
      else
        g_warning ("HUABU_VK_VALIDATION=1 but the validation layer is not installed "
                   "(Debian package vulkan-validationlayers); running without it.");
    }

  res = vkCreateInstance (&ci, NULL, &instance);
  if (res != VK_SUCCESS)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                   "No Vulkan driver could be loaded (error %d). " NO_DRIVER_HINT, (int) res);
      return VK_NULL_HANDLE;
    }
  return instance;
}

static gboolean
has_device_extension (VkPhysicalDevice pd, const char *name)
{
  guint32 n = 0;
  g_autofree VkExtensionProperties *ext = NULL;

  if (vkEnumerateDeviceExtensionProperties (pd, NULL, &n, NULL) != VK_SUCCESS)
    return FALSE;
  ext = g_new0 (VkExtensionProperties, MAX (n, 1));
  if (vkEnumerateDeviceExtensionProperties (pd, NULL, &n, ext) != VK_SUCCESS)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (strcmp (ext[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

static int
find_compute_queue (VkPhysicalDevice pd, gboolean *timestamps)
{
  guint32 n = 0;
  g_autofree VkQueueFamilyProperties *q = NULL;
  int best = -1;

  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, NULL);
  q = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, q);
  /* A compute-only family is usually the async compute queue; a graphics
   * one is just as good for us and always exists, so take the first. */
  for (guint32 i = 0; i < n && best < 0; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
      best = (int) i;
  if (best >= 0)
    *timestamps = q[best].timestampValidBits > 0;
  return best;
}

static void
query_info (VkPhysicalDevice pd, guint index, HbVkDeviceInfo *info)
{
  const char *kernels;
  VkPhysicalDeviceSubgroupSizeControlProperties sscp = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES,
  };
  VkPhysicalDeviceVulkan11Properties p11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES,
  };
  VkPhysicalDeviceVulkan12Properties p12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES,
    .pNext = &p11,
  };
  VkPhysicalDeviceProperties2 props = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &p12,
  };
  VkPhysicalDeviceMaintenance3Properties m3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
  };
  VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
  };
  VkPhysicalDeviceVulkan11Features f11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
  };
  VkPhysicalDeviceVulkan12Features f12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .pNext = &f11,
  };
  VkPhysicalDeviceFeatures2 feats = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &f12,
  };
  VkPhysicalDeviceMemoryProperties mem;
  const VkPhysicalDeviceLimits *lim = &props.properties.limits;
  gboolean ssc_ext = has_device_extension (pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);

  memset (info, 0, sizeof *info);
  info->index = index;

  /* Only Vulkan 1.2 devices get the 1.1/1.2 structs chained. */
  vkGetPhysicalDeviceProperties (pd, &props.properties);
  info->api_version = props.properties.apiVersion;
  if (info->api_version >= VK_API_VERSION_1_2)
    {
      p11.pNext = &m3;
      if (ssc_ext || info->api_version >= VK_API_VERSION_1_3)
        m3.pNext = &sscp;
      vkGetPhysicalDeviceProperties2 (pd, &props);
      if (ssc_ext || info->api_version >= VK_API_VERSION_1_3)
        f11.pNext = &sscf;
      vkGetPhysicalDeviceFeatures2 (pd, &feats);
    }

  g_strlcpy (info->name, props.properties.deviceName, sizeof info->name);
  g_strlcpy (info->driver_name, p12.driverName, sizeof info->driver_name);
  g_strlcpy (info->driver_info, p12.driverInfo, sizeof info->driver_info);
  info->type = props.properties.deviceType;
  memcpy (info->uuid, p11.deviceUUID, VK_UUID_SIZE);
  memcpy (info->pipeline_cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);
  info->vendor_id = props.properties.vendorID;
  info->device_id = props.properties.deviceID;

  info->max_storage_buffer_range = lim->maxStorageBufferRange;
  info->max_texel_buffer_elements = lim->maxTexelBufferElements;
  info->max_shared_memory = lim->maxComputeSharedMemorySize;
  memcpy (info->max_workgroup_count, lim->maxComputeWorkGroupCount, sizeof info->max_workgroup_count);
  info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  info->max_push_constants = lim->maxPushConstantsSize;
  info->max_allocation_size = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : G_MAXUINT32;
  info->min_storage_offset_alignment = lim->minStorageBufferOffsetAlignment;
  info->min_texel_offset_alignment = lim->minTexelBufferOffsetAlignment;
  info->subgroup_size = p11.subgroupSize;
  info->min_subgroup_size = sscp.minSubgroupSize ? sscp.minSubgroupSize : p11.subgroupSize;
  info->max_subgroup_size = sscp.maxSubgroupSize ? sscp.maxSubgroupSize : p11.subgroupSize;
  info->timestamp_period = lim->timestampPeriod;

  info->has_fp16 = f12.shaderFloat16;
  info->has_16bit_storage = f11.storageBuffer16BitAccess;
  info->has_subgroup_size_control = sscf.subgroupSizeControl && sscf.computeFullSubgroups;
  info->has_coopmat = has_device_extension (pd, COOPMAT_EXT);
  info->cpu_kernels = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  kernels = g_getenv ("HUABU_KERNELS");
  if (kernels != NULL && g_ascii_strcasecmp (kernels, "cpu") == 0)
    info->cpu_kernels = TRUE;
  else if (kernels != NULL && g_ascii_strcasecmp (kernels, "gpu") == 0)
    info->cpu_kernels = FALSE;

  vkGetPhysicalDeviceMemoryProperties (pd, &mem);
  for (guint32 i = 0; i < mem.memoryHeapCount; i++)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      info->device_local_bytes = MAX (info->device_local_bytes, mem.memoryHeaps[i].size);
}

static gboolean
device_usable (VkPhysicalDevice pd, const HbVkDeviceInfo *info)
{
  gboolean ts;

  return info->api_version >= VK_API_VERSION_1_2 && info->has_16bit_storage
         && find_compute_queue (pd, &ts) >= 0;
}

/* Picks a device by the rules of hb_vulkan_device_new(); -1 if none fits. */
static int
choose_device (VkPhysicalDevice *pds, const HbVkDeviceInfo *infos, guint n, const char *selector)
{
  int best = -1;

  if (selector != NULL && *selector != '\0')
    {
      char *end = NULL;
      guint64 idx = g_ascii_strtoull (selector, &end, 10);
      g_autofree char *needle = g_utf8_casefold (selector, -1);

      if (end != selector && *end == '\0')
        return idx < n && device_usable (pds[idx], &infos[idx]) ? (int) idx : -1;
      for (guint i = 0; i < n; i++)
        {
          g_autofree char *hay = g_utf8_casefold (infos[i].name, -1);
          if (strstr (hay, needle) != NULL && device_usable (pds[i], &infos[i]))
            return (int) i;
        }
      return -1;
    }
  for (guint i = 0; i < n; i++)
    if (device_usable (pds[i], &infos[i])
        && (best < 0 || type_rank (infos[i].type) < type_rank (infos[best].type)))
      best = (int) i;
  return best;
}

static const char *
effective_selector (const char *selector)
{
  if (selector == NULL || *selector == '\0')
    return g_getenv ("HUABU_DEVICE");
  return selector;
}

static VkPhysicalDevice *
enumerate (VkInstance instance, guint *n_out, GError **error)
{
  guint32 n = 0;
  VkPhysicalDevice *pds;

  if (vkEnumeratePhysicalDevices (instance, &n, NULL) != VK_SUCCESS || n == 0)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                   "Vulkan found no device. " NO_DRIVER_HINT);
      return NULL;
    }
  pds = g_new0 (VkPhysicalDevice, n);
  if (vkEnumeratePhysicalDevices (instance, &n, pds) < 0)
    {
      g_free (pds);
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                   "Vulkan could not list its devices. " NO_DRIVER_HINT);
      return NULL;
    }
  *n_out = n;
  return pds;
}

GArray *
hb_vulkan_list_devices (const char *selector, int *chosen, GError **error)
{
  VkInstance instance = create_instance (error);
  g_autofree VkPhysicalDevice *pds = NULL;
  GArray *infos;
  guint n = 0;

  if (instance == VK_NULL_HANDLE)
    return NULL;
  pds = enumerate (instance, &n, error);
  if (pds == NULL)
    {
      vkDestroyInstance (instance, NULL);
      return NULL;
    }
  infos = g_array_sized_new (FALSE, TRUE, sizeof (HbVkDeviceInfo), n);
  g_array_set_size (infos, n);
  for (guint i = 0; i < n; i++)
    query_info (pds[i], i, &g_array_index (infos, HbVkDeviceInfo, i));
  if (chosen != NULL)
    *chosen = choose_device (pds, (HbVkDeviceInfo *) infos->data, n, effective_selector (selector));
  vkDestroyInstance (instance, NULL);
  return infos;
}

static int
find_memory_type (const VkPhysicalDeviceMemoryProperties *mem, guint32 type_bits,
                  VkMemoryPropertyFlags want, VkMemoryPropertyFlags prefer)
{
  int fallback = -1;

  for (guint32 i = 0; i < mem->memoryTypeCount; i++)
    {
      VkMemoryPropertyFlags f = mem->memoryTypes[i].propertyFlags;

      if (!(type_bits & (1u << i)) || (f & want) != want)
        continue;
      if ((f & prefer) == prefer)
        return (int) i;
      if (fallback < 0)
        fallback = (int) i;
    }
  return fallback;
}

static gboolean
choose_memory_types (HbVulkanDevice *dev, GError **error)
{
  VkPhysicalDeviceMemoryProperties mem;
  VkBufferCreateInfo bci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = 4096,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT
             | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
  };
  VkBuffer probe;
  VkMemoryRequirements req;
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int dl, dl_hv, host;

  if (!hb_vk_check (vkCreateBuffer (dev->device, &bci, NULL, &probe), "vkCreateBuffer", error))
    return FALSE;
  vkGetBufferMemoryRequirements (dev->device, probe, &req);
  vkDestroyBuffer (dev->device, probe, NULL);
  vkGetPhysicalDeviceMemoryProperties (dev->physical, &mem);

  dl = find_memory_type (&mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  dl_hv = find_memory_type (&mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hv, 0);
  host = find_memory_type (&mem, req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (dl < 0 || host < 0)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                   "The Vulkan device “%s” offers no memory usable for compute buffers. "
                   "Update its driver or choose another device with HUABU_DEVICE.", dev->info.name);
      return FALSE;
    }
  /* Host-visible device memory spares every staging copy, but only where
   * it is all of the device's memory (unified memory, lavapipe, resizable
   * BAR); a 256 MiB BAR window would run out. */
  if (dl_hv >= 0 && mem.memoryHeaps[mem.memoryTypes[dl_hv].heapIndex].size >= dev->info.device_local_bytes)
    dl = dl_hv;
  dev->mem_type[HB_VK_MEM_DEVICE] = (guint32) dl;
  dev->mem_type[HB_VK_MEM_HOST] = (guint32) host;
  dev->mem_mapped[HB_VK_MEM_DEVICE] = (mem.memoryTypes[dl].propertyFlags & hv) == hv;
  dev->mem_mapped[HB_VK_MEM_HOST] = TRUE;
  return TRUE;
}

static gboolean
create_logical_device (HbVulkanDevice *dev, GError **error)
{
  float priority = 1.0f;
  gboolean ts = FALSE;
  int family = find_compute_queue (dev->physical, &ts);
  VkDeviceQueueCreateInfo qci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = (guint32) family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
    .subgroupSizeControl = VK_TRUE,
    .computeFullSubgroups = VK_TRUE,
  };
  VkPhysicalDeviceVulkan11Features f11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .storageBuffer16BitAccess = VK_TRUE,
  };
  VkPhysicalDeviceVulkan12Features f12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .pNext = &f11,
    .shaderFloat16 = dev->info.has_fp16,
  };
  VkPhysicalDeviceFeatures2 feats = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &f12,
  };
  const char *exts[2];
  guint32 n_exts = 0;
  VkDeviceCreateInfo dci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &feats,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qci,
    .ppEnabledExtensionNames = exts,
  };

  dev->queue_family = (guint32) family;
  dev->info.has_timestamps = ts;
  if (dev->info.has_subgroup_size_control)
    {
      f11.pNext = &sscf;
      if (dev->info.api_version < VK_API_VERSION_1_3)
        exts[n_exts++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
    }
  /* Enabling the extension is enough for its shaders to be accepted; its
   * feature struct is chained by the kernels' owner if a header has it. */
  if (dev->info.has_coopmat)
    exts[n_exts++] = COOPMAT_EXT;
  dci.enabledExtensionCount = n_exts;

  if (!hb_vk_check (vkCreateDevice (dev->physical, &dci, NULL, &dev->device), "vkCreateDevice", error))
    return FALSE;
  vkGetDeviceQueue (dev->device, dev->queue_family, 0, &dev->queue);
  return TRUE;
}

static gboolean
create_layouts (HbVulkanDevice *dev, GError **error)
{
  VkDescriptorSetLayoutBinding b[HB_VK_N_STORAGE + HB_VK_N_TEXEL];
  VkDescriptorSetLayoutCreateInfo dslci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = G_N_ELEMENTS (b),
    .pBindings = b,
  };
  VkPushConstantRange pcr = {
    .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    .size = MIN (HB_VK_MAX_PUSH, dev->info.max_push_constants),
  };
  VkPipelineLayoutCreateInfo plci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &dev->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &pcr,
  };

  for (guint i = 0; i < G_N_ELEMENTS (b); i++)
    b[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = i < HB_VK_N_STORAGE ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                            : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  if (!hb_vk_check (vkCreateDescriptorSetLayout (dev->device, &dslci, NULL, &dev->set_layout),
                    "vkCreateDescriptorSetLayout", error))
    return FALSE;
  return hb_vk_check (vkCreatePipelineLayout (dev->device, &plci, NULL, &dev->pipeline_layout),
                      "vkCreatePipelineLayout", error);
}

char *
hb_vulkan_device_pipeline_cache_path (HbVulkanDevice *dev)
{
  g_autoptr(GString) name = g_string_new ("pipeline-cache-");

  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (name, "%02x", dev->info.uuid[i]);
  g_string_append (name, ".bin");
  return g_build_filename (g_get_user_cache_dir (), "huabu", name->str, NULL);
}

/* A cache written by another driver version is valid Vulkan input but
 * useless; one from another device may be rejected or worse. Check the
 * header (VkPipelineCacheHeaderVersionOne) before handing it over. */
static gboolean
cache_header_matches (HbVulkanDevice *dev, const guint8 *data, gsize len)
{
  guint32 header_len, version, vendor, device;

  if (len < 16 + VK_UUID_SIZE)
    return FALSE;
  memcpy (&header_len, data, 4);
  memcpy (&version, data + 4, 4);
  memcpy (&vendor, data + 8, 4);
  memcpy (&device, data + 12, 4);
  return header_len >= 16 + VK_UUID_SIZE && header_len <= len
         && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE
         && vendor == dev->info.vendor_id && device == dev->info.device_id
         && memcmp (data + 16, dev->info.pipeline_cache_uuid, VK_UUID_SIZE) == 0;
}

static gboolean
create_pipeline_cache (HbVulkanDevice *dev, GError **error)
{
  g_autofree char *path = hb_vulkan_device_pipeline_cache_path (dev);
  g_autofree char *data = NULL;
  gsize len = 0;
  VkPipelineCacheCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
  };

  if (g_file_get_contents (path, &data, &len, NULL) && cache_header_matches (dev, (guint8 *) data, len))
    {
      ci.initialDataSize = len;
      ci.pInitialData = data;
    }
  if (vkCreatePipelineCache (dev->device, &ci, NULL, &dev->pipeline_cache) == VK_SUCCESS)
    return TRUE;
  ci.initialDataSize = 0;
  ci.pInitialData = NULL;
  return hb_vk_check (vkCreatePipelineCache (dev->device, &ci, NULL, &dev->pipeline_cache),
                      "vkCreatePipelineCache", error);
}

gboolean
hb_vulkan_device_save_pipeline_cache (HbVulkanDevice *dev, GError **error)
{
  g_autofree char *path = hb_vulkan_device_pipeline_cache_path (dev);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *data = NULL;
  size_t len = 0;

  if (!hb_vk_check (vkGetPipelineCacheData (dev->device, dev->pipeline_cache, &len, NULL),
                    "vkGetPipelineCacheData", error))
    return FALSE;
  data = g_malloc (MAX (len, 1));
  if (!hb_vk_check (vkGetPipelineCacheData (dev->device, dev->pipeline_cache, &len, data),
                    "vkGetPipelineCacheData", error))
    return FALSE;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "Could not create the cache folder %s: %s", dir, g_strerror (errsv));
      return FALSE;
    }
  /* g_file_set_contents writes a temporary file and renames it. */
  return g_file_set_contents (path, data, (gssize) len, error);
}

HbVulkanDevice *
hb_vulkan_device_new (const char *selector, GError **error)
{
  g_autoptr(HbVulkanDevice) dev = g_new0 (HbVulkanDevice, 1);
  g_autofree VkPhysicalDevice *pds = NULL;
  g_autofree HbVkDeviceInfo *infos = NULL;
  VkCommandPoolCreateInfo cpci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
  };
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  guint n = 0;
  int chosen;

  dev->blocks = g_ptr_array_new ();
  dev->pipelines = g_hash_table_new (g_str_hash, g_str_equal);
  dev->instance = create_instance (error);
  if (dev->instance == VK_NULL_HANDLE)
    return NULL;
  pds = enumerate (dev->instance, &n, error);
  if (pds == NULL)
    return NULL;
  infos = g_new0 (HbVkDeviceInfo, n);
  for (guint i = 0; i < n; i++)
    query_info (pds[i], i, &infos[i]);
  selector = effective_selector (selector);
  chosen = choose_device (pds, infos, n, selector);
  if (chosen < 0)
    {
      if (selector != NULL && *selector != '\0')
        g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                     "No usable Vulkan device matches “%s”. Run “huabu-cli devices” to see the "
                     "devices and pass an index or part of a name.", selector);
      else
        g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NO_VULKAN,
                     "No Vulkan device supports Vulkan 1.2 with 16-bit storage, which Huabu needs. "
                     NO_DRIVER_HINT);
      return NULL;
    }
  dev->physical = pds[chosen];
  dev->info = infos[chosen];

  if (!create_logical_device (dev, error) || !choose_memory_types (dev, error)
      || !create_layouts (dev, error) || !create_pipeline_cache (dev, error))
    return NULL;
  cpci.queueFamilyIndex = dev->queue_family;
  if (!hb_vk_check (vkCreateCommandPool (dev->device, &cpci, NULL, &dev->command_pool),
                    "vkCreateCommandPool", error)
      || !hb_vk_check (vkCreateFence (dev->device, &fci, NULL, &dev->transfer_fence),
                       "vkCreateFence", error))
    return NULL;
  return g_steal_pointer (&dev);
}

const HbVkDeviceInfo *
hb_vulkan_device_info (HbVulkanDevice *dev)
{
  return &dev->info;
}

void
hb_vulkan_device_set_cpu_kernels (HbVulkanDevice *dev, gboolean cpu)
{
  dev->info.cpu_kernels = cpu;
}

static void
block_destroy (HbVulkanDevice *dev, HbVkBlock *b)
{
  if (b->mapped != NULL)
    vkUnmapMemory (dev->device, b->memory);
  vkDestroyBuffer (dev->device, b->buffer, NULL);
  vkFreeMemory (dev->device, b->memory, NULL);
  g_array_unref (b->free_ranges);
  g_free (b);
}

void
hb_vulkan_device_free (HbVulkanDevice *dev)
{
  GHashTableIter iter;
  gpointer value;

  if (dev == NULL)
    return;
  if (dev->device != VK_NULL_HANDLE)
    {
      g_autoptr(GError) error = NULL;

      vkDeviceWaitIdle (dev->device);
      if (dev->pipeline_cache != VK_NULL_HANDLE
          && g_hash_table_size (dev->pipelines) > 0
          && !hb_vulkan_device_save_pipeline_cache (dev, &error))
        g_warning ("Could not save the Vulkan pipeline cache: %s", error->message);
      g_hash_table_iter_init (&iter, dev->pipelines);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        vkDestroyPipeline (dev->device, (VkPipeline) value, NULL);
      for (guint i = 0; i < dev->blocks->len; i++)
        block_destroy (dev, g_ptr_array_index (dev->blocks, i));
      vkDestroyFence (dev->device, dev->transfer_fence, NULL);
      vkDestroyCommandPool (dev->device, dev->command_pool, NULL);
      vkDestroyPipelineCache (dev->device, dev->pipeline_cache, NULL);
      vkDestroyPipelineLayout (dev->device, dev->pipeline_layout, NULL);
      vkDestroyDescriptorSetLayout (dev->device, dev->set_layout, NULL);
      vkDestroyDevice (dev->device, NULL);
    }
  if (dev->instance != VK_NULL_HANDLE)
    vkDestroyInstance (dev->instance, NULL);
  g_hash_table_unref (dev->pipelines);
  g_ptr_array_unref (dev->blocks);
  g_free (dev);
}

static gboolean
oom (GError **error, VkDeviceSize size, const char *why)
{
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY,
               "Could not allocate %.1f MiB of GPU memory: %s. Try a smaller image size, "
               "or a device with more memory (HUABU_DEVICE).",
               size / (1024.0 * 1024.0), why);
  return FALSE;
}

static HbVkBlock *
block_new (HbVulkanDevice *dev, HbVkMemKind kind, VkDeviceSize size, GError **error)
{
  VkPhysicalDeviceMemoryProperties mem;
  VkBufferCreateInfo bci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT
             | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
  };
  VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO };
  VkMemoryRequirements req;
  HbVkBlock *b;
  VkResult res;

  vkGetPhysicalDeviceMemoryProperties (dev->physical, &mem);
  /* Ask no driver for more than it says it can give: some overcommit and
   * fail later, far from the cause. */
  if (size > dev->info.max_allocation_size)
    {
      oom (error, size, "larger than the device’s biggest single allocation");
      return NULL;
    }
  if (size > mem.memoryHeaps[mem.memoryTypes[dev->mem_type[kind]].heapIndex].size)
    {
      oom (error, size, "larger than the device’s memory");
      return NULL;
    }

  b = g_new0 (HbVkBlock, 1);
  b->kind = kind;
  b->size = size;
  b->free_ranges = hb_vk_ranges_new (size);
  res = vkCreateBuffer (dev->device, &bci, NULL, &b->buffer);
  if (res != VK_SUCCESS)
    goto fail;
  vkGetBufferMemoryRequirements (dev->device, b->buffer, &req);
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = dev->mem_type[kind];
  res = vkAllocateMemory (dev->device, &mai, NULL, &b->memory);
  if (res != VK_SUCCESS)
    goto fail;
  res = vkBindBufferMemory (dev->device, b->buffer, b->memory, 0);
  if (res == VK_SUCCESS && dev->mem_mapped[kind])
    res = vkMapMemory (dev->device, b->memory, 0, VK_WHOLE_SIZE, 0, (void **) &b->mapped);
  if (res != VK_SUCCESS)
    goto fail;
  return b;

fail:
  if (b->buffer != VK_NULL_HANDLE)
    vkDestroyBuffer (dev->device, b->buffer, NULL);
  if (b->memory != VK_NULL_HANDLE)
    vkFreeMemory (dev->device, b->memory, NULL);
  g_array_unref (b->free_ranges);
  g_free (b);
  if (res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY)
    oom (error, size, "the device has no more free memory");
  else
    hb_vk_check (res, "creating a memory block", error);
  return NULL;
}

GArray *
hb_vk_ranges_new (VkDeviceSize size)
{
  GArray *ranges = g_array_new (FALSE, FALSE, sizeof (HbVkRange));
  HbVkRange all = { 0, size };

  g_array_append_val (ranges, all);
  return ranges;
}

/* Best fit: the smallest free range that holds the request, so big holes
 * stay big for big tensors. */
gboolean
hb_vk_ranges_take (GArray *ranges, VkDeviceSize size, VkDeviceSize *offset)
{
  int best = -1;
  HbVkRange *r;

  for (guint i = 0; i < ranges->len; i++)
    {
      r = &g_array_index (ranges, HbVkRange, i);
      if (r->size >= size && (best < 0 || r->size < g_array_index (ranges, HbVkRange, best).size))
        best = (int) i;
    }
  if (best < 0)
    return FALSE;
  r = &g_array_index (ranges, HbVkRange, best);
  *offset = r->offset;
  r->offset += size;
  r->size -= size;
  if (r->size == 0)
    g_array_remove_index (ranges, best);
  return TRUE;
}

void
hb_vk_ranges_give (GArray *ranges, VkDeviceSize offset, VkDeviceSize size)
{
  HbVkRange r = { offset, size };
  guint i = 0;

  while (i < ranges->len && g_array_index (ranges, HbVkRange, i).offset < offset)
    i++;
  g_array_insert_val (ranges, i, r);
  if (i + 1 < ranges->len)
    {
      HbVkRange *cur = &g_array_index (ranges, HbVkRange, i);
      HbVkRange *next = cur + 1;
      if (cur->offset + cur->size == next->offset)
        {
          cur->size += next->size;
          g_array_remove_index (ranges, i + 1);
        }
    }
  if (i > 0)
    {
      HbVkRange *prev = &g_array_index (ranges, HbVkRange, i - 1);
      HbVkRange *cur = prev + 1;
      if (prev->offset + prev->size == cur->offset)
        {
          prev->size += cur->size;
          g_array_remove_index (ranges, i);
        }
    }
}

gboolean
hb_vk_alloc (HbVulkanDevice *dev, HbVkMemKind kind, VkDeviceSize size, HbVkAlloc *out,
             GError **error)
{
  VkDeviceSize aligned = (MAX (size, 1) + HB_VK_ALIGN - 1) / HB_VK_ALIGN * HB_VK_ALIGN;
  HbVkBlock *b = NULL;
  VkDeviceSize offset = 0;

  memset (out, 0, sizeof *out);
  for (guint i = 0; i < dev->blocks->len && b == NULL; i++)
    {
      HbVkBlock *cand = g_ptr_array_index (dev->blocks, i);
      if (cand->kind == kind && !cand->dedicated && hb_vk_ranges_take (cand->free_ranges, aligned, &offset))
        b = cand;
    }
  if (b == NULL)
    {
      gboolean dedicated = aligned > HB_VK_BLOCK_SIZE / 2;

      b = block_new (dev, kind, dedicated ? aligned : HB_VK_BLOCK_SIZE, error);
      if (b == NULL)
        return FALSE;
      b->dedicated = dedicated;
      g_ptr_array_add (dev->blocks, b);
      hb_vk_ranges_take (b->free_ranges, aligned, &offset);
    }
  out->buffer = b->buffer;
  out->offset = offset;
  out->size = aligned;
  out->mapped = b->mapped != NULL ? b->mapped + offset : NULL;
  out->block = b;
  return TRUE;
}

void
hb_vk_free (HbVulkanDevice *dev, HbVkAlloc *alloc)
{
  HbVkBlock *b = alloc->block;

  if (b == NULL)
    return;
  hb_vk_ranges_give (b->free_ranges, alloc->offset, alloc->size);
  /* Dedicated blocks go back at once; shared ones stay for reuse. */
  if (b->dedicated)
    {
      g_ptr_array_remove (dev->blocks, b);
      block_destroy (dev, b);
    }
  memset (alloc, 0, sizeof *alloc);
}

gboolean
hb_vk_upload (HbVulkanDevice *dev, const HbVkAlloc *dst, VkDeviceSize offset,
              const void *data, VkDeviceSize size, GError **error)
{
  VkCommandBufferAllocateInfo cbai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = dev->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1 };
  /* Chunks bound the staging memory a huge weight needs. */
  const VkDeviceSize chunk = 64 * 1024 * 1024;
  HbVkAlloc staging;
  VkCommandBuffer cb;
  gboolean ok = TRUE;

  if (dst->mapped != NULL)
    {
      memcpy (dst->mapped + offset, data, size);
      return TRUE;
    }
  if (!hb_vk_alloc (dev, HB_VK_MEM_HOST, MIN (size, chunk), &staging, error))
    return FALSE;
  if (!hb_vk_check (vkAllocateCommandBuffers (dev->device, &cbai, &cb), "vkAllocateCommandBuffers", error))
    {
      hb_vk_free (dev, &staging);
      return FALSE;
    }
  si.pCommandBuffers = &cb;
  for (VkDeviceSize done = 0; done < size && ok; done += chunk)
    {
      VkBufferCopy region = {
        .srcOffset = staging.offset,
        .dstOffset = dst->offset + offset + done,
        .size = MIN (chunk, size - done),
      };

      memcpy (staging.mapped, (const guint8 *) data + done, region.size);
      ok = hb_vk_check (vkBeginCommandBuffer (cb, &begin), "vkBeginCommandBuffer", error);
      if (!ok)
        break;
      vkCmdCopyBuffer (cb, staging.buffer, dst->buffer, 1, &region);
      ok = hb_vk_check (vkEndCommandBuffer (cb), "vkEndCommandBuffer", error)
           && hb_vk_check (vkQueueSubmit (dev->queue, 1, &si, dev->transfer_fence), "vkQueueSubmit", error)
           && hb_vk_check (vkWaitForFences (dev->device, 1, &dev->transfer_fence, VK_TRUE, UINT64_MAX),
                           "vkWaitForFences", error)
           && hb_vk_check (vkResetFences (dev->device, 1, &dev->transfer_fence), "vkResetFences", error);
    }
  vkFreeCommandBuffers (dev->device, dev->command_pool, 1, &cb);
  hb_vk_free (dev, &staging);
  return ok;
}

static const HbShaderBlob *
find_blob (const char *name)
{
  for (gsize i = 0; i < hb_n_shader_blobs; i++)
    if (strcmp (hb_shader_blobs[i].name, name) == 0)
      return &hb_shader_blobs[i];
  return NULL;
}

VkPipeline
hb_vk_get_pipeline (HbVulkanDevice *dev, const char *variant, GError **error)
{
  VkPipeline pipeline = g_hash_table_lookup (dev->pipelines, variant);
  const HbShaderBlob *blob;
  VkShaderModule module;
  VkShaderModuleCreateInfo smci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO };
  VkComputePipelineCreateInfo cpci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    /* hb_vk_dispatch splits big grids with vkCmdDispatchBase */
    .flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .pName = "main",
    },
    .layout = dev->pipeline_layout,
  };
  VkResult res;

  if (pipeline != VK_NULL_HANDLE)
    return pipeline;
  blob = find_blob (variant);
  if (blob == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                   "The compute shader “%s” is not built into this Huabu; rebuild it from a "
                   "complete source tree.", variant);
      return VK_NULL_HANDLE;
    }
  smci.codeSize = blob->size;
  smci.pCode = blob->code;
  if (!hb_vk_check (vkCreateShaderModule (dev->device, &smci, NULL, &module), "vkCreateShaderModule", error))
    return VK_NULL_HANDLE;
  cpci.stage.module = module;
  res = vkCreateComputePipelines (dev->device, dev->pipeline_cache, 1, &cpci, NULL, &pipeline);
  vkDestroyShaderModule (dev->device, module, NULL);
  if (!hb_vk_check (res, variant, error))
    return VK_NULL_HANDLE;
  g_hash_table_insert (dev->pipelines, (gpointer) blob->name, pipeline);
  return pipeline;
}
