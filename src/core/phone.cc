// The only C++ in crmlog: a thin shim over libphonenumber behind the C header phone.h.
// Nothing C++ crosses the header; exceptions never escape (libphonenumber does not throw,
// and std::string allocation failure is caught).

#include "phone.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

extern "C" {
#include "err.h"
}

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

const PhoneNumberUtil &util()
{
    return *PhoneNumberUtil::GetInstance();
}

int fail(char *err, char *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int fail(char *err, char *out, int code, const char *fmt, ...)
{
    if (out) out[0] = '\0';
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

// Parsing and formatting go through regular expressions and cost microseconds; imports and
// logs see the same numbers again and again, so results are cached. The cache is
// set-associative (kWays entries per set, replaced round-robin) and fixed in size, so memory
// is bounded; locks are striped by set so HTTP threads rarely wait on each other.
const size_t kCacheSets = 16384;
const size_t kWays = 4;
const size_t kLockStripes = 64;
const size_t kCacheKeyLen = 48;

struct cache_entry {
    char key[kCacheKeyLen]; // kind, flags, region, text; "" when empty
    char value[PHONE_FMT_LEN];
};

struct cache_set {
    cache_entry way[kWays];
    unsigned next; // the way to replace next
};

cache_set *cache; // kCacheSets sets, allocated on first use (about 7 MB)
pthread_once_t cache_once = PTHREAD_ONCE_INIT;
pthread_mutex_t cache_locks[kLockStripes];

void cache_init()
{
    cache = static_cast<cache_set *>(calloc(kCacheSets, sizeof(cache_set)));
    for (size_t i = 0; i < kLockStripes; i++)
        pthread_mutex_init(&cache_locks[i], nullptr);
}

bool cache_key(char kind, const char *text, const char *region, unsigned flags, char *key)
{
    int n = snprintf(key, kCacheKeyLen, "%c%u|%s|%s", kind, flags, region, text);
    return n > 0 && (size_t)n < kCacheKeyLen;
}

size_t cache_index(const char *key)
{
    size_t h = 1469598103934665603ull; // FNV-1a
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (h ^ (h >> 29)) % kCacheSets;
}

// Copies the cached value of key into out (size bytes); false on a miss.
bool cache_get(const char *key, char *out, size_t size)
{
    pthread_once(&cache_once, cache_init);
    if (!cache) return false;
    size_t set = cache_index(key);
    bool hit = false;
    pthread_mutex_lock(&cache_locks[set % kLockStripes]);
    for (size_t w = 0; w < kWays && !hit; w++) {
        if (strcmp(cache[set].way[w].key, key) == 0) {
            snprintf(out, size, "%s", cache[set].way[w].value);
            hit = true;
        }
    }
    pthread_mutex_unlock(&cache_locks[set % kLockStripes]);
    return hit;
}

void cache_put(const char *key, const char *value)
{
    pthread_once(&cache_once, cache_init);
    if (!cache || strlen(value) >= PHONE_FMT_LEN) return;
    size_t set = cache_index(key);
    pthread_mutex_lock(&cache_locks[set % kLockStripes]);
    cache_entry &e = cache[set].way[cache[set].next];
    cache[set].next = (cache[set].next + 1) % kWays;
    memcpy(e.key, key, kCacheKeyLen);
    snprintf(e.value, sizeof e.value, "%s", value);
    pthread_mutex_unlock(&cache_locks[set % kLockStripes]);
}

bool digits_only(const char *s, size_t *count)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        n++;
    }
    *count = n;
    return n > 0;
}

// IsPossibleNumber also accepts IS_POSSIBLE_LOCAL_ONLY: a subscriber number without its
// area code (`555-0101`), which has no E.164 form; formatting it anyway gives a wrong
// number (`+15550101`). Only complete numbers are phone numbers here.
bool possible(const PhoneNumber &num)
{
    return util().IsPossibleNumberWithReason(num) == PhoneNumberUtil::IS_POSSIBLE;
}

int parse(const char *text, const char *region, unsigned flags, char *e164, char *err)
{
    std::string input(text);
    size_t ndigits = 0;
    if ((flags & PHONE_TELEPHONY) && digits_only(text, &ndigits) && ndigits >= 11 && text[0] != '0')
        input = "+" + input;
    PhoneNumber num;
    PhoneNumberUtil::ErrorType rc = util().Parse(input, region, &num);
    if (rc != PhoneNumberUtil::NO_PARSING_ERROR || !possible(num)) {
        // A bare international number without '+' that is not possible as such may still
        // be a national number ("1" trunk prefix written out, say).
        if (input != text) {
            rc = util().Parse(text, region, &num);
            if (rc == PhoneNumberUtil::NO_PARSING_ERROR && possible(num)) goto ok;
        }
        return fail(err, e164, ERR_INVAL, "'%s' is not a phone number", text);
    }
ok:
    std::string out;
    util().Format(num, PhoneNumberUtil::E164, &out);
    if (out.size() >= PHONE_LEN)
        return fail(err, e164, ERR_INVAL, "'%s' is too long for a phone number", text);
    memcpy(e164, out.c_str(), out.size() + 1);
    return 0;
}

int parse_e164(const char *e164, PhoneNumber *num, char *err)
{
    if (!e164 || e164[0] != '+' ||
        util().Parse(e164, "ZZ", num) != PhoneNumberUtil::NO_PARSING_ERROR)
        return fail(err, nullptr, ERR_INVAL, "'%s' is not an E.164 number", e164 ? e164 : "");
    return 0;
}

} // namespace

extern "C" int phone_is_extension(const char *text)
{
    size_t digits = 0;
    for (const char *p = text; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (!strchr(" -.()", *p))
            return 0; // '+', letters, '*', '#': not a plain extension
    }
    return digits >= 1 && digits <= PHONE_EXT_MAX;
}

extern "C" int phone_to_e164(const char *text, const char *region, unsigned flags, char *e164,
                             char *err)
{
    if (!region || !*region) region = "US";
    if (!text) return fail(err, e164, ERR_INVAL, "no phone number given");
    size_t len = strlen(text);
    if (len == 0) return fail(err, e164, ERR_INVAL, "empty phone number");
    if (len > 250) return fail(err, e164, ERR_INVAL, "phone number is too long");
    if (phone_is_extension(text))
        return fail(err, e164, ERR_INVAL, "'%s' is an internal extension, not a phone number",
                    text);
    try {
        // A number that comes out as itself (`+16505550101`, or `16505550101` from
        // telephony) is cached under its E.164 form whatever the region or flags, so both
        // spellings share one entry. Anything else is keyed by exactly what was asked.
        size_t ndigits = 0;
        bool bare = (flags & PHONE_TELEPHONY) && digits_only(text, &ndigits) && ndigits >= 11 &&
                    text[0] != '0';
        bool plus = text[0] == '+' && digits_only(text + 1, &ndigits);
        char canon[kCacheKeyLen], key[kCacheKeyLen];
        bool has_canon = (bare || plus) && cache_key('e', bare ? text : text + 1, "", 0, canon);
        if (has_canon && cache_get(canon, e164, PHONE_LEN)) return 0;
        bool cacheable = cache_key('p', text, region, flags, key);
        if (cacheable && cache_get(key, e164, PHONE_LEN)) return 0;
        int rc = parse(text, region, flags, e164, err);
        if (rc) return rc;
        if (has_canon && strcmp(e164 + 1, bare ? text : text + 1) == 0)
            cache_put(canon, e164);
        else if (cacheable)
            cache_put(key, e164);
        return 0;
    } catch (...) {
        return fail(err, e164, ERR_NOMEM, "out of memory parsing a phone number");
    }
}

extern "C" int phone_national(const char *e164, char *out, char *err)
{
    try {
        PhoneNumber num;
        if (parse_e164(e164, &num, err)) return fail(nullptr, out, ERR_INVAL, " ");
        std::string nsn;
        util().GetNationalSignificantNumber(num, &nsn);
        if (nsn.size() >= PHONE_LEN) return fail(err, out, ERR_INVAL, "number too long");
        memcpy(out, nsn.c_str(), nsn.size() + 1);
        return 0;
    } catch (...) {
        return fail(err, out, ERR_NOMEM, "out of memory formatting a phone number");
    }
}

extern "C" int phone_format(const char *e164, int national, char *out, char *err)
{
    try {
        char key[kCacheKeyLen];
        bool cacheable = e164 && cache_key(national ? 'n' : 'i', e164, "", 0, key);
        if (cacheable && cache_get(key, out, PHONE_FMT_LEN)) return 0;
        PhoneNumber num;
        if (parse_e164(e164, &num, err)) return fail(nullptr, out, ERR_INVAL, " ");
        std::string s;
        util().Format(num, national ? PhoneNumberUtil::NATIONAL : PhoneNumberUtil::INTERNATIONAL,
                      &s);
        if (s.size() >= PHONE_FMT_LEN) return fail(err, out, ERR_INVAL, "number too long");
        memcpy(out, s.c_str(), s.size() + 1);
        if (cacheable) cache_put(key, out);
        return 0;
    } catch (...) {
        return fail(err, out, ERR_NOMEM, "out of memory formatting a phone number");
    }
}

extern "C" int phone_mask_valid(const char *mask, char *err)
{
    if (!mask) return fail(err, nullptr, ERR_INVAL, "no phone format given");
    size_t len = strlen(mask), stars = 0;
    if (len == 0 || len >= PHONE_MASK_LEN)
        return fail(err, nullptr, ERR_INVAL, "phone format must be 1 to %d characters",
                    PHONE_MASK_LEN - 1);
    for (const char *p = mask; *p; p++) {
        if (*p == '*')
            stars++;
        else if (!((*p >= '0' && *p <= '9') || strchr(" +-().", *p)))
            return fail(err, nullptr, ERR_INVAL,
                        "phone format '%s' may only hold '*', digits, spaces and +-().", mask);
    }
    if (stars < 4 || stars > 15)
        return fail(err, nullptr, ERR_INVAL,
                    "phone format '%s' needs 4 to 15 '*' (one per digit), like (***) ***-****",
                    mask);
    return 0;
}

extern "C" int phone_fill_mask(const char *e164, const char *mask, char *out, char *err)
{
    if (phone_mask_valid(mask, err)) return fail(nullptr, out, ERR_INVAL, " ");
    char nsn[PHONE_LEN];
    if (phone_national(e164, nsn, err)) return fail(nullptr, out, ERR_INVAL, " ");
    size_t stars = 0;
    for (const char *p = mask; *p; p++)
        stars += *p == '*';
    if (stars != strlen(nsn))
        return fail(err, out, ERR_INVAL, "phone format '%s' has %zu digits, %s has %zu", mask,
                    stars, e164, strlen(nsn));
    size_t i = 0, j = 0;
    for (const char *p = mask; *p; p++)
        out[i++] = *p == '*' ? nsn[j++] : *p;
    out[i] = '\0';
    return 0;
}

extern "C" int phone_region_valid(const char *region)
{
    if (!region || strlen(region) != 2) return 0;
    try {
        return util().GetCountryCodeForRegion(region) != 0;
    } catch (...) {
        return 0;
    }
}
