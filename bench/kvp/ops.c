/* SPDX-License-Identifier: ISC */
/*
 * The operation mix, the same for every daemon and backend, so that the
 * rates compare: one request at a time, each answer checked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-kvp.h"

const char *const bk_op_names[BK_NOPS] = {
	"set", "update", "get", "enumerate", "delete",
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bk_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest rank. */
double bk_percentile_sorted(const double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

struct mix {
	const char *who;
	bk_request_fn *fn;
	void *ctx;
	char value[HV_KVP_VALUE_MAX_SIZE];
};

/* One request; dies unless the daemon answers `want`. */
static void one(struct mix *m, uint8_t op, const char *key, const char *value,
		uint32_t index, uint32_t want)
{
	uint32_t status = 0;
	int err = m->fn(m->ctx, op, key, value, index, &status, m->value, sizeof(m->value));

	if (err < 0)
		bk_die("%s: no answer to operation %u on '%s' (index %u): %s", m->who, op,
		       key ? key : "", index, strerror(-err));
	if (status != want)
		bk_die("%s: operation %u on '%s' (index %u) answered 0x%08x, not 0x%08x",
		       m->who, op, key ? key : "", index, status, want);
}

void bk_mix_run(const char *who, bk_request_fn *fn, void *ctx, unsigned int n,
		unsigned int ops, bool check_get_value, bool keep_rtt,
		struct bk_mix_result *r)
{
	struct mix m = { .who = who, .fn = fn, .ctx = ctx };
	double t[BK_NOPS] = { 0 }, t0;
	char key[64], value[128], want[128];
	unsigned int round = n / 2 ? n / 2 : 1, done = 0, next = n, dels;

	memset(r, 0, sizeof(*r));
	if (round > ops)
		round = ops;
	/*
	 * New keys, then the same keys deleted (not timed: they are the last
	 * records, whose delete moves few), so the pool returns to n.
	 */
	while (done < ops) {
		unsigned int k = ops - done < round ? ops - done : round;

		t0 = bk_now();
		for (unsigned int i = 0; i < k; i++) {
			bk_key(key, sizeof(key), next + i);
			bk_value(value, sizeof(value), next + i);
			one(&m, HV_KVP_OP_SET, key, value, 0, HV_IC_S_OK);
		}
		t[BK_SET] += bk_now() - t0;
		for (unsigned int i = 0; i < k; i++) {
			bk_key(key, sizeof(key), next + i);
			one(&m, HV_KVP_OP_DELETE, key, NULL, 0, HV_IC_S_OK);
		}
		next += k;
		done += k;
	}

	/* Updates in place: a changed value of an existing record. */
	t0 = bk_now();
	for (unsigned int i = 0; i < ops; i++) {
		unsigned int j = (unsigned int)(((uint64_t)i * 7919) % n);

		bk_key(key, sizeof(key), j);
		snprintf(value, sizeof(value), "updated %u", i);
		one(&m, HV_KVP_OP_SET, key, value, 0, HV_IC_S_OK);
	}
	t[BK_UPDATE] = bk_now() - t0;
	/* And back, so that GETs find the values the files were written with. */
	for (unsigned int i = 0; i < ops && i < n; i++) {
		unsigned int j = (unsigned int)(((uint64_t)i * 7919) % n);

		bk_key(key, sizeof(key), j);
		bk_value(value, sizeof(value), j);
		one(&m, HV_KVP_OP_SET, key, value, 0, HV_IC_S_OK);
	}

	/* Spread over the pool: no cache of the last records helps. */
	if (keep_rtt) {
		r->get_rtt = calloc(ops, sizeof(double));
		if (!r->get_rtt)
			bk_die("out of memory");
	}
	t0 = bk_now();
	for (unsigned int i = 0; i < ops; i++) {
		unsigned int j = (unsigned int)(((uint64_t)i * 104729) % n);
		double s = keep_rtt ? bk_now() : 0;

		bk_key(key, sizeof(key), j);
		one(&m, HV_KVP_OP_GET, key, NULL, 0, HV_IC_S_OK);
		if (keep_rtt)
			r->get_rtt[i] = bk_now() - s;
		if (check_get_value) {
			bk_value(want, sizeof(want), j);
			if (strcmp(m.value, want))
				bk_die("%s: GET %s answered '%s', not '%s'", who, key, m.value, want);
		}
	}
	t[BK_GET] = bk_now() - t0;
	if (keep_rtt) {
		bk_median(r->get_rtt, ops);
		r->get_rtt_count = ops;
	}

	/* The host's enumeration: 0, 1, 2, ... */
	t0 = bk_now();
	for (unsigned int i = 0; i < ops; i++) {
		one(&m, HV_KVP_OP_ENUMERATE, NULL, NULL, i % n, HV_IC_S_OK);
		bk_value(want, sizeof(want), i % n);
		if (strcmp(m.value, want))
			bk_die("%s: ENUMERATE %u answered '%s', not '%s'", who, i % n, m.value, want);
	}
	t[BK_ENUMERATE] = bk_now() - t0;

	/*
	 * Deletes spread over the pool, each put back at the end (not timed)
	 * so the pool stays at n: a delete shifts the records after it, half
	 * the pool on average, where Linux's daemon rewrites all of it. Fewer
	 * of them in large pools, where each one is long.
	 */
	dels = n <= 1000 ? ops : (unsigned int)((uint64_t)ops * 1000 / n);
	if (dels < 20)
		dels = ops < 20 ? ops : 20;
	for (unsigned int i = 0; i < dels; i++) {
		unsigned int j = (unsigned int)(((uint64_t)i * 104729 + n / 3) % n);

		bk_key(key, sizeof(key), j);
		t0 = bk_now();
		one(&m, HV_KVP_OP_DELETE, key, NULL, 0, HV_IC_S_OK);
		t[BK_DELETE] += bk_now() - t0;
		bk_value(value, sizeof(value), j);
		one(&m, HV_KVP_OP_SET, key, value, 0, HV_IC_S_OK);
	}

	for (int o = 0; o < BK_NOPS; o++) {
		r->count[o] = o == BK_DELETE ? dels : ops;
		r->rate[o] = t[o] > 0 ? r->count[o] / t[o] : 0;
	}
}
