/*
 * svg.c - XY plots as inline SVG for the HTML report, and the markup buffer
 * they are written to. Scales are linear or logarithmic with "nice" ticks;
 * series are lines, marks or bars, told apart by shape and dash as well as
 * color. Knows nothing of reports: verify/html.c chooses what to plot.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify/svg.h"

static int reserve(hbuf *b, size_t more)
{
    if (b->failed) return -1;
    if (b->len + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void hbuf_add(hbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void put(hbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0)
        n = 2, min = 0x80, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3, min = 0x800, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void hbuf_text(hbuf *b, const char *s)
{
    if (!s) return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7F)
                rep = "\xEF\xBF\xBD";
        }
        if (rep) {
            put(b, rep, strlen(rep));
            p += n ? n : 1;
        } else {
            put(b, (const char *)p, n);
            p += n;
        }
    }
}

void svg_defs(hbuf *b)
{
    hbuf_add(b,
             "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>"
             "<pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
             "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
             "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#666\" stroke-width=\"2\"/>"
             "</pattern>"
             "<pattern id=\"cross\" width=\"7\" height=\"7\" patternUnits=\"userSpaceOnUse\" "
             "patternTransform=\"rotate(45)\"><rect width=\"7\" height=\"7\" fill=\"#f6c9c4\"/>"
             "<path d=\"M0 0V7M0 0H7\" stroke=\"#b3261e\" stroke-width=\"2\"/></pattern>"
             "</defs></svg>\n");
}

/* Geometry of a plot, in SVG user units. */
#define W 760.0
#define H_PLOT 320.0
#define H_STRIP 130.0
#define LEFT 76.0
#define RIGHT 24.0
#define ZERO_ROW 24.0 /* height of the y <= 0 row of a log axis */

typedef struct scale {
    double lo, hi; /* data range */
    double p0, p1; /* pixels of lo and hi */
    int log;
} scale;

static double map(const scale *s, double v)
{
    double t = s->log ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo))
                      : (v - s->lo) / (s->hi - s->lo);
    return s->p0 + t * (s->p1 - s->p0);
}

/* 1, 2 or 5 times a power of ten, near range / 5. */
static double nice_step(double range)
{
    double e = pow(10, floor(log10(range / 5)));
    double f = range / 5 / e;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * e;
}

/* Sets the range from the data extremes: rounded out to ticks, never empty. */
static void settle(scale *s, double lo, double hi, int have)
{
    if (s->log) {
        if (!have) lo = 1, hi = 10;
        if (lo == hi) lo /= 2, hi *= 2;
        if (log10(hi) - log10(lo) >= 1.5) {
            s->lo = pow(10, floor(log10(lo) + 1e-9));
            s->hi = pow(10, ceil(log10(hi) - 1e-9));
        } else {
            s->lo = lo / 1.15;
            s->hi = hi * 1.15;
        }
        return;
    }
    if (!have) lo = 0, hi = 1;
    if (lo == hi) {
        if (lo == 0)
            hi = 1;
        else
            lo -= fabs(lo) / 2, hi += fabs(hi) / 2;
    }
    double st = nice_step(hi - lo);
    s->lo = floor(lo / st + 1e-9) * st;
    s->hi = ceil(hi / st - 1e-9) * st;
}

/* A tick label: short, exponent form for very large or small values. */
static void tick_label(char *out, size_t n, double v)
{
    double a = fabs(v);
    if (a < 1e-12) {
        snprintf(out, n, "0");
    } else if (a >= 1e5 || a < 1e-3) {
        int e = (int)floor(log10(a) + 1e-9);
        double m = v / pow(10, e);
        if (fabs(m - round(m)) < 1e-6)
            snprintf(out, n, "%.0fe%d", m, e);
        else
            snprintf(out, n, "%.1fe%d", m, e);
    } else {
        snprintf(out, n, "%.4g", v);
    }
}

/* The ticks of a scale (at most max); returns how many. */
static size_t ticks(const scale *s, double *t, size_t max)
{
    size_t n = 0;
    if (!s->log) {
        double st = nice_step(s->hi - s->lo);
        for (double v = ceil(s->lo / st - 1e-9) * st; v <= s->hi * (1 + 1e-12) + 1e-12 && n < max;
             v += st)
            t[n++] = fabs(v) < st * 1e-9 ? 0 : v;
        return n;
    }
    double d0 = floor(log10(s->lo) + 1e-9), d1 = ceil(log10(s->hi) - 1e-9);
    if (log10(s->hi) - log10(s->lo) >= 1.5) {
        int stride = (int)ceil((d1 - d0) / 8);
        for (double d = d0; d <= d1 && n < max; d += stride)
            t[n++] = pow(10, d);
        return n;
    }
    static const double all[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, few[] = {1, 2, 5};
    for (int pass = 0; pass < 2; pass++) {
        const double *m = pass ? few : all;
        size_t nm = pass ? 3 : 9;
        n = 0;
        for (double d = d0 - 1; d <= d1; d++)
            for (size_t i = 0; i < nm; i++) {
                double v = m[i] * pow(10, d);
                if (v >= s->lo * (1 - 1e-9) && v <= s->hi * (1 + 1e-9) && n < max) t[n++] = v;
            }
        if (n <= 8) break;
    }
    return n;
}

/* Pixel y of a value, with the conventions of svg_series (gaps return NaN). */
static double ypix(const scale *ys, double v, double zero_y)
{
    if (isnan(v)) return NAN;
    if (isinf(v)) return v > 0 ? ys->p1 : NAN;
    if (ys->log && v <= 0) return zero_y;
    return map(ys, v);
}

static void mark(hbuf *b, int shape, double x, double y, const char *color)
{
    switch (shape) {
    case SVG_SQUARE:
        hbuf_add(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\"/>", x - 3.5,
                 y - 3.5, color);
        break;
    case SVG_TRIANGLE:
        hbuf_add(b, "<path d=\"M%.1f %.1fl4.5 8h-9z\" fill=\"%s\"/>", x, y - 5, color);
        break;
    case SVG_CROSS:
        hbuf_add(b, "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"%s\" stroke-width=\"2.2\"/>",
                 x - 4, y - 4, color);
        break;
    case SVG_DIAMOND:
        hbuf_add(b, "<path d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"%s\"/>", x, y - 5, color);
        break;
    default:
        hbuf_add(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.6\" fill=\"%s\"/>", x, y, color);
    }
}

/* The legend's sample of a series, 24 units wide, centered on (x, y). */
static void sample(hbuf *b, const svg_series *s, double x, double y)
{
    if (s->style & SVG_BARS) {
        hbuf_add(b,
                 "<rect x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"11\" fill=\"%s\" "
                 "stroke=\"%s\"/>",
                 x + 2, y - 5.5, s->fill ? s->fill : "none", s->color);
        return;
    }
    if (s->style & SVG_LINE)
        hbuf_add(b, "<path d=\"M%.1f %.1fh24\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>", x, y,
                 s->color, s->dash ? " stroke-dasharray=\"" : "", s->dash ? s->dash : "",
                 s->dash ? "\"" : "");
    if (s->style & SVG_MARKS) mark(b, s->mark, x + 12, y, s->color);
}

typedef struct entry {
    const svg_series *s; /* NULL: a guide */
    const char *name;
    const char *dash;
    double x, y;
} entry;

/* Lays the legend out in rows under the title; returns the number of rows. */
static int legend_layout(const svg_plot *p, entry *e, size_t *n)
{
    double x = LEFT, y = 40;
    int rows = 0;
    *n = 0;
    for (size_t i = 0; i < p->n_series + 2; i++) {
        entry it = {0};
        if (i < p->n_series) {
            if (!p->series[i].name || !p->series[i].n) continue;
            it.s = &p->series[i];
            it.name = it.s->name;
        } else if (i == p->n_series && p->n_vlines && p->vlines_name) {
            it.name = p->vlines_name;
            it.dash = "3 3";
        } else if (i == p->n_series + 1 && !isnan(p->hline) && p->hline_name) {
            it.name = p->hline_name;
            it.dash = "8 3 2 3";
        } else {
            continue;
        }
        double w = 32 + 6.6 * (double)strlen(it.name) + 18;
        if (rows && x + w > W - RIGHT) x = LEFT, y += 18, rows++;
        if (!rows) rows = 1;
        it.x = x;
        it.y = y;
        x += w;
        e[(*n)++] = it;
    }
    return rows;
}

static void legend_draw(hbuf *b, const entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].s)
            sample(b, e[i].s, e[i].x, e[i].y);
        else
            hbuf_add(b,
                     "<path d=\"M%.1f %.1fh24\" stroke=\"#555\" stroke-width=\"1.5\" "
                     "stroke-dasharray=\"%s\"/>",
                     e[i].x, e[i].y, e[i].dash);
        hbuf_add(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", e[i].x + 30, e[i].y + 4);
        hbuf_text(b, e[i].name);
        hbuf_add(b, "</text>");
    }
}

static void extend(double *lo, double *hi, int *have, double v)
{
    if (!*have || v < *lo) *lo = v;
    if (!*have || v > *hi) *hi = v;
    *have = 1;
}

/* The data ranges of the plot; *zeros when some y <= 0 falls on a log axis. */
static void ranges(const svg_plot *p, scale *xs, scale *ys, int *zeros)
{
    double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
    int hx = 0, hy = 0, bars = 0;
    *zeros = 0;
    for (size_t i = 0; i < p->n_series; i++) {
        const svg_series *s = &p->series[i];
        bars |= s->n && (s->style & SVG_BARS);
        for (size_t k = 0; k < s->n; k++) {
            double xv[2] = {s->x[k], s->x2 ? s->x2[k] : s->x[k]};
            for (int j = 0; j < 2; j++)
                if (isfinite(xv[j]) && (!p->xlog || xv[j] > 0)) extend(&xlo, &xhi, &hx, xv[j]);
            double y = s->y[k];
            if (!isfinite(y)) continue;
            if (p->ylog && y <= 0)
                *zeros = 1;
            else
                extend(&ylo, &yhi, &hy, y);
            if ((s->style & SVG_BARS) && !p->ylog) extend(&ylo, &yhi, &hy, 0);
        }
    }
    for (size_t i = 0; i < p->n_vlines; i++)
        if (isfinite(p->vlines[i]) && (!p->xlog || p->vlines[i] > 0))
            extend(&xlo, &xhi, &hx, p->vlines[i]);
    if (isfinite(p->hline) && (!p->ylog || p->hline > 0)) extend(&ylo, &yhi, &hy, p->hline);
    settle(xs, xlo, xhi, hx);
    settle(ys, ylo, yhi, hy);
    // Bars on a log axis start a whole decade down, so that the shortest one still shows.
    if (ys->log && bars && hy) ys->lo = fmin(ys->lo, pow(10, floor(log10(ylo) + 1e-9)));
    if (p->strip) ys->lo = 0, ys->hi = 1;
}

static void axes(hbuf *b, const svg_plot *p, const scale *xs, const scale *ys, double top,
                 double bottom, int zeros)
{
    double t[64];
    char lab[32];
    size_t n = ticks(xs, t, 64);
    hbuf_add(b, "<g class=\"axis\">");
    for (size_t i = 0; i < n; i++) {
        double x = map(xs, t[i]);
        tick_label(lab, sizeof lab, t[i]);
        hbuf_add(b, "<path d=\"M%.1f %.1fv5\" stroke=\"#333\"/>", x, bottom);
        hbuf_add(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, bottom + 18,
                 lab);
    }
    if (!p->strip) {
        n = ticks(ys, t, 64);
        for (size_t i = 0; i < n; i++) {
            double y = map(ys, t[i]);
            tick_label(lab, sizeof lab, t[i]);
            hbuf_add(b,
                     "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#e3e3e3\"/>"
                     "<path d=\"M%.1f %.1fh5\" stroke=\"#333\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                     LEFT, y, W - RIGHT, LEFT - 5, y, LEFT - 8, y + 4, lab);
        }
        if (zeros) {
            // The zero row sits below the log scale, cut off by a break mark on the axis.
            double y = bottom - ZERO_ROW / 2, yb = ys->p0 + 6;
            hbuf_add(b,
                     "<path d=\"M%.1f %.1fh5\" stroke=\"#333\"/>"
                     "<path d=\"M%.1f %.1fl8 -4m-8 8l8 -4\" stroke=\"#333\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                     LEFT - 5, y, LEFT - 4, yb, LEFT - 8, y + 4);
            hbuf_text(b, p->zero_label ? p->zero_label : "0");
            hbuf_add(b, "</text>");
        }
        hbuf_add(b,
                 "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\" "
                 "class=\"label\">",
                 (top + bottom) / 2);
        hbuf_text(b, p->ylabel);
        if (p->ylog) hbuf_add(b, " (log scale)");
        hbuf_add(b, "</text>");
    }
    hbuf_add(b,
             "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
             "stroke=\"#333\"/>",
             LEFT, top, W - RIGHT - LEFT, bottom - top);
    hbuf_add(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"label\">",
             (LEFT + W - RIGHT) / 2, bottom + 38);
    hbuf_text(b, p->xlabel);
    if (p->xlog) hbuf_add(b, " (log scale)");
    hbuf_add(b, "</text></g>");
}

static void series_draw(hbuf *b, const svg_series *s, const scale *xs, const scale *ys, double top,
                        double zero_y, double base_y)
{
    hbuf_add(b, "<g class=\"series\">");
    if (s->style & SVG_BARS)
        for (size_t k = 0; k < s->n; k++) {
            double y = ypix(ys, s->y[k], zero_y);
            if (isnan(y) || !isfinite(s->x[k]) || !isfinite(s->x2[k])) continue;
            double x0 = map(xs, s->x[k]), x1 = map(xs, s->x2[k]);
            if (x1 - x0 > 5) x0 += 1, x1 -= 1;
            double y0 = y < base_y ? y : base_y - 1;
            hbuf_add(b,
                     "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                     "stroke=\"%s\"/>",
                     x0, y0, x1 - x0 > 0.5 ? x1 - x0 : 0.5, base_y - y0, s->fill ? s->fill : "none",
                     s->color);
        }
    if (s->style & SVG_LINE) {
        int open = 0;
        for (size_t k = 0; k < s->n; k++) {
            double y = isinf(s->y[k]) ? NAN : ypix(ys, s->y[k], zero_y);
            if (isnan(y) || !isfinite(s->x[k])) {
                if (open) hbuf_add(b, "\"/>");
                open = 0;
                continue;
            }
            if (!open)
                hbuf_add(b,
                         "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s "
                         "points=\"",
                         s->color, s->dash ? " stroke-dasharray=\"" : "", s->dash ? s->dash : "",
                         s->dash ? "\"" : "");
            hbuf_add(b, "%s%.1f,%.1f", open ? " " : "", map(xs, s->x[k]), y);
            open = 1;
        }
        if (open) hbuf_add(b, "\"/>");
    }
    for (size_t k = 0; k < s->n; k++) {
        double y = ypix(ys, s->y[k], zero_y);
        if (isnan(y) || !isfinite(s->x[k])) continue;
        double x = s->x2 ? (map(xs, s->x[k]) + map(xs, s->x2[k])) / 2 : map(xs, s->x[k]);
        if (s->style & SVG_MARKS) mark(b, s->mark, x, y, s->color);
        if (s->labels && s->labels[k]) {
            // Above the point, or inside a bar that reaches the top.
            double ty = y - 8 < top + 12 ? y + 16 : y - 8;
            hbuf_add(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"note\">", x,
                     ty);
            hbuf_text(b, s->labels[k]);
            hbuf_add(b, "</text>");
        }
    }
    hbuf_add(b, "</g>");
}

void svg_plot_render(hbuf *b, const svg_plot *p)
{
    double h = p->strip ? H_STRIP : H_PLOT;
    entry leg[64];
    size_t nleg = 0;
    int rows = p->n_series + 2 <= 64 ? legend_layout(p, leg, &nleg) : 0;
    double top = 30 + 18 * rows + (rows ? 4 : 0), bottom = h - 50;
    scale xs = {0, 1, LEFT, W - RIGHT, p->xlog}, ys = {0, 1, 0, 0, p->ylog};
    int zeros;
    ranges(p, &xs, &ys, &zeros);
    xs.p0 = LEFT;
    xs.p1 = W - RIGHT;
    ys.p0 = zeros ? bottom - ZERO_ROW : bottom;
    ys.p1 = top + 6;
    if (p->strip) ys.p1 = top, ys.p0 = bottom;
    double zero_y = bottom - ZERO_ROW / 2;
    double base_y = zeros ? zero_y : p->ylog || ys.lo >= 0 ? ys.p0 : map(&ys, 0);

    hbuf_add(b,
             "<svg class=\"plot\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
             "role=\"img\"><title>",
             W, h, W, h);
    hbuf_text(b, p->title);
    hbuf_add(b, "</title><desc>");
    hbuf_text(b, p->desc);
    hbuf_add(b, "</desc><text x=\"%.1f\" y=\"20\" class=\"title\">", LEFT);
    hbuf_text(b, p->title);
    hbuf_add(b, "</text>");
    legend_draw(b, leg, nleg);
    axes(b, p, &xs, &ys, top, bottom, zeros);
    for (size_t i = 0; i < p->n_vlines; i++)
        if (isfinite(p->vlines[i]) && (!p->xlog || p->vlines[i] > 0))
            hbuf_add(b, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"#888\" stroke-dasharray=\"3 3\"/>",
                     map(&xs, p->vlines[i]), top, bottom);
    if (isfinite(p->hline) && (!p->ylog || p->hline > 0)) {
        double y = map(&ys, p->hline);
        hbuf_add(b,
                 "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#555\" stroke-width=\"1.5\" "
                 "stroke-dasharray=\"8 3 2 3\"/>",
                 LEFT, y, W - RIGHT);
    }
    for (size_t i = 0; i < p->n_series; i++)
        series_draw(b, &p->series[i], &xs, &ys, top, zero_y, base_y);
    hbuf_add(b, "</svg>\n");
}
