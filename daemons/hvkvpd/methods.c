/* SPDX-License-Identifier: ISC */
/*
 * io.hvuio.Kvp: the methods and who may call them.
 *
 * Access is decided per call from the peer's credentials: root and the
 * writer group write; everyone reads a pool unless it is restricted, and
 * a restricted pool is read by writers only.
 *
 * Pools for local writers: Guest is set and deleted freely; Auto keeps a
 * local override of one of its ten generated values as a record of the
 * Auto pool file (Linux never reads that file; our request handler
 * prefers such a record when it enumerates the pool for the host), and
 * Delete restores the generated value. External, Guest/Parameters and
 * Internal are the host's.
 *
 * Limits are the host's: Linux's hv_utils converts what the guest sends
 * into at most 254 UTF-16 units for a key and 1022 for a value and cuts
 * the rest silently (drivers/hv/hv_kvp.c, kvp_respond_to_host), so we
 * refuse longer strings instead; the pool files add 511 and 2047 bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>
#include <hvuio/utf8.h>

#include "config.h"
#include "clients_private.h"

#define KEY_MAX_UNITS   254
#define VALUE_MAX_UNITS 1022

struct list_state {
	struct hvkvpd_clients *cl;
	unsigned int pool;
	size_t index;             /* the Auto pool's */
	struct hv_kvp_pool_iter iter;
	bool have_next;
	struct hv_kvp_pool_record next;
};

/* Text. */

/*
 * Length in UTF-16 units of valid UTF-8, or -EILSEQ: stray or missing
 * continuation bytes, overlong forms, surrogates, code points above
 * U+10FFFF and NUL are refused.
 */
static long utf8_units(const char *s, size_t len)
{
	long units = 0;
	uint32_t cp;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		n = hv_utf8_decode(s + i, len - i, &cp);
		if (n == 0 || cp == 0)
			return -EILSEQ;
		units += cp >= 0x10000 ? 2 : 1;
	}
	return units;
}

/*
 * A JSON string for bytes from a pool file, which other programs may
 * have filled with anything: what is not UTF-8 becomes U+FFFD, so that
 * every reply stays valid UTF-8.
 */
json_object *clients_json_text(const char *s, size_t len)
{
	char *buf;
	size_t o = 0;
	json_object *j;

	if (utf8_units(s, len) >= 0)
		return json_object_new_string_len(s, (int)len);
	buf = malloc(3 * len + 1);
	if (!buf)
		return json_object_new_string("");
	for (size_t i = 0; i < len;) {
		size_t n = 1;

		if ((unsigned char)s[i] >= 0x80) {
			/* The longest valid sequence starting here, if any. */
			for (n = 4; n >= 2; n--)
				if (i + n <= len && utf8_units(s + i, n) == (n == 4 ? 2 : 1))
					break;
			if (n < 2) {
				memcpy(buf + o, "\xef\xbf\xbd", 3);
				o += 3;
				i++;
				continue;
			}
		} else if (s[i] == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(buf + o, s + i, n);
		o += n;
		i += n;
	}
	j = json_object_new_string_len(buf, (int)o);
	free(buf);
	return j;
}

/* Errors. */

json_object *clients_obj_int(const char *name, int64_t v)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, name, json_object_new_int64(v));
	return p;
}

static json_object *obj_str(const char *name, const char *s)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, name, clients_json_text(s, strlen(s)));
	return p;
}

static void err_no_such_pool(struct vl_call *call, const char *name)
{
	vl_error(call, KVP_ERR("NoSuchPool"), obj_str("pool", name));
}

static void err_no_such_key(struct vl_call *call, int pool, const char *key)
{
	json_object *p = clients_obj_int("pool", pool);

	json_object_object_add(p, "key", clients_json_text(key, strlen(key)));
	vl_error(call, KVP_ERR("NoSuchKey"), p);
}

static void err_denied(struct vl_call *call, const char *op, int pool)
{
	json_object *p = obj_str("operation", op);

	json_object_object_add(p, "pool", json_object_new_int(pool));
	vl_error(call, KVP_ERR("PermissionDenied"), p);
}

static void err_storage(struct vl_call *call, int err)
{
	vl_error(call, KVP_ERR("StorageFailed"), obj_str("reason", strerror(-err)));
}

static void err_too_long(struct vl_call *call, const char *error, int units, int bytes)
{
	json_object *p = clients_obj_int("max_utf16_units", units);

	json_object_object_add(p, "max_bytes", json_object_new_int(bytes));
	vl_error(call, error, p);
}

/* Access. */

static bool peer_writes(const struct hvkvpd_clients *cl, const struct vl_peer *p)
{
	if (p->uid == 0)
		return true;
	if (!cl->have_writer_group)
		return false;
	if (p->gid == cl->writer_gid)
		return true;
	for (int i = 0; i < p->ngroups; i++)
		if (p->groups[i] == cl->writer_gid)
			return true;
	return false;
}

static unsigned int peer_readable(const struct hvkvpd_clients *cl, const struct vl_peer *p)
{
	unsigned int all = (1u << HV_KVP_POOL_COUNT) - 1;

	return peer_writes(cl, p) ? all : all & ~cl->restrict_read;
}

/* Parameters. */

static const char *param_str(json_object *params, const char *name, size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(params, name, &v) || !v)
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/*
 * The argument checks reply the error themselves and return 0 or a
 * negative errno: the caller only stops.
 */

/* The pool parameter, checked for reading (or for writing): -ENOENT, -EROFS, -EACCES. */
static int pool_arg(struct hvkvpd_clients *cl, struct vl_call *call, json_object *params,
		    bool write, int *ret)
{
	size_t len = 0;
	const char *name = param_str(params, "pool", &len);
	int pool = strlen(name) == len ? hv_kvp_pool_from_name(name) : -ENOENT;

	if (pool < 0) {
		err_no_such_pool(call, name);
		return -ENOENT;
	}
	if (write) {
		if (pool != HV_KVP_POOL_GUEST && pool != HV_KVP_POOL_AUTO) {
			vl_error(call, KVP_ERR("ReadOnlyPool"), clients_obj_int("pool", pool));
			return -EROFS;
		}
		if (!peer_writes(cl, vl_call_peer(call))) {
			err_denied(call, "write", pool);
			return -EACCES;
		}
	} else if (!(peer_readable(cl, vl_call_peer(call)) & (1u << pool))) {
		err_denied(call, "read", pool);
		return -EACCES;
	}
	*ret = pool;
	return 0;
}

static int key_arg(struct vl_call *call, json_object *params, const char **key)
{
	size_t len = 0;
	const char *k = param_str(params, "key", &len);
	long units;

	if (len == 0) {
		vl_error(call, KVP_ERR("InvalidKey"), obj_str("reason", "empty"));
		return -EINVAL;
	}
	units = utf8_units(k, len);
	if (units < 0) {
		vl_error(call, KVP_ERR("InvalidKey"),
			 obj_str("reason", memchr(k, 0, len) ? "contains NUL" : "not valid UTF-8"));
		return -EINVAL;
	}
	if (units > KEY_MAX_UNITS || len > HV_KVP_POOL_KEY_MAX) {
		err_too_long(call, KVP_ERR("KeyTooLong"), KEY_MAX_UNITS, HV_KVP_POOL_KEY_MAX);
		return -ENAMETOOLONG;
	}
	*key = k;
	return 0;
}

static int value_arg(struct vl_call *call, json_object *params, const char **value)
{
	size_t len = 0;
	const char *v = param_str(params, "value", &len);
	long units = utf8_units(v, len);

	if (units < 0) {
		vl_error(call, KVP_ERR("InvalidValue"),
			 obj_str("reason", memchr(v, 0, len) ? "contains NUL" : "not valid UTF-8"));
		return -EINVAL;
	}
	if (units > VALUE_MAX_UNITS || len > HV_KVP_POOL_VALUE_MAX) {
		err_too_long(call, KVP_ERR("ValueTooLong"), VALUE_MAX_UNITS, HV_KVP_POOL_VALUE_MAX);
		return -E2BIG;
	}
	*value = v;
	return 0;
}

/* The Auto pool. */

/* Entry `index` as the host gets it: the local override, else the generated value. */
static int auto_entry(struct hvkvpd_clients *cl, uint32_t index, struct hv_kvp_pool_record *rec)
{
	size_t len;
	int err;

	err = hv_kvp_info_auto_get(cl->info, index, rec->key, sizeof(rec->key), rec->value,
				   sizeof(rec->value));
	if (err)
		return err;
	rec->key_len = (uint16_t)strlen(rec->key);
	if (hv_kvp_pool_get(cl->store, HV_KVP_POOL_AUTO, rec->key, rec->value, sizeof(rec->value),
			    &len) == 0)
		rec->value_len = (uint16_t)len;
	else
		rec->value_len = (uint16_t)strlen(rec->value);
	return 0;
}

/* Methods. */

static const struct vl_param pool_key_params[] = {
	{ "pool", VL_STRING, true },
	{ "key", VL_STRING, true },
	{ NULL, VL_STRING, false },
};

static void kvp_get(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	struct hv_kvp_pool_record *rec;
	const char *key;
	size_t len;
	int pool, err, idx;

	if (vl_params_check(call, params, pool_key_params) ||
	    pool_arg(cl, call, params, false, &pool) || key_arg(call, params, &key))
		return;
	rec = malloc(sizeof(*rec));
	if (!rec)
		return err_storage(call, -ENOMEM);
	err = hv_kvp_pool_get(cl->store, (unsigned int)pool, key, rec->value, sizeof(rec->value),
			      &len);
	if (err == -ENOENT && pool == HV_KVP_POOL_AUTO && (idx = hv_kvp_info_auto_index(key)) >= 0) {
		err = auto_entry(cl, (uint32_t)idx, rec);
		len = rec->value_len;
	}
	if (err == -ENOENT) {
		err_no_such_key(call, pool, key);
	} else if (err) {
		err_storage(call, err);
	} else {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "value", clients_json_text(rec->value, len));
		vl_reply(call, p);
	}
	free(rec);
}

static const struct vl_param set_params[] = {
	{ "pool", VL_STRING, true },
	{ "key", VL_STRING, true },
	{ "value", VL_STRING, true },
	{ NULL, VL_STRING, false },
};

static void kvp_set(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	const char *key, *value;
	int pool, err;

	if (vl_params_check(call, params, set_params) ||
	    pool_arg(cl, call, params, true, &pool) || key_arg(call, params, &key) ||
	    value_arg(call, params, &value))
		return;
	if (pool == HV_KVP_POOL_AUTO && hv_kvp_info_auto_index(key) < 0) {
		vl_error(call, KVP_ERR("InvalidKey"),
			 obj_str("reason", "not one of the Auto pool's generated keys"));
		return;
	}
	err = hv_kvp_pool_set(cl->store, (unsigned int)pool, key, value);
	if (err == -E2BIG)
		return err_too_long(call, KVP_ERR("ValueTooLong"), VALUE_MAX_UNITS,
				    HV_KVP_POOL_VALUE_MAX);
	if (err)
		return err_storage(call, err);
	vl_reply(call, NULL);
	clients_local_change(cl, pool, key, value);
}

static void kvp_delete(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	struct hv_kvp_pool_record *rec = NULL;
	const char *key;
	int pool, err, idx = -1;

	if (vl_params_check(call, params, pool_key_params) ||
	    pool_arg(cl, call, params, true, &pool) || key_arg(call, params, &key))
		return;
	if (pool == HV_KVP_POOL_AUTO)
		idx = hv_kvp_info_auto_index(key);
	err = hv_kvp_pool_delete(cl->store, (unsigned int)pool, key);
	/* An Auto key without an override already has its generated value. */
	if (err == -ENOENT && idx >= 0)
		err = 0;
	if (err == -ENOENT)
		return err_no_such_key(call, pool, key);
	if (err)
		return err_storage(call, err);
	vl_reply(call, NULL);
	if (idx >= 0 && (rec = malloc(sizeof(*rec))) && auto_entry(cl, (uint32_t)idx, rec) == 0)
		clients_local_change(cl, pool, key, rec->value);
	else
		clients_local_change(cl, pool, key, NULL);
	free(rec);
}

static int list_fetch(struct hvkvpd_clients *cl, struct list_state *st)
{
	int err;

	if (st->pool == HV_KVP_POOL_AUTO)
		err = auto_entry(cl, (uint32_t)st->index, &st->next);
	else
		err = hv_kvp_pool_iter_next(&st->iter, &st->next);
	st->have_next = err == 0;
	st->index++;
	return err;
}

static json_object *record_json(const struct list_state *st)
{
	json_object *r = json_object_new_object(), *p = json_object_new_object();

	json_object_object_add(r, "pool", json_object_new_int((int)st->pool));
	json_object_object_add(r, "key", clients_json_text(st->next.key, st->next.key_len));
	json_object_object_add(r, "value", clients_json_text(st->next.value, st->next.value_len));
	json_object_object_add(p, "record", r);
	return p;
}

static void list_pump(struct vl_call *call, void *state)
{
	struct list_state *st = state;
	struct hvkvpd_clients *cl = st->cl;
	json_object *p;
	int err;

	/* Look one ahead: the last record is the reply without "continues". */
	for (int n = 0; n < 64 && vl_call_queued(call) < VL_OUT_LOW; n++) {
		p = record_json(st);
		err = list_fetch(cl, st);
		if (err == -ENOENT) {
			free(st);
			vl_reply(call, p);
			return;
		}
		if (err) {
			json_object_put(p);
			free(st);
			err_storage(call, err);
			return;
		}
		if (vl_reply_more(call, p) < 0) {
			free(st);  /* the connection is gone, without a call to list_cancel */
			return;
		}
	}
}

static void list_cancel(struct vl_call *call, void *state)
{
	free(state);
}

static const struct vl_param list_params[] = {
	{ "pool", VL_STRING, true },
	{ NULL, VL_STRING, false },
};

static void kvp_list(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	struct list_state *st;
	int pool, err;

	if (vl_params_check(call, params, list_params) ||
	    pool_arg(cl, call, params, false, &pool))
		return;
	st = malloc(sizeof(*st));
	if (!st)
		return err_storage(call, -ENOMEM);
	st->cl = cl;
	st->pool = (unsigned int)pool;
	st->index = 0;
	/* Lock-free and O(1) a record: a List never holds up the host's requests. */
	err = hv_kvp_pool_iter_begin(cl->store, st->pool, &st->iter);
	if (!err)
		err = list_fetch(cl, st);
	if (err == -ENOENT) {
		free(st);
		return vl_reply(call, NULL);  /* an empty pool: one reply, no record */
	}
	if (err) {
		free(st);
		return err_storage(call, err);
	}
	if (!vl_call_more(call)) {
		json_object *p = record_json(st);

		free(st);
		return vl_reply(call, p);
	}
	vl_call_hold(call, list_pump, list_cancel, st);
}

static const struct vl_param watch_params[] = {
	{ "pool", VL_STRING_OR_NULL, false },
	{ "key", VL_STRING_OR_NULL, false },
	{ NULL, VL_STRING, false },
};

static void kvp_watch(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	const char *key = NULL;
	int pool = -1;

	if (vl_params_check(call, params, watch_params))
		return;
	if (param_str(params, "pool", NULL) && pool_arg(cl, call, params, false, &pool))
		return;
	if (param_str(params, "key", NULL) && key_arg(call, params, &key))
		return;
	if (!vl_call_more(call))
		return vl_error(call, "org.varlink.service.ExpectedMore", NULL);
	if (clients_watch_add(cl, call, pool, key, peer_readable(cl, vl_call_peer(call))) < 0)
		err_storage(call, -ENOMEM);
}

static void kvp_status(void *ctx, struct vl_call *call, json_object *params)
{
	static const struct vl_param none[] = { { NULL, VL_STRING, false } };
	struct hvkvpd_clients *cl = ctx;
	json_object *p, *pools;
	struct timespec now;
	char ver[16];

	if (vl_params_check(call, params, none))
		return;
	p = json_object_new_object();
	json_object_object_add(p, "version", json_object_new_string(HVUIO_VERSION));
	pthread_mutex_lock(&cl->lock);
	json_object_object_add(p, "backend", json_object_new_string(cl->backend));
	json_object_object_add(p, "device", cl->device[0] ? clients_json_text(cl->device, strlen(cl->device))
							  : NULL);
	if (cl->negotiated) {
		json_object *n = json_object_new_object();

		snprintf(ver, sizeof(ver), "%u.%u", cl->fw.major, cl->fw.minor);
		json_object_object_add(n, "framework", json_object_new_string(ver));
		snprintf(ver, sizeof(ver), "%u.%u", cl->msg.major, cl->msg.minor);
		json_object_object_add(n, "message", json_object_new_string(ver));
		json_object_object_add(p, "negotiated", n);
	} else {
		json_object_object_add(p, "negotiated", NULL);
	}
	json_object_object_add(p, "host_requests", json_object_new_int64((int64_t)cl->host_requests));
	pthread_mutex_unlock(&cl->lock);
	pools = json_object_new_array();
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		json_object *ps = json_object_new_object();
		size_t n = 0;

		if (i == HV_KVP_POOL_AUTO)
			n = hv_kvp_info_auto_count();
		else
			hv_kvp_pool_count(cl->store, i, &n);
		json_object_object_add(ps, "pool", json_object_new_int((int)i));
		json_object_object_add(ps, "name", json_object_new_string(hv_kvp_pool_name(i)));
		json_object_object_add(ps, "records", json_object_new_int64((int64_t)n));
		json_object_array_add(pools, ps);
	}
	json_object_object_add(p, "pools", pools);
	json_object_object_add(p, "clients", json_object_new_int((int)vl_server_clients(cl->srv)));
	clock_gettime(CLOCK_MONOTONIC, &now);
	json_object_object_add(p, "uptime_seconds",
			       json_object_new_int64((int64_t)(now.tv_sec - cl->started.tv_sec)));
	vl_reply(call, p);
}

static const struct vl_method kvp_methods[] = {
	{ "Get", kvp_get },
	{ "Set", kvp_set },
	{ "Delete", kvp_delete },
	{ "List", kvp_list },
	{ "Watch", kvp_watch },
	{ "Status", kvp_status },
	{ NULL, NULL },
};

const struct vl_interface clients_kvp_interface = {
	.name = KVP_IFACE,
	.methods = kvp_methods,
};
