/*
 * tests/fuzz/replay_main.c - runs any libFuzzer target without libFuzzer: every file
 * named on the command line, or found (recursively, in name order) under a named
 * directory, is fed once to LLVMFuzzerTestOneInput(). meson test links it to each target.
 *
 * Owns:     one heap copy of the current input, sized exactly so ASan sees over-reads.
 * Entry:    main().
 * Not here: the targets (fuzz_*.c), the corpora (corpus/<target>/).
 * Spec:     libFuzzer's documented entry points; STYLE.md R9.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t replayed;
static bool verbose;

/* Feeds the file <path> to the target. Returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf = NULL;
    size_t size;
    int rc = -1;

    if (f == NULL || fstat(fileno(f), &st) != 0)
        goto out;
    size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (buf == NULL || fread(buf, 1, size, f) != size)
        goto out;
    if (verbose)
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    /* a copy of exactly <size> bytes: reading past it is a heap overflow ASan reports */
    LLVMFuzzerTestOneInput(buf, size);
    replayed++;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* A directory is replayed in name order, hidden entries skipped; -1 on any failure. */
static int replay_path(const char *path)
{
    struct dirent **names;
    struct stat st;
    int n, rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && rc == 0) {
            size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
            char *sub = malloc(len);

            if (sub == NULL) {
                rc = -1;
            } else {
                snprintf(sub, len, "%s/%s", path, names[i]->d_name);
                rc = replay_path(sub);
                free(sub);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/*
 * Usage: replay_<target> [-v] PATH...  Exits 0 after "replayed N inputs" when every path
 * was read and at least one input found (an empty corpus is a broken test, not a pass);
 * 1 otherwise. A crash in the target ends the process with the sanitizer's report.
 */
int main(int argc, char **argv)
{
    int rc = 0, paths = 0;

    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
            continue;
        }
        paths++;
        if (replay_path(argv[i]) != 0)
            rc = 1;
    }
    if (paths == 0) {
        fprintf(stderr, "usage: %s [-v] FILE_OR_DIR...\n", argv[0]);
        return 1;
    }
    printf("replayed %zu inputs, %s\n", replayed, rc ? "some paths unreadable" : "0 failed");
    if (replayed == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        rc = 1;
    }
    return rc;
}
