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
#include <sqlite3.h>

#include "core/err.h"
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

static void test_checkpoints_in_the_thread(void **state)
{
    (void)state;
    char dir[] = "/tmp/crmlog-sqlwal-XXXXXX", path[64], err[ERR_LEN] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; CREATE TABLE t (b BLOB)");
    sqlite3_close(db);

    assert_int_equal(sqlwal_start(path, err), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000); /* the thread's checkpoint and a commit may meet */
    sqlwal_install(db);
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
    sqlite3_close(db);
    sqlwal_stop();

    char wal[80], shm[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(wal);
    unlink(shm);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_in_the_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
