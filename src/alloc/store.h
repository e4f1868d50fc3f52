/*
 * store.h - the file through which the allocation tracker reports.
 *
 * Layer: alloc.  Shared by the tracker (libpyspect-alloc.so, written in
 * the target) and pyspect's reader.  Each tracked process image writes
 * one file, DIR/PID.GEN (GEN counts the images of one pid: 0, then 1
 * after an exec, ...), mapped MAP_SHARED so that the figures survive the
 * process however it ends -- exit, exec, a signal, SIGKILL -- and can be
 * read while it runs.
 *
 * The file is a header (one page) and an append-only log of records,
 * each 8-byte aligned: strings, frames and stacks.  A record's id is its
 * offset from the start of the log divided by 8, so ids never move.
 * Strings and frames never change once written; a stack record carries
 * the stack's counters, which the tracker updates in place.  The tracker
 * writes a record whole and only then publishes it by raising log_len
 * (a release store); the reader reads up to log_len (an acquire load)
 * and parses nothing beyond it.
 *
 * Everything in the file comes from another process: the reader checks
 * every length, kind and id against the bounds of what it read.
 */
#ifndef PYSPECT_ALLOC_STORE_H
#define PYSPECT_ALLOC_STORE_H

#include <stdint.h>

#define ALLOC_STORE_MAGIC "pyspalc1"
#define ALLOC_STORE_VERSION 1
#define ALLOC_STORE_HEADER 4096

/* The environment variable that configures the tracker (see tracker.c):
 * "dir=PATH;parent=PID;mode=sampled|all;sample=N;follow=0|1;native=0|1":
 * the process tracked is the child of PID (pyspect), in every image it
 * execs; "root=PID" names it directly instead.  With -p, also
 * ";controller=PID;controller_at=T" (pyspect's pid and start time): the
 * tracker stops when that process is gone. */
#define ALLOC_ENV "PYSPECT_ALLOC"

/* Block counts are fixed point: an estimate of 1.5 blocks is 1.5 *
 * ALLOC_BLOCK_ONE.  Exact with --all (every block adds one ONE). */
#define ALLOC_BLOCK_ONE 65536u

/* header.state */
enum alloc_state {
    ALLOC_STATE_WAITING = 0, /* loaded; no Python allocator hooked yet */
    ALLOC_STATE_TRACKING = 1,
    ALLOC_STATE_STOPPED = 2, /* tracking switched off */
    ALLOC_STATE_EXITED = 3,  /* the image ended normally (exit, exec) */
};

/* header.mode */
enum alloc_mode {
    ALLOC_MODE_SAMPLED = 0,
    ALLOC_MODE_ALL = 1,
};

/* Why an allocation has no Python stack, or only part of one. */
enum alloc_drop {
    ALLOC_DROP_STACKS_FULL, /* more distinct stacks than the table holds */
    ALLOC_DROP_LOG_FULL,    /* the file reached its size limit */
    ALLOC_DROP_UNREADABLE,  /* a frame did not look like one */
    ALLOC_DROP_COUNT
};

/*
 * The header, at offset 0.  Counters are updated under the tracker's lock;
 * a reader that samples them while the process runs may see one update
 * half done, never a torn 64-bit value.
 */
struct alloc_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size; /* ALLOC_STORE_HEADER */
    int32_t pid;
    int32_t ppid;
    uint32_t generation;
    uint32_t state;  /* enum alloc_state */
    uint32_t mode;   /* enum alloc_mode */
    uint32_t native; /* 1: stacks carry C frames */
    uint64_t sample_bytes;
    uint64_t start_unix_ns; /* CLOCK_REALTIME at start */
    uint64_t start_ns;      /* CLOCK_MONOTONIC at start */
    uint64_t update_ns;     /* CLOCK_MONOTONIC of the last counter update */
    char python_version[32];
    /* Totals over every stack: bytes, and blocks in ALLOC_BLOCK_ONE
     * units.  Estimates in sampled mode. */
    uint64_t allocated_bytes;
    uint64_t allocated_blocks;
    uint64_t live_bytes;
    uint64_t live_blocks;
    uint64_t peak_bytes;
    uint64_t peak_ns; /* CLOCK_MONOTONIC of the peak */
    /* The log: bytes published after the header. */
    uint64_t log_len;
    uint64_t log_max; /* the most it may grow to */
    /* Bookkeeping for the reader and for -v. */
    uint64_t samples; /* allocations recorded (sampled or all) */
    uint64_t nstacks;
    uint64_t nframes;
    uint64_t self_bytes; /* the tracker's own memory (tables, file) */
    uint64_t dropped[ALLOC_DROP_COUNT];
    uint64_t peak_epoch; /* see tracker.c: how stacks keep their peak */
    char command[256];   /* argv joined by spaces, cut to fit */
    /* Attached (-p): pyspect's pid, and the word pyspect sets to 1 to
     * switch tracking off; the tracker then lets go of everything. */
    int32_t controller;
    uint32_t stop;
};

/* Record kinds. */
enum alloc_rec_kind {
    ALLOC_REC_STRING = 1,
    ALLOC_REC_FRAME = 2,
    ALLOC_REC_STACK = 3,
};

/* Every record starts with this. */
struct alloc_rec {
    uint32_t kind;
    uint32_t len; /* of the whole record, header included, before padding */
};

/* A string: UTF-8 (as pystr.h makes it), len - 8 bytes, no NUL. */

/* A frame: a Python line, or a C function with --native. */
struct alloc_rec_frame {
    struct alloc_rec rec;
    uint32_t name; /* string id (qualified name where the version has
                     * one) */
    uint32_t file; /* string id */
    int32_t line;  /* -1: no line */
    int32_t firstlineno;
    uint32_t flags; /* ALLOC_FRAME_* */
    uint32_t pad;
    uint64_t address; /* native: the address in the module's file */
};

/* A C frame: name is what dladdr() found (maybe ""), file the module's
 * path, address where in that file; pyspect names it from the file. */
#define ALLOC_FRAME_NATIVE 1u

/* The counters of one stack: bytes, and blocks in ALLOC_BLOCK_ONE. */
struct alloc_counters {
    uint64_t allocated_bytes;
    uint64_t allocated_blocks;
    uint64_t live_bytes;
    uint64_t live_blocks;
    uint64_t peak_bytes; /* live at the process's peak (see tracker.c) */
    uint64_t peak_blocks;
    uint64_t epoch; /* tracker bookkeeping */
};

/* A stack: nframes frame ids, innermost first, follow the struct. */
struct alloc_rec_stack {
    struct alloc_rec rec;
    uint32_t nframes;
    uint32_t pad;
    struct alloc_counters c;
};

/* Bounds the tracker keeps and the reader enforces. */
#define ALLOC_FRAMES_MAX 256  /* frames per stack; deeper ones are cut */
#define ALLOC_STRING_MAX 4096 /* bytes of a name or file name */
#define ALLOC_LOG_MAX (4ull << 30)

#endif /* PYSPECT_ALLOC_STORE_H */
