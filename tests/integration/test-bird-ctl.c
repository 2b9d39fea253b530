/* SPDX-License-Identifier: Apache-2.0 */
/* bird-ctl against a real BIRD 2: a `bird -f` child in its own network namespace (so its BGP
 * listener and sessions touch nothing outside the test), reached over its control socket.
 * Needs root for the namespace: exits 77 (skipped) otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bgp/bird-ctl-internal.h"

static char tmpdir[] = "/tmp/tabby-bird-ctl.XXXXXX";
static char sock_path[128], conf1[128], conf2[128], conf_bad[128], pid_path[128];
static pid_t bird_pid = -1;

static const char conf_base[] =
    "router id 198.18.0.1;\n"
    "protocol device { scan time 10; }\n"
    "template bgp tabby_peer {\n"
    "\tlocal 198.18.0.1 as 64512;\n"
    "\tdirect;\n"
    "\tipv4 { import none; export none; };\n"
    "}\n"
    "protocol bgp Mesh_198_18_0_12 from tabby_peer { neighbor 198.18.0.12 as "
    "64512; }\n"
    "protocol bgp Mesh_198_18_0_13 from tabby_peer { neighbor 198.18.0.13 as "
    "64512; }\n";

static void write_file(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(a, f);
	if (b)
		fputs(b, f);
	assert_int_equal(fclose(f), 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int start_bird(void **state)
{
	struct stat st;

	assert_non_null(mkdtemp(tmpdir));
	snprintf(sock_path, sizeof(sock_path), "%s/bird.ctl", tmpdir);
	snprintf(conf1, sizeof(conf1), "%s/bird.conf", tmpdir);
	snprintf(conf2, sizeof(conf2), "%s/bird2.conf", tmpdir);
	snprintf(conf_bad, sizeof(conf_bad), "%s/bad.conf", tmpdir);
	snprintf(pid_path, sizeof(pid_path), "%s/bird.pid", tmpdir);
	write_file(conf1, conf_base, NULL);
	write_file(conf2, conf_base,
		   "protocol bgp Mesh_198_18_0_14 from tabby_peer { neighbor 198.18.0.14 as "
		   "64512; }\n");
	write_file(conf_bad, conf_base, "protocol bgp Broken from tabby_peer { bogus_option; }\n");

	bird_pid = fork();
	assert_true(bird_pid >= 0);
	if (bird_pid == 0) {
		/* A private, empty network namespace: nothing BIRD does can leave it. */
		if (unshare(CLONE_NEWNET) < 0)
			_exit(126);
		execlp("bird", "bird", "-f", "-c", conf1, "-s", sock_path, "-P", pid_path,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		int status;

		if (stat(sock_path, &st) == 0)
			return 0;
		if (waitpid(bird_pid, &status, WNOHANG) == bird_pid) {
			bird_pid = -1;
			fail_msg("bird exited early (status %d)", status);
		}
		sleep_ms(100);
	}
	fail_msg("bird did not create %s", sock_path);
	return -1;
}

static int stop_bird(void **state)
{
	char cmd[256];

	if (bird_pid > 0) {
		int status;

		kill(bird_pid, SIGTERM);
		for (int i = 0; i < 50 && waitpid(bird_pid, &status, WNOHANG) == 0; i++)
			sleep_ms(100);
		kill(bird_pid, SIGKILL);
		waitpid(bird_pid, &status, 0);
		bird_pid = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct bird_protocol *find(const struct bird_protocol *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	}
	return NULL;
}

static void test_show_protocols(void **state)
{
	struct bird_protocol *v = NULL;
	const struct bird_protocol *p;
	size_t n = 0;

	assert_int_equal(bird_ctl_show_protocols(sock_path, &v, &n), 0);
	assert_int_equal(n, 3);
	p = find(v, n, "device1");
	assert_non_null(p);
	assert_string_equal(p->proto, "Device");
	assert_string_equal(p->table, "---");
	assert_string_equal(p->state, "up");
	assert_true(strlen(p->since) > 0);
	assert_string_equal(p->info, "");
	for (int i = 12; i <= 13; i++) {
		char name[32];

		snprintf(name, sizeof(name), "Mesh_198_18_0_%d", i);
		p = find(v, n, name);
		assert_non_null(p);
		assert_string_equal(p->proto, "BGP");
		assert_string_equal(p->state, "start");
		/* never directly connected in the empty namespace: "Idle" (or "Active ...") */
		assert_true(strncmp(p->info, "Idle", 4) == 0 || strncmp(p->info, "Active", 6) == 0);
	}
	assert_null(find(v, n, "Mesh_198_18_0_14"));
	free(v);
}

static void test_check_config(void **state)
{
	char *msg = NULL;

	assert_int_equal(bird_ctl_check_config(NULL, conf2, &msg), 0);
	assert_null(msg);
	assert_int_equal(bird_ctl_check_config("bird", conf_bad, &msg), -EINVAL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "bad.conf"));
	assert_non_null(strstr(msg, "syntax error"));
	free(msg);
	assert_int_equal(bird_ctl_check_config("/nonexistent/bird", conf2, NULL), -ENOENT);
}

static void test_configure(void **state)
{
	struct bird_protocol *v = NULL;
	size_t n = 0;
	char *msg = NULL;

	/* A bad file is refused with BIRD's message and changes nothing. */
	assert_int_equal(bird_ctl_configure(sock_path, conf_bad, &msg), -EINVAL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "syntax error"));
	free(msg);
	assert_int_equal(bird_ctl_show_protocols(sock_path, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_non_null(find(v, n, "Mesh_198_18_0_12"));
	assert_null(find(v, n, "Broken"));
	free(v);

	/* A good file adds the third peer. */
	msg = NULL;
	assert_int_equal(bird_ctl_configure(sock_path, conf2, &msg), 0);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "Reconfigure"));
	free(msg);
	assert_int_equal(bird_ctl_show_protocols(sock_path, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_non_null(find(v, n, "Mesh_198_18_0_12"));
	assert_non_null(find(v, n, "Mesh_198_18_0_14"));
	free(v);

	/* Same file again: still success. */
	assert_int_equal(bird_ctl_configure(sock_path, conf2, NULL), 0);

	/* A bad file after a good one: the good one's protocols stay. */
	assert_int_equal(bird_ctl_configure(sock_path, conf_bad, NULL), -EINVAL);
	assert_int_equal(bird_ctl_show_protocols(sock_path, &v, &n), 0);
	assert_int_equal(n, 4);
	free(v);

	/* A missing file is BIRD's configuration error too. */
	assert_int_equal(bird_ctl_configure(sock_path, "/nonexistent/bird.conf", NULL), -EINVAL);
	/* A path that cannot be quoted never reaches BIRD. */
	assert_int_equal(bird_ctl_configure(sock_path, "/tmp/x\"; down", NULL), -EINVAL);
}

static void test_not_running(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct bird_protocol *v = NULL;
	size_t n = 0;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/missing.ctl", tmpdir);
	assert_int_equal(bird_ctl_show_protocols(path, &v, &n), -ENOENT);
	assert_int_equal(bird_ctl_configure(path, conf1, NULL), -ENOENT);

	/* A socket file nobody listens on: refused. */
	snprintf(path, sizeof(path), "%s/dead.ctl", tmpdir);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(bird_ctl_show_protocols(path, &v, &n), -ECONNREFUSED);
}

static void test_parse_lines(void **state)
{
	static const struct {
		const char *line;
		int prev, ret, code;
		bool final;
		const char *text;
	} cases[] = {
	    {"0001 BIRD 2.0.12 ready.", -1, 0, 1, true, "BIRD 2.0.12 ready."},
	    {"2002-Name       Proto", -1, 0, 2002, false, "Name       Proto"},
	    {" direct1    Direct", 1002, 0, 1002, false, "direct1    Direct"},
	    {"0000 ", 1002, 0, 0, true, ""},
	    {"8002 /x.conf:3:3 syntax error", 2, 0, 8002, true, "/x.conf:3:3 syntax error"},
	    {"+spontaneous", 2, 0, -1, false, "spontaneous"},
	    {" orphan", -1, -EPROTO, 0, false, NULL},
	    {"12a4 x", -1, -EPROTO, 0, false, NULL},
	    {"1234x", -1, -EPROTO, 0, false, NULL},
	    {"", -1, -EPROTO, 0, false, NULL},
	};
	static const struct {
		const char *row;
		const char *name, *proto, *table, *state, *since, *info;
	} rows[] = {
	    {"device1    Device     ---        up     10:32:49.505  ", "device1", "Device", "---",
	     "up", "10:32:49.505", ""},
	    {"tabby_blocks6 Static     master6    up     10:32:49.505  ", "tabby_blocks6", "Static",
	     "master6", "up", "10:32:49.505", ""},
	    {"Mesh_198_18_0_12 BGP        ---        start  2026-11-20    Active        Socket: "
	     "Connection refused",
	     "Mesh_198_18_0_12", "BGP", "---", "start", "2026-11-20",
	     "Active        Socket: Connection refused"},
	    {"Mesh_198_18_0_13 BGP ---  up 2026-11-20 10:32:49  Established   ", "Mesh_198_18_0_13",
	     "BGP", "---", "up", "2026-11-20 10:32:49", "Established"},
	};
	struct bird_protocol p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text = NULL;
		bool final = false;
		int code = 0;

		assert_int_equal(
		    bird_ctl_parse_reply_line(cases[i].line, cases[i].prev, &code, &final, &text),
		    cases[i].ret);
		if (cases[i].ret < 0)
			continue;
		assert_int_equal(code, cases[i].code);
		assert_int_equal(final, cases[i].final);
		assert_string_equal(text, cases[i].text);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(bird_ctl_parse_protocol_row(rows[i].row, &p), 0);
		assert_string_equal(p.name, rows[i].name);
		assert_string_equal(p.proto, rows[i].proto);
		assert_string_equal(p.table, rows[i].table);
		assert_string_equal(p.state, rows[i].state);
		assert_string_equal(p.since, rows[i].since);
		assert_string_equal(p.info, rows[i].info);
	}
	assert_int_equal(bird_ctl_parse_protocol_row("only four col umns", &p), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_lines),	 cmocka_unit_test(test_show_protocols),
	    cmocka_unit_test(test_check_config), cmocka_unit_test(test_configure),
	    cmocka_unit_test(test_not_running),
	};

	if (geteuid() != 0) {
		printf("skipped: needs root (network namespace for BIRD)\n");
		return 77;
	}
	if (system("command -v bird >/dev/null 2>&1") != 0) {
		printf("skipped: bird not installed\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, start_bird, stop_bird);
}
