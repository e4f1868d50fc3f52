/*
 * push.c - a bounded queue of profiles and the thread that posts them
 * to Pyroscope's ingest API with libcurl.
 *
 * Layer: push.  See push.h for the protocol and the promises.  Two
 * threads meet here: the recorder's (push_send, push_finish) and the
 * sender's (everything that touches the network).  One mutex guards the
 * queue, the counters and the stop flag; the sender never holds it while
 * a request is under way, and the recorder never waits for more than
 * that mutex.  The profile being sent is taken off the queue first, so a
 * full queue can drop its oldest without pulling a body from under a
 * request in flight.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "push/push.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

struct push_item {
    char *body;
    size_t len;
    double from, until;
    char *extra; /* one more label, or NULL */
};

/* What happened since the last summary line. */
struct push_window {
    uint64_t sent, dropped, refused, failures;
};

struct push {
    const struct push_options *o;
    FILE *log;
    char *ingest;  /* URL of the ingest endpoint */
    char *display; /* the same without credentials, for messages */
    CURL *curl;
    struct curl_slist *headers;
    struct strbuf response; /* the start of an answer's body */
    char errbuf[CURL_ERROR_SIZE];
    pthread_t thread;
    int thread_started;

    /* Under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct push_item *queue; /* a ring of qmax */
    size_t qmax, head, n;
    int stopping;
    double deadline; /* monotonic seconds; after it, give up */
    struct push_stats stats;
    struct push_window window;
    char last_failure[256];
    double next_summary;
};

static double
mono_s(void)
{
    return (double)clock_now_ns() / 1e9;
}

static void
item_free(struct push_item *it)
{
    free(it->body);
    free(it->extra);
    memset(it, 0, sizeof(*it));
}

/* ---- checks ------------------------------------------------------------ */

static int
valid_key(const char *k, size_t n)
{
    size_t i;

    if (n == 0 || !(k[0] == '_' || (k[0] >= 'a' && k[0] <= 'z') ||
                    (k[0] >= 'A' && k[0] <= 'Z'))) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = k[i];

        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return !(n == 8 && memcmp(k, "__name__", 8) == 0);
}

static int
check_label(const char *label)
{
    const char *eq = strchr(label, '=');

    if (eq == NULL || !valid_key(label, (size_t)(eq - label))) {
        return err_set(PS_EUSAGE,
                       "label '%s' is not KEY=VALUE with a KEY of letters, "
                       "digits and _",
                       label);
    }
    if (eq[1] == '\0' || strpbrk(eq + 1, ",{}=") != NULL) {
        return err_set(PS_EUSAGE,
                       "label '%s': the value must be non-empty and hold "
                       "no , { } or =",
                       label);
    }
    return 0;
}

/* Check the URL's parts; *display (display may be NULL) gets a copy of
 * it without credentials, for messages. */
static int
check_url(const char *url, char **display)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *query = NULL, *shown = NULL;
    int rc = 0;

    if (h == NULL) {
        return err_set(PS_EIO, "cannot parse URLs (out of memory)");
    }
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = err_set(PS_EUSAGE,
                     "--push '%s' is not a URL (give http://HOST:PORT or "
                     "https://HOST)",
                     url);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = err_set(PS_EUSAGE, "--push '%s': only http:// and https://", url);
        goto out;
    }
    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        rc = err_set(PS_EUSAGE,
                     "--push '%s': give the server's base URL, without a "
                     "query",
                     url);
        goto out;
    }
    if (display != NULL) {
        curl_url_set(h, CURLUPART_USER, NULL, 0);
        curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
        curl_url_get(h, CURLUPART_URL, &shown, 0);
        *display = xstrdup(shown ? shown : url);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_free(shown);
    curl_url_cleanup(h);
    return rc;
}

int
push_check(const struct push_options *o)
{
    const char *c;
    size_t i;
    int rc;

    if (o->app == NULL || *o->app == '\0') {
        return err_set(PS_EUSAGE, "--push needs --app NAME");
    }
    for (c = o->app; *c; c++) {
        if (!(*c == '-' || *c == '.' || *c == '_' ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9'))) {
            return err_set(PS_EUSAGE,
                           "--app '%s': use letters, digits, '.', '-' and "
                           "'_' only",
                           o->app);
        }
    }
    if (o->queue_max > PUSH_QUEUE_MAX) {
        return err_set(PS_EUSAGE, "a queue of at most %d profiles",
                       PUSH_QUEUE_MAX);
    }
    for (i = 0; i < o->nlabels; i++) {
        rc = check_label(o->labels[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return check_url(o->url, NULL);
}

/* ---- one request ------------------------------------------------------- */

enum push_result {
    PUSH_OK,
    PUSH_RETRY,  /* down, slow, 5xx, 408, 429: try again later */
    PUSH_REFUSED /* another answer: the request is wrong, drop it */
};

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct strbuf *sb = ctx;

    /* Keep the start of an answer: an error message is short. */
    if (sb->len < 512) {
        strbuf_add(sb, data, size * n < 512 ? size * n : 512);
    }
    return size * n;
}

static void
add_param(struct push *ps, struct strbuf *url, const char *key,
          const char *value)
{
    char *esc = curl_easy_escape(ps->curl, value, 0);

    strbuf_addf(url, "%c%s=%s", strchr(url->buf, '?') ? '&' : '?', key,
                esc ? esc : "");
    curl_free(esc);
}

/* The first line of an answer's body, cleaned for a log line. */
static void
first_line(const struct strbuf *body, struct strbuf *out)
{
    size_t i;

    for (i = 0; i < body->len && i < 160; i++) {
        unsigned char c = (unsigned char)body->buf[i];

        if (c == '\n' || c == '\r') {
            break;
        }
        strbuf_addch(out, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
}

static enum push_result
post(struct push *ps, const struct push_item *it, double timeout_s,
     struct strbuf *why)
{
    const struct push_options *o = ps->o;
    struct strbuf url = STRBUF_INIT, name = STRBUF_INIT;
    long status = 0;
    double until = floor(it->until) > floor(it->from) ? floor(it->until)
                                                      : floor(it->from) + 1;
    size_t i;
    CURLcode cc;
    enum push_result res;

    strbuf_addstr(&name, o->app);
    if (o->nlabels > 0 || it->extra != NULL) {
        strbuf_addch(&name, '{');
        for (i = 0; i < o->nlabels; i++) {
            strbuf_addf(&name, "%s%s", i ? "," : "", o->labels[i]);
        }
        if (it->extra != NULL) {
            strbuf_addf(&name, "%s%s", o->nlabels ? "," : "", it->extra);
        }
        strbuf_addch(&name, '}');
    }
    strbuf_addstr(&url, ps->ingest);
    add_param(ps, &url, "name", name.buf);
    strbuf_addf(&url, "&from=%.0f&until=%.0f&format=pprof", floor(it->from),
                until);
    strbuf_addf(&url, "&sampleRate=%.0f&spyName=pyspect",
                o->sample_rate > 0 ? o->sample_rate : 100.0);

    strbuf_reset(&ps->response);
    ps->errbuf[0] = '\0';
    curl_easy_setopt(ps->curl, CURLOPT_URL, url.buf);
    curl_easy_setopt(ps->curl, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(ps->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)it->len);
    curl_easy_setopt(ps->curl, CURLOPT_TIMEOUT_MS,
                     (long)(timeout_s * 1000) > 0 ? (long)(timeout_s * 1000)
                                                  : 1L);
    curl_easy_setopt(ps->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(fmin(timeout_s, 10.0) * 1000) > 0
                         ? (long)(fmin(timeout_s, 10.0) * 1000)
                         : 1L);
    cc = curl_easy_perform(ps->curl);
    if (cc != CURLE_OK) {
        strbuf_addstr(why, *ps->errbuf ? ps->errbuf : curl_easy_strerror(cc));
        res = PUSH_RETRY;
        goto out;
    }
    curl_easy_getinfo(ps->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        res = PUSH_OK;
        goto out;
    }
    strbuf_addf(why, "HTTP %ld", status);
    if (ps->response.len > 0) {
        strbuf_addstr(why, ": ");
        first_line(&ps->response, why);
    }
    res = status >= 500 || status == 408 || status == 429 ? PUSH_RETRY
                                                          : PUSH_REFUSED;
out:
    strbuf_release(&url);
    strbuf_release(&name);
    return res;
}

/* ---- the sender thread -------------------------------------------------- */

static void
wait_until(struct push *ps, double when)
{
    struct timespec ts;
    double s = floor(when);

    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((when - s) * 1e9);
    pthread_cond_timedwait(&ps->cond, &ps->lock, &ts);
}

/* At most once a minute: what went wrong since the last line. */
static void
summary_locked(struct push *ps, double now, int force)
{
    struct push_window *w = &ps->window;

    if (!force && now < ps->next_summary) {
        return;
    }
    if (w->dropped || w->refused || w->failures) {
        struct strbuf sb = STRBUF_INIT;

        strbuf_addf(&sb,
                    "pyspect: push: %s: lately %llu profiles sent, %llu "
                    "dropped (queue full), %llu refused, %llu attempts "
                    "failed",
                    ps->display, (unsigned long long)w->sent,
                    (unsigned long long)w->dropped,
                    (unsigned long long)w->refused,
                    (unsigned long long)w->failures);
        if (*ps->last_failure) {
            strbuf_addf(&sb, " (last: %s)", ps->last_failure);
        }
        fprintf(ps->log, "%s\n", sb.buf);
        fflush(ps->log);
        strbuf_release(&sb);
        memset(w, 0, sizeof(*w));
        ps->last_failure[0] = '\0';
    }
    ps->next_summary =
        now + (ps->o->log_every_s > 0 ? ps->o->log_every_s : PUSH_LOG_EVERY_S);
}

static void *
sender(void *arg)
{
    struct push *ps = arg;
    const struct push_options *o = ps->o;
    double backoff_min =
        o->backoff_min_s > 0 ? o->backoff_min_s : PUSH_BACKOFF_MIN_S;
    double backoff = backoff_min, timeout;
    struct push_item it;
    struct strbuf why = STRBUF_INIT;
    int failing = 0, refused_logged = 0, tries_after_stop = 0;
    enum push_result res;

    memset(&it, 0, sizeof(it));
    pthread_mutex_lock(&ps->lock);
    for (;;) {
        double now = mono_s();

        summary_locked(ps, now, 0);
        if (it.body == NULL) {
            if (ps->n == 0) {
                if (ps->stopping) {
                    break;
                }
                wait_until(ps, ps->next_summary);
                continue;
            }
            it = ps->queue[ps->head];
            memset(&ps->queue[ps->head], 0, sizeof(ps->queue[ps->head]));
            ps->head = (ps->head + 1) % ps->qmax;
            ps->n--;
            tries_after_stop = 0;
        }
        if (ps->stopping && (now >= ps->deadline || tries_after_stop > 0)) {
            /* Out of time, or one last try made: what is left is lost. */
            ps->stats.dropped += 1 + ps->n;
            item_free(&it);
            while (ps->n > 0) {
                item_free(&ps->queue[ps->head]);
                ps->head = (ps->head + 1) % ps->qmax;
                ps->n--;
            }
            break;
        }
        timeout = o->timeout_s > 0 ? o->timeout_s : PUSH_TIMEOUT_S;
        if (ps->stopping) {
            timeout = fmin(timeout, ps->deadline - now);
            tries_after_stop++;
        }
        ps->stats.attempts++;
        pthread_mutex_unlock(&ps->lock);

        strbuf_reset(&why);
        res = post(ps, &it, timeout, &why);

        pthread_mutex_lock(&ps->lock);
        now = mono_s();
        if (res == PUSH_OK) {
            ps->stats.sent++;
            ps->stats.bytes += it.len;
            ps->window.sent++;
            if (failing) {
                fprintf(ps->log,
                        "pyspect: push: %s: sending again after %d failed "
                        "attempts\n",
                        ps->display, failing);
                fflush(ps->log);
            }
            failing = 0;
            backoff = backoff_min;
            item_free(&it);
            continue;
        }
        if (res == PUSH_REFUSED) {
            ps->stats.refused++;
            ps->window.refused++;
            snprintf(ps->last_failure, sizeof(ps->last_failure), "%s",
                     why.buf);
            if (!refused_logged) {
                /* Once: the same mistake would repeat every interval. */
                fprintf(ps->log,
                        "pyspect: push: %s refused a profile: %s (check "
                        "the URL, --app, --label and the token)\n",
                        ps->display, why.buf);
                fflush(ps->log);
                refused_logged = 1;
            }
            item_free(&it);
            continue;
        }
        ps->stats.failures++;
        ps->window.failures++;
        snprintf(ps->last_failure, sizeof(ps->last_failure), "%s", why.buf);
        if (failing++ == 0) {
            fprintf(ps->log,
                    "pyspect: push: %s: %s; retrying, profiles queue "
                    "meanwhile\n",
                    ps->display, why.buf);
            fflush(ps->log);
        }
        if (!ps->stopping) {
            double until = now + backoff;

            while (!ps->stopping && mono_s() < until) {
                wait_until(ps, until);
            }
            backoff = fmin(backoff * 2, PUSH_BACKOFF_MAX_S);
        }
    }
    summary_locked(ps, mono_s(), 1);
    pthread_mutex_unlock(&ps->lock);
    strbuf_release(&why);
    return NULL;
}

/* ---- the recorder's side ------------------------------------------------- */

/*
 * Start the sender thread with every signal blocked but the faults a
 * bug of its own would raise: a signal sent to pyspect (Ctrl-C, SIGTERM,
 * a stop) is then taken by the sampling thread, whose handlers act on
 * it, and never runs the pause's guard on this thread, which cannot let
 * the target go (only the thread that seized a target can release it).
 */
static int
start_sender(struct push *ps)
{
    static const int faults[] = {SIGSEGV, SIGBUS,  SIGFPE,
                                 SIGILL,  SIGTRAP, SIGSYS};
    sigset_t all, old;
    size_t i;
    int rc;

    sigfillset(&all);
    for (i = 0; i < ARRAY_SIZE(faults); i++) {
        sigdelset(&all, faults[i]);
    }
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&ps->thread, NULL, sender, ps);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int
push_start(const struct push_options *o, struct push **out)
{
    struct push *ps;
    pthread_condattr_t attr;
    struct strbuf sb = STRBUF_INIT;
    size_t len;
    int rc;

    *out = NULL;
    rc = push_check(o);
    if (rc < 0) {
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return err_set(PS_EIO, "cannot start libcurl");
    }
    ps = xcalloc(1, sizeof(*ps));
    ps->o = o;
    ps->qmax = o->queue_max > 0 ? o->queue_max : PUSH_QUEUE_DEFAULT;
    ps->queue = xcalloc(ps->qmax, sizeof(*ps->queue));
    ps->log = o->log ? o->log : stderr;
    strbuf_init(&ps->response);
    check_url(o->url, &ps->display);
    /* The ingest endpoint below the base URL (a prefix path, as behind a
     * proxy, is kept), unless it is given already. */
    strbuf_addstr(&sb, o->url);
    while (sb.len > 0 && sb.buf[sb.len - 1] == '/') {
        sb.buf[--sb.len] = '\0';
    }
    len = strlen("/ingest");
    if (sb.len < len || strcmp(sb.buf + sb.len - len, "/ingest") != 0) {
        strbuf_addstr(&sb, "/ingest");
    }
    ps->ingest = strbuf_detach(&sb);

    ps->curl = curl_easy_init();
    if (ps->curl == NULL) {
        push_finish(ps, 0, 1, NULL);
        return err_set(PS_EIO, "cannot start libcurl");
    }
    curl_easy_setopt(ps->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ps->curl, CURLOPT_ERRORBUFFER, ps->errbuf);
    curl_easy_setopt(ps->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(ps->curl, CURLOPT_WRITEDATA, &ps->response);
    curl_easy_setopt(ps->curl, CURLOPT_USERAGENT, "pyspect/" PYSPECT_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(ps->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (o->cacert != NULL) {
        curl_easy_setopt(ps->curl, CURLOPT_CAINFO, o->cacert);
    }
    ps->headers = curl_slist_append(ps->headers,
                                    "Content-Type: application/octet-stream");
    /* No "Expect: 100-continue" round trip before each body. */
    ps->headers = curl_slist_append(ps->headers, "Expect:");
    if (o->auth_token != NULL) {
        strbuf_addf(&sb, "Authorization: Bearer %s", o->auth_token);
        ps->headers = curl_slist_append(ps->headers, sb.buf);
        strbuf_reset(&sb);
    }
    if (o->tenant != NULL) {
        strbuf_addf(&sb, "X-Scope-OrgID: %s", o->tenant);
        ps->headers = curl_slist_append(ps->headers, sb.buf);
        strbuf_reset(&sb);
    }
    strbuf_release(&sb);
    curl_easy_setopt(ps->curl, CURLOPT_HTTPHEADER, ps->headers);

    pthread_mutex_init(&ps->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ps->cond, &attr);
    pthread_condattr_destroy(&attr);
    ps->next_summary =
        mono_s() + (o->log_every_s > 0 ? o->log_every_s : PUSH_LOG_EVERY_S);
    rc = start_sender(ps);
    if (rc != 0) {
        push_finish(ps, 0, 1, NULL);
        return err_set(PS_EIO, "cannot start the sender thread: %s",
                       strerror(rc));
    }
    ps->thread_started = 1;
    *out = ps;
    return 0;
}

void
push_send(struct push *ps, const void *body, size_t len, double from,
          double until, const char *extra)
{
    struct push_item it;
    size_t tail;

    it.body = xmalloc(len ? len : 1);
    memcpy(it.body, body, len);
    it.len = len;
    it.from = from;
    it.until = until;
    it.extra = extra ? xstrdup(extra) : NULL;
    pthread_mutex_lock(&ps->lock);
    ps->stats.queued++;
    if (ps->n == ps->qmax) {
        /* Full: the server is down or slow.  The oldest goes. */
        item_free(&ps->queue[ps->head]);
        ps->head = (ps->head + 1) % ps->qmax;
        ps->n--;
        ps->stats.dropped++;
        ps->window.dropped++;
    }
    tail = (ps->head + ps->n) % ps->qmax;
    ps->queue[tail] = it;
    ps->n++;
    pthread_cond_signal(&ps->cond);
    pthread_mutex_unlock(&ps->lock);
}

const char *
push_url(const struct push *ps)
{
    return ps->display;
}

void
push_finish(struct push *ps, double deadline_s, int quiet,
            struct push_stats *stats)
{
    if (ps == NULL) {
        return;
    }
    if (ps->thread_started) {
        pthread_mutex_lock(&ps->lock);
        ps->stopping = 1;
        ps->deadline = mono_s() + deadline_s;
        pthread_cond_signal(&ps->cond);
        pthread_mutex_unlock(&ps->lock);
        pthread_join(ps->thread, NULL);
        if (!quiet) {
            fprintf(ps->log,
                    "pyspect: push: %s: %llu profiles sent (%llu bytes), "
                    "%llu dropped, %llu refused, %llu attempts failed\n",
                    ps->display, (unsigned long long)ps->stats.sent,
                    (unsigned long long)ps->stats.bytes,
                    (unsigned long long)ps->stats.dropped,
                    (unsigned long long)ps->stats.refused,
                    (unsigned long long)ps->stats.failures);
        }
        pthread_mutex_destroy(&ps->lock);
        pthread_cond_destroy(&ps->cond);
    }
    if (stats != NULL) {
        *stats = ps->stats;
    }
    while (ps->n > 0) {
        item_free(&ps->queue[ps->head]);
        ps->head = (ps->head + 1) % ps->qmax;
        ps->n--;
    }
    if (ps->curl != NULL) {
        curl_easy_cleanup(ps->curl);
    }
    curl_slist_free_all(ps->headers);
    strbuf_release(&ps->response);
    free(ps->ingest);
    free(ps->display);
    free(ps->queue);
    free(ps);
    curl_global_cleanup();
}
