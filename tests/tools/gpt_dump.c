/*
 * tests/tools/gpt_dump.c - trains attest-gpt/1 for K - 1 steps on a fixed
 * synthetic corpus, then dumps everything about step K to a safetensors
 * file for tests/python/engine_torch.py: the tensors before the step, the
 * batch, the loss, the gradients (before clipping), the gradient norm, the
 * learning rate and the tensors after the AdamW update. Same bits for any
 * --threads (tests/cli/engine.sh compares them).
 *
 * usage: gpt_dump --out FILE [--step K] [--threads N] [--layers N] [--heads N]
 *                 [--width N] [--context N] [--batch N] [--seed N] [--clip X]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/safetensors.h"
#include "gpt.h"

#define CORPUS 20000

static uint8_t *corpus(void)
{
    static const char text[] =
        "Whan that Aprille with his shoures soote the droghte of March hath perced to the roote, "
        "and bathed every veyne in swich licour of which vertu engendred is the flour; ";
    uint8_t *b = malloc(CORPUS);
    if (!b) return NULL;
    for (size_t i = 0; i < CORPUS; i++)
        b[i] = (uint8_t)(text[(i * 7 / 5) % (sizeof text - 1)] ^ ((i / 401) % 3 == 0 ? 0x20 : 0));
    return b;
}

static void tokens_of(const gpt_config *c, uint64_t step, const uint8_t *text, uint8_t *tok)
{
    uint64_t samples[2] = {CORPUS / 4, CORPUS - CORPUS / 4};
    gpt_window w[GPT_MAX_BATCH];
    gpt_batch_windows(c, step, samples, 2, w);
    for (uint32_t b = 0; b < c->batch; b++)
        memcpy(tok + (size_t)b * (c->context + 1), text + w[b].shard * (CORPUS / 4) + w[b].first,
               c->context + 1);
}

/* Appends a copy of tensor t under prefix + name. */
static int add(attest_tensor_view *v, size_t *n, char **names, const char *prefix,
               const gpt_tensor *t, const void *data)
{
    size_t len = strlen(prefix) + strlen(t->name) + 1;
    char *name = malloc(len);
    void *copy = malloc(t->bytes ? t->bytes : 1);
    if (!name || !copy) {
        free(name);
        free(copy);
        return -1;
    }
    snprintf(name, len, "%s%s", prefix, t->name);
    memcpy(copy, data, t->bytes);
    names[*n] = name;
    v[*n] = (attest_tensor_view){name, t->dtype, t->rank, t->shape, copy, t->bytes};
    (*n)++;
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: gpt_dump --out FILE [--step K] [--threads N] [--layers N] [--heads N]\n"
            "                [--width N] [--context N] [--batch N] [--seed N] [--clip X]\n");
    return 2;
}

int main(int argc, char **argv)
{
    gpt_config c;
    const char *out = NULL;
    unsigned long long step = 3, threads = 1;
    char err[256];
    int rc = 1;

    gpt_config_default(&c);
    c.layers = 2, c.heads = 4, c.width = 32, c.context = 16, c.batch = 4, c.warmup = 2;
    c.steps = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        i++;
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--step") == 0)
            step = strtoull(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0)
            threads = strtoull(v, NULL, 10);
        else if (strcmp(a, "--layers") == 0)
            c.layers = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--heads") == 0)
            c.heads = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--width") == 0)
            c.width = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--context") == 0)
            c.context = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            c.batch = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--seed") == 0)
            c.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--clip") == 0)
            c.clip = strtof(v, NULL);
        else
            return usage();
    }
    if (!out || step < 1 || threads < 1 || threads > GPT_MAX_THREADS) return usage();

    gpt *g = NULL;
    uint8_t *text = corpus(), *tok = NULL;
    attest_tensor_view *views = NULL;
    char **names = NULL;
    size_t nv = 0;
    if (gpt_new(&g, &c, (unsigned)threads, err, sizeof err) != 0) {
        fprintf(stderr, "gpt_dump: %s\n", err);
        goto done;
    }
    tok = malloc((size_t)c.batch * (c.context + 1));
    size_t nt = gpt_tensor_count(g), cap = 4 * nt + 8;
    views = calloc(cap, sizeof *views);
    names = calloc(cap, sizeof *names);
    if (!text || !tok || !views || !names) goto done;
    for (uint64_t s = 1; s < step; s++) {
        tokens_of(&c, s, text, tok);
        gpt_train_step(g, tok, NULL);
    }
    for (size_t i = 0; i < nt; i++)
        if (add(views, &nv, names, "before.", gpt_tensor_at(g, i), gpt_tensor_at(g, i)->data))
            goto done;
    tokens_of(&c, step, text, tok);
    gpt_step_result r;
    gpt_train_step(g, tok, &r);
    for (size_t i = 0; i < nt; i++) {
        const gpt_tensor *t = gpt_tensor_at(g, i);
        if (t->is_param && add(views, &nv, names, "grad.", t, gpt_grad(g, i))) goto done;
    }
    for (size_t i = 0; i < nt; i++)
        if (add(views, &nv, names, "after.", gpt_tensor_at(g, i), gpt_tensor_at(g, i)->data))
            goto done;
    uint64_t tshape[2] = {c.batch, c.context + 1}, one = 1;
    gpt_tensor extra[4] = {
        {"tokens", "U8", 2, {tshape[0], tshape[1]}, tok, tshape[0] * tshape[1], 0},
        {"loss", "F32", 1, {one, 0}, &r.loss, 4, 0},
        {"grad_norm", "F32", 1, {one, 0}, &r.grad_norm, 4, 0},
        {"lr", "F32", 1, {one, 0}, &r.lr, 4, 0},
    };
    for (size_t i = 0; i < 4; i++)
        if (add(views, &nv, names, "", &extra[i], extra[i].data)) goto done;

    char meta[16][64];
    snprintf(meta[0], 64, "%u", c.layers);
    snprintf(meta[1], 64, "%u", c.heads);
    snprintf(meta[2], 64, "%u", c.width);
    snprintf(meta[3], 64, "%u", c.context);
    snprintf(meta[4], 64, "%u", c.batch);
    snprintf(meta[5], 64, "%llu", step);
    snprintf(meta[6], 64, "%a", (double)c.beta1);
    snprintf(meta[7], 64, "%a", (double)c.beta2);
    snprintf(meta[8], 64, "%a", (double)c.eps);
    snprintf(meta[9], 64, "%a", (double)c.weight_decay);
    snprintf(meta[10], 64, "%a", (double)c.clip);
    const char *md[] = {"engine", GPT_ENGINE, "layers", meta[0], "heads", meta[1], "width",
                        meta[2],  "context",  meta[3],  "batch", meta[4], "step",  meta[5],
                        "beta1",  meta[6],    "beta2",  meta[7], "eps",   meta[8], "weight_decay",
                        meta[9],  "clip",     meta[10], NULL};
    if (attest_safetensors_write(out, views, nv, md, err, sizeof err) != 0) {
        fprintf(stderr, "gpt_dump: %s: %s\n", out, err);
        goto done;
    }
    printf("step %llu loss %.6f grad_norm %.6f lr %.6g\n", step, r.loss, r.grad_norm, r.lr);
    rc = 0;
done:
    for (size_t i = 0; i < nv; i++) {
        free(names[i]);
        free((void *)views[i].data);
    }
    free(names);
    free(views);
    free(tok);
    free(text);
    gpt_free(g);
    return rc;
}
