/* SPDX-License-Identifier: ISC */
/*
 * The key commands' side of hvkvpd's socket (interface io.hvuio.Kvp):
 * connecting, one call and its reply, and what each error means to the
 * user; and what is said when the pool files are read instead.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvctl.h"
#include "keys.h"

/* 1 when nobody serves the socket, so the pool files may be read instead. */
int hvctl_kvpd_not_running(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED || err == -ENOTDIR;
}

int hvctl_kvpd_connect_err(const struct hvctl *ctx, int err)
{
	if (hvctl_kvpd_not_running(err))
		hvctl_err("hvkvpd is not running (no server on %s): only get, list, "
			  "watch and status work without it", ctx->socket);
	else if (err == -EACCES || err == -EPERM)
		hvctl_err("%s: permission denied", ctx->socket);
	else
		hvctl_err("%s: %s", ctx->socket, strerror(-err));
	return hvctl_failure(err);
}

int hvctl_kvpd_connect(const struct hvctl *ctx, int timeout_ms, struct hvctl_varlink **vl)
{
	return hvctl_varlink_open(ctx->socket, timeout_ms, vl);
}

int hvctl_kvpd_reply_err(const struct hvctl *ctx, int err)
{
	if (err == -ETIMEDOUT)
		hvctl_err("hvkvpd did not answer on %s", ctx->socket);
	else if (err == -EPROTO || err == -EMSGSIZE)
		hvctl_err("malformed reply from %s", ctx->socket);
	else if (err == -ECONNRESET || err == -EPIPE)
		hvctl_err("hvkvpd closed the connection on %s", ctx->socket);
	else
		hvctl_err("%s: %s", ctx->socket, strerror(-err));
	return hvctl_failure(err);
}

int64_t hvctl_param_int(struct json_object *p, const char *name, int64_t dflt)
{
	struct json_object *v;

	if (json_object_object_get_ex(p, name, &v) && json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return dflt;
}

const char *hvctl_param_str(struct json_object *p, const char *name)
{
	struct json_object *v;

	if (json_object_object_get_ex(p, name, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/*
 * A varlink error as a message and an errno: -ENOENT for NoSuchKey only,
 * -EINVAL for what the caller gave wrong, another for what hvkvpd refused.
 */
int hvctl_kvpd_method_err(const char *error, struct json_object *p, int pool, const char *key)
{
	const char *name = strncmp(error, IFACE ".", sizeof(IFACE)) == 0 ?
			   error + sizeof(IFACE) : error;
	const char *s;
	int64_t n;

	/* The pool the error names, when it names one we know. */
	n = hvctl_param_int(p, "pool", -1);
	if (n >= 0 && n < HV_KVP_POOL_COUNT)
		pool = (int)n;
	if (strcmp(name, "NoSuchKey") == 0) {
		hvctl_err("no key %s in pool %s", key ? key : "", hv_kvp_pool_name(pool));
		return -ENOENT;
	}
	if (strcmp(name, "NoSuchPool") == 0) {
		hvctl_err("hvkvpd knows no pool %s", hv_kvp_pool_name(pool));
		return -EINVAL;
	}
	if (strcmp(name, "ReadOnlyPool") == 0) {
		hvctl_err("pool %s is read-only: the host writes it", hv_kvp_pool_name(pool));
		return -EROFS;
	}
	if (strcmp(name, "PermissionDenied") == 0) {
		s = hvctl_param_str(p, "operation");
		if (s && strcmp(s, "read") == 0)
			hvctl_err("permission denied to read pool %s: hvkvpd lets only root and "
				  "its writer group read it", hv_kvp_pool_name(pool));
		else
			hvctl_err("permission denied to write pool %s: writing the pools needs "
				  "root or hvkvpd's writer group", hv_kvp_pool_name(pool));
		return -EACCES;
	}
	if (strcmp(name, "InvalidKey") == 0 || strcmp(name, "InvalidValue") == 0) {
		s = hvctl_param_str(p, "reason");
		hvctl_err("invalid %s%s%s", name[7] == 'K' ? "key" : "value",
			  s ? ": " : "", s ? s : "");
		return -EINVAL;
	}
	if (strcmp(name, "KeyTooLong") == 0 || strcmp(name, "ValueTooLong") == 0) {
		hvctl_err("%s too long: the host takes at most %lld UTF-16 units and %lld bytes",
			  name[0] == 'K' ? "key" : "value",
			  (long long)hvctl_param_int(p, "max_utf16_units", -1),
			  (long long)hvctl_param_int(p, "max_bytes", -1));
		return -EINVAL;
	}
	if (strcmp(name, "StorageFailed") == 0) {
		s = hvctl_param_str(p, "reason");
		hvctl_err("hvkvpd cannot write the pool files%s%s", s ? ": " : "", s ? s : "");
		return -EIO;
	}
	if (strcmp(name, "ChangesLost") == 0) {
		hvctl_err("hvkvpd ended the watch: changes were lost while %lld bytes of them "
			  "waited to be read", (long long)hvctl_param_int(p, "queued_bytes", 0));
		return -ENOBUFS;
	}
	hvctl_err("hvkvpd: %s", error);
	return -EPROTO;
}

/* One call, one reply: 0 with *p set, or a negative errno (reported). */
int hvctl_kvpd_call(const struct hvctl *ctx, struct hvctl_varlink *vl, const char *method,
		    struct json_object *params, int pool, const char *key,
		    struct json_object **p)
{
	const char *error;
	bool continues;
	int err;

	err = hvctl_varlink_call(vl, method, params, false);
	if (err == 0)
		err = hvctl_varlink_reply(vl, p, &error, &continues);
	if (err < 0)
		return hvctl_kvpd_reply_err(ctx, err);
	if (error) {
		err = hvctl_kvpd_method_err(error, *p, pool, key);
		json_object_put(*p);
		return err;
	}
	return 0;
}

struct json_object *hvctl_kvpd_params(int pool, const char *key)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "pool", json_object_new_string(hv_kvp_pool_name(pool)));
	if (key)
		json_object_object_add(p, "key", json_object_new_string(key));
	return p;
}

/* The pool files, read when hvkvpd is not running. */

void hvctl_files_say(const struct hvctl *ctx)
{
	fprintf(stderr, "hvkvpd is not running; reading the pool files in %s\n",
		ctx->state_dir);
}

int hvctl_file_err(const struct hvctl *ctx, int pool, int err)
{
	if (err == -ENOENT || err == -ENOTDIR)
		hvctl_err("no pool files in %s: %s", ctx->state_dir, strerror(-err));
	else
		hvctl_err("%s/.kvp_pool_%d: %s", ctx->state_dir, pool, strerror(-err));
	return hvctl_failure(err);
}
