/*
 * help.c - `attest help [TOPIC]`: the usage of a command (as its --help
 * prints it) or a topic that spans commands: exit codes, the run
 * directory, replay, scripting.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct topic {
    const char *name, *summary, *text;
} topics[] = {
    {"exit-codes", "what every command's exit status means",
     "Every attest command exits with:\n"
     "  0  ok; for verify: everything checked passed (VERIFIED)\n"
     "  1  checked, and it is wrong (FAILED): the report names the record, file,\n"
     "     tensor or step\n"
     "  2  usage or operational error: bad arguments, a missing or unreadable\n"
     "     file, no memory (ERROR). Nothing was decided about the run.\n"
     "  3  verify only: partial - what was checked passed, but something asked\n"
     "     for could not be checked (listed as \"not checked\", never as passed)\n"},
    {"files", "the run directory the examples leave",
     "A recorded run (examples/c/train_gpt.c, examples/pytorch/train.py):\n"
     "  run.log          the signed, append-only log (format/LOG.md)\n"
     "  run.log.idx      caches (rebuilt when missing or stale; never trusted)\n"
     "  run.log.tree\n"
     "  run.key          the run's signing key (secret, mode 0600)\n"
     "  run.pub          its verifier key: publish it out of band\n"
     "  data/            the shards, by the names the log records\n"
     "  checkpoints/     safetensors checkpoints, by the names the log records\n"
     "attest verify --replay looks for data/ and checkpoints/ beside the log\n"
     "unless --data and --checkpoints say otherwise.\n"},
    {"replay", "how attest verify re-executes training",
     "attest verify LOG --pub RUN.pub --replay N --nonce HEX\n"
     "  1. checks every shard and checkpoint file against the log;\n"
     "  2. regenerates the initial weights from the committed seed and\n"
     "     compares them with checkpoint 0, bit for bit;\n"
     "  3. draws N segments (checkpoint k to k+1) from SHA-256 of the last\n"
     "     seal and the nonce, adds the first segment and the largest updates;\n"
     "  4. replays each: the built-in engine bit for bit (weights, optimizer\n"
     "     state, every logged lr, loss, gradient norm) on --threads T or on an\n"
     "     NVIDIA GPU with --device cuda (the same bits either way), or the\n"
     "     run's own command (--external-replay) within the run's tolerance;\n"
     "  5. reports each segment and the chance that the uniform draw catches a\n"
     "     run with a given fraction of forged segments.\n"
     "Every segment is also checked against what AdamW can move the weights in\n"
     "its logged steps; implausible ones (a swap, an interpolation) are always\n"
     "replayed. --model FILE asks whether FILE came out of the run (a\n"
     "permutation test on its losses against the committed order).\n"
     "Give a fresh nonce: without one the prover could predict the draw.\n"
     "Specification: verify/REPLAY.md, engine/ENGINE.md; what each check\n"
     "proves: verify/SOUNDNESS.md.\n"},
    {"scripting", "output for scripts",
     "  attest verify ... --json        the whole report as one JSON object\n"
     "  attest log show LOG --json      the records as JSON Lines\n"
     "  attest log get LOG --index I    one record's bytes, as stored\n"
     "  attest log prove LOG --index I  a C2SP tlog-proof (a per-record receipt)\n"
     "Progress lines go to stderr, reports to stdout; exit codes: attest help\n"
     "exit-codes.\n"},
};

static const char *const commands[] = {"keygen", "log",    "record", "tpm",
                                       "verify", "bundle", "export", "live"};

static const char usage[] = "usage: attest help [COMMAND|TOPIC]\n";

static void list(void)
{
    fputs("commands (attest help COMMAND, or attest COMMAND --help):\n  ", stdout);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("%s%s", i ? " " : "", commands[i]);
    fputs("\ntopics:\n", stdout);
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        printf("  %-12s %s\n", topics[i].name, topics[i].summary);
}

int cmd_help(int argc, char **argv, int (*run)(const char *cmd, int argc, char **argv))
{
    if (argc < 2) {
        list();
        return 0;
    }
    if (argc > 2) return cli_usage(usage, "one topic at a time");
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (strcmp(argv[1], topics[i].name) == 0) {
            fputs(topics[i].text, stdout);
            return 0;
        }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i]) == 0) {
            char *args[] = {argv[1], "--help", NULL};
            return run(argv[1], 2, args);
        }
    cli_error("no help on \"%s\"", argv[1]);
    list();
    return EXIT_USAGE;
}
