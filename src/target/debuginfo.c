/*
 * debuginfo.c - find detached debug files by GNU build id.
 *
 * Layer: target.
 */
#include "debuginfo.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "core/banned.h"

#define DEBUGINFO_DEFAULT_DIRS "/usr/lib/debug"
/* A build id is 20 bytes (SHA-1) in practice; accept up to 64. */
#define BUILD_ID_MAX 64

int
debuginfo_build_id(const char *path, struct strbuf *hex)
{
    Elf *elf;
    Elf_Scn *scn = NULL;
    int fd, rc = PS_ENOTFOUND;

    if (elf_version(EV_CURRENT) == EV_NONE) {
        return PS_EELF;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return PS_ENOTFOUND;
    }
    elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    while (elf != NULL && rc < 0 && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr shdr;
        Elf_Data *data;
        GElf_Nhdr nhdr;
        size_t off = 0, name_off, desc_off;

        if (gelf_getshdr(scn, &shdr) == NULL || shdr.sh_type != SHT_NOTE) {
            continue;
        }
        data = elf_getdata(scn, NULL);
        while (data != NULL && rc < 0 &&
               (off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) >
                   0) {
            const unsigned char *desc =
                (const unsigned char *)data->d_buf + desc_off;
            size_t i;

            if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != 4 ||
                memcmp((const char *)data->d_buf + name_off, "GNU", 4) != 0 ||
                nhdr.n_descsz == 0 || nhdr.n_descsz > BUILD_ID_MAX) {
                continue;
            }
            strbuf_reset(hex);
            for (i = 0; i < nhdr.n_descsz; i++) {
                strbuf_addf(hex, "%02x", desc[i]);
            }
            rc = 0;
        }
    }
    if (elf != NULL) {
        elf_end(elf);
    }
    close(fd);
    return rc;
}

/* Does the candidate file exist and carry the build id want? */
static int
debuginfo_matches(const char *file, const char *want)
{
    struct strbuf id = STRBUF_INIT;
    int rc;

    rc = debuginfo_build_id(file, &id);
    if (rc == 0 && strcmp(id.buf, want) != 0) {
        rc = PS_ENOTFOUND;
    }
    strbuf_release(&id);
    return rc < 0 ? PS_ENOTFOUND : 0;
}

int
debuginfo_find(struct target *t, const char *path, struct strbuf *where)
{
    const char *env = getenv("PYSPECT_DEBUG_FILE_DIRECTORY");
    const char *dirs = env != NULL ? env : DEBUGINFO_DEFAULT_DIRS;
    struct strbuf id = STRBUF_INIT, file = STRBUF_INIT, name = STRBUF_INIT;
    int rc = PS_ENOTFOUND;

    if (debuginfo_build_id(path, &id) < 0 || id.len < 4) {
        strbuf_release(&id);
        return PS_ENOTFOUND;
    }
    while (*dirs != '\0' && rc < 0) {
        const char *colon = strchr(dirs, ':');
        size_t len = colon ? (size_t)(colon - dirs) : strlen(dirs);
        int root;

        for (root = 0; root < 2 && rc < 0 && len > 0 && dirs[0] == '/';
             root++) {
            strbuf_reset(&name);
            strbuf_addf(&name, "%.*s/.build-id/%.2s/%s.debug", (int)len, dirs,
                        id.buf, id.buf + 2);
            strbuf_reset(&file);
            if (root == 1) {
                strbuf_add(&file, name.buf, name.len);
            } else if (target_path(t, name.buf, &file) < 0) {
                continue;
            }
            rc = debuginfo_matches(file.buf, id.buf);
        }
        dirs += colon ? len + 1 : len;
    }
    if (rc == 0) {
        strbuf_reset(where);
        strbuf_addstr(where, file.buf);
    }
    strbuf_release(&name);
    strbuf_release(&file);
    strbuf_release(&id);
    return rc;
}

int
debuginfo_open(struct target *t, const char *path, struct elf_image **out,
               struct strbuf *where)
{
    struct strbuf file = STRBUF_INIT;
    int rc;

    rc = debuginfo_find(t, path, &file);
    if (rc == 0) {
        rc = elf_image_open(file.buf, out);
        err_clear();
        if (rc < 0) {
            rc = PS_ENOTFOUND;
        }
    }
    if (rc == 0 && where != NULL) {
        strbuf_reset(where);
        strbuf_addstr(where, file.buf);
    }
    strbuf_release(&file);
    return rc;
}
