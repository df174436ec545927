/*
 * main.c - the `attest` command: dispatches to the subcommands and holds
 * the small helpers they share. No logic of its own beyond parsing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/verify.h"
#include "cli/cli.h"
#include "engine/gpt.h"

static const char usage[] =
    "usage: attest <command> [options]\n"
    "\n"
    "commands:\n"
    "  keygen NAME -o PREFIX          create a signing key (PREFIX.key, PREFIX.pub)\n"
    "  log init|append|seal|show|get|checkpoint|prove|consistency|recover LOG ...\n"
    "                                 write and read a training log\n"
    "  record code|init|shard|step|checkpoint|note LOG ...\n"
    "                                 record one fact, hashed as the library does\n"
    "  tpm enroll --tcti T --key K -o FILE\n"
    "                                 enroll a TPM's attestation key (auditor's challenge)\n"
    "  verify LOG --pub PREFIX.pub    check a log: records, order, seals, signatures;\n"
    "                                 with --replay, re-execute training segments\n"
    "  bundle create LOG -o RUN.attest\n"
    "                                 pack a run into one file for offline auditors\n"
    "  export LOG --format in-toto    a signed in-toto statement of the run (DSSE)\n"
    "  live LOG --pub RUN.pub -o TRANSCRIPT\n"
    "                                 a live verification session on the training host\n"
    "  version                        print the version\n"
    "\n"
    "  help [COMMAND|TOPIC]           usage of a command; topics: exit-codes, files,\n"
    "                                 replay, scripting\n"
    "\n"
    "Every command takes --help. Exit status: 0 ok/verified, 1 verification failed,\n"
    "2 usage or operational error, 3 partially verified (attest help exit-codes).\n";

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("attest: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

int cli_usage(const char *text, const char *fmt, ...)
{
    va_list ap;
    fputs("attest: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", text);
    return EXIT_USAGE;
}

int cli_device(const char *usage_text, const char *name)
{
    gpt_device d;
    char why[256];
    if (gpt_device_parse(name, &d) != 0)
        return cli_usage(usage_text, "--device takes cpu or cuda, not \"%s\"", name);
    if (d == GPT_CUDA && gpt_cuda_available(why, sizeof why) != 0)
        return cli_error("%s", why);
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int cli_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

char *cli_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f) || !buf;
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int cli_write_html(const attest_report *report, const char *path)
{
    char *page = NULL;
    FILE *f = NULL;
    int ok = attest_report_html(report, &page) == 0 && (f = fopen(path, "w")) != NULL &&
             fputs(page, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    free(page);
    return ok ? 0 : cli_error("%s: cannot write the HTML report", path);
}

static int dispatch(const char *cmd, int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2) fputs(usage, stdout), putchar('\n');
        return cmd_help(argc - 1, argv + 1, dispatch);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("attest %s\n", ATTEST_VERSION_STRING);
        return 0;
    }
    return dispatch(cmd, argc - 1, argv + 1);
}

/* Runs subcommand cmd with its own argv (argv[0] is the subcommand). */
static int dispatch(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "keygen") == 0) return cmd_keygen(argc, argv);
    if (strcmp(cmd, "log") == 0) return cmd_log(argc, argv);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(argc, argv);
    if (strcmp(cmd, "record") == 0) return cmd_record(argc, argv);
    if (strcmp(cmd, "tpm") == 0) return cmd_tpm(argc, argv);
    if (strcmp(cmd, "bundle") == 0) return cmd_bundle(argc, argv);
    if (strcmp(cmd, "export") == 0) return cmd_export(argc, argv);
    if (strcmp(cmd, "live") == 0) return cmd_live(argc, argv);
    return cli_usage(usage, "unknown command \"%s\"", cmd);
}
