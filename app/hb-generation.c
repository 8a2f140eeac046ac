/* hb-generation.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <sys/resource.h>

#include "hb-generation.h"

/* The engine thread runs this much nicer than the GUI. On a CPU device
 * (lavapipe) the driver's worker threads, which it starts from this
 * thread, inherit it: the window keeps drawing while every core computes. */
#define ENGINE_NICENESS 10

struct _HbGeneration
{
  GObject              parent_instance;

  /* Touched only by the worker while a run is in flight, and only on the
   * main thread otherwise: runs never overlap. */
  HbEngine            *engine;
  char                *engine_device;
  HbModel             *model;
  char                *model_path;

  /* main thread */
  GThreadPool         *pool;        /* one exclusive thread: the engine's */
  GMainContext        *context;
  GCancellable        *cancellable;
  HbGenerationRequest *pending;
  char                *device_name;
  char                *model_name;
  char                *model_hash;
  guint                run_id;
  gboolean             running;
  GCancellable        *warm_up;     /* a warm-up in flight, or NULL */
};

G_DEFINE_FINAL_TYPE (HbGeneration, hb_generation, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_RUNNING,
  N_PROPS
};

enum {
  STARTED,
  PROGRESS,
  IMAGE,
  FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* What the worker knows about the run in flight. */
typedef struct {
  HbGeneration        *self;        /* borrowed: the task holds a reference */
  HbGenerationRequest *request;
  GCancellable        *cancellable;
  guint                run_id;
  int                  image_index;
  gboolean             warm_up;     /* hb_generation_warm_up(): no messages */
} RunData;

/* One message from the worker to the main thread. */
typedef struct {
  HbGeneration        *self;
  guint                run_id;
  int                  image_index;
  int                  n_images;
  int                  step;
  int                  n_steps;
  guint64              seed;
  HbImage             *image;
  HbGenerationRequest *request;     /* borrowed; outlives the message */
  char                *device_name;
  char                *model_name;
  char                *model_hash;
} Message;

HbGenerationRequest *
hb_generation_request_new (void)
{
  HbGenerationRequest *request = g_new0 (HbGenerationRequest, 1);

  hb_generate_params_init (&request->params);
  request->batch_count = 1;
  return request;
}

void
hb_generation_request_free (HbGenerationRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->model_path);
  g_free (request->device);
  g_free (request->prompt);
  g_free (request->negative_prompt);
  hb_image_free (request->init);
  hb_image_free (request->mask);
  g_free (request);
}

void
hb_generation_request_seal (HbGenerationRequest *request)
{
  request->params.prompt = request->prompt != NULL ? request->prompt : "";
  request->params.negative_prompt = request->negative_prompt != NULL ? request->negative_prompt : "";
  request->params.init = request->init;
  request->params.mask = request->mask;
  request->batch_count = MAX (request->batch_count, 1);
}

static void
run_data_free (gpointer data)
{
  RunData *run = data;

  hb_generation_request_free (run->request);
  g_clear_object (&run->cancellable);
  g_free (run);
}

static void
message_free (gpointer data)
{
  Message *message = data;

  hb_image_free (message->image);
  g_free (message->device_name);
  g_free (message->model_name);
  g_free (message->model_hash);
  g_object_unref (message->self);
  g_free (message);
}

static Message *
message_new (RunData *run)
{
  Message *message = g_new0 (Message, 1);

  message->self = g_object_ref (run->self);
  message->run_id = run->run_id;
  message->image_index = run->image_index;
  message->n_images = run->request->batch_count;
  message->request = run->request;
  return message;
}

/* ---- main thread side of the messages -------------------------------- */

static gboolean
deliver_started (gpointer data)
{
  Message *message = data;
  HbGeneration *self = message->self;

  if (message->run_id != self->run_id)
    return G_SOURCE_REMOVE;

  g_free (self->device_name);
  self->device_name = g_steal_pointer (&message->device_name);
  g_free (self->model_name);
  self->model_name = g_steal_pointer (&message->model_name);
  g_free (self->model_hash);
  self->model_hash = g_steal_pointer (&message->model_hash);
  g_signal_emit (self, signals[STARTED], 0, message->n_images);
  return G_SOURCE_REMOVE;
}

static gboolean
deliver_progress (gpointer data)
{
  Message *message = data;

  if (message->run_id != message->self->run_id)
    return G_SOURCE_REMOVE;

  g_signal_emit (message->self, signals[PROGRESS], 0,
                 message->image_index, message->n_images,
                 message->step, message->n_steps, message->image);
  return G_SOURCE_REMOVE;
}

static gboolean
deliver_image (gpointer data)
{
  Message *message = data;

  if (message->run_id != message->self->run_id)
    return G_SOURCE_REMOVE;

  g_signal_emit (message->self, signals[IMAGE], 0,
                 message->image_index, message->n_images,
                 message->image, message->request, message->seed);
  return G_SOURCE_REMOVE;
}

static void
post (RunData     *run,
      GSourceFunc  deliver,
      Message     *message)
{
  g_main_context_invoke_full (run->self->context, G_PRIORITY_DEFAULT,
                              deliver, message, message_free);
}

/* ---- worker ---------------------------------------------------------- */

static gboolean
on_engine_progress (int             step,
                    int             n_steps,
                    float           sigma,
                    const HbImage  *preview,
                    gpointer        user_data)
{
  RunData *run = user_data;
  Message *message = message_new (run);

  message->step = step;
  message->n_steps = n_steps;
  message->image = preview != NULL ? hb_image_copy (preview) : NULL;
  post (run, deliver_progress, message);

  return !g_cancellable_is_cancelled (run->cancellable);
}

static gboolean
ensure_engine (HbGeneration *self,
               const char   *device,
               GError      **error)
{
  if (self->engine != NULL && g_strcmp0 (self->engine_device, device) == 0)
    return TRUE;

  /* The model's weights live on the old device: both go together. */
  g_clear_pointer (&self->model, hb_model_free);
  g_clear_pointer (&self->model_path, g_free);
  g_clear_pointer (&self->engine, hb_engine_free);
  g_clear_pointer (&self->engine_device, g_free);

  self->engine = hb_engine_new (device, error);
  if (self->engine == NULL)
    return FALSE;
  self->engine_device = g_strdup (device);
  return TRUE;
}

/* The model's path, or NULL with an error saying which file is missing:
 * checked before the engine starts, which takes much longer. */
static char *
resolve_model_path (const char  *requested_path,
                    GError     **error)
{
  g_autofree char *path = NULL;

  path = requested_path != NULL && requested_path[0] != '\0'
       ? g_strdup (requested_path)
       : hb_default_model_path ();

  if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("The model “%s” is missing. Choose another model in the sidebar, or add it again if it was moved."),
                   path != NULL ? path : _("built-in model"));
      return NULL;
    }
  return g_steal_pointer (&path);
}

static gboolean
ensure_model (HbGeneration  *self,
              char         **path,
              GError       **error)
{
  if (self->model != NULL && g_strcmp0 (self->model_path, *path) == 0)
    return TRUE;

  g_clear_pointer (&self->model, hb_model_free);
  g_clear_pointer (&self->model_path, g_free);

  self->model = hb_model_load (self->engine, *path, error);
  if (self->model == NULL)
    return FALSE;
  self->model_path = g_steal_pointer (path);
  return TRUE;
}

/* The engine on the request's device with the request's model loaded. */
static gboolean
ensure_ready (HbGeneration        *self,
              HbGenerationRequest *request,
              GError             **error)
{
  g_autofree char *model_path = NULL;

  return (model_path = resolve_model_path (request->model_path, error)) != NULL &&
         ensure_engine (self, request->device, error) &&
         ensure_model (self, &model_path, error);
}

static void
run_generation (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  HbGeneration *self = source_object;
  RunData *run = task_data;
  HbGenerationRequest *request = run->request;
  GError *error = NULL;
  Message *started;

  if (!ensure_ready (self, request, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  started = message_new (run);
  started->device_name = g_strdup (hb_engine_device_name (self->engine));
  started->model_name = g_strdup (hb_model_get_name (self->model));
  started->model_hash = g_strdup (hb_model_get_hash (self->model));
  post (run, deliver_started, started);

  for (run->image_index = 0; run->image_index < request->batch_count; run->image_index++)
    {
      HbGenerateParams params = request->params;
      Message *done;
      HbImage *image;

      params.seed = request->params.seed + (guint64) run->image_index;
      image = hb_engine_generate (self->engine, self->model, &params,
                                  on_engine_progress, run, cancellable, &error);
      if (image == NULL)
        {
          g_task_return_error (task, error);
          return;
        }

      done = message_new (run);
      done->image = image;
      done->seed = params.seed;
      post (run, deliver_image, done);
    }

  g_task_return_boolean (task, TRUE);
}

/* One step at the request's size, picture thrown away: lavapipe compiles a
 * pipeline at its first dispatch in each process (about 10 s for the
 * built-in model, 50 s with a cold Mesa cache), and this moves that out of
 * the user's first generation. */
static void
run_warm_up (GTask        *task,
             HbGeneration *self,
             RunData      *run,
             GCancellable *cancellable)
{
  HbGenerateParams params = run->request->params;
  GError *error = NULL;
  HbImage *image;

  if (!ensure_ready (self, run->request, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  params.steps = 1;
  params.init = NULL;
  params.mask = NULL;
  image = hb_engine_generate (self->engine, self->model, &params, NULL, NULL, cancellable, &error);
  if (image == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  hb_image_free (image);
  g_task_return_boolean (task, TRUE);
}

static void
run_job (gpointer data,
         gpointer user_data)
{
  g_autoptr(GTask) task = data;
  static GPrivate niced;

  if (g_private_get (&niced) == NULL)
    {
      /* On Linux, PRIO_PROCESS with 0 means the calling thread. */
      if (setpriority (PRIO_PROCESS, 0, ENGINE_NICENESS) != 0)
        g_debug ("could not lower the engine thread's priority: %s", g_strerror (errno));
      g_private_set (&niced, GINT_TO_POINTER (1));
    }

  if (((RunData *) g_task_get_task_data (task))->warm_up)
    run_warm_up (task, g_task_get_source_object (task), g_task_get_task_data (task),
                 g_task_get_cancellable (task));
  else
    run_generation (task, g_task_get_source_object (task), g_task_get_task_data (task),
                   g_task_get_cancellable (task));
}

static void start_run (HbGeneration        *self,
                       HbGenerationRequest *request);

static void
on_run_done (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  HbGeneration *self = HB_GENERATION (object);
  g_autoptr(GError) error = NULL;
  HbGenerationRequest *next;

  g_task_propagate_boolean (G_TASK (result), &error);
  if (error != NULL && g_error_matches (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_CANCELLED))
    {
      /* One word for cancelled, whichever layer noticed first. */
      g_clear_error (&error);
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled"));
    }

  g_clear_object (&self->cancellable);
  next = g_steal_pointer (&self->pending);
  if (next != NULL && error == NULL)
    {
      /* A newer request waited for this one: go straight on without ever
       * looking idle, so the button does not flicker in live mode. */
      g_signal_emit (self, signals[FINISHED], 0, NULL);
      start_run (self, next);
      return;
    }
  hb_generation_request_free (next);

  self->running = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  g_signal_emit (self, signals[FINISHED], 0, error);
}

/* Queues a task on the engine thread; takes the reference. */
static void
push_task (HbGeneration *self,
           GTask        *task)
{
  if (self->pool == NULL)
    {
      GError *error = NULL;

      /* Exclusive: the thread is ours alone, so its priority stays ours. */
      self->pool = g_thread_pool_new (run_job, NULL, 1, TRUE, &error);
      if (self->pool == NULL)
        {
          g_task_return_error (task, error);
          g_object_unref (task);
          return;
        }
    }
  g_thread_pool_push (self->pool, task, NULL);
}

static void
start_run (HbGeneration        *self,
           HbGenerationRequest *request)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *path = NULL;
  GError *error = NULL;
  RunData *run;

  self->cancellable = g_cancellable_new ();
  self->run_id++;

  run = g_new0 (RunData, 1);
  run->self = self;
  run->request = request;
  run->cancellable = g_object_ref (self->cancellable);
  run->run_id = self->run_id;

  task = g_task_new (self, self->cancellable, on_run_done, NULL);
  g_task_set_source_tag (task, start_run);
  g_task_set_name (task, "huabu generation");
  g_task_set_task_data (task, run, run_data_free);

  if (!self->running)
    {
      self->running = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
    }

  /* A missing model is reported at once, not after a warm-up that holds
   * the engine thread (the worker checks again). */
  if ((path = resolve_model_path (request->model_path, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  push_task (self, g_steal_pointer (&task));
}

void
hb_generation_submit (HbGeneration        *self,
                      HbGenerationRequest *request)
{
  g_return_if_fail (HB_IS_GENERATION (self));
  g_return_if_fail (request != NULL);

  hb_generation_request_seal (request);

  if (self->running)
    {
      hb_generation_request_free (self->pending);
      self->pending = request;
      return;
    }
  start_run (self, request);
}

static void
on_warm_up_done (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  HbGeneration *self = HB_GENERATION (object);
  g_autoptr(GError) error = NULL;

  /* A failure here is the next generation's to report, to the user. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_debug ("warm-up: %s", error->message);
  g_clear_object (&self->warm_up);
}

void
hb_generation_warm_up (HbGeneration        *self,
                       HbGenerationRequest *request)
{
  g_autoptr(GTask) task = NULL;
  RunData *run;

  g_return_if_fail (HB_IS_GENERATION (self));
  g_return_if_fail (request != NULL);

  hb_generation_request_seal (request);
  if (self->warm_up != NULL || self->running)
    {
      hb_generation_request_free (request);
      return;
    }
  self->warm_up = g_cancellable_new ();
  run = g_new0 (RunData, 1);
  run->self = self;
  run->request = request;
  run->cancellable = g_object_ref (self->warm_up);
  run->warm_up = TRUE;

  task = g_task_new (self, self->warm_up, on_warm_up_done, NULL);
  g_task_set_source_tag (task, hb_generation_warm_up);
  g_task_set_name (task, "huabu warm-up");
  g_task_set_task_data (task, run, run_data_free);
  push_task (self, g_steal_pointer (&task));
}

void
hb_generation_cancel (HbGeneration *self)
{
  g_return_if_fail (HB_IS_GENERATION (self));

  g_clear_pointer (&self->pending, hb_generation_request_free);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  if (self->warm_up != NULL)
    g_cancellable_cancel (self->warm_up);
}

gboolean
hb_generation_is_running (HbGeneration *self)
{
  g_return_val_if_fail (HB_IS_GENERATION (self), FALSE);
  return self->running;
}

gboolean
hb_generation_is_busy (HbGeneration *self)
{
  g_return_val_if_fail (HB_IS_GENERATION (self), FALSE);
  return self->running || self->warm_up != NULL;
}

const char *
hb_generation_get_device_name (HbGeneration *self)
{
  g_return_val_if_fail (HB_IS_GENERATION (self), NULL);
  return self->device_name;
}

const char *
hb_generation_get_model_name (HbGeneration *self)
{
  g_return_val_if_fail (HB_IS_GENERATION (self), NULL);
  return self->model_name;
}

const char *
hb_generation_get_model_hash (HbGeneration *self)
{
  g_return_val_if_fail (HB_IS_GENERATION (self), NULL);
  return self->model_hash;
}

static void
hb_generation_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  HbGeneration *self = HB_GENERATION (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_generation_finalize (GObject *object)
{
  HbGeneration *self = HB_GENERATION (object);

  /* A run holds a reference through its task, so nothing runs now. This
   * may be the engine thread dropping the last task: do not wait for it. */
  if (self->pool != NULL)
    g_thread_pool_free (self->pool, TRUE, FALSE);
  g_clear_pointer (&self->model, hb_model_free);
  g_clear_pointer (&self->model_path, g_free);
  g_clear_pointer (&self->engine, hb_engine_free);
  g_clear_pointer (&self->engine_device, g_free);
  g_clear_pointer (&self->pending, hb_generation_request_free);
  g_clear_pointer (&self->device_name, g_free);
  g_clear_pointer (&self->model_name, g_free);
  g_clear_pointer (&self->model_hash, g_free);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->warm_up);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (hb_generation_parent_class)->finalize (object);
}

static void
hb_generation_class_init (HbGenerationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hb_generation_finalize;
  object_class->get_property = hb_generation_get_property;

  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The engine and model are ready and sampling begins. */
  signals[STARTED] =
    g_signal_new ("started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  /* (image_index, n_images, step, n_steps, const HbImage *preview or NULL) */
  signals[PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 5,
                  G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_POINTER);
  /* (image_index, n_images, const HbImage *image,
   *  const HbGenerationRequest *request, guint64 seed) */
  signals[IMAGE] =
    g_signal_new ("image", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 5,
                  G_TYPE_INT, G_TYPE_INT, G_TYPE_POINTER, G_TYPE_POINTER, G_TYPE_UINT64);
  /* (const GError *error): NULL on success; G_IO_ERROR_CANCELLED when cancelled. */
  signals[FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
hb_generation_init (HbGeneration *self)
{
  self->context = g_main_context_ref_thread_default ();
}

HbGeneration *
hb_generation_new (void)
{
  return g_object_new (HB_TYPE_GENERATION, NULL);
}
