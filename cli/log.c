/*
 * log.c (cli) - `attest log init|append|seal|show|get|checkpoint|prove|
 * consistency|recover`: thin wrappers over attest/log.h that parse
 * arguments and print. Proofs are printed in the C2SP line formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/log.h"
#include "attest/note.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest log <subcommand> LOG [options]\n"
    "\n"
    "  init LOG --key PREFIX.key [--config FILE.json] [--replay FILE.json]\n"
    "                       create LOG with its run record\n"
    "  append LOG           append JSON records read one per line from stdin\n"
    "  seal LOG --key PREFIX.key\n"
    "                       sign every record so far (a seal record, fsync'd)\n"
    "  show LOG [--json]    one line per record, or the records as JSON Lines\n"
    "  get LOG --index I    the exact stored bytes of record I\n"
    "  checkpoint LOG [--size N]\n"
    "                       the signed checkpoint of the seal at tree size N\n"
    "  prove LOG --index I  inclusion proof of record I (C2SP tlog-proof)\n"
    "  consistency LOG --from M [--to N]\n"
    "                       consistency proof between two sealed sizes\n"
    "  recover LOG          repair a torn tail left by an interrupted writer\n";

/* Parsed common options. */
struct opts {
    const char *log, *key, *config, *replay;
    uint64_t index, size, from, to;
    int has_index, has_size, has_from, has_to, json;
};

static int parse(int argc, char **argv, struct opts *o, const char *allowed)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int takes = a[0] == '-' && a[1] == '-' && strcmp(a, "--json") != 0;
        if (takes && i + 1 >= argc) return cli_usage(usage, "%s needs a value", a);
        if (a[0] == '-' && !strstr(allowed, a))
            return cli_usage(usage, "%s: unknown option \"%s\"", argv[1], a);
        const char *v = takes ? argv[++i] : NULL;
        uint64_t *num = NULL;
        int *flag = NULL;
        if (strcmp(a, "--key") == 0)
            o->key = v;
        else if (strcmp(a, "--config") == 0)
            o->config = v;
        else if (strcmp(a, "--replay") == 0)
            o->replay = v;
        else if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strcmp(a, "--index") == 0)
            num = &o->index, flag = &o->has_index;
        else if (strcmp(a, "--size") == 0)
            num = &o->size, flag = &o->has_size;
        else if (strcmp(a, "--from") == 0)
            num = &o->from, flag = &o->has_from;
        else if (strcmp(a, "--to") == 0)
            num = &o->to, flag = &o->has_to;
        else if (a[0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", a);
        else if (!o->log)
            o->log = a;
        else
            return cli_usage(usage, "%s: unexpected argument \"%s\"", argv[1], a);
        if (num && cli_u64(v, num) != 0)
            return cli_usage(usage, "%s: \"%s\" is not a non-negative integer", a, v);
        if (flag) *flag = 1;
    }
    if (!o->log) return cli_usage(usage, "%s: LOG is required", argv[1]);
    return 0;
}

static int open_log(attest_log **log, const char *path, enum attest_log_mode mode)
{
    int rc = attest_log_open(log, path, mode);
    if (rc) {
        cli_error("%s", *log ? attest_log_errmsg(*log) : attest_strerror(rc));
        attest_log_free(*log);
        *log = NULL;
        return rc == ATTEST_ECORRUPT || rc == ATTEST_EVERIFY ? EXIT_FAILED : EXIT_USAGE;
    }
    if (attest_log_notice(*log)) fprintf(stderr, "attest: %s: %s\n", path, attest_log_notice(*log));
    return 0;
}

static int load_key(attest_signer **s, const char *path)
{
    char err[256];
    if (!path) return cli_usage(usage, "--key PREFIX.key is required");
    if (attest_signer_load(s, path, err, sizeof err) != 0) return cli_error("%s: %s", path, err);
    return 0;
}

static int log_init(struct opts *o)
{
    attest_signer *s = NULL;
    attest_log *log = NULL;
    char *config = NULL, *replay = NULL;
    int rc = load_key(&s, o->key);
    if (rc) return rc;
    rc = EXIT_USAGE;
    if (o->config && !(config = cli_slurp(o->config, NULL))) {
        cli_error("%s: cannot read the config file", o->config);
        goto done;
    }
    if (o->replay && !(replay = cli_slurp(o->replay, NULL))) {
        cli_error("%s: cannot read the replay recipe", o->replay);
        goto done;
    }
    int code = attest_log_create(&log, o->log, s, config, replay);
    if (code) {
        cli_error("%s", log ? attest_log_errmsg(log) : attest_strerror(code));
        goto done;
    }
    printf("created %s (origin %s)\n", o->log, attest_signer_name(s));
    rc = 0;
done:
    attest_log_free(log);
    attest_signer_free(s);
    free(config);
    free(replay);
    return rc;
}

static int log_append(struct opts *o)
{
    attest_log *log;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, index, appended = 0;
    int rc = open_log(&log, o->log, ATTEST_LOG_APPEND);
    if (rc) return rc;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0) continue;
        if (attest_log_append(log, line, (size_t)n, &index) != 0) {
            rc = cli_error("stdin line %llu: %s (%llu record(s) appended before it)",
                           (unsigned long long)lineno, attest_log_errmsg(log),
                           (unsigned long long)appended);
            break;
        }
        printf("%llu\n", (unsigned long long)index);
        appended++;
    }
    free(line);
    attest_log_free(log);
    return rc;
}

static int log_seal(struct opts *o)
{
    attest_signer *s = NULL;
    attest_log *log = NULL;
    uint64_t index;
    int rc = load_key(&s, o->key);
    if (!rc) rc = open_log(&log, o->log, ATTEST_LOG_APPEND);
    if (!rc && attest_log_seal(log, s, &index) != 0) rc = cli_error("%s", attest_log_errmsg(log));
    if (!rc)
        printf("sealed tree size %llu (record %llu)\n", (unsigned long long)index,
               (unsigned long long)index);
    attest_log_free(log);
    attest_signer_free(s);
    return rc;
}

/* A short description of one record for `show`. */
static void summarize(const char *data, size_t len, char *out, size_t outsz)
{
    json_t *r = json_loadb(data, len, 0, NULL);
    const char *t = json_string_value(json_object_get(r, "type"));
#define S(k) json_string_value(json_object_get(r, k))
#define I(k) (long long)json_integer_value(json_object_get(r, k))
    if (!t)
        snprintf(out, outsz, "?");
    else if (!strcmp(t, "run"))
        snprintf(out, outsz, "%-10s origin %s, run %s", t, S("origin"), S("run_id"));
    else if (!strcmp(t, "code"))
        snprintf(out, outsz, "%-10s commit %.12s%s", t, S("commit"),
                 json_is_true(json_object_get(r, "dirty")) ? " (dirty)" : "");
    else if (!strcmp(t, "init"))
        snprintf(out, outsz, "%-10s seed %lld, %s", t, I("seed"), S("initializer"));
    else if (!strcmp(t, "shard"))
        snprintf(out, outsz, "%-10s id %lld, %s, %lld bytes, %lld samples", t, I("id"), S("name"),
                 I("size"), I("samples"));
    else if (!strcmp(t, "step"))
        snprintf(out, outsz, "%-10s %lld, loss %.6g, lr %.6g, %zu batch range(s)", t, I("step"),
                 json_number_value(json_object_get(r, "loss")),
                 json_number_value(json_object_get(r, "lr")),
                 json_array_size(json_object_get(r, "batch")));
    else if (!strcmp(t, "checkpoint"))
        snprintf(out, outsz, "%-10s step %lld, sha256 %.16s…, %zu tensor(s)", t, I("step"),
                 S("sha256"), json_array_size(json_object_get(r, "tensors")));
    else if (!strcmp(t, "seal"))
        snprintf(out, outsz, "%-10s tree size %lld%s", t, I("size"),
                 json_object_get(r, "tpm") ? ", TPM-anchored" : "");
    else if (!strcmp(t, "tpm"))
        snprintf(out, outsz, "%-10s AK %.16s…, NV extend 0x%08llx, counter 0x%08llx", t,
                 S("ak_name"), (unsigned long long)I("extend_index"),
                 (unsigned long long)I("counter_index"));
    else if (!strcmp(t, "end"))
        snprintf(out, outsz, "%-10s %lld steps", t, I("steps"));
    else if (!strcmp(t, "note"))
        snprintf(out, outsz, "%-10s %.60s", t, S("text"));
    else
        snprintf(out, outsz, "%s", t);
#undef S
#undef I
    json_decref(r);
}

static int log_show(struct opts *o)
{
    attest_log *log;
    char *data, line[256];
    size_t len;
    int rc = open_log(&log, o->log, ATTEST_LOG_READ);
    if (rc) return rc;
    for (uint64_t i = 0; i < attest_log_count(log); i++) {
        if (attest_log_get(log, i, &data, &len) != 0) {
            rc = cli_error("%s", attest_log_errmsg(log));
            break;
        }
        if (o->json) {
            fwrite(data, 1, len, stdout);
            putchar('\n');
        } else {
            summarize(data, len, line, sizeof line);
            printf("%8llu  %s\n", (unsigned long long)i, line);
        }
        free(data);
    }
    attest_log_free(log);
    return rc;
}

static int log_get(struct opts *o)
{
    attest_log *log;
    char *data;
    size_t len;
    if (!o->has_index) return cli_usage(usage, "get: --index I is required");
    int rc = open_log(&log, o->log, ATTEST_LOG_READ);
    if (rc) return rc;
    if (attest_log_get(log, o->index, &data, &len) != 0) {
        rc = cli_error("%s", attest_log_errmsg(log));
    } else {
        fwrite(data, 1, len, stdout);
        free(data);
    }
    attest_log_free(log);
    return rc;
}

/* Opens a seal's note with the run key and parses its checkpoint. */
static int seal_checkpoint(attest_log *log, uint64_t size, char **note, attest_checkpoint *cp)
{
    char *run = NULL, *text = NULL, err[256];
    size_t len;
    attest_verifier *v = NULL;
    int rc = EXIT_USAGE;
    *note = NULL;
    if (attest_log_checkpoint(log, size, note) != 0 || attest_log_get(log, 0, &run, &len) != 0) {
        cli_error("%s", attest_log_errmsg(log));
        goto done;
    }
    json_t *rec = json_loads(run, 0, NULL);
    int bad = attest_verifier_parse(&v, json_string_value(json_object_get(rec, "public_key")), err,
                                    sizeof err);
    json_decref(rec);
    if (bad) {
        cli_error("record 0 (run): %s", err);
        goto done;
    }
    if (attest_note_open(*note, strlen(*note), v, &text, err, sizeof err) != 0 ||
        attest_checkpoint_parse(text, strlen(text), cp, err, sizeof err) != 0) {
        cli_error("seal at tree size %llu: %s", (unsigned long long)size, err);
        rc = EXIT_FAILED;
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        free(*note);
        *note = NULL;
    }
    free(run);
    free(text);
    attest_verifier_free(v);
    return rc;
}

static void print_hashes(const uint8_t (*proof)[32], size_t n)
{
    char b64[64];
    for (size_t i = 0; i < n; i++) {
        sodium_bin2base64(b64, sizeof b64, proof[i], 32, sodium_base64_VARIANT_ORIGINAL);
        printf("%s\n", b64);
    }
}

static int log_checkpoint(struct opts *o)
{
    attest_log *log;
    char *note;
    int rc = open_log(&log, o->log, ATTEST_LOG_READ);
    if (rc) return rc;
    if (attest_log_checkpoint(log, o->has_size ? o->size : 0, &note) != 0) {
        rc = cli_error("%s", attest_log_errmsg(log));
    } else {
        fputs(note, stdout);
        free(note);
    }
    attest_log_free(log);
    return rc;
}

/* The proof's root must be the root the seal signed. */
static int check_root(attest_log *log, uint64_t size, const attest_checkpoint *cp)
{
    uint8_t root[32];
    if (attest_log_root(log, size, root) != 0) return cli_error("%s", attest_log_errmsg(log));
    // A damaged cache must not pass for a wrong log: read the log itself before deciding.
    if (sodium_memcmp(root, cp->root, 32) != 0 &&
        (attest_log_reload(log) != 0 || attest_log_root(log, size, root) != 0))
        return cli_error("%s", attest_log_errmsg(log));
    if (sodium_memcmp(root, cp->root, 32) != 0) {
        cli_error("the records do not match the signed root of the seal at tree size %llu",
                  (unsigned long long)size);
        return EXIT_FAILED;
    }
    return 0;
}

static int log_prove(struct opts *o)
{
    attest_log *log;
    attest_checkpoint cp;
    char *note = NULL;
    uint8_t proof[ATTEST_MERKLE_MAX_INCLUSION][32];
    size_t n;
    if (!o->has_index) return cli_usage(usage, "prove: --index I is required");
    int rc = open_log(&log, o->log, ATTEST_LOG_READ);
    if (rc) return rc;
    if ((rc = seal_checkpoint(log, 0, &note, &cp)) != 0) goto done;
    if (o->index >= cp.size) {
        rc = cli_error("record %llu is not sealed yet: the latest seal covers records 0..%llu",
                       (unsigned long long)o->index, (unsigned long long)cp.size - 1);
        goto done;
    }
    if ((rc = check_root(log, cp.size, &cp)) != 0) goto done;
    if (attest_log_prove(log, o->index, cp.size, proof, &n) != 0) {
        rc = cli_error("%s", attest_log_errmsg(log));
        goto done;
    }
    printf("c2sp.org/tlog-proof@v1\nindex %llu\n", (unsigned long long)o->index);
    print_hashes((const uint8_t(*)[32])proof, n);
    printf("\n%s", note);
done:
    free(note);
    attest_log_free(log);
    return rc;
}

static int log_consistency(struct opts *o)
{
    attest_log *log;
    attest_checkpoint from, to;
    char *n1 = NULL, *n2 = NULL;
    uint8_t proof[ATTEST_MERKLE_MAX_CONSISTENCY][32];
    size_t n;
    if (!o->has_from) return cli_usage(usage, "consistency: --from M is required");
    int rc = open_log(&log, o->log, ATTEST_LOG_READ);
    if (rc) return rc;
    if (o->from == 0) {
        // The empty tree is a prefix of every tree: its proof is empty (C2SP tlog-witness).
        if (o->has_to && (rc = seal_checkpoint(log, o->to, &n2, &to)) == 0) free(n2);
        attest_log_free(log);
        return rc;
    }
    if ((rc = seal_checkpoint(log, o->from, &n1, &from)) != 0 ||
        (rc = seal_checkpoint(log, o->has_to ? o->to : 0, &n2, &to)) != 0)
        goto done;
    if (from.size > to.size) {
        rc = cli_error("--from %llu is after --to %llu", (unsigned long long)from.size,
                       (unsigned long long)to.size);
        goto done;
    }
    if ((rc = check_root(log, from.size, &from)) != 0 || (rc = check_root(log, to.size, &to)) != 0)
        goto done;
    if (attest_log_consistency(log, from.size, to.size, proof, &n) != 0) {
        rc = cli_error("%s", attest_log_errmsg(log));
        goto done;
    }
    print_hashes((const uint8_t(*)[32])proof, n);
done:
    free(n1);
    free(n2);
    attest_log_free(log);
    return rc;
}

static int log_recover(struct opts *o)
{
    attest_log *log;
    int rc = open_log(&log, o->log, ATTEST_LOG_APPEND);
    if (rc) return rc;
    if (!attest_log_notice(log)) printf("%s: nothing to recover\n", o->log);
    printf("%s: %llu records\n", o->log, (unsigned long long)attest_log_count(log));
    attest_log_free(log);
    return 0;
}

int cmd_log(int argc, char **argv)
{
    struct opts o;
    static const struct {
        const char *name, *options;
        int (*fn)(struct opts *);
    } subs[] = {
        {"init", "--key --config --replay", log_init},
        {"append", "", log_append},
        {"seal", "--key", log_seal},
        {"show", "--json", log_show},
        {"get", "--index", log_get},
        {"checkpoint", "--size", log_checkpoint},
        {"prove", "--index", log_prove},
        {"consistency", "--from --to", log_consistency},
        {"recover", "", log_recover},
    };
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(argv[1], subs[i].name) != 0) continue;
        int rc = parse(argc, argv, &o, subs[i].options);
        return rc ? rc : subs[i].fn(&o);
    }
    return cli_usage(usage, "unknown subcommand \"log %s\"", argv[1]);
}
