/* embedded.c - lookup in the table of Lua sources compiled into the binary. */
#include "core/embedded.h"

#include <string.h>

const ab_embedded_file *ab_embedded_find(const char *path)
{
    for (const ab_embedded_file *f = ab_embedded_files; f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}
