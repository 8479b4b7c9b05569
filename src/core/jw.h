/* A compact JSON writer straight into a buffer: the text jansson's json_dumps(JSON_COMPACT)
 * would give, at a fraction of its cost (no tree to build, no callback per token, no
 * printf per number). Every function returns 0, or an error when the buffer's cap is
 * reached (ERR_TOOBIG) or a string is not UTF-8 (ERR_INVAL), as jansson refuses those. */
#ifndef CRMLOG_JW_H
#define CRMLOG_JW_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* A JSON string: quoted and escaped. */
int jw_strn(struct buf *b, const char *s, size_t n);
static inline int jw_str(struct buf *b, const char *s)
{
    return jw_strn(b, s, strlen(s));
}
/* A JSON string, or null when s is NULL or empty. */
int jw_str_or_null(struct buf *b, const char *s);
int jw_int(struct buf *b, int64_t v);
int jw_bool(struct buf *b, int v);
/* Text that is already JSON (punctuation, keys written as literals). */
static inline int jw_raw(struct buf *b, const char *json)
{
    return buf_append(b, json, strlen(json));
}
/* A jansson value. */
int jw_json(struct buf *b, json_t *j);

#endif
