/* berth export, diff, cp and commit: a container's files, as docker's
   commands of those names (the work is the engine's, files.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/image/image.h"
#include "lib/image/layer.h"
#include "lib/image/pack.h"

static int
open_engine (const char *ref, struct berth_engine **e, char *id)
{
  berth_err_t err = NULL;
  if (berth_engine_open (cli.root, e, &err) < 0 || berth_engine_resolve (*e, ref, id, &err) < 0)
    {
      berth_engine_close (*e);
      *e = NULL;
      return cli_error (&err);
    }
  return 0;
}

int
cmd_export (int argc, char **argv)
{
  static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  const char *out = NULL;
  cleanup_free char *tmp = NULL;
  char id[65];
  int c, fd = 1, r;
  if (cli_help (argc, argv, "export [-o FILE] CONTAINER", "  the container's file system as a tar\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    if (c == 'o')
      out = optarg;
    else
      return cli_usage ("export", "unknown option");
  if (optind + 1 != argc)
    return cli_usage ("export", "requires exactly one container");
  if (out == NULL && isatty (1))
    return cli_usage ("export", "refusing to write a tar to a terminal: use -o or a redirect");
  if ((r = open_engine (argv[optind], &e, id)) != 0)
    return r;
  if (out)
    {
      /* Whole or not at all: a scratch file renamed into place. */
      tmp = xasprintf ("%s.tmp.%d", out, (int)getpid ());
      fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0)
        {
          berth_engine_close (e);
          berth_error (&err, errno, "export: open `%s`", tmp);
          return cli_error (&err);
        }
    }
  r = berth_engine_export (e, id, fd, &err);
  if (out)
    {
      if (r == 0 && (fsync (fd) < 0 || rename (tmp, out) < 0))
        r = berth_error (&err, errno, "export: write `%s`", out);
      close (fd);
      if (r < 0)
        unlink (tmp);
    }
  berth_engine_close (e);
  return r < 0 ? cli_error (&err) : 0;
}

int
cmd_diff (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *changes = NULL, *c;
  char id[65];
  size_t i;
  int r;
  if (cli_help (argc, argv, "diff CONTAINER", "  what changed in its file system: A added, C changed, D deleted\n"))
    return 0;
  if (argc != 2 || argv[1][0] == '-')
    return cli_usage ("diff", "requires exactly one container");
  if ((r = open_engine (argv[1], &e, id)) != 0)
    return r;
  if (berth_engine_diff (e, id, &changes, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  json_array_foreach (changes, i, c)
  {
    static const char kinds[] = "CAD";
    printf ("%c %s\n", kinds[json_integer_value (json_object_get (c, "Kind")) % 3],
            json_string_value (json_object_get (c, "Path")));
  }
  json_decref (changes);
  berth_engine_close (e);
  return 0;
}

/* ------------------------------------------------------------------ cp */

struct cp_src
{
  struct berth_engine *e;
  const char *id, *path; /* a container's path, or (id NULL) a host path */
  int owner;
};

/* A child that writes the tar of SRC to the pipe's end it returns. */
static pid_t
tar_child (struct cp_src *s, int *rfd, berth_err_t *err)
{
  int p[2];
  pid_t pid;
  if (pipe2 (p, O_CLOEXEC) < 0)
    return berth_error (err, errno, "pipe");
  pid = fork ();
  if (pid < 0)
    {
      close (p[0]);
      close (p[1]);
      return berth_error (err, errno, "fork");
    }
  if (pid == 0)
    {
      berth_err_t e2 = NULL;
      int r;
      close (p[0]);
      if (s->id)
        r = berth_engine_cp_out (s->e, s->id, s->path, p[1], s->owner, &e2);
      else
        {
          cleanup_free char *d = xstrdup (s->path), *b = xstrdup (s->path);
          cleanup_close int dfd = open (dirname (d), O_PATH | O_DIRECTORY | O_CLOEXEC);
          const char *base = basename (b);
          r = dfd < 0 ? berth_error (&e2, errno, "cp: `%s`", s->path)
                      : berth_pack_tree (dfd, base, strcmp (base, ".") == 0 ? "" : base, p[1], 0, s->owner, &e2);
        }
      if (r < 0)
        {
          fprintf (stderr, "berth: %s\n", e2->msg);
          _exit (1);
        }
      _exit (0);
    }
  close (p[1]);
  *rfd = p[0];
  return pid;
}

static int
wait_child (pid_t pid)
{
  int st = 0;
  if (waitpid (pid, &st, 0) < 0)
    return -1;
  return WIFEXITED (st) && WEXITSTATUS (st) == 0 ? 0 : -1;
}

/* "NAME:PATH": a container and its path; NULL for a host path ("./a:b"
   and "/a:b" are host paths, as docker reads them). */
static char *
split_ctr (const char *arg, const char **path)
{
  const char *colon = strchr (arg, ':');
  if (colon == NULL || arg[0] == '/' || arg[0] == '.' || colon == arg)
    return NULL;
  *path = colon + 1;
  return strndup (arg, (size_t)(colon - arg));
}

static int
cp_to_host (struct berth_engine *e, const char *id, const char *src, const char *dest, int owner)
{
  berth_err_t err = NULL;
  struct cp_src s = { e, id, src, owner };
  cleanup_free char *sb = xstrdup (src);
  const char *sbase = basename (sb);
  struct stat st;
  int fd = -1, r;
  char diffid[BERTH_DIGEST_LEN + 1];
  int64_t size;
  pid_t pid;
  bool contents = strcmp (sbase, ".") == 0;
  if (strcmp (dest, "-") == 0)
    {
      if (isatty (1))
        return cli_usage ("cp", "refusing to write a tar to a terminal");
      r = berth_engine_cp_out (e, id, src, 1, -1, &err);
      return r < 0 ? cli_error (&err) : 0;
    }
  if (stat (dest, &st) == 0 && S_ISDIR (st.st_mode))
    {
      /* Into the directory, under the source's name (or its contents). */
      pid = tar_child (&s, &fd, &err);
      if (pid < 0)
        return cli_error (&err);
      r = berth_unpack_fd (fd, dest, diffid, &size, &err);
      close (fd);
      if (wait_child (pid) < 0 && r == 0)
        return 1;
      return r < 0 ? cli_error (&err) : 0;
    }
  {
    /* A new name: unpacked next to it, then renamed into place. */
    cleanup_free char *dd = xstrdup (dest);
    cleanup_free char *scratch = NULL, *from = NULL;
    const char *parent = dirname (dd);
    if (stat (parent, &st) < 0 || !S_ISDIR (st.st_mode))
      {
        berth_error (&err, ENOENT, "cp: the destination directory `%s` does not exist", parent);
        return cli_error (&err);
      }
    scratch = xasprintf ("%s/.berth-cp-%d", parent, (int)getpid ());
    if (mkdir (scratch, 0700) < 0)
      {
        berth_error (&err, errno, "cp: mkdir `%s`", scratch);
        return cli_error (&err);
      }
    pid = tar_child (&s, &fd, &err);
    if (pid < 0)
      r = -1;
    else
      {
        r = berth_unpack_fd (fd, scratch, diffid, &size, &err);
        close (fd);
        if (wait_child (pid) < 0 && r == 0)
          r = berth_error (&err, 0, "cp: the copy out of the container failed");
      }
    from = contents ? xstrdup (scratch) : xasprintf ("%s/%s", scratch, sbase);
    if (r == 0 && rename (from, dest) < 0)
      r = berth_error (&err, errno, "cp: put `%s` in place", dest);
    {
      berth_err_t e2 = NULL;
      rm_rf_at (AT_FDCWD, scratch, &e2);
      berth_error_release (&e2);
    }
    return r < 0 ? cli_error (&err) : 0;
  }
}

static int
cp_to_ctr (struct berth_engine *e, const char *id, const char *src, const char *dest, int owner)
{
  berth_err_t err = NULL;
  struct cp_src s = { e, NULL, src, owner };
  int fd = 0, r;
  pid_t pid;
  cleanup_free char *sb = xstrdup (src);
  const char *sbase;
  if (strcmp (src, "-") == 0)
    {
      /* A tar on stdin, into a directory (docker's rule). */
      r = berth_engine_cp_in (e, id, dest, 0, NULL, &err);
      return r < 0 ? cli_error (&err) : 0;
    }
  if (access (src, F_OK) < 0)
    {
      berth_error (&err, errno, "cp: `%s`", src);
      return cli_error (&err);
    }
  pid = tar_child (&s, &fd, &err);
  if (pid < 0)
    return cli_error (&err);
  sbase = basename (sb);
  r = berth_engine_cp_in (e, id, dest, fd, sbase, &err);
  close (fd);
  if (wait_child (pid) < 0 && r == 0)
    return 1;
  return r < 0 ? cli_error (&err) : 0;
}

int
cmd_cp (int argc, char **argv)
{
  static const struct option opts[] = { { "archive", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  cleanup_free char *sc = NULL, *dc = NULL;
  const char *sp = NULL, *dp = NULL;
  bool archive = false;
  char id[65];
  int c, r;
  if (cli_help (argc, argv, "cp [-a] CONTAINER:SRC HOST_DEST|-  or  cp [-a] HOST_SRC|- CONTAINER:DEST",
                "  -a, --archive   keep the files' owners (else: the caller's on the host, root in the container)\n"
                "  - is a tar stream on stdout or stdin\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "a", opts, NULL)) != -1)
    if (c == 'a')
      archive = true;
    else
      return cli_usage ("cp", "unknown option");
  if (optind + 2 != argc)
    return cli_usage ("cp", "requires a source and a destination");
  sc = split_ctr (argv[optind], &sp);
  dc = split_ctr (argv[optind + 1], &dp);
  if ((sc == NULL) == (dc == NULL))
    return cli_usage ("cp", "one of source and destination must be CONTAINER:PATH, the other a host path");
  if ((r = open_engine (sc ? sc : dc, &e, id)) != 0)
    return r;
  if (sc)
    r = cp_to_host (e, id, *sp ? sp : "/", argv[optind + 1], archive ? -1 : (int)getuid ());
  else
    r = cp_to_ctr (e, id, argv[optind], *dp ? dp : "/", archive ? -1 : 0);
  berth_engine_close (e);
  return r;
}

/* ---------------------------------------------------------------- commit */

/* CMD and ENTRYPOINT: a JSON array, or the shell form (sh -c). */
static json_t *
exec_form (const char *v)
{
  json_t *j = json_loads (v, 0, NULL);
  if (json_is_array (j))
    {
      size_t i;
      json_t *x;
      json_array_foreach (j, i, x) if (!json_is_string (x))
      {
        json_decref (j);
        return NULL;
      }
      return j;
    }
  json_decref (j);
  return json_pack ("[sss]", "/bin/sh", "-c", v);
}

static void
env_put (json_t *env, const char *kv)
{
  size_t n = strcspn (kv, "=");
  json_t *v;
  size_t i;
  json_array_foreach (env, i,
                      v) if (strncmp (json_string_value (v) ?: "", kv, n) == 0 && json_string_value (v)[n] == '=')
  {
    json_array_set_new (env, i, json_string (kv));
    return;
  }
  json_array_append_new (env, json_string (kv));
}

/* One --change: docker's Dockerfile instructions for commit. */
static int
apply_change (json_t *cfg, const char *change, berth_err_t *err)
{
  cleanup_free char *word = NULL;
  const char *sp = strpbrk (change, " \t"), *v;
  json_t *j;
  if (sp == NULL)
    return berth_error (err, EINVAL, "--change \"%s\": an instruction and its value", change);
  word = strndup (change, (size_t)(sp - change));
  for (char *c = word; *c; c++)
    *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
  for (v = sp; *v == ' ' || *v == '\t'; v++)
    ;
  if (strcmp (word, "CMD") == 0 || strcmp (word, "ENTRYPOINT") == 0)
    {
      if ((j = exec_form (v)) == NULL)
        return berth_error (err, EINVAL, "--change %s: \"%s\" is not a JSON array of strings", word, v);
      json_object_set_new (cfg, strcmp (word, "CMD") == 0 ? "Cmd" : "Entrypoint", j);
      /* docker: a new ENTRYPOINT drops the image's CMD. */
      if (strcmp (word, "ENTRYPOINT") == 0 && !strstr (change, "CMD"))
        json_object_set_new (cfg, "Cmd", json_null ());
      return 0;
    }
  if (strcmp (word, "ENV") == 0)
    {
      cleanup_free char *kv = NULL;
      json_t *env = json_object_get (cfg, "Env");
      if (!json_is_array (env))
        json_object_set_new (cfg, "Env", env = json_array ());
      kv = strchr (v, '=') ? xstrdup (v) : NULL;
      if (kv == NULL)
        {
          const char *s2 = strpbrk (v, " \t");
          if (s2 == NULL)
            return berth_error (err, EINVAL, "--change ENV \"%s\": NAME=VALUE or NAME VALUE", v);
          kv = xasprintf ("%.*s=%s", (int)(s2 - v), v, s2 + strspn (s2, " \t"));
        }
      env_put (env, kv);
      return 0;
    }
  if (strcmp (word, "WORKDIR") == 0 || strcmp (word, "USER") == 0 || strcmp (word, "STOPSIGNAL") == 0)
    {
      json_object_set_new (cfg,
                           strcmp (word, "WORKDIR") == 0 ? "WorkingDir"
                           : strcmp (word, "USER") == 0  ? "User"
                                                         : "StopSignal",
                           json_string (v));
      return 0;
    }
  if (strcmp (word, "EXPOSE") == 0 || strcmp (word, "VOLUME") == 0)
    {
      bool expose = strcmp (word, "EXPOSE") == 0;
      const char *key = expose ? "ExposedPorts" : "Volumes";
      json_t *o = json_object_get (cfg, key);
      cleanup_free char *copy = xstrdup (v);
      if (!json_is_object (o))
        json_object_set_new (cfg, key, o = json_object ());
      for (char *save = NULL, *t = strtok_r (copy, " \t", &save); t; t = strtok_r (NULL, " \t", &save))
        {
          char *end;
          long port = expose ? strtol (t, &end, 10) : 0;
          if (expose
              && (end == t || port < 1 || port > 65535 || (*end && strcmp (end, "/tcp") && strcmp (end, "/udp"))))
            return berth_error (err, EINVAL, "--change EXPOSE: \"%s\" is not PORT[/tcp|udp]", t);
          if (!expose && t[0] != '/')
            return berth_error (err, EINVAL, "--change VOLUME: \"%s\" is not an absolute path", t);
          if (expose && *end == '\0')
            {
              cleanup_free char *k = xasprintf ("%s/tcp", t);
              json_object_set_new (o, k, json_object ());
            }
          else
            json_object_set_new (o, t, json_object ());
        }
      return 0;
    }
  if (strcmp (word, "LABEL") == 0)
    {
      json_t *l = json_object_get (cfg, "Labels");
      const char *eq = strchr (v, '=');
      cleanup_free char *k = NULL, *val = NULL;
      if (eq == NULL || eq == v)
        return berth_error (err, EINVAL, "--change LABEL \"%s\": KEY=VALUE", v);
      if (!json_is_object (l))
        json_object_set_new (cfg, "Labels", l = json_object ());
      k = strndup (v, (size_t)(eq - v));
      val = xstrdup (eq + 1);
      if (val[0] == '"' && strlen (val) >= 2 && val[strlen (val) - 1] == '"')
        {
          val[strlen (val) - 1] = '\0';
          memmove (val, val + 1, strlen (val));
        }
      json_object_set_new (l, k, json_string (val));
      return 0;
    }
  return berth_error (err, EINVAL,
                      "--change: \"%s\" is not supported (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, "
                      "VOLUME, WORKDIR)",
                      word);
}

int
cmd_commit (int argc, char **argv)
{
  static const struct option opts[] = { { "author", required_argument, NULL, 'a' },
                                        { "message", required_argument, NULL, 'm' },
                                        { "change", required_argument, NULL, 'c' },
                                        { "pause", required_argument, NULL, 'p' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  const char *author = NULL, *msg = NULL;
  json_t *changes = json_array (), *cfg = NULL, *rec = NULL, *ch;
  char id[65], md[BERTH_DIGEST_LEN + 1];
  size_t i;
  int c, r;
  if (cli_help (argc, argv, "commit [-a AUTHOR] [-m MESSAGE] [-c CHANGE]... CONTAINER [REPOSITORY[:TAG]]",
                "  -c, --change   CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR\n"
                "  a running container is paused while its layer is written\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "a:m:c:p:", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        author = optarg;
        break;
      case 'm':
        msg = optarg;
        break;
      case 'c':
        json_array_append_new (changes, json_string (optarg));
        break;
      case 'p':
        if (strcmp (optarg, "true") != 0)
          return cli_usage ("commit", "--pause: berth always pauses a running container for the commit");
        break;
      default:
        return cli_usage ("commit", "unknown option");
      }
  if (optind + 1 != argc && optind + 2 != argc)
    return cli_usage ("commit", "requires a container and at most one image name");
  if ((r = open_engine (argv[optind], &e, id)) != 0)
    return r;
  /* docker's rule: the image's config with what the container was run
     with (its command, environment and labels), then the changes. */
  if (berth_engine_image_config (e, id, &cfg, &err) < 0 || berth_engine_load (e, id, &rec, &err) < 0)
    goto fail;
  {
    json_t *entry = json_object_get (cfg, "Entrypoint"), *args = json_object_get (rec, "Args"), *cmd = json_array ();
    size_t ne = json_array_size (entry), k;
    bool prefix = ne <= json_array_size (args);
    for (k = 0; prefix && k < ne; k++)
      prefix = json_equal (json_array_get (entry, k), json_array_get (args, k));
    if (!prefix)
      json_object_set_new (cfg, "Entrypoint", json_null ());
    for (k = prefix ? ne : 0; k < json_array_size (args); k++)
      json_array_append (cmd, json_array_get (args, k));
    json_object_set_new (cfg, "Cmd", cmd);
    if (json_is_array (json_object_get (json_object_get (rec, "Config"), "Env")))
      json_object_set (cfg, "Env", json_object_get (json_object_get (rec, "Config"), "Env"));
    if (json_object_size (json_object_get (json_object_get (rec, "Config"), "Labels")))
      {
        if (!json_is_object (json_object_get (cfg, "Labels")))
          json_object_set_new (cfg, "Labels", json_object ());
        json_object_update (json_object_get (cfg, "Labels"),
                            json_object_get (json_object_get (rec, "Config"), "Labels"));
      }
  }
  json_array_foreach (changes, i, ch) if (apply_change (cfg, json_string_value (ch), &err) < 0) goto fail;
  if (berth_engine_commit (e, id, cfg, msg, author, optind + 2 == argc ? argv[optind + 1] : NULL, md, &err) < 0)
    goto fail;
  {
    struct berth_image *img = NULL;
    if (berth_image_load (e->store, md, &img, &err) < 0)
      goto fail;
    printf ("%s\n", img->config_digest);
    berth_image_free (img);
  }
  json_decref (cfg);
  json_decref (rec);
  json_decref (changes);
  berth_engine_close (e);
  return 0;
fail:
  json_decref (cfg);
  json_decref (rec);
  json_decref (changes);
  berth_engine_close (e);
  return cli_error (&err);
}
