/*
 * html.c - the verification report as one self-contained HTML5 page: the
 * verdict first, then the run's identity, the checks, a timeline and plots
 * (loss, weight change per segment, replay error, TPM clock) as inline SVG,
 * and the replay details. No script, no external reference, and every
 * string from the log is escaped. It reads the report's JSON object only;
 * the plots themselves are drawn by verify/svg.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/error.h"
#include "attest/verify.h"
#include "verify/report.h"
#include "verify/svg.h"

static const char STYLE[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;"
    "background:#fff;max-width:920px;margin:0 auto;padding:16px 20px 40px}"
    ".verdict{border:3px solid;border-radius:8px;padding:12px 20px;margin:8px 0 20px}"
    ".verdict .word{font-size:46px;font-weight:800;letter-spacing:.04em;margin:0}"
    ".verdict .reason{font-size:17px;font-weight:600;overflow-wrap:anywhere}"
    ".verdict.pass{background:#e7f5e9;border-color:#1e7b34;color:#14541f}"
    ".verdict.fail{background:#fdecea;border-color:#b3261e;color:#7a1712}"
    ".verdict.error{background:#fff4e0;border-color:#b36b00;color:#6b4000}"
    ".verdict.partial{background:#eaf1fa;border-color:#1f5fa8;color:#16406e}"
    "h1{font-size:15px;font-weight:600;color:#555;margin:0}"
    "h2{font-size:20px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:30px}"
    "table{border-collapse:collapse;margin:6px 0}"
    "th,td{padding:3px 12px 3px 0;text-align:left;vertical-align:top}"
    "table.grid th,table.grid td{border-bottom:1px solid #e3e3e3;padding:3px 8px}"
    "table.kv th{white-space:nowrap;color:#444;font-weight:600}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "code{font:13px ui-monospace,'DejaVu Sans Mono',monospace;overflow-wrap:anywhere}"
    ".ok{color:#14541f}.bad{color:#b3261e;font-weight:600}.warn{color:#8a5300}"
    "ul.checks{list-style:none;padding-left:0}ul.checks li{margin:5px 0}"
    "figure{margin:18px 0}figcaption{font-size:13px;color:#444;max-width:760px}"
    "svg.plot{display:block;width:100%;max-width:760px;height:auto}"
    "svg text{font:12px system-ui,sans-serif;fill:#222}svg text.title{font-size:15px;"
    "font-weight:700}svg text.note{font-size:11px}svg text.label{font-size:13px}"
    ".none{color:#666;font-style:italic}footer{margin-top:32px;font-size:12px;color:#666}";

/* Colors, each paired with a shape or a dash so that no plot needs color alone. */
#define BLUE "#1f5fa8"
#define ORANGE "#c45a00"
#define GREEN "#1e7b34"
#define RED "#b3261e"
#define GRAY "#8a8a8a"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A number member, NaN when absent or not a number. */
static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static double at(const json_t *a, size_t i)
{
    const json_t *v = json_array_get(a, i);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* 1 when the segment was replayed (a result other than "not checked"). */
static int replayed(const char *res)
{
    return res && strcmp(res, "not checked") != 0;
}

static void row(hbuf *b, const char *head, const char *text)
{
    hbuf_add(b, "<tr><th>%s</th><td>", head);
    hbuf_text(b, text);
    hbuf_add(b, "</td></tr>\n");
}

/* "passed" / "failed" / "error" as a marked word (the mark says it without color). */
static void result(hbuf *b, const char *res)
{
    if (res && strcmp(res, "passed") == 0)
        hbuf_add(b, "<span class=\"ok\">&#10004; passed</span>");
    else if (res && strcmp(res, "failed") == 0)
        hbuf_add(b, "<span class=\"bad\">&#10008; FAILED</span>");
    else if (res && strcmp(res, "not checked") == 0)
        hbuf_add(b, "<span class=\"warn\">&ndash; not checked</span>");
    else
        hbuf_add(b, "<span class=\"warn\">! ERROR</span>");
}

static void verdict(hbuf *b, const json_t *r)
{
    const char *v = str(r, "verdict");
    const json_t *f = json_object_get(r, "failure");
    if (v && strcmp(v, "verified") == 0) {
        hbuf_add(b,
                 "<header id=\"verdict\" class=\"verdict pass\"><h1>attest verify</h1>"
                 "<p class=\"word\">&#10004; VERIFIED</p><p>Every check passed: frames and "
                 "checksums, record schema and order, run key, seal signatures and roots%s.",
                 json_object_get(r, "replay") ? ", files, initialization and the replayed segments"
                                              : "");
        if (num(r, "unsealed") > 0)
            hbuf_add(b, " %.0f record(s) after the last seal are not signed yet.",
                     num(r, "unsealed"));
        hbuf_add(b, "</p></header>\n");
        return;
    }
    if (v && strcmp(v, "partial") == 0) {
        const json_t *nc = json_object_get(r, "not_checked");
        size_t i;
        const json_t *e;
        hbuf_add(b,
                 "<header id=\"verdict\" class=\"verdict partial\"><h1>attest verify</h1>"
                 "<p class=\"word\">&#9680; PARTIAL</p><p class=\"reason\">What was checked "
                 "passed, but %zu part(s) of what was asked were not checked:</p><ul>",
                 json_array_size(nc));
        json_array_foreach(nc, i, e)
        {
            hbuf_add(b, "<li>");
            hbuf_text(b, str(e, "what"));
            hbuf_add(b, ": ");
            hbuf_text(b, str(e, "why"));
            hbuf_add(b, "</li>");
        }
        hbuf_add(b, "</ul></header>\n");
        return;
    }
    int failed = v && strcmp(v, "failed") == 0;
    hbuf_add(b,
             "<header id=\"verdict\" class=\"verdict %s\"><h1>attest verify</h1>"
             "<p class=\"word\">%s</p><p class=\"reason\">",
             failed ? "fail" : "error", failed ? "&#10008; FAILED" : "! ERROR");
    hbuf_text(b, str(f, "reason") ? str(f, "reason") : "no reason given");
    hbuf_add(b, "</p>");
    if (!isnan(num(f, "record")) || !isnan(num(f, "offset"))) {
        hbuf_add(b, "<p>At");
        if (!isnan(num(f, "record"))) hbuf_add(b, " record %.0f", num(f, "record"));
        if (!isnan(num(f, "offset"))) hbuf_add(b, " (byte offset %.0f)", num(f, "offset"));
        hbuf_add(b, " of the log.</p>");
    }
    hbuf_add(b, "<p>%s</p></header>\n",
             failed ? "The log was checked and it is wrong: it does not prove what it claims."
                    : "The log could not be checked: this is no judgement of the run.");
}

static void identity(hbuf *b, const json_t *r)
{
    const char *key;
    const json_t *v;
    hbuf_add(b, "<section id=\"run\"><h2>Run</h2><table class=\"kv\">\n");
    row(b, "Log file", str(r, "log"));
    if (str(r, "origin")) row(b, "Origin", str(r, "origin"));
    if (str(r, "run_id")) {
        hbuf_add(b, "<tr><th>Run id</th><td><code>");
        hbuf_text(b, str(r, "run_id"));
        hbuf_add(b, "</code></td></tr>\n");
    }
    if (!isnan(num(r, "records"))) {
        hbuf_add(b, "<tr><th>Records</th><td>%.0f", num(r, "records"));
        const char *sep = " (";
        json_object_foreach((json_t *)json_object_get(r, "counts"), key, v)
        {
            hbuf_add(b, "%s%lld ", sep, (long long)json_integer_value(v));
            hbuf_text(b, key);
            sep = ", ";
        }
        hbuf_add(b, "%s</td></tr>\n", strcmp(sep, ", ") == 0 ? ")" : "");
    }
    if (num(r, "seals") > 0)
        hbuf_add(b, "<tr><th>Seals</th><td>%.0f; the last signs the first %.0f records</td></tr>\n",
                 num(r, "seals"), num(r, "sealed"));
    else if (!isnan(num(r, "seals")))
        hbuf_add(b, "<tr><th>Seals</th><td class=\"bad\">none: no record is signed</td></tr>\n");
    if (num(r, "unsealed") > 0)
        hbuf_add(b,
                 "<tr><th>Unsealed</th><td class=\"warn\">%.0f record(s) after the last seal"
                 "</td></tr>\n",
                 num(r, "unsealed"));
    if (str(r, "anchoring")) row(b, "TPM", str(r, "anchoring"));
    const json_t *notes = json_object_get(json_object_get(r, "tpm"), "notes");
    size_t i;
    json_array_foreach(notes, i, v) row(b, "TPM note", json_string_value(v));
    if (str(r, "ek_issuer")) {
        hbuf_add(b, "<tr><th>TPM EK</th><td>certificate issued by ");
        hbuf_text(b, str(r, "ek_issuer"));
        hbuf_add(b, ", chains to the given CA</td></tr>\n");
    }
    if (str(r, "enrolled_by")) {
        hbuf_add(b, "<tr><th>Enrollment</th><td>AK enrolled by ");
        hbuf_text(b, str(r, "enrolled_by"));
        hbuf_add(b, " (credential activation with this EK)</td></tr>\n");
    } else if (json_is_true(json_object_get(json_object_get(r, "tpm"), "anchored"))) {
        hbuf_add(b, "<tr><th>Enrollment</th><td class=\"warn\">none: the AK is not enrolled, so "
                    "whose TPM made the evidence is unproven</td></tr>\n");
    }
    const json_t *rp = json_object_get(r, "replay");
    if (str(rp, "mode")) {
        hbuf_add(b, "<tr><th>Replay</th><td>");
        hbuf_text(b, str(rp, "mode"));
        if (str(rp, "device")) {
            hbuf_add(b, ", on ");
            hbuf_text(b, str(rp, "device"));
        }
        hbuf_add(b, "</td></tr>\n");
    } else
        hbuf_add(b, "<tr><th>Replay</th><td>not asked (no --replay)</td></tr>\n");
    hbuf_add(b, "</table></section>\n");
}

/* The segments checked without replay (verify/SOUNDNESS.md section 3). */
static void plausibility(hbuf *b, const json_t *rp)
{
    const json_t *pl = json_object_get(rp, "plausibility"), *e;
    size_t i, flagged = 0;
    if (!json_array_size(pl)) return;
    json_array_foreach(pl, i, e) flagged += str(e, "implausible") != NULL;
    hbuf_add(b, "<li>%s Plausibility: %zu segment(s) checked without replay against ",
             flagged ? "<span class=\"warn\">! flagged</span>" : "<span class=\"ok\">&#10004; "
                                                                 "passed</span>",
             json_array_size(pl));
    hbuf_text(b, is(str(rp, "optimizer_bound"), "AdamW") ? "the AdamW bound and the movement floor"
                                                          : "the movement floor (no AdamW bound: the run names no AdamW constants)");
    if (!flagged) hbuf_add(b, "; none implausible");
    hbuf_add(b, "</li>\n");
    json_array_foreach(pl, i, e)
    {
        if (!str(e, "implausible")) continue;
        hbuf_add(b, "<li><span class=\"warn\">! implausible</span> Segment #%.0f (after step "
                    "%.0f): <span class=\"warn\">",
                 num(e, "segment"), num(e, "from_step"));
        hbuf_text(b, str(e, "implausible"));
        hbuf_add(b, "</span>; replayed whatever the draw</li>\n");
    }
}

/* The run-to-model test (verify/SOUNDNESS.md section 4). */
static void model(hbuf *b, const json_t *m)
{
    hbuf_add(b, "<li>");
    result(b, str(m, "result"));
    hbuf_add(b, " Model <code>");
    hbuf_text(b, str(m, "file"));
    hbuf_add(b, "</code> came out of this run");
    if (!isnan(num(m, "spearman")))
        hbuf_add(b, ": Spearman %.3f between step and loss on %.0f examples, permutation p = "
                    "%.3g (needs &lt; %g; z = %.2f). ",
                 num(m, "spearman"), num(m, "examples"), num(m, "p"), num(m, "alpha"), num(m, "z"));
    else
        hbuf_add(b, ": ");
    const char *why = str(m, "meaning") ? str(m, "meaning") : str(m, "reason");
    if (why) {
        hbuf_add(b, "<span class=\"%s\">", is(str(m, "result"), "passed") ? "ok" : "bad");
        hbuf_text(b, why);
        hbuf_add(b, "</span>");
    }
    const json_t *ctl = json_object_get(m, "control");
    if (str(ctl, "checkpoint")) {
        hbuf_add(b, " Control: the run's losses reproduced on step %.0f's examples "
                    "(relative error %.2g, tolerance %.2g): %s.",
                 num(ctl, "step"), num(ctl, "relative_error"), num(ctl, "tolerance"),
                 is(str(ctl, "result"), "passed") ? "passed" : "FAILED");
    } else if (ctl) {
        hbuf_add(b, " <span class=\"warn\">Control not checked: ");
        hbuf_text(b, str(ctl, "reason"));
        hbuf_add(b, ".</span>");
    }
    hbuf_add(b, "</li>\n");
}

/* Every check the report knows of, the failed ones with their reasons. */
static void checks(hbuf *b, const json_t *r)
{
    const json_t *f = json_object_get(r, "failure");
    const json_t *rp = json_object_get(r, "replay");
    const char *reason = str(f, "reason");
    int passed = str(r, "verdict") && strcmp(str(r, "verdict"), "verified") == 0;
    // Replay runs only after the structural walk passed.
    int structure_ok = passed || str(rp, "mode");
    hbuf_add(b, "<section id=\"checks\"><h2>Checks</h2><ul class=\"checks\">\n<li>");
    result(b, structure_ok ? "passed" : str(r, "verdict"));
    hbuf_add(b, " Log structure: frames and checksums, record schema and order, run key, seal "
                "signatures and roots, TPM evidence");
    if (!structure_ok && reason) {
        hbuf_add(b, ": <span class=\"bad\">");
        hbuf_text(b, reason);
        hbuf_add(b, "</span>");
    }
    hbuf_add(b, "</li>\n");
    if (!isnan(num(rp, "checkpoints_checked"))) {
        hbuf_add(b, "<li>");
        result(b, "passed");
        hbuf_add(b, " Files: %.0f checkpoint and %.0f shard files match the log</li>\n",
                 num(rp, "checkpoints_checked"), num(rp, "shards_checked"));
    }
    const json_t *init = json_object_get(rp, "initialization");
    if (init) {
        hbuf_add(b, "<li>");
        result(b, str(init, "result"));
        hbuf_add(b, " Initialization: the first checkpoint is what the committed seed gives");
        if (str(init, "reason")) {
            hbuf_add(b, ": <span class=\"%s\">", replayed(str(init, "result")) ? "bad" : "warn");
            hbuf_text(b, str(init, "reason"));
            hbuf_add(b, "</span>");
        }
        hbuf_add(b, "</li>\n");
    }
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(rp, "segments"), i, s)
    {
        hbuf_add(b, "<li>");
        result(b, str(s, "result"));
        hbuf_add(b, " Segment #%.0f (steps %.0f&ndash;%.0f) replayed", num(s, "segment"),
                 num(s, "from_step") + 1, num(s, "to_step"));
        if (str(s, "reason")) {
            hbuf_add(b, ": <span class=\"%s\">", replayed(str(s, "result")) ? "bad" : "warn");
            hbuf_text(b, str(s, "reason"));
            hbuf_add(b, "</span>");
        }
        hbuf_add(b, "</li>\n");
    }
    plausibility(b, rp);
    const json_t *m = json_object_get(rp, "model");
    if (m) model(b, m);
    // A failure no listed check explains (e.g. a replay that could not start).
    if (!passed && structure_ok && reason && !str(init, "reason") && !str(m, "reason") &&
        !json_array_size(json_object_get(rp, "segments"))) {
        hbuf_add(b, "<li>");
        result(b, str(r, "verdict"));
        hbuf_add(b, " <span class=\"bad\">");
        hbuf_text(b, reason);
        hbuf_add(b, "</span></li>\n");
    }
    hbuf_add(b, "</ul></section>\n");
}

/* The segments between consecutive checkpoints, and what replay made of each. */
typedef struct segs {
    size_t n;
    double *from, *to, *update; /* steps; relative weight change (NaN: unknown) */
    const char **res;           /* "passed", "failed", "error", or NULL: not replayed */
    const json_t **rep;         /* its entry in replay.segments, or NULL */
} segs;

static void segs_free(segs *g)
{
    free(g->from);
    free(g->to);
    free(g->update);
    free(g->res);
    free(g->rep);
}

static int segs_load(segs *g, const json_t *r)
{
    const json_t *rp = json_object_get(r, "replay");
    const json_t *upd = json_object_get(rp, "updates");
    const json_t *ck = json_object_get(json_object_get(r, "timeline"), "checkpoints");
    size_t n = json_array_size(upd)  ? json_array_size(upd)
               : json_array_size(ck) ? json_array_size(ck) - 1
                                     : 0;
    memset(g, 0, sizeof *g);
    if (!n) return 0;
    g->from = calloc(n, sizeof *g->from);
    g->to = calloc(n, sizeof *g->to);
    g->update = calloc(n, sizeof *g->update);
    g->res = calloc(n, sizeof *g->res);
    g->rep = calloc(n, sizeof *g->rep);
    if (!g->from || !g->to || !g->update || !g->res || !g->rep) return ATTEST_ENOMEM;
    g->n = n;
    for (size_t k = 0; k < n; k++) {
        const json_t *u = json_array_get(upd, k);
        g->from[k] = u ? at(u, 0) : at(ck, k);
        g->to[k] = u ? at(u, 1) : at(ck, k + 1);
        g->update[k] = u ? at(u, 2) : NAN;
    }
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(rp, "segments"), i, s)
    {
        double k = num(s, "segment");
        if (k >= 0 && k < (double)n) {
            g->res[(size_t)k] = str(s, "result");
            g->rep[(size_t)k] = s;
        }
    }
    return 0;
}

/* Bar series of the segments in three kinds: replayed and passed, replayed and not, not replayed.
 */
typedef struct bars {
    double *x, *x2, *y;
    const char **lab;
    char (*text)[32];
} bars;

static int bars_make(bars *k, size_t n)
{
    k->x = calloc(3 * n + 1, sizeof *k->x);
    k->x2 = calloc(3 * n + 1, sizeof *k->x2);
    k->y = calloc(3 * n + 1, sizeof *k->y);
    k->lab = calloc(3 * n + 1, sizeof *k->lab);
    k->text = calloc(n + 1, sizeof *k->text);
    return k->x && k->x2 && k->y && k->lab && k->text ? 0 : ATTEST_ENOMEM;
}

static void bars_free(bars *k)
{
    free(k->x);
    free(k->x2);
    free(k->y);
    free(k->lab);
    free(k->text);
}

/*
 * Fills three series from the segments with heights from `height` (NULL: 1,
 * a timeline); labels name the replayed segments. Returns 0 or ATTEST_ENOMEM.
 */
static int segment_series(bars *k, svg_series out[3], const segs *g, const double *height)
{
    static const char *names[3] = {"replayed: passed", "replayed: FAILED", "not replayed"};
    static const char *fills[3] = {"#8fd19e", "url(#cross)", "url(#hatch)"};
    static const char *colors[3] = {GREEN, RED, "#666"};
    if (bars_make(k, g->n)) return ATTEST_ENOMEM;
    for (int c = 0; c < 3; c++) {
        size_t base = (size_t)c * g->n, m = 0;
        for (size_t i = 0; i < g->n; i++) {
            int kind = is(g->res[i], "passed") ? 0 : replayed(g->res[i]) ? 1 : 2;
            if (kind != c) continue;
            k->x[base + m] = g->from[i];
            k->x2[base + m] = g->to[i];
            k->y[base + m] = height ? height[i] : 1;
            if (kind != 2 && g->n <= 40) {
                snprintf(k->text[i], sizeof k->text[i], "#%zu %s", i,
                         kind == 0 ? "\xE2\x9C\x94" : "\xE2\x9C\x98");
                k->lab[base + m] = k->text[i];
            }
            m++;
        }
        out[c] = (svg_series){names[c],   colors[c],   fills[c],    NULL,         SVG_BARS,
                              SVG_SQUARE, k->x + base, k->y + base, k->x2 + base, k->lab + base,
                              m};
        if (!m) out[c].name = NULL;
    }
    return 0;
}

static void timeline(hbuf *b, const json_t *r, const segs *g)
{
    const json_t *tl = json_object_get(r, "timeline");
    const json_t *losses = json_object_get(tl, "losses");
    const json_t *ck = json_object_get(tl, "checkpoints");
    const json_t *rp = json_object_get(r, "replay");
    size_t nl = json_array_size(losses), nc = json_array_size(ck);
    hbuf_add(b, "<section id=\"timeline\"><h2>Timeline</h2>\n");
    if (!nl && !nc) {
        hbuf_add(b, "<p class=\"none\">The log has no step and no checkpoint records: there is no "
                    "training to show.</p></section>\n");
        return;
    }
    hbuf_add(b, "<p>");
    if (nl)
        hbuf_add(b, "%.0f step records, steps %.0f to %.0f", num(tl, "step_records"),
                 at(json_array_get(losses, 0), 0), at(json_array_get(losses, nl - 1), 0));
    else
        hbuf_add(b, "No step records");
    hbuf_add(b, "; %zu checkpoint%s", nc, nc == 1 ? "" : "s");
    if (g->n) hbuf_add(b, ", so %zu segment%s between them", g->n, g->n == 1 ? "" : "s");
    size_t n_replayed = 0, bad = 0;
    for (size_t i = 0; i < g->n; i++)
        n_replayed += replayed(g->res[i]), bad += replayed(g->res[i]) && !is(g->res[i], "passed");
    if (rp) hbuf_add(b, "; %zu replayed, %zu of them failed", n_replayed, bad);
    hbuf_add(b, ".");
    if (num(rp, "uncovered_steps") > 0)
        hbuf_add(b,
                 " <span class=\"warn\">The last %.0f step(s) come after the last checkpoint: "
                 "no checkpoint shows their result.</span>",
                 num(rp, "uncovered_steps"));
    hbuf_add(b, "</p>\n");
    bars k = {0};
    svg_series ser[4];
    size_t ns = 0;
    double *ckx = calloc(nc + 1, sizeof *ckx);
    double sx[2] = {NAN, NAN}, sy[2] = {1, 1};
    if (!ckx || (g->n && segment_series(&k, ser, g, NULL) != 0)) {
        b->failed = 1;
        goto done;
    }
    if (g->n) ns = 3;
    for (size_t i = 0; i < nc; i++)
        ckx[i] = at(ck, i);
    if (nl) {
        // The steps the log covers, as a thin band under the segments.
        sx[0] = at(json_array_get(losses, 0), 0) - 1;
        sx[1] = at(json_array_get(losses, nl - 1), 0);
        sy[0] = sy[1] = 0.12;
        ser[ns++] =
            (svg_series){"steps logged", BLUE, BLUE, NULL, SVG_BARS, 0, sx, sy, sx + 1, NULL, 1};
    }
    svg_plot p = SVG_PLOT_INIT;
    p.title = "Timeline of the run";
    p.xlabel = "step";
    p.desc = "The steps of the run, its checkpoints (dashed lines) and the segments between "
             "them, marked as replayed and passed, replayed and failed, or not replayed.";
    p.strip = 1;
    p.series = ser;
    p.n_series = ns;
    p.vlines = ckx;
    p.n_vlines = nc;
    p.vlines_name = "checkpoint";
    hbuf_add(b, "<figure>");
    svg_plot_render(b, &p);
    hbuf_add(b, "</figure>\n");
done:
    free(ckx);
    bars_free(&k);
    hbuf_add(b, "</section>\n");
}

static void loss_plot(hbuf *b, const json_t *r)
{
    const json_t *tl = json_object_get(r, "timeline");
    const json_t *losses = json_object_get(tl, "losses");
    const json_t *ck = json_object_get(tl, "checkpoints");
    size_t n = json_array_size(losses), nc = json_array_size(ck), nulls = 0;
    if (!n) {
        hbuf_add(b, "<p class=\"none\">No loss curve: the log has no step records.</p>\n");
        return;
    }
    double *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *cx = calloc(nc + 1, sizeof *cx);
    if (!x || !y || !cx) {
        b->failed = 1;
        goto done;
    }
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = at(json_array_get(losses, i), 0);
        y[i] = at(json_array_get(losses, i), 1);
        if (isnan(y[i]))
            nulls++;
        else
            lo = fmin(lo, y[i]), hi = fmax(hi, y[i]);
    }
    for (size_t i = 0; i < nc; i++)
        cx[i] = at(ck, i);
    svg_series s = {"loss", BLUE, NULL, NULL, SVG_LINE | (n <= 60 ? SVG_MARKS : 0), SVG_CIRCLE, x,
                    y,      NULL, NULL, n};
    svg_plot p = SVG_PLOT_INIT;
    p.title = "Training loss";
    p.xlabel = "step";
    p.ylabel = "loss";
    p.desc = "The loss each step record logs, against the step; dashed lines mark checkpoints.";
    // Log scale when the loss spans enough to need it.
    p.ylog = lo > 0 && hi / lo >= 3;
    p.series = &s;
    p.n_series = 1;
    p.vlines = cx;
    p.n_vlines = nc;
    p.vlines_name = "checkpoint";
    hbuf_add(b, "<figure id=\"loss\">");
    svg_plot_render(b, &p);
    hbuf_add(b, "<figcaption>The loss logged by each step record");
    if (num(tl, "stride") > 1)
        hbuf_add(b, " (every %.0fth of %.0f step records, to keep the page small)",
                 num(tl, "stride"), num(tl, "step_records"));
    hbuf_add(b, ".");
    if (nulls) hbuf_add(b, " %zu step(s) logged no loss (gaps in the line).", nulls);
    hbuf_add(b, "</figcaption></figure>\n");
done:
    free(x);
    free(y);
    free(cx);
}

static void update_plot(hbuf *b, const json_t *r, const segs *g)
{
    if (!json_array_size(json_object_get(json_object_get(r, "replay"), "updates"))) {
        hbuf_add(b, "<p class=\"none\">No weight-change plot: the change between checkpoints is "
                    "measured from the checkpoint files during replay (attest verify "
                    "--replay).</p>\n");
        return;
    }
    bars k = {0};
    svg_series ser[3];
    if (segment_series(&k, ser, g, g->update) != 0) {
        b->failed = 1;
        bars_free(&k);
        return;
    }
    svg_plot p = SVG_PLOT_INIT;
    p.title = "Weight change per checkpoint segment";
    p.xlabel = "step";
    p.ylabel = "\xE2\x80\x96\xCE\x94w\xE2\x80\x96 / \xE2\x80\x96w\xE2\x80\x96";
    p.desc = "The relative L2 change of the weights over each segment between two checkpoints; "
             "replayed segments are solid (passed) or cross-hatched (failed), the others "
             "hatched.";
    p.ylog = 1;
    p.series = ser;
    p.n_series = 3;
    p.zero_label = "0";
    hbuf_add(b, "<figure id=\"updates\">");
    svg_plot_render(b, &p);
    hbuf_add(b, "<figcaption>&#8214;w<sub>to</sub> &minus; w<sub>from</sub>&#8214;&#8322; / "
                "&#8214;w<sub>from</sub>&#8214;&#8322; over the trainable tensors, from the "
                "checkpoint files. Replayed segments are labelled #N with &#10004; (passed) or "
                "&#10008; (failed).</figcaption></figure>\n");
    bars_free(&k);
}

static void error_plot(hbuf *b, const json_t *r, const segs *g)
{
    const json_t *rp = json_object_get(r, "replay");
    size_t n = json_array_size(json_object_get(rp, "segments"));
    if (!n) {
        hbuf_add(b, "<p class=\"none\">No replay-error plot: no segment was replayed.</p>\n");
        return;
    }
    const json_t *ckj = json_object_get(json_object_get(r, "timeline"), "checkpoints");
    size_t nc = json_array_size(ckj);
    double *x = calloc(2 * n, sizeof *x), *y = calloc(2 * n, sizeof *y);
    double *ck = calloc(nc + 1, sizeof *ck);
    const char **lab = calloc(2 * n, sizeof *lab);
    if (!x || !y || !ck || !lab) {
        b->failed = 1;
        goto done;
    }
    for (size_t i = 0; i < nc; i++)
        ck[i] = at(ckj, i);
    double tol = NAN;
    size_t m[2] = {0, 0}, positive = 0;
    int exact = 1;
    for (size_t i = 0; i < g->n; i++) {
        const json_t *s = g->rep[i];
        if (!s || !replayed(g->res[i])) continue;
        int ok = is(g->res[i], "passed");
        double e = num(s, "max_error");
        if (!isnan(e)) exact = 0;
        if (!isnan(num(s, "tolerance"))) tol = num(s, "tolerance");
        // The built-in engine compares bit for bit: a pass is error 0.
        if (isnan(e)) e = ok ? 0 : INFINITY;
        size_t j = (ok ? 0 : n) + m[!ok]++;
        x[j] = (g->from[i] + g->to[i]) / 2;
        y[j] = e;
        positive += e > 0 && isfinite(e);
        lab[j] = ok ? (e == 0 ? "bit-exact" : NULL) : isinf(e) ? "FAILED (off scale)" : "FAILED";
    }
    svg_series s[2] = {
        {"passed", GREEN, NULL, NULL, SVG_MARKS, SVG_CIRCLE, x, y, NULL, n <= 40 ? lab : NULL,
         m[0]},
        {"failed", RED, NULL, NULL, SVG_MARKS, SVG_CROSS, x + n, y + n, NULL, lab + n, m[1]}};
    svg_plot p = SVG_PLOT_INIT;
    p.title = "Replay error per segment";
    p.xlabel = "step (middle of the segment)";
    p.ylabel = "max relative error";
    p.desc = "For each replayed segment, the largest relative L2 error between the replayed "
             "and the logged weights; the built-in engine is bit-exact (0).";
    p.ylog = positive > 0 || !isnan(tol);
    p.zero_label = "0 (exact)";
    p.series = s;
    p.n_series = 2;
    p.vlines = ck;
    p.n_vlines = nc;
    p.vlines_name = "checkpoint";
    p.hline = tol;
    p.hline_name = "tolerance";
    hbuf_add(b, "<figure id=\"errors\">");
    svg_plot_render(b, &p);
    hbuf_add(b, "<figcaption>");
    if (exact)
        hbuf_add(b, "The built-in engine replays bit for bit: a segment passes only with error 0 "
                    "(bit-exact), and a failed one is drawn above the scale.");
    else
        hbuf_add(b,
                 "The largest relative L2 error of any tensor after the run's own replay "
                 "command, against the tolerance (%.3g) the run declared.",
                 tol);
    hbuf_add(b, "</figcaption></figure>\n");
done:
    free(x);
    free(y);
    free(ck);
    free(lab);
}

static void tpm_plot(hbuf *b, const json_t *r)
{
    const json_t *tpm = json_object_get(r, "tpm");
    const json_t *pts = json_object_get(tpm, "seal_times");
    size_t n = json_array_size(pts);
    if (!n) {
        hbuf_add(b, "<p class=\"none\">No TPM clock plot: %s.</p>\n",
                 tpm ? "no seal carries TPM evidence" : "the log was not checked that far");
        return;
    }
    double *x = calloc(n, sizeof *x), *ya = calloc(n, sizeof *ya), *yc = calloc(n, sizeof *yc);
    if (!x || !ya || !yc) {
        b->failed = 1;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(pts, i);
        x[i] = at(e, 0);
        ya[i] = at(e, 1);
        yc[i] = at(e, 2);
    }
    int marks = n <= 60 ? SVG_MARKS : 0;
    svg_series s[2] = {{"TPM clock (attested)", BLUE, NULL, NULL, SVG_LINE | marks, SVG_CIRCLE, x,
                        ya, NULL, NULL, n},
                       {"claimed time (seal records)", ORANGE, NULL, "6 4", SVG_LINE | marks,
                        SVG_SQUARE, x, yc, NULL, NULL, n}};
    svg_plot p = SVG_PLOT_INIT;
    p.title = "TPM clock vs claimed time";
    p.xlabel = "record index of the seal";
    p.ylabel = "seconds since the first anchored seal";
    p.desc = "At each TPM-anchored seal, the time the TPM's clock attests and the time the "
             "seal record claims.";
    p.series = s;
    p.n_series = 2;
    hbuf_add(b, "<figure id=\"tpm\">");
    svg_plot_render(b, &p);
    hbuf_add(b, "<figcaption>Time elapsed at each anchored seal: the TPM's signed clock (solid, "
                "circles) and the time the seal records claim (dashed, squares). A claimed time "
                "far from the TPM's means the log's times are not the real ones.");
    if (!isnan(num(tpm, "attested_seconds")))
        hbuf_add(b, " In all: %.1f s attested", num(tpm, "attested_seconds"));
    if (!isnan(num(tpm, "claimed_seconds")))
        hbuf_add(b, " over %.1f s claimed", num(tpm, "claimed_seconds"));
    hbuf_add(b, "%s</figcaption></figure>\n", isnan(num(tpm, "attested_seconds")) ? "" : ".");
done:
    free(x);
    free(ya);
    free(yc);
}

static void replay_details(hbuf *b, const json_t *r)
{
    const json_t *rp = json_object_get(r, "replay");
    if (!rp) return;
    size_t i;
    const json_t *e;
    hbuf_add(b, "<section id=\"replay\"><h2>Replay</h2><table class=\"kv\">\n");
    if (str(rp, "mode")) row(b, "Mode", str(rp, "mode"));
    if (str(rp, "challenge")) {
        hbuf_add(b, "<tr><th>Challenge</th><td><code>");
        hbuf_text(b, str(rp, "challenge"));
        hbuf_add(b, "</code></td></tr>\n");
    }
    if (json_is_true(json_object_get(rp, "nonce")))
        hbuf_add(b, "<tr><th>Nonce</th><td class=\"ok\">given: the challenge mixes the last "
                    "seal with the auditor's nonce, so the prover could not predict the "
                    "draw</td></tr>\n");
    else if (json_object_get(rp, "nonce"))
        hbuf_add(b, "<tr><th>Nonce</th><td class=\"bad\">NONE: the challenge comes from the last "
                    "seal alone, so the prover could predict which segments are drawn</td></tr>\n");
    if (!isnan(num(rp, "segments_total")))
        hbuf_add(b,
                 "<tr><th>Segments</th><td>%zu of %.0f replayed, %.0f steps in %.1f s</td>"
                 "</tr>\n",
                 json_array_size(json_object_get(rp, "segments")), num(rp, "segments_total"),
                 num(rp, "steps_replayed"), num(rp, "replay_seconds"));
    hbuf_add(b, "</table>\n");
    const json_t *det = json_object_get(rp, "detection");
    if (json_array_size(det)) {
        hbuf_add(b, "<h3>Detection probability</h3><p>The chance that the random draw catches a "
                    "run in which this fraction of the segments was forged:</p>"
                    "<table class=\"grid\"><tr><th>forged segments</th><th>caught with "
                    "probability</th></tr>\n");
        json_array_foreach(det, i, e)
            hbuf_add(b, "<tr><td class=\"num\">%g%%</td><td class=\"num\">%.1f%%</td></tr>\n",
                     100 * num(e, "forged_fraction"), 100 * num(e, "detection_probability"));
        hbuf_add(b, "</table>\n");
    }
    const json_t *segsj = json_object_get(rp, "segments");
    if (json_array_size(segsj)) {
        hbuf_add(b, "<h3>Replayed segments</h3><table class=\"grid\"><tr><th>#</th><th>steps</th>"
                    "<th>why drawn</th><th>weight change</th><th>error</th><th>result</th>"
                    "<th>time</th></tr>\n");
        json_array_foreach(segsj, i, e)
        {
            hbuf_add(b, "<tr><td class=\"num\">%.0f</td><td>%.0f&ndash;%.0f</td><td>",
                     num(e, "segment"), num(e, "from_step") + 1, num(e, "to_step"));
            size_t k;
            const json_t *w;
            json_array_foreach(json_object_get(e, "why"), k, w)
            {
                if (k) hbuf_add(b, ", ");
                hbuf_text(b, json_string_value(w));
            }
            hbuf_add(b, "</td><td class=\"num\">%.2e</td><td class=\"num\">",
                     num(e, "relative_update"));
            if (!isnan(num(e, "max_error")))
                hbuf_add(b, "%.2e (tolerance %.1e)", num(e, "max_error"), num(e, "tolerance"));
            else if (is(str(e, "result"), "passed"))
                hbuf_add(b, "0 (bit-exact)");
            else
                hbuf_add(b, "&mdash;");
            hbuf_add(b, "</td><td>");
            result(b, str(e, "result"));
            if (str(e, "reason")) {
                hbuf_add(b, "<br><span class=\"%s\">", replayed(str(e, "result")) ? "bad" : "warn");
                hbuf_text(b, str(e, "reason"));
                hbuf_add(b, "</span>");
            }
            hbuf_add(b, "</td><td class=\"num\">%.2f s</td></tr>\n", num(e, "seconds"));
        }
        hbuf_add(b, "</table>\n");
    }
    // Per-tensor errors of the external replays, next to what training changed.
    json_array_foreach(segsj, i, e)
    {
        const json_t *ts = json_object_get(e, "tensors");
        if (!json_array_size(ts)) continue;
        hbuf_add(b,
                 "<h3>Segment #%.0f, per tensor</h3><table class=\"grid\"><tr><th>tensor</th>"
                 "<th>error</th><th>update</th></tr>\n",
                 num(e, "segment"));
        size_t k;
        const json_t *t;
        json_array_foreach(ts, k, t)
        {
            hbuf_add(b, "<tr><td><code>");
            hbuf_text(b, str(t, "name"));
            hbuf_add(b, "</code></td><td class=\"num\">%.2e</td><td class=\"num\">",
                     num(t, "error"));
            if (isnan(num(t, "update"))) hbuf_add(b, "&mdash;</td></tr>\n");
            else hbuf_add(b, "%.2e</td></tr>\n", num(t, "update"));
        }
        hbuf_add(b, "</table>\n");
    }
    hbuf_add(b, "</section>\n");
}

int attest_report_html(const attest_report *r, char **out)
{
    *out = NULL;
    if (!r || !json_is_object(r->obj)) return ATTEST_EINVAL;
    const json_t *o = r->obj;
    hbuf b = {0};
    segs g;
    const char *v = str(o, "verdict");
    int rc = segs_load(&g, o);
    if (rc) goto done;
    hbuf_add(&b,
             "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
             "style-src 'unsafe-inline'\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>attest verify: %s",
             is(v, "verified")  ? "VERIFIED"
             : is(v, "failed")  ? "FAILED"
             : is(v, "partial") ? "PARTIAL"
                                : "ERROR");
    if (str(o, "origin")) {
        hbuf_add(&b, " &ndash; ");
        hbuf_text(&b, str(o, "origin"));
    }
    hbuf_add(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n", STYLE);
    svg_defs(&b);
    verdict(&b, o);
    identity(&b, o);
    checks(&b, o);
    timeline(&b, o, &g);
    hbuf_add(&b, "<section id=\"plots\"><h2>Plots</h2>\n");
    loss_plot(&b, o);
    update_plot(&b, o, &g);
    error_plot(&b, o, &g);
    tpm_plot(&b, o);
    hbuf_add(&b, "</section>\n");
    replay_details(&b, o);
    hbuf_add(&b, "<footer>Made by <code>attest verify --html</code>. This page is "
                 "self-contained: no script, no external file.</footer>\n</body>\n</html>\n");
    rc = b.failed ? ATTEST_ENOMEM : 0;
done:
    segs_free(&g);
    if (rc)
        free(b.s);
    else
        *out = b.s;
    return rc;
}
