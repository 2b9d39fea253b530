/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz-*.c) and the corpus replay driver. A harness
 * does no I/O: it parses the bytes it is given and checks invariants, calling abort() (via
 * FUZZ_ASSERT) when one fails so that libFuzzer and the replay driver report the input. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* Largest input a harness looks at: the parsers have their own limits, this only keeps the
 * fuzzer from spending its time on megabyte inputs. */
#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, ...)                                                               \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: assertion failed: %s: ", __FILE__, __LINE__, \
				#cond);                                                      \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* Parsers log at debug at most; silence the rest (the datastore watch logs at info). */
static inline void fuzz_setup(void)
{
	static int done;

	if (!done) {
		log_set_level(LOG_LEVEL_ERROR);
		done = 1;
	}
}

/* A NUL-terminated copy of the input (for parsers that take C strings); NULL on ENOMEM. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}
