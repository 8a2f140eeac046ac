/* test-i18n.c — the window speaks the language of the locale
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Run with LANGUAGE and LC_ALL set (tests/ui/meson.build runs it once for
 * zh_TW and once for zh_CN) and HB_TEST_LOCALEDIR naming the build tree's
 * compiled catalogues. Opens the window and its main menu, saves a
 * screenshot of both, and checks that the sidebar and the menu show the
 * translations, in glyphs the fonts have, and no English.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <gtk/gtk.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "hb-test-ui.h"
#include "hb-window-private.h"

typedef struct {
  const char *language;
  /* Shown in the sidebar and in the main menu, as the .po says them. */
  const char *sidebar[6];
  const char *menu[5];
  const char *menu_tooltip;
  /* Words of the other script: seeing one means the wrong catalogue. */
  const char *other_script[3];
} Expected;

static const Expected expected[] = {
  { "zh_TW",
    { "提示詞", "反向提示詞", "取樣器", "步數", "種子", "生成" },
    { "匯入圖片", "匯出為 PNG", "偏好設定", "鍵盤快速鍵", "關於畫布" },
    "主選單",
    { "提示词", "采样器", "种子" } },
  { "zh_CN",
    { "提示词", "反向提示词", "采样器", "步数", "种子", "生成" },
    { "导入图片", "导出为 PNG", "首选项", "键盘快捷键", "关于画布" },
    "主菜单",
    { "提示詞", "取樣器", "種子" } },
};

/* What the window shows when nothing is translated. */
static const char *english[] = {
  "Prompt", "Negative Prompt", "Sampler", "Steps", "Seed", "Generate",
  "Import Image…", "Preferences", "Keyboard Shortcuts", "About Huabu",
};

static const Expected *
expected_for_language (void)
{
  const char *language = g_getenv ("LANGUAGE");

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    if (g_strcmp0 (language, expected[i].language) == 0)
      return &expected[i];
  g_error ("LANGUAGE is “%s”; this test knows zh_TW and zh_CN.", language);
  return NULL;
}

/* Every label under widget (row titles, button labels and menu items are
 * labels too). Checks on the way that Pango found a glyph for every
 * character, so the screenshot shows text and not boxes. */
static void
collect_labels (GtkWidget *widget,
                GString   *texts)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_visible (widget))
    {
      const char *text = gtk_label_get_text (GTK_LABEL (widget));

      if (text[0] != '\0')
        {
          PangoLayout *layout = gtk_label_get_layout (GTK_LABEL (widget));

          g_string_append_printf (texts, "%s\n", text);
          if (pango_layout_get_unknown_glyphs_count (layout) != 0)
            g_error ("The fonts have no glyph for some of “%s”: install a CJK font "
                     "(fonts-noto-cjk, as .ci/setup does).", text);
        }
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_labels (child, texts);
}

static void
assert_shows (const char       *where,
              const GString    *texts,
              const char *const *wanted,
              guint             n_wanted)
{
  for (guint i = 0; i < n_wanted; i++)
    if (strstr (texts->str, wanted[i]) == NULL)
      g_error ("The %s does not show “%s”. It shows:\n%s", where, wanted[i], texts->str);
}

/* English label texts equal to a msgid (less its mnemonic) mean a string
 * that was not translated. */
static void
assert_no_english (const char    *where,
                   const GString *texts)
{
  g_auto(GStrv) lines = g_strsplit (texts->str, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    for (guint j = 0; j < G_N_ELEMENTS (english); j++)
      if (g_str_equal (lines[i], english[j]))
        g_error ("The %s shows the English “%s”.", where, lines[i]);
}

static GtkWidget *
find_primary_menu_button (GtkWidget *widget)
{
  if (GTK_IS_MENU_BUTTON (widget) && gtk_menu_button_get_primary (GTK_MENU_BUTTON (widget)))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_primary_menu_button (child);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
is_mapped (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data));
}

static void
check_window (HbApplication *app,
              gpointer       data)
{
  const Expected *want = data;
  HbWindow *window = hb_test_app_get_window (app);
  GtkWidget *sidebar = GTK_WIDGET (_hb_window_get_sidebar (window));
  g_autoptr(GString) sidebar_texts = g_string_new (NULL);
  g_autoptr(GString) menu_texts = g_string_new (NULL);
  g_autofree char *name = g_strconcat ("i18n-", want->language, NULL);
  GtkWidget *button;
  GtkPopover *popover;

  g_assert_true (gtk_widget_get_mapped (sidebar));
  collect_labels (sidebar, sidebar_texts);
  g_test_message ("sidebar:\n%s", sidebar_texts->str);
  assert_shows ("sidebar", sidebar_texts, want->sidebar, G_N_ELEMENTS (want->sidebar));
  for (guint i = 0; i < G_N_ELEMENTS (want->other_script); i++)
    g_assert_null (strstr (sidebar_texts->str, want->other_script[i]));
  assert_no_english ("sidebar", sidebar_texts);

  button = find_primary_menu_button (GTK_WIDGET (window));
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_widget_get_tooltip_text (button), ==, want->menu_tooltip);
  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (button));
  g_assert_nonnull (popover);
  g_assert_true (hb_test_wait_for (is_mapped, popover, 10));
  hb_test_settle (0.5);

  collect_labels (GTK_WIDGET (popover), menu_texts);
  g_test_message ("main menu:\n%s", menu_texts->str);
  assert_shows ("main menu", menu_texts, want->menu, G_N_ELEMENTS (want->menu));
  for (guint i = 0; i < G_N_ELEMENTS (want->other_script); i++)
    g_assert_null (strstr (menu_texts->str, want->other_script[i]));
  assert_no_english ("main menu", menu_texts);

  hb_test_screenshot_with_popover (GTK_WIDGET (window), GTK_WIDGET (popover), name);
  gtk_popover_popdown (popover);
  hb_test_settle (0.2);
}

static void
test_window_is_translated (void)
{
  hb_test_run_app (check_window, (gpointer) expected_for_language ());
}

int
main (int   argc,
      char *argv[])
{
  const char *localedir = g_getenv ("HB_TEST_LOCALEDIR");
  const char *lc_all = g_getenv ("LC_ALL");

  /* As main.c does, with the catalogues of the build tree in place of the
   * installed LOCALEDIR. */
  if (setlocale (LC_ALL, "") == NULL)
    {
      g_printerr ("The locale \"%s\" is not available: generate it with locale-gen (.ci/setup does).\n",
                  lc_all != NULL ? lc_all : "");
      return 1;
    }
  g_assert_nonnull (localedir);
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  hb_test_init (&argc, &argv);
  g_test_add_func ("/huabu/ui/i18n/window", test_window_is_translated);
  return g_test_run ();
}
