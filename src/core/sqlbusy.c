#include "sqlbusy.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

/* The wait before try n+1: a yield for the first 8 tries, then 20 us doubling up to 640 us,
 * then 1 ms each. */
static int64_t step_us(int n)
{
    if (n < 8) return 0;
    if (n < 14) return (int64_t)20 << (n - 8);
    return 1000;
}

/* The sum of step_us(0..n-1): how long n tries have waited at most. */
static int64_t waited_us(int n)
{
    if (n <= 8) return 0;
    if (n <= 14) return 20 * (((int64_t)1 << (n - 8)) - 1);
    return 1260 + (int64_t)(n - 14) * 1000;
}

/* The budget rides in the pointer: no state to own or free. */
static int sqlbusy_wait(void *arg, int tries)
{
    if (waited_us(tries) >= (int64_t)(intptr_t)arg * 1000) return 0;
    int64_t us = step_us(tries);
    if (us == 0) {
        sched_yield();
    } else {
        struct timespec ts = {0, (long)us * 1000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

void sqlbusy_install(sqlite3 *db, int timeout_ms)
{
    sqlite3_busy_handler(db, sqlbusy_wait, (void *)(intptr_t)timeout_ms);
}

/* The turn is a ticket lock: writers get it in the order they asked. A plain mutex lets
 * the thread that gives it back take it again at once (glibc's are not fair), so the worker,
 * with three transactions in a row, kept a request's batch waiting for all of them. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long next, serving; /* tickets: the next to hand out, the one whose turn it is */
    pthread_t owner;
    int depth; /* the owner's nested takes; 0 when nobody holds the turn */
} turn = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

void sqlbusy_take(struct sqlbusy_turn *t)
{
    if (t->held) return;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&turn.lock);
    if (turn.depth > 0 && pthread_equal(turn.owner, self)) {
        turn.depth++;
    } else {
        unsigned long mine = turn.next++;
        while (turn.serving != mine)
            pthread_cond_wait(&turn.cond, &turn.lock);
        turn.owner = self;
        turn.depth = 1;
    }
    pthread_mutex_unlock(&turn.lock);
    t->held = 1;
}

int sqlbusy_waiting(void)
{
    pthread_mutex_lock(&turn.lock);
    int n = (int)(turn.next - turn.serving) - (turn.depth > 0);
    pthread_mutex_unlock(&turn.lock);
    return n;
}

void sqlbusy_settle(struct sqlbusy_turn *t, sqlite3 *db)
{
    if (!t->held || !sqlite3_get_autocommit(db)) return;
    t->held = 0;
    pthread_mutex_lock(&turn.lock);
    if (--turn.depth == 0) {
        turn.serving++;
        pthread_cond_broadcast(&turn.cond);
    }
    pthread_mutex_unlock(&turn.lock);
}
