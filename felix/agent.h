/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "felix/config.h"
#include "lib/macro.h"

/**
 * felix_agent_run() - run tabby-felix with @cfg until SIGTERM/SIGINT: register the Node, ensure
 * an IPv4 block, watch /tabby/v1/, and program the host (routes, neighbours, sysctls, bird.conf)
 * once the watch is in sync. Blocks SIGTERM, SIGINT and SIGHUP and reads them from a signalfd.
 * Return: 0 on a clean stop (routes are left in place), or a negative errno for a fatal error
 * (logged).
 */
int felix_agent_run(const struct felix_config *cfg);
