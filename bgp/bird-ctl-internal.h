/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Parsers of bird-ctl.c exposed for tests (tests/integration/test-bird-ctl.c). */

#include <stdbool.h>

#include "bgp/bird-ctl.h"

/**
 * bird_ctl_parse_reply_line() - split one line of the control socket protocol.
 * @line: the line without its '\n'.
 * @prev_code: code of the previous line (a continuation line, " text", inherits it).
 * @ret_code: the 4-digit reply code, or -1 for a spontaneous "+" line.
 * @ret_final: true when the code is followed by a space (the last line of the reply).
 * @ret_text: points into @line, after the code and separator.
 * Return: 0, or -EPROTO when the line is none of "DDDD-text", "DDDD text", " text", "+text".
 */
int bird_ctl_parse_reply_line(const char *line, int prev_code, int *ret_code, bool *ret_final,
			      const char **ret_text) _warn_unused_result_;

/**
 * bird_ctl_parse_protocol_row() - one data row of `show protocols`
 * ("Mesh_198_18_0_12 BGP        ---        start  10:32:49.505  Active  Socket: ...").
 * Name, Proto, Table, State and Since are single words (Since may also be "YYYY-MM-DD
 * HH:MM:SS" with a space); Info is the rest of the line with the trailing blanks removed.
 * Fields longer than their array are truncated.
 * Return: 0, or -EPROTO when fewer than five columns are present.
 */
int bird_ctl_parse_protocol_row(const char *text, struct bird_protocol *ret) _warn_unused_result_;
