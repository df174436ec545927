/*
 * kill -9 during a loop of appends and seals ([LOG-8], [LOG-9]): a child
 * appends and seals as fast as it can and reports each seal that returned;
 * the parent kills it at a random moment, reopens the log and checks that
 * every reported seal, and every record before it, is intact and verifies.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/log.h"
#include "attest/verify.h"
#include "tests/harness.h"

static attest_signer *signer;
static attest_verifier *verifier;

static void child(const char *path, int fd)
{
    attest_log *log;
    char rec[128];
    uint64_t index;
    if (attest_log_open(&log, path, ATTEST_LOG_APPEND) != 0) _exit(3);
    for (int i = 0;; i++) {
        snprintf(rec, sizeof rec, "{\"type\":\"note\",\"text\":\"child record %d\"}", i);
        if (attest_log_append(log, rec, strlen(rec), NULL) != 0) _exit(4);
        if (i % 37 == 36) {
            if (attest_log_seal(log, signer, &index) != 0) _exit(5);
            // Reported only after the seal returned: it must survive the kill.
            if (write(fd, &index, sizeof index) != sizeof index) _exit(6);
        }
    }
}

static void test_kill_during_appends_and_seals(void)
{
    char dir[] = "/tmp/attest-crash-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/run.log", dir);
    attest_log *log;
    CHECK_EQ_INT(attest_log_create(&log, path, signer, NULL, NULL), 0);
    attest_log_free(log);
    srand((unsigned)time(NULL));
    int bad = 0;
    uint64_t last_seal = 0;
    for (int round = 0; round < 12; round++) {
        int p[2];
        CHECK_EQ_INT(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(path, p[1]);
        }
        close(p[1]);
        struct timespec ts = {0, (long)(rand() % 150 + 20) * 1000 * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status)) {
            printf("# round %d: the child exited with %d before the kill\n", round,
                   WEXITSTATUS(status));
            bad++;
        }
        uint64_t index;
        while (read(p[0], &index, sizeof index) == sizeof index)
            last_seal = index;
        close(p[0]);
        // Reopen as the next writer would: recovers any torn tail by itself.
        int rc = attest_log_open(&log, path, ATTEST_LOG_APPEND);
        if (rc != 0) {
            printf("# round %d: reopen failed: %s\n", round, attest_log_errmsg(log));
            bad++;
        } else if (attest_log_count(log) <= last_seal) {
            printf("# round %d: %llu records, but seal %llu had returned\n", round,
                   (unsigned long long)attest_log_count(log), (unsigned long long)last_seal);
            bad++;
        } else {
            char *note = NULL;
            if (last_seal && attest_log_checkpoint(log, last_seal, &note) != 0) bad++;
            free(note);
        }
        attest_log_free(log);
        attest_report *r = NULL;
        if (attest_verify_log(&r, path, verifier) != 0) {
            char *text = NULL;
            attest_report_text(r, &text);
            printf("# round %d: verify failed: %s", round, text ? text : "?");
            free(text);
            bad++;
        }
        attest_report_free(r);
    }
    CHECK(last_seal > 0);
    CHECK_EQ_INT(bad, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
    char *vkey;
    if (attest_signer_generate(&signer, "example.com/crash") != 0) return 2;
    attest_signer_vkey(signer, &vkey);
    attest_verifier_parse(&verifier, vkey, NULL, 0);
    free(vkey);
    RUN(test_kill_during_appends_and_seals);
    attest_signer_free(signer);
    attest_verifier_free(verifier);
    HARNESS_EXIT();
}
