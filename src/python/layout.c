/*
 * layout.c - lookup of CPython layout tables and by-index field access.
 *
 * Layer: python.  The tables themselves are generated (layouts_gen.c, by
 * tools/gen_layouts.py); this file finds the one for a given version and
 * gives name/index access to the fields of struct py_layout, built from the
 * same PY_LAYOUT_FIELDS X-macro as the struct, so it never goes out of step
 * with layout.h.  Used by `pyspect debug layout`, by the tests, and when
 * the target's own _Py_DebugOffsets are laid over a generated table.
 */
#include "layout.h"

#include <stddef.h>
#include <string.h>

#define PYL_NAME(name, comment) #name,
static const char *const field_names[] = {PY_LAYOUT_FIELDS(PYL_NAME)};
#undef PYL_NAME

#define PYL_OFFSET(name, comment) offsetof(struct py_layout, name),
static const size_t field_offsets[] = {PY_LAYOUT_FIELDS(PYL_OFFSET)};
#undef PYL_OFFSET

#define FIELD_COUNT ((int)(sizeof(field_names) / sizeof(field_names[0])))

_Static_assert(sizeof(field_names) / sizeof(field_names[0]) ==
                   sizeof(field_offsets) / sizeof(field_offsets[0]),
               "name and offset tables differ in length");

const struct py_layout *
py_layout_find(int major, int minor)
{
    for (int i = 0; i < py_layouts_generated_count; i++) {
        const struct py_layout *layout = py_layouts_generated[i];

        if (layout->major == major && layout->minor == minor) {
            return layout;
        }
    }
    return NULL;
}

int
py_layout_field_count(void)
{
    return FIELD_COUNT;
}

const char *
py_layout_field_name(int index)
{
    if (index < 0 || index >= FIELD_COUNT) {
        return NULL;
    }
    return field_names[index];
}

int32_t
py_layout_field_get(const struct py_layout *layout, int index)
{
    int32_t value;

    if (layout == NULL || index < 0 || index >= FIELD_COUNT) {
        return PYL_ABSENT;
    }
    memcpy(&value, (const char *)layout + field_offsets[index], sizeof(value));
    return value;
}

void
py_layout_field_set(struct py_layout *layout, int index, int32_t value)
{
    if (layout == NULL || index < 0 || index >= FIELD_COUNT) {
        return;
    }
    memcpy((char *)layout + field_offsets[index], &value, sizeof(value));
}

int
py_layout_field_index(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (strcmp(field_names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}
