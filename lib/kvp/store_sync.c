/* SPDX-License-Identifier: ISC */
/*
 * Keeping a pool in memory and its file in step: the store side of
 * poolfile.c, which it calls (poolfile.c only reads and writes bytes and
 * never calls back). A change first takes the pool file's locks without
 * waiting; when another program holds one, the change is made in memory
 * and queued (struct kvp_pending), and the queue is written, in order,
 * the next time the lock is free, on the file as the other program left
 * it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/kvp_pool.h"
#include "pool_private.h"
#include "store_index.h"
#include "store_sync.h"

/* ---- the files: reading them into memory ---- */

struct kvp_ingest {
	struct hv_kvp_store *st;
	struct kvp_pool *p;
	struct kvp_content *c;
	bool report;
};

static int kvp_ingest_one(void *ctx, const uint8_t *raw)
{
	struct kvp_ingest *in = ctx;
	struct kvp_rec *r;
	int err = kvp_rec_parse(in->st, raw, &r);

	if (!err)
		err = kvp_content_push(in->st, in->c, r);
	if (err) {
		free(r);
		return err;
	}
	if (in->report) {
		in->st->stats.records_ingested++;
		kvp_change_appended(in->st, in->p, r);
	}
	return 0;
}

/* The whole file into a content built aside; readers keep the old one meanwhile. */
static int kvp_file_load(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c)
{
	struct kvp_ingest in = { .st = st, .p = p, .c = c };
	int err = kvp_content_init(c, false);

	if (!err)
		err = kvp_file_read(st, p, 0, UINT64_MAX, kvp_ingest_one, &in);
	if (err)
		kvp_content_discard(c);
	return err;
}

int kvp_pool_reload(struct hv_kvp_store *st, struct kvp_pool *p, bool report)
{
	struct kvp_content c;
	int err = kvp_file_load(st, p, &c);

	if (err)
		return err;
	if (report) {
		kvp_change_reloaded(st, p, &c);
		st->stats.reloads++;
	}
	kvp_pool_swap(st, p, &c);
	kvp_file_seen(p);
	return 0;
}

/* Locks held: take in what other programs changed in the file since we last looked. */
static int kvp_pool_sync(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_content *c = &p->c;
	struct kvp_ingest in = { .st = st, .p = p, .c = c, .report = true };
	uint64_t full = 0;
	int err;

	err = kvp_file_check(st, p, c->nslots, c->nslots ? c->slots[c->nslots - 1]->chash : 0,
			     &full);
	if (err == KVP_FILE_SAME)
		return 0;
	if (err == KVP_FILE_CHANGED)
		return kvp_pool_reload(st, p, true);
	if (err < 0)
		return err;
	err = kvp_file_read(st, p, c->nslots, full, kvp_ingest_one, &in);
	if (err)
		return err;
	kvp_file_seen(p);
	return 0;
}

/* ---- changes, in memory and (`write`) in the file ---- */

int kvp_apply_set(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
		  struct kvp_rec *r, bool write)
{
	struct kvp_rec *old = kvp_index_lookup(c->idx, r->hash, r->data, r->klen);
	struct kvp_link *l;
	int err;

	if (old) {
		r->seq = old->seq;
		r->slot = old->slot;
		if (write) {
			err = kvp_file_update(st, p, old->slot, old, r);
			if (err) {
				free(r);
				return err;
			}
		}
		l = kvp_index_find_link(c->idx, old, NULL);
		atomic_store_explicit(&l->rec, r, memory_order_release);
		c->slots[old->slot] = r;
		if (c->live)
			kvp_order_replace(p, old->slot, r);
		kvp_drop(st, c->live, old);
		return 0;
	}
	err = kvp_content_push(st, c, r);
	if (err) {
		free(r);
		return err;
	}
	if (write) {
		err = kvp_file_append(st, p, r->slot, r);
		if (err) {
			/* Keep memory equal to the file; readers may have seen r: it is retired. */
			kvp_content_hole(st, c, r->slot);
			kvp_content_squeeze(st, c);
		}
	}
	return err;
}

int kvp_apply_delete(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
		     const char *key, size_t klen, bool write)
{
	struct kvp_rec *r = kvp_index_lookup(c->idx, kvp_siphash(st->hkey, key, klen), key, klen);
	uint64_t *h;
	size_t s;
	int err;

	if (!r)
		return -ENOENT;
	s = r->slot;
	if (write) {
		/* What the shift leaves where, for the journal (see poolfile.c). */
		h = malloc((c->nslots - s) * sizeof(*h));
		if (!h)
			return -ENOMEM;
		for (size_t i = s; i < c->nslots; i++)
			h[i - s] = c->slots[i]->chash;
		err = kvp_file_delete(st, p, s, c->nslots, h);
		free(h);
		if (err) {
			/* The shift may have stopped half-way: memory follows the file. */
			if (c->live)
				kvp_pool_reload(st, p, true);
			return err;
		}
	}
	kvp_content_hole(st, c, s);
	kvp_content_squeeze(st, c);
	return 0;
}

void kvp_pending_free(struct kvp_pending *q)
{
	while (q) {
		struct kvp_pending *n = q->next;

		free(q->value);
		free(q);
		q = n;
	}
}

int kvp_pending_add(struct hv_kvp_store *st, struct kvp_pool *p, const char *key,
		    size_t klen, const char *value)
{
	struct kvp_pending *q = malloc(sizeof(*q) + klen + 1);

	if (!q)
		return -ENOMEM;
	memcpy(q->key, key, klen + 1);
	q->value = NULL;
	q->next = NULL;
	if (value && !(q->value = strdup(value))) {
		free(q);
		return -ENOMEM;
	}
	if (!p->pending) {
		p->pending_tail = &p->pending;
		kvp_files_wake(st, true);
	}
	*p->pending_tail = q;
	p->pending_tail = &q->next;
	return 0;
}

int kvp_pool_flush(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_content c;
	struct kvp_pending *q;
	int err;

	err = kvp_file_lock(p, false);
	if (err)
		return err;
	err = kvp_file_load(st, p, &c);
	if (err)
		goto out;
	for (q = p->pending; q; q = q->next) {
		size_t klen = strlen(q->key);
		struct kvp_rec *r;

		if (!q->value) {
			err = kvp_apply_delete(st, p, &c, q->key, klen, true);
			if (err == -ENOENT)
				err = 0;    /* someone else deleted it meanwhile */
		} else {
			err = kvp_rec_new(st, q->key, klen, q->value, strlen(q->value), &r);
			if (!err)
				err = kvp_apply_set(st, p, &c, r, true);
		}
		if (err) {
			kvp_content_discard(&c);
			goto out;
		}
	}
	kvp_change_reloaded(st, p, &c);
	kvp_pool_swap(st, p, &c);
	kvp_file_seen(p);
	kvp_pending_free(p->pending);
	p->pending = NULL;
out:
	kvp_file_unlock(st, p);
	return err;
}

int kvp_pool_begin(struct hv_kvp_store *st, struct kvp_pool *p)
{
	int err;

	if (p->fd < 0)
		return 0;
	if (p->pending) {
		/* Errors leave the queue, retried later: order first. */
		kvp_pool_flush(st, p);
		if (p->pending)
			return 0;
	}
	err = kvp_file_lock(p, false);
	if (err == -EAGAIN) {
		st->stats.lock_waits++;
		return 0;
	}
	if (err)
		return err;
	err = kvp_pool_sync(st, p);
	if (err) {
		kvp_file_unlock(st, p);
		return err;
	}
	return 1;
}

int kvp_pool_refresh(struct hv_kvp_store *st, struct kvp_pool *p)
{
	int err;

	if (kvp_file_quiet(st, p))
		return 0;
	err = kvp_file_lock(p, false);
	if (err)
		return err == -EAGAIN ? 0 : err;
	err = kvp_pool_sync(st, p);
	kvp_file_unlock(st, p);
	return err;
}
