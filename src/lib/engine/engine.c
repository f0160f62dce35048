#include "lib/engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/image/builtin.h"
#include "lib/base/cloned_binary.h"
#include "lib/runtime/isolation.h"
#include "lib/runtime/container.h"
#include "lib/runtime/cgroup.h"
#include "lib/image/image.h"
#include "lib/image/layer.h"
#include "lib/image/reference.h"
#include "lib/runtime/state.h"
#include "lib/engine/volume.h"
#include "lib/engine/engine_net.h"
#include "lib/engine/records.h"
#include "lib/base/events.h"
#include "lib/base/utils.h"

/* -v NAME:/path and -v /path name volumes (created as needed, the second
   anonymous), as do the image's Volumes; they become binds of the
   volumes' directories.  SEEDS gets (data dir, path) pairs to fill from
   the image, ANON the anonymous volumes made. */
static int
resolve_volumes (struct berth_engine *e, json_t *image_config, json_t *in, json_t **out, json_t *seeds, json_t *anon,
                 berth_err_t *err)
{
  json_t *v, *iv = json_object_get (json_object_get (image_config, "config"), "Volumes");
  size_t i;
  const char *path;
  *out = json_array ();
  json_array_foreach (in, i, v)
  {
    cleanup_free char *copy = xstrdup (json_string_value (v) ?: "");
    char *colon = strchr (copy, ':');
    json_t *vol = NULL;
    const char *name = NULL, *target = copy, *mode = NULL;
    if (copy[0] == '/' && colon)
      {
        json_array_append (*out, v); /* a host path */
        continue;
      }
    if (colon)
      {
        *colon = '\0';
        name = copy;
        target = colon + 1;
        if ((colon = strchr ((char *)target, ':')))
          {
            *colon = '\0';
            mode = colon + 1;
          }
      }
    if (target[0] != '/')
      return berth_error (err, 0, "-v: \"%s\": the container path must be absolute", json_string_value (v));
    if (berth_volume_create (e->root, name, NULL, name == NULL, &vol, err) < 0)
      return -1;
    if (name == NULL)
      json_array_append (anon, json_object_get (vol, "Name"));
    json_array_append_new (*out, json_sprintf ("%s:%s%s%s", json_string_value (json_object_get (vol, "Mountpoint")),
                                               target, mode ? ":" : "", mode ? mode : ""));
    json_array_append_new (seeds, json_pack ("[O,s]", json_object_get (vol, "Mountpoint"), target));
    json_decref (vol);
  }
  json_object_foreach (iv, path, v)
  {
    bool covered = false;
    json_t *o, *vol = NULL;
    size_t k;
    json_array_foreach (*out, k, o)
    {
      const char *t = strchr (json_string_value (o), ':');
      size_t pl = strlen (path);
      covered |= t && strncmp (t + 1, path, pl) == 0 && (t[1 + pl] == '\0' || t[1 + pl] == ':');
    }
    if (covered || path[0] != '/')
      continue;
    if (berth_volume_create (e->root, NULL, NULL, true, &vol, err) < 0)
      return -1;
    json_array_append (anon, json_object_get (vol, "Name"));
    json_array_append_new (*out, json_sprintf ("%s:%s", json_string_value (json_object_get (vol, "Mountpoint")), path));
    json_array_append_new (seeds, json_pack ("[O,s]", json_object_get (vol, "Mountpoint"), path));
    json_decref (vol);
  }
  return 0;
}

const char *
berth_default_isolation (void)
{
  static char mode[16];
  cleanup_free char *conf = berth_config_string (NULL, "isolation");
  const char *v;
  berth_err_t e2 = NULL;
  /* A name no backend has is left to create's error. */
  if (conf && berth_isolation_find (conf, &e2))
    snprintf (mode, sizeof (mode), "%s", berth_isolation_find (conf, &e2)->name);
  berth_error_release (&e2);
  if (mode[0])
    return mode;
  v = getenv ("BERTH_ISOLATION");
  return v && *v ? v : "process";
}

int
berth_engine_cgroup_manager (const char **out, berth_err_t *err)
{
  cleanup_free char *conf = NULL;
  const char *v = getenv ("BERTH_CGROUP_MANAGER"), *from = "BERTH_CGROUP_MANAGER";
  if (v == NULL || v[0] == '\0')
    {
      conf = berth_config_string (NULL, "cgroup_manager");
      v = conf;
      from = "the host config's cgroup_manager";
    }
  if (v == NULL || v[0] == '\0')
    {
      *out = berth_systemd_booted () ? "systemd" : "cgroupfs";
      return 0;
    }
  if (strcmp (v, "cgroupfs") == 0)
    *out = "cgroupfs";
  else if (strcmp (v, "systemd") == 0)
    {
      if (!berth_systemd_booted ())
        return berth_error (err, 0, "%s is systemd, but systemd is not PID 1 on this host: use cgroupfs", from);
      *out = "systemd";
    }
  else
    return berth_error (err, 0, "%s: \"%s\" is neither systemd nor cgroupfs", from, v);
  return 0;
}

/* The backend finishes the bundle: what it needs of the image (a VM: a
   block image of its layers, cached under <root>/vm-images), --kernel and
   --init. */
static int
prepare_bundle (struct berth_engine *e, const struct berth_isolation *iso, struct berth_image *img,
                const struct berth_create_request *r, const char *pod, json_t *spec, berth_err_t *err)
{
  cleanup_free char *cache = xasprintf ("%s/vm-images", e->root);
  char **layers = xcalloc (img->n_layers + 1, sizeof (char *));
  struct berth_isolation_prepare p = { .layers = (const char *const *)layers,
                                       .n_layers = img->n_layers,
                                       .image_key = img->config_digest,
                                       .cache_dir = cache,
                                       .kernel = r->kernel,
                                       .init = r->init,
                                       .pod = pod,
                                       .keep_changes = !r->auto_remove };
  int ret;
  for (size_t i = 0; i < img->n_layers; i++)
    layers[i] = berth_layer_path (e->store, img->layers[i].diffid);
  ret = iso->prepare ? iso->prepare (&p, spec, err) : 0;
  strv_free (layers);
  return ret;
}

/* The container's OCI spec from the image and the request: volumes made
   (and seeded from the image), the user resolved in the image's files. */
static int
build_spec (struct berth_engine *e, const struct berth_create_request *r, struct berth_image *img, const char *id,
            json_t *rec, const char *run_hostname, json_t *seeds, json_t *anon, json_t **spec, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *etc = xasprintf ("%s/etc", dir);
  struct berth_run_opts run = r->run;
  json_t *vols = NULL, *seed;
  const char *user = r->run.user
                         ? r->run.user
                         : json_string_value (json_object_get (json_object_get (img->config, "config"), "User"));
  bool mounted = false, names = user && user[0] && strspn (user, "0123456789:") != strlen (user);
  size_t k;
  int ret = resolve_volumes (e, img->config, r->run.volumes, &vols, seeds, anon, err);
  json_array_foreach (r->run.group_add, k, seed)
  {
    const char *g = json_string_value (seed) ?: "";
    names = names || strspn (g, "0123456789") != strlen (g);
  }
  /* The rootfs is mounted only while the container runs.  A user or group
     given by name and volumes to fill need the image's files now: only then is
     it mounted for the spec and released again (start is a hot path). */
  if (ret == 0 && (names || json_array_size (seeds)))
    {
      ret = berth_engine_mount_rootfs (e, id, rec, err);
      mounted = ret == 0;
    }
  json_array_foreach (seeds, k, seed) if (ret == 0) ret = berth_volume_seed (
      json_string_value (json_array_get (seed, 0)), rootfs, json_string_value (json_array_get (seed, 1)), err);
  run.volumes = vols;
  if (run_hostname)
    run.hostname = run_hostname;
  if (ret == 0)
    ret = berth_ocispec_build (img->config, &run, id, rootfs, etc, spec, err);
  json_decref (vols);
  if (mounted)
    umount2 (rootfs, MNT_DETACH);
  return ret;
}

/* The bundle's config.json, and what the record keeps of it. */
static int
write_bundle (const char *dir, const struct berth_create_request *r, json_t *spec, json_t *rec, berth_err_t *err)
{
  {

    cleanup_free char *cfg = xasprintf ("%s/config.json", dir);
    char *text = json_dumps (spec, JSON_INDENT (1));
    int w = write_file_atomic (cfg, text, strlen (text), 0600, err);
    free (text);
    if (w < 0)
      return -1;
  }
  json_object_set (rec, "Path", json_array_get (json_object_get (json_object_get (spec, "process"), "args"), 0));
  json_object_set_new (rec, "Args", json_deep_copy (json_object_get (json_object_get (spec, "process"), "args")));
  json_object_set_new (rec, "Config",
                       json_pack ("{s:b,s:b,s:O,s:s,s:i,s:s*,s:O}", "Tty", r->tty, "OpenStdin", r->interactive, "Env",
                                  json_object_get (json_object_get (spec, "process"), "env"), "Hostname",
                                  json_string_value (json_object_get (spec, "hostname")), "StopTimeout",
                                  r->stop_timeout >= 0 ? r->stop_timeout : 10, "StopSignal", r->stop_signal, "Labels",
                                  r->labels ? r->labels : json_object ()));
  json_object_set_new (rec, "State",
                       json_pack ("{s:s,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:i}", "Status", "created", "Running", 0, "Paused",
                                  0, "Restarting", 0, "Pid", 0, "ExitCode", 0, "StartedAt", "", "FinishedAt", "",
                                  "RestartCount", 0));
  json_object_set_new (rec, "LogPath", json_sprintf ("%s/container.log", dir));
  return 0;
}

/* docker's names for the limits, as inspect shows them (0: none). */
static void
host_config_resources (json_t *hc, const struct berth_run_opts *o)
{
  if (o->memory > 0 || !json_object_get (hc, "Memory"))
    json_object_set_new (hc, "Memory", json_integer (o->memory));
  if (o->memory_swap != 0 || !json_object_get (hc, "MemorySwap"))
    json_object_set_new (hc, "MemorySwap", json_integer (o->memory_swap));
  if (o->cpus > 0 || !json_object_get (hc, "NanoCpus"))
    json_object_set_new (hc, "NanoCpus", json_integer ((json_int_t)(o->cpus * 1e9)));
  if (o->cpu_shares > 0 || !json_object_get (hc, "CpuShares"))
    json_object_set_new (hc, "CpuShares", json_integer (o->cpu_shares));
  if (o->cpuset_cpus || !json_object_get (hc, "CpusetCpus"))
    json_object_set_new (hc, "CpusetCpus", json_string (o->cpuset_cpus ? o->cpuset_cpus : ""));
  if (o->pids_limit != 0 || !json_object_get (hc, "PidsLimit"))
    json_object_set_new (hc, "PidsLimit", json_integer (o->pids_limit));
}

static int
set_resources (json_t *rec, void *arg, berth_err_t *err)
{
  (void)err;
  host_config_resources (json_object_get (rec, "HostConfig"), arg);
  return 0;
}

int
berth_engine_update_resources (struct berth_engine *e, const char *id, const struct berth_run_opts *o, berth_err_t *err)
{
  json_t *rec = NULL, *res = json_object ();
  bool running;
  int ret = -1;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    goto out;
  running
      = strcmp (json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "", "running") == 0;
  if (berth_ocispec_resources (o, res, err) < 0)
    goto out;
  /* A running container's cgroup now; its bundle for every later start. */
  if (running && berth_container_update (e->runtime_root, id, res, err) < 0)
    goto out;
  {
    cleanup_free char *dir = berth_engine_dir (e, id);
    cleanup_free char *cfg = xasprintf ("%s/config.json", dir);
    json_t *spec = NULL;
    int r = json_load_path (cfg, &spec, err);
    if (r != 0)
      {
        if (r > 0)
          berth_error (err, ENOENT, "`%s`", cfg);
        goto out;
      }
    {
      json_t *lin = json_object_get (spec, "linux");
      json_t *old = json_object_get (lin, "resources");
      char *text;
      if (json_is_object (old))
        json_object_update_recursive (old, res);
      else
        json_object_set (lin, "resources", res);
      text = json_dumps (spec, JSON_INDENT (1));
      r = write_file_atomic (cfg, text, strlen (text), 0600, err);
      free (text);
      json_decref (spec);
      if (r < 0)
        goto out;
    }
  }
  ret = berth_engine_update (e, id, set_resources, (void *)o, NULL, err);
out:
  json_decref (rec);
  json_decref (res);
  return ret;
}

/* Container names change (create, rename) under this lock. */
static int
names_lock (struct berth_engine *e, berth_err_t *err)
{
  /* Beside containers/, which holds only containers. */
  cleanup_free char *path = xasprintf ("%s/names.lock", e->root);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || flock (fd, LOCK_EX) < 0)
    {
      int e2 = errno;
      if (fd >= 0)
        close (fd);
      return berth_error (err, e2, "lock `%s`", path);
    }
  return fd;
}

/* What docker's inspect shows of the options the monitor and the files
   under etc/ use: the log's rotation is read back by the monitor. */
static void
host_config_extra (json_t *hc, const struct berth_create_request *r)
{
  json_t *lc = json_object ();
  if (r->log_config)
    json_object_update (lc, r->log_config);
  json_object_set_new (hc, "LogConfig", json_pack ("{s:s,s:o}", "Type", "json-file", "Config", lc));
  json_object_set_new (hc, "Dns", r->dns ? json_copy (r->dns) : json_array ());
  json_object_set_new (hc, "DnsSearch", r->dns_search ? json_copy (r->dns_search) : json_array ());
  json_object_set_new (hc, "DnsOptions", r->dns_options ? json_copy (r->dns_options) : json_array ());
  json_object_set_new (hc, "ExtraHosts", r->add_hosts ? json_copy (r->add_hosts) : json_array ());
  json_object_set_new (hc, "GroupAdd", r->run.group_add ? json_copy (r->run.group_add) : json_array ());
  json_object_set_new (hc, "ShmSize", json_integer (r->run.shm_size > 0 ? r->run.shm_size : 64 << 20));
  host_config_resources (hc, &r->run);
  json_object_set_new (hc, "RestartPolicy",
                       r->restart_policy ? json_copy (r->restart_policy)
                                         : json_pack ("{s:s,s:i}", "Name", "no", "MaximumRetryCount", 0));
}

int
berth_engine_create (struct berth_engine *e, const struct berth_create_request *r, char *id_out, berth_err_t *err)
{
  char id[65], md[BERTH_DIGEST_LEN + 1];
  cleanup_free char *dir = NULL;
  cleanup_close int making = -1;
  cleanup_free char *name = NULL;
  cleanup_free char *rootfs = NULL;
  cleanup_free char *hold = NULL;
  cleanup_free char *run_hostname = NULL;
  cleanup_free char *holds = xasprintf ("%s/holds", e->root);
  cleanup_free char *created = timestamp_rfc3339 ();
  struct berth_image *img = NULL;
  json_t *spec = NULL, *rec = NULL, *seeds = json_array (), *anon = json_array ();
  struct berth_engine_net net = { 0 };
  const char *isolation = r->isolation;
  const struct berth_isolation *iso;
  bool imported;
  int ret = -1;

  if (isolation == NULL && r->network && str_has_prefix (r->network, "container:"))
    {
      /* Joining the network of a container with a kernel of its own means
         joining its machine: the same isolation. */
      char other[65];
      json_t *orec = NULL;
      berth_err_t e2 = NULL;
      if (berth_engine_resolve (e, r->network + 10, other, &e2) == 0 && berth_engine_load (e, other, &orec, &e2) == 0)
        {
          const struct berth_isolation *oiso
              = berth_isolation_find (json_string_value (json_object_get (orec, "Isolation")) ?: "process", &e2);
          if (oiso && (oiso->flags & BERTH_ISOLATION_OWN_KERNEL))
            isolation = oiso->name;
        }
      json_decref (orec);
      berth_error_release (&e2);
    }
  if (isolation == NULL)
    isolation = berth_default_isolation ();
  iso = berth_isolation_find (isolation, err);
  if (iso == NULL)
    return berth_error_wrap (err, "--isolation");
  if (r->kernel && !(iso->flags & BERTH_ISOLATION_OWN_KERNEL))
    return berth_error (err, 0, "--kernel: a container with %s isolation has no kernel of its own (--isolation=vm)",
                        iso->name);
  if (r->name && !berth_name_valid (r->name, 1, 128))
    return berth_error (err, 0, "invalid container name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", r->name);
  if (r->name && berth_engine_name_taken (e, r->name))
    return berth_error_code (err, EEXIST, "the container name \"%s\" is already in use", r->name);
  if (berth_builtin_ensure (e->store, r->image, &imported, err) < 0
      || berth_image_resolve (e->store, r->image, md, err) < 0 || berth_image_unpack (e->store, md, err) < 0
      || berth_image_load (e->store, md, &img, err) < 0)
    return -1;
  do
    name = r->name ? xstrdup (r->name) : berth_engine_random_name ();
  while (!r->name && berth_engine_name_taken (e, name) && (free (name), 1));

  random_hex (id, 32);
  dir = berth_engine_dir (e, id);
  rootfs = xasprintf ("%s/rootfs", dir);
  /* Its lock, held until the record is written, is there from the
     directory's first moment (made aside, then renamed): a directory with
     no record and its lock free is what a killed create left, which
     listing reaps. */
  {
    cleanup_free char *aside = xasprintf ("%s/containers/.new-%s", e->root, id);
    cleanup_free char *lock = xasprintf ("%s/container.lock", aside);
    if (mkdir (aside, 0711) < 0)
      {
        berth_error (err, errno, "mkdir `%s`", aside);
        goto out;
      }
    making = open (lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (making < 0 || flock (making, LOCK_EX) < 0 || rename (aside, dir) < 0)
      {
        berth_error (err, errno, "make `%s`", dir);
        unlink (lock);
        rmdir (aside);
        goto out;
      }
  }
  {
    static const char *subs[] = { "rootfs", "upper", "work" };
    for (size_t i = 0; i < ARRAY_SIZE (subs); i++)
      {
        cleanup_free char *p = xasprintf ("%s/%s", dir, subs[i]);
        if (mkdir (p, 0755) < 0)
          {
            berth_error (err, errno, "mkdir `%s`", p);
            goto fail;
          }
      }
  }
  {
    char shortid[13];
    memcpy (shortid, id, 12);
    shortid[12] = '\0';
    char hostbuf[256] = "";
    const char *hostname = r->run.hostname ? r->run.hostname : shortid;
    if (berth_engine_net_prepare (e, r, iso, img->config, id, &net, err) < 0)
      goto fail;
    /* --network=host: the host's name too, as docker does. */
    if (!r->run.hostname && net.netns && net.netns[0] == '\0' && gethostname (hostbuf, sizeof (hostbuf) - 1) == 0)
      hostname = hostbuf;
    if (berth_engine_net_write_etc (dir, hostname, &net, r, err) < 0)
      goto fail;
    if (hostname == hostbuf)
      run_hostname = xstrdup (hostbuf);
  }
  rec = json_pack ("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "Id", id, "Name", name, "Created", created, "Image", r->image,
                   "ImageID", img->config_digest, "Manifest", md, "Isolation", iso->name, "AutoRemove", r->auto_remove);
  ret = build_spec (e, r, img, id, rec, run_hostname, seeds, anon, &spec, err);
  if (ret == 0)
    {
      /* The scope's name is runc's slice:prefix:name form; the monitor
         hands the runtime the manager the record names. */
      const char *mgr;
      cleanup_free char *cgpath = NULL;
      if (berth_engine_cgroup_manager (&mgr, err) < 0)
        ret = -1;
      else
        {
          cgpath = strcmp (mgr, "systemd") == 0 ? xasprintf ("berth.slice:berth:%s", id) : xasprintf ("/berth/%s", id);
          json_object_set_new (json_object_get (spec, "linux"), "cgroupsPath", json_string (cgpath));
          json_object_set_new (rec, "CgroupManager", json_string (mgr));
        }
    }
  if (ret == 0)
    berth_engine_net_spec (spec, &net);
  if (ret == 0)
    ret = prepare_bundle (e, iso, img, r, net.pod, spec, err);
  if (ret < 0)
    goto fail;
  ret = -1;
  if (write_bundle (dir, r, spec, rec, err) < 0)
    goto fail;
  berth_engine_net_record (rec, &net);
  host_config_extra (json_object_get (rec, "HostConfig"), r);
  {
    json_t *hc = berth_engine_healthcheck (img->config, r->healthcheck, r->no_healthcheck);
    if (hc)
      json_object_set_new (json_object_get (rec, "Config"), "Healthcheck", hc);
  }
  json_object_set (rec, "AnonymousVolumes", anon);
  hold = xasprintf ("%s/%s", holds, id);
  if (berth_store_hold (e->store, id, md, err) < 0)
    goto fail;
  {
    /* The name is checked again and the record written under the names
       lock: of concurrent creates (or a rename) of one name, one wins. */
    cleanup_close int nlock = names_lock (e, err);
    if (nlock < 0)
      goto fail;
    /* A generated name another create took meanwhile: another one. */
    while (!r->name && berth_engine_name_taken (e, name))
      {
        free (name);
        name = berth_engine_random_name ();
        json_object_set_new (rec, "Name", json_string (name));
      }
    if (berth_engine_name_taken (e, name))
      {
        berth_error_code (err, EEXIST, "the container name \"%s\" is already in use", name);
        goto fail;
      }
    if (berth_engine_save (e, id, rec, err) < 0)
      goto fail;
  }
  strcpy (id_out, id);
  berth_engine_event (e, id, rec, "create", NULL);
  ret = 0;
  goto out;
fail:
  {
    berth_err_t e2 = NULL;
    umount2 (rootfs, MNT_DETACH);
    rm_rf_at (AT_FDCWD, dir, &e2);
    berth_error_release (&e2);
    if (hold)
      unlink (hold);
    berth_engine_net_release (e, id, net.networks);
    /* Anonymous volumes made for this container go with it. */
    {
      json_t *v;
      size_t k;
      json_array_foreach (anon, k, v)
      {
        berth_volume_remove (e->root, json_string_value (v), true, &e2);
        berth_error_release (&e2);
      }
    }
  }
out:
  berth_engine_net_free (&net);
  json_decref (seeds);
  json_decref (anon);
  json_decref (spec);
  json_decref (rec);
  berth_image_free (img);
  return ret;
}

/* The image's layers as overlayfs' lowerdir option (top layer first). */
char *
berth_engine_lowerdirs (struct berth_engine *e, json_t *rec, berth_err_t *err)
{
  const char *md = json_string_value (json_object_get (rec, "Manifest"));
  char *lower = xstrdup ("");
  struct berth_image *img = NULL;
  if (berth_image_load (e->store, md, &img, err) < 0)
    {
      free (lower);
      return NULL;
    }
  /* overlayfs lists the top layer first. */
  for (size_t i = img->n_layers; i-- > 0;)
    {
      cleanup_free char *p = berth_layer_path (e->store, img->layers[i].diffid);
      char *n = xasprintf ("%s%s%s", lower, lower[0] ? ":" : "", p);
      free (lower);
      lower = n;
    }
  berth_image_free (img);
  return lower;
}

int
berth_engine_mount_rootfs (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *lower = berth_engine_lowerdirs (e, rec, err);
  cleanup_free char *data = NULL;
  if (lower == NULL)
    return -1;
  data = xasprintf ("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, dir, dir);
  if (strlen (data) >= 4000)
    return berth_error (err, E2BIG, "image has too many layers for one overlay mount");
  if (mount ("overlay", rootfs, "overlay", 0, data) < 0)
    return berth_error (err, errno, "mount the overlay rootfs of %.12s", id);
  return 0;
}

static int
set_name (json_t *rec, void *arg, berth_err_t *err)
{
  (void)err;
  json_object_set_new (rec, "Name", json_string (arg));
  return 0;
}

int
berth_engine_rename (struct berth_engine *e, const char *ref, const char *name, berth_err_t *err)
{
  cleanup_close int lock = names_lock (e, err);
  char id[65], other[65];
  berth_err_t e2 = NULL;
  json_t *rec = NULL, *ep;
  const char *net, *status;
  if (lock < 0)
    return -1;
  if (berth_engine_resolve (e, ref, id, err) < 0)
    return -1;
  if (!berth_name_valid (name, 1, 128))
    return berth_error (err, EINVAL, "invalid container name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
  if (berth_engine_resolve_name (e, name, other, &e2) == 0)
    return strcmp (other, id) == 0
               ? berth_error (err, EINVAL, "container %.12s is already named \"%s\"", id, name)
               : berth_error_code (err, EEXIST, "the container name \"%s\" is already in use by %.12s", name, other);
  berth_error_release (&e2);
  if (berth_engine_update (e, id, set_name, (void *)name, &rec, err) < 0)
    return -1;
  berth_engine_event (e, id, rec, "rename", NULL);
  /* Running on user networks: their DNS answers to the new name. */
  status = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
  if (strcmp (status, "running") == 0)
    json_object_foreach (json_object_get (json_object_get (rec, "NetworkSettings"), "Networks"), net, ep)
    {
      if (berth_net_dns_rename (e->root, net, id, ep, name, &e2) < 0)
        {
          berth_debug ("rename %.12s: network %s's DNS: %s", id, net, e2->msg);
          berth_error_release (&e2);
        }
    }
  json_decref (rec);
  return 0;
}

int
berth_engine_exec_user (struct berth_engine *e, const char *id, const char *user, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *lower = NULL, *data = NULL, *tmp = NULL, *root = NULL;
  json_t *rec = NULL;
  const char *iso;
  pid_t pid;
  int ret;
  if (strspn (user, "0123456789:") == strlen (user))
    return berth_ocispec_resolve_user ("/", user, out, err);
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  iso = json_string_value (json_object_get (rec, "Isolation")) ?: "process";
  pid = (pid_t)json_integer_value (json_object_get (json_object_get (rec, "State"), "Pid"));
  if (strcmp (iso, "process") == 0 && pid > 0)
    {
      /* The container's root as its init sees it, in its own mount
         namespace (the lookup stays inside it: open_in_root). */
      json_decref (rec);
      root = xasprintf ("/proc/%d/root", (int)pid);
      return berth_ocispec_resolve_user (root, user, out, err);
    }
  /* In a VM the root lives in the guest: the image's files, mounted
     read-only here for the lookup (never with the container's upper
     directory, which a second mount would share). */
  lower = berth_engine_lowerdirs (e, rec, err);
  json_decref (rec);
  if (lower == NULL)
    return -1;
  tmp = xasprintf ("%s/userdb.XXXXXX", dir);
  if (mkdtemp (tmp) == NULL)
    return berth_error (err, errno, "mkdtemp `%s`", tmp);
  data = xasprintf ("lowerdir=%s", lower);
  /* Without an upper directory overlayfs needs two lowers: a single layer
     is bound read-only instead. */
  if (strchr (lower, ':') ? mount ("overlay", tmp, "overlay", MS_RDONLY, data) < 0
                          : (mount (lower, tmp, NULL, MS_BIND, NULL) < 0
                             || mount (NULL, tmp, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0))
    {
      berth_error (err, errno, "mount the image of %.12s for a user lookup", id);
      umount2 (tmp, MNT_DETACH); /* a bind whose read-only remount failed */
      rmdir (tmp);
      return -1;
    }
  ret = berth_ocispec_resolve_user (tmp, user, out, err);
  umount2 (tmp, MNT_DETACH);
  rmdir (tmp);
  return ret;
}

/* The runtime's side of a container that goes: its state, cgroup and
   processes (--force takes them even when the state cannot be read). */
static void
runtime_delete (struct berth_engine *e, const char *id)
{
  berth_err_t e2 = NULL;
  berth_container_delete (e->runtime_root, id, BERTH_DELETE_FORCE, NULL, &e2);
  berth_error_release (&e2);
}

/* SIGKILL to every process of a running container.  An unreadable
   runtime state would leave it running (stop and rm -f would wait for it
   forever): delete --force then kills its cgroup's processes. */
static int
kill_all (struct berth_engine *e, const char *id)
{
  berth_err_t e2 = NULL;
  json_t *st = NULL;
  if (berth_container_kill (e->runtime_root, id, SIGKILL, true, &e2) == 0)
    return 0;
  berth_error_release (&e2);
  if (berth_container_state (e->runtime_root, id, &st, &e2) < 0 && e2->status != ENOENT)
    {
      berth_error_release (&e2);
      runtime_delete (e, id);
      return 0;
    }
  berth_error_release (&e2);
  json_decref (st);
  return -1;
}

int
berth_engine_cleanup (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  berth_err_t e2 = NULL;
  json_t *own = NULL;
  /* The runtime's side (cgroup, state) first, then the network, then our
     mount. */
  if (rec == NULL && berth_engine_load (e, id, &own, &e2) == 0)
    rec = own;
  berth_error_release (&e2);
  runtime_delete (e, id);
  berth_engine_net_stop (e, id, rec);
  json_decref (own);
  if (umount2 (rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return berth_error (err, errno, "unmount `%s`", rootfs);
  return 0;
}

static bool
monitor_alive (json_t *rec)
{
  json_int_t pid = json_integer_value (json_object_get (rec, "MonitorPid"));
  json_int_t start = json_integer_value (json_object_get (rec, "MonitorStart"));
  return pid > 0 && process_start_time ((pid_t)pid) == (unsigned long long)start;
}

struct refresh
{
  struct berth_engine *e;
  const char *id;
};

/* Under the record's lock, so that two callers that both find the
   monitor dead record it once, on the record as it is. */
static int
set_monitor_died (json_t *rec, void *arg, berth_err_t *err)
{
  struct refresh *r = arg;
  json_t *st = json_object_get (rec, "State"), *rs = NULL;
  const char *status = json_string_value (json_object_get (st, "Status"));
  berth_err_t e2 = NULL;
  bool alive = false;
  (void)err;
  if (status == NULL || monitor_alive (rec))
    return 0;
  if (strcmp (status, "restarting") == 0)
    {
      /* Its monitor died waiting to restart it (a reboot). */
      json_object_set_new (st, "Status", json_string ("exited"));
      json_object_set_new (st, "Restarting", json_false ());
      json_object_del (rec, "MonitorPid");
      return 0;
    }
  if (strcmp (status, "running") != 0)
    return 0;
  /* The runtime tells whether the container still runs. */
  if (berth_container_state (r->e->runtime_root, r->id, &rs, &e2) == 0)
    alive = strcmp (json_string_value (json_object_get (rs, "status")) ?: "", "stopped") != 0;
  berth_error_release (&e2);
  json_decref (rs);
  if (!alive)
    {
      cleanup_free char *now = timestamp_rfc3339 ();
      json_object_set_new (st, "Status", json_string ("exited"));
      json_object_set_new (st, "Running", json_false ());
      json_object_set_new (st, "Paused", json_false ());
      json_object_set_new (st, "Pid", json_integer (0));
      json_object_set_new (st, "ExitCode", json_integer (255));
      json_object_set_new (st, "FinishedAt", json_string (now));
      json_object_set_new (st, "Error", json_string ("the container's monitor died; exit status unknown"));
      berth_engine_cleanup (r->e, r->id, rec, &e2);
      berth_error_release (&e2);
    }
  return 0;
}

int
berth_engine_refresh (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err)
{
  json_t *rec = NULL;
  const char *status;
  struct refresh r = { e, id };
  if (berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  status = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
  /* The monitor died (kill -9, reboot). */
  if (status && (strcmp (status, "running") == 0 || strcmp (status, "restarting") == 0) && !monitor_alive (rec))
    {
      json_decref (rec);
      if (berth_engine_update (e, id, set_monitor_died, &r, &rec, err) < 0)
        return -1;
    }
  *out = rec;
  return 0;
}

static berth_monitor_argv_fn monitor_argv;

void
berth_engine_set_monitor (berth_monitor_argv_fn fn)
{
  monitor_argv = fn;
}

static bool
joined_running (struct berth_engine *e, const char *other, berth_err_t *err)
{
  json_t *orec = NULL;
  bool running;
  if (berth_engine_refresh (e, other, &orec, err) < 0)
    return false;
  running
      = strcmp (json_string_value (json_object_get (json_object_get (orec, "State"), "Status")) ?: "", "running") == 0;
  json_decref (orec);
  return running;
}

static int engine_start (struct berth_engine *e, const char *id, bool attach, int *status_fd, bool by_hand,
                         berth_err_t *err);

int
berth_engine_start (struct berth_engine *e, const char *id, bool attach, int *status_fd, berth_err_t *err)
{
  return engine_start (e, id, attach, status_fd, true, err);
}

int
berth_engine_start_for_policy (struct berth_engine *e, const char *id, berth_err_t *err)
{
  return engine_start (e, id, false, NULL, false, err);
}

/* BY_HAND: a user's start, which ends a stop by hand (the restart policy
   applies again, its back-off afresh); the policy's own keeps it. */
static int
engine_start (struct berth_engine *e, const char *id, bool attach, int *status_fd, bool by_hand, berth_err_t *err)
{
  json_t *rec = NULL;
  int ready[2], status[2] = { -1, -1 };
  pid_t pid;
  char buf[4096];
  ssize_t n;
  const char *st;

  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
  if (st && strcmp (st, "running") == 0)
    {
      json_decref (rec);
      return berth_error (err, 0, "container %.12s is already running", id);
    }
  if (by_hand
      && (json_is_true (json_object_get (json_object_get (rec, "State"), "ManualStop"))
          || json_object_get (json_object_get (rec, "State"), "RestartDelayMs"))
      && berth_engine_set_manual_stop (e, id, false, err) < 0)
    {
      json_decref (rec);
      return -1;
    }
  {
    /* A pod member starts only while the container it joins runs. */
    const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode")) ?: "";
    if (str_has_prefix (mode, "container:") && !joined_running (e, mode + 10, err))
      {
        /* The message first: MODE is the record's. */
        if (*err)
          berth_error_wrap (err, "--network=%s", mode);
        else
          berth_error (err, 0, "--network=%s: that container is not running", mode);
        json_decref (rec);
        return -1;
      }
  }
  json_decref (rec);
  if (monitor_argv == NULL)
    return berth_error (err, 0, "this program cannot start a container's monitor (berth_engine_set_monitor)");
  if (pipe2 (ready, O_CLOEXEC) < 0 || (attach && pipe2 (status, O_CLOEXEC) < 0))
    return berth_error (err, errno, "pipe");
  pid = fork ();
  if (pid < 0)
    return berth_error (err, errno, "fork");
  if (pid == 0)
    {
      /* Twice forked and in its own session: the monitor outlives us. */
      setsid ();
      if (fork () != 0)
        _exit (0);
      close (ready[0]);
      if (status[0] >= 0)
        close (status[0]);
      fcntl (ready[1], F_SETFD, 0);
      if (status[1] >= 0)
        fcntl (status[1], F_SETFD, 0);
      if (!attach)
        {
          int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
          dup2 (null, 0);
          dup2 (null, 1);
          dup2 (null, 2);
        }
      {
        /* Straight into the protected copy (the monitor creates the
           container, CVE-2019-5736): one exec instead of two. */
        char **args = monitor_argv (e->root, id, ready[1], status[1], attach);
        extern char **environ;
        berth_err_t e2 = NULL;
        if (berth_ensure_cloned_binary (args, environ, true, &e2) == 0)
          execv ("/proc/self/exe", args);
        berth_error_release (&e2);
      }
      _exit (127);
    }
  waitpid (pid, NULL, 0);
  close (ready[1]);
  if (status[1] >= 0)
    close (status[1]);
  /* The monitor says "ok" once the container runs, or why it could not. */
  n = read (ready[0], buf, sizeof (buf) - 1);
  close (ready[0]);
  if (n <= 0 || strncmp (buf, "ok", 2) != 0)
    {
      if (status[0] >= 0)
        close (status[0]);
      if (n <= 0)
        return berth_error (err, EIO, "the monitor of %.12s exited before the container started", id);
      berth_error_decode (err, buf, (size_t)n);
      return -1;
    }
  if (status_fd)
    *status_fd = status[0];
  else if (status[0] >= 0)
    close (status[0]);
  return 0;
}

static int
set_paused (json_t *rec, void *arg, berth_err_t *err)
{
  json_t *st = json_object_get (rec, "State");
  (void)err;
  if (strcmp (json_string_value (json_object_get (st, "Status")) ?: "", "running") == 0)
    json_object_set_new (st, "Paused", json_boolean (*(bool *)arg));
  return 0;
}

int
berth_engine_pause (struct berth_engine *e, const char *id, bool pause, berth_err_t *err)
{
  json_t *rec = NULL;
  bool running, paused;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  running
      = strcmp (json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "", "running") == 0;
  paused = json_is_true (json_object_get (json_object_get (rec, "State"), "Paused"));
  json_decref (rec);
  if (!running)
    return berth_error (err, 0, "container %.12s is not running", id);
  if (pause && paused)
    return berth_error (err, 0, "container %.12s is already paused", id);
  if (!pause && !paused)
    return berth_error (err, 0, "container %.12s is not paused", id);
  if (berth_container_pause (e->runtime_root, id, pause, err) < 0
      || berth_engine_update (e, id, set_paused, &pause, NULL, err) < 0)
    return -1;
  berth_engine_event (e, id, NULL, pause ? "pause" : "unpause", NULL);
  return 0;
}

/* kill and stop reach a paused container as docker's do: it is resumed
   first, so that the signal is heard. */
static void
resume_if_paused (struct berth_engine *e, const char *id, json_t *rec)
{
  berth_err_t e2 = NULL;
  bool no = false;
  if (!json_is_true (json_object_get (json_object_get (rec, "State"), "Paused")))
    return;
  if (berth_container_pause (e->runtime_root, id, false, &e2) == 0)
    berth_engine_update (e, id, set_paused, &no, NULL, &e2);
  berth_error_release (&e2);
}

/* stop and kill by hand: no restart policy brings it back until a start.
   Only a container with a policy needs the mark (one record write less on
   every other stop). */
static int
mark_stopped_by_hand (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  const char *policy = json_string_value (
      json_object_get (json_object_get (json_object_get (rec, "HostConfig"), "RestartPolicy"), "Name"));
  if (policy == NULL || strcmp (policy, "no") == 0)
    return 0;
  return berth_engine_set_manual_stop (e, id, true, err);
}

int
berth_engine_kill (struct berth_engine *e, const char *id, int sig, berth_err_t *err)
{
  json_t *rec = NULL;
  const char *st;
  bool running;
  int ret;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
  running = st && strcmp (st, "running") == 0;
  if (!running)
    {
      json_decref (rec);
      return berth_error (err, 0, "container %.12s is not running", id);
    }
  resume_if_paused (e, id, rec);
  ret = mark_stopped_by_hand (e, id, rec, err);
  json_decref (rec);
  if (ret < 0)
    return -1;
  ret = berth_container_kill (e->runtime_root, id, sig, false, err);
  if (ret == 0)
    berth_engine_event (e, id, NULL, "kill", json_pack ("{s:o}", "signal", json_sprintf ("%d", sig)));
  return ret;
}

int
berth_engine_wait (struct berth_engine *e, const char *id, int *exit_code, berth_err_t *err)
{
  for (;;)
    {
      json_t *rec = NULL;
      const char *st;
      struct timespec ts = { 0, 20 * 1000 * 1000 };
      if (berth_engine_refresh (e, id, &rec, err) < 0)
        return -1;
      st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
      if (st && strcmp (st, "running") != 0 && strcmp (st, "removing") != 0)
        {
          *exit_code = (int)json_integer_value (json_object_get (json_object_get (rec, "State"), "ExitCode"));
          json_decref (rec);
          return 0;
        }
      json_decref (rec);
      nanosleep (&ts, NULL);
    }
}

int
berth_engine_stop (struct berth_engine *e, const char *id, int timeout, berth_err_t *err)
{
  json_t *rec = NULL;
  const char *st, *signame;
  int sig = SIGTERM, code;
  struct timespec t0, now;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
  signame = json_string_value (json_object_get (json_object_get (rec, "Config"), "StopSignal"));
  if (timeout < 0)
    timeout = (int)json_integer_value (json_object_get (json_object_get (rec, "Config"), "StopTimeout"));
  if (signame)
    parse_signal (signame, &sig);
  if (st && strcmp (st, "restarting") == 0)
    {
      /* Waiting to restart: its monitor sees the mark and gives up. */
      json_decref (rec);
      if (berth_engine_set_manual_stop (e, id, true, err) < 0)
        return -1;
      for (int i = 0; i < 200; i++)
        {
          bool still;
          struct timespec ts = { 0, 20 * 1000 * 1000 };
          if (berth_engine_refresh (e, id, &rec, err) < 0)
            return -1;
          st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
          still = st && strcmp (st, "restarting") == 0;
          json_decref (rec);
          if (!still)
            break;
          nanosleep (&ts, NULL);
        }
      /* It may have been starting just then. */
      return berth_engine_stop (e, id, timeout, err);
    }
  if (st == NULL || strcmp (st, "running") != 0)
    {
      json_decref (rec);
      return 0;
    }
  if (mark_stopped_by_hand (e, id, rec, err) < 0)
    {
      json_decref (rec);
      return -1;
    }
  resume_if_paused (e, id, rec);
  json_decref (rec);
  {
    berth_err_t e2 = NULL;
    if (berth_container_kill (e->runtime_root, id, sig, false, &e2) == 0)
      berth_engine_event (e, id, NULL, "kill", json_pack ("{s:o}", "signal", json_sprintf ("%d", sig)));
    berth_error_release (&e2);
  }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (;;)
    {
      struct timespec ts = { 0, 20 * 1000 * 1000 };
      json_t *r2 = NULL;
      bool running;
      if (berth_engine_refresh (e, id, &r2, err) < 0)
        return -1;
      running = strcmp (json_string_value (json_object_get (json_object_get (r2, "State"), "Status")) ?: "", "running")
                == 0;
      json_decref (r2);
      if (!running)
        {
          berth_engine_event (e, id, NULL, "stop", NULL);
          return 0;
        }
      clock_gettime (CLOCK_MONOTONIC, &now);
      if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= timeout * 1000L)
        break;
      nanosleep (&ts, NULL);
    }
  {
    /* It did not stop in time: kill everything in it. */
    if (kill_all (e, id) == 0)
      berth_engine_event (e, id, NULL, "kill", json_pack ("{s:s}", "signal", "9"));
  }
  if (berth_engine_wait (e, id, &code, err) < 0)
    return -1;
  berth_engine_event (e, id, NULL, "stop", NULL);
  return 0;
}

int
berth_engine_remove (struct berth_engine *e, const char *id, bool force, berth_err_t *err)
{
  return berth_engine_remove_volumes (e, id, force, false, err);
}

/* rm -f of a container whose record cannot be read: what there is goes.
   Its container is killed through the runtime (its monitor then undoes
   its network from the record it holds and ends), then its directory,
   mount and hold; its addresses are reclaimed with the directory gone. */
static int
remove_broken (struct berth_engine *e, const char *id, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *hold = xasprintf ("%s/holds/%s", e->root, id);
  berth_err_t e2 = NULL;
  if (berth_container_kill (e->runtime_root, id, SIGKILL, true, &e2) == 0)
    for (int i = 0; i < 250; i++)
      {
        json_t *st = NULL;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        bool gone = berth_container_state (e->runtime_root, id, &st, &e2) < 0
                    || strcmp (json_string_value (json_object_get (st, "status")) ?: "", "stopped") == 0;
        json_decref (st);
        if (gone)
          break;
        nanosleep (&ts, NULL);
      }
  berth_error_release (&e2);
  runtime_delete (e, id);
  umount2 (rootfs, MNT_DETACH);
  if (rm_rf_at (AT_FDCWD, dir, err) < 0)
    return -1;
  unlink (hold);
  berth_event (e->root, "container", "destroy", id, NULL);
  return 0;
}

int
berth_engine_remove_volumes (struct berth_engine *e, const char *id, bool force, bool volumes, berth_err_t *err)
{
  json_t *rec = NULL, *anon;
  const char *st;
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *hold = xasprintf ("%s/holds/%s", e->root, id);
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    {
      if (!force || (*err)->status == ENOENT)
        return -1;
      berth_error_release (err);
      return remove_broken (e, id, err);
    }
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status"));
  if (st && (strcmp (st, "running") == 0 || strcmp (st, "restarting") == 0))
    {
      if (!force)
        {
          berth_error (err, 0, "cannot remove %s container %.12s: stop it first, or use --force", st, id);
          json_decref (rec);
          return -1;
        }
      if (berth_engine_stop (e, id, 0, err) < 0)
        {
          json_decref (rec);
          return -1;
        }
    }
  anon = json_incref (json_object_get (rec, "AnonymousVolumes"));
  volumes |= json_is_true (json_object_get (rec, "AutoRemove")); /* --rm takes them too */
  if (berth_engine_cleanup (e, id, rec, err) < 0 || rm_rf_at (AT_FDCWD, dir, err) < 0)
    {
      json_decref (rec);
      json_decref (anon);
      return -1;
    }
  /* Its addresses are free again once its directory is gone. */
  berth_engine_net_release (e, id, json_object_get (json_object_get (rec, "NetworkSettings"), "Networks"));
  berth_engine_event (e, id, rec, "destroy", NULL);
  json_decref (rec);
  unlink (hold);
  if (volumes)
    {
      json_t *v;
      size_t k;
      json_array_foreach (anon, k, v)
      {
        berth_err_t e2 = NULL;
        berth_volume_remove (e->root, json_string_value (v), false, &e2);
        berth_error_release (&e2);
      }
    }
  json_decref (anon);
  return 0;
}

/* ------------------------------------------------ networks of a container */

/* Whether the container's backend fixes its network devices at start. */
static bool
fixed_netdevs (json_t *rec)
{
  berth_err_t e2 = NULL;
  const struct berth_isolation *iso
      = berth_isolation_find (json_string_value (json_object_get (rec, "Isolation")) ?: "process", &e2);
  berth_error_release (&e2);
  return iso && (iso->flags & BERTH_ISOLATION_FIXED_NETDEVS);
}

int
berth_engine_connect (struct berth_engine *e, const char *id, const char *network, const char *ip, json_t *aliases,
                      berth_err_t *err)
{
  json_t *rec = NULL, *net = NULL, *ep = NULL, *nets, *v;
  const char *mode, *k;
  bool running, fixed;
  int index = 0, ret = -1;
  cleanup_close int lock = -1;
  /* Reconciled first, then read again under the lock it is written under. */
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  json_decref (rec);
  rec = NULL;
  if ((lock = berth_engine_lock (e, id, err)) < 0 || berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode")) ?: "none";
  nets = json_object_get (json_object_get (rec, "NetworkSettings"), "Networks");
  running
      = strcmp (json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "", "running") == 0;
  fixed = fixed_netdevs (rec);
  if (!berth_engine_net_bridge_like (mode) || nets == NULL)
    {
      berth_error (err, 0, "container %.12s uses --network=%s: it cannot be connected to other networks", id, mode);
      goto out;
    }
  if (json_object_get (nets, network))
    {
      berth_error (err, EEXIST, "container %.12s is already connected to network %s", id, network);
      goto out;
    }
  if (running && fixed)
    {
      berth_error (err, 0,
                   "container %.12s runs in a machine of its own, whose network devices are fixed at boot: stop it, "
                   "then connect",
                   id);
      goto out;
    }
  if (berth_net_get (e->root, network, &net, err) < 0)
    goto out;
  json_object_foreach (nets, k, v)
  {
    if (json_integer_value (json_object_get (v, "Index")) >= index)
      index = (int)json_integer_value (json_object_get (v, "Index")) + 1;
  }
  if (berth_engine_net_endpoint (e, net, id, ip, aliases, index, &ep, err) < 0)
    goto out;
  if (running
      && berth_net_connect_live (e->root, id, json_string_value (json_object_get (rec, "Name")), ep, index, err) < 0)
    {
      berth_net_release (e->root, network, id);
      json_decref (ep);
      goto out;
    }
  json_object_set_new (nets, network, ep);
  ret = berth_engine_save (e, id, rec, err);
out:
  json_decref (net);
  json_decref (rec);
  return ret;
}

int
berth_engine_disconnect (struct berth_engine *e, const char *id, const char *network, berth_err_t *err)
{
  json_t *rec = NULL, *nets, *ep;
  bool running, fixed;
  int ret = -1;
  cleanup_close int lock = -1;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  json_decref (rec);
  rec = NULL;
  if ((lock = berth_engine_lock (e, id, err)) < 0 || berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  nets = json_object_get (json_object_get (rec, "NetworkSettings"), "Networks");
  ep = json_object_get (nets, network);
  running
      = strcmp (json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "", "running") == 0;
  fixed = fixed_netdevs (rec);
  if (ep == NULL)
    berth_error (err, 0, "container %.12s is not connected to network %s", id, network);
  else if (running && fixed)
    berth_error (err, 0,
                 "container %.12s runs in a machine of its own, whose network devices are fixed at boot: stop it, "
                 "then disconnect",
                 id);
  else if (running
           && berth_net_disconnect_live (e->root, id, network, ep,
                                         (int)json_integer_value (json_object_get (ep, "Index")), err)
                  < 0)
    ;
  else
    {
      berth_net_release (e->root, network, id);
      json_object_del (nets, network);
      ret = berth_engine_save (e, id, rec, err);
    }
  json_decref (rec);
  return ret;
}
