/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "lib/macro.h"

/* Where and why input was refused. Pure parsers fill one instead of logging (STYLE.md section 4):
 * "pool.yaml:4:9: spec.cidr: invalid CIDR \"10.0.0.0/33\"". line and column count from 1; 0
 * means unknown. */
struct parse_err {
	char file[256]; /* input name as the user gave it ("-" for stdin); "" if none */
	unsigned line;
	unsigned column;
	char field[128]; /* dotted path of the field ("spec.cidr", "metadata.name"); "" if none */
	char msg[384];
};

/**
 * parse_err_set() - fill @err (when not NULL) and return -EINVAL.
 * @file: input name, or NULL to keep what @err already holds.
 * @field: dotted field path, or NULL for none.
 * Return: -EINVAL always, so parsers can `return parse_err_set(...)`.
 */
int parse_err_set(struct parse_err *err, const char *file, unsigned line, unsigned column,
		  const char *field, const char *fmt, ...) _printf_(6, 7);

/**
 * parse_err_format() - "FILE:LINE:COL: FIELD: MSG" (parts that are unknown are left out) into
 * @buf of @size bytes. Return: @buf.
 */
char *parse_err_format(const struct parse_err *err, char *buf, size_t size);
