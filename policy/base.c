/*
 * policy/base.c - error-line formatting and slice helpers shared by all modules.
 *
 * Owns:     nothing.
 * Entry:    ag_err_add(), ag_str_ieq().
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

int ag_str_ieq(struct ag_str a, const char *lit)
{
    size_t n = strlen(lit);

    return a.len == n && strncasecmp(a.p, lit, n) == 0;
}
