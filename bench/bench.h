/* Shared helpers for the benchmarks (bench_*.c): timing, medians, temp dirs, and generators
 * of realistic data (phone numbers, names, RingCentral call-log records as JSON Lines).
 *
 * Header-only (every function static) so each bench_*.c stays one executable of one file
 * that CMake's glob picks up; this header is not a bench_*.c and so is not built on its own.
 * Benchmarks print medians and are never run by ctest (docs: bench/README.md). */
#ifndef CRMLOG_BENCH_H
#define CRMLOG_BENCH_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/call.h"

/* ---- time ---------------------------------------------------------------------------- */

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process (all threads). On a shared machine, wall time much above CPU
 * time means the run waited for the CPU or the disk. */
static inline double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- statistics and reporting ---------------------------------------------------------- */

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct bench_stats {
    double median, min, max;
};

/* Median, min and max of v[0..n) (n >= 1); v is sorted in place. */
static inline struct bench_stats bench_stats_of(double *v, size_t n)
{
    struct bench_stats s;
    qsort(v, n, sizeof *v, bench_cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

/* v with thousands separators ("153,000"), or with `decimals` decimals when > 0. */
static const char *bench_fmt(double v, int decimals, char *out, size_t len)
{
    if (decimals > 0) {
        snprintf(out, len, "%.*f", decimals, v);
        return out;
    }
    char digits[32];
    long long x = (long long)(v < 0 ? v - 0.5 : v + 0.5);
    int neg = x < 0;
    snprintf(digits, sizeof digits, "%lld", neg ? -x : x);
    size_t nd = strlen(digits), o = 0;
    if (neg && o + 1 < len) out[o++] = '-';
    for (size_t i = 0; i < nd && o + 2 < len; i++) {
        if (i && (nd - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

/* One line per figure: "import: median 153,000 records/s (min …, max …) target >= 100,000:
 * PASS". higher_is_better picks ">=" or "<" for the target. Returns 1 on PASS. */
static inline int bench_report(const char *what, const char *unit, double *v, size_t n,
                               int decimals, double target, int higher_is_better)
{
    struct bench_stats s = bench_stats_of(v, n);
    char a[48], b[48], c[48], t[48];
    int pass = higher_is_better ? s.median >= target : s.median < target;
    printf("%s: median %s %s (min %s, max %s, %zu runs) target %s %s: %s\n", what,
           bench_fmt(s.median, decimals, a, sizeof a), unit,
           bench_fmt(s.min, decimals, b, sizeof b), bench_fmt(s.max, decimals, c, sizeof c), n,
           higher_is_better ? ">=" : "<", bench_fmt(target, 0, t, sizeof t),
           pass ? "PASS" : "MISS");
    fflush(stdout);
    return pass;
}

/* ---- arguments ------------------------------------------------------------------------- */

/* argv[i] as a positive count, or def when absent; exits with a usage line when bad. */
static inline long bench_arg(int argc, char **argv, int i, long def, const char *usage)
{
    if (argc <= i) return def;
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    if (errno || end == argv[i] || *end || v <= 0) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        exit(2);
    }
    return v;
}

/* ---- files ----------------------------------------------------------------------------- */

#define BENCH_PATH_LEN 4096

/* A path built printf-style into out (BENCH_PATH_LEN bytes); exits when it does not fit.
 * (vsnprintf, so the compiler does not second-guess every derived path's length.) */
static inline void bench_path(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void bench_path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, BENCH_PATH_LEN, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= BENCH_PATH_LEN) {
        fprintf(stderr, "bench: path too long\n");
        exit(1);
    }
}

/* A fresh directory /tmp/crmlog-bench-XXXXXX into dir (BENCH_PATH_LEN bytes); exits on
 * failure. */
static inline void bench_tmpdir(char *dir)
{
    const char *base = getenv("TMPDIR");
    bench_path(dir, "%s/crmlog-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
        exit(1);
    }
}

/* Removes the flat directory made by bench_tmpdir and everything in it. */
static inline void bench_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[BENCH_PATH_LEN];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            bench_path(path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Removes an SQLite database and its -wal and -shm files. */
static inline void bench_rm_db(const char *path)
{
    char p[BENCH_PATH_LEN];
    unlink(path);
    bench_path(p, "%s-wal", path);
    unlink(p);
    bench_path(p, "%s-shm", path);
    unlink(p);
}

/* Copies a file; returns 0 or -1. */
static inline int bench_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    static char buf[1 << 20];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in && ferror(in)) rc = -1;
    if (in) fclose(in);
    if (out && fclose(out)) rc = -1;
    return rc;
}

static inline double bench_file_mb(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n > 0 ? (double)n / 1e6 : 0;
}

/* ---- data ------------------------------------------------------------------------------ */

/* xorshift64*: fast, deterministic for a seed, good enough to pick data. */
static inline uint64_t bench_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static inline uint64_t bench_below(uint64_t *s, uint64_t n)
{
    return bench_rand(s) % n;
}

/* Real US area codes; a number is area + a 7-digit local part, so bench_number is a
 * bijection from i (0 <= i < 16 * 7,000,000) to distinct, possible US numbers. */
static const int bench_areas[16] = {212, 213, 305, 312, 404, 415, 503, 512,
                                    602, 617, 650, 702, 713, 808, 917, 972};

static inline void bench_number_parts(long i, int *area, int *exch, int *line)
{
    long local = 2000000 + i / 16; /* exchanges 200..899: never starts with 0 or 1 */
    *area = bench_areas[i % 16];
    *exch = (int)(local / 10000);
    *line = (int)(local % 10000);
}

/* Number i as E.164: "+16502000001". out is PHONE_LEN bytes. */
static inline void bench_number(long i, char *out)
{
    int a, e, l;
    bench_number_parts(i, &a, &e, &l);
    snprintf(out, PHONE_LEN, "+1%03d%03d%04d", a, e, l);
}

/* Number i written one of the ways people and CRMs write it (style 0..4). */
static inline void bench_number_written(long i, int style, char *out, size_t len)
{
    int a, e, l;
    bench_number_parts(i, &a, &e, &l);
    switch (style % 5) {
    case 0:
        snprintf(out, len, "+1%03d%03d%04d", a, e, l);
        break;
    case 1:
        snprintf(out, len, "(%03d) %03d-%04d", a, e, l);
        break;
    case 2:
        snprintf(out, len, "+1 %03d-%03d-%04d", a, e, l);
        break;
    case 3:
        snprintf(out, len, "%03d.%03d.%04d", a, e, l);
        break;
    default:
        snprintf(out, len, "1%03d%03d%04d", a, e, l);
        break; /* telephony, no '+' */
    }
}

static const char *const bench_first[] = {"James",    "Mary",    "Robert",  "Patricia", "John",
                                          "Jennifer", "Michael", "Linda",   "David",    "Elizabeth",
                                          "William",  "Barbara", "Richard", "Susan",    "Joseph",
                                          "Jessica",  "Thomas",  "Sarah",   "Carlos",   "Karen",
                                          "Wei",      "Priya",   "Ahmed",   "Olga",     "Yuki"};
static const char *const bench_last[] = {
    "Smith",    "Johnson",   "Williams", "Brown",     "Jones",   "Garcia",   "Miller",
    "Davis",    "Rodriguez", "Martinez", "Hernandez", "Lopez",   "Gonzalez", "Wilson",
    "Anderson", "Thomas",    "Taylor",   "Moore",     "Jackson", "Martin",   "Lee",
    "Nguyen",   "Patel",     "Kowalski", "Tanaka"};
static const char *const bench_cities[] = {
    "New York, NY", "Los Angeles, CA",   "Miami, FL",     "Chicago, IL",
    "Atlanta, GA",  "San Francisco, CA", "Portland, OR",  "Austin, TX",
    "Phoenix, AZ",  "Boston, MA",        "Palo Alto, CA", "Las Vegas, NV",
    "Houston, TX",  "Honolulu, HI",      "New York, NY",  "Dallas, TX"};
#define BENCH_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A person's name for index i, into out. */
static inline void bench_name(long i, char *out, size_t len)
{
    snprintf(out, len, "%s %s", bench_first[i % BENCH_NELEM(bench_first)],
             bench_last[(i / BENCH_NELEM(bench_first)) % BENCH_NELEM(bench_last)]);
}

/* The agent's own line in generated records. */
#define BENCH_OWN_NUMBER "+14155550100"
#define BENCH_ACCOUNT "400123456008"

/* Writes one RingCentral call-log record (as GET /call-log returns it, view=Simple) as one
 * line of JSON Lines. seq makes the ids unique; party is the other party's number index
 * (see bench_number); start_ms the start time. About a third of answered calls carry a
 * recording; about one number in five is written without '+' (as telephony APIs do). */
static inline int bench_write_call(FILE *f, uint64_t *rng, long seq, long party, int64_t start_ms)
{
    static const char *const in_results[] = {"Accepted",  "Accepted", "Accepted", "Accepted",
                                             "Accepted",  "Accepted", "Missed",   "Missed",
                                             "Voicemail", "Rejected"};
    static const char *const out_results[] = {
        "Call connected", "Call connected", "Call connected", "Call connected", "Call connected",
        "No Answer",      "Busy",           "Call connected", "Voicemail",      "Call connected"};
    char id[32], when[32], number[32], name[64];
    int inbound = bench_below(rng, 10) < 6;
    const char *result = (inbound ? in_results : out_results)[bench_below(rng, 10)];
    int talked = strcmp(result, "Accepted") == 0 || strcmp(result, "Call connected") == 0;
    int duration = talked ? 15 + (int)bench_below(rng, 1800) : (int)bench_below(rng, 30);
    int recorded = talked && bench_below(rng, 3) == 0;
    const char *action = bench_below(rng, 4) ? "Phone Call" : "VoIP Call";

    snprintf(id, sizeof id, "Y3Hx%09lXaf6UA", (unsigned long)seq);
    time_format(start_ms, when, sizeof when);
    bench_number_written(party, bench_below(rng, 5) == 0 ? 4 : 0, number, sizeof number);
    bench_name(party, name, sizeof name);
    const char *city = bench_cities[party % BENCH_NELEM(bench_cities)];

    char customer[256], own[128];
    snprintf(customer, sizeof customer,
             "{\"phoneNumber\":\"%s\",\"name\":\"%s\",\"location\":\"%s\"}", number, name, city);
    snprintf(own, sizeof own, "{\"phoneNumber\":\"" BENCH_OWN_NUMBER "\"%s}",
             inbound ? "" : ",\"name\":\"Alex Agent\"");

    int rc =
        fprintf(f,
                "{\"uri\":\"https://platform.ringcentral.com/restapi/v1.0/account/" BENCH_ACCOUNT
                "/extension/400123457008/call-log/%s?view=Simple\","
                "\"id\":\"%s\",\"sessionId\":\"%ld\",\"telephonySessionId\":\"s-a0d7%010lx"
                "TZ0\",\"startTime\":\"%s\",\"duration\":%d,\"type\":\"Voice\","
                "\"direction\":\"%s\",\"action\":\"%s\",\"result\":\"%s\","
                "\"from\":%s,\"to\":%s",
                id, id, 4000000000L + seq, (unsigned long)seq * 2654435761ul, when, duration,
                inbound ? "Inbound" : "Outbound", action, result, inbound ? customer : own,
                inbound ? own : customer);
    if (recorded)
        rc = fprintf(f,
                     ",\"recording\":{\"uri\":\"https://platform.ringcentral.com/restapi/v1.0/"
                     "account/" BENCH_ACCOUNT "/recording/%ld\",\"id\":\"%ld\",\"type\":"
                     "\"Automatic\",\"contentUri\":\"https://media.ringcentral.com/restapi/v1.0/"
                     "account/" BENCH_ACCOUNT "/recording/%ld/content\"}",
                     7000000000L + seq, 7000000000L + seq, 7000000000L + seq);
    if (rc > 0) rc = fputs("}\n", f);
    return rc < 0 ? -1 : 0;
}

/* Writes n call records to path, the other party picked among `numbers` distinct numbers
 * (indices first..first+numbers) except a share `unknown_pct` % taken from indices
 * unknown_first.. (numbers no contact has). Start times go forward from 2026-01-05. */
static inline int bench_write_calls(const char *path, long n, long first, long numbers,
                                    int unknown_pct, long unknown_first, long unknown_numbers,
                                    uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    uint64_t rng = seed | 1;
    int64_t t = 1767600000000LL; /* 2026-01-05T08:00:00Z */
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        long party = unknown_pct && (int)bench_below(&rng, 100) < unknown_pct
                         ? unknown_first + (long)bench_below(&rng, (uint64_t)unknown_numbers)
                         : first + (long)bench_below(&rng, (uint64_t)numbers);
        t += 1000 * (int64_t)(1 + bench_below(&rng, 40));
        rc = bench_write_call(f, &rng, i, party, t);
    }
    if (fclose(f)) rc = -1;
    return rc;
}

#endif
