/*
 * fuzz_elf.c - ELF files: the symbol tables, dynamic symbols, imports
 * and sections of whatever file the target maps.
 *
 * Layer: tests.  The input is the file, opened through a memfd.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/elf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"PyCode_Type",  "_PyRuntime",
                                        "Py_BytesMain", "main_arena",
                                        "usedpools",    "x"};
    struct elf_image *img = NULL;
    struct elf_symbol sym;
    char path[64];
    uint64_t value, sec_size;
    size_t i;
    int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

    if (fd < 0) {
        return 0;
    }
    if (write(fd, data, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (elf_image_open(path, &img) == 0) {
            for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                elf_image_symbol(img, names[i], &sym);
                elf_image_dynamic_symbol(img, names[i], &sym);
                elf_image_imports(img, names[i]);
                elf_image_symbol_prefix(img, names[i], 8, &sym);
            }
            elf_image_section(img, ".data", &value, &sec_size);
            elf_image_section(img, ".PyRuntime", &value, &sec_size);
            elf_image_has_symtab(img);
            elf_image_close(img);
        }
    }
    close(fd);
    return 0;
}
