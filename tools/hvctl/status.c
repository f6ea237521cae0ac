/* SPDX-License-Identifier: ISC */
/*
 * hvctl status: what hvkvpd says of itself (its Status method), or the
 * record counts of the pool files when it is not running; first a
 * warning for any other KVP daemon that would fight it (peers.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvctl.h"
#include "keys.h"
#include "poolfile.h"

static const char *str_or(struct json_object *p, const char *name)
{
	const char *s = hvctl_param_str(p, name);

	return s ? s : "?";
}

static void status_print(struct json_object *p)
{
	struct json_object *v, *pools, *e;
	const char *s;
	size_t i;

	printf("hvkvpd %s, backend %s", str_or(p, "version"), str_or(p, "backend"));
	if ((s = hvctl_param_str(p, "device")))
		printf(", device %s", s);
	putchar('\n');
	if (json_object_object_get_ex(p, "negotiated", &v) &&
	    json_object_is_type(v, json_type_object))
		printf("negotiated: framework %s, message %s\n", str_or(v, "framework"),
		       str_or(v, "message"));
	printf("host requests: %lld\nclients: %lld\nuptime: %lld s\n",
	       (long long)hvctl_param_int(p, "host_requests", 0), (long long)hvctl_param_int(p, "clients", 0),
	       (long long)hvctl_param_int(p, "uptime_seconds", 0));
	if (json_object_object_get_ex(p, "pools", &pools) &&
	    json_object_is_type(pools, json_type_array)) {
		for (i = 0; i < json_object_array_length(pools); i++) {
			e = json_object_array_get_idx(pools, i);
			printf("pool %lld %s: %lld records\n",
			       (long long)hvctl_param_int(e, "pool", -1), str_or(e, "name"),
			       (long long)hvctl_param_int(e, "records", 0));
		}
	}
}

static int status_files(const struct hvctl *ctx)
{
	struct json_object *top = json_object_new_object(), *pools = json_object_new_array(), *e;
	struct hvctl_poolfile *pf;
	struct hvctl_record *rec = malloc(sizeof(*rec));
	int p, r = 0;
	int64_t n;

	if (!rec) {
		hvctl_err("out of memory");
		json_object_put(top);
		json_object_put(pools);
		return -ENOMEM;
	}
	for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
		r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)p, &pf);
		if (r < 0)
			break;
		for (n = 0; (r = hvctl_poolfile_next(pf, rec)) > 0; n++)
			;
		hvctl_poolfile_close(pf);
		if (r < 0)
			break;
		e = json_object_new_object();
		json_object_object_add(e, "pool", json_object_new_int(p));
		json_object_object_add(e, "name", json_object_new_string(hv_kvp_pool_name(p)));
		json_object_object_add(e, "records", json_object_new_int64(n));
		json_object_array_add(pools, e);
	}
	free(rec);
	json_object_object_add(top, "running", json_object_new_boolean(0));
	json_object_object_add(top, "state_dir", json_object_new_string(ctx->state_dir));
	json_object_object_add(top, "pools", pools);
	if (r < 0) {
		json_object_put(top);
		return hvctl_file_err(ctx, p, r);
	}
	if (ctx->json) {
		hvctl_put_json(stdout, top);
	} else {
		printf("hvkvpd: not running\n");
		for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
			e = json_object_array_get_idx(pools, (size_t)p);
			printf("pool %d %s: %lld records\n", p, hv_kvp_pool_name(p),
			       (long long)hvctl_param_int(e, "records", 0));
		}
	}
	json_object_put(top);
	return hvctl_out_close(ctx, stdout, 0);
}

int hvctl_keys_status(struct hvctl *ctx)
{
	struct hvctl_varlink *vl;
	struct json_object *p;
	int err;

	err = hvctl_kvpd_connect(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0 && !hvctl_kvpd_not_running(err))
		return hvctl_kvpd_connect_err(ctx, err);
	/* Before anything else: two daemons explain any odd state that follows. */
	hvctl_peers_warn(ctx);
	if (err < 0) {
		hvctl_files_say(ctx);
		return status_files(ctx);
	}
	err = hvctl_kvpd_call(ctx, vl, IFACE ".Status", NULL, 0, NULL, &p);
	hvctl_varlink_close(vl);
	if (err)
		return err;
	if (ctx->json) {
		json_object_object_add(p, "running", json_object_new_boolean(1));
		hvctl_put_json(stdout, p);
	} else {
		status_print(p);
	}
	json_object_put(p);
	return hvctl_out_close(ctx, stdout, 0);
}
