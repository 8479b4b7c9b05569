/* Allocation wrappers. Every allocation in crmlog goes through these so tests can make the
 * N-th one fail (STYLE habit 8) and check that each path fails cleanly and leaks nothing. */
#ifndef CRMLOG_MEM_H
#define CRMLOG_MEM_H

#include <stddef.h>

void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
void mem_free(void *p);

/* Test hook: after `n` more successful allocations, every allocation fails until reset with
 * a negative n. Not thread-safe; tests only. */
void mem_fail_after(long n);

#endif
