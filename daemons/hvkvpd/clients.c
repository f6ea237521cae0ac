/* SPDX-License-Identifier: ISC */
/*
 * io.hvuio.Kvp: the methods, who may call them, and Watch.
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
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>
#include <hvuio/utf8.h>

#include "config.h"
#include "clients.h"
#include "sdnotify.h"
#include "varlink.h"

#define KVP_IFACE "io.hvuio.Kvp"
#define KVP_ERR(name) KVP_IFACE "." name

#define KEY_MAX_UNITS   254
#define VALUE_MAX_UNITS 1022

/* Host changes waiting for the client thread; beyond this, Watches are ended. */
#define QUEUE_LEN 256

/* A Watch whose client has this much unread is ended with ChangesLost. */
#define WATCH_QUEUE_MAX (256 * 1024)

/* Generated from io.hvuio.Kvp.varlink at build time. */
extern const char hvkvpd_varlink_description[];

enum origin { ORIGIN_HOST, ORIGIN_LOCAL, ORIGIN_FILE };
static const char *const origin_names[] = { "host", "local", "file" };

static const char *const pool_names[HV_KVP_POOL_COUNT] = {
	"External", "Guest", "Auto", "Guest/Parameters", "Internal",
};

struct change {
	uint8_t pool;
	uint8_t origin;
	bool deleted;
	char key[HV_KVP_KEY_MAX_SIZE + 1];
	char value[HV_KVP_VALUE_MAX_SIZE + 1];
};

struct watch {
	struct hvkvpd_clients *cl;
	struct vl_call *call;
	int pool;                 /* -1: every pool the peer may read */
	char *key;                /* NULL: every key */
	unsigned int readable;    /* pools the peer may read */
	bool dead;
	struct watch *next;
};

struct list_state {
	struct hvkvpd_clients *cl;
	unsigned int pool;
	size_t index;             /* the Auto pool's */
	struct hv_kvp_pool_iter iter;
	bool have_next;
	struct hv_kvp_pool_record next;
};

struct hvkvpd_clients {
	struct hv_kvp_store *store;
	struct hv_kvp_info *info;
	bool info_own;            /* made here, not the handler's */
	struct vl_server *srv;
	pthread_t thread;
	bool running;
	int evfd;
	char *socket_path;        /* set when we made the socket: removed at stop */
	gid_t writer_gid;
	bool have_writer_group;
	unsigned int restrict_read;
	int (*thread_init)(void);
	pthread_cond_t init_cond;
	bool init_done;
	int init_err;
	struct timespec started;
	struct watch *watches;
	bool publishing;          /* walking watches: sweep later */

	/* Shared with the main thread. */
	pthread_mutex_t lock;
	struct change *queue;
	unsigned int qhead, qlen;
	bool overflow, stop;
	/*
	 * A Watch is in place: only then are changes queued and the thread
	 * woken for them. A host request costs no wake-up of this thread.
	 */
	bool watching;
	char backend[16];
	char device[256];
	bool negotiated;
	struct hv_ic_version fw, msg;
	uint64_t host_requests;
};

/* Text. */

/*
 * Length in UTF-16 units of valid UTF-8, or -1: stray or missing
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
			return -1;
		units += cp >= 0x10000 ? 2 : 1;
	}
	return units;
}

/*
 * A JSON string for bytes from a pool file, which other programs may
 * have filled with anything: what is not UTF-8 becomes U+FFFD, so that
 * every reply stays valid UTF-8.
 */
static json_object *json_text(const char *s, size_t len)
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

/* Pools. */

int hvkvpd_pool_parse(const char *name)
{
	if (name[0] >= '0' && name[0] <= '4' && name[1] == 0)
		return name[0] - '0';
	for (int i = 0; i < HV_KVP_POOL_COUNT; i++)
		if (strcasecmp(name, pool_names[i]) == 0)
			return i;
	return -ENOENT;
}

int hvkvpd_pools_parse(const char *list, unsigned int *mask)
{
	char buf[256], *save = NULL, *tok;
	unsigned int m = 0;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int p = hvkvpd_pool_parse(tok);

		if (p < 0)
			return -EINVAL;
		m |= 1u << p;
	}
	if (!m)
		return -EINVAL;
	*mask = m;
	return 0;
}

/* Errors. */

static json_object *obj_int(const char *name, int64_t v)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, name, json_object_new_int64(v));
	return p;
}

static json_object *obj_str(const char *name, const char *s)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, name, json_text(s, strlen(s)));
	return p;
}

static void err_no_such_pool(struct vl_call *call, const char *name)
{
	vl_error(call, KVP_ERR("NoSuchPool"), obj_str("pool", name));
}

static void err_no_such_key(struct vl_call *call, int pool, const char *key)
{
	json_object *p = obj_int("pool", pool);

	json_object_object_add(p, "key", json_text(key, strlen(key)));
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
	json_object *p = obj_int("max_utf16_units", units);

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

/* The pool parameter, checked for reading: the pool, or -1 after an error reply. */
static int pool_arg(struct hvkvpd_clients *cl, struct vl_call *call, json_object *params,
		    bool write)
{
	size_t len = 0;
	const char *name = param_str(params, "pool", &len);
	int pool = strlen(name) == len ? hvkvpd_pool_parse(name) : -ENOENT;

	if (pool < 0) {
		err_no_such_pool(call, name);
		return -1;
	}
	if (write) {
		if (pool != HV_KVP_POOL_GUEST && pool != HV_KVP_POOL_AUTO) {
			vl_error(call, KVP_ERR("ReadOnlyPool"), obj_int("pool", pool));
			return -1;
		}
		if (!peer_writes(cl, vl_call_peer(call))) {
			err_denied(call, "write", pool);
			return -1;
		}
	} else if (!(peer_readable(cl, vl_call_peer(call)) & (1u << pool))) {
		err_denied(call, "read", pool);
		return -1;
	}
	return pool;
}

static int key_arg(struct vl_call *call, json_object *params, const char **key)
{
	size_t len = 0;
	const char *k = param_str(params, "key", &len);
	long units;

	if (len == 0) {
		vl_error(call, KVP_ERR("InvalidKey"), obj_str("reason", "empty"));
		return -1;
	}
	units = utf8_units(k, len);
	if (units < 0) {
		vl_error(call, KVP_ERR("InvalidKey"),
			 obj_str("reason", memchr(k, 0, len) ? "contains NUL" : "not valid UTF-8"));
		return -1;
	}
	if (units > KEY_MAX_UNITS || len > HV_KVP_POOL_KEY_MAX) {
		err_too_long(call, KVP_ERR("KeyTooLong"), KEY_MAX_UNITS, HV_KVP_POOL_KEY_MAX);
		return -1;
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
		return -1;
	}
	if (units > VALUE_MAX_UNITS || len > HV_KVP_POOL_VALUE_MAX) {
		err_too_long(call, KVP_ERR("ValueTooLong"), VALUE_MAX_UNITS, HV_KVP_POOL_VALUE_MAX);
		return -1;
	}
	*value = v;
	return 0;
}

/* The Auto pool. */

/* The Auto keys by HV_KVP_AUTO_* index, as kvp_info.h lists them. */
static const char *const auto_keys[HV_KVP_AUTO_COUNT] = {
	"FullyQualifiedDomainName", "IntegrationServicesVersion", "NetworkAddressIPv4",
	"NetworkAddressIPv6", "OSBuildNumber", "OSName", "OSMajorVersion", "OSMinorVersion",
	"OSVersion", "ProcessorArchitecture",
};

static int auto_index(const char *key)
{
	for (int i = 0; i < HV_KVP_AUTO_COUNT; i++)
		if (strcmp(auto_keys[i], key) == 0)
			return i;
	return -ENOENT;
}

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

/* Watch. */

static json_object *change_json(const struct change *ch)
{
	json_object *c = json_object_new_object(), *p = json_object_new_object();

	json_object_object_add(c, "pool", json_object_new_int(ch->pool));
	json_object_object_add(c, "key", json_text(ch->key, strlen(ch->key)));
	if (!ch->deleted)
		json_object_object_add(c, "value", json_text(ch->value, strlen(ch->value)));
	json_object_object_add(c, "origin", json_object_new_string(origin_names[ch->origin]));
	json_object_object_add(p, "change", c);
	return p;
}

/* After a Watch came or went: tell the main thread whether changes are wanted. */
static void watching_update(struct hvkvpd_clients *cl)
{
	pthread_mutex_lock(&cl->lock);
	cl->watching = cl->watches != NULL;
	pthread_mutex_unlock(&cl->lock);
}

static void watches_sweep(struct hvkvpd_clients *cl)
{
	struct watch **pp = &cl->watches;

	while (*pp) {
		struct watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			free(w->key);
			free(w);
		} else {
			pp = &w->next;
		}
	}
	watching_update(cl);
}

static void changes_publish(struct hvkvpd_clients *cl, const struct change *ch)
{
	cl->publishing = true;
	for (struct watch *w = cl->watches; w; w = w->next) {
		if (w->dead || !(w->readable & (1u << ch->pool)))
			continue;
		if (w->pool >= 0 && w->pool != ch->pool)
			continue;
		if (w->key && strcmp(w->key, ch->key) != 0)
			continue;
		if (vl_call_queued(w->call) > WATCH_QUEUE_MAX) {
			/* Ending the call frees its connection for other calls; the client learns why. */
			w->dead = true;
			vl_error(w->call, KVP_ERR("ChangesLost"),
				 obj_int("queued_bytes", (int64_t)vl_call_queued(w->call)));
			continue;
		}
		if (vl_reply_more(w->call, change_json(ch)) < 0)
			w->dead = true;
	}
	cl->publishing = false;
	watches_sweep(cl);
}

static void changes_lost_all(struct hvkvpd_clients *cl)
{
	cl->publishing = true;
	for (struct watch *w = cl->watches; w; w = w->next) {
		if (w->dead)
			continue;
		w->dead = true;
		vl_error(w->call, KVP_ERR("ChangesLost"), obj_int("queued_bytes", 0));
	}
	cl->publishing = false;
	watches_sweep(cl);
}

static void queue_drain(void *ctx);

static void local_change(struct hvkvpd_clients *cl, int pool, const char *key, const char *value)
{
	struct change *ch;

	/*
	 * A write takes in what other programs appended to the pool file
	 * first, and the store queued those changes: publish them before
	 * this one, so that watchers see the order in which they happened.
	 */
	queue_drain(cl);
	if (!cl->watches)
		return;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return changes_lost_all(cl);
	ch->pool = (uint8_t)pool;
	ch->origin = ORIGIN_LOCAL;
	snprintf(ch->key, sizeof(ch->key), "%s", key);
	ch->deleted = !value;
	if (value)
		snprintf(ch->value, sizeof(ch->value), "%s", value);
	changes_publish(cl, ch);
	free(ch);
}

static void watch_cancel(struct vl_call *call, void *state)
{
	struct watch *w = state;

	w->dead = true;
	/* A client that comes and goes must not leave its watch behind until the next change. */
	if (!w->cl->publishing)
		watches_sweep(w->cl);
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
	    (pool = pool_arg(cl, call, params, false)) < 0 || key_arg(call, params, &key))
		return;
	rec = malloc(sizeof(*rec));
	if (!rec)
		return err_storage(call, -ENOMEM);
	err = hv_kvp_pool_get(cl->store, (unsigned int)pool, key, rec->value, sizeof(rec->value),
			      &len);
	if (err == -ENOENT && pool == HV_KVP_POOL_AUTO && (idx = auto_index(key)) >= 0) {
		err = auto_entry(cl, (uint32_t)idx, rec);
		len = rec->value_len;
	}
	if (err == -ENOENT) {
		err_no_such_key(call, pool, key);
	} else if (err) {
		err_storage(call, err);
	} else {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "value", json_text(rec->value, len));
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
	    (pool = pool_arg(cl, call, params, true)) < 0 || key_arg(call, params, &key) ||
	    value_arg(call, params, &value))
		return;
	if (pool == HV_KVP_POOL_AUTO && auto_index(key) < 0) {
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
	local_change(cl, pool, key, value);
}

static void kvp_delete(void *ctx, struct vl_call *call, json_object *params)
{
	struct hvkvpd_clients *cl = ctx;
	struct hv_kvp_pool_record *rec = NULL;
	const char *key;
	int pool, err, idx = -1;

	if (vl_params_check(call, params, pool_key_params) ||
	    (pool = pool_arg(cl, call, params, true)) < 0 || key_arg(call, params, &key))
		return;
	if (pool == HV_KVP_POOL_AUTO)
		idx = auto_index(key);
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
		local_change(cl, pool, key, rec->value);
	else
		local_change(cl, pool, key, NULL);
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
	json_object_object_add(r, "key", json_text(st->next.key, st->next.key_len));
	json_object_object_add(r, "value", json_text(st->next.value, st->next.value_len));
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
	    (pool = pool_arg(cl, call, params, false)) < 0)
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
	struct watch *w;
	const char *key = NULL;
	int pool = -1;

	if (vl_params_check(call, params, watch_params))
		return;
	if (param_str(params, "pool", NULL) && (pool = pool_arg(cl, call, params, false)) < 0)
		return;
	if (param_str(params, "key", NULL) && key_arg(call, params, &key))
		return;
	if (!vl_call_more(call))
		return vl_error(call, "org.varlink.service.ExpectedMore", NULL);
	w = calloc(1, sizeof(*w));
	if (!w || (key && !(w->key = strdup(key)))) {
		free(w);
		return err_storage(call, -ENOMEM);
	}
	w->cl = cl;
	w->call = call;
	w->pool = pool;
	w->readable = peer_readable(cl, vl_call_peer(call));
	w->next = cl->watches;
	cl->watches = w;
	watching_update(cl);
	vl_call_hold(call, NULL, watch_cancel, w);
	/* The first reply, without a change, says the watch is in place. */
	if (vl_reply_more(call, NULL) < 0)
		w->dead = true;
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
	json_object_object_add(p, "device", cl->device[0] ? json_text(cl->device, strlen(cl->device))
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
		json_object_object_add(ps, "name", json_object_new_string(pool_names[i]));
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

static const struct vl_interface kvp_interface = {
	.name = KVP_IFACE,
	.methods = kvp_methods,
};

/* The thread. */

static void queue_drain(void *ctx)
{
	struct hvkvpd_clients *cl = ctx;
	struct change *ch = malloc(sizeof(*ch));
	uint64_t v;
	bool overflow;

	if (read(cl->evfd, &v, sizeof(v)) < 0) {
		/* Nothing was counted: another round already took it. */
	}
	for (;;) {
		pthread_mutex_lock(&cl->lock);
		overflow = cl->overflow;
		cl->overflow = false;
		if (!ch || !cl->qlen) {
			/* Without memory for a copy, the queued changes are lost like an overflow. */
			if (!ch && cl->qlen)
				overflow = true;
			cl->qlen = 0;
			pthread_mutex_unlock(&cl->lock);
			break;
		}
		*ch = cl->queue[cl->qhead];
		cl->qhead = (cl->qhead + 1) % QUEUE_LEN;
		cl->qlen--;
		pthread_mutex_unlock(&cl->lock);
		if (overflow)
			changes_lost_all(cl);
		changes_publish(cl, ch);
	}
	if (overflow)
		changes_lost_all(cl);
	free(ch);
}

static void *clients_main(void *arg)
{
	struct hvkvpd_clients *cl = arg;

	int err = cl->thread_init ? cl->thread_init() : 0;

	/* Not one client message is read before the thread is confined. */
	pthread_mutex_lock(&cl->lock);
	cl->init_err = err;
	cl->init_done = true;
	pthread_cond_signal(&cl->init_cond);
	pthread_mutex_unlock(&cl->lock);
	if (err < 0)
		return NULL;

	/*
	 * The store's readers use liburcu's bulletproof flavour, which
	 * registers a reading thread by itself on its first read.
	 */
	for (;;) {
		bool stop;

		pthread_mutex_lock(&cl->lock);
		stop = cl->stop;
		pthread_mutex_unlock(&cl->lock);
		if (stop)
			break;
		if (vl_server_dispatch(cl->srv, -1) < 0)
			break;
	}
	return NULL;
}

static void thread_wake(struct hvkvpd_clients *cl)
{
	uint64_t one = 1;

	if (write(cl->evfd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the thread is awake anyway. */
	}
}

/*
 * Queue a change for Watch; a full queue loses it and ends every Watch.
 * True when the thread has something to do.
 */
static bool queue_push_locked(struct hvkvpd_clients *cl, uint8_t pool, enum origin origin,
			      const char *key, size_t klen, const char *value, size_t vlen)
{
	struct change *ch;

	if (!cl->watching)
		return false;
	if (cl->qlen == QUEUE_LEN) {
		cl->overflow = true;
		return true;
	}
	ch = &cl->queue[(cl->qhead + cl->qlen) % QUEUE_LEN];
	klen = strnlen(key, klen < HV_KVP_KEY_MAX_SIZE ? klen : HV_KVP_KEY_MAX_SIZE);
	vlen = value ? strnlen(value, vlen < HV_KVP_VALUE_MAX_SIZE ? vlen
				       : HV_KVP_VALUE_MAX_SIZE) : 0;
	ch->pool = pool;
	ch->origin = (uint8_t)origin;
	ch->deleted = !value;
	memcpy(ch->key, key, klen);
	ch->key[klen] = 0;
	memcpy(ch->value, value ? value : "", vlen);
	ch->value[vlen] = 0;
	cl->qlen++;
	return true;
}

void hvkvpd_clients_host_event(struct hvkvpd_clients *cl, const struct hv_kvp_event *ev)
{
	const struct hv_kvp_request *r = ev->req;
	bool wake = false;

	if (!cl)
		return;
	pthread_mutex_lock(&cl->lock);
	if (ev->negotiate) {
		cl->negotiated = true;
		cl->fw = ev->fw;
		cl->msg = ev->msg;
	} else if (!ev->error && r) {
		cl->host_requests++;
		if (ev->status == HV_IC_S_OK && r->pool < HV_KVP_POOL_COUNT &&
		    (r->operation == HV_KVP_OP_SET || r->operation == HV_KVP_OP_DELETE))
			wake = queue_push_locked(cl, r->pool, ORIGIN_HOST, r->key, r->key_len,
						 r->operation == HV_KVP_OP_SET ? r->value : NULL,
						 r->value_len);
	}
	pthread_mutex_unlock(&cl->lock);
	if (wake)
		thread_wake(cl);
}

/* From the store, with its lock held, in whichever thread refreshed. */
static void file_change(void *ctx, unsigned int pool, const char *key, const char *value)
{
	struct hvkvpd_clients *cl = ctx;

	bool wake;

	pthread_mutex_lock(&cl->lock);
	wake = queue_push_locked(cl, (uint8_t)pool, ORIGIN_FILE, key, strlen(key), value,
				 value ? strlen(value) : 0);
	pthread_mutex_unlock(&cl->lock);
	if (wake)
		thread_wake(cl);
}

void hvkvpd_clients_backend(struct hvkvpd_clients *cl, const char *backend, const char *device)
{
	if (!cl)
		return;
	pthread_mutex_lock(&cl->lock);
	snprintf(cl->backend, sizeof(cl->backend), "%s", backend);
	snprintf(cl->device, sizeof(cl->device), "%s", device ? device : "");
	cl->negotiated = false;
	pthread_mutex_unlock(&cl->lock);
}

/* Socket. */

static int socket_systemd(const char *path)
{
	int n = hvkvpd_listen_fds();

	for (int i = 0; i < n; i++) {
		int fd = HVKVPD_LISTEN_FDS_START + i;

		if (hvkvpd_is_unix_listener(fd))
			return fd;
	}
	(void)path;
	return -ENOENT;
}

/*
 * The socket's directory: made 0755 whatever the umask, since every user
 * connects; an existing one is used as it is, but never through a
 * symbolic link, which would let whoever planted it choose where the
 * socket goes.
 */
static int socket_dir_make(const char *dir)
{
	int fd, err = 0;
	bool made = mkdir(dir, 0755) == 0;

	if (!made && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ELOOP : -errno;
	if (made && fchmod(fd, 0755) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int socket_make(const char *path, const char **msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	mode_t old;
	int fd, err, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		err = socket_dir_make(dir);
		if (err < 0) {
			*msg = "socket directory";
			return err;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Anyone may connect: each call is checked against the caller's
	 * credentials. The mode comes from the umask at bind(), not from a
	 * chmod() by name afterwards, which would follow a symbolic link
	 * swapped in for the socket. One thread runs here: the umask is ours.
	 */
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		int probe, serving;
		struct stat sb;

		if (errno != EADDRINUSE)
			goto fail;
		/* A socket left by a daemon that died is replaced; one that answers is not. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		serving = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (probe >= 0)
			close(probe);
		if (serving || lstat(path, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
			close(fd);
			*msg = serving ? "socket (another daemon serves it)" : "socket";
			return -EADDRINUSE;
		}
		unlink(path);
		old = umask(0111);
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
		if (r < 0)
			goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	*msg = "socket";
	return err;
}

/* Everything but the thread; `listen`: open the socket too. */
static int clients_open(const struct hvkvpd_clients_config *cfg, bool listen,
			struct hvkvpd_clients **ret, const char **msg)
{
	static const struct vl_server_info info = {
		.vendor = "hvuio",
		.product = "hvkvpd",
		.version = HVUIO_VERSION,
		.url = "https://github.com/hvuio/hvuio",
	};
	static struct vl_interface iface;
	struct hvkvpd_clients *cl;
	struct rlimit rl;
	int fd, err;

	*msg = "client socket";
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->init_cond, NULL);
	cl->evfd = -1;
	cl->store = cfg->store;
	cl->restrict_read = cfg->restrict_read;
	cl->thread_init = cfg->thread_init;
	snprintf(cl->backend, sizeof(cl->backend), "none");
	clock_gettime(CLOCK_MONOTONIC, &cl->started);
	if (cfg->writer_group) {
		struct group *g = getgrnam(cfg->writer_group);

		if (!g) {
			*msg = "writer group";
			err = -ENOENT;
			goto fail;
		}
		cl->writer_gid = g->gr_gid;
		cl->have_writer_group = true;
	}
	/* Hundreds of clients need more descriptors than the usual soft limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cl->queue = calloc(QUEUE_LEN, sizeof(*cl->queue));
	if (!cl->queue) {
		err = -ENOMEM;
		goto fail;
	}
	/* The handler's when given: the host name it keeps resolved is the same. */
	cl->info = cfg->info;
	if (!cl->info) {
		err = hv_kvp_info_new(cfg->info_root, &cl->info);
		if (err) {
			*msg = "Auto pool values";
			goto fail;
		}
		cl->info_own = true;
	}
	cl->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cl->evfd < 0) {
		err = -errno;
		goto fail;
	}
	fd = listen ? socket_systemd(cfg->socket_path) : -1;
	if (listen && fd < 0) {
		fd = socket_make(cfg->socket_path, msg);
		if (fd < 0) {
			err = fd;
			goto fail;
		}
		cl->socket_path = strdup(cfg->socket_path);
	}
	iface = kvp_interface;
	iface.description = hvkvpd_varlink_description;
	err = vl_server_new(fd, &iface, &info, cl, &cl->srv);
	if (err)
		goto fail;
	err = vl_server_watch_fd(cl->srv, cl->evfd, queue_drain, cl);
	if (err)
		goto fail;
	err = hv_kvp_pool_watch_set(cl->store, file_change, cl);
	if (err)
		goto fail;
	*ret = cl;
	return 0;
fail:
	hvkvpd_clients_stop(cl);
	return err;
}

int hvkvpd_clients_new(const struct hvkvpd_clients_config *cfg, struct hvkvpd_clients **ret,
		       const char **msg)
{
	return clients_open(cfg, false, ret, msg);
}

int hvkvpd_clients_adopt(struct hvkvpd_clients *cl, int fd, const struct vl_peer *peer)
{
	return vl_server_adopt(cl->srv, fd, peer);
}

int hvkvpd_clients_dispatch(struct hvkvpd_clients *cl, int timeout_ms)
{
	return vl_server_dispatch(cl->srv, timeout_ms);
}

int hvkvpd_clients_start(const struct hvkvpd_clients_config *cfg,
			 struct hvkvpd_clients **ret, const char **msg)
{
	struct hvkvpd_clients *cl;
	int err;

	err = clients_open(cfg, true, &cl, msg);
	if (err)
		return err;
	err = -pthread_create(&cl->thread, NULL, clients_main, cl);
	if (err) {
		*msg = "client thread";
		goto fail;
	}
	cl->running = true;
	pthread_mutex_lock(&cl->lock);
	while (!cl->init_done)
		pthread_cond_wait(&cl->init_cond, &cl->lock);
	err = cl->init_err;
	pthread_mutex_unlock(&cl->lock);
	if (err < 0) {
		*msg = "client thread sandbox";
		goto fail;
	}
	*ret = cl;
	return 0;
fail:
	hvkvpd_clients_stop(cl);
	return err;
}

void hvkvpd_clients_stop(struct hvkvpd_clients *cl)
{
	if (!cl)
		return;
	if (cl->running) {
		uint64_t one = 1;

		pthread_mutex_lock(&cl->lock);
		cl->stop = true;
		pthread_mutex_unlock(&cl->lock);
		if (write(cl->evfd, &one, sizeof(one)) < 0) {
			/* Saturated: the thread wakes anyway. */
		}
		pthread_join(cl->thread, NULL);
	}
	if (cl->store)
		hv_kvp_pool_watch_set(cl->store, NULL, NULL);
	/* Connections go first: their calls' cancel functions free what they hold. */
	vl_server_free(cl->srv);
	watches_sweep(cl);
	if (cl->socket_path) {
		unlink(cl->socket_path);
		free(cl->socket_path);
	}
	if (cl->evfd >= 0)
		close(cl->evfd);
	if (cl->info_own)
		hv_kvp_info_free(cl->info);
	free(cl->queue);
	pthread_cond_destroy(&cl->init_cond);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}
