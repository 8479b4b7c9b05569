/* BSD-style logging (STYLE habit 11): one line per event on stderr, `key=value` fields.
 * Never pass credentials, tokens or note text. */
#ifndef CRMLOG_LOG_H
#define CRMLOG_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level lvl);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* appends errno */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* no errno */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
