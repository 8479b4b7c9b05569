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
    size_t i = (size_t)(-code - 1);
    if (code > 0 || i >= sizeof err_texts / sizeof err_texts[0]) return "unknown error";
    return err_texts[i];
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
