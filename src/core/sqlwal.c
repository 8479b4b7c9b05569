#include "sqlwal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "sqlbusy.h"

/* The log size (in pages, 16 MB) that wakes the thread: larger than SQLite's own 1000, so
 * a page written often is copied to the database once for many commits. */
#define SQLWAL_PAGES 4000
/* The log size (in pages, 64 MB) past which a checkpoint truncates it. */
#define SQLWAL_RESTART_PAGES 16000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    sqlite3 *db;
    atomic_int on;
    int stop, due, written;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* After every commit, in the committing thread: only notes that work is due. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)arg;
    (void)db;
    (void)name;
    pthread_mutex_lock(&g.lock);
    g.written = 1;
    if (pages >= SQLWAL_PAGES && !g.due) {
        g.due = 1;
        pthread_cond_signal(&g.cond);
    }
    pthread_mutex_unlock(&g.lock);
    return SQLITE_OK;
}

void sqlwal_install(sqlite3 *db)
{
    if (atomic_load(&g.on)) sqlite3_wal_hook(db, on_commit, NULL);
}

static void checkpoint(void)
{
    int frames = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(g.db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
    /* A passive checkpoint never makes the log start over: under steady load some reader
     * always holds a snapshot in it, and it grows without end (SQLite's "checkpoint
     * starvation"; a gigabyte in ten seconds of logging). Past SQLWAL_RESTART_PAGES, wait
     * for those readers (their transactions are short; writers wait meanwhile, some tens of
     * milliseconds here) so the next commit writes the log from its start again. */
    if (rc == SQLITE_OK && frames >= SQLWAL_RESTART_PAGES)
        rc = sqlite3_wal_checkpoint_v2(g.db, "main", SQLITE_CHECKPOINT_RESTART, &frames, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warnx("event=checkpoint_failed error=\"%s\"", sqlite3_errmsg(g.db));
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    while (!g.stop) {
        if (!g.due) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&g.cond, &g.lock, &until);
        }
        if (g.stop || !(g.due || g.written)) continue;
        g.due = g.written = 0;
        pthread_mutex_unlock(&g.lock);
        checkpoint();
        /* At most twenty a second: a log that cannot shrink (a long reader holds it) must
         * not keep this thread spinning. */
        struct timespec pause = {0, 50 * 1000000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

int sqlwal_start(const char *path, char *err)
{
    if (sqlite3_open_v2(path, &g.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)) {
        int rc = err_set(err, ERR_IO, "cannot open %s for checkpoints: %s", path,
                         g.db ? sqlite3_errmsg(g.db) : "out of memory");
        sqlite3_close(g.db);
        g.db = NULL;
        return rc;
    }
    sqlbusy_install(g.db, 5000);
    /* A connection that has read nothing does not know the file is in WAL mode: its
     * checkpoints would do nothing (and say so only with -1 frames). */
    if (sqlite3_exec(g.db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        int rc =
            err_set(err, ERR_IO, "cannot read %s for checkpoints: %s", path, sqlite3_errmsg(g.db));
        sqlite3_close(g.db);
        g.db = NULL;
        return rc;
    }
    g.stop = g.due = g.written = 0;
    if ((errno = pthread_create(&g.thread, NULL, run, NULL))) {
        sqlite3_close(g.db);
        g.db = NULL;
        return err_set(err, ERR_IO, "cannot start the checkpoint thread");
    }
    atomic_store(&g.on, 1);
    return 0;
}

void sqlwal_stop(void)
{
    if (!g.db) return;
    atomic_store(&g.on, 0);
    pthread_mutex_lock(&g.lock);
    g.stop = 1;
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.lock);
    pthread_join(g.thread, NULL);
    checkpoint();
    sqlite3_close(g.db);
    g.db = NULL;
}
