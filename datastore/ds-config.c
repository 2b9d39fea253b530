/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "datastore/datastore.h"

void ds_config_from_env(struct ds_config *cfg)
{
	const char *v;

	if ((v = getenv("TABBY_DATASTORE_ENDPOINTS")) && *v)
		cfg->endpoints = v;
	if ((v = getenv("TABBY_DATASTORE_CA_FILE")) && *v)
		cfg->ca_file = v;
	if ((v = getenv("TABBY_DATASTORE_CERT_FILE")) && *v)
		cfg->cert_file = v;
	if ((v = getenv("TABBY_DATASTORE_KEY_FILE")) && *v)
		cfg->key_file = v;
	if ((v = getenv("TABBY_DATASTORE_SNAPSHOT")) && strcmp(v, "json") == 0)
		cfg->snapshot_json = true;
	else if (v && strcmp(v, "grpc") == 0)
		cfg->snapshot_json = false;
}
