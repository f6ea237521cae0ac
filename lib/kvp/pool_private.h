/* SPDX-License-Identifier: ISC */
/* Internals shared by the pool store (store.c) and its files (poolfile.c). */
#ifndef HVUIO_KVP_POOL_PRIVATE_H
#define HVUIO_KVP_POOL_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
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
	struct kvp_rec **slots;   /* file order; NULL = deleted, still in the file */
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
 * the live content. A compaction or a reload builds a new order (a new
 * epoch, so that iterators placed in the old one start over); appends,
 * SETs and deletes patch the current one in O(1).
 */
struct kvp_order {
	uint64_t epoch;
	_Atomic size_t nslots;      /* slots published */
	_Atomic size_t ndels;       /* deletes published */
	_Atomic size_t first_hole;  /* lowest deleted slot, SIZE_MAX if none */
	_Atomic(struct kvp_slots *) arr;
};

struct kvp_pool {
	_Atomic(struct kvp_index *) pub;
	struct kvp_content c;
	/* NULL only when building it ran out of memory; the next writer retries. */
	_Atomic(struct kvp_order *) order;
	_Atomic size_t live;        /* records, for hv_kvp_pool_count */

	/* File state (fd < 0: memory only). */
	int fd, jfd;
	char name[32], jname[32];
	bool dirty;               /* inotify saw a change */
	bool must_reload;         /* a compaction failed half-way */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	uint64_t last_chash;      /* content hash of the file's last record */
	uint64_t jend;            /* where the next journal entry goes */
	size_t compact_retry;     /* after a failed compaction: holes before the next try */
};

struct hv_kvp_store {
	pthread_mutex_t lock;
	_Atomic uint64_t lock_count;       /* times taken, for tests */
	uint64_t next_epoch;
	unsigned int flags;
	int dirfd;
	int ifd;
	uint64_t hkey[2];
	struct kvp_pool pools[HV_KVP_POOL_COUNT];
	void **retired;
	size_t nretired, cap_retired;
	struct hv_kvp_pool_stats stats;
	hv_kvp_pool_change_fn *change_fn;  /* other programs' changes */
	void *change_ctx;
};

/* store.c */
uint64_t kvp_siphash(const uint64_t key[2], const void *data, size_t len);
uint64_t kvp_content_hash(const char *key, size_t klen, const char *val, size_t vlen);
bool kvp_utf8_valid(const char *s, size_t len);
int kvp_rec_new(struct hv_kvp_store *st, const char *key, size_t klen,
		const char *val, size_t vlen, struct kvp_rec **ret);
int kvp_rec_parse(struct hv_kvp_store *st, const uint8_t *raw, struct kvp_rec **ret);
void kvp_rec_format(const struct kvp_rec *r, uint8_t *raw);
int kvp_content_init(struct kvp_content *c, bool live);
int kvp_content_push(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r);
void kvp_content_hole(struct hv_kvp_store *st, struct kvp_content *c, size_t slot);
void kvp_content_squeeze(struct hv_kvp_store *st, struct kvp_content *c);
void kvp_content_discard(struct kvp_content *c);
int kvp_pool_swap(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c);
void kvp_change_appended(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r);
void kvp_change_reloaded(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_content *c);
void kvp_pool_publish(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_retire(struct hv_kvp_store *st, void *ptr);
void kvp_retired_flush(struct hv_kvp_store *st);
/* Tests hold the writers' mutex and count its uses through these. */
void kvp_store_lock_hold(struct hv_kvp_store *st, bool hold);
uint64_t kvp_store_lock_count(struct hv_kvp_store *st);

/* poolfile.c */
extern void (*kvp_crash_hook)(const char *where);
int kvp_files_open(struct hv_kvp_store *st, const char *dir);
void kvp_files_close(struct hv_kvp_store *st);
int kvp_file_begin(struct hv_kvp_store *st, struct kvp_pool *p);
void kvp_file_end(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_file_append(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r);
int kvp_file_rewrite(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		     const struct kvp_rec *old, const struct kvp_rec *r);
int kvp_file_delete_log(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
			const struct kvp_rec *r);
int kvp_file_compact(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_file_refresh(struct hv_kvp_store *st, struct kvp_pool *p);
int kvp_files_drain(struct hv_kvp_store *st, int own_pool);

#endif
