/*
 * json.h - a small streaming JSON writer.
 *
 * Layer: core.  Values are appended to a strbuf; the writer inserts commas
 * and (when pretty) newlines and indentation.  Strings are UTF-8; code
 * points U+D800..U+DFFF encoded as 3-byte sequences (which Python strs can
 * hold, e.g. surrogate-escaped file names) are written as \uDXXX escapes,
 * so a JSON reader gets back the exact str; C0 80 (U+0000 in modified
 * UTF-8, how the python layer keeps NULs out of C strings) becomes \u0000;
 * other invalid bytes become U+FFFD.
 */
#ifndef PYSPECT_CORE_JSON_H
#define PYSPECT_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define JSON_MAX_DEPTH 32

struct json {
    struct strbuf *out;
    int pretty;
    int depth;
    int after_key;
    unsigned char count[JSON_MAX_DEPTH];
};

void json_init(struct json *j, struct strbuf *out, int pretty);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_string_len(struct json *j, const char *s, size_t len);
void json_int(struct json *j, long long v);
void json_uint(struct json *j, unsigned long long v);
/* Finite doubles only; NaN and infinities are written as null. */
void json_double(struct json *j, double v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* key + value in one call. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, long long v);
void json_kv_uint(struct json *j, const char *key, unsigned long long v);
void json_kv_double(struct json *j, const char *key, double v);
void json_kv_bool(struct json *j, const char *key, int v);
void json_kv_null(struct json *j, const char *key);
/* key and a value that is already JSON (e.g. a string quoted once with
 * json_quote() and written many times). */
void json_kv_raw(struct json *j, const char *key, const char *raw, size_t len);

/* Append s to out as a quoted JSON string (no writer state). */
void json_quote(struct strbuf *out, const char *s, size_t len);

#endif /* PYSPECT_CORE_JSON_H */
