/* SPDX-License-Identifier: ISC */
/*
 * hvctl watch: the changes hvkvpd publishes (its Watch method), or,
 * without hvkvpd, those seen by comparing readings of the pool files
 * each time inotify says one was written. SIGINT and SIGTERM end it.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvctl.h"
#include "keys.h"
#include "poolfile.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* SIGINT and SIGTERM end a watch with status 0: that is how it ends. */
static void signals_catch(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the blocked poll() must return. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void change_print(const struct hvctl *ctx, int pool, const char *key, const char *value,
			 const char *origin)
{
	struct json_object *o;

	if (ctx->json) {
		o = hvctl_record_json(pool, key, value);
		json_object_object_add(o, "origin", json_object_new_string(origin));
		hvctl_put_json(stdout, o);
		json_object_put(o);
	} else {
		printf("%s %s ", value ? "set" : "delete", origin);
		if (value) {
			hvctl_record_print(ctx, stdout, pool, key, strlen(key), value, strlen(value));
		} else {
			printf("%s/", hv_kvp_pool_name(pool));
			hvctl_put_str(ctx, stdout, key, strlen(key));
			putchar('\n');
		}
	}
	fflush(stdout);
}

static int watch_daemon(const struct hvctl *ctx, struct hvctl_varlink *vl, int pool,
			const char *key)
{
	struct json_object *params = json_object_new_object(), *p, *c;
	const char *error, *ckey, *origin;
	bool continues = true, first = true;
	int64_t cpool;
	int err;

	if (pool >= 0)
		json_object_object_add(params, "pool", json_object_new_string(hv_kvp_pool_name(pool)));
	if (key)
		json_object_object_add(params, "key", json_object_new_string(key));
	err = hvctl_varlink_call(vl, IFACE ".Watch", params, true);
	if (err < 0)
		return hvctl_kvpd_reply_err(ctx, err);
	while (continues) {
		err = hvctl_varlink_reply(vl, &p, &error, &continues);
		if (err == -EINTR && interrupted)
			return 0;
		if (err < 0)
			return hvctl_kvpd_reply_err(ctx, err);
		if (error) {
			err = hvctl_kvpd_method_err(error, p, pool < 0 ? 0 : pool, key);
			json_object_put(p);
			return err;
		}
		/* The first reply has no change: it says the watch is in place. */
		if (first && continues && (!json_object_object_get_ex(p, "change", &c) || !c)) {
			first = false;
			json_object_put(p);
			continue;
		}
		first = false;
		if (!json_object_object_get_ex(p, "change", &c) ||
		    !json_object_is_type(c, json_type_object) ||
		    !(ckey = hvctl_param_str(c, "key")) ||
		    (cpool = hvctl_param_int(c, "pool", -1)) < 0 || cpool >= HV_KVP_POOL_COUNT) {
			json_object_put(p);
			hvctl_err("malformed change from %s", ctx->socket);
			return -EPROTO;
		}
		origin = hvctl_param_str(c, "origin");
		change_print(ctx, (int)cpool, ckey, hvctl_param_str(c, "value"), origin ? origin : "?");
		json_object_put(p);
	}
	hvctl_err("hvkvpd ended the watch");
	return -ECONNRESET;
}

/* The records of one pool, for comparing two readings of its file. */
struct snapshot {
	struct hvctl_record *recs;
	size_t n;
};

static int snapshot_read(const struct hvctl *ctx, int pool, struct snapshot *s)
{
	struct hvctl_poolfile *pf;
	struct hvctl_record *recs = NULL, *tmp;
	size_t n = 0, cap = 0;
	int r;

	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		return r;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(recs, cap * sizeof(*recs));
			if (!tmp) {
				r = -ENOMEM;
				break;
			}
			recs = tmp;
		}
		r = hvctl_poolfile_next(pf, &recs[n]);
		if (r <= 0)
			break;
		n++;
	}
	hvctl_poolfile_close(pf);
	if (r < 0) {
		free(recs);
		return r;
	}
	free(s->recs);
	s->recs = recs;
	s->n = n;
	return 0;
}

static const struct hvctl_record *snapshot_find(const struct snapshot *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->recs[i].key, key) == 0)
			return &s->recs[i];
	return NULL;
}

/* Print what differs, key by key (the first record of a key counts). */
static void snapshot_diff(const struct hvctl *ctx, int pool, const char *key,
			  const struct snapshot *old, const struct snapshot *cur)
{
	const struct hvctl_record *a, *b;
	size_t i;

	for (i = 0; i < cur->n; i++) {
		b = &cur->recs[i];
		if ((key && strcmp(b->key, key) != 0) || snapshot_find(cur, b->key) != b)
			continue;
		a = snapshot_find(old, b->key);
		if (!a || strcmp(a->value, b->value) != 0)
			change_print(ctx, pool, b->key, b->value, "file");
	}
	for (i = 0; i < old->n; i++) {
		a = &old->recs[i];
		if ((key && strcmp(a->key, key) != 0) || snapshot_find(old, a->key) != a)
			continue;
		if (!snapshot_find(cur, a->key))
			change_print(ctx, pool, a->key, NULL, "file");
	}
}

/* Without hvkvpd: watch the pool files with inotify and compare readings. */
static int watch_files(const struct hvctl *ctx, int pool, const char *key)
{
	struct snapshot snap[HV_KVP_POOL_COUNT] = { 0 }, cur;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	int fd, p, err = 0;
	unsigned int dirty;
	ssize_t n;
	char *end;
	long v;

	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		hvctl_err("inotify: %s", strerror(-err));
		return hvctl_failure(err);
	}
	if (inotify_add_watch(fd, ctx->state_dir, IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO |
			      IN_CREATE | IN_DELETE | IN_ONLYDIR) < 0) {
		err = hvctl_file_err(ctx, pool < 0 ? 0 : pool, -errno);
		goto out;
	}
	for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
		if ((pool >= 0 && p != pool) || (err = snapshot_read(ctx, p, &snap[p])) == 0)
			continue;
		err = hvctl_file_err(ctx, p, err);
		goto out;
	}
	while (!interrupted) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			hvctl_err("inotify: %s", n < 0 ? strerror(-err) : "end of file");
			err = hvctl_failure(err);
			goto out;
		}
		dirty = 0;
		for (ev = (const void *)buf; (const char *)ev < buf + n;
		     ev = (const void *)((const char *)(ev + 1) + ev->len)) {
			if (!ev->len || strncmp(ev->name, ".kvp_pool_", 10) != 0)
				continue;
			v = strtol(ev->name + 10, &end, 10);
			if (*end || end == ev->name + 10 || v < 0 || v >= HV_KVP_POOL_COUNT)
				continue;
			if (pool < 0 || v == pool)
				dirty |= 1u << v;
		}
		for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
			if (!(dirty & (1u << p)))
				continue;
			cur.recs = NULL;
			err = snapshot_read(ctx, p, &cur);
			if (err < 0) {
				err = hvctl_file_err(ctx, p, err);
				goto out;
			}
			snapshot_diff(ctx, p, key, &snap[p], &cur);
			free(snap[p].recs);
			snap[p] = cur;
		}
	}
	err = 0;
out:
	for (p = 0; p < HV_KVP_POOL_COUNT; p++)
		free(snap[p].recs);
	close(fd);
	return err;
}

/* Through hvkvpd, or the pool files without it (pool < 0: every pool). */
int hvctl_keys_watch(struct hvctl *ctx, int pool, const char *key)
{
	struct hvctl_varlink *vl;
	int err;

	signals_catch();
	err = hvctl_kvpd_connect(ctx, 0, &vl);
	if (err == 0) {
		err = watch_daemon(ctx, vl, pool, key);
		hvctl_varlink_close(vl);
		return err;
	}
	if (!hvctl_kvpd_not_running(err))
		return hvctl_kvpd_connect_err(ctx, err);
	hvctl_files_say(ctx);
	return watch_files(ctx, pool, key);
}
