/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix entry point: parse the command line and the configuration, then run the agent.
 * Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 fatal runtime error, 2 bad usage or configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "felix/agent.h"
#include "felix/config.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* felix.yaml is a few hundred bytes; anything near this is not one. */
#define FELIX_CONFIG_MAX_BYTES (16u * 1024 * 1024)

extern char **environ;

/*
 * The node name, for the CNI plugin to read when its config names none (as calico-node writes
 * /var/lib/calico/nodename): "<name>\n" written to a temporary file and renamed over @path,
 * its directory created when missing. A failure is logged, not fatal: felix works without it.
 */
static void write_nodename(const char *path, const char *name)
{
	_cleanup_free_ char *dir = strdup(path), *text = NULL;
	char *slash = dir ? strrchr(dir, '/') : NULL;
	int len, r;

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn_errno(-errno, "nodenameFile: mkdir %s: %m", dir);
	}
	len = asprintf(&text, "%s\n", name);
	if (len < 0) {
		text = NULL;
		return;
	}
	r = file_write_atomic(path, text, (size_t)len, 0644);
	if (r < 0) {
		log_warn_errno(r, "nodenameFile: cannot write %s: %m", path);
		return;
	}
	log_info("node name %s saved in %s (nodenameFile)", name, path);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tabby-felix [--config FILE]\n"
		"  -c, --config FILE  agent configuration (default " FELIX_DEFAULT_CONFIG_FILE ")\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *arg_config = NULL;
	int c;

	log_set_ident("tabby-felix");
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tabby-felix %s\n", TABBY_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	_cleanup_strbuf_ struct strbuf text = {0};
	const char *path = arg_config ? arg_config : FELIX_DEFAULT_CONFIG_FILE;
	int r = file_read(path, FELIX_CONFIG_MAX_BYTES, &text);
	/* A missing default file means all defaults; a missing explicit file is an error. */
	if (r < 0 && !(r == -ENOENT && !arg_config)) {
		fprintf(stderr, "tabby-felix: %s: %s\n", path, strerror(-r));
		return 2;
	}

	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0) {
		host[0] = '\0';
	}
	struct felix_config cfg;
	struct parse_err err = {0};
	r = felix_config_parse(text.buf, text.len, path, environ, host[0] ? host : NULL, &cfg,
			       &err);
	if (r < 0) {
		char msg[1024];
		if (r == -EINVAL) {
			fprintf(stderr, "tabby-felix: %s\n",
				parse_err_format(&err, msg, sizeof(msg)));
		} else {
			fprintf(stderr, "tabby-felix: %s: %s\n", path, strerror(-r));
		}
		return 2;
	}
	log_set_level((enum log_level)cfg.log_level);
	write_nodename(cfg.nodename_file, cfg.node_name);

	r = felix_agent_run(&cfg);
	felix_config_done(&cfg);
	return r < 0 ? 1 : 0;
}
