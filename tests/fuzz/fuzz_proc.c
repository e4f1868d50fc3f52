/*
 * fuzz_proc.c - the /proc files pyspect parses: maps, smaps,
 * smaps_rollup, stat, status and syscall.  Their text is the kernel's,
 * but the file names in them are the target's.
 *
 * Layer: tests.  The input is given to every parser as it is.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "target/maps.h"
#include "target/openfile.h"
#include "target/proc.h"
#include "target/smaps.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct maps m = MAPS_INIT;
    struct smaps sm;
    struct smaps_counts counts;
    struct file_creds creds;
    long long v;
    int64_t nr;
    uint64_t sp, pc;
    uint64_t args[6];
    uint64_t cpu_ns, wait_ns, runs;
    char state;

    if (maps_parse(text, size, &m) == 0 && m.n > 0) {
        maps_find(&m, m.v[0].start);
        maps_readable(&m, m.v[0].start, 64);
    }
    maps_release(&m);
    memset(&sm, 0, sizeof(sm));
    if (smaps_parse(text, size, &sm) == 0) {
        smaps_sum(&sm, &counts);
    }
    smaps_release(&sm);
    smaps_rollup_parse(text, size, &counts);
    proc_parse_stat_state(text, size, &state);
    proc_parse_schedstat(text, size, &cpu_ns, &wait_ns, &runs);
    proc_status_parse(text, size, "TracerPid", 0, &v);
    proc_status_parse(text, size, "Uid", 3, &v);
    proc_creds_parse(text, size, &creds);
    proc_parse_syscall(text, size, &nr, &sp, &pc, args);
    return 0;
}
