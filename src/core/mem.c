#include "mem.h"

#include <stdlib.h>
#include <string.h>

static long mem_budget = -1; /* -1: never fail */

static int mem_should_fail(void)
{
    if (mem_budget < 0) return 0;
    if (mem_budget == 0) return 1;
    mem_budget--;
    return 0;
}

void mem_fail_after(long n)
{
    mem_budget = n;
}

void *mem_alloc(size_t n)
{
    return mem_should_fail() ? NULL : malloc(n ? n : 1);
}

void *mem_calloc(size_t count, size_t size)
{
    return mem_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t n)
{
    return mem_should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *mem_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *mem_strdup(const char *s)
{
    return mem_strndup(s, strlen(s));
}

void mem_free(void *p)
{
    free(p);
}
