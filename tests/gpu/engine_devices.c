/*
 * tests/gpu/engine_devices.c - the CUDA backend of attest-gpt/1 gives the
 * CPU engine's bits: losses, gradients, gradient norms, parameters and
 * moments after forward, backward and AdamW, over whole segments, for
 * ordinary and odd shapes, and across a hand-over from one device to the
 * other in either direction.
 *
 * Built three ways: against the real CUDA backend (make check-gpu runs it on
 * a GPU; make check runs it without one and checks the error a missing GPU
 * gives), and against the CPU emulation of the CUDA source
 * (tests/gpu/cuda_emu.h), which make check runs in full.
 * ENGINE_DEVICES_LARGE=1 adds the example model and a long context.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "harness.h"

static char err[256];
static int have_gpu;

static uint8_t *corpus(size_t n)
{
    static const char text[] = "It was the best of times, it was the worst of times; ";
    uint8_t *b = malloc(n);
    if (!b) abort();
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(text[i % (sizeof text - 1)] ^ (((i / 211) % 5 == 0) ? 0x20 : 0) ^
                         ((i * 2654435761u >> 13) % 7 == 0 ? 0x41 : 0));
    return b;
}

#define CORPUS 20000

static void batch_tokens(const gpt_config *c, uint64_t step, const uint8_t *text, uint8_t *tok)
{
    uint64_t samples[1] = {CORPUS};
    gpt_window *w = malloc(c->batch * sizeof *w);
    if (!w || gpt_batch_windows(c, step, samples, 1, w) != 0) abort();
    for (uint32_t b = 0; b < c->batch; b++)
        memcpy(tok + (size_t)b * (c->context + 1), text + w[b].first, c->context + 1);
    free(w);
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Names the first tensor (or gradient) that differs, with how many elements and by how much. */
static int same_tensors(const gpt *cpu, const gpt *gpu, int grads, const char *when)
{
    for (size_t i = 0; i < gpt_tensor_count(cpu); i++) {
        const gpt_tensor *x = gpt_tensor_at(cpu, i), *y = gpt_tensor_at(gpu, i);
        const void *a = x->data, *b = y->data;
        const char *what = "tensor";
        if (grads) {
            if (!x->is_param) continue;
            a = gpt_grad(cpu, i), b = gpt_grad(gpu, i), what = "gradient";
        }
        if (memcmp(a, b, x->bytes) == 0) continue;
        size_t n = 0, first = 0;
        double mx = 0;
        if (strcmp(x->dtype, "F32") == 0) {
            const float *fa = a, *fb = b;
            for (size_t k = 0; k < x->bytes / 4; k++)
                if (bits(fa[k]) != bits(fb[k])) {
                    if (!n++) first = k;
                    double d = (double)fa[k] - (double)fb[k];
                    if (d < 0) d = -d;
                    if (d > mx) mx = d;
                }
        }
        printf("#   %s: %s %s differs in %zu elements (first %zu, max abs diff %.3g)\n", when,
               what, x->name, n, first, mx);
        return 0;
    }
    return 1;
}

static gpt *make(const gpt_config *c, gpt_device d)
{
    gpt *g = NULL;
    if (gpt_new_on(&g, c, d, d == GPT_CPU ? 2 : 1, err, sizeof err) != 0) {
        printf("# gpt_new_on(%s): %s\n", gpt_device_name(d), err);
        return NULL;
    }
    return g;
}

/* gpt_sequence_losses on both devices, on the batch of step 1000: the same bits. */
static int same_losses(gpt *cpu, gpt *gpu, const gpt_config *c, const uint8_t *text,
                       uint8_t *tok, const char *when)
{
    double *lc = calloc(c->batch, sizeof *lc), *lg = calloc(c->batch, sizeof *lg);
    int ok = lc && lg;
    batch_tokens(c, 1000, text, tok);
    if (ok && (gpt_sequence_losses(cpu, tok, lc) != 0 || gpt_sequence_losses(gpu, tok, lg) != 0)) {
        printf("#   %s: gpt_sequence_losses: %s\n", when, gpt_error(gpu) ? gpt_error(gpu) : "");
        ok = 0;
    }
    for (uint32_t b = 0; ok && b < c->batch; b++)
        if (memcmp(&lc[b], &lg[b], sizeof lc[b]) != 0) {
            printf("#   %s: sequence %u loses %.17g on the CPU, %.17g on the GPU\n", when, b,
                   lc[b], lg[b]);
            ok = 0;
        }
    free(lc);
    free(lg);
    return ok;
}

/* Forward-backward, then `steps` training steps, on both devices; every bit compared, and the
 * sequence losses of a model measured between and after (which must leave the steps alone). */
static int compare(const char *name, const gpt_config *c, int steps)
{
    gpt *cpu = make(c, GPT_CPU), *gpu = make(c, GPT_CUDA);
    uint8_t *text = corpus(CORPUS), *tok = malloc((size_t)c->batch * (c->context + 1));
    int ok = cpu && gpu && tok;
    char when[96];

    if (ok) {
        batch_tokens(c, 1, text, tok);
        float lc = gpt_forward_backward(cpu, tok), lg = gpt_forward_backward(gpu, tok);
        if (bits(lc) != bits(lg)) {
            printf("#   %s: forward loss %.9g [%08x] on the CPU, %.9g [%08x] on the GPU\n", name,
                   lc, bits(lc), lg, bits(lg));
            ok = 0;
        }
        snprintf(when, sizeof when, "%s, backward", name);
        ok = ok && same_tensors(cpu, gpu, 1, when);
        snprintf(when, sizeof when, "%s, sequence losses at initialization", name);
        ok = ok && same_losses(cpu, gpu, c, text, tok, when);
    }
    for (int s = 0; ok && s < steps; s++) {
        gpt_step_result rc, rg;
        batch_tokens(c, gpt_step(cpu) + 1, text, tok);
        gpt_train_step(cpu, tok, &rc);
        gpt_train_step(gpu, tok, &rg);
        if (gpt_error(gpu)) {
            printf("#   %s: %s\n", name, gpt_error(gpu));
            ok = 0;
            break;
        }
        if (bits(rc.loss) != bits(rg.loss) || bits(rc.grad_norm) != bits(rg.grad_norm) ||
            bits(rc.lr) != bits(rg.lr)) {
            printf("#   %s, step %d: loss %08x / %08x, grad norm %08x / %08x (CPU / GPU)\n", name,
                   s + 1, bits(rc.loss), bits(rg.loss), bits(rc.grad_norm), bits(rg.grad_norm));
            ok = 0;
        }
        snprintf(when, sizeof when, "%s, after step %d", name, s + 1);
        ok = ok && same_tensors(cpu, gpu, 0, when) && same_tensors(cpu, gpu, 1, when);
    }
    snprintf(when, sizeof when, "%s, sequence losses after %d steps", name, steps);
    ok = ok && same_losses(cpu, gpu, c, text, tok, when);
    free(text);
    free(tok);
    gpt_free(cpu);
    gpt_free(gpu);
    return ok;
}

static gpt_config small(uint32_t layers, uint32_t heads, uint32_t width, uint32_t context,
                        uint32_t batch)
{
    gpt_config c;
    gpt_config_default(&c);
    c.layers = layers, c.heads = heads, c.width = width, c.context = context, c.batch = batch;
    c.steps = 40, c.warmup = 2;
    return c;
}

static void test_shapes(void)
{
    if (!have_gpu) {
        printf("# SKIP no GPU: %s\n", err);
        return;
    }
    gpt_config c = small(2, 4, 32, 16, 4);
    CHECK(compare("L2 C32 H4 T16 B4", &c, 3));
    c = small(1, 3, 30, 7, 11); /* 77 rows: a short last row block */
    CHECK(compare("L1 C30 H3 T7 B11", &c, 3));
    c = small(1, 1, 5, 1, 3);
    CHECK(compare("L1 C5 H1 T1 B3", &c, 2));
    c = small(1, 2, 12, 140, 1); /* causal tiles across the 128-row tile edge */
    CHECK(compare("L1 C12 H2 T140 B1", &c, 2));
    c = small(2, 4, 32, 16, 4);
    c.clip = 0.0f; /* no clipping */
    CHECK(compare("no clipping", &c, 2));
    c.clip = 100.0f, c.weight_decay = 0.0f; /* clipping never active, no decay */
    CHECK(compare("inactive clipping", &c, 2));
    if (getenv("ENGINE_DEVICES_LARGE")) {
        gpt_config_default(&c);
        CHECK(compare("example model", &c, 3));
        c = small(2, 2, 128, 512, 2); /* hd 64, long context */
        CHECK(compare("L2 C128 H2 T512 B2", &c, 2));
        c = small(1, 12, 768, 256, 2);
        CHECK(compare("L1 C768 H12 T256 B2", &c, 1));
    }
}

/* Trains on one device, hands every tensor to the other, trains on: the same as one device. */
static void hand_over(gpt_device first, gpt_device second)
{
    gpt_config c = small(2, 4, 32, 16, 4);
    gpt *a = make(&c, first), *b = make(&c, second), *ref = make(&c, GPT_CPU);
    uint8_t *text = corpus(CORPUS), *tok = malloc((size_t)c.batch * (c.context + 1));
    if (!a || !b || !ref || !tok) {
        CHECK(0);
        goto out;
    }
    for (int s = 0; s < 4; s++) {
        gpt_step_result r;
        batch_tokens(&c, gpt_step(ref) + 1, text, tok);
        gpt_train_step(ref, tok, &r);
        if (s < 2) gpt_train_step(a, tok, &r);
    }
    for (size_t i = 0; i < gpt_tensor_count(a); i++) {
        const gpt_tensor *x = gpt_tensor_at(a, i), *y = gpt_tensor_at(b, i);
        memcpy(y->data, x->data, x->bytes);
    }
    CHECK_EQ_INT(gpt_sync_state(b, err, sizeof err), 0);
    CHECK_EQ_INT(gpt_step(b), 2);
    for (int s = 2; s < 4; s++) {
        gpt_step_result r;
        batch_tokens(&c, gpt_step(b) + 1, text, tok);
        gpt_train_step(b, tok, &r);
    }
    CHECK(same_tensors(ref, b, 0, first == GPT_CPU ? "CPU then GPU" : "GPU then CPU"));
out:
    free(text);
    free(tok);
    gpt_free(a);
    gpt_free(b);
    gpt_free(ref);
}

static void test_hand_over(void)
{
    if (!have_gpu) {
        printf("# SKIP no GPU: %s\n", err);
        return;
    }
    hand_over(GPT_CPU, GPT_CUDA);
    hand_over(GPT_CUDA, GPT_CPU);
}

static void test_device_names(void)
{
    gpt_device d = GPT_CUDA;
    CHECK_EQ_INT(gpt_device_parse("cpu", &d), 0);
    CHECK_EQ_INT(d, GPT_CPU);
    CHECK_EQ_INT(gpt_device_parse("cuda", &d), 0);
    CHECK_EQ_INT(d, GPT_CUDA);
    CHECK_EQ_INT(gpt_device_parse("gpu", &d), -1);
    CHECK_EQ_INT(gpt_device_parse(NULL, &d), -1);
    CHECK_STR(gpt_device_name(GPT_CUDA), "cuda");
}

/* Without a GPU, asking for one fails at creation with a message that says so. */
static void test_no_gpu_error(void)
{
    if (have_gpu) {
        printf("# %s\n", err);
        return;
    }
    gpt_config c = small(1, 1, 8, 4, 2);
    gpt *g = NULL;
    char why[256] = "";
    CHECK_EQ_INT(gpt_new_on(&g, &c, GPT_CUDA, 1, why, sizeof why), -1);
    CHECK(g == NULL);
    CHECK(strncmp(why, "device cuda: ", 13) == 0);
    printf("# %s\n", why);
}

int main(void)
{
    have_gpu = gpt_cuda_available(err, sizeof err) == 0;
    RUN(test_device_names);
    RUN(test_no_gpu_error);
    RUN(test_shapes);
    RUN(test_hand_over);
    HARNESS_EXIT();
}
