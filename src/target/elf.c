/*
 * elf.c - ELF symbol and section lookup with libelf.
 *
 * Layer: target.
 */
#include "elf.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "core/xalloc.h"
#include "core/banned.h"

struct elf_sym_entry {
    uint64_t hash;
    const char *name; /* points into libelf's string table */
    uint64_t value;
    uint64_t size;
    int local;
    int undef; /* a reference to a symbol another object defines */
};

struct elf_image {
    int fd;
    Elf *elf;
    int has_symtab;
    uint64_t load_vaddr; /* first PT_LOAD vaddr, page-aligned down */
    struct elf_sym_entry *syms;
    size_t nsyms;
};

static int
sym_cmp(const void *a, const void *b)
{
    const struct elf_sym_entry *x = a, *y = b;

    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    /* Prefer defined, then global symbols when a name appears twice. */
    if (x->undef != y->undef) {
        return x->undef - y->undef;
    }
    return x->local - y->local;
}

static void
elf_index_symbols(struct elf_image *img)
{
    Elf_Scn *scn = NULL;
    size_t alloc = 0;

    while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
        GElf_Shdr shdr;
        Elf_Data *data;
        size_t i, n;

        if (gelf_getshdr(scn, &shdr) == NULL ||
            (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) ||
            shdr.sh_entsize == 0) {
            continue;
        }
        if (shdr.sh_type == SHT_SYMTAB) {
            img->has_symtab = 1;
        }
        data = elf_getdata(scn, NULL);
        if (data == NULL) {
            continue;
        }
        n = shdr.sh_size / shdr.sh_entsize;
        for (i = 0; i < n; i++) {
            GElf_Sym sym;
            const char *name;
            struct elf_sym_entry *e;

            if (gelf_getsym(data, (int)i, &sym) == NULL || sym.st_name == 0) {
                continue;
            }
            name = elf_strptr(img->elf, shdr.sh_link, sym.st_name);
            if (name == NULL || name[0] == '\0') {
                continue;
            }
            XGROW(img->syms, alloc, img->nsyms + 1);
            e = &img->syms[img->nsyms++];
            e->name = name;
            e->hash = hash_bytes(name, strlen(name));
            e->value = sym.st_value;
            e->size = sym.st_size;
            e->local = GELF_ST_BIND(sym.st_info) == STB_LOCAL;
            e->undef = sym.st_shndx == SHN_UNDEF;
        }
    }
    if (img->nsyms > 1) {
        qsort(img->syms, img->nsyms, sizeof(*img->syms), sym_cmp);
    }
}

int
elf_image_open(const char *path, struct elf_image **out)
{
    struct elf_image *img;
    size_t i, nphdr;
    int fd;

    if (elf_version(EV_CURRENT) == EV_NONE) {
        return err_set(PS_EELF, "libelf initialisation failed");
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return err_set(PS_ENOTFOUND, "%s", path);
        }
        return err_set(errno == EACCES ? PS_EPERM : PS_EIO,
                       "cannot open %s: %s", path, strerror(errno));
    }
    img = xcalloc(1, sizeof(*img));
    img->fd = fd;
    img->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (img->elf == NULL || elf_kind(img->elf) != ELF_K_ELF ||
        gelf_getclass(img->elf) != ELFCLASS64) {
        elf_image_close(img);
        return err_set(PS_EELF, "%s is not a 64-bit ELF file", path);
    }
    img->load_vaddr = 0;
    if (elf_getphdrnum(img->elf, &nphdr) == 0) {
        for (i = 0; i < nphdr; i++) {
            GElf_Phdr ph;

            if (gelf_getphdr(img->elf, (int)i, &ph) != NULL &&
                ph.p_type == PT_LOAD) {
                img->load_vaddr = ph.p_vaddr & ~(uint64_t)0xfff;
                break;
            }
        }
    }
    elf_index_symbols(img);
    *out = img;
    return 0;
}

void
elf_image_close(struct elf_image *img)
{
    if (img == NULL) {
        return;
    }
    if (img->elf != NULL) {
        elf_end(img->elf);
    }
    if (img->fd >= 0) {
        close(img->fd);
    }
    free(img->syms);
    free(img);
}

/* The first index entry named name (defined ones sort first), or NULL. */
static const struct elf_sym_entry *
elf_find(const struct elf_image *img, const char *name)
{
    uint64_t h = hash_bytes(name, strlen(name));
    size_t lo = 0, hi = img->nsyms;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (img->syms[mid].hash < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (; lo < img->nsyms && img->syms[lo].hash == h; lo++) {
        if (strcmp(img->syms[lo].name, name) == 0) {
            return &img->syms[lo];
        }
    }
    return NULL;
}

int
elf_image_symbol(const struct elf_image *img, const char *name,
                 struct elf_symbol *sym)
{
    const struct elf_sym_entry *e = elf_find(img, name);

    if (e == NULL || e->undef) {
        return PS_ENOTFOUND;
    }
    sym->value = e->value;
    sym->size = e->size;
    return 0;
}

int
elf_image_imports(const struct elf_image *img, const char *name)
{
    const struct elf_sym_entry *e = elf_find(img, name);

    return e != NULL && e->undef;
}

int
elf_image_symbol_prefix(const struct elf_image *img, const char *prefix,
                        uint64_t size, struct elf_symbol *sym)
{
    size_t i, plen = strlen(prefix);

    for (i = 0; i < img->nsyms; i++) {
        const struct elf_sym_entry *e = &img->syms[i];

        if (e->local && !e->undef && e->size == size &&
            strncmp(e->name, prefix, plen) == 0 &&
            (e->name[plen] == '\0' || e->name[plen] == '.')) {
            sym->value = e->value;
            sym->size = e->size;
            return 0;
        }
    }
    return PS_ENOTFOUND;
}

int
elf_image_section(const struct elf_image *img, const char *name,
                  uint64_t *addr, uint64_t *size)
{
    Elf_Scn *scn = NULL;
    size_t shstrndx;

    if (elf_getshdrstrndx(img->elf, &shstrndx) != 0) {
        return PS_ENOTFOUND;
    }
    while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
        GElf_Shdr shdr;
        const char *sname;

        if (gelf_getshdr(scn, &shdr) == NULL) {
            continue;
        }
        sname = elf_strptr(img->elf, shstrndx, shdr.sh_name);
        if (sname != NULL && strcmp(sname, name) == 0) {
            *addr = shdr.sh_addr;
            *size = shdr.sh_size;
            return 0;
        }
    }
    return PS_ENOTFOUND;
}

int
elf_image_has_symtab(const struct elf_image *img)
{
    return img->has_symtab;
}

uint64_t
elf_image_bias(const struct elf_image *img, raddr_t map_start)
{
    return map_start - img->load_vaddr;
}
