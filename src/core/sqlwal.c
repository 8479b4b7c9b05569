#include "sqlwal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "sqlbusy.h"
#include "sqlvfs.h"

/* The sizes are in pages (4 KiB); a test may set smaller ones before including this file. */
#ifndef SQLWAL_PAGES
/* New pages in the log (16 MB) that wake the thread: many more than SQLite's own 1000, so
 * a page written often is copied to the database once for many commits. */
#define SQLWAL_PAGES 4000
#endif
/* When a checkpoint makes the log start over. A restart holds this process's writers for a
 * few milliseconds (it copies the last pages and syncs the database in their turn), and
 * under steady load every request in flight waits it out: so past 64 MB it happens once
 * writes pause (no commit for SQLWAL_QUIET_MS), and under load only past 256 MB, four times
 * more rarely. */
#ifndef SQLWAL_QUIET_PAGES
#define SQLWAL_QUIET_PAGES 16000
#endif
#ifndef SQLWAL_RESTART_PAGES
#define SQLWAL_RESTART_PAGES 64000
#endif
#ifndef SQLWAL_QUIET_MS
#define SQLWAL_QUIET_MS 200
#endif
/* How long a restart on a pause waits for readers to leave the log: writers wait as long,
 * and a long reader (an export) only delays the restart to a later pause. */
#define SQLWAL_QUIET_WAIT_MS 50
/* Before a restart: catch-up rounds, at most, and the pages written during one that are few
 * enough to stop. */
#define SQLWAL_ROUNDS 6
#define SQLWAL_LEFT 64
/* How long the thread's checkpoints wait for locks otherwise. */
#define SQLWAL_BUSY_MS 5000
/* A passive checkpoint sleeps SQLWAL_PACE_US after every SQLWAL_PACE_PAGES pages it copies. */
#define SQLWAL_PACE_PAGES 32
#define SQLWAL_PACE_US 100

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    sqlite3 *db;
    int fd; /* the database file, to sync it outside the write turn */
    struct sqlbusy_turn turn;
    atomic_int on;
    int stop, due, written;
    int mark;               /* the log's size in pages at the last checkpoint */
    int64_t last_commit_ms; /* CLOCK_MONOTONIC */
    unsigned long restarts; /* made by the thread */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether a log of frames pages starts over, quiet_ms after the last commit. */
static int restart_due(int frames, int64_t quiet_ms)
{
    return frames >= SQLWAL_RESTART_PAGES ||
           (frames >= SQLWAL_QUIET_PAGES && quiet_ms >= SQLWAL_QUIET_MS);
}

/* After every commit, in the committing thread: only notes that work is due. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)arg;
    (void)db;
    (void)name;
    int64_t now = now_ms();
    pthread_mutex_lock(&g.lock);
    g.written = 1;
    g.last_commit_ms = now;
    if (pages < g.mark) g.mark = 0; /* the log started over */
    if (!g.due && (pages >= g.mark + SQLWAL_PAGES || pages >= SQLWAL_RESTART_PAGES)) {
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

/* Copies what it can of the log into the database, pausing 100 us every 32 pages (sqlvfs_pace:
 * it holds no lock a reader or writer waits for meanwhile); *frames is the log's size. A
 * restart's last copy, in the writers' turn, is not paced. */
static int passive(int *frames)
{
    int done = 0;
    sqlvfs_pace(SQLWAL_PACE_PAGES, SQLWAL_PACE_US);
    int rc = sqlite3_wal_checkpoint_v2(g.db, "main", SQLITE_CHECKPOINT_PASSIVE, frames, &done);
    sqlvfs_pace(0, 0);
    return rc;
}

static void sync_db(void)
{
    if (g.fd >= 0 && fdatasync(g.fd) != 0)
        log_warnx("event=checkpoint_sync_failed error=\"%s\"", strerror(errno));
}

/* Makes the log start over. Writers wait meanwhile, so it first catches up outside the
 * write turn: a passive checkpoint leaves the database file unsynced unless it copied
 * everything (which syncs the lot, tens of milliseconds on a busy disk), so each round
 * syncs it, then copies what was written during the round before; rounds get shorter until
 * few pages are left. In the turn, this process's writers wait on a mutex (woken the moment
 * it ends) rather than in SQLite's busy handler; SQLite's RESTART copies those last pages,
 * syncs, and waits for the readers still in the log (short transactions). */
static int restart(int *frames, int wait_ms)
{
    int rc = SQLITE_OK;
    for (int round = 0; rc == SQLITE_OK && round < SQLWAL_ROUNDS; round++) {
        int before = *frames;
        sync_db();
        rc = passive(frames);
        if (*frames - before < SQLWAL_LEFT) break;
    }
    sync_db();
    if (rc != SQLITE_OK) return rc;
    int done = 0;
    sqlbusy_install(g.db, wait_ms);
    sqlbusy_take(&g.turn);
    rc = sqlite3_wal_checkpoint_v2(g.db, "main", SQLITE_CHECKPOINT_RESTART, frames, &done);
    sqlbusy_settle(&g.turn, g.db);
    sqlbusy_install(g.db, SQLWAL_BUSY_MS);
    return rc;
}

static void checkpoint(void)
{
    int frames = 0, restarted = 0;
    int rc = passive(&frames);
    /* A passive checkpoint never makes the log start over: under steady load some reader
     * always holds a snapshot in it, and it grows without end (SQLite's "checkpoint
     * starvation"; a gigabyte in ten seconds of logging). */
    pthread_mutex_lock(&g.lock);
    int64_t quiet = now_ms() - g.last_commit_ms;
    pthread_mutex_unlock(&g.lock);
    if (rc == SQLITE_OK && restart_due(frames, quiet)) {
        rc = restart(&frames,
                     frames >= SQLWAL_RESTART_PAGES ? SQLWAL_BUSY_MS : SQLWAL_QUIET_WAIT_MS);
        restarted = rc == SQLITE_OK;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warnx("event=checkpoint_failed error=\"%s\"", sqlite3_errmsg(g.db));
    pthread_mutex_lock(&g.lock);
    /* After a restart the next commit starts the log over: nothing is left to look at. */
    g.mark = restarted || frames < 0 ? 0 : frames;
    g.restarts += (unsigned long)restarted;
    pthread_mutex_unlock(&g.lock);
}

static void *run(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "checkpoint");
    pthread_mutex_lock(&g.lock);
    while (!g.stop) {
        if (!g.due) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&g.cond, &g.lock, &until);
        }
        /* A log past the quiet size is looked at once a second until it starts over, so a
         * pause after steady load finds it. */
        if (g.stop || !(g.due || g.written || g.mark >= SQLWAL_QUIET_PAGES)) continue;
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
    sqlvfs_register();
    if (sqlite3_open_v2(path, &g.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)) {
        int rc = err_set(err, ERR_IO, "cannot open %s for checkpoints: %s", path,
                         g.db ? sqlite3_errmsg(g.db) : "out of memory");
        sqlite3_close(g.db);
        g.db = NULL;
        return rc;
    }
    sqlbusy_install(g.db, SQLWAL_BUSY_MS);
    /* A connection that has read nothing does not know the file is in WAL mode: its
     * checkpoints would do nothing (and say so only with -1 frames). */
    if (sqlite3_exec(g.db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        int rc =
            err_set(err, ERR_IO, "cannot read %s for checkpoints: %s", path, sqlite3_errmsg(g.db));
        sqlite3_close(g.db);
        g.db = NULL;
        return rc;
    }
    g.stop = g.due = g.written = g.mark = 0;
    g.last_commit_ms = now_ms();
    int rc = 0;
    if ((g.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = err_set(err, ERR_IO, "cannot open %s for checkpoints: %s", path, strerror(errno));
    else if ((errno = pthread_create(&g.thread, NULL, run, NULL)))
        rc = err_set(err, ERR_IO, "cannot start the checkpoint thread");
    if (rc) {
        if (g.fd >= 0) close(g.fd);
        g.fd = -1;
        sqlite3_close(g.db);
        g.db = NULL;
        return rc;
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
    if (g.fd >= 0) close(g.fd);
    g.fd = -1;
}
