/* SPDX-License-Identifier: Apache-2.0 */
/* felix_config_parse(): the felix.yaml mapping with an empty environment. */
#include "felix/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *const env[] = {NULL};
	struct felix_config c;
	struct parse_err err = {0};

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (felix_config_parse((const char *)data, size, "felix.yaml", env, "fuzz-host", &c, &err) <
	    0)
		return 0;
	FUZZ_ASSERT(c.node_name && *c.node_name, "no node name");
	FUZZ_ASSERT(c.resync_interval_s >= 1 && c.resync_interval_s <= 86400, "resync %u",
		    c.resync_interval_s);
	felix_config_done(&c);
	return 0;
}
