/*
 * protobuf.h - the few pieces of the protocol buffers wire format a
 * writer needs (internal to src/output/).
 *
 * Layer: output.  Encoding only: varints, keys, length-delimited fields
 * and packed repeated integers, appended to a strbuf.  A nested message
 * is encoded into a scratch strbuf first and then added with pb_bytes():
 * its length must be known before its bytes.  Scalar helpers skip a zero
 * value, as proto3 does for a field that is not set; pb_bytes() never
 * skips (an empty string in a repeated field is still an element).
 */
#ifndef PYSPECT_OUTPUT_PROTOBUF_H
#define PYSPECT_OUTPUT_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* Wire types. */
#define PB_VARINT 0
#define PB_LEN 2

/* Append v as a base-128 varint (at most 10 bytes). */
void pb_varint(struct strbuf *b, uint64_t v);

/* Append the key of field number field with wire type wire. */
void pb_key(struct strbuf *b, uint32_t field, int wire);

/* A uint64 (or a nonnegative int64) field; nothing when v is 0. */
void pb_uint(struct strbuf *b, uint32_t field, uint64_t v);

/* An int64 field (two's complement, 10 bytes when negative); nothing
 * when v is 0. */
void pb_int(struct strbuf *b, uint32_t field, int64_t v);

/* A length-delimited field: a string, bytes, or an encoded message. */
void pb_bytes(struct strbuf *b, uint32_t field, const void *data, size_t len);

/* A packed repeated integer field of n values; nothing when n is 0.
 * Negative int64 values are passed cast to uint64_t. */
void pb_packed(struct strbuf *b, uint32_t field, const uint64_t *v, size_t n);

#endif /* PYSPECT_OUTPUT_PROTOBUF_H */
