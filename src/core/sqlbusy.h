/* Waiting for another SQLite connection's write lock. SQLite's own busy timeout sleeps in
 * steps of 1 ms and up; with many short writers (HTTP handlers, the worker) that turns a
 * microseconds-long wait into milliseconds. This handler yields first, then sleeps a little
 * longer each time, until timeout_ms have passed. */
#ifndef CRMLOG_SQLBUSY_H
#define CRMLOG_SQLBUSY_H

#include <sqlite3.h>

/* Installs the handler on db (replacing any busy timeout). */
void sqlbusy_install(sqlite3 *db, int timeout_ms);

#endif
