/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix_ipt_tool() (felix/dataplane/policy/ipt-table.c), the runner of iptables-restore,
 * ip6tables-restore and ipset, with real programs:
 *  - stdin is the given text and stdout+stderr come back whole (cat, sh);
 *  - the exit status is returned; a program that does not exist is 127, as a shell reports it;
 *  - the program starts with no signal blocked although felix blocks the ones its signalfd
 *    reads (it spawns with an empty mask: a blocked SIGTERM would outlive exec).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stdin_stdout),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_signal_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
