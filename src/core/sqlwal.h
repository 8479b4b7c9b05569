/* Checkpoints off the request path. SQLite checkpoints its write-ahead log in whichever
 * connection's commit crosses 1000 pages: in a server that is an HTTP handler, which then
 * copies pages and waits on fsync while its clients wait. With sqlwal_start, connections
 * opened afterwards in this process (sqlwal_install) never checkpoint themselves; a thread
 * of its own checkpoints (PASSIVE: it never blocks readers or writers) when the log has
 * grown by 16 MB, and at least once a second while anything was written. It makes the log
 * start over (RESTART: this process's writers wait meanwhile, a few milliseconds, since it
 * catches up first without them) past 64 MB once writes pause for 200 ms, and under steady
 * load past 256 MB. */
#ifndef CRMLOG_SQLWAL_H
#define CRMLOG_SQLWAL_H

#include <sqlite3.h>

/* Starts the checkpoint thread for the database at path. */
int sqlwal_start(const char *path, char *err);
/* Stops it after a last checkpoint. */
void sqlwal_stop(void);
/* Called on every new connection: hands its checkpoints to the thread when one runs. */
void sqlwal_install(sqlite3 *db);

#endif
