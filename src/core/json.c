/*
 * json.c - the streaming JSON writer.
 *
 * Layer: core.
 */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

void
json_init(struct json *j, struct strbuf *out, int pretty)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
    j->pretty = pretty;
}

static void
json_newline(struct json *j)
{
    static const char spaces[] = "\n" /* then 2 * JSON_MAX_DEPTH spaces */
                                 "                                "
                                 "                                ";
    int depth = j->depth < JSON_MAX_DEPTH ? j->depth : JSON_MAX_DEPTH;

    if (j->pretty) {
        strbuf_add(j->out, spaces, 1 + 2 * (size_t)depth);
    }
}

/* Decimal digits of v into the end of buf; returns the first digit. */
static char *
json_digits(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* Separator before a value or a key at the current depth. */
static void
json_sep(struct json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (j->count[j->depth - 1] != 0) {
            strbuf_addch(j->out, ',');
        }
        j->count[j->depth - 1] = 1;
        json_newline(j);
    }
}

static void
json_open(struct json *j, char c)
{
    json_sep(j);
    strbuf_addch(j->out, c);
    if (j->depth < JSON_MAX_DEPTH) {
        j->count[j->depth] = 0;
    }
    j->depth++;
}

static void
json_close(struct json *j, char c)
{
    int had = j->depth <= JSON_MAX_DEPTH && j->count[j->depth - 1];

    j->depth--;
    if (had) {
        json_newline(j);
    }
    strbuf_addch(j->out, c);
}

void
json_object_begin(struct json *j)
{
    json_open(j, '{');
}

void
json_object_end(struct json *j)
{
    json_close(j, '}');
}

void
json_array_begin(struct json *j)
{
    json_open(j, '[');
}

void
json_array_end(struct json *j)
{
    json_close(j, ']');
}

void
json_key(struct json *j, const char *key)
{
    json_sep(j);
    json_quote(j->out, key, strlen(key));
    strbuf_addstr(j->out, j->pretty ? ": " : ":");
    j->after_key = 1;
}

/* Bytes that go into a JSON string as they are: printable ASCII but the
 * quote and the backslash. */
static inline int
json_plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

void
json_quote(struct strbuf *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    strbuf_addch(out, '"');
    while (i < len) {
        unsigned c = s[i];
        uint32_t cp;
        int n;

        if (json_plain(c)) {
            size_t start = i;

            while (i < len && json_plain(s[i])) {
                i++;
            }
            strbuf_add(out, s + start, i - start);
            continue;
        }
        switch (c) {
        case '"':
            strbuf_addstr(out, "\\\"");
            i++;
            continue;
        case '\\':
            strbuf_addstr(out, "\\\\");
            i++;
            continue;
        case '\n':
            strbuf_addstr(out, "\\n");
            i++;
            continue;
        case '\t':
            strbuf_addstr(out, "\\t");
            i++;
            continue;
        case '\r':
            strbuf_addstr(out, "\\r");
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20) {
            strbuf_addf(out, "\\u%04x", c);
            i++;
            continue;
        }
        n = utf8_next(str + i, len - i, &cp);
        if (n < 0) {
            strbuf_addstr(out, "\\ufffd");
            i++;
        } else if (cp == 0) {
            strbuf_addstr(out, "\\u0000"); /* U+0000, the C0 80 form */
            i += (size_t)n;
        } else if (utf8_is_surrogate(cp)) {
            /* A lone surrogate has no UTF-8 form and no valid JSON one
             * (parsers such as jq reject it): U+FFFD, as the text
             * writers do. */
            strbuf_addstr(out, "\\ufffd");
            i += (size_t)n;
        } else {
            strbuf_add(out, s + i, (size_t)n);
            i += (size_t)n;
        }
    }
    strbuf_addch(out, '"');
}

void
json_string(struct json *j, const char *s)
{
    if (s == NULL) {
        json_null(j);
        return;
    }
    json_string_len(j, s, strlen(s));
}

void
json_string_len(struct json *j, const char *s, size_t len)
{
    json_sep(j);
    json_quote(j->out, s, len);
}

void
json_int(struct json *j, long long v)
{
    char buf[24], *end = buf + sizeof(buf), *p;

    json_sep(j);
    p = json_digits(end, v < 0 ? 0ull - (unsigned long long)v
                               : (unsigned long long)v);
    if (v < 0) {
        *--p = '-';
    }
    strbuf_add(j->out, p, (size_t)(end - p));
}

void
json_uint(struct json *j, unsigned long long v)
{
    char buf[24], *end = buf + sizeof(buf), *p;

    json_sep(j);
    p = json_digits(end, v);
    strbuf_add(j->out, p, (size_t)(end - p));
}

void
json_double(struct json *j, double v)
{
    json_sep(j);
    if (!isfinite(v)) {
        strbuf_addstr(j->out, "null");
        return;
    }
    /* The shortest of 15, 16 or 17 digits that reads back as v. */
    {
        char buf[40];
        int prec;

        for (prec = 15; prec < 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, v);
            if (strtod(buf, NULL) == v) {
                break;
            }
        }
        strbuf_addf(j->out, "%.*g", prec, v);
    }
}

void
json_bool(struct json *j, int v)
{
    json_sep(j);
    strbuf_addstr(j->out, v ? "true" : "false");
}

void
json_null(struct json *j)
{
    json_sep(j);
    strbuf_addstr(j->out, "null");
}

void
json_kv_string(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    json_string(j, s);
}

void
json_kv_int(struct json *j, const char *key, long long v)
{
    json_key(j, key);
    json_int(j, v);
}

void
json_kv_uint(struct json *j, const char *key, unsigned long long v)
{
    json_key(j, key);
    json_uint(j, v);
}

void
json_kv_double(struct json *j, const char *key, double v)
{
    json_key(j, key);
    json_double(j, v);
}

void
json_kv_bool(struct json *j, const char *key, int v)
{
    json_key(j, key);
    json_bool(j, v);
}

void
json_kv_raw(struct json *j, const char *key, const char *raw, size_t len)
{
    json_key(j, key);
    json_sep(j);
    strbuf_add(j->out, raw, len);
}

void
json_kv_null(struct json *j, const char *key)
{
    json_key(j, key);
    json_null(j);
}
