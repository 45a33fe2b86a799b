/* A minimal test harness: CHECK counts and reports; summary() prints "N passed, N failed". */
#ifndef X2E_TEST_CHECK_H
#define X2E_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "x2edit.h"

static int g_passed, g_failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            g_passed++;                                               \
        } else {                                                      \
            g_failed++;                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
        }                                                             \
    } while (0)

/* A call that must fail with `want` and leave a message naming `word`. */
#define EXPECT_STATUS(call, want, word)                                                     \
    do {                                                                                    \
        x2e_status s_ = (call);                                                             \
        const char *m_ = x2e_last_error();                                                  \
        CHECK(s_ == (want), "%s returned %s (%s), wanted %s", #call, x2e_status_name(s_), m_, \
              x2e_status_name(want));                                                       \
        CHECK((want) == X2E_OK ? m_[0] == 0 : strstr(m_, (word)) != NULL,                   \
              "%s: message '%s' lacks '%s'", #call, m_, (word));                            \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, X2E_OK, "")

static int summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

#endif
