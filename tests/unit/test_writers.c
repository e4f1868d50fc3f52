/*
 * test_writers.c - unit tests of the output writers.
 *
 * Layer: tests.  A small hand-built profile with awkward names (non-ASCII,
 * CJK, '<&"'>' in a file name, ';', spaces, a newline, a lone surrogate,
 * U+0000, a 300-character name, recursion, an empty stack, three threads)
 * goes through every writer; each output must equal its golden file in
 * tests/golden/ (PYSPECT_UPDATE_GOLDEN=1 rewrites them) and pass checks of
 * its own: collapsed lines split on ';' and the last space and sum to the
 * total, the table's --top and recursion rule, format names and
 * extensions.  tests/unit/check_output.py then parses the SVG as XML and
 * the speedscope file as JSON against the schema's required fields, for
 * the goldens and for a generated profile of a few hundred stacks
 * (written to PYSPECT_WRITERS_OUT when set, for a look in a browser).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "output/protobuf.h"
#include "profile/profile.h"
#include "tap.h"

static const char *golden_dir;
static const char *check_script;
static const char *out_dir;

/* The awkward profile: every kind of name a writer must survive. */
static void
build_small(struct profile *p, int threads)
{
    char longname[320];
    uint32_t t_main, t_work, t_anon, mod, main_fn, compute, fuenf, hanzi, semi,
        amp, spaced, nl, surr, nul, lng, rec, io;
    uint32_t s[8];
    size_t i;

    profile_init(p);
    p->meta.command = xstrdup("python3 app.py --name \"a<b&c\"");
    p->meta.pid = 4242;
    p->meta.python_version = xstrdup("3.12.1");
    p->meta.mode = "cpu";
    p->meta.threads = threads;
    p->meta.rate_hz = 100;
    p->meta.duration_s = 2.5;
    p->meta.rounds = 248;
    p->meta.dropped[PROF_DROP_TORN] = 3;
    p->meta.dropped[PROF_DROP_ERROR] = 1;
    p->meta.start_unix = 1700000000.25;

    t_main = profile_thread(p, 0x7f0000001000, 4242, "MainThread");
    t_work = profile_thread(p, 0x7f0000002000, 4243, "worker;1 \"q\"");
    t_anon = profile_thread(p, 0x7f0000003000, 0, NULL);

    for (i = 0; i < 300; i++) {
        longname[i] = (char)('a' + i % 26);
    }
    memcpy(longname, "long_", 5);
    longname[300] = '\0';

    mod = profile_frame(p, "<module>", "/srv/app.py", 1);
    main_fn = profile_frame(p, "main", "/srv/app.py", 40);
    compute = profile_frame(p, "Worker.compute", "/srv/app.py", 12);
    fuenf =
        profile_frame(p, "f\xc3\xbcnf", "/srv/tgt-\xc3\xbcn\xc3\xaf.py", 3);
    hanzi = profile_frame(p, "\xe5\x87\xbd\xe6\x95\xb0",
                          "/srv/\xe5\x87\xbd.py", 7);
    semi = profile_frame(p, "a;b", "/srv/semi;colon.py", 5);
    amp = profile_frame(p, "<lambda>", "/srv/<&\"'>.py", 9);
    spaced =
        profile_frame(p, "name with spaces", "/srv/dir with space/x.py", 2);
    nl = profile_frame(p, "line\nbreak\ttab", "/srv/app.py", 60);
    surr = profile_frame(p, "sur\xed\xb3\xbfrogate", "/srv/app.py", 70);
    nul = profile_frame(p, "nul\xc0\x80here", "/srv/app.py", 80);
    lng = profile_frame(p, longname, "/srv/app.py", 90);
    rec = profile_frame(p, "recurse", "/srv/app.py", 100);
    io = profile_frame(p, "read", "/usr/lib/python3.12/socket.py", 700);

    /* Innermost first, as a sampler reads them. */
    s[0] = compute, s[1] = main_fn, s[2] = mod;
    profile_add(p, t_main, s, 3, 40);
    s[0] = fuenf, s[1] = compute, s[2] = main_fn, s[3] = mod;
    profile_add(p, t_main, s, 4, 20);
    s[0] = hanzi, s[1] = main_fn, s[2] = mod;
    profile_add(p, t_main, s, 3, 10);
    s[0] = semi, s[1] = amp, s[2] = main_fn, s[3] = mod;
    profile_add(p, t_work, s, 4, 8);
    s[0] = spaced, s[1] = nl, s[2] = mod;
    profile_add(p, t_work, s, 3, 6);
    s[0] = surr, s[1] = nul, s[2] = mod;
    profile_add(p, t_anon, s, 3, 5);
    s[0] = lng, s[1] = mod;
    profile_add(p, t_anon, s, 2, 4);
    s[0] = rec, s[1] = rec, s[2] = rec, s[3] = main_fn, s[4] = mod;
    profile_add(p, t_main, s, 5, 3);
    s[0] = io, s[1] = rec, s[2] = main_fn, s[3] = mod;
    profile_add(p, t_main, s, 4, 2);
    /* The same stack on another thread: one line without --threads. */
    s[0] = compute, s[1] = main_fn, s[2] = mod;
    profile_add(p, t_work, s, 3, 1);
    profile_add(p, t_anon, NULL, 0, 1);
}

/*
 * A profile that looks like a real service: samples are random walks down
 * a fixed call graph of user code, the standard library and third-party
 * packages (with a recursion), per line, four threads, 16000 samples.
 */
struct call_node {
    const char *name, *file;
    int line;
    int self;      /* weight of stopping here */
    int kids[5];   /* indexes into the graph, 0: none */
    int weight[5]; /* of each kid */
};

#define APP "/srv/app/"
#define LIB "/usr/lib/python3.11/"
#define SITE "/opt/venv/lib/python3.11/site-packages/"

static const struct call_node graph[] = {
    /* 0 */ {"<module>", APP "main.py", 1, 0, {1}, {1}},
    /* 1 */ {"main", APP "main.py", 80, 0, {2, 3}, {1, 3}},
    /* 2 */ {"serve_forever", LIB "socketserver.py", 215, 0, {4, 5}, {6, 2}},
    /* 3 */ {"Worker.run", APP "worker.py", 55, 1, {6, 7}, {8, 2}},
    /* 4 */ {"BaseSelector.select", LIB "selectors.py", 415, 1, {0}, {0}},
    /* 5 */
    {"_handle_request_noblock", LIB "socketserver.py", 307, 0, {6}, {1}},
    /* 6 */
    {"handle_request",
     APP "handlers.py",
     20,
     1,
     {8, 9, 10, 11, 12},
     {3, 6, 2, 2, 2}},
    /* 7 */ {"Queue.get", LIB "queue.py", 154, 0, {13}, {1}},
    /* 8 */ {"parse_request", APP "handlers.py", 48, 1, {14, 15}, {3, 2}},
    /* 9 */ {"render_page", APP "views.py", 12, 1, {16, 17, 18}, {4, 3, 1}},
    /* 10 */
    {"Session.request", SITE "requests/sessions.py", 575, 1, {19}, {3}},
    /* 11 */ {"Query.all", SITE "sqlalchemy/orm/query.py", 2668, 1, {20}, {2}},
    /* 12 */ {"checksum", APP "util.py", 30, 1, {21}, {5}},
    /* 13 */ {"Condition.wait", LIB "threading.py", 320, 1, {0}, {0}},
    /* 14 */ {"loads", LIB "json/__init__.py", 299, 0, {22}, {1}},
    /* 15 */ {"validate", APP "schema.py", 70, 1, {23}, {2}},
    /* 16 */
    {"Template.render", SITE "jinja2/environment.py", 1291, 1, {24}, {3}},
    /* 17 */ {"Order.total", APP "models.py", 140, 1, {25, 26}, {3, 1}},
    /* 18 */ {"escape", LIB "html/__init__.py", 12, 1, {0}, {0}},
    /* 19 */
    {"HTTPConnection.getresponse", LIB "http/client.py", 1375, 0, {27}, {1}},
    /* 20 */
    {"Connection.execute",
     SITE "sqlalchemy/engine/base.py",
     1412,
     1,
     {27},
     {1}},
    /* 21 */ {"sha256_update", LIB "hashlib.py", 160, 1, {0}, {0}},
    /* 22 */ {"JSONDecoder.decode", LIB "json/decoder.py", 337, 1, {0}, {0}},
    /* 23 */ {"walk_tree", APP "schema.py", 90, 2, {23, 28}, {3, 1}},
    /* 24 */ {"root", "<template>", 1, 1, {18, 17}, {2, 1}},
    /* 25 */ {"compute_tax", APP "tax.py", 8, 1, {29}, {2}},
    /* 26 */ {"Decimal.__add__", LIB "_pydecimal.py", 1175, 1, {0}, {0}},
    /* 27 */ {"socket.recv_into", LIB "socket.py", 706, 1, {0}, {0}},
    /* 28 */ {"re.Pattern.match", LIB "re/__init__.py", 166, 1, {0}, {0}},
    /* 29 */ {"round_half_even", APP "tax.py", 30, 1, {26}, {1}},
};

static void
build_big(struct profile *p)
{
    uint32_t threads[4], ids[ARRAY_SIZE(graph)][3], path[64], frames[64];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t i, k, n;

    profile_init(p);
    p->meta.command = xstrdup("/usr/bin/python3 -m app.main --port 8080");
    p->meta.pid = 15919;
    p->meta.python_version = xstrdup("3.11.2");
    p->meta.mode = "wall";
    p->meta.threads = 1;
    p->meta.rate_hz = 100;
    p->meta.duration_s = 40.02;
    p->meta.rounds = 3997;
    p->meta.dropped[PROF_DROP_TORN] = 2;
    p->meta.start_unix = 1700000000;
    threads[0] = profile_thread(p, 0x7f00, 15919, "MainThread");
    for (i = 1; i < 4; i++) {
        char name[32];

        snprintf(name, sizeof(name), "worker-%zu", i - 1);
        threads[i] = profile_thread(p, 0x7f00 + i, 15920 + (long)i, name);
    }
    /* Per line: each function is sampled on one of three lines. */
    p->meta.lines = 1;
    for (i = 0; i < ARRAY_SIZE(graph); i++) {
        for (k = 0; k < 3; k++) {
            ids[i][k] = profile_frame(p, graph[i].name, graph[i].file,
                                      graph[i].line + 2 * (int)k);
        }
    }
    for (k = 0; k < 16000; k++) {
        size_t th;
        int node;

        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        th = (x >> 33) % 4;
        path[0] = 0;
        path[1] = 1;
        node = th == 0 ? 2 : 3;
        for (n = 2; n < ARRAY_SIZE(path); n++) {
            const struct call_node *c = &graph[node];
            int sum = c->self, j, r;

            path[n] = (uint32_t)node;
            for (j = 0; j < 5 && c->kids[j]; j++) {
                sum += c->weight[j];
            }
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            r = (int)((x >> 33) % (uint64_t)sum);
            if (r < c->self) {
                break;
            }
            r -= c->self;
            for (j = 0; r >= c->weight[j]; j++) {
                r -= c->weight[j];
            }
            node = c->kids[j];
        }
        if (n == ARRAY_SIZE(path)) {
            n--;
        }
        /* path is root first; profile_add wants innermost first. */
        for (i = 0; i <= n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            frames[i] = ids[path[n - i]][n - i < 3 ? 0 : (x >> 40) % 3];
        }
        profile_add(p, threads[th], frames, n + 1, 1);
    }
}

/* Replace "pyspect <version>" by "pyspect VERSION" so the goldens do not
 * change with every release. */
static void
unversion(struct strbuf *sb)
{
    struct strbuf res = STRBUF_INIT;
    const char *needle = "pyspect " PYSPECT_VERSION, *s = sb->buf, *hit;

    while ((hit = strstr(s, needle)) != NULL) {
        strbuf_add(&res, s, (size_t)(hit - s));
        strbuf_addstr(&res, "pyspect VERSION");
        s = hit + strlen(needle);
    }
    strbuf_addstr(&res, s);
    strbuf_release(sb);
    *sb = res;
}

static int
write_file(const char *path, const struct strbuf *sb)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL) {
        return -1;
    }
    ok = fwrite(sb->buf, 1, sb->len, f) == sb->len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void
check_golden(const char *name, struct strbuf *got)
{
    struct strbuf want = STRBUF_INIT, path = STRBUF_INIT;

    unversion(got);
    strbuf_addf(&path, "%s/%s", golden_dir, name);
    if (getenv("PYSPECT_UPDATE_GOLDEN")) {
        TAP_OK(write_file(path.buf, got) == 0, "wrote golden %s", name);
    } else if (read_file(path.buf, 1 << 24, &want) != 0) {
        TAP_OK(0, "golden %s is missing (PYSPECT_UPDATE_GOLDEN=1)", path.buf);
    } else {
        int same =
            want.len == got->len && memcmp(want.buf, got->buf, got->len) == 0;

        TAP_OK(same, "%s equals its golden file", name);
        if (!same) {
            size_t i = 0;

            while (i < want.len && i < got->len &&
                   want.buf[i] == got->buf[i]) {
                i++;
            }
            printf("#   first difference at byte %zu (got %zu bytes, want "
                   "%zu)\n",
                   i, got->len, want.len);
        }
    }
    strbuf_release(&want);
    strbuf_release(&path);
}

/* Run check_output.py KIND FILE: XML / JSON structure checks. */
static void
check_structure(const char *kind, const char *file)
{
    struct strbuf cmd = STRBUF_INIT;
    int rc;

    if (check_script == NULL || access("/usr/bin/python3", X_OK) != 0) {
        printf("ok %d - # SKIP no /usr/bin/python3 for %s\n", ++tap_count,
               file);
        return;
    }
    strbuf_addf(&cmd, "/usr/bin/python3 '%s' %s '%s'", check_script, kind,
                file);
    fflush(stdout);
    rc = system(cmd.buf);
    TAP_OK(rc == 0, "%s: %s structure", file, kind);
    strbuf_release(&cmd);
}

static void
test_collapsed(void)
{
    struct profile p;
    struct strbuf out = STRBUF_INIT;
    char *line, *save = NULL, *prev = NULL;
    uint64_t sum = 0;
    int ok_split = 1, ok_sorted = 1, lines = 0, has_thread_root = 1;

    build_small(&p, 0);
    out_collapsed(&p, NULL, &out);
    check_golden("small.collapsed", &out);

    for (line = strtok_r(out.buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(line, ' '), *end;
        unsigned long long n;

        lines++;
        errno = 0;
        n = sp ? strtoull(sp + 1, &end, 10) : 0;
        if (!sp || errno || *end != '\0' || n == 0) {
            ok_split = 0;
        }
        sum += n;
        if (prev && strcmp(prev, line) >= 0) {
            ok_sorted = 0;
        }
        prev = line;
    }
    TAP_OK(ok_split, "every line ends in a space and a count");
    TAP_OK(ok_sorted, "lines are sorted and distinct");
    TAP_EQ_INT(sum, p.total, "the counts sum to the total");
    TAP_EQ_INT(lines, 10, "the stack on two threads is one line");
    strbuf_release(&out);
    profile_release(&p);

    build_small(&p, 1);
    out_collapsed(&p, NULL, &out);
    check_golden("small-threads.collapsed", &out);
    TAP_OK(strstr(out.buf, "thread 4243 \"worker:1 \"q\"\";") != NULL,
           "a thread's ';' becomes ':'");
    TAP_OK(strstr(out.buf, "\nthread 0x7f0000003000 1\n") != NULL ||
               strncmp(out.buf, "thread 0x7f0000003000 1\n", 24) == 0,
           "an empty stack is its thread alone; no tid: the ident in hex");
    save = NULL;
    lines = 0;
    sum = 0;
    for (line = strtok_r(out.buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lines++;
        sum += strtoull(strrchr(line, ' ') + 1, NULL, 10);
        if (strncmp(line, "thread ", 7) != 0) {
            has_thread_root = 0;
        }
    }
    TAP_OK(has_thread_root, "with meta.threads every line starts at a thread");
    TAP_EQ_INT(lines, 11, "one line per (thread, stack)");
    TAP_EQ_INT(sum, p.total, "the counts sum to the total");
    strbuf_release(&out);
    profile_release(&p);
}

static void
test_collapsed_escaping(void)
{
    struct profile p;
    struct strbuf out = STRBUF_INIT;

    build_small(&p, 0);
    out_collapsed(&p, NULL, &out);
    TAP_OK(strstr(out.buf, "a:b (/srv/semi:colon.py:5)") != NULL,
           "';' in names and files becomes ':'");
    TAP_OK(strstr(out.buf, "line\xef\xbf\xbd"
                           "break\xef\xbf\xbdtab (/srv/app.py:60)") != NULL,
           "newline and tab become U+FFFD");
    TAP_OK(strstr(out.buf, "sur\xef\xbf\xbdrogate") != NULL,
           "a lone surrogate becomes U+FFFD");
    TAP_OK(strstr(out.buf, "nul\xef\xbf\xbdhere") != NULL,
           "U+0000 becomes U+FFFD");
    TAP_OK(strstr(out.buf, "<lambda> (/srv/<&\"'>.py:9)") != NULL,
           "<&\"'> is kept as is in collapsed text");
    TAP_OK(strstr(out.buf, "(no Python frames) 1\n") != NULL,
           "an empty stack without threads is the placeholder frame");
    strbuf_release(&out);
    profile_release(&p);
}

static void
test_table(void)
{
    struct profile p;
    struct out_options o;
    struct strbuf out = STRBUF_INIT;
    const char *s;
    int rows = 0;

    build_small(&p, 0);
    out_table(&p, NULL, &out);
    check_golden("small.table", &out);
    /* recurse: 3 + 2 samples, each stack counted once however deep. */
    TAP_OK(strstr(out.buf, "  5.00%       5  recurse") != NULL ||
               strstr(out.buf, "5.00%       5  recurse") != NULL,
           "recursion counts once per stack in total");
    strbuf_reset(&out);

    out_options_init(&o);
    o.top = 2;
    out_table(&p, &o, &out);
    /* Rows start with a percentage; headers and the title do not.  The
     * threads' section (not cut by --top) is left out. */
    TAP_OK(strstr(out.buf, "\nSamples by thread\n") != NULL,
           "several threads: samples by thread");
    *strstr(out.buf, "\nSamples by thread\n") = '\0';
    for (s = out.buf; s != NULL && *s;
         s = strchr(s, '\n'), s = s ? s + 1 : s) {
        double pc;
        char c;

        if (sscanf(s, "%lf%c", &pc, &c) == 2 && c == '%') {
            rows++;
        }
    }
    TAP_EQ_INT(rows, 4, "--top 2: two rows in each view (no thread rows)");
    TAP_OK(strstr(out.buf, "Top 2 by self") != NULL, "the view says top 2");
    strbuf_release(&out);
    profile_release(&p);

    /* Nothing recorded. */
    profile_init(&p);
    out_table(&p, NULL, &out);
    TAP_OK(strstr(out.buf, "no samples") != NULL, "an empty table says so");
    strbuf_release(&out);
    profile_release(&p);
}

static void
write_and_check(const char *name, const char *kind, struct strbuf *sb)
{
    struct strbuf path = STRBUF_INIT;

    strbuf_addf(&path, "%s/%s", out_dir, name);
    TAP_OK(write_file(path.buf, sb) == 0, "wrote %s", path.buf);
    check_structure(kind, path.buf);
    strbuf_release(&path);
}

static void
test_svg_speedscope(void)
{
    struct profile p;
    struct out_options o;
    struct strbuf out = STRBUF_INIT;

    build_small(&p, 1);
    out_svg(&p, NULL, &out);
    TAP_OK(strstr(out.buf, "&lt;lambda&gt; (/srv/&lt;&amp;&quot;&#39;&gt;"
                           ".py:9)") != NULL,
           "SVG escapes <&\"'> in names and files");
    TAP_OK(strstr(out.buf, "\n3 samples (3.00%)") != NULL,
           "tooltips give samples and share");
    TAP_OK(strstr(out.buf, "2.50 s at 100 Hz (achieved 99.2 Hz)") != NULL,
           "the subtitle gives duration and rates");
    TAP_OK(strstr(out.buf, "4 dropped (3 torn, 1 unreadable, 0 late)") != NULL,
           "and the dropped samples");
    TAP_OK(strstr(out.buf, "long_fghijklmnop") != NULL &&
               strstr(out.buf, "lmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabc"
                               "defghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv"
                               "wxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmno"
                               "pqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefg"
                               "hijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy"
                               "zabcdefghijklmn\xe2\x80\xa6") == NULL,
           "a long label is cut to fit its frame");
    check_golden("small.svg", &out);
    strbuf_reset(&out);

    out_speedscope(&p, NULL, &out);
    check_golden("small.speedscope.json", &out);
    TAP_OK(strstr(out.buf, "\"name\":\"sur\\ufffdrogate\"") != NULL,
           "speedscope writes a lone surrogate as U+FFFD: valid JSON");
    strbuf_reset(&out);

    /* Pruning: a minimum width that hides the smaller frames. */
    out_options_init(&o);
    o.min_width = 60;
    out_svg(&p, &o, &out);
    TAP_OK(strstr(out.buf, "narrower than 60 px not drawn") != NULL,
           "the SVG says what was pruned");
    TAP_OK(strstr(out.buf, "recurse") == NULL, "and the pruned are gone");
    strbuf_reset(&out);

    profile_release(&p);

    /* An empty profile is still a valid file of each format. */
    profile_init(&p);
    out_svg(&p, NULL, &out);
    TAP_OK(strstr(out.buf, "no samples were recorded") != NULL,
           "an empty SVG says so");
    if (out_dir) {
        write_and_check("empty.svg", "svg", &out);
    }
    strbuf_reset(&out);
    out_speedscope(&p, NULL, &out);
    if (out_dir) {
        write_and_check("empty.speedscope.json", "speedscope", &out);
    }
    strbuf_reset(&out);
    profile_release(&p);

    /* A profile of a few hundred stacks, for structure and a look. */
    build_big(&p);
    TAP_OK(p.nstacks > 200, "the big profile has %zu stacks", p.nstacks);
    if (out_dir) {
        out_svg(&p, NULL, &out);
        write_and_check("big.svg", "svg", &out);
        strbuf_reset(&out);
        out_speedscope(&p, NULL, &out);
        write_and_check("big.speedscope.json", "speedscope", &out);
        strbuf_reset(&out);
        out_collapsed(&p, NULL, &out);
        write_and_check("big.collapsed", "collapsed", &out);
        strbuf_reset(&out);
        out_table(&p, NULL, &out);
        write_and_check("big.table", "table", &out);
        strbuf_reset(&out);
        out_options_init(&o);
        o.min_width = 3;
        out_svg(&p, &o, &out);
        write_and_check("big-pruned.svg", "svg", &out);
        strbuf_reset(&out);
        p.meta.threads = 0;
        out_svg(&p, NULL, &out);
        write_and_check("big-nothreads.svg", "svg", &out);
    }
    strbuf_release(&out);
    profile_release(&p);
}

static void
test_golden_structure(void)
{
    static const char *const files[][2] = {
        {"small.svg", "svg"},
        {"small.speedscope.json", "speedscope"},
        {"small.collapsed", "collapsed"},
        {"small-threads.collapsed", "collapsed"},
        {"small.table", "table"},
    };
    struct strbuf path = STRBUF_INIT;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(files); i++) {
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", golden_dir, files[i][0]);
        check_structure(files[i][1], path.buf);
    }
    strbuf_release(&path);
}

/* The position of needle in hay, or -1 (for order checks). */
static long
find_at(const char *hay, const char *needle)
{
    const char *at = strstr(hay, needle);

    return at ? (long)(at - hay) : -1;
}

/*
 * trace: a thread whose stack changes, then pauses (not sampled in the
 * round before: its frames end a period after its last sample, or just
 * before the next one when that comes sooner), and a thread with a state
 * track.  The stream and out_trace() over the profile's events give the
 * same bytes; each thread's events come in time order.
 */
static void
test_trace(void)
{
    struct profile p;
    struct out_trace_stream *ts;
    struct strbuf whole = STRBUF_INIT, streamed = STRBUF_INIT;
    uint32_t t1, t2, mod, fn, a, b, sa, sb, sc;
    uint32_t f[3];
    size_t i;
    const char *o;

    profile_init(&p);
    p.keep_events = 1;
    p.meta.pid = 10;
    p.meta.command = xstrdup("python3 t.py");
    p.meta.rate_hz = 100; /* a period of 10 ms */
    t1 = profile_thread(&p, 0x1000, 10, "MainThread");
    t2 = profile_thread(&p, 0x2000, 11, "worker");
    mod = profile_frame(&p, "<module>", "t.py", 1);
    fn = profile_frame(&p, "main", "t.py", 5);
    a = profile_frame(&p, "a", "t.py", 10);
    b = profile_frame(&p, "b", "t.py", 20);
    f[0] = a, f[1] = fn, f[2] = mod;
    sa = profile_add(&p, t1, f, 3, 1);
    f[0] = b;
    sb = profile_add(&p, t1, f, 3, 1);
    f[0] = mod;
    sc = profile_add(&p, t2, f, 1, 1);
    profile_event(&p, sa, 0, 0);
    profile_event(&p, sc, 5000000,
                  PROF_STATE_ON_CPU | PROF_STATE_GIL |
                      PROF_STATE_WITH_LETTER('R'));
    profile_event(&p, sa, 10000000, PROF_STATE_FOLLOWS);
    profile_event(&p, sb, 20000000, PROF_STATE_FOLLOWS);
    profile_event(&p, sa, 100000000, 0);
    profile_event(&p, sb, 105000000, 0);

    out_trace(&p, NULL, &whole);
    ts = out_trace_begin(&p, 1, &streamed);
    for (i = 0; i < p.nevents; i++) {
        out_trace_sample(ts, &p, &p.events[i], &streamed);
    }
    TAP_OK(out_trace_memory(ts) < 4096, "trace: the stream keeps little");
    out_trace_end(ts, &p, &streamed);
    TAP_EQ_STR(streamed.buf, whole.buf, "trace: stream == whole profile");
    o = whole.buf;
    TAP_OK(find_at(o, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[") == 0,
           "trace: the document opens with its events");
    TAP_OK(find_at(o, "\"ts\":19999.999,\"name\":\"a (t.py:10)\"") <
                   find_at(o, "\"ts\":20000.000,\"name\":\"b (t.py:20)\"") &&
               find_at(o, "{\"ph\":\"E\",\"pid\":10,\"tid\":10,\"ts\":19999."
                          "999,\"name\":\"a (t.py:10)\"}") > 0,
           "trace: a frame ends a nanosecond before the next begins");
    TAP_OK(find_at(o, "{\"ph\":\"E\",\"pid\":10,\"tid\":10,\"ts\":30000.000,"
                      "\"name\":\"<module> (t.py:1)\"}") > 0,
           "trace: a pause ends the stack a period after its sample");
    TAP_OK(find_at(o, "{\"ph\":\"E\",\"pid\":10,\"tid\":10,\"ts\":104999.999,"
                      "\"name\":\"<module> (t.py:1)\"}") > 0,
           "trace: ... or just before the next sample, when sooner");
    TAP_OK(find_at(o, "{\"ph\":\"E\",\"pid\":10,\"tid\":10,\"ts\":115000.000,"
                      "\"name\":\"<module> (t.py:1)\"}") > 0,
           "trace: the end closes what is open");
    TAP_OK(find_at(o, "{\"ph\":\"B\",\"pid\":10,\"tid\":2000000001,\"ts\":"
                      "5000.000,\"name\":\"running (R), holds GIL\"}") > 0 &&
               find_at(o,
                       "{\"ph\":\"E\",\"pid\":10,\"tid\":2000000001,\"ts\":"
                       "15000.000,\"name\":\"running (R), holds GIL\"}") > 0,
           "trace: a state track, index 1 (second thread seen)");
    TAP_OK(find_at(o, "\"tid\":2000000000") < 0,
           "trace: no state track where nothing was known");
    TAP_OK(find_at(o, "\"tid\":11,\"name\":\"thread_name\",\"args\":"
                      "{\"name\":\"worker\"}") > 0 &&
               find_at(o, "\"name\":\"worker: state\"") > 0 &&
               find_at(o, "\"name\":\"process_name\",\"args\":{\"name\":"
                          "\"python3 t.py\"}") > 0,
           "trace: names of threads, state tracks and the process");
    TAP_OK(find_at(o, "\"samples\":6") > 0 &&
               strcmp(o + whole.len - 3, "}}\n") == 0,
           "trace: otherData closes the document");
    strbuf_release(&whole);
    strbuf_release(&streamed);
    profile_release(&p);

    /* No sample: still a process name. */
    profile_init(&p);
    p.meta.pid = 7;
    out_trace(&p, NULL, &whole);
    TAP_OK(find_at(whole.buf, "pyspect: no samples") > 0 &&
               find_at(whole.buf, "\"samples\":0") > 0,
           "trace: an empty recording is a valid trace");
    strbuf_release(&whole);
    profile_release(&p);
}

static void
test_formats(void)
{
    static const struct {
        const char *path;
        const char *format; /* NULL: none */
    } paths[] = {
        {"out.svg", "svg"},
        {"/tmp/x/PROFILE.SVG", "svg"},
        {"out.txt", "collapsed"},
        {"out.collapsed", "collapsed"},
        {"out.folded", "collapsed"},
        {"out.json", "speedscope"},
        {"out.speedscope.json", "speedscope"},
        {"out.speedscope", "speedscope"},
        {"out.table", "table"},
        {"out", NULL},
        {"out.html", NULL},
        {".svg", NULL},
        {"dir.svg/out", NULL},
    };
    const struct out_format *f;
    struct strbuf sb = STRBUF_INIT;
    size_t i, j;

    f = out_format_find("svg");
    TAP_OK(f == &out_formats[0], "svg is a format, and the default");
    f = out_format_find("folded");
    TAP_OK(f != NULL && strcmp(f->name, "collapsed") == 0,
           "folded is an alias of collapsed");
    f = out_format_find("flamegraph");
    TAP_OK(f != NULL && strcmp(f->name, "svg") == 0,
           "flamegraph is an alias of svg");
    TAP_OK(out_format_find("fold") == NULL, "a prefix of an alias is not one");
    TAP_OK(out_format_find("pdf") == NULL, "pdf is not a format");
    out_format_names(&sb);
    TAP_OK(strstr(err_context(), sb.buf) != NULL &&
               strncmp(err_context(), "unknown format 'pdf' (choose svg, ",
                       34) == 0,
           "the message lists the formats");
    TAP_OK(out_format_find("SVG") == NULL, "names are exact");
    for (i = 0; i < ARRAY_SIZE(paths); i++) {
        f = out_format_for_path(paths[i].path);
        TAP_EQ_STR(f ? f->name : "(none)",
                   paths[i].format ? paths[i].format : "(none)",
                   paths[i].path);
    }
    /* Every row is complete, and its names and extensions are its own. */
    for (i = 0; i < out_nformats; i++) {
        const struct out_format *r = &out_formats[i];

        TAP_OK(r->name && r->aliases && r->exts && r->write && r->summary,
               "%s: a complete row", r->name);
        TAP_OK(out_format_find(r->name) == r, "%s: found by name", r->name);
        strbuf_reset(&sb);
        strbuf_addstr(&sb, "x");
        out_format_ext(r, &sb);
        TAP_OK(out_format_for_path(sb.buf) == r, "%s: by its extension",
               sb.buf);
        for (j = 0; j < i; j++) {
            TAP_OK(strcmp(out_formats[j].name, r->name) != 0, "%s: one row",
                   r->name);
        }
    }
    strbuf_reset(&sb);
    out_format_help(&sb, 2);
    TAP_OK(strstr(sb.buf, "  table ") != NULL, "help lists table");
    strbuf_release(&sb);
}

static void
test_protobuf_and_gzip(void)
{
    static const struct {
        uint64_t v;
        const char *bytes;
        size_t len;
    } varints[] = {
        {0, "\x00", 1},
        {1, "\x01", 1},
        {127, "\x7f", 1},
        {128, "\x80\x01", 2},
        {300, "\xac\x02", 2},
        {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
    };
    static const uint64_t packed[] = {1, 300, 0};
    struct strbuf b = STRBUF_INIT, z = STRBUF_INIT;
    unsigned char back[1024];
    z_stream zs;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(varints); i++) {
        strbuf_reset(&b);
        pb_varint(&b, varints[i].v);
        TAP_OK(b.len == varints[i].len &&
                   memcmp(b.buf, varints[i].bytes, b.len) == 0,
               "varint %llu", (unsigned long long)varints[i].v);
    }
    strbuf_reset(&b);
    pb_uint(&b, 3, 0);
    TAP_EQ_INT((int)b.len, 0, "a zero scalar is not written");
    pb_int(&b, 3, -1);
    TAP_OK(b.len == 11 && b.buf[0] == 0x18, "a negative int64: key, 10 bytes");
    strbuf_reset(&b);
    pb_bytes(&b, 6, "", 0);
    TAP_OK(b.len == 2 && memcmp(b.buf, "\x32\x00", 2) == 0,
           "an empty string is written");
    strbuf_reset(&b);
    pb_packed(&b, 1, packed, 3);
    TAP_OK(b.len == 6 && memcmp(b.buf, "\x0a\x04\x01\xac\x02\x00", 6) == 0,
           "packed: key, length, varints");

    /* gzip: a gzip member (magic 1f 8b) that zlib reads back. */
    strbuf_reset(&b);
    for (i = 0; i < 40; i++) {
        strbuf_addstr(&b, "pyspect ");
    }
    out_gzip(b.buf, b.len, &z);
    TAP_OK(z.len > 18 && (unsigned char)z.buf[0] == 0x1f &&
               (unsigned char)z.buf[1] == 0x8b,
           "gzip magic");
    TAP_OK(z.len < b.len, "and smaller than its input");
    memset(&zs, 0, sizeof(zs));
    inflateInit2(&zs, 15 + 16);
    zs.next_in = (Bytef *)z.buf;
    zs.avail_in = (uInt)z.len;
    zs.next_out = back;
    zs.avail_out = sizeof(back);
    TAP_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END, "zlib inflates it");
    TAP_OK(zs.total_out == b.len && memcmp(back, b.buf, b.len) == 0,
           "the same bytes back");
    inflateEnd(&zs);
    strbuf_release(&b);
    strbuf_release(&z);
}

int
main(int argc, char **argv)
{
    golden_dir = getenv("PYSPECT_GOLDEN");
    check_script = getenv("PYSPECT_CHECK_OUTPUT");
    out_dir = getenv("PYSPECT_WRITERS_OUT");
    if (golden_dir == NULL) {
        golden_dir = argc > 1 ? argv[1] : "tests/golden";
    }
    test_formats();
    test_protobuf_and_gzip();
    test_trace();
    test_collapsed();
    test_collapsed_escaping();
    test_table();
    test_svg_speedscope();
    test_golden_structure();
    return tap_done();
}
