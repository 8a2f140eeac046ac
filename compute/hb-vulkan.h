/* hb-vulkan.h — the Vulkan runtime: instance, device, memory, pipelines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One HbVulkanDevice holds the instance, the logical device, one compute
 * queue, the memory blocks that tensors are carved from and the pipelines
 * made from the embedded SPIR-V. The Vulkan backend (hb_backend_vulkan_new)
 * runs graphs on it.
 */
#pragma once

#include <vulkan/vulkan.h>
#include "hb-backend.h"

G_BEGIN_DECLS

typedef struct _HbVulkanDevice HbVulkanDevice;

/* What a physical device offers, as far as Huabu cares. */
typedef struct {
  guint                index;              /* in vkEnumeratePhysicalDevices order */
  char                 name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
  char                 driver_name[VK_MAX_DRIVER_NAME_SIZE];
  char                 driver_info[VK_MAX_DRIVER_INFO_SIZE];
  VkPhysicalDeviceType type;
  guint32              api_version;
  guint8               uuid[VK_UUID_SIZE];
  guint8               pipeline_cache_uuid[VK_UUID_SIZE];
  guint32              vendor_id;
  guint32              device_id;

  VkDeviceSize         max_storage_buffer_range;
  guint32              max_texel_buffer_elements;
  guint32              max_shared_memory;
  guint32              max_workgroup_count[3];
  guint32              max_workgroup_invocations;
  guint32              max_push_constants;
  VkDeviceSize         max_allocation_size;
  VkDeviceSize         min_storage_offset_alignment;
  VkDeviceSize         min_texel_offset_alignment;
  guint32              subgroup_size;
  guint32              min_subgroup_size;
  guint32              max_subgroup_size;
  float                timestamp_period;   /* ns per tick */
  gboolean             has_timestamps;     /* compute queue supports timestamps */
  VkDeviceSize         device_local_bytes; /* largest device-local heap */

  gboolean             has_fp16;           /* shaderFloat16 */
  gboolean             has_16bit_storage;  /* storageBuffer16BitAccess */
  gboolean             has_subgroup_size_control;
  gboolean             has_coopmat;        /* VK_KHR_cooperative_matrix */
  gboolean             cpu_kernels;        /* see hb_vk_device_info_is_cpu() */
} HbVkDeviceInfo;

/* Whether kernels should use their CPU-type family (register tiles, texel
 * buffers, no barriers) rather than the GPU one: TRUE on CPU devices
 * (lavapipe, SwiftShader). HUABU_KERNELS=cpu or =gpu overrides it, and
 * so does hb_vulkan_device_set_cpu_kernels(), so tests can check both
 * families on one device. */
gboolean        hb_vk_device_info_is_cpu   (const HbVkDeviceInfo *info);
const char     *hb_vk_device_type_name     (VkPhysicalDeviceType type);

/* Lists every Vulkan device. *chosen is the index that
 * hb_vulkan_device_new (selector) would use, or -1 if selector matches none.
 * Fails with HB_ENGINE_ERROR_NO_VULKAN when no driver or device exists. */
GArray         *hb_vulkan_list_devices     (const char *selector,
                                            int        *chosen,
                                            GError    **error);

/* selector: NULL or "" picks discrete GPU, then integrated, then virtual,
 * then CPU; otherwise an index or a case-insensitive part of the name.
 * The environment variable HUABU_DEVICE overrides a NULL selector.
 * HUABU_VK_VALIDATION=1 enables the Khronos validation layer if installed. */
HbVulkanDevice *hb_vulkan_device_new       (const char *selector, GError **error);
void            hb_vulkan_device_free      (HbVulkanDevice *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbVulkanDevice, hb_vulkan_device_free)

const HbVkDeviceInfo *hb_vulkan_device_info (HbVulkanDevice *dev);
/* Picks the kernel family for graphs prepared afterwards. */
void            hb_vulkan_device_set_cpu_kernels (HbVulkanDevice *dev, gboolean cpu);

/* Writes the pipeline cache to $XDG_CACHE_HOME/huabu/ (atomically). Also
 * done by hb_vulkan_device_free(). */
gboolean        hb_vulkan_device_save_pipeline_cache (HbVulkanDevice *dev, GError **error);
/* The file the pipeline cache is loaded from and saved to. */
char           *hb_vulkan_device_pipeline_cache_path (HbVulkanDevice *dev);

/* A sub-allocation of one memory block. Each block is bound to one
 * VkBuffer spanning it, so an allocation is (buffer, offset, size). */
typedef struct {
  VkBuffer      buffer;
  VkDeviceSize  offset;
  VkDeviceSize  size;
  guint8       *mapped;     /* host pointer to offset, or NULL when not host-visible */
  gpointer      block;
} HbVkAlloc;

typedef enum {
  HB_VK_MEM_DEVICE,         /* device-local; host-visible too where the device allows it */
  HB_VK_MEM_HOST,           /* host-visible and coherent: inputs, outputs, staging */
} HbVkMemKind;

/* Sub-allocates from 256 MiB blocks; larger requests get their own block.
 * Fails with HB_ENGINE_ERROR_OUT_OF_MEMORY when the device cannot hold it. */
gboolean        hb_vk_alloc                (HbVulkanDevice *dev,
                                            HbVkMemKind     kind,
                                            VkDeviceSize    size,
                                            HbVkAlloc      *out,
                                            GError        **error);
void            hb_vk_free                 (HbVulkanDevice *dev, HbVkAlloc *alloc);

/* Copies host bytes into an allocation: directly when mapped, else through
 * a staging buffer and a transfer on the queue (waits for it). */
gboolean        hb_vk_upload               (HbVulkanDevice *dev,
                                            const HbVkAlloc *dst,
                                            VkDeviceSize     offset,
                                            const void      *data,
                                            VkDeviceSize     size,
                                            GError         **error);

/* The Vulkan backend. dev NULL creates (and owns) a device chosen as
 * hb_vulkan_device_new (NULL) does; otherwise dev must outlive the backend. */
HbBackend      *hb_backend_vulkan_new      (HbVulkanDevice *dev, GError **error);
HbVulkanDevice *hb_backend_vulkan_device   (HbBackend *be);
/* Enables GPU timestamps around each node for graphs prepared afterwards
 * (HUABU_PROFILE=1 enables it from the start). */
void            hb_backend_vk_set_profiling (HbBackend *be, gboolean enable);
/* Called with a weight's host_data right after prepare() copied it to the
 * device, and never again for that graph: the host copy may then be given
 * back. NULL func to stop. */
typedef void  (*HbVkUploadedFunc)          (const void *host_data, gpointer user_data);
void            hb_backend_vk_set_upload_notify (HbBackend       *be,
                                                 HbVkUploadedFunc func,
                                                 gpointer         user_data);
/* Per-node timings of the last compute() of a profiled graph, in node
 * order; NULL when none were taken. Free with g_array_unref(). */
GArray         *hb_backend_vk_get_timings  (HbBackend *be);

G_END_DECLS
