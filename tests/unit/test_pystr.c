/*
 * test_pystr.c - unit tests of the PEP 393 str decoders (and 2.7's).
 *
 * Layer: tests.  Kinds 1, 2 and 4 with the names the end-to-end tests use
 * ('fünf', '函数', '𠀀'), lone surrogates, U+0000, truncation at every
 * output capacity, bad kinds and code points, utf8_next() on valid and
 * invalid input, an exhaustive round trip over all code points, and state
 * words read from the real interpreters.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pystr.h"
#include "core/utf8.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Encode and compare with the expected bytes and the returned length. */
static void
check_encode(const char *what, int kind, const void *data, size_t n,
             const char *want)
{
    char out[64];
    long got = py_ucs_to_utf8(kind, data, n, out, sizeof(out));

    TAP_EQ_INT(got, (long)strlen(want), what);
    TAP_EQ_STR(out, want, what);
}

static void
test_kinds(void)
{
    static const uint8_t fuenf1[] = {'f', 0xfc, 'n', 'f'};
    static const uint8_t fuenf2[] = {'f', 0, 0xfc, 0, 'n', 0, 'f', 0};
    static const uint8_t hanshu2[] = {0xfd, 0x51, 0x70, 0x65}; /* 函数 */
    static const uint8_t cjk_b4[] = {0x00, 0x00, 0x02, 0x00};  /* 𠀀 */
    static const uint8_t mixed4[] = {
        'a',  0,    0,    0,    0xe9, 0, 0,    0,    0x00, 0x00,
        0x02, 0x00, 0xfd, 0x51, 0,    0, 0xff, 0xff, 0x10, 0x00,
    };
    static const uint8_t ascii1[] = {'m', 'a', 'i', 'n'};
    static const uint8_t latin1_top[] = {0x7f, 0x80, 0xff};
    static const uint8_t bmp_edges2[] = {0xff, 0x07, 0x00, 0x08, 0xff, 0xff};
    char unaligned[16];

    check_encode("kind 1 ascii", 1, ascii1, 4, "main");
    check_encode("kind 1 fünf", 1, fuenf1, 4, "f\xc3\xbcnf");
    check_encode("kind 1 7f 80 ff", 1, latin1_top, 3, "\x7f\xc2\x80\xc3\xbf");
    check_encode("kind 2 fünf", 2, fuenf2, 4, "f\xc3\xbcnf");
    check_encode("kind 2 函数", 2, hanshu2, 2, "\xe5\x87\xbd\xe6\x95\xb0");
    check_encode("kind 2 U+07FF U+0800 U+FFFF", 2, bmp_edges2, 3,
                 "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    check_encode("kind 4 𠀀", 4, cjk_b4, 1, "\xf0\xa0\x80\x80");
    check_encode("kind 4 mixed up to U+10FFFF", 4, mixed4, 5,
                 "a\xc3\xa9\xf0\xa0\x80\x80\xe5\x87\xbd\xf4\x8f\xbf\xbf");
    check_encode("zero code points", 4, mixed4, 0, "");

    /* Data straight from a remote copy need not be aligned. */
    memcpy(unaligned + 1, cjk_b4, sizeof(cjk_b4));
    check_encode("kind 4 unaligned", 4, unaligned + 1, 1, "\xf0\xa0\x80\x80");
    memcpy(unaligned + 3, hanshu2, sizeof(hanshu2));
    check_encode("kind 2 unaligned", 2, unaligned + 3, 2,
                 "\xe5\x87\xbd\xe6\x95\xb0");
}

static void
test_special_code_points(void)
{
    /* What '\udc80' (surrogateescape of byte 0x80) and '\ud83d\ude00'
       (two code points) give with Python's 'surrogatepass'. */
    static const uint8_t lone2[] = {0x80, 0xdc};
    static const uint8_t pair2[] = {0x3d, 0xd8, 0x00, 0xde};
    static const uint8_t pair4[] = {0x3d, 0xd8, 0, 0, 0x00, 0xde, 0, 0};
    static const uint8_t edges2[] = {0xff, 0xd7, 0x00, 0xd8,
                                     0xff, 0xdf, 0x00, 0xe0};
    static const uint8_t nul1[] = {'a', 0, 'b'};
    static const uint8_t nul4[] = {0, 0, 0, 0};
    char out[16];
    uint32_t cp = 1;

    check_encode("lone low surrogate", 2, lone2, 1, "\xed\xb2\x80");
    check_encode("surrogate pair stays two code points", 2, pair2, 2,
                 "\xed\xa0\xbd\xed\xb8\x80");
    check_encode("surrogates in kind 4", 4, pair4, 2,
                 "\xed\xa0\xbd\xed\xb8\x80");
    check_encode("U+D7FF U+D800 U+DFFF U+E000", 2, edges2, 4,
                 "\xed\x9f\xbf\xed\xa0\x80\xed\xbf\xbf\xee\x80\x80");
    /* U+0000 is C0 80, so the output stays one C string. */
    TAP_EQ_INT(py_ucs_to_utf8(1, nul1, 3, out, sizeof(out)), 4,
               "U+0000 takes two bytes");
    TAP_OK(memcmp(out,
                  "a\xc0\x80"
                  "b",
                  5) == 0,
           "U+0000 is C0 80");
    TAP_EQ_INT(py_ucs_to_utf8(4, nul4, 1, out, sizeof(out)), 2,
               "kind 4 U+0000");
    TAP_EQ_INT(utf8_next("\xc0\x80", 2, &cp), 2, "C0 80 decodes");
    TAP_EQ_INT(cp, 0, "C0 80 is U+0000");
}

static void
test_errors(void)
{
    static const uint8_t above[] = {0x00, 0x00, 0x11, 0x00}; /* 110000 */
    static const uint8_t huge[] = {'a', 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t ok[] = {'o', 'k'};
    static const int kinds[] = {0, 3, 5, 8, -1, INT_MAX};
    char out[8];
    size_t i;

    for (i = 0; i < ARRAY_SIZE(kinds); i++) {
        char name[64];

        memcpy(out, "junk", 5);
        snprintf(name, sizeof(name), "kind %d is rejected", kinds[i]);
        TAP_EQ_INT(py_ucs_to_utf8(kinds[i], ok, 2, out, sizeof(out)),
                   PY_STR_EKIND, name);
        TAP_EQ_STR(out, "", "output is empty after a bad kind");
    }
    TAP_EQ_INT(py_ucs_to_utf8(4, above, 1, out, sizeof(out)), PY_STR_ERANGE,
               "U+110000 is rejected");
    memcpy(out, "junk", 5);
    TAP_EQ_INT(py_ucs_to_utf8(4, huge, 2, out, sizeof(out)), PY_STR_ERANGE,
               "0xffffffff after a valid character is rejected");
    TAP_EQ_STR(out, "", "output is empty after a bad code point");
    TAP_EQ_INT(py_ucs_to_utf8(7, NULL, 0, NULL, 0), PY_STR_EKIND,
               "bad kind with no buffer");
}

/*
 * Every capacity from 0 up: the result is always the full length, the
 * output is the longest prefix of whole characters that fits with its NUL,
 * and nothing past outcap is written.
 */
static void
check_truncation(const char *what, int kind, const void *data, size_t n,
                 const char *full, const size_t *bounds, size_t nbounds)
{
    size_t full_len = strlen(full), cap;
    int bad = 0;

    for (cap = 0; cap <= full_len + 2; cap++) {
        char buf[64];
        size_t want = 0, i;
        long got;

        memset(buf, 'Z', sizeof(buf));
        got = py_ucs_to_utf8(kind, data, n, cap ? buf : NULL, cap);
        /* The longest character boundary that leaves room for the NUL. */
        for (i = 0; i < nbounds; i++) {
            if (bounds[i] < cap) {
                want = bounds[i];
            }
        }
        if (got != (long)full_len) {
            bad++;
        }
        if (cap > 0 && (strlen(buf) != want || memcmp(buf, full, want) != 0)) {
            bad++;
        }
        if (buf[cap] != 'Z') {
            bad++;
        }
    }
    TAP_OK(bad == 0, "%s: truncated at character boundaries (%d errors)", what,
           bad);
}

static void
test_truncation(void)
{
    static const uint8_t fuenf1[] = {'f', 0xfc, 'n', 'f'};
    static const size_t fuenf_b[] = {0, 1, 3, 4, 5};
    static const uint8_t mixed4[] = {
        0x00, 0x00, 0x02, 0x00, 'a', 0, 0,    0,    0xfd, 0x51,
        0,    0,    0xe9, 0,    0,   0, 0x80, 0xdc, 0,    0,
    };
    static const size_t mixed_b[] = {0, 4, 5, 8, 10, 13};
    static const uint8_t wide_then_narrow[] = {0xe9, 'a'};
    char out[4];

    check_truncation("fünf", 1, fuenf1, 4, "f\xc3\xbcnf", fuenf_b,
                     ARRAY_SIZE(fuenf_b));
    check_truncation("𠀀a函é\\udc80", 4, mixed4, 5,
                     "\xf0\xa0\x80\x80"
                     "a\xe5\x87\xbd\xc3\xa9\xed\xb2\x80",
                     mixed_b, ARRAY_SIZE(mixed_b));
    /* 'é' does not fit in 2 bytes with its NUL; 'a' would, but the output
       is a prefix, so it is not written either. */
    TAP_EQ_INT(py_ucs_to_utf8(1, wide_then_narrow, 2, out, 2), 3,
               "prefix: needed length");
    TAP_EQ_STR(out, "", "prefix: no later character after a cut");
    TAP_EQ_INT(py_ucs_to_utf8(1, fuenf1, 4, NULL, 0), 5,
               "NULL buffer measures");
}

struct bad_seq {
    const char *s;
    size_t len;
    const char *what;
};

static void
test_utf8_next(void)
{
    static const struct bad_seq bad[] = {
        {"", 0, "empty"},
        {"\x80", 1, "lone continuation"},
        {"\xbf", 1, "lone continuation bf"},
        {"\xc0\x81", 2, "overlong C0 81"},
        {"\xc0", 1, "C0 alone"},
        {"\xc1\xbf", 2, "overlong C1"},
        {"\xe0\x80\x80", 3, "overlong 3-byte"},
        {"\xe0\x9f\xbf", 3, "overlong 3-byte U+07FF"},
        {"\xf0\x80\x80\x80", 4, "overlong 4-byte"},
        {"\xf0\x8f\xbf\xbf", 4, "overlong 4-byte U+FFFF"},
        {"\xf4\x90\x80\x80", 4, "above U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, "F5"},
        {"\xff", 1, "FF"},
        {"\xe6\x95", 2, "truncated 3-byte"},
        {"\xf0\xa0\x80", 3, "truncated 4-byte"},
        {"\xc3", 1, "truncated 2-byte"},
        {"\xe6\x41\x80", 3, "bad continuation"},
        {"\xf0\xa0\xc0\x80", 4, "bad third byte"},
    };
    static const struct {
        const char *s;
        size_t len;
        uint32_t cp;
        int used;
    } good[] = {
        {"A", 1, 0x41, 1},
        {"\xc3\xbc"
         "x",
         3, 0xfc, 2},
        {"\xe5\x87\xbd", 3, 0x51fd, 3},
        {"\xed\xb2\x80", 3, 0xdc80, 3},
        {"\xed\xa0\xbd\xed\xb8\x80", 6, 0xd83d, 3},
        {"\xf0\xa0\x80\x80", 4, 0x20000, 4},
        {"\xf4\x8f\xbf\xbf", 4, 0x10ffff, 4},
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        uint32_t cp = 0x1234;

        TAP_EQ_INT(utf8_next(bad[i].s, bad[i].len, &cp), -1, bad[i].what);
    }
    for (i = 0; i < ARRAY_SIZE(good); i++) {
        uint32_t cp = 0;
        char name[64];

        snprintf(name, sizeof(name), "decode U+%04X", (unsigned)good[i].cp);
        TAP_EQ_INT(utf8_next(good[i].s, good[i].len, &cp), good[i].used, name);
        TAP_EQ_INT(cp, good[i].cp, name);
    }
}

/* Every code point through both directions, as kind 4 and narrower. */
static void
test_round_trip(void)
{
    uint32_t c;
    long bad = 0;

    for (c = 0; c <= 0x10ffff; c++) {
        uint8_t in[4] = {(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16), 0};
        char out[8];
        uint32_t back = 0xffffffff;
        size_t want = c == 0        ? 2
                      : c < 0x80    ? 1
                      : c < 0x800   ? 2
                      : c < 0x10000 ? 3
                                    : 4;
        long n = py_ucs_to_utf8(4, in, 1, out, sizeof(out));

        if (n != (long)want || utf8_next(out, (size_t)n, &back) != n ||
            back != c || strlen(out) != want) {
            bad++;
        }
        if (c <= 0xffff) {
            char out2[8];

            if (py_ucs_to_utf8(2, in, 1, out2, sizeof(out2)) != n ||
                memcmp(out, out2, (size_t)n) != 0) {
                bad++;
            }
        }
        if (c <= 0xff) {
            char out1[8];

            if (py_ucs_to_utf8(1, in, 1, out1, sizeof(out1)) != n ||
                memcmp(out, out1, (size_t)n) != 0) {
                bad++;
            }
        }
    }
    TAP_OK(bad == 0, "round trip of all 0x110000 code points (%ld errors)",
           bad);
}

static void
test_state(void)
{
    /*
     * state words read with ctypes from live strs of the real interpreters
     * (tests of the decoder, not of pyspect's reading).  Bits above 7 are
     * padding that CPython does not clear: 3.11 'fünf' had 0x07c74ca4.
     */
    static const struct {
        const char *what;
        uint32_t state;
        int kind, compact, ascii;
    } real[] = {
        {"3.6 'abc'", 0xe5, 1, 1, 1},
        {"3.6 'fünf'", 0xa4, 1, 1, 0},
        {"3.6 '函数'", 0xa8, 2, 1, 0},
        {"3.6 '𠀀'", 0xb0, 4, 1, 0},
        {"3.11 'fünf'", 0x07c74ca4, 1, 1, 0},
        {"3.11 '𠀀'", 0x017400b0, 4, 1, 0},
        {"3.12 'abc' (static)", 0xe7, 1, 1, 1},
        {"3.12 '函数'", 0x4d35d428, 2, 1, 0},
        {"3.13 'abc'", 0x66, 1, 1, 1},
        {"3.13 '𠀀'", 0x6df1f830, 4, 1, 0},
        {"3.13 'x1'", 0x808064, 1, 1, 1},
    };
    struct py_str_state st;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(real); i++) {
        int rc =
            py_str_state_decode(real[i].state, PY_STR_KIND_SHIFT,
                                PY_STR_COMPACT_BIT, PY_STR_ASCII_BIT, &st);

        TAP_OK(rc == 0 && st.kind == real[i].kind &&
                   st.compact == real[i].compact && st.ascii == real[i].ascii,
               "state %s: kind %d compact %d ascii %d", real[i].what, st.kind,
               st.compact, st.ascii);
    }
    /* 3.14 free-threaded: interned is a byte, kind at 8. */
    TAP_OK(py_str_state_decode(0x2aff, PY_STR_FT314_KIND_SHIFT,
                               PY_STR_FT314_COMPACT_BIT,
                               PY_STR_FT314_ASCII_BIT, &st) == 0 &&
               st.kind == 2 && st.compact == 1 && st.ascii == 0,
           "state 3.14t: kind bits are 8-10");
    TAP_OK(py_str_state_decode(0x1cff, PY_STR_FT314_KIND_SHIFT,
                               PY_STR_FT314_COMPACT_BIT,
                               PY_STR_FT314_ASCII_BIT, &st) == 0 &&
               st.kind == 4 && st.compact == 1 && st.ascii == 1,
           "state 3.14t: kind 4, compact, ascii bits");
    TAP_OK(py_str_state_decode(0, PY_STR_KIND_SHIFT, PY_STR_COMPACT_BIT,
                               PY_STR_ASCII_BIT, &st) == 0 &&
               st.kind == 0,
           "state 0: kind 0 (legacy, not ready)");
    st.kind = 9;
    TAP_EQ_INT(py_str_state_decode(0xffffffff, 30, 5, 6, &st), -1,
               "kind shift 30 is rejected");
    TAP_EQ_INT(st.kind, 0, "rejected state is zeroed");
    TAP_EQ_INT(py_str_state_decode(0xffffffff, 2, 32, 6, &st), -1,
               "compact bit 32 is rejected");
    TAP_EQ_INT(py_str_state_decode(0xffffffff, 2, 5, -1, &st), -1,
               "ascii bit -1 is rejected");
    TAP_OK(py_str_state_decode(0xffffffff, 29, 31, 0, &st) == 0 &&
               st.kind == 7 && st.compact == 1 && st.ascii == 1,
           "highest positions accepted; kind returned as stored");
}

/* 2.7: byte strings and narrow-build (UTF-16) unicode. */
static void
test_py27(void)
{
    /* "fünf-函数-𠀀" as UTF-8, then with a stray byte and a truncated
     * sequence, an overlong '/', an encoded surrogate, and a NUL. */
    static const uint8_t utf8[] = "f\xc3\xbcnf-\xe5\x87\xbd\xe6\x95\xb0-"
                                  "\xf0\xa0\x80\x80";
    static const uint8_t bad[] = {'a', 0xff, 'b', 0xe5, 0x87};
    static const uint8_t overlong[] = {0xc0, 0xaf, 0xed, 0xa0, 0x80, 0};
    /* 'a', U+20000 as a pair, a lone high, 'x', a lone low, 'z'. */
    static const uint8_t utf16[] = {'a',  0,   0x40, 0xd8, 0x00, 0xdc, 0x3d,
                                    0xd8, 'x', 0,    0x01, 0xdc, 'z',  0};
    char out[64];

    TAP_EQ_INT(py_bytes_to_utf8(utf8, sizeof(utf8) - 1, out, sizeof(out)),
               (long)sizeof(utf8) - 1, "bytes: UTF-8 length kept");
    TAP_EQ_STR(out, (const char *)utf8, "bytes: UTF-8 passes through");
    TAP_EQ_INT(py_bytes_to_utf8(bad, sizeof(bad), out, sizeof(out)), 11,
               "bytes: stray bytes escaped");
    TAP_EQ_STR(out,
               "a\xed\xb3\xbf"
               "b\xed\xb3\xa5\xed\xb2\x87",
               "bytes: stray and cut-off bytes become U+DC80 + byte");
    TAP_EQ_INT(py_bytes_to_utf8(overlong, sizeof(overlong), out, sizeof(out)),
               17, "bytes: overlong and surrogate forms escaped");
    TAP_EQ_STR(out,
               "\xed\xb3\x80\xed\xb2\xaf\xed\xb3\xad\xed\xb2\xa0"
               "\xed\xb2\x80\xc0\x80",
               "bytes: byte by byte, NUL as C0 80");
    TAP_EQ_INT(py_bytes_to_utf8(utf8, sizeof(utf8) - 1, out, 4), 17,
               "bytes: the length needed, when cut");
    TAP_EQ_STR(out, "f\xc3\xbc", "bytes: cut at a character boundary");
    TAP_EQ_INT(py_utf16_to_utf8(utf16, 7, out, sizeof(out)), 13,
               "utf16: length");
    TAP_EQ_STR(out, "a\xf0\xa0\x80\x80\xed\xa0\xbdx\xed\xb0\x81z",
               "utf16: a pair is one character, lone surrogates stay");
    TAP_EQ_INT(py_utf16_to_utf8(utf16, 2, out, sizeof(out)), 4,
               "utf16: a high surrogate at the end stays alone");
}

int
main(void)
{
    test_kinds();
    test_special_code_points();
    test_errors();
    test_truncation();
    test_utf8_next();
    test_round_trip();
    test_state();
    test_py27();
    return tap_done();
}
