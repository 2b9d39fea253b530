/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BIRD control-socket parsers (bgp/bird-ctl-internal.h): the input is a reply as read from the
 * socket, split into lines as bird-ctl.c does; every line goes through
 * bird_ctl_parse_reply_line() and the text of each data line through
 * bird_ctl_parse_protocol_row() (as `show protocols` does).
 */
#include <errno.h>

#include "bgp/bird-ctl-internal.h"
#include "tests/fuzz/fuzz.h"

static void check_row(const char *text)
{
	struct bird_protocol p;

	if (bird_ctl_parse_protocol_row(text, &p) < 0)
		return;
	FUZZ_ASSERT(
	    memchr(p.name, '\0', sizeof(p.name)) && memchr(p.proto, '\0', sizeof(p.proto)) &&
		memchr(p.table, '\0', sizeof(p.table)) && memchr(p.state, '\0', sizeof(p.state)) &&
		memchr(p.since, '\0', sizeof(p.since)) && memchr(p.info, '\0', sizeof(p.info)),
	    "unterminated field");
	FUZZ_ASSERT(p.name[0] && p.proto[0] && p.table[0] && p.state[0] && p.since[0],
		    "empty column from \"%s\"", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = NULL;
	char *line, *next;
	int prev = -1;

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	buf = fuzz_strndup(data, size);
	if (!buf)
		return 0;
	for (line = buf; line; line = next) {
		const char *text;
		bool final;
		int code;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (bird_ctl_parse_reply_line(line, prev, &code, &final, &text) < 0) {
			check_row(line);
			continue;
		}
		FUZZ_ASSERT(text >= line && text <= line + strlen(line), "text outside the line");
		FUZZ_ASSERT(code >= -1 && code <= 9999, "code %d", code);
		if (code >= 0)
			prev = code;
		check_row(text);
	}
	return 0;
}
