/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: tabby-docker main loop
 *
 * HTTP over a unix socket we bind ourselves (dockerd finds plugins by socket file name:
 * /run/docker/plugins/<name>.sock), served by libmicrohttpd in external-epoll mode from one
 * thread: poll() on MHD's epoll fd and a signalfd, MHD_run(), then the driver's deferred work.
 * Requests are answered one at a time, in order, which is what the driver's state expects.
 * SIGTERM/SIGINT stop the loop; the socket file is removed; workloads keep running untouched.
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "cni/cni.h" /* CNI_NODENAME_FILE */
#include "datastore/datastore.h"
#include "docker/driver.h"
#include "lib/log.h"
#include "lib/strbuf.h"

static const char *arg_socket = "/run/docker/plugins/tabby.sock";
static const char *arg_docker_socket = "/var/run/docker.sock";
static const char *arg_state_dir = "/var/lib/tabby-docker";
static const char *arg_nodename;
static const char *arg_endpoints;
static const char *arg_log_level;

struct req {
	struct strbuf body;
	bool too_big;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: tabby-docker [OPTIONS]\n"
	    "Docker libnetwork remote network + IPAM driver for tabby.\n\n"
	    "  --socket PATH               plugin socket (default %s)\n"
	    "  --docker-socket PATH        dockerd API socket (default %s)\n"
	    "  --state-dir DIR             remembered networks (default %s)\n"
	    "  --nodename NAME             this host's node name (else TABBY_NODENAME, else "
	    "the first\n"
	    "                              line of " CNI_NODENAME_FILE ", else hostname)\n"
	    "  --datastore-endpoints LIST  etcd endpoints (else TABBY_DATASTORE_ENDPOINTS, else\n"
	    "                              http://127.0.0.1:2379)\n"
	    "  --log-level LEVEL           error|warning|info|debug (default info)\n",
	    arg_socket, arg_docker_socket, arg_state_dir);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"docker-socket", required_argument, NULL, 'd'},
	    {"state-dir", required_argument, NULL, 'S'},
	    {"nodename", required_argument, NULL, 'n'},
	    {"datastore-endpoints", required_argument, NULL, 'e'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			arg_socket = optarg;
			break;
		case 'd':
			arg_docker_socket = optarg;
			break;
		case 'S':
			arg_state_dir = optarg;
			break;
		case 'n':
			arg_nodename = optarg;
			break;
		case 'e':
			arg_endpoints = optarg;
			break;
		case 'l':
			arg_log_level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 1;
}

/* A stale socket file of an earlier run is replaced; anything else at the path is an error. */
/*
 * mkdir_parents() - create every missing directory above the file @path (mode 0755), as
 * `mkdir -p "$(dirname PATH)"`: /run/docker/plugins does not exist on a host where dockerd has
 * not run yet, and tabby-docker starts before docker.service.
 * Return: 0, or -errno of the first mkdir that failed (other than -EEXIST).
 */
static int mkdir_parents(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t len = strlen(path);
	char *p;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG, "socket path %s: too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return log_error_errno(-EEXIST, "%s exists and is not a socket", path);
		if (unlink(path) < 0)
			return log_error_errno(-errno, "unlink stale %s: %m", path);
	}
	r = mkdir_parents(path);
	if (r < 0)
		return log_error_errno(r, "create the directory of %s: %m", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_error_errno(-errno, "socket: %m");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "bind/listen %s: %m", path);
	}
	return fd;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, char *text)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/vnd.docker.plugins.v1+json");
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct dk_driver *d = cls;
	struct req *rq = *con_cls;
	char *text = NULL;
	int status = 500;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		strbuf_init(&rq->body);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->body.len + *upload_size > DK_MAX_BODY ||
		    strbuf_append(&rq->body, upload, *upload_size) < 0)
			rq->too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0)
		return reply(conn, 405, strdup("{\"Err\":\"only POST is supported\"}"));
	if (rq->too_big)
		return reply(conn, 413, strdup("{\"Err\":\"request body too large\"}"));
	if (dk_driver_handle(d, url, rq->body.len ? strbuf_cstr(&rq->body) : "", &status, &text) <
	    0)
		return MHD_NO;
	return reply(conn, status, text);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq) {
		strbuf_done(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static int run(struct dk_driver *d, int listen_fd)
{
	struct MHD_Daemon *mhd;
	const union MHD_DaemonInfo *info;
	sigset_t mask;
	int sfd, r = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return log_error_errno(-errno, "signalfd: %m");

	mhd =
	    MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, d, MHD_OPTION_LISTEN_SOCKET,
			     listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
	if (!mhd) {
		close(sfd);
		return log_error_errno(-EIO, "cannot start the HTTP server");
	}
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		MHD_stop_daemon(mhd);
		close(sfd);
		return log_error_errno(-EIO, "no epoll fd from libmicrohttpd");
	}

	for (;;) {
		struct pollfd pfd[2] = {
		    {.fd = info->epoll_fd, .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		};
		MHD_UNSIGNED_LONG_LONG mhd_to;
		int timeout = dk_driver_tick(d);

		if (MHD_get_timeout(mhd, &mhd_to) == MHD_YES &&
		    (timeout < 0 || mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout))
			timeout = mhd_to > 60000 ? 60000 : (int)mhd_to;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			r = log_error_errno(-errno, "poll: %m");
			break;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("signal %u, exiting", si.ssi_signo);
				break;
			}
		}
		MHD_run(mhd);
	}
	MHD_stop_daemon(mhd);
	close(sfd);
	return r;
}

/*
 * read_nodename_file() - the first line of CNI_NODENAME_FILE, which tabby-felix writes at start
 * (its nodenameFile), into @buf of @len bytes; the same fallback the CNI plugin uses, so that
 * tabby-docker and the CNI plugin name the same Node on a host where felix runs.
 * Return: 0, or -errno (-ENOENT when the file does not exist, -ENODATA when its first line is
 * empty).
 */
static int read_nodename_file(char *buf, size_t len)
{
	FILE *f = fopen(CNI_NODENAME_FILE, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -ENODATA;
}

int main(int argc, char **argv)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_(dk_driver_freep) struct dk_driver *d = NULL;
	struct ds_config cfg = {};
	char host[256] = "";
	const char *node;
	int r, fd;

	log_set_ident("tabby-docker");
	log_set_level(LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	r = parse_args(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	if (arg_log_level) {
		r = log_parse_level(arg_log_level);
		if (r < 0) {
			log_error("--log-level: unknown level \"%s\"", arg_log_level);
			return 2;
		}
		log_set_level(r);
	}
	node = arg_nodename ?: getenv("TABBY_NODENAME");
	if ((!node || !*node) && read_nodename_file(host, sizeof(host)) == 0)
		node = host;
	if (!node || !*node) {
		if (gethostname(host, sizeof(host) - 1) < 0 || !*host) {
			log_error("no node name: pass --nodename");
			return 2;
		}
		node = host;
	}
	ds_config_from_env(&cfg);
	if (arg_endpoints)
		cfg.endpoints = arg_endpoints;
	if (!cfg.endpoints)
		cfg.endpoints = "http://127.0.0.1:2379";
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_error("curl_global_init failed");
		return 1;
	}
	r = ds_client_new(&cfg, &ds);
	if (r < 0) {
		log_error_errno(r, "datastore endpoints \"%s\": %m", cfg.endpoints);
		return 2;
	}
	r = dk_driver_new(&(struct dk_driver_config){.node = node,
						     .state_dir = arg_state_dir,
						     .docker_socket = arg_docker_socket,
						     .ds = ds},
			  &d);
	if (r < 0) {
		log_error_errno(r, "cannot start: %m");
		return 1;
	}
	fd = listen_unix(arg_socket);
	if (fd < 0)
		return 1;
	log_info("serving NetworkDriver and IpamDriver \"tabby\" on %s (node %s, dockerd %s)",
		 arg_socket, node, arg_docker_socket);
	r = run(d, fd);
	/* MHD closed the listening socket */
	unlink(arg_socket);
	curl_global_cleanup();
	return r < 0 ? 1 : 0;
}
