#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const err_texts[] = {
#define ERR_TEXT_(name, text) text,
    ERR_MAP(ERR_TEXT_)
#undef ERR_TEXT_
};

const char *err_str(int code)
{
    if (code == 0) return "ok";
    const int n = (int)(sizeof err_texts / sizeof err_texts[0]);
    if (code > 0 || code < -n) return "unknown error";
    return err_texts[-code - 1];
}

int err_set(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return code;
}
