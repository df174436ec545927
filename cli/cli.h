/*
 * cli.h - what the `attest` subcommands share: exit codes, argument
 * helpers and error printing. The subcommands only parse, call the
 * library and print.
 */
#ifndef ATTEST_CLI_H
#define ATTEST_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes of every subcommand. */
#define EXIT_VERIFIED 0
#define EXIT_FAILED 1 /* checked, and it is wrong */
#define EXIT_USAGE 2  /* usage or operational error */

/* Prints "attest: <message>" on stderr and returns EXIT_USAGE. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the usage text on stderr for a bad command line; returns EXIT_USAGE. */
int cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when argv has -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Parses a decimal uint64 (no sign, no junk); 0 on success. */
int cli_u64(const char *s, uint64_t *out);

/*
 * Checks a --device value ("cpu" or "cuda") and, for "cuda", that a GPU can
 * be used; 0, or prints why not and returns EXIT_USAGE.
 */
int cli_device(const char *usage_text, const char *name);

/* Reads a whole file into a NUL-terminated malloc'd buffer, or NULL (errno set). */
char *cli_slurp(const char *path, size_t *len);

/* Writes the report as an HTML page at path; 0, or EXIT_USAGE with a message. */
struct attest_report;
int cli_write_html(const struct attest_report *report, const char *path);

int cmd_keygen(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_tpm(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_live(int argc, char **argv);
/* `attest help`: run(cmd, argc, argv) runs subcommand cmd (argv[0] is its name). */
int cmd_help(int argc, char **argv, int (*run)(const char *cmd, int argc, char **argv));

#endif
