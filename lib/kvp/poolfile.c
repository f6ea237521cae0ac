/* SPDX-License-Identifier: ISC */
/*
 * Pool files in Linux's format, their locks, and the intent journal.
 *
 * This file knows bytes and files only: it reads records out through a
 * callback and writes what the store (store_sync.c, store.c) asks. It
 * never calls the store.
 *
 * Facts this file relies on, from Linux's tools/hv/hv_kvp_daemon.c: the
 * files are DIR/.kvp_pool_0..4, opened O_RDWR|O_CREAT|O_CLOEXEC mode 0644
 * in a 0755 directory, headerless arrays of struct kvp_record { char
 * key[512]; char value[2048]; }; a trailing partial record is not read
 * (it freads whole records); SET overwrites the value of the first
 * matching record in place or appends; DELETE shifts the later records up
 * and rewrites the file; it locks the whole file with fcntl(F_SETLKW,
 * F_WRLCK). From cloud-init's reporting handler: it appends records under
 * flock(LOCK_EX) and writes 512-byte keys without NUL.
 *
 * What a kill can cut. SIGKILL stops a write(2) only between two pages:
 * Linux's mm/filemap.c generic_perform_write checks for a fatal signal
 * before each page it copies, so a write that lies within one page is
 * all there or not at all. A record (2560 bytes) may straddle a page
 * boundary; every record we change is written so that a reader, which
 * reads each field up to its NUL, sees the record before or after the
 * change whichever page the kill leaves undone: only the bytes that differ
 * are written, and when they cross a page boundary the page whose new
 * bytes are invisible (behind the old value's NUL) goes first, or the
 * page that completes the new record (with its NUL) does. Only when both
 * the old and the new value run over the boundary (or the boundary falls
 * between key and value and both change) can the one write be cut inside
 * the record; the journal finishes it at the next open. No order of
 * writes avoids that: each page holds part of what a reader compares.
 *
 * DELETE shifts the later records up, front to back, then cuts the last
 * record off: a kill in between leaves one record doubled (the one being
 * moved, in its old and its new place), which the next open removes by
 * finishing the shift. A write that moves many records and is cut at a
 * page boundary leaves the same: the records before the cut moved, those
 * after it not, and the record the cut runs through seen whole as before
 * or after, so such records go out in one write per run; a record the cut
 * would tear is written alone, as above. At 2560 bytes a record and 4096
 * a page, the boundary falls between key and value in one record of
 * eight (offset 20480 n + 7680): during a shift its key and value both
 * change. A new key is one pwrite at the end.
 *
 * Journal (JDIR/pool_N.intent, 0600, read by nobody else; none without a
 * journal folder): one entry at offset 0 naming the write in progress,
 * sealed by a hash, zeroed once the write is done. UPDATE and APPEND
 * carry the new record's key and value, DELETE the content hashes of the
 * records from the deleted one to the end, which tell how far the shift
 * got. At open, an entry whose write left no trace is dropped without
 * touching the pool file; one whose write is half done is finished.
 *
 * An append cut at its page boundary and followed, while we were dead, by
 * other programs' appends (O_APPEND puts them where the file ends, so they
 * sit misaligned after our partial record, where no reader finds them):
 * the open rebuilds the end of the file, our record whole and theirs after
 * it. It first replaces the APPEND entry by a REBUILD entry carrying both,
 * so a kill during the rebuild leaves nothing that the next open cannot
 * write again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvuio/kvp_pool.h"
#include "lib/common/compiler.h"
#include "pool_private.h"

#define KVP_JMAGIC      0x4a4b5648u  /* "HVKJ" */
#define KVP_J_UPDATE    1u
#define KVP_J_APPEND    2u
#define KVP_J_DELETE    3u
#define KVP_J_REBUILD   4u
#define KVP_CHUNK       64u          /* records per read */
#define KVP_PAGE        4096u        /* the unit a kill cannot cut (see above) */
/* Most records others may append behind a cut record of ours that an open repairs. */
#define KVP_REBUILD_MAX 4096u

struct kvp_jent {
	uint32_t magic;
	uint32_t type;
	uint64_t slot;
	uint64_t count;  /* DELETE: records in the file before it */
	uint64_t old;    /* UPDATE: content hash of the record it replaces */
	uint64_t lens;   /* UPDATE, APPEND: key length | value length << 16 */
	uint64_t body;   /* hash of the bytes after the entry */
	uint64_t check;  /* hash of everything above */
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_jent) == 56, "kvp_jent");

/* Crash tests stop the process at these points (not exported). */
void (*kvp_crash_hook)(const char *where);
#define KVP_CRASH_POINT(w) do { if (unlikely(kvp_crash_hook)) kvp_crash_hook(w); } while (0)

static const uint64_t kvp_jkey[2] = { 0x6a6f75726e616c31ULL, 0x6876756b76706a6cULL };

/* Content hash of a raw record: what a reader of the file sees of it. */
static uint64_t kvp_raw_chash(const uint8_t *raw)
{
	const char *k = (const char *)raw, *v = (const char *)raw + KVP_KEY_FIELD;

	return kvp_content_hash(k, strnlen(k, KVP_KEY_FIELD), v, strnlen(v, KVP_VAL_FIELD));
}

/* Do readers, who stop each field at its NUL, see the same record? */
static bool kvp_raw_same(const uint8_t *a, const uint8_t *b)
{
	size_t ka = strnlen((const char *)a, KVP_KEY_FIELD);
	size_t va = strnlen((const char *)a + KVP_KEY_FIELD, KVP_VAL_FIELD);

	return ka == strnlen((const char *)b, KVP_KEY_FIELD) && !memcmp(a, b, ka) &&
	       va == strnlen((const char *)b + KVP_KEY_FIELD, KVP_VAL_FIELD) &&
	       !memcmp(a + KVP_KEY_FIELD, b + KVP_KEY_FIELD, va);
}

/* ---- I/O ---- */

static ssize_t kvp_pread(struct hv_kvp_store *st, int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	st->stats.bytes_read += done;
	return (ssize_t)done;
}

static int kvp_pwrite(struct hv_kvp_store *st, int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	st->stats.bytes_written += done;
	return 0;
}

static int kvp_sync(struct hv_kvp_store *st, int fd)
{
	if (!(st->flags & HV_KVP_POOL_SYNC_ALWAYS))
		return 0;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int kvp_truncate(int fd, off_t len)
{
	while (ftruncate(fd, len) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* One whole record at `slot`; -EIO when the file ends before it. */
static int kvp_read_rec(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t slot, uint8_t *raw)
{
	ssize_t n = kvp_pread(st, p->fd, raw, KVP_REC_SIZE, (off_t)(slot * KVP_REC_SIZE));

	if (n < 0)
		return (int)n;
	return n == KVP_REC_SIZE ? 0 : -EIO;
}

/* How much of a record written at `at` a kill may leave: up to its page boundary. */
static size_t kvp_cut_len(off_t at)
{
	size_t part = (KVP_PAGE - (size_t)(at % KVP_PAGE)) % KVP_PAGE;

	return part < KVP_REC_SIZE ? part : 0;
}

/* Bytes [a, b) of record y, then [c, d): each within one page. */
static int kvp_write_pages(struct hv_kvp_store *st, int fd, off_t off, const uint8_t *y,
			   size_t a, size_t b, size_t c, size_t d)
{
	int err = kvp_pwrite(st, fd, y + a, b - a, off + (off_t)a);

	KVP_CRASH_POINT("replace-half");
	return err ? err : kvp_pwrite(st, fd, y + c, d - c, off + (off_t)c);
}

/*
 * Turn record `x` at byte `off` into `y` so that a kill at any instant
 * leaves a reader seeing x or y (see the top of the file).
 */
static int kvp_rec_replace(struct hv_kvp_store *st, int fd, off_t off, const uint8_t *x,
			   const uint8_t *y)
{
	uint8_t mix[KVP_REC_SIZE];
	size_t lo = 0, hi = KVP_REC_SIZE, b;

	while (lo < KVP_REC_SIZE && x[lo] == y[lo])
		lo++;
	if (lo == KVP_REC_SIZE)
		return 0;
	while (x[hi - 1] == y[hi - 1])
		hi--;
	b = KVP_PAGE - (size_t)((off + (off_t)lo) % KVP_PAGE) + lo;
	if (b >= hi)
		return kvp_pwrite(st, fd, y + lo, hi - lo, off + (off_t)lo);
	/* Page boundary at b: [lo, b) and [b, hi) are two pages. */
	memcpy(mix, x, b);
	memcpy(mix + b, y + b, KVP_REC_SIZE - b);
	if (kvp_raw_same(mix, x))
		return kvp_write_pages(st, fd, off, y, b, hi, lo, b);
	memcpy(mix, y, b);
	memcpy(mix + b, x + b, KVP_REC_SIZE - b);
	if (kvp_raw_same(mix, y))
		return kvp_write_pages(st, fd, off, y, lo, b, b, hi);
	return kvp_pwrite(st, fd, y + lo, hi - lo, off + (off_t)lo);
}

/* ---- locks ---- */

/*
 * flock first, then a whole-file open-file-description lock (it conflicts
 * with the fcntl locks of Linux's daemon, and unlike a process lock no
 * close elsewhere drops it). Without `wait`, -EAGAIN while another program
 * holds either.
 */
int kvp_file_lock(struct kvp_pool *p, bool wait)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int err;

	while (flock(p->fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno != EINTR)
			return -errno;
	}
	while (fcntl(p->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
		if (errno == EINTR)
			continue;
		err = errno == EAGAIN || errno == EACCES ? -EAGAIN : -errno;
		flock(p->fd, LOCK_UN);
		return err;
	}
	return 0;
}

static void kvp_stat_save(struct kvp_pool *p)
{
	struct stat sb;

	if (fstat(p->fd, &sb) < 0)
		return;
	p->dev = sb.st_dev;
	p->ino = sb.st_ino;
	p->size = sb.st_size;
	p->mtim = sb.st_mtim;
	p->ctim = sb.st_ctim;
}

void kvp_file_unlock(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	kvp_stat_save(p);
	/* Still under both locks: this pool's events are our own writes. */
	kvp_files_drain(st, (int)(p - st->pools));
	fcntl(p->fd, F_OFD_SETLK, &fl);
	flock(p->fd, LOCK_UN);
}

static bool kvp_stat_same(const struct kvp_pool *p, const struct stat *sb)
{
	return sb->st_dev == p->dev && sb->st_ino == p->ino && sb->st_size == p->size &&
	       sb->st_mtim.tv_sec == p->mtim.tv_sec && sb->st_mtim.tv_nsec == p->mtim.tv_nsec &&
	       sb->st_ctim.tv_sec == p->ctim.tv_sec && sb->st_ctim.tv_nsec == p->ctim.tv_nsec;
}

/* Files other programs read are 0644 whatever our umask; existing ones keep theirs. */
static int kvp_open_file(int dirfd, const char *name, mode_t mode)
{
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd >= 0) {
		if (fchmod(fd, mode) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		return fd;
	}
	if (errno != EEXIST)
		return -errno;
	/*
	 * Never through a link: one planted in place of a pool file or a
	 * journal would have root write wherever it points (O_EXCL above
	 * already refuses to follow one). ELOOP tells the caller why.
	 */
	fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	return fd >= 0 ? fd : -errno;
}

/* ---- inotify ---- */

void kvp_files_wake(struct hv_kvp_store *st, bool on)
{
	uint64_t v = 1;

	/* Only what was written is read: every host request comes this way. */
	if (st->efd < 0 || on == st->efd_set)
		return;
	if (on)
		(void)!write(st->efd, &v, sizeof(v));
	else
		(void)!read(st->efd, &v, sizeof(v));
	st->efd_set = on;
}

int kvp_files_drain(struct hv_kvp_store *st, int own_pool)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (st->ifd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(st->ifd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(buf + off);
			unsigned int pool;
			char tail;

			off += (ssize_t)sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++)
					if ((int)i != own_pool)
						st->pools[i].dirty = true;
				continue;
			}
			if (!ev->len || sscanf(ev->name, ".kvp_pool_%u%c", &pool, &tail) != 1 ||
			    pool >= HV_KVP_POOL_COUNT)
				continue;
			if ((int)pool != own_pool)
				st->pools[pool].dirty = true;
		}
	}
}

/* ---- reading ---- */

int kvp_file_read(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t from, uint64_t to,
		  kvp_raw_fn *fn, void *ctx)
{
	uint8_t *chunk = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	int err = 0;

	if (!chunk)
		return -ENOMEM;
	while (from < to) {
		size_t cnt = to - from < KVP_CHUNK ? (size_t)(to - from) : KVP_CHUNK;
		ssize_t n = kvp_pread(st, p->fd, chunk, cnt * KVP_REC_SIZE,
				      (off_t)(from * KVP_REC_SIZE));

		if (n < 0) {
			err = (int)n;
			break;
		}
		/* Shrank under us, or a partial record: whole records only. */
		cnt = (size_t)n / KVP_REC_SIZE;
		if (!cnt)
			break;
		for (size_t j = 0; j < cnt && !err; j++)
			err = fn(ctx, chunk + j * KVP_REC_SIZE);
		if (err)
			break;
		from += cnt;
	}
	free(chunk);
	return err;
}

static int kvp_file_reopen(struct hv_kvp_store *st, struct kvp_pool *p)
{
	int fd;

	kvp_file_unlock(st, p);
	fd = kvp_open_file(st->dirfd, p->name, 0644);
	if (fd < 0)
		return fd;
	close(p->fd);
	p->fd = fd;
	/* Keeps the fd on error, so that close and later calls stay simple. */
	return kvp_file_lock(p, true);
}

/*
 * What changed since the store last saw the file, which held `known`
 * records, the last with content hash `last`. Locks held. Returns
 * KVP_FILE_SAME, KVP_FILE_APPENDED (*full records now, the first `known`
 * unchanged), KVP_FILE_CHANGED (read it all again), or an errno.
 */
int kvp_file_check(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t known, uint64_t last,
		   uint64_t *full)
{
	struct stat sb, path_sb;
	uint8_t raw[KVP_REC_SIZE];
	int err;

	err = kvp_files_drain(st, -1);
	if (err)
		return err;
	if (fstatat(st->dirfd, p->name, &path_sb, 0) < 0 || path_sb.st_ino != p->ino ||
	    path_sb.st_dev != p->dev) {
		/* Deleted or replaced (rename): follow the name, as other programs do. */
		err = kvp_file_reopen(st, p);
		return err ? err : KVP_FILE_CHANGED;
	}
	if (fstat(p->fd, &sb) < 0)
		return -errno;
	if (!p->dirty && kvp_stat_same(p, &sb))
		return KVP_FILE_SAME;
	p->dirty = false;
	*full = (uint64_t)sb.st_size / KVP_REC_SIZE;
	if (*full < known)
		return KVP_FILE_CHANGED;
	if (*full == known) {
		/* Only a partial record more: not read, as Linux's fread does not. */
		if (sb.st_size > (off_t)(known * KVP_REC_SIZE))
			return KVP_FILE_SAME;
		return KVP_FILE_CHANGED;
	}
	if (known) {
		err = kvp_read_rec(st, p, known - 1, raw);
		if (err == -EIO || (!err && kvp_raw_chash(raw) != last))
			return KVP_FILE_CHANGED;
		if (err)
			return err;
	}
	return KVP_FILE_APPENDED;
}

bool kvp_file_quiet(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct stat sb;

	if (p->dirty)
		return false;
	if (st->ifd >= 0)
		return true;
	return fstatat(st->dirfd, p->name, &sb, 0) == 0 && kvp_stat_same(p, &sb);
}

void kvp_file_seen(struct kvp_pool *p)
{
	kvp_stat_save(p);
	p->dirty = false;
}

/* ---- the journal ---- */

static int kvp_intent_put(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_jent *j,
			  const void *body, size_t len)
{
	uint8_t *buf;
	int err;

	if (p->jfd < 0)
		return 0;
	buf = malloc(sizeof(*j) + len);
	if (!buf)
		return -ENOMEM;
	j->magic = KVP_JMAGIC;
	j->body = kvp_siphash(kvp_jkey, body, len);
	j->check = kvp_siphash(kvp_jkey, j, offsetof(struct kvp_jent, check));
	memcpy(buf, j, sizeof(*j));
	memcpy(buf + sizeof(*j), body, len);
	err = kvp_pwrite(st, p->jfd, buf, sizeof(*j) + len, 0);
	free(buf);
	if (!err)
		err = kvp_sync(st, p->jfd);
	return err;
}

/* The write it named is done (or left no trace): nothing for an open to finish. */
static void kvp_intent_clear(struct hv_kvp_store *st, struct kvp_pool *p)
{
	static const uint8_t zero[8];

	if (p->jfd >= 0)
		kvp_pwrite(st, p->jfd, zero, sizeof(zero), 0);
}

static int kvp_intent_rec(struct hv_kvp_store *st, struct kvp_pool *p, uint32_t type,
			  uint64_t slot, uint64_t old, const struct kvp_rec *r)
{
	struct kvp_jent j = { .type = type, .slot = slot, .old = old };
	char kv[KVP_REC_SIZE];

	memcpy(kv, kvp_rec_key(r), r->klen);
	memcpy(kv + r->klen, kvp_rec_value(r), r->vlen);
	j.lens = (uint64_t)r->klen | (uint64_t)r->vlen << 16;
	return kvp_intent_put(st, p, &j, kv, (size_t)r->klen + r->vlen);
}

/* ---- writes (locks held, the store's records equal to the file's) ---- */

int kvp_file_update(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		    const struct kvp_rec *old, const struct kvp_rec *r)
{
	uint8_t x[KVP_REC_SIZE], y[KVP_REC_SIZE];
	int err;

	if (p->fd < 0)
		return 0;
	/* The file's own bytes: those after a NUL may be anything. */
	err = kvp_read_rec(st, p, slot, x);
	if (err)
		return err;
	kvp_rec_format(r, y);
	err = kvp_intent_rec(st, p, KVP_J_UPDATE, slot, old->chash, r);
	if (err)
		return err;
	KVP_CRASH_POINT("update");
	err = kvp_rec_replace(st, p->fd, (off_t)slot * KVP_REC_SIZE, x, y);
	if (!err)
		err = kvp_sync(st, p->fd);
	/* On error the intent stays: the record may be half written. */
	if (!err)
		kvp_intent_clear(st, p);
	return err;
}

int kvp_file_append(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		    const struct kvp_rec *r)
{
	uint8_t raw[KVP_REC_SIZE];
	off_t at = (off_t)slot * KVP_REC_SIZE;
	struct stat sb;
	int err;

	if (p->fd < 0)
		return 0;
	kvp_rec_format(r, raw);
	if (fstat(p->fd, &sb) < 0)
		return -errno;
	/*
	 * A partial record another writer left when it died is dropped now
	 * that we write, as Linux's daemon drops it when it rewrites the file.
	 */
	if (sb.st_size > at) {
		err = kvp_truncate(p->fd, at);
		if (err)
			return err;
	}
	err = kvp_intent_rec(st, p, KVP_J_APPEND, slot, 0, r);
	if (err)
		return err;
	KVP_CRASH_POINT("append");
	err = kvp_pwrite(st, p->fd, raw, KVP_REC_SIZE, at);
	if (!err)
		err = kvp_sync(st, p->fd);
	if (err) {
		/* Nothing of ours left in the file: nothing for the intent to finish. */
		if (kvp_truncate(p->fd, at) == 0)
			kvp_intent_clear(st, p);
		return err;
	}
	kvp_intent_clear(st, p);
	return 0;
}

/*
 * Whether a kill between the pages of one write over record `x` at byte
 * `off`, turning it into `y`, leaves a reader seeing x or y: true when no
 * page boundary falls inside the record, or when the half-written record
 * reads as one of the two.
 */
static bool kvp_cut_harmless(off_t off, const uint8_t *x, const uint8_t *y)
{
	uint8_t mix[KVP_REC_SIZE];
	size_t b = kvp_cut_len(off);

	if (!b)
		return true;
	memcpy(mix, y, b);
	memcpy(mix + b, x + b, KVP_REC_SIZE - b);
	return kvp_raw_same(mix, x) || kvp_raw_same(mix, y);
}

/*
 * Move records [from + 1, end) up by one, then cut the file to end - 1
 * records. A write cut short leaves the records before the cut moved and
 * those after it not yet, which is the doubled record of an unfinished
 * shift; so runs of records whose page boundary is harmless go out in one
 * write each, and a record whose cut would show a torn record is written
 * alone, its pages ordered by kvp_rec_replace.
 */
static int kvp_shift(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t from, uint64_t end)
{
	uint8_t *chunk = malloc((size_t)(KVP_CHUNK + 1) * KVP_REC_SIZE);
	int err = 0;

	if (!chunk)
		return -ENOMEM;
	for (uint64_t j = from; j + 1 < end;) {
		size_t cnt = end - j - 1 < KVP_CHUNK ? (size_t)(end - j - 1) : KVP_CHUNK;
		ssize_t n = kvp_pread(st, p->fd, chunk, (cnt + 1) * KVP_REC_SIZE,
				      (off_t)(j * KVP_REC_SIZE));
		size_t run = 0;

		if (n < 0 || (size_t)n != (cnt + 1) * KVP_REC_SIZE) {
			err = n < 0 ? (int)n : -EIO;
			goto out;
		}
		/* Records [run, i) are the run not yet written. */
		for (size_t i = 0; i <= cnt; i++) {
			const uint8_t *x = chunk + i * KVP_REC_SIZE;
			off_t off = (off_t)((j + i) * KVP_REC_SIZE);
			bool alone = i < cnt && !kvp_cut_harmless(off, x, x + KVP_REC_SIZE);

			if ((alone || i == cnt) && run < i) {
				err = kvp_pwrite(st, p->fd, chunk + (run + 1) * KVP_REC_SIZE,
						 (i - run) * KVP_REC_SIZE,
						 (off_t)((j + run) * KVP_REC_SIZE));
				if (err)
					goto out;
				KVP_CRASH_POINT("delete-shift");
			}
			if (alone) {
				err = kvp_rec_replace(st, p->fd, off, x, x + KVP_REC_SIZE);
				if (err)
					goto out;
				KVP_CRASH_POINT("delete-shift");
			}
			if (alone || i == cnt)
				run = i + 1;
		}
		j += cnt;
	}
	err = kvp_truncate(p->fd, (off_t)((end - 1) * KVP_REC_SIZE));
	if (!err)
		err = kvp_sync(st, p->fd);
out:
	free(chunk);
	return err;
}

int kvp_file_delete(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot, size_t count,
		    const uint64_t *chash)
{
	struct kvp_jent j = { .type = KVP_J_DELETE, .slot = slot, .count = count };
	int err;

	if (p->fd < 0)
		return 0;
	err = kvp_intent_put(st, p, &j, chash, (count - slot) * sizeof(*chash));
	if (err)
		return err;
	KVP_CRASH_POINT("delete");
	err = kvp_shift(st, p, slot, count);
	/* On error the intent stays: the next open finishes the shift. */
	if (!err)
		kvp_intent_clear(st, p);
	return err;
}

/* ---- finishing a write a kill cut short (at open, locks held) ---- */

static int kvp_recover_update(struct hv_kvp_store *st, struct kvp_pool *p,
			      const struct kvp_jent *j, const uint8_t *want, uint64_t full)
{
	uint8_t raw[KVP_REC_SIZE];
	size_t klen = strnlen((const char *)want, KVP_KEY_FIELD);
	int err;

	if (j->slot >= full)
		return 0;
	err = kvp_read_rec(st, p, j->slot, raw);
	if (err)
		return err;
	/* Done, not begun, or the record is no longer ours: nothing to write. */
	if (kvp_raw_same(raw, want) || kvp_raw_chash(raw) == j->old ||
	    strnlen((const char *)raw, KVP_KEY_FIELD) != klen || memcmp(raw, want, klen))
		return 0;
	err = kvp_pwrite(st, p->fd, want, KVP_REC_SIZE, (off_t)(j->slot * KVP_REC_SIZE));
	return err ? err : kvp_sync(st, p->fd);
}

/* Is the file's record at `at` our `want` cut after `part` bytes, followed by `count` records? */
static int kvp_cut_ours(struct hv_kvp_store *st, struct kvp_pool *p, off_t at, size_t part,
			const uint8_t *want, off_t size, uint64_t count)
{
	uint8_t raw[KVP_REC_SIZE];
	ssize_t n;

	if (!part || size < at + (off_t)part + (off_t)(count * KVP_REC_SIZE))
		return 0;
	n = kvp_pread(st, p->fd, raw, part, at);
	if (n < 0)
		return (int)n;
	return (size_t)n == part && !memcmp(raw, want, part);
}

/* body: our record, then the `count` records that go after it. */
static int kvp_rebuild(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t slot,
		       const uint8_t *body, uint64_t count)
{
	off_t at = (off_t)(slot * KVP_REC_SIZE);
	int err;

	err = kvp_pwrite(st, p->fd, body + KVP_REC_SIZE, count * KVP_REC_SIZE, at + KVP_REC_SIZE);
	KVP_CRASH_POINT("rebuild");
	if (!err)
		err = kvp_pwrite(st, p->fd, body, KVP_REC_SIZE, at);
	return err ? err : kvp_sync(st, p->fd);
}

/* Our append cut at `part` bytes, with others' records after it: see atop. */
static int kvp_recover_buried(struct hv_kvp_store *st, struct kvp_pool *p,
			      const struct kvp_jent *j, const uint8_t *want, off_t size)
{
	struct kvp_jent r = { .type = KVP_J_REBUILD, .slot = j->slot };
	off_t at = (off_t)(j->slot * KVP_REC_SIZE);
	size_t part = kvp_cut_len(at);
	uint8_t *body;
	ssize_t n;
	int err;

	if (!part || (size - at - (off_t)part) % KVP_REC_SIZE)
		return 0;
	r.count = (uint64_t)(size - at - (off_t)part) / KVP_REC_SIZE;
	if (r.count > KVP_REBUILD_MAX)
		return 0;
	err = kvp_cut_ours(st, p, at, part, want, size, r.count);
	if (err <= 0)
		return err;
	body = malloc((size_t)(r.count + 1) * KVP_REC_SIZE);
	if (!body)
		return -ENOMEM;
	memcpy(body, want, KVP_REC_SIZE);
	n = kvp_pread(st, p->fd, body + KVP_REC_SIZE, (size_t)r.count * KVP_REC_SIZE,
		      at + (off_t)part);
	err = n < 0 ? (int)n : (size_t)n != r.count * KVP_REC_SIZE ? -EIO : 0;
	if (!err)
		err = kvp_intent_put(st, p, &r, body, (size_t)(r.count + 1) * KVP_REC_SIZE);
	if (!err)
		err = kvp_rebuild(st, p, r.slot, body, r.count);
	free(body);
	return err;
}

static int kvp_recover_append(struct hv_kvp_store *st, struct kvp_pool *p,
			      const struct kvp_jent *j, const uint8_t *want, off_t size)
{
	uint8_t raw[KVP_REC_SIZE];
	off_t at = (off_t)(j->slot * KVP_REC_SIZE);
	ssize_t n;
	int err;

	if (size >= at + KVP_REC_SIZE)
		return kvp_recover_buried(st, p, j, want, size);
	/*
	 * A record of ours cut short at the very end is finished: a kill
	 * between two pages of its write. Missing, it is left.
	 */
	if (size <= at)
		return 0;
	n = kvp_pread(st, p->fd, raw, (size_t)(size - at), at);
	if (n < 0)
		return (int)n;
	if (n != size - at || memcmp(raw, want, (size_t)n))
		return 0;
	err = kvp_pwrite(st, p->fd, want + n, KVP_REC_SIZE - (size_t)n, size);
	return err ? err : kvp_sync(st, p->fd);
}

static int kvp_recover_delete(struct hv_kvp_store *st, struct kvp_pool *p,
			      const struct kvp_jent *j, const uint64_t *h, uint64_t full)
{
	uint64_t s = j->slot, n = j->count, m;
	uint8_t raw[KVP_REC_SIZE];
	int err;

	/* Shorter than the shift can leave it: someone else rewrote it. */
	if (full + 1 < n)
		return 0;
	/* Records already moved hold the hash of the one after their slot. */
	for (m = s; m + 1 < n; m++) {
		err = kvp_read_rec(st, p, m, raw);
		if (err)
			return err;
		if (kvp_raw_chash(raw) != h[m + 1 - s])
			break;
	}
	err = kvp_read_rec(st, p, m, raw);
	if (err == -EIO)
		return 0;       /* cut already: done */
	if (err)
		return err;
	if (m == s && kvp_raw_chash(raw) == h[0])
		return 0;       /* not begun: the delete did not land */
	if (m + 1 == n && kvp_raw_chash(raw) != h[n - 1 - s])
		return 0;       /* moved and cut; what follows is others' */
	/* Half done: shift what is left (records appended since included). */
	return kvp_shift(st, p, m, full);
}

int kvp_file_recover(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_jent j;
	uint8_t *body = NULL, want[KVP_REC_SIZE];
	struct stat sb;
	uint64_t klen, vlen, full;
	size_t len;
	ssize_t n;
	int err = 0;

	if (p->jfd < 0)
		return 0;
	n = kvp_pread(st, p->jfd, &j, sizeof(j), 0);
	if (n < 0)
		return (int)n;
	if (n != sizeof(j) || j.magic != KVP_JMAGIC ||
	    j.check != kvp_siphash(kvp_jkey, &j, offsetof(struct kvp_jent, check)))
		return 0;
	if (fstat(p->fd, &sb) < 0)
		return -errno;
	full = (uint64_t)sb.st_size / KVP_REC_SIZE;
	/* Every length checked before use, even in our own journal. */
	klen = j.lens & 0xffff;
	vlen = j.lens >> 16;
	if (j.type == KVP_J_DELETE) {
		if (j.count <= j.slot || j.count - j.slot > (uint64_t)(SSIZE_MAX / 8) ||
		    j.count > full + 1)
			goto done;
		len = (size_t)(j.count - j.slot) * sizeof(uint64_t);
	} else if (j.type == KVP_J_REBUILD) {
		if (j.count < 1 || j.count > KVP_REBUILD_MAX || j.slot > full)
			goto done;
		len = (size_t)(j.count + 1) * KVP_REC_SIZE;
	} else if (j.type == KVP_J_UPDATE || j.type == KVP_J_APPEND) {
		if (klen < 1 || klen >= KVP_KEY_FIELD || vlen >= KVP_VAL_FIELD)
			goto done;
		len = (size_t)(klen + vlen);
	} else {
		goto done;
	}
	body = malloc(len ? len : 1);
	if (!body)
		return -ENOMEM;
	n = kvp_pread(st, p->jfd, body, len, sizeof(j));
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	if ((size_t)n != len || kvp_siphash(kvp_jkey, body, len) != j.body)
		goto done;
	if (j.type == KVP_J_DELETE) {
		err = kvp_recover_delete(st, p, &j, (const uint64_t *)(void *)body, full);
	} else if (j.type == KVP_J_REBUILD) {
		/* Still ours, as the rebuild left it or before it began: write it again. */
		off_t at = (off_t)(j.slot * KVP_REC_SIZE);

		err = kvp_cut_ours(st, p, at, kvp_cut_len(at), body, sb.st_size, j.count);
		if (err > 0)
			err = kvp_rebuild(st, p, j.slot, body, j.count);
	} else {
		memset(want, 0, sizeof(want));
		memcpy(want, body, (size_t)klen);
		memcpy(want + KVP_KEY_FIELD, body + klen, (size_t)vlen);
		err = j.type == KVP_J_UPDATE ? kvp_recover_update(st, p, &j, want, full)
					      : kvp_recover_append(st, p, &j, want, sb.st_size);
	}
	if (err)
		goto out;
done:
	kvp_intent_clear(st, p);
out:
	free(body);
	return err;
}

/* ---- opening ---- */

static int kvp_dir_open(const char *dir, mode_t mode)
{
	int fd;

	if (mkdir(dir, mode) == 0) {
		/* Readers that are not root need to get in, whatever our umask. */
		if (chmod(dir, mode) < 0)
			return -errno;
	} else if (errno != EEXIST) {
		return -errno;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int kvp_files_open(struct hv_kvp_store *st, const char *dir, const char *jdir)
{
	int jdirfd = -1, err = 0;

	st->dirfd = kvp_dir_open(dir, 0755);
	if (st->dirfd < 0) {
		err = st->dirfd;
		st->dirfd = -1;
		return err;
	}
	if (jdir) {
		jdirfd = kvp_dir_open(jdir, 0700);
		if (jdirfd < 0)
			return jdirfd;
	}
	/*
	 * One descriptor to poll: inotify (a close also ends another program's
	 * lock) and an eventfd, set when a change starts waiting for a lock,
	 * so that whoever polls comes back to write it.
	 */
	st->pfd = epoll_create1(EPOLL_CLOEXEC);
	st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->pfd < 0 || st->efd < 0 ||
	    epoll_ctl(st->pfd, EPOLL_CTL_ADD, st->efd,
		      &(struct epoll_event){ .events = EPOLLIN }) < 0) {
		err = -errno;
		goto out;
	}
	if (!(st->flags & HV_KVP_POOL_NO_INOTIFY)) {
		st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (st->ifd < 0 ||
		    inotify_add_watch(st->ifd, dir, IN_MODIFY | IN_CREATE | IN_DELETE |
				      IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_MOVED_TO |
				      IN_MOVED_FROM) < 0 ||
		    epoll_ctl(st->pfd, EPOLL_CTL_ADD, st->ifd,
			      &(struct epoll_event){ .events = EPOLLIN }) < 0) {
			err = -errno;
			goto out;
		}
	}
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];
		char jname[32];

		snprintf(p->name, sizeof(p->name), ".kvp_pool_%u", i);
		p->fd = kvp_open_file(st->dirfd, p->name, 0644);
		if (p->fd < 0) {
			err = p->fd;
			p->fd = -1;
			goto out;
		}
		kvp_stat_save(p);
		if (jdirfd < 0)
			continue;
		snprintf(jname, sizeof(jname), "pool_%u.intent", i);
		p->jfd = kvp_open_file(jdirfd, jname, 0600);
		if (p->jfd < 0) {
			err = p->jfd;
			p->jfd = -1;
			goto out;
		}
	}
out:
	if (jdirfd >= 0)
		close(jdirfd);
	return err;
}

void kvp_files_close(struct hv_kvp_store *st)
{
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		if (p->fd >= 0)
			close(p->fd);
		if (p->jfd >= 0)
			close(p->jfd);
		p->fd = p->jfd = -1;
	}
	if (st->ifd >= 0)
		close(st->ifd);
	if (st->efd >= 0)
		close(st->efd);
	if (st->pfd >= 0)
		close(st->pfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->ifd = st->efd = st->pfd = st->dirfd = -1;
}
