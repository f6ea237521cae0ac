/* SPDX-License-Identifier: ISC */
/*
 * The pool store in memory.
 *
 * Per pool, two structures:
 * - `slots`, the records in file order (a deleted record leaves a NULL
 *   hole until compaction, so that slot i is always record i of the
 *   file); only the writer, under the store mutex, uses it;
 * - a chained hash index of the keys, read without locks under RCU
 *   (liburcu's bulletproof flavour: no thread registration, which suits a
 *   library). Chains are built of small links pointing to records; a
 *   resize builds a new table with new links and publishes it with one
 *   pointer store, so a reader walking the old table never follows a link
 *   that was rewired. Writers free nothing a reader may hold: records,
 *   links and tables go to a retired list, freed in batches after a grace
 *   period, which keeps every operation O(1) amortised.
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

/* ---- hashing ---- */

/* SipHash-2-4 (Aumasson and Bernstein, 2012): keyed, so the host cannot
 * choose keys that all land in one chain. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

uint64_t kvp_siphash(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Identity of a record's contents, stable across runs (the journal keeps it). */
uint64_t kvp_content_hash(const char *key, size_t klen, const char *val, size_t vlen)
{
	static const uint64_t k[2] = { 0x6876757a6b767031ULL, 0x706f6f6c66696c65ULL };
	uint8_t buf[KVP_REC_SIZE + 2];

	memcpy(buf, key, klen);
	buf[klen] = 0;
	memcpy(buf + klen + 1, val, vlen);
	return kvp_siphash(k, buf, klen + 1 + vlen);
}

/* Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
bool kvp_utf8_valid(const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= n; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

/* ---- records ---- */

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

/* A file record: each field ends at its first NUL or at the field's end. */
int kvp_rec_parse(struct hv_kvp_store *st, const uint8_t *raw, struct kvp_rec **ret)
{
	const char *k = (const char *)raw, *v = (const char *)raw + KVP_KEY_FIELD;

	return kvp_rec_new(st, k, strnlen(k, KVP_KEY_FIELD), v,
			   strnlen(v, KVP_VAL_FIELD), ret);
}

/* Our records: string, NUL, zeros (Linux leaves old bytes after the NUL). */
void kvp_rec_format(const struct kvp_rec *r, uint8_t *raw)
{
	memset(raw, 0, KVP_REC_SIZE);
	memcpy(raw, kvp_rec_key(r), r->klen);
	memcpy(raw + KVP_KEY_FIELD, kvp_rec_value(r), r->vlen);
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

int kvp_retire(struct hv_kvp_store *st, void *ptr)
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
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++)
		if (&st->pools[i].c == c)
			return &st->pools[i];
	return NULL;
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
	int err;

	if (c->nslots == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct kvp_rec **n = realloc(c->slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->slots = n;
		c->cap = cap;
	}
	if (r->indexed) {
		err = kvp_index_insert(st, c, r);
		if (err)
			return err;
	}
	r->seq = c->next_seq++;
	r->slot = c->nslots;
	c->slots[c->nslots++] = r;
	return 0;
}

void kvp_content_hole(struct hv_kvp_store *st, struct kvp_content *c, size_t slot)
{
	struct kvp_rec *r = c->slots[slot];

	if (!r)
		return;
	if (r->indexed)
		kvp_index_remove(st, c, r);
	c->slots[slot] = NULL;
	c->holes++;
	if (slot < c->first_hole)
		c->first_hole = slot;
	kvp_drop(st, c->live, r);
}

/* Close the holes in memory, as compaction does in the file. */
void kvp_content_squeeze(struct kvp_content *c)
{
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
}

/* Free a content nobody else can see. */
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

/* Make `c` (built aside) the pool's content; readers switch with one store. */
int kvp_pool_swap(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c)
{
	struct kvp_content old = p->c;

	p->c = *c;
	p->c.live = true;
	kvp_pool_publish(st, p);
	for (size_t i = 0; i < old.nslots; i++)
		if (old.slots[i])
			kvp_retire(st, old.slots[i]);
	free(old.slots);
	kvp_index_free_links(st, old.idx, true);
	kvp_retire(st, old.idx);
	p->cur_valid = false;
	memset(c, 0, sizeof(*c));
	return 0;
}

/* ---- changes by other programs, for hv_kvp_pool_watch_set ---- */

static bool kvp_rec_first(const struct kvp_content *c, const struct kvp_rec *r)
{
	return r->indexed && kvp_index_lookup(c->idx, r->hash, r->data, r->klen) == r;
}

/* `r` was read from the end of the file: a new key is a change, a duplicate is not. */
void kvp_change_appended(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r)
{
	if (st->change_fn && kvp_rec_first(&p->c, r))
		st->change_fn(st->change_ctx, (unsigned int)(p - st->pools), kvp_rec_key(r),
			      kvp_rec_value(r));
}

/* `c` is about to replace the pool's content: report the keys whose lookup changes. */
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

HV_EXPORT int hv_kvp_pool_open(const char *dir, unsigned int flags, struct hv_kvp_store **ret)
{
	struct hv_kvp_store *st;
	int err;

	if (!ret || (flags & ~(HV_KVP_POOL_SYNC_ALWAYS | HV_KVP_POOL_NO_INOTIFY)))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->flags = flags;
	st->dirfd = -1;
	st->ifd = -1;
	pthread_mutex_init(&st->lock, NULL);
	if (getrandom(st->hkey, sizeof(st->hkey), GRND_NONBLOCK) != sizeof(st->hkey)) {
		/* Early boot without entropy: still differs per run. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		st->hkey[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		st->hkey[1] = (uint64_t)(uintptr_t)st ^ (uint64_t)ts.tv_sec;
	}
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		p->fd = -1;
		p->jfd = -1;
		err = kvp_content_init(&p->c, true);
		if (err)
			goto out;
		kvp_pool_publish(st, p);
	}
	if (dir) {
		err = kvp_files_open(st, dir);
		if (err)
			goto out;
	}
	*ret = st;
	return 0;
out:
	hv_kvp_pool_close(st);
	return err;
}

HV_EXPORT void hv_kvp_pool_close(struct hv_kvp_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		if (p->fd >= 0 && p->c.idx && kvp_file_begin(st, p) == 0) {
			kvp_file_compact(st, p);
			kvp_file_end(st, p);
		}
	}
	kvp_files_close(st);
	kvp_retired_flush(st);
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++)
		kvp_content_discard(&st->pools[i].c);
	free(st->retired);
	pthread_mutex_unlock(&st->lock);
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

	if (!st || pool >= KVP_POOL_COUNT || (!value && size))
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

static struct kvp_rec *kvp_pool_first(struct hv_kvp_store *st, struct kvp_pool *p,
				      const char *key, size_t klen)
{
	return kvp_index_lookup(p->c.idx, kvp_siphash(st->hkey, key, klen), key, klen);
}

HV_EXPORT int hv_kvp_pool_set(struct hv_kvp_store *st, unsigned int pool, const char *key,
			      const char *value)
{
	struct kvp_rec *old, *r = NULL;
	struct kvp_pool *p;
	size_t klen, vlen;
	int err;

	if (!st || pool >= KVP_POOL_COUNT || !value)
		return -EINVAL;
	err = kvp_key_check(key, &klen);
	if (err)
		return err;
	vlen = strnlen(value, HV_KVP_POOL_VALUE_MAX + 1);
	if (vlen > HV_KVP_POOL_VALUE_MAX)
		return -E2BIG;
	if (!kvp_utf8_valid(value, vlen))
		return -EILSEQ;

	pthread_mutex_lock(&st->lock);
	p = &st->pools[pool];
	err = kvp_file_begin(st, p);
	if (err)
		goto out_unlocked_file;
	err = kvp_rec_new(st, key, klen, value, vlen, &r);
	if (err)
		goto out;
	old = kvp_pool_first(st, p, key, klen);
	if (old) {
		_Atomic(struct kvp_rec *) *slotp;
		struct kvp_link *l;

		r->seq = old->seq;
		r->slot = old->slot;
		err = kvp_file_rewrite(st, p, old->slot, old, r);
		if (err)
			goto out;
		l = kvp_index_find_link(p->c.idx, old, NULL);
		slotp = &l->rec;
		atomic_store_explicit(slotp, r, memory_order_release);
		p->c.slots[old->slot] = r;
		kvp_retire(st, old);
	} else {
		err = kvp_content_push(st, &p->c, r);
		if (err)
			goto out;
		err = kvp_file_append(st, p, r);
		if (err) {
			/* Keep memory equal to the file; readers may have seen r. */
			if (r->indexed)
				kvp_index_remove(st, &p->c, r);
			p->c.nslots--;
			p->c.next_seq--;
			kvp_retire(st, r);
			r = NULL;
			goto out;
		}
	}
	r = NULL;
out:
	free(r);
	kvp_file_end(st, p);
out_unlocked_file:
	kvp_retired_maybe_flush(st);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Compaction once a quarter of the slots are holes: O(1) amortised. It
 * rewrites at most the other three quarters (survivors from the first
 * hole on, to the journal and to the file), and a quarter of the slots
 * became holes since the last one: at most 6 records written per delete
 * whatever the pool's size and where the deletes fall. A compaction that
 * failed is not tried again before the holes have doubled, which keeps
 * the bound while writes fail (a full disk).
 */
static bool kvp_pool_needs_compaction(const struct kvp_pool *p)
{
	return p->c.holes >= 8 && p->c.holes * 4 >= p->c.nslots &&
	       p->c.holes >= p->compact_retry;
}

HV_EXPORT int hv_kvp_pool_delete(struct hv_kvp_store *st, unsigned int pool, const char *key)
{
	struct kvp_pool *p;
	struct kvp_rec *r;
	size_t klen;
	int err;

	if (!st || pool >= KVP_POOL_COUNT)
		return -EINVAL;
	err = kvp_key_check(key, &klen);
	if (err)
		return err;

	pthread_mutex_lock(&st->lock);
	p = &st->pools[pool];
	err = kvp_file_begin(st, p);
	if (err)
		goto out_unlocked_file;
	r = kvp_pool_first(st, p, key, klen);
	if (!r) {
		err = -ENOENT;
		goto out;
	}
	err = kvp_file_delete_log(st, p, r->slot, r);
	if (err)
		goto out;
	kvp_content_hole(st, &p->c, r->slot);
	p->cur_valid = false;
	if (kvp_pool_needs_compaction(p)) {
		/* Failure: the journal still has the deletes. */
		if (p->fd >= 0 && kvp_file_compact(st, p) && p->c.holes)
			p->compact_retry = p->c.holes * 2;
		else if (p->fd < 0)
			kvp_content_squeeze(&p->c);
	}
out:
	kvp_file_end(st, p);
out_unlocked_file:
	kvp_retired_maybe_flush(st);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Slot of logical record `index`; O(1) for index == last + 1. */
static size_t kvp_pool_slot_of(struct kvp_pool *p, size_t index)
{
	struct kvp_content *c = &p->c;
	size_t l, s;

	if (!c->holes || index < c->first_hole)
		return index;
	if (p->cur_valid && index == p->cur_index)
		return p->cur_slot;
	if (p->cur_valid && index > p->cur_index) {
		l = p->cur_index + 1;
		s = p->cur_slot + 1;
	} else {
		l = c->first_hole;
		s = c->first_hole;
	}
	for (; s < c->nslots; s++) {
		if (!c->slots[s])
			continue;
		if (l == index)
			break;
		l++;
	}
	p->cur_valid = true;
	p->cur_index = index;
	p->cur_slot = s;
	return s;
}

HV_EXPORT int hv_kvp_pool_enumerate(struct hv_kvp_store *st, unsigned int pool, size_t index,
				    struct hv_kvp_pool_record *rec)
{
	struct kvp_pool *p;
	struct kvp_rec *r;
	int err = 0;

	if (!st || pool >= KVP_POOL_COUNT || !rec)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	p = &st->pools[pool];
	if (index >= p->c.nslots - p->c.holes) {
		err = -ENOENT;
		goto out;
	}
	r = p->c.slots[kvp_pool_slot_of(p, index)];
	memcpy(rec->key, kvp_rec_key(r), r->klen + 1u);
	memcpy(rec->value, kvp_rec_value(r), r->vlen + 1u);
	rec->key_len = r->klen;
	rec->value_len = r->vlen;
	rec->utf8 = r->utf8;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

HV_EXPORT int hv_kvp_pool_count(struct hv_kvp_store *st, unsigned int pool, size_t *count)
{
	if (!st || pool >= KVP_POOL_COUNT || !count)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	*count = st->pools[pool].c.nslots - st->pools[pool].c.holes;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

HV_EXPORT int hv_kvp_pool_refresh(struct hv_kvp_store *st)
{
	int err = 0, e;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (st->dirfd >= 0) {
		e = kvp_files_drain(st, -1);
		if (e)
			err = e;
		for (unsigned int i = 0; i < KVP_POOL_COUNT; i++) {
			e = kvp_file_refresh(st, &st->pools[i]);
			if (e && !err)
				err = e;
		}
	}
	kvp_retired_maybe_flush(st);
	pthread_mutex_unlock(&st->lock);
	return err;
}

HV_EXPORT int hv_kvp_pool_fd(const struct hv_kvp_store *st)
{
	if (!st)
		return -EINVAL;
	return st->ifd >= 0 ? st->ifd : -ENOENT;
}

HV_EXPORT int hv_kvp_pool_compact(struct hv_kvp_store *st)
{
	int err = 0, e;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		if (p->fd < 0) {
			kvp_content_squeeze(&p->c);
			p->cur_valid = false;
			continue;
		}
		e = kvp_file_begin(st, p);
		if (!e) {
			e = kvp_file_compact(st, p);
			kvp_file_end(st, p);
		}
		if (e && !err)
			err = e;
	}
	kvp_retired_maybe_flush(st);
	pthread_mutex_unlock(&st->lock);
	return err;
}

HV_EXPORT int hv_kvp_pool_watch_set(struct hv_kvp_store *st, hv_kvp_pool_change_fn *fn,
				    void *ctx)
{
	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	st->change_fn = fn;
	st->change_ctx = ctx;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

HV_EXPORT int hv_kvp_pool_stats_get(struct hv_kvp_store *st, struct hv_kvp_pool_stats *stats)
{
	if (!st || !stats)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	*stats = st->stats;
	pthread_mutex_unlock(&st->lock);
	return 0;
}
