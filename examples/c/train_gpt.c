/*
 * train_gpt.c - trains attest-gpt/1 (engine/gpt.h), the reference trainer,
 * on the license texts Debian ships in /usr/share/common-licenses, fully
 * recorded with libattest: the code (git), the configuration, every data
 * shard, the seeds and the initial weights, every step (its windows, the
 * digest of the exact batch bytes, lr, loss, gradient norm), a checkpoint
 * every K steps, and seals. An auditor re-executes sampled segments:
 *
 *   build/train_gpt --out DIR [--steps N] [--ckpt-every K] [--seed S] [--threads T]
 *                   [--device cpu|cuda]
 *   attest verify DIR/run.log --pub DIR/run.pub --replay 3 --nonce HEX
 *
 * DIR gets run.log, run.key, run.pub, data/ (the shards) and checkpoints/.
 * Seals are anchored in a TPM when ATTEST_TCTI names one (attest/run.h).
 */
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <attest/attest.h>

#include "gpt.h"

#define CORPUS "/usr/share/common-licenses"
#define KEY_NAME "example.com/train-gpt"
#define MAX_SHARDS 4096

static const char usage[] =
    "usage: train_gpt --out DIR [--steps N] [--ckpt-every K] [--seal-every K] [--seed S]\n"
    "                 [--data-seed S] [--threads T] [--device cpu|cuda] [--batch B]\n"
    "                 [--code DIR]\n"
    "                 [--layers L] [--heads H] [--width C] [--context T] [--warmup W]\n"
    "                 [--lr-max X] [--lr-min X] [--corpus DIR]\n"
    "Trains attest-gpt/1 on the files of --corpus (default " CORPUS ",\n"
    "one shard per file) and records the run in DIR/run.log\n"
    "(defaults: the engine's default configuration; checkpoints every 50 steps,\n"
    "seals every 50 steps, --code . for the git record). --device cuda trains on\n"
    "an NVIDIA GPU: the same bits as on the CPU.\n";

typedef struct shard {
    char name[256];
    unsigned char *bytes;
    uint64_t len;
} shard;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "train_gpt: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const shard *)a)->name, ((const shard *)b)->name);
}

/* The corpus: the regular files of dir (no symlinks), by name; each is one shard. */
static int read_corpus(const char *dir, shard *s, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    *n = 0;
    if (!d) return fail("%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL && *n < MAX_SHARDS) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        FILE *f = fopen(path, "rb");
        shard *sh = &s[*n];
        snprintf(sh->name, sizeof sh->name, "%s", e->d_name);
        sh->len = (uint64_t)st.st_size;
        sh->bytes = malloc(sh->len ? sh->len : 1);
        if (!f || !sh->bytes || fread(sh->bytes, 1, sh->len, f) != sh->len) {
            if (f) fclose(f);
            closedir(d);
            return fail("%s: %s", path, "cannot read");
        }
        fclose(f);
        (*n)++;
    }
    closedir(d);
    if (*n == 0) return fail("%s: %s", dir, "no regular files");
    qsort(s, *n, sizeof *s, cmp_names);
    return 0;
}

/* buf = a/b, or -1 when it does not fit. */
static int join(char *buf, size_t sz, const char *a, const char *b)
{
    int n = snprintf(buf, sz, "%s/%s", a, b);
    return n < 0 || (size_t)n >= sz ? -1 : 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wbx");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A float for people and its binary32 bits for machines (format/LOG.md [LOG-14]). */
static int add_float(char *buf, size_t sz, size_t *at, const char *name, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    int n = snprintf(buf + *at, sz - *at, ",\"%s\":%.9g,\"%s_bits\":\"%08" PRIx32 "\"", name, v,
                     name, bits);
    if (n < 0 || (size_t)n >= sz - *at) return -1;
    *at += (size_t)n;
    return 0;
}

static char *config_json(const gpt_config *c, uint64_t ckpt_every, unsigned threads,
                         gpt_device dev, const char *corpus)
{
    size_t sz = 4096, at = 0;
    char *buf = malloc(sz);
    if (!buf) return NULL;
    at = (size_t)snprintf(buf, sz,
                          "{\"engine\":{\"name\":\"%s\",\"layers\":%u,\"heads\":%u,\"width\":%u,"
                          "\"context\":%u,\"batch\":%u,\"steps\":%" PRIu64 ",\"warmup\":%" PRIu64
                          ",\"seed\":%" PRIu64 ",\"data_seed\":%" PRIu64,
                          GPT_ENGINE, c->layers, c->heads, c->width, c->context, c->batch,
                          c->steps, c->warmup, c->seed, c->data_seed);
    if (add_float(buf, sz, &at, "lr_max", c->lr_max) || add_float(buf, sz, &at, "lr_min", c->lr_min) ||
        add_float(buf, sz, &at, "beta1", c->beta1) || add_float(buf, sz, &at, "beta2", c->beta2) ||
        add_float(buf, sz, &at, "eps", c->eps) || add_float(buf, sz, &at, "clip", c->clip) ||
        add_float(buf, sz, &at, "weight_decay", c->weight_decay)) {
        free(buf);
        return NULL;
    }
    snprintf(buf + at, sz - at,
             "},\"data\":{\"corpus\":\"%s\",\"layout\":\"bytes\",\"shards\":\"one per corpus "
             "file, by name\",\"order\":\"attest-gpt/1 windows (engine/ENGINE.md)\"},"
             "\"checkpoint_every\":%" PRIu64 ",\"threads\":%u,\"device\":\"%s\"}",
             corpus, ckpt_every, threads, gpt_device_name(dev));
    return buf;
}

/* Writes the model's state to DIR/checkpoints/step-NNNNNN.safetensors. */
static int save(const gpt *g, const char *dir, uint64_t step, char *path, size_t pathsz)
{
    size_t n = gpt_tensor_count(g);
    attest_tensor_view *v = calloc(n, sizeof *v);
    char err[256], step_text[32];
    if (!v) return -1;
    for (size_t i = 0; i < n; i++) {
        const gpt_tensor *t = gpt_tensor_at(g, i);
        v[i] = (attest_tensor_view){t->name, t->dtype, t->rank, t->shape, t->data, t->bytes};
    }
    snprintf(path, pathsz, "%s/checkpoints/step-%06" PRIu64 ".safetensors", dir, step);
    snprintf(step_text, sizeof step_text, "%" PRIu64, step);
    const char *meta[] = {"engine", GPT_ENGINE, "step", step_text, NULL};
    int rc = attest_safetensors_write(path, v, n, meta, err, sizeof err);
    if (rc) fprintf(stderr, "train_gpt: %s: %s\n", path, err);
    free(v);
    return rc;
}

#ifdef TRAIN_GPT_FORGE
/* Dishonest runs for the verifier's tests (never in the example users build). */
enum forge { HONEST, INIT_SEED, SWAP_WEIGHTS, OTHER_DATA, OTHER_REFS, EDIT_LOSS, INTERPOLATE,
             BLINDFOLD, COUNTER };
static const char *const forge_names[] = {"honest",      "init-seed", "swap-weights",
                                          "other-data",  "other-refs", "edit-loss",
                                          "interpolate", "blindfold",  "counter"};

/*
 * interpolate, blindfold:G: the forger owns a target model (here: another
 * seed's run on the same data, trained first) and wants a log that ends at
 * it. interpolate trains nothing: its checkpoints walk in equal steps from
 * the initialization to the target. blindfold:G trains genuinely for steps
 * 1..G (where the updates are largest), then fills the rest with tiny steps
 * toward the target (a thousandth of the way by the end). Both log the
 * target run's losses, so the loss curve looks right.
 */
typedef struct fake {
    gpt_step_result *res; /* the target run's, by step */
    float **target, **start;
    uint64_t genuine; /* steps trained for real */
} fake;

static int fake_prepare(fake *f, const gpt_config *cfg, gpt_device dev, unsigned threads,
                        const shard *shards, const uint64_t *samples, size_t n_shards,
                        uint64_t genuine)
{
    gpt_config tc = *cfg;
    tc.seed = cfg->seed + 1000;
    gpt *t = NULL;
    char err[256];
    size_t T1 = (size_t)cfg->context + 1;
    uint8_t *tok = malloc(cfg->batch * T1);
    gpt_window *win = calloc(cfg->batch, sizeof *win);
    f->res = calloc(cfg->steps + 1, sizeof *f->res);
    f->genuine = genuine;
    if (!tok || !win || !f->res || gpt_new_on(&t, &tc, dev, threads, err, sizeof err) != 0) return -1;
    for (uint64_t s = 1; s <= cfg->steps; s++) {
        gpt_batch_windows(cfg, s, samples, n_shards, win);
        for (size_t b = 0; b < cfg->batch; b++)
            memcpy(tok + b * T1, shards[win[b].shard].bytes + win[b].first, T1);
        gpt_train_step(t, tok, &f->res[s]);
    }
    size_t n = gpt_tensor_count(t);
    f->target = calloc(n, sizeof *f->target);
    f->start = calloc(n, sizeof *f->start);
    for (size_t i = 0; f->target && f->start && i < n; i++) {
        const gpt_tensor *x = gpt_tensor_at(t, i);
        if (!x->is_param) continue;
        if (!(f->target[i] = malloc(x->bytes)) || !(f->start[i] = malloc(x->bytes))) return -1;
        memcpy(f->target[i], x->data, x->bytes);
    }
    gpt_free(t);
    free(tok);
    free(win);
    return f->target && f->start ? 0 : -1;
}

/* The forged state of step s: start + (s - G) / (steps - G) of the way to the target. */
static void fake_state(const fake *f, gpt *g, uint64_t s, uint64_t steps)
{
    double frac = (double)(s - f->genuine) / (double)(steps - f->genuine);
    if (f->genuine) frac *= 1e-3;
    for (size_t i = 0; i < gpt_tensor_count(g); i++) {
        const gpt_tensor *x = gpt_tensor_at(g, i);
        if (x->is_param) {
            float *p = x->data;
            for (size_t j = 0; j < x->bytes / sizeof(float); j++)
                p[j] = (float)(f->start[i][j] + frac * (f->target[i][j] - f->start[i][j]));
        } else if (strcmp(x->name, "state") == 0) {
            ((uint64_t *)x->data)[0] = s;
        }
    }
    char err[256];
    gpt_sync_state(g, err, sizeof err);
}
#endif

int main(int argc, char **argv)
{
    gpt_config cfg;
    gpt_config_default(&cfg);
    const char *out = NULL, *code = ".", *corpus = CORPUS;
    uint64_t ckpt_every = 50, seal_every = 50, v;
    unsigned threads = 2;
    gpt_device dev = GPT_CPU;
    int warmup_set = 0;
#ifdef TRAIN_GPT_FORGE
    enum forge forge = HONEST;
    uint64_t forge_step = 0;
#endif
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!val) return fprintf(stderr, "train_gpt: %s needs a value\n%s", a, usage), 2;
        i++;
        char *end;
        errno = 0;
        v = strtoull(val, &end, 10);
        int num_ok = !errno && *val >= '0' && *val <= '9' && !*end;
        if (strcmp(a, "--out") == 0)
            out = val;
        else if (strcmp(a, "--code") == 0)
            code = val;
        else if (strcmp(a, "--corpus") == 0) {
            corpus = val;
            if (strpbrk(val, "\"\\\n\t"))
                return fprintf(stderr, "train_gpt: --corpus: quotes, backslashes and control "
                                       "characters are not supported in the path\n"), 2;
        } else if (strcmp(a, "--lr-max") == 0 || strcmp(a, "--lr-min") == 0) {
            float f = strtof(val, &end);
            if (*end || !(f >= 0.0f) || f > 1.0f)
                return fprintf(stderr, "train_gpt: %s takes a learning rate, not \"%s\"\n", a, val), 2;
            *(strcmp(a, "--lr-max") == 0 ? &cfg.lr_max : &cfg.lr_min) = f;
        } else if (strcmp(a, "--device") == 0) {
            if (gpt_device_parse(val, &dev) != 0)
                return fprintf(stderr, "train_gpt: --device takes cpu or cuda, not \"%s\"\n", val), 2;
        }
#ifdef TRAIN_GPT_FORGE
        else if (strcmp(a, "--forge") == 0) {
            char kind[32];
            snprintf(kind, sizeof kind, "%s", val);
            char *colon = strchr(kind, ':');
            if (colon) *colon = 0;
            forge_step = colon ? strtoull(colon + 1, NULL, 10) : 0;
            for (unsigned k = 0; k < sizeof forge_names / sizeof forge_names[0]; k++)
                if (strcmp(kind, forge_names[k]) == 0) forge = (enum forge)k;
            if (forge == HONEST && strcmp(kind, "honest") != 0)
                return fprintf(stderr, "train_gpt: unknown --forge %s\n", val), 2;
        }
#endif
        else if (!num_ok)
            return fprintf(stderr, "train_gpt: %s takes a number, not \"%s\"\n", a, val), 2;
        else if (strcmp(a, "--steps") == 0)
            cfg.steps = v;
        else if (strcmp(a, "--ckpt-every") == 0)
            ckpt_every = v;
        else if (strcmp(a, "--seal-every") == 0)
            seal_every = v;
        else if (strcmp(a, "--seed") == 0)
            cfg.seed = v;
        else if (strcmp(a, "--data-seed") == 0)
            cfg.data_seed = v;
        else if (strcmp(a, "--batch") == 0 && v <= GPT_MAX_BATCH)
            cfg.batch = (uint32_t)v;
        else if (strcmp(a, "--layers") == 0 && v <= GPT_MAX_LAYERS)
            cfg.layers = (uint32_t)v;
        else if (strcmp(a, "--heads") == 0 && v <= GPT_MAX_WIDTH)
            cfg.heads = (uint32_t)v;
        else if (strcmp(a, "--width") == 0 && v <= GPT_MAX_WIDTH)
            cfg.width = (uint32_t)v;
        else if (strcmp(a, "--context") == 0 && v <= GPT_MAX_CONTEXT)
            cfg.context = (uint32_t)v;
        else if (strcmp(a, "--warmup") == 0)
            cfg.warmup = v, warmup_set = 1;
        else if (strcmp(a, "--threads") == 0 && v >= 1 && v <= GPT_MAX_THREADS)
            threads = (unsigned)v;
        else
            return fprintf(stderr, "train_gpt: bad option %s %s\n%s", a, val, usage), 2;
    }
    if (!out) return fprintf(stderr, "train_gpt: --out DIR is required\n%s", usage), 2;
    if (cfg.steps < 1 || ckpt_every < 1 || seal_every < 1 || cfg.seed >= (1ull << 63) ||
        cfg.data_seed >= (1ull << 63))
        return fprintf(stderr, "train_gpt: --steps, --ckpt-every and --seal-every must be "
                               "positive, seeds below 2^63\n"),
               2;
    if (!warmup_set) cfg.warmup = cfg.steps / 10; // a tenth of the run, as the default's 30 of 300
    char err[512];
    if (gpt_config_check(&cfg, err, sizeof err) != 0) return fail("%s%s", err, "");

    char path[1024], log[1024], key[1024], data_dir[1024];
    if (join(log, sizeof log, out, "run.log") != 0 || join(data_dir, sizeof data_dir, out, "data"))
        return fail("%s: %s", out, "path too long");
    struct stat st;
    if (lstat(log, &st) == 0)
        return fail("%s exists: train_gpt starts a new run in an empty directory%s", log, "");
    mkdir(out, 0777);
    if (mkdir(data_dir, 0777) != 0 && errno != EEXIST)
        return fail("%s: %s", data_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/checkpoints", out);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return fail("%s: %s", path, strerror(errno));

    // The run's signing key: DIR/run.key (secret) and DIR/run.pub (for auditors).
    attest_signer *signer = NULL;
    char *vkey = NULL;
    snprintf(key, sizeof key, "%s/run.key", out);
    snprintf(path, sizeof path, "%s/run.pub", out);
    if (attest_signer_generate(&signer, KEY_NAME) != 0 ||
        attest_signer_save(signer, key, err, sizeof err) != 0 ||
        attest_signer_vkey(signer, &vkey) != 0) {
        attest_signer_free(signer);
        return fail("%s: %s", key, err);
    }
    attest_signer_free(signer);
    FILE *pf = fopen(path, "wx");
    if (!pf || fprintf(pf, "%s\n", vkey) < 0 || fclose(pf) != 0) return fail("%s: %s", path, "cannot write");
    free(vkey);

    // The data: one shard per corpus file, copied into DIR/data.
    static shard shards[MAX_SHARDS];
    size_t n_shards;
    if (read_corpus(corpus, shards, &n_shards) != 0) return 2;
    uint64_t samples[MAX_SHARDS];
    for (size_t i = 0; i < n_shards; i++) {
        if (join(path, sizeof path, data_dir, shards[i].name) != 0 ||
            write_file(path, shards[i].bytes, shards[i].len) != 0)
            return fail("%s: %s", path, strerror(errno));
        samples[i] = shards[i].len;
    }

    char *config = config_json(&cfg, ckpt_every, threads, dev, corpus);
    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    opts.replay_json = "{\"engine\":\"" GPT_ENGINE "\"}";
    opts.flags = ATTEST_RUN_NEW;
    attest_run *run = NULL;
    char *why = NULL;
    if (!config) return fail("%s%s", "out of memory", "");
    if (attest_run_open(&run, log, key, config, &opts, &why) != 0)
        return fail("%s: %s", log, why ? why : "cannot open");
    free(config);
    attest_run_code(run, code);
    for (size_t i = 0; i < n_shards; i++) {
        if (join(path, sizeof path, data_dir, shards[i].name) == 0)
            attest_run_shard_file(run, i, path, shards[i].name, ATTEST_LAYOUT_BYTES);
    }

    gpt_config model_cfg = cfg;
#ifdef TRAIN_GPT_FORGE
    if (forge == INIT_SEED) model_cfg.seed = cfg.seed + 1; // logs one seed, trains from another
    gpt *other = NULL;                                     // swap-weights: the other run
    gpt_config other_cfg = cfg;
    other_cfg.seed = cfg.seed + 1000;
    if (forge == SWAP_WEIGHTS && gpt_new_on(&other, &other_cfg, dev, threads, err, sizeof err) != 0)
        return fail("%s%s", err, "");
    fake fk = {0};
    if ((forge == INTERPOLATE || forge == BLINDFOLD) &&
        fake_prepare(&fk, &cfg, dev, threads, shards, samples, n_shards,
                     forge == BLINDFOLD ? forge_step : 0) != 0)
        return fail("%s%s", "forge: cannot train the target model", "");
#endif
    gpt *g = NULL;
    if (gpt_new_on(&g, &model_cfg, dev, threads, err, sizeof err) != 0)
        return fail("%s%s", err, "");
    if (save(g, out, 0, path, sizeof path) != 0) return 1;
    attest_run_init(run, cfg.seed, GPT_ENGINE, NULL, 1, cfg.data_seed, path);
    attest_run_checkpoint(run, 0, path, 0);

    size_t T1 = (size_t)cfg.context + 1;
    unsigned char *tokens = malloc(cfg.batch * T1);
    gpt_window *win = calloc(cfg.batch, sizeof *win);
    attest_sample_ref *refs = calloc(cfg.batch, sizeof *refs);
    if (!tokens || !win || !refs) return fail("%s%s", "out of memory", "");
    gpt_step_result res = {0};
    double compute = 0, t0 = now();
    for (uint64_t s = 1; s <= cfg.steps; s++) {
        gpt_batch_windows(&cfg, s, samples, n_shards, win);
        for (size_t b = 0; b < cfg.batch; b++) {
            memcpy(tokens + b * T1, shards[win[b].shard].bytes + win[b].first, T1);
            refs[b] = (attest_sample_ref){win[b].shard, win[b].first, T1};
        }
        attest_step step = ATTEST_STEP_INIT;
        step.step = s;
        step.refs = refs;
        step.n_refs = cfg.batch;
        step.batch = tokens;
        step.batch_len = cfg.batch * T1;
#ifdef TRAIN_GPT_FORGE
        uint8_t digest[32];
        if (forge == OTHER_DATA && s == forge_step) {
            // Logs the committed batch, trains on the windows of another step.
            attest_sha256(tokens, cfg.batch * T1, digest);
            step.batch = NULL;
            step.batch_sha256 = digest;
            gpt_batch_windows(&cfg, s + 100000, samples, n_shards, win);
            for (size_t b = 0; b < cfg.batch; b++)
                memcpy(tokens + b * T1, shards[win[b].shard].bytes + win[b].first, T1);
        }
        if (forge == OTHER_REFS && s == forge_step) // trains honestly, logs other windows
            for (size_t b = 0; b < cfg.batch; b++) refs[b].first = refs[b].first ? refs[b].first - 1 : 1;
        if (other) gpt_train_step(other, tokens, &res);
#endif
        double ts = now();
#ifdef TRAIN_GPT_FORGE
        if (fk.res && s > fk.genuine) { // no training: the target run's results are logged
            if (s == fk.genuine + 1)
                for (size_t i = 0; i < gpt_tensor_count(g); i++)
                    if (fk.start[i]) memcpy(fk.start[i], gpt_tensor_at(g, i)->data, gpt_tensor_at(g, i)->bytes);
            res = fk.res[s];
            if (s % ckpt_every == 0 || s == cfg.steps) fake_state(&fk, g, s, cfg.steps);
        } else
#endif
        gpt_train_step(g, tokens, &res);
        compute += now() - ts;
        if (gpt_error(g)) { // what was recorded so far stays; the run ends as failed
            char m[256];
            uint64_t nf = 0;
            fprintf(stderr, "train_gpt: step %" PRIu64 ": %s\n", s, gpt_error(g));
            attest_run_end(run, "the engine failed");
            attest_run_close(run, m, sizeof m, &nf);
            return 2;
        }
#ifdef TRAIN_GPT_FORGE
        if (forge == SWAP_WEIGHTS && s == forge_step) { // another run's weights and moments
            for (size_t i = 0; i < gpt_tensor_count(g); i++)
                if (strcmp(gpt_tensor_at(g, i)->name, "state") != 0)
                    memcpy(gpt_tensor_at(g, i)->data, gpt_tensor_at(other, i)->data,
                           gpt_tensor_at(g, i)->bytes);
            gpt_sync_state(g, err, sizeof err);
            gpt_free(other);
            other = NULL;
        }
        if (forge == EDIT_LOSS && s == forge_step) res.loss *= 0.99f;
#endif
        step.lr = res.lr;
        step.loss = res.loss;
        step.has_grad_norm = 1;
        step.grad_norm = res.grad_norm;
        attest_run_step(run, &step);
        if (s % ckpt_every == 0 || s == cfg.steps) {
#ifdef TRAIN_GPT_FORGE
            uint64_t *counter = gpt_tensor_find(g, "state")->data;
            if (forge == COUNTER && s == forge_step) counter[0] = s + 1; // a checkpoint of another step
            int bad = save(g, out, s, path, sizeof path);
            if (forge == COUNTER && s == forge_step) counter[0] = s;
            if (bad) return 1;
#else
            if (save(g, out, s, path, sizeof path) != 0) return 1;
#endif
            attest_run_checkpoint(run, s, path, 0);
        }
        if (s % seal_every == 0) attest_run_seal(run);
        if (s % 50 == 0 || s == cfg.steps)
            printf("step %5" PRIu64 "  loss %.4f  lr %.2e  grad norm %.3f\n", s, res.loss, res.lr,
                   res.grad_norm);
    }
    double loop = now() - t0;
    attest_run_end(run, "finished");
    char msg[512];
    uint64_t failed = 0;
    int rc = attest_run_close(run, msg, sizeof msg, &failed);
    printf("steps %" PRIu64 "  final loss %.4f  threads %u  mean step %.2f ms (compute %.2f ms)"
           "  loop %.2f s\n",
           cfg.steps, res.loss, threads, 1000 * loop / (double)cfg.steps,
           1000 * compute / (double)cfg.steps, loop);
    printf("mean_step_ms %.4f\n", 1000 * compute / (double)cfg.steps);
    printf("mean_loop_step_ms %.4f\n", 1000 * loop / (double)cfg.steps);
    printf("log %s  (check: attest verify %s --pub %s/run.pub --replay 3)\n", log, log, out);
#ifdef TRAIN_GPT_FORGE
    for (size_t i = 0; fk.target && i < gpt_tensor_count(g); i++) {
        free(fk.target[i]);
        free(fk.start[i]);
    }
    free(fk.target);
    free(fk.start);
    free(fk.res);
#endif
    gpt_free(g);
    free(tokens);
    free(win);
    free(refs);
    for (size_t i = 0; i < n_shards; i++) free(shards[i].bytes);
    if (rc) {
        fprintf(stderr, "train_gpt: the recorder failed on %" PRIu64 " fact(s); first: %s\n",
                failed, msg);
        return 1;
    }
    return 0;
}
