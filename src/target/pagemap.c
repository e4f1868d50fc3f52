/*
 * pagemap.c - read /proc/PID/pagemap and count resident pages.
 *
 * Layer: target.
 */
#define _GNU_SOURCE
#include "pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "core/banned.h"

#define HUGE_PAGE (2u << 20)

/* The frame behind one page of pyspect's own memory, 0 when unknown. */
static uint64_t
own_pfn(int fd, const void *addr, uint64_t page_size)
{
    uint64_t e = 0;
    off_t off = (off_t)((uintptr_t)addr / page_size * sizeof(e));

    if (pread(fd, &e, sizeof(e), off) != (ssize_t)sizeof(e) ||
        !(e & PAGEMAP_PRESENT)) {
        return 0;
    }
    return e & PAGEMAP_PFN_MASK;
}

/*
 * Learn the zero page frames by reading untouched memory of our own:
 * a plain page maps the zero page; a 2 MiB aligned range marked for huge
 * pages may map the huge zero page.  Frames are 0 (unknown) without
 * CAP_SYS_ADMIN, and then nothing is learnt.
 */
static void
pagemap_learn_zero(struct pagemap *pm)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    size_t len = 2 * HUGE_PAGE;
    volatile const char *p;
    char *map;

    if (fd < 0) {
        return;
    }
    map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map != MAP_FAILED) {
        char *huge = (char *)(((uintptr_t)map + HUGE_PAGE - 1) &
                              ~(uintptr_t)(HUGE_PAGE - 1));
        char *plain = huge == map ? map + HUGE_PAGE : map;

        p = plain;
        (void)*p;
        pm->zero_pfn = own_pfn(fd, plain, pm->page_size);
        if (huge != plain && huge + HUGE_PAGE <= map + len) {
            uint64_t pfn;

            madvise(huge, HUGE_PAGE, MADV_HUGEPAGE);
            p = huge;
            (void)*p;
            pfn = own_pfn(fd, huge, pm->page_size);
            if (pfn != 0 && pfn != pm->zero_pfn) {
                pm->huge_zero_pfn = pfn;
                pm->huge_zero_npages = HUGE_PAGE / pm->page_size;
            }
        }
        munmap(map, len);
    }
    close(fd);
}

int
pagemap_open(int pid, struct pagemap *pm)
{
    char path[64];
    long ps = sysconf(_SC_PAGESIZE);

    memset(pm, 0, sizeof(*pm));
    pm->pid = pid;
    pm->page_size = ps > 0 ? (uint64_t)ps : 4096;
    snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
    pm->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (pm->fd < 0) {
        int e = errno;

        if (e == ENOENT || e == ESRCH) {
            return err_set(PS_EEXITED, "pid %d exited", pid);
        }
        return err_set(e == EACCES || e == EPERM ? PS_EPERM : PS_EIO,
                       "cannot open %s: %s", path, strerror(e));
    }
    pagemap_learn_zero(pm);
    return 0;
}

void
pagemap_close(struct pagemap *pm)
{
    if (pm->fd >= 0) {
        close(pm->fd);
    }
    pm->fd = -1;
}

int
pagemap_read(struct pagemap *pm, raddr_t addr, size_t npages, uint64_t *out)
{
    size_t done = 0;

    while (done < npages) {
        size_t want = npages - done;
        off_t off = (off_t)((addr / pm->page_size + done) * sizeof(uint64_t));
        ssize_t n;

        if (want > PAGEMAP_CHUNK) {
            want = PAGEMAP_CHUNK;
        }
        n = pread(pm->fd, out + done, want * sizeof(uint64_t), off);
        pm->reads++;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0 || errno == ESRCH) {
                return err_set(PS_EEXITED, "pid %d exited", pm->pid);
            }
            return err_set(PS_EIO, "cannot read /proc/%d/pagemap: %s", pm->pid,
                           strerror(errno));
        }
        if ((size_t)n % sizeof(uint64_t) != 0) {
            return err_set(PS_EIO, "short read of /proc/%d/pagemap", pm->pid);
        }
        pm->entries += (size_t)n / sizeof(uint64_t);
        done += (size_t)n / sizeof(uint64_t);
    }
    return 0;
}

int
pagemap_count(struct pagemap *pm, raddr_t start, raddr_t end,
              uint64_t *resident, uint64_t *swapped)
{
    raddr_t first = start / pm->page_size;
    raddr_t last = (end + pm->page_size - 1) / pm->page_size;

    *resident = 0;
    *swapped = 0;
    while (first < last) {
        size_t n = last - first > PAGEMAP_CHUNK ? PAGEMAP_CHUNK
                                                : (size_t)(last - first);
        size_t i;
        int rc = pagemap_read(pm, first * pm->page_size, n, pm->buf);

        if (rc < 0) {
            return rc;
        }
        for (i = 0; i < n; i++) {
            if (pagemap_resident(pm, pm->buf[i])) {
                *resident += pm->page_size;
            } else if (pm->buf[i] & PAGEMAP_SWAPPED) {
                *swapped += pm->page_size;
            }
        }
        first += n;
    }
    return 0;
}
