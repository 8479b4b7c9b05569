/* The call record's helpers: ISO 8601 times, status and conflict names, retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/call.h"

#define T_2026 INT64_C(1795169472345) /* 2026-11-20T10:11:12.345Z */

/* canon NULL: time_format(ms) gives the input back. */
static const struct {
    const char *text;
    int64_t ms;
    const char *canon;
} good_times[] = {
    {"2026-11-20T10:11:12.345Z", T_2026, NULL},
    {"2026-11-20T10:11:12Z", T_2026 - 345, "2026-11-20T10:11:12.000Z"},
    {"2026-11-20t10:11:12.345z", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20 10:11:12.345Z", T_2026, "2026-11-20T10:11:12.345Z"},
    /* fractions: 1..9 digits, milliseconds kept, the rest cut */
    {"2026-11-20T10:11:12.3Z", T_2026 - 45, "2026-11-20T10:11:12.300Z"},
    {"2026-11-20T10:11:12.34Z", T_2026 - 5, "2026-11-20T10:11:12.340Z"},
    {"2026-11-20T10:11:12.345678Z", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T10:11:12.345999999Z", T_2026, "2026-11-20T10:11:12.345Z"},
    /* offsets, with and without ':' */
    {"2026-11-20T12:11:12.345+02:00", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T12:11:12.345+0200", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T04:41:12.345-05:30", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T10:11:12.345+00:00", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T10:11:12.345-00:00", T_2026, "2026-11-20T10:11:12.345Z"},
    {"2026-11-20T23:11:12.345+23:59", T_2026 - 659 * 60000, "2026-11-19T23:12:12.345Z"},
    /* leap years */
    {"2024-02-29T00:00:00.000Z", INT64_C(1709164800000), NULL},
    {"2000-02-29T12:00:00.000Z", INT64_C(951825600000), NULL},
    /* the epoch and either side of it */
    {"1970-01-01T00:00:00.000Z", 0, NULL},
    {"1969-12-31T23:59:59.999Z", -1, NULL},
    {"1970-01-01T00:00:00.001Z", 1, NULL},
    {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999), NULL},
    {"2000-02-29T12:00:00.000Z", INT64_C(951825600000), NULL},
    {"2100-03-01T00:00:00.000Z", INT64_C(4107542400000), NULL},
    {"1900-01-01T00:00:00.000Z", INT64_C(-2208988800000), NULL},
    {"0000-03-01T00:00:00.000Z", INT64_C(-62162035200000), NULL},
};

static void test_time_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_times / sizeof *good_times; i++) {
        int64_t ms = 42;
        char out[32];
        print_message("%s\n", good_times[i].text);
        assert_int_equal(time_parse(good_times[i].text, &ms), 0);
        assert_int_equal(ms, good_times[i].ms);
        time_format(ms, out, sizeof out);
        assert_string_equal(out, good_times[i].canon ? good_times[i].canon : good_times[i].text);
        /* and the formatted text parses back to the same instant */
        int64_t again = 0;
        assert_int_equal(time_parse(out, &again), 0);
        assert_int_equal(again, ms);
    }
}

static const char *const bad_times[] = {
    "",
    "2026",
    "2026-11-20",
    "2026-11-20T10:11",
    "2026-11-20T10:11:12",             /* no zone */
    "2026-11-20T10:11:12.345",         /* no zone */
    "2026-11-20T10:11:12.Z",           /* empty fraction */
    "2026-11-20T10:11:12.1234567890Z", /* 10 fraction digits */
    "2026-11-20T10:11:12,345Z",
    "2026-11-20T10:11:12ZZ",
    "2026-11-20T10:11:12Z ",
    " 2026-11-20T10:11:12Z",
    "2026-11-20T10:11:12+02", /* offset without minutes */
    "2026-11-20T10:11:12+2:00",
    "2026-11-20T10:11:12+24:00",
    "2026-11-20T10:11:12+02:60",
    "2026-11-20T10:11:12UTC",
    "2026-02-29T10:11:12Z", /* not a leap year */
    "1900-02-29T10:11:12Z", /* centuries are not, unless divisible by 400 */
    "2026-02-30T10:11:12Z",
    "2026-04-31T10:11:12Z",
    "2026-00-10T10:11:12Z",
    "2026-13-10T10:11:12Z",
    "2026-11-00T10:11:12Z",
    "2026-11-32T10:11:12Z",
    "2026-11-20T24:00:00Z",
    "2026-11-20T10:60:00Z",
    "2026-11-20T10:11:61Z",
    "2026-1-20T10:11:12Z",
    "26-11-20T10:11:12Z",
    "2026/11/20T10:11:12Z",
    "2026-11-20X10:11:12Z",
    "2026-11-20T10-11-12Z",
    "+2026-11-20T10:11:12Z",
    "1700000000000",
    "yesterday",
};

static void test_time_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_times / sizeof *bad_times; i++) {
        int64_t ms = 42;
        print_message("%s\n", bad_times[i]);
        assert_int_equal(time_parse(bad_times[i], &ms), -1);
    }
}

static void test_time_format_small_buffer(void **state)
{
    (void)state;
    char out[11];
    time_format(T_2026, out, sizeof out);
    assert_string_equal(out, "2026-11-20"); /* truncated, still terminated */
    int64_t now = time_now_ms();
    assert_true(now > T_2026 - INT64_C(86400000) * 365 * 10);
}

static void test_status_names(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *name;
    } names[] = {{ST_ACTIVE, "active"},
                 {ST_UNLOGGED, "unlogged"},
                 {ST_LOGGED, "logged"},
                 {ST_UNRESOLVED, "unresolved"},
                 {ST_REVIEW, "review"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        assert_string_equal(call_status_str(names[i].status), names[i].name);
        assert_int_equal(call_status_parse(names[i].name), names[i].status);
    }
    assert_string_equal(call_status_str(-1), "unknown");
    assert_string_equal(call_status_str(5), "unknown");
    assert_int_equal(call_status_parse("Active"), -1);
    assert_int_equal(call_status_parse(""), -1);
    assert_int_equal(call_status_parse("logged "), -1);
    assert_int_equal(call_status_parse("unknown"), -1);

    assert_null(conflict_str(CONFLICT_NONE));
    assert_string_equal(conflict_str(CONFLICT_NO_CONTACT), "no_contact");
    assert_string_equal(conflict_str(CONFLICT_MULTIPLE_CONTACTS), "multiple_contacts");
    assert_string_equal(conflict_str(CONFLICT_MULTIPLE_ASSOCIATIONS), "multiple_associations");
    assert_null(conflict_str(4));
    assert_null(conflict_str(-1));

    assert_string_equal(call_type_str(CALL_VOICE), "call");
    assert_string_equal(call_type_str(CALL_SMS), "sms");
    assert_string_equal(call_dir_str(DIR_INBOUND), "inbound");
    assert_string_equal(call_dir_str(DIR_OUTBOUND), "outbound");
}

static void test_retention(void **state)
{
    (void)state;
    static struct call_rec c; /* large: keep it off the stack */
    const int64_t days = INT64_C(86400000) * RETENTION_DAYS;
    c.start_ms = T_2026;
    assert_int_equal(call_past_retention(&c, T_2026), 0);
    assert_int_equal(call_past_retention(&c, T_2026 + days - 1), 0);
    assert_int_equal(call_past_retention(&c, T_2026 + days), 0); /* exactly 90 days: kept */
    assert_int_equal(call_past_retention(&c, T_2026 + days + 1), 1);
    assert_int_equal(call_past_retention(&c, T_2026 - 1000), 0); /* starts in the future */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_good),
        cmocka_unit_test(test_time_bad),
        cmocka_unit_test(test_time_format_small_buffer),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
