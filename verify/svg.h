/*
 * svg.h - internal: a growable text buffer for markup, and XY plots drawn
 * as inline SVG (axes with ticks and labels, linear or log scales, lines,
 * marks, bars, guides, a legend) for the HTML report (verify/html.c). The
 * plots carry no script and no external reference.
 */
#ifndef ATTEST_VERIFY_SVG_H
#define ATTEST_VERIFY_SVG_H

#include <stddef.h>

/*
 * Markup being written. Start from {0}; on allocation failure the buffer
 * keeps what it has, `failed` is set and later writes do nothing. The
 * caller frees `s`.
 */
typedef struct hbuf {
    char *s;
    size_t len, cap;
    int failed;
} hbuf;

/* Appends printf-formatted markup as is (the caller escapes any text in it). */
void hbuf_add(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends text escaped for HTML/SVG content and quoted attributes: & < > " '
 * become entities; bytes that are not UTF-8 and control characters other
 * than tab and newline become U+FFFD. NULL appends nothing.
 */
void hbuf_text(hbuf *b, const char *s);

/* How a series is drawn (bits). */
enum { SVG_LINE = 1, SVG_MARKS = 2, SVG_BARS = 4 };

/* Mark shapes, so that series differ without color. */
enum { SVG_CIRCLE, SVG_SQUARE, SVG_TRIANGLE, SVG_CROSS, SVG_DIAMOND };

/*
 * One series of n points. A NaN y is a gap; +inf is drawn at the top edge
 * (off the scale, e.g. "failed, error unknown"); y <= 0 on a log axis is
 * drawn on the plot's zero row (see svg_plot.zero_label).
 */
typedef struct svg_series {
    const char *name;          /* legend entry; NULL: not in the legend */
    const char *color;         /* stroke (and mark) color, a CSS color literal */
    const char *fill;          /* SVG_BARS: fill ("none", a color, "url(#id)") */
    const char *dash;          /* stroke-dasharray of the line, or NULL */
    int style;                 /* SVG_LINE | SVG_MARKS | SVG_BARS */
    int mark;                  /* SVG_CIRCLE ... */
    const double *x, *y;       /* the points */
    const double *x2;          /* SVG_BARS: a bar spans [x, x2] from the bottom to y */
    const char *const *labels; /* text drawn next to each point, or NULL (entries may be NULL) */
    size_t n;
} svg_series;

/* One plot. Start from SVG_PLOT_INIT. */
typedef struct svg_plot {
    const char *title, *xlabel, *ylabel;
    const char *desc; /* what the plot shows, for screen readers (<desc>) */
    int xlog, ylog;   /* 1: logarithmic axis (its positive values set the range) */
    int strip;        /* 1: a short band without a y axis (a timeline) */
    const svg_series *series;
    size_t n_series;
    const double *vlines; /* vertical guides at these x (e.g. checkpoints) */
    size_t n_vlines;
    const char *vlines_name; /* their legend entry */
    double hline;            /* a horizontal guide at this y, NaN: none */
    const char *hline_name;  /* its label */
    const char *zero_label;  /* ylog: the label of the row drawn below the scale for y <= 0 */
} svg_plot;

#define SVG_PLOT_INIT                                                                              \
    {                                                                                              \
        NULL, NULL, NULL, NULL, 0, 0, 0, NULL, 0, NULL, 0, NULL, (double)NAN, NULL, NULL           \
    }

/* Appends the plot as one <svg> element (scales with the page width). */
void svg_plot_render(hbuf *b, const svg_plot *p);

/* Appends the <defs> (hatch patterns "hatch" and "cross") the plots' fills may name. */
void svg_defs(hbuf *b);

#endif
