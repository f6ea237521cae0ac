/* SPDX-License-Identifier: ISC */
/*
 * The KVP request handler: every operation on every pool, against a store
 * in a temporary directory, with the pool files also written behind the
 * store's back the way other programs write them.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

#define GUID "{3c0c5e1f-27a8-4b0c-9d3e-1a2b3c4d5e6f}"

struct fixture {
	char dir[64];        /* pool files */
	char root[128];      /* etc/os-release, sys/class/net */
	struct hv_kvp_store *store;
	struct hv_kvp_handler *handler;
	struct hv_kvp_request req, reply;
};

static struct fixture fx;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void mkdir_p(const char *path)
{
	char tmp[256], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0755);
		*p = '/';
	}
	mkdir(tmp, 0755);
}

static void handler_open(const char *hook)
{
	struct hv_kvp_handler_config cfg = {
		.sz = sizeof(cfg), .root = fx.root, .set_ip_hook = hook, .state_dir = fx.dir,
	};

	hv_kvp_handler_free(fx.handler);
	fx.handler = NULL;
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &fx.handler), 0);
}

static void setup(void)
{
	char path[256];

	memset(&fx, 0, sizeof(fx));
	strcpy(fx.dir, "/tmp/hvkvp-handler-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	snprintf(fx.root, sizeof(fx.root), "%s/root", fx.dir);
	snprintf(path, sizeof(path), "%s/etc", fx.root);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/etc/os-release", fx.root);
	write_file(path, "NAME=\"Testix\"\nVERSION_ID=\"7\"\n");
	snprintf(path, sizeof(path), "%s/pools", fx.dir);
	ck_assert_int_eq(hv_kvp_pool_open(path, 0, &fx.store), 0);
	handler_open(NULL);
}

static void teardown(void)
{
	char cmd[128];

	hv_kvp_handler_free(fx.handler);
	hv_kvp_pool_close(fx.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	ck_assert_int_eq(system(cmd), 0);
}

static uint32_t run(uint8_t op, uint8_t pool, const char *key, const char *value,
		    uint32_t index)
{
	memset(&fx.req, 0, sizeof(fx.req));
	memset(&fx.reply, 0xa5, sizeof(fx.reply));
	fx.req.operation = op;
	fx.req.pool = pool;
	fx.req.index = index;
	if (key) {
		fx.req.key_len = strlen(key);
		memcpy(fx.req.key, key, fx.req.key_len + 1);
	}
	if (value) {
		fx.req.value_type = HV_KVP_REG_SZ;
		fx.req.value_len = strlen(value);
		memcpy(fx.req.value, value, fx.req.value_len + 1);
	}
	return hv_kvp_handler_run(fx.handler, &fx.req, &fx.reply);
}

static void assert_reply_kv(const char *key, const char *value)
{
	ck_assert_str_eq(fx.reply.key, key);
	ck_assert_uint_eq(fx.reply.key_len, strlen(key));
	ck_assert_str_eq(fx.reply.value, value);
	ck_assert_uint_eq(fx.reply.value_len, strlen(value));
}

static size_t pool_count(unsigned int pool)
{
	size_t n = 99;

	ck_assert_int_eq(hv_kvp_pool_count(fx.store, pool, &n), 0);
	return n;
}

/* Append one record to a pool file as another program would. */
static void file_append(unsigned int pool, const void *key, size_t klen,
			const void *value, size_t vlen)
{
	uint8_t rec[HV_KVP_POOL_RECORD_SIZE];
	char path[256];
	int fd;

	memset(rec, 0, sizeof(rec));
	memcpy(rec, key, klen);
	memcpy(rec + HV_KVP_KEY_MAX_SIZE, value, vlen);
	snprintf(path, sizeof(path), "%s/pools/.kvp_pool_%u", fx.dir, pool);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	close(fd);
}

/* SET, GET, ENUMERATE, DELETE on each pool, as Linux's daemon answers them. */
START_TEST(every_pool)
{
	unsigned int pool = (unsigned int)_i;
	char key[32], value[32];

	snprintf(key, sizeof(key), "Key%u", pool);
	snprintf(value, sizeof(value), "Value of pool %u", pool);

	ck_assert_uint_eq(run(HV_KVP_OP_GET, pool, key, NULL, 0), HV_IC_S_CONT);
	ck_assert_uint_eq(run(HV_KVP_OP_DELETE, pool, key, NULL, 0), HV_IC_S_CONT);

	ck_assert_uint_eq(run(HV_KVP_OP_SET, pool, key, value, 0), HV_IC_S_OK);
	/* SET echoes the request. */
	assert_reply_kv(key, value);
	ck_assert_uint_eq(pool_count(pool), 1);
	ck_assert_uint_eq(run(HV_KVP_OP_SET, pool, key, "second", 0), HV_IC_S_OK);
	ck_assert_uint_eq(pool_count(pool), 1);
	ck_assert_uint_eq(run(HV_KVP_OP_SET, pool, "Other", "", 0), HV_IC_S_OK);
	ck_assert_uint_eq(pool_count(pool), 2);

	/* GET answers the value (Linux answers it empty). */
	ck_assert_uint_eq(run(HV_KVP_OP_GET, pool, key, NULL, 0), HV_IC_S_OK);
	assert_reply_kv(key, "second");
	ck_assert_uint_eq(run(HV_KVP_OP_GET, pool, "Other", NULL, 0), HV_IC_S_OK);
	assert_reply_kv("Other", "");
	ck_assert_uint_eq(run(HV_KVP_OP_GET, pool, "key0", NULL, 0), HV_IC_S_CONT);

	if (pool != HV_KVP_POOL_AUTO) {
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, 0), HV_IC_S_OK);
		assert_reply_kv(key, "second");
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, 1), HV_IC_S_OK);
		assert_reply_kv("Other", "");
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, 2), HV_IC_S_CONT);
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, UINT32_MAX), HV_IC_S_CONT);
	}

	ck_assert_uint_eq(run(HV_KVP_OP_DELETE, pool, key, NULL, 0), HV_IC_S_OK);
	ck_assert_uint_eq(pool_count(pool), 1);
	ck_assert_uint_eq(run(HV_KVP_OP_DELETE, pool, key, NULL, 0), HV_IC_S_CONT);
	ck_assert_uint_eq(run(HV_KVP_OP_GET, pool, key, NULL, 0), HV_IC_S_CONT);
	if (pool != HV_KVP_POOL_AUTO) {
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, 0), HV_IC_S_OK);
		assert_reply_kv("Other", "");
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, pool, NULL, NULL, 1), HV_IC_S_CONT);
	}
	/* Nothing leaked into another pool. */
	for (unsigned int p = 0; p < HV_KVP_POOL_COUNT; p++)
		if (p != pool)
			ck_assert_uint_eq(pool_count(p), 0);
}
END_TEST

/* The Auto pool: the ten keys in the host's order, then HV_IC_S_CONT. */
START_TEST(auto_enumerate)
{
	static const char *const keys[] = {
		"FullyQualifiedDomainName", "IntegrationServicesVersion",
		"NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber", "OSName",
		"OSMajorVersion", "OSMinorVersion", "OSVersion", "ProcessorArchitecture",
	};
	char key[64], value[HV_KVP_VALUE_MAX_SIZE];
	struct hv_kvp_info *info;
	uint32_t i;

	ck_assert_int_eq(hv_kvp_info_new(fx.root, &info), 0);
	for (i = 0; i < 10; i++) {
		ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, i), HV_IC_S_OK);
		ck_assert_str_eq(fx.reply.key, keys[i]);
		ck_assert_int_eq(hv_kvp_info_auto_get(info, i, key, sizeof(key), value,
						      sizeof(value)), 0);
		/* The addresses and the host name may change between two calls. */
		if (i != 0 && i != 2 && i != 3)
			ck_assert_str_eq(fx.reply.value, value);
		ck_assert_uint_eq(fx.reply.value_len, strlen(fx.reply.value));
	}
	hv_kvp_info_free(info);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 5), HV_IC_S_OK);
	assert_reply_kv("OSName", "Testix");
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 6), HV_IC_S_OK);
	assert_reply_kv("OSMajorVersion", "7");
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 10), HV_IC_S_CONT);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, UINT32_MAX),
			  HV_IC_S_CONT);

	/* A record under an Auto key overrides the generated value. */
	ck_assert_int_eq(hv_kvp_pool_set(fx.store, HV_KVP_POOL_AUTO, "OSName", "Override"), 0);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 5), HV_IC_S_OK);
	assert_reply_kv("OSName", "Override");
	/* Other records of the Auto pool file are not enumerated. */
	ck_assert_int_eq(hv_kvp_pool_set(fx.store, HV_KVP_POOL_AUTO, "Extra", "x"), 0);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 10), HV_IC_S_CONT);
}
END_TEST

START_TEST(unknown_operation)
{
	static const uint8_t ops[] = { HV_KVP_OP_COUNT, 7, HV_KVP_OP_REGISTER1, 255 };

	for (size_t i = 0; i < sizeof(ops); i++) {
		ck_assert_uint_eq(run(ops[i], HV_KVP_POOL_GUEST, "k", "v", 0),
				  HV_IC_ERROR_NOT_SUPPORTED);
		ck_assert_uint_eq(pool_count(HV_KVP_POOL_GUEST), 0);
	}
}
END_TEST

/* A pool past the five never reaches the store. */
START_TEST(pool_out_of_range)
{
	static const uint8_t pools[] = { 5, 6, 200, 255 };

	ck_assert_int_eq(hv_kvp_pool_set(fx.store, HV_KVP_POOL_GUEST, "k", "v"), 0);
	for (size_t i = 0; i < sizeof(pools); i++) {
		for (uint8_t op = HV_KVP_OP_GET; op <= HV_KVP_OP_ENUMERATE; op++)
			ck_assert_uint_eq(run(op, pools[i], "k", "v", 0), HV_IC_E_FAIL);
	}
	for (unsigned int p = 0; p < HV_KVP_POOL_COUNT; p++)
		ck_assert_uint_eq(pool_count(p), p == HV_KVP_POOL_GUEST ? 1 : 0);
}
END_TEST

/* Changes other programs made to the files are seen by the next request. */
START_TEST(other_programs)
{
	ck_assert_uint_eq(run(HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "mine", "1", 0), HV_IC_S_OK);
	file_append(HV_KVP_POOL_GUEST, "theirs", 6, "2", 1);
	ck_assert_uint_eq(run(HV_KVP_OP_GET, HV_KVP_POOL_GUEST, "theirs", NULL, 0), HV_IC_S_OK);
	assert_reply_kv("theirs", "2");
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_GUEST, NULL, NULL, 1), HV_IC_S_OK);
	assert_reply_kv("theirs", "2");
	file_append(HV_KVP_POOL_AUTO, "OSName", 6, "FromFile", 8);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO, NULL, NULL, 5), HV_IC_S_OK);
	assert_reply_kv("OSName", "FromFile");
}
END_TEST

/* What goes back is what Linux's kernel would pass on: UTF-8, cut to 254/1022 units. */
START_TEST(reply_strings_fit)
{
	char key[HV_KVP_KEY_MAX_SIZE], value[HV_KVP_VALUE_MAX_SIZE];
	char want[HV_KVP_VALUE_MAX_SIZE];
	size_t i;

	/* A key field of 512 bytes without NUL, as cloud-init writes them. */
	memset(key, 'k', sizeof(key));
	memset(value, 'v', sizeof(value));
	file_append(HV_KVP_POOL_GUEST, key, sizeof(key), value, sizeof(value));
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_GUEST, NULL, NULL, 0), HV_IC_S_OK);
	ck_assert_uint_eq(fx.reply.key_len, 254);
	ck_assert_uint_eq(strlen(fx.reply.key), 254);
	ck_assert_uint_eq(fx.reply.value_len, 1022);
	ck_assert_uint_eq(strspn(fx.reply.value, "v"), 1022);

	/* Bytes that are not UTF-8 are left out, as Linux's utf8s_to_utf16s skips them. */
	file_append(HV_KVP_POOL_GUEST, "bad\xff" "key", 7, "a\xc3(b\xe2\x82\xac\xf0\x9f\x98\x80\x80z", 14);
	ck_assert_uint_eq(run(HV_KVP_OP_ENUMERATE, HV_KVP_POOL_GUEST, NULL, NULL, 1), HV_IC_S_OK);
	assert_reply_kv("badkey", "a(b\xe2\x82\xac\xf0\x9f\x98\x80z");

	/* A four-byte character is two units and is never split at the bound. */
	for (i = 0; i < 1021; i++)
		value[i] = 'x';
	memcpy(value + 1021, "\xf0\x9f\x98\x80", 4);
	value[1025] = '\0';
	ck_assert_uint_eq(run(HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "long", value, 0), HV_IC_S_OK);
	ck_assert_uint_eq(run(HV_KVP_OP_GET, HV_KVP_POOL_GUEST, "long", NULL, 0), HV_IC_S_OK);
	memset(want, 'x', 1021);
	want[1021] = '\0';
	ck_assert_str_eq(fx.reply.value, want);
	/* The store still holds the whole value. */
	ck_assert_int_eq(hv_kvp_pool_get(fx.store, HV_KVP_POOL_GUEST, "long", want, sizeof(want),
					 &i), 0);
	ck_assert_uint_eq(i, 1025);
	/* Three-byte characters: 1022 of them fit the units but not 2047 bytes. */
	for (i = 0; i < 682; i++)
		memcpy(value + 3 * i, "\xe2\x82\xac", 3);
	value[3 * 682] = '\0';
	ck_assert_uint_eq(run(HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "euro", value, 0), HV_IC_S_OK);
	ck_assert_uint_eq(run(HV_KVP_OP_GET, HV_KVP_POOL_GUEST, "euro", NULL, 0), HV_IC_S_OK);
	ck_assert_uint_eq(fx.reply.value_len, 3 * 682);
	ck_assert_int_eq(hv_kvp_utf8_check(fx.reply.value, fx.reply.value_len), 0);
}
END_TEST

/* The reply may be the request itself. */
START_TEST(reply_in_place)
{
	ck_assert_uint_eq(run(HV_KVP_OP_SET, HV_KVP_POOL_EXTERNAL, "k", "value", 0), HV_IC_S_OK);
	memset(&fx.req, 0, sizeof(fx.req));
	fx.req.operation = HV_KVP_OP_GET;
	fx.req.pool = HV_KVP_POOL_EXTERNAL;
	strcpy(fx.req.key, "k");
	fx.req.key_len = 1;
	ck_assert_uint_eq(hv_kvp_handler_run(fx.handler, &fx.req, &fx.req), HV_IC_S_OK);
	ck_assert_str_eq(fx.req.value, "value");
	ck_assert_uint_eq(fx.req.value_len, 5);
	ck_assert_uint_eq(hv_kvp_handler_run(NULL, &fx.req, &fx.reply), HV_IC_E_FAIL);
	ck_assert_uint_eq(hv_kvp_handler_run(fx.handler, NULL, &fx.reply), HV_IC_E_FAIL);
}
END_TEST

START_TEST(handler_new_errors)
{
	struct hv_kvp_handler_config cfg = { .sz = sizeof(cfg), .root = "relative" };
	struct hv_kvp_handler *h = (void *)1;

	ck_assert_int_eq(hv_kvp_handler_new(NULL, NULL, &h), -EINVAL);
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, NULL, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &h), -EINVAL);
	ck_assert_ptr_null(h);
	cfg.root = NULL;
	cfg.set_ip_hook = "bin/true";
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &h), -EINVAL);
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, NULL, &h), 0);
	hv_kvp_handler_free(h);
	hv_kvp_handler_free(NULL);
}
END_TEST

/* The config's sz: what an older or a newer caller passes (README.md, "ABI"). */
START_TEST(handler_config_sz)
{
	struct {
		struct hv_kvp_handler_config c;
		uint64_t later;     /* a member a newer release might add */
	} big = { .c = { .sz = sizeof(big) } };
	struct hv_kvp_handler_config cfg = { .sz = 0 };
	struct hv_kvp_handler *h = NULL;

	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &h), -EINVAL);
	ck_assert_ptr_null(h);
	/* A caller that knew only sz: the rest is not read, so the bad root is not seen. */
	cfg.sz = sizeof(cfg.sz);
	cfg.root = "relative";
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &h), 0);
	hv_kvp_handler_free(h);
	h = NULL;
	cfg.sz = sizeof(cfg);
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &cfg, &h), -EINVAL);
	/* Larger: accepted while what this library does not know is zero. */
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &big.c, &h), 0);
	hv_kvp_handler_free(h);
	h = NULL;
	big.later = 1;
	ck_assert_int_eq(hv_kvp_handler_new(fx.store, &big.c, &h), -EINVAL);
	ck_assert_ptr_null(h);
}
END_TEST

static uint32_t run_ip(uint8_t op, const char *adapter, const char *addr, const char *mask)
{
	memset(&fx.req, 0, sizeof(fx.req));
	memset(&fx.reply, 0, sizeof(fx.reply));
	fx.req.operation = op;
	snprintf(fx.req.ip.adapter_id, sizeof(fx.req.ip.adapter_id), "%s", adapter);
	fx.req.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV4;
	snprintf(fx.req.ip.ip_addr, sizeof(fx.req.ip.ip_addr), "%s", addr);
	snprintf(fx.req.ip.sub_net, sizeof(fx.req.ip.sub_net), "%s", mask);
	return hv_kvp_handler_run(fx.handler, &fx.req, &fx.reply);
}

/* IP info with the statuses Linux's daemon uses. */
START_TEST(ip_info)
{
	char path[256];

	/* Not a MAC, and a MAC no interface has. */
	ck_assert_uint_eq(run_ip(HV_KVP_OP_GET_IP_INFO, "not a mac", "", ""), HV_IC_E_FAIL);
	ck_assert_str_eq(fx.reply.ip.ip_addr, "");
	ck_assert_uint_eq(run_ip(HV_KVP_OP_GET_IP_INFO, "02:00:5E:10:FE:99", "", ""), HV_IC_E_FAIL);

	/*
	 * SET_IP_INFO: the adapter is looked up first, as Linux's daemon
	 * does: a malformed GUID, or a bad address for an adapter that does
	 * not exist, is HV_GUID_NOTFOUND.
	 */
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, "no-guid", "10.0.0.2", "255.0.0.0"),
			  HV_IC_GUID_NOTFOUND);
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.300", "255.0.0.0"),
			  HV_IC_GUID_NOTFOUND);
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.2", "255.0.0.0"),
			  HV_IC_GUID_NOTFOUND);

	/* The loopback interface under the test root carries the GUID. */
	snprintf(path, sizeof(path), "%s/sys/class/net/lo/device", fx.root);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/sys/class/net/lo/device/device_id", fx.root);
	write_file(path, GUID "\n");
	snprintf(path, sizeof(path), "%s/sys/class/net/lo/address", fx.root);
	write_file(path, "00:00:00:00:00:00\n");
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.300", "255.0.0.0"),
			  HV_IC_INVALIDARG);
	/* No hook: what Linux answers when its script fails. */
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.2", "255.0.0.0"), HV_IC_E_FAIL);
	handler_open("/bin/false");
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.2", "255.0.0.0"), HV_IC_E_FAIL);
	handler_open("/bin/true");
	ck_assert_uint_eq(run_ip(HV_KVP_OP_SET_IP_INFO, GUID, "10.0.0.2", "255.0.0.0"), HV_IC_S_OK);
	/* SET_IP_INFO echoes the request. */
	ck_assert_str_eq(fx.reply.ip.ip_addr, "10.0.0.2");
	ck_assert_str_eq(fx.reply.ip.adapter_id, GUID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvp-handler");
	TCase *tc = tcase_create("handler");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, every_pool, 0, HV_KVP_POOL_COUNT);
	tcase_add_test(tc, auto_enumerate);
	tcase_add_test(tc, unknown_operation);
	tcase_add_test(tc, pool_out_of_range);
	tcase_add_test(tc, other_programs);
	tcase_add_test(tc, reply_strings_fit);
	tcase_add_test(tc, reply_in_place);
	tcase_add_test(tc, handler_new_errors);
	tcase_add_test(tc, handler_config_sz);
	tcase_add_test(tc, ip_info);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
