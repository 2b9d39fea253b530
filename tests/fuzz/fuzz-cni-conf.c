/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI network config parser. cni_conf_read() takes a file descriptor (stdin), so the harness
 * compiles cni/cni.c in and calls its buffer parser parse_conf() directly on the bytes, with and
 * without a required ipam section, the way cni_conf_read() does after read_all().
 */
#include "cni/cni.c"
#include "model/model-internal.h"
#include "tests/fuzz/fuzz.h"

static void parse_one(const uint8_t *data, size_t size, bool need_ipam)
{
	struct cni_conf c = {0};
	struct cni_error e = {0};
	int r;

	c.raw = fuzz_strndup(data, size);
	if (!c.raw)
		return;
	c.raw_len = size;
	r = parse_conf(&c, need_ipam, &e);
	if (r >= 0) {
		FUZZ_ASSERT(c.name && *c.name && c.type && *c.type, "name/type missing");
		FUZZ_ASSERT(c.version >= 0, "version %d", c.version);
		FUZZ_ASSERT(!need_ipam || (c.ipam_type && *c.ipam_type), "ipam.type missing");
		/* The labels become the WorkloadEndpoint's: felix must be able to decode them. */
		for (size_t i = 0; i < c.labels.n; i++)
			FUZZ_ASSERT(model_label_key_is_valid(c.labels.items[i].key) &&
					model_label_value_is_valid(c.labels.items[i].value),
				    "invalid label %s=%s accepted", c.labels.items[i].key,
				    c.labels.items[i].value);
		/* Ports and the pinned address become the WorkloadEndpoint's and IPAM's. */
		for (size_t i = 0; i < c.n_ports; i++)
			FUZZ_ASSERT(
			    model_port_name_is_valid(c.ports[i].name) && c.ports[i].port > 0,
			    "invalid port %s/%u accepted", c.ports[i].name, c.ports[i].port);
		FUZZ_ASSERT((!c.ips.has_v4 || c.ips.v4.family == AF_INET) &&
				(!c.ips.has_v6 || c.ips.v6.family == AF_INET6),
			    "pinned address of the wrong family");
		FUZZ_ASSERT(c.assign_ipv4 || c.assign_ipv6, "no family to assign");
		FUZZ_ASSERT(!c.service_account || (model_name_is_valid(c.service_account) &&
						   strlen(c.service_account) <= 63),
			    "invalid serviceAccount %s accepted", c.service_account);
	}
	cni_conf_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	parse_one(data, size, true);
	parse_one(data, size, false);
	return 0;
}
