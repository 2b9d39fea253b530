/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI environment (CNI_ARGS, CNI_CONTAINERID, CNI_IFNAME; SPEC.md "Parameters" and
 * CONVENTIONS.md "CNI_ARGS"). The input is up to three lines: CNI_ARGS, the container id and the
 * interface name (a missing line leaves the variable unset); cni/cni.c is compiled in and
 * cni_env_read() reads them from the environment, as the plugins do. What it accepts becomes etcd
 * key segments and Kubernetes names, so the harness checks:
 *  - the container id is [A-Za-z0-9][A-Za-z0-9_.-]* and the interface name a Linux one (1..15
 *    bytes, no '/', ':' or space, not "." or "..");
 *  - the pod namespace is a lower-case RFC 1123 label and the pod name (if any) of the
 *    container id's characters (Kubernetes pod and podman container names fit), so that the WorkloadEndpoint key /tabby/v1/workloadendpoints/<ns>/<name> has
 *    exactly its segments and felix can decode it;
 *  - the workload id "<ns>.<pod or container>" and the IPAM handle "<net>.<container>" hold no
 *    '/' or control character (the IPAM refuses such handles).
 */
#include "cni/cni.c"
#include "model/model-internal.h"
#include "tests/fuzz/fuzz.h"

static bool key_segment_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const vars[] = {"CNI_ARGS", "CNI_CONTAINERID", "CNI_IFNAME"};
	struct cni_conf c = {.name = "tabbynet"};
	struct cni_env env = {0};
	struct cni_error e = {0};
	char *buf, *line;
	size_t i = 0;

	fuzz_setup();
	if (size > 4096)
		return 0;
	buf = fuzz_strndup(data, size);
	if (!buf)
		return 0;
	for (size_t k = 0; k < ELEMENTSOF(vars); k++)
		unsetenv(vars[k]);
	setenv("CNI_COMMAND", "ADD", 1);
	setenv("CNI_NETNS", "/run/netns/fuzz", 1);
	setenv("CNI_PATH", "/usr/lib/cni", 1);
	/* strtok_r would merge empty lines: split by hand so that "" stays a value */
	for (line = buf; line && i < ELEMENTSOF(vars); i++) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		setenv(vars[i], line, 1);
		line = nl ? nl + 1 : NULL;
	}
	if (cni_env_read(&env, true, true, &e) >= 0) {
		_cleanup_free_ char *wid = NULL, *handle = NULL;

		FUZZ_ASSERT(container_id_valid(env.container_id), "container id \"%s\"",
			    env.container_id);
		FUZZ_ASSERT(ifname_valid(env.ifname), "ifname \"%s\"", env.ifname);
		FUZZ_ASSERT(model_dns_label_is_valid(env.pod_namespace), "pod namespace \"%s\"",
			    env.pod_namespace);
		FUZZ_ASSERT(!env.pod_name || container_id_valid(env.pod_name), "pod name \"%s\"",
			    env.pod_name);
		FUZZ_ASSERT(cni_workload_id(&env, &wid) == 0 && key_segment_ok(wid), "workload id");
		struct cni_error he = {0};
		int hr = cni_handle_id(&c, &env, &handle, &he);
		/* a handle over CNI_MAX_HANDLE is refused (106) rather than truncated */
		FUZZ_ASSERT(hr < 0 ? he.code == CNI_ERR_TOO_LONG && he.msg[0]
				   : key_segment_ok(handle),
			    "handle \"%s\"", handle ? handle : "");
	} else {
		FUZZ_ASSERT((e.code == CNI_ERR_INVALID_ENV || e.code == CNI_ERR_TOO_LONG) &&
				e.msg[0],
			    "error without code 4 or 106 and a message");
	}
	cni_env_done(&env);
	free(buf);
	return 0;
}
