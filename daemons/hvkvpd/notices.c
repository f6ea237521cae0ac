/* SPDX-License-Identifier: ISC */
/*
 * Change notices for Watch. The host's changes come from the main thread
 * (hvkvpd_clients_host_event) and other programs' from the store, in
 * whichever thread refreshed it, through a bounded queue and an eventfd;
 * the client thread publishes them, and the changes its own clients make,
 * in the order they happened. A change that cannot be queued ends every
 * Watch with ChangesLost rather than being dropped silently.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients_private.h"

/* A Watch whose client has this much unread is ended with ChangesLost. */
#define WATCH_QUEUE_MAX (256 * 1024)

static const char *const origin_names[] = { "host", "local", "file" };

static json_object *change_json(const struct change *ch)
{
	json_object *c = json_object_new_object(), *p = json_object_new_object();

	json_object_object_add(c, "pool", json_object_new_int(ch->pool));
	json_object_object_add(c, "key", clients_json_text(ch->key, strlen(ch->key)));
	if (!ch->deleted)
		json_object_object_add(c, "value", clients_json_text(ch->value, strlen(ch->value)));
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

void clients_watches_sweep(struct hvkvpd_clients *cl)
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
				 clients_obj_int("queued_bytes", (int64_t)vl_call_queued(w->call)));
			continue;
		}
		if (vl_reply_more(w->call, change_json(ch)) < 0)
			w->dead = true;
	}
	cl->publishing = false;
	clients_watches_sweep(cl);
}

static void changes_lost_all(struct hvkvpd_clients *cl)
{
	cl->publishing = true;
	for (struct watch *w = cl->watches; w; w = w->next) {
		if (w->dead)
			continue;
		w->dead = true;
		vl_error(w->call, KVP_ERR("ChangesLost"), clients_obj_int("queued_bytes", 0));
	}
	cl->publishing = false;
	clients_watches_sweep(cl);
}

void clients_local_change(struct hvkvpd_clients *cl, int pool, const char *key,
			  const char *value)
{
	struct change *ch;

	/*
	 * A write takes in what other programs appended to the pool file
	 * first, and the store queued those changes: publish them before
	 * this one, so that watchers see the order in which they happened.
	 */
	clients_queue_drain(cl);
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
		clients_watches_sweep(w->cl);
}

int clients_watch_add(struct hvkvpd_clients *cl, struct vl_call *call, int pool,
		      const char *key, unsigned int readable)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (!w || (key && !(w->key = strdup(key)))) {
		free(w);
		return -ENOMEM;
	}
	w->cl = cl;
	w->call = call;
	w->pool = pool;
	w->readable = readable;
	w->next = cl->watches;
	cl->watches = w;
	watching_update(cl);
	vl_call_hold(call, NULL, watch_cancel, w);
	/* The first reply, without a change, says the watch is in place. */
	if (vl_reply_more(call, NULL) < 0)
		w->dead = true;
	return 0;
}

void clients_queue_drain(void *ctx)
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

void clients_wake(struct hvkvpd_clients *cl)
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
		clients_wake(cl);
}

/* From the store, with its lock held, in whichever thread refreshed. */
void clients_file_change(void *ctx, unsigned int pool, const char *key, const char *value)
{
	struct hvkvpd_clients *cl = ctx;
	bool wake;

	pthread_mutex_lock(&cl->lock);
	wake = queue_push_locked(cl, (uint8_t)pool, ORIGIN_FILE, key, strlen(key), value,
				 value ? strlen(value) : 0);
	pthread_mutex_unlock(&cl->lock);
	if (wake)
		clients_wake(cl);
}
