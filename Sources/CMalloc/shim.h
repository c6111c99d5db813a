#ifndef OUTLINESTREAM_CMALLOC_SHIM_H
#define OUTLINESTREAM_CMALLOC_SHIM_H
/* glibc's allocator tuning (mallopt, malloc_trim), which the Glibc module does not export. */
#include <malloc.h>
static inline int outline_malloc_limit_arenas(int count) { return mallopt(M_ARENA_MAX, count); }
static inline int outline_malloc_trim(void) { return malloc_trim(0); }
#endif
