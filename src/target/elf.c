/*
 * elf.c - ELF symbol and section lookup with libelf.
 *
 * Layer: target.  Exported symbols are found through the file's GNU hash
 * table (.gnu.hash), as the dynamic loader does: a handful of probes, no
 * index to build.  Static symbols (.symtab), which only old CPythons make
 * pyspect need, are found by a linear scan.
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
#include "core/xalloc.h"
#include "core/banned.h"

struct elf_symtab {
    Elf_Data *data;
    size_t count;
    size_t strndx; /* section index of the string table */
};

struct elf_image {
    int fd;
    Elf *elf;
    uint64_t load_vaddr; /* first PT_LOAD vaddr, page-aligned down */
    struct elf_symtab dynsym;
    struct elf_symtab symtab;
    /* .gnu.hash of .dynsym, when present. */
    const uint32_t *gnu_hash;
    size_t gnu_hash_words;
};

static void
elf_find_tables(struct elf_image *img)
{
    Elf_Scn *scn = NULL;

    while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
        GElf_Shdr shdr;
        struct elf_symtab *t = NULL;

        if (gelf_getshdr(scn, &shdr) == NULL) {
            continue;
        }
        if (shdr.sh_type == SHT_DYNSYM) {
            t = &img->dynsym;
        } else if (shdr.sh_type == SHT_SYMTAB) {
            t = &img->symtab;
        } else if (shdr.sh_type == SHT_GNU_HASH) {
            Elf_Data *d = elf_rawdata(scn, NULL);

            if (d != NULL && d->d_buf != NULL && d->d_size >= 16) {
                img->gnu_hash = d->d_buf;
                img->gnu_hash_words = d->d_size / 4;
            }
        }
        if (t != NULL && shdr.sh_entsize != 0) {
            t->data = elf_getdata(scn, NULL);
            t->count = shdr.sh_size / shdr.sh_entsize;
            t->strndx = shdr.sh_link;
        }
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
    elf_find_tables(img);
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
    free(img);
}

/* Symbol i of t, if it is named name; *defined says if it has a value. */
static int
elf_sym_is(const struct elf_image *img, const struct elf_symtab *t, size_t i,
           const char *name, GElf_Sym *sym)
{
    const char *s;

    if (gelf_getsym(t->data, (int)i, sym) == NULL || sym->st_name == 0) {
        return 0;
    }
    s = elf_strptr(img->elf, t->strndx, sym->st_name);
    return s != NULL && strcmp(s, name) == 0;
}

static uint32_t
gnu_hash_of(const char *name)
{
    uint32_t h = 5381;

    for (; *name; name++) {
        h = h * 33 + (unsigned char)*name;
    }
    return h;
}

/*
 * Look name up in .dynsym through .gnu.hash.  Returns 1 found, 0 not
 * there, -1 when the table cannot be used (the caller then scans).
 */
static int
elf_gnu_lookup(const struct elf_image *img, const char *name, GElf_Sym *sym)
{
    const uint32_t *w = img->gnu_hash;
    size_t nw = img->gnu_hash_words, base;
    uint32_t nbuckets, symoffset, bloom_size, h, i;

    if (w == NULL || img->dynsym.data == NULL) {
        return -1;
    }
    nbuckets = w[0];
    symoffset = w[1];
    bloom_size = w[2]; /* in 64-bit words */
    base = 4 + 2 * (size_t)bloom_size;
    if (nbuckets == 0 || base + nbuckets > nw) {
        return -1;
    }
    h = gnu_hash_of(name);
    i = w[base + h % nbuckets];
    if (i == 0) {
        return 0;
    }
    if (i < symoffset) {
        return -1;
    }
    /* Walk the chain for this bucket; the low bit marks its end. */
    for (; i < img->dynsym.count; i++) {
        size_t c = base + nbuckets + (i - symoffset);
        uint32_t ch;

        if (c >= nw) {
            return -1;
        }
        ch = w[c];
        if ((ch | 1) == (h | 1) &&
            elf_sym_is(img, &img->dynsym, i, name, sym)) {
            return 1;
        }
        if (ch & 1) {
            break;
        }
    }
    return 0;
}

/* Linear search of a table for name (defined or not). */
static int
elf_scan(const struct elf_image *img, const struct elf_symtab *t,
         const char *name, GElf_Sym *sym)
{
    size_t i;

    if (t->data == NULL) {
        return 0;
    }
    for (i = 0; i < t->count; i++) {
        if (elf_sym_is(img, t, i, name, sym)) {
            return 1;
        }
    }
    return 0;
}

/* Find name in .dynsym (hash, else scan), then in .symtab. */
static int
elf_lookup(const struct elf_image *img, const char *name, GElf_Sym *sym)
{
    int r = elf_gnu_lookup(img, name, sym);

    if (r < 0) {
        r = elf_scan(img, &img->dynsym, name, sym);
    }
    if (r > 0 && sym->st_shndx != SHN_UNDEF) {
        return 1;
    }
    if (elf_scan(img, &img->symtab, name, sym) && sym->st_shndx != SHN_UNDEF) {
        return 1;
    }
    return r > 0 ? 2 : 0; /* 2: only an import of that name */
}

int
elf_image_symbol(const struct elf_image *img, const char *name,
                 struct elf_symbol *sym)
{
    GElf_Sym s;

    if (elf_lookup(img, name, &s) != 1) {
        return PS_ENOTFOUND;
    }
    sym->value = s.st_value;
    sym->size = s.st_size;
    return 0;
}

int
elf_image_dynamic_symbol(const struct elf_image *img, const char *name,
                         struct elf_symbol *sym)
{
    GElf_Sym s;
    int r = elf_gnu_lookup(img, name, &s);

    if (r < 0) {
        r = elf_scan(img, &img->dynsym, name, &s);
    }
    if (r <= 0 || s.st_shndx == SHN_UNDEF) {
        return PS_ENOTFOUND;
    }
    sym->value = s.st_value;
    sym->size = s.st_size;
    return 0;
}

/* The function symbol of t whose extent holds addr (the innermost, when
 * aliases nest). */
static int
elf_scan_at(const struct elf_image *img, const struct elf_symtab *t,
            uint64_t addr, const char **name, uint64_t *start)
{
    GElf_Sym best = {0};
    int found = 0;
    size_t i;

    if (t->data == NULL) {
        return 0;
    }
    for (i = 0; i < t->count; i++) {
        GElf_Sym sym;

        if (gelf_getsym(t->data, (int)i, &sym) == NULL || sym.st_name == 0 ||
            sym.st_shndx == SHN_UNDEF ||
            GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value > addr ||
            addr - sym.st_value >= sym.st_size) {
            continue;
        }
        if (!found || sym.st_value > best.st_value) {
            best = sym;
            found = 1;
        }
    }
    if (!found) {
        return 0;
    }
    *name = elf_strptr(img->elf, t->strndx, best.st_name);
    *start = best.st_value;
    return *name != NULL;
}

int
elf_image_symbol_at(const struct elf_image *img, uint64_t addr,
                    const char **name, uint64_t *start)
{
    if (elf_scan_at(img, &img->symtab, addr, name, start) ||
        elf_scan_at(img, &img->dynsym, addr, name, start)) {
        return 0;
    }
    return PS_ENOTFOUND;
}

int
elf_image_imports(const struct elf_image *img, const char *name)
{
    GElf_Sym s;
    int r = elf_gnu_lookup(img, name, &s);

    /* Imports are never in .gnu.hash: scan .dynsym for them. */
    (void)r;
    return elf_scan(img, &img->dynsym, name, &s) && s.st_shndx == SHN_UNDEF;
}

int
elf_image_symbol_prefix(const struct elf_image *img, const char *prefix,
                        uint64_t size, struct elf_symbol *sym)
{
    const struct elf_symtab *t = &img->symtab;
    size_t i, plen = strlen(prefix);

    if (t->data == NULL) {
        return PS_ENOTFOUND;
    }
    for (i = 0; i < t->count; i++) {
        GElf_Sym s;
        const char *name;

        if (gelf_getsym(t->data, (int)i, &s) == NULL || s.st_name == 0 ||
            s.st_shndx == SHN_UNDEF || s.st_size != size ||
            GELF_ST_BIND(s.st_info) != STB_LOCAL) {
            continue;
        }
        name = elf_strptr(img->elf, t->strndx, s.st_name);
        if (name != NULL && strncmp(name, prefix, plen) == 0 &&
            (name[plen] == '\0' || name[plen] == '.')) {
            sym->value = s.st_value;
            sym->size = s.st_size;
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
    return img->symtab.data != NULL;
}

uint64_t
elf_image_bias(const struct elf_image *img, raddr_t map_start)
{
    return map_start - img->load_vaddr;
}
