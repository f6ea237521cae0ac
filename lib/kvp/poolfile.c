/* SPDX-License-Identifier: ISC */
/*
 * Pool files in Linux's format, their locks, and the store's journal.
 *
 * Facts this file relies on, from Linux's tools/hv/hv_kvp_daemon.c: the
 * files are DIR/.kvp_pool_0..4, opened O_RDWR|O_CREAT|O_CLOEXEC mode 0644
 * in a 0755 directory, headerless arrays of struct kvp_record { char
 * key[512]; char value[2048]; }; a trailing partial record is not read
 * (it freads whole records); SET overwrites the value of the first
 * matching record in place, leaving old bytes after the new NUL, or
 * appends; DELETE shifts the later records up with strcpy and rewrites
 * the file; it locks the whole file with fcntl(F_SETLKW, F_WRLCK). From
 * cloud-init's reporting handler: it appends records under
 * flock(LOCK_EX) and writes 512-byte keys without NUL.
 *
 * Crash safety. Every record we write is written whole at a record
 * boundary, and SIGKILL can still cut a write short: Linux's
 * mm/filemap.c generic_perform_write checks for a fatal signal before
 * each page it copies, so a record that straddles a page boundary can be
 * left half written. Before writing a record we put its key and value in
 * the journal's intent slot, and clear the slot once the write is done.
 * A SET of an existing key is one pwrite of its record; a write cut short
 * is finished at the next open. A new key is an append, which first sets
 * the file's length to the end of the new record (one ftruncate) and then
 * writes it. The file is thus always whole records, even after a kill:
 * records other programs append while we are dead stay aligned (a cut
 * left partial would have shifted them by its length, and the open that
 * cut the partial would then have cut them), and the next open finds our
 * record zero-filled after whatever part was written, and finishes it
 * from the intent. A record there that is not such a prefix of ours was
 * appended by someone else after we died before the ftruncate: it is
 * left alone. A DELETE
 * only appends a small entry to the journal: the record stays in the pool
 * file (a hole in memory) until compaction, which keeps the pool file's
 * writes O(1) per delete on average. Compaction copies the surviving tail
 * to the journal first, then over the file, then truncates: a compaction
 * cut short is redone from the journal; records other programs appended
 * meanwhile are recognised because the old tail is still there (its hash
 * is in the journal), and are kept.
 *
 * Journal (DIR/.hvkvpd_journal_N, 0600, read by nobody else): offset 0 is
 * the intent slot (entry, then the key and value bytes; its magic is
 * zeroed when the write it covers is done); entries follow from offset 4096:
 * DELETE (entry only) and COMPACT (entry + image records). A torn entry
 * fails its check and ends the journal. The journal is emptied by every
 * compaction, and compaction runs at every open and close.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvuio/kvp_pool.h"
#include "lib/common/compiler.h"
#include "pool_private.h"

#define KVP_JMAGIC       0x4a4b5648u  /* "HVKJ" */
#define KVP_J_INTENT     1u           /* SET of an existing record, in place */
#define KVP_J_DELETE     2u
#define KVP_J_COMPACT    3u
#define KVP_J_APPEND     4u           /* a new record at the end */
#define KVP_J_DATA       4096u        /* entries start here */
#define KVP_CHUNK        64u          /* records per read or write */

struct kvp_jent {
	uint32_t magic;
	uint32_t type;
	uint64_t a;      /* INTENT, APPEND, DELETE: record index; COMPACT: first hole */
	uint64_t b;      /* INTENT, APPEND, DELETE: content hash; COMPACT: records before */
	uint64_t c;      /* INTENT, APPEND: key length | value length << 16; COMPACT: image records */
	uint64_t d;      /* COMPACT: hash of the tail the image replaces */
	uint64_t e;      /* INTENT, APPEND: hash of key and value; COMPACT: hash of the image */
	uint64_t check;  /* hash of everything above */
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_jent) == 56, "kvp_jent");

/*
 * Crash tests stop the process at these points (not exported; tests
 * reach it through the static library).
 */
void (*kvp_crash_hook)(const char *where);
#define KVP_CRASH_POINT(w) do { if (unlikely(kvp_crash_hook)) kvp_crash_hook(w); } while (0)

static const uint64_t kvp_jkey[2] = { 0x6a6f75726e616c31ULL, 0x6876756b76706a6cULL };

static uint64_t kvp_raw_hash(const uint8_t *raw)
{
	return kvp_siphash(kvp_jkey, raw, KVP_REC_SIZE);
}

static uint64_t kvp_hash_step(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

static void kvp_jent_seal(struct kvp_jent *j)
{
	j->magic = KVP_JMAGIC;
	j->check = kvp_siphash(kvp_jkey, j, offsetof(struct kvp_jent, check));
}

static bool kvp_jent_ok(const struct kvp_jent *j)
{
	return j->magic == KVP_JMAGIC &&
	       j->check == kvp_siphash(kvp_jkey, j, offsetof(struct kvp_jent, check));
}

/* Content hash of a raw record, as kvp_rec_parse would compute it. */
static uint64_t kvp_raw_chash(const uint8_t *raw)
{
	const char *k = (const char *)raw, *v = (const char *)raw + KVP_KEY_FIELD;

	return kvp_content_hash(k, strnlen(k, KVP_KEY_FIELD), v, strnlen(v, KVP_VAL_FIELD));
}

/* Is `got` the first bytes of `want` (maybe none, maybe all), then zeros? */
static bool kvp_raw_prefix_of(const uint8_t *got, const uint8_t *want)
{
	size_t x = 0;

	while (x < KVP_REC_SIZE && got[x] == want[x])
		x++;
	for (; x < KVP_REC_SIZE; x++)
		if (got[x])
			return false;
	return true;
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

/* flock first, then fcntl: the fixed order. Both on the fd we keep. */
static int kvp_lock(struct kvp_pool *p)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int err;

	while (flock(p->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	while (fcntl(p->fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			err = -errno;
			flock(p->fd, LOCK_UN);
			return err;
		}
	}
	return 0;
}

static void kvp_unlock(struct kvp_pool *p)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	fcntl(p->fd, F_SETLK, &fl);
	flock(p->fd, LOCK_UN);
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

/* ---- loading ---- */

struct kvp_jscan {
	bool intent_ok;
	struct kvp_jent intent;
	uint8_t intent_raw[KVP_REC_SIZE];  /* the record the intent was writing */
	bool compact_ok;
	struct kvp_jent compact;
	uint64_t compact_off;   /* where its image starts */
	struct kvp_jent *dels;
	size_t ndels, cap;
	uint64_t end;
};

static int kvp_journal_scan(struct hv_kvp_store *st, struct kvp_pool *p, struct kvp_jscan *js)
{
	uint8_t *chunk = NULL;
	uint64_t off = KVP_J_DATA;
	ssize_t n;
	int err = 0;

	memset(js, 0, sizeof(*js));
	n = kvp_pread(st, p->jfd, &js->intent, sizeof(js->intent), 0);
	if (n < 0)
		return (int)n;
	chunk = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	if (!chunk)
		return -ENOMEM;
	if (n == sizeof(js->intent) && kvp_jent_ok(&js->intent) &&
	    (js->intent.type == KVP_J_INTENT || js->intent.type == KVP_J_APPEND)) {
		uint64_t klen = js->intent.c & 0xffff, vlen = js->intent.c >> 16;

		/* Lengths checked before use, even in our own journal. */
		if (klen >= 1 && klen < KVP_KEY_FIELD && vlen < KVP_VAL_FIELD) {
			n = kvp_pread(st, p->jfd, chunk, (size_t)(klen + vlen), sizeof(js->intent));
			if (n < 0) {
				err = (int)n;
				goto out;
			}
			if ((uint64_t)n == klen + vlen &&
			    kvp_siphash(kvp_jkey, chunk, (size_t)n) == js->intent.e &&
			    kvp_content_hash((char *)chunk, (size_t)klen, (char *)chunk + klen,
					     (size_t)vlen) == js->intent.b) {
				memset(js->intent_raw, 0, KVP_REC_SIZE);
				memcpy(js->intent_raw, chunk, (size_t)klen);
				memcpy(js->intent_raw + KVP_KEY_FIELD, chunk + klen, (size_t)vlen);
				js->intent_ok = true;
			}
		}
	}
	for (;;) {
		struct kvp_jent j;

		n = kvp_pread(st, p->jfd, &j, sizeof(j), (off_t)off);
		if (n < 0) {
			err = (int)n;
			goto out;
		}
		if (n != sizeof(j) || !kvp_jent_ok(&j))
			break;
		if (j.type == KVP_J_DELETE) {
			if (js->ndels == js->cap) {
				size_t cap = js->cap ? js->cap * 2 : 64;
				struct kvp_jent *d = realloc(js->dels, cap * sizeof(*d));

				if (!d) {
					err = -ENOMEM;
					goto out;
				}
				js->dels = d;
				js->cap = cap;
			}
			js->dels[js->ndels++] = j;
			off += sizeof(j);
		} else if (j.type == KVP_J_COMPACT) {
			uint64_t h = 0, done = 0;

			if (j.c > (uint64_t)(INT64_MAX / KVP_REC_SIZE))
				break;
			while (done < j.c) {
				size_t cnt = j.c - done < KVP_CHUNK ? (size_t)(j.c - done) : KVP_CHUNK;

				n = kvp_pread(st, p->jfd, chunk, cnt * KVP_REC_SIZE,
					      (off_t)(off + sizeof(j) + done * KVP_REC_SIZE));
				if (n < 0) {
					err = (int)n;
					goto out;
				}
				if ((size_t)n != cnt * KVP_REC_SIZE)
					break;
				for (size_t i = 0; i < cnt; i++)
					h = kvp_hash_step(h, kvp_raw_hash(chunk + i * KVP_REC_SIZE));
				done += cnt;
			}
			if (done != j.c || h != j.e || j.a + j.c > j.b)
				break;
			/* The deletes before it are part of its image. */
			js->compact_ok = true;
			js->compact = j;
			js->compact_off = off + sizeof(j);
			js->ndels = 0;
			off += sizeof(j) + j.c * KVP_REC_SIZE;
		} else {
			break;
		}
	}
	js->end = off;
out:
	free(chunk);
	return err;
}

/* Copy `count` records from the journal at joff to the pool file at record `at`. */
static int kvp_image_apply(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t joff,
			   uint64_t at, uint64_t count)
{
	uint8_t *chunk = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	uint64_t done = 0;
	int err = 0;

	if (!chunk)
		return -ENOMEM;
	while (done < count) {
		size_t cnt = count - done < KVP_CHUNK ? (size_t)(count - done) : KVP_CHUNK;
		ssize_t n = kvp_pread(st, p->jfd, chunk, cnt * KVP_REC_SIZE,
				      (off_t)(joff + done * KVP_REC_SIZE));

		if (n < 0 || (size_t)n != cnt * KVP_REC_SIZE) {
			err = n < 0 ? (int)n : -EIO;
			break;
		}
		err = kvp_pwrite(st, p->fd, chunk, cnt * KVP_REC_SIZE,
				 (off_t)((at + done) * KVP_REC_SIZE));
		if (err)
			break;
		done += cnt;
		KVP_CRASH_POINT("compact-chunk");
	}
	free(chunk);
	return err;
}

/* Hash of records [from, to) of the pool file, as a COMPACT entry's d. */
static int kvp_tail_hash(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t from,
			 uint64_t to, uint64_t *ret)
{
	uint8_t raw[KVP_REC_SIZE];
	uint64_t h = 0;

	for (uint64_t i = from; i < to; i++) {
		ssize_t n = kvp_pread(st, p->fd, raw, KVP_REC_SIZE, (off_t)(i * KVP_REC_SIZE));

		if (n < 0)
			return (int)n;
		if (n != KVP_REC_SIZE)
			return -EIO;
		h = kvp_hash_step(h, kvp_raw_hash(raw));
	}
	*ret = h;
	return 0;
}

static int kvp_file_compact_locked(struct hv_kvp_store *st, struct kvp_pool *p);

/*
 * Read the whole pool again (at open, or after another program changed
 * it other than by appending), with the journal applied. Locks held.
 */
static int kvp_file_load(struct hv_kvp_store *st, struct kvp_pool *p, bool at_open)
{
	struct kvp_content c = { 0 };
	struct kvp_jscan js;
	uint8_t *chunk = NULL;
	uint64_t full, stale_from = 0, stale_to = 0, last = 0;
	struct stat sb;
	int err;

	err = kvp_journal_scan(st, p, &js);
	if (err)
		goto out;
	if (fstat(p->fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	full = (uint64_t)sb.st_size / KVP_REC_SIZE;
	/*
	 * A partial record under both locks is what another writer left when
	 * it was killed (ours set the length first and never leave one).
	 */
	if (at_open && (uint64_t)sb.st_size % KVP_REC_SIZE) {
		err = kvp_truncate(p->fd, (off_t)(full * KVP_REC_SIZE));
		if (err)
			goto out;
	}

	if (js.compact_ok) {
		uint64_t n0 = js.compact.b, h1 = js.compact.a, len = js.compact.c;
		uint64_t k = n0 - h1 - len, h = ~js.compact.d;

		/*
		 * Old tail still in place: the compaction did not reach its
		 * truncate. Write the image again; the old tail becomes holes
		 * and records appended after it are kept.
		 */
		if (full >= n0 && kvp_tail_hash(st, p, n0 - k, n0, &h) == 0 &&
		    h == js.compact.d) {
			err = kvp_image_apply(st, p, js.compact_off, h1, len);
			if (err)
				goto out;
			stale_from = n0 - k;
			stale_to = n0;
		}
	} else if (js.intent_ok && at_open && js.intent.a < full) {
		uint8_t raw[KVP_REC_SIZE];
		ssize_t n = kvp_pread(st, p->fd, raw, KVP_REC_SIZE,
				     (off_t)(js.intent.a * KVP_REC_SIZE));
		bool redo;

		if (n < 0) {
			err = (int)n;
			goto out;
		}
		if (js.intent.type == KVP_J_INTENT) {
			/* Same key: the record our interrupted SET was writing. */
			redo = n == KVP_REC_SIZE &&
			       strnlen((char *)raw, KVP_KEY_FIELD) ==
					strnlen((char *)js.intent_raw, KVP_KEY_FIELD) &&
			       !memcmp(raw, js.intent_raw, strnlen((char *)raw, KVP_KEY_FIELD));
		} else {
			/*
			 * Ours cut short over the zeros of the new length. Anything
			 * else there was appended by another program after we died
			 * before setting the length, and is theirs to keep.
			 */
			redo = n == KVP_REC_SIZE && memcmp(raw, js.intent_raw, KVP_REC_SIZE) &&
			       kvp_raw_prefix_of(raw, js.intent_raw);
		}
		if (redo) {
			err = kvp_pwrite(st, p->fd, js.intent_raw, KVP_REC_SIZE,
					 (off_t)(js.intent.a * KVP_REC_SIZE));
			if (!err)
				err = kvp_sync(st, p->fd);
			if (err)
				goto out;
		}
	}

	err = kvp_content_init(&c, false);
	if (err)
		goto out;
	chunk = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	if (!chunk) {
		err = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < full;) {
		size_t cnt = full - i < KVP_CHUNK ? (size_t)(full - i) : KVP_CHUNK;
		ssize_t n = kvp_pread(st, p->fd, chunk, cnt * KVP_REC_SIZE, (off_t)(i * KVP_REC_SIZE));

		if (n < 0) {
			err = (int)n;
			goto out;
		}
		cnt = (size_t)n / KVP_REC_SIZE;  /* shrank under us: take what is there */
		if (!cnt)
			break;
		for (size_t j = 0; j < cnt; j++) {
			struct kvp_rec *r;

			err = kvp_rec_parse(st, chunk + j * KVP_REC_SIZE, &r);
			if (!err)
				err = kvp_content_push(st, &c, r);
			if (err) {
				free(r);
				goto out;
			}
			last = r->chash;
		}
		i += cnt;
	}
	for (uint64_t i = stale_from; i < stale_to && i < c.nslots; i++)
		kvp_content_hole(st, &c, i);
	for (size_t d = 0; d < js.ndels; d++) {
		const struct kvp_jent *j = &js.dels[d];
		size_t s = SIZE_MAX;

		if (j->a < c.nslots && c.slots[j->a] && c.slots[j->a]->chash == j->b) {
			s = j->a;
		} else {
			/* The file moved under the journal: the first equal record. */
			for (size_t i = 0; i < c.nslots; i++) {
				if (c.slots[i] && c.slots[i]->chash == j->b) {
					s = i;
					break;
				}
			}
		}
		if (s != SIZE_MAX)
			kvp_content_hole(st, &c, s);
	}
	if (!at_open)
		kvp_change_reloaded(st, p, &c);
	kvp_pool_swap(st, p, &c);
	p->last_chash = last;
	p->jend = js.end > KVP_J_DATA ? js.end : KVP_J_DATA;
	p->dirty = false;
	p->must_reload = false;
	if (!at_open)
		st->stats.reloads++;
	err = kvp_file_compact_locked(st, p);
out:
	kvp_content_discard(&c);
	free(chunk);
	free(js.dels);
	kvp_stat_save(p);
	return err;
}

/* Records [from, to) were appended by another program: read them. */
static int kvp_file_ingest(struct hv_kvp_store *st, struct kvp_pool *p, uint64_t from, uint64_t to)
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
		cnt = (size_t)n / KVP_REC_SIZE;
		if (!cnt)
			break;
		for (size_t j = 0; j < cnt; j++) {
			struct kvp_rec *r;

			err = kvp_rec_parse(st, chunk + j * KVP_REC_SIZE, &r);
			if (!err)
				err = kvp_content_push(st, &p->c, r);
			if (err) {
				free(r);
				goto out;
			}
			p->last_chash = r->chash;
			st->stats.records_ingested++;
			kvp_change_appended(st, p, r);
		}
		from += cnt;
	}
out:
	free(chunk);
	return err;
}

static int kvp_file_reopen(struct hv_kvp_store *st, struct kvp_pool *p)
{
	int fd, err;

	kvp_unlock(p);
	fd = kvp_open_file(st->dirfd, p->name, 0644);
	if (fd < 0)
		return fd;
	close(p->fd);
	p->fd = fd;
	err = kvp_lock(p);
	if (err) {
		/* Keep an fd so that close and later calls stay simple. */
		return err;
	}
	return 0;
}

/*
 * Bring memory up to date with the file. Locks held. Appends are read
 * incrementally; anything else reloads.
 */
static int kvp_file_check(struct hv_kvp_store *st, struct kvp_pool *p)
{
	uint64_t known = p->c.nslots, full;
	struct stat sb, path_sb;
	bool changed;
	int err;

	err = kvp_files_drain(st, -1);
	if (err)
		return err;
	if (fstatat(st->dirfd, p->name, &path_sb, 0) < 0 || path_sb.st_ino != p->ino ||
	    path_sb.st_dev != p->dev) {
		/* Deleted or replaced (rename): follow the name, as other programs do. */
		err = kvp_file_reopen(st, p);
		if (err)
			return err;
		return kvp_file_load(st, p, false);
	}
	if (p->must_reload)
		return kvp_file_load(st, p, false);
	if (fstat(p->fd, &sb) < 0)
		return -errno;
	changed = p->dirty || !kvp_stat_same(p, &sb);
	if (!changed)
		return 0;
	full = (uint64_t)sb.st_size / KVP_REC_SIZE;
	if (full < known)
		return kvp_file_load(st, p, false);
	if (full == known) {
		/* Only a partial record more: someone is mid-append. */
		if (sb.st_size != p->size && (uint64_t)p->size / KVP_REC_SIZE == known &&
		    sb.st_size > p->size) {
			p->dirty = false;
			return 0;
		}
		return kvp_file_load(st, p, false);
	}
	if (known) {
		uint8_t raw[KVP_REC_SIZE];
		ssize_t n = kvp_pread(st, p->fd, raw, KVP_REC_SIZE,
				      (off_t)((known - 1) * KVP_REC_SIZE));

		if (n < 0)
			return (int)n;
		if (n != KVP_REC_SIZE || kvp_raw_chash(raw) != p->last_chash)
			return kvp_file_load(st, p, false);
	}
	err = kvp_file_ingest(st, p, known, full);
	if (err)
		return err;
	p->dirty = false;
	p->size = sb.st_size;
	p->mtim = sb.st_mtim;
	p->ctim = sb.st_ctim;
	return 0;
}

/* ---- the intent slot ---- */

/* Name the record about to be written at `slot` (type INTENT or APPEND). */
static int kvp_intent_write(struct hv_kvp_store *st, struct kvp_pool *p, uint32_t type,
			    size_t slot, const struct kvp_rec *r)
{
	struct {
		struct kvp_jent j;
		uint8_t kv[KVP_REC_SIZE];
	} __attribute__((packed)) in;
	size_t len = (size_t)r->klen + r->vlen;
	int err;

	memset(&in.j, 0, sizeof(in.j));
	memcpy(in.kv, kvp_rec_key(r), r->klen);
	memcpy(in.kv + r->klen, kvp_rec_value(r), r->vlen);
	in.j.type = type;
	in.j.a = slot;
	in.j.b = r->chash;
	in.j.c = (uint64_t)r->klen | (uint64_t)r->vlen << 16;
	in.j.e = kvp_siphash(kvp_jkey, in.kv, len);
	kvp_jent_seal(&in.j);
	err = kvp_pwrite(st, p->jfd, &in, sizeof(in.j) + len, 0);
	if (!err)
		err = kvp_sync(st, p->jfd);
	return err;
}

/*
 * The write it named is done. Left valid, it would let the next open
 * "finish" a record that another program has since changed in place.
 */
static void kvp_intent_clear(struct hv_kvp_store *st, struct kvp_pool *p)
{
	static const uint8_t zero[8];

	kvp_pwrite(st, p->jfd, zero, sizeof(zero), 0);
}

/* ---- the store's side ---- */

int kvp_file_begin(struct hv_kvp_store *st, struct kvp_pool *p)
{
	int err;

	if (p->fd < 0)
		return 0;
	err = kvp_lock(p);
	if (err)
		return err;
	err = kvp_file_check(st, p);
	if (err)
		kvp_unlock(p);
	return err;
}

void kvp_file_end(struct hv_kvp_store *st, struct kvp_pool *p)
{
	if (p->fd < 0)
		return;
	kvp_stat_save(p);
	/* Still under both locks: this pool's events are our own writes. */
	kvp_files_drain(st, (int)(p - st->pools));
	kvp_unlock(p);
}

int kvp_file_append(struct hv_kvp_store *st, struct kvp_pool *p, const struct kvp_rec *r)
{
	uint8_t raw[KVP_REC_SIZE];
	off_t at = (off_t)r->slot * KVP_REC_SIZE;
	struct stat sb;
	int err;

	if (p->fd < 0)
		return 0;
	kvp_rec_format(r, raw);
	err = kvp_intent_write(st, p, KVP_J_APPEND, r->slot, r);
	if (err)
		return err;
	if (fstat(p->fd, &sb) < 0) {
		err = -errno;
		goto fail;
	}
	/*
	 * A partial record left by a killed writer would misalign ours, and
	 * its bytes under ours would hide a write of ours cut short.
	 */
	if (sb.st_size > at) {
		err = kvp_truncate(p->fd, at);
		if (err)
			goto fail;
	}
	/* The whole record's length first: see "Crash safety" above. */
	err = kvp_truncate(p->fd, at + KVP_REC_SIZE);
	if (err)
		goto fail;
	KVP_CRASH_POINT("append");
	err = kvp_pwrite(st, p->fd, raw, KVP_REC_SIZE, at);
	if (!err)
		err = kvp_sync(st, p->fd);
	if (err)
		goto fail;
	kvp_intent_clear(st, p);
	p->last_chash = r->chash;
	return 0;
fail:
	/* Nothing of ours left in the file: nothing for the intent to finish. */
	if (kvp_truncate(p->fd, at) == 0)
		kvp_intent_clear(st, p);
	return err;
}

int kvp_file_rewrite(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
		     const struct kvp_rec *old, const struct kvp_rec *r)
{
	uint8_t raw[KVP_REC_SIZE];
	int err;

	(void)old;
	if (p->fd < 0)
		return 0;
	kvp_rec_format(r, raw);
	err = kvp_intent_write(st, p, KVP_J_INTENT, slot, r);
	KVP_CRASH_POINT("set-intent");
	if (!err)
		err = kvp_pwrite(st, p->fd, raw, KVP_REC_SIZE, (off_t)slot * KVP_REC_SIZE);
	if (!err)
		err = kvp_sync(st, p->fd);
	/* On error the intent stays: the record may be half written. */
	if (err)
		return err;
	kvp_intent_clear(st, p);
	if (slot + 1 == p->c.nslots)
		p->last_chash = r->chash;
	return 0;
}

int kvp_file_delete_log(struct hv_kvp_store *st, struct kvp_pool *p, size_t slot,
			const struct kvp_rec *r)
{
	struct kvp_jent j;
	int err;

	if (p->fd < 0)
		return 0;
	memset(&j, 0, sizeof(j));
	j.type = KVP_J_DELETE;
	j.a = slot;
	j.b = r->chash;
	kvp_jent_seal(&j);
	err = kvp_pwrite(st, p->jfd, &j, sizeof(j), (off_t)p->jend);
	if (!err)
		err = kvp_sync(st, p->jfd);
	if (err) {
		kvp_truncate(p->jfd, (off_t)p->jend);
		return err;
	}
	p->jend += sizeof(j);
	return 0;
}

static int kvp_file_compact_locked(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct kvp_content *c = &p->c;
	struct kvp_jent j;
	uint8_t *chunk = NULL, *img = NULL;
	uint64_t n0 = c->nslots, h1 = c->first_hole, k = c->holes, len = 0;
	uint64_t th = 0, ih = 0, joff = p->jend + sizeof(j);
	int err = 0;

	if (!k) {
		struct stat sb;

		/* Nothing pending: empty the journal (drops a finished intent). */
		if (fstat(p->jfd, &sb) == 0 && sb.st_size > 0) {
			err = kvp_truncate(p->jfd, 0);
			if (err)
				return err;
		}
		p->jend = KVP_J_DATA;
		p->compact_retry = 0;
		return 0;
	}
	chunk = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	img = malloc((size_t)KVP_CHUNK * KVP_REC_SIZE);
	if (!chunk || !img) {
		err = -ENOMEM;
		goto out;
	}
	/* 1: the surviving tail into the journal. */
	for (uint64_t s = h1; s < n0;) {
		size_t cnt = n0 - s < KVP_CHUNK ? (size_t)(n0 - s) : KVP_CHUNK, kept = 0;
		ssize_t n = kvp_pread(st, p->fd, chunk, cnt * KVP_REC_SIZE, (off_t)(s * KVP_REC_SIZE));

		if (n < 0 || (size_t)n != cnt * KVP_REC_SIZE) {
			err = n < 0 ? (int)n : -EIO;
			goto out;
		}
		for (size_t i = 0; i < cnt; i++) {
			const uint8_t *raw = chunk + i * KVP_REC_SIZE;
			uint64_t rh = kvp_raw_hash(raw);

			if (s + i >= n0 - k)
				th = kvp_hash_step(th, rh);
			if (!c->slots[s + i])
				continue;
			memcpy(img + kept * KVP_REC_SIZE, raw, KVP_REC_SIZE);
			ih = kvp_hash_step(ih, rh);
			kept++;
		}
		if (kept) {
			err = kvp_pwrite(st, p->jfd, img, kept * KVP_REC_SIZE,
					 (off_t)(joff + len * KVP_REC_SIZE));
			if (err)
				goto out;
		}
		len += kept;
		s += cnt;
	}
	memset(&j, 0, sizeof(j));
	j.type = KVP_J_COMPACT;
	j.a = h1;
	j.b = n0;
	j.c = len;
	j.d = th;
	j.e = ih;
	kvp_jent_seal(&j);
	err = kvp_pwrite(st, p->jfd, &j, sizeof(j), (off_t)p->jend);
	if (!err)
		err = kvp_sync(st, p->jfd);
	if (err)
		goto out;
	KVP_CRASH_POINT("compact-journaled");
	/* 2: over the file, then cut. From here a crash is redone at open. */
	err = kvp_image_apply(st, p, joff, h1, len);
	KVP_CRASH_POINT("compact-applied");
	if (!err)
		err = kvp_truncate(p->fd, (off_t)((h1 + len) * KVP_REC_SIZE));
	KVP_CRASH_POINT("compact-truncated");
	if (!err)
		err = kvp_sync(st, p->fd);
	if (err) {
		/* The journal holds the truth now: reload from it next time. */
		p->must_reload = true;
		goto out;
	}
	/* 3: done; the journal is empty again. */
	err = kvp_truncate(p->jfd, 0);
	p->jend = KVP_J_DATA;
	kvp_content_squeeze(st, c);
	p->last_chash = c->nslots ? c->slots[c->nslots - 1]->chash : 0;
	p->compact_retry = 0;
	st->stats.compactions++;
out:
	free(chunk);
	free(img);
	return err;
}

int kvp_file_compact(struct hv_kvp_store *st, struct kvp_pool *p)
{
	if (p->fd < 0) {
		kvp_content_squeeze(st, &p->c);
		return 0;
	}
	return kvp_file_compact_locked(st, p);
}

int kvp_file_refresh(struct hv_kvp_store *st, struct kvp_pool *p)
{
	struct stat sb;
	int err;

	if (p->fd < 0)
		return 0;
	if (!p->dirty && !p->must_reload) {
		if (st->ifd >= 0)
			return 0;
		if (fstatat(st->dirfd, p->name, &sb, 0) == 0 && kvp_stat_same(p, &sb))
			return 0;
	}
	err = kvp_file_begin(st, p);
	if (err)
		return err;
	kvp_file_end(st, p);
	return 0;
}

int kvp_files_open(struct hv_kvp_store *st, const char *dir)
{
	int err;

	if (mkdir(dir, 0755) == 0) {
		/* Readers that are not root need to get in, whatever our umask. */
		if (chmod(dir, 0755) < 0)
			return -errno;
	} else if (errno != EEXIST) {
		return -errno;
	}
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0)
		return -errno;
	if (!(st->flags & HV_KVP_POOL_NO_INOTIFY)) {
		st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (st->ifd < 0)
			return -errno;
		if (inotify_add_watch(st->ifd, dir, IN_MODIFY | IN_CREATE | IN_DELETE |
				      IN_MOVED_TO | IN_MOVED_FROM) < 0)
			return -errno;
	}
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		snprintf(p->name, sizeof(p->name), ".kvp_pool_%u", i);
		snprintf(p->jname, sizeof(p->jname), ".hvkvpd_journal_%u", i);
		p->fd = kvp_open_file(st->dirfd, p->name, 0644);
		if (p->fd < 0) {
			err = p->fd;
			p->fd = -1;
			return err;
		}
		p->jfd = kvp_open_file(st->dirfd, p->jname, 0600);
		if (p->jfd < 0) {
			err = p->jfd;
			p->jfd = -1;
			return err;
		}
	}
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		struct kvp_pool *p = &st->pools[i];

		err = kvp_lock(p);
		if (err)
			return err;
		err = kvp_file_load(st, p, true);
		kvp_stat_save(p);
		/* Our own load and compaction events; others' mark other pools. */
		kvp_files_drain(st, (int)i);
		kvp_unlock(p);
		if (err)
			return err;
	}
	return 0;
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
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->ifd = st->dirfd = -1;
}
