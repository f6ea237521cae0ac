/* SPDX-License-Identifier: ISC */
/*
 * Keeping a pool in memory and its file in step (store_sync.c): reading
 * the file in, writing changes to both, and the queue of changes that
 * wait for another program's lock. Private to lib/kvp; the store mutex is
 * held for all of it.
 */
#ifndef HVUIO_KVP_STORE_SYNC_H
#define HVUIO_KVP_STORE_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "pool_private.h"

/* Memory becomes the file again; `report` other programs' changes. */
int kvp_pool_reload(struct hv_kvp_store *st, struct kvp_pool *p, bool report);

/* Set `r` (a new record) in content `c` of pool `p`; `r` is the content's, or freed. */
int kvp_apply_set(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
		  struct kvp_rec *r, bool write);

int kvp_apply_delete(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_content *c,
		     const char *key, size_t klen, bool write);

void kvp_pending_free(struct kvp_pending *q);

int kvp_pending_add(struct hv_kvp_store *st, struct kvp_pool *p, const char *key,
		    size_t klen, const char *value);

/*
 * The lock is free again: read the file as the other program left it,
 * make the changes that waited, in order, and show readers the result.
 * Mutex held. Returns 0, -EAGAIN (still locked) or an errno; on an I/O
 * error the changes not written stay queued (and in memory).
 */
int kvp_pool_flush(struct hv_kvp_store *st, struct kvp_pool *p);

/*
 * Take pool `p`'s file for a change, or learn that it must wait: returns
 * 1 when the change is to be written now (locks held), 0 when it goes to
 * memory only (no file, or another program holds the lock: the change is
 * queued by the caller), or an errno.
 */
int kvp_pool_begin(struct hv_kvp_store *st, struct kvp_pool *p);

/*
 * A pool's file without changes waiting: catch up with other programs
 * when something changed. Never waits for a lock another program holds.
 */
int kvp_pool_refresh(struct hv_kvp_store *st, struct kvp_pool *p);

#endif
