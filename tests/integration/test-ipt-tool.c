/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix_ipt_tool() (felix/dataplane/policy/ipt-table.c), the runner of iptables-restore,
 * ip6tables-restore and ipset, with real programs:
 *  - stdin is the given text and stdout+stderr come back whole (cat, sh);
 *  - the exit status is returned; a program that does not exist is 127, as a shell reports it;
 *  - the program starts with no signal blocked although felix blocks the ones its signalfd
 *    reads (it spawns with an empty mask: a blocked SIGTERM would outlive exec).
 * And felix_ipt_state_load(), the previous run's state file, as bad input: a file of another
 * boot, network namespace or nf_tables generation, or a malformed one, loads nothing (the
 * saves then read the kernel); every file is deleted once read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#include "felix/dataplane/policy/backend.h"

static void test_stdin_stdout(void **state)
{
	char *argv[] = {"cat", NULL};
	const char in[] = "*filter\n:tby-x - [0:0]\nCOMMIT\n";
	char *out = NULL;

	(void)state;
	assert_int_equal(felix_ipt_tool(argv, in, strlen(in), &out), 0);
	assert_non_null(out);
	assert_string_equal(out, in);
	free(out);

	char *err[] = {"sh", "-c", "echo to-stderr >&2; exit 3", NULL};
	out = NULL;
	assert_int_equal(felix_ipt_tool(err, NULL, 0, &out), 3);
	assert_string_equal(out, "to-stderr\n");
	free(out);
}

static void test_missing_program(void **state)
{
	char *argv[] = {"tabby-no-such-program-7f3a", NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(felix_ipt_tool(argv, "x", 1, &out), 127);
	free(out);
}

static void test_signal_mask(void **state)
{
	char *argv[] = {"sh", "-c", "grep '^SigBlk:' /proc/self/status", NULL};
	sigset_t block, old;
	char *out = NULL;

	(void)state;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
	assert_int_equal(felix_ipt_tool(argv, NULL, 0, &out), 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_non_null(out);
	assert_string_equal(out, "SigBlk:\t0000000000000000\n");
	free(out);
}

/* This boot and network namespace as a state file's "host" line names them. */
static void host_line(char *buf, size_t len)
{
	char boot[64] = "";
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_non_null(f);
	assert_non_null(fgets(boot, sizeof(boot), f));
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl), 0);
	close(fd);
	snprintf(buf, len, "host %s %016llx", boot, (unsigned long long)cookie);
}

static unsigned load_line; /* felix_ipt_state_load()'s line of the last load() */

/* Load @text as a state file at generation 42: the result, with the file gone after. */
static int load(struct felix_ipt *x, const char *text)
{
	char path[] = "/tmp/tby-ipt-state-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int r = felix_ipt_state_load(x, path, 42, &load_line);
	assert_int_equal(access(path, F_OK), -1); /* used once */
	return r;
}

static void test_state_load(void **state)
{
	struct felix_ipt *x = NULL;
	char host[160], text[1024];
	const char *chains = "chain 4 tby-fw-a 00000000000000aa\n"
			     "chain 4 tby-forward 00000000000000bb\n"
			     "chain 6 tby-fw-a 00000000000000cc\n";

	(void)state;
	assert_int_equal(felix_ipt_new(&x), 0);
	host_line(host, sizeof(host));
	assert_int_equal(felix_ipt_state_load(x, "/tmp/tby-ipt-state-none-7f3a", 42, NULL), 0);
	assert_int_equal(felix_ipt_state_save(x, "/tmp/tby-ipt-state-none-7f3a", 42), -EAGAIN);

	/* another generation, boot or network namespace */
	snprintf(text, sizeof(text), "tabby-iptables-state 1\n%s\ngen 41\n%send\n", host, chains);
	assert_int_equal(load(x, text), -ESTALE);
	snprintf(text, sizeof(text),
		 "tabby-iptables-state 1\nhost 00000000-0000-0000-0000-000000000000 %s\ngen "
		 "42\n%send\n",
		 strrchr(host, ' ') + 1, chains);
	assert_int_equal(load(x, text), -ESTALE);
	snprintf(text, sizeof(text), "tabby-iptables-state 1\n%s0\ngen 42\n%send\n", host, chains);
	assert_int_equal(load(x, text), -ESTALE);
	assert_false(felix_ipt_reading(x));

	/* malformed: each loads nothing */
	static const struct {
		const char *magic, *gen, *extra, *end;
		unsigned line; /* the line reported: 1-based, 0 for a chain listed twice */
	} bad[] = {
	    {"tabby-iptables-state 2", "gen 42", "", "end\n", 1}, /* another format */
	    {"tabby-iptables-state 1", "gen 42", "", "", 7},	  /* no "end" */
	    {"tabby-iptables-state 1", "gen 42x", "", "end\n", 3},
	    {"tabby-iptables-state 1", "gen 42", "chain 5 tby-x 1\n", "end\n", 7},    /* family */
	    {"tabby-iptables-state 1", "gen 42", "chain 4 FORWARD 1\n", "end\n", 7},  /* not ours */
	    {"tabby-iptables-state 1", "gen 42", "chain 4 tby-fw-a 1\n", "end\n", 0}, /* twice */
	    {"tabby-iptables-state 1", "gen 42", "chain 4 tby-0123456789012345678901234567 1\n",
	     "end\n", 7}, /* 32 characters */
	    {"tabby-iptables-state 1", "gen 42", "chain 4 tby-x 1 2\n", "end\n", 7},
	    {"tabby-iptables-state 1", "gen 42", "chain 4 tby-x\"y 1\n", "end\n", 7}, /* quote */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s\n%s\n%s\n%s%s%s", bad[i].magic, host, bad[i].gen,
			 chains, bad[i].extra, bad[i].end);
		assert_int_equal(load(x, text), -EBADMSG);
		assert_int_equal(load_line, bad[i].line);
		assert_false(felix_ipt_reading(x));
	}

	/* this boot, namespace and generation: the chains stand in for the saves */
	snprintf(text, sizeof(text), "tabby-iptables-state 1\n%s\ngen 42\n%send\n", host, chains);
	assert_int_equal(load(x, text), 1);
	assert_true(felix_ipt_reading(x));
	felix_ipt_read_drop(x);
	assert_false(felix_ipt_reading(x));
	felix_ipt_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stdin_stdout),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_signal_mask),
	    cmocka_unit_test(test_state_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
