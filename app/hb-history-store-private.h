/* hb-history-store-private.h — what the tests need to see inside the store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* The schema's history: entry i takes user_version i to i + 1. Append
 * only; never edit or remove an entry, databases out there ran it. */
extern const char *const hb_history_migrations[];
extern const guint       hb_history_n_migrations;

/* The SQL functions the schema's triggers call; any connection that writes
 * to the database needs them. */
void hb_history_register_functions (sqlite3 *db);

G_END_DECLS
