#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/image/image.h"
#include "lib/image/reference.h"
#include "lib/image/registry.h"
#include "lib/base/utils.h"

/* One line per layer: bars redrawn in place on a terminal, a plain line
   when a layer completes otherwise. */
struct progress
{
  bool tty;
  char digests[64][BERTH_DIGEST_LEN + 1];
  char lines[64][96];
  int n, drawn;
};

static void
on_progress (void *data, const char *digest, int64_t done, int64_t total, bool finished)
{
  struct progress *p = data;
  int i;
  for (i = 0; i < p->n; i++)
    if (strcmp (p->digests[i], digest) == 0)
      break;
  if (i == p->n)
    {
      if (p->n == 64)
        return;
      strcpy (p->digests[p->n++], digest);
    }
  if (!p->tty)
    {
      if (finished)
        printf ("%.12s: %s\n", digest + 7, done ? "Pull complete" : "Already exists");
      return;
    }
  if (finished)
    snprintf (p->lines[i], sizeof (p->lines[i]), "%.12s: %s", digest + 7, done ? "Pull complete" : "Already exists");
  else
    {
      char bar[31];
      int fill = total > 0 ? (int)(30 * done / total) : 0;
      char a[16], b[16];
      memset (bar, ' ', 30);
      memset (bar, '=', (size_t)fill);
      if (fill < 30 && fill > 0)
        bar[fill - 1] = '>';
      bar[30] = '\0';
      cli_human_size ((double)done, a, sizeof (a));
      cli_human_size ((double)total, b, sizeof (b));
      snprintf (p->lines[i], sizeof (p->lines[i]), "%.12s: Downloading [%s] %s/%s", digest + 7, bar, a, b);
    }
  if (p->drawn)
    printf ("\033[%dA", p->drawn);
  for (int k = 0; k < p->n; k++)
    printf ("\033[2K%s\n", p->lines[k]);
  p->drawn = p->n;
  fflush (stdout);
}

static int
parse_registry_opts (const char *cmd, int argc, char **argv, struct berth_registry_opts *o, const char **platform)
{
  static const struct option opts[] = { { "tls-verify", required_argument, NULL, 't' },
                                        { "platform", required_argument, NULL, 'p' },
                                        { "quiet", no_argument, NULL, 'q' },
                                        { NULL, 0, NULL, 0 } };
  int c;
  o->tls_verify = true;
  while ((c = getopt_long (argc, argv, "q", opts, NULL)) != -1)
    switch (c)
      {
      case 't':
        if (strcmp (optarg, "false") == 0)
          o->tls_verify = false;
        else if (strcmp (optarg, "true") != 0)
          return cli_usage (cmd, "--tls-verify takes true or false"), -1;
        break;
      case 'p':
        if (platform == NULL)
          return cli_usage (cmd, "unknown option --platform"), -1;
        *platform = optarg;
        break;
      case 'q':
        o->progress = NULL;
        break;
      default:
        return cli_usage (cmd, "unknown option"), -1;
      }
  return 0;
}

int
cmd_pull (int argc, char **argv)
{
  struct berth_registry_opts o = { 0 };
  struct progress prog = { .tty = isatty (1) };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  const char *platform = NULL;
  int r;

  if (cli_help (argc, argv, "pull [--platform OS/ARCH] [--tls-verify=false] [-q] NAME[:TAG|@DIGEST]",
                "      --platform P       which image of a multi-platform index (linux/amd64)\n"
                "      --tls-verify=false plain http, for a registry you know to be local\n"))
    return 0;
  o.progress = on_progress;
  o.progress_data = &prog;
  if (parse_registry_opts ("pull", argc, argv, &o, &platform) < 0)
    return 125;
  o.platform = platform;
  if (optind + 1 != argc)
    return cli_usage ("pull", "requires exactly one image");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  r = berth_registry_pull (s, argv[optind], &o, md, &err);
  berth_store_close (s);
  if (r < 0)
    return cli_error (&err);
  printf ("Digest: %s\n", md);
  {
    struct berth_ref *ref = NULL;
    if (berth_ref_parse (argv[optind], &ref, &err) == 0)
      {
        cleanup_free char *canon = berth_ref_string (ref);
        cleanup_free char *fam = berth_ref_familiar (canon);
        printf ("Status: Downloaded image for %s\n%s\n", fam, canon);
        berth_ref_free (ref);
      }
    berth_error_release (&err);
  }
  return 0;
}

int
cmd_push (int argc, char **argv)
{
  struct berth_registry_opts o = { 0 };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  int r;
  if (cli_help (argc, argv, "push [--tls-verify=false] NAME[:TAG] [DESTINATION]", NULL))
    return 0;
  if (parse_registry_opts ("push", argc, argv, &o, NULL) < 0)
    return 125;
  if (optind + 1 != argc && optind + 2 != argc)
    return cli_usage ("push", "requires an image (and optionally where to push it)");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  r = berth_registry_push (s, argv[optind], argv[optind + 1] ? argv[optind + 1] : argv[optind], &o, &err);
  berth_store_close (s);
  if (r < 0)
    return cli_error (&err);
  printf ("Pushed %s\n", argv[optind + 1] ? argv[optind + 1] : argv[optind]);
  return 0;
}

int
cmd_login (int argc, char **argv)
{
  static const struct option opts[] = { { "username", required_argument, NULL, 'u' },
                                        { "password", required_argument, NULL, 'p' },
                                        { "password-stdin", no_argument, NULL, 'P' },
                                        { "tls-verify", required_argument, NULL, 't' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_registry_opts o = { .tls_verify = true };
  berth_err_t err = NULL;
  const char *user = NULL, *pass = NULL;
  char buf[4096];
  bool from_stdin = false;
  int c;
  if (cli_help (argc, argv, "login -u USER (-p PASSWORD | --password-stdin) [--tls-verify=false] REGISTRY", NULL))
    return 0;
  while ((c = getopt_long (argc, argv, "u:p:", opts, NULL)) != -1)
    switch (c)
      {
      case 'u':
        user = optarg;
        break;
      case 'p':
        pass = optarg;
        break;
      case 'P':
        from_stdin = true;
        break;
      case 't':
        o.tls_verify = strcmp (optarg, "false") != 0;
        break;
      default:
        return cli_usage ("login", "unknown option");
      }
  if (optind + 1 != argc || user == NULL)
    return cli_usage ("login", "requires -u USER and a registry");
  if (from_stdin)
    {
      ssize_t n = read (0, buf, sizeof (buf) - 1);
      if (n <= 0)
        return cli_usage ("login", "no password on stdin");
      buf[n] = '\0';
      buf[strcspn (buf, "\r\n")] = '\0';
      pass = buf;
    }
  if (pass == NULL)
    return cli_usage ("login", "requires -p PASSWORD or --password-stdin");
  if (berth_registry_login (argv[optind], user, pass, &o, &err) < 0)
    return cli_error (&err);
  printf ("Login Succeeded\n");
  return 0;
}

int
cmd_logout (int argc, char **argv)
{
  berth_err_t err = NULL;
  if (cli_help (argc, argv, "logout REGISTRY", NULL))
    return 0;
  if (argc != 2)
    return cli_usage ("logout", "requires a registry");
  if (berth_registry_logout (argv[1], NULL, &err) < 0)
    return cli_error (&err);
  printf ("Removing login credentials for %s\n", argv[1]);
  return 0;
}
