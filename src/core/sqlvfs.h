/* One write per commit to the write-ahead log. SQLite writes each log frame as two pwrites
 * (its 24-byte header, then the page), so a commit of n pages makes 2n syscalls; on a VM
 * each costs microseconds, and the server's single writer pays them for every batch. The
 * "crmlog" VFS, a layer over the platform's that sqlvfs_register makes the default, gathers
 * a connection's appends to its log in memory and writes them with one pwrite once the
 * commit frame is complete, with zeros to the end of the page after it (so the kernel
 * never reads a page of the log in before the write). A read of a database page the kernel
 * does not hold asks it for the aligned 128 KiB around that page first (random reads would
 * bring in that one page only, each a wait for the disk). Everything else passes through
 * unchanged. */
#ifndef CRMLOG_SQLVFS_H
#define CRMLOG_SQLVFS_H

#include <stdint.h>

/* Registers the VFS as this process's default, once (any thread, any number of times).
 * Returns 0, or an SQLite error code when there is no default VFS to build on. */
int sqlvfs_register(void);

/* Counters since the process started: writes SQLite asked of its logs, the writes of them
 * that reached the file system, and the pauses sqlvfs_pace made. */
struct sqlvfs_stats {
    uint64_t log_writes, log_syscalls, pauses;
};
void sqlvfs_stats(struct sqlvfs_stats *out);

/* For the calling thread only: after every `writes` writes to a database file (not to a
 * log), sleep pause_us microseconds; 0 stops it. The checkpoint thread paces its copies: a
 * passive checkpoint of 16 MB is milliseconds of processor time in one stretch, and the
 * scheduler often ran it on the processor of the server's writer while the woken writer
 * waited; a sleep every few dozen pages lets the writer in (a yield does not: the writer has
 * used more than its share). */
void sqlvfs_pace(int writes, int pause_us);

#endif
