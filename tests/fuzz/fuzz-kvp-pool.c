/* SPDX-License-Identifier: ISC */
/*
 * The pool files, read through the public API as hvkvpd reads them: the
 * input is a .kvp_pool_N file that another program wrote, in a scratch
 * directory; the store opens it, enumerates, looks up, sets, deletes,
 * ingests a record appended behind its back, and closes. The file is
 * checked after every change (a delete shifts it at once).
 *
 * Input: one selector byte (which pool; whether another program appends
 * a record), then the file. The file format is Linux's hv_kvp_daemon's:
 * headerless 2560-byte records, a 512-byte key field and a 2048-byte
 * value field, each string ending at its first NUL or at the end of the
 * field. A model of the records is kept here and every answer of the
 * store, and the file it leaves, is compared with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvuio/kvp_pool.h"
#include "fuzz.h"

#define REC   HV_KVP_POOL_RECORD_SIZE
#define KEYF  HV_KVP_KEY_MAX_SIZE
#define VALF  HV_KVP_VALUE_MAX_SIZE
#define MAX_RECS 16

struct mrec {
	char key[KEYF + 1];
	char value[VALF + 1];
	size_t klen, vlen;
};

struct model {
	struct mrec r[MAX_RECS + 2];
	size_t n;
};

static char dir[64];

static void dir_clean(void)
{
	char path[128];

	for (int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/.kvp_pool_%d", dir, i);
		unlink(path);
	}
}

static void dir_remove(void)
{
	dir_clean();
	rmdir(dir);
}

/* A field's string: up to its first NUL, or all of it. */
static size_t field_len(const uint8_t *field, size_t size)
{
	const uint8_t *nul = memchr(field, 0, size);

	return nul ? (size_t)(nul - field) : size;
}

static void model_rec(struct mrec *m, const uint8_t *raw)
{
	memset(m, 0, sizeof(*m));
	m->klen = field_len(raw, KEYF);
	m->vlen = field_len(raw + KEYF, VALF);
	memcpy(m->key, raw, m->klen);
	memcpy(m->value, raw + KEYF, m->vlen);
}

static bool lookup_key(const struct mrec *m)
{
	return m->klen > 0 && m->klen <= HV_KVP_POOL_KEY_MAX &&
	       hv_kvp_utf8_check(m->key, m->klen) == 0;
}

/* The first record whose key is key, as lookups see it; -1 if none. */
static long model_find(const struct model *md, const char *key, size_t klen)
{
	for (size_t i = 0; i < md->n; i++)
		if (md->r[i].klen == klen && !memcmp(md->r[i].key, key, klen) &&
		    lookup_key(&md->r[i]))
			return (long)i;
	return -1;
}

static void check_store(struct hv_kvp_store *st, unsigned int pool, const struct model *md)
{
	struct hv_kvp_pool_record *rec = malloc(sizeof(*rec));
	char *value = malloc(VALF + 1);
	size_t count, len;

	FUZZ_CHECK(rec && value);
	FUZZ_CHECK(hv_kvp_pool_count(st, pool, &count) == 0 && count == md->n);
	for (size_t i = 0; i < md->n; i++) {
		const struct mrec *m = &md->r[i];

		FUZZ_CHECK(hv_kvp_pool_enumerate(st, pool, i, rec) == 0);
		FUZZ_CHECK(rec->key_len == m->klen && rec->value_len == m->vlen);
		FUZZ_CHECK(memcmp(rec->key, m->key, m->klen + 1) == 0);
		FUZZ_CHECK(memcmp(rec->value, m->value, m->vlen + 1) == 0);
		FUZZ_CHECK(rec->utf8 == (hv_kvp_utf8_check(m->key, m->klen) == 0 &&
					 hv_kvp_utf8_check(m->value, m->vlen) == 0));
	}
	FUZZ_CHECK(hv_kvp_pool_enumerate(st, pool, md->n, rec) == -ENOENT);

	for (size_t i = 0; i < md->n; i++) {
		const struct mrec *m = &md->r[i];
		int err = hv_kvp_pool_get(st, pool, m->key, value, VALF + 1, &len);
		long first;

		/* A key with a NUL inside its field reads as its prefix. */
		if (m->klen == 0) {
			FUZZ_CHECK(err == -EINVAL);
		} else if (m->klen > HV_KVP_POOL_KEY_MAX) {
			FUZZ_CHECK(err == -ENAMETOOLONG);
		} else if (hv_kvp_utf8_check(m->key, m->klen) < 0) {
			FUZZ_CHECK(err == -EILSEQ);
		} else {
			first = model_find(md, m->key, m->klen);
			FUZZ_CHECK(first >= 0 && err == 0);
			FUZZ_CHECK(len == md->r[first].vlen);
			FUZZ_CHECK(memcmp(value, md->r[first].value, len + 1) == 0);
		}
	}
	free(rec);
	free(value);
}

/* The pool file holds exactly the model's records. */
static void check_file(const char *path, const struct model *md)
{
	uint8_t *buf = malloc(REC);
	struct mrec *m = malloc(sizeof(*m));
	int fd = open(path, O_RDONLY);
	struct stat sb;

	FUZZ_CHECK(buf && m && fd >= 0);
	FUZZ_CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size == md->n * REC);
	for (size_t i = 0; i < md->n; i++) {
		FUZZ_CHECK(pread(fd, buf, REC, (off_t)(i * REC)) == REC);
		model_rec(m, buf);
		FUZZ_CHECK(m->klen == md->r[i].klen && m->vlen == md->r[i].vlen);
		FUZZ_CHECK(!memcmp(m->key, md->r[i].key, m->klen) &&
			   !memcmp(m->value, md->r[i].value, m->vlen));
	}
	close(fd);
	free(buf);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	static struct model md;
	struct hv_kvp_store *st;
	unsigned int pool;
	char path[128], key[KEYF], val[32];
	size_t n, klen;
	long at;
	int fd, err;

	if (size < 1)
		return 0;
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/hvuio-fuzz-pool-XXXXXX", tmp && *tmp &&
			 strlen(tmp) < 32 ? tmp : "/tmp");
		FUZZ_CHECK(mkdtemp(dir));
		atexit(dir_remove);
	}
	pool = in[0] % HV_KVP_POOL_COUNT;
	n = size - 1;
	if (n > MAX_RECS * REC + REC - 1)
		n = MAX_RECS * REC + REC - 1;

	dir_clean();
	snprintf(path, sizeof(path), "%s/.kvp_pool_%u", dir, pool);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	FUZZ_CHECK(fd >= 0 && write(fd, in + 1, n) == (ssize_t)n);
	close(fd);

	md.n = n / REC;
	for (size_t i = 0; i < md.n; i++)
		model_rec(&md.r[i], in + 1 + i * REC);

	err = hv_kvp_pool_open(dir, HV_KVP_POOL_NO_INOTIFY, &st);
	FUZZ_CHECK(err == 0);
	check_store(st, pool, &md);
	/* Opening writes nothing: a trailing partial record stays, unread. */
	{
		struct stat sb;

		FUZZ_CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == n);
	}

	/* SET: the first lookup key in the file (in place), else a new one. */
	at = -1;
	for (size_t i = 0; i < md.n && at < 0; i++)
		if (lookup_key(&md.r[i]))
			at = (long)i;
	if (at >= 0) {
		klen = md.r[at].klen;
		memcpy(key, md.r[at].key, klen + 1);
	} else {
		klen = (size_t)snprintf(key, sizeof(key), "fuzz.%u", in[0]);
	}
	snprintf(val, sizeof(val), "set-%zu", size);
	FUZZ_CHECK(hv_kvp_pool_set(st, pool, key, val) == 0);
	if (at < 0) {
		at = (long)md.n++;
		memset(&md.r[at], 0, sizeof(md.r[at]));
		memcpy(md.r[at].key, key, klen + 1);
		md.r[at].klen = klen;
	}
	memset(md.r[at].value, 0, sizeof(md.r[at].value));
	md.r[at].vlen = strlen(val);
	memcpy(md.r[at].value, val, md.r[at].vlen);
	check_store(st, pool, &md);

	/*
	 * Another program appends a record behind the store's back. A
	 * partial record the input left (the store drops it only when it
	 * appends) would misalign it: that writer cuts it first.
	 */
	if (in[0] & 0x80) {
		uint8_t *raw = calloc(1, REC);

		FUZZ_CHECK(raw);
		memcpy(raw, "appended", 8);
		memcpy(raw + KEYF, in, size < 16 ? size : 16);
		FUZZ_CHECK(truncate(path, (off_t)(md.n * REC)) == 0);
		fd = open(path, O_WRONLY | O_APPEND);
		FUZZ_CHECK(fd >= 0 && write(fd, raw, REC) == REC);
		close(fd);
		FUZZ_CHECK(hv_kvp_pool_refresh(st) == 0);
		model_rec(&md.r[md.n++], raw);
		free(raw);
		check_store(st, pool, &md);
	}

	/* DELETE the record just set: a duplicate further on takes over. */
	FUZZ_CHECK(hv_kvp_pool_delete(st, pool, key) == 0);
	memmove(&md.r[at], &md.r[at + 1], (md.n - (size_t)at - 1) * sizeof(md.r[0]));
	md.n--;
	check_store(st, pool, &md);
	check_file(path, &md);

	hv_kvp_pool_close(st);
	check_file(path, &md);

	/* What was left reads back the same. */
	FUZZ_CHECK(hv_kvp_pool_open(dir, HV_KVP_POOL_NO_INOTIFY, &st) == 0);
	check_store(st, pool, &md);
	hv_kvp_pool_close(st);
	return 0;
}
