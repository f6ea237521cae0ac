/* SPDX-License-Identifier: ISC */
/*
 * hv_kvp_pool: the five KVP pools in memory and in Linux's pool files.
 *
 * A store holds pools 0-4 (External, Guest, Auto, Guest/Parameters,
 * Internal). Keys and values are UTF-8 byte strings: a key is 1-511 bytes,
 * a value 0-2047 bytes, neither containing NUL. Records keep the order in
 * which they were added; duplicate keys (other programs append them) are
 * kept, as Linux's hv_kvp_daemon keeps them: lookups, SET and DELETE act
 * on the first record with the key, enumeration shows every record.
 *
 * Files. With a directory, pool N lives in DIR/.kvp_pool_N exactly as
 * Linux's hv_kvp_daemon writes it: a headerless array of 2560-byte records
 * (512-byte key field, 2048-byte value field, each NUL-terminated). We
 * fill a field after its NUL with zeros (Linux leaves stale bytes there).
 * Reading accepts what other programs write: a 512-byte key field without
 * NUL (cloud-init), bytes after the NUL (ignored), and invalid UTF-8 (the
 * record is kept and enumerated as bytes, but a record whose key is not
 * valid UTF-8 is never found by key: lookups only take valid UTF-8). A
 * trailing partial record is not read until it is complete.
 *
 * The file is the store's state: when hv_kvp_pool_set or
 * hv_kvp_pool_delete returns 0, the pool file, read alone by any program,
 * holds exactly the store's records in Linux's order: a SET of an existing
 * key rewrote its record in place, a new key was appended, a DELETE
 * shifted the later records up and cut the file by one record. With
 * HV_KVP_POOL_SYNC_ALWAYS the change has also been fdatasync()ed. Each
 * change holds flock(LOCK_EX) and then a whole-file fcntl write lock (an
 * open file description lock) on the pool file, so both cloud-init (flock)
 * and hv_kvp_daemon-style programs (fcntl) are excluded.
 *
 * One exception: while another program holds either lock on a pool file,
 * a change to that pool is made in memory at once (readers of the store
 * see it, the call returns 0) and queued; the queue is written, in order,
 * the first time hv_kvp_pool_flush or hv_kvp_pool_refresh (or another
 * change of the pool) finds the lock free, after the other program's
 * changes have been read. No call waits for another program's lock,
 * except hv_kvp_pool_open and hv_kvp_pool_close (the latter at most 5 s,
 * after which changes still queued are dropped).
 *
 * A kill at any instant leaves each record with its old or its new
 * value, and at most one record doubled by a DELETE cut short. With a
 * journal folder (hv_kvp_pool_open_journaled), the next open finishes a
 * write of ours that a kill cut short; otherwise, and whatever was
 * queued, it does not. Opening writes nothing else: an open changes
 * neither the bytes nor the mtime of the pool files. A trailing partial
 * record (a writer killed mid-append) is not read, and is dropped by the
 * store's next write to that file, as Linux's daemon drops it.
 *
 * Changes by other programs: call hv_kvp_pool_refresh before answering
 * the host. Appended records are read incrementally; any other change
 * (truncation, rewrite, in-place edit, a replaced file) reloads the pool.
 * Writes check the file first, so a record appended by another program
 * is never lost. hv_kvp_pool_fd gives an inotify descriptor that becomes
 * readable when a pool file changes.
 *
 * Threads: the readers, hv_kvp_pool_get, hv_kvp_pool_enumerate,
 * hv_kvp_pool_count and the hv_kvp_pool_iter_* calls, are lock-free (RCU:
 * they never wait for a writer nor for each other) and may run in any
 * number of threads at once. Every other call takes the store's mutex.
 * No thread registration is needed.
 *
 * Errors are negative errnos; nothing is printed.
 */
#ifndef HVUIO_KVP_POOL_H
#define HVUIO_KVP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvuio/kvp_msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KVP_POOL_* numbers and HV_KVP_EXCHANGE_MAX_*_SIZE come from the codec. */
/* One record of a pool file. */
#define HV_KVP_POOL_RECORD_SIZE (HV_KVP_KEY_MAX_SIZE + HV_KVP_VALUE_MAX_SIZE)
/* Longest key and value the store writes, in bytes, NUL not included. */
#define HV_KVP_POOL_KEY_MAX   (HV_KVP_KEY_MAX_SIZE - 1)
#define HV_KVP_POOL_VALUE_MAX (HV_KVP_VALUE_MAX_SIZE - 1)

/* hv_kvp_pool_open flags. */
#define HV_KVP_POOL_SYNC_ALWAYS 0x1u  /* fdatasync before every return */
#define HV_KVP_POOL_NO_INOTIFY  0x2u  /* refresh compares fstat() instead */

struct hv_kvp_store;

/*
 * A record as enumeration returns it. A field read from a file may be
 * the whole field without NUL (a 512-byte key, a 2048-byte value): the
 * arrays have room for it and a terminating NUL. `utf8` is false when the
 * key or the value is not valid UTF-8.
 */
struct hv_kvp_pool_record {
	char key[HV_KVP_KEY_MAX_SIZE + 1];
	char value[HV_KVP_VALUE_MAX_SIZE + 1];
	uint16_t key_len;
	uint16_t value_len;
	bool utf8;
};

/*
 * A caller's place in one pool, for walks that cost O(1) per step. It
 * lives with its caller (on the stack, in a client's state): the store
 * keeps nothing for it, so any number of walks go on at once, in any
 * threads (one iterator is used by one thread at a time), and it needs no
 * freeing. Set it with hv_kvp_pool_iter_begin; its members other than
 * `work` belong to the store.
 */
struct hv_kvp_pool_iter {
	struct hv_kvp_store *store;
	unsigned int pool;
	bool placed;
	uint64_t epoch, seqgen, seq;
	size_t dels, index, slot;
	uint64_t work;      /* slots and deletes looked at so far: the walk's cost */
	/* Room for the store's state in later releases: the size stays. */
	uint64_t reserved[4];
};

/*
 * Work done since open, for tests and benchmarks. Set sz to
 * sizeof(struct hv_kvp_pool_stats) before the call: the struct may grow,
 * and the library fills what fits and zeroes the rest.
 */
struct hv_kvp_pool_stats {
	size_t sz;
	uint64_t bytes_written;     /* to pool files and journals */
	uint64_t bytes_read;        /* from pool files and journals */
	uint64_t reloads;           /* pools read again whole */
	uint64_t records_ingested;  /* records appended by other programs */
	uint64_t lock_waits;        /* changes queued behind another program's lock */
};

/*
 * Open the pools in `dir` (created 0755 if missing; the five files are
 * created 0644 whatever the umask, existing ones keep their mode) and read
 * the files. With `journal_dir` (created 0700 if missing; it must not be
 * `dir`, which other programs read), the store keeps there the one write
 * in progress per pool, and the open finishes a write a kill cut short.
 * dir NULL gives a store in memory only. Returns 0, -EINVAL (unknown flag,
 * NULL ret, a journal without dir), -ENOMEM, -ENAMETOOLONG, or the errno
 * of mkdir, open, a lock, a read or a write.
 */
int hv_kvp_pool_open_journaled(const char *dir, const char *journal_dir, unsigned int flags,
			       struct hv_kvp_store **ret);

/* hv_kvp_pool_open_journaled without a journal. */
int hv_kvp_pool_open(const char *dir, unsigned int flags, struct hv_kvp_store **ret);

/*
 * Write what waits for another program's lock (waiting at most 5 s),
 * close the files and free the store. No call on the store may be
 * running. NULL is a no-op.
 */
void hv_kvp_pool_close(struct hv_kvp_store *st);

/*
 * Copy the value of the first record whose key is `key` into value
 * (`size` bytes, NUL-terminated); *len (may be NULL) gets its length.
 * Lock-free. Returns 0, -ENOENT, -ENOBUFS (size too small; *len is set,
 * value untouched), -EINVAL (pool out of range, NULL argument, empty
 * key), -ENAMETOOLONG (key over 511 bytes), -EILSEQ (key not UTF-8).
 */
int hv_kvp_pool_get(struct hv_kvp_store *store, unsigned int pool, const char *key,
		    char *value, size_t size, size_t *len);

/*
 * Set the value of the first record whose key is `key`, in place, or
 * append a record. Returns 0, the errors of hv_kvp_pool_get on the key,
 * -E2BIG (value over 2047 bytes), -EILSEQ (value not UTF-8), -ENOMEM, or
 * the errno of a lock, read or write of the file (the store then keeps
 * what the file holds).
 */
int hv_kvp_pool_set(struct hv_kvp_store *store, unsigned int pool, const char *key,
		    const char *value);

/*
 * Delete the first record whose key is `key`, shifting the later records
 * up (O(records after it) in the file). Returns 0, -ENOENT, the key errors
 * of hv_kvp_pool_get, -ENOMEM, or an I/O errno.
 */
int hv_kvp_pool_delete(struct hv_kvp_store *store, unsigned int pool, const char *key);

/*
 * Copy record number `index` (0 first, in file order, deleted records
 * skipped). Lock-free. O(1) below the first deleted record, else it
 * counts records from there: walks use an iterator. Returns 0, -ENOENT
 * past the end, -EINVAL, -ENOMEM (memory ran out while the pool was
 * being renumbered or reloaded; the next change or refresh
 * tries again).
 */
int hv_kvp_pool_enumerate(struct hv_kvp_store *store, unsigned int pool, size_t index,
			  struct hv_kvp_pool_record *rec);

/* Number of records in the pool. Lock-free. Returns 0 or -EINVAL. */
int hv_kvp_pool_count(struct hv_kvp_store *store, unsigned int pool, size_t *count);

/* Start a walk of `pool` before its first record. Returns 0 or -EINVAL. */
int hv_kvp_pool_iter_begin(struct hv_kvp_store *store, unsigned int pool,
			   struct hv_kvp_pool_iter *it);

/*
 * Copy the record after the one the iterator is on (the first, after
 * begin) and move onto it. O(1) amortised, whatever the pool's size and
 * the deletes before. Every record that is in the pool for the whole
 * walk is copied once, in file order, while other records are added,
 * changed or deleted (a delete renumbers the records; the iterator
 * finds its place again by file order). A reload (another program
 * rewrote the file) during the walk renumbers them all: the iterator then
 * goes on by index, as hv_kvp_pool_iter_seek does, and may miss a record
 * if records before it were deleted since its last call. Returns 0, -ENOENT past the last
 * record (the iterator stays, so a later call finds records appended
 * since), -EINVAL, -ENOMEM as hv_kvp_pool_enumerate.
 */
int hv_kvp_pool_iter_next(struct hv_kvp_pool_iter *it, struct hv_kvp_pool_record *rec);

/*
 * Copy record number `index`, as hv_kvp_pool_enumerate numbers them now,
 * and move onto it. O(1) amortised for the index of the iterator's
 * record or the one after (the host's ENUMERATE walk), plus one step for
 * each record deleted since the iterator's last call. Returns as
 * hv_kvp_pool_iter_next.
 */
int hv_kvp_pool_iter_seek(struct hv_kvp_pool_iter *it, size_t index,
			  struct hv_kvp_pool_record *rec);

/* End a walk; later calls on `it` fail with -EINVAL. NULL is a no-op. */
void hv_kvp_pool_iter_end(struct hv_kvp_pool_iter *it);

/*
 * Apply what other programs changed in the pool files since the last
 * call, and write what waits for a lock (as hv_kvp_pool_flush; a pool
 * whose lock is held is skipped). Cheap when nothing changed (one non-blocking read of the inotify
 * descriptor, or five fstat() calls with HV_KVP_POOL_NO_INOTIFY). A
 * memory store returns 0. Returns 0, -ENOMEM, or an I/O errno.
 */
int hv_kvp_pool_refresh(struct hv_kvp_store *store);

/*
 * A descriptor to poll for readability, then call hv_kvp_pool_refresh:
 * it becomes readable when a pool file changes (inotify; with
 * HV_KVP_POOL_NO_INOTIFY only as below) and when a change starts waiting
 * for another program's lock. -ENOENT for a memory store. The store owns
 * it.
 */
int hv_kvp_pool_fd(const struct hv_kvp_store *store);

/*
 * Write the changes queued behind another program's lock, for every pool
 * whose lock is free now. *waiting gets the pools (bit N for pool N) whose
 * changes still wait. Never waits. Returns 0, -EINVAL, or an I/O errno
 * (the changes not written stay queued).
 */
int hv_kvp_pool_flush(struct hv_kvp_store *store, unsigned int *waiting);

/* Copy the counters. Returns 0 or -EINVAL (NULL argument, sz smaller than sz itself). */
int hv_kvp_pool_stats_get(struct hv_kvp_store *store, struct hv_kvp_pool_stats *stats);

/*
 * What other programs changed, as the store applies it from the pool
 * files (a refresh, or the check before a write): `key` of `pool` now
 * reads `value`, or no record has the key any more (value NULL). A
 * record appended under a key that already exists changes no lookup and
 * is not reported. Changes made through hv_kvp_pool_set and
 * hv_kvp_pool_delete are not reported either: their caller knows them.
 * The function runs in the thread that called into the store, with the
 * store's mutex held: it must not call the store, and should be quick.
 */
typedef void hv_kvp_pool_change_fn(void *ctx, unsigned int pool, const char *key,
				   const char *value);

/* Set (fn NULL: remove) the change function. Returns 0 or -EINVAL. */
int hv_kvp_pool_watch_set(struct hv_kvp_store *store, hv_kvp_pool_change_fn *fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
