/* hb-vk-private.h — between the Vulkan backend and the per-op recorders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * prepare() walks the graph once and calls one HbVkRecordFunc per node.
 * A record function describes its dispatches with the helpers below; they
 * are recorded into the graph's command buffer, which every compute()
 * re-submits. Nothing here runs on the GPU at record time.
 *
 * One dispatch:
 *
 *   if (!hb_vk_begin (ctx, "add_f32", error)) return FALSE;
 *   if (!hb_vk_bind_storage (ctx, 0, a, first, count, HB_VK_READ, &off_a, error)) ...
 *   if (!hb_vk_bind_storage (ctx, 2, node, first, count, HB_VK_WRITE, &off_d, error)) ...
 *   hb_vk_push (ctx, &params, sizeof params);
 *   if (!hb_vk_dispatch (ctx, groups_x, groups_y, 1, error)) return FALSE;
 *
 * The shader interface every .comp follows (one pipeline layout for all):
 *   set 0, bindings 0..7   storage buffers   (layout(std430, binding = N) buffer)
 *   set 0, bindings 8..11  uniform texel buffers (samplerBuffer, binding = 8+N)
 *   one push-constant block of at most HB_VK_MAX_PUSH bytes
 * Unused bindings need not be bound. Shaders index from gl_WorkGroupID /
 * gl_GlobalInvocationID, never from gl_NumWorkGroups: hb_vk_dispatch()
 * splits big grids into several vkCmdDispatchBase calls, so the group ids
 * of one logical dispatch are continuous but gl_NumWorkGroups is not the
 * whole grid.
 *
 * Binding ranges: a storage binding may cover at most
 * info->max_storage_buffer_range bytes and a texel view at most
 * info->max_texel_buffer_elements texels. A record function whose tensor is
 * bigger splits its work (e.g. over row ranges, see hb_vk_rows_per_binding)
 * and binds the sub-range each dispatch touches. A binding starts at an
 * offset rounded down to the device's alignment: the shader adds the
 * returned element (or texel) offset to its indices.
 */
#pragma once

#include "hb-vulkan.h"

G_BEGIN_DECLS

#define HB_VK_MAX_PUSH          128
#define HB_VK_N_STORAGE         8
#define HB_VK_N_TEXEL           4
#define HB_VK_TEXEL_BINDING0    HB_VK_N_STORAGE

typedef struct _HbVkCtx HbVkCtx;

typedef gboolean (*HbVkRecordFunc) (HbVkCtx *ctx, HbTensor *node, GError **error);

typedef enum {
  HB_VK_READ  = 1 << 0,
  HB_VK_WRITE = 1 << 1,
  HB_VK_READ_WRITE = HB_VK_READ | HB_VK_WRITE,
} HbVkAccess;

const HbVkDeviceInfo *hb_vk_ctx_device_info (HbVkCtx *ctx);

/* Starts describing a dispatch of the pipeline built from the embedded
 * SPIR-V variant `variant` (e.g. "matmul_f16"). The pipeline is created on
 * first use and kept for the device's lifetime. Fails if no such variant
 * was compiled in. */
gboolean  hb_vk_begin          (HbVkCtx *ctx, const char *variant, GError **error);

/* Binds elements [first, first + count) of tensor t to storage binding
 * `binding`. Elements are counted in t's dtype from t's own first element
 * (index 0,..,0; a view's view_offset is applied for you), so the element
 * at index i is at sum(i_d * stride_d). count < 0 means "the whole
 * extent of t from first". On success *elem_offset is the index, in t's dtype, of element `first`
 * within the bound range (the shader adds it). Fails with a clear error
 * when the range exceeds max_storage_buffer_range. Marks the bytes as read
 * and/or written for barrier tracking. */
gboolean  hb_vk_bind_storage   (HbVkCtx    *ctx,
                                guint       binding,
                                HbTensor   *t,
                                int64_t     first,
                                int64_t     count,
                                HbVkAccess  access,
                                guint32    *elem_offset,
                                GError    **error);

/* Binds the same kind of range as a uniform texel buffer view of `format`
 * (VK_FORMAT_R32G32B32A32_SFLOAT over fp32, VK_FORMAT_R16G16B16A16_SFLOAT
 * over fp16, or a one-channel format) at binding HB_VK_TEXEL_BINDING0 +
 * texel_binding. first/count are in t's elements; *texel_offset is the
 * texel index of element `first` within the view (first must fall on a
 * texel boundary, i.e. be a multiple of the format's channel count). Views
 * are created at prepare() and kept with the graph. Read-only. */
gboolean  hb_vk_bind_texel     (HbVkCtx    *ctx,
                                guint       texel_binding,
                                HbTensor   *t,
                                VkFormat    format,
                                int64_t     first,
                                int64_t     count,
                                guint32    *texel_offset,
                                GError    **error);

/* Scratch memory for a kernel's intermediate results (e.g. the partial
 * sums of a reduction split over workgroups): `size` bytes of device
 * memory kept with the graph being recorded. Bind it with
 * hb_vk_bind_scratch(); barriers are tracked as for tensors. */
gboolean  hb_vk_scratch_new    (HbVkCtx *ctx, VkDeviceSize size, HbVkAlloc *out, GError **error);
/* Binds scratch memory from hb_vk_scratch_new() whole to storage binding
 * `binding`; the shader indexes it from 0. */
void      hb_vk_bind_scratch   (HbVkCtx *ctx, guint binding, const HbVkAlloc *scratch,
                                HbVkAccess access);

/* Push constants for the current dispatch (size <= HB_VK_MAX_PUSH). */
void      hb_vk_push           (HbVkCtx *ctx, const void *data, gsize size);

/* Records the dispatch with a barrier before it if it touches what an
 * earlier dispatch since the last barrier wrote (or writes what one read).
 * Grids larger than maxComputeWorkGroupCount are split. */
gboolean  hb_vk_dispatch       (HbVkCtx *ctx, guint32 gx, guint32 gy, guint32 gz,
                                GError **error);

/* How many rows of `row_bytes` each fit in one storage binding (>= 1), or 0
 * if one row alone is larger than the binding limit. */
int64_t   hb_vk_rows_per_binding (HbVkCtx *ctx, int64_t row_bytes);

/* Number of elements a tensor's strides reach: the extent of its storage. */
int64_t   hb_vk_tensor_extent  (const HbTensor *t);

/* Ceiling division for grid sizes. */
static inline guint32
hb_vk_div_up (int64_t n, int64_t d)
{
  return (guint32) ((n + d - 1) / d);
}

/* Record functions, by op. Matmul, conv2d and attention live in
 * hb-vk-ops-mm.c; the rest in hb-vk-ops-misc.c. */
gboolean  hb_vk_record_matmul        (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_conv2d        (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_attention     (HbVkCtx *ctx, HbTensor *node, GError **error);

gboolean  hb_vk_record_copy          (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_group_norm    (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_layer_norm    (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_unary         (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_geglu         (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_binary        (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_upsample      (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_concat        (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_timestep      (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_softmax       (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_get_rows      (HbVkCtx *ctx, HbTensor *node, GError **error);
gboolean  hb_vk_record_latent_rgb    (HbVkCtx *ctx, HbTensor *node, GError **error);

/* Runtime internals shared by hb-vulkan.c and hb-backend-vk.c. Calls on
 * one device must come from one thread at a time. */
struct _HbVulkanDevice {
  VkInstance             instance;
  VkPhysicalDevice       physical;
  VkDevice               device;
  VkQueue                queue;
  guint32                queue_family;
  HbVkDeviceInfo         info;

  guint32                mem_type[2];      /* by HbVkMemKind */
  gboolean               mem_mapped[2];
  GPtrArray             *blocks;           /* HbVkBlock */

  VkDescriptorSetLayout  set_layout;
  VkPipelineLayout       pipeline_layout;
  VkPipelineCache        pipeline_cache;
  GHashTable            *pipelines;        /* variant name -> VkPipeline */

  VkCommandPool          command_pool;
  VkFence                transfer_fence;
};

/* The pipeline of an embedded variant, created on first use. */
VkPipeline  hb_vk_get_pipeline  (HbVulkanDevice *dev, const char *variant, GError **error);
/* Sets error from a failed Vulkan call; out-of-memory results map to
 * HB_ENGINE_ERROR_OUT_OF_MEMORY. Returns FALSE for use in return statements. */
gboolean    hb_vk_check         (VkResult result, const char *what, GError **error);

/* Free ranges of an address space (GArray of HbVkRange sorted by offset):
 * memory blocks use it, and so does the activation planner over a
 * virtual arena. */
typedef struct {
  VkDeviceSize offset;
  VkDeviceSize size;
} HbVkRange;

GArray     *hb_vk_ranges_new    (VkDeviceSize size);
gboolean    hb_vk_ranges_take   (GArray *ranges, VkDeviceSize size, VkDeviceSize *offset);
void        hb_vk_ranges_give   (GArray *ranges, VkDeviceSize offset, VkDeviceSize size);

/* Sets an error saying the Vulkan backend cannot run `node` (why) and
 * returns FALSE: for shapes or types a recorder does not handle. */
gboolean hb_vk_unsupported (HbTensor *node, const char *why, GError **error);

G_END_DECLS
