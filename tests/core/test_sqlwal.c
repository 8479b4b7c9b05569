/* The checkpoint thread: with it running, connections never checkpoint themselves, and
 * the thread copies the log into the database once the log has grown. */
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
#include "core/sqlwal.h"

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
    off_t before = file_size(path);
    /* About 24 MB in commits of one page each: past the thread's 16 MB mark. */
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
 * over once it passes 64 MB: 160 MB written make it start over twice at least. */
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
    /* 40000 pages, four to a commit; the table is emptied now and then so the database file
     * stays small and the log is what grows. Each transaction takes the process's write
     * turn, as the product's connections do. */
    struct sqlbusy_turn turn = {0};
    for (int i = 0; i < 10000; i++) {
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
    print_message("after 160 MB of writes: the log started over %lu times; its file has %lld "
                  "bytes (%ld reads meanwhile)\n",
                  restarts, (long long)size, r.reads);
    assert_true(r.reads > 1000);
    assert_true(restarts >= 2);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_in_the_thread),
        cmocka_unit_test(test_log_starts_over_under_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
