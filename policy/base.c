/*
 * policy/base.c - error-line formatting and slice helpers shared by all modules.
 *
 * Owns:     nothing.
 * Entry:    ag_err_add().
 */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int ag_err_add(struct ag_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return AG_EINVAL;
    if (err->n < AG_ERR_MAX) {
        va_start(ap, fmt);
        vsnprintf(err->line[err->n], AG_ERR_LINE, fmt, ap);
        va_end(ap);
    }
    err->n++;
    return AG_EINVAL;
}

