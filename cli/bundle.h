/*
 * bundle.h (cli) - what `attest verify` borrows from `attest bundle`: the
 * progress bar and unpacking a bundle into a private temporary directory.
 */
#ifndef ATTEST_CLI_BUNDLE_H
#define ATTEST_CLI_BUNDLE_H

#include <stdint.h>

#include "attest/bundle.h"

/*
 * attest_bundle_options.progress for the CLI: a bar on stderr when stderr
 * is a terminal, nothing otherwise (never on a pipe). ctx is the label
 * ("bundling", "extracting"), a const char *.
 */
void cli_progress(void *ctx, uint64_t done, uint64_t total, const char *name);

/*
 * Extracts the bundle at `path` into a new directory made by mkdtemp under
 * $TMPDIR (or /tmp), *dir its malloc'd path, *b the manifest. show_progress:
 * the bar on a terminal. Returns 0 or an exit code after printing why (the
 * directory is then already removed and *dir NULL).
 */
int cli_bundle_unpack(const char *path, int show_progress, char **dir, attest_bundle **b);

/*
 * The code commit of an unpacked bundle (a git bundle member), checked out
 * into dir/code-tree with git; *code_dir is that path (malloc'd), or NULL
 * when the bundle holds no code. Returns 0, or EXIT_USAGE with a message.
 */
int cli_bundle_code(const char *dir, attest_bundle *b, char **code_dir);

/* Removes a directory tree this process made (no symbolic links followed). */
void cli_rmtree(const char *dir);

#endif
