/* SPDX-License-Identifier: ISC */
/*
 * The pool store in memory: records, the index of their keys, the order
 * readers walk and the contents that hold them. Nothing here touches a
 * file.
 *
 * Per pool, three structures:
 * - `slots`, the records in file order, slot i being record i of the
 *   file; only the writer, under the store mutex, uses it;
 * - a chained hash index of the keys, read without locks under RCU
 *   (liburcu's bulletproof flavour: no thread registration, which suits a
 *   library). Chains are built of small links pointing to records; a
 *   resize builds a new table with new links and publishes it with one
 *   pointer store, so a reader walking the old table never follows a link
 *   that was rewired. Writers free nothing a reader may hold: records,
 *   links and tables go to a retired list, freed in batches after a grace
 *   period, which keeps every operation O(1) amortised;
 * - the order (struct kvp_order), slot for slot the same as `slots`, for
 *   enumeration and iterators without the mutex: the writer patches it
 *   in place (an append, a SET: O(1)) and builds a new one when the slots
 *   are renumbered (a delete, which shifts the file anyway, or a reload).
 *   A slot being deleted first becomes a tombstone naming its delete, and
 *   the delete keeps the record, so a reader that took its snapshot
 *   before still reads the pool as it was: every record it copies is
 *   whole and the indexes it counts are those of one state of the pool.
 *
 * Duplicate keys are all indexed; a lookup walks the whole chain and takes
 * the lowest `seq`, i.e. the first in file order, which is the record
 * Linux's hv_kvp_daemon matches (its kvp_get_value, kvp_key_add_or_modify
 * and kvp_key_delete stop at the first memcmp match).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-bp.h>

#include "hvuio/kvp_pool.h"
#include "hvuio/utf8.h"
#include "pool_private.h"
#include "store_index.h"

#ifdef KVP_TSAN
char kvp_tsan_grace;
#endif

#define KVP_INDEX_MIN 16u
#define KVP_RETIRE_BATCH 1024u

/* ---- records ---- */

bool kvp_utf8_valid(const char *str, size_t len)
{
	size_t i = 0, n;
	uint32_t cp;

	while (i < len) {
		n = hv_utf8_decode(str + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int kvp_rec_new(struct hv_kvp_store *st, const char *key, size_t klen,
		const char *val, size_t vlen, struct kvp_rec **ret)
{
	struct kvp_rec *r = malloc(sizeof(*r) + klen + vlen + 2);
	bool kok;

	if (!r)
		return -ENOMEM;
	memcpy(r->data, key, klen);
	r->data[klen] = 0;
	memcpy(r->data + klen + 1, val, vlen);
	r->data[klen + 1 + vlen] = 0;
	r->klen = (uint16_t)klen;
	r->vlen = (uint16_t)vlen;
	kok = kvp_utf8_valid(key, klen);
	r->utf8 = kok && kvp_utf8_valid(val, vlen);
	/* Only what a lookup could ask for is indexed: see hv_kvp_pool_get. */
	r->indexed = kok && klen > 0 && klen <= HV_KVP_POOL_KEY_MAX;
	r->hash = kvp_siphash(st->hkey, key, klen);
	r->chash = kvp_content_hash(key, klen, val, vlen);
	r->seq = 0;
	r->slot = 0;
	*ret = r;
	return 0;
}

int kvp_rec_parse(struct hv_kvp_store *st, const uint8_t *raw, struct kvp_rec **ret)
{
	const char *k = (const char *)raw, *v = (const char *)raw + KVP_KEY_FIELD;

	return kvp_rec_new(st, k, strnlen(k, KVP_KEY_FIELD), v,
			   strnlen(v, KVP_VAL_FIELD), ret);
}

/* ---- retiring memory ---- */

void kvp_retired_flush(struct hv_kvp_store *st)
{
	if (!st->nretired)
		return;
	urcu_bp_synchronize_rcu();
	kvp_tsan_grace_done();
	for (size_t i = 0; i < st->nretired; i++)
		free(st->retired[i]);
	st->nretired = 0;
}

static int kvp_retire(struct hv_kvp_store *st, void *ptr)
{
	if (st->nretired == st->cap_retired) {
		size_t cap = st->cap_retired ? st->cap_retired * 2 : 256;
		void **n = realloc(st->retired, cap * sizeof(*n));

		if (!n) {
			/* No room to defer: wait for the readers now. */
			kvp_retired_flush(st);
			urcu_bp_synchronize_rcu();
			kvp_tsan_grace_done();
			free(ptr);
			return 0;
		}
		st->retired = n;
		st->cap_retired = cap;
	}
	st->retired[st->nretired++] = ptr;
	return 0;
}

void kvp_retired_maybe_flush(struct hv_kvp_store *st)
{
	if (st->nretired >= KVP_RETIRE_BATCH)
		kvp_retired_flush(st);
}

void kvp_drop(struct hv_kvp_store *st, bool live, void *ptr)
{
	if (live)
		kvp_retire(st, ptr);
	else
		free(ptr);
}

/* ---- the index ---- */

static struct kvp_index *kvp_index_alloc(size_t buckets)
{
	struct kvp_index *idx = malloc(sizeof(*idx) + buckets * sizeof(idx->b[0]));

	if (!idx)
		return NULL;
	idx->mask = buckets - 1;
	idx->count = 0;
	for (size_t i = 0; i < buckets; i++)
		atomic_init(&idx->b[i], NULL);
	return idx;
}

void kvp_pool_publish(struct hv_kvp_store *st, struct kvp_pool *p)
{
	(void)st;
	atomic_store_explicit(&p->pub, p->c.idx, memory_order_release);
}

static int kvp_index_link(struct kvp_index *idx, struct kvp_rec *r)
{
	struct kvp_link *l = malloc(sizeof(*l));
	size_t b = r->hash & idx->mask;

	if (!l)
		return -ENOMEM;
	atomic_init(&l->rec, r);
	atomic_init(&l->next, atomic_load_explicit(&idx->b[b], memory_order_relaxed));
	/* Release: the record and link are complete before a reader sees them. */
	atomic_store_explicit(&idx->b[b], l, memory_order_release);
	idx->count++;
	return 0;
}

static void kvp_index_free_links(struct hv_kvp_store *st, struct kvp_index *idx, bool live)
{
	for (size_t i = 0; i <= idx->mask; i++) {
		struct kvp_link *l = atomic_load_explicit(&idx->b[i], memory_order_relaxed);

		while (l) {
			struct kvp_link *n = atomic_load_explicit(&l->next, memory_order_relaxed);

			kvp_drop(st, live, l);
			l = n;
		}
	}
}

/* The pool whose content is live; the content is always pool->c then. */
static struct kvp_pool *kvp_content_pool(struct hv_kvp_store *st, struct kvp_content *c)
{
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++)
		if (&st->pools[i].c == c)
			return &st->pools[i];
	return NULL;
}

/* The pool whose content `c` is, if readers see it. */
static struct kvp_pool *kvp_live_pool(struct hv_kvp_store *st, struct kvp_content *c)
{
	return c->live ? kvp_content_pool(st, c) : NULL;
}

static int kvp_index_grow(struct hv_kvp_store *st, struct kvp_content *c)
{
	struct kvp_index *old = c->idx, *idx;
	int err;

	idx = kvp_index_alloc((old->mask + 1) * 2);
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i <= old->mask; i++) {
		for (struct kvp_link *l = atomic_load_explicit(&old->b[i], memory_order_relaxed);
		     l; l = atomic_load_explicit(&l->next, memory_order_relaxed)) {
			err = kvp_index_link(idx, atomic_load_explicit(&l->rec, memory_order_relaxed));
			if (err) {
				kvp_index_free_links(st, idx, false);
				free(idx);
				return err;
			}
		}
	}
	c->idx = idx;
	if (c->live)
		kvp_pool_publish(st, kvp_content_pool(st, c));
	kvp_index_free_links(st, old, c->live);
	kvp_drop(st, c->live, old);
	return 0;
}

static int kvp_index_insert(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r)
{
	int err;

	if (c->idx->count >= c->idx->mask + 1) {
		err = kvp_index_grow(st, c);
		if (err)
			return err;
	}
	return kvp_index_link(c->idx, r);
}

struct kvp_link *kvp_index_find_link(struct kvp_index *idx, const struct kvp_rec *r,
				     _Atomic(struct kvp_link *) **prevp)
{
	_Atomic(struct kvp_link *) *prev = &idx->b[r->hash & idx->mask];
	struct kvp_link *l;

	while ((l = atomic_load_explicit(prev, memory_order_relaxed))) {
		if (atomic_load_explicit(&l->rec, memory_order_relaxed) == r) {
			if (prevp)
				*prevp = prev;
			return l;
		}
		prev = &l->next;
	}
	return NULL;
}

static void kvp_index_remove(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r)
{
	_Atomic(struct kvp_link *) *prev;
	struct kvp_link *l = kvp_index_find_link(c->idx, r, &prev);

	if (!l)
		return;
	/* A reader standing on l still finds its way on through l->next. */
	atomic_store_explicit(prev, atomic_load_explicit(&l->next, memory_order_relaxed),
			      memory_order_release);
	c->idx->count--;
	kvp_drop(st, c->live, l);
}

struct kvp_rec *kvp_index_lookup(struct kvp_index *idx, uint64_t h,
				 const char *key, size_t klen)
{
	struct kvp_rec *best = NULL;
	struct kvp_link *l = atomic_load_explicit(&idx->b[h & idx->mask], memory_order_acquire);

	for (; l; l = atomic_load_explicit(&l->next, memory_order_acquire)) {
		struct kvp_rec *r = atomic_load_explicit(&l->rec, memory_order_acquire);

		if (r->hash == h && r->klen == klen && !memcmp(r->data, key, klen) &&
		    (!best || r->seq < best->seq))
			best = r;
	}
	return best;
}

/* ---- the order readers walk ---- */

static struct kvp_slots *kvp_slots_alloc(size_t cap)
{
	struct kvp_slots *a;

	if (cap > (SIZE_MAX - sizeof(*a)) / (3 * sizeof(a->v[0])))
		return NULL;
	a = malloc(sizeof(*a) + 3 * cap * sizeof(a->v[0]));
	if (a)
		a->cap = cap;
	return a;
}

static void kvp_order_retire(struct hv_kvp_store *st, struct kvp_order *o)
{
	if (!o)
		return;
	kvp_retire(st, atomic_load_explicit(&o->arr, memory_order_relaxed));
	kvp_retire(st, o);
}

void kvp_order_free(struct kvp_order *o)
{
	if (!o)
		return;
	free(atomic_load_explicit(&o->arr, memory_order_relaxed));
	free(o);
}

static void kvp_pool_live_set(struct kvp_pool *p)
{
	atomic_store_explicit(&p->live, p->c.nslots - p->c.holes, memory_order_relaxed);
}

int kvp_order_build(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_content *c = &p->c;
	struct kvp_order *o = malloc(sizeof(*o)), *old;
	struct kvp_slots *a = NULL;
	size_t cap = 64, k = 0, fh = SIZE_MAX;

	while (cap <= c->nslots)
		cap *= 2;
	if (o)
		a = kvp_slots_alloc(cap);
	old = atomic_load_explicit(&p->order, memory_order_relaxed);
	if (!a) {
		free(o);
		atomic_store_explicit(&p->order, NULL, memory_order_release);
		kvp_order_retire(st, old);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nslots; i++) {
		if (c->slots[i]) {
			atomic_init(&a->v[i], (uintptr_t)c->slots[i]);
			continue;
		}
		atomic_init(&a->v[i], KVP_TOMB(k));
		atomic_init(&KVP_DEL_SLOT(a, k), i);
		atomic_init(&KVP_DEL_REC(a, k), 0);
		k++;
		if (fh == SIZE_MAX)
			fh = i;
	}
	o->epoch = st->next_epoch++;
	o->seqgen = p->seqgen;
	atomic_init(&o->nslots, c->nslots);
	atomic_init(&o->ndels, k);
	atomic_init(&o->first_hole, fh);
	atomic_init(&o->arr, a);
	atomic_store_explicit(&p->order, o, memory_order_release);
	kvp_order_retire(st, old);
	return 0;
}

void kvp_orders_repair(struct hv_kvp_store *st)
{
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++)
		if (!atomic_load_explicit(&st->pools[i].order, memory_order_relaxed))
			kvp_order_build(st, &st->pools[i]);
}

/* Room for one more slot: doubling keeps appends O(1) amortised. */
static int kvp_order_reserve(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_order *o = atomic_load_explicit(&p->order, memory_order_relaxed);
	struct kvp_slots *a, *b;
	size_t n, h;

	if (!o)
		return 0;
	a = atomic_load_explicit(&o->arr, memory_order_relaxed);
	n = atomic_load_explicit(&o->nslots, memory_order_relaxed);
	h = atomic_load_explicit(&o->ndels, memory_order_relaxed);
	if (n < a->cap)
		return 0;
	b = kvp_slots_alloc(a->cap * 2);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		atomic_init(&b->v[i], atomic_load_explicit(&a->v[i], memory_order_relaxed));
	for (size_t k = 0; k < h; k++) {
		atomic_init(&KVP_DEL_SLOT(b, k),
			    atomic_load_explicit(&KVP_DEL_SLOT(a, k), memory_order_relaxed));
		atomic_init(&KVP_DEL_REC(b, k),
			    atomic_load_explicit(&KVP_DEL_REC(a, k), memory_order_relaxed));
	}
	/* From here the writer writes only to b; a reader on a sees an older state. */
	atomic_store_explicit(&o->arr, b, memory_order_release);
	kvp_retire(st, a);
	return 0;
}

/* After kvp_order_reserve: the slot array has room. */
static void kvp_order_append(struct kvp_pool *p, struct kvp_rec *r)
{
	struct kvp_order *o = atomic_load_explicit(&p->order, memory_order_relaxed);
	struct kvp_slots *a;
	size_t n;

	if (!o)
		return;
	a = atomic_load_explicit(&o->arr, memory_order_relaxed);
	n = atomic_load_explicit(&o->nslots, memory_order_relaxed);
	atomic_store_explicit(&a->v[n], (uintptr_t)r, memory_order_relaxed);
	/* Release: the slot and the record are complete before a reader counts them. */
	atomic_store_explicit(&o->nslots, n + 1, memory_order_release);
}

void kvp_order_replace(struct kvp_pool *p, size_t slot, struct kvp_rec *r)
{
	struct kvp_order *o = atomic_load_explicit(&p->order, memory_order_relaxed);

	if (o)
		atomic_store_explicit(&atomic_load_explicit(&o->arr, memory_order_relaxed)->v[slot],
				      (uintptr_t)r, memory_order_release);
}

static void kvp_order_delete(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot)
{
	struct kvp_order *o = atomic_load_explicit(&p->order, memory_order_relaxed);
	struct kvp_slots *a;
	size_t k;

	if (!o)
		return;
	a = atomic_load_explicit(&o->arr, memory_order_relaxed);
	k = atomic_load_explicit(&o->ndels, memory_order_relaxed);
	if (k >= a->cap || slot >= atomic_load_explicit(&o->nslots, memory_order_relaxed)) {
		/* Cannot happen (a slot is deleted once per order); stay correct anyway. */
		kvp_order_build(st, p);
		return;
	}
	atomic_store_explicit(&KVP_DEL_SLOT(a, k), slot, memory_order_relaxed);
	atomic_store_explicit(&KVP_DEL_REC(a, k),
			      atomic_load_explicit(&a->v[slot], memory_order_relaxed),
			      memory_order_relaxed);
	/* Release: a reader that sees the tombstone finds its delete written. */
	atomic_store_explicit(&a->v[slot], KVP_TOMB(k), memory_order_release);
	if (slot < atomic_load_explicit(&o->first_hole, memory_order_relaxed))
		atomic_store_explicit(&o->first_hole, slot, memory_order_release);
	atomic_store_explicit(&o->ndels, k + 1, memory_order_release);
}

void kvp_snap_take(struct kvp_order *o, struct kvp_snap *sn)
{
	sn->h = atomic_load_explicit(&o->ndels, memory_order_acquire);
	sn->n = atomic_load_explicit(&o->nslots, memory_order_acquire);
	/* Read after ndels: never above the lowest slot of the first h deletes. */
	sn->fh = atomic_load_explicit(&o->first_hole, memory_order_acquire);
	sn->a = atomic_load_explicit(&o->arr, memory_order_acquire);
}

struct kvp_rec *kvp_snap_rec(const struct kvp_snap *sn, size_t slot)
{
	uintptr_t v = atomic_load_explicit(&sn->a->v[slot], memory_order_acquire);
	size_t k;

	if (!KVP_IS_TOMB(v))
		return (struct kvp_rec *)v;
	k = KVP_TOMB_SEQ(v);
	if (k < sn->h || k >= sn->a->cap)
		return NULL;
	/* Deleted since the snapshot: still there for this reader. */
	return (struct kvp_rec *)atomic_load_explicit(&KVP_DEL_REC(sn->a, k),
						      memory_order_relaxed);
}

/* ---- contents ---- */

int kvp_content_init(struct kvp_content *c, bool live)
{
	memset(c, 0, sizeof(*c));
	c->idx = kvp_index_alloc(KVP_INDEX_MIN);
	if (!c->idx)
		return -ENOMEM;
	c->first_hole = SIZE_MAX;
	c->live = live;
	return 0;
}

int kvp_content_push(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r)
{
	struct kvp_pool *p = kvp_live_pool(st, c);
	int err;

	if (c->nslots == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct kvp_rec **n = realloc(c->slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->slots = n;
		c->cap = cap;
	}
	if (p) {
		err = kvp_order_reserve(st, p);
		if (err)
			return err;
	}
	if (r->indexed) {
		err = kvp_index_insert(st, c, r);
		if (err)
			return err;
	}
	r->seq = c->next_seq++;
	r->slot = c->nslots;
	c->slots[c->nslots++] = r;
	if (p) {
		kvp_order_append(p, r);
		kvp_pool_live_set(p);
	}
	return 0;
}

void kvp_content_hole(struct hv_kvp_store *st, struct kvp_content *c, size_t slot)
{
	struct kvp_pool *p = kvp_live_pool(st, c);
	struct kvp_rec *r = c->slots[slot];

	if (!r)
		return;
	if (r->indexed)
		kvp_index_remove(st, c, r);
	c->slots[slot] = NULL;
	c->holes++;
	if (slot < c->first_hole)
		c->first_hole = slot;
	if (p) {
		kvp_order_delete(st, p, slot);
		kvp_pool_live_set(p);
	}
	kvp_drop(st, c->live, r);
}

void kvp_content_squeeze(struct hv_kvp_store *st, struct kvp_content *c)
{
	struct kvp_pool *p = kvp_live_pool(st, c);
	size_t j = c->first_hole;

	if (!c->holes)
		return;
	/* The records before the first hole keep their slots: not touched. */
	for (size_t i = j; i < c->nslots; i++) {
		if (!c->slots[i])
			continue;
		c->slots[i]->slot = j;
		c->slots[j++] = c->slots[i];
	}
	c->nslots = j;
	c->holes = 0;
	c->first_hole = SIZE_MAX;
	if (p) {
		kvp_order_build(st, p);
		kvp_pool_live_set(p);
	}
}

void kvp_content_discard(struct kvp_content *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		free(c->slots[i]);
	free(c->slots);
	if (c->idx) {
		for (size_t i = 0; i <= c->idx->mask; i++) {
			struct kvp_link *l = atomic_load_explicit(&c->idx->b[i], memory_order_relaxed);

			while (l) {
				struct kvp_link *n = atomic_load_explicit(&l->next, memory_order_relaxed);

				free(l);
				l = n;
			}
		}
		free(c->idx);
	}
	memset(c, 0, sizeof(*c));
}

int kvp_pool_swap(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c)
{
	struct kvp_content old = p->c;

	p->c = *c;
	p->c.live = true;
	/* New records, new file order: iterators cannot find their place by it. */
	p->seqgen = st->next_epoch++;
	kvp_pool_publish(st, p);
	for (size_t i = 0; i < old.nslots; i++)
		if (old.slots[i])
			kvp_retire(st, old.slots[i]);
	free(old.slots);
	kvp_index_free_links(st, old.idx, true);
	kvp_retire(st, old.idx);
	memset(c, 0, sizeof(*c));
	kvp_pool_live_set(p);
	/* Out of memory: readers get -ENOMEM until the next writer call. */
	kvp_order_build(st, p);
	return 0;
}

/* ---- changes by other programs, for hv_kvp_pool_watch_set ---- */

static bool kvp_rec_first(const struct kvp_content *c, const struct kvp_rec *r)
{
	return r->indexed && kvp_index_lookup(c->idx, r->hash, r->data, r->klen) == r;
}

void kvp_change_appended(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r)
{
	if (st->change_fn && kvp_rec_first(&p->c, r))
		st->change_fn(st->change_ctx, (unsigned int)(p - st->pools), kvp_rec_key(r),
			      kvp_rec_value(r));
}

void kvp_change_reloaded(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_content *c)
{
	unsigned int pool = (unsigned int)(p - st->pools);

	if (!st->change_fn)
		return;
	for (size_t i = 0; i < c->nslots; i++) {
		const struct kvp_rec *r = c->slots[i], *o;

		if (!r || !kvp_rec_first(c, r))
			continue;
		o = kvp_index_lookup(p->c.idx, r->hash, r->data, r->klen);
		if (!o || o->vlen != r->vlen || memcmp(kvp_rec_value(o), kvp_rec_value(r), r->vlen))
			st->change_fn(st->change_ctx, pool, kvp_rec_key(r), kvp_rec_value(r));
	}
	for (size_t i = 0; i < p->c.nslots; i++) {
		const struct kvp_rec *o = p->c.slots[i];

		if (o && kvp_rec_first(&p->c, o) &&
		    !kvp_index_lookup(c->idx, o->hash, o->data, o->klen))
			st->change_fn(st->change_ctx, pool, kvp_rec_key(o), NULL);
	}
}
