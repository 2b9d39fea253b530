/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * I/O with BIRD 2: its control socket (the birdc protocol: numbered reply lines, "0000" ends a
 * reply, codes >= 8000 are errors; BIRD's doc "Remote control") and `bird -p -c` to validate a
 * config file.
 */

#include <stddef.h>

#include "lib/macro.h"

struct bird_protocol {
	char name[64];	/* "Mesh_198_18_0_12" */
	char proto[16]; /* "BGP", "Kernel", ... */
	char table[16];
	char state[16]; /* "up", "start", "down" */
	char since[32]; /* BIRD's time text */
	char info[128]; /* "Established", "Active  Socket: Connection refused", ... */
};

/**
 * bird_ctl_check_config() - run `<bird_bin> -p -c <path>` (bird_bin NULL = "bird").
 * @ret_msg: may be NULL; BIRD's message on failure (caller frees).
 * Return: 0 valid, -EINVAL rejected, -ENOENT no bird binary, -errno on spawn failure.
 */
int bird_ctl_check_config(const char *bird_bin, const char *path,
			  char **ret_msg) _warn_unused_result_;

/**
 * bird_ctl_configure() - send `configure "<conf_path>"` on the control socket @sock_path.
 * @ret_msg: may be NULL; BIRD's reply text (caller frees).
 * Return: 0 (reconfigured or "not changed"), -EINVAL (BIRD rejected the file), -ECONNREFUSED /
 * -ENOENT (BIRD not running), -ETIMEDOUT (no reply within 5000 ms), -EPROTO.
 */
int bird_ctl_configure(const char *sock_path, const char *conf_path,
		       char **ret_msg) _warn_unused_result_;

/**
 * bird_ctl_show_protocols() - `show protocols all`-free summary: `show protocols`, parsed.
 * @ret: array of @ret_n entries (caller frees with free()).
 * Return: 0, -ECONNREFUSED / -ENOENT (BIRD not running), -ETIMEDOUT, -EPROTO.
 */
int bird_ctl_show_protocols(const char *sock_path, struct bird_protocol **ret,
			    size_t *ret_n) _warn_unused_result_;
