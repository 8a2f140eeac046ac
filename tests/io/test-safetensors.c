/* test-safetensors.c — the safetensors reader accepts good files and
 * explains what is wrong with bad ones
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <glib/gstdio.h>

#include "hb-safetensors.h"
#include "hb-backend.h"

/* A file made of an 8-byte length, the header text, and `data_len`
 * bytes 0, 1, 2, ... */
static GBytes *
make_file (const char *header, gsize data_len)
{
  gsize hlen = strlen (header);
  gsize size = 8 + hlen + data_len;
  guint8 *buf = g_malloc (size);

  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) hlen >> (8 * i));
  memcpy (buf + 8, header, hlen);
  for (gsize i = 0; i < data_len; i++)
    buf[8 + hlen + i] = (guint8) i;
  return g_bytes_new_take (buf, size);
}

static HbSafetensors *
open_bytes (GBytes *bytes, GError **error)
{
  return hb_safetensors_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                       "model.safetensors", error);
}

static void
expect_error (const char *header, gsize data_len, const char *const *words)
{
  g_autoptr(GBytes) bytes = make_file (header, data_len);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbSafetensors) st = open_bytes (bytes, &error);

  g_assert_null (st);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_assert_true (g_str_has_prefix (error->message, "model.safetensors: "));
  for (int i = 0; words[i] != NULL; i++)
    if (strstr (error->message, words[i]) == NULL)
      g_error ("message \"%s\" lacks \"%s\"", error->message, words[i]);
}

static void
test_good (void)
{
  /* Header length 7 + ... makes the data start unaligned on purpose. */
  const char *header =
    "{\"__metadata__\":{\"format\":\"pt\",\"modelspec.title\":\"画布\"},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[16,24]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[24,40]},"
    "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[40,44]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[44,44]}}";
  g_autoptr(GBytes) bytes = make_file (header, 44);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbSafetensors) st = open_bytes (bytes, &error);
  const guint8 *data = (const guint8 *) g_bytes_get_data (bytes, NULL) + 8 + strlen (header);
  const HbStTensor *t;

  g_assert_no_error (error);
  g_assert_nonnull (st);
  g_assert_cmpuint (hb_safetensors_n_tensors (st), ==, 5);
  g_assert_cmpstr (hb_safetensors_nth (st, 0)->name, ==, "b");
  g_assert_cmpstr (hb_safetensors_get_metadata (st, "format"), ==, "pt");
  g_assert_cmpstr (hb_safetensors_get_metadata (st, "modelspec.title"), ==, "画布");
  g_assert_null (hb_safetensors_get_metadata (st, "nope"));
  g_assert_null (hb_safetensors_find (st, "nope"));

  t = hb_safetensors_find (st, "a");
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, HB_ST_F32);
  g_assert_cmpint (t->ndim, ==, 1);
  g_assert_cmpint (t->shape[0], ==, 4);
  g_assert_true (t->data == data);
  g_assert_cmpuint (t->nbytes, ==, 16);

  t = hb_safetensors_find (st, "ids");
  g_assert_cmpint (t->dtype, ==, HB_ST_I64);
  g_assert_false (hb_st_dtype_is_float (t->dtype));
  g_assert_true (t->data == data + 24);
  g_assert_null (hb_st_tensor_convert (t, HB_DTYPE_F32, &error));
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_clear_error (&error);

  t = hb_safetensors_find (st, "empty");
  g_assert_cmpint (hb_st_tensor_nelements (t), ==, 0);
  g_assert_cmpuint (t->nbytes, ==, 0);
}

static void
test_convert (void)
{
  /* 1.0, -2.0, 0.5, 65504 as F32; the same as F16 and BF16 */
  const float f32[4] = { 1.0f, -2.0f, 0.5f, 65504.0f };
  const guint16 f16[4] = { 0x3c00, 0xc000, 0x3800, 0x7bff };
  const guint16 bf16[4] = { 0x3f80, 0xc000, 0x3f00, 0x477f };
  const char *header =
    "{\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"f16\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]},"
    "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
  g_autoptr(GBytes) bytes = make_file (header, 32);
  guint8 *buf = g_memdup2 (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  guint8 *data = buf + 8 + strlen (header);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbSafetensors) st = NULL;
  const char *names[] = { "f32", "f16", "bf16" };

  memcpy (data, f32, 16);
  memcpy (data + 16, f16, 8);
  memcpy (data + 24, bf16, 8);
  st = hb_safetensors_new_from_data (buf, g_bytes_get_size (bytes), "x.safetensors", &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const HbStTensor *t = hb_safetensors_find (st, names[i]);
      g_autofree float *as_f32 = hb_st_tensor_convert (t, HB_DTYPE_F32, &error);
      g_autofree guint16 *as_f16 = hb_st_tensor_convert (t, HB_DTYPE_F16, &error);

      g_assert_no_error (error);
      g_assert_cmpmem (as_f32, 12, f32, 12);
      g_assert_cmpmem (as_f16, 6, f16, 6);
      /* 65504 is not a BF16 value; it was stored as 65280 */
      g_assert_cmpfloat (as_f32[3], ==, i == 2 ? 65280.0f : 65504.0f);
      g_assert_cmpfloat (hb_f16_to_f32 (as_f16[3]), ==, i == 2 ? 65280.0f : 65504.0f);
    }
  g_free (buf);
}

static void
test_permute (void)
{
  /* [Cout=2, Cin=3, KH=1, KW=2] -> [2, 1, 2, 3] */
  const float src[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
  const float want[12] = { 0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11 };
  float dst[12];
  guint16 src16[12], dst16[12];

  hb_permute_oihw_to_ohwi (src, dst, sizeof (float), 2, 3, 1, 2);
  g_assert_cmpmem (dst, sizeof dst, want, sizeof want);
  for (int i = 0; i < 12; i++)
    src16[i] = hb_f32_to_f16 (src[i]);
  hb_permute_oihw_to_ohwi (src16, dst16, 2, 2, 3, 1, 2);
  for (int i = 0; i < 12; i++)
    g_assert_cmpfloat (hb_f16_to_f32 (dst16[i]), ==, want[i]);

  /* Data aligned and not (header padded with 0 to 3 spaces), F32 and F16
   * stored, F32 and F16 wanted: every path of the conversion. */
  for (int pad = 0; pad < 4; pad++)
    for (int stored16 = 0; stored16 < 2; stored16++)
      {
        g_autofree char *header = g_strdup_printf ("{\"w\":{\"dtype\":\"%s\",\"shape\":[2,3,1,2],"
                                                   "\"data_offsets\":[0,%d]}}%*s",
                                                   stored16 ? "F16" : "F32", stored16 ? 24 : 48,
                                                   pad, "");
        gsize nbytes = stored16 ? 24 : 48;
        g_autoptr(GBytes) bytes = make_file (header, nbytes);
        g_autofree guint8 *buf = g_memdup2 (g_bytes_get_data (bytes, NULL),
                                            g_bytes_get_size (bytes));
        g_autoptr(GError) error = NULL;
        g_autoptr(HbSafetensors) st = NULL;
        g_autofree float *conv = NULL;
        g_autofree guint16 *conv16 = NULL;

        memcpy (buf + g_bytes_get_size (bytes) - nbytes, stored16 ? (const void *) src16 : src,
                nbytes);
        st = hb_safetensors_new_from_data (buf, g_bytes_get_size (bytes), "x.safetensors", &error);
        g_assert_no_error (error);
        conv = hb_st_tensor_convert_conv (hb_safetensors_find (st, "w"), HB_DTYPE_F32, &error);
        g_assert_no_error (error);
        g_assert_cmpmem (conv, sizeof want, want, sizeof want);
        conv16 = hb_st_tensor_convert_conv (hb_safetensors_find (st, "w"), HB_DTYPE_F16, &error);
        g_assert_no_error (error);
        for (int i = 0; i < 12; i++)
          g_assert_cmpfloat (hb_f16_to_f32 (conv16[i]), ==, want[i]);
      }
}

static void
test_bad_headers (void)
{
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", 16,
                (const char *[]) { "not valid JSON", NULL });
  expect_error ("[1,2,3]", 0, (const char *[]) { "not an object", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                (const char *[]) { "'a'", "unknown dtype", "F8_E4M3", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16,
                (const char *[]) { "'a'", "24 bytes", "holds 16 bytes", "does not match", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24,
                (const char *[]) { "'a'", "'b'", "overlap", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}", 20,
                (const char *[]) { "'a'", "ends at byte 32", "only 20 bytes", "truncated", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 20,
                (const char *[]) { "'a'", "before", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
                (const char *[]) { "'a'", "shape", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", 16,
                (const char *[]) { "'a'", "shape", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                "\"data_offsets\":[0,16]}}", 16,
                (const char *[]) { "'a'", "large", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16,
                (const char *[]) { "'a'", "data_offsets", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16,
                (const char *[]) { "'a'", "[begin, end]", NULL });
  expect_error ("{\"__metadata__\":{\"x\":1}}", 0,
                (const char *[]) { "'x'", "not a string", NULL });
  expect_error ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                "\"data_offsets\":[0,4]}}", 4, (const char *[]) { "'a'", "9 dimensions", NULL });
}

static void
test_bad_lengths (void)
{
  static const guint8 short_file[5] = { 1, 2, 3, 4, 5 };
  guint8 huge[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}' };
  guint8 big[16] = { 0, 0, 0, 0x10 };
  g_autoptr(GError) error = NULL;
  HbSafetensors *st;

  st = hb_safetensors_new_from_data (short_file, sizeof short_file, "m.safetensors", &error);
  g_assert_null (st);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "truncated"));
  g_clear_error (&error);

  st = hb_safetensors_new_from_data (huge, sizeof huge, "m.safetensors", &error);
  g_assert_null (st);
  g_assert_nonnull (strstr (error->message, "header length"));
  g_assert_nonnull (strstr (error->message, "only 8 bytes"));
  g_clear_error (&error);

  /* 256 MiB claimed by a 16-byte file */
  st = hb_safetensors_new_from_data (big, sizeof big, "m.safetensors", &error);
  g_assert_null (st);
  g_assert_nonnull (strstr (error->message, "header length"));
  g_clear_error (&error);
}

static void
test_files (void)
{
  const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
  g_autoptr(GBytes) bytes = make_file (header, 16);
  g_autofree char *dir = g_dir_make_tmp ("hb-st-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  g_autoptr(GError) error = NULL;
  HbSafetensors *st;

  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
                                      (gssize) g_bytes_get_size (bytes), NULL));
  st = hb_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hb_safetensors_get_path (st), ==, path);
  g_assert_cmpuint (hb_safetensors_find (st, "a")->data[15], ==, 15);
  hb_safetensors_free (st);

  /* cut off in the middle of the data, as an interrupted download is */
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
                                      (gssize) g_bytes_get_size (bytes) - 4, NULL));
  st = hb_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "model.safetensors"));
  g_assert_nonnull (strstr (error->message, "truncated"));
  g_clear_error (&error);

  st = hb_safetensors_open (missing, &error);
  g_assert_null (st);
  g_assert_nonnull (strstr (error->message, "missing.safetensors"));
  g_clear_error (&error);

  g_unlink (path);
  g_rmdir (dir);
}

/* Every file the fuzzer kept must still go through without a crash, and
 * a refusal must come with a message. */
static void
test_corpus (void)
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");
  g_autofree char *dirname = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;
  guint n = 0;

  if (srcdir == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return;
    }
  dirname = g_build_filename (srcdir, "fuzz", "corpus-safetensors", NULL);
  dir = g_dir_open (dirname, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dirname, name, NULL);
      g_autoptr(GError) error = NULL;
      HbSafetensors *st = hb_safetensors_open (path, &error);

      if (st == NULL)
        {
          g_assert_nonnull (error);
          g_assert_cmpstr (error->message, !=, "");
        }
      else
        {
          for (guint i = 0; i < hb_safetensors_n_tensors (st); i++)
            {
              const HbStTensor *t = hb_safetensors_nth (st, i);

              g_assert_true (hb_safetensors_find (st, t->name) != NULL);
              g_assert_cmpuint (t->nbytes, ==,
                                hb_st_tensor_nelements (t) * hb_st_dtype_size (t->dtype));
            }
          hb_safetensors_free (st);
        }
      n++;
    }
  g_assert_cmpuint (n, >=, 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/safetensors/good", test_good);
  g_test_add_func ("/huabu/safetensors/convert", test_convert);
  g_test_add_func ("/huabu/safetensors/permute", test_permute);
  g_test_add_func ("/huabu/safetensors/bad-headers", test_bad_headers);
  g_test_add_func ("/huabu/safetensors/bad-lengths", test_bad_lengths);
  g_test_add_func ("/huabu/safetensors/files", test_files);
  g_test_add_func ("/huabu/safetensors/corpus", test_corpus);
  return g_test_run ();
}
