/*
 * debuginfo.h - detached debug symbols of a stripped object.
 *
 * Layer: target.  Distributions strip their libraries and ship the full
 * symbol tables separately (Debian: libc6-dbg, python3.X-dbg), found by
 * the object's GNU build id under /usr/lib/debug/.build-id/.  pyspect
 * uses them, when installed, for static variables a stripped object does
 * not export (glibc's main_arena and mp_, pymalloc's arenas); it never
 * needs them.
 *
 * The directories searched are $PYSPECT_DEBUG_FILE_DIRECTORY (a
 * colon-separated list, like gdb's debug-file-directory; empty to search
 * none) or /usr/lib/debug, each first inside the target's root (a live
 * process's /proc/PID/root, a core's --sysroot) then in pyspect's own.
 */
#ifndef PYSPECT_TARGET_DEBUGINFO_H
#define PYSPECT_TARGET_DEBUGINFO_H

#include <stddef.h>

#include "core/strbuf.h"
#include "target/elf.h"
#include "target/target.h"

/* The GNU build id of the ELF file at path, as lowercase hex. */
int debuginfo_build_id(const char *path, struct strbuf *hex);

/*
 * The path of the debug file of the object at path (a file pyspect can
 * open), for target t, into where (reset first).  PS_ENOTFOUND when none
 * with the same build id is installed.
 */
int debuginfo_find(struct target *t, const char *path, struct strbuf *where);

/*
 * Open the debug file of the object at path (a file pyspect can open,
 * such as target_mapped_path() gives), for target t.  Its build id must
 * match.  On success *out is the opened image and where (if not NULL)
 * its path.  PS_ENOTFOUND when none is installed.
 */
int debuginfo_open(struct target *t, const char *path, struct elf_image **out,
                   struct strbuf *where);

#endif /* PYSPECT_TARGET_DEBUGINFO_H */
