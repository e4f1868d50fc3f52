/*
 * mem_watch.c - `pyspect mem --watch` (placeholder).
 *
 * Layer: cmd.
 */
#include "cmd/cmd.h"
#include "cmd/mem.h"
#include "core/banned.h"

int
cmd_mem_watch(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_usage_error("mem", "--watch is not built yet");
}
