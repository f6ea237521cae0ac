/* SPDX-License-Identifier: ISC */
/*
 * The host's side of the KVP codec: requests as the host sends them,
 * byte-exact, and the guest's replies read back strictly and leniently.
 *
 * Expected requests are written here byte by byte at the offsets the
 * protocol fixes (pipe header 0, IC header 8, KVP header 28, body 32;
 * IP-info body 30), never with the code under test. Buffers are allocated
 * at their exact length so that the sanitizer build catches any access
 * past the end.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_msg.h>

#include "kvp-bytes.h"


#define TID 0x5a
static const struct hv_ic_version fw30 = HV_IC_VER(3, 0);
static const struct hv_ic_version msg40 = HV_IC_VER(4, 0);

/* Headers of a request of `len` bytes as the host sends it (fw 3.0, KVP 4.0). */
static void host_headers(uint8_t *p, size_t len, uint8_t op, uint8_t pool)
{
	poke32(p, P_PIPE_FLAGS, 1);
	poke32(p, P_PIPE_SIZE, (uint32_t)len - 8);
	poke16(p, P_FW_MAJOR, 3);
	poke16(p, P_FW_MINOR, 0);
	poke16(p, P_TYPE, 2);
	poke16(p, P_MSG_MAJOR, 4);
	poke16(p, P_MSG_MINOR, 0);
	poke16(p, P_IC_SIZE, (uint16_t)(len - 28));
	poke32(p, P_STATUS, 0);
	p[P_TID] = TID;
	p[P_FLAGS] = 1 | 2;
	p[P_OP] = op;
	p[P_POOL] = pool;
}

/* What a guest does to the headers when it answers. */
static void as_reply(uint8_t *p, uint32_t status)
{
	poke32(p, P_STATUS, status);
	p[P_FLAGS] = 1 | 4;
}

#define ck_assert_buf_eq(a, b, n) do {                                        \
	size_t n_ = (n);                                                      \
	for (size_t i_ = 0; i_ < n_; i_++)                                    \
		if ((a)[i_] != (b)[i_])                                       \
			ck_abort_msg("byte %zu: got 0x%02x, want 0x%02x",     \
				     i_, (a)[i_], (b)[i_]);                    \
} while (0)

static void req_init(struct hv_kvp_request *r, uint8_t op, uint8_t pool)
{
	memset(r, 0, sizeof(*r));
	r->operation = op;
	r->pool = pool;
}

static void req_key(struct hv_kvp_request *r, const char *k)
{
	r->key_len = strlen(k);
	memcpy(r->key, k, r->key_len + 1);
}

static void req_value(struct hv_kvp_request *r, uint32_t type, const char *v)
{
	r->value_type = type;
	r->value_len = strlen(v);
	memcpy(r->value, v, r->value_len + 1);
}

/* Build at exactly the expected length and compare with the golden. */
static void build_check(const struct hv_kvp_request *r, const uint8_t *exp, size_t exp_len)
{
	uint8_t *p = buf_new(exp_len);
	size_t len = 0;

	ck_assert_int_eq(hv_kvp_msg_request_build(p, exp_len, r, fw30, msg40, TID, &len), 0);
	ck_assert_uint_eq(len, exp_len);
	ck_assert_buf_eq(p, exp, exp_len);
	free(p);
}

/* ---- golden requests -------------------------------------------------- */

START_TEST(build_set_string)
{
	static struct hv_kvp_request r;
	/* "キー😀" = "値" */
	static const uint16_t key16[] = { 0x30ad, 0x30fc, 0xd83d, 0xde00 };
	static const uint16_t val16[] = { 0x5024 };
	uint8_t *exp = buf_new(2604);

	req_init(&r, HV_KVP_OP_SET, HV_KVP_POOL_EXTERNAL);
	req_key(&r, "HostName");
	req_value(&r, HV_KVP_REG_SZ, "hv-host.example");
	host_headers(exp, 2604, HV_KVP_OP_SET, 0);
	poke32(exp, V_TYPE, 1);
	poke32(exp, V_KEY_SIZE, (uint32_t)poke_ascii16(exp, V_KEY, "HostName") + 2);
	poke32(exp, V_VALUE_SIZE, (uint32_t)poke_ascii16(exp, V_VALUE, "hv-host.example") + 2);
	/* The reference's offsets, spot-checked. */
	ck_assert_uint_eq(exp[18], 0x10);   /* icmsgsize 2576 = 0x0a10 */
	ck_assert_uint_eq(exp[19], 0x0a);
	ck_assert_uint_eq(exp[36], 18);
	ck_assert_uint_eq(exp[44], 'H');
	ck_assert_uint_eq(exp[556], 'h');
	build_check(&r, exp, 2604);
	free(exp);

	exp = buf_new(2604);
	req_init(&r, HV_KVP_OP_SET, HV_KVP_POOL_GUEST);
	req_key(&r, "\xe3\x82\xad\xe3\x83\xbc\xf0\x9f\x98\x80");
	req_value(&r, HV_KVP_REG_SZ, "\xe5\x80\xa4");
	host_headers(exp, 2604, HV_KVP_OP_SET, 1);
	poke32(exp, V_TYPE, 1);
	poke32(exp, V_KEY_SIZE, (uint32_t)poke_units(exp, V_KEY, key16, 4) + 2);
	poke32(exp, V_VALUE_SIZE, (uint32_t)poke_units(exp, V_VALUE, val16, 1) + 2);
	build_check(&r, exp, 2604);

	/* Empty value: only the NUL, size 2. */
	req_value(&r, HV_KVP_REG_SZ, "");
	memset(exp + V_VALUE, 0, 2048);
	poke32(exp, V_VALUE_SIZE, 2);
	build_check(&r, exp, 2604);
	free(exp);
}
END_TEST

START_TEST(build_set_integers)
{
	static struct hv_kvp_request r;
	uint8_t *exp = buf_new(2604);

	req_init(&r, HV_KVP_OP_SET, HV_KVP_POOL_AUTO_EXTERNAL);
	req_key(&r, "Count");
	req_value(&r, HV_KVP_REG_U32, "4294967295");
	host_headers(exp, 2604, HV_KVP_OP_SET, 3);
	poke32(exp, V_TYPE, 4);
	poke32(exp, V_KEY_SIZE, (uint32_t)poke_ascii16(exp, V_KEY, "Count") + 2);
	poke32(exp, V_VALUE_SIZE, 4);
	poke32(exp, V_VALUE, 0xffffffff);
	build_check(&r, exp, 2604);

	req_value(&r, HV_KVP_REG_U64, "1311768467463790320");   /* 0x123456789abcdef0 */
	poke32(exp, V_TYPE, 8);
	poke32(exp, V_VALUE_SIZE, 8);
	poke64(exp, V_VALUE, 0x123456789abcdef0ull);
	build_check(&r, exp, 2604);

	req_value(&r, HV_KVP_REG_U64, "0018446744073709551615");
	poke64(exp, V_VALUE, UINT64_MAX);
	build_check(&r, exp, 2604);
	free(exp);
}
END_TEST

START_TEST(build_get_delete_enumerate)
{
	static struct hv_kvp_request r;
	uint8_t *exp = buf_new(2604);

	/* GET: the value is the guest's to fill, whatever the struct holds. */
	req_init(&r, HV_KVP_OP_GET, HV_KVP_POOL_GUEST);
	req_key(&r, "Foo");
	req_value(&r, HV_KVP_REG_U32, "not sent");
	host_headers(exp, 2604, HV_KVP_OP_GET, 1);
	poke32(exp, V_TYPE, 1);
	poke32(exp, V_KEY_SIZE, (uint32_t)poke_ascii16(exp, V_KEY, "Foo") + 2);
	build_check(&r, exp, 2604);
	free(exp);

	exp = buf_new(548);
	req_init(&r, HV_KVP_OP_DELETE, HV_KVP_POOL_EXTERNAL);
	req_key(&r, "ignition.config");
	host_headers(exp, 548, HV_KVP_OP_DELETE, 0);
	poke32(exp, D_KEY_SIZE, (uint32_t)poke_ascii16(exp, D_KEY, "ignition.config") + 2);
	ck_assert_uint_eq(exp[32], 32);
	build_check(&r, exp, 548);
	free(exp);

	exp = buf_new(2608);
	req_init(&r, HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO);
	r.index = 0x01020304;
	req_key(&r, "ignored");
	host_headers(exp, 2608, HV_KVP_OP_ENUMERATE, 2);
	poke32(exp, E_INDEX, 0x01020304);
	build_check(&r, exp, 2608);

	/* A pool the guest must refuse goes out as given. */
	r.pool = 200;
	exp[P_POOL] = 200;
	build_check(&r, exp, 2608);
	free(exp);
}
END_TEST

START_TEST(build_ip_info)
{
	static struct hv_kvp_request r;
	uint8_t *exp = buf_new(7456);

	/* GET_IP_INFO names the adapter only; the lists stay zero. */
	req_init(&r, HV_KVP_OP_GET_IP_INFO, 0);
	strcpy(r.ip.adapter_id, "00:15:5D:01:02:03");
	strcpy(r.ip.ip_addr, "not sent");
	host_headers(exp, 7456, HV_KVP_OP_GET_IP_INFO, 0);
	poke_ascii16(exp, I_ADAPTER, "00:15:5D:01:02:03");
	ck_assert_uint_eq(exp[18], 0x04);   /* icmsgsize 7428 = 0x1d04 */
	ck_assert_uint_eq(exp[19], 0x1d);
	build_check(&r, exp, 7456);
	free(exp);

	exp = buf_new(7456);
	req_init(&r, HV_KVP_OP_SET_IP_INFO, 0);
	strcpy(r.ip.adapter_id, "{4B1D8F5A-0000-4C9E-9D5E-0A1B2C3D4E5F}");
	r.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6;
	r.ip.dhcp_enabled = HV_KVP_DHCP_DISABLED;
	strcpy(r.ip.ip_addr, "198.51.100.7;2001:db8::7");
	strcpy(r.ip.sub_net, "255.255.255.0;/64");
	strcpy(r.ip.gate_way, "198.51.100.1");
	strcpy(r.ip.dns_addr, "198.51.100.53;198.51.100.54");
	host_headers(exp, 7456, HV_KVP_OP_SET_IP_INFO, 0);
	poke_ascii16(exp, I_ADAPTER, "{4B1D8F5A-0000-4C9E-9D5E-0A1B2C3D4E5F}");
	exp[I_FAMILY] = 3;
	exp[I_DHCP] = 0;
	poke_ascii16(exp, I_ADDR, "198.51.100.7;2001:db8::7");
	poke_ascii16(exp, I_NET, "255.255.255.0;/64");
	poke_ascii16(exp, I_GW, "198.51.100.1");
	poke_ascii16(exp, I_DNS, "198.51.100.53;198.51.100.54");
	build_check(&r, exp, 7456);

	/* Longest lists: 1023, 1023, 511 and 1023 units, the NUL in the last unit. */
	memset(r.ip.ip_addr, '1', 1023);
	r.ip.ip_addr[1023] = '\0';
	memset(r.ip.gate_way, 'g', 511);
	r.ip.gate_way[511] = '\0';
	for (size_t i = 0; i < 1023; i++)
		poke16(exp, I_ADDR + 2 * i, '1');
	for (size_t i = 0; i < 511; i++)
		poke16(exp, I_GW + 2 * i, 'g');
	build_check(&r, exp, 7456);
	free(exp);
}
END_TEST

START_TEST(build_errors)
{
	static struct hv_kvp_request r;
	static uint8_t buf[HV_KVP_MSG_MAX_SIZE];
	static const uint8_t untouched[16] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
					       0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
	size_t len = 12345;

	memset(buf, 0xaa, sizeof(buf));
	req_init(&r, HV_KVP_OP_SET, HV_KVP_POOL_GUEST);
	req_key(&r, "k");
	req_value(&r, HV_KVP_REG_SZ, "v");
	ck_assert_int_eq(hv_kvp_msg_request_build(NULL, 1, &r, fw30, msg40, 0, &len), -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_request_build(buf, sizeof(buf), NULL, fw30, msg40, 0, &len),
			 -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_request_build(buf, sizeof(buf), &r, fw30, msg40, 0, NULL),
			 -EINVAL);
	/* One byte short of the message. */
	ck_assert_int_eq(hv_kvp_msg_request_build(buf, 2603, &r, fw30, msg40, 0, &len), -ENOBUFS);

#define BUILD_FAILS(want) do {                                                  \
	ck_assert_int_eq(hv_kvp_msg_request_build(buf, sizeof(buf), &r, fw30,   \
						  msg40, 0, &len), (want));     \
} while (0)
	r.operation = HV_KVP_OP_COUNT;
	BUILD_FAILS(-EOPNOTSUPP);
	r.operation = HV_KVP_OP_REGISTER1;
	BUILD_FAILS(-EOPNOTSUPP);
	r.operation = HV_KVP_OP_SET;

	/* Value types and integer text. */
	r.value_type = 11;   /* the registry's REG_QWORD */
	BUILD_FAILS(-EPROTONOSUPPORT);
	req_value(&r, HV_KVP_REG_U32, "4294967296");
	BUILD_FAILS(-ERANGE);
	req_value(&r, HV_KVP_REG_U64, "18446744073709551616");
	BUILD_FAILS(-ERANGE);
	req_value(&r, HV_KVP_REG_U64, "99999999999999999999999");
	BUILD_FAILS(-ERANGE);
	req_value(&r, HV_KVP_REG_U32, "");
	BUILD_FAILS(-EINVAL);
	req_value(&r, HV_KVP_REG_U32, "-1");
	BUILD_FAILS(-EINVAL);
	req_value(&r, HV_KVP_REG_U32, "0x10");
	BUILD_FAILS(-EINVAL);
	req_value(&r, HV_KVP_REG_U32, " 1");
	BUILD_FAILS(-EINVAL);

	/* Strings: length against NUL, UTF-8, room in UTF-16. */
	req_value(&r, HV_KVP_REG_SZ, "v");
	r.key_len = 0;
	BUILD_FAILS(-EINVAL);
	r.key_len = 2;                    /* a NUL inside the length */
	BUILD_FAILS(-EILSEQ);
	r.key_len = sizeof(r.key);
	BUILD_FAILS(-EINVAL);
	req_key(&r, "k\xff");
	BUILD_FAILS(-EILSEQ);
	req_key(&r, "\xed\xa0\x80");     /* an encoded surrogate */
	BUILD_FAILS(-EILSEQ);
	memset(r.key, 'k', 256);         /* 256 units and the NUL: one too many */
	r.key[256] = '\0';
	r.key_len = 256;
	BUILD_FAILS(-ENOBUFS);
	r.key[255] = '\0';
	r.key_len = 255;
	ck_assert_int_eq(hv_kvp_msg_request_build(buf, sizeof(buf), &r, fw30, msg40, 0, &len), 0);
	memset(buf, 0xaa, sizeof(buf));
	len = 12345;
	memset(r.value, 'v', 1024);
	r.value[1024] = '\0';
	r.value_len = 1024;
	BUILD_FAILS(-ENOBUFS);
	r.value_len = 5;
	BUILD_FAILS(-EINVAL);

	r.operation = HV_KVP_OP_DELETE;
	req_key(&r, "a\xc3");
	BUILD_FAILS(-EILSEQ);

	req_init(&r, HV_KVP_OP_GET_IP_INFO, 0);
	memset(r.ip.adapter_id, 'a', sizeof(r.ip.adapter_id));   /* no NUL */
	BUILD_FAILS(-EINVAL);
	memset(r.ip.adapter_id, 'a', 128);                         /* 128 units + NUL */
	r.ip.adapter_id[128] = '\0';
	BUILD_FAILS(-ENOBUFS);
	req_init(&r, HV_KVP_OP_SET_IP_INFO, 0);
	strcpy(r.ip.adapter_id, "{x}");
	memset(r.ip.gate_way, 'g', 512);
	BUILD_FAILS(-ENOBUFS);
	r.ip.gate_way[0] = '\xc0';
	r.ip.gate_way[1] = '\0';
	BUILD_FAILS(-EILSEQ);
#undef BUILD_FAILS

	/* Nothing of it reached the buffer. */
	ck_assert_uint_eq(len, 12345);
	for (size_t i = 0; i < sizeof(buf); i += sizeof(untouched))
		ck_assert_mem_eq(buf + i, untouched, sizeof(untouched));
}
END_TEST

/* ---- round trips: host build, guest decode and reply, host decode ---- */

/*
 * Send `req`, let the guest side decode it and answer with `answer`
 * (NULL: echo), then read the reply back strictly and leniently.
 */
static void round_trip(const struct hv_kvp_request *req, const struct hv_kvp_request *answer,
		       struct hv_kvp_request *got)
{
	static struct hv_kvp_request guest, lenient;
	size_t need, len;
	uint8_t *p;
	uint32_t status = 1, lstatus = 1;

	switch (req->operation) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		need = HV_KVP_MSG_VALUE_SIZE;
		break;
	case HV_KVP_OP_DELETE:
		need = HV_KVP_MSG_DELETE_SIZE;
		break;
	case HV_KVP_OP_ENUMERATE:
		need = HV_KVP_MSG_ENUMERATE_SIZE;
		break;
	default:
		need = HV_KVP_MSG_IP_SIZE;
		break;
	}
	p = buf_new(need);
	ck_assert_int_eq(hv_kvp_msg_request_build(p, need, req, fw30, msg40, TID, &len), 0);
	ck_assert_uint_eq(len, need);

	ck_assert_int_eq(hv_kvp_msg_decode(p, len, &guest), 0);
	ck_assert_uint_eq(guest.operation, req->operation);
	switch (req->operation) {
	case HV_KVP_OP_SET:
		ck_assert_uint_eq(guest.value_type, req->value_type);
		ck_assert_str_eq(guest.value, req->value);
		ck_assert_uint_eq(guest.value_len, req->value_len);
		/* fall through */
	case HV_KVP_OP_GET:
	case HV_KVP_OP_DELETE:
		ck_assert_uint_eq(guest.pool, req->pool);
		ck_assert_str_eq(guest.key, req->key);
		ck_assert_uint_eq(guest.key_len, req->key_len);
		break;
	case HV_KVP_OP_ENUMERATE:
		ck_assert_uint_eq(guest.pool, req->pool);
		ck_assert_uint_eq(guest.index, req->index);
		break;
	case HV_KVP_OP_GET_IP_INFO:
		ck_assert_str_eq(guest.ip.adapter_id, req->ip.adapter_id);
		ck_assert_uint_eq(guest.ip.addr_family, req->ip.addr_family);
		ck_assert_uint_eq(guest.ip.dhcp_enabled, req->ip.dhcp_enabled);
		break;
	case HV_KVP_OP_SET_IP_INFO:
		ck_assert_mem_eq(&guest.ip, &req->ip, sizeof(guest.ip));
		break;
	}
	if (answer) {
		/* The guest's handler fills what it answers into the decoded request. */
		if (req->operation == HV_KVP_OP_ENUMERATE) {
			req_key(&guest, answer->key);
		}
		if (req->operation == HV_KVP_OP_ENUMERATE || req->operation == HV_KVP_OP_GET)
			req_value(&guest, HV_KVP_REG_SZ, answer->value);
		if (req->operation == HV_KVP_OP_GET_IP_INFO) {
			guest.ip = answer->ip;
			strcpy(guest.ip.adapter_id, req->ip.adapter_id);
		}
	}
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, len, HV_IC_S_OK, &guest), 0);

	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, len, req->operation, 0, &status, got), 0);
	ck_assert_uint_eq(status, HV_IC_S_OK);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, len, req->operation, HV_KVP_REPLY_LENIENT,
						 &lstatus, &lenient), 0);
	ck_assert_uint_eq(lstatus, HV_IC_S_OK);
	/* A well-formed reply reads the same both ways. */
	ck_assert_mem_eq(&lenient, got, sizeof(lenient));
	free(p);
}

START_TEST(round_trip_all)
{
	static struct hv_kvp_request req, ans, got;

	/* SET, each value type: the reply echoes the request. */
	req_init(&req, HV_KVP_OP_SET, HV_KVP_POOL_EXTERNAL);
	req_key(&req, "K\xc3\xa9y \xf0\x9f\x98\x80");
	req_value(&req, HV_KVP_REG_SZ, "Gr\xc3\xbc\xc3\x9f" "e \xe6\x97\xa5\xe6\x9c\xac");
	round_trip(&req, NULL, &got);
	ck_assert_uint_eq(got.operation, HV_KVP_OP_SET);
	ck_assert_uint_eq(got.pool, HV_KVP_POOL_EXTERNAL);
	ck_assert_str_eq(got.key, req.key);
	ck_assert_uint_eq(got.key_len, req.key_len);
	ck_assert_uint_eq(got.value_type, HV_KVP_REG_SZ);
	ck_assert_str_eq(got.value, req.value);
	ck_assert_uint_eq(got.value_len, req.value_len);
	req_value(&req, HV_KVP_REG_U32, "4294967295");
	round_trip(&req, NULL, &got);
	ck_assert_uint_eq(got.value_type, HV_KVP_REG_U32);
	ck_assert_str_eq(got.value, "4294967295");
	req_value(&req, HV_KVP_REG_U64, "18446744073709551615");
	round_trip(&req, NULL, &got);
	ck_assert_uint_eq(got.value_type, HV_KVP_REG_U64);
	ck_assert_str_eq(got.value, "18446744073709551615");
	/* Longest: 255 and 1023 units. */
	memset(req.key, 'k', 255);
	req.key[255] = '\0';
	req.key_len = 255;
	memset(req.value, 'v', 1023);
	req.value[1023] = '\0';
	req.value_len = 1023;
	req.value_type = HV_KVP_REG_SZ;
	round_trip(&req, NULL, &got);
	ck_assert_str_eq(got.key, req.key);
	ck_assert_str_eq(got.value, req.value);

	/* GET: the guest's value comes back. */
	req_init(&req, HV_KVP_OP_GET, HV_KVP_POOL_GUEST);
	req_key(&req, "Foo");
	req_init(&ans, HV_KVP_OP_GET, 0);
	req_value(&ans, HV_KVP_REG_SZ, "b\xc3\xa4r\xf0\x9f\x98\x80");
	round_trip(&req, &ans, &got);
	ck_assert_uint_eq(got.pool, HV_KVP_POOL_GUEST);
	ck_assert_str_eq(got.key, "Foo");
	ck_assert_uint_eq(got.value_type, HV_KVP_REG_SZ);
	ck_assert_str_eq(got.value, ans.value);
	ck_assert_uint_eq(got.value_len, 8);

	/* DELETE. */
	req_init(&req, HV_KVP_OP_DELETE, HV_KVP_POOL_AUTO_INTERNAL);
	req_key(&req, "gone");
	round_trip(&req, NULL, &got);
	ck_assert_uint_eq(got.operation, HV_KVP_OP_DELETE);
	ck_assert_uint_eq(got.pool, HV_KVP_POOL_AUTO_INTERNAL);
	ck_assert_str_eq(got.key, "gone");
	ck_assert_uint_eq(got.key_len, 4);

	/* ENUMERATE: key and value from the guest, the index echoed. */
	req_init(&req, HV_KVP_OP_ENUMERATE, HV_KVP_POOL_AUTO);
	req.index = 9;
	req_init(&ans, HV_KVP_OP_ENUMERATE, 0);
	req_key(&ans, "ProcessorArchitecture");
	req_value(&ans, HV_KVP_REG_SZ, "x86_64");
	round_trip(&req, &ans, &got);
	ck_assert_uint_eq(got.pool, HV_KVP_POOL_AUTO);
	ck_assert_uint_eq(got.index, 9);
	ck_assert_str_eq(got.key, "ProcessorArchitecture");
	ck_assert_uint_eq(got.key_len, 21);
	ck_assert_str_eq(got.value, "x86_64");
	ck_assert_uint_eq(got.value_type, HV_KVP_REG_SZ);

	/* GET_IP_INFO: the guest's configuration comes back. */
	req_init(&req, HV_KVP_OP_GET_IP_INFO, 0);
	strcpy(req.ip.adapter_id, "00:15:5D:01:02:03");
	req_init(&ans, HV_KVP_OP_GET_IP_INFO, 0);
	ans.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6;
	ans.ip.dhcp_enabled = HV_KVP_DHCP_ENABLED;
	strcpy(ans.ip.ip_addr, "192.0.2.10;2001:db8::10");
	strcpy(ans.ip.sub_net, "255.255.255.0;/64");
	strcpy(ans.ip.gate_way, "192.0.2.1");
	strcpy(ans.ip.dns_addr, "192.0.2.53");
	round_trip(&req, &ans, &got);
	ck_assert_uint_eq(got.pool, 0);
	ck_assert_str_eq(got.ip.adapter_id, "00:15:5D:01:02:03");
	ck_assert_uint_eq(got.ip.addr_family, 3);
	ck_assert_uint_eq(got.ip.dhcp_enabled, 1);
	ck_assert_str_eq(got.ip.ip_addr, ans.ip.ip_addr);
	ck_assert_str_eq(got.ip.sub_net, ans.ip.sub_net);
	ck_assert_str_eq(got.ip.gate_way, ans.ip.gate_way);
	ck_assert_str_eq(got.ip.dns_addr, ans.ip.dns_addr);

	/* SET_IP_INFO: echoed whole. */
	req_init(&req, HV_KVP_OP_SET_IP_INFO, 0);
	strcpy(req.ip.adapter_id, "{4B1D8F5A-0000-4C9E-9D5E-0A1B2C3D4E5F}");
	req.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV6;
	strcpy(req.ip.ip_addr, "2001:db8::7");
	strcpy(req.ip.sub_net, "/64");
	strcpy(req.ip.gate_way, "");
	strcpy(req.ip.dns_addr, "2001:db8::53");
	round_trip(&req, NULL, &got);
	ck_assert_mem_eq(&got.ip, &req.ip, sizeof(got.ip));
}
END_TEST

/* ---- replies the host must refuse ------------------------------------- */

/* A valid ENUMERATE reply: key "Key", value "Value". */
static uint8_t *mk_enum_reply(void)
{
	uint8_t *p = buf_new(2608);

	host_headers(p, 2608, HV_KVP_OP_ENUMERATE, HV_KVP_POOL_GUEST);
	as_reply(p, HV_IC_S_OK);
	poke32(p, E_INDEX, 2);
	poke32(p, E_TYPE, 1);
	poke32(p, E_KEY_SIZE, (uint32_t)poke_ascii16(p, E_KEY, "Key") + 2);
	poke32(p, E_VALUE_SIZE, (uint32_t)poke_ascii16(p, E_VALUE, "Value") + 2);
	return p;
}

static void strict_fails(const uint8_t *p, size_t len, uint8_t op, int want)
{
	static struct hv_kvp_request res, zero;
	uint32_t status;

	memset(&res, 0x55, sizeof(res));
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, len, op, 0, &status, &res), want);
	if (want == 0)
		return;
	/* Zeroed on error, padding included. */
	ck_assert(memcmp(&res, &zero, sizeof(res)) == 0);
}

START_TEST(reply_strict)
{
	static struct hv_kvp_request res;
	uint8_t *p = mk_enum_reply(), *q;
	uint32_t status = 1;

	/* The golden itself is fine. */
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, 0, &status, &res), 0);
	ck_assert_uint_eq(status, HV_IC_S_OK);
	ck_assert_uint_eq(res.index, 2);
	ck_assert_str_eq(res.key, "Key");
	ck_assert_str_eq(res.value, "Value");

	/* Arguments. */
	ck_assert_int_eq(hv_kvp_msg_reply_decode(NULL, 2608, HV_KVP_OP_ENUMERATE, 0, &status, &res),
			 -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, 0, NULL, &res),
			 -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, 0, &status, NULL),
			 -EINVAL);
	strict_fails(p, 2608, HV_KVP_OP_COUNT, -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, 2, &status, &res),
			 -EINVAL);

	/*
	 * Lengths: every cut short of the body is refused, at exact size,
	 * whether icmsgsize gives it away or not.
	 */
	for (size_t len = 0; len < 2608; len += (len < 64 ? 1 : 97)) {
		q = buf_dup(p, len);
		strict_fails(q, len, HV_KVP_OP_ENUMERATE, -EBADMSG);
		if (len >= 30) {
			poke16(q, P_IC_SIZE, (uint16_t)(len - 28));
			strict_fails(q, len, HV_KVP_OP_ENUMERATE, -EBADMSG);
		}
		free(q);
	}
	/* Another operation than asked, and the operations' own sizes. */
	strict_fails(p, 2608, HV_KVP_OP_GET, -EBADMSG);
	strict_fails(p, 2608, HV_KVP_OP_GET_IP_INFO, -EBADMSG);

#define MUTATE(stmt, want) do {                                                 \
	q = buf_dup(p, 2608);                                                   \
	stmt;                                                                   \
	strict_fails(q, 2608, HV_KVP_OP_ENUMERATE, (want));                        \
	free(q);                                                                \
} while (0)
	MUTATE(poke16(q, P_TYPE, 1), -ENOMSG);
	MUTATE(q[P_FLAGS] = 1 | 2, -EBADMSG);                 /* still a request */
	MUTATE(poke16(q, P_IC_SIZE, 2608 - 28 + 1), -EBADMSG);
	/* OpenBSD's placement: the status over operation and pool. */
	MUTATE(poke32(q, P_OP, HV_IC_E_FAIL); poke32(q, P_STATUS, 0), -EBADMSG);
	MUTATE(q[P_POOL] = 5, -ERANGE);
	MUTATE(poke32(q, E_KEY_SIZE, 514), -EOVERFLOW);
	MUTATE(poke32(q, E_VALUE_SIZE, 0xffffffff), -EOVERFLOW);
	MUTATE(poke32(q, E_KEY_SIZE, 7), -EPROTO);
	MUTATE(poke16(q, E_KEY + 2, 0xd800), -EDOM);          /* unpaired high */
	MUTATE(poke16(q, E_VALUE, 0xdc00), -EDOM);            /* lone low */
	MUTATE(poke32(q, E_KEY_SIZE, 4), -EMSGSIZE);          /* cut inside the key */
	MUTATE(poke32(q, E_KEY_SIZE, 10); poke16(q, E_KEY + 8, 'x'), -EMSGSIZE);
	MUTATE(poke32(q, E_KEY_SIZE, 10), 0);                  /* zero units after it */
	MUTATE(poke32(q, E_TYPE, 11), -EPROTONOSUPPORT);
	/* A value whose UTF-8 is longer than the struct's field. */
	MUTATE(for (size_t i = 0; i < 1023; i++) poke16(q, E_VALUE + 2 * i, 0x20ac);
	       poke32(q, E_VALUE_SIZE, 2048), -ENOBUFS);
#undef MUTATE
	free(p);

	/* IP info: every string must end inside its array. */
	p = buf_new(7456);
	host_headers(p, 7456, HV_KVP_OP_GET_IP_INFO, 0);
	as_reply(p, HV_IC_S_OK);
	poke_ascii16(p, I_ADAPTER, "00:15:5D:01:02:03");
	for (size_t i = 0; i < 512; i++)
		poke16(p, I_GW + 2 * i, 'g');
	strict_fails(p, 7456, HV_KVP_OP_GET_IP_INFO, -EMSGSIZE);
	poke16(p, I_GW + 2 * 511, 0);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 7456, HV_KVP_OP_GET_IP_INFO, 0, &status, &res),
			 0);
	ck_assert_uint_eq(strlen(res.ip.gate_way), 511);
	poke16(p, I_DNS, 0xdbff);
	strict_fails(p, 7456, HV_KVP_OP_GET_IP_INFO, -EDOM);
	free(p);
}
END_TEST

START_TEST(reply_error_status)
{
	static struct hv_kvp_request res;
	uint8_t *p = mk_enum_reply();
	uint32_t status = 0;

	/* An error: the body is the request echoed; nothing of it is read. */
	poke32(p, P_STATUS, HV_IC_S_CONT);
	poke32(p, E_KEY_SIZE, 0xffffffff);
	p[P_POOL] = 200;
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, 0, &status, &res), 0);
	ck_assert_uint_eq(status, HV_IC_S_CONT);
	ck_assert_uint_eq(res.operation, HV_KVP_OP_ENUMERATE);
	ck_assert_uint_eq(res.pool, 0);
	ck_assert_str_eq(res.key, "");
	/* Only the headers are needed for it, icmsgsize saying so. */
	poke16(p, P_IC_SIZE, 2);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 30, HV_KVP_OP_ENUMERATE, 0, &status, &res), 0);
	ck_assert_uint_eq(status, HV_IC_S_CONT);
	strict_fails(p, 29, HV_KVP_OP_ENUMERATE, -EBADMSG);
	/* The status is known as soon as the IC header is. */
	status = 0;
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 28, HV_KVP_OP_ENUMERATE, 0, &status, &res),
			 -EBADMSG);
	ck_assert_uint_eq(status, HV_IC_S_CONT);
	status = 0;
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 27, HV_KVP_OP_ENUMERATE, 0, &status, &res),
			 -EBADMSG);
	ck_assert_uint_eq(status, 0);
	/* Checks of the headers still hold. */
	p[P_FLAGS] = 1;
	strict_fails(p, 2608, HV_KVP_OP_ENUMERATE, -EBADMSG);
	free(p);
}
END_TEST

/* ---- lenient: show what a broken guest sent ------------------------------ */

static void lenient_ok(const uint8_t *p, size_t len, uint8_t op, struct hv_kvp_request *res)
{
	uint32_t status;

	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, len, op, HV_KVP_REPLY_LENIENT, &status, res),
			 0);
}

START_TEST(reply_lenient)
{
	static struct hv_kvp_request res;
	/* a, lone high, b, lone low, high+low (U+1F600), high at the end of the size */
	static const uint16_t broken[] = { 'a', 0xd800, 'b', 0xdc00, 0xd83d, 0xde00, 0xdbff };
	uint8_t *p = mk_enum_reply();
	uint32_t status = 0;
	size_t n;

	n = poke_units(p, E_KEY, broken, 7);
	poke32(p, E_KEY_SIZE, (uint32_t)n);
	strict_fails(p, 2608, HV_KVP_OP_ENUMERATE, -EDOM);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.key, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xf0\x9f\x98\x80\xef\xbf\xbd");
	ck_assert_uint_eq(res.key_len, strlen(res.key));
	ck_assert_str_eq(res.value, "Value");
	ck_assert_uint_eq(res.index, 2);

	/* High surrogate then NUL: U+FFFD, and the NUL ends the string. */
	poke16(p, E_KEY + 2, 0);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.key, "a");
	poke16(p, E_KEY + 2, 0xd800);
	poke16(p, E_KEY + 4, 0);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.key, "a\xef\xbf\xbd");

	/* Sizes: odd (last byte dropped), past the field (cut to it). */
	memset(p + E_KEY, 0, 512);
	poke_ascii16(p, E_KEY, "Key");
	poke32(p, E_KEY_SIZE, 5);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.key, "Ke");
	for (size_t i = 0; i < 256; i++)
		poke16(p, E_KEY + 2 * i, 'k');
	poke32(p, E_KEY_SIZE, 0xffffffff);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_uint_eq(res.key_len, 256);   /* no NUL: the whole field */
	ck_assert_uint_eq(res.key[255], 'k');

	/* A key too long for the struct in UTF-8: cut at a whole character. */
	for (size_t i = 0; i < 256; i++)
		poke16(p, E_KEY + 2 * i, 0x20ac);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_uint_eq(res.key_len, 3 * 170);
	ck_assert_uint_eq((uint8_t)res.key[res.key_len - 1], 0xac);
	ck_assert_uint_eq(res.key[res.key_len], '\0');
	/* Two bytes left after 170 of them: an é would leave no room for the NUL. */
	poke16(p, E_KEY + 2 * 170, 0xe9);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_uint_eq(res.key_len, 3 * 170);
	ck_assert_uint_eq(strlen(res.key), 3 * 170);
	poke16(p, E_KEY + 2 * 170, 'x');
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_uint_eq(res.key_len, 3 * 170 + 1);
	ck_assert_uint_eq(res.key[510], 'x');

	/* Integers need a value_size that covers them; otherwise UTF-16. */
	poke32(p, E_TYPE, HV_KVP_REG_U32);
	poke32(p, E_VALUE_SIZE, 4);
	poke32(p, E_VALUE, 0x00410042);     /* "BA" as UTF-16, 4259906 as a number */
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.value, "4259906");
	ck_assert_uint_eq(res.value_type, HV_KVP_REG_U32);
	poke32(p, E_VALUE_SIZE, 2);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.value, "B");
	poke32(p, E_TYPE, HV_KVP_REG_U64);
	poke32(p, E_VALUE_SIZE, 8);
	poke64(p, E_VALUE, 0xffffffffffffffffull);
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.value, "18446744073709551615");
	poke32(p, E_TYPE, 11);
	poke64(p, E_VALUE, 0);
	poke_ascii16(p, E_VALUE, "qw");
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_str_eq(res.value, "qw");
	ck_assert_uint_eq(res.value_type, 11);

	/* Headers are not held against the guest; the body must be there. */
	p[P_FLAGS] = 0;
	poke32(p, P_OP, 0x80070103);   /* OpenBSD's status over operation and pool */
	lenient_ok(p, 2608, HV_KVP_OP_ENUMERATE, &res);
	ck_assert_uint_eq(res.operation, HV_KVP_OP_ENUMERATE);
	ck_assert_uint_eq(res.pool, 0x01);
	ck_assert_str_eq(res.value, "qw");
	poke32(p, P_STATUS, HV_IC_E_FAIL);
	memset(&res, 0x55, sizeof(res));
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2607, HV_KVP_OP_ENUMERATE, HV_KVP_REPLY_LENIENT,
						 &status, &res), -EBADMSG);
	ck_assert_uint_eq(status, HV_IC_E_FAIL);
	ck_assert_uint_eq(res.index, 0);
	ck_assert_uint_eq(res.key[0], 0);
	poke16(p, P_TYPE, 0);
	ck_assert_int_eq(hv_kvp_msg_reply_decode(p, 2608, HV_KVP_OP_ENUMERATE, HV_KVP_REPLY_LENIENT,
						 &status, &res), -ENOMSG);
	free(p);

	/* IP info: whatever the status, every field, unterminated ones whole. */
	p = buf_new(7456);
	host_headers(p, 7456, HV_KVP_OP_SET_IP_INFO, 0);
	as_reply(p, HV_IC_GUID_NOTFOUND);
	for (size_t i = 0; i < 128; i++)
		poke16(p, I_ADAPTER + 2 * i, 'a');
	p[I_FAMILY] = 0xff;
	p[I_DHCP] = 7;
	poke16(p, I_ADDR, 0xdfff);
	poke_ascii16(p, I_NET, "/64");
	poke_ascii16(p, I_DNS, "192.0.2.53");
	lenient_ok(p, 7456, HV_KVP_OP_SET_IP_INFO, &res);
	ck_assert_uint_eq(strlen(res.ip.adapter_id), 128);
	ck_assert_uint_eq(res.ip.addr_family, 0xff);
	ck_assert_uint_eq(res.ip.dhcp_enabled, 7);
	ck_assert_str_eq(res.ip.ip_addr, "\xef\xbf\xbd");
	ck_assert_str_eq(res.ip.sub_net, "/64");
	ck_assert_str_eq(res.ip.gate_way, "");
	ck_assert_str_eq(res.ip.dns_addr, "192.0.2.53");
	free(p);
}
END_TEST

/*
 * Every single-byte change of valid replies, at exact length: strict
 * decoding either succeeds or fails cleanly, lenient decoding always
 * succeeds, and neither reads past the end (the sanitizer build checks).
 */
START_TEST(reply_mutated)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xd8, 0xdc, 0xff };
	static const size_t sizes[] = { 2604, 548, 2608, 7456 };
	static const uint8_t ops[] = { HV_KVP_OP_GET, HV_KVP_OP_DELETE, HV_KVP_OP_ENUMERATE,
				       HV_KVP_OP_GET_IP_INFO };
	static struct hv_kvp_request res;
	unsigned int strict_ok = 0, strict_bad = 0;

	for (size_t k = 0; k < 4; k++) {
		uint8_t *p = buf_new(sizes[k]);
		uint32_t status;

		host_headers(p, sizes[k], ops[k], HV_KVP_POOL_GUEST);
		as_reply(p, HV_IC_S_OK);
		switch (ops[k]) {
		case HV_KVP_OP_GET:
			poke32(p, V_TYPE, 1);
			poke32(p, V_KEY_SIZE, (uint32_t)poke_ascii16(p, V_KEY, "Key") + 2);
			poke32(p, V_VALUE_SIZE, (uint32_t)poke_ascii16(p, V_VALUE, "Val") + 2);
			break;
		case HV_KVP_OP_DELETE:
			poke32(p, D_KEY_SIZE, (uint32_t)poke_ascii16(p, D_KEY, "Key") + 2);
			break;
		case HV_KVP_OP_ENUMERATE:
			poke32(p, E_TYPE, 1);
			poke32(p, E_KEY_SIZE, (uint32_t)poke_ascii16(p, E_KEY, "Key") + 2);
			poke32(p, E_VALUE_SIZE, (uint32_t)poke_ascii16(p, E_VALUE, "Val") + 2);
			break;
		default:
			p[P_POOL] = 0;
			poke_ascii16(p, I_ADAPTER, "AA:BB");
			poke_ascii16(p, I_ADDR, "192.0.2.1");
			break;
		}
		/* The headers and the start of every field, where it matters. */
		for (size_t off = 0; off < sizes[k]; off++) {
			if (off >= 64 && (off < 544 || off > 576) && off % 61)
				continue;
			for (size_t v = 0; v < sizeof(values); v++) {
				uint8_t old = p[off];
				int r;

				p[off] = values[v];
				r = hv_kvp_msg_reply_decode(p, sizes[k], ops[k], 0, &status, &res);
				if (r == 0)
					strict_ok++;
				else
					strict_bad++;
				ck_assert_int_le(r, 0);
				r = hv_kvp_msg_reply_decode(p, sizes[k], ops[k], HV_KVP_REPLY_LENIENT,
							    &status, &res);
				/* Only the IC type can stop it here. */
				ck_assert(r == 0 || (r == -ENOMSG && (off == P_TYPE || off == P_TYPE + 1)));
				ck_assert_uint_lt(strlen(res.key), sizeof(res.key));
				ck_assert_uint_lt(strlen(res.value), sizeof(res.value));
				p[off] = old;
			}
		}
		free(p);
	}
	/* Both outcomes happened: the mutations reached the checks. */
	ck_assert_uint_gt(strict_ok, 100);
	ck_assert_uint_gt(strict_bad, 100);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvp-codec-host");
	TCase *tc = tcase_create("build");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, build_set_string);
	tcase_add_test(tc, build_set_integers);
	tcase_add_test(tc, build_get_delete_enumerate);
	tcase_add_test(tc, build_ip_info);
	tcase_add_test(tc, build_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("reply");
	tcase_add_test(tc, round_trip_all);
	tcase_add_test(tc, reply_strict);
	tcase_add_test(tc, reply_error_status);
	tcase_add_test(tc, reply_lenient);
	tcase_add_test(tc, reply_mutated);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
