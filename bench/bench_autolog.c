/* bench_autolog [CALLS [RUNS]]: one auto-log pass (worker_pass) over a backlog of unlogged
 * calls, as after a night with the server down (the catch-up).
 *
 * Builds a store once: CONTACTS = CALLS / 10 contacts (10,000 for the default 100,000
 * calls) in the embedded CRM, most with one association, one in ten with none, and one
 * number in a hundred shared by two contacts; then CALLS call records (generated as
 * RingCentral JSON Lines and imported the way `crmlog import` does), 90 % to the contacts'
 * numbers and 10 % to numbers no contact has; auto_log on. Each run (default 5) copies
 * that store and times one worker_pass over it, so every run starts from the same backlog.
 * Expected outcome: most calls logged, the rest unresolved (no_contact for the unknown
 * numbers, multiple_contacts for the shared ones); nothing failed.
 *
 * Target (the issue): >= 20,000 calls/s. */
#include "core/err.h"
#include "core/logger.h"
#include "core/settings.h"
#include "core/worker.h"
#include "crm/crm.h"
#include "sources/import.h"
#include "store/store.h"

#include "bench.h"

#define AUTOLOG_TARGET 20000.0

struct put_ctx {
    store *st;
    long added;
};

/* The callback `crmlog import` uses: store_call_put of every record. */
static int put(const struct call_rec *rec, void *p, char *err)
{
    struct put_ctx *pc = p;
    int changed;
    int rc = store_call_put(pc->st, rec, &changed, err);
    if (!rc && changed == 1) pc->added++;
    return rc;
}

/* Contact i has number index i, except that every hundredth (i % 100 == 99) has the
 * number of the contact before it. Associations: none when i % 10 == 3, else one. */
static int add_contacts(crm *c, long n, char *err)
{
    const struct crm_ops *ops = c->ops;
    char name[CALL_NAME_LEN], phone[64], deal[CALL_NAME_LEN];
    int rc = ops->batch_begin(c, err);
    for (long i = 0; i < n && !rc; i++) {
        const char *phones[1] = {phone};
        const char *assocs[1] = {deal};
        bench_name(i, name, sizeof name);
        bench_number_written(i % 100 == 99 ? i - 1 : i, (int)(i % 5), phone, sizeof phone);
        snprintf(deal, sizeof deal, "Renewal %ld", 2026 + i % 3);
        rc = ops->add_contact(c, name, phones, 1, assocs, i % 10 == 3 ? 0 : 1, NULL, err);
    }
    if (!rc)
        rc = ops->batch_end(c, 1, err);
    else
        ops->batch_end(c, 0, NULL);
    return rc;
}

/* Builds the template store at db. */
static int build(const char *dir, const char *db, long ncalls, long ncontacts, char *err)
{
    char config[BENCH_PATH_LEN + 64], file[BENCH_PATH_LEN];
    store *st = NULL;
    crm *c = NULL;
    struct user user;
    int rc;

    snprintf(config, sizeof config, "path=%s;region=US", db);
    bench_path(file, "%s/calls.jsonl", dir);
    if ((rc = store_open(db, &st, err))) goto out;
    if ((rc = store_user_get(st, NULL, &user, err))) goto out;
    if ((rc = settings_set(st, user.id, "auto_log", "on", err))) goto out;
    if ((rc = crm_open("local", config, &c, err))) goto out;
    if ((rc = add_contacts(c, ncontacts, err))) goto out;

    /* Unknown numbers: indices past the contacts', a pool half as large. */
    if (bench_write_calls(file, ncalls, 0, ncontacts, 10, ncontacts, ncontacts / 2 + 1, 99)) {
        rc = err_set(err, ERR_IO, "cannot write %s", file);
        goto out;
    }
    FILE *in = fopen(file, "rb");
    if (!in) {
        rc = err_set(err, ERR_IO, "cannot read %s", file);
        goto out;
    }
    struct import_opts opts = {.user_id = user.id, .region = "US"};
    struct put_ctx pc = {.st = st};
    if (!(rc = store_begin(st, err))) {
        rc = import_stream(in, "calls.jsonl", &opts, put, &pc, NULL, err);
        if (!rc) rc = store_commit(st, err);
        if (rc) store_rollback(st);
    }
    fclose(in);
    unlink(file);
    if (!rc && pc.added != ncalls)
        rc = err_set(err, ERR_INVAL, "imported %ld calls, expected %ld", pc.added, ncalls);
out:
    /* Closing the last connection checkpoints the WAL into the file: one file to copy. */
    crm_close(c);
    store_close(st);
    return rc;
}

/* One timed pass over a copy of the template. */
static int run_pass(const char *db, double *secs, double *cpu, struct worker_counts *n, char *err)
{
    store *st = NULL;
    crm *c = NULL;
    struct user user;
    struct logger lg;
    int rc;

    /* As `crmlog autolog` opens them: the embedded CRM on the store's connection. */
    if ((rc = store_open(db, &st, err))) goto out;
    if ((rc = store_user_get(st, NULL, &user, err))) goto out;
    if ((rc = crm_open_in_store("local", "region=US", st, &c, err))) goto out;
    if ((rc = logger_init(&lg, st, c, &user, err))) goto out;
    double t0 = bench_now(), c0 = bench_cpu();
    static const struct worker_opts opts = {.retry_initial_ms = 60000, .retry_max_ms = 3600000};
    rc = worker_pass(&lg, &opts, n, err);
    *secs = bench_now() - t0;
    *cpu = bench_cpu() - c0;
out:
    crm_close(c);
    store_close(st);
    return rc;
}

int main(int argc, char **argv)
{
    const char *usage = "[CALLS (default 100000) [RUNS (default 5)]]";
    long ncalls = bench_arg(argc, argv, 1, 100000, usage);
    long runs = bench_arg(argc, argv, 2, 5, usage);
    long ncontacts = ncalls / 10 > 100 ? ncalls / 10 : 100;
    char dir[BENCH_PATH_LEN], tpl[BENCH_PATH_LEN], db[BENCH_PATH_LEN], err[ERR_LEN] = "";
    double *cps = calloc((size_t)runs, sizeof *cps);
    struct worker_counts n = {0};
    int rc = 1;

    if (!cps) return 1;
    bench_tmpdir(dir);
    bench_path(tpl, "%s/template.db", dir);
    bench_path(db, "%s/run.db", dir);
    double t0 = bench_now();
    if (build(dir, tpl, ncalls, ncontacts, err)) goto fail;
    printf("autolog: store with %ld contacts and %ld unlogged calls built in %.1f s (%.0f MB)\n",
           ncontacts, ncalls, bench_now() - t0, bench_file_mb(tpl));
    fflush(stdout);

    for (long r = 0; r < runs; r++) {
        double secs = 0, cpu = 0;
        bench_rm_db(db);
        if (bench_copy(tpl, db)) {
            snprintf(err, sizeof err, "cannot copy the store: %s", strerror(errno));
            goto fail;
        }
        if (run_pass(db, &secs, &cpu, &n, err)) goto fail;
        size_t done = n.logged + n.unresolved + n.review + n.failed;
        cps[r] = (double)done / secs;
        printf("  run %ld: %.2f s (cpu %.2f s), %.0f calls/s: %zu logged, %zu unresolved, %zu "
               "review, %zu failed\n",
               r + 1, secs, cpu, cps[r], n.logged, n.unresolved, n.review, n.failed);
        fflush(stdout);
        if (done != (size_t)ncalls || n.failed) {
            fprintf(stderr, "bench_autolog: the pass handled %zu of %ld calls (%zu failed)\n", done,
                    ncalls, n.failed);
            goto out;
        }
    }
    printf("autolog: per pass %zu logged, %zu unresolved (of %ld calls)\n", n.logged, n.unresolved,
           ncalls);
    rc = bench_report("autolog worker_pass", "calls/s", cps, (size_t)runs, 0, AUTOLOG_TARGET, 1)
             ? 0
             : 3;
    goto out;
fail:
    fprintf(stderr, "bench_autolog: %s\n", err);
out:
    bench_rmdir(dir);
    free(cps);
    return rc;
}
