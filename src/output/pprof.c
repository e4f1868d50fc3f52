/*
 * pprof.c - the pprof format: profile.proto, gzip-compressed.
 *
 * Layer: output.  Writes the message of github.com/google/pprof's
 * proto/profile.proto that `go tool pprof`, Grafana Pyroscope and every
 * pprof reader take:
 *   - sample types [samples/count, cpu/nanoseconds] (wall/nanoseconds in
 *     wall mode); the period is one sampling interval in nanoseconds, so
 *     a sample's time is its count times the period; for an allocation
 *     profile (meta.unit "bytes"), [objects/count, space/bytes] as a
 *     heap profile has them, the stacks' objects and bytes;
 *   - one Function per Python function (name and system name the
 *     qualified name, file, first line), one Location per distinct frame
 *     (its function and line: the function's first line, or the sampled
 *     line with --lines), all in one Mapping named after the command;
 *   - one Sample per distinct stack of a thread, leaf first, labelled
 *     with thread_id (kernel tid), thread_name and pid;
 *   - comments saying what recorded it, how, and what was dropped.
 * A thread that had no Python frame gets the frame "(no Python frames)",
 * as in the other writers, so every format counts the same samples.
 * Strings are cleaned (text_clean) because proto3 strings are UTF-8.
 *
 * The bytes are deterministic: ids follow the profile's ids, and gzip's
 * header carries no time or name.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/hashmap.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "output/protobuf.h"
#include "output/text.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

/* Field numbers of profile.proto. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13,
    PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1,
    VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_STR = 2,
    LABEL_NUM = 3,
    MAPPING_ID = 1,
    MAPPING_FILENAME = 5,
    MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    LINE_LINE = 2,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
    FUNCTION_SYSTEM_NAME = 3,
    FUNCTION_FILENAME = 4,
    FUNCTION_START_LINE = 5,
};

struct pprof {
    const struct profile *p;
    struct strbuf msg;     /* the Profile message but its string table */
    struct strbuf strings; /* the string table, encoded */
    int64_t nstrings;
    int64_t *sid;            /* string index of each profile string; -1 */
    struct strbuf clean;     /* scratch */
    struct strbuf sub, sub2; /* scratch for nested messages */
};

/* The string table index of s (cleaned), added now: for the few strings
 * that are not the profile's. */
static int64_t
pp_string(struct pprof *pp, const char *s)
{
    strbuf_reset(&pp->clean);
    text_clean(&pp->clean, s, 0);
    pb_bytes(&pp->strings, PROFILE_STRING_TABLE, pp->clean.buf, pp->clean.len);
    return pp->nstrings++;
}

/* The index of the profile's string id, added once. */
static int64_t
pp_sid(struct pprof *pp, uint32_t id)
{
    const char *s = strtab_get(&pp->p->strings, id);

    if (s == NULL) {
        return 0;
    }
    if (pp->sid[id] < 0) {
        pp->sid[id] = pp_string(pp, s);
    }
    return pp->sid[id];
}

/*
 * A function's system name: "name (file:first line)", or "name (file)"
 * with --lines, which is how the other formats tell functions apart.  It
 * must differ from the name: pprof "demangles" a function whose two
 * names are equal, and its C++ heuristics would turn "<module>" and
 * "<lambda>" into "" (anything between angle brackets goes).
 */
static int64_t
pp_system_name(struct pprof *pp, uint32_t frame)
{
    const struct prof_frame *fr = &pp->p->frames[frame];
    struct strbuf sb = STRBUF_INIT;
    int64_t id;

    strbuf_addf(&sb, "%s (%s", strtab_get(&pp->p->strings, fr->name),
                strtab_get(&pp->p->strings, fr->file));
    if (!pp->p->meta.lines && fr->line > 0) {
        strbuf_addf(&sb, ":%d", (int)fr->line);
    }
    strbuf_addch(&sb, ')');
    id = pp_string(pp, sb.buf);
    strbuf_release(&sb);
    return id;
}

static void
pp_value_type(struct pprof *pp, uint32_t field, int64_t type, int64_t unit)
{
    strbuf_reset(&pp->sub);
    pb_int(&pp->sub, VALUE_TYPE_TYPE, type);
    pb_int(&pp->sub, VALUE_TYPE_UNIT, unit);
    pb_bytes(&pp->msg, field, pp->sub.buf, pp->sub.len);
}

static void
pp_label(struct strbuf *sample, struct strbuf *scratch, int64_t key,
         int64_t str, int64_t num)
{
    strbuf_reset(scratch);
    pb_int(scratch, LABEL_KEY, key);
    pb_int(scratch, LABEL_STR, str);
    pb_int(scratch, LABEL_NUM, num);
    pb_bytes(sample, SAMPLE_LABEL, scratch->buf, scratch->len);
}

/* The first word of the command, for the mapping's name. */
static void
pp_program(const struct profile *p, struct strbuf *out)
{
    const char *c = p->meta.command, *e;

    if (c == NULL || *c == '\0') {
        strbuf_addstr(out, "python");
        return;
    }
    e = strchr(c, ' ');
    strbuf_add(out, c, e ? (size_t)(e - c) : strlen(c));
}

static void
pp_comments(struct pprof *pp)
{
    const struct profile_meta *m = &pp->p->meta;
    struct strbuf sb = STRBUF_INIT;

    strbuf_addf(&sb,
                "pyspect " PYSPECT_VERSION " record: mode %s, %g Hz%s, "
                "by reading the target's memory",
                m->mode ? m->mode : "cpu", m->rate_hz,
                m->lines ? ", lines" : "");
    pb_int(&pp->msg, PROFILE_COMMENT, pp_string(pp, sb.buf));
    if (m->command != NULL) {
        strbuf_reset(&sb);
        strbuf_addf(&sb, "command: %s", m->command);
        pb_int(&pp->msg, PROFILE_COMMENT, pp_string(pp, sb.buf));
    }
    strbuf_reset(&sb);
    strbuf_addf(&sb, "pid %d", m->pid);
    if (m->python_version != NULL) {
        strbuf_addf(&sb, ", Python %s", m->python_version);
    }
    pb_int(&pp->msg, PROFILE_COMMENT, pp_string(pp, sb.buf));
    strbuf_reset(&sb);
    strbuf_addf(&sb,
                "%" PRIu64 " samples in %" PRIu64 " rounds over %.3f s; "
                "dropped %" PRIu64 " that changed while read, %" PRIu64
                " unreadable, %" PRIu64 " rounds late",
                pp->p->total, m->rounds, m->duration_s,
                m->dropped[PROF_DROP_TORN], m->dropped[PROF_DROP_ERROR],
                m->dropped[PROF_DROP_LATE]);
    pb_int(&pp->msg, PROFILE_COMMENT, pp_string(pp, sb.buf));
    strbuf_release(&sb);
}

int
out_pprof(const struct profile *p, const struct out_options *o,
          struct strbuf *out)
{
    struct pprof pp;
    struct hashmap funcs = HASHMAP_INIT;
    struct strbuf prog = STRBUF_INIT;
    uint64_t *fid = xcalloc(p->nframes + 1, sizeof(*fid));
    uint64_t *ids = NULL, nfuncs = 0, period, none_loc = 0;
    unsigned char *used = xcalloc(p->nframes + 1, 1);
    unsigned char *thread_in = xcalloc(p->nthreads + 1, 1);
    size_t ids_alloc = 0, i, j;
    int64_t s_samples, s_count, s_time, s_ns, s_tid, s_tname, s_pid;
    int pid = o != NULL ? o->pid : 0;
    int wall = p->meta.mode != NULL && strcmp(p->meta.mode, "wall") == 0;
    int bytes = profile_counts_bytes(p);
    double rate = p->meta.rate_hz > 0 ? p->meta.rate_hz : 100.0;

    memset(&pp, 0, sizeof(pp));
    pp.p = p;
    strbuf_init(&pp.msg);
    strbuf_init(&pp.strings);
    strbuf_init(&pp.clean);
    strbuf_init(&pp.sub);
    strbuf_init(&pp.sub2);
    pp.sid = xmalloc((p->strings.n + 1) * sizeof(*pp.sid));
    for (i = 0; i < p->strings.n; i++) {
        pp.sid[i] = -1;
    }
    pp_string(&pp, ""); /* string_table[0] must be "" */
    period = bytes ? 1 : (uint64_t)llround(1e9 / rate);

    s_samples = pp_string(&pp, bytes ? "objects" : "samples");
    s_count = pp_string(&pp, "count");
    s_time = pp_string(&pp, bytes ? "space" : wall ? "wall" : "cpu");
    s_ns = pp_string(&pp, bytes ? "bytes" : "nanoseconds");
    pp_value_type(&pp, PROFILE_SAMPLE_TYPE, s_samples, s_count);
    pp_value_type(&pp, PROFILE_SAMPLE_TYPE, s_time, s_ns);

    /* The threads asked for, and the frames their stacks use. */
    for (i = 0; i < p->nthreads; i++) {
        thread_in[i] = pid == 0 || p->threads[i].pid == pid;
    }
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        const uint32_t *f = profile_stack_frames(p, s);

        if (!thread_in[s->thread]) {
            continue;
        }
        for (j = 0; j < s->nframes; j++) {
            used[f[j]] = 1;
        }
        if (s->nframes == 0) {
            used[p->nframes] = 1;
        }
    }

    /* Functions: per frame without --lines (a frame is a function and
     * its first line), per (name, file) with. */
    for (i = 0; i < p->nframes; i++) {
        const struct prof_frame *fr = &p->frames[i];
        void **slot;

        if (!used[i]) {
            continue;
        }
        if (p->meta.lines) {
            slot = hashmap_slot(
                &funcs, ((uint64_t)fr->name << 32 | (uint64_t)fr->file) + 1);
            if (*slot != NULL) {
                fid[i] = (uint64_t)(uintptr_t)*slot;
                continue;
            }
            *slot = (void *)(uintptr_t)(nfuncs + 1);
        }
        fid[i] = ++nfuncs;
        strbuf_reset(&pp.sub);
        pb_uint(&pp.sub, FUNCTION_ID, fid[i]);
        pb_int(&pp.sub, FUNCTION_NAME, pp_sid(&pp, fr->name));
        pb_int(&pp.sub, FUNCTION_SYSTEM_NAME, pp_system_name(&pp, i));
        pb_int(&pp.sub, FUNCTION_FILENAME, pp_sid(&pp, fr->file));
        if (!p->meta.lines && fr->line > 0) {
            pb_int(&pp.sub, FUNCTION_START_LINE, fr->line);
        }
        pb_bytes(&pp.msg, PROFILE_FUNCTION, pp.sub.buf, pp.sub.len);
    }
    if (used[p->nframes]) {
        fid[p->nframes] = ++nfuncs;
        strbuf_reset(&pp.sub);
        pb_uint(&pp.sub, FUNCTION_ID, fid[p->nframes]);
        pb_int(&pp.sub, FUNCTION_NAME, pp_string(&pp, TEXT_NO_FRAMES));
        pb_bytes(&pp.msg, PROFILE_FUNCTION, pp.sub.buf, pp.sub.len);
    }

    /* Locations: one per frame, id = frame id + 1. */
    for (i = 0; i <= p->nframes; i++) {
        if (!used[i]) {
            continue;
        }
        strbuf_reset(&pp.sub2);
        pb_uint(&pp.sub2, LINE_FUNCTION_ID, fid[i]);
        if (i < p->nframes && p->frames[i].line > 0) {
            pb_int(&pp.sub2, LINE_LINE, p->frames[i].line);
        }
        strbuf_reset(&pp.sub);
        pb_uint(&pp.sub, LOCATION_ID, i + 1);
        pb_uint(&pp.sub, LOCATION_MAPPING_ID, 1);
        pb_bytes(&pp.sub, LOCATION_LINE, pp.sub2.buf, pp.sub2.len);
        pb_bytes(&pp.msg, PROFILE_LOCATION, pp.sub.buf, pp.sub.len);
        if (i == p->nframes) {
            none_loc = i + 1;
        }
    }

    /* One mapping holds every location: Python code has no addresses,
     * and readers need not symbolize anything. */
    pp_program(p, &prog);
    strbuf_reset(&pp.sub);
    pb_uint(&pp.sub, MAPPING_ID, 1);
    pb_int(&pp.sub, MAPPING_FILENAME, pp_string(&pp, prog.buf));
    pb_uint(&pp.sub, MAPPING_HAS_FUNCTIONS, 1);
    pb_uint(&pp.sub, MAPPING_HAS_FILENAMES, 1);
    pb_uint(&pp.sub, MAPPING_HAS_LINE_NUMBERS, 1);
    pb_bytes(&pp.msg, PROFILE_MAPPING, pp.sub.buf, pp.sub.len);

    /* Samples, leaf first. */
    s_tid = pp_string(&pp, "thread_id");
    s_tname = pp_string(&pp, "thread_name");
    s_pid = pp_string(&pp, "pid");
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        const struct prof_thread *t = &p->threads[s->thread];
        const uint32_t *f = profile_stack_frames(p, s);
        uint64_t values[2];

        if (!thread_in[s->thread]) {
            continue;
        }
        if (s->nframes + 1 > ids_alloc) {
            XGROW(ids, ids_alloc, s->nframes + 1);
        }
        for (j = 0; j < s->nframes; j++) {
            ids[j] = (uint64_t)f[s->nframes - 1 - j] + 1;
        }
        if (s->nframes == 0) {
            ids[0] = none_loc;
        }
        values[0] = bytes ? s->objects : s->count;
        values[1] = s->count * period;
        strbuf_reset(&pp.sub);
        pb_packed(&pp.sub, SAMPLE_LOCATION_ID, ids,
                  s->nframes ? s->nframes : 1);
        pb_packed(&pp.sub, SAMPLE_VALUE, values, 2);
        if (t->tid > 0) {
            pp_label(&pp.sub, &pp.sub2, s_tid, 0, t->tid);
        }
        if (t->name != PROF_NONE) {
            pp_label(&pp.sub, &pp.sub2, s_tname, pp_sid(&pp, t->name), 0);
        }
        pp_label(&pp.sub, &pp.sub2, s_pid, 0, t->pid);
        pb_bytes(&pp.msg, PROFILE_SAMPLE, pp.sub.buf, pp.sub.len);
    }

    if (p->meta.start_unix > 0) {
        pb_int(&pp.msg, PROFILE_TIME_NANOS,
               (int64_t)llround(p->meta.start_unix * 1e9));
    }
    pb_int(&pp.msg, PROFILE_DURATION_NANOS,
           (int64_t)llround(p->meta.duration_s * 1e9));
    strbuf_reset(&pp.sub);
    pb_int(&pp.sub, VALUE_TYPE_TYPE, s_time);
    pb_int(&pp.sub, VALUE_TYPE_UNIT, s_ns);
    pb_bytes(&pp.msg, PROFILE_PERIOD_TYPE, pp.sub.buf, pp.sub.len);
    pb_int(&pp.msg, PROFILE_PERIOD, (int64_t)period);
    pp_comments(&pp);
    pb_int(&pp.msg, PROFILE_DEFAULT_SAMPLE_TYPE, s_time);

    /* Fields may come in any order; the string table goes last because
     * the messages above added to it. */
    strbuf_add(&pp.msg, pp.strings.buf, pp.strings.len);
    out_gzip(pp.msg.buf, pp.msg.len, out);

    hashmap_release(&funcs);
    strbuf_release(&prog);
    strbuf_release(&pp.msg);
    strbuf_release(&pp.strings);
    strbuf_release(&pp.clean);
    strbuf_release(&pp.sub);
    strbuf_release(&pp.sub2);
    free(pp.sid);
    free(fid);
    free(used);
    free(thread_in);
    free(ids);
    return 0;
}

void
out_gzip(const void *data, size_t len, struct strbuf *out)
{
    const unsigned char *in = data;
    size_t start = out->len;
    z_stream z;
    int rc;

    memset(&z, 0, sizeof(z));
    /* 15 window bits + 16: a gzip wrapper, whose header zlib writes with
     * no name and a zero time, so the output is deterministic. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        /* Only out of memory: pprof readers take the bare message too. */
        strbuf_add(out, data, len);
        return;
    }
    do {
        /* avail_in is 32 bits: feed at most 1 GiB at a time. */
        if (z.avail_in == 0 && len > 0) {
            size_t n = len < ((size_t)1 << 30) ? len : (size_t)1 << 30;

            z.next_in = (Bytef *)(uintptr_t)in;
            z.avail_in = (uInt)n;
            in += n;
            len -= n;
        }
        strbuf_grow(out, 65536);
        z.next_out = (Bytef *)out->buf + out->len;
        z.avail_out = (uInt)(out->alloc - out->len - 1);
        rc = deflate(&z, len > 0 ? Z_NO_FLUSH : Z_FINISH);
        out->len = (size_t)((char *)z.next_out - out->buf);
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    if (rc != Z_STREAM_END) {
        out->len = start;
        strbuf_add(out, data,
                   (size_t)(in - (const unsigned char *)data) + len);
    }
    out->buf[out->len] = '\0';
    deflateEnd(&z);
}
