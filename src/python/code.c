/*
 * code.c - decode and cache code objects.
 *
 * Layer: python.
 */
#include "code.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "python/linetable.h"
#include "python/opcodes.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* Bounds on what one code object may make us read. */
#define CODE_NAME_MAX 4096
#define CODE_LINETABLE_MAX (4u << 20)
/* Bytecode decoded for its instruction boundaries, at most. */
#define CODE_BYTES_MAX (1u << 20)
#define CODE_HEADER_MAX 512

struct py_code *
py_code_ref(struct py_code *c)
{
    c->refs++;
    return c;
}

void
py_code_unref(struct py_code *c)
{
    if (c == NULL || --c->refs > 0) {
        return;
    }
    free(c->name);
    free(c->qualname);
    free(c->filename);
    free(c->linetable);
    free(c->starts);
    free(c);
}

void
py_code_cache_clear(struct py_runtime *rt)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&rt->codes, &it, &key, &value)) {
        py_code_unref(value);
    }
    hashmap_clear(&rt->codes);
}

void
py_code_forget_user(struct py_runtime *rt)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&rt->codes, &it, &key, &value)) {
        struct py_code *c = value;

        c->user_name = UINT32_MAX;
        c->user_file = UINT32_MAX;
        c->user_frame = UINT32_MAX;
    }
}

static int
read_name(struct py_runtime *rt, raddr_t addr, char **out)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = py_str_read(&rt->reader, addr, CODE_NAME_MAX, &sb, NULL);

    if (rc < 0) {
        strbuf_release(&sb);
        return rc;
    }
    *out = strbuf_detach(&sb);
    return 0;
}

/*
 * Bytes a frame of this code takes on a 3.11+ data stack: co_framesize
 * words (3.12+), or what 3.11 pushes, co_nlocalsplus + co_stacksize +
 * FRAME_SPECIALS_SIZE (the frame struct's words before localsplus).
 * 0 when unknown or not believable.
 */
static int64_t
frame_bytes_of(const struct py_layout *l, const unsigned char *hdr)
{
    int64_t words;

    if (pyl_has(l->code_framesize)) {
        words = load_i32(hdr, l->code_framesize);
    } else if (pyl_has(l->code_code_adaptive) && pyl_has(l->iframe_size) &&
               pyl_has(l->code_nlocalsplus) && pyl_has(l->code_stacksize)) {
        words = (int64_t)load_i32(hdr, l->code_nlocalsplus) +
                load_i32(hdr, l->code_stacksize) + (l->iframe_size - 1) / 8;
    } else {
        return 0;
    }
    return words > 0 && words < (1 << 20) ? 8 * words : 0;
}

/*
 * 3.11, 3.12: which code units begin an instruction that has inline
 * caches, from the bytecode and the version's table of cache entries (a
 * specialized opcode has as many as its base instruction, so the
 * boundaries stay put while the interpreter rewrites opcodes).  Left
 * NULL when there is no table, or the bytecode cannot be read: then
 * nothing is judged by it.
 */
static void
read_starts(struct py_runtime *rt, struct py_code *c)
{
    const struct py_layout *l = &rt->layout;
    const unsigned char *caches = py_opcode_caches(l->major, l->minor);
    size_t n = (size_t)c->code_len / 2, i;
    unsigned char *code;

    if (caches == NULL || n == 0 || (size_t)c->code_len > CODE_BYTES_MAX) {
        return;
    }
    code = xmalloc(2 * n);
    if (memsrc_read(rt->mem, c->code_start, code, 2 * n) == 0) {
        c->starts = xcalloc(1, (n + 7) / 8);
        for (i = 0; i < n; i += 1 + (size_t)caches[code[2 * i]]) {
            if (caches[code[2 * i]] > 0) {
                c->starts[i / 8] |= (unsigned char)(1u << (i % 8));
            }
        }
    }
    free(code);
}

int
py_code_at_call(const struct py_code *c, raddr_t instr)
{
    int64_t off = (int64_t)(instr - c->code_start);
    uint64_t unit;

    if (c->starts == NULL || off < 0 || off >= c->code_len || (off & 1)) {
        return 1; /* not known: not refused */
    }
    unit = (uint64_t)off / 2;
    return !(c->starts[unit / 8] & (1u << (unit % 8)));
}

static int
py_code_read(struct py_runtime *rt, raddr_t addr, struct py_code **out)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[CODE_HEADER_MAX];
    struct py_code *c;
    int rc;

    if (l->code_size <= 0 || l->code_size > CODE_HEADER_MAX) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, addr, hdr, (size_t)l->code_size);
    if (rc < 0) {
        return rc;
    }
    if (rt->code_type != 0 && load_u64(hdr, l->obj_type) != rt->code_type) {
        return PS_ECORRUPT;
    }
    c = xcalloc(1, sizeof(*c));
    c->refs = 1;
    c->addr = addr;
    c->last_addrq = INT32_MIN;
    c->epoch = rt->code_epoch;
    c->user_name = c->user_file = c->user_frame = UINT32_MAX;
    c->linetable_ptr = load_u64(hdr, l->code_linetable);
    c->firstlineno = load_i32(hdr, l->code_firstlineno);
    c->flags = load_i32(hdr, l->code_flags);
    c->format = l->code_linetable_format;
    c->filename_ptr = load_u64(hdr, l->code_filename);
    c->name_ptr = load_u64(hdr, l->code_name);
    if (pyl_has(l->code_code_adaptive)) {
        /* 3.11+: the bytecode is inline, ob_size code units of it. */
        c->code_start = addr + (raddr_t)l->code_code_adaptive;
        c->code_len = 2 * (int64_t)load_u64(hdr, l->var_size);
    } else if (pyl_has(l->code_code)) {
        uint64_t n = 0;

        if (memsrc_read_u64(rt->mem,
                            load_u64(hdr, l->code_code) + (raddr_t)l->var_size,
                            &n) == 0) {
            c->code_len = (int64_t)n;
        }
    }
    if (c->code_len < 0 || c->code_len > (int64_t)INT32_MAX) {
        c->code_len = 0; /* not believable: do not check against it */
    }
    if (pyl_has(l->code_firsttraceable)) {
        c->firsttraceable = load_i32(hdr, l->code_firsttraceable);
    }
    c->framesize = frame_bytes_of(l, hdr);
    read_starts(rt, c);
    rc = read_name(rt, c->name_ptr, &c->name);
    if (rc == 0) {
        rc = read_name(rt, c->filename_ptr, &c->filename);
    }
    if (rc == 0 && pyl_has(l->code_qualname)) {
        rc = read_name(rt, load_u64(hdr, l->code_qualname), &c->qualname);
    }
    if (rc == 0) {
        rc = py_bytes_read(&rt->reader, load_u64(hdr, l->code_linetable),
                           CODE_LINETABLE_MAX, &c->linetable,
                           &c->linetable_len);
    }
    if (rc < 0) {
        py_code_unref(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Is the cached entry still the code object at its address? */
static int
py_code_still(struct py_runtime *rt, const struct py_code *c)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[CODE_HEADER_MAX];

    if (memsrc_read(rt->mem, c->addr, hdr, (size_t)l->code_size) < 0) {
        return 0;
    }
    return load_u64(hdr, l->obj_type) == rt->code_type &&
           load_u64(hdr, l->code_name) == c->name_ptr &&
           load_u64(hdr, l->code_filename) == c->filename_ptr &&
           load_u64(hdr, l->code_linetable) == c->linetable_ptr &&
           load_i32(hdr, l->code_firstlineno) == c->firstlineno;
}

int
py_code_get(struct py_runtime *rt, raddr_t addr, struct py_code **out)
{
    struct py_code *c = hashmap_get(&rt->codes, addr);
    int rc;

    if (c != NULL && c->epoch != rt->code_epoch) {
        if (py_code_still(rt, c)) {
            c->epoch = rt->code_epoch;
        } else {
            hashmap_put(&rt->codes, addr, NULL);
            py_code_unref(c);
            c = NULL;
        }
    }
    if (c == NULL) {
        if (addr == 0 || (addr & 7) != 0) {
            return PS_ECORRUPT;
        }
        rc = py_code_read(rt, addr, &c);
        if (rc < 0) {
            return rc;
        }
        hashmap_put(&rt->codes, addr, c);
    }
    *out = c;
    return 0;
}

int
py_code_addr2line(struct py_code *code, int addrq)
{
    if (addrq != code->last_addrq) {
        code->last_line = py_linetable_addr2line(code->format, code->linetable,
                                                 code->linetable_len,
                                                 code->firstlineno, addrq);
        code->last_addrq = addrq;
    }
    return code->last_line;
}
