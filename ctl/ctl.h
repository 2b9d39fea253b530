/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * tabbyctl internals: the verbs (one file each group), the datastore connection shared by all of
 * them, and a small table printer. A verb returns 0 or a negative errno after printing its own
 * "tabbyctl: ..." message; main() turns any failure into exit status 1.
 */

#include <stdbool.h>
#include <stddef.h>

#include "datastore/datastore.h"
#include "lib/macro.h"
#include "model/model.h"

#define CTL_DEFAULT_ENDPOINTS "http://127.0.0.1:2379"
#define CTL_DEFAULT_BIRD_SOCKET "/run/bird/bird.ctl"
#define CTL_MAX_INPUT (64u << 20) /* bytes read from -f FILE */

/* Global options (systemd style: CLI-option globals start with arg_). */
extern const char *arg_endpoints;

/* Long option shared by every verb so that it may also follow the verb. */
#define CTL_OPT_ENDPOINTS 0x100
#define CTL_GLOBAL_LONGOPTS                                                       \
	{                                                                         \
		"datastore-endpoints", required_argument, NULL, CTL_OPT_ENDPOINTS \
	}

/** ctl_err() - print "tabbyctl: MESSAGE" on stderr. Return: -EINVAL, for `return ctl_err(...)`. */
int ctl_err(const char *fmt, ...) _printf_(1, 2);

/** ctl_ds_error() - "cannot reach the datastore at E: <strerror>". Return: @r. */
int ctl_ds_error(int r);

/** ctl_ds_open() - a client for arg_endpoints (plus TLS files from the environment). */
int ctl_ds_open(struct ds_client **ret) _warn_unused_result_;

/** ctl_read_input() - the whole of FILE, or of stdin for "-"; at most CTL_MAX_INPUT bytes. */
int ctl_read_input(const char *path, char **ret, size_t *ret_len) _warn_unused_result_;

/** ctl_parse_kind() - a KIND argument (model_kind_from_string()); prints the known kinds when
 * unknown. Return: 0 or -EINVAL. */
int ctl_parse_kind(const char *s, enum model_kind *ret) _warn_unused_result_;

/* A text table: header row plus rows, all cells copied. */
struct ctl_table {
	size_t ncols;
	char **cells; /* row-major, (nrows + 1) * ncols including the header */
	size_t nrows;
};

/** ctl_table_init() - a table with @ncols columns named by the NULL-terminated header. */
int ctl_table_init(struct ctl_table *t, const char *const *header) _warn_unused_result_;
/** ctl_table_add() - append a row of t->ncols strings (NULL prints as ""). */
int ctl_table_add(struct ctl_table *t, const char *const *row) _warn_unused_result_;
/** ctl_table_print() - calicoctl's layouts: @boxed = "+---+" grid, else columns 3 apart. */
void ctl_table_print(const struct ctl_table *t, bool boxed);
void ctl_table_done(struct ctl_table *t);

/* Verbs: @argc/@argv start at the verb's name (argv[0] = "apply", ...). */
int ctl_apply(int argc, char **argv); /* also create and replace (argv[0] decides) */
int ctl_delete(int argc, char **argv);
int ctl_get(int argc, char **argv);
int ctl_ipam(int argc, char **argv); /* ipam show | check | release (ctl-ipam.c) */
int ctl_node(int argc, char **argv);
int ctl_label(int argc, char **argv);  /* ctl-label.c */
int ctl_policy(int argc, char **argv); /* ctl-policy.c: policy explain */
/**
 * ctl_selector() - `selector test EXPR [key=value...]` (ctl-policy.c).
 * Return: the exit status itself, as grep's: 0 (matches), 1 (does not match), 2 (EXPR does not
 * parse, or a usage error).
 */
int ctl_selector(int argc, char **argv);
