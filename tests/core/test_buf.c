/* The capped buffer and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

static void test_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    /* Past the cap: refused, content intact. */
    assert_int_equal(buf_append(&b, "x", 1), ERR_TOOBIG);
    assert_int_equal(buf_puts(&b, "xy"), ERR_TOOBIG);
    assert_int_equal(buf_printf(&b, "%d", 7), ERR_TOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    /* An empty append always fits. */
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_string_equal(b.data, "0123456789");
    buf_free(&b);
    assert_null(b.data);
    buf_free(&b); /* twice is harmless */

    /* A single append larger than the cap, and one that would wrap size_t. */
    buf_init(&b, 4);
    assert_int_equal(buf_append(&b, "abcde", 5), ERR_TOOBIG);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), ERR_TOOBIG);
    assert_string_equal(b.data, "ab");
    buf_free(&b);
}

static void test_grow_printf_reset(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%03d,", i), 0);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data, "000,001,", 8);
    assert_memory_equal(b.data + 3992, "998,999,", 8);
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap > b.len);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_printf(&b, "%s=%d", "k", 5), 0);
    assert_string_equal(b.data, "k=5");
    buf_free(&b);

    /* reset on a buffer that never allocated */
    buf_init(&b, 10);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_take(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    char *s = buf_take(&b);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    mem_free(s);
    /* The buffer is usable again, with the same cap. */
    assert_int_equal(buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    buf_free(&b);
    /* Taking from an empty buffer gives "", still the caller's to free. */
    s = buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    mem_free(s);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    assert_int_equal(buf_puts(&b, "keep"), 0);
    mem_fail_after(0);
    char big[200];
    memset(big, 'z', sizeof big);
    assert_int_equal(buf_append(&b, big, sizeof big), ERR_NOMEM);
    assert_int_equal(buf_printf(&b, "%.*s", (int)sizeof big, big), ERR_NOMEM);
    mem_fail_after(-1);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    buf_free(&b);
}

static void test_err(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *text;
    } codes[] = {
        {0, "ok"},
        {ERR_NOMEM, "out of memory"},
        {ERR_INVAL, "invalid input"},
        {ERR_NOTFOUND, "not found"},
        {ERR_PARSE, "malformed input"},
        {ERR_IO, "input/output error"},
        {ERR_DB, "store error"},
        {ERR_CRM, "CRM error"},
        {ERR_CONFLICT, "needs a person's choice"},
        {ERR_ALREADY, "already logged"},
        {ERR_BUSY, "busy, try again"},
        {ERR_USAGE, "usage error"},
        {ERR_TOOBIG, "too big"},
        {ERR_UNSUPPORTED, "not supported"},
        {ERR_RETRY, "temporary failure, will retry"},
        {1, "unknown error"},
        {ERR_RETRY - 1, "unknown error"},
        {-1000, "unknown error"},
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        assert_string_equal(err_str(codes[i].code), codes[i].text);
    /* Codes are distinct and negative, in table order. */
    assert_int_equal(ERR_NOMEM, -1);
    assert_int_equal(ERR_RETRY, -14);

    char err[ERR_LEN] = "";
    assert_int_equal(err_set(err, ERR_INVAL, "bad number '%s'", "x"), ERR_INVAL);
    assert_string_equal(err, "bad number 'x'");
    assert_int_equal(err_set(NULL, ERR_IO, "ignored %d", 1), ERR_IO);
    /* A long message is cut to ERR_LEN - 1 bytes. */
    char longer[ERR_LEN * 2];
    memset(longer, 'm', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    err_set(err, ERR_PARSE, "%s", longer);
    assert_int_equal(strlen(err), ERR_LEN - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),  cmocka_unit_test(test_grow_printf_reset),
        cmocka_unit_test(test_take), cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
