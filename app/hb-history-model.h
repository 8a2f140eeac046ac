/* hb-history-model.h — the history as a GListModel, loaded as it is shown
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The model holds the ids of every match of its query (newest first, or
 * best first for a search); items are made when a view asks for them and
 * their records arrive a page at a time from the store's worker, their
 * thumbnails one by one when a view binds them. No GTK here: huabu-cli
 * and the tests use it too.
 */
#pragma once

#include <gio/gio.h>
#include "hb-history-store.h"

G_BEGIN_DECLS

#define HB_TYPE_HISTORY_ITEM (hb_history_item_get_type ())
G_DECLARE_FINAL_TYPE (HbHistoryItem, hb_history_item, HB, HISTORY_ITEM, GObject)

gint64                    hb_history_item_get_id        (HbHistoryItem *self);
/* NULL until its page has loaded ("notify::record"). */
const HbGenerationRecord *hb_history_item_get_record    (HbHistoryItem *self);
/* A PNG; NULL until load_thumbnail() has finished ("notify::thumbnail"). */
GBytes                   *hb_history_item_get_thumbnail (HbHistoryItem *self);
/* Asks the store for the thumbnail once; later calls do nothing. */
void                      hb_history_item_load_thumbnail (HbHistoryItem *self);

#define HB_TYPE_HISTORY_MODEL (hb_history_model_get_type ())
G_DECLARE_FINAL_TYPE (HbHistoryModel, hb_history_model, HB, HISTORY_MODEL, GObject)

/* Starts with everything, newest first, and follows the store's changes. */
HbHistoryModel *hb_history_model_new        (HbHistoryStore       *store);
HbHistoryStore *hb_history_model_get_store  (HbHistoryModel       *self);
/* Runs the query on the worker; the model changes when it answers
 * ("notify::loading" goes FALSE). query is copied. */
void            hb_history_model_set_query  (HbHistoryModel       *self,
                                             const HbHistoryQuery *query);
gboolean        hb_history_model_get_loading (HbHistoryModel      *self);

G_END_DECLS
