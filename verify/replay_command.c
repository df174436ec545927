/*
 * replay_command.c - the external replay backend (verify/REPLAY.md): for a
 * run trained by another framework, the run record names the prover's own
 * replay command. With the auditor's consent it runs that command, without
 * a shell, in a fresh temporary directory, under a time limit, once per
 * request, and compares what it writes with the logged checkpoint tensor by
 * tensor within the run's tolerance.
 */
#define _GNU_SOURCE /* nftw flags */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/text.h"
#include "verify/replay.h"

typedef struct cmd_state {
    const json_t *argv; /* run.replay.command */
    double tol;
    char *code; /* absolute --code directory, or NULL */
    json_t *shards;
    unsigned timeout_s;
} cmd_state;

static int cmd_init(void **out, const replay_ctx *c, char *err, size_t errsz)
{
    const json_t *recipe = json_object_get(c->log->run.rec, "replay");
    const json_t *argv = json_object_get(recipe, "command");
    const json_t *tol = json_object_get(recipe, "tolerance");
    size_t i;
    const json_t *a;
    int needs_code = 0;
    *out = NULL;
    if (!json_array_size(argv))
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record 0 (run): replay.command is not a non-empty array");
    json_array_foreach(argv, i, a)
    {
        if (!json_is_string(a))
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "record 0 (run): replay.command[%zu] is not a string", i);
        needs_code |= strstr(json_string_value(a), "{code}") != NULL;
    }
    if (!json_is_number(tol) || !(json_number_value(tol) >= 0) || json_number_value(tol) >= 1)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record 0 (run): replay.tolerance must be a number in [0, 1)");
    if (!c->o->allow_command)
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "the run is replayed by its own command (%s ...): it is the "
                                "prover's code, so it runs only with --external-replay",
                                json_string_value(json_array_get(argv, 0)));
    cmd_state *s = calloc(1, sizeof *s);
    if (!s) return ATTEST_ENOMEM;
    s->argv = argv;
    s->tol = json_number_value(tol);
    s->timeout_s = c->o->timeout_s ? c->o->timeout_s : 600;
    int rc = 0;
    if (needs_code) {
        if (!c->o->code_dir) {
            rc = attest_text_fail(err, errsz, ATTEST_EINVAL,
                                  "the replay command names {code}: give the prover's code "
                                  "directory with --code");
            goto fail;
        }
        if (!(s->code = realpath(c->o->code_dir, NULL))) {
            rc = attest_text_fail(err, errsz, ATTEST_ENOTFOUND, "%s: %s", c->o->code_dir,
                                  strerror(errno));
            goto fail;
        }
    }
    if (!(s->shards = json_array())) goto nomem;
    char *data = realpath(c->o->data_dir, NULL);
    if (!data) {
        rc = attest_text_fail(err, errsz, ATTEST_ENOTFOUND, "%s: %s", c->o->data_dir,
                              strerror(errno));
        goto fail;
    }
    for (i = 0; i < c->log->n_shards; i++) {
        const json_t *r = c->log->shards[i].rec;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", data, json_string_value(json_object_get(r, "name"))) < 0)
            path = NULL;
        json_t *e = json_pack("{s:O, s:O, s:s, s:O, s:O}", "id", json_object_get(r, "id"), "name",
                              json_object_get(r, "name"), "path", path ? path : "", "layout",
                              json_object_get(r, "layout"), "samples",
                              json_object_get(r, "samples"));
        free(path);
        if (!e) {
            free(data);
            goto nomem;
        }
        if (json_object_get(r, "compression"))
            json_object_set(e, "compression", json_object_get(r, "compression"));
        json_array_append_new(s->shards, e);
    }
    free(data);
    *out = s;
    return 0;
nomem:
    rc = ATTEST_ENOMEM;
fail:
    json_decref(s->shards);
    free(s->code);
    free(s);
    return rc;
}

static void cmd_done(void *state)
{
    cmd_state *s = state;
    json_decref(s->shards);
    free(s->code);
    free(s);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* argv[i] with {request} and {code} replaced. */
static char *substitute(const char *arg, const char *request, const char *code)
{
    size_t cap = strlen(arg) + 1, n = 0;
    for (const char *p = arg; (p = strchr(p, '{')) != NULL; p++)
        cap += strlen(request) + (code ? strlen(code) : 0);
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *p = arg; *p;) {
        if (strncmp(p, "{request}", 9) == 0) {
            n += (size_t)sprintf(out + n, "%s", request);
            p += 9;
        } else if (code && strncmp(p, "{code}", 6) == 0) {
            n += (size_t)sprintf(out + n, "%s", code);
            p += 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

/* The last bytes of the command's output, one line, for the report. */
static void tail_of(const char *path, char *out, size_t outsz)
{
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[600];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\t' || (unsigned char)buf[i] < 0x20) buf[i] = ' ';
    snprintf(out, outsz, "%s", buf);
}

/* Runs the command on request file `req` in dir/run; 0 when it exited 0 in time. */
static int run_command(const cmd_state *s, const char *dir, const char *req, char *err,
                       size_t errsz)
{
    size_t argc = json_array_size(s->argv);
    char **argv = calloc(argc + 1, sizeof *argv), cwd[PATH_MAX + 16], log[PATH_MAX + 16];
    int rc = 0;
    if (!argv) return ATTEST_ENOMEM;
    for (size_t i = 0; i < argc; i++)
        if (!(argv[i] = substitute(json_string_value(json_array_get(s->argv, i)), req, s->code))) {
            rc = ATTEST_ENOMEM;
            goto done;
        }
    snprintf(cwd, sizeof cwd, "%s/run", dir);
    snprintf(log, sizeof log, "%s/output.txt", dir);
    if (mkdir(cwd, 0700) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", cwd, strerror(errno));
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out < 0 || in < 0 || chdir(cwd) != 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(out, 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    struct timespec start, now, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0, timed_out = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= (time_t)s->timeout_s) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = 1;
            break;
        }
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL); // whatever it left running
    char tail[600];
    tail_of(log, tail, sizeof tail);
    if (timed_out)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay command %s did not finish within %u s", argv[0],
                              s->timeout_s);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay command %s %s %d%s%s", argv[0],
                              WIFEXITED(status) ? "exited with status" : "was killed by signal",
                              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                              tail[0] ? ": " : "", tail);
done:
    for (size_t i = 0; i < argc; i++) free(argv[i]);
    free(argv);
    return rc;
}

/* Writes the request, runs the command, loads its checkpoint (when out_ckpt) and its losses
 * (when losses). */
static int request(const cmd_state *s, const replay_ctx *c, json_t *req, vckpt **out_ckpt,
                   json_t **losses, char *err, size_t errsz)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], path[PATH_MAX + 32], out[PATH_MAX + 32], lpath[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/attest-replay-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) return attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/request.json", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(lpath, sizeof lpath, "%s/losses.json", dir);
    int rc = 0;
    json_object_set_new(req, "version", json_integer(1));
    json_object_set(req, "run_id", json_object_get(c->log->run.rec, "run_id"));
    json_object_set(req, "config", json_object_get(c->log->run.rec, "config"));
    const json_t *init = c->log->init.rec;
    json_object_set(req, "seed", json_object_get(init, "seed"));
    if (json_object_get(init, "data_seed"))
        json_object_set(req, "data_seed", json_object_get(init, "data_seed"));
    json_object_set(req, "initializer", json_object_get(init, "initializer"));
    json_object_set(req, "shards", s->shards);
    if (out_ckpt) json_object_set_new(json_object_get(req, "output"), "path", json_string(out));
    if (losses) json_object_set_new(req, "losses", json_string(lpath));
    if (json_dump_file(req, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: cannot write the request", path);
        goto done;
    }
    if ((rc = run_command(s, dir, path, err, errsz)) != 0) goto done;
    char why[512];
    rc = out_ckpt ? vckpt_load(out_ckpt, out, NULL, 0, why, sizeof why) : 0;
    if (rc) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay command wrote no usable checkpoint: %s", why);
        goto done;
    }
    if (losses) {
        json_error_t je;
        json_t *l = json_load_file(lpath, 0, &je);
        *losses = json_incref(json_object_get(l, "losses"));
        json_decref(l);
        if (!json_is_array(*losses)) {
            json_decref(*losses);
            *losses = NULL;
            if (out_ckpt) {
                vckpt_free(*out_ckpt);
                *out_ckpt = NULL;
            }
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "the replay command wrote no losses file ({\"losses\": [...]})");
        }
    }
done:
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static int cmd_initialization(void *state, const replay_ctx *c, const vckpt *ckpt0, char *err,
                              size_t errsz)
{
    cmd_state *s = state;
    json_t *req = json_pack("{s:s, s:{s:I}, s:[]}", "kind", "init", "output", "step", (json_int_t)0,
                            "steps");
    vckpt *got = NULL;
    if (!req) return ATTEST_ENOMEM;
    int rc = request(s, c, req, &got, NULL, err, errsz);
    json_decref(req);
    if (rc) return rc;
    if (vckpt_count(got) != vckpt_count(ckpt0))
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the regenerated initial checkpoint holds %zu tensors, %s holds %zu",
                              vckpt_count(got), vckpt_path(ckpt0), vckpt_count(ckpt0));
    for (size_t i = 0; !rc && i < vckpt_count(ckpt0); i++) {
        const uint8_t *x, *y;
        const attest_tensor_info *t = vckpt_tensor(ckpt0, i, &x);
        const attest_tensor_info *u = vckpt_find(got, t->name, &y);
        if (!u || !vckpt_same_layout(t, u) || memcmp(x, y, (size_t)(t->end - t->begin)) != 0)
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: tensor %s is not what the initializer %s gives for seed "
                                  "%" PRIu64 "%s",
                                  vckpt_path(ckpt0), t->name,
                                  json_string_value(json_object_get(c->log->init.rec,
                                                                    "initializer")),
                                  (uint64_t)json_integer_value(
                                      json_object_get(c->log->init.rec, "seed")),
                                  !u ? " (missing from the regenerated checkpoint)" : "");
    }
    vckpt_free(got);
    return rc;
}

/*
 * Relative update of one tensor between the two logged checkpoints, ||to - from|| / ||from||;
 * NAN (null in the report) where the segment's first checkpoint lacks the tensor (the
 * optimizer state before step 1) or holds it as zeros (a bias).
 */
static double tensor_update(const vckpt *from, const attest_tensor_info *t, const uint8_t *y)
{
    const uint8_t *x;
    const attest_tensor_info *f = vckpt_find(from, t->name, &x);
    if (!f || !vckpt_same_layout(f, t)) return NAN;
    int zero = 1;
    for (uint64_t k = 0, n = vckpt_numel(f); zero && k < n; k++)
        zero = vckpt_value(f->dtype, x, k) == 0;
    return zero ? NAN : vckpt_rel_error(t, y, x);
}

static int cmd_segment(void *state, const replay_ctx *c, const replay_segment *seg, char *err,
                       size_t errsz)
{
    cmd_state *s = state;
    const replay_log *l = c->log;
    json_t *steps = json_array(), *losses = NULL;
    for (size_t i = seg->first; i < seg->last; i++) json_array_append(steps, l->steps[i].rec);
    // The batches are rebuilt here too: the command gets only references that match the shards.
    for (size_t i = seg->first; i < seg->last; i++) {
        uint8_t *bytes = NULL, d[32];
        size_t len = 0;
        char why[300], hex[65];
        const json_t *rec = l->steps[i].rec;
        uint64_t step = (uint64_t)json_integer_value(json_object_get(rec, "step"));
        int rc = vdata_batch(c->data, json_object_get(rec, "batch"), &bytes, &len, why, sizeof why);
        if (!rc) {
            rc = attest_sha256(bytes, len, d);
            attest_sha256_hex(d, hex);
            if (!rc && strcmp(hex, json_string_value(json_object_get(rec, "batch_sha256"))) != 0)
                rc = attest_text_fail(why, sizeof why, ATTEST_EVERIFY,
                                      "batch_sha256 is not the digest of the samples it names in "
                                      "the committed shards");
        }
        free(bytes);
        if (rc) {
            json_decref(steps);
            return attest_text_fail(err, errsz, rc, "step %" PRIu64 " (record %" PRIu64 "): %s",
                                    step, l->steps[i].index, why);
        }
    }
    // The command runs elsewhere: every path it gets is absolute.
    char *input = realpath(vckpt_path(seg->from), NULL);
    json_t *req = json_pack(
        "{s:s, s:{s:s, s:O}, s:{s:O}, s:o}", "kind", "segment", "input", "path",
        input ? input : vckpt_path(seg->from), "step",
        json_object_get(l->ckpts[seg->seg].rec, "step"), "output", "step",
        json_object_get(l->ckpts[seg->seg + 1].rec, "step"), "steps", steps);
    free(input);
    vckpt *got = NULL;
    if (!req) return ATTEST_ENOMEM;
    int rc = request(s, c, req, &got, &losses, err, errsz);
    json_decref(req);
    if (rc) return rc;
    json_t *tensors = json_array();
    json_object_set_new(seg->report, "tensors", tensors);
    double worst = 0;
    const char *worst_name = "";
    if (vckpt_count(got) != vckpt_count(seg->to))
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay wrote %zu tensors, %s holds %zu", vckpt_count(got),
                              vckpt_path(seg->to), vckpt_count(seg->to));
    for (size_t i = 0; !rc && i < vckpt_count(seg->to); i++) {
        const uint8_t *x, *y;
        const attest_tensor_info *t = vckpt_tensor(seg->to, i, &y);
        const attest_tensor_info *u = vckpt_find(got, t->name, &x);
        if (!u || !vckpt_same_layout(t, u)) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "tensor %s: missing from the replay's checkpoint or another "
                                  "dtype or shape",
                                  t->name);
            break;
        }
        if (!vckpt_is_float(t->dtype)) {
            if (memcmp(x, y, (size_t)(t->end - t->begin)) != 0)
                rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                      "tensor %s (%s): the replay gives other values than %s",
                                      t->name, t->dtype, vckpt_path(seg->to));
            continue;
        }
        double e = vckpt_rel_error(t, x, y), up = tensor_update(seg->from, t, y);
        json_array_append_new(tensors, json_pack("{s:s, s:f, s:o}", "name", t->name, "error",
                                                 isfinite(e) ? e : 1e308, "update",
                                                 isnan(up)      ? json_null()
                                                 : isfinite(up) ? json_real(up)
                                                                : json_real(1e308)));
        if (!(e <= worst)) {
            worst = e;
            worst_name = t->name;
        }
    }
    if (!rc) {
        json_object_set_new(seg->report, "max_error", json_real(isfinite(worst) ? worst : 1e308));
        json_object_set_new(seg->report, "tolerance", json_real(s->tol));
        if (!(worst <= s->tol))
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "tensor %s: relative L2 error %.3g of the replay against %s "
                                  "exceeds the run's tolerance %.3g (the segment's relative "
                                  "update is %.3g)",
                                  worst_name, worst, vckpt_path(seg->to), s->tol,
                                  vckpt_rel_update(seg->from, seg->to, ""));
    }
    if (!rc && json_array_size(losses) != seg->last - seg->first)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay reported %zu losses for %zu steps",
                              json_array_size(losses), seg->last - seg->first);
    for (size_t i = seg->first; !rc && i < seg->last; i++) {
        const json_t *rec = l->steps[i].rec;
        uint64_t bits;
        double logged, got_loss = json_number_value(json_array_get(losses, i - seg->first));
        if (!replay_bits64(rec, "loss", &bits)) continue;
        memcpy(&logged, &bits, 8);
        double rel = fabs(got_loss - logged) / (fabs(logged) > 1e-12 ? fabs(logged) : 1e-12);
        if (!(rel <= s->tol))
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "step %" PRIu64 ": loss logged %.9g, replay computes %.9g "
                                  "(relative error %.3g, tolerance %.3g)",
                                  (uint64_t)json_integer_value(json_object_get(rec, "step")),
                                  logged, got_loss, rel, s->tol);
    }
    json_decref(losses);
    vckpt_free(got);
    return rc;
}

/* One "losses" request for all the evaluations. */
static int cmd_losses(void *state, const replay_ctx *c, replay_eval *ev, size_t n_ev, double *tol,
                      char *err, size_t errsz)
{
    cmd_state *s = state;
    json_t *evs = json_array(), *losses = NULL;
    *tol = fmax(s->tol, 1e-5); /* a mean of binary64 losses against a logged binary32 one */
    for (size_t e = 0; evs && e < n_ev; e++) {
        char *abs = realpath(ev[e].model, NULL);
        json_array_append_new(evs, json_pack("{s:s, s:O}", "model", abs ? abs : ev[e].model,
                                             "examples", ev[e].refs));
        free(abs);
    }
    json_t *req = evs ? json_pack("{s:s, s:o}", "kind", "losses", "evaluations", evs) : NULL;
    if (!req) return ATTEST_ENOMEM;
    int rc = request(s, c, req, NULL, &losses, err, errsz);
    json_decref(req);
    if (!rc && json_array_size(losses) != n_ev)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the replay command gave %zu lists of losses for %zu models",
                              json_array_size(losses), n_ev);
    for (size_t e = 0; !rc && e < n_ev; e++) {
        const json_t *one = json_array_get(losses, e);
        if (json_array_size(one) != ev[e].n) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "the replay command gave %zu losses for the %zu examples of %s",
                                  json_array_size(one), ev[e].n, ev[e].model);
            break;
        }
        for (size_t i = 0; !rc && i < ev[e].n; i++) {
            const json_t *v = json_array_get(one, i);
            ev[e].loss[i] = json_number_value(v);
            if (!json_is_number(v) || !isfinite(ev[e].loss[i]) || ev[e].loss[i] < 0)
                rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                      "the replay command's loss of %s on example %zu is not a "
                                      "finite number >= 0",
                                      ev[e].model, i);
        }
    }
    json_decref(losses);
    return rc;
}

const replay_backend replay_command = {
    "command (within the run's tolerance)", cmd_init, cmd_initialization, cmd_segment, cmd_losses,
    cmd_done,
};
