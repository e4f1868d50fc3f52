/*
 * elf.h - symbols and sections of an ELF file on disk.
 *
 * Layer: target.  Wraps elfutils' libelf.  Symbols are looked up in
 * .dynsym (through .gnu.hash) and then .symtab (defined symbols only).  Addresses are the file's virtual addresses; elf_image_bias()
 * turns them into the addresses of a mapped copy.
 */
#ifndef PYSPECT_TARGET_ELF_H
#define PYSPECT_TARGET_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "target/maps.h"

struct elf_image;

struct elf_symbol {
    uint64_t value;
    uint64_t size;
};

/* Open path.  PS_ENOTFOUND, PS_EPERM, or PS_EELF for a non-ELF file. */
int elf_image_open(const char *path, struct elf_image **out);
void elf_image_close(struct elf_image *img);

/* A defined symbol by name, or PS_ENOTFOUND. */
int elf_image_symbol(const struct elf_image *img, const char *name,
                     struct elf_symbol *sym);
/* A symbol the file exports (.dynsym only): cheap, through .gnu.hash. */
int elf_image_dynamic_symbol(const struct elf_image *img, const char *name,
                             struct elf_symbol *sym);
/* Does the file use name without defining it (an import)? */
int elf_image_imports(const struct elf_image *img, const char *name);
/* A defined local (static) symbol whose name starts with prefix and has
 * the given size (for compiler-renamed statics like "version.0"). */
int elf_image_symbol_prefix(const struct elf_image *img, const char *prefix,
                            uint64_t size, struct elf_symbol *sym);
/* A section by name: its address and size. */
int elf_image_section(const struct elf_image *img, const char *name,
                      uint64_t *addr, uint64_t *size);
/*
 * The function whose code holds the file address addr: its name (owned by
 * img) and start.  From .symtab when the file has one, else .dynsym;
 * PS_ENOTFOUND when no symbol's extent covers addr.  A linear scan.
 */
int elf_image_symbol_at(const struct elf_image *img, uint64_t addr,
                        const char **name, uint64_t *start);

/* Does the file carry a full .symtab (not stripped)? */
int elf_image_has_symtab(const struct elf_image *img);

/*
 * The load bias of a mapped copy whose mapping of file offset 0 starts
 * at map_start: address in the process = file address + bias.
 */
uint64_t elf_image_bias(const struct elf_image *img, raddr_t map_start);

#endif /* PYSPECT_TARGET_ELF_H */
