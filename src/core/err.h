/* One error convention for the whole project (STYLE habit 5).
 *
 * Functions return int: 0 on success, a negative ERR_* code on failure. Functions that can
 * fail for a reason a person must read also take `char *err`, a caller-owned buffer of
 * ERR_LEN bytes that receives one line of text; it is left untouched on success. */
#ifndef CRMLOG_ERR_H
#define CRMLOG_ERR_H

#include <stddef.h>

#define ERR_LEN 512

/* X(name, text): the code table. Order fixes the numbers; append only. */
#define ERR_MAP(X)                                                                                 \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid input")                                                                      \
    X(NOTFOUND, "not found")                                                                       \
    X(PARSE, "malformed input")                                                                    \
    X(IO, "input/output error")                                                                    \
    X(DB, "store error")                                                                           \
    X(CRM, "CRM error")                                                                            \
    X(CONFLICT, "needs a person's choice")                                                         \
    X(ALREADY, "already logged")                                                                   \
    X(BUSY, "busy, try again")                                                                     \
    X(USAGE, "usage error")                                                                        \
    X(TOOBIG, "too big")                                                                           \
    X(UNSUPPORTED, "not supported")                                                                \
    X(RETRY, "temporary failure, will retry")

enum {
    ERR_OK = 0,
#define ERR_ENUM_(name, text) ERR_##name##_PLUS_ONE_,
    ERR_MAP(ERR_ENUM_)
#undef ERR_ENUM_
};

#define ERR_CODE_(name) (-(int)ERR_##name##_PLUS_ONE_)
#define ERR_NOMEM ERR_CODE_(NOMEM)
#define ERR_INVAL ERR_CODE_(INVAL)
#define ERR_NOTFOUND ERR_CODE_(NOTFOUND)
#define ERR_PARSE ERR_CODE_(PARSE)
#define ERR_IO ERR_CODE_(IO)
#define ERR_DB ERR_CODE_(DB)
#define ERR_CRM ERR_CODE_(CRM)
#define ERR_CONFLICT ERR_CODE_(CONFLICT)
#define ERR_ALREADY ERR_CODE_(ALREADY)
#define ERR_BUSY ERR_CODE_(BUSY)
#define ERR_USAGE ERR_CODE_(USAGE)
#define ERR_TOOBIG ERR_CODE_(TOOBIG)
#define ERR_UNSUPPORTED ERR_CODE_(UNSUPPORTED)
#define ERR_RETRY ERR_CODE_(RETRY)

/* Static text for a code; never NULL. */
const char *err_str(int code);

/* Writes a printf-style message into err (ERR_LEN bytes; err may be NULL) and returns code,
 * so a failure reads `return err_set(err, ERR_INVAL, "bad number '%s'", s);`. */
int err_set(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
