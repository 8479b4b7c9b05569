/* One write per commit to the write-ahead log. SQLite writes each log frame as two pwrites
 * (its 24-byte header, then the page), so a commit of n pages makes 2n syscalls; on a VM
 * each costs microseconds, and the server's single writer pays them for every batch. The
 * "crmlog" VFS, a layer over the platform's that sqlvfs_register makes the default, gathers
 * a connection's appends to its log in memory and writes them with one pwrite once the
 * commit frame is complete. Everything else passes through unchanged. */
#ifndef CRMLOG_SQLVFS_H
#define CRMLOG_SQLVFS_H

#include <stdint.h>

/* Registers the VFS as this process's default, once (any thread, any number of times).
 * Returns 0, or an SQLite error code when there is no default VFS to build on. */
int sqlvfs_register(void);

/* Counters since the process started: writes SQLite asked of its logs, and the writes of
 * them that reached the file system. */
struct sqlvfs_stats {
    uint64_t log_writes, log_syscalls;
};
void sqlvfs_stats(struct sqlvfs_stats *out);

#endif
