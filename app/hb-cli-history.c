/* hb-cli-history.c — huabu-cli history list|search|show|export|rebuild
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hb-cli-history.h"
#include "hb-history-store.h"

#define DEFAULT_LIMIT 50

typedef struct {
  char     *folder;
  int       limit;
  int       offset;
  gboolean  favourites;
  char     *model;
} HistoryOptions;

static void
history_options_clear (HistoryOptions *options)
{
  g_free (options->folder);
  g_free (options->model);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HistoryOptions, history_options_clear)

static void
print_usage (FILE *out)
{
  fputs (_("Usage: huabu-cli history COMMAND [OPTIONS…]\n"
           "\n"
           "Commands:\n"
           "  list                 Newest generations first\n"
           "  search QUERY         Generations whose prompts contain all words of QUERY\n"
           "  show ID              All parameters and lineage of one generation\n"
           "  export DIR [QUERY]   Copy the pictures (with their metadata) into DIR\n"
           "  rebuild              Recreate the database from the pictures' own metadata\n"
           "\n"
           "Options: --folder DIR (default: the user data folder), --limit N, --offset N,\n"
           "         --favourites, --model NAME\n"), out);
}

static char *
format_time (gint64 created_us)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (created_us / G_USEC_PER_SEC);

  return when ? g_date_time_format (when, "%Y-%m-%d %H:%M") : g_strdup ("?");
}

/* One line per generation; the prompt is cut to keep it one line. */
static void
print_record_line (const HbGenerationRecord *record)
{
  g_autofree char *when = format_time (record->created_us);
  g_autofree char *prompt = g_strdup (record->prompt);
  g_autofree char *size = record->width > 0 ? g_strdup_printf ("%dx%d", record->width, record->height)
                                            : g_strdup ("?");
  char *newline;

  if ((newline = strchr (prompt, '\n')) != NULL)
    *newline = '\0';
  if (g_utf8_strlen (prompt, -1) > 60)
    {
      char *cut = g_utf8_offset_to_pointer (prompt, 59);

      strcpy (cut, "…");
    }
  printf ("%6" G_GINT64_FORMAT "  %s  %-9s %s %s\n", record->id, when, size,
          record->favourite ? "★" : " ", prompt);
}

static int
print_records (HbHistoryStore *store, const HbHistoryQuery *query, const HistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) records = NULL;
  guint total = 0;

  records = hb_history_store_query (store, query, options->offset, options->limit, &error);
  if (records == NULL || !hb_history_store_count (store, query, &total, &error))
    {
      g_printerr ("huabu-cli: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < records->len; i++)
    print_record_line (g_ptr_array_index (records, i));
  g_printerr (ngettext ("%u of %u generation shown.\n", "%u of %u generations shown.\n", total),
              records->len, total);
  return 0;
}

static void
print_path (HbHistoryStore *store, const char *label, const char *path)
{
  g_autofree char *full = hb_history_store_resolve_path (store, path);

  if (full != NULL)
    printf ("%s: %s\n", label, full);
}

static int
show (HbHistoryStore *store, const char *id_text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autofree char *parameters = NULL;
  g_autofree char *when = NULL;
  guint64 id;

  if (!g_ascii_string_to_unsigned (id_text, 10, 1, G_MAXINT64, &id, &error))
    {
      g_printerr (_("huabu-cli: “%s” is not a generation id; “huabu-cli history list” "
                    "shows them.\n"), id_text);
      return 2;
    }
  record = hb_history_store_get (store, (gint64) id, &error);
  if (record == NULL)
    {
      g_printerr ("huabu-cli: %s\n", error->message);
      return 1;
    }
  parameters = hb_generation_record_to_parameters (record);
  when = format_time (record->created_us);
  printf ("%s\n\n", parameters);
  printf (_("Created: %s\n"), when);
  if (record->duration_s >= 0)
    printf (_("Duration: %.1f s\n"), record->duration_s);
  printf (_("Favourite: %s\n"), record->favourite ? _("yes") : _("no"));
  print_path (store, _("Picture"), record->image_path);
  if (record->parent_id > 0)
    printf (_("Parent: %" PRId64 "\n"), record->parent_id);
  print_path (store, _("Sketch"), record->sketch_path);
  print_path (store, _("Mask"), record->mask_path);
  return 0;
}

static int
export_records (HbHistoryStore *store, const char *folder, const HbHistoryQuery *query)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) records = hb_history_store_query (store, query, 0, G_MAXINT, &error);
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));

  if (records == NULL)
    {
      g_printerr ("huabu-cli: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < records->len; i++)
    g_array_append_val (ids, ((HbGenerationRecord *) g_ptr_array_index (records, i))->id);
  if (!hb_history_store_export (store, (gint64 *) ids->data, ids->len, folder, &error))
    {
      g_printerr ("huabu-cli: %s\n", error->message);
      return 1;
    }
  g_printerr (ngettext ("%u picture exported to %s.\n", "%u pictures exported to %s.\n", ids->len),
              ids->len, folder);
  return 0;
}

int
hb_cli_history (int argc, char **argv)
{
  g_auto(HistoryOptions) options = { NULL, DEFAULT_LIMIT, 0, FALSE, NULL };
  GOptionEntry entries[] = {
    { "folder", 0, 0, G_OPTION_ARG_FILENAME, &options.folder,
      N_("History folder (default: $XDG_DATA_HOME/huabu)"), N_("DIR") },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &options.limit, N_("Show at most N"), "N" },
    { "offset", 0, 0, G_OPTION_ARG_INT, &options.offset, N_("Skip the first N"), "N" },
    { "favourites", 'f', 0, G_OPTION_ARG_NONE, &options.favourites, N_("Only favourites"), NULL },
    { "model", 'm', 0, G_OPTION_ARG_STRING, &options.model, N_("Only this model"), N_("NAME") },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (_("list|search QUERY|show ID|export DIR|rebuild"));
  g_autoptr(GError) error = NULL;
  g_autoptr(HbHistoryStore) store = NULL;
  HbHistoryQuery query = { NULL };
  const char *command;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("huabu-cli history: %s\n", error->message);
      return 2;
    }
  if (argc < 2)
    {
      print_usage (stderr);
      return 2;
    }
  command = argv[1];
  if (options.limit <= 0 || options.offset < 0)
    {
      g_printerr (_("huabu-cli history: --limit must be positive and --offset not negative.\n"));
      return 2;
    }
  if ((g_str_equal (command, "search") || g_str_equal (command, "show")
       || g_str_equal (command, "export")) && argc < 3)
    {
      g_printerr (_("huabu-cli history: “%s” needs an argument.\n\n"), command);
      print_usage (stderr);
      return 2;
    }
  if (!g_str_equal (command, "list") && !g_str_equal (command, "search")
      && !g_str_equal (command, "show") && !g_str_equal (command, "export")
      && !g_str_equal (command, "rebuild"))
    {
      g_printerr (_("huabu-cli history: unknown command “%s”.\n\n"), command);
      print_usage (stderr);
      return 2;
    }

  store = hb_history_store_open (options.folder, &error);
  if (store == NULL)
    {
      g_printerr ("huabu-cli: %s\n", error->message);
      return 1;
    }
  if (hb_history_store_get_notice (store) != NULL)
    g_printerr ("huabu-cli: %s\n", hb_history_store_get_notice (store));

  query.favourites_only = options.favourites;
  query.model_name = options.model;
  if (g_str_equal (command, "list"))
    return print_records (store, &query, &options);
  if (g_str_equal (command, "search"))
    {
      query.text = argv[2];
      return print_records (store, &query, &options);
    }
  if (g_str_equal (command, "show"))
    return show (store, argv[2]);
  if (g_str_equal (command, "export"))
    {
      query.text = argc > 3 ? argv[3] : NULL;
      return export_records (store, argv[2], &query);
    }

  {
    int n = hb_history_store_rebuild (store, &error);

    if (n < 0)
      {
        g_printerr ("huabu-cli: %s\n", error->message);
        return 1;
      }
    g_printerr (ngettext ("The history was rebuilt from %d picture.\n",
                          "The history was rebuilt from %d pictures.\n", n), n);
  }
  return 0;
}
