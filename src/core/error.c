/*
 * error.c - the table behind error.h and the per-thread context line.
 *
 * Layer: core.
 */
#include "error.h"

#include <stdarg.h>
#include <string.h>

#include "core/escape.h"

struct err_entry {
    int code;
    const char *name;
    enum err_class cls;
    int status;
    const char *message;
    const char *hint;
};

static const struct err_entry err_table[] = {
#define PS_ERR_ROW(code, value, cls, status, msg, hint)                       \
    {code, #code, cls, status, msg, hint},
    PS_ERRORS(PS_ERR_ROW)
#undef PS_ERR_ROW
};

static _Thread_local char err_ctx[512];

static const struct err_entry *
err_lookup(int code)
{
    size_t i;

    for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].code == code) {
            return &err_table[i];
        }
    }
    return NULL;
}

int
err_set(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err_ctx, sizeof(err_ctx), fmt, ap);
    va_end(ap);
    return code;
}

void
err_clear(void)
{
    err_ctx[0] = '\0';
}

const char *
err_context(void)
{
    return err_ctx;
}

const char *
err_message(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e ? e->message : "unknown error";
}

const char *
err_hint(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e ? e->hint : NULL;
}

enum err_class
err_class(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e ? e->cls : ERR_CLASS_FATAL;
}

int
err_exit_status(int code)
{
    const struct err_entry *e = err_lookup(code);

    if (code == 0) {
        return 0;
    }
    return e ? e->status : 1;
}

const char *
err_name(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e ? e->name : "PS_EUNKNOWN";
}

void
err_report(FILE *stream, int code)
{
    const char *hint = err_hint(code);

    fputs("pyspect: ", stream);
    if (err_ctx[0] != '\0') {
        /* The context may name what the target chose: escaped. */
        fprintf(stream, "%s: ", esc(err_ctx));
    }
    fputs(err_message(code), stream);
    if (hint != NULL) {
        fprintf(stream, " (%s)", hint);
    }
    fputc('\n', stream);
}
