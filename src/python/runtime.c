/*
 * runtime.c - find the CPython runtime in a process and learn its shape.
 *
 * Layer: python.  The object holding the runtime is the one that defines
 * PyCode_Type, whatever its file is called.  The version comes from the
 * target's memory: Py_Version (3.11+), or the buffer Py_GetVersion()
 * fills during start-up (2.7, 3.6-3.10), never from a file name.
 *
 * 2.7 and 3.6 keep the interpreter list in a static, interp_head: found
 * by .symtab, a detached debug file, or (stripped) a validated search of
 * the runtime's data.
 */
#include "runtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "python/code.h"
#include "python/native.h"
#include "target/debuginfo.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* The oldest and newest minor versions of Python 3 pyspect knows (and
 * 2.7). */
#define PY_MINOR_MIN 6
#define PY_MINOR_MAX 15

/* Bound on the .bss scan for the version text (2.7, 3.6-3.10). */
#define PY_BSS_SCAN_MAX (8u << 20)
/* Bound on the data read by the search for interp_head. */
#define PY_INTERP_SCAN_MAX (16u << 20)
/* Interpreters one search candidate's list may have. */
#define PY_INTERP_LIST_MAX 4096

int
py_runtime_symbol(struct py_runtime *rt, const char *name, raddr_t *addr)
{
    struct elf_symbol sym;
    int rc = elf_image_symbol(rt->elf, name, &sym);

    if (rc < 0) {
        return rc;
    }
    *addr = sym.value + rt->bias;
    return 0;
}

/* Is the file mapped?  A live process always maps its executable. */
static int
maps_has_file(const struct py_runtime *rt, const char *path)
{
    size_t i;

    for (i = 0; path != NULL && i < rt->maps.n; i++) {
        if (strcmp(rt->maps.v[i].path, path) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
basename_has_python(const char *path)
{
    const char *slash = strrchr(path, '/');

    return strstr(slash ? slash + 1 : path, "python") != NULL;
}

/* Does an executable call into a CPython it has not loaded yet? */
static int
imports_python(const struct elf_image *img)
{
    /* The entry points python executables of 3.6-3.13 call. */
    static const char *const entry[] = {"Py_BytesMain",  "Py_Main",
                                        "_Py_UnixMain",  "Py_RunMain",
                                        "Py_Initialize", "Py_InitializeEx"};
    size_t i;

    for (i = 0; i < sizeof(entry) / sizeof(entry[0]); i++) {
        if (elf_image_imports(img, entry[i])) {
            return 1;
        }
    }
    return 0;
}

/*
 * Find the object that defines PyCode_Type.  Candidates in order: the
 * executable, libraries whose name mentions python, then the rest (an
 * embedded or renamed runtime).  *pending is set when the executable
 * imports the C API but no object defines it yet (the dynamic loader has
 * not finished).
 */
static int
find_runtime_object(struct py_runtime *rt, int *pending)
{
    struct strbuf where = STRBUF_INIT;
    size_t pass, i, j;

    *pending = 0;
    for (pass = 0; pass < 3; pass++) {
        for (i = 0; i < rt->maps.n; i++) {
            const struct map_entry *e = &rt->maps.v[i];
            struct elf_image *img;
            struct elf_symbol sym;
            int is_exe, seen = 0;

            if (e->offset != 0 || !map_entry_is_file(e) || e->path[0] != '/') {
                continue;
            }
            for (j = 0; j < i && !seen; j++) {
                seen = rt->maps.v[j].offset == 0 &&
                       strcmp(rt->maps.v[j].path, e->path) == 0;
            }
            if (seen) {
                continue;
            }
            is_exe = strcmp(e->path, rt->executable) == 0;
            if ((pass == 0) != is_exe ||
                (pass == 1 && !basename_has_python(e->path)) ||
                (pass == 2 && basename_has_python(e->path))) {
                continue;
            }
            strbuf_reset(&where);
            if (target_open_elf(rt->target, e, &where, &img) < 0) {
                continue;
            }
            if (elf_image_symbol(img, "PyCode_Type", &sym) == 0) {
                rt->elf = img;
                rt->elf_path = strbuf_detach(&where);
                rt->bias = elf_image_bias(img, e->start);
                if (!is_exe) {
                    rt->library = xstrdup(e->path);
                }
                return 0;
            }
            if (is_exe && imports_python(img)) {
                *pending = 1;
            }
            elf_image_close(img);
        }
    }
    strbuf_release(&where);
    return PS_ENOTPY;
}

/* Look for "3.N.M (" in the runtime's zero-initialised data. */
static int
scan_version_text(struct py_runtime *rt, raddr_t addr, uint64_t size)
{
    unsigned char *buf;
    uint64_t i;
    int rc;

    if (size == 0 || size > PY_BSS_SCAN_MAX) {
        return PS_ENOTFOUND;
    }
    buf = xmalloc(size + 1);
    rc = memsrc_read(rt->proc, addr, buf, size);
    if (rc == 0) {
        rc = PS_ENOTFOUND;
        buf[size] = '\0';
        for (i = 0; i + 6 < size; i++) {
            struct py_version v;

            if (!isdigit(buf[i]) || buf[i + 1] != '.' ||
                (i > 0 && buf[i - 1] != '\0') || !isdigit(buf[i + 2])) {
                continue;
            }
            if (py_version_parse((char *)buf + i, size - i, &v) == 0 &&
                memchr(buf + i, ' ', 12) != NULL) {
                rt->version = v;
                rc = 0;
                break;
            }
        }
    }
    free(buf);
    return rc;
}

static int
read_version(struct py_runtime *rt)
{
    struct elf_symbol sym;
    raddr_t addr;
    uint64_t size;
    char text[256];
    int rc;

    if (py_runtime_symbol(rt, "Py_Version", &addr) == 0) {
        uint64_t hex;

        rc = memsrc_read_u64(rt->proc, addr, &hex);
        if (rc == PS_EFAULT && rt->target->kind == TARGET_LIVE) {
            /* The kernel maps a static executable's segments one by one
             * during execve(): a process caught then has its first
             * segment but not yet the one holding Py_Version. */
            return err_set(PS_ENOTREADY, "%s is being loaded",
                           rt->target->name);
        }
        if (rc < 0) {
            return err_set(rc, "cannot read Py_Version");
        }
        if (!py_version_hex_sane(hex)) {
            /* While ld.so maps libpython, its pages can show other bytes
             * of the file for a moment. */
            return err_set(PS_ENOTREADY, "%s: no version yet",
                           rt->target->name);
        }
        py_version_from_hex((uint32_t)hex, &rt->version);
        return 0;
    }
    /* 3.6-3.10: Py_GetVersion()'s static buffer ("version", 250 bytes). */
    if (elf_image_symbol_prefix(rt->elf, "version", 250, &sym) == 0) {
        rc = memsrc_read(rt->proc, sym.value + rt->bias, text, 250);
        if (rc < 0) {
            return err_set(rc, "cannot read the version text");
        }
        text[250] = '\0';
        if (text[0] == '\0') {
            return err_set(PS_ENOTREADY, "%s", rt->target->name);
        }
        if (py_version_parse(text, strlen(text), &rt->version) < 0) {
            /* Until the loader has zeroed .bss and Py_Initialize() has
             * written it, the buffer holds whatever the file had there. */
            return err_set(PS_ENOTREADY, "%s: no version text yet",
                           rt->target->name);
        }
        return 0;
    }
    /* Stripped: scan .bss, where that buffer lives. */
    if (elf_image_section(rt->elf, ".bss", &addr, &size) == 0 &&
        scan_version_text(rt, addr + rt->bias, size) == 0) {
        return 0;
    }
    return err_set(PS_ENOTREADY, "%s: no version text yet", rt->target->name);
}

static int
version_supported(const struct py_version *v)
{
    return (v->major == 2 && v->minor == 7) ||
           (v->major == 3 && v->minor >= PY_MINOR_MIN &&
            v->minor <= PY_MINOR_MAX);
}

static int
load_layout(struct py_runtime *rt)
{
    const struct py_layout *gen;
    const struct py_version *v = &rt->version;

    if (!version_supported(v)) {
        return err_set(PS_EVERSION, "%s runs Python %s", rt->target->name,
                       v->text);
    }
    gen = py_layout_find(v->major, v->minor);
    if (gen == NULL) {
        return err_set(PS_EVERSION, "%s runs Python %s (no layout)",
                       rt->target->name, v->text);
    }
    rt->layout = *gen;
    if (v->major == 3 && v->minor >= 13) {
        unsigned char table[PY_DEBUG_OFFSETS_MAX_SIZE];
        size_t len = py_debug_offsets_size(v->minor);
        int rc;

        if (len == 0 || len > sizeof(table)) {
            return err_set(PS_EVERSION,
                           "%s runs Python %s (no _Py_DebugOffsets reader)",
                           rt->target->name, v->text);
        }

        if (rt->runtime == 0) {
            return err_set(PS_ENOTPY, "%s: no _PyRuntime symbol",
                           rt->target->name);
        }
        rc = memsrc_read(rt->proc, rt->runtime, table, len);
        if (rc == PS_EFAULT && rt->target->kind == TARGET_LIVE) {
            return err_set(PS_ENOTREADY, "%s is being loaded",
                           rt->target->name);
        }
        if (rc < 0) {
            return err_set(rc, "cannot read _Py_DebugOffsets");
        }
        if (memcmp(table, "xdebugpy", 8) != 0) {
            /* The loader maps the file whole before it puts the data
             * segment in place: the cookie shows up a moment later. */
            return err_set(PS_ENOTREADY, "%s: no _Py_DebugOffsets yet",
                           rt->target->name);
        }
        rc = py_debug_offsets_apply(table, len, &rt->layout);
        if (rc < 0) {
            char why[256];

            snprintf(why, sizeof(why), "%s", err_context());
            return err_set(rc, "%s: %s", rt->target->name, why);
        }
        rt->layout_from_debug_offsets = 1;
    }
    return 0;
}

/*
 * 2.7's unicode holds Py_UNICODE, 2 or 4 bytes as the build chose: the
 * C API of each width has its own names (PyUnicodeUCS2_..., ..UCS4_...),
 * exported even by a stripped library.
 */
static void
unicode_width(struct py_runtime *rt)
{
    struct elf_symbol sym;

    if (!pyl_has(rt->layout.unicode_char_size)) {
        return;
    }
    if (elf_image_dynamic_symbol(rt->elf, "PyUnicodeUCS4_FromUnicode", &sym) ==
        0) {
        rt->layout.unicode_char_size = 4;
    } else if (elf_image_dynamic_symbol(rt->elf, "PyUnicodeUCS2_FromUnicode",
                                        &sym) == 0) {
        rt->layout.unicode_char_size = 2;
    }
    err_clear();
}

/*
 * Does interp look like a PyInterpreterState: its first thread state
 * belongs to it, and its modules, sys and builtins dicts are dicts?
 */
static int
interp_plausible(struct py_runtime *rt, raddr_t interp)
{
    const struct py_layout *l = &rt->layout;
    unsigned char buf[512];
    const int32_t dicts[3] = {l->interp_modules, l->interp_sysdict,
                              l->interp_builtins};
    uint64_t tstate, owner, type;
    int i;

    if (l->interp_size <= 0 || (size_t)l->interp_size > sizeof(buf) ||
        (interp & 7) != 0 ||
        memsrc_read(rt->mem, interp, buf, (size_t)l->interp_size) < 0) {
        return 0;
    }
    tstate = load_u64(buf, l->interp_tstate_head);
    if (tstate == 0 || (tstate & 7) != 0 ||
        (load_u64(buf, l->interp_next) & 7) != 0 ||
        memsrc_read_u64(rt->mem, tstate + l->tstate_interp, &owner) < 0 ||
        owner != interp) {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        uint64_t dict = load_u64(buf, dicts[i]);

        if (dict == 0 || (dict & 7) != 0 ||
            memsrc_read_u64(rt->mem, dict + l->obj_type, &type) < 0 ||
            type != rt->dict_type) {
            return 0;
        }
    }
    return 1;
}

/* Is want on the interpreter list that starts at head? */
static int
interp_list_has(struct py_runtime *rt, raddr_t head, raddr_t want)
{
    uint64_t cur = head;
    int n;

    for (n = 0; cur != 0 && n < PY_INTERP_LIST_MAX; n++) {
        if (cur == want) {
            return 1;
        }
        if (memsrc_read_u64(rt->mem, cur + rt->layout.interp_next, &cur) < 0) {
            return 0;
        }
    }
    return 0;
}

/*
 * interp_head of a stripped object: a word of its .bss or .data that
 * points at a plausible interpreter.  2.7 also keeps the main one in
 * autoInterpreterState: words that agree are one answer (the lowest is
 * taken); of words that differ, the one whose list holds the others'.
 */
static int
search_interp_head(struct py_runtime *rt, raddr_t *var)
{
    static const char *const sections[] = {".bss", ".data"};
    raddr_t found[8], values[8];
    size_t nfound = 0, s, i, k;
    int rc = PS_ENOTFOUND;

    if (rt->dict_type == 0) {
        return PS_ENOTFOUND;
    }
    for (s = 0; s < 2; s++) {
        uint64_t addr, size, off;
        unsigned char *buf;

        if (elf_image_section(rt->elf, sections[s], &addr, &size) < 0 ||
            size == 0 || size > PY_INTERP_SCAN_MAX) {
            continue;
        }
        addr += rt->bias;
        buf = xmalloc(size);
        if (memsrc_read(rt->proc, addr, buf, size) < 0) {
            free(buf);
            continue;
        }
        for (off = 0; off + 8 <= size && nfound < 8; off += 8) {
            uint64_t v = load_u64(buf, (int32_t)off);
            const struct map_entry *e;

            if (v == 0 || (v & 7) != 0) {
                continue;
            }
            e = maps_find(&rt->maps, v);
            if (e == NULL || e->perms[1] != 'w' || !interp_plausible(rt, v)) {
                continue;
            }
            found[nfound] = addr + off;
            values[nfound++] = v;
        }
        free(buf);
    }
    err_clear();
    for (i = 0; i < nfound && rc < 0; i++) {
        for (k = 0; k < nfound; k++) {
            if (!interp_list_has(rt, values[i], values[k])) {
                break;
            }
        }
        if (k == nfound) {
            *var = found[i];
            rc = 0;
        }
    }
    return rc;
}

/*
 * interp_head (2.7, 3.6): .symtab, else a debug file, else a search of
 * the runtime's data (which needs a running interpreter: PS_ENOTFOUND
 * before it has one, and the caller tries again later).
 */
static int
locate_interp_head(struct py_runtime *rt)
{
    struct elf_image *dbg = NULL;
    struct elf_symbol sym;

    if (py_runtime_symbol(rt, "interp_head", &rt->interp_head) == 0) {
        rt->interp_head_by = "symbols";
        return 0;
    }
    if (rt->elf_path != NULL &&
        debuginfo_open(rt->target, rt->elf_path, &dbg, NULL) == 0 &&
        elf_image_symbol(dbg, "interp_head", &sym) == 0) {
        rt->interp_head = sym.value + rt->bias;
        rt->interp_head_by = "debug-file";
    }
    elf_image_close(dbg);
    err_clear();
    if (rt->interp_head == 0 &&
        search_interp_head(rt, &rt->interp_head) == 0) {
        rt->interp_head_by = "search";
    }
    return rt->interp_head != 0 ? 0 : PS_ENOTFOUND;
}

int
py_runtime_attach(struct target *t, struct py_runtime **out)
{
    struct py_runtime *rt = xcalloc(1, sizeof(*rt));
    struct strbuf exe = STRBUF_INIT;
    const char *name = t->name;
    int rc, pending;

    rt->target = t;
    rt->pthread_tid_offset = -1;
    hashmap_init(&rt->codes);
    rt->proc = t->mem;
    rt->mem = memsrc_cache_new(rt->proc, 4096, 256);
    rt->reader.rt = rt;
    rt->reader.mem = rt->mem;
    rc = target_executable(t, &exe);
    if (rc < 0) {
        strbuf_release(&exe);
        rc = err_set(rc == PS_ENOTFOUND ? PS_ENOTPY : rc,
                     "%s has no executable (a kernel thread?)", name);
        goto fail;
    }
    rt->executable = strbuf_detach(&exe);
    rc = target_maps(t, &rt->maps);
    if (rc < 0) {
        goto fail;
    }
    rc = find_runtime_object(rt, &pending);
    if (rc < 0) {
        rc = pending ? err_set(PS_ENOTREADY, "%s is loading Python", name)
                     : err_set(PS_ENOTPY, "%s (%s)", name, rt->executable);
        goto fail;
    }
    py_runtime_symbol(rt, "_PyRuntime", &rt->runtime);
    if (rt->runtime == 0) {
        /* 2.7 and 3.6 keep their state in statics (interp_head is
         * located below, once the layout is known). */
        py_runtime_symbol(rt, "_PyThreadState_Current", &rt->tstate_current);
        py_runtime_symbol(rt, "gil_locked", &rt->gil_locked);
        py_runtime_symbol(rt, "gil_last_holder", &rt->gil_last_holder);
    }
    py_runtime_symbol(rt, "PyCode_Type", &rt->code_type);
    py_runtime_symbol(rt, "PyUnicode_Type", &rt->str_type);
    /* 2.7: bytes is a name for str, PyString_Type. */
    if (py_runtime_symbol(rt, "PyBytes_Type", &rt->bytes_type) < 0) {
        py_runtime_symbol(rt, "PyString_Type", &rt->bytes_type);
    }
    py_runtime_symbol(rt, "PyLong_Type", &rt->long_type);
    py_runtime_symbol(rt, "PyInt_Type", &rt->int_type);
    py_runtime_symbol(rt, "PyFloat_Type", &rt->float_type);
    py_runtime_symbol(rt, "PyDict_Type", &rt->dict_type);
    err_clear();
    rc = read_version(rt);
    if (rc < 0) {
        goto fail;
    }
    rc = load_layout(rt);
    if (rc < 0) {
        goto fail;
    }
    unicode_width(rt);
    if (rt->runtime == 0) {
        locate_interp_head(rt);
    }
    if (rt->runtime == 0 && rt->interp_head == 0 && rt->tstate_current == 0) {
        rc = err_set(PS_ENOTPY, "%s: Python %s without a runtime symbol", name,
                     rt->version.text);
        goto fail;
    }
    *out = rt;
    return 0;
fail:
    /* A process that is exiting loses its mappings before it becomes a
     * zombie: whatever went wrong, say that it exited.  One in the middle
     * of execve() has its new executable but not yet its mappings: that
     * is starting up. */
    if (rc != PS_EPERM) {
        if (target_check(t) < 0) {
            rc = err_set(PS_EEXITED, "%s exited while being read", name);
        } else if (rc == PS_ENOTPY && t->kind == TARGET_LIVE &&
                   rt->executable != NULL &&
                   !maps_has_file(rt, rt->executable)) {
            rc = target_exiting(t)
                     ? err_set(PS_EEXITED, "%s exited while being read", name)
                     : err_set(PS_ENOTREADY, "%s is starting", name);
        }
    }
    py_runtime_free(rt);
    return rc;
}

struct py_runtime *
py_runtime_from_memsrc(struct memsrc *src, const struct py_layout *layout)
{
    struct py_runtime *rt = xcalloc(1, sizeof(*rt));

    rt->pthread_tid_offset = -1;
    hashmap_init(&rt->codes);
    rt->target = target_from_memsrc(src);
    rt->owns_target = 1;
    rt->proc = src;
    rt->mem = memsrc_cache_new(src, 4096, 256);
    rt->reader.rt = rt;
    rt->reader.mem = rt->mem;
    rt->layout = *layout;
    rt->executable = xstrdup("");
    py_version_from_hex(((uint32_t)layout->major << 24) |
                            ((uint32_t)layout->minor << 16) | 0xf0,
                        &rt->version);
    return rt;
}

void
py_runtime_free(struct py_runtime *rt)
{
    if (rt == NULL) {
        return;
    }
    py_native_free(rt->native);
    py_code_cache_clear(rt);
    hashmap_release(&rt->codes);
    memsrc_free(rt->mem);
    if (rt->owns_target) {
        target_free(rt->target);
    }
    maps_release(&rt->maps);
    elf_image_close(rt->elf);
    free(rt->executable);
    free(rt->library);
    free(rt->elf_path);
    free(rt);
}

void
py_runtime_snapshot(struct py_runtime *rt)
{
    memsrc_cache_invalidate(rt->mem);
}

int
py_runtime_sys_str(struct py_runtime *rt, const char *name, struct strbuf *out)
{
    raddr_t interp = 0, value = 0;
    uint64_t sysdict = 0;
    int rc;

    rc = py_runtime_interp_head(rt, &interp);
    if (rc == 0) {
        rc = memsrc_read_u64(rt->mem, interp + rt->layout.interp_sysdict,
                             &sysdict);
    }
    if (rc == 0 && sysdict == 0) {
        rc = err_set(PS_ENOTFOUND, "no sys module yet");
    }
    if (rc == 0) {
        rc = py_dict_get_str(&rt->reader, sysdict, name, &value);
    }
    if (rc == 0) {
        rc = py_str_read(&rt->reader, value, 4096, out, NULL);
    }
    return rc;
}

int
py_runtime_interp_head(struct py_runtime *rt, raddr_t *interp)
{
    const struct py_layout *l = &rt->layout;
    uint64_t v = 0;
    int rc;

    if (rt->runtime != 0 && pyl_has(l->rt_interpreters_head)) {
        rc = memsrc_read_u64(rt->mem, rt->runtime + l->rt_interpreters_head,
                             &v);
    } else if (rt->interp_head != 0) {
        rc = memsrc_read_u64(rt->mem, rt->interp_head, &v);
    } else if (rt->tstate_current != 0) {
        /* Stripped, and interp_head not found yet (no interpreter then):
         * the GIL holder's interpreter, or search again while none holds
         * it. */
        uint64_t ts = 0;

        rc = memsrc_read_u64(rt->mem, rt->tstate_current, &ts);
        if (rc == 0 && ts != 0) {
            rc = memsrc_read_u64(rt->mem, ts + l->tstate_interp, &v);
        } else if (rc == 0 && rt->elf != NULL &&
                   search_interp_head(rt, &rt->interp_head) == 0) {
            rt->interp_head_by = "search";
            rc = memsrc_read_u64(rt->mem, rt->interp_head, &v);
        }
    } else {
        return err_set(PS_ENOTPY, "no way to the interpreter list");
    }
    if (rc < 0) {
        return err_set(rc, "cannot read the interpreter list");
    }
    if (v == 0) {
        return err_set(PS_ENOTREADY, "%s has no interpreter",
                       rt->target->name);
    }
    *interp = v;
    return 0;
}
