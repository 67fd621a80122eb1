/*
 * peer_check.h - the TAP-like check line the C test peers print: "ok NAME" or "FAIL NAME: why",
 * counting failures in the including file's `failures` (an int it defines).
 */
#ifndef AB_PEER_CHECK_H
#define AB_PEER_CHECK_H

#include <stdio.h>

#define CHECK(name, cond, ...)                                                                     \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok %s\n", name);                                                               \
        } else {                                                                                   \
            printf("FAIL %s: ", name);                                                             \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#endif
