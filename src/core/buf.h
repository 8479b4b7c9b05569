/* A growable byte buffer with a hard maximum (STYLE habit 6): appends past the cap fail
 * with ERR_TOOBIG and leave the buffer as it was. The buffer owns its memory; buf_free
 * releases it. The content is always NUL-terminated (not counted in len). */
#ifndef CRMLOG_BUF_H
#define CRMLOG_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* maximum len */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the content to the caller (free with mem_free) and leaves b empty. */
char *buf_take(struct buf *b);

#endif
