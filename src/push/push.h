/*
 * push.h - send profiles to a Grafana Pyroscope server as they are made.
 *
 * Layer: push (beside output: bytes in, the network out; it knows
 * nothing of profiles or targets).  A recorder hands over one encoded
 * profile per interval with push_send(), which only queues it and never
 * waits for the network; a sender thread posts the queue, oldest first,
 * to Pyroscope's HTTP ingest API, the one its agents use:
 *
 *     POST URL/ingest?name=APP{k=v,...}&from=S&until=S&format=pprof
 *                    &sampleRate=HZ&spyName=pyspect
 *
 * with the profile as the body (gzipped pprof), and Authorization:
 * Bearer TOKEN and X-Scope-OrgID: TENANT when given.  What an agent that
 * runs for weeks needs:
 *   - the queue holds at most queue_max profiles; when it is full
 *     the oldest is dropped (and counted): the newest data matters most;
 *   - a server that is down, slow (timeout) or answers 5xx, 408 or 429 is
 *     retried with exponential backoff (1 s doubling to 60 s), while new
 *     profiles queue;
 *   - any other 4xx means the request itself is wrong (a bad URL path, a
 *     bad token): that profile is dropped at once, never retried;
 *   - the first failure of a kind is logged at once, as one line; after
 *     that, what was sent, dropped and refused is summed up at most once
 *     a minute;
 *   - memory is the queue's, and the queue is bounded.
 * Lines go to the log stream given (stderr), "pyspect: push: ...".
 */
#ifndef PYSPECT_PUSH_PUSH_H
#define PYSPECT_PUSH_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PUSH_QUEUE_DEFAULT 32
#define PUSH_QUEUE_MAX 4096
#define PUSH_LABELS_MAX 16
#define PUSH_BACKOFF_MIN_S 1.0
#define PUSH_BACKOFF_MAX_S 60.0
#define PUSH_TIMEOUT_S 15.0
#define PUSH_LOG_EVERY_S 60.0

struct push_options {
    const char *url; /* http:// or https://, the server's base */
    const char *app; /* application name: [A-Za-z0-9_.-]+ */
    const char *labels[PUSH_LABELS_MAX]; /* "key=value" */
    size_t nlabels;
    const char *auth_token; /* NULL: none */
    const char *tenant;     /* X-Scope-OrgID; NULL: none */
    const char *cacert;     /* PEM file of CAs to trust; NULL: system's */
    double sample_rate;     /* Hz, for sampleRate */
    size_t queue_max;       /* profiles kept while the server is away;
                             * 0: PUSH_QUEUE_DEFAULT; at most
                             * PUSH_QUEUE_MAX */
    double timeout_s;       /* a request's limit; 0: PUSH_TIMEOUT_S */
    double backoff_min_s;   /* 0: PUSH_BACKOFF_MIN_S (tests shorten it) */
    double log_every_s;     /* 0: PUSH_LOG_EVERY_S */
    FILE *log;              /* NULL: stderr */
};

struct push_stats {
    uint64_t queued;   /* profiles handed to push_send() */
    uint64_t sent;     /* accepted by the server (2xx) */
    uint64_t dropped;  /* pushed out of a full queue, or left at the end */
    uint64_t refused;  /* answered with a 4xx: not retried */
    uint64_t attempts; /* requests made, retries included */
    uint64_t failures; /* requests that failed and were retried */
    uint64_t bytes;    /* bodies sent and accepted */
};

struct push;

/*
 * Check o: the URL's scheme, the application name, each label (a key of
 * [A-Za-z_][A-Za-z0-9_]*, not "__name__", and a value without , { } =),
 * which Pyroscope's name parser needs.  PS_EUSAGE with the reason.
 */
int push_check(const struct push_options *o);

/*
 * Check o, set up HTTP(S) and start the sender thread.  o and its
 * strings must outlive the push.  PS_EUSAGE for bad options, PS_EIO when
 * the HTTP library cannot start.
 */
int push_start(const struct push_options *o, struct push **out);

/*
 * Queue one profile (body, len bytes, copied) covering [from, until]
 * (seconds since the epoch).  extra is one more label ("pid=123") or
 * NULL.  Never blocks on the network: a full queue drops its oldest.
 */
void push_send(struct push *ps, const void *body, size_t len, double from,
               double until, const char *extra);

/* The server's URL as messages show it: without credentials. */
const char *push_url(const struct push *ps);

/*
 * Send what is queued for at most deadline_s seconds more (a profile
 * being retried gets one more try), stop the thread and free everything.
 * What could not be sent counts as dropped.  stats (may be NULL) gets
 * the totals; a last summary line is logged unless quiet.
 */
void push_finish(struct push *ps, double deadline_s, int quiet,
                 struct push_stats *stats);

#endif /* PYSPECT_PUSH_PUSH_H */
