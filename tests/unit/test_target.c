/*
 * test_target.c - unit tests of the target interface: a live process
 * (a forked child of this test, parked in a system call) and the
 * memory-only target; of the session (launch, reap, stop, find
 * children); and of opening files a target names (openfile.h).
 *
 * Layer: tests.  The child is this very program, so its executable,
 * command line and a global variable's address are known here.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "tap.h"
#include "target/elf.h"
#include "target/openfile.h"
#include "target/proc.h"
#include "target/session.h"
#include "target/target.h"

/* The child reads nothing of this; the test reads it in the child. */
static volatile uint64_t marker = 0x5079737065637421ull;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Wait (bounded) until the thread shows the wanted state letter. */
static char
wait_state(struct target *t, int tid, char want)
{
    char state = 0;
    int i;

    for (i = 0; i < 500; i++) {
        if (target_thread_state(t, tid, &state) == 0 && state == want) {
            break;
        }
        sleep_ms(10);
    }
    return state;
}

static void
test_live(void)
{
    struct target *t = NULL;
    struct strbuf sb = STRBUF_INIT, self = STRBUF_INIT;
    struct maps maps = MAPS_INIT;
    struct target_regs regs;
    struct elf_image *img = NULL;
    struct elf_symbol sym;
    const struct map_entry *exe_map = NULL;
    uint64_t v = 0;
    int *tids = NULL, status;
    size_t n = 0, i;
    pid_t child;

    marker = 0x5079737065637421ull;
    child = fork();
    if (child == 0) {
        for (;;) {
            pause();
        }
    }
    TAP_OK(child > 0, "fork a child to look at");
    TAP_EQ_INT(target_live_open(child, &t), 0, "open the live child");
    TAP_EQ_STR(t->ops->name, "live", "its backend");
    TAP_EQ_INT(t->pid, child, "its pid");
    strbuf_addf(&sb, "pid %d", (int)child);
    TAP_EQ_STR(t->name, sb.buf, "its name for messages");
    strbuf_reset(&sb);

    TAP_EQ_INT(memsrc_read_u64(t->mem, (raddr_t)(uintptr_t)&marker, &v), 0,
               "read its memory");
    TAP_OK(v == 0x5079737065637421ull, "a global as the child has it");

    TAP_EQ_INT(target_threads(t, &tids, &n), 0, "list its threads");
    TAP_OK(n == 1 && tids[0] == child, "one thread, the pid");
    free(tids);

    TAP_EQ_INT(wait_state(t, child, 'S'), 'S', "it sleeps in pause()");
    /* Asleep at the moment asked: pause() may not be reached yet. */
    for (i = 0; i < 500 && !target_thread_asleep(t, child); i++) {
        sleep_ms(10);
    }
    TAP_OK(i < 500, "asleep, as its wchan says");
    TAP_EQ_INT(target_thread_regs(t, child, &regs), 0, "its registers");
    TAP_OK(regs.syscall >= 0 && regs.sp != 0 && regs.pc != 0,
           "blocked in a system call, with sp and pc (%lld)",
           (long long)regs.syscall);
    TAP_OK(target_thread_state(t, 1 << 30, &(char){0}) < 0,
           "an unknown thread has no state");

    TAP_EQ_INT(target_executable(t, &sb), 0, "its executable");
    proc_exe(getpid(), &self);
    TAP_EQ_STR(sb.buf, self.buf, "the test's own executable");
    strbuf_reset(&sb);
    TAP_EQ_INT(target_cmdline(t, &sb), 0, "its command line");
    TAP_OK(sb.len > 0, "not empty");
    strbuf_reset(&sb);
    TAP_EQ_INT(target_path(t, ".", &sb), 0, "a relative path");
    strbuf_addf(&self, "|/proc/%d/cwd/.", (int)child);
    TAP_EQ_STR(sb.buf, strchr(self.buf, '|') + 1, "through its cwd");
    strbuf_reset(&sb);
    strbuf_reset(&self);
    proc_exe(getpid(), &self);
    TAP_EQ_INT(target_path(t, self.buf, &sb), 0, "an absolute path");
    TAP_OK(strncmp(sb.buf, "/proc/", 6) == 0 && strstr(sb.buf, "/root/") &&
               strcmp(strstr(sb.buf, "/root/") + 5, self.buf) == 0,
           "through its root: %s", sb.buf);
    strbuf_reset(&sb);
    /* Never the bare name: in a container it is another file. */
    TAP_EQ_INT(target_path(t, "rel/no-such-file", &sb), PS_ENOTFOUND,
               "a file it does not have");
    TAP_OK(sb.len == 0, "... gives no path");

    TAP_EQ_INT(target_maps(t, &maps), 0, "its mappings");
    for (i = 0; i < maps.n && exe_map == NULL; i++) {
        if (maps.v[i].offset == 0 && strcmp(maps.v[i].path, self.buf) == 0) {
            exe_map = &maps.v[i];
        }
    }
    TAP_OK(exe_map != NULL, "the executable is mapped");
    if (exe_map != NULL) {
        TAP_EQ_INT(target_mapped_path(t, exe_map, &sb), 0,
                   "a path to the mapped file");
        TAP_EQ_INT(target_open_elf(t, exe_map, NULL, &img), 0,
                   "open it as ELF");
        TAP_OK(img != NULL && elf_image_symbol(img, "main", &sym) == 0,
               "with the symbol of main()");
        elf_image_close(img);
    }
    maps_release(&maps);

    TAP_OK(target_can_pause(t), "a live process can be paused");
    TAP_EQ_INT(target_pause(t), 0, "pause it");
    TAP_EQ_INT(target_thread_state(t, child, &(char){0}), 0, "state read");
    TAP_EQ_INT(wait_state(t, child, 't'), 't', "held by ptrace");
    target_resume(t);
    TAP_OK(target_pause_ms(t) > 0, "the pause is measured");
    TAP_EQ_INT(wait_state(t, child, 'S'), 'S', "sleeping again");
    TAP_EQ_INT(target_check(t), 0, "still there");

    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    TAP_EQ_INT(target_check(t), PS_EEXITED, "gone once killed");
    TAP_OK(target_thread_state(t, child, &(char){0}) < 0, "no state");
    TAP_OK(!target_thread_asleep(t, child), "gone, so not known asleep");
    TAP_EQ_INT(memsrc_read_u64(t->mem, (raddr_t)(uintptr_t)&marker, &v),
               PS_EEXITED, "its memory is gone");
    target_free(t);
    err_clear();
    TAP_OK(target_live_open(child, &t) < 0, "cannot open a reaped pid");
    strbuf_release(&sb);
    strbuf_release(&self);
}

/* A thread that runs is never said to sleep: the sampler would drop its
 * samples. */
static void
test_live_running(void)
{
    struct target *t = NULL;
    int status, i, asleep = 0;
    pid_t child;

    child = fork();
    if (child == 0) {
        for (;;) {
            marker++;
        }
    }
    TAP_OK(child > 0, "fork a child that spins");
    TAP_EQ_INT(target_live_open(child, &t), 0, "open it");
    TAP_EQ_INT(wait_state(t, child, 'R'), 'R', "it runs");
    for (i = 0; i < 100; i++) {
        asleep += target_thread_asleep(t, child);
    }
    TAP_EQ_INT(asleep, 0, "never found asleep (on a CPU or queued for one)");
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    target_free(t);
}

static void
test_memory(void)
{
    struct memsrc *src = memsrc_buffer_new();
    struct target *t;
    struct maps maps = MAPS_INIT;
    struct strbuf sb = STRBUF_INIT;
    int *tids = NULL;
    size_t n = 1;
    uint64_t v = 0, want = 42;

    memsrc_buffer_add(src, 0x1000, &want, sizeof(want));
    t = target_from_memsrc(src);
    TAP_EQ_INT(memsrc_read_u64(t->mem, 0x1000, &v), 0, "memory target reads");
    TAP_EQ_INT(v, 42, "what was put there");
    TAP_EQ_INT(target_maps(t, &maps), 0, "no mappings");
    TAP_EQ_INT(maps.n, 0, "none");
    TAP_EQ_INT(target_threads(t, &tids, &n), 0, "no threads");
    TAP_EQ_INT(n, 0, "none");
    TAP_OK(!target_can_pause(t), "nothing to pause");
    TAP_EQ_INT(target_pause(t), 0, "pausing it is a no-op");
    target_resume(t);
    TAP_OK(target_path(t, "/x", &sb) < 0, "no files");
    target_free(t);
    strbuf_release(&sb);
}

/* A stack's pages read in one go: later reads stay in the cache. */
static void
test_cache_prefetch(void)
{
    static unsigned char pages[3 * 4096];
    struct memsrc *src = memsrc_buffer_new();
    struct memsrc *c;
    uint64_t reads, v = 0;
    size_t i;

    for (i = 0; i < sizeof(pages); i++) {
        pages[i] = (unsigned char)(i / 4096 + 1);
    }
    memsrc_buffer_add(src, 0x10000, pages, sizeof(pages));
    c = memsrc_cache_new(src, 4096, 8);
    TAP_EQ_INT(memsrc_cache_prefetch(c, 0x10010, 0x2000), 0,
               "three pages prefetched");
    reads = src->nreads;
    TAP_EQ_INT(memsrc_read_u64(c, 0x12008, &v), 0, "the last one read");
    TAP_OK(v == 0x0303030303030303ull && src->nreads == reads,
           "from the cache");
    memsrc_cache_invalidate(c);
    TAP_OK(memsrc_cache_prefetch(c, 0x11000, 0x3000) < 0,
           "a range past the mapping fails");
    reads = src->nreads;
    TAP_EQ_INT(memsrc_read_u64(c, 0x11000, &v), 0, "read page by page");
    TAP_OK(v == 0x0202020202020202ull && src->nreads == reads + 1,
           "nothing was cached by the failed prefetch");
    memsrc_free(c);
    memsrc_free(src);
}

static void
test_creds(void)
{
    struct file_creds c = {1, 1000, 100, {7}, 1};
    struct file_creds nobody = {0, 0, 0, {0}, 0};
    struct file_creds root = {1, 0, 0, {0}, 0};
    struct stat st;

    memset(&st, 0, sizeof(st));
    st.st_uid = 1000;
    st.st_gid = 5;
    st.st_mode = S_IFREG | 0600;
    TAP_OK(file_creds_may(&c, &st, 4), "the owner reads 0600");
    st.st_uid = 1001;
    TAP_OK(!file_creds_may(&c, &st, 4), "another user does not");
    TAP_OK(file_creds_may(&root, &st, 4), "root does");
    st.st_mode = S_IFREG | 0640;
    TAP_OK(!file_creds_may(&c, &st, 4), "0640 of a group not ours");
    st.st_gid = 7;
    TAP_OK(file_creds_may(&c, &st, 4), "0640 of a supplementary group");
    st.st_gid = 100;
    TAP_OK(file_creds_may(&c, &st, 4), "0640 of our group");
    TAP_OK(!file_creds_may(&nobody, &st, 4), "unknown user: not 0640");
    st.st_mode = S_IFREG | 0644;
    TAP_OK(file_creds_may(&nobody, &st, 4), "unknown user: 0644");
    st.st_mode = S_IFDIR | 0750;
    st.st_gid = 5;
    TAP_OK(!file_creds_may(&c, &st, 1), "a directory we may not search");
}

/* openfile_in_root over a directory laid out here. */
static void
test_openfile(void)
{
    char dir[] = "/tmp/pyspect-openfile-XXXXXX";
    struct file_creds me = {
        1, (uint32_t)geteuid(), (uint32_t)getegid(), {0}, 0};
    struct strbuf path = STRBUF_INIT, sb = STRBUF_INIT;
    int root, fd = -1;
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        TAP_OK(0, "mkdtemp");
        return;
    }
    strbuf_addf(&path, "%s/src.py", dir);
    f = fopen(path.buf, "w");
    fputs("print(1)\n", f);
    fclose(f);
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/fifo", dir);
    mkfifo(path.buf, 0644);
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/escape", dir);
    TAP_OK(symlink("/etc/hostname", path.buf) == 0, "a symlink out");
    root = open(dir, O_PATH | O_DIRECTORY);
    TAP_EQ_INT(openfile_in_root(root, "/src.py", &me, 100, &fd), 0,
               "a regular file opens");
    if (fd >= 0) {
        TAP_EQ_INT(openfile_read(fd, 100, &sb), 0, "and reads");
        TAP_EQ_STR(sb.buf, "print(1)\n", "its text");
        close(fd);
    }
    TAP_EQ_INT(openfile_in_root(root, "/src.py", &me, 4, &fd), PS_ENOTFOUND,
               "over the size bound: refused");
    TAP_EQ_INT(openfile_in_root(root, "/fifo", &me, 100, &fd), PS_ENOTFOUND,
               "a FIFO: refused, without blocking");
    TAP_EQ_INT(openfile_in_root(root, "/", &me, 100, &fd), PS_ENOTFOUND,
               "a directory: refused");
    TAP_EQ_INT(openfile_in_root(root, "/escape", &me, 100, &fd), PS_ENOTFOUND,
               "an absolute symlink stays in the root");
    TAP_EQ_INT(openfile_in_root(root, "/../../etc/hostname", &me, 100, &fd),
               PS_ENOTFOUND, "so does ..");
    TAP_EQ_INT(openfile_in_root(root, "src.py", &me, 100, &fd), PS_ENOTFOUND,
               "a relative path: refused");
    close(root);
    strbuf_reset(&path);
    strbuf_addf(&path, "rm -rf %s", dir);
    TAP_EQ_INT(system(path.buf), 0, "clean up");
    strbuf_release(&path);
    strbuf_release(&sb);
}

static int
session_known(void *ctx, int pid)
{
    const int *pids = ctx;
    int i;

    for (i = 1; i <= pids[0]; i++) {
        if (pids[i] == pid) {
            return 1;
        }
    }
    return 0;
}

static void
session_add(void *ctx, int pid)
{
    int *pids = ctx;

    if (pids[0] < 7) {
        pids[++pids[0]] = pid;
    }
}

static void
test_session(void)
{
    char w_true[] = "true", w_bad[] = "/nonexistent/prog", w_sh[] = "sh";
    char w_c[] = "-c", w_exit[] = "exit 3", w_sleep[] = "sleep";
    char w_30[] = "30", w_two[] = "sleep 30 & sleep 30; wait";
    char *ok[] = {w_true, NULL}, *bad[] = {w_bad, NULL};
    char *code[] = {w_sh, w_c, w_exit, NULL};
    char *sleeper[] = {w_sleep, w_30, NULL};
    char *parent[] = {w_sh, w_c, w_two, NULL};
    struct session s;
    int pids[8] = {0};
    size_t found = 0;
    int i;

    TAP_EQ_INT(session_launch(&s, ok), 0, "launch true");
    TAP_OK(s.launched && s.pid > 0, "a child of ours");
    TAP_EQ_INT(session_wait(&s, 10), 1, "it exits");
    TAP_EQ_INT(session_exit_status(&s), 0, "status 0");
    TAP_EQ_INT(session_launch(&s, code), 0, "launch sh -c 'exit 3'");
    session_wait(&s, -1);
    TAP_EQ_INT(session_exit_status(&s), 3, "its status, as a shell says");
    TAP_EQ_INT(session_launch(&s, bad), PS_ECOMMAND,
               "a program that cannot run fails at once");
    TAP_OK(strstr(err_context(), "/nonexistent/prog") != NULL,
           "and says which: %s", err_context());

    TAP_EQ_INT(session_launch(&s, sleeper), 0, "launch sleep 30");
    TAP_EQ_INT(session_exited(&s), 0, "it runs");
    TAP_EQ_INT(session_exit_status(&s), -1, "no status yet");
    session_stop(&s, SIGTERM, 5);
    TAP_EQ_INT(session_exit_status(&s), 128 + SIGTERM, "stopped by SIGTERM");

    TAP_EQ_INT(session_launch(&s, parent), 0, "launch a shell with children");
    pids[0] = 1;
    pids[1] = s.pid;
    for (i = 0; i < 500 && found < 2; i++) {
        found += session_descendants(session_known, session_add, pids);
        sleep_ms(10);
    }
    TAP_EQ_INT(found, 2, "its two sleeps are found");
    for (i = 2; i <= pids[0]; i++) {
        kill(pids[i], SIGKILL);
    }
    session_stop(&s, SIGTERM, 5);
    TAP_OK(s.reaped, "and it is reaped");

    session_attach(&s, getpid());
    TAP_OK(!s.launched && session_exited(&s) == 0, "an attached process");
    session_stop(&s, SIGTERM, 1);
    TAP_OK(1, "is never signalled by session_stop()");
}

int
main(void)
{
    test_creds();
    test_openfile();
    test_live();
    test_live_running();
    test_memory();
    test_cache_prefetch();
    test_session();
    return tap_done();
}
