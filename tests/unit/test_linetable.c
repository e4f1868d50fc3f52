/*
 * test_linetable.c - unit tests of the line-table decoders.
 *
 * Layer: tests.  Two halves:
 *   - fixtures: tests/unit/fixtures/linetable-<version>.txt, written by
 *     tools/gen_linetable_fixtures.py from every interpreter it found, give
 *     real tables and the line PyCode_Addr2Line() returns for every byte
 *     offset of each code object (plus some out-of-range probes); every one
 *     is checked.  The directory is argv[1], else $PYSPECT_FIXTURES, else
 *     tests/unit/fixtures.
 *   - hand-written tables for the edge cases (negative offsets, past the
 *     end, "no line" markers, each location-table form, truncation) and a
 *     fixed-seed fuzz loop that feeds garbage under ASan to show the
 *     decoders stay in bounds and terminate.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linetable.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int
addr2line(int format, const uint8_t *t, size_t len, int first, int addrq)
{
    return py_linetable_addr2line(format, t, len, first, addrq);
}

/* ---- fixture files -------------------------------------------------- */

struct tokens {
    char *p; /* next unread character */
};

/* The next whitespace-separated token (NUL-terminated in place). */
static char *
next_token(struct tokens *tk)
{
    char *start;

    for (;;) {
        while (*tk->p == ' ' || *tk->p == '\t' || *tk->p == '\n' ||
               *tk->p == '\r') {
            tk->p++;
        }
        if (*tk->p != '#') {
            break;
        }
        while (*tk->p && *tk->p != '\n') {
            tk->p++;
        }
    }
    if (*tk->p == '\0') {
        return NULL;
    }
    start = tk->p;
    while (*tk->p && *tk->p != ' ' && *tk->p != '\t' && *tk->p != '\n' &&
           *tk->p != '\r') {
        tk->p++;
    }
    if (*tk->p) {
        *tk->p++ = '\0';
    }
    return start;
}

/* Parse a whole decimal int from s up to its end or the byte `stop`. */
static int
parse_int(const char *s, char stop, long *out, const char **rest)
{
    char *end;

    *out = strtol(s, &end, 10);
    if (end == s || (*end != '\0' && *end != stop)) {
        return -1;
    }
    if (rest) {
        *rest = end;
    }
    return 0;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Decode hex into a malloc'd buffer of exactly the right size. */
static uint8_t *
parse_hex(const char *s, size_t *len)
{
    size_t n = strlen(s), i;
    uint8_t *buf;

    if (strcmp(s, "-") == 0) {
        *len = 0;
        return malloc(1);
    }
    if (n % 2) {
        return NULL;
    }
    /* Exact size, so ASan flags any read past the table. */
    buf = malloc(n / 2 ? n / 2 : 1);
    if (!buf) {
        return NULL;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(buf);
            return NULL;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return buf;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        return NULL;
    }
    for (;;) {
        size_t got;

        if (cap - len < 4096) {
            char *nbuf = realloc(buf, cap ? cap * 2 : 65536);

            if (!nbuf) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nbuf;
            cap = cap ? cap * 2 : 65536;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* What each version's fixture says its format is, checked independently. */
static int
format_of_version(const char *version)
{
    long major, minor;
    const char *rest;

    if (parse_int(version, '.', &major, &rest) < 0 || *rest != '.' ||
        parse_int(rest + 1, '.', &minor, NULL) < 0) {
        return -1;
    }
    if (major == 2 && minor == 7) {
        return PY_LINES_LNOTAB_UNSIGNED;
    }
    if (major != 3) {
        return -1;
    }
    if (minor <= 9) {
        return PY_LINES_LNOTAB;
    }
    return minor == 10 ? PY_LINES_310 : PY_LINES_LOCATIONS;
}

struct fixture_stats {
    int codes;
    long offsets;
    long probes;
    long noline;
};

/*
 * Check one "code ... end" block: every offset of the "lines" runs and
 * every probe.  One TAP result per code object; the first mismatches are
 * printed as diagnostics.
 */
static int
check_code(struct tokens *tk, const char *version, int format,
           struct fixture_stats *st)
{
    char name[128];
    long first, codelen, off = 0;
    uint8_t *table = NULL;
    size_t tlen = 0;
    int bad = 0, rc = -1;
    long checked = 0;
    char *tok;

    tok = next_token(tk);
    if (!tok) {
        return -1;
    }
    snprintf(name, sizeof(name), "%s", tok);
    if (!(tok = next_token(tk)) || parse_int(tok, 0, &first, NULL) < 0 ||
        !(tok = next_token(tk)) || parse_int(tok, 0, &codelen, NULL) < 0) {
        return -1;
    }
    if (!(tok = next_token(tk)) || strcmp(tok, "table") ||
        !(tok = next_token(tk)) || !(table = parse_hex(tok, &tlen))) {
        return -1;
    }
    if (!(tok = next_token(tk)) || strcmp(tok, "lines")) {
        goto out;
    }
    while ((tok = next_token(tk)) && strcmp(tok, "probes")) {
        long line, count, i;
        const char *rest;

        if (parse_int(tok, '*', &line, &rest) < 0 || *rest != '*' ||
            parse_int(rest + 1, 0, &count, NULL) < 0 || count <= 0) {
            goto out;
        }
        for (i = 0; i < count; i++, off++) {
            int got = addr2line(format, table, tlen, (int)first, (int)off);

            checked++;
            if (line == -1) {
                st->noline++;
            }
            if (got != line && bad++ < 5) {
                printf("#   %s %s offset %ld: got %d, want %ld\n", version,
                       name, off, got, line);
            }
        }
    }
    if (!tok || off != codelen) {
        goto out;
    }
    while ((tok = next_token(tk)) && strcmp(tok, "end")) {
        long addr, line;
        const char *rest;
        int got;

        if (parse_int(tok, '=', &addr, &rest) < 0 || *rest != '=' ||
            parse_int(rest + 1, 0, &line, NULL) < 0) {
            goto out;
        }
        got = addr2line(format, table, tlen, (int)first, (int)addr);
        checked++;
        st->probes++;
        if (got != line && bad++ < 5) {
            printf("#   %s %s probe %ld: got %d, want %ld\n", version, name,
                   addr, got, line);
        }
    }
    if (!tok) {
        goto out;
    }
    st->codes++;
    st->offsets += codelen;
    TAP_OK(bad == 0,
           "%s %s (line %ld, %ld bytes, %zu-byte table): "
           "%ld queries",
           version, name, first, codelen, tlen, checked);
    rc = 0;
out:
    free(table);
    return rc;
}

static void
check_fixture_file(const char *dir, const char *file)
{
    char path[4096];
    char version[32] = "";
    struct fixture_stats st = {0, 0, 0, 0};
    struct tokens tk;
    int format = 0, ok = 1;
    char *buf, *tok;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    buf = read_file(path);
    if (!buf) {
        TAP_OK(0, "read %s", path);
        return;
    }
    tk.p = buf;
    while (ok && (tok = next_token(&tk))) {
        if (strcmp(tok, "python") == 0) {
            tok = next_token(&tk);
            ok = tok != NULL;
            if (ok) {
                snprintf(version, sizeof(version), "%s", tok);
            }
        } else if (strcmp(tok, "format") == 0) {
            long f;

            tok = next_token(&tk);
            ok = tok && parse_int(tok, 0, &f, NULL) == 0;
            if (ok) {
                format = (int)f;
                TAP_EQ_INT(format, format_of_version(version),
                           "fixture format matches the Python version");
            }
        } else if (strcmp(tok, "code") == 0) {
            ok = format != 0 && check_code(&tk, version, format, &st) == 0;
        } else {
            ok = 0;
        }
    }
    TAP_OK(ok && st.codes > 0,
           "%s parsed: Python %s, %d code objects, "
           "%ld offsets (%ld without a line), %ld probes",
           path, version, st.codes, st.offsets, st.noline, st.probes);
    free(buf);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_fixtures(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *names[256];
    size_t n = 0, i;

    if (!d) {
        TAP_OK(0, "open fixture directory %s", dir);
        return;
    }
    while ((de = readdir(d)) != NULL && n < ARRAY_SIZE(names)) {
        size_t len = strlen(de->d_name);

        if (strncmp(de->d_name, "linetable-", 10) == 0 && len > 14 &&
            strcmp(de->d_name + len - 4, ".txt") == 0) {
            names[n] = malloc(len + 1);
            if (names[n]) {
                memcpy(names[n], de->d_name, len + 1);
                n++;
            }
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    TAP_OK(n > 0, "found %zu line-table fixture files in %s", n, dir);
    for (i = 0; i < n; i++) {
        check_fixture_file(dir, names[i]);
        free(names[i]);
    }
}

/* ---- hand-written cases --------------------------------------------- */

struct query {
    int addrq;
    int line;
};

static void
check_queries(const char *what, int format, const uint8_t *t, size_t len,
              int first, const struct query *q, size_t nq)
{
    size_t i;
    char name[160];

    for (i = 0; i < nq; i++) {
        snprintf(name, sizeof(name), "%s: addrq %d", what, q[i].addrq);
        TAP_EQ_INT(addr2line(format, t, len, first, q[i].addrq), q[i].line,
                   name);
    }
}

#define CHECK(what, fmt, table, first, ...)                                   \
    do {                                                                      \
        static const struct query q_[] = {__VA_ARGS__};                       \
        check_queries(what, fmt, table, sizeof(table), first, q_,             \
                      ARRAY_SIZE(q_));                                        \
    } while (0)

static void
test_lnotab(void)
{
    static const uint8_t pairs[] = {
        6,   1,    /* offset 6: line +1 */
        0,   2,    /* pure line jump at the same offset */
        10,  0x81, /* offset 16: line -127 (signed since 3.6) */
        255, 0,    /* a 300-byte gap is two pairs */
        45,  127,  /* offset 316: line +127 */
        0,   127,  /* ... +127 more, same offset */
    };
    static const uint8_t odd[] = {4, 3, 9};
    static const uint8_t first0[] = {0, 5, 2, 1};

    CHECK("lnotab", PY_LINES_LNOTAB, pairs, 200, {INT_MIN, 200}, {-1, 200},
          {0, 200}, {5, 200}, {6, 203}, {15, 203}, {16, 76}, {270, 76},
          {315, 76}, {316, 330}, {317, 330}, {100000, 330}, {INT_MAX, 330});
    /* A trailing odd byte is not a pair: CPython uses len / 2 pairs. */
    CHECK("lnotab odd length", PY_LINES_LNOTAB, odd, 1, {3, 1}, {4, 4},
          {13, 4}, {1000, 4});
    /* A line change at offset 0 still leaves negative offsets alone. */
    CHECK("lnotab jump at 0", PY_LINES_LNOTAB, first0, 10, {-2, 10}, {-1, 10},
          {0, 15}, {1, 15}, {2, 16});
    TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, NULL, 0, 7, 0), 7,
               "lnotab: empty table, offset 0");
    TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, NULL, 0, 7, 1000), 7,
               "lnotab: empty table, offset 1000");
    TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, NULL, 0, 7, -2), 7,
               "lnotab: empty table, offset -2");
}

static void
test_310(void)
{
    static const uint8_t t[] = {
        4,   1,          /* [0, 4): line +1 */
        2,   0x80,       /* [4, 6): no line; running line unchanged */
        0,   127,        /* zero-length ranges carry a +254 jump */
        0,   127,  6, 0, /* [6, 12): +0, i.e. first + 255 */
        254, 0x81,       /* [12, 266): -127 */
    };
    static const uint8_t odd[] = {4, 1, 6};
    static const uint8_t zero_tail[] = {4, 1, 0, 5};
    static const uint8_t noline_first[] = {2, 0x80, 2, 0};

    CHECK("3.10", PY_LINES_310, t, 50, {INT_MIN, 50}, {-2, 50}, {-1, 50},
          {0, 51}, {3, 51}, {4, -1}, {5, -1}, {6, 305}, {11, 305}, {12, 178},
          {265, 178}, {266, -1}, {267, -1}, {INT_MAX, -1});
    /*
     * A lone final byte: CPython reads the bytes object's NUL terminator
     * as its line delta, a range of 6 bytes on the same line.
     */
    CHECK("3.10 odd length", PY_LINES_310, odd, 1, {0, 2}, {3, 2}, {4, 2},
          {9, 2}, {10, -1});
    /* A table ending in zero-length ranges: no range after offset 4. */
    CHECK("3.10 zero-length tail", PY_LINES_310, zero_tail, 1, {3, 2}, {4, -1},
          {100, -1});
    /* After a "no line" range the running line is still firstlineno. */
    CHECK("3.10 no line first", PY_LINES_310, noline_first, 9, {0, -1},
          {1, -1}, {2, 9}, {3, 9}, {4, -1});
    TAP_EQ_INT(addr2line(PY_LINES_310, NULL, 0, 7, 0), -1,
               "3.10: empty table, offset 0 has no line");
    TAP_EQ_INT(addr2line(PY_LINES_310, NULL, 0, 7, -2), 7,
               "3.10: empty table, negative offset is firstlineno");
}

/* First byte of a 3.11+ location entry: code, length in code units. */
#define LOC(code, units) ((uint8_t)(0x80 | (code) << 3 | ((units)-1)))

static void
test_locations(void)
{
    static const uint8_t t[] = {
        LOC(0, 1), 0x05,    /* [0, 2) short form: same line */
        LOC(9, 2), 0x7f,    /* [2, 6) short form, code 9 */
        LOC(11, 1), 4, 9,   /* [6, 8) one-line, line +1 */
        LOC(12, 1), 0, 100, /* [8, 10) one-line, +2 */
        LOC(10, 1), 3, 4,   /* [10, 12) one-line, +0 */
        LOC(13, 1), 0x07,   /* [12, 14) no columns, -3 */
        LOC(14, 8), 0x48, 0x03, 0x00, 0x01, 0x05,
        /* [14, 30) long, +100 (2 bytes) */
        LOC(15, 2),             /* [30, 34) no location */
        LOC(13, 1), 0x51, 0x1f, /* [34, 36) -1000 (2-byte varint) */
        LOC(14, 1), 0x00, 0x02, 0x42, 0x01, 0x43, 0x01,
        /* [36, 38) long, +0, cols > 63 */
        LOC(15, 8),       /* [38, 54) no location */
        LOC(13, 3), 0x00, /* [54, 60) +0 after "none" */
    };
    /* Garbage first byte (bit 7 clear): decoded as an entry anyway. */
    static const uint8_t garbage_first[] = {0x05, 0x11, LOC(11, 1), 1, 2};
    static const uint8_t code15_no_bit7[] = {0x78, LOC(11, 1), 1, 2};
    /* A varint cut off by the end of the table: the NUL ends it. */
    static const uint8_t trunc_varint[] = {LOC(13, 1), 0x44};
    /* Extra bytes cut off: the entry still covers its range. */
    static const uint8_t trunc_long[] = {LOC(14, 2), 0x04, 0x00};

    CHECK("locations", PY_LINES_LOCATIONS, t, 1000, {INT_MIN, 1000},
          {-2, 1000}, {-1, 1000}, {0, 1000}, {1, 1000}, {2, 1000}, {5, 1000},
          {6, 1001}, {8, 1003}, {9, 1003}, {10, 1003}, {12, 1000}, {14, 1100},
          {29, 1100}, {30, -1}, {33, -1}, {34, 100}, {36, 100}, {38, -1},
          {53, -1}, {54, 100}, {59, 100}, {60, -1}, {61, -1}, {INT_MAX, -1});
    CHECK("locations garbage first byte", PY_LINES_LOCATIONS, garbage_first, 5,
          {0, 5}, {11, 5}, {12, 6}, {13, 6}, {14, -1});
    CHECK("locations code 15 without bit 7", PY_LINES_LOCATIONS,
          code15_no_bit7, 5, {0, 5}, {1, 5}, {2, 6}, {4, -1});
    CHECK("locations truncated varint", PY_LINES_LOCATIONS, trunc_varint, 5,
          {0, 7}, {1, 7}, {2, -1});
    CHECK("locations truncated long form", PY_LINES_LOCATIONS, trunc_long, 5,
          {0, 7}, {3, 7}, {4, -1});
    TAP_EQ_INT(addr2line(PY_LINES_LOCATIONS, NULL, 0, 7, 0), -1,
               "locations: empty table, offset 0 has no line");
    TAP_EQ_INT(addr2line(PY_LINES_LOCATIONS, NULL, 0, 7, -2), 7,
               "locations: empty table, negative offset is firstlineno");
}

static void
test_bad_arguments(void)
{
    static const uint8_t t[] = {4, 1};

    TAP_EQ_INT(addr2line(0, t, sizeof(t), 1, 0), PY_LINE_NONE,
               "format 0 is rejected");
    TAP_EQ_INT(addr2line(5, t, sizeof(t), 1, 0), PY_LINE_NONE,
               "format 5 is rejected");
    {
        /* The same byte is +200 lines in 2.7, -56 from 3.6. */
        static const uint8_t jump[] = {2, 200};

        TAP_EQ_INT(
            addr2line(PY_LINES_LNOTAB_UNSIGNED, jump, sizeof(jump), 1000, 2),
            1200, "lnotab 2.7: line increments are unsigned");
        TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, jump, sizeof(jump), 1000, 2),
                   944, "lnotab 3.6+: line increments are signed");
    }
    TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, NULL, 10, 1, 0), PY_LINE_NONE,
               "NULL table with a length is rejected");
    /* Line arithmetic wraps instead of overflowing (UBSan would see). */
    {
        static const uint8_t up[] = {LOC(14, 1), 0x7e, 0x7f, 0x7f,
                                     0x7f,       0x7f, 0x03};

        TAP_EQ_INT(addr2line(PY_LINES_LOCATIONS, up, sizeof(up), INT_MAX, 0),
                   -2, "locations: line wraps modulo 2^32");
        TAP_EQ_INT(addr2line(PY_LINES_LNOTAB, t, sizeof(t), INT_MAX, 4),
                   INT_MIN, "lnotab: line wraps modulo 2^32");
    }
}

/* xorshift32: a fixed-seed generator, the same garbage on every run. */
static uint32_t
rnd(uint32_t *s)
{
    uint32_t x = *s;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void
test_garbage(void)
{
    static const int addrqs[] = {INT_MIN, -1000,  -2,          -1,     0,
                                 1,       2,      3,           10,     100,
                                 1000,    100000, INT_MAX - 1, INT_MAX};
    uint32_t seed = 0x9e3779b9u;
    long calls = 0, violations = 0;
    int iter;

    for (iter = 0; iter < 20000; iter++) {
        size_t len = rnd(&seed) % (iter % 100 == 0 ? 4096 : 64);
        /* Exact-size heap copy, so ASan catches one byte of overread. */
        uint8_t *t = malloc(len ? len : 1);
        int first = (int)rnd(&seed);
        size_t i, a;

        if (!t) {
            break;
        }
        for (i = 0; i < len; i++) {
            t[i] = (uint8_t)rnd(&seed);
        }
        if (iter % 7 == 0) {
            /* Bias towards bytes with bits 7 and 6 set: long varints. */
            for (i = 0; i < len; i++) {
                t[i] |= 0xc0;
            }
        }
        for (a = 0; a < ARRAY_SIZE(addrqs) + 4; a++) {
            int addrq =
                a < ARRAY_SIZE(addrqs) ? addrqs[a] : (int)(rnd(&seed) % 4096);
            int fmt;

            for (fmt = 0; fmt <= 5; fmt++) {
                int line = addr2line(fmt, t, len, first, addrq);

                calls++;
                /* Properties every version shares. */
                if (addrq < 0 && fmt >= 1 && fmt <= 4 && line != first) {
                    violations++;
                }
                /* A range covers at most 255 (3.10) / 16 (3.11) bytes. */
                if (fmt == PY_LINES_310 &&
                    (long long)addrq >= (long long)(len / 2 + 1) * 255 &&
                    line != -1) {
                    violations++;
                }
                if (fmt == PY_LINES_LOCATIONS &&
                    (long long)addrq >= (long long)len * 16 && line != -1) {
                    violations++;
                }
                if ((fmt == 0 || fmt == 5) && line != PY_LINE_NONE) {
                    violations++;
                }
            }
        }
        free(t);
    }
    TAP_OK(violations == 0,
           "garbage: %ld calls on random tables "
           "terminated in bounds, %ld property violations",
           calls, violations);
}

static void
test_pathological(void)
{
    size_t len = 1 << 20, i;
    uint8_t *t = malloc(len);
    int line;

    if (!t) {
        TAP_OK(0, "allocate 1 MiB");
        return;
    }
    /* 3.10: a megabyte of zero-length ranges, then the end. */
    memset(t, 0, len);
    line = addr2line(PY_LINES_310, t, len, 1, 0);
    TAP_EQ_INT(line, -1, "3.10: 1 MiB of zero-length ranges ends");
    /* 3.11: every byte starts a long-form entry with a long varint. */
    memset(t, 0xf7, len);
    line = addr2line(PY_LINES_LOCATIONS, t, len, 1, INT_MAX);
    TAP_EQ_INT(line, -1, "locations: 1 MiB of 0xf7 ends");
    /* lnotab: 2^19 pairs of 255 bytes, +1 line each. */
    for (i = 0; i < len; i += 2) {
        t[i] = 255;
        t[i + 1] = 1;
    }
    line = addr2line(PY_LINES_LNOTAB, t, len, 1, INT_MAX);
    TAP_EQ_INT(line, 1 + (int)(len / 2), "lnotab: 2^19 pairs summed");
    free(t);
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("PYSPECT_FIXTURES");

    if (!dir || !*dir) {
        dir = "tests/unit/fixtures";
    }
    test_lnotab();
    test_310();
    test_locations();
    test_bad_arguments();
    test_garbage();
    test_pathological();
    test_fixtures(dir);
    return tap_done();
}
