/*
 * proc.c - /proc readers for process and thread facts.
 *
 * Layer: target.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/maps.h"
#include "target/openfile.h"
#include "core/banned.h"

/*
 * The comm field is in parentheses and may itself contain ") ", so the
 * state is the first letter after the last ')'.
 */
int
proc_parse_stat_state(const char *stat, size_t len, char *state)
{
    const char *p = memrchr(stat, ')', len);

    if (p == NULL || (size_t)(p - stat) + 2 >= len || p[1] != ' ') {
        return PS_ECORRUPT;
    }
    *state = p[2];
    return 0;
}

int
proc_parse_stat_threads(const char *stat, size_t len, char *state,
                        long *threads)
{
    const char *p = memrchr(stat, ')', len), *end = stat + len;
    long v = 0;
    int field;

    if (proc_parse_stat_state(stat, len, state) < 0) {
        return PS_ECORRUPT;
    }
    /* After ") ": the state (field 3), ... num_threads (field 20). */
    p += 2;
    for (field = 3; field < 20; field++) {
        while (p < end && *p != ' ') {
            p++;
        }
        if (p == end) {
            return PS_ECORRUPT;
        }
        p++;
    }
    if (p == end || *p < '0' || *p > '9') {
        return PS_ECORRUPT;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > 100000000) {
            return PS_ECORRUPT;
        }
        v = v * 10 + (*p++ - '0');
    }
    if (p != end && *p != ' ') {
        return PS_ECORRUPT;
    }
    *threads = v;
    return 0;
}

int
proc_parse_schedstat(const char *text, size_t len, uint64_t *cpu_ns,
                     uint64_t *wait_ns, uint64_t *runs)
{
    uint64_t v[3] = {0, 0, 0};
    size_t i = 0, k;

    for (k = 0; k < 3; k++) {
        size_t start = i;

        while (i < len && text[i] >= '0' && text[i] <= '9') {
            if (v[k] > (UINT64_MAX - 9) / 10) {
                return PS_ECORRUPT;
            }
            v[k] = v[k] * 10 + (uint64_t)(text[i] - '0');
            i++;
        }
        if (i == start || (i < len && text[i] != (k < 2 ? ' ' : '\n')) ||
            (i == len && k < 2)) {
            return PS_ECORRUPT;
        }
        i++;
    }
    *cpu_ns = v[0];
    *wait_ns = v[1];
    *runs = v[2];
    return 0;
}

/* The fields after the state, split on spaces; field 0 is the state. */
static int
proc_stat_field(const char *stat, size_t len, int index, long long *out)
{
    const char *p = NULL, *end = stat + len;
    size_t i;
    int field = 0;

    for (i = 0; i < len; i++) {
        if (stat[i] == ')') {
            p = stat + i;
        }
    }
    if (p == NULL) {
        return PS_ECORRUPT;
    }
    p += 2;
    while (p < end && field < index) {
        if (*p == ' ') {
            field++;
        }
        p++;
    }
    if (p >= end) {
        return PS_ECORRUPT;
    }
    *out = strtoll(p, NULL, 10);
    return 0;
}

int
proc_check(int pid)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    char state;
    int rc, fd;

    if (pid <= 0) {
        return err_set(PS_ENOPROC, "pid %d", pid);
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = read_file(path, 4096, &sb);
    if (rc == PS_ENOTFOUND) {
        strbuf_release(&sb);
        return err_set(PS_ENOPROC, "pid %d", pid);
    }
    if (rc == 0 && proc_parse_stat_state(sb.buf, sb.len, &state) == 0 &&
        (state == 'Z' || state == 'X')) {
        strbuf_release(&sb);
        return err_set(PS_EZOMBIE, "pid %d", pid);
    }
    if (rc == 0) {
        long long flags = 0;

        /* flags, the 9th field, has PF_KTHREAD for a kernel thread: it
         * has no memory to read (its /proc/PID/mem does not open). */
        if (proc_stat_field(sb.buf, sb.len, 6, &flags) == 0 &&
            (flags & 0x00200000)) {
            strbuf_release(&sb);
            return err_set(PS_ENOTPY, "pid %d is a kernel thread", pid);
        }
    }
    strbuf_release(&sb);
    /* Opening /proc/PID/mem takes the same ptrace access check as
     * process_vm_readv does. */
    snprintf(path, sizeof(path), "/proc/%d/mem", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ESRCH) {
            return err_set(PS_ENOPROC, "pid %d", pid);
        }
        if (errno == EACCES || errno == EPERM) {
            return err_set(PS_EPERM, "cannot read pid %d", pid);
        }
        return err_set(PS_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    close(fd);
    return 0;
}

int
proc_task_state(int pid, int tid, char *state)
{
    char path[80], buf[512];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return PS_ENOTFOUND;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n <= 0) {
        return PS_ENOTFOUND;
    }
    return proc_parse_stat_state(buf, (size_t)n, state);
}

int
proc_exiting(int pid)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    long long flags = 0;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = read_file(path, 4096, &sb);
    /* flags is the 9th field of stat, the 6th after the state. */
    if (rc == 0) {
        rc = proc_stat_field(sb.buf, sb.len, 6, &flags);
    }
    strbuf_release(&sb);
    if (rc < 0) {
        return 1; /* gone */
    }
    return (flags & 0x4) != 0; /* PF_EXITING */
}

int
proc_ppid(int pid, int *ppid)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    long long v;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = read_file(path, 4096, &sb);
    if (rc == 0) {
        rc = proc_stat_field(sb.buf, sb.len, 1, &v);
        if (rc == 0) {
            *ppid = (int)v;
        }
    }
    strbuf_release(&sb);
    return rc;
}

/*
 * The numbers of the status line "name:\t1 2 3" into v (at most max);
 * how many.  -1 when there is no such line.  Never reads past the line.
 */
static int
status_line(const char *text, size_t len, const char *name, long long *v,
            size_t max)
{
    size_t nlen = strlen(name), n = 0;
    const char *line, *end, *stop = text + len;

    for (line = text; line < stop; line = end + 1) {
        const char *p;

        end = memchr(line, '\n', (size_t)(stop - line));
        if (end == NULL) {
            end = stop;
        }
        if ((size_t)(end - line) <= nlen || memcmp(line, name, nlen) != 0 ||
            line[nlen] != ':') {
            continue;
        }
        for (p = line + nlen + 1; p < end && n < max;) {
            unsigned long long x = 0;
            int neg = 0, digits = 0;

            while (p < end && (*p == ' ' || *p == '\t')) {
                p++;
            }
            if (p < end && *p == '-') {
                neg = 1;
                p++;
            }
            while (p < end && *p >= '0' && *p <= '9' && digits < 18) {
                x = x * 10 + (unsigned long long)(*p++ - '0');
                digits++;
            }
            if (digits == 0) {
                break;
            }
            v[n++] = neg ? -(long long)x : (long long)x;
        }
        return (int)n;
    }
    return -1;
}

int
proc_usage(int pid, uint64_t *cpu_ns, uint64_t *rss_bytes)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    long long utime = 0, stime = 0, rss = 0;
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = read_file(path, 4096, &sb);
    if (rc < 0) {
        strbuf_release(&sb);
        return PS_ENOTFOUND;
    }
    /* utime, stime and rss: fields 14, 15 and 24 (11, 12 and 21 after
     * the state). */
    rc = proc_stat_field(sb.buf, sb.len, 11, &utime);
    if (rc == 0) {
        rc = proc_stat_field(sb.buf, sb.len, 12, &stime);
    }
    if (rc == 0) {
        rc = proc_stat_field(sb.buf, sb.len, 21, &rss);
    }
    strbuf_release(&sb);
    if (rc < 0) {
        return rc;
    }
    if (tick <= 0) {
        tick = 100;
    }
    *cpu_ns = (uint64_t)(utime + stime) * (1000000000u / (uint64_t)tick);
    *rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    return 0;
}

int
proc_status_parse(const char *text, size_t len, const char *name, int index,
                  long long *out)
{
    long long v[8];
    int n = status_line(text, len, name, v, 8);

    if (index < 0 || index >= n) {
        return PS_ENOTFOUND;
    }
    *out = v[index];
    return 0;
}

int
proc_creds_parse(const char *text, size_t len, struct file_creds *c)
{
    long long v[FILE_CREDS_GROUPS];
    int n, i;

    memset(c, 0, sizeof(*c));
    /* The fourth number of Uid: and Gid: is the filesystem id. */
    if (status_line(text, len, "Uid", v, 4) != 4) {
        return PS_ENOTFOUND;
    }
    c->uid = (uint32_t)v[3];
    if (status_line(text, len, "Gid", v, 4) != 4) {
        return PS_ENOTFOUND;
    }
    c->gid = (uint32_t)v[3];
    n = status_line(text, len, "Groups", v, FILE_CREDS_GROUPS);
    for (i = 0; i < n; i++) {
        c->groups[c->ngroups++] = (uint32_t)v[i];
    }
    c->known = 1;
    return 0;
}

static int
read_status(int pid, int tid, struct strbuf *sb)
{
    char path[96];

    if (tid > 0) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
    } else {
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
    }
    return read_file(path, 1 << 16, sb) < 0 ? PS_ENOTFOUND : 0;
}

int
proc_status_field(int pid, int tid, const char *name, int index,
                  long long *out)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = read_status(pid, tid, &sb);

    if (rc == 0) {
        rc = proc_status_parse(sb.buf, sb.len, name, index, out);
    }
    strbuf_release(&sb);
    return rc;
}

int
proc_creds(int pid, struct file_creds *c)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = read_status(pid, 0, &sb);

    if (rc == 0) {
        rc = proc_creds_parse(sb.buf, sb.len, c);
    } else {
        memset(c, 0, sizeof(*c));
    }
    strbuf_release(&sb);
    return rc;
}

int
proc_tasks(int pid, int **tids, size_t *count)
{
    char path[64];
    DIR *dir;
    struct dirent *de;
    int *v = NULL;
    size_t n = 0, alloc = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    dir = opendir(path);
    if (dir == NULL) {
        return errno == ENOENT ? PS_EEXITED : PS_EPERM;
    }
    while ((de = readdir(dir)) != NULL) {
        long tid;

        if (parse_long(de->d_name, 1, 0x7fffffff, &tid) < 0) {
            continue;
        }
        XGROW(v, alloc, n + 1);
        v[n++] = (int)tid;
    }
    closedir(dir);
    if (n > 1) {
        qsort(v, n, sizeof(*v), cmp_int);
    }
    *tids = v;
    *count = n;
    return 0;
}

int
proc_exe(int pid, struct strbuf *path)
{
    char link[64], buf[4096];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    n = readlink(link, buf, sizeof(buf) - 1);
    if (n < 0) {
        if (errno == ENOENT) {
            return PS_ENOTFOUND;
        }
        return errno == EACCES ? PS_EPERM : PS_EIO;
    }
    strbuf_add(path, buf, (size_t)n);
    return 0;
}

int
proc_cmdline(int pid, struct strbuf *out)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    rc = read_file(path, 1 << 16, &sb);
    if (rc == 0) {
        while (sb.len > 0 && sb.buf[sb.len - 1] == '\0') {
            sb.len--;
        }
        for (i = 0; i < sb.len; i++) {
            strbuf_addch(out, sb.buf[i] == '\0' ? ' ' : sb.buf[i]);
        }
    }
    strbuf_release(&sb);
    return rc;
}

int
proc_target_path(int pid, const char *path, struct strbuf *out)
{
    struct stat st;
    size_t mark = out->len;

    if (path[0] == '/') {
        strbuf_addf(out, "/proc/%d/root%s", pid, path);
    } else {
        strbuf_addf(out, "/proc/%d/cwd/%s", pid, path);
    }
    if (stat(out->buf + mark, &st) == 0) {
        return 0;
    }
    out->len = mark;
    out->buf[mark] = '\0';
    return PS_ENOTFOUND;
}

int
proc_mapped_path(int pid, const struct map_entry *e, struct strbuf *out)
{
    size_t mark = out->len;

    strbuf_addf(out, "/proc/%d/map_files/%llx-%llx", pid,
                (unsigned long long)e->start, (unsigned long long)e->end);
    if (access(out->buf + mark, R_OK) == 0) {
        return 0;
    }
    out->len = mark;
    out->buf[mark] = '\0';
    if (e->path[0] != '/') {
        return PS_ENOTFOUND;
    }
    return proc_target_path(pid, e->path, out);
}

int
proc_ns_id(int pid, int tid, int *inner)
{
    char path[80], buf[4096];
    const char *line, *p;
    long v = -1, id;
    ssize_t n;
    int fd;

    if (tid > 0) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
    } else {
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return PS_ENOTFOUND;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return PS_ENOTFOUND;
    }
    buf[n] = '\0';
    line = strstr(buf, "\nNSpid:");
    if (line == NULL) {
        *inner = tid > 0 ? tid : pid;
        return 0;
    }
    /* One id per nested namespace, the host's first: keep the last. */
    for (p = line + 7; *p == ' ' || *p == '\t' || (*p >= '0' && *p <= '9');) {
        char *end;

        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        id = strtol(p, &end, 10);
        if (end == p || id <= 0 || id > 0x7fffffff) {
            return PS_ENOTFOUND;
        }
        v = id;
        p = end;
    }
    if (v < 0) {
        return PS_ENOTFOUND;
    }
    *inner = (int)v;
    return 0;
}

static int
parse_hex_token(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;

    while (*p < end && **p == ' ') {
        (*p)++;
    }
    if (end - *p >= 2 && (*p)[0] == '0' && (*p)[1] == 'x') {
        *p += 2;
    }
    while (*p < end && digits < 17) {
        char c = **p;
        int d;

        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else {
            break;
        }
        v = v << 4 | (uint64_t)d;
        digits++;
        (*p)++;
    }
    *out = v;
    return digits > 0 ? 0 : -1;
}

int
proc_parse_syscall(const char *text, size_t len, int64_t *nr, uint64_t *sp,
                   uint64_t *pc, uint64_t *args)
{
    const char *p = text, *end = text + len;
    uint64_t v;
    long long n;
    int i, skip;

    *nr = -1;
    *sp = *pc = 0;
    if (len >= 7 && memcmp(text, "running", 7) == 0) {
        return 0;
    }
    /* "-1 SP PC" when blocked outside a system call, else "NR A1 .. A6
     * SP PC" (NR in decimal, the rest in hex). */
    if (len >= 2 && text[0] == '-') {
        skip = 1;
        n = -1;
    } else {
        /* The text is not NUL-terminated: no strtoll(). */
        skip = 7;
        for (n = 0; p < end && *p >= '0' && *p <= '9' && n < (1ll << 40);
             p++) {
            n = n * 10 + (*p - '0');
        }
    }
    while (p < end && *p != ' ') {
        p++;
    }
    for (i = 1; i < skip; i++) {
        if (parse_hex_token(&p, end, &v) < 0) {
            return PS_ECORRUPT;
        }
        if (args != NULL) {
            args[i - 1] = v;
        }
    }
    if (parse_hex_token(&p, end, sp) < 0) {
        *sp = 0;
        return PS_ECORRUPT;
    }
    if (parse_hex_token(&p, end, pc) < 0) {
        *pc = 0;
    }
    *nr = n;
    return 0;
}

int
proc_task_syscall(int pid, int tid, int64_t *nr, uint64_t *sp, uint64_t *pc,
                  uint64_t *args)
{
    char path[80], buf[512];
    int fd;
    ssize_t n;

    *nr = -1;
    *sp = *pc = 0;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == EACCES || errno == EPERM ? PS_EPERM : PS_ENOTFOUND;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n <= 0) {
        return PS_ENOTFOUND;
    }
    return proc_parse_syscall(buf, (size_t)n, nr, sp, pc, args);
}

static int
cmdline_is(int pid, const char *cmdline, struct strbuf *sb)
{
    strbuf_reset(sb);
    return proc_cmdline(pid, sb) == 0 && strcmp(sb->buf, cmdline) == 0;
}

int
proc_find_cmdline(const char *cmdline, int exclude, int *pid)
{
    struct strbuf sb = STRBUF_INIT;
    DIR *dir = opendir("/proc");
    struct dirent *de;
    long best = -1, best_child = -1;

    if (dir == NULL) {
        return err_set(PS_ENOTFOUND, "cannot list /proc: %s", strerror(errno));
    }
    while ((de = readdir(dir)) != NULL) {
        long p;
        int ppid;

        if (parse_long(de->d_name, 1, 0x7fffffff, &p) < 0 || p == exclude ||
            !cmdline_is((int)p, cmdline, &sb)) {
            continue;
        }
        if (proc_ppid((int)p, &ppid) == 0 && ppid != exclude &&
            cmdline_is(ppid, cmdline, &sb)) {
            if (best_child < 0 || p < best_child) {
                best_child = p;
            }
            continue;
        }
        if (best < 0 || p < best) {
            best = p;
        }
    }
    closedir(dir);
    strbuf_release(&sb);
    if (best < 0) {
        best = best_child;
    }
    if (best < 0) {
        return err_set(PS_ENOTFOUND, "no process runs '%s'", cmdline);
    }
    *pid = (int)best;
    return 0;
}
