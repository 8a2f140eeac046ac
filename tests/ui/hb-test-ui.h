/* hb-test-ui.h — helpers for tests that drive a real window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "hb-application.h"
#include "hb-window.h"

G_BEGIN_DECLS

typedef gboolean (*HbTestCondition) (gpointer data);

/* g_test_init and gtk_init, with the history in a fresh temporary folder
 * (not G_TEST_OPTION_ISOLATE_DIRS: GTK needs the system's icons). */
void           hb_test_init           (int            *argc,
                                       char         ***argv);

/* Runs the main loop until condition holds or timeout_s passes; returns
 * whether it held. */
gboolean       hb_test_wait_for       (HbTestCondition condition,
                                       gpointer        data,
                                       double          timeout_s);
/* Runs the main loop for a while so layout and drawing catch up. */
void           hb_test_settle         (double          seconds);
typedef void (*HbTestAppFunc) (HbApplication *app,
                               gpointer       data);

/* Runs the application as main() does (not unique) and calls func once
 * its window is on screen; closes the window after it. */
void           hb_test_run_app        (HbTestAppFunc   func,
                                       gpointer        data);
HbWindow      *hb_test_app_get_window (HbApplication  *app);
/* Renders widget as it is on screen to $HB_TEST_OUTPUT/name.png. */
void           hb_test_reset_settings (GSettings      *settings);
void           hb_test_screenshot     (GtkWidget      *widget,
                                       const char     *name);
/* The same for window with popover, one of its popups, drawn over it where
 * it is on screen (a popup is a surface of its own, outside the window's
 * rendering). */
void           hb_test_screenshot_with_popover (GtkWidget *window,
                                                GtkWidget *popover,
                                                const char *name);

G_END_DECLS
