#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void chat_out_of_memory(void)
{
    /* No stdio buffering and no allocation: this runs when there is no memory. */
    static const char msg[] = "fatal: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *chat_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        chat_out_of_memory();
    return p;
}

void *chat_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        chat_out_of_memory();
    return p;
}

void *chat_xreallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        chat_out_of_memory();
    size_t bytes = n * size;
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        chat_out_of_memory();
    return q;
}

char *chat_xstrdup(const char *s) { return chat_xstrndup(s, strlen(s)); }

char *chat_xstrndup(const char *s, size_t n)
{
    char *p = chat_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
