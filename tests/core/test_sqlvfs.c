/* The "crmlog" VFS: a commit reaches the log in one write, and the log on disk is at every
 * commit what SQLite would have written itself, up to its last frame (then zeros to the end
 * of the page).
 * - White-box (the .c is included): a model runs random frame writes, rewrites in place,
 *   reads and restarts through the layer and straight into a copy, and compares the two
 *   files wherever SQLite could look.
 * - Under the layer a spy VFS checks that nothing is pending when SQLite changes a lock on
 *   the log's index or publishes a commit (the barrier), and fails a write on request: the
 *   commit whose frames it was must fail.
 * - A copy of the database and its log taken right after a commit (no index, so SQLite
 *   rebuilds it from the log and checks every frame's checksum) must hold every committed
 *   row; and a process killed in a transaction loses only that transaction. */
#define _GNU_SOURCE 1 /* for core/sqlvfs.c, included below */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/sqlvfs.c"

/* ---------- the spy: the platform's VFS, watched ---------- */

struct sfile {
    sqlite3_file base;
    sqlite3_file *real;
    int is_log;
};

static sqlite3_vfs *platform;
static sqlite3_vfs spy;
static int fail_log_writes;     /* the next log writes fail while > 0 */
static int log_writes_mid_page; /* writes to a log that ended inside a page */
static int pending_seen;        /* a lock change or barrier found bytes still pending above */
static int barriers;

#define SREAL(f) (((struct sfile *)(f))->real)

/* The layer's file above this one (the layer's own file holds this one at REAL_OFFSET). */
static size_t pending_above(sqlite3_file *f)
{
    struct vfile *v = (struct vfile *)((char *)f - REAL_OFFSET);
    return v->log ? v->log->len : 0;
}

static int s_close(sqlite3_file *f)
{
    return SREAL(f)->pMethods->xClose(SREAL(f));
}
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return SREAL(f)->pMethods->xRead(SREAL(f), b, n, o);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (((struct sfile *)f)->is_log && fail_log_writes > 0) {
        fail_log_writes--;
        return SQLITE_IOERR_WRITE;
    }
    if (((struct sfile *)f)->is_log && (o + n) % FS_PAGE) log_writes_mid_page++;
    return SREAL(f)->pMethods->xWrite(SREAL(f), b, n, o);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return SREAL(f)->pMethods->xTruncate(SREAL(f), n);
}
static int s_sync(sqlite3_file *f, int flags)
{
    return SREAL(f)->pMethods->xSync(SREAL(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return SREAL(f)->pMethods->xFileSize(SREAL(f), n);
}
static int s_lock(sqlite3_file *f, int l)
{
    return SREAL(f)->pMethods->xLock(SREAL(f), l);
}
static int s_unlock(sqlite3_file *f, int l)
{
    return SREAL(f)->pMethods->xUnlock(SREAL(f), l);
}
static int s_reserved(sqlite3_file *f, int *out)
{
    return SREAL(f)->pMethods->xCheckReservedLock(SREAL(f), out);
}
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{
    return SREAL(f)->pMethods->xFileControl(SREAL(f), op, arg);
}
static int s_sector(sqlite3_file *f)
{
    return SREAL(f)->pMethods->xSectorSize(SREAL(f));
}
static int s_devchar(sqlite3_file *f)
{
    return SREAL(f)->pMethods->xDeviceCharacteristics(SREAL(f));
}
static int s_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return SREAL(f)->pMethods->xShmMap(SREAL(f), pg, sz, ext, pp);
}
static int s_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    if (pending_above(f)) pending_seen++;
    return SREAL(f)->pMethods->xShmLock(SREAL(f), off, n, flags);
}
static void s_shm_barrier(sqlite3_file *f)
{
    barriers++;
    if (pending_above(f)) pending_seen++;
    SREAL(f)->pMethods->xShmBarrier(SREAL(f));
}
static int s_shm_unmap(sqlite3_file *f, int del)
{
    return SREAL(f)->pMethods->xShmUnmap(SREAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return SREAL(f)->pMethods->xFetch(SREAL(f), o, n, pp);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return SREAL(f)->pMethods->xUnfetch(SREAL(f), o, p);
}

static const sqlite3_io_methods spy_io = {
    .iVersion = 3,
    .xClose = s_close,
    .xRead = s_read,
    .xWrite = s_write,
    .xTruncate = s_truncate,
    .xSync = s_sync,
    .xFileSize = s_size,
    .xLock = s_lock,
    .xUnlock = s_unlock,
    .xCheckReservedLock = s_reserved,
    .xFileControl = s_fcntl,
    .xSectorSize = s_sector,
    .xDeviceCharacteristics = s_devchar,
    .xShmMap = s_shm_map,
    .xShmLock = s_shm_lock,
    .xShmBarrier = s_shm_barrier,
    .xShmUnmap = s_shm_unmap,
    .xFetch = s_fetch,
    .xUnfetch = s_unfetch,
};

static int s_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    struct sfile *p = (struct sfile *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = platform->xOpen(platform, name, p->real, flags, out);
    if (rc != SQLITE_OK) {
        if (p->real->pMethods) p->real->pMethods->xClose(p->real);
        return rc;
    }
    assert_true(p->real->pMethods->iVersion >= 3);
    p->is_log = (flags & SQLITE_OPEN_WAL) != 0;
    p->base.pMethods = &spy_io;
    return SQLITE_OK;
}

/* The spy becomes the default VFS, so the layer (registered after it) sits on it. */
static void spy_register(void)
{
    platform = sqlite3_vfs_find(NULL);
    spy = *platform;
    spy.zName = "spy";
    spy.pNext = NULL;
    spy.szOsFile = (int)sizeof(struct sfile) + platform->szOsFile;
    spy.xOpen = s_open;
    assert_int_equal(sqlite3_vfs_register(&spy, 1), SQLITE_OK);
    assert_int_equal(sqlvfs_register(), SQLITE_OK);
    assert_ptr_equal(real_vfs, &spy);
}

struct fx {
    char dir[40], path[64], copy_dir[40], copy[64];
};

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) print_message("%s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void ok_integrity(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* A connection that never checkpoints, so everything committed stays in the log. */
static sqlite3 *open_db(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlvfs_register(), SQLITE_OK);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0");
    return db;
}

static void fx_open(struct fx *f, sqlite3 **db)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-sqlvfs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    snprintf(f->copy_dir, sizeof f->copy_dir, "/tmp/crmlog-sqlvfs-copy-XXXXXX");
    assert_non_null(mkdtemp(f->copy_dir));
    snprintf(f->copy, sizeof f->copy, "%s/t.db", f->copy_dir);
    *db = open_db(f->path);
    exec_ok(*db, "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, b BLOB NOT NULL);"
                 "CREATE INDEX t_n ON t (n)");
}

static void rm_files(const char *path)
{
    const char *suffixes[] = {"-wal", "-shm", ""};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char file[96];
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

static void fx_close(struct fx *f, sqlite3 *db)
{
    sqlite3_close(db);
    rm_files(f->path);
    rm_files(f->copy);
    rmdir(f->dir);
    rmdir(f->copy_dir);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The database and its log as they are on disk now, opened elsewhere: SQLite recovers the
 * log from its frames alone. Returns the rows and the sum of n. */
static void recovered(struct fx *f, int64_t *rows, int64_t *sum)
{
    char from[96], to[96];
    rm_files(f->copy);
    copy_file(f->path, f->copy);
    snprintf(from, sizeof from, "%s-wal", f->path);
    snprintf(to, sizeof to, "%s-wal", f->copy);
    copy_file(from, to);
    sqlite3 *db = open_db(f->copy);
    ok_integrity(db);
    *rows = one_int(db, "SELECT count(*) FROM t");
    *sum = one_int(db, "SELECT coalesce(sum(n), 0) FROM t");
    sqlite3_close(db);
}

/* Inserts rows [from, from + count) with blobs of len bytes, in one transaction. */
static void insert_rows(sqlite3 *db, int from, int count, int len)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE k(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
             " INSERT INTO t SELECT i, i, randomblob(%d) FROM k",
             from, from + count - 1, len);
    exec_ok(db, sql);
}

/* ---------- the model: the layer over an in-memory file, against direct writes ---------- */

#define M_PAGE 4096 /* a commit of 31 frames or more takes two writes */
#define M_FRAME (FRAME_HDR_LEN + M_PAGE)
#define M_MAX (HDR_LEN + 2000 * M_FRAME)

static unsigned char disk[M_MAX], ref[M_MAX];
static sqlite3_int64 disk_len, ref_len;

static int m_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    (void)f;
    assert_true(o >= 0 && o + n <= M_MAX);
    memcpy(disk + o, b, (size_t)n);
    if (o + n > disk_len) disk_len = o + n;
    return SQLITE_OK;
}

static int m_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    (void)f;
    memcpy(b, disk + o, (size_t)n);
    return SQLITE_OK;
}

static const sqlite3_io_methods model_io = {.iVersion = 1, .xWrite = m_write, .xRead = m_read};

static void both_write(struct vfile *v, const unsigned char *b, int n, sqlite3_int64 o)
{
    assert_int_equal(v_write(&v->base, b, n, o), SQLITE_OK);
    memcpy(ref + o, b, (size_t)n);
    if (o + n > ref_len) ref_len = o + n;
}

/* Nothing pending, and the file as written directly up to valid (the end of the current
 * log's last frame). After a commit or a new log's header (padded), zeros from there to the
 * end of the page: such a write never makes the kernel read a page in first. */
static void same_files(const struct vfile *v, sqlite3_int64 valid, int padded)
{
    assert_int_equal(v->len, 0);
    assert_memory_equal(disk, ref, (size_t)valid);
    sqlite3_int64 page_end = (valid + FS_PAGE - 1) / FS_PAGE * FS_PAGE;
    for (sqlite3_int64 i = valid; padded && i < page_end; i++)
        assert_int_equal(disk[i], 0);
    assert_true(disk_len >= (padded ? page_end : valid));
    assert_true(disk_len <= (ref_len + FS_PAGE - 1) / FS_PAGE * FS_PAGE);
}

static void fill(unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rand();
}

static void put_be32(unsigned char *b, unsigned v)
{
    b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
}

/* Random transactions as SQLite writes them: frames appended, some pages rewritten in place
 * and checksums rewritten before the commit frame, reads between, the log starting over.
 * Wherever SQLite could look (a read, a commit, a lock), the file is the one written
 * directly, as far as the current log's frames go. */
static void test_model(void **state)
{
    (void)state;
    srand(20261130);
    sqlite3_file m = {.pMethods = &model_io};
    struct vfile v = {.real = &m, .is_log = 1, .base = {.pMethods = &io[0]}};
    disk_len = ref_len = 0;
    unsigned char salt[8], hdr[HDR_LEN], fh[FRAME_HDR_LEN], page[M_PAGE];
    int frames = 0, commits = 0, restarts = 0, rewrites = 0;
    for (int round = 0; round < 3000; round++) {
        int op = rand() % 10;
        if (op == 0 || frames > 1900 || round == 0) { /* the log starts over */
            fill(salt, sizeof salt);
            fill(hdr, sizeof hdr);
            memcpy(hdr + 16, salt, sizeof salt);
            both_write(&v, hdr, HDR_LEN, 0);
            frames = 0;
            restarts++;
            same_files(&v, HDR_LEN, 1);
            continue;
        }
        sqlite3_int64 valid = HDR_LEN + (sqlite3_int64)frames * M_FRAME;
        if (op == 1) { /* SQLite reads the log (its header, or a frame of the current log) */
            sqlite3_int64 off = rand() % valid;
            int n = (int)(valid - off < M_FRAME ? valid - off : M_FRAME);
            unsigned char got[M_FRAME];
            assert_int_equal(v_read(&v.base, got, n, off), SQLITE_OK);
            assert_memory_equal(got, ref + off, (size_t)n);
            same_files(&v, valid, 0);
            continue;
        }
        /* A transaction: frames, maybe rewrites of its own earlier frames, then its commit
         * frame (or, as a spill, no commit yet). */
        int first = frames, n = 1 + rand() % 70, commit = rand() % 4 != 0;
        for (int k = 0; k < n; k++) {
            int last = k == n - 1;
            if (k > 0 && !last && rand() % 6 == 0) {
                int j = first + rand() % (frames - first);
                sqlite3_int64 at = HDR_LEN + (sqlite3_int64)j * M_FRAME;
                if (rand() % 2) {
                    fill(page, sizeof page);
                    both_write(&v, page, M_PAGE, at + FRAME_HDR_LEN);
                } else {
                    memcpy(fh, ref + at, sizeof fh);
                    fill(fh + 16, 8); /* new checksums */
                    both_write(&v, fh, FRAME_HDR_LEN, at);
                }
                rewrites++;
            }
            fill(fh, sizeof fh);
            put_be32(fh + 4, last && commit ? 1000 : 0);
            memcpy(fh + 8, salt, sizeof salt);
            fill(page, sizeof page);
            sqlite3_int64 at = HDR_LEN + (sqlite3_int64)frames * M_FRAME;
            both_write(&v, fh, FRAME_HDR_LEN, at);
            both_write(&v, page, M_PAGE, at + FRAME_HDR_LEN);
            frames++;
        }
        valid = HDR_LEN + (sqlite3_int64)frames * M_FRAME;
        if (commit) {
            same_files(&v, valid, 1); /* the commit frame wrote everything */
            commits++;
        } else if (rand() % 2) {
            assert_int_equal(flush(&v, 0), SQLITE_OK); /* a lock change or a barrier */
            same_files(&v, valid, 0);
        }
    }
    assert_int_equal(flush(&v, 0), SQLITE_OK);
    same_files(&v, HDR_LEN + (sqlite3_int64)frames * M_FRAME, 0);
    print_message("%d commits, %d rewrites, %d restarts\n", commits, rewrites, restarts);
    assert_true(commits > 100 && rewrites > 100 && restarts > 10);
    mem_free(v.buf);
}

static void test_one_write_per_commit(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    struct sqlvfs_stats a, b;
    sqlvfs_stats(&a);
    insert_rows(db, 1, 40, 2000); /* about 25 pages: 50 writes asked */
    sqlvfs_stats(&b);
    uint64_t writes = b.log_writes - a.log_writes, calls = b.log_syscalls - a.log_syscalls;
    print_message("one commit: %llu writes asked, %llu made\n", (unsigned long long)writes,
                  (unsigned long long)calls);
    assert_true(writes >= 40);
    assert_true(calls <= 2); /* the log's header (a new log), then the commit */

    /* Another connection sees it at once, and so does a copy of the files. */
    sqlite3 *other = open_db(f.path);
    assert_int_equal(one_int(other, "SELECT count(*) FROM t"), 40);
    sqlite3_close(other);
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 40);
    assert_int_equal(sum, 40 * 41 / 2);
    fx_close(&f, db);
}

/* The number of pages a passive checkpoint of db writes into the database. */
static int checkpoint_pages(sqlite3 *db)
{
    int frames = -1, done = -1;
    assert_int_equal(
        sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &done),
        SQLITE_OK);
    return done;
}

static uint64_t pauses_now(void)
{
    struct sqlvfs_stats st;
    sqlvfs_stats(&st);
    return st.pauses;
}

/* A paced thread pauses after every n writes to a database file, never for its log's; one
 * that is not paced (again) never pauses. */
static void test_paced_checkpoint(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    sqlvfs_pace(1, 1);
    uint64_t p0 = pauses_now();
    insert_rows(db, 1, 100, 3000); /* only the log is written */
    assert_int_equal(pauses_now(), p0);
    int frames = checkpoint_pages(db); /* every frame, so at least one write per page */
    uint64_t p1 = pauses_now();
    print_message("a checkpoint of %d frames paused %llu times\n", frames,
                  (unsigned long long)(p1 - p0));
    assert_true(frames >= 100);
    assert_true(p1 - p0 >= 100);

    sqlvfs_pace(4, 1); /* a pause per four writes */
    insert_rows(db, 101, 100, 3000);
    checkpoint_pages(db);
    uint64_t p2 = pauses_now();
    assert_true(p2 - p1 >= 25 && p2 - p1 <= (p1 - p0) / 4 + 2);

    sqlvfs_pace(0, 0);
    insert_rows(db, 201, 100, 3000);
    checkpoint_pages(db);
    assert_int_equal(pauses_now(), p2);
    fx_close(&f, db);
}

/* After another connection made the log start over, a commit is still one write: the new
 * salts in its frames tell this connection that its appends begin again at the start. */
static void test_one_write_after_a_restart_elsewhere(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    insert_rows(db, 1, 200, 1500); /* this connection's appends reach far */
    sqlite3 *other = open_db(f.path);
    exec_ok(other, "PRAGMA wal_checkpoint(RESTART)");
    insert_rows(other, 201, 1, 100); /* the log starts over, from the other connection */
    sqlite3_close(other);
    struct sqlvfs_stats a, b;
    sqlvfs_stats(&a);
    insert_rows(db, 202, 20, 1500);
    sqlvfs_stats(&b);
    print_message("after a restart elsewhere: %llu writes asked, %llu made\n",
                  (unsigned long long)(b.log_writes - a.log_writes),
                  (unsigned long long)(b.log_syscalls - a.log_syscalls));
    assert_true(b.log_writes - a.log_writes >= 20);
    assert_true(b.log_syscalls - a.log_syscalls <= 1);
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 221);
    fx_close(&f, db);
}

/* Commits small and large (past one write's 128 KiB), each found complete on disk, and
 * every write to the log ending at the end of a page: a large commit's first writes stop
 * at the last page boundary, its last goes on with zeros after its last frame. */
static void test_every_commit_on_disk(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    const int sizes[] = {1, 3, 300, 1, 700, 2, 90};
    int next = 1;
    log_writes_mid_page = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        insert_rows(db, next, sizes[i], 1500);
        next += sizes[i];
        int64_t rows, sum;
        recovered(&f, &rows, &sum);
        assert_int_equal(rows, next - 1);
        assert_int_equal(sum, (int64_t)(next - 1) * next / 2);
        char wal[sizeof f.path + 4];
        snprintf(wal, sizeof wal, "%s-wal", f.path);
        struct stat st;
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_size % FS_PAGE, 0);
    }
    assert_int_equal(log_writes_mid_page, 0);
    fx_close(&f, db);
}

/* A transaction bigger than its cache spills pages to the log before it commits, then
 * writes some of them again in place and rewrites the checksums after them: those writes
 * are not appends, and the commit must still be whole on disk. */
static void test_spill_and_rewrite(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    insert_rows(db, 1, 50, 100);
    exec_ok(db, "PRAGMA cache_size=10");
    exec_ok(db, "BEGIN");
    insert_rows(db, 51, 400, 1500);
    exec_ok(db, "UPDATE t SET n = n + 1000000 WHERE id <= 50"); /* pages spilled already */
    exec_ok(db, "COMMIT");
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 450);
    assert_int_equal(sum, (int64_t)450 * 451 / 2 + 50 * 1000000);
    fx_close(&f, db);
}

/* A spilled transaction rolled back leaves nothing behind to be written later over the log
 * another connection appends to meanwhile. */
static void test_rollback_after_spill(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    insert_rows(db, 1, 10, 100);
    exec_ok(db, "PRAGMA cache_size=10");
    exec_ok(db, "BEGIN");
    insert_rows(db, 11, 400, 1500);
    exec_ok(db, "ROLLBACK");
    sqlite3 *other = open_db(f.path);
    insert_rows(other, 11, 30, 1500);
    insert_rows(db, 41, 5, 100);
    insert_rows(other, 46, 5, 100);
    sqlite3_close(other);
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 50);
    assert_int_equal(sum, 50 * 51 / 2);
    fx_close(&f, db);
}

/* Killed in the middle of a big transaction (its spilled frames partly in the buffer): every
 * transaction committed before is there, nothing of the killed one. */
static void test_killed_mid_transaction(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    sqlite3_close(db);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        sqlite3 *c = open_db(f.path);
        int next = 1;
        for (int i = 0; i < 20; i++) {
            insert_rows(c, next, 1 + i * 7, 1200);
            next += 1 + i * 7;
            if (write(fds[1], &next, sizeof next) != sizeof next) _exit(1);
        }
        sqlite3_exec(c, "PRAGMA cache_size=10; BEGIN", NULL, NULL, NULL);
        for (int i = 0; i < 50; i++) {
            char sql[96];
            snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d, %d, randomblob(3000))", next + i,
                     next + i);
            sqlite3_exec(c, sql, NULL, NULL, NULL);
        }
        raise(SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    int next = 0, got;
    while (read(fds[0], &got, sizeof got) == sizeof got)
        next = got;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(next > 1);
    db = open_db(f.path);
    ok_integrity(db);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), next - 1);
    assert_int_equal(one_int(db, "SELECT max(id) FROM t"), next - 1);
    fx_close(&f, db);
}

/* Without memory for a buffer, every write goes straight through, and commits still work. */
static void test_no_memory_for_a_buffer(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    sqlite3 *fresh = open_db(f.path); /* no buffer yet */
    struct sqlvfs_stats a, b;
    sqlvfs_stats(&a);
    mem_fail_after(0);
    int rc = sqlite3_exec(fresh, "INSERT INTO t VALUES (1, 1, zeroblob(100))", NULL, NULL, NULL);
    mem_fail_after(-1);
    sqlvfs_stats(&b);
    assert_int_equal(rc, SQLITE_OK);
    assert_true(b.log_syscalls - a.log_syscalls >= b.log_writes - a.log_writes - 1);
    sqlite3_close(fresh);
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 1);
    fx_close(&f, db);
}

/* Nothing is pending when SQLite changes a lock on the log's index or publishes a commit,
 * whatever the transaction: small, large, spilled, rolled back. */
static void test_nothing_pending_at_locks(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    pending_seen = barriers = 0;
    insert_rows(db, 1, 10, 100);
    insert_rows(db, 11, 300, 1500); /* past one write */
    exec_ok(db, "PRAGMA cache_size=10");
    exec_ok(db, "BEGIN");
    insert_rows(db, 311, 400, 1500); /* spilled */
    exec_ok(db, "ROLLBACK");
    exec_ok(db, "BEGIN");
    insert_rows(db, 311, 400, 1500);
    exec_ok(db, "UPDATE t SET n = n + 1 WHERE id <= 20");
    exec_ok(db, "COMMIT");
    assert_true(barriers >= 3);
    assert_int_equal(pending_seen, 0);
    fx_close(&f, db);
}

/* A write that fails for the commit frame fails the commit, and nothing of it shows. */
static void test_failed_write_fails_the_commit(void **state)
{
    (void)state;
    struct fx f;
    sqlite3 *db;
    fx_open(&f, &db);
    insert_rows(db, 1, 10, 100);
    fail_log_writes = 1;
    int rc = sqlite3_exec(db, "INSERT INTO t VALUES (11, 11, zeroblob(500))", NULL, NULL, NULL);
    fail_log_writes = 0;
    assert_int_not_equal(rc, SQLITE_OK);
    sqlite3 *other = open_db(f.path);
    assert_int_equal(one_int(other, "SELECT count(*) FROM t"), 10);
    sqlite3_close(other);
    insert_rows(db, 11, 5, 100); /* and the next commit works */
    int64_t rows, sum;
    recovered(&f, &rows, &sum);
    assert_int_equal(rows, 15);
    fx_close(&f, db);
}

int main(void)
{
    spy_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_nothing_pending_at_locks),
        cmocka_unit_test(test_failed_write_fails_the_commit),
        cmocka_unit_test(test_one_write_per_commit),
        cmocka_unit_test(test_paced_checkpoint),
        cmocka_unit_test(test_one_write_after_a_restart_elsewhere),
        cmocka_unit_test(test_every_commit_on_disk),
        cmocka_unit_test(test_spill_and_rewrite),
        cmocka_unit_test(test_rollback_after_spill),
        cmocka_unit_test(test_killed_mid_transaction),
        cmocka_unit_test(test_no_memory_for_a_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
