/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's BIRD driver: render bird.conf from the BGP model, and only when the bytes differ from
 * the live file: write a temporary file beside it, validate it with `bird -p -c`, rename it over
 * the live file (atomic) and tell BIRD `configure` on its control socket (confd's sync():
 * stage -> compare -> check -> rename -> reload).
 */

#include <stdbool.h>

#include "bgp/bird-conf.h"
#include "lib/macro.h"

struct felix_bird {
	const char *conf_path;	/* borrowed: birdConfigFile */
	const char *binary;	/* borrowed: birdBinary */
	const char *socket;	/* borrowed: birdSocket */
	bool configure_pending; /* the file changed but BIRD has not been told yet */
	bool told_not_running;	/* "BIRD is not running" was logged at info already */
	char *rejected;		/* the last text BIRD refused (not retried until it changes) */
};

/**
 * felix_bird_apply() - bring the file and BIRD in line with @m.
 * Peers with a password_file and no password get the file's first line as their MD5 password
 * (read here, never logged); an unreadable file fails the apply and keeps the running config.
 * The file is written with mode 0600 (it may hold passwords).
 * Return: 0 when the file is current and BIRD was told (or did not need to be), 1 when the file
 * is in place but BIRD could not be reached (it reads the file when it starts; configure is
 * retried on the next apply), -EINVAL when BIRD rejected the rendered config (the old file is
 * kept; logged), or another -errno (render or file write failure; logged).
 */
int felix_bird_apply(struct felix_bird *b, const struct bgp_model *m) _warn_unused_result_;

/** felix_bird_done() - free what @b owns. */
void felix_bird_done(struct felix_bird *b);
