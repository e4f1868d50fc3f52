/*
 * test_push.c - unit tests of the Pyroscope sender's checks and queue.
 *
 * Layer: tests.  What push_check() takes and refuses (the names
 * Pyroscope's parser accepts), and the queue against a server that is
 * not there (127.0.0.1 port 1: refused at once): every profile queued is
 * either sent or counted as dropped, a full queue drops its oldest, and
 * push_finish() ends within its deadline.  Under the sanitizer build this
 * is also the sender thread's leak and race check.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/util.h"
#include "push/push.h"
#include "tap.h"

static void
opts(struct push_options *o, const char *url, const char *app)
{
    memset(o, 0, sizeof(*o));
    o->url = url;
    o->app = app;
    o->sample_rate = 100;
}

static void
test_check(void)
{
    static const struct {
        const char *url, *app, *label;
        int ok;
    } cases[] = {
        {"http://127.0.0.1:4040", "shop.api-v2_x", "env=prod", 1},
        {"https://user:pw@pyroscope.example.com/prefix/", "a", NULL, 1},
        {"ftp://x", "a", NULL, 0},
        {"not a url", "a", NULL, 0},
        {"http://x/?q=1", "a", NULL, 0},
        {"http://x", "", NULL, 0},
        {"http://x", "a b", NULL, 0},
        {"http://x", "a{b}", NULL, 0},
        {"http://x", "a", "k", 0},
        {"http://x", "a", "=v", 0},
        {"http://x", "a", "1k=v", 0},
        {"http://x", "a", "k=", 0},
        {"http://x", "a", "k=a,b", 0},
        {"http://x", "a", "k=a}", 0},
        {"http://x", "a", "__name__=x", 0},
        {"http://x", "a", "_k9=v w", 1},
    };
    struct push_options o;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        opts(&o, cases[i].url, cases[i].app);
        if (cases[i].label != NULL) {
            o.labels[o.nlabels++] = cases[i].label;
        }
        TAP_EQ_INT(push_check(&o), cases[i].ok ? 0 : PS_EUSAGE,
                   cases[i].label ? cases[i].label : cases[i].url);
    }
}

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_queue_against_no_server(void)
{
    struct push_options o;
    struct push_stats st;
    struct push *ps = NULL;
    FILE *log = tmpfile();
    char body[64];
    double t0;
    int i;

    opts(&o, "http://127.0.0.1:1", "a");
    o.queue_max = 2;
    o.log = log;
    TAP_EQ_INT(push_start(&o, &ps), 0, "the sender starts");
    memset(body, 'x', sizeof(body));
    for (i = 0; i < 5; i++) {
        push_send(ps, body, sizeof(body), 1000.0 + i, 1001.0 + i,
                  i % 2 ? "pid=7" : NULL);
    }
    t0 = mono();
    push_finish(ps, 0.5, 1, &st);
    TAP_OK(mono() - t0 < 5.0, "push_finish keeps to its deadline");
    TAP_EQ_INT((long long)st.queued, 5, "5 queued");
    TAP_EQ_INT((long long)st.sent, 0, "none sent");
    TAP_EQ_INT((long long)(st.dropped + st.refused), 5,
               "every one dropped, none lost silently");
    TAP_OK(st.attempts >= 1 && st.failures >= 1, "attempts failed");
    fclose(log);
}

int
main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_check();
    test_queue_against_no_server();
    return tap_done();
}
