/*
 * fuzz_glibc.c - glibc malloc's arenas, bins, fastbins, heaps and chunks,
 * walked over a synthetic target the input damages.
 *
 * Layer: tests.  Input: a glibc version byte, then patches over the
 * arena page, the main heap and the thread heap (one region).
 */
#include "fuzz.h"

#include "glibc_synth.h"

/* The three buffers of struct image, patched as one. */
static void
patch_image(struct image *im, const uint8_t *data, size_t size)
{
    unsigned char *flat = malloc(sizeof(*im));

    memcpy(flat, im, sizeof(*im));
    fuzz_patch(flat, sizeof(*im), HEAP, data, size);
    memcpy(im, flat, sizeof(*im));
    free(flat);
}

static void
count_chunk(void *ctx, raddr_t chunk_addr, uint64_t size, int in_use,
            const unsigned char *data, size_t len)
{
    uint64_t *n = ctx;

    (void)chunk_addr;
    (void)in_use;
    *n += size + (len ? data[len - 1] : 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int minors[] = {27, 31, 32, 35, 36, 39};
    static struct image *im;
    struct glibc_malloc gm;
    struct glibc_chunk_stats st;
    struct memsrc *src;
    struct maps maps;
    uint64_t n = 0;

    if (size < 1) {
        return 0;
    }
    if (im == NULL) {
        im = calloc(1, sizeof(*im));
    }
    L = glibc_layout_for(minors[data[0] % 6]);
    build(im);
    patch_image(im, data + 1, size - 1);
    src = source(im);
    maps_of(&maps);
    gm_of(&gm);
    if (glibc_malloc_walk(&gm, src, &maps) == 0) {
        glibc_chunk_walk(&gm, src, 4096, count_chunk, &n, &st);
    }
    glibc_malloc_release(&gm);
    free(maps.v);
    memsrc_free(src);
    return 0;
}
