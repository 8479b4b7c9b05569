/* Phone numbers: parsing to E.164, extensions, national numbers, formats and masks.
 * Every case is a row in a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/err.h"
#include "core/phone.h"

#define TEL PHONE_TELEPHONY

/* out NULL: must fail with ERR_INVAL, and msg (if given) is part of the message. */
static const struct {
    const char *text, *region;
    unsigned flags;
    const char *out, *msg;
} e164_cases[] = {
    /* US national, written the many ways people write it */
    {"(650) 555-0101", "US", 0, "+16505550101", NULL},
    {"650-555-0101", "US", 0, "+16505550101", NULL},
    {"650.555.0101", "US", 0, "+16505550101", NULL},
    {"650 555 0101", "US", 0, "+16505550101", NULL},
    {"6505550101", "US", 0, "+16505550101", NULL},
    {"1 650 555 0101", "US", 0, "+16505550101", NULL},
    {"1-650-555-0101", "US", 0, "+16505550101", NULL},
    {"16505550101", "US", 0, "+16505550101", NULL},
    {"+1 (650) 555-0101", "US", 0, "+16505550101", NULL},
    {"+16505550101", "US", 0, "+16505550101", NULL},
    {"  (650) 555-0101  ", "US", 0, "+16505550101", NULL},
    {"650-555-0101 ext. 12", "US", 0, "+16505550101", NULL},
    {"1-800-FLOWERS", "US", 0, "+18003569377", NULL},
    {"(650) 555-0101", NULL, 0, "+16505550101", NULL}, /* NULL region means US */
    {"(650) 555-0101", "", 0, "+16505550101", NULL},
    /* international and other regions */
    {"+44 20 7946 0958", "US", 0, "+442079460958", NULL},
    {"+44 20 7946 0958", "GB", 0, "+442079460958", NULL},
    {"020 7946 0958", "GB", 0, "+442079460958", NULL},
    {"020 7946 0958", "US", 0, NULL, "is not a phone number"},
    {"00 1 650 555 0101", "GB", 0, "+16505550101", NULL},
    {"011 44 20 7946 0958", "US", 0, "+442079460958", NULL},
    {"030 123456", "DE", 0, "+4930123456", NULL},
    {"+1 650 555 0101", "XX", 0, "+16505550101", NULL}, /* unknown region, '+' needs none */
    {"6505550101", "XX", 0, NULL, "is not a phone number"},
    /* telephony APIs write E.164 without '+' */
    {"16504445567", "US", TEL, "+16504445567", NULL},
    {"16504445567", "GB", TEL, "+16504445567", NULL},
    {"442079460958", "US", TEL, "+442079460958", NULL},
    {"442079460958", "US", 0, NULL, "is not a phone number"},
    {"6505550101", "US", TEL, "+16505550101", NULL},   /* 10 digits: still national */
    {"02079460958", "GB", TEL, "+442079460958", NULL}, /* leading 0: national */
    /* tel: URIs (RFC 3966) */
    {"tel:+1-650-555-0101", "US", 0, "+16505550101", NULL},
    {"tel:+16505550101;ext=12", "US", 0, "+16505550101", NULL},
    {"tel:6505550101", "US", 0, "+16505550101", NULL},
    /* extensions are never customer numbers */
    {"101", "US", 0, NULL, "'101' is an internal extension"},
    {"2001", "US", TEL, NULL, "'2001' is an internal extension"},
    {"123456", "US", 0, NULL, "internal extension"},
    {"1 01", "US", 0, NULL, "internal extension"},
    /* local-only numbers (no area code) have no E.164 form */
    {"555-0101", "US", 0, NULL, "is not a phone number"},
    {"7946 0958", "GB", 0, NULL, "is not a phone number"},
    /* garbage */
    {"", "US", 0, NULL, "empty phone number"},
    {"abc", "US", 0, NULL, "'abc' is not a phone number"},
    {"+", "US", 0, NULL, "is not a phone number"},
    {"call me", "US", 0, NULL, "is not a phone number"},
    {"+999 1234 5678", "US", 0, NULL, "is not a phone number"},
    {"650555010", "US", 0, NULL, "is not a phone number"},
    {"12345678901234567890", "US", 0, NULL, "is not a phone number"},
    {"+123456789012345678", "US", 0, NULL, "is not a phone number"},
};

static void test_to_e164(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof e164_cases / sizeof *e164_cases; i++) {
        char out[PHONE_LEN] = "junk", err[ERR_LEN] = "";
        /* Twice: the second answer may come from the cache and must be the same. */
        for (int pass = 0; pass < 2; pass++) {
            int rc = phone_to_e164(e164_cases[i].text, e164_cases[i].region, e164_cases[i].flags,
                                   out, err);
            print_message("'%s' %s %u -> %d '%s' %s\n", e164_cases[i].text,
                          e164_cases[i].region ? e164_cases[i].region : "(null)",
                          e164_cases[i].flags, rc, out, err);
            if (e164_cases[i].out) {
                assert_int_equal(rc, 0);
                assert_string_equal(out, e164_cases[i].out);
            } else {
                assert_int_equal(rc, ERR_INVAL);
                assert_string_equal(out, "");
                if (e164_cases[i].msg) assert_non_null(strstr(err, e164_cases[i].msg));
            }
        }
    }
}

static void test_to_e164_edges(void **state)
{
    (void)state;
    char out[PHONE_LEN], err[ERR_LEN] = "", big[400];
    assert_int_equal(phone_to_e164(NULL, "US", 0, out, err), ERR_INVAL);
    assert_string_equal(out, "");
    memset(big, '5', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(phone_to_e164(big, "US", 0, out, err), ERR_INVAL);
    assert_string_equal(err, "phone number is too long");
    /* NULL err is allowed. */
    assert_int_equal(phone_to_e164("abc", "US", 0, out, NULL), ERR_INVAL);
    /* A long key (not cacheable) still parses. */
    assert_int_equal(
        phone_to_e164("+1 (650) 555-0101                                    ", "US", 0, out, err),
        0);
    assert_string_equal(out, "+16505550101");
}

static const struct {
    const char *text;
    int ext;
} ext_cases[] = {
    {"101", 1},   {"2001", 1},  {"123456", 1}, {"1234567", 0}, {"1 01", 1},
    {"(10)1", 1}, {"1.2-3", 1}, {"+101", 0},   {"", 0},        {"10a", 0},
    {"*101", 0},  {"101#", 0},  {"   ", 0},    {"0", 1},       {"6505550101", 0},
};

static void test_is_extension(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ext_cases / sizeof *ext_cases; i++) {
        print_message("'%s'\n", ext_cases[i].text);
        assert_int_equal(phone_is_extension(ext_cases[i].text), ext_cases[i].ext);
    }
}

/* out NULL: ERR_INVAL. */
static const struct {
    const char *e164, *nsn, *intl, *national;
} format_cases[] = {
    {"+16505550101", "6505550101", "+1 650-555-0101", "(650) 555-0101"},
    {"+442079460958", "2079460958", "+44 20 7946 0958", "020 7946 0958"},
    {"+4930123456", "30123456", "+49 30 123456", "030 123456"},
    {"6505550101", NULL, NULL, NULL}, /* not E.164 */
    {"+1", NULL, NULL, NULL},
    {"", NULL, NULL, NULL},
    {"+abc", NULL, NULL, NULL},
};

static void test_national_and_format(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof format_cases / sizeof *format_cases; i++) {
        char nsn[PHONE_LEN] = "junk", f[PHONE_FMT_LEN] = "junk", err[ERR_LEN] = "";
        const char *e = format_cases[i].e164;
        print_message("'%s'\n", e);
        if (format_cases[i].nsn) {
            assert_int_equal(phone_national(e, nsn, err), 0);
            assert_string_equal(nsn, format_cases[i].nsn);
            assert_int_equal(phone_format(e, 0, f, err), 0);
            assert_string_equal(f, format_cases[i].intl);
            assert_int_equal(phone_format(e, 1, f, err), 0);
            assert_string_equal(f, format_cases[i].national);
        } else {
            assert_int_equal(phone_national(e, nsn, err), ERR_INVAL);
            assert_string_equal(nsn, "");
            assert_non_null(strstr(err, "is not an E.164 number"));
            assert_int_equal(phone_format(e, 0, f, err), ERR_INVAL);
            assert_string_equal(f, "");
            assert_int_equal(phone_format(e, 1, f, NULL), ERR_INVAL);
        }
    }
    char out[PHONE_LEN];
    assert_int_equal(phone_national(NULL, out, NULL), ERR_INVAL);
}

/* out NULL: ERR_INVAL with msg in the message. */
static const struct {
    const char *e164, *mask, *out, *msg;
} mask_cases[] = {
    {"+16505550101", "(***) ***-****", "(650) 555-0101", NULL},
    {"+16505550101", "+1-***-***-****", "+1-650-555-0101", NULL},
    {"+16505550101", "***.***.****", "650.555.0101", NULL},
    {"+16505550101", "**********", "6505550101", NULL},
    {"+16505550101", "1 *** *** ****", "1 650 555 0101", NULL},
    {"+442079460958", "0** **** ****", "020 7946 0958", NULL},
    {"+4930123456", "(***) ***-****", NULL, "has 10 digits, +4930123456 has 8"},
    {"+16505550101", "*** ****", NULL, "has 7 digits"},
    {"+16505550101", "***", NULL, "needs 4 to 15"},
    {"+16505550101", "(***) ***-****x", NULL, "may only hold"},
    {"6505550101", "(***) ***-****", NULL, "is not an E.164 number"},
};

static void test_fill_mask(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof mask_cases / sizeof *mask_cases; i++) {
        char out[PHONE_FMT_LEN] = "junk", err[ERR_LEN] = "";
        print_message("'%s' '%s'\n", mask_cases[i].e164, mask_cases[i].mask);
        int rc = phone_fill_mask(mask_cases[i].e164, mask_cases[i].mask, out, err);
        if (mask_cases[i].out) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, mask_cases[i].out);
        } else {
            assert_int_equal(rc, ERR_INVAL);
            assert_string_equal(out, "");
            assert_non_null(strstr(err, mask_cases[i].msg));
        }
    }
}

static const struct {
    const char *mask;
    int ok;
} mask_valid_cases[] = {
    {"(***) ***-****", 1},
    {"+1-***-***-****", 1},
    {"***.***.****", 1},
    {"****", 1},
    {"***************", 1},  /* 15 */
    {"****************", 0}, /* 16 */
    {"***", 0},
    {"", 0},
    {"(***) ***-****x", 0},
    {"*** *** ****#", 0},
    {"+1 (***) ***-**** ext", 0},
    {"1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 ** ****", 1},  /* 39 bytes */
    {"1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 ** *****", 0}, /* 40 bytes */
    {NULL, 0},
};

static void test_mask_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof mask_valid_cases / sizeof *mask_valid_cases; i++) {
        char err[ERR_LEN] = "";
        const char *m = mask_valid_cases[i].mask;
        print_message("'%s'\n", m ? m : "(null)");
        int rc = phone_mask_valid(m, err);
        assert_int_equal(rc, mask_valid_cases[i].ok ? 0 : ERR_INVAL);
        if (!mask_valid_cases[i].ok) assert_true(err[0] != '\0');
    }
}

static const struct {
    const char *region;
    int ok;
} region_cases[] = {
    {"US", 1}, {"GB", 1},  {"DE", 1}, {"FR", 1}, {"JP", 1},  {"us", 0}, {"XX", 0},
    {"ZZ", 0}, {"USA", 0}, {"", 0},   {"U", 0},  {"001", 0}, {NULL, 0},
};

static void test_region_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof region_cases / sizeof *region_cases; i++) {
        print_message("'%s'\n", region_cases[i].region ? region_cases[i].region : "(null)");
        assert_int_equal(phone_region_valid(region_cases[i].region), region_cases[i].ok);
    }
}

/* The module caches parses behind a mutex: threads hammering overlapping numbers (so they
 * share and evict slots) must all get the same answers as one thread does. */
#define THREADS 4
#define ROUNDS 3000

struct worker {
    int id;
    int bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int k = (i * 7 + w->id * 13) % 1000;
        char text[32], want[PHONE_LEN], out[PHONE_LEN];
        /* Each number written two ways: two cache keys, one answer. */
        if ((i + w->id) % 2)
            snprintf(text, sizeof text, "(650) 555-%04d", k);
        else
            snprintf(text, sizeof text, "1650555%04d", k);
        snprintf(want, sizeof want, "+1650555%04d", k);
        if (phone_to_e164(text, "US", PHONE_TELEPHONY, out, NULL) != 0 || strcmp(out, want) != 0)
            w->bad++;
        if (phone_to_e164("101", "US", 0, out, NULL) != ERR_INVAL) w->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, so the threads also race on libphonenumber's start-up. */
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_to_e164),
        cmocka_unit_test(test_to_e164_edges),
        cmocka_unit_test(test_is_extension),
        cmocka_unit_test(test_national_and_format),
        cmocka_unit_test(test_fill_mask),
        cmocka_unit_test(test_mask_valid),
        cmocka_unit_test(test_region_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
