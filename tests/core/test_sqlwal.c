/* The checkpoint thread: with it running, connections never checkpoint themselves, and
 * the thread copies the log into the database once the log has grown; it makes the log start
 * over past the hard size under steady writes, and past the quiet size once writes pause.
 * White-box (the .c is included) with smaller sizes, in pages of 4 KiB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "core/err.h"
#include "core/sqlbusy.h"

#define SQLWAL_PAGES 400
#define SQLWAL_QUIET_PAGES 1000
#define SQLWAL_RESTART_PAGES 4000
#define SQLWAL_QUIET_MS 1000
#include "core/sqlwal.c"

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* A database in WAL mode with one table t, in a temp dir; the checkpoint thread started for
 * it, and db a connection that leaves its checkpoints to the thread. */
struct fx {
    char dir[32], path[64];
    sqlite3 *db;
};

static void fx_open(struct fx *f)
{
    char err[ERR_LEN] = "";
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-sqlwal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    exec_ok(f->db, "PRAGMA journal_mode=WAL; CREATE TABLE t (b BLOB)");
    sqlite3_close(f->db);

    assert_int_equal(sqlwal_start(f->path, err), 0);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    sqlite3_busy_timeout(f->db, 5000); /* the thread's checkpoint and a commit may meet */
    sqlwal_install(f->db);
}

static void fx_close(struct fx *f)
{
    sqlite3_close(f->db);
    sqlwal_stop();
    const char *suffixes[] = {"-wal", "-shm", ""};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char file[80];
        snprintf(file, sizeof file, "%s%s", f->path, suffixes[i]);
        unlink(file);
    }
    rmdir(f->dir);
}

static void test_checkpoints_in_the_thread(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    sqlite3 *db = f.db;
    const char *path = f.path;
    struct sqlvfs_stats st0;
    sqlvfs_stats(&st0);
    off_t before = file_size(path);
    /* About 24 MB in commits of one page each: far past the pages that wake the thread. */
    sqlite3_stmt *ins;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (zeroblob(3000))", -1, &ins, NULL), SQLITE_OK);
    for (int i = 0; i < 8000; i++) {
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    /* The connection did not checkpoint: SQLite's own would have at 1000 pages. The thread
     * copies the pages into the database file within a moment. */
    off_t after = before;
    for (int i = 0; i < 100 && after < 8 * 1024 * 1024; i++) {
        struct timespec ms50 = {0, 50 * 1000 * 1000};
        nanosleep(&ms50, NULL);
        after = file_size(path);
    }
    print_message("database file: %lld bytes before, %lld after\n", (long long)before,
                  (long long)after);
    assert_true(after >= 8 * 1024 * 1024);
    /* The thread paced its copies: a pause per SQLWAL_PACE_PAGES pages (sqlvfs_pace). */
    struct sqlvfs_stats st;
    sqlvfs_stats(&st);
    assert_true(st.pauses - st0.pauses >= (uint64_t)(8 * 1024 * 1024 / 4096 / SQLWAL_PACE_PAGES));
    fx_close(&f);
}

struct reader {
    const char *path;
    volatile int stop;
    long reads;
};

/* Short read transactions back to back, as a server's requests make them: one of them is
 * always in the log, so a passive checkpoint never lets the log start over. */
static void *read_on(void *p)
{
    struct reader *r = p;
    sqlite3 *db;
    if (sqlite3_open(r->path, &db) != SQLITE_OK) return NULL;
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT max(rowid) FROM t", -1, &st, NULL) == SQLITE_OK) {
        while (!r->stop) {
            sqlite3_step(st);
            sqlite3_reset(st);
            r->reads++;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return NULL;
}

/* The times the log has started over: its header's checkpoint sequence number. */
static unsigned long log_restarts(const char *wal)
{
    unsigned char h[16] = {0};
    FILE *fp = fopen(wal, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(h, 1, sizeof h, fp), sizeof h);
    fclose(fp);
    return (unsigned long)h[12] << 24 | (unsigned long)h[13] << 16 | (unsigned long)h[14] << 8 |
           h[15];
}

/* Under steady writes with readers always in the log, the thread still makes the log start
 * over, but only once it passes the hard size (not the quiet one, writes never pause): 60000
 * pages written make it start over twice at least, and the log's file (never cut) reached
 * the hard size. */
static void test_log_starts_over_under_readers(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    sqlite3 *db = f.db;
    const char *path = f.path;
    exec_ok(db, "PRAGMA synchronous=NORMAL");
    struct reader r = {.path = path};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_on, &r), 0);
    sqlite3_stmt *ins;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (zeroblob(3000))", -1, &ins, NULL), SQLITE_OK);
    /* 60000 pages, four to a commit; the table is emptied now and then so the database file
     * stays small and the log is what grows. Each transaction takes the process's write
     * turn, as the product's connections do. */
    struct sqlbusy_turn turn = {0};
    for (int i = 0; i < 15000; i++) {
        sqlbusy_take(&turn);
        exec_ok(db, "BEGIN");
        for (int k = 0; k < 4; k++) {
            assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
            sqlite3_reset(ins);
        }
        if (i % 500 == 499) exec_ok(db, "DELETE FROM t");
        exec_ok(db, "COMMIT");
        sqlbusy_settle(&turn, db);
    }
    sqlite3_finalize(ins);
    r.stop = 1;
    pthread_join(th, NULL);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    off_t size = file_size(wal);
    unsigned long restarts = log_restarts(wal);
    print_message("after 240 MB of writes: the log started over %lu times; its file has %lld "
                  "bytes (%ld reads meanwhile)\n",
                  restarts, (long long)size, r.reads);
    assert_true(r.reads > 1000);
    assert_true(restarts >= 2);
    assert_true(size >= (off_t)SQLWAL_RESTART_PAGES * (4096 + 24));
    fx_close(&f);
}

/* The log's size in pages, as a passive checkpoint of db reports it. */
static int log_pages(sqlite3 *db)
{
    int frames = -1, done = -1;
    assert_int_equal(
        sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &done),
        SQLITE_OK);
    return frames;
}

static void insert_pages(sqlite3 *db, int n)
{
    sqlite3_stmt *ins;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (zeroblob(3000))", -1, &ins, NULL), SQLITE_OK);
    struct sqlbusy_turn turn = {0};
    for (int i = 0; i < n; i++) {
        sqlbusy_take(&turn);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
        sqlbusy_settle(&turn, db);
    }
    sqlite3_finalize(ins);
}

/* A log past the quiet size but under the hard one does not start over while writes go on
 * (readers in it); once they pause, the thread makes it start over, and the next commit
 * begins it anew. */
static void test_log_starts_over_after_a_pause(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", f.path);
    insert_pages(f.db, 1);
    pthread_mutex_lock(&g.lock);
    unsigned long made = g.restarts;
    pthread_mutex_unlock(&g.lock);
    /* With a reader always in the log, as in a server: without one, SQLite itself starts the
     * log over whenever a checkpoint has copied all of it. */
    struct reader r = {.path = f.path};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_on, &r), 0);
    insert_pages(f.db, 1000); /* two pages a commit: about 2000 in the log */
    r.stop = 1;
    pthread_join(th, NULL);
    pthread_mutex_lock(&g.lock);
    assert_int_equal(g.restarts, made);
    pthread_mutex_unlock(&g.lock);
    unsigned long before = log_restarts(wal);
    /* The thread looks at a log past the quiet size once a second: restarted within a few
     * seconds of the pause (a long wait only on a loaded machine). */
    int waited = 0;
    unsigned long now = made;
    for (; waited < 200 && now == made; waited++) {
        struct timespec ms100 = {0, 100 * 1000 * 1000};
        nanosleep(&ms100, NULL);
        pthread_mutex_lock(&g.lock);
        now = g.restarts;
        pthread_mutex_unlock(&g.lock);
    }
    assert_int_equal(now, made + 1);
    insert_pages(f.db, 1);
    unsigned long after = log_restarts(wal);
    int pages = log_pages(f.db);
    print_message("the log started over %.1f s after the pause: restarts %lu -> %lu, %d pages "
                  "in it after one more commit\n",
                  waited / 10.0, before, after, pages);
    assert_true(after > before);
    assert_true(pages >= 1 && pages < 10);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_in_the_thread),
        cmocka_unit_test(test_log_starts_over_under_readers),
        cmocka_unit_test(test_log_starts_over_after_a_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
