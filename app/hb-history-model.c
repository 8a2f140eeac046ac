/* hb-history-model.c — the history as a GListModel, loaded as it is shown
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hb-history-model.h"

/* Records come a page at a time; at most MAX_PAGES pages of items stay
 * cached, so scrolling through 100 000 pictures does not keep them all. */
#define PAGE_SIZE 50
#define MAX_PAGES 40

/* ---- items -------------------------------------------------------------- */

struct _HbHistoryItem
{
  GObject             parent_instance;

  HbHistoryStore     *store;
  gint64              id;
  HbGenerationRecord *record;
  GBytes             *thumbnail;
  gboolean            thumbnail_requested;
};

G_DEFINE_FINAL_TYPE (HbHistoryItem, hb_history_item, G_TYPE_OBJECT)

enum {
  ITEM_PROP_0,
  ITEM_PROP_ID,
  ITEM_PROP_RECORD,
  ITEM_PROP_THUMBNAIL,
  ITEM_N_PROPS
};
static GParamSpec *item_properties[ITEM_N_PROPS];

static void
hb_history_item_finalize (GObject *object)
{
  HbHistoryItem *self = HB_HISTORY_ITEM (object);

  g_clear_object (&self->store);
  g_clear_pointer (&self->record, hb_generation_record_free);
  g_clear_pointer (&self->thumbnail, g_bytes_unref);
  G_OBJECT_CLASS (hb_history_item_parent_class)->finalize (object);
}

static void
hb_history_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HbHistoryItem *self = HB_HISTORY_ITEM (object);

  switch (prop_id)
    {
    case ITEM_PROP_ID:
      g_value_set_int64 (value, self->id);
      break;
    case ITEM_PROP_RECORD:
      g_value_set_boxed (value, self->record);
      break;
    case ITEM_PROP_THUMBNAIL:
      g_value_set_boxed (value, self->thumbnail);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_history_item_class_init (HbHistoryItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hb_history_item_finalize;
  object_class->get_property = hb_history_item_get_property;

  item_properties[ITEM_PROP_ID] =
    g_param_spec_int64 ("id", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  item_properties[ITEM_PROP_RECORD] =
    g_param_spec_boxed ("record", NULL, NULL, HB_TYPE_GENERATION_RECORD,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  item_properties[ITEM_PROP_THUMBNAIL] =
    g_param_spec_boxed ("thumbnail", NULL, NULL, G_TYPE_BYTES,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, ITEM_N_PROPS, item_properties);
}

static void
hb_history_item_init (HbHistoryItem *self)
{
}

static HbHistoryItem *
hb_history_item_new (HbHistoryStore *store, gint64 id)
{
  HbHistoryItem *self = g_object_new (HB_TYPE_HISTORY_ITEM, NULL);

  self->store = g_object_ref (store);
  self->id = id;
  return self;
}

static void
hb_history_item_set_record (HbHistoryItem *self, const HbGenerationRecord *record)
{
  g_clear_pointer (&self->record, hb_generation_record_free);
  self->record = hb_generation_record_copy (record);
  g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_RECORD]);
}

gint64
hb_history_item_get_id (HbHistoryItem *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_ITEM (self), 0);
  return self->id;
}

const HbGenerationRecord *
hb_history_item_get_record (HbHistoryItem *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_ITEM (self), NULL);
  return self->record;
}

GBytes *
hb_history_item_get_thumbnail (HbHistoryItem *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_ITEM (self), NULL);
  return self->thumbnail;
}

static void
on_thumbnail_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HbHistoryItem) self = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *bytes = hb_history_store_get_thumbnail_finish (HB_HISTORY_STORE (source), result, &error);

  if (bytes == NULL)
    {
      g_debug ("No thumbnail for generation %" G_GINT64_FORMAT ": %s", self->id, error->message);
      return;
    }
  self->thumbnail = bytes;
  g_object_notify_by_pspec (G_OBJECT (self), item_properties[ITEM_PROP_THUMBNAIL]);
}

void
hb_history_item_load_thumbnail (HbHistoryItem *self)
{
  g_return_if_fail (HB_IS_HISTORY_ITEM (self));
  if (self->thumbnail_requested)
    return;
  self->thumbnail_requested = TRUE;
  hb_history_store_get_thumbnail_async (self->store, self->id, NULL, on_thumbnail_loaded,
                                        g_object_ref (self));
}

/* ---- the model ------------------------------------------------------------ */

struct _HbHistoryModel
{
  GObject          parent_instance;

  HbHistoryStore  *store;
  gulong           changed_handler;
  /* The query, owned copies of its strings. */
  HbHistoryQuery   query;
  char            *text;
  char            *model_name;

  GArray          *ids;           /* of gint64, in display order */
  GHashTable      *items;         /* id -> HbHistoryItem */
  GHashTable      *pages;         /* page -> TRUE (loaded) or FALSE (loading) */
  GQueue           page_order;    /* loaded pages, oldest first */
  guint            generation;    /* answers to older queries are dropped */
  gboolean         loading;
};

static void hb_history_model_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HbHistoryModel, hb_history_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      hb_history_model_list_model_init))

enum {
  PROP_0,
  PROP_LOADING,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

typedef struct {
  HbHistoryModel *model;
  guint           generation;
  guint           page;        /* for page loads */
  gboolean        refresh;     /* for queries: the store changed, same query */
} Pending;

static Pending *
pending_new (HbHistoryModel *self, guint page, gboolean refresh)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->model = g_object_ref (self);
  pending->generation = self->generation;
  pending->page = page;
  pending->refresh = refresh;
  return pending;
}

static void
pending_free (Pending *pending)
{
  g_object_unref (pending->model);
  g_free (pending);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pending, pending_free)

static void
set_loading (HbHistoryModel *self, gboolean loading)
{
  if (self->loading == loading)
    return;
  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static HbHistoryItem *
lookup_or_make_item (HbHistoryModel *self, gint64 id)
{
  HbHistoryItem *item = g_hash_table_lookup (self->items, &id);

  if (item == NULL)
    {
      item = hb_history_item_new (self->store, id);
      g_hash_table_insert (self->items, g_memdup2 (&id, sizeof id), item);
    }
  return item;
}

static void
evict_old_pages (HbHistoryModel *self)
{
  while (g_queue_get_length (&self->page_order) > MAX_PAGES)
    {
      guint page = GPOINTER_TO_UINT (g_queue_pop_head (&self->page_order));
      guint end = MIN ((page + 1) * PAGE_SIZE, self->ids->len);

      for (guint i = page * PAGE_SIZE; i < end; i++)
        g_hash_table_remove (self->items, &g_array_index (self->ids, gint64, i));
      g_hash_table_remove (self->pages, GUINT_TO_POINTER (page));
    }
}

static void
on_page_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Pending) pending = user_data;
  HbHistoryModel *self = pending->model;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) records = hb_history_store_get_many_finish (HB_HISTORY_STORE (source),
                                                                   result, &error);

  if (pending->generation != self->generation)
    return;
  if (records == NULL)
    {
      g_warning ("Could not load history records: %s", error->message);
      if (!pending->refresh)
        g_hash_table_remove (self->pages, GUINT_TO_POINTER (pending->page));
      return;
    }
  for (guint i = 0; i < records->len; i++)
    {
      const HbGenerationRecord *record = g_ptr_array_index (records, i);

      hb_history_item_set_record (lookup_or_make_item (self, record->id), record);
    }
  if (pending->refresh)
    return;
  g_hash_table_insert (self->pages, GUINT_TO_POINTER (pending->page), GINT_TO_POINTER (TRUE));
  g_queue_push_tail (&self->page_order, GUINT_TO_POINTER (pending->page));
  evict_old_pages (self);
}

static void
ensure_page (HbHistoryModel *self, guint page)
{
  guint start = page * PAGE_SIZE;

  if (g_hash_table_contains (self->pages, GUINT_TO_POINTER (page)) || start >= self->ids->len)
    return;
  g_hash_table_insert (self->pages, GUINT_TO_POINTER (page), GINT_TO_POINTER (FALSE));
  hb_history_store_get_many_async (self->store, &g_array_index (self->ids, gint64, start),
                                   MIN (PAGE_SIZE, self->ids->len - start), NULL,
                                   on_page_loaded, pending_new (self, page, FALSE));
}

static void
forget_pages (HbHistoryModel *self)
{
  g_hash_table_remove_all (self->pages);
  g_queue_clear (&self->page_order);
}

/* Items the views still show keep their objects; their records are read
 * again because a change (a favourite) may concern them. */
static void
reload_cached_items (HbHistoryModel *self)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->items);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_array_append_val (ids, *(gint64 *) key);
  if (ids->len == 0)
    return;
  hb_history_store_get_many_async (self->store, (gint64 *) ids->data, ids->len, NULL,
                                   on_page_loaded, pending_new (self, G_MAXUINT, TRUE));
}

static void
on_ids_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Pending) pending = user_data;
  HbHistoryModel *self = pending->model;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) ids = hb_history_store_query_ids_finish (HB_HISTORY_STORE (source), result,
                                                             &error);
  g_autoptr(GArray) old = NULL;
  guint prefix = 0, suffix = 0;

  if (pending->generation != self->generation)
    return;
  set_loading (self, FALSE);
  if (ids == NULL)
    {
      g_warning ("Could not search the history: %s", error->message);
      return;
    }

  old = g_steal_pointer (&self->ids);
  self->ids = g_steal_pointer (&ids);
  self->generation++;
  forget_pages (self);
  if (!pending->refresh)
    {
      g_hash_table_remove_all (self->items);
      g_list_model_items_changed (G_LIST_MODEL (self), 0, old->len, self->ids->len);
      return;
    }

  /* The usual change is one picture added at the top or a few deleted:
   * report only the part between the common head and tail, so the views
   * keep their scroll position and selection. */
  while (prefix < old->len && prefix < self->ids->len
         && g_array_index (old, gint64, prefix) == g_array_index (self->ids, gint64, prefix))
    prefix++;
  while (suffix < old->len - prefix && suffix < self->ids->len - prefix
         && g_array_index (old, gint64, old->len - 1 - suffix)
            == g_array_index (self->ids, gint64, self->ids->len - 1 - suffix))
    suffix++;
  for (guint i = prefix; i < old->len - suffix; i++)
    g_hash_table_remove (self->items, &g_array_index (old, gint64, i));
  reload_cached_items (self);
  if (old->len - prefix - suffix > 0 || self->ids->len - prefix - suffix > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), prefix, old->len - prefix - suffix,
                                self->ids->len - prefix - suffix);
}

static void
run_query (HbHistoryModel *self, gboolean refresh)
{
  self->generation++;
  set_loading (self, TRUE);
  hb_history_store_query_ids_async (self->store, &self->query, NULL, on_ids_loaded,
                                    pending_new (self, 0, refresh));
}

static void
on_store_changed (HbHistoryStore *store, HbHistoryModel *self)
{
  run_query (self, TRUE);
}

static GType
hb_history_model_get_item_type (GListModel *model)
{
  return HB_TYPE_HISTORY_ITEM;
}

static guint
hb_history_model_get_n_items (GListModel *model)
{
  return HB_HISTORY_MODEL (model)->ids->len;
}

static gpointer
hb_history_model_get_item (GListModel *model, guint position)
{
  HbHistoryModel *self = HB_HISTORY_MODEL (model);

  if (position >= self->ids->len)
    return NULL;
  ensure_page (self, position / PAGE_SIZE);
  return g_object_ref (lookup_or_make_item (self, g_array_index (self->ids, gint64, position)));
}

static void
hb_history_model_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = hb_history_model_get_item_type;
  iface->get_n_items = hb_history_model_get_n_items;
  iface->get_item = hb_history_model_get_item;
}

static void
hb_history_model_dispose (GObject *object)
{
  HbHistoryModel *self = HB_HISTORY_MODEL (object);

  g_clear_signal_handler (&self->changed_handler, self->store);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (hb_history_model_parent_class)->dispose (object);
}

static void
hb_history_model_finalize (GObject *object)
{
  HbHistoryModel *self = HB_HISTORY_MODEL (object);

  g_array_unref (self->ids);
  g_hash_table_unref (self->items);
  g_hash_table_unref (self->pages);
  g_queue_clear (&self->page_order);
  g_free (self->text);
  g_free (self->model_name);
  G_OBJECT_CLASS (hb_history_model_parent_class)->finalize (object);
}

static void
hb_history_model_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HbHistoryModel *self = HB_HISTORY_MODEL (object);

  switch (prop_id)
    {
    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_history_model_class_init (HbHistoryModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hb_history_model_dispose;
  object_class->finalize = hb_history_model_finalize;
  object_class->get_property = hb_history_model_get_property;

  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hb_history_model_init (HbHistoryModel *self)
{
  self->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->items = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->pages = g_hash_table_new (NULL, NULL);
  g_queue_init (&self->page_order);
}

HbHistoryModel *
hb_history_model_new (HbHistoryStore *store)
{
  HbHistoryModel *self;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (store), NULL);
  self = g_object_new (HB_TYPE_HISTORY_MODEL, NULL);
  self->store = g_object_ref (store);
  self->changed_handler = g_signal_connect (store, "changed", G_CALLBACK (on_store_changed), self);
  run_query (self, FALSE);
  return self;
}

HbHistoryStore *
hb_history_model_get_store (HbHistoryModel *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_MODEL (self), NULL);
  return self->store;
}

static gboolean
same_query (const HbHistoryQuery *a, const HbHistoryQuery *b)
{
  return g_strcmp0 (a->text ? a->text : "", b->text ? b->text : "") == 0
         && !a->favourites_only == !b->favourites_only
         && g_strcmp0 (a->model_name, b->model_name) == 0
         && a->from_us == b->from_us
         && a->until_us == b->until_us;
}

void
hb_history_model_set_query (HbHistoryModel *self, const HbHistoryQuery *query)
{
  gboolean same;

  g_return_if_fail (HB_IS_HISTORY_MODEL (self));

  /* The same query again (a search entry reports its text late) is a
   * refresh: views keep their selection and scroll position. */
  same = same_query (&self->query, query);
  g_free (self->text);
  g_free (self->model_name);
  self->query = *query;
  self->text = g_strdup (query->text);
  self->model_name = g_strdup (query->model_name);
  self->query.text = self->text;
  self->query.model_name = self->model_name;
  run_query (self, same);
}

gboolean
hb_history_model_get_loading (HbHistoryModel *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_MODEL (self), FALSE);
  return self->loading;
}
