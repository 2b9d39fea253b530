/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdlib.h>

/* Scope-bound cleanup in the style of systemd: a `_cleanup_(foo_freep)` local is released when it
 * goes out of scope, and `*ret = TAKE_PTR(x)` hands ownership to the caller. GCC/Clang extension,
 * kept here so that the rest of the tree stays plain C17 (STYLE.md section 3). */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))

#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _ptr_ = (p); \
		(p) = NULL;                \
		_ptr_;                     \
	})

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Defines `static inline void funcp(type **p)` calling `func(*p)` when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
	static inline void func##p(type *p)     \
	{                                       \
		if (*p)                         \
			func(*p);               \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Keep the first error: RET_GATHER(r, step()) leaves r alone if it is already negative. */
#define RET_GATHER(ret, step)              \
	({                                 \
		int _r_ = (step);          \
		if ((ret) >= 0 && _r_ < 0) \
			(ret) = _r_;       \
		_r_;                       \
	})
