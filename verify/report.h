/*
 * report.h - internal: the verification report's representation, shared by
 * the module that fills it (structure.c) and the ones that render it
 * (html.c). The public API sees only the opaque attest_report.
 */
#ifndef ATTEST_VERIFY_REPORT_H
#define ATTEST_VERIFY_REPORT_H

#include <jansson.h>

#include "attest/verify.h"

/* The report is one JSON object; its members are what `attest verify --json` prints. */
struct attest_report {
    json_t *obj;
};

#endif
