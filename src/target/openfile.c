/*
 * openfile.c - the checks behind opening a file a target names.
 *
 * Layer: target.  Resolution inside the target's root is openat2()'s
 * RESOLVE_IN_ROOT (Linux 5.6); where the kernel lacks it, paths are
 * resolved relative to the root directory (an absolute symlink would
 * then leave it), and the other checks still hold.
 */
#define _GNU_SOURCE
#include "openfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/error.h"
#include "core/banned.h"

#define OPENFILE_PATH_MAX 4096

int
file_creds_may(const struct file_creds *c, const struct stat *st, int want)
{
    unsigned mode = (unsigned)st->st_mode;
    size_t i;

    if (!c->known) {
        return (mode & (unsigned)want) == (unsigned)want;
    }
    if (c->uid == 0) {
        return 1;
    }
    if (st->st_uid == c->uid) {
        return ((mode >> 6) & (unsigned)want) == (unsigned)want;
    }
    if (st->st_gid == c->gid) {
        return ((mode >> 3) & (unsigned)want) == (unsigned)want;
    }
    for (i = 0; i < c->ngroups; i++) {
        if (st->st_gid == c->groups[i]) {
            return ((mode >> 3) & (unsigned)want) == (unsigned)want;
        }
    }
    return (mode & (unsigned)want) == (unsigned)want;
}

/* openat2(dirfd, path, flags) inside dirfd as root; -1 and errno. */
static int
open_in_root(int rootfd, const char *path, int flags)
{
    static int no_openat2;
    struct open_how how;
    int fd;

    if (!no_openat2) {
        memset(&how, 0, sizeof(how));
        how.flags = (uint64_t)flags;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS) {
            return fd;
        }
        no_openat2 = 1;
    }
    while (*path == '/') {
        path++;
    }
    return openat(rootfd, *path ? path : ".", flags);
}

static int
refuse(const char *path, const char *why)
{
    return err_set(PS_ENOTFOUND, "%s: %s", path, why);
}

int
openfile_in_root(int rootfd, const char *path, const struct file_creds *c,
                 size_t max, int *out)
{
    char dir[OPENFILE_PATH_MAX];
    struct stat st, st2;
    char self[64];
    size_t len = strlen(path), i;
    int pfd, fd;

    *out = -1;
    if (path[0] != '/' || len >= sizeof(dir)) {
        return refuse(path, "not an absolute path");
    }
    /* Every directory on the way must be searchable by the target. */
    for (i = 1; i <= len; i++) {
        if (i < len && path[i] != '/') {
            continue;
        }
        if (i == len) {
            break;
        }
        memcpy(dir, path, i);
        dir[i] = '\0';
        fd = open_in_root(rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            return refuse(path, strerror(errno));
        }
        if (fstat(fd, &st) < 0 || !file_creds_may(c, &st, 1)) {
            close(fd);
            return refuse(path, "a directory the target may not search");
        }
        close(fd);
    }
    {
        int rfd = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (rfd < 0 || fstat(rfd, &st) < 0 || !file_creds_may(c, &st, 1)) {
            if (rfd >= 0) {
                close(rfd);
            }
            return refuse(path, "a root the target may not search");
        }
        close(rfd);
    }
    /* The file itself, looked at before it is opened for reading. */
    pfd = open_in_root(rootfd, path, O_PATH | O_CLOEXEC);
    if (pfd < 0) {
        return refuse(path, strerror(errno));
    }
    if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(pfd);
        return refuse(path, "not a regular file");
    }
    if (!file_creds_may(c, &st, 4)) {
        close(pfd);
        return refuse(path, "the target's user may not read it");
    }
    if ((uint64_t)st.st_size > max) {
        close(pfd);
        return refuse(path, "too large");
    }
    snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
    fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    close(pfd);
    if (fd < 0) {
        return refuse(path, strerror(errno));
    }
    if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev ||
        st2.st_ino != st.st_ino || !S_ISREG(st2.st_mode)) {
        close(fd);
        return refuse(path, "changed while being opened");
    }
    *out = fd;
    return 0;
}

int
openfile_path(const char *path, const struct file_creds *c, size_t max,
              int *fd)
{
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (root < 0) {
        return refuse(path, strerror(errno));
    }
    rc = openfile_in_root(root, path, c, max, fd);
    close(root);
    return rc;
}

int
openfile_read(int fd, size_t max, struct strbuf *sb)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_set(PS_EIO, "read: %s", strerror(errno));
        }
        if (n == 0) {
            return 0;
        }
        if (sb->len + (size_t)n > max) {
            return PS_ELIMIT; /* it grew past the bound */
        }
        strbuf_add(sb, buf, (size_t)n);
    }
}
