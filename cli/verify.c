/*
 * verify.c - `attest verify LOG|RUN.attest [--pub PREFIX.pub] [--json]
 * [--replay N ...]`: prints the verdict of attest_verify_log_ex and exits 0
 * (verified), 1 (failed), 2 (could not check) or 3 (partial: a bundle lacked
 * what part of the check needed). A bundle is unpacked into a private
 * temporary directory first and verified from there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/error.h"
#include "attest/verify.h"
#include "cli/bundle.h"
#include "cli/cli.h"

#define EXIT_PARTIAL 3 /* what was checked passed, but the bundle lacked part of what was asked */

static const char usage[] =
    "usage: attest verify LOG --pub PREFIX.pub [--json] [--html FILE] [--tpm-ca CA.pem ...]\n"
    "       attest verify RUN.attest [--pub PREFIX.pub] [options as for LOG]\n"
    "                     [--enrollment-key AUDITOR.pub]\n"
    "                     [--replay N|all [--nonce HEX] [--data DIR] [--checkpoints DIR]\n"
    "                      [--threads T] [--device cpu|cuda]\n"
    "                      [--model FILE [--model-examples N]]\n"
    "                      [--external-replay [--code DIR]\n"
    "                      [--replay-timeout SECONDS]] [--progress|--quiet]]\n"
    "                     [--transcript FILE]\n"
    "\n"
    "Checks LOG from its first byte to its last without trusting any cache:\n"
    "frames and checksums, every record's schema and order rules, that the run\n"
    "record holds the key in PREFIX.pub, every seal's signature and its root\n"
    "against the tree recomputed from the records before it. Records after the\n"
    "last seal are reported as unsealed. --json prints the report as JSON;\n"
    "--html FILE also writes it as one self-contained web page with plots.\n"
    "Seals anchored in a TPM are checked too (certifications, AK signature,\n"
    "extend chain, counter, clock). --tpm-ca (repeatable): the EK certificate\n"
    "recorded in the log must chain to these CA certificates. --enrollment-key:\n"
    "the AK must carry an enrollment signed by this key (attest tpm enroll).\n"
    "\n"
    "--replay N re-executes training (verify/REPLAY.md): every shard and\n"
    "checkpoint file is checked against the log (--data, --checkpoints: default\n"
    "LOG's directory /data and /checkpoints), the initial weights are\n"
    "regenerated from the committed seed, then segments between checkpoints are\n"
    "replayed: the first, N drawn from SHA-256(last seal || nonce) (--nonce: the\n"
    "auditor's hex nonce, so the prover could not predict the draw), and the\n"
    "max(1, ceil(N/2)) with the largest weight updates (`all`: every segment).\n"
    "Runs of "
    "the built-in engine replay bit for bit on --threads T (default 1; the\n"
    "result never depends on it), or on an NVIDIA GPU with --device cuda (the\n"
    "same bits, whatever device trained the run). Every segment's weight change\n"
    "is checked against what AdamW can do in its logged steps (too large: a\n"
    "swap; too small: an interpolation); such segments are always replayed.\n"
    "--model FILE (alone, or with --replay) asks whether FILE came out of this\n"
    "run: its losses on N training examples (default 4000, half from the last\n"
    "twentieth of the data order) must fall with the examples' positions in\n"
    "the committed order (permutation p-value below 1e-6; verify/SOUNDNESS.md);\n"
    "a run replayed by its own command computes the losses with it, checked\n"
    "first against a loss the run logged. A run that names its own replay\n"
    "command is\n"
    "replayed only with --external-replay (the command is the prover's code;\n"
    "--code DIR is that code for {code}; --replay-timeout per call, default\n"
    "600). Progress goes to stderr when it is a terminal (--progress: always;\n"
    "--quiet: never).\n"
    "\n"
    "--transcript FILE checks a live session (attest live): its TPM quote must\n"
    "be of the log's latest seal, by the run's TPM, for the nonce it names,\n"
    "with no seal after; the segments that nonce draws are replayed here and\n"
    "must give the session's results.\n"
    "\n"
    "RUN.attest, a bundle (attest bundle create, format/BUNDLE.md), is checked\n"
    "member by member and unpacked into a private temporary directory, removed\n"
    "afterwards; the log, the data and checkpoints, and unless --pub is given the\n"
    "run key, come from it (the key is printed: compare it with the one the run\n"
    "published out of band). What the bundle was made without is reported as\n"
    "\"not checked\", never as passed.\n"
    "Exit status: 0 verified, 1 failed, 2 could not check (a missing file in a\n"
    "directory you gave is an error you can fix), 3 partial: everything checked\n"
    "passed but part of what was asked could not be checked because the bundle\n"
    "does not hold it.\n";

static void progress(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "attest verify: %s\n", line);
}

static int hex_nonce(const char *hex, uint8_t **out, size_t *len)
{
    size_t n = strlen(hex);
    if (!n || n % 2 || n > 1024 || strspn(hex, "0123456789abcdefABCDEF") != n) return -1;
    if (!(*out = malloc(n / 2))) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        (*out)[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

/* DIR/name beside the log, malloc'd. */
static char *beside(const char *log, const char *name)
{
    char *copy = strdup(log), *out = NULL;
    if (copy) {
        const char *dir = dirname(copy);
        size_t n = strlen(dir) + strlen(name) + 2;
        if ((out = malloc(n)) != NULL) snprintf(out, n, "%s/%s", dir, name);
    }
    free(copy);
    return out;
}

/* What a bundle brought: where it was unpacked, its manifest, the files verify takes from it. */
typedef struct from_bundle {
    const char *path; /* the bundle */
    char *dir;
    attest_bundle *b;
    int key, enroll, cas; /* taken from the bundle */
    size_t shards, ckpts;
} from_bundle;

static char *in_dir(const char *dir, const char *name)
{
    char *out = NULL;
    return asprintf(&out, "%s/%s", dir, name) < 0 ? NULL : out;
}

/* The "not checked" reasons for a bundle's absent data and checkpoints ([BUNDLE-10]). */
static void absent_reasons(const from_bundle *fb, char *data, char *ckpts, size_t n)
{
    const char *pd = attest_bundle_packed(fb->b, "data");
    const char *pc = attest_bundle_packed(fb->b, "checkpoints");
    if (fb->shards == 0 || (pd && strcmp(pd, "none") == 0))
        snprintf(data, n, "the bundle holds no data (made without --with-data)");
    else
        snprintf(data, n, "the bundle does not hold this shard file");
    if (fb->ckpts == 0 || (pc && strcmp(pc, "none") == 0))
        snprintf(ckpts, n, "the bundle holds no checkpoints");
    else
        snprintf(ckpts, n, "the bundle holds only the checkpoints %s", pc ? pc : "it lists");
}

/* Lines that say where the inputs came from: printed before the text report. */
static void bundle_text(const from_bundle *fb, const char *key_text, FILE *out)
{
    size_t n = attest_bundle_count(fb->b);
    fprintf(out, "bundle    %s: %zu members (log, %zu shard and %zu checkpoint files%s)\n",
            fb->path, n, fb->shards, fb->ckpts,
            attest_bundle_packed(fb->b, "code") &&
                    strcmp(attest_bundle_packed(fb->b, "code"), "none") != 0
                ? ", the code commit"
                : "");
    if (fb->key)
        fprintf(out, "key       FROM THE BUNDLE: %s\n"
                     "          compare it with the key the run published out of band: a key "
                     "found in the\n          file it checks only shows the bundle is "
                     "self-consistent\n",
                key_text ? key_text : "?");
    if (fb->enroll || fb->cas)
        fprintf(out, "tpm trust FROM THE BUNDLE: %s%s%s: compare with the auditor's own\n",
                fb->enroll ? "enrollment key" : "", fb->enroll && fb->cas ? " and " : "",
                fb->cas ? "TPM CA certificates" : "");
}

/* The same as a "bundle" member of the JSON report. */
static char *bundle_json(const from_bundle *fb, const char *key_text, const char *report)
{
    json_t *r = json_loads(report, JSON_DECODE_ANY, NULL);
    char *out = NULL;
    if (!json_is_object(r)) {
        json_decref(r);
        return NULL;
    }
    json_object_set_new(r, "bundle",
                        json_pack("{s:s, s:I, s:I, s:I, s:b, s:s?}", "path", fb->path, "members",
                                  (json_int_t)attest_bundle_count(fb->b), "shards",
                                  (json_int_t)fb->shards, "checkpoints", (json_int_t)fb->ckpts,
                                  "key_from_bundle", fb->key, "key", fb->key ? key_text : NULL));
    out = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(r);
    return out;
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *pub = NULL, *enroll = NULL, *html = NULL, *transcript_path = NULL;
    char *transcript = NULL;
    const char *cas[16];
    size_t n_cas = 0;
    int json = 0, quiet = 0, force_progress = 0, replay = 0, exit_code = EXIT_USAGE;
    attest_replay_options ro = {0};
    const char *nonce = NULL;
    char *data_dir = NULL, *ckpt_dir = NULL, *code_dir = NULL, *owned[3 + 16] = {NULL};
    char data_why[128], ckpt_why[128];
    from_bundle fb = {0};
    uint64_t v;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc)
            pub = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
            html = argv[++i];
        else if (strcmp(argv[i], "--tpm-ca") == 0 && i + 1 < argc && n_cas < 16)
            cas[n_cas++] = argv[++i];
        else if (strcmp(argv[i], "--enrollment-key") == 0 && i + 1 < argc)
            enroll = argv[++i];
        else if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc) {
            replay = 1;
            if (strcmp(argv[++i], "all") == 0)
                ro.segments = UINT64_MAX;
            else if (cli_u64(argv[i], &ro.segments) != 0)
                return cli_usage(usage, "--replay takes a number of segments or \"all\"");
        } else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc)
            nonce = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            ro.data_dir = argv[++i];
        else if (strcmp(argv[i], "--checkpoints") == 0 && i + 1 < argc)
            ro.checkpoint_dir = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 256)
                return cli_usage(usage, "--threads takes a number from 1 to 256");
            ro.threads = (unsigned)v;
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            int drc = cli_device(usage, argv[++i]);
            if (drc) return drc;
            ro.device = argv[i];
        } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            ro.model = argv[++i];
        else if (strcmp(argv[i], "--model-examples") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 10 || v > 1000000)
                return cli_usage(usage, "--model-examples takes a number from 10 to 1000000");
            ro.model_examples = (size_t)v;
        } else if (strcmp(argv[i], "--external-replay") == 0)
            ro.allow_command = 1;
        else if (strcmp(argv[i], "--code") == 0 && i + 1 < argc)
            ro.code_dir = argv[++i];
        else if (strcmp(argv[i], "--replay-timeout") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 86400 * 7)
                return cli_usage(usage, "--replay-timeout takes seconds, 1 or more");
            ro.timeout_s = (unsigned)v;
        } else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (strcmp(argv[i], "--progress") == 0)
            force_progress = 1;
        else if (strcmp(argv[i], "--transcript") == 0 && i + 1 < argc)
            transcript_path = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return cli_usage(usage, "unexpected argument \"%s\"", argv[i]);
    }
    int is_bundle = path && attest_bundle_is(path);
    if (!path || (!pub && !is_bundle)) return cli_usage(usage, "LOG and --pub are required");
    if (n_cas && !enroll)
        return cli_usage(usage, "--tpm-ca needs --enrollment-key: a public EK certificate alone "
                                "proves nothing about the AK");
    if (transcript_path && (nonce || replay))
        return cli_usage(usage, "--transcript brings its own nonce and draw: no --nonce, --replay");
    if (transcript_path) {
        if (!(transcript = cli_slurp(transcript_path, NULL)))
            return cli_error("%s: %s", transcript_path, strerror(errno));
        replay = 1; // a transcript is checked by replaying its draw
    }
    if (ro.model && !replay) replay = 1; /* the test needs the files replay checks: --replay 0 */
    if (ro.model_examples && !ro.model) return cli_usage(usage, "--model-examples goes with --model");
    if (!replay && (nonce || ro.data_dir || ro.checkpoint_dir || ro.threads || ro.allow_command ||
                    ro.code_dir || ro.timeout_s || ro.device))
        return cli_usage(usage, "--nonce, --data, --checkpoints, --threads, --device, "
                                "--external-replay, --code and --replay-timeout go with --replay");
    if (nonce && hex_nonce(nonce, (uint8_t **)&ro.nonce, &ro.nonce_len) != 0)
        return cli_usage(usage, "--nonce takes 1 to 512 bytes in hex");

    attest_verifier *key = NULL, *enroll_key = NULL;
    attest_report *report = NULL;
    char err[256], *text = NULL, *key_text = NULL;
    int rc = 0;
    if (is_bundle) {
        fb.path = path;
        if ((exit_code = cli_bundle_unpack(path, !quiet, &fb.dir, &fb.b)) != 0) goto done;
        exit_code = EXIT_USAGE;
        for (size_t i = 0; i < attest_bundle_count(fb.b); i++) {
            const attest_bundle_member *m = attest_bundle_get(fb.b, i);
            fb.shards += strcmp(m->role, "shard") == 0;
            fb.ckpts += strcmp(m->role, "checkpoint") == 0;
            if (strcmp(m->role, "public-key") == 0 && !pub) fb.key = 1;
            if (strcmp(m->role, "enrollment-key") == 0 && !enroll) fb.enroll = 1;
            if (strcmp(m->role, "tpm-ca") == 0 && !n_cas) fb.cas++;
        }
        if (!pub && !fb.key) {
            cli_error("%s holds no public key: give the run's key with --pub", path);
            goto done;
        }
        if (!(path = owned[0] = in_dir(fb.dir, "run.log")) ||
            (fb.key && !(pub = owned[1] = in_dir(fb.dir, "run.pub"))) ||
            (fb.enroll && !(enroll = owned[2] = in_dir(fb.dir, "tpm/enrollment.pub"))))
            goto nomem;
        for (size_t i = 0; fb.cas && i < attest_bundle_count(fb.b) && n_cas < 16; i++) {
            const attest_bundle_member *m = attest_bundle_get(fb.b, i);
            if (strcmp(m->role, "tpm-ca") != 0) continue;
            if (!(owned[3 + n_cas] = in_dir(fb.dir, m->name))) goto nomem;
            cas[n_cas] = owned[3 + n_cas];
            n_cas++;
        }
        if (replay) {
            absent_reasons(&fb, data_why, ckpt_why, sizeof data_why);
            if (!ro.data_dir) {
                ro.data_dir = data_dir = in_dir(fb.dir, "data");
                ro.data_absent = data_why;
            }
            if (!ro.checkpoint_dir) {
                ro.checkpoint_dir = ckpt_dir = in_dir(fb.dir, "checkpoints");
                ro.checkpoints_absent = ckpt_why;
            }
            if (!ro.data_dir || !ro.checkpoint_dir) goto nomem;
            // The prover's code for an external replay: the commit the bundle carries.
            if (ro.allow_command && !ro.code_dir) {
                if (cli_bundle_code(fb.dir, fb.b, &code_dir) != 0) goto done;
                ro.code_dir = code_dir;
            }
            // A bundle made without them has no such directories; the verifier still needs one.
            mkdir(ro.data_dir, 0700);
            mkdir(ro.checkpoint_dir, 0700);
        }
    }
    if (replay) {
        if (!ro.data_dir && !(ro.data_dir = data_dir = beside(path, "data"))) goto nomem;
        if (!ro.checkpoint_dir && !(ro.checkpoint_dir = ckpt_dir = beside(path, "checkpoints")))
            goto nomem;
        // Progress is for people: on a terminal, or when asked for (--progress).
        if (!quiet && (force_progress || isatty(2))) ro.progress = progress;
    }
    if (attest_verifier_load(&key, pub, err, sizeof err) != 0) {
        cli_error("%s: %s", fb.key ? "the bundle's run.pub" : pub, err);
        goto done;
    }
    if (enroll && attest_verifier_load(&enroll_key, enroll, err, sizeof err) != 0) {
        cli_error("%s: %s", enroll, err);
        goto done;
    }
    if (fb.key && attest_verifier_text(key, &key_text) != 0) goto nomem;
    attest_verify_options opts = ATTEST_VERIFY_OPTIONS_INIT;
    opts.tpm_ca_files = cas;
    opts.n_tpm_ca_files = n_cas;
    opts.enroll_key = enroll_key;
    opts.replay = replay ? &ro : NULL;
    opts.transcript = transcript;
    rc = attest_verify_log_ex(&report, path, key, &opts);
    if (!report) goto nomem;
    FILE *out = rc == 0 || rc == ATTEST_EVERIFY || rc == ATTEST_EPARTIAL ? stdout : stderr;
    if (json) {
        if (attest_report_json(report, &text) == 0 && fb.b) {
            char *with = bundle_json(&fb, key_text, text);
            free(text);
            text = with;
        }
        if (text) fprintf(out, "%s\n", text);
    } else if (attest_report_text(report, &text) == 0) {
        if (fb.b) bundle_text(&fb, key_text, out);
        fputs(text, out);
    }
    if (html && cli_write_html(report, html) != 0) goto done;
    exit_code = rc == 0                   ? EXIT_VERIFIED
                : rc == ATTEST_EVERIFY    ? EXIT_FAILED
                : rc == ATTEST_EPARTIAL ? EXIT_PARTIAL
                                          : EXIT_USAGE;
    goto done;
nomem:
    exit_code = cli_error("out of memory");
done:
    free(text);
    free(key_text);
    attest_report_free(report);
    attest_verifier_free(key);
    attest_verifier_free(enroll_key);
    free((void *)ro.nonce);
    free(transcript);
    free(data_dir);
    free(ckpt_dir);
    free(code_dir);
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) free(owned[i]);
    if (fb.dir) cli_rmtree(fb.dir);
    free(fb.dir);
    attest_bundle_free(fb.b);
    return exit_code;
}
