/*
 * prof_replay.c - build a profile from sampled stacks in a text file and
 * write it in any output format.  A development tool, not installed.
 *
 * Layer: tools.  Lets the writers be checked on real stacks before the
 * sampler exists: tools/dump_samples.py polls `pyspect dump --json` and
 * writes the file this reads.  Input, one record per line, fields
 * separated by tabs:
 *
 *     #meta KEY VALUE        command, pid, python, mode, rate, duration,
 *                            rounds, lines, threads, start, torn, error
 *     PID TID IDENT NAME COUNT FRAME...
 *
 * where each FRAME is "function\x1ffile\x1fline", innermost first, and
 * NAME may be empty.
 *
 * usage: prof-replay [--format F] [--top N] [--min-width PX] IN OUT
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "profile/profile.h"
#include "core/banned.h"

#define MAX_FIELDS 1024

/* Split line at sep into at most max fields (in place). */
static size_t
split(char *line, int sep, char **fields, size_t max)
{
    size_t n = 0;
    char *s = line;

    while (n < max) {
        char *e = strchr(s, sep);

        fields[n++] = s;
        if (e == NULL) {
            break;
        }
        *e = '\0';
        s = e + 1;
    }
    return n;
}

static void
meta(struct profile *p, const char *key, const char *value)
{
    if (strcmp(key, "command") == 0) {
        free(p->meta.command);
        p->meta.command = xstrdup(value);
    } else if (strcmp(key, "python") == 0) {
        free(p->meta.python_version);
        p->meta.python_version = xstrdup(value);
    } else if (strcmp(key, "pid") == 0) {
        p->meta.pid = (int)strtol(value, NULL, 10);
    } else if (strcmp(key, "mode") == 0) {
        p->meta.mode = strcmp(value, "cpu") == 0   ? "cpu"
                       : strcmp(value, "gil") == 0 ? "gil"
                                                   : "wall";
    } else if (strcmp(key, "rate") == 0) {
        p->meta.rate_hz = strtod(value, NULL);
    } else if (strcmp(key, "duration") == 0) {
        p->meta.duration_s = strtod(value, NULL);
    } else if (strcmp(key, "rounds") == 0) {
        p->meta.rounds = strtoull(value, NULL, 10);
    } else if (strcmp(key, "lines") == 0) {
        p->meta.lines = (int)strtol(value, NULL, 10);
    } else if (strcmp(key, "threads") == 0) {
        p->meta.threads = (int)strtol(value, NULL, 10);
    } else if (strcmp(key, "start") == 0) {
        p->meta.start_unix = strtod(value, NULL);
    } else if (strcmp(key, "torn") == 0) {
        p->meta.dropped[PROF_DROP_TORN] = strtoull(value, NULL, 10);
    } else if (strcmp(key, "error") == 0) {
        p->meta.dropped[PROF_DROP_ERROR] = strtoull(value, NULL, 10);
    }
}

int
main(int argc, char **argv)
{
    struct profile p;
    struct out_options o;
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    const struct out_format *format = &out_formats[0];
    int have_format = 0, i, rc;
    char *line, *next, **fields = xmalloc(MAX_FIELDS * sizeof(*fields));
    uint32_t *frames = xmalloc(MAX_FIELDS * sizeof(*frames));
    FILE *f;

    out_options_init(&o);
    for (i = 1; i + 2 < argc; i += 2) {
        if (strcmp(argv[i], "--format") == 0) {
            format = out_format_find(argv[i + 1]);
            if (format == NULL) {
                fprintf(stderr, "prof-replay: %s\n", err_context());
                return 2;
            }
            have_format = 1;
        } else if (strcmp(argv[i], "--top") == 0) {
            o.top = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--min-width") == 0) {
            o.min_width = strtod(argv[i + 1], NULL);
        } else {
            break;
        }
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: prof-replay [--format F] [--top N] "
                        "[--min-width PX] IN OUT\n");
        return 2;
    }
    if (!have_format) {
        if (out_format_for_path(argv[i + 1]) != NULL) {
            format = out_format_for_path(argv[i + 1]);
        }
    }
    if ((rc = read_file(argv[i], (size_t)1 << 30, &in)) != 0) {
        fprintf(stderr, "prof-replay: cannot read %s\n", argv[i]);
        return 1;
    }

    profile_init(&p);
    for (line = in.buf; line && *line; line = next) {
        size_t n, k;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        n = split(line, '\t', fields, MAX_FIELDS);
        if (strcmp(fields[0], "#meta") == 0 && n == 3) {
            meta(&p, fields[1], fields[2]);
            continue;
        }
        if (n < 5) {
            continue;
        }
        for (k = 5; k < n; k++) {
            char *part[3];

            if (split(fields[k], '\x1f', part, 3) != 3) {
                break;
            }
            frames[k - 5] = profile_frame(&p, part[0], part[1],
                                          (int32_t)strtol(part[2], NULL, 10));
        }
        profile_add(&p,
                    profile_thread_pid(&p, (int)strtol(fields[0], NULL, 10),
                                       strtoull(fields[2], NULL, 10),
                                       strtol(fields[1], NULL, 10),
                                       *fields[3] ? fields[3] : NULL),
                    frames, k - 5, strtoull(fields[4], NULL, 10));
    }
    p.meta.samples = p.total;

    format->write(&p, &o, &out);
    f = fopen(argv[i + 1], "wb");
    if (f == NULL || fwrite(out.buf, 1, out.len, f) != out.len ||
        fclose(f) != 0) {
        fprintf(stderr, "prof-replay: cannot write %s\n", argv[i + 1]);
        return 1;
    }
    fprintf(stderr,
            "prof-replay: %" PRIu64 " samples, %zu stacks, %zu frames, "
            "%zu bytes of profile -> %s (%s, %zu bytes)\n",
            p.total, p.nstacks, p.nframes, profile_memory(&p), argv[i + 1],
            format->name, out.len);
    profile_release(&p);
    strbuf_release(&in);
    strbuf_release(&out);
    free(fields);
    free(frames);
    return 0;
}
