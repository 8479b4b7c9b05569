/* Waiting for another SQLite connection's write lock. SQLite's own busy timeout sleeps in
 * steps of 1 ms and up; with many short writers (HTTP handlers, the worker) that turns a
 * microseconds-long wait into milliseconds. This handler yields first, then sleeps a little
 * longer each time, until timeout_ms have passed. */
#ifndef CRMLOG_SQLBUSY_H
#define CRMLOG_SQLBUSY_H

#include <sqlite3.h>

/* Installs the handler on db (replacing any busy timeout). */
void sqlbusy_install(sqlite3 *db, int timeout_ms);

/* Turns for this process's write transactions. Within a process, waiting on SQLite's
 * write lock means polling it (the handler above); waiting on this mutex instead, a writer
 * gets the lock the moment the one before commits, and writers take turns rather than
 * sleep and retry while others commit. A connection takes its turn before BEGIN IMMEDIATE
 * and gives it back once its transaction has ended (sqlbusy_settle sees that, however it
 * ended). Writers get it in the order they asked. Recursive: a thread may hold write
 * transactions on two connections. */
struct sqlbusy_turn {
    int held;
};
void sqlbusy_take(struct sqlbusy_turn *t);
/* Gives the turn back if db's transaction has ended. */
void sqlbusy_settle(struct sqlbusy_turn *t, sqlite3 *db);
/* How many threads wait for the turn. */
int sqlbusy_waiting(void);

#endif
