/*
 * record.c - `attest record code|init|shard|step|checkpoint|note LOG ...`:
 * one fact per call for shell pipelines, through the same recorder
 * (attest/run.h) as a training loop, so the digests are the library's.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "attest/run.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest record <fact> LOG [options]\n"
    "\n"
    "  code LOG [--repo DIR]            the git commit and uncommitted changes of DIR (.)\n"
    "  init LOG --seed S --initializer NAME [--initializer-version V]\n"
    "           [--data-seed S] [--checkpoint FILE]\n"
    "                                   the initialization, before the first step\n"
    "  shard LOG --id N --layout L FILE [--name NAME]\n"
    "                                   a data shard; L: bytes, tokens-u16le, tokens-u32le,\n"
    "                                   jsonl; zstd files are also hashed decompressed\n"
    "  step LOG --step N --batch ID:FIRST:COUNT[,...] (--batch-file F | --batch-sha256 HEX)\n"
    "           --lr X --loss Y [--grad-norm Z] [--user JSON]\n"
    "                                   one optimizer step\n"
    "  checkpoint LOG --step N FILE [--raw]\n"
    "                                   a safetensors checkpoint (--raw: any file, whole digest)\n"
    "  note LOG TEXT                    free text\n"
    "\n"
    "LOG must exist (attest log init). Prints the new record's index. Seal with\n"
    "attest log seal.\n";

struct opts {
    const char *log, *file, *repo, *initializer, *initializer_version, *checkpoint, *layout, *name,
        *batch, *batch_file, *batch_sha256, *user, *lr, *loss, *grad_norm;
    uint64_t seed, data_seed, id, step;
    int has_seed, has_data_seed, has_id, has_step, raw;
};

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    static const char *const str_opts[] = {"--repo",       "--initializer", "--initializer-version",
                                           "--checkpoint", "--layout",      "--name",
                                           "--batch",      "--batch-file",  "--batch-sha256",
                                           "--user",       "--lr",          "--loss",
                                           "--grad-norm"};
    const char **str_dst[] = {&o->repo,       &o->initializer, &o->initializer_version,
                              &o->checkpoint, &o->layout,      &o->name,
                              &o->batch,      &o->batch_file,  &o->batch_sha256,
                              &o->user,       &o->lr,          &o->loss,
                              &o->grad_norm};
    static const char *const num_opts[] = {"--seed", "--data-seed", "--id", "--step"};
    uint64_t *num_dst[] = {&o->seed, &o->data_seed, &o->id, &o->step};
    int *num_has[] = {&o->has_seed, &o->has_data_seed, &o->has_id, &o->has_step};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        if (strcmp(a, "--raw") == 0) {
            o->raw = matched = 1;
        }
        for (size_t k = 0; !matched && k < sizeof str_opts / sizeof *str_opts; k++) {
            if (strcmp(a, str_opts[k]) != 0) continue;
            if (i + 1 >= argc) return cli_usage(usage, "%s needs a value", a);
            *str_dst[k] = argv[++i];
            matched = 1;
        }
        for (size_t k = 0; !matched && k < sizeof num_opts / sizeof *num_opts; k++) {
            if (strcmp(a, num_opts[k]) != 0) continue;
            if (i + 1 >= argc || cli_u64(argv[i + 1], num_dst[k]) != 0 || *num_dst[k] > INT64_MAX)
                return cli_usage(usage, "%s needs an integer from 0 to 2^63-1", a);
            *num_has[k] = 1;
            i++;
            matched = 1;
        }
        if (matched) continue;
        if (a[0] == '-' && a[1]) return cli_usage(usage, "unknown option \"%s\"", a);
        if (!o->log)
            o->log = a;
        else if (!o->file)
            o->file = a;
        else
            return cli_usage(usage, "unexpected argument \"%s\"", a);
    }
    if (!o->log) return cli_usage(usage, "record %s: LOG is required", argv[1]);
    return 0;
}

static int number(const char *opt, const char *s, double *out)
{
    char *end;
    if (!s) return cli_usage(usage, "%s is required", opt);
    errno = 0;
    *out = strtod(s, &end);
    // ERANGE also flags subnormal results, which are numbers all the same.
    if (!*s || *end || (errno == ERANGE && isinf(*out)))
        return cli_usage(usage, "%s: \"%s\" is not a number", opt, s);
    return 0;
}

/* ID:FIRST:COUNT[,ID:FIRST:COUNT...] */
static int parse_batch(const char *s, attest_sample_ref **refs, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    *refs = calloc(cap, sizeof **refs);
    *n = 0;
    if (!*refs) return cli_error("out of memory");
    if (strspn(s, "0123456789:,") != strlen(s))
        return cli_usage(usage, "--batch: \"%s\" is not ID:FIRST:COUNT[,...]", s);
    const char *p = s;
    while (*p) {
        unsigned long long a, b, c;
        int used = 0;
        if (sscanf(p, "%llu:%llu:%llu%n", &a, &b, &c, &used) != 3 || used == 0 ||
            (p[used] != ',' && p[used] != '\0') || *p == '-')
            return cli_usage(usage, "--batch: \"%s\" is not ID:FIRST:COUNT[,...]", s);
        (*refs)[(*n)++] = (attest_sample_ref){a, b, c};
        p += used + (p[used] == ',');
    }
    return *n ? 0 : cli_usage(usage, "--batch is empty");
}

static int hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int layout_of(const char *name, enum attest_layout *out)
{
    static const char *const names[] = {"bytes", "tokens-u16le", "tokens-u32le", "jsonl"};
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (enum attest_layout)i;
            return 0;
        }
    return cli_usage(usage, "--layout must be bytes, tokens-u16le, tokens-u32le or jsonl");
}

static int record_step(attest_run *run, struct opts *o)
{
    attest_step s = ATTEST_STEP_INIT;
    attest_sample_ref *refs = NULL;
    uint8_t digest[32];
    char err[300];
    int rc;
    if (!o->has_step) return cli_usage(usage, "step: --step N is required");
    if (!o->batch) return cli_usage(usage, "step: --batch is required");
    if (!!o->batch_file == !!o->batch_sha256)
        return cli_usage(usage, "step: give one of --batch-file and --batch-sha256");
    if ((rc = number("--lr", o->lr, &s.lr)) != 0 || (rc = number("--loss", o->loss, &s.loss)) != 0)
        return rc;
    if (o->grad_norm && (rc = number("--grad-norm", o->grad_norm, &s.grad_norm)) != 0) return rc;
    if ((rc = parse_batch(o->batch, &refs, &s.n_refs)) != 0) goto done;
    if (o->batch_file) {
        if ((rc =
                 attest_sha256_file(o->batch_file, 0, UINT64_MAX, digest, NULL, err, sizeof err))) {
            rc = cli_error("%s", err);
            goto done;
        }
    } else if (hex32(o->batch_sha256, digest) != 0) {
        rc = cli_usage(usage, "--batch-sha256 must be 64 lowercase hex digits");
        goto done;
    }
    s.step = o->step;
    s.refs = refs;
    s.batch_sha256 = digest;
    s.has_grad_norm = o->grad_norm != NULL;
    s.user_json = o->user;
    if (attest_run_step(run, &s) != 0) rc = cli_usage(usage, "step: --user must be a JSON object");
done:
    free(refs);
    return rc;
}

static int record(attest_run *run, const char *fact, struct opts *o)
{
    enum attest_layout layout = ATTEST_LAYOUT_BYTES;
    int rc;
    if (strcmp(fact, "code") == 0) return attest_run_code(run, o->repo ? o->repo : ".");
    if (strcmp(fact, "init") == 0) {
        if (!o->has_seed || !o->initializer)
            return cli_usage(usage, "init: --seed and --initializer are required");
        return attest_run_init(run, o->seed, o->initializer, o->initializer_version,
                               o->has_data_seed, o->data_seed, o->checkpoint);
    }
    if (strcmp(fact, "shard") == 0) {
        if (!o->has_id || !o->file) return cli_usage(usage, "shard: --id and FILE are required");
        if ((rc = layout_of(o->layout, &layout)) != 0) return rc;
        return attest_run_shard_file(run, o->id, o->file, o->name, layout);
    }
    if (strcmp(fact, "step") == 0) return record_step(run, o);
    if (strcmp(fact, "checkpoint") == 0) {
        if (!o->has_step || !o->file)
            return cli_usage(usage, "checkpoint: --step and FILE are required");
        return attest_run_checkpoint(run, o->step, o->file, o->raw ? ATTEST_CHECKPOINT_RAW : 0);
    }
    if (!o->file) return cli_usage(usage, "note: TEXT is required");
    return attest_run_note(run, o->file) ? cli_usage(usage, "note: TEXT must be non-empty UTF-8")
                                         : 0;
}

int cmd_record(int argc, char **argv)
{
    static const char *const facts[] = {"code", "init", "shard", "step", "checkpoint", "note"};
    struct opts o;
    attest_run *run = NULL;
    char *err = NULL, msg[640];
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof facts / sizeof *facts; i++)
        known |= strcmp(argv[1], facts[i]) == 0;
    if (!known) return cli_usage(usage, "unknown fact \"record %s\"", argv[1]);
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    if ((rc = attest_run_open(&run, o.log, NULL, NULL, &opts, &err)) != 0) {
        rc = cli_error("%s", err ? err : attest_strerror(rc));
        free(err);
        return rc;
    }
    uint64_t before = attest_run_records(run);
    rc = record(run, argv[1], &o);
    if (rc != 0) { // refused before anything was queued
        attest_run_close(run, NULL, 0, NULL);
        return rc > 0 ? rc : cli_error("record %s: %s", argv[1], attest_strerror(rc));
    }
    uint64_t after = attest_run_records(run);
    if (attest_run_close(run, msg, sizeof msg, NULL) != 0)
        rc = cli_error("%s", msg);
    else if (after > before)
        printf("%llu\n", (unsigned long long)before);
    return rc;
}
