/* SPDX-License-Identifier: ISC */
/*
 * The pool store in memory (store_index.c): records, the retired list,
 * the index, the order readers walk and a pool's content. Private to
 * lib/kvp; everything here runs under the store mutex except what says
 * "RCU read lock".
 */
#ifndef HVUIO_KVP_STORE_INDEX_H
#define HVUIO_KVP_STORE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
extern char kvp_tsan_grace;
#define kvp_tsan_reader_done() __tsan_release(&kvp_tsan_grace)
#define kvp_tsan_grace_done()  __tsan_acquire(&kvp_tsan_grace)
#else
#define kvp_tsan_reader_done() do { } while (0)
#define kvp_tsan_grace_done()  do { } while (0)
#endif

/*
 * What a reader sees of an order: the counters first, then the array,
 * so that the array holds at least every slot and delete they count.
 */
struct kvp_snap {
	struct kvp_slots *a;
	size_t n, h, fh;
};

/* Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
bool kvp_utf8_valid(const char *str, size_t len);

int kvp_rec_new(struct hv_kvp_store *st, const char *key, size_t klen,
		const char *val, size_t vlen, struct kvp_rec **ret);

/* A file record: each field ends at its first NUL or at the field's end. */
int kvp_rec_parse(struct hv_kvp_store *st, const uint8_t *raw, struct kvp_rec **ret);

void kvp_retired_flush(struct hv_kvp_store *st);

void kvp_retired_maybe_flush(struct hv_kvp_store *st);

/* Free now if nobody can see it, else after a grace period. */
void kvp_drop(struct hv_kvp_store *st, bool live, void *ptr);

void kvp_pool_publish(struct hv_kvp_store *st, struct kvp_pool *p);

struct kvp_link *kvp_index_find_link(struct kvp_index *idx, const struct kvp_rec *r,
				     _Atomic(struct kvp_link *) **prevp);

/* The first record (lowest seq) with this key; call under the RCU read lock or the mutex. */
struct kvp_rec *kvp_index_lookup(struct kvp_index *idx, uint64_t h,
				 const char *key, size_t klen);

void kvp_order_free(struct kvp_order *o);

/*
 * A new order for the pool's slots as they are now (holes become the
 * first deletes). Out of memory, readers get -ENOMEM until a later
 * writer call builds it: patching an order whose slots no longer match
 * would show them wrong records.
 */
int kvp_order_build(struct hv_kvp_store *st, struct kvp_pool *p);

/* Writers call this first: an order lost to a failed allocation comes back. */
void kvp_orders_repair(struct hv_kvp_store *st);

void kvp_order_replace(struct kvp_pool *p, size_t slot, struct kvp_rec *r);

void kvp_snap_take(struct kvp_order *o, struct kvp_snap *sn);

/* The record in `slot` as of the snapshot, NULL for a hole; slot < sn->n. */
struct kvp_rec *kvp_snap_rec(const struct kvp_snap *sn, size_t slot);

int kvp_content_init(struct kvp_content *c, bool live);

int kvp_content_push(struct hv_kvp_store *st, struct kvp_content *c, struct kvp_rec *r);

void kvp_content_hole(struct hv_kvp_store *st, struct kvp_content *c, size_t slot);

/*
 * Close the holes in memory, as a delete's shift does in the file; the slots
 * are renumbered, so readers get a new order.
 */
void kvp_content_squeeze(struct hv_kvp_store *st, struct kvp_content *c);

/* Free a content nobody else can see. */
void kvp_content_discard(struct kvp_content *c);

/* Make `c` (built aside) the pool's content; readers switch with one store. */
int kvp_pool_swap(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c);

/* `r` was read from the end of the file: a new key is a change, a duplicate is not. */
void kvp_change_appended(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r);

/* `c` is about to replace the pool's content: report the keys whose lookup changes. */
void kvp_change_reloaded(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_content *c);

#endif
