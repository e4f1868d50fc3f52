/*
 * banned.h - libc calls pyspect must not use (after git's banned.h).
 *
 * Layer: core.  Included last by every .c file through common.h; using one
 * of these is a compile error.  Use strbuf, snprintf and strtol/strtoul
 * with full error checks instead.
 */
#ifndef PYSPECT_CORE_BANNED_H
#define PYSPECT_CORE_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef atoi
#define atoi(s) BANNED(atoi)
#undef atol
#define atol(s) BANNED(atol)
#undef alloca
#define alloca(n) BANNED(alloca)

#endif /* PYSPECT_CORE_BANNED_H */
