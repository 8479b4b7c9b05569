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

static pthread_mutex_t turn_lock;
static pthread_once_t turn_once = PTHREAD_ONCE_INIT;

static void turn_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&turn_lock, &a);
    pthread_mutexattr_destroy(&a);
}

void sqlbusy_take(struct sqlbusy_turn *t)
{
    if (t->held) return;
    pthread_once(&turn_once, turn_init);
    pthread_mutex_lock(&turn_lock);
    t->held = 1;
}

void sqlbusy_settle(struct sqlbusy_turn *t, sqlite3 *db)
{
    if (!t->held || !sqlite3_get_autocommit(db)) return;
    t->held = 0;
    pthread_mutex_unlock(&turn_lock);
}
