/* SPDX-License-Identifier: ISC */
/*
 * The pool store and its files. Files are checked with a reader written
 * here from Linux's rules (fread whole 2560-byte records, a field ends at
 * its first NUL) and fed with records written here in Linux's and
 * cloud-init's ways, not with the library's own code.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/kvp_pool.h>

extern void (*kvp_crash_hook)(const char *where);
/* The store's mutex, for the tests that readers never take it. */
extern void kvp_store_lock_hold(struct hv_kvp_store *st, bool hold);
extern uint64_t kvp_store_lock_count(struct hv_kvp_store *st);

#define REC 2560

struct lx_record {
	char key[512];
	char value[2048];
};

/* ---- helpers written from the format, not from the library ---- */

static char *tmp_dir(const char *base)
{
	char *d;

	ck_assert_int_gt(asprintf(&d, "%s/hvkvp-test-XXXXXX", base), 0);
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static void rm_rf(const char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	ck_assert_int_eq(system(cmd), 0);
}

static char *pool_path(const char *dir, int pool)
{
	static char path[4][700];
	static int n;
	char *p = path[n++ & 3];

	snprintf(p, 700, "%s/.kvp_pool_%d", dir, pool);
	return p;
}

/* Linux's reader: whole records, stop at NUL. Returns the count. */
static size_t lx_read(const char *dir, int pool, struct lx_record **out)
{
	FILE *f = fopen(pool_path(dir, pool), "re");
	struct lx_record *recs = NULL;
	size_t n = 0, cap = 0;

	ck_assert_ptr_nonnull(f);
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			recs = realloc(recs, cap * sizeof(*recs));
			ck_assert_ptr_nonnull(recs);
		}
		if (fread(&recs[n], sizeof(recs[n]), 1, f) != 1)
			break;
		n++;
	}
	fclose(f);
	*out = recs;
	return n;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_size;
}

/* A record as other programs write it. garbage: fill after the NULs. */
static void lx_make(struct lx_record *r, const char *key, size_t klen, const char *value,
		    bool garbage)
{
	memset(r, garbage ? 'G' : 0, sizeof(*r));
	memcpy(r->key, key, klen);
	if (klen < sizeof(r->key))
		r->key[klen] = 0;
	snprintf(r->value, sizeof(r->value), "%s", value);
}

/* cloud-init's way: open for append, flock, write, close. */
static void ci_append(const char *dir, int pool, const char *key, const char *value)
{
	struct lx_record r;
	int fd = open(pool_path(dir, pool), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	lx_make(&r, key, strlen(key), value, false);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_int_eq(write(fd, &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fd);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void expect_value(struct hv_kvp_store *st, unsigned int pool, const char *key,
			 const char *want)
{
	char buf[HV_KVP_VALUE_MAX_SIZE + 1];
	size_t len;
	int err = hv_kvp_pool_get(st, pool, key, buf, sizeof(buf), &len);

	if (!want) {
		ck_assert_msg(err == -ENOENT, "%s: expected absent, got %d", key, err);
		return;
	}
	ck_assert_msg(err == 0, "%s: get %d", key, err);
	ck_assert_str_eq(buf, want);
	ck_assert_uint_eq(len, strlen(want));
}

/* ---- the store in memory ---- */

START_TEST(memory_basic)
{
	struct hv_kvp_store *st;
	struct hv_kvp_pool_record rec;
	char big[4096], buf[8];
	size_t n, len;

	ck_assert_int_eq(hv_kvp_pool_open(NULL, 0, &st), 0);
	for (unsigned int p = 0; p < HV_KVP_POOL_COUNT; p++) {
		char key[32], val[32];

		for (int i = 0; i < 10; i++) {
			snprintf(key, sizeof(key), "p%u-k%d", p, i);
			snprintf(val, sizeof(val), "v%d", i * 7);
			ck_assert_int_eq(hv_kvp_pool_set(st, p, key, val), 0);
		}
		ck_assert_int_eq(hv_kvp_pool_count(st, p, &n), 0);
		ck_assert_uint_eq(n, 10);
		expect_value(st, p, "p0-k3", p == 0 ? "v21" : NULL);
		ck_assert_int_eq(hv_kvp_pool_delete(st, p, key), 0);
		ck_assert_int_eq(hv_kvp_pool_delete(st, p, key), -ENOENT);
		ck_assert_int_eq(hv_kvp_pool_enumerate(st, p, 8, &rec), 0);
		snprintf(key, sizeof(key), "p%u-k8", p);
		ck_assert_str_eq(rec.key, key);
		ck_assert(rec.utf8);
		ck_assert_int_eq(hv_kvp_pool_enumerate(st, p, 9, &rec), -ENOENT);
	}
	/* Errors. */
	ck_assert_int_eq(hv_kvp_pool_set(st, HV_KVP_POOL_COUNT, "k", "v"), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "", "v"), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "bad\xff", "v"), -EILSEQ);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", "\xc0\x80"), -EILSEQ);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", "\xed\xa0\x80"), -EILSEQ);  /* surrogate */
	memset(big, 'a', sizeof(big));
	big[512] = 0;
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, big, "v"), -ENAMETOOLONG);
	ck_assert_int_eq(hv_kvp_pool_get(st, 0, big, buf, sizeof(buf), NULL), -ENAMETOOLONG);
	big[511] = 0;
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, big, "longest key"), 0);
	expect_value(st, 0, big, "longest key");
	big[2048] = 0;
	memset(big, 'b', 2048);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", big), -E2BIG);
	big[2047] = 0;
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", big), 0);
	ck_assert_int_eq(hv_kvp_pool_get(st, 0, "k", buf, sizeof(buf), &len), -ENOBUFS);
	ck_assert_uint_eq(len, 2047);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", "\xf0\x9f\x98\x80 ok"), 0);
	expect_value(st, 0, "k", "\xf0\x9f\x98\x80 ok");
	ck_assert_int_eq(hv_kvp_pool_fd(st), -ENOENT);
	ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
	hv_kvp_pool_close(st);
}
END_TEST

/* Enumeration after deletes walks in order, and deleted keys stay gone. */
START_TEST(memory_enumerate_holes)
{
	struct hv_kvp_store *st;
	struct hv_kvp_pool_record rec;
	char key[32];
	size_t n;

	ck_assert_int_eq(hv_kvp_pool_open(NULL, 0, &st), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, key), 0);
	}
	for (int i = 0; i < 1000; i += 3) {
		snprintf(key, sizeof(key), "k%04d", i);
		ck_assert_int_eq(hv_kvp_pool_delete(st, 1, key), 0);
	}
	ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
	ck_assert_uint_eq(n, 666);
	for (size_t i = 0, want = 1; i < n; i++, want += (want % 3 == 2) ? 2 : 1) {
		ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, i, &rec), 0);
		snprintf(key, sizeof(key), "k%04zu", want);
		ck_assert_str_eq(rec.key, key);
	}
	/* Random access too. */
	ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, 1, &rec), 0);
	ck_assert_str_eq(rec.key, "k0002");
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		expect_value(st, 1, key, i % 3 ? key : NULL);
	}
	hv_kvp_pool_close(st);
}
END_TEST

/* ---- readers and a writer ---- */

struct mt {
	struct hv_kvp_store *st;
	atomic_bool stop;
	atomic_long reads, hits;
	int bad;
};

static uint32_t sum32(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* value = 8 hex digits of the checksum of the rest, ':', the rest */
static void mt_value(char *buf, size_t size, unsigned int seed)
{
	char body[1600];
	size_t n = 20 + seed % 1500;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + (seed + i * 7) % 26);
	body[n] = 0;
	snprintf(buf, size, "%08x:%s", sum32(body, n), body);
}

static void *mt_reader(void *arg)
{
	struct mt *m = arg;
	char key[32], val[HV_KVP_VALUE_MAX_SIZE + 1];
	unsigned int seed = (unsigned int)(uintptr_t)&key;

	while (!atomic_load(&m->stop)) {
		size_t len;
		int err;

		snprintf(key, sizeof(key), "key-%u", rand_r(&seed) % 300);
		err = hv_kvp_pool_get(m->st, 1, key, val, sizeof(val), &len);
		atomic_fetch_add(&m->reads, 1);
		if (err == -ENOENT)
			continue;
		if (err || len < 9 || strlen(val) != len ||
		    strtoul(val, NULL, 16) != sum32(val + 9, len - 9)) {
			m->bad = 1;
			break;
		}
		atomic_fetch_add(&m->hits, 1);
	}
	return NULL;
}

static void run_mt(const char *dir)
{
	struct mt m = { 0 };
	pthread_t th[8];
	char key[32], val[HV_KVP_VALUE_MAX_SIZE];

	ck_assert_int_eq(hv_kvp_pool_open(dir, 0, &m.st), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, mt_reader, &m), 0);
	for (unsigned int i = 0; i < (dir ? 4000u : 40000u); i++) {
		unsigned int k = (i * 2654435761u) % 300;

		snprintf(key, sizeof(key), "key-%u", k);
		if (i % 5 == 4) {
			int err = hv_kvp_pool_delete(m.st, 1, key);

			ck_assert(err == 0 || err == -ENOENT);
		} else {
			mt_value(val, sizeof(val), i);
			ck_assert_int_eq(hv_kvp_pool_set(m.st, 1, key, val), 0);
		}
	}
	atomic_store(&m.stop, true);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(m.bad, 0);
	ck_assert_int_gt(atomic_load(&m.hits), 0);
	hv_kvp_pool_close(m.st);
}

START_TEST(threads_memory)
{
	run_mt(NULL);
}
END_TEST

START_TEST(threads_files)
{
	char *d = tmp_dir("/tmp");

	run_mt(d);
	rm_rf(d);
	free(d);
}
END_TEST


/* ---- enumeration without the writers' lock ---- */

/*
 * Keys "e%08u" are never reused and only appended, so file order is key
 * order. A value is the checksum of its key and body, ':', the body: a
 * record put together from two records fails it.
 */
static void en_value(char *buf, size_t size, const char *key, unsigned int seed)
{
	char body[700], both[800];
	size_t n = 1 + seed % 600;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + (seed + i * 5) % 26);
	body[n] = 0;
	snprintf(both, sizeof(both), "%s=%s", key, body);
	snprintf(buf, size, "%08x:%s", sum32(both, strlen(both)), body);
}

static bool en_record_ok(const struct hv_kvp_pool_record *r)
{
	char both[800];

	if (strlen(r->key) != r->key_len || strlen(r->value) != r->value_len || !r->utf8 ||
	    r->key_len != 9 || r->key[0] != 'e' || r->value_len < 10 || r->value[8] != ':')
		return false;
	snprintf(both, sizeof(both), "%s=%s", r->key, r->value + 9);
	return strtoul(r->value, NULL, 16) == sum32(both, strlen(both));
}

struct en {
	struct hv_kvp_store *st;
	atomic_bool stop;
	atomic_long walks, records;
	atomic_int bad;
	int id;
};

struct en_reader {
	struct en *e;
	int id;
};

static void en_fail(struct en *e, int why)
{
	int zero = 0;

	atomic_compare_exchange_strong(&e->bad, &zero, why);
}

static void *en_reader(void *arg)
{
	struct en_reader *rd = arg;
	struct en *e = rd->e;
	struct hv_kvp_pool_record *rec = malloc(sizeof(*rec));
	struct hv_kvp_pool_iter it;

	if (!rec) {
		en_fail(e, 1);
		return NULL;
	}
	while (!atomic_load(&e->stop) && !atomic_load(&e->bad)) {
		char last[16] = "";
		size_t n, i = 0;
		int err;

		if (hv_kvp_pool_count(e->st, 1, &n) || n > 100000)
			en_fail(e, 2);
		if (hv_kvp_pool_iter_begin(e->st, 1, &it))
			en_fail(e, 3);
		for (;;) {
			/* Half walk by record, half by index as the host does. */
			err = rd->id % 2 ? hv_kvp_pool_iter_next(&it, rec)
					 : hv_kvp_pool_iter_seek(&it, i, rec);
			if (err == -ENOENT)
				break;
			if (err || !en_record_ok(rec)) {
				en_fail(e, 4);
				break;
			}
			/*
			 * By record: strictly later in the file each time. By index:
			 * a delete before the place may give the same record again,
			 * never an earlier one.
			 */
			if (rd->id % 2 ? strcmp(rec->key, last) <= 0 : strcmp(rec->key, last) < 0) {
				en_fail(e, 5);
				break;
			}
			memcpy(last, rec->key, sizeof(last) - 1);
			i++;
			atomic_fetch_add(&e->records, 1);
		}
		hv_kvp_pool_iter_end(&it);
		/* A lone lookup by index too. */
		err = hv_kvp_pool_enumerate(e->st, 1, i / 2, rec);
		if (err != -ENOENT && (err || !en_record_ok(rec)))
			en_fail(e, 6);
		atomic_fetch_add(&e->walks, 1);
	}
	free(rec);
	return NULL;
}

/* Eight readers walk one pool while a writer appends, updates, deletes and compacts. */
START_TEST(threads_enumerate)
{
	struct en e = { 0 };
	struct en_reader rd[8];
	pthread_t th[8];
	unsigned int *live = calloc(1000, sizeof(*live)), nlive = 0, next = 0, seed = 1;
	char key[32], val[HV_KVP_VALUE_MAX_SIZE];

	ck_assert_ptr_nonnull(live);
	ck_assert_int_eq(hv_kvp_pool_open(NULL, 0, &e.st), 0);
	for (; next < 300; next++) {
		snprintf(key, sizeof(key), "e%08u", next);
		en_value(val, sizeof(val), key, next);
		ck_assert_int_eq(hv_kvp_pool_set(e.st, 1, key, val), 0);
		live[nlive++] = next;
	}
	for (int i = 0; i < 8; i++) {
		rd[i].e = &e;
		rd[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, en_reader, &rd[i]), 0);
	}
	for (unsigned int i = 0; i < 20000 && !atomic_load(&e.bad); i++) {
		unsigned int op = rand_r(&seed) % 8, j = nlive ? rand_r(&seed) % nlive : 0;

		if ((op < 3 && nlive < 900) || !nlive) {
			snprintf(key, sizeof(key), "e%08u", next);
			en_value(val, sizeof(val), key, i);
			ck_assert_int_eq(hv_kvp_pool_set(e.st, 1, key, val), 0);
			live[nlive++] = next++;
		} else if (op < 6) {
			snprintf(key, sizeof(key), "e%08u", live[j]);
			en_value(val, sizeof(val), key, i);
			ck_assert_int_eq(hv_kvp_pool_set(e.st, 1, key, val), 0);
		} else {
			snprintf(key, sizeof(key), "e%08u", live[j]);
			ck_assert_int_eq(hv_kvp_pool_delete(e.st, 1, key), 0);
			live[j] = live[--nlive];
		}
	}
	atomic_store(&e.stop, true);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&e.bad), 0);
	ck_assert_int_gt(atomic_load(&e.walks), 8);
	ck_assert_int_gt(atomic_load(&e.records), 1000);
	{
		size_t n;

		ck_assert_int_eq(hv_kvp_pool_count(e.st, 1, &n), 0);
		ck_assert_uint_eq(n, nlive);
	}
	hv_kvp_pool_close(e.st);
	free(live);
}
END_TEST

struct held {
	struct hv_kvp_store *st;
	size_t walked, counted;
	int err;
	atomic_bool done;
};

static void *held_reader(void *arg)
{
	struct held *h = arg;
	struct hv_kvp_pool_record *rec = malloc(sizeof(*rec));
	struct hv_kvp_pool_iter it;
	char buf[64];

	if (!rec) {
		h->err = -ENOMEM;
		return NULL;
	}
	h->err = hv_kvp_pool_count(h->st, 1, &h->counted);
	if (!h->err)
		h->err = hv_kvp_pool_iter_begin(h->st, 1, &it);
	while (!h->err && (h->err = hv_kvp_pool_iter_next(&it, rec)) == 0)
		h->walked++;
	if (h->err == -ENOENT)
		h->err = hv_kvp_pool_enumerate(h->st, 1, h->walked - 1, rec);
	if (!h->err)
		h->err = hv_kvp_pool_get(h->st, 1, "k0001", buf, sizeof(buf), NULL);
	free(rec);
	atomic_store(&h->done, true);
	return NULL;
}

/* Enumeration and count never take the writers' mutex: they run while it is held. */
START_TEST(enumerate_lockfree)
{
	struct hv_kvp_store *st;
	struct hv_kvp_pool_record rec;
	struct hv_kvp_pool_iter it;
	struct held h = { 0 };
	struct timespec until;
	pthread_t th;
	uint64_t taken;
	char key[32];
	size_t n;

	ck_assert_int_eq(hv_kvp_pool_open(NULL, 0, &st), 0);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, key), 0);
	}
	for (int i = 0; i < 500; i += 7) {
		snprintf(key, sizeof(key), "k%04d", i);
		ck_assert_int_eq(hv_kvp_pool_delete(st, 1, key), 0);
	}

	/* Counted: the writers take it, the readers do not. */
	taken = kvp_store_lock_count(st);
	ck_assert_int_eq(hv_kvp_pool_set(st, 1, "k0001", "x"), 0);
	ck_assert_uint_gt(kvp_store_lock_count(st), taken);
	taken = kvp_store_lock_count(st);
	ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
	ck_assert_uint_eq(n, 500 - 72);
	ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, 100, &rec), 0);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, &it), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(hv_kvp_pool_iter_seek(&it, i, &rec), 0);
	ck_assert_int_eq(hv_kvp_pool_iter_next(&it, &rec), -ENOENT);
	hv_kvp_pool_iter_end(&it);
	ck_assert_uint_eq(kvp_store_lock_count(st), taken);

	/* Held: a reader that took it would never finish. */
	h.st = st;
	kvp_store_lock_hold(st, true);
	ck_assert_int_eq(pthread_create(&th, NULL, held_reader, &h), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	ck_assert_msg(pthread_timedjoin_np(th, NULL, &until) == 0,
		      "a reader waited for the writers' mutex");
	kvp_store_lock_hold(st, false);
	ck_assert(atomic_load(&h.done));
	ck_assert_int_eq(h.err, 0);
	ck_assert_uint_eq(h.counted, 500 - 72);
	ck_assert_uint_eq(h.walked, 500 - 72);

	/* Errors. */
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, HV_KVP_POOL_COUNT, &it), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(NULL, 1, &it), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, &it), 0);
	ck_assert_int_eq(hv_kvp_pool_iter_next(&it, NULL), -EINVAL);
	hv_kvp_pool_iter_end(&it);
	ck_assert_int_eq(hv_kvp_pool_iter_next(&it, &rec), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_iter_seek(NULL, 0, &rec), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_pool_count(st, HV_KVP_POOL_COUNT, &n), -EINVAL);
	hv_kvp_pool_iter_end(NULL);
	hv_kvp_pool_close(st);
}
END_TEST

/*
 * Two walks at once over a pool with holes, one by index (the host's
 * ENUMERATE) and one by record (a client's List), interleaved step by
 * step while records behind both are deleted: each pays O(1) per step,
 * counted in slots and deletes looked at, the same at 1000 records as
 * at 100 000.
 */
static void walk_cost(size_t nrec, double *per_seek, double *per_next)
{
	struct hv_kvp_store *st;
	struct hv_kvp_pool_record *ra = malloc(sizeof(*ra)), *rb = malloc(sizeof(*rb)),
				  *rc = malloc(sizeof(*rc));
	struct hv_kvp_pool_iter a, b;
	size_t n, holes = 0, deleted = 0, seen = 0, i;
	char key[32], last[32] = "";
	int ea, eb;

	ck_assert(ra && rb && rc);
	ck_assert_int_eq(hv_kvp_pool_open(NULL, 0, &st), 0);
	for (i = 0; i < nrec; i++) {
		snprintf(key, sizeof(key), "w%08zu", i);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, "v"), 0);
	}
	/* Some records gone, the first near the front (each delete renumbers). */
	for (i = 3; i < nrec; i += nrec / 200, holes++) {
		snprintf(key, sizeof(key), "w%08zu", i);
		ck_assert_int_eq(hv_kvp_pool_delete(st, 1, key), 0);
	}
	ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
	ck_assert_uint_eq(n, nrec - holes);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, &a), 0);
	ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, &b), 0);
	for (i = 0, ea = eb = 0; ea == 0 || eb == 0;) {
		if (eb == 0) {
			eb = hv_kvp_pool_iter_next(&b, rb);
			ck_assert(eb == 0 || eb == -ENOENT);
		}
		if (eb == 0) {
			/* By record: the next one in file order, none missed. */
			ck_assert_str_gt(rb->key, last);
			strcpy(last, rb->key);
			seen++;
		}
		if (ea == 0) {
			ea = hv_kvp_pool_iter_seek(&a, i, ra);
			ck_assert(ea == 0 || ea == -ENOENT);
		}
		if (ea)
			continue;
		/* By index: what a fresh lookup of that index finds now. */
		if (i % 97 == 0 || i < 20) {
			ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, i, rc), 0);
			ck_assert_str_eq(ra->key, rc->key);
		}
		i++;
		/* Every 50 steps, delete a record behind both (0, 1, 2, 4, ...). */
		if (i % 50 == 0 && deleted < 40) {
			size_t d = deleted + deleted / 4 + (deleted % 4 >= 3);

			snprintf(key, sizeof(key), "w%08zu", d);
			ck_assert_int_eq(hv_kvp_pool_delete(st, 1, key), 0);
			deleted++;
		}
	}
	/* The walk by record missed nothing that stayed. */
	ck_assert_uint_eq(seen, nrec - holes);
	snprintf(key, sizeof(key), "w%08zu", nrec - 1);
	ck_assert_str_eq(last, key);
	/* The walk by index ended where the pool ends now. */
	ck_assert_uint_eq(i, nrec - holes - deleted);
	*per_seek = (double)a.work / (double)i;
	*per_next = (double)b.work / (double)seen;
	hv_kvp_pool_iter_end(&a);
	hv_kvp_pool_iter_end(&b);
	hv_kvp_pool_close(st);
	free(ra);
	free(rb);
	free(rc);
}

START_TEST(walk_constant)
{
	double s1, n1, s2, n2;

	walk_cost(1000, &s1, &n1);
	walk_cost(100000, &s2, &n2);
	/* Each step: the record it stands on, the next, the holes between. */
	ck_assert_double_le(s1, 3.0);
	ck_assert_double_le(s2, 3.0);
	ck_assert_double_le(n1, 3.0);
	ck_assert_double_le(n2, 3.0);
	ck_assert_double_le(s2, s1 + 0.1);
	ck_assert_double_le(n2, n1 + 0.1);
}
END_TEST

/* ---- files ---- */

START_TEST(files_linux_format_written)
{
	char *d = tmp_dir("/tmp");
	struct hv_kvp_store *st;
	struct lx_record *r;
	size_t n;

	ck_assert_int_eq(hv_kvp_pool_open(d, 0, &st), 0);
	for (int p = 0; p < HV_KVP_POOL_COUNT; p++)
		ck_assert_int_eq(file_size(pool_path(d, p)), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 3, "HostName", "host-a-long-name"), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 3, "VirtualMachineName", "vm1"), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 3, "PhysicalHostName", "phys"), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 3, "HostName", "h"), 0);  /* shorter: in place */

	n = lx_read(d, 3, &r);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(file_size(pool_path(d, 3)), 3 * REC);
	ck_assert_str_eq(r[0].key, "HostName");
	ck_assert_str_eq(r[0].value, "h");
	ck_assert_str_eq(r[1].key, "VirtualMachineName");
	ck_assert_str_eq(r[2].value, "phys");
	/* Zero fill after the NUL, where Linux would leave "ost-a-long-name". */
	for (size_t i = 1; i < sizeof(r[0].value); i++)
		ck_assert_int_eq(r[0].value[i], 0);
	for (size_t i = strlen(r[1].key); i < sizeof(r[1].key); i++)
		ck_assert_int_eq(r[1].key[i], 0);
	free(r);

	/* A delete is in the file at once: the later records shifted up. */
	ck_assert_int_eq(hv_kvp_pool_delete(st, 3, "HostName"), 0);
	expect_value(st, 3, "HostName", NULL);
	n = lx_read(d, 3, &r);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(r[0].key, "VirtualMachineName");
	ck_assert_str_eq(r[1].key, "PhysicalHostName");
	free(r);

	/* The first record too, before close. */
	ck_assert_int_eq(hv_kvp_pool_delete(st, 3, "VirtualMachineName"), 0);
	n = lx_read(d, 3, &r);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(r[0].key, "PhysicalHostName");
	free(r);
	hv_kvp_pool_close(st);
	rm_rf(d);
	free(d);
}
END_TEST

START_TEST(files_foreign_format_read)
{
	char *d = tmp_dir("/tmp");
	struct hv_kvp_store *st;
	struct hv_kvp_pool_record rec;
	struct lx_record in[5], *r;
	char longkey[600];
	uint8_t buf[5 * REC];
	size_t n;

	memset(longkey, 'L', sizeof(longkey));
	lx_make(&in[0], longkey, 512, "cloud-init long key", false);  /* no NUL in key */
	lx_make(&in[1], "dup", 3, "first", true);                     /* old bytes after NUL */
	lx_make(&in[2], "bad\xff\xfe", 5, "x", false);                  /* not UTF-8 */
	lx_make(&in[3], "dup", 3, "second", false);
	lx_make(&in[4], "partial", 7, "cut", false);
	memcpy(buf, in, sizeof(in));
	ck_assert_int_eq(mkdir(d, 0755) == 0 || errno == EEXIST, 1);
	/* A killed writer's partial record: not read, and left alone at open. */
	write_file(pool_path(d, 1), buf, 4 * REC + 1000);

	ck_assert_int_eq(hv_kvp_pool_open(d, 0, &st), 0);
	ck_assert_int_eq(file_size(pool_path(d, 1)), 4 * REC + 1000);
	ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, 0, &rec), 0);
	ck_assert_uint_eq(rec.key_len, 512);
	ck_assert_uint_eq(strlen(rec.key), 512);
	ck_assert_str_eq(rec.value, "cloud-init long key");
	ck_assert_int_eq(hv_kvp_pool_enumerate(st, 1, 2, &rec), 0);
	ck_assert(!rec.utf8);
	ck_assert_mem_eq(rec.key, "bad\xff\xfe", 6);
	expect_value(st, 1, "dup", "first");
	ck_assert_int_eq(hv_kvp_pool_get(st, 1, "bad\xff\xfe", rec.value, 10, NULL), -EILSEQ);

	/* Another program mid-append: not read until whole. */
	ck_assert_int_eq(truncate(pool_path(d, 1), 4 * REC), 0);
	{
		int fd = open(pool_path(d, 1), O_WRONLY | O_APPEND);

		ck_assert_int_eq(write(fd, &in[4], 1000), 1000);
		ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
		ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
		ck_assert_uint_eq(n, 4);
		ck_assert_int_eq(write(fd, (char *)&in[4] + 1000, REC - 1000), REC - 1000);
		close(fd);
	}
	ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
	expect_value(st, 1, "partial", "cut");

	/* SET updates the first "dup"; DELETE removes it; the second shows. */
	ck_assert_int_eq(hv_kvp_pool_set(st, 1, "dup", "updated"), 0);
	n = lx_read(d, 1, &r);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(r[1].value, "updated");
	ck_assert_str_eq(r[3].value, "second");
	free(r);
	ck_assert_int_eq(hv_kvp_pool_delete(st, 1, "dup"), 0);
	expect_value(st, 1, "dup", "second");
	hv_kvp_pool_close(st);

	/* Foreign records survive a delete's shift byte for byte. */
	n = lx_read(d, 1, &r);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(&r[0], &in[0], REC);
	ck_assert_mem_eq(&r[1], &in[2], REC);
	ck_assert_mem_eq(&r[2], &in[3], REC);
	ck_assert_mem_eq(&r[3], &in[4], REC);
	free(r);
	rm_rf(d);
	free(d);
}
END_TEST

START_TEST(files_inotify_append)
{
	char *d = tmp_dir("/tmp");
	struct hv_kvp_store *st;
	struct hv_kvp_pool_stats s = { .sz = sizeof(s) };
	struct {
		struct hv_kvp_pool_stats s;
		uint64_t later;     /* a counter a newer release might add */
	} big;
	struct pollfd pfd;
	pid_t pid;
	int status;

	ck_assert_int_eq(hv_kvp_pool_open(d, 0, &st), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 1, "ours", "1"), 0);
	pfd.fd = hv_kvp_pool_fd(st);
	pfd.events = POLLIN;
	ck_assert_int_ge(pfd.fd, 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);   /* our own write is not news */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ci_append(d, 1, "CLOUD_INIT|1|start", "{\"a\":1}");
		ci_append(d, 1, "CLOUD_INIT|2|finish", "{\"b\":2}");
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
	expect_value(st, 1, "CLOUD_INIT|2|finish", "{\"b\":2}");
	ck_assert_int_eq(hv_kvp_pool_stats_get(st, &s), 0);
	ck_assert_uint_eq(s.records_ingested, 2);
	ck_assert_uint_eq(s.reloads, 0);
	/* An older caller's smaller struct gets what fits, nothing past it. */
	memset(&big, 0xa5, sizeof(big));
	big.s.sz = offsetof(struct hv_kvp_pool_stats, records_ingested);
	ck_assert_int_eq(hv_kvp_pool_stats_get(st, &big.s), 0);
	ck_assert_uint_eq(big.s.reloads, 0);
	ck_assert_uint_eq(big.s.records_ingested, 0xa5a5a5a5a5a5a5a5u);
	/* A newer caller's larger one: what this library does not know reads 0. */
	big.s.sz = sizeof(big);
	ck_assert_int_eq(hv_kvp_pool_stats_get(st, &big.s), 0);
	ck_assert_uint_eq(big.s.records_ingested, 2);
	ck_assert_uint_eq(big.s.sz, sizeof(big));
	ck_assert_uint_eq(big.later, 0);
	big.s.sz = 0;
	ck_assert_int_eq(hv_kvp_pool_stats_get(st, &big.s), -EINVAL);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	hv_kvp_pool_close(st);
	rm_rf(d);
	free(d);
}
END_TEST

struct race {
	struct hv_kvp_store *st;
	int err;
};

static void *race_set(void *arg)
{
	struct race *r = arg;

	r->err = hv_kvp_pool_set(r->st, 1, "ours", "after");
	return NULL;
}

/* An append that lands while our write waits for the lock is kept. */
START_TEST(files_append_race)
{
	char *d = tmp_dir("/tmp");
	struct race r = { 0 };
	struct lx_record *rec;
	pthread_t th;
	int go[2], ready[2], status;
	char c;
	pid_t pid;

	ck_assert_int_eq(hv_kvp_pool_open(d, HV_KVP_POOL_NO_INOTIFY, &r.st), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct lx_record x;
		int fd = open(pool_path(d, 1), O_WRONLY | O_APPEND);

		flock(fd, LOCK_EX);
		(void)!write(ready[1], "r", 1);
		(void)!read(go[0], &c, 1);
		lx_make(&x, "theirs", 6, "appended", false);
		(void)!write(fd, &x, sizeof(x));
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(pthread_create(&th, NULL, race_set, &r), 0);
	/* Answered at once, though the lock is held: the write waits. */
	pthread_join(th, NULL);
	ck_assert_int_eq(r.err, 0);
	expect_value(r.st, 1, "ours", "after");
	ck_assert_int_eq(file_size(pool_path(d, 1)), 0);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	{
		unsigned int waiting;

		ck_assert_int_eq(hv_kvp_pool_flush(r.st, &waiting), 0);
		ck_assert_uint_eq(waiting, 0);
	}
	ck_assert_uint_eq(lx_read(d, 1, &rec), 2);
	ck_assert_str_eq(rec[0].key, "theirs");
	ck_assert_str_eq(rec[1].key, "ours");
	free(rec);
	expect_value(r.st, 1, "theirs", "appended");
	hv_kvp_pool_close(r.st);
	rm_rf(d);
	free(d);
}
END_TEST

static void rewrite_reload(unsigned int flags)
{
	char *d = tmp_dir("/tmp");
	struct hv_kvp_store *st;
	struct hv_kvp_pool_stats s = { .sz = sizeof(s) };
	struct lx_record x[2];
	char tmp[600];
	size_t n;

	ck_assert_int_eq(hv_kvp_pool_open(d, flags, &st), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "a", "1"), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "b", "2"), 0);
	/* Rewritten in place, same size (hv_kvp_daemon's way). */
	lx_make(&x[0], "b", 1, "20", false);
	lx_make(&x[1], "c", 1, "30", false);
	write_file(pool_path(d, 0), x, sizeof(x));
	ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
	expect_value(st, 0, "a", NULL);
	expect_value(st, 0, "b", "20");
	expect_value(st, 0, "c", "30");
	ck_assert_int_eq(hv_kvp_pool_stats_get(st, &s), 0);
	ck_assert_uint_ge(s.reloads, 1);
	/* Replaced by rename. */
	snprintf(tmp, sizeof(tmp), "%s/new", d);
	write_file(tmp, x, REC);
	ck_assert_int_eq(rename(tmp, pool_path(d, 0)), 0);
	ck_assert_int_eq(hv_kvp_pool_refresh(st), 0);
	ck_assert_int_eq(hv_kvp_pool_count(st, 0, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "d", "4"), 0);
	ck_assert_int_eq(file_size(pool_path(d, 0)), 2 * REC);
	hv_kvp_pool_close(st);
	rm_rf(d);
	free(d);
}

START_TEST(files_rewrite_reload)
{
	rewrite_reload(0);
}
END_TEST

START_TEST(files_rewrite_reload_fstat)
{
	rewrite_reload(HV_KVP_POOL_NO_INOTIFY | HV_KVP_POOL_SYNC_ALWAYS);
}
END_TEST

START_TEST(files_modes)
{
	char *base = tmp_dir("/tmp"), dir[600], path[700];
	struct hv_kvp_store *st;
	struct stat sb;
	mode_t old = umask(077);

	snprintf(dir, sizeof(dir), "%s/hyperv", base);
	ck_assert_int_eq(hv_kvp_pool_open(dir, 0, &st), 0);
	hv_kvp_pool_close(st);
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0755);
	for (int p = 0; p < HV_KVP_POOL_COUNT; p++) {
		ck_assert_int_eq(stat(pool_path(dir, p), &sb), 0);
		ck_assert_uint_eq(sb.st_mode & 07777, 0644);
	}
	/* An existing file keeps its mode (Ignition makes them 0600). */
	ck_assert_int_eq(chmod(pool_path(dir, 0), 0600), 0);
	ck_assert_int_eq(hv_kvp_pool_open(dir, 0, &st), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 0, "k", "v"), 0);
	hv_kvp_pool_close(st);
	ck_assert_int_eq(stat(pool_path(dir, 0), &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	/* The journal is in its own folder, private, and nothing else of ours is here. */
	snprintf(path, sizeof(path), "%s/journal", base);
	ck_assert_int_eq(hv_kvp_pool_open_journaled(dir, path, 0, &st), 0);
	hv_kvp_pool_close(st);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/journal/pool_0.intent", base);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0077, 0);
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 5", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	umask(old);
	rm_rf(base);
	free(base);
}
END_TEST

/* ---- crashes ---- */

/*
 * The operations the children run: op n sets or deletes one of 37 keys.
 * The parent replays the acknowledged ones on a model.
 */
#define NKEYS 37

struct model {
	char val[NKEYS][32];
	bool set[NKEYS];
};

static void op_apply(struct model *m, long n)
{
	int k = (int)(n % NKEYS);

	if (n % 3 == 2) {
		m->set[k] = false;
	} else {
		m->set[k] = true;
		snprintf(m->val[k], sizeof(m->val[k]), "v%ld", n);
	}
}

static int op_run(struct hv_kvp_store *st, long n)
{
	char key[16], val[32];
	int err;

	snprintf(key, sizeof(key), "k%d", (int)(n % NKEYS));
	if (n % 3 == 2) {
		err = hv_kvp_pool_delete(st, 1, key);
		return err == -ENOENT ? 0 : err;
	}
	snprintf(val, sizeof(val), "v%ld", n);
	return hv_kvp_pool_set(st, 1, key, val);
}

/* Does the store hold exactly the model, plus every external record? */
static bool state_matches(const char *dir, const struct model *m, int ext)
{
	struct lx_record *r;
	size_t n = lx_read(dir, 1, &r);
	bool seen[NKEYS] = { 0 }, ok = true;
	int exts = 0;

	ck_assert_int_eq(file_size(pool_path(dir, 1)) % REC, 0);
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(r[i].key, "ext", 3)) {
			exts++;
			continue;
		}
		int k = atoi(r[i].key + 1);

		ck_assert_msg(r[i].key[0] == 'k' && k >= 0 && k < NKEYS, "junk key %.20s", r[i].key);
		ck_assert_msg(!seen[k], "duplicate key %s", r[i].key);
		seen[k] = true;
		if (!m->set[k] || strcmp(m->val[k], r[i].value))
			ok = false;
	}
	for (int k = 0; k < NKEYS; k++)
		if (m->set[k] && !seen[k])
			ok = false;
	ck_assert_int_eq(exts, ext);
	free(r);
	return ok;
}

static const char *crash_at;

/* The crash tests' stores keep their journal beside the pool folder. */
static int crash_open(const char *dir, struct hv_kvp_store **st)
{
	char j[600];

	snprintf(j, sizeof(j), "%s/journal", dir);
	return hv_kvp_pool_open_journaled(dir, j, 0, st);
}
static int crash_skip;
static const char *crash_dir;

static void crash_hook(const char *where)
{
	if (!strcmp(where, crash_at) && crash_skip-- == 0)
		raise(SIGKILL);
}

/*
 * Run ops from `first` in a child that dies (SIGKILL at an injected
 * point, or killed by us `kill_us` microseconds after its first acks);
 * then append an external record while it is dead, reopen (which redoes
 * the journal) and check. Returns the next op number.
 */
static long crash_round(const char *dir, struct model *m, long first, int *ext,
			const char *point, int skip, int kill_us)
{
	int ack[2], status;
	long n, last = first - 1;
	pid_t pid;
	struct model with = *m;
	char key[32];

	ck_assert_int_eq(pipe(ack), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hv_kvp_store *st;

		close(ack[0]);
		if (crash_open(dir, &st))
			_exit(3);
		crash_at = point;
		crash_skip = skip;
		kvp_crash_hook = point ? crash_hook : NULL;
		for (n = first; n < first + 400; n++) {
			if (op_run(st, n))
				_exit(4);
			if (write(ack[1], &n, sizeof(n)) != sizeof(n))
				_exit(5);
		}
		_exit(0);   /* no close: as abrupt as a kill, minus the journal redo */
	}
	close(ack[1]);
	if (kill_us) {
		/*
		 * Killed after 1 to 3 acknowledged ops and then a random time,
		 * so that every round dies in the middle of the stream however
		 * slow the build (TSan) or the machine.
		 */
		for (int acked = 0; acked < 1 + kill_us % 3 &&
		     read(ack[0], &n, sizeof(n)) == sizeof(n); acked++)
			last = n;
		usleep((useconds_t)kill_us);
		kill(pid, SIGKILL);
	}
	while (read(ack[0], &n, sizeof(n)) == sizeof(n))
		last = n;
	close(ack[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(!WIFEXITED(status) || WEXITSTATUS(status) == 0);

	/* Another program appends while we are dead. */
	snprintf(key, sizeof(key), "ext%d", (*ext)++);
	ci_append(dir, 1, key, "external");

	/* Reopen: redo, compact, close. */
	{
		struct hv_kvp_store *st;

		ck_assert_int_eq(crash_open(dir, &st), 0);
		expect_value(st, 1, key, "external");
		hv_kvp_pool_close(st);
	}
	for (n = first; n <= last; n++)
		op_apply(m, n);
	if (state_matches(dir, m, *ext))
		return last + 1;
	/* The op in flight when it died may have made it. */
	with = *m;
	op_apply(&with, last + 1);
	ck_assert_msg(state_matches(dir, &with, *ext),
		      "state after crash (%s, last ack %ld) is neither before nor after op %ld",
		      point ? point : "kill", last, last + 1);
	*m = with;
	return last + 2;
}

START_TEST(crash_injected)
{
	static const char *points[] = {
		"append", "update", "delete", "delete-shift", "replace-half",
	};
	char *d = tmp_dir("/tmp");
	struct model m = { 0 };
	long next = 0;
	int ext = 0;

	for (unsigned int i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		for (int skip = 0; skip < 3; skip++)
			next = crash_round(d, &m, next, &ext, points[i], skip * 3, 0);
	rm_rf(d);
	free(d);
}
END_TEST

START_TEST(crash_random_kill)
{
	char *d = tmp_dir("/dev/shm");
	struct model m = { 0 };
	long next = 0;
	int ext = 0;
	unsigned int seed = 12345;

	for (int i = 0; i < 60; i++)
		next = crash_round(d, &m, next, &ext, NULL, 0, 200 + (int)(rand_r(&seed) % 5000));
	ck_assert_int_gt(next, 60);
	rm_rf(d);
	free(d);
}
END_TEST

/*
 * The bug these two catch: an append cut short by SIGKILL (the kernel
 * stops a write between pages) left a partial record; a record another
 * program appended while we were dead landed after it, misaligned; and
 * the next open cut the "partial record" at a record boundary, taking
 * the other program's record with it.
 */
static void torn_setup(const char *dir)
{
	struct hv_kvp_store *st;
	char key[16];

	ck_assert_int_eq(crash_open(dir, &st), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, key), 0);
	}
	hv_kvp_pool_close(st);
	ck_assert_int_eq(file_size(pool_path(dir, 1)), 10 * REC);
}

/* After the round: the other program's record, ours whole or absent, nothing torn. */
static void torn_check(const char *dir, const char *value)
{
	struct hv_kvp_store *st;
	struct lx_record *r;
	char buf[HV_KVP_VALUE_MAX_SIZE + 1], key[16];
	size_t n;
	int err;

	ck_assert_int_eq(crash_open(dir, &st), 0);
	expect_value(st, 1, "CLOUD_INIT|while-dead", "external");
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		expect_value(st, 1, key, key);
	}
	err = hv_kvp_pool_get(st, 1, "torn", buf, sizeof(buf), NULL);
	ck_assert_msg(err == -ENOENT || (err == 0 && !strcmp(buf, value)),
		      "torn: %d, value of %zu bytes", err, err ? 0 : strlen(buf));
	hv_kvp_pool_close(st);
	ck_assert_int_eq(file_size(pool_path(dir, 1)) % REC, 0);
	n = lx_read(dir, 1, &r);
	ck_assert_uint_eq(n, err ? 11 : 12);
	ck_assert_str_eq(r[err ? 10 : 11].key, "CLOUD_INIT|while-dead");
	free(r);
}

/*
 * An append cut short by SIGKILL (the kernel stops a write between
 * pages): the kill lands after the first 1000 bytes of the record, which
 * readers skip as a partial record; the next open finishes it.
 */
static const char *torn_value;
static size_t torn_len;
static off_t torn_at;

/* The first torn_len bytes of the record land at torn_at, then the kill. */
static void torn_hook(const char *where)
{
	struct lx_record r;
	int fd;

	if (strcmp(where, "append"))
		return;
	lx_make(&r, "torn", 4, torn_value, false);
	fd = open(pool_path(crash_dir, 1), O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, &r, torn_len, torn_at) != (ssize_t)torn_len)
		_exit(6);
	raise(SIGKILL);
}

/* A child sets "torn" to `value` in pool 1, record `slot`, and dies after `len` bytes of it. */
static void torn_kill(const char *dir, const char *value, uint64_t slot, size_t len)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hv_kvp_store *st;

		if (crash_open(dir, &st))
			_exit(3);
		crash_dir = dir;
		torn_value = value;
		torn_len = len;
		torn_at = (off_t)(slot * REC);
		kvp_crash_hook = torn_hook;
		hv_kvp_pool_set(st, 1, "torn", value);
		_exit(5);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
}

START_TEST(crash_torn_append_finished)
{
	char *d = tmp_dir("/tmp"), value[1501];

	memset(value, 'y', sizeof(value) - 1);
	value[sizeof(value) - 1] = 0;
	torn_setup(d);
	torn_kill(d, value, 10, 1000);
	/* What other programs see meanwhile: whole records, then ours cut short. */
	ck_assert_int_eq(file_size(pool_path(d, 1)), 10 * REC + 1000);
	{
		/* Finished from the journal, not dropped. */
		struct hv_kvp_store *st;

		ck_assert_int_eq(crash_open(d, &st), 0);
		expect_value(st, 1, "torn", value);
		hv_kvp_pool_close(st);
	}
	ck_assert_int_eq(file_size(pool_path(d, 1)), 11 * REC);
	ci_append(d, 1, "CLOUD_INIT|while-dead", "external");
	torn_check(d, value);
	rm_rf(d);
	free(d);
}
END_TEST

/*
 * An append cut at its page boundary (record 1 spans bytes 2560..5119, the
 * boundary at 4096), then another program's append while we are dead:
 * O_APPEND puts it right after our 1536 bytes, where no reader finds it.
 * The next open writes ours whole and theirs after it.
 */
START_TEST(crash_torn_append_buried)
{
	char *d = tmp_dir("/tmp"), value[1501];
	struct hv_kvp_store *st;
	struct lx_record *r;
	int status;
	pid_t pid;

	memset(value, 'z', sizeof(value) - 1);
	value[sizeof(value) - 1] = 0;
	ck_assert_int_eq(crash_open(d, &st), 0);
	ck_assert_int_eq(hv_kvp_pool_set(st, 1, "k0", "v0"), 0);
	hv_kvp_pool_close(st);
	torn_kill(d, value, 1, 4096 - REC);
	ci_append(d, 1, "CLOUD_INIT|while-dead", "external");
	ck_assert_int_eq(file_size(pool_path(d, 1)), 4096 + REC);
	/* The open that repairs it killed half-way: the next one writes it again. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		crash_at = "rebuild";
		crash_skip = 0;
		kvp_crash_hook = crash_hook;
		crash_open(d, &st);
		_exit(5);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	ck_assert_int_eq(file_size(pool_path(d, 1)), 3 * REC);
	ck_assert_int_eq(crash_open(d, &st), 0);
	expect_value(st, 1, "k0", "v0");
	expect_value(st, 1, "torn", value);
	expect_value(st, 1, "CLOUD_INIT|while-dead", "external");
	hv_kvp_pool_close(st);
	/* As Linux's daemon reads it: three whole records, in that order. */
	ck_assert_int_eq(file_size(pool_path(d, 1)), 3 * REC);
	ck_assert_uint_eq(lx_read(d, 1, &r), 3);
	ck_assert_str_eq(r[1].key, "torn");
	ck_assert_str_eq(r[1].value, value);
	ck_assert_str_eq(r[2].key, "CLOUD_INIT|while-dead");
	free(r);
	/* A second open has nothing left to do. */
	ck_assert_int_eq(crash_open(d, &st), 0);
	expect_value(st, 1, "CLOUD_INIT|while-dead", "external");
	hv_kvp_pool_close(st);
	ck_assert_int_eq(file_size(pool_path(d, 1)), 3 * REC);
	rm_rf(d);
	free(d);
}
END_TEST

/*
 * A delete's shift cut by the kill at a page boundary inside one of its
 * writes: everything before the boundary moved, nothing after it. Every
 * such cut of one delete is tried. Other programs may see the one record
 * the cut runs through torn only where both of its versions have bytes
 * on each side of the boundary (hvkvpd.8); every other record they see is
 * one of the pool's; the next open leaves exactly the pool without the key.
 */
#define SHIFT_RECS 30
#define SHIFT_SLOT 2

static off_t shift_cut;

static void shift_value(int i, char *buf, size_t size)
{
	/* Pairs of long values, so that a boundary falls inside both. */
	if (i % 4 < 2) {
		memset(buf, 'a' + i % 26, 1500);
		buf[1500] = 0;
	} else {
		snprintf(buf, size, "v%02d", i);
	}
}

static void shift_hook(const char *where)
{
	static struct lx_record old[SHIFT_RECS];
	int fd;

	if (strcmp(where, "delete"))
		return;
	fd = open(pool_path(crash_dir, 1), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(6);
	{
		int rfd = open(pool_path(crash_dir, 1), O_RDONLY | O_CLOEXEC);

		if (rfd < 0 || read(rfd, old, sizeof(old)) != (ssize_t)sizeof(old))
			_exit(6);
		close(rfd);
	}
	/* The records after the slot, one up, as far as the cut. */
	if (pwrite(fd, (char *)&old[SHIFT_SLOT + 1], (size_t)(shift_cut - SHIFT_SLOT * REC),
		   SHIFT_SLOT * REC) != shift_cut - SHIFT_SLOT * REC)
		_exit(6);
	raise(SIGKILL);
}

static bool rec_is(const struct lx_record *r, const struct lx_record *want)
{
	return !strcmp(r->key, want->key) && !strcmp(r->value, want->value);
}

/* Whether a cut at byte `at` of a record may show it torn (see above). */
static bool shift_may_tear(const struct lx_record *x, const struct lx_record *y, size_t at)
{
	if (at <= sizeof(x->key))
		return at == sizeof(x->key) && strcmp(x->key, y->key) && strcmp(x->value, y->value);
	at -= sizeof(x->key);
	return strlen(x->value) >= at && strlen(y->value) >= at;
}

START_TEST(crash_torn_shift)
{
	static struct lx_record recs[SHIFT_RECS];
	char value[2048], key[16];
	int rounds = 0, torn = 0;

	for (int i = 0; i < SHIFT_RECS; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		shift_value(i, value, sizeof(value));
		lx_make(&recs[i], key, strlen(key), value, false);
	}
	for (off_t cut = 4096; cut < (SHIFT_RECS - 1) * REC; cut += 4096) {
		char *d = tmp_dir("/tmp");
		struct hv_kvp_store *st;
		struct lx_record *r;
		size_t n, torn_slot = (size_t)(cut / REC), at = (size_t)(cut % REC);
		int status;
		pid_t pid;

		if (cut <= SHIFT_SLOT * REC) {
			rm_rf(d);
			free(d);
			continue;
		}
		write_file(pool_path(d, 1), recs, sizeof(recs));
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (crash_open(d, &st))
				_exit(3);
			crash_dir = d;
			shift_cut = cut;
			kvp_crash_hook = shift_hook;
			hv_kvp_pool_delete(st, 1, "k02");
			_exit(5);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x",
			      status);

		/* What another program reads before hvkvpd starts again. */
		ck_assert_uint_eq(lx_read(d, 1, &r), SHIFT_RECS);
		for (size_t i = 0; i < SHIFT_RECS; i++) {
			const struct lx_record *want = i < torn_slot ? &recs[i + (i >= SHIFT_SLOT)] :
				&recs[i];

			/* The record the cut runs through: old, new, or torn where it may be. */
			if (i == torn_slot && at && !rec_is(&r[i], &recs[i]) &&
			    !rec_is(&r[i], &recs[i + 1])) {
				ck_assert_msg(shift_may_tear(&recs[i], &recs[i + 1], at),
					      "cut at %lld: record %zu torn", (long long)cut, i);
				torn++;
				continue;
			}
			if (i == torn_slot && at)
				continue;
			ck_assert_msg(rec_is(&r[i], want), "cut at %lld: record %zu is %.8s, not %.8s",
				      (long long)cut, i, r[i].key, want->key);
		}
		free(r);

		/* The next open finishes the delete. */
		ck_assert_int_eq(crash_open(d, &st), 0);
		expect_value(st, 1, "k02", NULL);
		hv_kvp_pool_close(st);
		n = lx_read(d, 1, &r);
		ck_assert_uint_eq(n, SHIFT_RECS - 1);
		for (size_t i = 0; i < n; i++) {
			const struct lx_record *want = &recs[i + (i >= SHIFT_SLOT)];

			ck_assert_msg(rec_is(&r[i], want), "cut at %lld, reopened: record %zu is %.8s",
				      (long long)cut, i, r[i].key);
		}
		free(r);
		rm_rf(d);
		free(d);
		rounds++;
	}
	/* 17 boundaries; the pairs of long values are torn at some of them. */
	ck_assert_int_eq(rounds, 17);
	ck_assert_int_gt(torn, 0);
}
END_TEST

/* ---- cost does not grow with the pool ---- */

static void cost_at(size_t nrec, double *per_set, double *per_new, double *per_del)
{
	char *d = tmp_dir("/dev/shm");
	struct hv_kvp_store *st;
	struct hv_kvp_pool_stats a = { .sz = sizeof(a) }, b = { .sz = sizeof(b) };
	struct hv_kvp_pool_record rec;
	struct lx_record *recs = calloc(nrec, sizeof(*recs));
	char key[32];
	unsigned int seed = 7;
	size_t n;
	const int ops = 20;

	ck_assert_ptr_nonnull(recs);
	for (size_t i = 0; i < nrec; i++) {
		snprintf(key, sizeof(key), "key%zu", i);
		lx_make(&recs[i], key, strlen(key), "value", false);
	}
	write_file(pool_path(d, 1), recs, nrec * sizeof(*recs));
	free(recs);
	ck_assert_int_eq(crash_open(d, &st), 0);

	hv_kvp_pool_stats_get(st, &a);
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "key%u", rand_r(&seed) % (unsigned int)nrec);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, "new value"), 0);
	}
	hv_kvp_pool_stats_get(st, &b);
	*per_set = (double)(b.bytes_written - a.bytes_written) / ops;
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "added%d", i);
		ck_assert_int_eq(hv_kvp_pool_set(st, 1, key, "v"), 0);
	}
	hv_kvp_pool_stats_get(st, &a);
	*per_new = (double)(a.bytes_written - b.bytes_written) / ops;
	/* Deletes near the front: the worst case for shifting. */
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		ck_assert_int_eq(hv_kvp_pool_delete(st, 1, key), 0);
	}
	hv_kvp_pool_stats_get(st, &b);
	*per_del = (double)(b.bytes_written - a.bytes_written) / ops;
	/* Walk it all by index, as the host does: O(1) per step after the deletes. */
	ck_assert_int_eq(hv_kvp_pool_count(st, 1, &n), 0);
	ck_assert_uint_eq(n, nrec);
	{
		struct hv_kvp_pool_iter it;

		ck_assert_int_eq(hv_kvp_pool_iter_begin(st, 1, &it), 0);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(hv_kvp_pool_iter_seek(&it, i, &rec), 0);
		ck_assert_uint_le(it.work, 2 * n + ops);
		hv_kvp_pool_iter_end(&it);
	}
	ck_assert_str_eq(rec.key, "added19");
	expect_value(st, 1, "key19", NULL);
	snprintf(key, sizeof(key), "key%zu", nrec - 1);
	ck_assert_int_eq(hv_kvp_pool_get(st, 1, key, rec.value, sizeof(rec.value), NULL), 0);

	hv_kvp_pool_close(st);
	{
		struct lx_record *r;

		/* In the file at once, in Linux's order. */
		ck_assert_uint_eq(lx_read(d, 1, &r), nrec);
		ck_assert_str_eq(r[0].key, "key20");
		ck_assert_str_eq(r[nrec - 1].key, "added19");
		free(r);
	}
	rm_rf(d);
	free(d);
}

START_TEST(cost_constant)
{
	double s1, n1, d1, s2, n2, d2;

	/* 20 000, not more: each delete near the front shifts the whole pool. */
	cost_at(100, &s1, &n1, &d1);
	cost_at(20000, &s2, &n2, &d2);
	/*
	 * One record per SET and per new key, plus the key and value named
	 * in the journal first (the longer keys of the larger pool account
	 * for the difference).
	 */
	ck_assert_double_le(s2, REC + 128);
	ck_assert_double_le(s1, s2);
	ck_assert_double_le(s2, s1 + 8);
	ck_assert_double_le(n2, REC + 128);
	ck_assert_double_eq(n1, n2);
	/*
	 * A delete near the front moves the 119 (19 999) records after it
	 * and writes no more than those, plus the journal's hash of each: the
	 * records before it are not rewritten, as Linux's daemon rewrites them.
	 */
	ck_assert_double_le(d1, 120.0 * (REC + 8) + 64);
	ck_assert_double_le(d2, 20020.0 * (REC + 8) + 64);
	ck_assert_double_ge(d2, 19980.0 * REC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvp-pool");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("memory");
	tcase_add_test(tc, memory_basic);
	tcase_add_test(tc, memory_enumerate_holes);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, threads_memory);
	tcase_add_test(tc, threads_files);
	tcase_add_test(tc, threads_enumerate);
	tcase_add_test(tc, enumerate_lockfree);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, files_linux_format_written);
	tcase_add_test(tc, files_foreign_format_read);
	tcase_add_test(tc, files_inotify_append);
	tcase_add_test(tc, files_append_race);
	tcase_add_test(tc, files_rewrite_reload);
	tcase_add_test(tc, files_rewrite_reload_fstat);
	tcase_add_test(tc, files_modes);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, crash_injected);
	tcase_add_test(tc, crash_random_kill);
	tcase_add_test(tc, crash_torn_append_finished);
	tcase_add_test(tc, crash_torn_append_buried);
	tcase_add_test(tc, crash_torn_shift);
	suite_add_tcase(s, tc);

	tc = tcase_create("cost");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cost_constant);
	tcase_add_test(tc, walk_constant);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
