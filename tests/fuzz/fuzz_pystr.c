/*
 * fuzz_pystr.c - str, bytes and C-string objects of every layout, read
 * from a synthetic target the input damages.
 *
 * Layer: tests.  Input: a layout byte, then patches (fuzz.h) over the
 * objects.
 */
#define SIZE (64u << 10) /* the image: small, rebuilt per input */
#include "fuzz.h"

#include "core/strbuf.h"
#include "python/pyobj.h"
#include "synth.h"

static unsigned char *mem;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image im;
    struct py_runtime *rt;
    struct strbuf sb = STRBUF_INIT;
    raddr_t s1, s2, b1;
    unsigned char *bytes = NULL;
    size_t nbytes = 0;
    int truncated;

    if (size < 1) {
        return 0;
    }
    if (mem == NULL) {
        mem = calloc(1, SIZE);
    }
    im.mem = mem;
    im.l = py_layouts_generated[data[0] % py_layouts_generated_count];
    memset(mem, 0, SIZE);
    im.used = 0;
    im.code_type = img_alloc(&im, 512);
    im.str_type = img_alloc(&im, 512);
    im.bytes_type = img_alloc(&im, 512);
    s1 = make_str(&im, "a str the fuzzer damages");
    s2 = make_str(&im, "");
    b1 = make_bytes(&im, (const unsigned char *)"\x01\x02\x03", 3);
    fuzz_patch(mem, im.used, BASE, data + 1, size - 1);
    rt = py_runtime_from_memsrc(source_of(&im), im.l);
    rt->str_type = im.str_type;
    rt->bytes_type = im.bytes_type;
    rt->code_type = im.code_type;
    py_str_read(&rt->reader, s1, 4096, &sb, &truncated);
    strbuf_reset(&sb);
    py_str_read(&rt->reader, s2, 16, &sb, &truncated);
    strbuf_reset(&sb);
    py_cstr_read(&rt->reader, s1 + 16, 256, &sb);
    py_str_equals(&rt->reader, s1, "a str the fuzzer damages");
    if (py_bytes_read(&rt->reader, b1, 1 << 20, &bytes, &nbytes) == 0) {
        free(bytes);
    }
    strbuf_release(&sb);
    py_runtime_free(rt);
    return 0;
}
