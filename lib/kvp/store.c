/* SPDX-License-Identifier: ISC */
/*
 * The pool store's public interface. Its layers, each calling only the
 * ones below: this file; store_sync.c, which keeps memory and the files
 * in step; store_index.c, the store in memory; poolfile.c, the files'
 * bytes, which never calls the store.
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
#include "lib/common/opts.h"
#include "pool_private.h"
#include "store_index.h"
#include "store_sync.h"

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
	int err;

	if (!st || !stats)
		return -EINVAL;
	kvp_store_lock(st);
	err = opts_out(stats, &st->stats, sizeof(st->stats));
	kvp_store_unlock(st);
	return err;
}
