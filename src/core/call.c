#include "call.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const status_names[] = {"active", "unlogged", "logged", "unresolved", "review"};
static const char *const conflict_names[] = {NULL, "no_contact", "multiple_contacts",
                                             "multiple_associations"};

const char *call_type_str(int type)
{
    return type == CALL_SMS ? "sms" : "call";
}

const char *call_dir_str(int dir)
{
    return dir == DIR_OUTBOUND ? "outbound" : "inbound";
}

const char *call_status_str(int status)
{
    if (status < 0 || status >= (int)(sizeof status_names / sizeof *status_names)) return "unknown";
    return status_names[status];
}

int call_status_parse(const char *s)
{
    for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++)
        if (strcmp(s, status_names[i]) == 0) return (int)i;
    return -1;
}

const char *conflict_str(int reason)
{
    if (reason <= 0 || reason >= (int)(sizeof conflict_names / sizeof *conflict_names)) return NULL;
    return conflict_names[reason];
}

int call_past_retention(const struct call_rec *c, int64_t now_ms)
{
    return now_ms - c->start_ms > (int64_t)RETENTION_DAYS * 86400 * 1000;
}

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9') return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int time_parse(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0;
    const char *p = s;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60) return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3) frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0 || n > 9) return -1;
        for (; n < 3; n++)
            frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (read_digits(&p, 2, &oh)) return -1;
        if (*p == ':') p++;
        if (read_digits(&p, 2, &om) || oh > 23 || om > 59) return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p) return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *ms = (secs - (int64_t)offset_min * 60) * 1000 + frac;
    return 0;
}

/* Writes n digits of v, zero-padded, at p. */
static char *digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* Pure arithmetic (the civil-from-days algorithm, proleptic Gregorian): gmtime_r takes
 * glibc's time-zone lock on every call, which the history page's threads would share. */
void time_format(int64_t ms, char *out, size_t len)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t frac = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    if (year < 0 || year > 9999) { /* outside what time_parse reads: not on the hot path */
        time_t t = (time_t)secs;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) {
            snprintf(out, len, "invalid-time");
            return;
        }
        snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
        return;
    }
    char text[32];
    char *p = digits(text, year, 4);
    *p++ = '-';
    p = digits(p, month, 2);
    *p++ = '-';
    p = digits(p, day, 2);
    *p++ = 'T';
    p = digits(p, sod / 3600, 2);
    *p++ = ':';
    p = digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = digits(p, sod % 60, 2);
    *p++ = '.';
    p = digits(p, frac, 3);
    *p++ = 'Z';
    *p = '\0';
    if (len >= sizeof text) {
        memcpy(out, text, (size_t)(p - text) + 1);
    } else if (len) {
        memcpy(out, text, len - 1); /* truncated, still terminated */
        out[len - 1] = '\0';
    }
}
