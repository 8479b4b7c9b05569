#define _GNU_SOURCE 1 /* preadv2 */
#include "sqlvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "log.h"
#include "mem.h"

/* Where SQLite could look at a log, nothing of it waits here: before any read, sync, size
 * query, truncation or close of the log, and before any lock change or memory barrier on
 * its write-ahead index (a commit becomes visible through the index, after a barrier), the
 * pending bytes are written. Between those points SQLite only appends frames, so the file
 * is at every moment that matters what it would be without this layer; a crash loses only
 * what was not committed yet, as it would anyway. A commit is written in full as soon as
 * its last frame is complete, so its write error is the commit's; the other points only
 * ever find the buffer empty, except after a spill of a transaction too big for the cache,
 * whose frames are written at the next of them. */

#define HDR_LEN 32       /* a log's header */
#define FRAME_HDR_LEN 24 /* a frame's header; the page follows */
/* The most one write may carry: the unix VFS writes at most 128 KiB - 1 bytes per pwrite
 * (it masks the length with 0x1ffff) and takes a write of 0 bytes for a full disk. */
#define WRITE_MAX 0x1ffff
/* A write that ends inside a page of the file system's cache that is not there makes the
 * kernel read that page from the disk first, in the writer's time: the log's frames (4120
 * bytes) end anywhere in a page, and the page past a commit is an old one, long since
 * written and often dropped from memory (seen: the writer blocked up to 10 ms in pwrite,
 * reading). So the write that ends a commit goes on with zeros to the end of its last page,
 * and a new log's header (written only while the log holds no frame) with zeros to the end
 * of the first: bytes past the log's last frame, which SQLite never reads as frames (a
 * frame counts only with the log's current salts and a checksum that follows from the
 * frames before it), and which the next append overwrites. Only there: other writes may
 * end before frames that count (a spilled transaction's frames are written with no salts,
 * and their headers again at the commit). */
#define FS_PAGE 4096
/* A read of a database page the kernel does not hold waits for the disk, and the kernel
 * reads that page alone when reads are random (an index is). On this machine the kernel
 * drops file pages unused for about a minute, and each such read took the server's writer
 * 5 to 20 ms, with every request of its batch waiting. So a read that would wait asks the
 * kernel first to read the whole aligned 128 KiB around it (asynchronously; the read then
 * waits only for its own page, in the same round trip), as it does around a fault in a
 * mapped file: the next reads nearby find their pages there. Only the page cache grows, not
 * the process. */
#define READ_AROUND (128 * 1024)

struct vfile {
    sqlite3_file base;
    sqlite3_file *real; /* the platform's file, in the same allocation */
    int is_log;         /* a write-ahead log */
    struct vfile *log;  /* a database: its log while open (same connection) */
    struct vfile *db;   /* a log: its database */
    unsigned char *buf; /* a log: appends not yet written, at [off, off + len) */
    size_t len;
    sqlite3_int64 off;
    sqlite3_int64 end;     /* where this handle's appends reached in this log generation */
    unsigned char salt[8]; /* the generation: the salts every frame header carries */
    int commit;            /* the last append is a commit frame's header: its page ends it */
    int fd;                /* a database: the platform file's descriptor (reads around), or -1 */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs vfs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc;
static atomic_uint_fast64_t n_writes, n_syscalls, n_pauses;
/* sqlvfs_pace, for the calling thread: writes between pauses (0: none), the pause, the count. */
static _Thread_local int tl_pace_writes, tl_pace_us, tl_paced;

#define REAL(f) (((struct vfile *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

static int raw_write(struct vfile *p, const void *data, int amt, sqlite3_int64 off)
{
    atomic_fetch_add_explicit(&n_syscalls, 1, memory_order_relaxed);
    return p->real->pMethods->xWrite(p->real, data, amt, off);
}

/* Writes what is pending, then zeros to the end of the page when it ends a commit. On an
 * error the bytes are dropped (SQLite fails the commit or the lock change they belonged
 * to, and writes those frames again) unless keep: then the next point tries again, and a
 * read of them fails rather than find stale bytes. */
static int flush_as(struct vfile *p, int keep, int ends_commit)
{
    if (!p || !p->len) return SQLITE_OK;
    size_t pad = 0;
    if (ends_commit) {
        pad = (size_t)((FS_PAGE - (p->off + (sqlite3_int64)p->len) % FS_PAGE) % FS_PAGE);
        memset(p->buf + p->len, 0, pad);
    }
    int rc = raw_write(p, p->buf, (int)(p->len + pad), p->off);
    if (rc && keep) return rc;
    if (rc) p->end = p->off;
    p->len = 0;
    p->commit = 0;
    return rc;
}

static int flush(struct vfile *p, int keep)
{
    return flush_as(p, keep, 0);
}

/* Room for n more bytes and the zeros after them; 0 when there is none (the caller writes
 * through). */
static int reserve(struct vfile *p, size_t n)
{
    if (p->len + n + FS_PAGE - 1 > WRITE_MAX) return 0;
    if (!p->buf && !(p->buf = mem_alloc(WRITE_MAX))) return 0;
    return 1;
}

/* Room for more appends: writes what is pending up to the last page boundary and keeps the
 * rest (a write ending inside a page may have the kernel read it in first), or all of it
 * when it fills no page. Kept on an error, like flush's keep. */
static int make_room(struct vfile *p)
{
    size_t rest = (size_t)((p->off + (sqlite3_int64)p->len) % FS_PAGE);
    if (rest >= p->len) return flush(p, 1);
    size_t n = p->len - rest;
    int rc = raw_write(p, p->buf, (int)n, p->off);
    if (rc) return rc;
    memmove(p->buf, p->buf + n, rest);
    p->off += (sqlite3_int64)n;
    p->len = rest;
    return SQLITE_OK;
}

static unsigned be32(const unsigned char *b)
{
    return (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
}

static int log_write(struct vfile *p, const void *data, int amt, sqlite3_int64 off)
{
    atomic_fetch_add_explicit(&n_writes, 1, memory_order_relaxed);
    const unsigned char *d = data;
    /* This is the page of a commit frame: taken before a flush for room forgets it. */
    int ends_commit = amt != FRAME_HDR_LEN && p->commit;
    int rc;
    if (amt == FRAME_HDR_LEN && memcmp(p->salt, d + 8, sizeof p->salt) != 0) {
        /* The log started over (here or through another connection): a new generation. */
        memcpy(p->salt, d + 8, sizeof p->salt);
        p->end = 0;
    }
    /* An append: a frame header at or past this handle's end, or the rest of a frame
     * after it. Anything else (the log's header, a page rewritten in place, a checksum
     * rewrite) goes through, after what is pending. */
    int append =
        off >= HDR_LEN &&
        (amt == FRAME_HDR_LEN ? off >= p->end : p->len && off == p->off + (sqlite3_int64)p->len);
    if (p->len && (!append || off != p->off + (sqlite3_int64)p->len) && (rc = flush(p, 1)))
        return rc;
    if (append && !reserve(p, (size_t)amt) && (rc = make_room(p))) return rc;
    if (!append && off == 0 && amt == HDR_LEN) { /* the log starts over */
        unsigned char page[FS_PAGE] = {0};
        memcpy(page, d, HDR_LEN);
        return raw_write(p, page, FS_PAGE, 0);
    }
    if (!append || !reserve(p, (size_t)amt)) {
        if (append) p->end = off + amt;
        return raw_write(p, data, amt, off);
    }
    if (!p->len) p->off = off;
    memcpy(p->buf + p->len, d, (size_t)amt);
    p->len += (size_t)amt;
    p->end = off + amt;
    if (amt == FRAME_HDR_LEN) {
        p->commit = be32(d + 4) != 0; /* the database's size after a commit, else 0 */
        return SQLITE_OK;
    }
    return ends_commit ? flush_as(p, 0, 1) : SQLITE_OK;
}

/* ---------- io methods: the log's appends gathered, the rest passed through ---------- */

static int v_close(sqlite3_file *f)
{
    struct vfile *p = (struct vfile *)f;
    int rc = flush(p, 0);
    if (p->log) {
        int lrc = flush(p->log, 0);
        if (!rc) rc = lrc;
        p->log->db = NULL;
    }
    if (p->db) p->db->log = NULL;
    p->fd = -1; /* the platform's, closed (or kept for its locks) below */
    int crc = RM(f)->xClose(REAL(f));
    mem_free(p->buf);
    p->buf = NULL;
    return rc ? rc : crc;
}

/* A database's read: straight from the kernel's cache when it holds the bytes; else after
 * asking for the 128 KiB around them (READ_AROUND), through the platform's read. */
static int v_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    struct vfile *p = (struct vfile *)f;
    int rc = flush(p, 1);
    if (rc) return rc;
    if (p->fd >= 0 && amt > 0) {
        struct iovec iov = {buf, (size_t)amt};
        ssize_t n = preadv2(p->fd, &iov, 1, off, RWF_NOWAIT);
        if (n == amt) return SQLITE_OK;
        if (n < 0 && errno == EAGAIN)
            posix_fadvise(p->fd, off & ~(sqlite3_int64)(READ_AROUND - 1), READ_AROUND,
                          POSIX_FADV_WILLNEED);
        else if (n < 0 && errno != EINTR)
            p->fd = -1; /* no such reads here: the platform's only, from now on */
        /* a short read (the end of the file) is the platform's to complete or report */
    }
    return RM(f)->xRead(REAL(f), buf, amt, off);
}

static int v_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct vfile *p = (struct vfile *)f;
    if (p->is_log) return log_write(p, buf, amt, off);
    int rc = RM(f)->xWrite(REAL(f), buf, amt, off);
    if (tl_pace_writes && ++tl_paced >= tl_pace_writes) {
        tl_paced = 0;
        atomic_fetch_add_explicit(&n_pauses, 1, memory_order_relaxed);
        struct timespec pause = {0, (long)tl_pace_us * 1000L};
        nanosleep(&pause, NULL);
    }
    return rc;
}

static int v_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((struct vfile *)f, 1);
    return rc ? rc : RM(f)->xTruncate(REAL(f), size);
}

static int v_sync(sqlite3_file *f, int flags)
{
    int rc = flush((struct vfile *)f, 1);
    return rc ? rc : RM(f)->xSync(REAL(f), flags);
}

static int v_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct vfile *)f, 1);
    return rc ? rc : RM(f)->xFileSize(REAL(f), size);
}

static int v_lock(sqlite3_file *f, int level)
{
    return RM(f)->xLock(REAL(f), level);
}

static int v_unlock(sqlite3_file *f, int level)
{
    return RM(f)->xUnlock(REAL(f), level);
}

static int v_check_reserved(sqlite3_file *f, int *out)
{
    return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int v_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((struct vfile *)f, 1);
    return rc ? rc : RM(f)->xFileControl(REAL(f), op, arg);
}

static int v_sector_size(sqlite3_file *f)
{
    return RM(f)->xSectorSize(REAL(f));
}

static int v_device_characteristics(sqlite3_file *f)
{
    return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int v_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return RM(f)->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int v_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    /* Dropped on an error: past an unlock (whose error SQLite ignores) another connection
     * may append where these bytes would go. */
    int rc = flush(((struct vfile *)f)->log, 0);
    return rc ? rc : RM(f)->xShmLock(REAL(f), offset, n, flags);
}

/* The only point that cannot report an error: a commit reached the file already (its
 * last frame flushed it), so whatever is pending here is frames of a transaction too big
 * for the cache, kept for the next point on an error. */
static void v_shm_barrier(sqlite3_file *f)
{
    if (flush(((struct vfile *)f)->log, 1)) log_warnx("event=wal_write_failed at=barrier");
    RM(f)->xShmBarrier(REAL(f));
}

static int v_shm_unmap(sqlite3_file *f, int delete_flag)
{
    int rc = flush(((struct vfile *)f)->log, 0);
    return rc ? rc : RM(f)->xShmUnmap(REAL(f), delete_flag);
}

static int v_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return RM(f)->xFetch(REAL(f), off, amt, pp);
}

static int v_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return RM(f)->xUnfetch(REAL(f), off, p);
}

/* One table per io-methods version, so SQLite never calls a method the platform's file
 * lacks. */
#define IO_METHODS(version)                                                                        \
    {                                                                                              \
        .iVersion = (version), .xClose = v_close, .xRead = v_read, .xWrite = v_write,              \
        .xTruncate = v_truncate, .xSync = v_sync, .xFileSize = v_file_size, .xLock = v_lock,       \
        .xUnlock = v_unlock, .xCheckReservedLock = v_check_reserved,                               \
        .xFileControl = v_file_control, .xSectorSize = v_sector_size,                              \
        .xDeviceCharacteristics = v_device_characteristics,                                        \
        .xShmMap = (version) >= 2 ? v_shm_map : NULL,                                              \
        .xShmLock = (version) >= 2 ? v_shm_lock : NULL,                                            \
        .xShmBarrier = (version) >= 2 ? v_shm_barrier : NULL,                                      \
        .xShmUnmap = (version) >= 2 ? v_shm_unmap : NULL,                                          \
        .xFetch = (version) >= 3 ? v_fetch : NULL, .xUnfetch = (version) >= 3 ? v_unfetch : NULL   \
    }

static const sqlite3_io_methods io[] = {IO_METHODS(1), IO_METHODS(2), IO_METHODS(3)};

static int is_ours(const sqlite3_file *f)
{
    return f && f->pMethods >= io && f->pMethods < io + sizeof io / sizeof *io;
}

/* ---------- the VFS: files wrapped, everything else the platform's ---------- */

#define REAL_OFFSET ((sizeof(struct vfile) + 7) & ~(size_t)7)

/* The descriptor of a database file the unix VFS opened, or -1. SQLite has no call that
 * gives it, and a descriptor of our own would not do: closing any descriptor of a file
 * drops every POSIX lock the process holds on it. Its file object starts with three
 * pointers, then the descriptor (os_unix.c, unchanged for years); taken only when it is
 * the very file at that path, else reads stay the platform's alone. */
static int platform_fd(const sqlite3_file *real, const char *name)
{
    if (strncmp(real_vfs->zName, "unix", 4) != 0) return -1;
    int h;
    memcpy(&h, (const char *)real + 3 * sizeof(void *), sizeof h);
    struct stat a, b;
    if (h < 0 || fstat(h, &a) != 0 || stat(name, &b) != 0) return -1;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? h : -1;
}

static int v_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    struct vfile *p = (struct vfile *)f;
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->real = (sqlite3_file *)((char *)p + REAL_OFFSET);
    int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out);
    if (rc != SQLITE_OK) {
        if (p->real->pMethods) p->real->pMethods->xClose(p->real);
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) p->fd = platform_fd(p->real, name);
    int version = p->real->pMethods->iVersion;
    p->base.pMethods = &io[(version < 1 ? 1 : version > 3 ? 3 : version) - 1];
    if ((flags & SQLITE_OPEN_WAL) && name) {
        sqlite3_file *db = sqlite3_database_file_object(name);
        if (is_ours(db)) {
            p->is_log = 1;
            p->db = (struct vfile *)db;
            p->db->log = p;
        }
    }
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int v_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void do_register(void)
{
    if (!(real_vfs = sqlite3_vfs_find(NULL))) {
        register_rc = SQLITE_ERROR;
        return;
    }
    vfs = (sqlite3_vfs){
        .iVersion = real_vfs->iVersion >= 2 ? 2 : 1,
        .szOsFile = (int)(REAL_OFFSET + (size_t)real_vfs->szOsFile),
        .mxPathname = real_vfs->mxPathname,
        .zName = "crmlog",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = real_vfs->iVersion >= 2 ? v_current_time64 : NULL,
    };
    register_rc = sqlite3_vfs_register(&vfs, 1);
}

int sqlvfs_register(void)
{
    pthread_once(&once, do_register);
    return register_rc;
}

void sqlvfs_stats(struct sqlvfs_stats *out)
{
    out->log_writes = atomic_load(&n_writes);
    out->log_syscalls = atomic_load(&n_syscalls);
    out->pauses = atomic_load(&n_pauses);
}

void sqlvfs_pace(int writes, int pause_us)
{
    tl_pace_writes = writes > 0 && pause_us > 0 ? writes : 0;
    tl_pace_us = pause_us;
    tl_paced = 0;
}
