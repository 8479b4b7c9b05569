/* bench_lookup [CONTACTS [LOOKUPS [RUNS]]]: phone number lookups in the embedded CRM.
 *
 * Fills the local CRM (in a fresh store file, as `crmlog` keeps it) with CONTACTS contacts
 * (default 1,000,000; one phone each, every tenth a second one, numbers written the ways
 * people write them), once, through add_contact in batches. Then, on a freshly opened
 * handle, times LOOKUPS (default 1,000,000) lookups of random E.164 numbers, half of them
 * existing and half not, RUNS times (default 5, new random numbers each run):
 *   - find_contacts: the connector operation alone, each lookup its own read transaction
 *     (as one `crmlog contacts find` does);
 *   - logger_match: what the product calls, in read groups of LOOKUP_GROUP lookups, as a
 *     history page (the view) and the worker's batches look numbers up.
 * Every answer is checked (existing: exactly that contact; missing: none).
 *
 * Target (the issue): >= 200,000 lookups/s. */
#include "core/err.h"
#include "core/logger.h"
#include "crm/crm.h"
#include "store/store.h"

#include "bench.h"

#define LOOKUP_TARGET 200000.0
#define LOOKUP_BATCH 10000 /* contacts per add_contact batch */
#define LOOKUP_GROUP 50    /* lookups per read group: one history page */

struct query {
    char number[PHONE_LEN];
    long contact; /* expected contact id, 0 for none */
};

/* Contact k (1-based ids in insertion order) has number index k-1; every tenth also number
 * index 2*n + k-1. Missing numbers are indices n..2n-1. */
static int fill(crm *c, long n, char *err)
{
    const struct crm_ops *ops = c->ops;
    char name[CALL_NAME_LEN], p1[64], p2[64], a[CALL_NAME_LEN];
    int rc = ops->batch_begin(c, err);
    for (long i = 0; i < n && !rc; i++) {
        const char *phones[2] = {p1, p2};
        const char *assocs[1] = {a};
        bench_name(i, name, sizeof name);
        bench_number_written(i, (int)(i % 5), p1, sizeof p1);
        bench_number_written(2 * n + i, (int)(i % 3), p2, sizeof p2);
        snprintf(a, sizeof a, "Deal %ld", i + 1);
        rc = ops->add_contact(c, name, phones, i % 10 == 0 ? 2 : 1, assocs, i % 4 ? 1 : 0, NULL,
                              err);
        if (!rc && (i + 1) % LOOKUP_BATCH == 0) {
            rc = ops->batch_end(c, 1, err);
            if (!rc) rc = ops->batch_begin(c, err);
        }
    }
    if (!rc) rc = ops->batch_end(c, 1, err);
    return rc;
}

static void make_queries(struct query *q, long nq, long n, uint64_t seed)
{
    uint64_t rng = seed | 1;
    for (long i = 0; i < nq; i++) {
        long k = (long)bench_below(&rng, (uint64_t)n);
        int exists = bench_below(&rng, 2) == 0;
        bench_number(exists ? k : n + k, q[i].number);
        q[i].contact = exists ? k + 1 : 0;
    }
}

/* Times nq lookups; returns lookups/s, or -1 after printing an error or a wrong answer. */
static double time_lookups(struct logger *lg, int through_logger, const struct query *q, long nq,
                           double *cpu)
{
    static struct crm_contact_list l; /* 40 KB: off the stack */
    char err[ERR_LEN];
    crm *c = lg->crm;
    long wrong = 0;
    double t0 = bench_now(), c0 = bench_cpu();
    int grouped = 0;
    for (long i = 0; i < nq; i++) {
        if (through_logger && i % LOOKUP_GROUP == 0) {
            if (grouped) c->ops->read_end(c);
            grouped = c->ops->read_begin(c, err) == 0;
        }
        int rc = through_logger ? logger_match(lg, q[i].number, &l, err)
                                : c->ops->find_contacts(c, q[i].number, &l, err);
        if (rc) {
            fprintf(stderr, "bench_lookup: lookup of %s failed: %s\n", q[i].number, err);
            if (grouped) c->ops->read_end(c);
            return -1;
        }
        if (q[i].contact ? l.total != 1 || strtol(l.items[0].id, NULL, 10) != q[i].contact
                         : l.total != 0)
            wrong++;
    }
    if (grouped) c->ops->read_end(c);
    double secs = bench_now() - t0;
    *cpu = bench_cpu() - c0;
    if (wrong) {
        fprintf(stderr, "bench_lookup: %ld of %ld lookups gave a wrong answer\n", wrong, nq);
        return -1;
    }
    return (double)nq / secs;
}

int main(int argc, char **argv)
{
    const char *usage = "[CONTACTS (default 1000000) [LOOKUPS (default 1000000) [RUNS (5)]]]";
    long n = bench_arg(argc, argv, 1, 1000000, usage);
    long nq = bench_arg(argc, argv, 2, 1000000, usage);
    long runs = bench_arg(argc, argv, 3, 5, usage);
    char dir[BENCH_PATH_LEN], db[BENCH_PATH_LEN], config[BENCH_PATH_LEN + 64], err[ERR_LEN] = "";
    struct query *q = calloc((size_t)nq, sizeof *q);
    double *direct = calloc((size_t)runs, sizeof *direct);
    double *logged = calloc((size_t)runs, sizeof *logged);
    store *st = NULL;
    crm *c = NULL;
    struct user user;
    struct logger lg;
    int rc = 1;

    if (!q || !direct || !logged) return 1;
    bench_tmpdir(dir);
    bench_path(db, "%s/crmlog.db", dir);
    snprintf(config, sizeof config, "path=%s;region=US", db);

    /* The store first, as crmlog does: the CRM's tables sit in the store's file. */
    if (store_open(db, &st, err) || crm_open("local", config, &c, err)) goto fail;
    double t0 = bench_now();
    if (fill(c, n, err)) goto fail;
    printf("lookup: filled the local CRM with %ld contacts in %.1f s (%.0f MB)\n", n,
           bench_now() - t0, bench_file_mb(db));
    fflush(stdout);
    /* A fresh handle, as a server has after start (on the store's connection): nothing
     * cached by the fill. */
    crm_close(c);
    c = NULL;
    if (crm_open_in_store("local", "region=US", st, &c, err)) goto fail;
    if (store_user_get(st, NULL, &user, err) || logger_init(&lg, st, c, &user, err)) goto fail;

    double cpu1, cpu2;
    make_queries(q, nq < 10000 ? nq : 10000, n, 7); /* warm-up, not timed */
    if (time_lookups(&lg, 0, q, nq < 10000 ? nq : 10000, &cpu1) < 0) goto out;
    for (long r = 0; r < runs; r++) {
        make_queries(q, nq, n, 1000 + (uint64_t)r);
        if ((direct[r] = time_lookups(&lg, 0, q, nq, &cpu1)) < 0) goto out;
        make_queries(q, nq, n, 2000 + (uint64_t)r);
        if ((logged[r] = time_lookups(&lg, 1, q, nq, &cpu2)) < 0) goto out;
        printf("  run %ld: find_contacts %.0f lookups/s (cpu %.2f s), logger_match %.0f "
               "lookups/s (cpu %.2f s)\n",
               r + 1, direct[r], cpu1, logged[r], cpu2);
        fflush(stdout);
    }
    printf("lookup: %ld lookups per run among %ld contacts, half existing, half not\n", nq, n);
    int pass = bench_report("lookup find_contacts (one transaction each)", "lookups/s", direct,
                            (size_t)runs, 0, LOOKUP_TARGET, 1);
    pass &= bench_report("lookup logger_match (read groups of 50)", "lookups/s", logged,
                         (size_t)runs, 0, LOOKUP_TARGET, 1);
    rc = pass ? 0 : 3;
    goto out;
fail:
    fprintf(stderr, "bench_lookup: %s\n", err);
out:
    crm_close(c);
    store_close(st);
    bench_rmdir(dir);
    free(q);
    free(direct);
    free(logged);
    return rc;
}
