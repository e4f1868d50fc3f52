/*
 * svg.c - an interactive flame graph as one self-contained SVG file.
 *
 * Layer: output.  The stacks are merged into a call tree (root "all",
 * then a node per thread with meta.threads, then frames root first),
 * children sorted by name so the same profile always draws the same
 * picture.  Each node is a <g> holding a <title> (the tooltip: label,
 * samples, share), a <rect> whose width is proportional to its samples,
 * and a <text> label cut to fit.  The graph is complete without script
 * (an <img> shows it); the inline script adds hover details, zoom and
 * search, reading each node's sample range from data-x/data-w/data-d.
 * Nodes narrower than o->min_width pixels are left out, and a note below
 * the graph says how many, and how many samples' stacks they cut short.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hashmap.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

#define FG_PAD 10       /* pixels left and right of the graph */
#define FG_ROW 16       /* pixels per stack level */
#define FG_TOP 78       /* where the graph starts, below the header */
#define FG_CHAR_W 7.25  /* a 12px monospace character, for static labels */
#define FG_TITLE_W 10.0 /* a 17px bold sans-serif character, roughly */

enum fg_kind { FG_ROOT, FG_THREAD, FG_FRAME, FG_EMPTY };

/* Colour families: what a frame's file says about whose code it is. */
enum fg_class { FG_USER, FG_STDLIB, FG_THIRD, FG_OTHER, FG_NCLASS };

struct fg_node {
    uint32_t key; /* frame id, thread index, or PROF_NONE */
    uint8_t kind;
    uint32_t parent;
    uint32_t depth;
    uint32_t first_child, next_sibling; /* PROF_NONE: none */
    uint32_t nsub;                      /* nodes in the subtree */
    uint64_t total, self, x;            /* samples; x: left of it */
};

struct fg_tree {
    struct fg_node *v;
    size_t n, alloc;
    struct hashmap children; /* (parent + 1) << 32 | key -> index + 1 */
};

static uint32_t
fg_new(struct fg_tree *t, uint32_t parent, uint8_t kind, uint32_t key)
{
    struct fg_node *n;

    XGROW(t->v, t->alloc, t->n + 1);
    n = &t->v[t->n];
    memset(n, 0, sizeof(*n));
    n->key = key;
    n->kind = kind;
    n->parent = parent;
    n->depth = parent == PROF_NONE ? 0 : t->v[parent].depth + 1;
    n->first_child = PROF_NONE;
    n->next_sibling = PROF_NONE;
    n->nsub = 1;
    if (parent != PROF_NONE) {
        n->next_sibling = t->v[parent].first_child;
        t->v[parent].first_child = (uint32_t)t->n;
    }
    return (uint32_t)t->n++;
}

/* The child of parent with (kind, key), created on first use.  Children
 * of one node are all threads or all frames (plus the empty-stack
 * placeholder, key PROF_NONE), so the key alone tells them apart. */
static uint32_t
fg_child(struct fg_tree *t, uint32_t parent, uint8_t kind, uint32_t key)
{
    void **slot = hashmap_slot(&t->children,
                               ((uint64_t)parent + 1) << 32 | (uint64_t)key);

    if (*slot == NULL) {
        *slot = (void *)(uintptr_t)(fg_new(t, parent, kind, key) + 1);
    }
    return (uint32_t)((uintptr_t)*slot - 1);
}

struct fg_sort {
    uint64_t key;
    uint32_t node;
};

static int
fg_sort_cmp(const void *a, const void *b)
{
    const struct fg_sort *x = a, *y = b;

    return (x->key > y->key) - (x->key < y->key);
}

static int
fg_thread_cmp(const void *a, const void *b)
{
    const struct prof_thread *x = *(const struct prof_thread *const *)a;
    const struct prof_thread *y = *(const struct prof_thread *const *)b;

    if (x->pid != y->pid) {
        return x->pid < y->pid ? -1 : 1;
    }
    if (x->tid != y->tid) {
        return x->tid < y->tid ? -1 : 1;
    }
    return (x->ident > y->ident) - (x->ident < y->ident);
}

/* Thread ranks: by process, kernel thread id, ident. */
static uint32_t *
fg_thread_ranks(const struct profile *p)
{
    size_t n = p->nthreads, i;
    const struct prof_thread **v = xmalloc((n ? n : 1) * sizeof(*v));
    uint32_t *rank = xmalloc((n ? n : 1) * sizeof(*rank));

    for (i = 0; i < n; i++) {
        v[i] = &p->threads[i];
    }
    qsort(v, n, sizeof(*v), fg_thread_cmp);
    for (i = 0; i < n; i++) {
        rank[v[i] - p->threads] = (uint32_t)i;
    }
    free(v);
    return rank;
}

/* Build the call tree, sort children, lay out x, count subtrees. */
static void
fg_build(struct fg_tree *t, const struct profile *p)
{
    uint32_t *frank = text_frame_ranks(p), *trank = fg_thread_ranks(p);
    struct fg_sort *kids = NULL;
    size_t nkids_alloc = 0, i;

    fg_new(t, PROF_NONE, FG_ROOT, PROF_NONE);
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        const uint32_t *ids = profile_stack_frames(p, s);
        uint32_t node = 0, j;

        if (p->meta.threads) {
            node = fg_child(t, node, FG_THREAD, s->thread);
        }
        for (j = 0; j < s->nframes; j++) {
            node = fg_child(t, node, FG_FRAME, ids[j]);
        }
        if (s->nframes == 0 && !p->meta.threads) {
            node = fg_child(t, node, FG_EMPTY, PROF_NONE);
        }
        t->v[node].self += s->count;
    }
    /* Children come after their parent: totals and subtree sizes
     * accumulate in one backward pass. */
    for (i = t->n; i-- > 0;) {
        t->v[i].total += t->v[i].self;
        if (i > 0) {
            t->v[t->v[i].parent].total += t->v[i].total;
            t->v[t->v[i].parent].nsub += t->v[i].nsub;
        }
    }
    /* Sort each child list, then lay children out left to right from
     * their parent's x (parents first, so a forward pass does it). */
    for (i = 0; i < t->n; i++) {
        uint32_t c, k, nk = 0;
        uint64_t x = t->v[i].x;

        for (c = t->v[i].first_child; c != PROF_NONE;
             c = t->v[c].next_sibling) {
            const struct fg_node *n = &t->v[c];

            XGROW(kids, nkids_alloc, (size_t)nk + 1);
            kids[nk].node = c;
            kids[nk].key = n->kind == FG_THREAD  ? trank[n->key]
                           : n->kind == FG_FRAME ? frank[n->key]
                                                 : 0;
            kids[nk].key |= (uint64_t)n->kind << 32;
            nk++;
        }
        if (nk == 0) {
            continue;
        }
        qsort(kids, nk, sizeof(*kids), fg_sort_cmp);
        t->v[i].first_child = kids[0].node;
        for (k = 0; k < nk; k++) {
            struct fg_node *n = &t->v[kids[k].node];

            n->next_sibling = k + 1 < nk ? kids[k + 1].node : PROF_NONE;
            n->x = x;
            x += n->total;
        }
    }
    free(kids);
    free(trank);
    free(frank);
}

static void
fg_tree_release(struct fg_tree *t)
{
    free(t->v);
    hashmap_release(&t->children);
}

/* Directories of a Python installation (sys.prefix) that hold Python's
 * own files: a user's code may live elsewhere under /usr. */
static const char *const fg_prefix_dirs[] = {"bin", "lib", "lib64", "libexec",
                                             "share"};

/* Is file in one of the installation directories under prefix? */
static int
fg_under_prefix(const char *file, const char *prefix)
{
    size_t n = strlen(prefix), i, k;

    while (n > 0 && prefix[n - 1] == '/') {
        n--; /* "/" itself would hold everything: ignored */
    }
    if (n == 0 || strncmp(file, prefix, n) != 0 || file[n] != '/') {
        return 0;
    }
    for (i = 0; i < sizeof(fg_prefix_dirs) / sizeof(fg_prefix_dirs[0]); i++) {
        k = strlen(fg_prefix_dirs[i]);
        if (strncmp(file + n + 1, fg_prefix_dirs[i], k) == 0 &&
            file[n + 1 + k] == '/') {
            return 1;
        }
    }
    return 0;
}

/*
 * Whose code a file holds, by where it lives: third-party packages in
 * site-packages and dist-packages; Python's own under the interpreter's
 * prefix (the standard library, and the scripts installed with it, as in
 * /usr/bin); code with no file (<string>, a template engine's) apart;
 * everything else is the user's.
 */
static enum fg_class
fg_classify(const struct profile_meta *m, const char *file)
{
    const char *s;
    size_t i;

    if (file == NULL || *file == '\0') {
        return FG_OTHER;
    }
    if (strstr(file, "/site-packages/") || strstr(file, "/dist-packages/")) {
        return FG_THIRD;
    }
    if (strncmp(file, "<frozen ", 8) == 0) {
        return FG_STDLIB;
    }
    if (file[0] == '<') {
        return FG_OTHER;
    }
    for (i = 0; i < m->nprefixes; i++) {
        if (fg_under_prefix(file, m->prefixes[i])) {
            return FG_STDLIB;
        }
    }
    /* A Python installation the prefixes do not name (another
     * interpreter's, or none known): by the path's shape. */
    /* .../lib/python3.11/..., .../lib64/python3.9/... */
    for (s = strstr(file, "/python"); s != NULL;
         s = strstr(s + 1, "/python")) {
        const char *q = s + 7;

        if (q[0] >= '2' && q[0] <= '3' && q[1] == '.' && q[2] >= '0' &&
            q[2] <= '9' && strchr(q + 2, '/') != NULL &&
            (s - file >= 4 &&
             (strncmp(s - 4, "/lib", 4) == 0 ||
              (s - file >= 6 && strncmp(s - 6, "/lib64", 6) == 0)))) {
            return FG_STDLIB;
        }
    }
    return FG_USER;
}

/* A colour for a frame: the family from its class, the shade from a hash
 * of its function name, so the same function has the same colour. */
static void
fg_colour(struct strbuf *out, enum fg_class cls, const char *name)
{
    uint64_t h = hash_bytes(name, strlen(name));
    double a = (double)(h & 0xff) / 255.0;
    double b = (double)((h >> 8) & 0xff) / 255.0;
    double c = (double)((h >> 16) & 0xff) / 255.0;
    int r, g, bl;

    switch (cls) {
    case FG_USER: /* warm: red, orange, yellow */
        r = 225 + (int)(30 * a);
        g = 90 + (int)(130 * b);
        bl = 40 + (int)(45 * c);
        break;
    case FG_STDLIB: /* cool blue */
        r = 105 + (int)(45 * a);
        g = 165 + (int)(45 * b);
        bl = 220 + (int)(30 * c);
        break;
    case FG_THIRD: /* green */
        r = 110 + (int)(50 * a);
        g = 195 + (int)(35 * b);
        bl = 100 + (int)(40 * c);
        break;
    default: /* grey */
        r = g = bl = 195 + (int)(20 * a);
        break;
    }
    strbuf_addf(out, "rgb(%d,%d,%d)", r, g, bl);
}

static const char *const fg_class_names[FG_NCLASS] = {
    "your code", "standard library", "third-party packages", "other"};

static void
fg_class_colour(struct strbuf *out, enum fg_class cls)
{
    /* The middle of each family, for the legend. */
    static const char *const mid[FG_NCLASS] = {
        "rgb(240,155,62)", "rgb(127,187,235)", "rgb(135,212,120)",
        "rgb(205,205,205)"};

    strbuf_addstr(out, mid[cls]);
}

/* The label of a node, clean. */
static void
fg_label(struct strbuf *out, const struct profile *p, const struct fg_node *n,
         int with_pid)
{
    switch (n->kind) {
    case FG_ROOT:
        strbuf_addstr(out, "all");
        break;
    case FG_THREAD:
        text_thread_label(out, p, n->key, with_pid, 0);
        break;
    case FG_FRAME:
        text_frame_label(out, p, n->key, 0);
        break;
    default:
        strbuf_addstr(out, TEXT_NO_FRAMES);
        break;
    }
}

/* The label drawn in a node's rectangle: a frame's file by its base name
 * only (the tooltip has the whole path).  The script derives the same
 * text from the whole label when it redraws. */
static void
fg_short_label(struct strbuf *out, const struct profile *p,
               const struct fg_node *n, int with_pid)
{
    const struct prof_frame *f;
    const char *name, *file, *slash;

    if (n->kind != FG_FRAME) {
        fg_label(out, p, n, with_pid);
        return;
    }
    f = &p->frames[n->key];
    name = strtab_get(&p->strings, f->name);
    file = strtab_get(&p->strings, f->file);
    text_clean(out, name && *name ? name : "(unknown)", 0);
    if (file == NULL || *file == '\0') {
        return;
    }
    slash = strrchr(file, '/');
    strbuf_addstr(out, " (");
    text_clean(out, slash ? slash + 1 : file, 0);
    if (f->line >= 0) {
        strbuf_addf(out, ":%d", (int)f->line);
    }
    strbuf_addch(out, ')');
}

static void
fg_title(struct strbuf *out, const struct profile *p,
         const struct out_options *o)
{
    if (o->title) {
        text_clean(out, o->title, 0);
    } else if (p->meta.command) {
        strbuf_addstr(out, profile_counts_bytes(p) ? "pyspect alloc: "
                                                   : "pyspect record: ");
        text_clean(out, p->meta.command, 0);
    } else {
        strbuf_addstr(out, "pyspect flame graph");
    }
}

/* The line under the title: what was recorded, how, and how much. */
static void
fg_subtitle(struct strbuf *out, const struct profile *p)
{
    const struct profile_meta *m = &p->meta;
    uint64_t dropped = 0;
    size_t i;

    if (m->pid > 0) {
        strbuf_addf(out, "pid %d \xc2\xb7 ", m->pid);
    }
    if (m->python_version) {
        strbuf_addstr(out, "Python ");
        text_clean(out, m->python_version, 0);
        strbuf_addstr(out, " \xc2\xb7 ");
    }
    if (m->mode) {
        text_clean(out, m->mode, 0);
        strbuf_addstr(out, profile_counts_bytes(p) ? " \xc2\xb7 "
                                                   : " mode \xc2\xb7 ");
    }
    if (m->lines) {
        strbuf_addstr(out, "per line \xc2\xb7 ");
    }
    if (m->duration_s > 0) {
        strbuf_addf(out, "%.2f s", m->duration_s);
        if (m->rate_hz > 0) {
            strbuf_addf(out, " at %g Hz", m->rate_hz);
        }
        if (m->rounds > 0) {
            strbuf_addf(out, " (achieved %.1f Hz)",
                        (double)m->rounds / m->duration_s);
        }
        strbuf_addstr(out, " \xc2\xb7 ");
    } else if (m->rate_hz > 0) {
        strbuf_addf(out, "%g Hz \xc2\xb7 ", m->rate_hz);
    }
    if (profile_counts_bytes(p)) {
        /* An allocation profile: how many bytes, which ones, in how many
         * blocks. */
        text_bytes(out, p->total);
        if (m->what != NULL) {
            strbuf_addch(out, ' ');
            text_clean(out, m->what, 0);
        }
        strbuf_addstr(out, " in ");
        text_count(out, p->total_objects);
        strbuf_addstr(out, p->total_objects == 1 ? " block" : " blocks");
        return;
    }
    text_count(out, p->total);
    strbuf_addstr(out,
                  p->total == 1 ? " sample \xc2\xb7 " : " samples \xc2\xb7 ");
    for (i = 0; i < PROF_DROP_COUNT; i++) {
        dropped += m->dropped[i];
    }
    text_count(out, dropped);
    strbuf_addstr(out, " dropped");
    if (dropped > 0) {
        strbuf_addstr(out, " (");
        text_count(out, m->dropped[PROF_DROP_TORN]);
        strbuf_addstr(out, " torn, ");
        text_count(out, m->dropped[PROF_DROP_ERROR]);
        strbuf_addstr(out, " unreadable, ");
        text_count(out, m->dropped[PROF_DROP_LATE]);
        strbuf_addstr(out, " late)");
    }
}

/* When the recording started, "2023-11-14 22:13:20 UTC"; "" unknown. */
static void
fg_started(struct strbuf *out, const struct profile *p)
{
    time_t t = (time_t)p->meta.start_unix;
    struct tm tm;
    char when[64];

    if (p->meta.start_unix > 0 && gmtime_r(&t, &tm) != NULL &&
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0) {
        strbuf_addf(out, "recorded %s", when);
    }
}

static void
fg_pct(struct strbuf *out, uint64_t n, uint64_t total)
{
    strbuf_addf(out, "%.2f%%", total ? 100.0 * (double)n / (double)total : 0);
}

/* Append text (clean) fitted to cols and XML-escaped. */
static void
fg_text_fit(struct strbuf *out, const char *s, size_t cols)
{
    struct strbuf cut = STRBUF_INIT;

    text_fit(&cut, s, cols);
    text_xml_escape(out, cut.buf);
    strbuf_release(&cut);
}

static size_t
fg_cols(double px, double char_w)
{
    return px > 0 ? (size_t)floor(px / char_w) : 0;
}

static const char fg_style[] =
    "text { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace;\n"
    "       font-size: 12px; fill: #000; }\n"
    "#title { font-family: sans-serif; font-size: 17px; font-weight: bold;\n"
    "         text-anchor: middle; }\n"
    "#subtitle { font-family: sans-serif; fill: #444; text-anchor: middle; }\n"
    ".legend { font-family: sans-serif; fill: #333; }\n"
    ".button { font-family: sans-serif; fill: #1a4fa0; cursor: pointer;\n"
    "          text-decoration: underline; }\n"
    ".button:hover { fill: #000; }\n"
    "#reset { visibility: hidden; }\n"
    "#matched { text-anchor: end; }\n"
    ".note { font-family: sans-serif; font-size: 11px; fill: #666; }\n"
    "#frames g { cursor: pointer; }\n"
    "#frames g:hover rect { stroke: #000; stroke-width: 0.8; }\n"
    "#frames g.anc rect { opacity: 0.5; }\n"
    "#frames text { pointer-events: none; }\n";

/* The script: hover details, zoom, search (see out_svg() in output.h). */
static const char fg_script[] =
#include "svg_script.inc"
    ;

struct fg_draw {
    const struct profile *p;
    const struct fg_tree *t;
    struct strbuf *out;
    enum fg_class *fclass; /* per frame id */
    double inner;          /* drawable width, pixels */
    uint32_t maxdepth;     /* of drawn nodes */
    int with_pid;
};

static void
fg_node_svg(struct fg_draw *d, uint32_t i, struct strbuf *label)
{
    const struct fg_node *n = &d->t->v[i];
    const struct profile *p = d->p;
    struct strbuf *out = d->out;
    double x = FG_PAD + (double)n->x / (double)d->t->v[0].total * d->inner;
    double w = (double)n->total / (double)d->t->v[0].total * d->inner;
    double y = FG_TOP + (double)(d->maxdepth - n->depth) * FG_ROW;
    size_t cols = fg_cols(w - 6, FG_CHAR_W);
    enum fg_class cls = n->kind == FG_FRAME ? d->fclass[n->key] : FG_OTHER;
    const char *name = "";

    strbuf_reset(label);
    fg_label(label, p, n, d->with_pid);
    strbuf_addf(out,
                "<g data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64
                "\" data-d=\"%u\"><title>",
                n->x, n->total, (unsigned)n->depth);
    text_xml_escape(out, label->buf);
    strbuf_addch(out, '\n');
    text_value(out, p, n->total);
    strbuf_addstr(out, " (");
    fg_pct(out, n->total, d->t->v[0].total);
    strbuf_addstr(out, ")");
    if (n->self > 0 && n->kind == FG_FRAME) {
        strbuf_addstr(out, ", ");
        if (profile_counts_bytes(p)) {
            text_bytes(out, n->self);
            strbuf_addstr(out, " at this line itself");
        } else {
            text_count(out, n->self);
            strbuf_addstr(out, " in the function itself");
        }
    }
    strbuf_addf(out,
                "</title><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                "height=\"%d\" rx=\"2\" fill=\"",
                x, y, w, FG_ROW - 1);
    if (n->kind == FG_FRAME) {
        name = strtab_get(&p->strings, p->frames[n->key].name);
    } else if (n->kind == FG_THREAD) {
        name = label->buf;
    }
    fg_colour(out, cls, name ? name : "");
    strbuf_addstr(out, "\"/>");
    if (cols >= 3) {
        strbuf_addf(out, "<text x=\"%.2f\" y=\"%.2f\">", x + 3, y + 11.5);
        strbuf_reset(label);
        fg_short_label(label, p, n, d->with_pid);
        fg_text_fit(out, label->buf, cols);
        strbuf_addstr(out, "</text>");
    }
    strbuf_addstr(out, "</g>\n");
}

int
out_svg(const struct profile *p, const struct out_options *opt,
        struct strbuf *out)
{
    struct out_options o;
    struct fg_tree t = {NULL, 0, 0, HASHMAP_INIT};
    struct fg_draw d;
    struct strbuf sb = STRBUF_INIT;
    uint32_t *todo = NULL;
    size_t ntodo = 0, todo_alloc = 0, i;
    uint64_t pruned_nodes = 0, pruned_samples = 0;
    int present[FG_NCLASS] = {0}, width, height, below;
    double min_w, lx;
    uint32_t c;

    out_options_init(&o);
    if (opt != NULL) {
        o = *opt;
    }
    width = o.width >= 200 ? o.width : OUT_SVG_WIDTH_DEFAULT;
    min_w = o.min_width > 0 ? o.min_width : 0;
    memset(&d, 0, sizeof(d));
    d.p = p;
    d.t = &t;
    d.out = out;
    d.inner = width - 2 * FG_PAD;
    d.with_pid = text_many_processes(p);
    d.fclass = xmalloc((p->nframes ? p->nframes : 1) * sizeof(*d.fclass));
    for (i = 0; i < p->nframes; i++) {
        d.fclass[i] =
            fg_classify(&p->meta, strtab_get(&p->strings, p->frames[i].file));
    }
    fg_build(&t, p);

    /* Which nodes are drawn: the depth-first order, pruning the narrow;
     * the depth of the deepest drawn node sets the height. */
    XGROW(todo, todo_alloc, 1);
    todo[ntodo++] = 0;
    {
        uint32_t *order = xmalloc(t.n * sizeof(*order));
        size_t norder = 0;

        while (ntodo > 0) {
            uint32_t k = todo[--ntodo], nk = 0, j = 0;
            const struct fg_node *n = &t.v[k];

            if (t.v[0].total > 0 && k != 0 &&
                (double)n->total / (double)t.v[0].total * d.inner < min_w) {
                pruned_nodes += n->nsub;
                pruned_samples += n->total;
                continue;
            }
            order[norder++] = k;
            if (n->depth > d.maxdepth) {
                d.maxdepth = n->depth;
            }
            if (n->kind == FG_FRAME) {
                present[d.fclass[n->key]] = 1;
            }
            /* Push children right to left, to draw them left to right. */
            for (c = n->first_child; c != PROF_NONE; c = t.v[c].next_sibling) {
                nk++;
            }
            XGROW(todo, todo_alloc, ntodo + nk);
            ntodo += nk;
            for (c = n->first_child; c != PROF_NONE; c = t.v[c].next_sibling) {
                todo[ntodo - 1 - j++] = c;
            }
        }
        free(todo);
        todo = order;
        ntodo = norder;
    }
    /* Below the graph: details and matches, then the recording time, then
     * (on a line of its own) the pruning note. */
    height = FG_TOP + (int)(d.maxdepth + 1) * FG_ROW + 46 +
             (pruned_nodes > 0 ? 16 : 0);
    below = FG_TOP + (int)(d.maxdepth + 1) * FG_ROW;

    strbuf_addf(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
        "<!-- flame graph made by pyspect " PYSPECT_VERSION " -->\n"
        "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
        "data-total=\"%" PRIu64 "\" data-pad=\"%d\" "
        "data-inner=\"%.2f\" onload=\"fg_init()\">\n",
        width, height, width, height, t.v[0].total, FG_PAD, d.inner);
    strbuf_addf(out, "<style type=\"text/css\"><![CDATA[\n%s]]></style>\n",
                fg_style);
    strbuf_addf(out,
                "<script type=\"text/ecmascript\"><![CDATA[\n%s]]>"
                "</script>\n",
                fg_script);
    strbuf_addf(out,
                "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                "fill=\"#fbfbf8\"/>\n",
                width, height);

    /* Title (cut to fit; in full in its tooltip) and subtitle. */
    strbuf_reset(&sb);
    fg_title(&sb, p, &o);
    strbuf_addf(out, "<text id=\"title\" x=\"%.2f\" y=\"24\"><title>",
                width / 2.0);
    text_xml_escape(out, sb.buf);
    strbuf_addstr(out, "</title>");
    fg_text_fit(out, sb.buf, fg_cols(d.inner, FG_TITLE_W));
    strbuf_addstr(out, "</text>\n");
    strbuf_reset(&sb);
    fg_subtitle(&sb, p);
    strbuf_addf(out, "<text id=\"subtitle\" x=\"%.2f\" y=\"44\">",
                width / 2.0);
    fg_text_fit(out, sb.buf, fg_cols(d.inner, 6.6));
    strbuf_addstr(out, "</text>\n");

    /* Controls and legend. */
    strbuf_addf(out,
                "<text id=\"reset\" class=\"button\" x=\"%d\" y=\"66\">"
                "Reset zoom</text>\n"
                "<text id=\"search\" class=\"button\" x=\"%d\" y=\"66\" "
                "style=\"text-anchor: end\">Search</text>\n",
                FG_PAD, width - FG_PAD);
    for (i = 0, lx = 0; i < FG_NCLASS; i++) {
        lx += present[i] ? 30 + 6.4 * strlen(fg_class_names[i]) : 0;
    }
    lx = (width - lx) / 2;
    for (i = 0; i < FG_NCLASS; i++) {
        if (!present[i]) {
            continue;
        }
        strbuf_addf(out,
                    "<rect x=\"%.2f\" y=\"56\" width=\"12\" "
                    "height=\"12\" rx=\"2\" fill=\"",
                    lx);
        fg_class_colour(out, (enum fg_class)i);
        strbuf_addf(out,
                    "\"/><text class=\"legend\" x=\"%.2f\" y=\"66\">%s"
                    "</text>\n",
                    lx + 16, fg_class_names[i]);
        lx += 30 + 6.4 * strlen(fg_class_names[i]);
    }

    /* The graph. */
    strbuf_addstr(out, "<g id=\"frames\">\n");
    if (t.v[0].total > 0) {
        for (i = 0; i < ntodo; i++) {
            fg_node_svg(&d, todo[i], &sb);
        }
    }
    strbuf_addstr(out, "</g>\n");
    if (t.v[0].total == 0) {
        strbuf_addf(out,
                    "<text x=\"%.2f\" y=\"%d\" style=\"text-anchor: "
                    "middle\">%s</text>\n",
                    width / 2.0, FG_TOP + 12,
                    profile_counts_bytes(p) ? "no memory to show"
                                            : "no samples were recorded");
    }

    /* Below: hover details and search results, then the pruning note. */
    strbuf_addf(out,
                "<text id=\"details\" x=\"%d\" y=\"%d\" "
                "data-width=\"%.2f\">",
                FG_PAD, below + 18, d.inner * 0.68);
    fg_text_fit(out,
                "Hover a frame for details, click to zoom, Ctrl-F or / to "
                "search, Escape to reset.",
                fg_cols(d.inner * 0.68, FG_CHAR_W));
    strbuf_addf(out,
                "</text>\n<text id=\"matched\" x=\"%d\" y=\"%d\"></text>\n",
                width - FG_PAD, below + 18);
    strbuf_reset(&sb);
    fg_started(&sb, p);
    strbuf_addf(out,
                "<text class=\"note\" x=\"%d\" y=\"%d\" "
                "style=\"text-anchor: end\">%s</text>\n",
                width - FG_PAD, below + 36, sb.buf);
    if (pruned_nodes > 0) {
        strbuf_addf(out, "<text class=\"note\" x=\"%d\" y=\"%d\">", FG_PAD,
                    below + 52);
        text_count(out, pruned_nodes);
        strbuf_addf(out,
                    " frame%s narrower than %g px not drawn: the stacks of ",
                    pruned_nodes == 1 ? "" : "s", min_w);
        text_value(out, p, pruned_samples);
        strbuf_addstr(out, " (");
        fg_pct(out, pruned_samples, t.v[0].total);
        strbuf_addstr(out, ") end early here; collapsed and speedscope "
                           "output keep every frame</text>\n");
    }
    strbuf_addstr(out, "</svg>\n");

    free(todo);
    free(d.fclass);
    strbuf_release(&sb);
    fg_tree_release(&t);
    return 0;
}
