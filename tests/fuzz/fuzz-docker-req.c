/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tabby-docker's request handling (docker/driver.c dk_driver_handle(): libnetwork's remote
 * NetworkDriver and IpamDriver JSON requests). The input is the URL path on its first line
 * ("/NetworkDriver.CreateEndpoint", ...; an input without a path-looking first line is sent to
 * every method) and the JSON body after it.
 *
 * Unlike the other harnesses this one cannot avoid I/O entirely: the handlers validate a request
 * and then talk to etcd, dockerd and the state directory. The driver is built once with a
 * datastore and a dockerd socket that do not exist (a failed connect, no traffic) and a state
 * directory under /tmp (created once, removed at exit), so a request that passes validation ends
 * in a datastore error answer. Checked for every input:
 *  - the status is 200 (known method), 400 (body not a JSON object) or 404 (unknown method);
 *  - the answer is a JSON object; on 400/404, and wherever it has "Err", that is a non-empty
 *    string equal to "Error" (dockerd's IPAM client reads "Error", see driver.c).
 */
#include <ftw.h>
#include <unistd.h>

#include <json-c/json.h>

#include "docker/driver.h"
#include "tests/fuzz/fuzz.h"

static const char *const paths[] = {
    "/Plugin.Activate",
    "/NetworkDriver.GetCapabilities",
    "/NetworkDriver.CreateNetwork",
    "/NetworkDriver.DeleteNetwork",
    "/NetworkDriver.CreateEndpoint",
    "/NetworkDriver.EndpointOperInfo",
    "/NetworkDriver.DeleteEndpoint",
    "/NetworkDriver.Join",
    "/NetworkDriver.Leave",
    "/IpamDriver.GetCapabilities",
    "/IpamDriver.GetDefaultAddressSpaces",
    "/IpamDriver.RequestPool",
    "/IpamDriver.ReleasePool",
    "/IpamDriver.RequestAddress",
    "/IpamDriver.ReleaseAddress",
};

static struct dk_driver *driver;
static struct ds_client *ds;
static char state_dir[] = "/tmp/tabby-fuzz-docker.XXXXXX";

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown(void)
{
	driver = dk_driver_free(driver);
	ds = ds_client_free(ds);
	nftw(state_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void)
{
	struct ds_config dc = {.endpoints = "unix:///nonexistent/tabby-fuzz/etcd.sock:1",
			       .timeout_ms = 100};
	struct dk_driver_config cfg = {.node = "h1",
				       .state_dir = state_dir,
				       .docker_socket = "/nonexistent/tabby-fuzz/docker.sock"};

	if (!mkdtemp(state_dir) || ds_client_new(&dc, &ds) < 0)
		return -1;
	cfg.ds = ds;
	if (dk_driver_new(&cfg, &driver) < 0)
		return -1;
	atexit(teardown);
	return 0;
}

static void one(const char *path, const char *body)
{
	_cleanup_free_ char *answer = NULL;
	struct json_object *o, *err, *error;
	int status = 0;

	FUZZ_ASSERT(dk_driver_handle(driver, path, body, &status, &answer) == 0, "%s", path);
	FUZZ_ASSERT(status == 200 || status == 400 || status == 404, "%s: status %d", path, status);
	o = json_tokener_parse(answer);
	FUZZ_ASSERT(o && json_object_is_type(o, json_type_object), "%s: answer %s", path, answer);
	if (status != 200 || json_object_object_get_ex(o, "Err", &err)) {
		FUZZ_ASSERT(json_object_object_get_ex(o, "Err", &err) &&
				json_object_is_type(err, json_type_string) &&
				*json_object_get_string(err),
			    "%s: status %d without an Err text: %s", path, status, answer);
		if (json_object_object_get_ex(o, "Error", &error))
			FUZZ_ASSERT(
			    strcmp(json_object_get_string(err), json_object_get_string(error)) == 0,
			    "%s: Err and Error differ: %s", path, answer);
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = NULL;
	char *nl, *body;

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (!driver && setup() < 0)
		return 0;
	buf = fuzz_strndup(data, size);
	if (!buf)
		return 0;
	nl = strchr(buf, '\n');
	if (buf[0] == '/' && nl) {
		*nl = '\0';
		body = nl + 1;
		one(buf, body);
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(paths); i++)
		one(paths[i], buf);
	return 0;
}
