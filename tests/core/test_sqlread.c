/* Reads of a database through the "crmlog" VFS, on the platform's own (test_sqlvfs puts a
 * spy under it, so this is a program of its own): a page the kernel does not hold brings
 * the aligned 128 KiB around it into the kernel's cache, and every read, from the cache or
 * not, past the end or not, returns what the platform's read would. */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/sqlvfs.h"

#define PAGE 4096
#define WINDOW_PAGES (128 * 1024 / PAGE)

struct fx {
    char dir[40], path[64];
    long pages; /* the file's size, in pages */
};

/* A database of about 8 MB (rows of 4000 random bytes), closed. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-sqlread-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    assert_int_equal(sqlvfs_register(), SQLITE_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL);"
                                  "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k"
                                  " WHERE i < 2000) INSERT INTO t SELECT i, randomblob(4000)"
                                  " FROM k",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    f->pages = (long)(st.st_size / PAGE);
    assert_true(f->pages > 1500);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Drops the file's pages from the kernel's cache (they are clean once synced). */
static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
}

/* How many of the n pages from page first the kernel holds (mincore faults nothing in). */
static long resident(const char *path, long first, long n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    close(fd);
    unsigned char vec[WINDOW_PAGES * 64];
    assert_true(n <= (long)sizeof vec);
    assert_int_equal(mincore((char *)m + first * PAGE, (size_t)n * PAGE, vec), 0);
    long held = 0;
    for (long i = 0; i < n; i++)
        held += vec[i] & 1;
    munmap(m, (size_t)st.st_size);
    return held;
}

/* The connection's database file, as SQLite reads it (through the VFS). */
static sqlite3_file *db_file(sqlite3 *db)
{
    sqlite3_file *file = NULL;
    assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file), SQLITE_OK);
    assert_non_null(file);
    return file;
}

/* The same bytes as a plain read of the file. */
static void same_as_file(const char *path, const unsigned char *got, int n, sqlite3_int64 off)
{
    unsigned char want[2 * PAGE];
    assert_true(n <= (int)sizeof want);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, want, (size_t)n, off), n);
    close(fd);
    assert_memory_equal(got, want, (size_t)n);
}

static void wait_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void test_a_miss_reads_around(void **state)
{
    struct fx *f = *state;
    long far = (f->pages / 4) & ~(long)(WINDOW_PAGES - 1);
    long near = (f->pages / 2) & ~(long)(WINDOW_PAGES - 1);
    drop_cache(f->path);
    long left = resident(f->path, near, WINDOW_PAGES) + resident(f->path, far, WINDOW_PAGES);
    if (left > 2) fail_msg("the kernel kept %ld of the pages it was told to drop", left);

    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_file *file = db_file(db);
    unsigned char buf[PAGE];
    sqlite3_int64 off = (sqlite3_int64)(near + 5) * PAGE;
    assert_int_equal(file->pMethods->xRead(file, buf, PAGE, off), SQLITE_OK);
    same_as_file(f->path, buf, PAGE, off);

    /* The kernel reads the window in the background: all of it soon, and nothing far off. */
    long held = 0;
    for (int i = 0; i < 300 && (held = resident(f->path, near, WINDOW_PAGES)) < WINDOW_PAGES; i++)
        wait_ms(10);
    if (held < WINDOW_PAGES)
        fail_msg("after a read of one page, %ld of the %d pages around it are in memory", held,
                 WINDOW_PAGES);
    assert_int_equal(resident(f->path, far, WINDOW_PAGES), 0);

    /* A page of the window now comes from the cache, with the file's bytes. */
    off = (sqlite3_int64)(near + WINDOW_PAGES - 1) * PAGE;
    assert_int_equal(file->pMethods->xRead(file, buf, PAGE, off), SQLITE_OK);
    same_as_file(f->path, buf, PAGE, off);
    sqlite3_close(db);
}

static void test_reads_are_the_files(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_file *file = db_file(db);
    unsigned char buf[2 * PAGE];
    srand(7);
    for (int round = 0; round < 2; round++) {
        if (round) drop_cache(f->path); /* the first round from the cache, then from disk */
        for (int i = 0; i < 200; i++) {
            int n = 1 + rand() % (int)sizeof buf;
            sqlite3_int64 off = (sqlite3_int64)rand() % ((sqlite3_int64)f->pages * PAGE - n);
            assert_int_equal(file->pMethods->xRead(file, buf, n, off), SQLITE_OK);
            same_as_file(f->path, buf, n, off);
        }
    }
    /* Past the end: the platform's answer, a short read with the rest zeros. */
    sqlite3_int64 end = (sqlite3_int64)f->pages * PAGE;
    memset(buf, 0xab, sizeof buf);
    assert_int_equal(file->pMethods->xRead(file, buf, 2 * PAGE, end - PAGE),
                     SQLITE_IOERR_SHORT_READ);
    same_as_file(f->path, buf, PAGE, end - PAGE);
    for (int i = PAGE; i < 2 * PAGE; i++)
        assert_int_equal(buf[i], 0);
    /* And the database reads whole through it. */
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*), sum(length(b)) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 2000);
    assert_int_equal(sqlite3_column_int64(st, 1), 2000 * 4000);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_miss_reads_around, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_are_the_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
