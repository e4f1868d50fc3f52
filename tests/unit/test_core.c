/*
 * test_core.c - strbuf, JSON writer, hash map, error table, /proc and
 * maps parsing, the signal guard, the sampler's interval and slice.
 *
 * Layer: tests.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/escape.h"
#include "core/hashmap.h"
#include "core/sigguard.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "target/maps.h"
#include "target/openfile.h"
#include "target/proc.h"
#include "tap.h"

static void
test_json(void)
{
    struct strbuf sb = STRBUF_INIT;
    struct json j;

    json_init(&j, &sb, 0);
    json_object_begin(&j);
    json_kv_int(&j, "a", -3);
    json_key(&j, "list");
    json_array_begin(&j);
    json_string(&j, "x\"y\\z\n");
    json_null(&j);
    json_bool(&j, 1);
    json_array_end(&j);
    json_key(&j, "empty");
    json_object_begin(&j);
    json_object_end(&j);
    json_kv_string(&j, "s", NULL);
    json_kv_double(&j, "d", 12.5);
    json_object_end(&j);
    TAP_EQ_STR(sb.buf,
               "{\"a\":-3,\"list\":[\"x\\\"y\\\\z\\n\",null,true],"
               "\"empty\":{},\"s\":null,\"d\":12.5}",
               "compact JSON");

    strbuf_reset(&sb);
    /* A lone surrogate (3-byte form), U+0000 as C0 80, an invalid byte,
     * a control character and an astral character. */
    {
        static const char in[] = "\xed\xb3\xbf|\xc0\x80|\xff|\x01|"
                                 "\xf0\xa0\x80\x80";

        json_quote(&sb, in, sizeof(in) - 1);
    }
    TAP_EQ_STR(sb.buf, "\"\\ufffd|\\u0000|\\ufffd|\\u0001|\xf0\xa0\x80\x80\"",
               "a lone surrogate is U+FFFD (valid JSON), NUL and bad bytes "
               "escaped");
    strbuf_release(&sb);
}

static void
test_strbuf(void)
{
    struct strbuf sb = STRBUF_INIT;
    int i;

    TAP_EQ_STR(sb.buf, "", "an empty strbuf is a C string");
    for (i = 0; i < 1000; i++) {
        strbuf_addf(&sb, "%d,", i);
    }
    TAP_EQ_INT(sb.len, strlen(sb.buf), "len matches the string");
    TAP_OK(strncmp(sb.buf + sb.len - 4, "999,", 4) == 0, "appends in order");
    strbuf_rtrim(&sb);
    strbuf_release(&sb);
    TAP_EQ_INT(sb.len, 0, "released");
}

static void
test_hashmap(void)
{
    struct hashmap m = HASHMAP_INIT;
    uintptr_t i, ok = 1;

    for (i = 1; i <= 10000; i++) {
        hashmap_put(&m, i * 4096, (void *)(i + 1));
    }
    for (i = 1; i <= 10000; i++) {
        ok &= hashmap_get(&m, i * 4096) == (void *)(i + 1);
    }
    TAP_OK(ok, "10000 entries found");
    TAP_OK(hashmap_get(&m, 12345) == NULL, "a missing key");
    TAP_EQ_INT(m.count, 10000, "count");
    hashmap_release(&m);
}

static void
test_errors(void)
{
    TAP_EQ_INT(err_exit_status(0), 0, "success is 0");
    TAP_EQ_INT(err_exit_status(PS_EUSAGE), 2, "usage is 2");
    TAP_EQ_INT(err_exit_status(PS_ENOPROC), 3, "no such process is 3");
    TAP_EQ_INT(err_class(PS_ECHANGED), ERR_CLASS_TRANSIENT, "transient");
    TAP_OK(strstr(err_hint(PS_EPERM), "ptrace_scope") != NULL,
           "permission hint says what to do");
    TAP_EQ_STR(err_name(PS_EZOMBIE), "PS_EZOMBIE", "names");
}

static void
test_parse(void)
{
    long v;
    double d;

    TAP_EQ_INT(parse_long("42", 0, 100, &v), 0, "a number");
    TAP_EQ_INT(parse_long("42x", 0, 100, &v), PS_EUSAGE, "trailing junk");
    TAP_EQ_INT(parse_long("101", 0, 100, &v), PS_EUSAGE, "out of range");
    TAP_EQ_INT(parse_long("", 0, 100, &v), PS_EUSAGE, "empty");
    TAP_EQ_INT(parse_double("0.25", &d), 0, "a double");
    TAP_EQ_INT(parse_double("nan", &d), PS_EUSAGE, "nan is refused");
}

static void
test_maps(void)
{
    static const char text[] =
        "00400000-00401000 r--p 00000000 fe:01 1234    /usr/bin/python3.11\n"
        "00401000-00600000 r-xp 00001000 fe:01 1234    /usr/bin/python3.11\n"
        "01000000-02000000 rw-p 00000000 00:00 0       [heap]\n"
        "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
        "7f0000001000-7f0000002000 r--p 00000000 fe:01 99  /tmp/a b "
        "(deleted)\n"
        "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0       [stack]\n"
        "7ffd00000000-7ffd00001000 r-xp 00000000 fe:01 7  /tmp/sle\\012ep\n";
    struct maps m = MAPS_INIT;
    const struct map_entry *e;

    TAP_EQ_INT(maps_parse(text, sizeof(text) - 1, &m), 0, "maps parse");
    TAP_EQ_INT(m.n, 7, "seven mappings");
    TAP_EQ_STR(m.v[0].path, "/usr/bin/python3.11", "path");
    TAP_EQ_INT(m.v[1].offset, 0x1000, "offset");
    TAP_EQ_INT(m.v[0].inode, 1234, "inode");
    TAP_EQ_STR(m.v[3].path, "", "anonymous mapping");
    TAP_EQ_STR(m.v[4].path, "/tmp/a b (deleted)", "spaces in paths");
    TAP_EQ_STR(m.v[6].path, "/tmp/sle\nep", "the kernel's \\012 is a newline");
    e = maps_find(&m, 0x1800000);
    TAP_OK(e != NULL && strcmp(e->path, "[heap]") == 0, "find");
    TAP_OK(maps_find(&m, 0x300000000) == NULL, "a hole");
    TAP_OK(maps_readable(&m, 0x400ff0, 0x20), "across two mappings");
    TAP_OK(!maps_readable(&m, 0x5ffff0, 0x20), "into a hole");
    maps_release(&m);
    TAP_EQ_INT(maps_parse("zz-1 r--p\n", 10, &m), PS_ECORRUPT, "garbage");
    maps_release(&m);
}

static void
test_stat(void)
{
    static const char stat[] = "42 (a) b) c) S 1 42 42 0 -1 4194560";
    char state = 0;

    TAP_EQ_INT(proc_parse_stat_state(stat, sizeof(stat) - 1, &state), 0,
               "stat parses");
    TAP_EQ_INT(state, 'S', "the state after a comm holding ') '");
    TAP_EQ_INT(proc_parse_stat_state("42 (x", 5, &state), PS_ECORRUPT,
               "truncated stat");
    {
        static const char full[] =
            "4242 (a) b) R 1 4242 4242 0 -1 4194560 7 0 0 0 3 1 0 0 20 0 "
            "17 0 12345 4096 100\n";
        long threads = 0;

        state = 0;
        TAP_EQ_INT(
            proc_parse_stat_threads(full, sizeof(full) - 1, &state, &threads),
            0, "stat with its thread count parses");
        TAP_OK(state == 'R' && threads == 17, "state R, 17 threads");
        TAP_EQ_INT(
            proc_parse_stat_threads(stat, sizeof(stat) - 1, &state, &threads),
            PS_ECORRUPT, "a stat cut before num_threads");
    }
    {
        uint64_t cpu_ns = 0, wait_ns = 0, runs = 0;

        TAP_EQ_INT(proc_parse_schedstat("123456789 4242 17\n", 18, &cpu_ns,
                                        &wait_ns, &runs),
                   0, "schedstat parses");
        TAP_OK(cpu_ns == 123456789 && wait_ns == 4242 && runs == 17,
               "schedstat's three counts");
        TAP_EQ_INT(proc_parse_schedstat("12 34", 5, &cpu_ns, &wait_ns, &runs),
                   PS_ECORRUPT, "truncated schedstat");
        TAP_EQ_INT(proc_parse_schedstat("99999999999999999999 1 1\n", 25,
                                        &cpu_ns, &wait_ns, &runs),
                   PS_ECORRUPT, "schedstat count past 64 bits");
    }
    {
        static const char status[] = "Name:\tpython3\nTracerPid:\t0\n"
                                     "Uid:\t1000\t1001\t1002\t1003\n"
                                     "Gid:\t50\t51\t52\t53\n"
                                     "Groups:\t7 8 \nNStgid:\t9\n";
        struct file_creds c;
        long long v = -1;

        TAP_EQ_INT(
            proc_status_parse(status, sizeof(status) - 1, "TracerPid", 0, &v),
            0, "TracerPid parses");
        TAP_EQ_INT(v, 0, "TracerPid 0");
        TAP_EQ_INT(
            proc_status_parse(status, sizeof(status) - 1, "Groups", 2, &v),
            PS_ENOTFOUND, "no third group, and no next line read");
        TAP_EQ_INT(proc_creds_parse(status, sizeof(status) - 1, &c), 0,
                   "credentials parse");
        TAP_OK(c.known && c.uid == 1003 && c.gid == 53 && c.ngroups == 2 &&
                   c.groups[1] == 8,
               "the filesystem ids and the groups");
        TAP_EQ_INT(proc_creds_parse("Uid:\t1\n", 7, &c), PS_ENOTFOUND,
                   "a short Uid line");
    }
}

/* ---- escapes for the terminal ------------------------------------------ */

static void
test_escape(void)
{
    TAP_EQ_STR(esc("plain ASCII, fünf, 函数"), "plain ASCII, fünf, 函数",
               "printable text and UTF-8 stay");
    TAP_EQ_STR(esc("a\033]0;title\007b\bc"), "a\\e]0;title\\ab\\bc",
               "ESC, BEL and BS are escaped");
    TAP_EQ_STR(esc("f\nThread 1 forged\r\t"), "f\\nThread 1 forged\\r\\t",
               "a newline cannot forge a line");
    TAP_EQ_STR(esc("x\\y\x01\x7f"), "x\\\\y\\x01\\x7f",
               "backslash, other controls, DEL");
    TAP_EQ_STR(esc("\xc2\x9b"
                   "2J"),
               "\\u009b2J", "a C1 control (CSI)");
    TAP_EQ_STR(esc("\xc0\x80|\xed\xb2\x80|\xff"), "\\u0000|\\udc80|\\xff",
               "U+0000, a lone surrogate, a byte that is not UTF-8");
    TAP_EQ_STR(esc("abc\xe2\x80\xae"
                   "fed"),
               "abc\\u202efed", "a bidirectional override");
    TAP_EQ_STR(esc(NULL), "", "NULL");
    TAP_OK(!esc_needed("hello/world.py"), "a plain name needs nothing");
}

/* ---- the signal guard ------------------------------------------------ */

static volatile sig_atomic_t guard_calls, handler_calls;

static void
count_guard(int sig)
{
    (void)sig;
    guard_calls++;
}

static void
count_handler(int sig)
{
    (void)sig;
    handler_calls++;
}

/* In a child: enter the guard, send sig to ourselves; exit 40 + the
 * guard's calls + 4 * the handler's when we are still alive. */
static int
guard_child(int sig, void (*handler)(int))
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        /* A process group of its own with its parent outside: not
         * orphaned, so a stop signal does stop it. */
        setpgid(0, 0);
        if (handler != NULL) {
            signal(sig, handler);
        }
        sigguard_enter(count_guard);
        raise(sig);
        sigguard_leave();
        _exit(40 + guard_calls + 4 * handler_calls);
    }
    waitpid(pid, &status, WUNTRACED);
    if (WIFSTOPPED(status)) {
        /* Stopped as the default would: the guard ran first (it must
         * have, or it would be on the way out), then continue. */
        kill(pid, SIGCONT);
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? 1000 + WEXITSTATUS(status) : -1;
    }
    if (WIFSIGNALED(status)) {
        return -WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

static void
test_sigguard(void)
{
    /* A deadly signal still kills, with its own number. */
    TAP_EQ_INT(guard_child(SIGTERM, NULL), -SIGTERM, "SIGTERM still kills");
    TAP_EQ_INT(guard_child(SIGUSR1, NULL), -SIGUSR1, "SIGUSR1 still kills");
    /* The program's handler runs after the guard's function. */
    TAP_EQ_INT(guard_child(SIGINT, count_handler), 45,
               "guard, then the program's handler");
    /* Ignored stays ignored: the guard is not called. */
    TAP_EQ_INT(guard_child(SIGPIPE, SIG_IGN), 40, "an ignored signal");
    /* A stop signal stops (after the guard), and on SIGCONT the program
     * goes on with the guard in place. */
    TAP_EQ_INT(guard_child(SIGTSTP, NULL), 1041,
               "SIGTSTP: guard, stop, continue");
}

/* A sampler's rounds: within a quarter of an interval either side, the
 * same rate on average, and not all alike. */
static void
test_sample_interval(void)
{
    uint64_t state = 0, lo = UINT64_MAX, hi = 0, sum = 0, v;
    int i, n = 100000;

    for (i = 0; i < n; i++) {
        v = sample_interval(1000000, &state);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    TAP_OK(lo >= 750000 && hi < 1250000, "within a quarter either side");
    TAP_OK(lo < 760000 && hi > 1240000, "spread over all of it");
    TAP_OK(sum / (uint64_t)n > 995000 && sum / (uint64_t)n < 1005000,
           "the mean is the interval");
}

/* Run in a child (nice and policy stay with the thread): a short slice
 * asked for keeps the nice value and the policy; a policy the user chose
 * (batch) is left alone.  Bit 0: nice kept, 1: still SCHED_OTHER, 2:
 * batch left as it was. */
static void
test_prompt_wakeups(void)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        struct sched_param sp = {0};
        int bits = 0;

        setpriority(PRIO_PROCESS, 0, 3);
        sched_prompt_wakeups();
        bits |= getpriority(PRIO_PROCESS, 0) == 3;
        bits |= (sched_getscheduler(0) == SCHED_OTHER) << 1;
        if (sched_setscheduler(0, SCHED_BATCH, &sp) == 0) {
            bits |= (sched_prompt_wakeups() != 0 &&
                     sched_getscheduler(0) == SCHED_BATCH)
                    << 2;
        } else {
            bits |= 4; /* not allowed here: nothing to check */
        }
        _exit(bits);
    }
    TAP_OK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status),
           "prompt wake-ups: the child ran");
    TAP_OK(WEXITSTATUS(status) & 1, "prompt wake-ups keep the nice value");
    TAP_OK(WEXITSTATUS(status) & 2, "prompt wake-ups keep SCHED_OTHER");
    TAP_OK(WEXITSTATUS(status) & 4, "prompt wake-ups leave SCHED_BATCH");
}

int
main(void)
{
    test_json();
    test_strbuf();
    test_hashmap();
    test_errors();
    test_parse();
    test_maps();
    test_stat();
    test_escape();
    test_sigguard();
    test_sample_interval();
    test_prompt_wakeups();
    return tap_done();
}
