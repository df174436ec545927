/*
 * swtpm.h - test helper: a software TPM per test run through scripts/swtpm
 * (fresh state directory, free port pair on 127.0.0.1, stopped by PID).
 * Tests run from the repository root, where scripts/swtpm is.
 */
#ifndef ATTEST_TEST_SWTPM_H
#define ATTEST_TEST_SWTPM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Starts (or restarts, when DIR/state exists) the swtpm of `dir`; its TCTI goes into tcti. */
static inline int harness_swtpm_start(const char *dir, char *tcti, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "scripts/swtpm start '%s'", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char *line = fgets(tcti, (int)n, p);
    int rc = pclose(p);
    if (!line || rc != 0) return -1;
    tcti[strcspn(tcti, "\n")] = '\0';
    return strncmp(tcti, "swtpm:host=127.0.0.1,port=", 26) == 0 ? 0 : -1;
}

/* "stop" (a kill: power loss to the TPM) or "shutdown" (TPM2_Shutdown first: a reboot). */
static inline int harness_swtpm_stop(const char *how, const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "scripts/swtpm %s '%s'", how, dir);
    return system(cmd);
}

#endif
