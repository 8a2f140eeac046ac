/* hb-history-store.h — every generation kept: SQLite rows + PNG files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The history lives in one folder ($XDG_DATA_HOME/huabu by default):
 * history.db (SQLite, WAL), pictures/YYYY/MM/<time>.png (each carrying its own
 * parameters, so the database can always be rebuilt from them) and
 * sources/YYYY/MM/ (the sketches and masks generations started from).
 *
 * One worker thread owns the database connection. Every call below is a
 * request queued to it: the synchronous ones (for huabu-cli and tests)
 * wait for the answer, the _async ones (for the GUI) call back in the
 * thread-default main context of the caller.
 */
#pragma once

#include <gio/gio.h>
#include "hb-params.h"

G_BEGIN_DECLS

#define HB_HISTORY_ERROR (hb_history_error_quark ())
typedef enum {
  HB_HISTORY_ERROR_DATABASE,   /* SQLite failed; the message says how */
  HB_HISTORY_ERROR_CORRUPT,    /* the database file is damaged */
  HB_HISTORY_ERROR_NEWER,      /* made by a newer Huabu */
  HB_HISTORY_ERROR_NOT_FOUND,  /* no such generation */
  HB_HISTORY_ERROR_FILES,      /* a picture could not be written or removed */
} HbHistoryError;
GQuark hb_history_error_quark (void);

typedef struct {
  const char *text;            /* full text over prompts; NULL or "": everything */
  gboolean    favourites_only;
  const char *model_name;      /* NULL: any model */
  gint64      from_us;         /* created at or after; 0: no bound */
  gint64      until_us;        /* created before; 0: no bound */
} HbHistoryQuery;

/* Longest side of the thumbnails kept in the database. */
#define HB_HISTORY_THUMBNAIL_SIZE 256

#define HB_TYPE_HISTORY_STORE (hb_history_store_get_type ())
G_DECLARE_FINAL_TYPE (HbHistoryStore, hb_history_store, HB, HISTORY_STORE, GObject)

/* folder: NULL for $XDG_DATA_HOME/huabu. Opening migrates the schema,
 * finishes deletes of the last session, and re-adds pictures that have no
 * row (a crash between writing the PNG and committing the row). A damaged
 * database is moved aside and rebuilt from the pictures; get_notice()
 * then says so. Emits "changed" (no arguments) in the opener's main
 * context after anything is added, removed or altered. */
HbHistoryStore     *hb_history_store_open            (const char *folder, GError **error);
const char         *hb_history_store_get_folder      (HbHistoryStore *self);
/* What opening had to repair, in words for the person, or NULL. */
const char         *hb_history_store_get_notice      (HbHistoryStore *self);
/* An absolute path for a path stored in a record (relative to the folder). */
char               *hb_history_store_resolve_path    (HbHistoryStore *self, const char *path);

/* Writes the PNG (and sketch/mask PNGs when given) and then the row. Fills
 * record->id, image_path, sketch_path, mask_path, parent_path and
 * created_us (when 0). Returns the new row id, 0 on error. */
gint64              hb_history_store_add             (HbHistoryStore     *self,
                                                      HbGenerationRecord *record,
                                                      const HbImage      *image,
                                                      const HbImage      *sketch,
                                                      const HbImage      *mask,
                                                      GError            **error);
HbGenerationRecord *hb_history_store_get             (HbHistoryStore *self, gint64 id, GError **error);
/* Newest first. With text, every term must occur in the prompt or the
 * negative prompt: a word as a word prefix ("cat" finds "cats"), CJK text
 * anywhere, a term with punctuation ("(best quality:1.2)") as written;
 * "quoted words" count as one term. Best match first (bm25) when there are
 * up to 2000 matches, else newest first. Array of records. */
GPtrArray          *hb_history_store_query           (HbHistoryStore       *self,
                                                      const HbHistoryQuery *query,
                                                      guint                 offset,
                                                      guint                 limit,
                                                      GError              **error);
/* Every match's id, in the same order: what a list view pages through,
 * fetching records with get_many as it scrolls. Array of gint64. */
GArray             *hb_history_store_query_ids       (HbHistoryStore       *self,
                                                      const HbHistoryQuery *query,
                                                      GError              **error);
/* Records of ids, in that order; ids no longer there are skipped. */
GPtrArray          *hb_history_store_get_many        (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, GError **error);
gboolean            hb_history_store_count           (HbHistoryStore       *self,
                                                      const HbHistoryQuery *query,
                                                      guint                *count,
                                                      GError              **error);
/* A small PNG (HB_HISTORY_THUMBNAIL_SIZE). */
GBytes             *hb_history_store_get_thumbnail   (HbHistoryStore *self, gint64 id, GError **error);
gboolean            hb_history_store_set_favourite   (HbHistoryStore *self, gint64 id,
                                                      gboolean favourite, GError **error);
/* Distinct model names, for a filter. */
GStrv               hb_history_store_list_models     (HbHistoryStore *self, GError **error);

/* Deleting is two steps so it can be undone: trash hides rows at once,
 * restore brings them back, purge removes the trashed files and then their
 * rows (files first: a crash in between must not resurrect a picture).
 * Opening purges what an earlier session left trashed. delete = both. */
gboolean            hb_history_store_trash           (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, GError **error);
gboolean            hb_history_store_restore         (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, GError **error);
/* ids NULL: every trashed row. */
gboolean            hb_history_store_purge           (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, GError **error);
gboolean            hb_history_store_delete          (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, GError **error);

/* Copies the pictures (with their metadata) into folder. */
gboolean            hb_history_store_export          (HbHistoryStore *self, const gint64 *ids,
                                                      guint n_ids, const char *folder,
                                                      GError **error);
/* Forgets every row and re-reads all pictures' own metadata, keeping
 * favourites. Returns the number of pictures, -1 on error. */
int                 hb_history_store_rebuild         (HbHistoryStore *self, GError **error);

/* The same requests for the GUI. */
void                hb_history_store_add_async       (HbHistoryStore           *self,
                                                      const HbGenerationRecord *record,
                                                      const HbImage            *image,
                                                      const HbImage            *sketch,
                                                      const HbImage            *mask,
                                                      GCancellable             *cancellable,
                                                      GAsyncReadyCallback       callback,
                                                      gpointer                  user_data);
/* The stored record (with id and paths), or NULL. */
HbGenerationRecord *hb_history_store_add_finish      (HbHistoryStore *self, GAsyncResult *result,
                                                      GError **error);
void                hb_history_store_query_async     (HbHistoryStore       *self,
                                                      const HbHistoryQuery *query,
                                                      guint                 offset,
                                                      guint                 limit,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
GPtrArray          *hb_history_store_query_finish    (HbHistoryStore *self, GAsyncResult *result,
                                                      GError **error);
void                hb_history_store_query_ids_async (HbHistoryStore       *self,
                                                      const HbHistoryQuery *query,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
GArray             *hb_history_store_query_ids_finish (HbHistoryStore *self, GAsyncResult *result,
                                                       GError **error);
void                hb_history_store_get_many_async  (HbHistoryStore      *self,
                                                      const gint64        *ids,
                                                      guint                n_ids,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
GPtrArray          *hb_history_store_get_many_finish (HbHistoryStore *self, GAsyncResult *result,
                                                      GError **error);
void                hb_history_store_get_thumbnail_async  (HbHistoryStore      *self,
                                                           gint64               id,
                                                           GCancellable        *cancellable,
                                                           GAsyncReadyCallback  callback,
                                                           gpointer             user_data);
GBytes             *hb_history_store_get_thumbnail_finish (HbHistoryStore *self, GAsyncResult *result,
                                                           GError **error);
/* For trash, restore, purge, set_favourite and export: */
void                hb_history_store_trash_async     (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                                                      GCancellable *cancellable,
                                                      GAsyncReadyCallback callback, gpointer user_data);
void                hb_history_store_restore_async   (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                                                      GCancellable *cancellable,
                                                      GAsyncReadyCallback callback, gpointer user_data);
void                hb_history_store_purge_async     (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                                                      GCancellable *cancellable,
                                                      GAsyncReadyCallback callback, gpointer user_data);
void                hb_history_store_set_favourite_async (HbHistoryStore *self, gint64 id, gboolean favourite,
                                                          GCancellable *cancellable,
                                                          GAsyncReadyCallback callback, gpointer user_data);
void                hb_history_store_export_async    (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                                                      const char *folder, GCancellable *cancellable,
                                                      GAsyncReadyCallback callback, gpointer user_data);
gboolean            hb_history_store_finish          (HbHistoryStore *self, GAsyncResult *result,
                                                      GError **error);

/* Test hook: when the environment variable HB_HISTORY_CRASH_AFTER_PNG is
 * set, add() kills the process with SIGKILL after the PNG is in place and
 * before the row is committed, to prove reconciliation loses nothing. */
#define HB_HISTORY_CRASH_ENV "HB_HISTORY_CRASH_AFTER_PNG"

G_END_DECLS
