/* hb-history-store-private.h — what the tests need to see inside the store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The schema's history: entry i takes user_version i to i + 1. Append
 * only; never edit or remove an entry, databases out there ran it. */
extern const char *const hb_history_migrations[];
extern const guint       hb_history_n_migrations;

G_END_DECLS
