/*
 * live.c - `attest live LOG ...`: a live verification session on the
 * training host. The auditor's nonce (typed in, given, or read from a
 * file) is bound at once to a fresh TPM quote of the log head; then the log
 * is verified and the segments the nonce draws are replayed on this host,
 * with progress a room can follow (terminal, and an HTML page that
 * refreshes itself). The transcript (nonce, quote, selection, results) is
 * what an auditor later checks offline with `attest verify --transcript`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/anchor.h"
#include "attest/error.h"
#include "attest/verify.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest live LOG --pub RUN.pub [--nonce HEX | --nonce-file FILE] -o TRANSCRIPT\n"
    "                   [--tcti TCTI] [--replay N] [--threads T] [--device cpu|cuda]\n"
    "                   [--data DIR]\n"
    "                   [--checkpoints DIR] [--html FILE] [--progress|--quiet]\n"
    "\n"
    "A live session on the training host. The auditor's nonce (hex; asked for on\n"
    "the terminal when neither --nonce nor --nonce-file is given) is bound at once\n"
    "to a fresh TPM quote of the latest seal (--tcti, default $ATTEST_TCTI). Then\n"
    "LOG is verified and the segments the nonce draws are replayed here (--replay\n"
    "N, default 3, on --device cpu or cuda; see attest help replay), with progress on the terminal (not on\n"
    "a pipe unless --progress) and in\n"
    "--html FILE, a page that refreshes itself until the final report replaces\n"
    "it. TRANSCRIPT (nonce, quote, selection, results) is for auditors:\n"
    "  attest verify LOG --pub RUN.pub --transcript TRANSCRIPT\n"
    "Exit status: that of the verification (0, 1, 2).\n";

typedef struct session {
    const char *html;
    int quiet, force;
    char *lines;
    size_t len;
} session;

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* The progress page: every line so far, reloaded by the browser every 2 s. */
static void write_progress(const session *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->html);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fputs("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
          "content=\"2\"><title>attest live: verifying</title><style>body{font:1.4em "
          "monospace;margin:2em}h1{font-size:1.6em}</style></head><body><h1>attest live "
          "verification in progress</h1><pre>",
          f);
    if (s->lines) html_escape(f, s->lines);
    fputs("</pre></body></html>\n", f);
    if (fclose(f) == 0) rename(tmp, s->html);
}

static void progress(void *ctx, const char *line)
{
    session *s = ctx;
    int tty = isatty(2);
    if (!s->quiet && (s->force || tty)) fprintf(stderr, "%s%s%s\n", tty ? "\033[1m" : "", line, tty ? "\033[0m" : "");
    if (!s->html) return;
    size_t n = strlen(line);
    char *nl = realloc(s->lines, s->len + n + 2);
    if (!nl) return;
    s->lines = nl;
    memcpy(s->lines + s->len, line, n);
    s->len += n;
    s->lines[s->len++] = '\n';
    s->lines[s->len] = 0;
    write_progress(s);
}

static int read_nonce(const char *hex, const char *file, uint8_t **out, size_t *len)
{
    char buf[1100], *text = NULL;
    if (file) {
        size_t n = 0;
        if (!(text = cli_slurp(file, &n))) return cli_error("%s: cannot read the nonce", file);
        hex = text;
    } else if (!hex) {
        fputs("auditor's nonce (hex): ", stderr);
        if (!fgets(buf, sizeof buf, stdin)) return cli_error("no nonce given");
        hex = buf;
    }
    size_t n = strcspn(hex, "\r\n \t");
    int bad = n == 0 || n % 2 || n > 1024 || strspn(hex, "0123456789abcdefABCDEF") < n;
    if (!bad && !(*out = malloc(n / 2))) bad = 1;
    for (size_t i = 0; !bad && i < n / 2; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        (*out)[i] = (uint8_t)v;
    }
    *len = n / 2;
    free(text);
    return bad ? cli_error("the nonce must be 1 to 512 bytes in hex") : 0;
}

int cmd_live(int argc, char **argv)
{
    const char *path = NULL, *pub = NULL, *nonce_hex = NULL, *nonce_file = NULL, *out = NULL,
               *tcti = NULL, *html = NULL;
    attest_replay_options ro = {0};
    int quiet = 0, force = 0;
    ro.segments = 3;
    uint64_t v;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--pub") == 0 && more) pub = argv[++i];
        else if (strcmp(a, "--nonce") == 0 && more) nonce_hex = argv[++i];
        else if (strcmp(a, "--nonce-file") == 0 && more) nonce_file = argv[++i];
        else if (strcmp(a, "-o") == 0 && more) out = argv[++i];
        else if (strcmp(a, "--tcti") == 0 && more) tcti = argv[++i];
        else if (strcmp(a, "--html") == 0 && more) html = argv[++i];
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--progress") == 0) force = 1;
        else if (strcmp(a, "--data") == 0 && more) ro.data_dir = argv[++i];
        else if (strcmp(a, "--checkpoints") == 0 && more) ro.checkpoint_dir = argv[++i];
        else if (strcmp(a, "--replay") == 0 && more) {
            if (cli_u64(argv[++i], &ro.segments) != 0)
                return cli_usage(usage, "--replay takes a number of segments");
        } else if (strcmp(a, "--threads") == 0 && more) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 256)
                return cli_usage(usage, "--threads takes a number from 1 to 256");
            ro.threads = (unsigned)v;
        } else if (strcmp(a, "--device") == 0 && more) {
            int drc = cli_device(usage, argv[++i]);
            if (drc) return drc;
            ro.device = argv[i];
        } else if (a[0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", a);
        else if (!path)
            path = a;
        else
            return cli_usage(usage, "unexpected argument \"%s\"", a);
    }
    if (!path || !pub || !out) return cli_usage(usage, "LOG, --pub and -o are required");
    if (nonce_hex && nonce_file) return cli_usage(usage, "--nonce or --nonce-file, not both");

    uint8_t *nonce = NULL;
    size_t nonce_len = 0;
    int rc = read_nonce(nonce_hex, nonce_file, &nonce, &nonce_len);
    if (rc) return rc;
    session s = {html, quiet, force, NULL, 0};
    char err[600], *quote = NULL;
    progress(&s, "nonce received; taking a TPM quote of the log head");
    if ((rc = attest_live_quote(path, tcti, nonce, nonce_len, &quote, err, sizeof err)) != 0) {
        free(nonce);
        return cli_error("%s", err);
    }
    json_t *q = json_loads(quote, 0, NULL);
    free(quote);
    char line[200];
    snprintf(line, sizeof line, "TPM quote taken over the seal of tree size %lld",
             (long long)json_integer_value(json_object_get(q, "size")));
    progress(&s, line);

    // The verification itself, with the nonce's draw.
    attest_verifier *key = NULL;
    attest_report *report = NULL;
    if (attest_verifier_load(&key, pub, err, sizeof err) != 0) {
        json_decref(q);
        free(nonce);
        return cli_error("%s: %s", pub, err);
    }
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    char data[4096], ckpts[4096];
    if (slash) *slash = 0;
    snprintf(data, sizeof data, "%s/data", slash ? dir : ".");
    snprintf(ckpts, sizeof ckpts, "%s/checkpoints", slash ? dir : ".");
    free(dir);
    if (!ro.data_dir) ro.data_dir = data;
    if (!ro.checkpoint_dir) ro.checkpoint_dir = ckpts;
    ro.nonce = nonce;
    ro.nonce_len = nonce_len;
    ro.progress = progress;
    ro.progress_ctx = &s;
    attest_verify_options opts = ATTEST_VERIFY_OPTIONS_INIT;
    opts.replay = &ro;
    int vrc = attest_verify_log_ex(&report, path, key, &opts);
    attest_verifier_free(key);
    free(nonce);
    free(s.lines);
    if (!report) {
        json_decref(q);
        return cli_error("out of memory");
    }

    // The transcript: the quote, and what this session found.
    char *rj = NULL, *text = NULL;
    json_t *r = attest_report_json(report, &rj) == 0 ? json_loads(rj, 0, NULL) : NULL;
    free(rj);
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_t *t = json_pack("{s:s, s:s, s:o, s:I, s:O, s:O}", "type", "attest-live-transcript/v1",
                          "time", stamp, "quote", q, "replay_segments",
                          (json_int_t)ro.segments, "verdict",
                          r ? json_object_get(r, "verdict") : json_null(), "replay",
                          r && json_object_get(r, "replay") ? json_object_get(r, "replay")
                                                            : json_null());
    json_decref(r);
    if (!t || json_dump_file(t, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0) {
        json_decref(t);
        attest_report_free(report);
        return cli_error("%s: cannot write the transcript", out);
    }
    json_decref(t);
    if (attest_report_text(report, &text) == 0)
        fputs(text, vrc == 0 || vrc == ATTEST_EVERIFY ? stdout : stderr);
    free(text);
    if (html && cli_write_html(report, html) != 0) {
        attest_report_free(report);
        return EXIT_USAGE;
    }
    attest_report_free(report);
    printf("transcript %s (check: attest verify %s --pub %s --transcript %s)\n", out, path, pub,
           out);
    return vrc == 0 ? EXIT_VERIFIED : vrc == ATTEST_EVERIFY ? EXIT_FAILED : EXIT_USAGE;
}
