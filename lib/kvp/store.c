/* SPDX-License-Identifier: ISC */
/*
 * The pool store in memory, and the changes it makes to the pool files
 * through poolfile.c (which only reads and writes bytes: this file calls
 * it, never the other way round).
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
 * A change first takes the pool file's locks without waiting. When
 * another program holds one, the change is made in memory and queued
 * (struct kvp_pending); the queue is written, in order, the next time the
 * lock is free, on the file as the other program left it.
 *
 * Duplicate keys are all indexed; a lookup walks the whole chain and takes
 * the lowest `seq`, i.e. the first in file order, which is the record
 * Linux's hv_kvp_daemon matches (its kvp_get_value, kvp_key_add_or_modify
 * and kvp_key_delete stop at the first memcmp match).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-bp.h>

#include "hvuio/kvp_pool.h"
#include "hvuio/utf8.h"
#include "lib/common/compiler.h"
#include "pool_private.h"

/*
 * ThreadSanitizer does not know that a grace period orders a reader's
 * accesses before the writer's free; tell it, so that a TSan build only
 * reports real races.
 */
#if defined(__SANITIZE_THREAD__)
#define KVP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KVP_TSAN 1
#endif
#endif
#ifdef KVP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char kvp_tsan_grace;
#define kvp_tsan_reader_done() __tsan_release(&kvp_tsan_grace)
#define kvp_tsan_grace_done()  __tsan_acquire(&kvp_tsan_grace)
#else
#define kvp_tsan_reader_done() do { } while (0)
#define kvp_tsan_grace_done()  do { } while (0)
#endif

#define KVP_INDEX_MIN 16u
#define KVP_RETIRE_BATCH 1024u

/* ---- records ---- */

/* Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static bool kvp_utf8_valid(const char *str, size_t len)
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

static int kvp_rec_new(struct hv_kvp_store *st, const char *key, size_t klen,
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

/* A file record: each field ends at its first NUL or at the field's end. */
static int kvp_rec_parse(struct hv_kvp_store *st, const uint8_t *raw, struct kvp_rec **ret)
{
	const char *k = (const char *)raw, *v = (const char *)raw + KVP_KEY_FIELD;

	return kvp_rec_new(st, k, strnlen(k, KVP_KEY_FIELD), v,
			   strnlen(v, KVP_VAL_FIELD), ret);
}

/* ---- retiring memory ---- */

static void kvp_retired_flush(struct hv_kvp_store *st)
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

static void kvp_retired_maybe_flush(struct hv_kvp_store *st)
{
	if (st->nretired >= KVP_RETIRE_BATCH)
		kvp_retired_flush(st);
}

/* Free now if nobody can see it, else after a grace period. */
static void kvp_drop(struct hv_kvp_store *st, bool live, void *ptr)
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

static void kvp_pool_publish(struct hv_kvp_store *st, struct kvp_pool *p)
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

static struct kvp_link *kvp_index_find_link(struct kvp_index *idx, const struct kvp_rec *r,
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

/* The first record (lowest seq) with this key; call under the RCU read lock or the mutex. */
static struct kvp_rec *kvp_index_lookup(struct kvp_index *idx, uint64_t h,
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

static void kvp_order_free(struct kvp_order *o)
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

/*
 * A new order for the pool's slots as they are now (holes become the
 * first deletes). Out of memory, readers get -ENOMEM until a later
 * writer call builds it: patching an order whose slots no longer match
 * would show them wrong records.
 */
static int kvp_order_build(struct hv_kvp_store *st, struct kvp_pool *p)
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

/* Writers call this first: an order lost to a failed allocation comes back. */
static void kvp_orders_repair(struct hv_kvp_store *st)
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

static void kvp_order_replace(struct kvp_pool *p, size_t slot, struct kvp_rec *r)
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

/*
 * What a reader sees of an order: the counters first, then the array,
 * so that the array holds at least every slot and delete they count.
 */
struct kvp_snap {
	struct kvp_slots *a;
	size_t n, h, fh;
};

static void kvp_snap_take(struct kvp_order *o, struct kvp_snap *sn)
{
	sn->h = atomic_load_explicit(&o->ndels, memory_order_acquire);
	sn->n = atomic_load_explicit(&o->nslots, memory_order_acquire);
	/* Read after ndels: never above the lowest slot of the first h deletes. */
	sn->fh = atomic_load_explicit(&o->first_hole, memory_order_acquire);
	sn->a = atomic_load_explicit(&o->arr, memory_order_acquire);
}

/* The record in `slot` as of the snapshot, NULL for a hole; slot < sn->n. */
static struct kvp_rec *kvp_snap_rec(const struct kvp_snap *sn, size_t slot)
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

static int kvp_content_init(struct kvp_content *c, bool live)
{
	memset(c, 0, sizeof(*c));
	c->idx = kvp_index_alloc(KVP_INDEX_MIN);
	if (!c->idx)
		return -ENOMEM;
	c->first_hole = SIZE_MAX;
	c->live = live;
	return 0;
}

static int kvp_content_push(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r)
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

static void kvp_content_hole(struct hv_kvp_store *st, struct kvp_content *c, size_t slot)
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

/*
 * Close the holes in memory, as a delete's shift does in the file; the slots
 * are renumbered, so readers get a new order.
 */
static void kvp_content_squeeze(struct hv_kvp_store *st, struct kvp_content *c)
{
	struct kvp_pool *p = kvp_live_pool(st, c);
	size_t j = 0;

	if (!c->holes)
		return;
	for (size_t i = 0; i < c->nslots; i++) {
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

/* Free a content nobody else can see. */
static void kvp_content_discard(struct kvp_content *c)
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

/* Make `c` (built aside) the pool's content; readers switch with one store. */
static int kvp_pool_swap(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c)
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

/* `r` was read from the end of the file: a new key is a change, a duplicate is not. */
static void kvp_change_appended(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r)
{
	if (st->change_fn && kvp_rec_first(&p->c, r))
		st->change_fn(st->change_ctx, (unsigned int)(p - st->pools), kvp_rec_key(r),
			      kvp_rec_value(r));
}

/* `c` is about to replace the pool's content: report the keys whose lookup changes. */
static void kvp_change_reloaded(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_content *c)
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

/* ---- the writers' mutex ---- */

static void kvp_store_lock(struct hv_kvp_store *st)
{
	pthread_mutex_lock(&st->lock);
	atomic_fetch_add_explicit(&st->lock_count, 1, memory_order_relaxed);
}

static void kvp_store_unlock(struct hv_kvp_store *st)
{
	pthread_mutex_unlock(&st->lock);
}

void kvp_store_lock_hold(struct hv_kvp_store *st, bool hold)
{
	if (hold)
		kvp_store_lock(st);
	else
		kvp_store_unlock(st);
}

uint64_t kvp_store_lock_count(struct hv_kvp_store *st)
{
	return atomic_load_explicit(&st->lock_count, memory_order_relaxed);
}

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

/* Memory becomes the file again; `report` other programs' changes. */
static int kvp_pool_reload(struct hv_kvp_store *st, struct kvp_pool *p, bool report)
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

/* Set `r` (a new record) in content `c` of pool `p`; `r` is the content's, or freed. */
static int kvp_apply_set(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
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

static int kvp_apply_delete(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
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

static void kvp_pending_free(struct kvp_pending *q)
{
	while (q) {
		struct kvp_pending *n = q->next;

		free(q->value);
		free(q);
		q = n;
	}
}

static int kvp_pending_add(struct hv_kvp_store *st, struct kvp_pool *p, const char *key,
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

/*
 * The lock is free again: read the file as the other program left it,
 * make the changes that waited, in order, and show readers the result.
 * Mutex held. Returns 0, -EAGAIN (still locked) or an errno; on an I/O
 * error the changes not written stay queued (and in memory).
 */
static int kvp_pool_flush(struct hv_kvp_store *st, struct kvp_pool *p)
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

/*
 * Take pool `p`'s file for a change, or learn that it must wait: returns
 * 1 when the change is to be written now (locks held), 0 when it goes to
 * memory only (no file, or another program holds the lock: the change is
 * queued by the caller), or an errno.
 */
static int kvp_pool_begin(struct hv_kvp_store *st, struct kvp_pool *p)
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

/* ---- public interface ---- */

static int kvp_key_check(const char *key, size_t *klen)
{
	size_t n;

	if (!key)
		return -EINVAL;
	n = strnlen(key, HV_KVP_POOL_KEY_MAX + 1);
	if (n == 0)
		return -EINVAL;
	if (n > HV_KVP_POOL_KEY_MAX)
		return -ENAMETOOLONG;
	if (!kvp_utf8_valid(key, n))
		return -EILSEQ;
	*klen = n;
	return 0;
}

HV_EXPORT int hv_kvp_pool_open_journaled(const char *dir, const char *journal_dir,
					 unsigned int flags, struct hv_kvp_store **ret)
{
	struct hv_kvp_store *st;
	int err;

	if (!ret || (flags & ~(HV_KVP_POOL_SYNC_ALWAYS | HV_KVP_POOL_NO_INOTIFY)) ||
	    (journal_dir && !dir))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->flags = flags;
	st->dirfd = -1;
	st->ifd = st->efd = st->pfd = -1;
	pthread_mutex_init(&st->lock, NULL);
	if (getrandom(st->hkey, sizeof(st->hkey), GRND_NONBLOCK) != sizeof(st->hkey)) {
		/* Early boot without entropy: still differs per run. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		st->hkey[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		st->hkey[1] = (uint64_t)(uintptr_t)st ^ (uint64_t)ts.tv_sec;
	}
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		p->fd = -1;
		p->jfd = -1;
		err = kvp_content_init(&p->c, true);
		if (err)
			goto out;
		kvp_pool_publish(st, p);
		err = kvp_order_build(st, p);
		if (err)
			goto out;
	}
	if (dir) {
		err = kvp_files_open(st, dir, journal_dir);
		if (err)
			goto out;
	}
	for (unsigned int i = 0; dir && i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		err = kvp_file_lock(p, true);
		if (err)
			goto out;
		/* Nothing is written here but the end of a write of ours a kill cut short. */
		err = kvp_file_recover(st, p);
		if (!err)
			err = kvp_pool_reload(st, p, false);
		kvp_file_unlock(st, p);
		if (err)
			goto out;
	}
	*ret = st;
	return 0;
out:
	hv_kvp_pool_close(st);
	return err;
}

HV_EXPORT int hv_kvp_pool_open(const char *dir, unsigned int flags, struct hv_kvp_store **ret)
{
	return hv_kvp_pool_open_journaled(dir, NULL, flags, ret);
}

/* How long a close waits for another program to release a pool file with changes pending. */
#define KVP_CLOSE_WAIT_MS 5000

HV_EXPORT void hv_kvp_pool_close(struct hv_kvp_store *st)
{
	if (!st)
		return;
	kvp_store_lock(st);
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		for (int ms = 0; p->pending && ms < KVP_CLOSE_WAIT_MS; ms++) {
			if (kvp_pool_flush(st, p) != -EAGAIN)
				break;
			usleep(1000);
		}
		kvp_pending_free(p->pending);
		p->pending = NULL;
	}
	kvp_files_close(st);
	kvp_retired_flush(st);
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		kvp_content_discard(&st->pools[i].c);
		kvp_order_free(atomic_load_explicit(&st->pools[i].order, memory_order_relaxed));
	}
	free(st->retired);
	kvp_store_unlock(st);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

HV_EXPORT int hv_kvp_pool_get(struct hv_kvp_store *st, unsigned int pool, const char *key,
			      char *value, size_t size, size_t *len)
{
	struct kvp_index *idx;
	struct kvp_rec *r;
	size_t klen;
	uint64_t h;
	int err;

	if (!st || pool >= HV_KVP_POOL_COUNT || (!value && size))
		return -EINVAL;
	err = kvp_key_check(key, &klen);
	if (err)
		return err;
	h = kvp_siphash(st->hkey, key, klen);

	urcu_bp_read_lock();
	idx = atomic_load_explicit(&st->pools[pool].pub, memory_order_acquire);
	r = kvp_index_lookup(idx, h, key, klen);
	if (!r) {
		err = -ENOENT;
	} else {
		if (len)
			*len = r->vlen;
		if (size < (size_t)r->vlen + 1) {
			err = -ENOBUFS;
		} else {
			memcpy(value, kvp_rec_value(r), r->vlen + 1u);
			err = 0;
		}
	}
	kvp_tsan_reader_done();
	urcu_bp_read_unlock();
	return err;
}

HV_EXPORT int hv_kvp_pool_set(struct hv_kvp_store *st, unsigned int pool, const char *key,
			      const char *value)
{
	struct kvp_rec *r;
	struct kvp_pool *p;
	size_t klen, vlen;
	int err, write;

	if (!st || pool >= HV_KVP_POOL_COUNT || !value)
		return -EINVAL;
	err = kvp_key_check(key, &klen);
	if (err)
		return err;
	vlen = strnlen(value, HV_KVP_POOL_VALUE_MAX + 1);
	if (vlen > HV_KVP_POOL_VALUE_MAX)
		return -E2BIG;
	if (!kvp_utf8_valid(value, vlen))
		return -EILSEQ;

	kvp_store_lock(st);
	kvp_orders_repair(st);
	p = &st->pools[pool];
	write = kvp_pool_begin(st, p);
	if (write < 0) {
		err = write;
		goto out_unlocked_file;
	}
	/* Queued first: out of memory there, nothing has changed. */
	if (!write && p->fd >= 0)
		err = kvp_pending_add(st, p, key, klen, value);
	if (!err)
		err = kvp_rec_new(st, key, klen, value, vlen, &r);
	if (!err)
		err = kvp_apply_set(st, p, &p->c, r, write);
	if (write)
		kvp_file_unlock(st, p);
out_unlocked_file:
	kvp_retired_maybe_flush(st);
	kvp_store_unlock(st);
	return err;
}

HV_EXPORT int hv_kvp_pool_delete(struct hv_kvp_store *st, unsigned int pool, const char *key)
{
	struct kvp_pool *p;
	size_t klen;
	int err, write;

	if (!st || pool >= HV_KVP_POOL_COUNT)
		return -EINVAL;
	err = kvp_key_check(key, &klen);
	if (err)
		return err;

	kvp_store_lock(st);
	kvp_orders_repair(st);
	p = &st->pools[pool];
	write = kvp_pool_begin(st, p);
	if (write < 0) {
		err = write;
		goto out_unlocked_file;
	}
	if (!write && p->fd >= 0) {
		if (!kvp_index_lookup(p->c.idx, kvp_siphash(st->hkey, key, klen), key, klen))
			err = -ENOENT;
		else
			err = kvp_pending_add(st, p, key, klen, NULL);
	}
	if (!err)
		err = kvp_apply_delete(st, p, &p->c, key, klen, write);
	if (write)
		kvp_file_unlock(st, p);
out_unlocked_file:
	kvp_retired_maybe_flush(st);
	kvp_store_unlock(st);
	return err;
}

static void kvp_rec_copy(const struct kvp_rec *r, struct hv_kvp_pool_record *rec)
{
	memcpy(rec->key, kvp_rec_key(r), r->klen + 1u);
	memcpy(rec->value, kvp_rec_value(r), r->vlen + 1u);
	rec->key_len = r->klen;
	rec->value_len = r->vlen;
	rec->utf8 = r->utf8;
}

/*
 * Copy record `index` (next: the record after the iterator's own) and
 * place the iterator on it, under the RCU read lock only. The iterator
 * holds the slot of its record and that record's index, valid for the
 * deletes it has seen: deletes since then before its slot each lower the
 * index by one, so it catches up in one step per delete, and the record
 * after it is at most a few holes further. Without a place (a new
 * iterator, or slots renumbered since), the walk starts from the first
 * hole: the slots before it are records 0, 1, 2, ...
 */
static int kvp_iter_move(struct hv_kvp_pool_iter *it, bool next, size_t index,
			 struct hv_kvp_pool_record *rec)
{
	struct kvp_order *o;
	struct kvp_snap sn;
	struct kvp_rec *r = NULL;
	size_t s, rank;
	int err = -ENOENT;

	urcu_bp_read_lock();
	o = atomic_load_explicit(&it->store->pools[it->pool].order, memory_order_acquire);
	if (!o) {
		err = -ENOMEM;
		goto out;
	}
	kvp_snap_take(o, &sn);
	if (it->placed && next && it->epoch != o->epoch && it->seqgen == o->seqgen) {
		/*
		 * Renumbered by a delete: records keep their file order (seq),
		 * so the walk finds its place again without missing one.
		 */
		size_t lo = 0, hi = sn.n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2, m = mid;

			it->work++;
			while (m < hi && !(r = kvp_snap_rec(&sn, m)))
				m++;
			if (m == hi)
				hi = mid;
			else if (r->seq <= it->seq)
				lo = m + 1;
			else
				hi = mid;
		}
		it->epoch = o->epoch;
		it->dels = 0;
		it->slot = lo;
		it->index = lo;
		for (size_t k = 0; k < sn.h; k++)
			if (atomic_load_explicit(&KVP_DEL_SLOT(sn.a, k), memory_order_relaxed) < lo)
				it->index--;
		it->dels = sn.h;
		it->placed = lo > 0;
		if (!it->placed)
			it->index = 0;
		r = NULL;
		if (lo > 0) {
			/* Stand on the record before: "next" is then the one at lo. */
			it->slot = lo - 1;
			it->index = it->index ? it->index - 1 : 0;
		}
	}
	if (it->placed && (it->epoch != o->epoch || it->dels > sn.h || it->slot > sn.n ||
			   it->index > it->slot)) {
		/* Renumbered by a reload: carry on by index. */
		it->placed = false;
		it->index++;
	}
	if (next && !it->placed) {
		index = it->index;
		next = false;
	}
	if (it->placed) {
		for (size_t k = it->dels; k < sn.h; k++) {
			it->work++;
			if (atomic_load_explicit(&KVP_DEL_SLOT(sn.a, k), memory_order_relaxed) <
			    it->slot)
				it->index--;
		}
		it->dels = sn.h;
		if (next)
			index = it->index + (it->slot < sn.n && kvp_snap_rec(&sn, it->slot));
	}
	if (it->placed && index >= it->index) {
		s = it->slot;
		rank = it->index;
	} else {
		s = sn.fh < sn.n ? sn.fh : sn.n;
		if (index < s)
			s = index;
		rank = s;
	}
	for (; s < sn.n; s++) {
		it->work++;
		r = kvp_snap_rec(&sn, s);
		if (r && rank == index)
			break;
		if (r)
			rank++;
		r = NULL;
	}
	if (!r)
		goto out;
	kvp_rec_copy(r, rec);
	it->placed = true;
	it->epoch = o->epoch;
	it->seqgen = o->seqgen;
	it->seq = r->seq;
	it->dels = sn.h;
	it->slot = s;
	it->index = rank;
	err = 0;
out:
	kvp_tsan_reader_done();
	urcu_bp_read_unlock();
	return err;
}

HV_EXPORT int hv_kvp_pool_iter_begin(struct hv_kvp_store *st, unsigned int pool,
				     struct hv_kvp_pool_iter *it)
{
	if (!st || pool >= HV_KVP_POOL_COUNT || !it)
		return -EINVAL;
	memset(it, 0, sizeof(*it));
	it->store = st;
	it->pool = pool;
	return 0;
}

static bool kvp_iter_ok(const struct hv_kvp_pool_iter *it)
{
	return it && it->store && it->pool < HV_KVP_POOL_COUNT;
}

HV_EXPORT int hv_kvp_pool_iter_next(struct hv_kvp_pool_iter *it, struct hv_kvp_pool_record *rec)
{
	if (!kvp_iter_ok(it) || !rec)
		return -EINVAL;
	return kvp_iter_move(it, true, 0, rec);
}

HV_EXPORT int hv_kvp_pool_iter_seek(struct hv_kvp_pool_iter *it, size_t index,
				    struct hv_kvp_pool_record *rec)
{
	if (!kvp_iter_ok(it) || !rec)
		return -EINVAL;
	return kvp_iter_move(it, false, index, rec);
}

HV_EXPORT void hv_kvp_pool_iter_end(struct hv_kvp_pool_iter *it)
{
	if (!it)
		return;
	it->store = NULL;
	it->placed = false;
}

HV_EXPORT int hv_kvp_pool_enumerate(struct hv_kvp_store *st, unsigned int pool, size_t index,
				    struct hv_kvp_pool_record *rec)
{
	struct hv_kvp_pool_iter it;
	int err;

	if (!rec)
		return -EINVAL;
	err = hv_kvp_pool_iter_begin(st, pool, &it);
	if (err)
		return err;
	err = hv_kvp_pool_iter_seek(&it, index, rec);
	hv_kvp_pool_iter_end(&it);
	return err;
}

HV_EXPORT int hv_kvp_pool_count(struct hv_kvp_store *st, unsigned int pool, size_t *count)
{
	if (!st || pool >= HV_KVP_POOL_COUNT || !count)
		return -EINVAL;
	*count = atomic_load_explicit(&st->pools[pool].live, memory_order_relaxed);
	return 0;
}

/*
 * A pool's file without changes waiting: catch up with other programs
 * when something changed. Never waits for a lock another program holds.
 */
static int kvp_pool_refresh(struct hv_kvp_store *st, struct kvp_pool *p)
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

HV_EXPORT int hv_kvp_pool_refresh(struct hv_kvp_store *st)
{
	int err = 0, e;

	if (!st)
		return -EINVAL;
	kvp_store_lock(st);
	kvp_orders_repair(st);
	if (st->dirfd >= 0) {
		kvp_files_wake(st, false);
		e = kvp_files_drain(st, -1);
		if (e)
			err = e;
		for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
			struct kvp_pool *p = &st->pools[i];

			e = p->pending ? kvp_pool_flush(st, p) : kvp_pool_refresh(st, p);
			if (e && e != -EAGAIN && !err)
				err = e;
		}
	}
	kvp_retired_maybe_flush(st);
	kvp_store_unlock(st);
	return err;
}

HV_EXPORT int hv_kvp_pool_flush(struct hv_kvp_store *st, unsigned int *waiting)
{
	unsigned int mask = 0;
	int err = 0, e;

	if (!st || !waiting)
		return -EINVAL;
	kvp_store_lock(st);
	kvp_orders_repair(st);
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		if (!p->pending)
			continue;
		e = kvp_pool_flush(st, p);
		if (e && e != -EAGAIN && !err)
			err = e;
		if (p->pending)
			mask |= 1u << i;
	}
	kvp_retired_maybe_flush(st);
	kvp_store_unlock(st);
	*waiting = mask;
	return err;
}

HV_EXPORT int hv_kvp_pool_fd(const struct hv_kvp_store *st)
{
	if (!st)
		return -EINVAL;
	return st->pfd >= 0 ? st->pfd : -ENOENT;
}

HV_EXPORT int hv_kvp_pool_watch_set(struct hv_kvp_store *st, hv_kvp_pool_change_fn *fn,
				    void *ctx)
{
	if (!st)
		return -EINVAL;
	kvp_store_lock(st);
	st->change_fn = fn;
	st->change_ctx = ctx;
	kvp_store_unlock(st);
	return 0;
}

HV_EXPORT int hv_kvp_pool_stats_get(struct hv_kvp_store *st, struct hv_kvp_pool_stats *stats)
{
	if (!st || !stats)
		return -EINVAL;
	kvp_store_lock(st);
	*stats = st->stats;
	kvp_store_unlock(st);
	return 0;
}
