/*
 * replay.c - runs a fuzz target over every file of its corpus directory
 * without libFuzzer, so that `make check` (and `make sanitize`) replay the
 * corpus with any compiler. A crash or sanitizer report fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        printf("not ok - corpus %s: cannot open\n", argv[1]);
        return 1;
    }
    int files = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc(1 << 20);
        size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        // A copy of exactly n bytes, so that ASan sees any read past the input.
        uint8_t *exact = malloc(n ? n : 1);
        if (exact && buf) memcpy(exact, buf, n);
        free(buf);
        if (!exact) return 1;
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        files++;
    }
    closedir(d);
    printf("%s - corpus %s: %d inputs\n", files ? "ok" : "not ok", argv[1], files);
    return files ? 0 : 1;
}
