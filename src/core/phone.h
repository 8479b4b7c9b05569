/* Phone numbers, through libphonenumber (the C++ lives in phone.cc, behind this header).
 *
 * Everything here is thread-safe. Output buffers are the caller's; on error they are left
 * as an empty string and `err` (ERR_LEN bytes, may be NULL) says why in one line. */
#ifndef CRMLOG_PHONE_H
#define CRMLOG_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHONE_LEN 32      /* buffer for an E.164 number or a national significant number */
#define PHONE_FMT_LEN 64  /* buffer for a formatted number */
#define PHONE_EXT_MAX 6   /* at most this many digits, without '+', is an internal extension */
#define PHONE_MASKS_MAX 3 /* at most this many user phone formats */
#define PHONE_MASK_LEN 40 /* longest phone format mask, in bytes */

/* Flags for phone_to_e164. */
#define PHONE_TELEPHONY                                                                            \
    1u /* digits-only input of 11+ digits not starting with 0 is E.164                             \
          without its '+' (telephony APIs write `16504445567`) */

/* Parses a number written any way people write it (`(650) 555-0101`, `650.555.0101`,
 * `+44 20 7946 0958`, `tel:+1…`) to E.164 in e164 (PHONE_LEN bytes). `region` is the ISO
 * 3166 code used for national numbers (NULL means "US"). Fails with ERR_INVAL when the text
 * is not a possible phone number, or is an internal extension (see phone_is_extension). */
int phone_to_e164(const char *text, const char *region, unsigned flags, char *e164, char *err);

/* 1 when text is an internal extension: 1..PHONE_EXT_MAX digits after removing spaces,
 * dashes, dots and parentheses, and no '+'. Such numbers are never customer numbers. */
int phone_is_extension(const char *text);

/* The national significant number of an E.164 number (`+16505550101` → `6505550101`),
 * into out (PHONE_LEN bytes). */
int phone_national(const char *e164, char *out, char *err);

/* The number formatted for people: international (`+1 650-555-0101`) when `national` is 0,
 * national (`(650) 555-0101`) otherwise; into out (PHONE_FMT_LEN bytes). */
int phone_format(const char *e164, int national, char *out, char *err);

/* Fills a user phone format mask: each '*' takes the next digit of the national significant
 * number; other characters are copied. `(***) ***-****` + `+16505550101` → `(650) 555-0101`.
 * Fails with ERR_INVAL when the mask's '*' count differs from the number's digit count
 * (the format does not apply to that number). out is PHONE_FMT_LEN bytes. */
int phone_fill_mask(const char *e164, const char *mask, char *out, char *err);

/* Checks a mask: 1..PHONE_MASK_LEN-1 bytes of `*`, digits, space, `+-().`, with 4..15 `*`. */
int phone_mask_valid(const char *mask, char *err);

/* 1 when region is a region code libphonenumber knows (`US`, `GB`, `DE`…; upper case). */
int phone_region_valid(const char *region);

#ifdef __cplusplus
}
#endif

#endif
