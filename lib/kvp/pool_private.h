/* SPDX-License-Identifier: ISC */
/*
 * Internals shared by the pool store (store.c, store_sync.c,
 * store_index.c) and its files (poolfile.c).
 */
#ifndef HVUIO_KVP_POOL_PRIVATE_H
#define HVUIO_KVP_POOL_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "hvuio/kvp_pool.h"

#define KVP_REC_SIZE   HV_KVP_POOL_RECORD_SIZE
#define KVP_KEY_FIELD  HV_KVP_KEY_MAX_SIZE
#define KVP_VAL_FIELD  HV_KVP_VALUE_MAX_SIZE

/*
 * One record. Immutable once published: a SET publishes a new record in
 * place of the old one, so a lock-free reader never sees a value change
 * under it.
 */
struct kvp_rec {
	uint64_t seq;      /* file order; duplicates resolve to the lowest */
	uint64_t hash;     /* index hash of the key */
	uint64_t chash;    /* content hash of key and value, stable on disk */
	size_t slot;       /* position in the file; writer only */
	uint16_t klen, vlen;
	bool indexed;      /* key is a valid lookup key */
	bool utf8;
	char data[];       /* key, NUL, value, NUL */
};

static inline const char *kvp_rec_key(const struct kvp_rec *r) { return r->data; }
static inline const char *kvp_rec_value(const struct kvp_rec *r) { return r->data + r->klen + 1; }

struct kvp_link {
	_Atomic(struct kvp_link *) next;
	_Atomic(struct kvp_rec *) rec;
};

struct kvp_index {
	size_t mask;
	size_t count;
	_Atomic(struct kvp_link *) b[];
};

/* What a pool holds; built aside during a reload, then swapped in. */
struct kvp_content {
	struct kvp_index *idx;
	struct kvp_rec **slots;   /* file order; NULL only within a delete */
	size_t nslots, cap, holes, first_hole;
	uint64_t next_seq;
	bool live;                /* idx is what readers see */
};

/*
 * A slot array readers index under RCU. It never shrinks in place: the
 * writer copies it into one twice as large and retires the old one, so
 * a reader keeps a whole array for as long as it holds it. The first
 * `cap` words are the slots, a record pointer or, once deleted,
 * KVP_TOMB(k); then come `cap` deletes of two words each (a slot can be
 * deleted once per order, so deletes never need to grow the array): the
 * slot and the record it held, for readers that took their snapshot
 * before the delete.
 */
struct kvp_slots {
	size_t cap;
	_Atomic(uintptr_t) v[];
};

#define KVP_TOMB(k)        (((uintptr_t)(k) << 1) | 1u)
#define KVP_IS_TOMB(v)     ((v) & 1u)
#define KVP_TOMB_SEQ(v)    ((size_t)((v) >> 1))
#define KVP_DEL_SLOT(a, k) ((a)->v[(a)->cap + 2 * (k)])
#define KVP_DEL_REC(a, k)  ((a)->v[(a)->cap + 2 * (k) + 1])

/*
 * The record order readers walk without the mutex. Slot i is slot i of
 * the live content. A delete or a reload builds a new order (a new
 * epoch, so that iterators placed in the old one start over); appends,
 * SETs and deletes patch the current one in O(1).
 */
struct kvp_order {
	uint64_t epoch;
	uint64_t seqgen;            /* the pool's seqgen when it was built */
	_Atomic size_t nslots;      /* slots published */
	_Atomic size_t ndels;       /* deletes published */
	_Atomic size_t first_hole;  /* lowest deleted slot, SIZE_MAX if none */
	_Atomic(struct kvp_slots *) arr;
};

/* A change made in memory while another program held the pool file's lock. */
struct kvp_pending {
	struct kvp_pending *next;
	char *value;              /* NULL: a DELETE */
	char key[];
};

struct kvp_pool {
	_Atomic(struct kvp_index *) pub;
	struct kvp_content c;
	/* NULL only when building it ran out of memory; the next writer retries. */
	_Atomic(struct kvp_order *) order;
	_Atomic size_t live;        /* records, for hv_kvp_pool_count */
	uint64_t seqgen;            /* changes when a reload renumbers `seq` */

	/* File state (fd < 0: memory only). */
	int fd, jfd;
	char name[32];
	bool dirty;               /* inotify saw a change */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	/* Changes waiting for another program to release the lock, in order. */
	struct kvp_pending *pending, **pending_tail;
};

struct hv_kvp_store {
	pthread_mutex_t lock;
	_Atomic uint64_t lock_count;       /* times taken, for tests */
	uint64_t next_epoch;
	unsigned int flags;
	int dirfd;
	int ifd;                           /* inotify on dir */
	int efd;                           /* set when a change waits for a lock */
	bool efd_set;                      /* efd holds a count: writers' mutex */
	int pfd;                           /* epoll of both, for hv_kvp_pool_fd */
	uint64_t hkey[2];
	struct kvp_pool pools[HV_KVP_POOL_COUNT];
	void **retired;
	size_t nretired, cap_retired;
	struct hv_kvp_pool_stats stats;
	hv_kvp_pool_change_fn *change_fn;  /* other programs' changes */
	void *change_ctx;
};

/* SipHash-2-4 (Aumasson and Bernstein, 2012): keyed, so the host cannot
 * choose keys that all land in one chain. */
#define KVP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define KVP_SIPROUND do { \
	v0 += v1; v1 = KVP_ROTL(v1, 13); v1 ^= v0; v0 = KVP_ROTL(v0, 32); \
	v2 += v3; v3 = KVP_ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = KVP_ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = KVP_ROTL(v1, 17); v1 ^= v2; v2 = KVP_ROTL(v2, 32); \
} while (0)

static inline uint64_t kvp_siphash(const uint64_t key[2], const void *data, size_t len)
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
		KVP_SIPROUND;
		KVP_SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	KVP_SIPROUND;
	KVP_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	KVP_SIPROUND;
	KVP_SIPROUND;
	KVP_SIPROUND;
	KVP_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Identity of a record's contents as a reader of the file sees them. */
static inline uint64_t kvp_content_hash(const char *key, size_t klen, const char *val, size_t vlen)
{
	static const uint64_t k[2] = { 0x6876757a6b767031ULL, 0x706f6f6c66696c65ULL };
	uint8_t buf[KVP_REC_SIZE + 2];

	memcpy(buf, key, klen);
	buf[klen] = 0;
	memcpy(buf + klen + 1, val, vlen);
	return kvp_siphash(k, buf, klen + 1 + vlen);
}

/* Our records: string, NUL, zeros (Linux leaves old bytes after the NUL). */
static inline void kvp_rec_format(const struct kvp_rec *r, uint8_t *raw)
{
	memset(raw, 0, KVP_REC_SIZE);
	memcpy(raw, kvp_rec_key(r), r->klen);
	memcpy(raw + KVP_KEY_FIELD, kvp_rec_value(r), r->vlen);
}

/* store.c: tests hold the writers' mutex and count its uses through these. */
void kvp_store_lock_hold(struct hv_kvp_store *st, bool hold);
uint64_t kvp_store_lock_count(struct hv_kvp_store *st);

/*
 * poolfile.c: the files alone; it never calls the store. Writes and
 * checks run with the pool's locks held (kvp_file_lock).
 */
enum { KVP_FILE_SAME, KVP_FILE_APPENDED, KVP_FILE_CHANGED };
typedef int kvp_raw_fn(void *ctx, const uint8_t *raw);

extern void (*kvp_crash_hook)(const char *where);
int kvp_files_open(struct hv_kvp_store *st, const char *dir, const char *jdir);
void kvp_files_close(struct hv_kvp_store *st);
int kvp_files_drain(struct hv_kvp_store *st, int own_pool);
/* Make the poll descriptor readable (on), or not until the next wake. */
void kvp_files_wake(struct hv_kvp_store *st, bool on);
bool kvp_file_quiet(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_file_lock(struct kvp_pool *p, bool wait);
void kvp_file_unlock(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_file_recover(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_file_check(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t known, uint64_t last,
		   uint64_t *full);
void kvp_file_seen(struct kvp_pool *p);
int kvp_file_read(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t from, uint64_t to,
		  kvp_raw_fn *fn, void *ctx);
int kvp_file_update(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		    const struct kvp_rec *old, const struct kvp_rec *r);
int kvp_file_append(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		    const struct kvp_rec *r);
int kvp_file_delete(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot, size_t count,
		    const uint64_t *chash);

#endif
