#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_level = LOG_LEVEL_WARN;

void log_set_level(enum log_level lvl)
{
    log_level = lvl;
}

static void log_emit(const char *lvl, const char *fmt, va_list ap, const char *suffix)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (suffix)
        fprintf(stderr, "ts=%s level=%s %s error=\"%s\"\n", ts, lvl, line, suffix);
    else
        fprintf(stderr, "ts=%s level=%s %s\n", ts, lvl, line);
}

void log_info(const char *fmt, ...)
{
    if (log_level < LOG_LEVEL_INFO) return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("info", fmt, ap, NULL);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    if (log_level < LOG_LEVEL_DEBUG) return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("debug", fmt, ap, NULL);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    if (log_level < LOG_LEVEL_WARN) return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("warn", fmt, ap, strerror(saved));
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    if (log_level < LOG_LEVEL_WARN) return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("warn", fmt, ap, NULL);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("fatal", fmt, ap, NULL);
    va_end(ap);
    exit(1);
}
