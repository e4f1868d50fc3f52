/*
 * openfile.h - open a file a target names, only as the target could.
 *
 * Layer: target.  A target chooses the names pyspect opens (co_filename
 * is the target's to set): a root pyspect must not show a line of a file
 * the target's user may not read, a FIFO must not hang it, /dev/stdin
 * must not read its own input, a huge file must not fill its memory.
 * So a file is opened only when:
 *   - it is found from the target's root (symlinks and ".." stay inside
 *     it: openat2 RESOLVE_IN_ROOT);
 *   - the target's user (its filesystem uid, gid and groups) may search
 *     every directory on the way and read the file, by owner, group and
 *     mode (ACLs are not read); a target whose user is unknown gets only
 *     what everyone may read;
 *   - it is a regular file, checked on an O_PATH handle before anything
 *     is opened for reading (opening a device can have effects; a FIFO
 *     can block), then reopened from that very handle, O_NONBLOCK;
 *   - it is no larger than the caller's bound.
 */
#ifndef PYSPECT_TARGET_OPENFILE_H
#define PYSPECT_TARGET_OPENFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/strbuf.h"

#define FILE_CREDS_GROUPS 64

/* Whose access a file is checked against. */
struct file_creds {
    int known; /* 0: only what everyone may read */
    uint32_t uid, gid;
    uint32_t groups[FILE_CREDS_GROUPS];
    size_t ngroups;
};

/*
 * May creds do `want` (4 read, 1 search/execute) to a file with st's
 * owner, group and mode?  uid 0 may read and search anything.
 */
int file_creds_may(const struct file_creds *c, const struct stat *st,
                   int want);

/*
 * Open path (absolute, as seen from rootfd) under the rules above; *fd
 * is open for reading.  PS_ENOTFOUND for anything refused or missing
 * (with a line of context: why).
 */
int openfile_in_root(int rootfd, const char *path, const struct file_creds *c,
                     size_t max, int *fd);

/*
 * The same, for a path pyspect itself opens (no root to stay in): every
 * directory of its absolute form and the file are checked.
 */
int openfile_path(const char *path, const struct file_creds *c, size_t max,
                  int *fd);

/* Read all of fd, at most max bytes (PS_ELIMIT beyond), into sb. */
int openfile_read(int fd, size_t max, struct strbuf *sb);

#endif /* PYSPECT_TARGET_OPENFILE_H */
