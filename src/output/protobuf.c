/*
 * protobuf.c - a minimal protocol buffers encoder for the pprof writer.
 *
 * Layer: output.  See protobuf.h; the wire format is the one documented
 * at protobuf.dev ("Encoding"): little-endian base-128 varints, a key of
 * (field << 3 | wire type) before every value.
 */
#include "output/protobuf.h"
#include "core/banned.h"

void
pb_varint(struct strbuf *b, uint64_t v)
{
    unsigned char buf[10];
    size_t n = 0;

    while (v >= 0x80) {
        buf[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (unsigned char)v;
    strbuf_add(b, buf, n);
}

void
pb_key(struct strbuf *b, uint32_t field, int wire)
{
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void
pb_uint(struct strbuf *b, uint32_t field, uint64_t v)
{
    if (v != 0) {
        pb_key(b, field, PB_VARINT);
        pb_varint(b, v);
    }
}

void
pb_int(struct strbuf *b, uint32_t field, int64_t v)
{
    pb_uint(b, field, (uint64_t)v);
}

void
pb_bytes(struct strbuf *b, uint32_t field, const void *data, size_t len)
{
    pb_key(b, field, PB_LEN);
    pb_varint(b, len);
    strbuf_add(b, data, len);
}

void
pb_packed(struct strbuf *b, uint32_t field, const uint64_t *v, size_t n)
{
    size_t len = 0, i;

    if (n == 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        uint64_t x = v[i];

        do {
            len++;
            x >>= 7;
        } while (x != 0);
    }
    pb_key(b, field, PB_LEN);
    pb_varint(b, len);
    for (i = 0; i < n; i++) {
        pb_varint(b, v[i]);
    }
}
