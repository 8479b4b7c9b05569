/* libFuzzer target for the small text parsers: phone numbers (libphonenumber behind
 * phone.cc), format masks, and ISO 8601 times. Checks what must hold for any input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/err.h"
#include "core/phone.h"

#define YEAR_MS (INT64_C(366) * 86400 * 1000)
#define MIN_MS (INT64_C(-62135596800000) + YEAR_MS) /* inside year 0001..9999 */
#define MAX_MS (INT64_C(253402300799999) - YEAR_MS)

static void check_e164(const char *e164)
{
    char nsn[PHONE_LEN], fmt[PHONE_FMT_LEN], masked[PHONE_FMT_LEN], again[PHONE_LEN];
    if (e164[0] != '+' || strlen(e164) >= PHONE_LEN) abort();
    if (phone_national(e164, nsn, NULL) != 0) abort();
    if (phone_format(e164, 0, fmt, NULL) != 0 || phone_format(e164, 1, fmt, NULL) != 0) abort();
    /* '+' and digits only, and parses again. Not always to itself: libphonenumber keeps
     * leading zeros of some impossible-but-"possible" national numbers (GB `000650…`), which
     * a second parse drops. */
    for (const char *p = e164 + 1; *p; p++)
        if (*p < '0' || *p > '9') abort();
    if (phone_to_e164(e164, "US", 0, again, NULL) != 0) abort();
    int rc = phone_fill_mask(e164, "(***) ***-****", masked, NULL);
    if (rc == 0 ? strlen(nsn) != 10 || strlen(masked) != 14 : rc != ERR_INVAL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), e164[PHONE_LEN], err[ERR_LEN];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the API takes C strings; inputs with NULs are cut there */

    static const struct {
        const char *region;
        unsigned flags;
    } modes[] = {{"US", PHONE_TELEPHONY}, {"GB", 0}, {NULL, 0}, {"XX", PHONE_TELEPHONY}};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        int rc = phone_to_e164(text, modes[i].region, modes[i].flags, e164, err);
        if (rc == 0)
            check_e164(e164);
        else if (rc != ERR_INVAL || e164[0] != '\0')
            abort();
        if (rc == 0 && phone_is_extension(text)) abort(); /* extensions are never numbers */
    }

    /* The input as a mask for a fixed number. */
    char out[PHONE_FMT_LEN];
    int valid = phone_mask_valid(text, NULL) == 0;
    int rc = phone_fill_mask("+16505550101", text, out, NULL);
    if (rc == 0 && (!valid || strlen(out) != strlen(text))) abort();

    /* Times: whatever parses formats back to the same instant. */
    int64_t ms;
    if (time_parse(text, &ms) == 0 && ms > MIN_MS && ms < MAX_MS) {
        char iso[32];
        int64_t again;
        time_format(ms, iso, sizeof iso);
        if (time_parse(iso, &again) != 0 || again != ms) abort();
    }
    free(text);
    return 0;
}
