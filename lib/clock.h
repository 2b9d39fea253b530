/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The monotonic clock (CLOCK_MONOTONIC), in one place. Not part of the pure core: pure code takes
 * time as a parameter (STYLE.md 6); drivers and the agent read it here.
 */

#include <stdint.h>

/** clock_mono_ms() - CLOCK_MONOTONIC in milliseconds. */
uint64_t clock_mono_ms(void);

/** clock_mono_us() - CLOCK_MONOTONIC in microseconds. */
uint64_t clock_mono_us(void);
