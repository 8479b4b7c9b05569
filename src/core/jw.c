#include "jw.h"

#include <stdio.h>

#include "err.h"

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when it is not one: no
 * overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int jw_strn(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    int rc = buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; !rc && i < n;) {
        unsigned char ch = u[i];
        if (ch >= 0x80) {
            size_t len = utf8_len(u + i, n - i);
            if (!len) return ERR_INVAL;
            i += len;
            continue;
        }
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            i++;
            continue;
        }
        rc = buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t len = 2;
        switch (ch) {
        case '"':
        case '\\':
            esc[1] = (char)ch;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            len = 6;
        }
        if (!rc) rc = buf_append(b, esc, len);
        i++;
    }
    if (!rc) rc = buf_append(b, s + run, n - run);
    return rc ? rc : buf_append(b, "\"", 1);
}

int jw_str_or_null(struct buf *b, const char *s)
{
    return s && *s ? jw_str(b, s) : buf_append(b, "null", 4);
}

int jw_int(struct buf *b, int64_t v)
{
    char num[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char *p = num + sizeof num;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return buf_append(b, p, (size_t)(num + sizeof num - p));
}

int jw_bool(struct buf *b, int v)
{
    return v ? buf_append(b, "true", 4) : buf_append(b, "false", 5);
}

static int put_json(struct buf *b, json_t *j, int depth)
{
    int rc = 0;
    if (depth > 64) return ERR_TOOBIG;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        int first = 1;
        rc = buf_append(b, "{", 1);
        json_object_foreach(j, key, v)
        {
            if (!rc && !first) rc = buf_append(b, ",", 1);
            if (!rc) rc = jw_str(b, key);
            if (!rc) rc = buf_append(b, ":", 1);
            if (!rc) rc = put_json(b, v, depth + 1);
            first = 0;
        }
        return rc ? rc : buf_append(b, "}", 1);
    }
    case JSON_ARRAY:
        rc = buf_append(b, "[", 1);
        for (size_t i = 0; !rc && i < json_array_size(j); i++) {
            if (i) rc = buf_append(b, ",", 1);
            if (!rc) rc = put_json(b, json_array_get(j, i), depth + 1);
        }
        return rc ? rc : buf_append(b, "]", 1);
    case JSON_STRING:
        return jw_strn(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return jw_int(b, (int64_t)json_integer_value(j));
    case JSON_REAL: {
        char num[40];
        int n = snprintf(num, sizeof num, "%.17g", json_real_value(j));
        if (n < 0 || (size_t)n >= sizeof num - 2) return ERR_INVAL;
        if (!strpbrk(num, ".eE")) memcpy(num + n, ".0", 3), n += 2;
        return buf_append(b, num, (size_t)n);
    }
    case JSON_TRUE:
        return buf_append(b, "true", 4);
    case JSON_FALSE:
        return buf_append(b, "false", 5);
    case JSON_NULL:
        return buf_append(b, "null", 4);
    }
    return ERR_INVAL;
}

int jw_json(struct buf *b, json_t *j)
{
    return put_json(b, j, 0);
}
