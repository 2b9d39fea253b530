/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's BIRD driver (felix/dataplane/driver.h): render bird.conf from the BGP model, and only
 * when the bytes differ from the live file: write a temporary file beside it, validate it with
 * `bird -p -c`, rename it over the live file (atomic) and tell BIRD `configure` on its control
 * socket (confd's sync(): stage -> compare -> check -> rename -> reload).
 */

#include <stdint.h>

#include "bgp/bird-conf.h"
#include "felix/dataplane/driver.h"
#include "lib/macro.h"

struct dp_bird;

struct dp_bird_config {
	const char *conf_path; /* birdConfigFile; copied */
	const char *binary;    /* birdBinary, run as `<binary> -p -c <tmp>`; copied */
	const char *socket;    /* birdSocket, BIRD's control socket; copied */
};

/* What BIRD is doing with our configuration, for /readiness. */
enum dp_bird_state {
	DP_BIRD_PENDING,     /* no BGP model yet, or not applied yet */
	DP_BIRD_OK,	     /* the file is current and BIRD took it */
	DP_BIRD_NOT_RUNNING, /* the file is in place, BIRD not reachable (it reads it at start) */
	DP_BIRD_REJECTED,    /* BIRD refused the config we want and keeps the previous one */
	DP_BIRD_ERROR,	     /* render or file write failed */
};

/* Cumulative counts for felix_bird_reconfigure_total / felix_bird_config_rejected_total. */
struct dp_bird_counters {
	uint64_t reconfigured; /* successful `configure` commands */
	uint64_t rejected;     /* new texts refused by `bird -p` or by `configure` */
};

/** dp_bird_new() - a driver that has not read the file yet. No I/O. Return: 0 or -ENOMEM. */
int dp_bird_new(const struct dp_bird_config *cfg, struct dp_bird **ret) _warn_unused_result_;

/** dp_bird_free() - NULL-safe; leaves the file and BIRD as they are. Return: NULL. */
struct dp_bird *dp_bird_free(struct dp_bird *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dp_bird *, dp_bird_free);

/**
 * dp_bird_set_desired() - render @m (NULL: no model yet, keep the file as it is) into memory.
 * Peers with a password_file and no password get the file's first line as their MD5 password
 * (read here, never logged); the text is wiped when freed. Nothing is written.
 * Return: 1 when the desired text changed, 0 when it did not, or a negative errno (render or
 * password file failure, logged): the next apply then reports it and keeps the running config.
 */
int dp_bird_set_desired(struct dp_bird *b, const struct bgp_model *m);

/*
 * apply(): bring the file and BIRD in line with the desired text (mode 0600: it may hold
 * passwords). Returns DP_IDLE when in place (or rejected: retried only when the text changes),
 * else a retry delay (BIRD not running, write failure). stats.error says why.
 */
extern const struct dp_driver_ops dp_bird_ops;

/** dp_bird_state() - the state after the last apply (NULL-safe: PENDING). */
enum dp_bird_state dp_bird_state(const struct dp_bird *b);

/** dp_bird_counters() - cumulative configure/reject counts (NULL-safe: zeros). */
struct dp_bird_counters dp_bird_counters(const struct dp_bird *b);
