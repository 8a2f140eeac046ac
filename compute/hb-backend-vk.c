/* hb-backend-vk.c — runs an HbGraph with Vulkan compute shaders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * prepare() does all the work that does not depend on input values:
 * weights are uploaded (once per backend, shared between graphs),
 * activations get offsets in one arena by a best-fit planner over the
 * graph's liveness, and every node's dispatches are recorded into one
 * command buffer. compute() only submits that command buffer and waits.
 */

#include "config.h"

#include <string.h>

#include "hb-vk-private.h"

/* Sub-ranges of one buffer touched since the last barrier. */
typedef struct {
  VkBuffer     buffer;
  VkDeviceSize start;
  VkDeviceSize end;
} HbVkSpan;

typedef struct {
  VkBuffer      buffer;
  VkDeviceSize  offset;     /* of element 0 of the storage */
  guint8       *mapped;     /* host pointer to element 0, or NULL */
} HbVkLoc;

typedef struct {
  HbGraph          *graph;
  HbVkLoc          *locs;          /* by node id, for storage roots */
  HbVkAlloc         arena;
  GArray           *io;            /* HbVkAlloc of inputs and outputs */
  VkCommandBuffer   cb;
  GArray           *pools;         /* VkDescriptorPool */
  GArray           *views;         /* VkBufferView */
  VkFence           fence;
  VkQueryPool       queries;
  GPtrArray        *timed;         /* HbTensor, one per pair of queries */
  GPtrArray        *weights;       /* host_data keys of the weights it holds a reference on */
  guint             n_dispatches;
  guint             n_barriers;
} HbVkGraph;

/* Uploaded weights live as long as a prepared graph uses them, so a model
 * that is unloaded gives its memory back (and a new one whose data lands
 * at the same host address is uploaded afresh). */
typedef struct {
  HbVkAlloc    alloc;
  VkDeviceSize size;
  guint        refs;
} HbVkWeight;

struct _HbVkCtx {
  HbVulkanDevice *dev;
  gboolean        owns_dev;
  GHashTable     *weights;         /* host_data -> HbVkWeight */
  GHashTable     *graphs;          /* HbGraph -> HbVkGraph */
  gboolean        profiling;
  GArray         *timings;         /* HbOpTiming of the last profiled compute */
  HbVkUploadedFunc uploaded;
  gpointer        uploaded_data;

  /* recording state */
  HbVkGraph      *cur;
  VkPipeline      pipeline;
  VkPipeline      bound_pipeline;
  VkDescriptorBufferInfo storage[HB_VK_N_STORAGE];
  VkBufferView    texel[HB_VK_N_TEXEL];
  guint           storage_mask;
  guint           texel_mask;
  guint8          push[HB_VK_MAX_PUSH];
  gsize           push_size;
  GArray         *pending_reads;   /* HbVkSpan */
  GArray         *pending_writes;
  GArray         *reads;           /* since the last barrier */
  GArray         *writes;
};

static const HbVkRecordFunc record_funcs[HB_N_OPS] = {
  [HB_OP_COPY] = hb_vk_record_copy,
  [HB_OP_MATMUL] = hb_vk_record_matmul,
  [HB_OP_CONV2D] = hb_vk_record_conv2d,
  [HB_OP_GROUP_NORM] = hb_vk_record_group_norm,
  [HB_OP_LAYER_NORM] = hb_vk_record_layer_norm,
  [HB_OP_ATTENTION] = hb_vk_record_attention,
  [HB_OP_GELU] = hb_vk_record_unary,
  [HB_OP_QUICK_GELU] = hb_vk_record_unary,
  [HB_OP_SILU] = hb_vk_record_unary,
  [HB_OP_SCALE] = hb_vk_record_unary,
  [HB_OP_GEGLU] = hb_vk_record_geglu,
  [HB_OP_ADD] = hb_vk_record_binary,
  [HB_OP_MUL] = hb_vk_record_binary,
  [HB_OP_UPSAMPLE_NEAREST2X] = hb_vk_record_upsample,
  [HB_OP_CONCAT] = hb_vk_record_concat,
  [HB_OP_TIMESTEP_EMBED] = hb_vk_record_timestep,
  [HB_OP_SOFTMAX] = hb_vk_record_softmax,
  [HB_OP_GET_ROWS] = hb_vk_record_get_rows,
  [HB_OP_LATENT_RGB] = hb_vk_record_latent_rgb,
};

const HbVkDeviceInfo *
hb_vk_ctx_device_info (HbVkCtx *ctx)
{
  return &ctx->dev->info;
}

int64_t
hb_vk_tensor_extent (const HbTensor *t)
{
  int64_t extent = 1;

  for (int d = 0; d < t->ndim; d++)
    {
      if (t->shape[d] == 0)
        return 0;
      extent += (t->shape[d] - 1) * t->stride[d];
    }
  return extent;
}

int64_t
hb_vk_rows_per_binding (HbVkCtx *ctx, int64_t row_bytes)
{
  /* Leave room for rounding the start down to the offset alignment. */
  int64_t usable = (int64_t) (ctx->dev->info.max_storage_buffer_range
                              - MAX (ctx->dev->info.min_storage_offset_alignment, 16));

  if (row_bytes <= 0)
    return G_MAXINT64;
  return usable / row_bytes;
}

static HbTensor *
storage_root (HbTensor *t)
{
  return t->op == HB_OP_VIEW ? t->view_src : t;
}

static const HbVkLoc *
tensor_loc (HbVkCtx *ctx, HbTensor *t)
{
  return &ctx->cur->locs[storage_root (t)->id];
}

static void
add_span (GArray *spans, VkBuffer buffer, VkDeviceSize start, VkDeviceSize end)
{
  HbVkSpan s = { buffer, start, end };

  g_array_append_val (spans, s);
}

static gboolean
spans_overlap (GArray *a, GArray *b)
{
  for (guint i = 0; i < a->len; i++)
    for (guint j = 0; j < b->len; j++)
      {
        HbVkSpan *x = &g_array_index (a, HbVkSpan, i);
        HbVkSpan *y = &g_array_index (b, HbVkSpan, j);
        if (x->buffer == y->buffer && x->start < y->end && y->start < x->end)
          return TRUE;
      }
  return FALSE;
}

gboolean
hb_vk_begin (HbVkCtx *ctx, const char *variant, GError **error)
{
  ctx->pipeline = hb_vk_get_pipeline (ctx->dev, variant, error);
  ctx->storage_mask = 0;
  ctx->texel_mask = 0;
  ctx->push_size = 0;
  g_array_set_size (ctx->pending_reads, 0);
  g_array_set_size (ctx->pending_writes, 0);
  return ctx->pipeline != VK_NULL_HANDLE;
}

/* The byte range [*start, *end) of elements [first, first + count) of t,
 * from the beginning of its buffer. */
static gboolean
element_range (HbVkCtx *ctx, HbTensor *t, int64_t first, int64_t count,
               VkDeviceSize *start, VkDeviceSize *end, GError **error)
{
  const HbVkLoc *loc = tensor_loc (ctx, t);
  gsize esize = hb_dtype_size (t->dtype);
  int64_t extent = hb_vk_tensor_extent (t);

  if (count < 0)
    count = extent - first;
  if (first < 0 || first + count > extent)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                   "Internal error: a kernel bound elements %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT
                   " of “%s”, which has %" G_GINT64_FORMAT "; please report this bug.",
                   first, first + count, t->name, extent);
      return FALSE;
    }
  *start = loc->offset + (VkDeviceSize) (t->view_offset + first) * esize;
  *end = *start + (VkDeviceSize) count * esize;
  return TRUE;
}

static void
note_access (HbVkCtx *ctx, VkBuffer buffer, VkDeviceSize start, VkDeviceSize end, HbVkAccess access)
{
  if (access & HB_VK_READ)
    add_span (ctx->pending_reads, buffer, start, end);
  if (access & HB_VK_WRITE)
    add_span (ctx->pending_writes, buffer, start, end);
}

gboolean
hb_vk_bind_storage (HbVkCtx *ctx, guint binding, HbTensor *t, int64_t first, int64_t count,
                    HbVkAccess access, guint32 *elem_offset, GError **error)
{
  const HbVkDeviceInfo *info = &ctx->dev->info;
  const HbVkLoc *loc = tensor_loc (ctx, t);
  VkDeviceSize start, end, base, range;

  g_return_val_if_fail (binding < HB_VK_N_STORAGE, FALSE);
  if (!element_range (ctx, t, first, count, &start, &end, error))
    return FALSE;
  base = start / info->min_storage_offset_alignment * info->min_storage_offset_alignment;
  /* Shaders may read 16-bit data as 32-bit words: keep whole words. */
  range = (end - base + 3) / 4 * 4;
  if (range > info->max_storage_buffer_range)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                   "Internal error: the %s kernel bound %.1f MiB of “%s” at once, more than the "
                   "%.0f MiB this device allows; please report this bug.",
                   hb_op_name (t->op), range / 1048576.0, t->name,
                   info->max_storage_buffer_range / 1048576.0);
      return FALSE;
    }
  ctx->storage[binding] = (VkDescriptorBufferInfo) { loc->buffer, base, range };
  ctx->storage_mask |= 1u << binding;
  if (elem_offset != NULL)
    *elem_offset = (guint32) ((start - base) / hb_dtype_size (t->dtype));
  note_access (ctx, loc->buffer, start, end, access);
  return TRUE;
}

static guint
format_size (VkFormat format)
{
  switch ((int) format)
    {
    case VK_FORMAT_R32G32B32A32_SFLOAT:
    case VK_FORMAT_R32G32B32A32_UINT:    return 16;
    case VK_FORMAT_R16G16B16A16_SFLOAT:
    case VK_FORMAT_R32G32_SFLOAT:        return 8;
    case VK_FORMAT_R32_SFLOAT:
    case VK_FORMAT_R32_UINT:
    case VK_FORMAT_R32_SINT:
    case VK_FORMAT_R16G16_SFLOAT:        return 4;
    case VK_FORMAT_R16_SFLOAT:           return 2;
    default:                             return 0;
    }
}

gboolean
hb_vk_bind_texel (HbVkCtx *ctx, guint texel_binding, HbTensor *t, VkFormat format,
                  int64_t first, int64_t count, guint32 *texel_offset, GError **error)
{
  const HbVkDeviceInfo *info = &ctx->dev->info;
  const HbVkLoc *loc = tensor_loc (ctx, t);
  guint tsize = format_size (format);
  VkDeviceSize align, start, end, base, n_texels;
  VkBufferViewCreateInfo bvci = { .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO };
  VkBufferView view;

  g_return_val_if_fail (texel_binding < HB_VK_N_TEXEL, FALSE);
  g_return_val_if_fail (tsize != 0, FALSE);
  if (!element_range (ctx, t, first, count, &start, &end, error))
    return FALSE;
  if ((start - loc->offset) % tsize != 0)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                   "Internal error: a texel view of “%s” does not start on a texel boundary; "
                   "please report this bug.", t->name);
      return FALSE;
    }
  align = MAX (info->min_texel_offset_alignment, tsize);
  base = start / align * align;
  n_texels = (end - base + tsize - 1) / tsize;
  if (n_texels > info->max_texel_buffer_elements)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                   "Internal error: a texel view of “%s” needs %" G_GUINT64_FORMAT
                   " texels, more than the %u this device allows; please report this bug.",
                   t->name, (guint64) n_texels, info->max_texel_buffer_elements);
      return FALSE;
    }
  bvci.buffer = loc->buffer;
  bvci.format = format;
  bvci.offset = base;
  bvci.range = n_texels * tsize;
  if (!hb_vk_check (vkCreateBufferView (ctx->dev->device, &bvci, NULL, &view), "vkCreateBufferView", error))
    return FALSE;
  g_array_append_val (ctx->cur->views, view);
  ctx->texel[texel_binding] = view;
  ctx->texel_mask |= 1u << texel_binding;
  if (texel_offset != NULL)
    *texel_offset = (guint32) ((start - base) / tsize);
  note_access (ctx, loc->buffer, start, end, HB_VK_READ);
  return TRUE;
}

gboolean
hb_vk_scratch_new (HbVkCtx *ctx, VkDeviceSize size, HbVkAlloc *out, GError **error)
{
  if (!hb_vk_alloc (ctx->dev, HB_VK_MEM_DEVICE, size, out, error))
    return FALSE;
  /* freed with the graph's inputs and outputs */
  g_array_append_val (ctx->cur->io, *out);
  return TRUE;
}

void
hb_vk_bind_scratch (HbVkCtx *ctx, guint binding, const HbVkAlloc *scratch, HbVkAccess access)
{
  g_return_if_fail (binding < HB_VK_N_STORAGE);
  ctx->storage[binding] = (VkDescriptorBufferInfo) { scratch->buffer, scratch->offset, scratch->size };
  ctx->storage_mask |= 1u << binding;
  note_access (ctx, scratch->buffer, scratch->offset, scratch->offset + scratch->size, access);
}

void
hb_vk_push (HbVkCtx *ctx, const void *data, gsize size)
{
  g_return_if_fail (size <= HB_VK_MAX_PUSH);
  memcpy (ctx->push, data, size);
  ctx->push_size = size;
}

static gboolean
new_descriptor_pool (HbVkCtx *ctx, GError **error)
{
  const guint sets = 256;
  VkDescriptorPoolSize sizes[] = {
    { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * HB_VK_N_STORAGE },
    { VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, sets * HB_VK_N_TEXEL },
  };
  VkDescriptorPoolCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = sets,
    .poolSizeCount = G_N_ELEMENTS (sizes),
    .pPoolSizes = sizes,
  };
  VkDescriptorPool pool;

  if (!hb_vk_check (vkCreateDescriptorPool (ctx->dev->device, &ci, NULL, &pool),
                    "vkCreateDescriptorPool", error))
    return FALSE;
  g_array_append_val (ctx->cur->pools, pool);
  return TRUE;
}

static gboolean
allocate_set (HbVkCtx *ctx, VkDescriptorSet *set, GError **error)
{
  VkDescriptorSetAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorSetCount = 1,
    .pSetLayouts = &ctx->dev->set_layout,
  };
  VkResult res = VK_ERROR_OUT_OF_POOL_MEMORY;

  if (ctx->cur->pools->len > 0)
    {
      ai.descriptorPool = g_array_index (ctx->cur->pools, VkDescriptorPool, ctx->cur->pools->len - 1);
      res = vkAllocateDescriptorSets (ctx->dev->device, &ai, set);
    }
  if (res == VK_ERROR_OUT_OF_POOL_MEMORY || res == VK_ERROR_FRAGMENTED_POOL)
    {
      if (!new_descriptor_pool (ctx, error))
        return FALSE;
      ai.descriptorPool = g_array_index (ctx->cur->pools, VkDescriptorPool, ctx->cur->pools->len - 1);
      res = vkAllocateDescriptorSets (ctx->dev->device, &ai, set);
    }
  return hb_vk_check (res, "vkAllocateDescriptorSets", error);
}

static void
record_barrier (HbVkCtx *ctx)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
  };

  vkCmdPipelineBarrier (ctx->cur->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
  g_array_set_size (ctx->reads, 0);
  g_array_set_size (ctx->writes, 0);
  ctx->cur->n_barriers++;
}

gboolean
hb_vk_dispatch (HbVkCtx *ctx, guint32 gx, guint32 gy, guint32 gz, GError **error)
{
  const guint32 *max = ctx->dev->info.max_workgroup_count;
  VkWriteDescriptorSet writes[HB_VK_N_STORAGE + HB_VK_N_TEXEL];
  guint n_writes = 0;
  VkDescriptorSet set;

  if (gx == 0 || gy == 0 || gz == 0)
    return TRUE;
  if (!allocate_set (ctx, &set, error))
    return FALSE;
  for (guint i = 0; i < HB_VK_N_STORAGE; i++)
    if (ctx->storage_mask & (1u << i))
      writes[n_writes++] = (VkWriteDescriptorSet) {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = i,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .pBufferInfo = &ctx->storage[i],
      };
  for (guint i = 0; i < HB_VK_N_TEXEL; i++)
    if (ctx->texel_mask & (1u << i))
      writes[n_writes++] = (VkWriteDescriptorSet) {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = HB_VK_TEXEL_BINDING0 + i,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
        .pTexelBufferView = &ctx->texel[i],
      };
  vkUpdateDescriptorSets (ctx->dev->device, n_writes, writes, 0, NULL);

  /* Read-after-write, write-after-write and write-after-read (the planner
   * hands freed memory to later nodes) all need the barrier. */
  if (spans_overlap (ctx->pending_reads, ctx->writes)
      || spans_overlap (ctx->pending_writes, ctx->writes)
      || spans_overlap (ctx->pending_writes, ctx->reads))
    record_barrier (ctx);
  g_array_append_vals (ctx->reads, ctx->pending_reads->data, ctx->pending_reads->len);
  g_array_append_vals (ctx->writes, ctx->pending_writes->data, ctx->pending_writes->len);

  if (ctx->bound_pipeline != ctx->pipeline)
    {
      vkCmdBindPipeline (ctx->cur->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipeline);
      ctx->bound_pipeline = ctx->pipeline;
    }
  vkCmdBindDescriptorSets (ctx->cur->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->dev->pipeline_layout,
                           0, 1, &set, 0, NULL);
  if (ctx->push_size > 0)
    vkCmdPushConstants (ctx->cur->cb, ctx->dev->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT,
                        0, (guint32) ctx->push_size, ctx->push);
  for (guint32 z = 0; z < gz; z += max[2])
    for (guint32 y = 0; y < gy; y += max[1])
      for (guint32 x = 0; x < gx; x += max[0])
        {
          vkCmdDispatchBase (ctx->cur->cb, x, y, z,
                             MIN (max[0], gx - x), MIN (max[1], gy - y), MIN (max[2], gz - z));
          ctx->cur->n_dispatches++;
        }
  return TRUE;
}

static void
graph_free (HbVkCtx *ctx, HbVkGraph *vg)
{
  VkDevice d = ctx->dev->device;

  /* compute() waits for every submit, so nothing is in flight here */
  if (vg->fence != VK_NULL_HANDLE)
    vkDestroyFence (d, vg->fence, NULL);
  if (vg->cb != VK_NULL_HANDLE)
    vkFreeCommandBuffers (d, ctx->dev->command_pool, 1, &vg->cb);
  for (guint i = 0; i < vg->pools->len; i++)
    vkDestroyDescriptorPool (d, g_array_index (vg->pools, VkDescriptorPool, i), NULL);
  for (guint i = 0; i < vg->views->len; i++)
    vkDestroyBufferView (d, g_array_index (vg->views, VkBufferView, i), NULL);
  if (vg->queries != VK_NULL_HANDLE)
    vkDestroyQueryPool (d, vg->queries, NULL);
  for (guint i = 0; i < vg->io->len; i++)
    hb_vk_free (ctx->dev, &g_array_index (vg->io, HbVkAlloc, i));
  for (guint i = 0; i < vg->weights->len; i++)
    {
      gpointer key = g_ptr_array_index (vg->weights, i);
      HbVkWeight *w = g_hash_table_lookup (ctx->weights, key);

      if (--w->refs == 0)
        {
          hb_vk_free (ctx->dev, &w->alloc);
          g_hash_table_remove (ctx->weights, key);
        }
    }
  g_ptr_array_unref (vg->weights);
  hb_vk_free (ctx->dev, &vg->arena);
  g_array_unref (vg->io);
  g_array_unref (vg->pools);
  g_array_unref (vg->views);
  g_ptr_array_unref (vg->timed);
  g_free (vg->locs);
  g_free (vg);
}

static void
set_loc (HbVkLoc *loc, const HbVkAlloc *alloc, VkDeviceSize offset)
{
  loc->buffer = alloc->buffer;
  loc->offset = alloc->offset + offset;
  loc->mapped = alloc->mapped != NULL ? alloc->mapped + offset : NULL;
}

static VkDeviceSize
storage_bytes (const HbTensor *t)
{
  return (VkDeviceSize) hb_vk_tensor_extent (t) * hb_dtype_size (t->dtype);
}

static gboolean
upload_weight (HbVkCtx *ctx, HbVkGraph *vg, HbTensor *t, HbVkLoc *loc, GError **error)
{
  VkDeviceSize size = storage_bytes (t);
  HbVkWeight *w = g_hash_table_lookup (ctx->weights, t->host_data);

  if (t->host_data == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The weight “%s” has no data; the model was not loaded completely.", t->name);
      return FALSE;
    }
  if (w != NULL && w->size < size)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The weight “%s” reuses the data of a smaller weight; the model is malformed.",
                   t->name);
      return FALSE;
    }
  if (w == NULL)
    {
      w = g_new0 (HbVkWeight, 1);
      w->size = size;
      if (!hb_vk_alloc (ctx->dev, HB_VK_MEM_DEVICE, size, &w->alloc, error))
        {
          g_free (w);
          return FALSE;
        }
      if (!hb_vk_upload (ctx->dev, &w->alloc, 0, t->host_data, size, error))
        {
          hb_vk_free (ctx->dev, &w->alloc);
          g_free (w);
          return FALSE;
        }
      g_hash_table_insert (ctx->weights, (gpointer) t->host_data, w);
      if (ctx->uploaded != NULL)
        ctx->uploaded (t->host_data, ctx->uploaded_data);
    }
  w->refs++;
  g_ptr_array_add (vg->weights, (gpointer) t->host_data);
  set_loc (loc, &w->alloc, 0);
  return TRUE;
}

/* Gives every storage root a place: weights in the shared weight memory,
 * inputs and outputs in host-visible memory of their own, intermediates at
 * offsets of one arena. An intermediate's region returns to the arena
 * after the last node that reads it, and best fit picks the tightest hole. */
static gboolean
plan_memory (HbVkCtx *ctx, HbVkGraph *vg, GError **error)
{
  HbGraph *g = vg->graph;
  guint n = hb_graph_n_nodes (g);
  g_autofree VkDeviceSize *offsets = g_new0 (VkDeviceSize, n);
  g_autofree VkDeviceSize *sizes = g_new0 (VkDeviceSize, n);
  g_autoptr(GArray) free_ranges = hb_vk_ranges_new (G_MAXUINT64 / 4);
  /* dying[i]: first intermediate whose last reader is node i; next_dying chains the rest */
  g_autofree int *dying = g_new (int, n);
  g_autofree int *next_dying = g_new (int, n);
  VkDeviceSize top = 0;

  for (guint i = 0; i < n; i++)
    dying[i] = -1;
  for (guint i = 0; i < n; i++)
    {
      HbTensor *t = hb_graph_node (g, i);

      if (t->op == HB_OP_VIEW)
        continue;
      if (t->kind == HB_TENSOR_WEIGHT)
        {
          if (!upload_weight (ctx, vg, t, &vg->locs[i], error))
            return FALSE;
        }
      else if (t->kind == HB_TENSOR_INPUT || t->kind == HB_TENSOR_OUTPUT)
        {
          HbVkAlloc a;

          if (!hb_vk_alloc (ctx->dev, HB_VK_MEM_HOST, storage_bytes (t), &a, error))
            return FALSE;
          g_array_append_val (vg->io, a);
          set_loc (&vg->locs[i], &a, 0);
        }
      else
        {
          guint last = hb_graph_last_use (g, i);

          sizes[i] = MAX ((storage_bytes (t) + 255) / 256 * 256, 256);
          hb_vk_ranges_take (free_ranges, sizes[i], &offsets[i]);
          top = MAX (top, offsets[i] + sizes[i]);
          next_dying[i] = dying[last];
          dying[last] = (int) i;
        }

      /* Regions whose last reader is this node are free for the next ones. */
      for (int s = dying[i]; s >= 0; s = next_dying[s])
        hb_vk_ranges_give (free_ranges, offsets[s], sizes[s]);
    }

  if (top > 0)
    {
      if (!hb_vk_alloc (ctx->dev, HB_VK_MEM_DEVICE, top, &vg->arena, error))
        return FALSE;
      for (guint i = 0; i < n; i++)
        if (sizes[i] > 0)
          set_loc (&vg->locs[i], &vg->arena, offsets[i]);
    }
  return TRUE;
}

static void
write_timestamp (HbVkCtx *ctx, guint query)
{
  vkCmdWriteTimestamp (ctx->cur->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->cur->queries, query);
}

static gboolean
record_graph (HbVkCtx *ctx, HbVkGraph *vg, GError **error)
{
  HbGraph *g = vg->graph;
  guint n = hb_graph_n_nodes (g);
  gboolean profile = ctx->profiling && ctx->dev->info.has_timestamps;
  VkCommandBufferAllocateInfo cbai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = ctx->dev->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  /* The previous run's writes and the host's input writes must be visible
   * to this run; its outputs to the host after the fence. */
  VkMemoryBarrier entry = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
  };
  VkMemoryBarrier exit_mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
  };
  gboolean ok = TRUE;

  if (profile)
    {
      VkQueryPoolCreateInfo qpci = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = 2 * MAX (n, 1),
      };
      if (!hb_vk_check (vkCreateQueryPool (ctx->dev->device, &qpci, NULL, &vg->queries),
                        "vkCreateQueryPool", error))
        return FALSE;
    }
  if (!hb_vk_check (vkAllocateCommandBuffers (ctx->dev->device, &cbai, &vg->cb),
                    "vkAllocateCommandBuffers", error)
      || !hb_vk_check (vkBeginCommandBuffer (vg->cb, &begin), "vkBeginCommandBuffer", error))
    return FALSE;

  ctx->cur = vg;
  ctx->bound_pipeline = VK_NULL_HANDLE;
  g_array_set_size (ctx->reads, 0);
  g_array_set_size (ctx->writes, 0);
  vkCmdPipelineBarrier (vg->cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &entry, 0, NULL, 0, NULL);
  if (profile)
    vkCmdResetQueryPool (vg->cb, vg->queries, 0, 2 * MAX (n, 1));

  for (guint i = 0; i < n && ok; i++)
    {
      HbTensor *t = hb_graph_node (g, i);
      HbVkRecordFunc func;

      if (t->op == HB_OP_NONE || t->op == HB_OP_VIEW)
        continue;
      func = t->op < HB_N_OPS ? record_funcs[t->op] : NULL;
      if (func == NULL)
        {
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                       "The Vulkan backend cannot run the operation %s (node “%s”) yet; "
                       "please report this bug.", hb_op_name (t->op), t->name);
          ok = FALSE;
          break;
        }
      if (profile)
        {
          /* Serialise nodes so each timestamp pair brackets one node. */
          record_barrier (ctx);
          write_timestamp (ctx, 2 * vg->timed->len);
        }
      ok = func (ctx, t, error);
      if (ok && profile)
        {
          write_timestamp (ctx, 2 * vg->timed->len + 1);
          g_ptr_array_add (vg->timed, t);
        }
    }
  ctx->cur = NULL;
  if (!ok)
    {
      vkEndCommandBuffer (vg->cb);
      return FALSE;
    }
  vkCmdPipelineBarrier (vg->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                        0, 1, &exit_mb, 0, NULL, 0, NULL);
  return hb_vk_check (vkEndCommandBuffer (vg->cb), "vkEndCommandBuffer", error);
}

static void
vk_release (HbBackend *be, HbGraph *g)
{
  HbVkCtx *ctx = be->ctx;
  HbVkGraph *vg = g_hash_table_lookup (ctx->graphs, g);

  if (vg == NULL)
    return;
  g_hash_table_remove (ctx->graphs, g);
  graph_free (ctx, vg);
}

static gboolean
vk_prepare (HbBackend *be, HbGraph *g, GError **error)
{
  HbVkCtx *ctx = be->ctx;
  HbVkGraph *vg;
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO,
                            .flags = VK_FENCE_CREATE_SIGNALED_BIT };
  g_autoptr(GError) cache_error = NULL;

  vk_release (be, g);
  vg = g_new0 (HbVkGraph, 1);
  vg->graph = g;
  vg->locs = g_new0 (HbVkLoc, MAX (hb_graph_n_nodes (g), 1));
  vg->io = g_array_new (FALSE, TRUE, sizeof (HbVkAlloc));
  vg->pools = g_array_new (FALSE, FALSE, sizeof (VkDescriptorPool));
  vg->views = g_array_new (FALSE, FALSE, sizeof (VkBufferView));
  vg->timed = g_ptr_array_new ();
  vg->weights = g_ptr_array_new ();

  if (!plan_memory (ctx, vg, error)
      || !hb_vk_check (vkCreateFence (ctx->dev->device, &fci, NULL, &vg->fence), "vkCreateFence", error)
      || !record_graph (ctx, vg, error))
    {
      graph_free (ctx, vg);
      return FALSE;
    }
  g_hash_table_insert (ctx->graphs, g, vg);
  /* New pipelines were probably compiled: keep them for the next start. */
  if (!hb_vulkan_device_save_pipeline_cache (ctx->dev, &cache_error))
    g_debug ("Pipeline cache not saved: %s", cache_error->message);
  return TRUE;
}

static HbVkGraph *
prepared_graph (HbVkCtx *ctx, HbTensor *t, GError **error)
{
  GHashTableIter iter;
  gpointer value;

  /* Tensors do not know their graph; a backend holds few graphs. */
  g_hash_table_iter_init (&iter, ctx->graphs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      HbVkGraph *vg = value;
      if (t->id < hb_graph_n_nodes (vg->graph) && hb_graph_node (vg->graph, t->id) == t)
        return vg;
    }
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT,
               "The tensor “%s” belongs to no graph prepared on this Vulkan backend; "
               "call hb_backend_prepare() first.", t->name);
  return NULL;
}

static gboolean
vk_set_input (HbBackend *be, HbTensor *t, const void *data, gsize size, GError **error)
{
  HbVkGraph *vg = prepared_graph (be->ctx, t, error);

  if (vg == NULL)
    return FALSE;
  memcpy (vg->locs[t->id].mapped, data, size);
  return TRUE;
}

static gboolean
vk_get_output (HbBackend *be, HbTensor *t, void *data, gsize size, GError **error)
{
  HbVkGraph *vg = prepared_graph (be->ctx, t, error);

  if (vg == NULL)
    return FALSE;
  memcpy (data, vg->locs[t->id].mapped, size);
  return TRUE;
}

static gboolean
collect_timings (HbVkCtx *ctx, HbVkGraph *vg, GError **error)
{
  g_autofree guint64 *ticks = NULL;
  guint nq = 2 * vg->timed->len;

  g_clear_pointer (&ctx->timings, g_array_unref);
  if (nq == 0)
    return TRUE;
  ticks = g_new0 (guint64, nq);
  if (!hb_vk_check (vkGetQueryPoolResults (ctx->dev->device, vg->queries, 0, nq, nq * sizeof (guint64),
                                           ticks, sizeof (guint64),
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                    "vkGetQueryPoolResults", error))
    return FALSE;
  ctx->timings = g_array_sized_new (FALSE, TRUE, sizeof (HbOpTiming), vg->timed->len);
  for (guint i = 0; i < vg->timed->len; i++)
    {
      HbTensor *t = g_ptr_array_index (vg->timed, i);
      HbOpTiming timing = {
        .op = t->op,
        .name = t->name,
        .ms = (double) (ticks[2 * i + 1] - ticks[2 * i]) * ctx->dev->info.timestamp_period / 1e6,
        .flops = hb_tensor_flops (t),
      };
      g_array_append_val (ctx->timings, timing);
    }
  return TRUE;
}

static gboolean
vk_compute (HbBackend *be, HbGraph *g, GError **error)
{
  HbVkCtx *ctx = be->ctx;
  HbVkGraph *vg = g_hash_table_lookup (ctx->graphs, g);
  VkSubmitInfo si = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
  };

  if (vg == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT,
                   "This graph was not prepared on the Vulkan backend; call hb_backend_prepare() first.");
      return FALSE;
    }
  si.pCommandBuffers = &vg->cb;
  /* Reset before the submit, not after the wait: lavapipe 22.3 waits
   * forever when a reset, never-submitted fence is destroyed. */
  if (!hb_vk_check (vkResetFences (ctx->dev->device, 1, &vg->fence), "vkResetFences", error)
      || !hb_vk_check (vkQueueSubmit (ctx->dev->queue, 1, &si, vg->fence), "vkQueueSubmit", error)
      || !hb_vk_check (vkWaitForFences (ctx->dev->device, 1, &vg->fence, VK_TRUE, UINT64_MAX),
                       "vkWaitForFences", error))
    return FALSE;
  if (vg->queries != VK_NULL_HANDLE)
    return collect_timings (ctx, vg, error);
  return TRUE;
}

static void
weight_free (gpointer data)
{
  g_free (data);
}

static void
vk_free (HbBackend *be)
{
  HbVkCtx *ctx = be->ctx;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, ctx->graphs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    graph_free (ctx, value);
  g_hash_table_unref (ctx->graphs);
  g_hash_table_unref (ctx->weights);
  g_clear_pointer (&ctx->timings, g_array_unref);
  g_array_unref (ctx->pending_reads);
  g_array_unref (ctx->pending_writes);
  g_array_unref (ctx->reads);
  g_array_unref (ctx->writes);
  if (ctx->owns_dev)
    hb_vulkan_device_free (ctx->dev);
  g_free (ctx);
  g_free (be);
}

static const HbBackendClass vk_class = {
  .name = "vulkan",
  .prepare = vk_prepare,
  .set_input = vk_set_input,
  .compute = vk_compute,
  .get_output = vk_get_output,
  .release = vk_release,
  .free = vk_free,
};

HbBackend *
hb_backend_vulkan_new (HbVulkanDevice *dev, GError **error)
{
  HbBackend *be;
  HbVkCtx *ctx;
  gboolean owns = FALSE;

  if (dev == NULL)
    {
      dev = hb_vulkan_device_new (NULL, error);
      if (dev == NULL)
        return NULL;
      owns = TRUE;
    }
  ctx = g_new0 (HbVkCtx, 1);
  ctx->dev = dev;
  ctx->owns_dev = owns;
  ctx->weights = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, weight_free);
  ctx->graphs = g_hash_table_new (g_direct_hash, g_direct_equal);
  ctx->profiling = g_strcmp0 (g_getenv ("HUABU_PROFILE"), "1") == 0;
  ctx->pending_reads = g_array_new (FALSE, FALSE, sizeof (HbVkSpan));
  ctx->pending_writes = g_array_new (FALSE, FALSE, sizeof (HbVkSpan));
  ctx->reads = g_array_new (FALSE, FALSE, sizeof (HbVkSpan));
  ctx->writes = g_array_new (FALSE, FALSE, sizeof (HbVkSpan));
  be = g_new0 (HbBackend, 1);
  be->klass = &vk_class;
  be->ctx = ctx;
  return be;
}

HbVulkanDevice *
hb_backend_vulkan_device (HbBackend *be)
{
  g_return_val_if_fail (be->klass == &vk_class, NULL);
  return ((HbVkCtx *) be->ctx)->dev;
}

void
hb_backend_vk_set_profiling (HbBackend *be, gboolean enable)
{
  g_return_if_fail (be->klass == &vk_class);
  ((HbVkCtx *) be->ctx)->profiling = enable;
}

void
hb_backend_vk_set_upload_notify (HbBackend *be, HbVkUploadedFunc func, gpointer user_data)
{
  HbVkCtx *ctx;

  g_return_if_fail (be->klass == &vk_class);
  ctx = be->ctx;
  ctx->uploaded = func;
  ctx->uploaded_data = user_data;
}

GArray *
hb_backend_vk_get_timings (HbBackend *be)
{
  HbVkCtx *ctx;

  g_return_val_if_fail (be->klass == &vk_class, NULL);
  ctx = be->ctx;
  return ctx->timings != NULL ? g_array_ref (ctx->timings) : NULL;
}
