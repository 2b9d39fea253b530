/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabbyctl
 *
 * The admin CLI, shaped after calicoctl: apply/create/replace/delete/get resources in the
 * datastore, `label`, `ipam show|check|release`, `node status`, `selector test`, `policy
 * explain`. Every write verb decodes and validates the whole input first and writes nothing when
 * any document is wrong, so a file is applied entirely or not at all (short of the datastore
 * failing half-way, which is reported).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/log.h"

const char *arg_endpoints;

int ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tabbyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

int ctl_ds_error(int r)
{
	ctl_err("cannot reach the datastore at %s: %s", arg_endpoints, strerror(r < 0 ? -r : r));
	return r;
}

int ctl_ds_open(struct ds_client **ret)
{
	struct ds_config cfg = {};
	int r;

	ds_config_from_env(&cfg);
	cfg.endpoints = arg_endpoints;
	r = ds_client_new(&cfg, ret);
	if (r < 0)
		return ctl_err("invalid datastore endpoints \"%s\": %s", arg_endpoints,
			       strerror(-r));
	return 0;
}

int ctl_read_input(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = STDIN_FILENO;

	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;

			ctl_err("%s: %s", path, strerror(e));
			return -e;
		}
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *p;

			cap = cap ? 2 * cap : 65536;
			if (cap > CTL_MAX_INPUT + 4096)
				cap = CTL_MAX_INPUT + 4096;
			p = realloc(buf, cap);
			if (!p) {
				if (fd != STDIN_FILENO)
					close(fd);
				return -ENOMEM;
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			if (fd != STDIN_FILENO)
				close(fd);
			ctl_err("%s: %s", path, strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CTL_MAX_INPUT) {
			if (fd != STDIN_FILENO)
				close(fd);
			ctl_err("%s: larger than %u bytes", path, CTL_MAX_INPUT);
			return -EFBIG;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (!buf) {
		buf = strdup("");
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int ctl_table_init(struct ctl_table *t, const char *const *header)
{
	size_t n = 0;

	while (header[n])
		n++;
	*t = (struct ctl_table){.ncols = n};
	t->nrows = (size_t)-1; /* the header row is row "-1" */
	return ctl_table_add(t, header);
}

int ctl_table_add(struct ctl_table *t, const char *const *row)
{
	size_t base = (t->nrows + 1) * t->ncols;
	char **cells = realloc(t->cells, (base + t->ncols) * sizeof(char *));

	if (!cells)
		return -ENOMEM;
	t->cells = cells;
	for (size_t i = 0; i < t->ncols; i++) {
		cells[base + i] = strdup(row[i] ? row[i] : "");
		if (!cells[base + i]) {
			while (i-- > 0)
				free(cells[base + i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

void ctl_table_done(struct ctl_table *t)
{
	for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct ctl_table){};
}

static void print_rule(const size_t *w, size_t ncols)
{
	for (size_t c = 0; c < ncols; c++) {
		putchar('+');
		for (size_t i = 0; i < w[c] + 2; i++)
			putchar('-');
	}
	puts("+");
}

void ctl_table_print(const struct ctl_table *t, bool boxed)
{
	size_t w[16] = {};
	size_t ncols = MIN(t->ncols, ELEMENTSOF(w));

	for (size_t r = 0; r <= t->nrows; r++)
		for (size_t c = 0; c < ncols; c++)
			w[c] = MAX(w[c], strlen(t->cells[r * t->ncols + c]));
	if (boxed)
		print_rule(w, ncols);
	for (size_t r = 0; r <= t->nrows; r++) {
		size_t last = ncols;

		/* plain layout: no padding after the last non-empty cell */
		while (!boxed && last > 1 && !t->cells[r * t->ncols + last - 1][0])
			last--;
		for (size_t c = 0; c < last; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (boxed)
				printf("| %-*s ", (int)w[c], s);
			else if (c + 1 < last)
				printf("%-*s   ", (int)w[c], s);
			else
				printf("%s", s);
		}
		puts(boxed ? "|" : "");
		if (boxed && r == 0)
			print_rule(w, ncols);
	}
	if (boxed)
		print_rule(w, ncols);
}

static void usage(FILE *f)
{
	fputs(
	    "Usage: tabbyctl [--datastore-endpoints E] COMMAND [OPTIONS]\n"
	    "\n"
	    "Commands:\n"
	    "  apply   -f FILE|-                 create or replace the resources in FILE (with\n"
	    "          metadata.resourceVersion: only if still at that revision; also replace)\n"
	    "  create  -f FILE|-                 create them (fails if any exists)\n"
	    "  replace -f FILE|-                 replace them (fails if any is missing)\n"
	    "  delete  -f FILE|- | KIND NAME [-n NS] [--skip-not-exists] [--cascade]\n"
	    "          (a Namespace holding policies or sets, a Tier holding policies:\n"
	    "          refused, or deleted with them under --cascade)\n"
	    "  get     KIND [NAME] [-n NS | -A] [-o yaml|json|wide]\n"
	    "  ipam    show [--show-blocks]\n"
	    "  ipam    check [--show-all-ips] [-o json]  leaks, unallocated and duplicate IPs,\n"
	    "          handle and affinity records (exit 1 when anything is found)\n"
	    "  ipam    release --ip IP [--force]   free a leaked address (refused while a\n"
	    "          WorkloadEndpoint lists it, unless --force)\n"
	    "  ipam    gc [--dry-run] [--grace 15m]  release leaks: stale affinities, empty\n"
	    "          blocks of deleted nodes, addresses no endpoint listed for the grace period\n"
	    "  node    status [--bird-socket PATH] [-o json]\n"
	    "  label   KIND NAME key=value|key-... [-n NS] [--overwrite]\n"
	    "  selector test 'EXPR' [key=value...]   true (exit 0) / false (exit 1); 2 = syntax\n"
	    "  policy  explain NAMESPACE/WORKLOAD [--from IP | --to IP] [--proto tcp|udp|icmp|N]\n"
	    "          [--port N] [-o json]            the policies that apply, and a flow's verdict\n"
	    "  version                           tabbyctl's version\n"
	    "\n"
	    "KIND: ippool (ipp), node (no), workloadendpoint (wep), bgpconfiguration\n"
	    "  (bgpconfig), bgppeer (bgpp), networkpolicy (np), globalnetworkpolicy (gnp), tier,\n"
	    "  networkset (netset), globalnetworkset (gnetset), hostendpoint (hep), profile,\n"
	    "  felixconfiguration (felixconfig), namespace (ns), kubernetesnetworkpolicy (knp);\n"
	    "  plural forms too. -n NS / -A for the namespaced\n"
	    "  kinds (workloadendpoint, networkpolicy, networkset, kubernetesnetworkpolicy).\n"
	    "The datastore is --datastore-endpoints, else $TABBY_DATASTORE_ENDPOINTS, else\n" CTL_DEFAULT_ENDPOINTS
	    ".\n",
	    f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *env = getenv("TABBY_DATASTORE_ENDPOINTS");
	int c, r;

	log_set_ident("tabbyctl");
	arg_endpoints = env && *env ? env : CTL_DEFAULT_ENDPOINTS;
	/* "+": stop at the verb; the verb parses the rest */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
		switch (c) {
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	argv += optind;
	argc -= optind;
	optind = 0; /* reset getopt for the verb (0 also re-reads GNU extensions) */
	if (strcmp(argv[0], "apply") == 0 || strcmp(argv[0], "create") == 0 ||
	    strcmp(argv[0], "replace") == 0)
		r = ctl_apply(argc, argv);
	else if (strcmp(argv[0], "delete") == 0)
		r = ctl_delete(argc, argv);
	else if (strcmp(argv[0], "get") == 0)
		r = ctl_get(argc, argv);
	else if (strcmp(argv[0], "ipam") == 0)
		r = ctl_ipam(argc, argv);
	else if (strcmp(argv[0], "node") == 0)
		r = ctl_node(argc, argv);
	else if (strcmp(argv[0], "label") == 0)
		r = ctl_label(argc, argv);
	else if (strcmp(argv[0], "policy") == 0)
		r = ctl_policy(argc, argv);
	else if (strcmp(argv[0], "selector") == 0)
		return ctl_selector(argc,
				    argv); /* its own exit status: 0 true, 1 false, 2 syntax */
	else if (strcmp(argv[0], "version") == 0) {
		/* calicoctl version's layout; the cluster part needs no datastore access */
		printf("Client Version:    v%s\n", TABBY_VERSION);
		printf("Datastore:         etcdv3 (%s)\n", arg_endpoints);
		return 0;
	} else if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	} else {
		ctl_err("unknown command \"%s\"", argv[0]);
		usage(stderr);
		return 1;
	}
	fflush(stdout);
	return r < 0 ? 1 : 0;
}
