/* bench_import [RECORDS [RUNS]]: bulk import of RingCentral call-log records as JSON Lines.
 *
 * Generates RECORDS (default 1,000,000) call records to ~50,000 distinct numbers, then runs
 * the real binary, `crmlog --db FRESH.db import --json FILE`, RUNS times (default 5), each
 * into a fresh store, as a child process. Its wall time gives records/s and its own
 * ru_maxrss (from wait4, so only that child counts) the peak memory of the whole import:
 * process start, store open, parse, store_call_put of every record, commit.
 *
 * The binary is the crmlog next to this executable, or $CRMLOG_BIN.
 * Targets (the issue): >= 100,000 records/s, peak RSS < 64 MB (10^6 bytes). */
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "bench.h"

#define IMPORT_TARGET_RPS 100000.0
#define IMPORT_TARGET_MB 64.0
#define IMPORT_NUMBERS 50000 /* distinct other-party numbers */

static void find_crmlog(char *out)
{
    const char *env = getenv("CRMLOG_BIN");
    if (env && *env) {
        bench_path(out, "%s", env);
        return;
    }
    char self[BENCH_PATH_LEN];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, BENCH_PATH_LEN, "crmlog");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    bench_path(out, "%s/crmlog", self);
}

/* Runs crmlog import into db; fills seconds and peak RSS (bytes) of the child. Checks that
 * it exited 0 and reports `added` equal to want. Returns 0 or -1 (message printed). */
static int run_import(const char *bin, const char *db, const char *file, const char *outp,
                      long want, double *secs, double *peak, double *cpu)
{
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
        close(fd);
        execl(bin, "crmlog", "--db", db, "import", "--json", file, (char *)NULL);
        fprintf(stderr, "bench_import: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        return -1;
    }
    *secs = bench_now() - t0;
    *peak = (double)ru.ru_maxrss * 1024.0; /* Linux: kilobytes */
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_import: crmlog import failed (status %d)\n", status);
        return -1;
    }
    char text[1024] = "";
    FILE *f = fopen(outp, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    const char *added = strstr(text, "\"added\":");
    long got = added ? strtol(added + 8, NULL, 10) : -1;
    if (got != want) {
        fprintf(stderr, "bench_import: expected %ld new calls, crmlog said: %s\n", want, text);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *usage = "[RECORDS (default 1000000) [RUNS (default 5)]]";
    long n = bench_arg(argc, argv, 1, 1000000, usage);
    long runs = bench_arg(argc, argv, 2, 5, usage);
    char dir[BENCH_PATH_LEN], bin[BENCH_PATH_LEN], file[BENCH_PATH_LEN], db[BENCH_PATH_LEN],
        outp[BENCH_PATH_LEN];
    double *rps = calloc((size_t)runs, sizeof *rps), *mb = calloc((size_t)runs, sizeof *mb);
    int rc = 1;

    if (!rps || !mb) return 1;
    find_crmlog(bin);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "bench_import: no crmlog binary at %s (build it, or set CRMLOG_BIN)\n",
                bin);
        return 1;
    }
    bench_tmpdir(dir);
    bench_path(file, "%s/calls.jsonl", dir);
    bench_path(outp, "%s/out.json", dir);

    long numbers = n < IMPORT_NUMBERS ? n : IMPORT_NUMBERS;
    double t0 = bench_now();
    if (bench_write_calls(file, n, 0, numbers, 0, 0, 0, 42)) {
        fprintf(stderr, "bench_import: cannot write %s: %s\n", file, strerror(errno));
        goto out;
    }
    printf("import: generated %ld call records to %ld numbers (%.0f MB JSON Lines) in %.1f s\n", n,
           numbers, bench_file_mb(file), bench_now() - t0);
    printf("import: running %s --db FRESH.db import --json FILE, %ld runs\n", bin, runs);
    fflush(stdout);

    for (long r = 0; r < runs; r++) {
        double secs, peak, cpu;
        bench_path(db, "%s/run%ld.db", dir, r);
        if (run_import(bin, db, file, outp, n, &secs, &peak, &cpu)) goto out;
        rps[r] = (double)n / secs;
        mb[r] = peak / 1e6;
        /* CPU time too: on a shared machine it shows whether wall time was ours. */
        printf("  run %ld: %.2f s (cpu %.2f s), %.0f records/s, peak RSS %.1f MB, store %.0f MB\n",
               r + 1, secs, cpu, rps[r], mb[r], bench_file_mb(db));
        fflush(stdout);
        bench_rm_db(db);
    }
    int pass = bench_report("import", "records/s", rps, (size_t)runs, 0, IMPORT_TARGET_RPS, 1);
    pass &= bench_report("import peak RSS", "MB", mb, (size_t)runs, 1, IMPORT_TARGET_MB, 0);
    rc = pass ? 0 : 3;
out:
    bench_rmdir(dir);
    free(rps);
    free(mb);
    return rc;
}
