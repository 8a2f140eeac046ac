/* hb-history-store.c — every generation kept: SQLite rows + PNG files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The pictures are the truth and the database an index of them: each PNG
 * carries its parameters, so a picture written without its row (a crash
 * in between) is re-added on the next open, and a damaged database is
 * rebuilt from them. Hence the order of every write: file, then row; and
 * of every delete: files, then row.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>

#include "hb-history-store.h"
#include "hb-history-store-private.h"
#include "hb-png.h"

G_DEFINE_QUARK (hb-history-error-quark, hb_history_error)

const char *const hb_history_migrations[] = {
  /* 1: the first schema. Times in µs since the epoch; paths relative to
   * the history folder so it can be moved. */
  "CREATE TABLE generations ("
  "  id              INTEGER PRIMARY KEY,"
  "  created         INTEGER NOT NULL,"
  "  prompt          TEXT NOT NULL,"
  "  negative_prompt TEXT NOT NULL,"
  "  model_name      TEXT,"
  "  model_hash      TEXT,"
  "  sampler         TEXT,"
  "  schedule        TEXT,"
  "  steps           INTEGER,"
  "  cfg             REAL,"
  "  seed            INTEGER,"
  "  rng             TEXT,"
  "  width           INTEGER,"
  "  height          INTEGER,"
  "  strength        REAL,"
  "  clip_skip       INTEGER,"
  "  duration        REAL,"
  "  image_path      TEXT NOT NULL UNIQUE,"
  "  thumbnail       BLOB);"
  "CREATE INDEX generations_by_created ON generations (created);",

  /* 2: favourites, lineage, undoable deletes, and the keys of foreign
   * parameters lines we keep but do not interpret. */
  "ALTER TABLE generations ADD COLUMN favourite INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE generations ADD COLUMN parent_id INTEGER;"
  "ALTER TABLE generations ADD COLUMN sketch_path TEXT;"
  "ALTER TABLE generations ADD COLUMN mask_path TEXT;"
  "ALTER TABLE generations ADD COLUMN trashed INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE generations ADD COLUMN extras TEXT;"
  "CREATE INDEX generations_by_favourite ON generations (favourite, created);"
  "CREATE INDEX generations_by_model ON generations (model_name, created);",

  /* 3: full text over both prompts. unicode61 does not split CJK text and
   * drops punctuation, so trigrams: any substring of three or more
   * characters matches. The prompt weighs more than the negative prompt. */
  "CREATE VIRTUAL TABLE generations_fts USING fts5 ("
  "  prompt, negative_prompt,"
  "  content='generations', content_rowid='id', tokenize='trigram');"
  "INSERT INTO generations_fts (generations_fts, rank) VALUES ('rank', 'bm25(4.0, 1.0)');"
  "CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN"
  "  INSERT INTO generations_fts (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, new.prompt, new.negative_prompt);"
  "END;"
  "CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN"
  "  INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, old.prompt, old.negative_prompt);"
  "END;"
  "CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN"
  "  INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, old.prompt, old.negative_prompt);"
  "  INSERT INTO generations_fts (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, new.prompt, new.negative_prompt);"
  "END;"
  "INSERT INTO generations_fts (generations_fts) VALUES ('rebuild');",

  /* 4: search and scroll at 100 000 rows. Thumbnails move to their own
   * table so that row lookups and scans do not wade through pictures.
   * Trashed rows leave the full-text indexes, so a text-only count needs
   * no join. A word index answers whole words far faster than trigrams
   * and takes words shorter than a trigram (one or two CJK characters,
   * "8k"): hb_search_words() makes every CJK character a word of its own.
   * Prompts never change after insertion, so only inserts, deletes and
   * (un)trashing touch the indexes. */
  "CREATE TABLE thumbnails (id INTEGER PRIMARY KEY, png BLOB NOT NULL);"
  "INSERT INTO thumbnails (id, png) SELECT id, thumbnail FROM generations"
  "  WHERE thumbnail IS NOT NULL;"
  "ALTER TABLE generations DROP COLUMN thumbnail;"
  "CREATE INDEX generations_live ON generations (trashed, created);"
  "CREATE VIRTUAL TABLE generations_words USING fts5 ("
  "  prompt, negative_prompt, content='', tokenize='unicode61');"
  "INSERT INTO generations_words (generations_words, rank) VALUES ('rank', 'bm25(4.0, 1.0)');"
  "DROP TRIGGER generations_fts_insert;"
  "DROP TRIGGER generations_fts_delete;"
  "DROP TRIGGER generations_fts_update;"
  "CREATE TRIGGER generations_index AFTER INSERT ON generations WHEN new.trashed = 0 BEGIN"
  "  INSERT INTO generations_fts (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, new.prompt, new.negative_prompt);"
  "  INSERT INTO generations_words (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, hb_search_words (new.prompt), hb_search_words (new.negative_prompt));"
  "END;"
  "CREATE TRIGGER generations_unindex AFTER DELETE ON generations WHEN old.trashed = 0 BEGIN"
  "  INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, old.prompt, old.negative_prompt);"
  "  INSERT INTO generations_words (generations_words, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, hb_search_words (old.prompt), hb_search_words (old.negative_prompt));"
  "END;"
  "CREATE TRIGGER generations_trash AFTER UPDATE OF trashed ON generations"
  "  WHEN old.trashed = 0 AND new.trashed != 0 BEGIN"
  "  INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, old.prompt, old.negative_prompt);"
  "  INSERT INTO generations_words (generations_words, rowid, prompt, negative_prompt)"
  "    VALUES ('delete', old.id, hb_search_words (old.prompt), hb_search_words (old.negative_prompt));"
  "END;"
  "CREATE TRIGGER generations_restore AFTER UPDATE OF trashed ON generations"
  "  WHEN old.trashed != 0 AND new.trashed = 0 BEGIN"
  "  INSERT INTO generations_fts (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, new.prompt, new.negative_prompt);"
  "  INSERT INTO generations_words (rowid, prompt, negative_prompt)"
  "    VALUES (new.id, hb_search_words (new.prompt), hb_search_words (new.negative_prompt));"
  "END;"
  "CREATE TRIGGER generations_drop_thumbnail AFTER DELETE ON generations BEGIN"
  "  DELETE FROM thumbnails WHERE id = old.id;"
  "END;"
  "INSERT INTO generations_fts (generations_fts) VALUES ('delete-all');"
  "INSERT INTO generations_fts (rowid, prompt, negative_prompt)"
  "  SELECT id, prompt, negative_prompt FROM generations WHERE trashed = 0;"
  "INSERT INTO generations_words (rowid, prompt, negative_prompt)"
  "  SELECT id, hb_search_words (prompt), hb_search_words (negative_prompt)"
  "  FROM generations WHERE trashed = 0;",
};
const guint hb_history_n_migrations = G_N_ELEMENTS (hb_history_migrations);

#define RECORD_COLUMNS \
  "g.id, g.created, g.prompt, g.negative_prompt, g.model_name, g.model_hash," \
  " g.sampler, g.schedule, g.steps, g.cfg, g.seed, g.rng, g.width, g.height," \
  " g.strength, g.clip_skip, g.duration, g.image_path, g.favourite, g.parent_id," \
  " (SELECT p.image_path FROM generations p WHERE p.id = g.parent_id)," \
  " g.sketch_path, g.mask_path, g.extras"

/* Temporary files younger than this may belong to another Huabu process
 * that is writing right now. */
#define STALE_TEMP_AGE_S 3600

struct _HbHistoryStore
{
  GObject       parent_instance;

  char         *folder;
  char         *notice;
  GMainContext *context;
  GThread      *thread;
  GAsyncQueue  *queue;

  /* Worker thread only. */
  sqlite3      *db;
  GHashTable   *statements;  /* SQL text -> sqlite3_stmt */
};

G_DEFINE_FINAL_TYPE (HbHistoryStore, hb_history_store, G_TYPE_OBJECT)

enum {
  CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

typedef gpointer (*HbStoreJob) (HbHistoryStore *self, gpointer data, GError **error);

typedef struct {
  HbStoreJob      job;        /* NULL: stop the worker */
  gpointer        data;
  GDestroyNotify  data_free;
  gboolean        mutates;    /* emit "changed" after success */
  /* Asynchronous requests. */
  GTask          *task;
  GDestroyNotify  result_free;
  /* Synchronous requests. */
  GMutex          mutex;
  GCond           cond;
  gboolean        done;
  gpointer        result;
  GError         *error;
} Request;

/* ---- the worker thread ------------------------------------------------- */

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Always through the context's loop: g_main_context_invoke() would run
 * the function right here on the worker whenever the worker can acquire
 * the context (the default one, while the main thread is not iterating). */
static void
invoke_later (GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, data, destroy);
  g_source_set_static_name (source, "[huabu] history store");
  g_source_attach (source, context);
}

static gboolean
emit_changed_cb (gpointer data)
{
  g_autoptr(HbHistoryStore) self = g_weak_ref_get (data);

  if (self != NULL)
    g_signal_emit (self, signals[CHANGED], 0);
  return G_SOURCE_REMOVE;
}

static void
notify_changed (HbHistoryStore *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, self);
  invoke_later (self->context, emit_changed_cb, ref, weak_ref_free);
}

static gboolean
unref_cb (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

static void
run_request (HbHistoryStore *self, Request *request)
{
  GCancellable *cancellable = request->task ? g_task_get_cancellable (request->task) : NULL;
  GError *error = NULL;
  gpointer result = NULL;

  if (!g_cancellable_set_error_if_cancelled (cancellable, &error))
    result = request->job (self, request->data, &error);
  g_assert (result != NULL || error != NULL);
  if (result != NULL && request->mutates)
    notify_changed (self);

  if (request->task != NULL)
    {
      if (result != NULL)
        g_task_return_pointer (request->task, result, request->result_free);
      else
        g_task_return_error (request->task, error);
      /* The task holds the store; were its last reference dropped here,
       * the store would be finalized on its own worker thread. */
      invoke_later (g_task_get_context (request->task), unref_cb, request->task, NULL);
      if (request->data_free)
        request->data_free (request->data);
      g_free (request);
      return;
    }

  g_mutex_lock (&request->mutex);
  request->result = result;
  request->error = error;
  request->done = TRUE;
  g_cond_signal (&request->cond);
  g_mutex_unlock (&request->mutex);
}

static void
close_database (HbHistoryStore *self)
{
  g_hash_table_remove_all (self->statements);
  if (self->db != NULL)
    sqlite3_close (self->db);
  self->db = NULL;
}

static gpointer
worker_main (gpointer data)
{
  HbHistoryStore *self = data;

  for (;;)
    {
      Request *request = g_async_queue_pop (self->queue);

      if (request->job == NULL)
        {
          g_free (request);
          break;
        }
      run_request (self, request);
    }
  close_database (self);
  return NULL;
}

static gpointer
run_sync (HbHistoryStore *self,
          HbStoreJob      job,
          gpointer        data,
          gboolean        mutates,
          GError        **error)
{
  Request request = { job, data, NULL, mutates };
  gpointer result;

  g_mutex_init (&request.mutex);
  g_cond_init (&request.cond);
  g_async_queue_push (self->queue, &request);
  g_mutex_lock (&request.mutex);
  while (!request.done)
    g_cond_wait (&request.cond, &request.mutex);
  g_mutex_unlock (&request.mutex);
  g_mutex_clear (&request.mutex);
  g_cond_clear (&request.cond);

  result = request.result;
  if (request.error != NULL)
    g_propagate_error (error, request.error);
  return result;
}

static void
run_async (HbHistoryStore      *self,
           HbStoreJob           job,
           gpointer             data,
           GDestroyNotify       data_free,
           GDestroyNotify       result_free,
           gboolean             mutates,
           gpointer             source_tag,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  Request *request = g_new0 (Request, 1);

  request->job = job;
  request->data = data;
  request->data_free = data_free;
  request->result_free = result_free;
  request->mutates = mutates;
  request->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (request->task, source_tag);
  g_async_queue_push (self->queue, request);
}

/* ---- SQLite helpers (worker thread) ------------------------------------ */

static gboolean
is_corruption (HbHistoryStore *self)
{
  int code = sqlite3_errcode (self->db) & 0xff;

  return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

static gboolean
set_db_error (HbHistoryStore *self, GError **error)
{
  g_set_error (error, HB_HISTORY_ERROR,
               is_corruption (self) ? HB_HISTORY_ERROR_CORRUPT : HB_HISTORY_ERROR_DATABASE,
               _("The history database failed: %s. If this persists, run "
                 "“huabu-cli history rebuild”."),
               sqlite3_errmsg (self->db));
  return FALSE;
}

static gboolean
exec_sql (HbHistoryStore *self, const char *sql, GError **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return set_db_error (self, error);
  return TRUE;
}

/* Statements are prepared once and kept; each use starts from a reset. */
static sqlite3_stmt *
prepare (HbHistoryStore *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (self->statements, sql);

  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      set_db_error (self, error);
      return NULL;
    }
  g_hash_table_insert (self->statements, g_strdup (sql), stmt);
  return stmt;
}

/* Steps a statement that returns no rows and releases it. */
static gboolean
step_done (HbHistoryStore *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return set_db_error (self, error);
  return TRUE;
}

static void
bind_text (sqlite3_stmt *stmt, const char *name, const char *value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  g_assert (index > 0);
  if (value != NULL)
    sqlite3_bind_text (stmt, index, value, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

static void
bind_int64 (sqlite3_stmt *stmt, const char *name, gint64 value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  g_assert (index > 0);
  sqlite3_bind_int64 (stmt, index, value);
}

/* Unknown values are NULL in the database: <= 0 for counts, < 0 for reals. */
static void
bind_count (sqlite3_stmt *stmt, const char *name, gint64 value)
{
  if (value > 0)
    bind_int64 (stmt, name, value);
  else
    sqlite3_bind_null (stmt, sqlite3_bind_parameter_index (stmt, name));
}

static void
bind_real (sqlite3_stmt *stmt, const char *name, double value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  g_assert (index > 0);
  if (value >= 0)
    sqlite3_bind_double (stmt, index, value);
  else
    sqlite3_bind_null (stmt, index);
}

static char *
column_strdup (sqlite3_stmt *stmt, int column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* ---- records <-> rows --------------------------------------------------- */

static char *
extras_to_json (const HbGenerationRecord *record)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (record->extras->len == 0)
    return NULL;
  builder = json_builder_new ();
  json_builder_begin_array (builder);
  for (guint i = 0; i < record->extras->len; i++)
    {
      const HbParamExtra *extra = g_ptr_array_index (record->extras, i);

      json_builder_begin_array (builder);
      json_builder_add_string_value (builder, extra->key);
      json_builder_add_string_value (builder, extra->value);
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static void
extras_from_json (HbGenerationRecord *record, const char *json)
{
  g_autoptr(JsonNode) root = json ? json_from_string (json, NULL) : NULL;
  JsonArray *array;

  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return;
  array = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *pair = json_array_get_element (array, i);
      JsonArray *kv = JSON_NODE_HOLDS_ARRAY (pair) ? json_node_get_array (pair) : NULL;

      if (kv != NULL && json_array_get_length (kv) == 2)
        hb_generation_record_set_extra (record, json_array_get_string_element (kv, 0),
                                        json_array_get_string_element (kv, 1));
    }
}

static HbGenerationRecord *
record_from_row (sqlite3_stmt *stmt)
{
  HbGenerationRecord *record = hb_generation_record_new ();

  record->id = sqlite3_column_int64 (stmt, 0);
  record->created_us = sqlite3_column_int64 (stmt, 1);
  g_free (record->prompt);
  record->prompt = column_strdup (stmt, 2);
  g_free (record->negative_prompt);
  record->negative_prompt = column_strdup (stmt, 3);
  record->model_name = column_strdup (stmt, 4);
  record->model_hash = column_strdup (stmt, 5);
  record->sampler = column_strdup (stmt, 6);
  record->schedule = column_strdup (stmt, 7);
  record->steps = sqlite3_column_int (stmt, 8);
  if (sqlite3_column_type (stmt, 9) != SQLITE_NULL)
    record->cfg = sqlite3_column_double (stmt, 9);
  record->has_seed = sqlite3_column_type (stmt, 10) != SQLITE_NULL;
  record->seed = (guint64) sqlite3_column_int64 (stmt, 10);
  record->rng = column_strdup (stmt, 11);
  record->width = sqlite3_column_int (stmt, 12);
  record->height = sqlite3_column_int (stmt, 13);
  if (sqlite3_column_type (stmt, 14) != SQLITE_NULL)
    record->strength = sqlite3_column_double (stmt, 14);
  record->clip_skip = sqlite3_column_int (stmt, 15);
  if (sqlite3_column_type (stmt, 16) != SQLITE_NULL)
    record->duration_s = sqlite3_column_double (stmt, 16);
  record->image_path = column_strdup (stmt, 17);
  record->favourite = sqlite3_column_int (stmt, 18) != 0;
  record->parent_id = sqlite3_column_int64 (stmt, 19);
  record->parent_path = column_strdup (stmt, 20);
  record->sketch_path = column_strdup (stmt, 21);
  record->mask_path = column_strdup (stmt, 22);
  extras_from_json (record, (const char *) sqlite3_column_text (stmt, 23));
  return record;
}

/* An upsert: when another Huabu process re-added the same picture from its
 * metadata first, this keeps one row for it. */
static gint64
insert_record (HbHistoryStore           *self,
               const HbGenerationRecord *record,
               GBytes                   *thumbnail,
               GError                  **error)
{
  static const char sql[] =
    "INSERT INTO generations (created, prompt, negative_prompt, model_name, model_hash,"
    " sampler, schedule, steps, cfg, seed, rng, width, height, strength, clip_skip,"
    " duration, image_path, favourite, parent_id, sketch_path, mask_path, extras)"
    " VALUES (:created, :prompt, :negative, :model_name, :model_hash, :sampler, :schedule,"
    " :steps, :cfg, :seed, :rng, :width, :height, :strength, :clip_skip, :duration,"
    " :image_path, :favourite, :parent_id, :sketch_path, :mask_path, :extras)"
    " ON CONFLICT (image_path) DO UPDATE SET image_path = excluded.image_path"
    " RETURNING id";
  sqlite3_stmt *stmt = prepare (self, sql, error);
  g_autofree char *extras = NULL;
  gint64 id;

  if (stmt == NULL)
    return 0;
  extras = extras_to_json (record);
  bind_int64 (stmt, ":created", record->created_us);
  bind_text (stmt, ":prompt", record->prompt);
  bind_text (stmt, ":negative", record->negative_prompt);
  bind_text (stmt, ":model_name", record->model_name);
  bind_text (stmt, ":model_hash", record->model_hash);
  bind_text (stmt, ":sampler", record->sampler);
  bind_text (stmt, ":schedule", record->schedule);
  bind_count (stmt, ":steps", record->steps);
  bind_real (stmt, ":cfg", record->cfg);
  if (record->has_seed)
    bind_int64 (stmt, ":seed", (gint64) record->seed);
  bind_text (stmt, ":rng", record->rng);
  bind_count (stmt, ":width", record->width);
  bind_count (stmt, ":height", record->height);
  bind_real (stmt, ":strength", record->strength);
  bind_count (stmt, ":clip_skip", record->clip_skip);
  bind_real (stmt, ":duration", record->duration_s);
  bind_text (stmt, ":image_path", record->image_path);
  bind_int64 (stmt, ":favourite", record->favourite ? 1 : 0);
  bind_count (stmt, ":parent_id", record->parent_id);
  bind_text (stmt, ":sketch_path", record->sketch_path);
  bind_text (stmt, ":mask_path", record->mask_path);
  bind_text (stmt, ":extras", extras);

  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      set_db_error (self, error);
      sqlite3_reset (stmt);
      return 0;
    }
  id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  stmt = prepare (self, "INSERT OR REPLACE INTO thumbnails (id, png) VALUES (:id, :png)", error);
  if (stmt == NULL)
    return 0;
  bind_int64 (stmt, ":id", id);
  sqlite3_bind_blob (stmt, sqlite3_bind_parameter_index (stmt, ":png"),
                     g_bytes_get_data (thumbnail, NULL), (int) g_bytes_get_size (thumbnail),
                     SQLITE_TRANSIENT);
  if (!step_done (self, stmt, error))
    return 0;
  return id;
}

static GBytes *
make_thumbnail (const HbImage *image, GError **error)
{
  g_autoptr(HbImage) small = hb_image_scale_down (image, HB_HISTORY_THUMBNAIL_SIZE);

  return hb_png_encode (small, error);
}

/* ---- search words --------------------------------------------------------- */

static gboolean
is_cjk (gunichar c)
{
  GUnicodeScript script = g_unichar_get_script (c);

  return script == G_UNICODE_SCRIPT_HAN || script == G_UNICODE_SCRIPT_HIRAGANA
         || script == G_UNICODE_SCRIPT_KATAKANA || script == G_UNICODE_SCRIPT_HANGUL
         || script == G_UNICODE_SCRIPT_BOPOMOFO;
}

/* The text with a space after every CJK character, so a word tokenizer
 * sees each one as a word. */
static void
append_search_words (GString *out, const char *text)
{
  for (const char *p = text; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (is_cjk (c))
        g_string_append_printf (out, " %.*s ", (int) (g_utf8_next_char (p) - p), p);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
    }
}

static void
search_words_sql (sqlite3_context *context, int argc, sqlite3_value **argv)
{
  GString *out = g_string_new (NULL);

  append_search_words (out, (const char *) sqlite3_value_text (argv[0]));
  sqlite3_result_text (context, out->str, (int) out->len, g_free);
  g_string_free (out, FALSE);
}

void
hb_history_register_functions (sqlite3 *db)
{
  sqlite3_create_function (db, "hb_search_words", 1,
                           SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                           NULL, search_words_sql, NULL, NULL);
}

/* ---- opening ------------------------------------------------------------ */

static gboolean
migrate (HbHistoryStore *self, GError **error)
{
  sqlite3_stmt *stmt = prepare (self, "PRAGMA user_version", error);
  int version;

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      set_db_error (self, error);
      sqlite3_reset (stmt);
      return FALSE;
    }
  version = sqlite3_column_int (stmt, 0);
  sqlite3_reset (stmt);

  if (version > (int) hb_history_n_migrations)
    {
      g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NEWER,
                   _("The history was last used by a newer version of Huabu "
                     "(schema %d, this one knows %u). Update Huabu to open it."),
                   version, hb_history_n_migrations);
      return FALSE;
    }

  for (guint i = version; i < hb_history_n_migrations; i++)
    {
      g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %u", i + 1);

      if (!exec_sql (self, "BEGIN IMMEDIATE", error))
        return FALSE;
      if (!exec_sql (self, hb_history_migrations[i], error)
          || !exec_sql (self, set_version, error)
          || !exec_sql (self, "COMMIT", error))
        {
          sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
          g_prefix_error (error, _("Updating the history database to schema %u: "), i + 1);
          return FALSE;
        }
    }
  return TRUE;
}

/* A damaged file answers with a description of the damage instead of "ok". */
static gboolean
quick_check (HbHistoryStore *self, GError **error)
{
  sqlite3_stmt *stmt = prepare (self, "PRAGMA quick_check", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW && g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "ok") != 0)
    g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_CORRUPT,
                 _("The history database is damaged: %s."), sqlite3_column_text (stmt, 0));
  else if (rc != SQLITE_ROW)
    set_db_error (self, error);
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW && (error == NULL || *error == NULL);
}

/* Damage is reported as HB_HISTORY_ERROR_CORRUPT; other failures
 * (permissions, a full disk) must not lead to moving the file aside.
 * check: run the full integrity check, which reads every page (most of a
 * second at 100 000 rows). */
static gboolean
open_database (HbHistoryStore *self, const char *path, gboolean check, GError **error)
{
  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
    {
      if (self->db != NULL && is_corruption (self))
        set_db_error (self, error);
      else
        g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_DATABASE,
                     _("Cannot open the history database “%s”: %s. Check that "
                       "the folder is writable."),
                     path, self->db ? sqlite3_errmsg (self->db) : g_strerror (ENOMEM));
      close_database (self);
      return FALSE;
    }
  sqlite3_busy_timeout (self->db, 5000);
  hb_history_register_functions (self->db);

  if (exec_sql (self, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", error)
      && (!check || quick_check (self, error))
      && migrate (self, error))
    return TRUE;
  close_database (self);
  return FALSE;
}

static char *
move_aside (const char *path, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *aside = g_strdup_printf ("%s.corrupt-%s", path, stamp);
  static const char *const suffixes[] = { "-wal", "-shm" };

  if (g_rename (path, aside) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_FILES,
                   _("The history database “%s” is damaged and could not be moved "
                     "aside: %s. Move or delete it by hand, then start again."),
                   path, g_strerror (saved_errno));
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *from = g_strconcat (path, suffixes[i], NULL);
      g_autofree char *to = g_strconcat (aside, suffixes[i], NULL);

      g_rename (from, to);
    }
  return g_steal_pointer (&aside);
}

static gboolean
is_stale_temp (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 && time (NULL) - st.st_mtime > STALE_TEMP_AGE_S;
}

/* Collects picture paths (relative to the history folder) under dir. */
static void
list_pictures (const char *folder, const char *relative, GPtrArray *out)
{
  g_autofree char *dir_path = g_build_filename (folder, relative, NULL);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (relative, name, NULL);
      g_autofree char *full = g_build_filename (folder, child, NULL);

      if (name[0] == '.')
        {
          /* A temporary PNG left by a crash before its rename: incomplete. */
          if (strstr (name, ".png.") != NULL && is_stale_temp (full))
            g_unlink (full);
          continue;
        }
      if (g_str_has_suffix (name, ".png"))
        g_ptr_array_add (out, g_steal_pointer (&child));
      else if (g_file_test (full, G_FILE_TEST_IS_DIR))
        list_pictures (folder, child, out);
    }
}

static GHashTable *
known_pictures (HbHistoryStore *self, GError **error)
{
  sqlite3_stmt *stmt = prepare (self, "SELECT image_path FROM generations", error);
  g_autoptr(GHashTable) known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_hash_table_add (known, column_strdup (stmt, 0));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, error);
      return NULL;
    }
  return g_steal_pointer (&known);
}

/* parents receives (child path, parent path) pairs to link once every
 * picture has a row. */
static gboolean
add_from_file (HbHistoryStore *self, const char *relative, GPtrArray *parents, GError **error)
{
  g_autofree char *path = g_build_filename (self->folder, relative, NULL);
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HbImage) image = hb_png_load (path, &texts, error);
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autoptr(GBytes) thumbnail = NULL;

  if (image == NULL)
    return FALSE;
  /* A picture without readable parameters is still a picture to keep. */
  record = hb_generation_record_from_png_texts (texts, NULL);
  if (record == NULL)
    record = hb_generation_record_new ();
  if (record->created_us == 0)
    {
      GStatBuf st;

      record->created_us = g_stat (path, &st) == 0 ? (gint64) st.st_mtime * G_USEC_PER_SEC
                                                   : g_get_real_time ();
    }
  g_free (record->image_path);
  record->image_path = g_strdup (relative);
  record->parent_id = 0;
  thumbnail = make_thumbnail (image, error);
  if (thumbnail == NULL || insert_record (self, record, thumbnail, error) == 0)
    return FALSE;
  if (record->parent_path != NULL)
    {
      g_ptr_array_add (parents, g_strdup (relative));
      g_ptr_array_add (parents, g_strdup (record->parent_path));
    }
  return TRUE;
}

/* Lineage is kept by path in the PNGs because ids change on a rebuild. */
static gboolean
link_parents (HbHistoryStore *self, GPtrArray *parents, GError **error)
{
  for (guint i = 0; i + 1 < parents->len; i += 2)
    {
      sqlite3_stmt *stmt = prepare (self,
                                    "UPDATE generations SET parent_id ="
                                    " (SELECT p.id FROM generations p WHERE p.image_path = :parent)"
                                    " WHERE image_path = :child",
                                    error);

      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, ":child", g_ptr_array_index (parents, i));
      bind_text (stmt, ":parent", g_ptr_array_index (parents, i + 1));
      if (!step_done (self, stmt, error))
        return FALSE;
    }
  return TRUE;
}

/* Re-adds every picture under pictures/ that has no row, in one
 * transaction. Returns how many, or -1. Pictures that cannot be read are
 * left alone and counted in *n_failed. */
static int
reconcile (HbHistoryStore *self, guint *n_failed, GError **error)
{
  g_autoptr(GHashTable) known = known_pictures (self, error);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) parents = g_ptr_array_new_with_free_func (g_free);
  int added = 0;

  *n_failed = 0;
  if (known == NULL)
    return -1;
  list_pictures (self->folder, "pictures", files);
  for (guint i = 0; i < files->len; i++)
    {
      const char *relative = g_ptr_array_index (files, i);
      g_autoptr(GError) local_error = NULL;

      if (g_hash_table_contains (known, relative))
        continue;
      if (added == 0 && !exec_sql (self, "BEGIN IMMEDIATE", error))
        return -1;
      if (add_from_file (self, relative, parents, &local_error))
        added++;
      else if (local_error->domain == HB_HISTORY_ERROR)
        {
          sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return -1;
        }
      else
        {
          g_warning ("Not re-adding %s to the history: %s", relative, local_error->message);
          (*n_failed)++;
        }
    }
  if (added > 0 && (!link_parents (self, parents, error) || !exec_sql (self, "COMMIT", error)))
    {
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  return added;
}

static gboolean purge_trashed (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error);

static gboolean
start_database (HbHistoryStore *self, const char *db_path, gboolean check,
                int *added, guint *n_failed, GError **error)
{
  if (!open_database (self, db_path, check, error)
      || !purge_trashed (self, NULL, 0, error))
    return FALSE;
  *added = reconcile (self, n_failed, error);
  return *added >= 0;
}

static gpointer
open_job (HbHistoryStore *self, gpointer data, GError **error)
{
  g_autofree char *db_path = g_build_filename (self->folder, "history.db", NULL);
  g_autofree char *pictures = g_build_filename (self->folder, "pictures", NULL);
  g_autofree char *wal_path = NULL;
  g_autofree char *aside = NULL;
  g_autoptr(GError) local_error = NULL;
  guint n_failed;
  int added;

  if (g_mkdir_with_parents (pictures, 0755) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_FILES,
                   _("Cannot create the history folder “%s”: %s."),
                   pictures, g_strerror (saved_errno));
      return NULL;
    }

  /* A clean close removes the write-ahead log; finding one means a crash
   * (or another Huabu running), the time to check every page. Otherwise
   * damage shows itself as an error in the reads below, which touch the
   * schema and the main table's indexes. */
  wal_path = g_strconcat (db_path, "-wal", NULL);
  if (!start_database (self, db_path, g_file_test (wal_path, G_FILE_TEST_EXISTS),
                       &added, &n_failed, &local_error))
    {
      if (!g_error_matches (local_error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_CORRUPT))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      g_message ("%s", local_error->message);
      close_database (self);
      aside = move_aside (db_path, error);
      if (aside == NULL || !start_database (self, db_path, FALSE, &added, &n_failed, error))
        return NULL;
    }

  if (aside != NULL)
    self->notice = g_strdup_printf (ngettext ("The history database was damaged. It was moved "
                                              "aside to “%s” and rebuilt from %d picture.",
                                              "The history database was damaged. It was moved "
                                              "aside to “%s” and rebuilt from %d pictures.", added),
                                    aside, added);
  else if (added > 0)
    self->notice = g_strdup_printf (ngettext ("%d picture that was missing from the "
                                              "history was added back.",
                                              "%d pictures that were missing from the "
                                              "history were added back.", added),
                                    added);
  if (n_failed > 0)
    {
      g_autofree char *old = g_steal_pointer (&self->notice);

      self->notice = g_strdup_printf (ngettext ("%s%s%u picture in “%s” could not be read; "
                                                "see the log for which.",
                                                "%s%s%u pictures in “%s” could not be read; "
                                                "see the log for which.", n_failed),
                                      old ? old : "", old ? " " : "", n_failed, pictures);
    }
  return GINT_TO_POINTER (TRUE);
}

/* ---- jobs --------------------------------------------------------------- */

typedef struct {
  HbGenerationRecord *record;
  HbImage            *image;
  HbImage            *sketch;
  HbImage            *mask;
} AddData;

static void
add_data_free (gpointer data)
{
  AddData *add = data;

  hb_generation_record_free (add->record);
  g_clear_pointer (&add->image, hb_image_free);
  g_clear_pointer (&add->sketch, hb_image_free);
  g_clear_pointer (&add->mask, hb_image_free);
  g_free (add);
}

static gboolean
make_folder (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0755) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_FILES,
                   _("Cannot create the folder “%s”: %s. Check that the disk has "
                     "room and the folder is writable."),
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

/* A relative path that no file has yet: <area>/YYYY/MM/<stem><suffix>.png */
static char *
new_relative_path (HbHistoryStore *self, const char *area, GDateTime *when,
                   const char *stem, const char *suffix, GError **error)
{
  g_autofree char *month = g_date_time_format (when, "%Y/%m");
  g_autofree char *folder = g_build_filename (self->folder, area, month, NULL);

  if (!make_folder (folder, error))
    return NULL;
  for (guint n = 0;; n++)
    {
      g_autofree char *name = n == 0 ? g_strdup_printf ("%s%s.png", stem, suffix)
                                     : g_strdup_printf ("%s-%u%s.png", stem, n, suffix);
      g_autofree char *relative = g_build_filename (area, month, name, NULL);
      g_autofree char *path = g_build_filename (self->folder, relative, NULL);

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        return g_steal_pointer (&relative);
    }
}

static char *
save_source (HbHistoryStore *self, const HbImage *image, GDateTime *when,
             const char *stem, const char *suffix, GError **error)
{
  g_autofree char *relative = new_relative_path (self, "sources", when, stem, suffix, error);
  g_autofree char *path = NULL;

  if (relative == NULL)
    return NULL;
  path = g_build_filename (self->folder, relative, NULL);
  if (!hb_png_save (path, image, NULL, 0, error))
    return NULL;
  return g_steal_pointer (&relative);
}

static char *
lookup_image_path (HbHistoryStore *self, gint64 id, GError **error)
{
  sqlite3_stmt *stmt = prepare (self, "SELECT image_path FROM generations WHERE id = :id", error);
  char *path = NULL;

  if (stmt == NULL)
    return NULL;
  bind_int64 (stmt, ":id", id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    path = column_strdup (stmt, 0);
  sqlite3_reset (stmt);
  return path;
}

static gpointer
add_job (HbHistoryStore *self, gpointer data, GError **error)
{
  AddData *add = data;
  HbGenerationRecord *record = add->record;
  g_autoptr(GDateTime) when = NULL;
  g_autoptr(GBytes) thumbnail = NULL;
  g_autofree char *seconds = NULL;
  g_autofree char *stem = NULL;
  g_autofree char *path = NULL;
  g_autofree char *parameters = NULL;
  g_autofree char *json = NULL;

  if (record->created_us == 0)
    record->created_us = g_get_real_time ();
  when = g_date_time_new_from_unix_local (record->created_us / G_USEC_PER_SEC);
  seconds = g_date_time_format (when, "%Y%m%d-%H%M%S");
  stem = g_strdup_printf ("%s-%06d", seconds, (int) (record->created_us % G_USEC_PER_SEC));

  g_clear_pointer (&record->parent_path, g_free);
  if (record->parent_id > 0)
    record->parent_path = lookup_image_path (self, record->parent_id, NULL);
  if (add->sketch != NULL
      && (record->sketch_path = save_source (self, add->sketch, when, stem, "-sketch", error)) == NULL)
    return NULL;
  if (add->mask != NULL
      && (record->mask_path = save_source (self, add->mask, when, stem, "-mask", error)) == NULL)
    return NULL;

  g_free (record->image_path);
  record->image_path = new_relative_path (self, "pictures", when, stem, "", error);
  if (record->image_path == NULL)
    return NULL;
  path = g_build_filename (self->folder, record->image_path, NULL);
  parameters = hb_generation_record_to_parameters (record);
  json = hb_generation_record_to_json (record);
  {
    HbPngText texts[] = {
      { HB_PNG_KEY_PARAMETERS, parameters },
      { HB_PNG_KEY_HUABU, json },
    };

    if (!hb_png_save (path, add->image, texts, G_N_ELEMENTS (texts), error))
      return NULL;
  }

  if (g_getenv (HB_HISTORY_CRASH_ENV) != NULL)
    raise (SIGKILL);

  thumbnail = make_thumbnail (add->image, error);
  if (thumbnail == NULL)
    return NULL;
  record->id = insert_record (self, record, thumbnail, error);
  if (record->id == 0)
    return NULL;
  return hb_generation_record_copy (record);
}

static gpointer
get_job (HbHistoryStore *self, gpointer data, GError **error)
{
  gint64 id = *(gint64 *) data;
  sqlite3_stmt *stmt = prepare (self, "SELECT " RECORD_COLUMNS " FROM generations g WHERE g.id = :id",
                                error);
  HbGenerationRecord *record = NULL;
  int rc;

  if (stmt == NULL)
    return NULL;
  bind_int64 (stmt, ":id", id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    record = record_from_row (stmt);
  else if (rc == SQLITE_DONE)
    g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NOT_FOUND,
                 _("There is no generation %" PRId64 " in the history. "
                   "“huabu-cli history list” shows the ids."), id);
  else
    set_db_error (self, error);
  sqlite3_reset (stmt);
  return record;
}

typedef struct {
  char     *text;
  gboolean  favourites_only;
  char     *model_name;
  gint64    from_us;
  gint64    until_us;
  guint     offset;
  guint     limit;
} QueryData;

static void
query_data_free (gpointer data)
{
  QueryData *query = data;

  g_free (query->text);
  g_free (query->model_name);
  g_free (query);
}

static QueryData *
query_data_new (const HbHistoryQuery *query, guint offset, guint limit)
{
  QueryData *data = g_new0 (QueryData, 1);

  if (query != NULL)
    {
      data->text = g_strdup (query->text);
      data->favourites_only = query->favourites_only;
      data->model_name = g_strdup (query->model_name);
      data->from_us = query->from_us;
      data->until_us = query->until_us;
    }
  data->offset = offset;
  data->limit = limit;
  return data;
}

typedef struct {
  gint64   *ids;
  guint     n_ids;
  gboolean  flag;
  char     *folder;
} IdsData;

static void
ids_data_free (gpointer data)
{
  IdsData *ids = data;

  g_free (ids->ids);
  g_free (ids->folder);
  g_free (ids);
}

static IdsData *
ids_data_new (const gint64 *ids, guint n_ids, gboolean flag, const char *folder)
{
  IdsData *data = g_new0 (IdsData, 1);

  data->ids = g_memdup2 (ids, sizeof (gint64) * n_ids);
  data->n_ids = n_ids;
  data->flag = flag;
  data->folder = g_strdup (folder);
  return data;
}

/* Runs sql (with :id, and :value if it has one) for each id, in one
 * transaction. */
/* Ranking by bm25 costs about 5 µs per match: beyond this many matches,
 * newest first keeps a search under 20 ms (and a ranking of thousands of
 * near-equal prompts would not help anyone). */
#define RANK_LIMIT 2000

typedef struct {
  GString   *trigrams;  /* query for generations_fts; "" when none */
  GString   *words;     /* query for generations_words; "" when none */
  GPtrArray *likes;     /* LIKE patterns for terms no index can take */
} SearchTerms;

static void
search_terms_clear (SearchTerms *terms)
{
  g_string_free (terms->trigrams, TRUE);
  g_string_free (terms->words, TRUE);
  g_ptr_array_unref (terms->likes);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SearchTerms, search_terms_clear)

/* An FTS5 phrase: the text in double quotes, its own quotes doubled. */
static void
append_phrase (GString *query, const char *text, gboolean prefix)
{
  if (query->len > 0)
    g_string_append (query, " AND ");
  g_string_append_c (query, '"');
  for (const char *c = text; *c != '\0'; c++)
    {
      if (*c == '"')
        g_string_append_c (query, '"');
      g_string_append_c (query, *c);
    }
  g_string_append (query, prefix ? "\"*" : "\"");
}

typedef enum {
  TERM_WORDS,     /* letters, digits and CJK only */
  TERM_SYMBOLS,   /* punctuation too, and long enough for trigrams */
  TERM_SCAN,      /* neither: a lone "%" or "C+" */
} TermKind;

static TermKind
classify_term (const char *term, gboolean *has_cjk)
{
  gboolean words_only = TRUE;

  *has_cjk = FALSE;
  for (const char *p = term; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      *has_cjk |= is_cjk (c);
      words_only &= g_unichar_isalnum (c) || g_unichar_ismark (c);
    }
  if (words_only)
    return TERM_WORDS;
  return g_utf8_strlen (term, -1) >= 3 ? TERM_SYMBOLS : TERM_SCAN;
}

/* Words go to the word index: a CJK word as the phrase of its characters
 * (so it matches anywhere, as CJK has no spaces), any other word as a
 * prefix ("cat" finds "cats"). A term with punctuation must match as
 * written, so it goes to the trigram index; what neither index can take
 * becomes a LIKE pattern, which reads every row. */
static void
split_search_text (const char *text, SearchTerms *terms)
{
  const char *p = text;

  terms->trigrams = g_string_new (NULL);
  terms->words = g_string_new (NULL);
  terms->likes = g_ptr_array_new_with_free_func (g_free);

  while (p != NULL && *p != '\0')
    {
      const char *start, *end;
      g_autofree char *term = NULL;
      g_autoptr(GString) spaced = NULL;
      gboolean has_cjk;

      while (g_ascii_isspace (*p))
        p++;
      if (*p == '\0')
        break;
      if (*p == '"' && strchr (p + 1, '"') != NULL)
        {
          start = p + 1;
          end = strchr (start, '"');
          p = end + 1;
        }
      else
        {
          start = p;
          for (end = p; *end != '\0' && !g_ascii_isspace (*end); end++)
            ;
          p = end;
        }
      term = g_strndup (start, end - start);
      if (term[0] == '\0' || !g_utf8_validate (term, -1, NULL))
        continue;

      switch (classify_term (term, &has_cjk))
        {
        case TERM_WORDS:
          spaced = g_string_new (NULL);
          append_search_words (spaced, term);
          append_phrase (terms->words, spaced->str, !has_cjk);
          break;
        case TERM_SYMBOLS:
          append_phrase (terms->trigrams, term, FALSE);
          break;
        case TERM_SCAN:
        default:
          {
            GString *pattern = g_string_new ("%");

            for (const char *c = term; *c != '\0'; c++)
              {
                if (*c == '%' || *c == '_' || *c == '\\')
                  g_string_append_c (pattern, '\\');
                g_string_append_c (pattern, *c);
              }
            g_string_append_c (pattern, '%');
            g_ptr_array_add (terms->likes, g_string_free (pattern, FALSE));
          }
          break;
        }
    }
}

typedef enum {
  SELECT_COUNT,
  SELECT_IDS,
  SELECT_RECORDS,
} SelectWhat;

static gboolean
has_filters (const QueryData *query, const SearchTerms *terms)
{
  return query->favourites_only || query->model_name != NULL || query->from_us != 0
         || query->until_us != 0 || terms->likes->len > 0;
}

static sqlite3_stmt *
prepare_query (HbHistoryStore    *self,
               const QueryData   *query,
               const SearchTerms *terms,
               SelectWhat         what,
               gboolean           ranked,
               GError           **error)
{
  g_autoptr(GString) sql = g_string_new ("SELECT ");
  gboolean trigrams = terms->trigrams->len > 0, words = terms->words->len > 0;
  const char *source = words ? "generations_words" : trigrams ? "generations_fts" : NULL;
  /* The full-text indexes hold live rows only: without filters, ids and
   * counts need not read a single row. */
  gboolean join = source == NULL || what == SELECT_RECORDS || has_filters (query, terms);
  sqlite3_stmt *stmt;

  if (what == SELECT_COUNT)
    g_string_append (sql, "count(*)");
  else if (what == SELECT_RECORDS)
    g_string_append (sql, RECORD_COLUMNS);
  else
    g_string_append_printf (sql, "%s", join ? "g.id" : "rowid");

  if (source == NULL)
    g_string_append (sql, " FROM generations g WHERE g.trashed = 0");
  else if (join)
    g_string_append_printf (sql, " FROM %s JOIN generations g ON g.id = %s.rowid WHERE %s MATCH :%s",
                            source, source, source, words ? "words" : "trigrams");
  else
    g_string_append_printf (sql, " FROM %s WHERE %s MATCH :%s", source, source,
                            words ? "words" : "trigrams");
  /* The unary + keeps SQLite from handing the rowids to the word index one
   * at a time, which would rerun its query for each. */
  if (words && trigrams)
    g_string_append (sql, " AND +generations_words.rowid IN (SELECT rowid FROM generations_fts"
                          " WHERE generations_fts MATCH :trigrams)");
  if (query->favourites_only)
    g_string_append (sql, " AND g.favourite = 1");
  if (query->model_name != NULL)
    g_string_append (sql, " AND g.model_name = :model");
  if (query->from_us != 0)
    g_string_append (sql, " AND g.created >= :from");
  if (query->until_us != 0)
    g_string_append (sql, " AND g.created < :until");
  for (guint i = 0; i < terms->likes->len; i++)
    g_string_append_printf (sql, " AND (g.prompt LIKE :like%u ESCAPE '\\'"
                                 " OR g.negative_prompt LIKE :like%u ESCAPE '\\')", i, i);
  if (what != SELECT_COUNT)
    {
      if (source == NULL)
        g_string_append (sql, " ORDER BY g.created DESC, g.id DESC");
      else if (ranked)
        g_string_append_printf (sql, " ORDER BY %s.rank, %s.rowid DESC", source, source);
      else
        g_string_append_printf (sql, " ORDER BY %s.rowid DESC", source);
    }
  if (what == SELECT_RECORDS)
    g_string_append (sql, " LIMIT :limit OFFSET :offset");

  stmt = prepare (self, sql->str, error);
  if (stmt == NULL)
    return NULL;
  if (trigrams)
    bind_text (stmt, ":trigrams", terms->trigrams->str);
  if (words)
    bind_text (stmt, ":words", terms->words->str);
  if (query->model_name != NULL)
    bind_text (stmt, ":model", query->model_name);
  if (query->from_us != 0)
    bind_int64 (stmt, ":from", query->from_us);
  if (query->until_us != 0)
    bind_int64 (stmt, ":until", query->until_us);
  for (guint i = 0; i < terms->likes->len; i++)
    {
      g_autofree char *name = g_strdup_printf (":like%u", i);

      bind_text (stmt, name, g_ptr_array_index (terms->likes, i));
    }
  if (what == SELECT_RECORDS)
    {
      bind_int64 (stmt, ":limit", query->limit);
      bind_int64 (stmt, ":offset", query->offset);
    }
  return stmt;
}

static gboolean
count_matches (HbHistoryStore    *self,
               const QueryData   *query,
               const SearchTerms *terms,
               guint             *count,
               GError           **error)
{
  sqlite3_stmt *stmt = prepare_query (self, query, terms, SELECT_COUNT, FALSE, error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      set_db_error (self, error);
      sqlite3_reset (stmt);
      return FALSE;
    }
  *count = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return TRUE;
}

/* Text searches with few enough matches are ranked. */
static gboolean
should_rank (HbHistoryStore *self, const QueryData *query, const SearchTerms *terms,
             gboolean *ranked, GError **error)
{
  guint total;

  *ranked = FALSE;
  if (terms->words->len == 0 && terms->trigrams->len == 0)
    return TRUE;
  if (!count_matches (self, query, terms, &total, error))
    return FALSE;
  *ranked = total <= RANK_LIMIT;
  return TRUE;
}

static gpointer
query_job (HbHistoryStore *self, gpointer data, GError **error)
{
  const QueryData *query = data;
  g_auto(SearchTerms) terms = { NULL };
  g_autoptr(GPtrArray) records = NULL;
  gboolean ranked;
  sqlite3_stmt *stmt;
  int rc;

  split_search_text (query->text, &terms);
  if (!should_rank (self, query, &terms, &ranked, error))
    return NULL;
  stmt = prepare_query (self, query, &terms, SELECT_RECORDS, ranked, error);
  if (stmt == NULL)
    return NULL;
  records = g_ptr_array_new_with_free_func ((GDestroyNotify) hb_generation_record_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (records, record_from_row (stmt));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, error);
      return NULL;
    }
  return g_steal_pointer (&records);
}

static gpointer
query_ids_job (HbHistoryStore *self, gpointer data, GError **error)
{
  const QueryData *query = data;
  g_auto(SearchTerms) terms = { NULL };
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  gboolean ranked;
  sqlite3_stmt *stmt;
  int rc;

  split_search_text (query->text, &terms);
  if (!should_rank (self, query, &terms, &ranked, error))
    return NULL;
  stmt = prepare_query (self, query, &terms, SELECT_IDS, ranked, error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (ids, id);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, error);
      return NULL;
    }
  return g_steal_pointer (&ids);
}

static gpointer
count_job (HbHistoryStore *self, gpointer data, GError **error)
{
  g_auto(SearchTerms) terms = { NULL };
  guint count;

  split_search_text (((QueryData *) data)->text, &terms);
  if (!count_matches (self, data, &terms, &count, error))
    return NULL;
  return g_memdup2 (&count, sizeof count);
}

static gpointer
get_many_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *list = data;
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) hb_generation_record_free);

  for (guint i = 0; i < list->n_ids; i++)
    {
      g_autoptr(GError) local_error = NULL;
      HbGenerationRecord *record = get_job (self, &list->ids[i], &local_error);

      /* A row deleted meanwhile (by another process) leaves a hole that
       * the caller sees as a missing id, not as a failure. */
      if (record != NULL)
        g_ptr_array_add (records, record);
      else if (!g_error_matches (local_error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
  return g_steal_pointer (&records);
}

static gpointer
thumbnail_job (HbHistoryStore *self, gpointer data, GError **error)
{
  gint64 id = *(gint64 *) data;
  sqlite3_stmt *stmt = prepare (self, "SELECT png FROM thumbnails WHERE id = :id", error);
  GBytes *bytes = NULL;

  if (stmt == NULL)
    return NULL;
  bind_int64 (stmt, ":id", id);
  if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_type (stmt, 0) == SQLITE_BLOB)
    bytes = g_bytes_new (sqlite3_column_blob (stmt, 0), sqlite3_column_bytes (stmt, 0));
  else
    g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NOT_FOUND,
                 _("Generation %" PRId64 " has no thumbnail."), id);
  sqlite3_reset (stmt);
  return bytes;
}

static gboolean
update_ids (HbHistoryStore *self, const char *sql, const gint64 *ids, guint n_ids,
            gint64 value, GError **error)
{
  gboolean ok = TRUE;

  if (!exec_sql (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  for (guint i = 0; i < n_ids && ok; i++)
    {
      sqlite3_stmt *stmt = prepare (self, sql, error);
      int value_index;

      if (stmt == NULL)
        {
          ok = FALSE;
          break;
        }
      bind_int64 (stmt, ":id", ids[i]);
      value_index = sqlite3_bind_parameter_index (stmt, ":value");
      if (value_index > 0)
        sqlite3_bind_int64 (stmt, value_index, value);
      ok = step_done (self, stmt, error);
    }
  if (!ok)
    {
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return exec_sql (self, "COMMIT", error);
}

static gpointer
set_favourite_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *ids = data;

  if (!update_ids (self, "UPDATE generations SET favourite = :value WHERE id = :id",
                   ids->ids, ids->n_ids, ids->flag, error))
    return NULL;
  return GINT_TO_POINTER (TRUE);
}

static gpointer
set_trashed_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *ids = data;

  if (!update_ids (self, "UPDATE generations SET trashed = :value WHERE id = :id",
                   ids->ids, ids->n_ids, ids->flag, error))
    return NULL;
  return GINT_TO_POINTER (TRUE);
}

static gboolean
remove_file (HbHistoryStore *self, const char *relative, GError **error)
{
  g_autofree char *path = NULL;

  if (relative == NULL)
    return TRUE;
  path = g_build_filename (self->folder, relative, NULL);
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved_errno = errno;

      g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_FILES,
                   _("Cannot delete “%s”: %s. Check the file's permissions; the "
                     "picture stays in the history until it can be deleted."),
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

/* Files first, then the row: see the top of this file. ids NULL: all
 * trashed rows. */
static gboolean
purge_trashed (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  g_autoptr(GArray) doomed = g_array_new (FALSE, FALSE, sizeof (gint64));
  sqlite3_stmt *stmt;
  int rc;

  stmt = prepare (self, "SELECT id, image_path, sketch_path, mask_path FROM generations"
                        " WHERE trashed = 1", error);
  if (stmt == NULL)
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      gboolean wanted = ids == NULL;

      for (guint i = 0; i < n_ids && !wanted; i++)
        wanted = ids[i] == id;
      if (!wanted)
        continue;
      if (!remove_file (self, (const char *) sqlite3_column_text (stmt, 1), error)
          || !remove_file (self, (const char *) sqlite3_column_text (stmt, 2), error)
          || !remove_file (self, (const char *) sqlite3_column_text (stmt, 3), error))
        {
          sqlite3_reset (stmt);
          return FALSE;
        }
      g_array_append_val (doomed, id);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return set_db_error (self, error);
  if (doomed->len == 0)
    return TRUE;

  return update_ids (self, "UPDATE generations SET parent_id = NULL WHERE parent_id = :id",
                     (gint64 *) doomed->data, doomed->len, 0, error)
         && update_ids (self, "DELETE FROM generations WHERE id = :id",
                        (gint64 *) doomed->data, doomed->len, 0, error);
}

static gpointer
purge_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *ids = data;

  if (!purge_trashed (self, ids ? ids->ids : NULL, ids ? ids->n_ids : 0, error))
    return NULL;
  return GINT_TO_POINTER (TRUE);
}

static gpointer
delete_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *ids = data;

  if (!set_trashed_job (self, data, error))
    return NULL;
  return purge_job (self, ids, error);
}

static gpointer
export_job (HbHistoryStore *self, gpointer data, GError **error)
{
  IdsData *ids = data;

  if (!make_folder (ids->folder, error))
    return NULL;
  for (guint i = 0; i < ids->n_ids; i++)
    {
      g_autofree char *relative = lookup_image_path (self, ids->ids[i], error);
      g_autofree char *source_path = NULL;
      g_autofree char *name = NULL;
      g_autoptr(GFile) source = NULL;
      g_autoptr(GFile) target = NULL;

      if (relative == NULL)
        {
          if (error == NULL || *error == NULL)
            g_set_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NOT_FOUND,
                         _("There is no generation %" PRId64 " in the history."),
                         ids->ids[i]);
          return NULL;
        }
      source_path = g_build_filename (self->folder, relative, NULL);
      name = g_path_get_basename (relative);
      source = g_file_new_for_path (source_path);
      target = g_file_new_build_filename (ids->folder, name, NULL);
      if (!g_file_copy (source, target, G_FILE_COPY_NONE, NULL, NULL, NULL, error))
        {
          g_prefix_error (error, _("Exporting “%s”: "), name);
          return NULL;
        }
    }
  return GINT_TO_POINTER (TRUE);
}

static gpointer
list_models_job (HbHistoryStore *self, gpointer data, GError **error)
{
  sqlite3_stmt *stmt = prepare (self, "SELECT DISTINCT model_name FROM generations"
                                      " WHERE model_name IS NOT NULL AND trashed = 0"
                                      " ORDER BY model_name", error);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_strv_builder_add (builder, (const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, error);
      return NULL;
    }
  return g_strv_builder_end (builder);
}

static gpointer
rebuild_job (HbHistoryStore *self, gpointer data, GError **error)
{
  g_autoptr(GPtrArray) favourites = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt;
  guint n_failed;
  int added, rc;

  if (!purge_trashed (self, NULL, 0, error))
    return NULL;
  stmt = prepare (self, "SELECT image_path FROM generations WHERE favourite = 1", error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (favourites, column_strdup (stmt, 0));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE || !exec_sql (self, "DELETE FROM generations", error))
    {
      if (rc != SQLITE_DONE)
        set_db_error (self, error);
      return NULL;
    }

  added = reconcile (self, &n_failed, error);
  if (added < 0)
    return NULL;
  for (guint i = 0; i < favourites->len; i++)
    {
      stmt = prepare (self, "UPDATE generations SET favourite = 1 WHERE image_path = :path", error);
      if (stmt == NULL)
        return NULL;
      bind_text (stmt, ":path", g_ptr_array_index (favourites, i));
      if (!step_done (self, stmt, error))
        return NULL;
    }
  return g_memdup2 (&added, sizeof added);
}

/* ---- GObject ------------------------------------------------------------ */

static void
hb_history_store_dispose (GObject *object)
{
  HbHistoryStore *self = HB_HISTORY_STORE (object);

  if (self->thread != NULL)
    {
      Request *stop = g_new0 (Request, 1);

      g_async_queue_push (self->queue, stop);
      g_thread_join (self->thread);
      self->thread = NULL;
    }
  G_OBJECT_CLASS (hb_history_store_parent_class)->dispose (object);
}

static void
hb_history_store_finalize (GObject *object)
{
  HbHistoryStore *self = HB_HISTORY_STORE (object);

  g_hash_table_unref (self->statements);
  g_async_queue_unref (self->queue);
  g_main_context_unref (self->context);
  g_free (self->folder);
  g_free (self->notice);
  G_OBJECT_CLASS (hb_history_store_parent_class)->finalize (object);
}

static void
hb_history_store_class_init (HbHistoryStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hb_history_store_dispose;
  object_class->finalize = hb_history_store_finalize;

  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
hb_history_store_init (HbHistoryStore *self)
{
  self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) sqlite3_finalize);
  self->queue = g_async_queue_new ();
  self->context = g_main_context_ref_thread_default ();
}

/* ---- public API --------------------------------------------------------- */

HbHistoryStore *
hb_history_store_open (const char *folder, GError **error)
{
  g_autoptr(HbHistoryStore) self = g_object_new (HB_TYPE_HISTORY_STORE, NULL);

  self->folder = folder ? g_strdup (folder)
                        : g_build_filename (g_get_user_data_dir (), "huabu", NULL);
  self->thread = g_thread_new ("hb-history", worker_main, self);
  if (run_sync (self, open_job, NULL, FALSE, error) == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

const char *
hb_history_store_get_folder (HbHistoryStore *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  return self->folder;
}

const char *
hb_history_store_get_notice (HbHistoryStore *self)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  return self->notice;
}

char *
hb_history_store_resolve_path (HbHistoryStore *self, const char *path)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  if (path == NULL)
    return NULL;
  if (g_path_is_absolute (path))
    return g_strdup (path);
  return g_build_filename (self->folder, path, NULL);
}

static AddData *
add_data_new (const HbGenerationRecord *record, const HbImage *image,
              const HbImage *sketch, const HbImage *mask)
{
  AddData *add = g_new0 (AddData, 1);

  add->record = hb_generation_record_copy (record);
  add->image = hb_image_copy (image);
  add->sketch = sketch ? hb_image_copy (sketch) : NULL;
  add->mask = mask ? hb_image_copy (mask) : NULL;
  return add;
}

gint64
hb_history_store_add (HbHistoryStore     *self,
                      HbGenerationRecord *record,
                      const HbImage      *image,
                      const HbImage      *sketch,
                      const HbImage      *mask,
                      GError            **error)
{
  AddData *add;
  g_autoptr(HbGenerationRecord) stored = NULL;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), 0);
  g_return_val_if_fail (record != NULL && image != NULL, 0);

  add = add_data_new (record, image, sketch, mask);
  stored = run_sync (self, add_job, add, TRUE, error);
  add_data_free (add);
  if (stored == NULL)
    return 0;
  record->id = stored->id;
  record->created_us = stored->created_us;
  g_free (record->image_path);
  record->image_path = g_strdup (stored->image_path);
  g_free (record->sketch_path);
  record->sketch_path = g_strdup (stored->sketch_path);
  g_free (record->mask_path);
  record->mask_path = g_strdup (stored->mask_path);
  g_free (record->parent_path);
  record->parent_path = g_strdup (stored->parent_path);
  return stored->id;
}

HbGenerationRecord *
hb_history_store_get (HbHistoryStore *self, gint64 id, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  return run_sync (self, get_job, &id, FALSE, error);
}

GPtrArray *
hb_history_store_query (HbHistoryStore       *self,
                        const HbHistoryQuery *query,
                        guint                 offset,
                        guint                 limit,
                        GError              **error)
{
  QueryData *data;
  GPtrArray *records;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  data = query_data_new (query, offset, limit);
  records = run_sync (self, query_job, data, FALSE, error);
  query_data_free (data);
  return records;
}

GArray *
hb_history_store_query_ids (HbHistoryStore       *self,
                            const HbHistoryQuery *query,
                            GError              **error)
{
  QueryData *data;
  GArray *ids;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  data = query_data_new (query, 0, 0);
  ids = run_sync (self, query_ids_job, data, FALSE, error);
  query_data_free (data);
  return ids;
}

GPtrArray *
hb_history_store_get_many (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  IdsData *data;
  GPtrArray *records;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  data = ids_data_new (ids, n_ids, FALSE, NULL);
  records = run_sync (self, get_many_job, data, FALSE, error);
  ids_data_free (data);
  return records;
}

gboolean
hb_history_store_count (HbHistoryStore       *self,
                        const HbHistoryQuery *query,
                        guint                *count,
                        GError              **error)
{
  QueryData *data;
  g_autofree guint *result = NULL;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  data = query_data_new (query, 0, 0);
  result = run_sync (self, count_job, data, FALSE, error);
  query_data_free (data);
  if (result == NULL)
    return FALSE;
  *count = *result;
  return TRUE;
}

GBytes *
hb_history_store_get_thumbnail (HbHistoryStore *self, gint64 id, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  return run_sync (self, thumbnail_job, &id, FALSE, error);
}

static gboolean
run_ids_sync (HbHistoryStore *self, HbStoreJob job, const gint64 *ids, guint n_ids,
              gboolean flag, const char *folder, gboolean mutates, GError **error)
{
  IdsData *data = ids_data_new (ids, n_ids, flag, folder);
  gboolean ok = run_sync (self, job, data, mutates, error) != NULL;

  ids_data_free (data);
  return ok;
}

gboolean
hb_history_store_set_favourite (HbHistoryStore *self, gint64 id, gboolean favourite,
                                GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  return run_ids_sync (self, set_favourite_job, &id, 1, favourite, NULL, TRUE, error);
}

GStrv
hb_history_store_list_models (HbHistoryStore *self, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), NULL);
  return run_sync (self, list_models_job, NULL, FALSE, error);
}

gboolean
hb_history_store_trash (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  return run_ids_sync (self, set_trashed_job, ids, n_ids, TRUE, NULL, TRUE, error);
}

gboolean
hb_history_store_restore (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  return run_ids_sync (self, set_trashed_job, ids, n_ids, FALSE, NULL, TRUE, error);
}

gboolean
hb_history_store_purge (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  if (ids == NULL)
    return run_sync (self, purge_job, NULL, TRUE, error) != NULL;
  return run_ids_sync (self, purge_job, ids, n_ids, FALSE, NULL, TRUE, error);
}

gboolean
hb_history_store_delete (HbHistoryStore *self, const gint64 *ids, guint n_ids, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  return run_ids_sync (self, delete_job, ids, n_ids, TRUE, NULL, TRUE, error);
}

gboolean
hb_history_store_export (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                         const char *folder, GError **error)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), FALSE);
  return run_ids_sync (self, export_job, ids, n_ids, FALSE, folder, FALSE, error);
}

int
hb_history_store_rebuild (HbHistoryStore *self, GError **error)
{
  g_autofree int *added = NULL;

  g_return_val_if_fail (HB_IS_HISTORY_STORE (self), -1);
  added = run_sync (self, rebuild_job, NULL, TRUE, error);
  return added ? *added : -1;
}

/* ---- asynchronous API --------------------------------------------------- */

void
hb_history_store_add_async (HbHistoryStore           *self,
                            const HbGenerationRecord *record,
                            const HbImage            *image,
                            const HbImage            *sketch,
                            const HbImage            *mask,
                            GCancellable             *cancellable,
                            GAsyncReadyCallback       callback,
                            gpointer                  user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_async (self, add_job, add_data_new (record, image, sketch, mask), add_data_free,
             (GDestroyNotify) hb_generation_record_free, TRUE, hb_history_store_add_async,
             cancellable, callback, user_data);
}

HbGenerationRecord *
hb_history_store_add_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
hb_history_store_query_async (HbHistoryStore       *self,
                              const HbHistoryQuery *query,
                              guint                 offset,
                              guint                 limit,
                              GCancellable         *cancellable,
                              GAsyncReadyCallback   callback,
                              gpointer              user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_async (self, query_job, query_data_new (query, offset, limit), query_data_free,
             (GDestroyNotify) g_ptr_array_unref, FALSE, hb_history_store_query_async,
             cancellable, callback, user_data);
}

GPtrArray *
hb_history_store_query_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
hb_history_store_query_ids_async (HbHistoryStore       *self,
                                  const HbHistoryQuery *query,
                                  GCancellable         *cancellable,
                                  GAsyncReadyCallback   callback,
                                  gpointer              user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_async (self, query_ids_job, query_data_new (query, 0, 0), query_data_free,
             (GDestroyNotify) g_array_unref, FALSE, hb_history_store_query_ids_async,
             cancellable, callback, user_data);
}

GArray *
hb_history_store_query_ids_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
hb_history_store_get_many_async (HbHistoryStore      *self,
                                 const gint64        *ids,
                                 guint                n_ids,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_async (self, get_many_job, ids_data_new (ids, n_ids, FALSE, NULL), ids_data_free,
             (GDestroyNotify) g_ptr_array_unref, FALSE, hb_history_store_get_many_async,
             cancellable, callback, user_data);
}

GPtrArray *
hb_history_store_get_many_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
hb_history_store_get_thumbnail_async (HbHistoryStore      *self,
                                      gint64               id,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_async (self, thumbnail_job, g_memdup2 (&id, sizeof id), g_free,
             (GDestroyNotify) g_bytes_unref, FALSE, hb_history_store_get_thumbnail_async,
             cancellable, callback, user_data);
}

GBytes *
hb_history_store_get_thumbnail_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
run_ids_async (HbHistoryStore *self, HbStoreJob job, const gint64 *ids, guint n_ids,
               gboolean flag, const char *folder, gboolean mutates,
               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  run_async (self, job, ids_data_new (ids, n_ids, flag, folder), ids_data_free, NULL,
             mutates, hb_history_store_finish, cancellable, callback, user_data);
}

void
hb_history_store_trash_async (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_ids_async (self, set_trashed_job, ids, n_ids, TRUE, NULL, TRUE,
                 cancellable, callback, user_data);
}

void
hb_history_store_restore_async (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_ids_async (self, set_trashed_job, ids, n_ids, FALSE, NULL, TRUE,
                 cancellable, callback, user_data);
}

void
hb_history_store_purge_async (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  if (ids == NULL)
    run_async (self, purge_job, NULL, NULL, NULL, TRUE, hb_history_store_finish,
               cancellable, callback, user_data);
  else
    run_ids_async (self, purge_job, ids, n_ids, FALSE, NULL, TRUE, cancellable, callback, user_data);
}

void
hb_history_store_set_favourite_async (HbHistoryStore *self, gint64 id, gboolean favourite,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_ids_async (self, set_favourite_job, &id, 1, favourite, NULL, TRUE,
                 cancellable, callback, user_data);
}

void
hb_history_store_export_async (HbHistoryStore *self, const gint64 *ids, guint n_ids,
                               const char *folder, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HB_IS_HISTORY_STORE (self));
  run_ids_async (self, export_job, ids, n_ids, FALSE, folder, FALSE,
                 cancellable, callback, user_data);
}

gboolean
hb_history_store_finish (HbHistoryStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_pointer (G_TASK (result), error) != NULL;
}
