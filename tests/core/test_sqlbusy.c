/* The process's write turn: writers get it in the order they asked for it, and a thread
 * that holds it may take it again through another connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "core/sqlbusy.h"

static sqlite3 *mem_db(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    return db;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void wait_for_waiting(int n)
{
    for (int i = 0; i < 10000 && sqlbusy_waiting() != n; i++)
        pause_ms(1);
    assert_int_equal(sqlbusy_waiting(), n);
}

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[8];
static size_t norder;

static void got_turn(char who)
{
    pthread_mutex_lock(&order_lock);
    order[norder++] = who;
    pthread_mutex_unlock(&order_lock);
}

struct taker {
    char who;
    sqlite3 *db;
};

static void *take_and_give_back(void *p)
{
    struct taker *t = p;
    struct sqlbusy_turn turn = {0};
    sqlbusy_take(&turn);
    got_turn(t->who);
    pause_ms(1);
    sqlbusy_settle(&turn, t->db); /* no transaction open: the turn goes back */
    return NULL;
}

/* A holds the turn; B asks, then C. A gives it back and at once asks again: B, C, then A.
 * With a plain mutex A would often take it straight back (glibc's are not fair), and a
 * thread with several transactions in a row kept every other writer waiting for all of
 * them; so the round is played many times. */
static void test_turns_in_the_order_asked(void **state)
{
    (void)state;
    sqlite3 *db = mem_db();
    for (int round = 0; round < 50; round++) {
        norder = 0;
        struct sqlbusy_turn a = {0};
        sqlbusy_take(&a);
        got_turn('A');
        pthread_t tb, tc;
        struct taker b = {'B', db}, c = {'C', db};
        assert_int_equal(pthread_create(&tb, NULL, take_and_give_back, &b), 0);
        wait_for_waiting(1); /* B is waiting */
        assert_int_equal(pthread_create(&tc, NULL, take_and_give_back, &c), 0);
        wait_for_waiting(2); /* C is waiting behind B */
        sqlbusy_settle(&a, db);
        sqlbusy_take(&a);
        got_turn('A');
        sqlbusy_settle(&a, db);
        pthread_join(tb, NULL);
        pthread_join(tc, NULL);
        order[norder] = '\0';
        assert_string_equal(order, "ABCA");
    }
    sqlite3_close(db);
}

/* Two connections on one thread: the second take nests, and the turn is free again only
 * when both have settled. */
static void test_nested_on_one_thread(void **state)
{
    (void)state;
    sqlite3 *db = mem_db();
    struct sqlbusy_turn one = {0}, two = {0};
    sqlbusy_take(&one);
    sqlbusy_take(&two); /* would deadlock if it did not nest */
    sqlbusy_take(&two); /* held already: nothing more to give back */
    sqlbusy_settle(&two, db);
    assert_int_equal(two.held, 0);
    /* Still held through `one`: another thread waits. */
    norder = 0;
    pthread_t t;
    struct taker x = {'X', db};
    assert_int_equal(pthread_create(&t, NULL, take_and_give_back, &x), 0);
    wait_for_waiting(1);
    pthread_mutex_lock(&order_lock);
    size_t seen = norder;
    pthread_mutex_unlock(&order_lock);
    assert_int_equal(seen, 0);
    sqlbusy_settle(&one, db);
    pthread_join(t, NULL);
    assert_int_equal(norder, 1);
    sqlite3_close(db);
}

/* A connection in a transaction keeps the turn; it goes back once the transaction ends. */
static void test_kept_while_the_transaction_is_open(void **state)
{
    (void)state;
    sqlite3 *db = mem_db();
    struct sqlbusy_turn turn = {0};
    sqlbusy_take(&turn);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    sqlbusy_settle(&turn, db);
    assert_int_equal(turn.held, 1);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlbusy_settle(&turn, db);
    assert_int_equal(turn.held, 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turns_in_the_order_asked),
        cmocka_unit_test(test_nested_on_one_thread),
        cmocka_unit_test(test_kept_while_the_transaction_is_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
