/* SPDX-License-Identifier: ISC */
/*
 * The KVP wire codec against byte-exact messages.
 *
 * Every expected buffer is written here byte by byte at the offsets the
 * protocol fixes (payload offsets: pipe header 0, IC header 8, KVP header
 * 28, body 32; IP-info body 30; kernel message body 4), never with the
 * code under test. Buffers are allocated at their exact length so that
 * the sanitizer build catches any read past the end.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>
#include <hvuio/kvp_msg.h>

#include "kvp-bytes.h"

static const uint8_t flags_response = 1 | 4;

static void poke_str(uint8_t *p, size_t off, const char *s)
{
	memcpy(p + off, s, strlen(s));
}

/* Pipe and IC headers of a KVP request of `len` bytes. */
static void ic_request(uint8_t *p, size_t len, uint8_t op, uint8_t pool)
{
	poke32(p, P_PIPE_FLAGS, 1);
	poke32(p, P_PIPE_SIZE, (uint32_t)len - 8);
	poke16(p, P_FW_MAJOR, 3);
	poke16(p, P_FW_MINOR, 0);
	poke16(p, P_TYPE, 2);          /* HV_IC_MSGTYPE_KVPEXCHANGE */
	poke16(p, P_MSG_MAJOR, 4);
	poke16(p, P_MSG_MINOR, 0);
	poke16(p, P_IC_SIZE, (uint16_t)(len - 28));
	poke32(p, P_STATUS, 0);
	poke8(p, P_TID, 0x5a);
	poke8(p, P_FLAGS, 1 | 2);      /* TRANSACTION | REQUEST */
	poke8(p, P_OP, op);
	poke8(p, P_POOL, pool);
}

static void expect_response(uint8_t *exp, uint32_t status)
{
	poke32(exp, P_STATUS, status);
	poke8(exp, P_FLAGS, flags_response);
}

#define ck_assert_buf_eq(a, b, n) do {                                        \
	size_t n_ = (n);                                                      \
	for (size_t i_ = 0; i_ < n_; i_++)                                    \
		if ((a)[i_] != (b)[i_])                                       \
			ck_abort_msg("byte %zu: got 0x%02x, want 0x%02x",     \
				     i_, (a)[i_], (b)[i_]);                    \
} while (0)

/* ---- golden VMBus requests ----------------------------------------- */

static uint8_t *mk_vm_set(uint8_t pool, const char *key, const char *value)
{
	uint8_t *p = buf_new(2604);
	size_t n;

	ic_request(p, 2604, HV_KVP_OP_SET, pool);
	poke32(p, V_TYPE, 1);
	n = poke_ascii16(p, V_KEY, key);
	poke32(p, V_KEY_SIZE, (uint32_t)n + 2);
	n = poke_ascii16(p, V_VALUE, value);
	poke32(p, V_VALUE_SIZE, (uint32_t)n + 2);
	return p;
}

static uint8_t *mk_vm_get(uint8_t pool, const char *key)
{
	uint8_t *p = buf_new(2604);
	size_t n;

	ic_request(p, 2604, HV_KVP_OP_GET, pool);
	n = poke_ascii16(p, V_KEY, key);
	poke32(p, V_KEY_SIZE, (uint32_t)n + 2);
	return p;
}

static uint8_t *mk_vm_delete(uint8_t pool, const char *key)
{
	uint8_t *p = buf_new(548);
	size_t n;

	ic_request(p, 548, HV_KVP_OP_DELETE, pool);
	n = poke_ascii16(p, D_KEY, key);
	poke32(p, D_KEY_SIZE, (uint32_t)n + 2);
	return p;
}

static uint8_t *mk_vm_enumerate(uint8_t pool, uint32_t index)
{
	uint8_t *p = buf_new(2608);

	ic_request(p, 2608, HV_KVP_OP_ENUMERATE, pool);
	poke32(p, E_INDEX, index);
	return p;
}

static uint8_t *mk_vm_ip(uint8_t op, const char *adapter)
{
	uint8_t *p = buf_new(7456);

	ic_request(p, 7456, op, 0);
	poke_ascii16(p, I_ADAPTER, adapter);
	return p;
}

/* ---- UTF-16 / UTF-8 ----------------------------------------------- */

START_TEST(utf16_known)
{
	/* 日本語 */
	static const uint8_t cjk16[] = { 0xe5, 0x65, 0x2c, 0x67, 0x9e, 0x8a, 0, 0 };
	static const char cjk8[] = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	/* 😀 U+1F600, then U+10FFFF */
	static const uint8_t emo16[] = { 0x3d, 0xd8, 0x00, 0xde, 0xff, 0xdb, 0xff, 0xdf, 0, 0 };
	static const char emo8[] = "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
	/* U+0080, U+07FF, U+0800, U+FFFD, U+FFFF */
	static const uint8_t edge16[] = { 0x80, 0, 0xff, 0x07, 0x00, 0x08, 0xfd, 0xff, 0xff, 0xff, 0, 0 };
	static const char edge8[] = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xef\xbf\xbf";
	char out8[64];
	uint8_t out16[64];
	size_t len;

	ck_assert_int_eq(hv_kvp_utf16_to_utf8(cjk16, sizeof(cjk16), out8, sizeof(out8), &len), 0);
	ck_assert_uint_eq(len, 9);
	ck_assert_str_eq(out8, cjk8);
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(cjk8, 9, out16, sizeof(out16), &len), 0);
	ck_assert_uint_eq(len, sizeof(cjk16));
	ck_assert_buf_eq(out16, cjk16, sizeof(cjk16));

	ck_assert_int_eq(hv_kvp_utf16_to_utf8(emo16, sizeof(emo16), out8, sizeof(out8), &len), 0);
	ck_assert_uint_eq(len, 8);
	ck_assert_str_eq(out8, emo8);
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(emo8, 8, out16, sizeof(out16), &len), 0);
	ck_assert_uint_eq(len, sizeof(emo16));
	ck_assert_buf_eq(out16, emo16, sizeof(emo16));

	ck_assert_int_eq(hv_kvp_utf16_to_utf8(edge16, sizeof(edge16), out8, sizeof(out8), &len), 0);
	ck_assert_str_eq(out8, edge8);
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(edge8, strlen(edge8), out16, sizeof(out16), &len), 0);
	ck_assert_uint_eq(len, sizeof(edge16));
	ck_assert_buf_eq(out16, edge16, sizeof(edge16));

	/* Conversion stops at the first NUL unit. */
	{
		static const uint8_t s[] = { 'a', 0, 'b', 0, 0, 0, 'c', 0 };

		ck_assert_int_eq(hv_kvp_utf16_to_utf8(s, sizeof(s), out8, sizeof(out8), &len), 0);
		ck_assert_str_eq(out8, "ab");
		ck_assert_uint_eq(len, 2);
		/* No NUL at all: the whole input. */
		ck_assert_int_eq(hv_kvp_utf16_to_utf8(s, 4, out8, sizeof(out8), &len), 0);
		ck_assert_str_eq(out8, "ab");
	}
	/* Empty */
	ck_assert_int_eq(hv_kvp_utf8_to_utf16("", 0, out16, 2, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(out16[0] | out16[1], 0);
}
END_TEST

START_TEST(utf16_invalid)
{
	static const struct { uint8_t b[8]; size_t n; } bad16[] = {
		{ { 0x3d, 0xd8 }, 2 },                      /* high at end */
		{ { 0x3d, 0xd8, 'a', 0 }, 4 },              /* high + ASCII */
		{ { 0x3d, 0xd8, 0x3d, 0xd8 }, 4 },          /* high + high */
		{ { 0x00, 0xde, 'a', 0 }, 4 },              /* lone low */
		{ { 0x00, 0xde, 0x3d, 0xd8 }, 4 },          /* low, high */
		{ { 'a', 0, 0xff, 0xdf }, 4 },              /* low after BMP */
		{ { 0x3d, 0xd8, 0, 0 }, 4 },                /* high + NUL */
	};
	static const char *bad8[] = {
		"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
		"\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",                 /* overlong */
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xb0\x80",         /* surrogates */
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf",
		"\xf8\x88\x80\x80\x80", "\xff", "\xfe",                 /* > U+10FFFF */
		"\xe6\x97", "\xf0\x9f\x98", "\xc3", "a\xe6",            /* truncated */
		"\x80", "a\xbf", "\xe6\x41\x41", "\xc3\xc3\xa4",        /* continuation */
	};
	char out8[32];
	uint8_t out16[32];
	size_t len = 12345;

	for (size_t i = 0; i < sizeof(bad16) / sizeof(bad16[0]); i++) {
		memset(out8, 'x', sizeof(out8));
		ck_assert_msg(hv_kvp_utf16_to_utf8(bad16[i].b, bad16[i].n, out8,
						   sizeof(out8), &len) == -EDOM, "bad16 %zu", i);
		ck_assert_str_eq(out8, "");
	}
	ck_assert_int_eq(hv_kvp_utf16_to_utf8("a\0b", 3, out8, sizeof(out8), &len), -EPROTO);
	ck_assert_uint_eq(len, 12345);

	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		memset(out16, 0xaa, sizeof(out16));
		ck_assert_msg(hv_kvp_utf8_to_utf16(bad8[i], strlen(bad8[i]), out16,
						   sizeof(out16), &len) == -EILSEQ, "bad8 %zu", i);
		ck_assert_msg(hv_kvp_utf8_check(bad8[i], strlen(bad8[i])) == -EILSEQ, "check %zu", i);
		for (size_t k = 0; k < sizeof(out16); k++)
			ck_assert_uint_eq(out16[k], 0xaa);
	}
	/* A NUL inside the given length cannot be carried by a NUL-terminated field. */
	ck_assert_int_eq(hv_kvp_utf8_to_utf16("a\0b", 3, out16, sizeof(out16), &len), -EILSEQ);
	ck_assert_int_eq(hv_kvp_utf8_check("a\0b", 3), -EILSEQ);
	ck_assert_int_eq(hv_kvp_utf8_check("\xf4\x8f\xbf\xbf", 4), 0);
	ck_assert_uint_eq(len, 12345);

	ck_assert_int_eq(hv_kvp_utf16_to_utf8(NULL, 0, out8, 1, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_utf16_to_utf8(out16, 0, out8, 0, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(NULL, 0, out16, 2, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_utf8_check(NULL, 0), -EINVAL);
}
END_TEST

START_TEST(utf16_fit)
{
	/* "ab😀" is 4 UTF-16 units and 6 UTF-8 bytes. */
	static const uint8_t s16[] = { 'a', 0, 'b', 0, 0x3d, 0xd8, 0x00, 0xde };
	static const char s8[] = "ab\xf0\x9f\x98\x80";
	uint8_t out16[10];
	char out8[7];
	size_t len;

	ck_assert_int_eq(hv_kvp_utf16_to_utf8(s16, 8, out8, 7, &len), 0);
	ck_assert_str_eq(out8, s8);
	ck_assert_int_eq(hv_kvp_utf16_to_utf8(s16, 8, out8, 6, &len), -ENOBUFS);
	ck_assert_str_eq(out8, "");
	ck_assert_int_eq(hv_kvp_utf16_to_utf8(s16, 8, out8, 1, &len), -ENOBUFS);

	memset(out16, 0xaa, sizeof(out16));
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(s8, 6, out16, 9, &len), -ENOBUFS);
	for (size_t k = 0; k < sizeof(out16); k++)
		ck_assert_uint_eq(out16[k], 0xaa);
	ck_assert_int_eq(hv_kvp_utf8_to_utf16(s8, 6, out16, 10, &len), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_buf_eq(out16, s16, 8);
	ck_assert_uint_eq(out16[8] | out16[9], 0);

	/* A key field: 255 units and the NUL fill its 512 bytes, 256 do not. */
	{
		char key[257];
		uint8_t field[512];

		memset(key, 'k', sizeof(key));
		ck_assert_int_eq(hv_kvp_utf8_to_utf16(key, 255, field, sizeof(field), &len), 0);
		ck_assert_uint_eq(len, 512);
		ck_assert_int_eq(hv_kvp_utf8_to_utf16(key, 256, field, sizeof(field), &len), -ENOBUFS);
	}
}
END_TEST

static size_t enc_utf8(uint32_t cp, char *d)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every scalar value, in batches of 64, both ways. */
START_TEST(utf16_all_code_points)
{
	uint8_t u16[64 * 4 + 2], back[64 * 4 + 2];
	char u8[64 * 4 + 1], out8[64 * 4 + 1];
	uint32_t cp = 1;

	while (cp <= 0x10ffff) {
		size_t n16 = 0, n8 = 0, len, size;

		for (int k = 0; k < 64 && cp <= 0x10ffff; cp++) {
			if (cp >= 0xd800 && cp <= 0xdfff)
				continue;
			if (cp >= 0x10000) {
				uint32_t v = cp - 0x10000;

				poke16(u16, n16, (uint16_t)(0xd800 | v >> 10));
				poke16(u16, n16 + 2, (uint16_t)(0xdc00 | (v & 0x3ff)));
				n16 += 4;
			} else {
				poke16(u16, n16, (uint16_t)cp);
				n16 += 2;
			}
			n8 += enc_utf8(cp, u8 + n8);
			k++;
		}
		u8[n8] = '\0';
		ck_assert_int_eq(hv_kvp_utf16_to_utf8(u16, n16, out8, sizeof(out8), &len), 0);
		ck_assert_uint_eq(len, n8);
		ck_assert_mem_eq(out8, u8, n8 + 1);
		ck_assert_int_eq(hv_kvp_utf8_to_utf16(u8, n8, back, sizeof(back), &size), 0);
		ck_assert_uint_eq(size, n16 + 2);
		ck_assert_mem_eq(back, u16, n16);
	}
}
END_TEST

/* ---- VMBus layout: decode and reply per operation --------------------- */

START_TEST(vm_sizes)
{
	ck_assert_int_eq(HV_KVP_MSG_VALUE_SIZE, 2604);
	ck_assert_int_eq(HV_KVP_MSG_ENUMERATE_SIZE, 2608);
	ck_assert_int_eq(HV_KVP_MSG_DELETE_SIZE, 548);
	ck_assert_int_eq(HV_KVP_MSG_IP_SIZE, 7456);
	ck_assert_int_eq(HV_KVP_KMSG_SIZE, 7432);
	ck_assert_int_eq(HV_KVP_OP_SET_IP_INFO, 5);
	ck_assert_int_eq(HV_KVP_OP_REGISTER1, 100);
	ck_assert_int_eq(HV_KVP_POOL_COUNT, 5);
	ck_assert_int_eq(HV_KVP_REG_U64, 8);
}
END_TEST

START_TEST(vm_set)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_set(HV_KVP_POOL_EXTERNAL, "HostName", "hv-host.example");
	uint8_t *exp = buf_dup(p, 2604);

	/* Spot-check the golden against the reference's offsets. */
	ck_assert_uint_eq(p[44], 'H');
	ck_assert_uint_eq(p[36], 18);
	ck_assert_uint_eq(p[556], 'h');
	ck_assert_uint_eq(p[40], 32);

	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_SET);
	ck_assert_uint_eq(req.pool, HV_KVP_POOL_EXTERNAL);
	ck_assert_uint_eq(req.value_type, HV_KVP_REG_SZ);
	ck_assert_str_eq(req.key, "HostName");
	ck_assert_uint_eq(req.key_len, 8);
	ck_assert_str_eq(req.value, "hv-host.example");
	ck_assert_uint_eq(req.value_len, 15);

	/* SET echoes the body. */
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_S_OK, &req), 0);
	expect_response(exp, HV_IC_S_OK);
	ck_assert_buf_eq(p, exp, 2604);
	free(p);
	free(exp);

	/* Refused: same bytes with the status. */
	p = mk_vm_set(HV_KVP_POOL_AUTO_EXTERNAL, "VirtualMachineName", "vm1");
	exp = buf_dup(p, 2604);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_S_CONT, NULL), 0);
	expect_response(exp, 0x80070103);
	ck_assert_buf_eq(p, exp, 2604);
	ck_assert_uint_eq(p[20], 0x03);
	ck_assert_uint_eq(p[23], 0x80);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_set_integers)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_set(HV_KVP_POOL_AUTO_EXTERNAL, "HostingSystemOsMajor", "");

	poke32(p, V_TYPE, 4);
	poke32(p, V_VALUE_SIZE, 4);
	poke32(p, V_VALUE, 4294967295u);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.value_type, HV_KVP_REG_U32);
	ck_assert_str_eq(req.value, "4294967295");
	ck_assert_uint_eq(req.value_len, 10);

	poke32(p, V_TYPE, 8);
	poke32(p, V_VALUE_SIZE, 8);
	poke64(p, V_VALUE, 18446744073709551615ull);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.value_type, HV_KVP_REG_U64);
	ck_assert_str_eq(req.value, "18446744073709551615");

	poke64(p, V_VALUE, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.value, "0");

	/* The registry's QWORD (11), as openvmm sends 64-bit values: as HV_KVP_REG_U64. */
	poke32(p, V_TYPE, HV_KVP_REG_QWORD);
	poke64(p, V_VALUE, 1234567890123ull);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.value_type, HV_KVP_REG_QWORD);
	ck_assert_str_eq(req.value, "1234567890123");
	/* REG_EXPAND_SZ (2): a string, stored as it came ("%PATH%" not expanded). */
	poke32(p, V_TYPE, HV_KVP_REG_EXPAND_SZ);
	poke32(p, V_VALUE_SIZE, (uint32_t)poke_ascii16(p, V_VALUE, "%PATH%") + 2);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.value, "%PATH%");
	/* REG_MULTI_SZ (7), REG_BINARY (3): refused. */
	poke32(p, V_TYPE, 7);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EPROTONOSUPPORT);
	poke32(p, V_TYPE, 3);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EPROTONOSUPPORT);
	ck_assert_str_eq(req.key, "");
	free(p);
}
END_TEST

START_TEST(vm_get)
{
	static struct hv_kvp_request req;
	/* "bär😀" */
	static const uint16_t val16[] = { 'b', 0xe4, 'r', 0xd83d, 0xde00 };
	uint8_t *p = mk_vm_get(HV_KVP_POOL_GUEST, "Foo");
	uint8_t *exp = buf_dup(p, 2604);

	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_GET);
	ck_assert_uint_eq(req.pool, HV_KVP_POOL_GUEST);
	ck_assert_str_eq(req.key, "Foo");
	ck_assert_str_eq(req.value, "");

	strcpy(req.value, "b\xc3\xa4r\xf0\x9f\x98\x80");
	req.value_len = strlen(req.value);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_S_OK, &req), 0);
	expect_response(exp, HV_IC_S_OK);
	poke32(exp, V_TYPE, 1);
	poke32(exp, V_VALUE_SIZE, 12);
	poke_units(exp, V_VALUE, val16, 5);
	ck_assert_buf_eq(p, exp, 2604);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_delete)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_delete(HV_KVP_POOL_EXTERNAL, "ignition.config");
	uint8_t *exp = buf_dup(p, 548);

	ck_assert_uint_eq(p[32], 32);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 548, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_DELETE);
	ck_assert_str_eq(req.key, "ignition.config");
	ck_assert_uint_eq(req.key_len, 15);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 548, HV_IC_S_OK, &req), 0);
	expect_response(exp, HV_IC_S_OK);
	ck_assert_buf_eq(p, exp, 548);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_enumerate)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_enumerate(HV_KVP_POOL_AUTO, 7);
	uint8_t *exp;
	size_t n;

	/* Stale bytes in the fields the guest fills must not survive. */
	memset(p + E_VALUE, 0xee, 2048);
	memset(p + E_KEY, 0xdd, 512);
	exp = buf_dup(p, 2608);

	ck_assert_int_eq(hv_kvp_msg_decode(p, 2608, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_ENUMERATE);
	ck_assert_uint_eq(req.pool, HV_KVP_POOL_AUTO);
	ck_assert_uint_eq(req.index, 7);

	strcpy(req.key, "FullyQualifiedDomainName");
	req.key_len = 24;
	strcpy(req.value, "host.example.com");
	req.value_len = 16;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), 0);

	expect_response(exp, HV_IC_S_OK);
	memset(exp + E_KEY, 0, 512);
	memset(exp + E_VALUE, 0, 2048);
	poke32(exp, E_TYPE, 1);
	n = poke_ascii16(exp, E_KEY, "FullyQualifiedDomainName");
	poke32(exp, E_KEY_SIZE, (uint32_t)n + 2);
	n = poke_ascii16(exp, E_VALUE, "host.example.com");
	poke32(exp, E_VALUE_SIZE, (uint32_t)n + 2);
	ck_assert_buf_eq(p, exp, 2608);
	ck_assert_uint_eq(p[40], 50);
	ck_assert_uint_eq(p[44], 34);
	ck_assert_uint_eq(p[28], HV_KVP_OP_ENUMERATE);
	ck_assert_uint_eq(p[29], HV_KVP_POOL_AUTO);
	ck_assert_uint_eq(p[32], 7);
	free(p);
	free(exp);

	/* End of the pool: the request goes back unchanged. */
	p = mk_vm_enumerate(HV_KVP_POOL_GUEST, 3);
	exp = buf_dup(p, 2608);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_CONT, NULL), 0);
	expect_response(exp, 0x80070103);
	ck_assert_buf_eq(p, exp, 2608);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_get_ip_info)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_ip(HV_KVP_OP_GET_IP_INFO, "00:15:5D:01:02:03");
	uint8_t *exp = buf_dup(p, 7456);

	ck_assert_uint_eq(p[30], '0');
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_GET_IP_INFO);
	ck_assert_str_eq(req.ip.adapter_id, "00:15:5D:01:02:03");
	ck_assert_str_eq(req.ip.ip_addr, "");

	req.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6;
	req.ip.dhcp_enabled = HV_KVP_DHCP_ENABLED;
	strcpy(req.ip.ip_addr, "192.0.2.10;2001:db8::10");
	strcpy(req.ip.sub_net, "255.255.255.0;/64");
	strcpy(req.ip.gate_way, "192.0.2.1");
	strcpy(req.ip.dns_addr, "192.0.2.53");
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, HV_IC_S_OK, &req), 0);

	expect_response(exp, HV_IC_S_OK);
	poke8(exp, I_FAMILY, 3);
	poke8(exp, I_DHCP, 1);
	poke_ascii16(exp, I_ADDR, "192.0.2.10;2001:db8::10");
	poke_ascii16(exp, I_NET, "255.255.255.0;/64");
	poke_ascii16(exp, I_GW, "192.0.2.1");
	poke_ascii16(exp, I_DNS, "192.0.2.53");
	ck_assert_buf_eq(p, exp, 7456);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_set_ip_info)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_ip(HV_KVP_OP_SET_IP_INFO, "{4B1D8F5A-0000-4C9E-9D5E-0A1B2C3D4E5F}");
	uint8_t *exp;

	poke8(p, P_POOL, 200);   /* IP-info messages have no pool */
	poke8(p, I_FAMILY, HV_KVP_ADDR_FAMILY_IPV4);
	poke8(p, I_DHCP, 0);
	poke_ascii16(p, I_ADDR, "198.51.100.7");
	poke_ascii16(p, I_NET, "255.255.255.0");
	poke_ascii16(p, I_GW, "198.51.100.1");
	poke_ascii16(p, I_DNS, "198.51.100.53;198.51.100.54");
	exp = buf_dup(p, 7456);

	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_SET_IP_INFO);
	ck_assert_uint_eq(req.pool, 0);
	ck_assert_str_eq(req.ip.adapter_id, "{4B1D8F5A-0000-4C9E-9D5E-0A1B2C3D4E5F}");
	ck_assert_uint_eq(req.ip.addr_family, HV_KVP_ADDR_FAMILY_IPV4);
	ck_assert_uint_eq(req.ip.dhcp_enabled, 0);
	ck_assert_str_eq(req.ip.ip_addr, "198.51.100.7");
	ck_assert_str_eq(req.ip.sub_net, "255.255.255.0");
	ck_assert_str_eq(req.ip.gate_way, "198.51.100.1");
	ck_assert_str_eq(req.ip.dns_addr, "198.51.100.53;198.51.100.54");

	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, HV_IC_S_OK, &req), 0);
	expect_response(exp, HV_IC_S_OK);
	ck_assert_buf_eq(p, exp, 7456);

	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, 0x80041002, NULL), 0);
	expect_response(exp, 0x80041002);
	ck_assert_buf_eq(p, exp, 7456);
	free(p);
	free(exp);
}
END_TEST

START_TEST(vm_unicode_key)
{
	static struct hv_kvp_request req;
	/* "キー😀" as key, "值" as value */
	static const uint16_t key16[] = { 0x30ad, 0x30fc, 0xd83d, 0xde00 };
	static const uint16_t val16[] = { 0x503c };
	uint8_t *p = buf_new(2604);

	ic_request(p, 2604, HV_KVP_OP_SET, HV_KVP_POOL_GUEST);
	poke32(p, V_TYPE, 1);
	poke32(p, V_KEY_SIZE, (uint32_t)poke_units(p, V_KEY, key16, 4) + 2);
	poke32(p, V_VALUE_SIZE, (uint32_t)poke_units(p, V_VALUE, val16, 1) + 2);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.key, "\xe3\x82\xad\xe3\x83\xbc\xf0\x9f\x98\x80");
	ck_assert_uint_eq(req.key_len, 10);
	ck_assert_str_eq(req.value, "\xe5\x80\xbc");
	free(p);
}
END_TEST

/* Sizes and terminators: what is accepted and what is refused. */
START_TEST(vm_sizes_and_nul)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_get(HV_KVP_POOL_GUEST, "abc");

	/* Size without the NUL, NUL right after it: the same key. */
	poke32(p, V_KEY_SIZE, 6);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.key, "abc");
	/* Size without the NUL, more text after it: refused, not cut. */
	poke_ascii16(p, V_KEY, "abcd");
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EMSGSIZE);
	/* Zero padding after the NUL inside the size is fine. */
	memset(p + V_KEY, 0, 512);
	poke_ascii16(p, V_KEY, "ab");
	poke32(p, V_KEY_SIZE, 10);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.key, "ab");
	ck_assert_uint_eq(req.key_len, 2);
	/* Text after the NUL inside the size is not. */
	poke_ascii16(p, V_KEY + 6, "x");
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EMSGSIZE);
	/* Size 0 with a NUL first: the empty key. */
	poke32(p, V_KEY_SIZE, 0);
	memset(p + V_KEY, 0, 512);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.key, "");
	/* A full field with no NUL anywhere. */
	for (int i = 0; i < 256; i++)
		poke16(p, V_KEY + 2 * i, 'k');
	poke32(p, V_KEY_SIZE, 512);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EMSGSIZE);
	/* 255 units and the NUL: the longest key. */
	poke16(p, V_KEY + 510, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.key_len, 255);
	/* ... with the size leaving the NUL out. */
	poke32(p, V_KEY_SIZE, 510);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.key_len, 255);
	/* Sizes past the array, odd sizes. */
	poke32(p, V_KEY_SIZE, 514);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EOVERFLOW);
	poke32(p, V_KEY_SIZE, 513);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EOVERFLOW);
	poke32(p, V_KEY_SIZE, 0xffffffffu);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EOVERFLOW);
	poke32(p, V_KEY_SIZE, 7);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EPROTO);
	free(p);

	/* The same rules for the value of a SET. */
	p = mk_vm_set(HV_KVP_POOL_EXTERNAL, "k", "value");
	poke32(p, V_VALUE_SIZE, 2050);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EOVERFLOW);
	poke32(p, V_VALUE_SIZE, 11);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EPROTO);
	poke32(p, V_VALUE_SIZE, 8);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EMSGSIZE);
	poke32(p, V_VALUE_SIZE, 10);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_str_eq(req.value, "value");
	for (int i = 0; i < 1024; i++)
		poke16(p, V_VALUE + 2 * i, 'v');
	poke32(p, V_VALUE_SIZE, 2048);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EMSGSIZE);
	/* 1023 units: the value fills the pool file's 2048-byte field. */
	poke16(p, V_VALUE + 2046, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.value_len, 1023);
	/* The delete body's key_size follows the same rule. */
	free(p);
	p = mk_vm_delete(HV_KVP_POOL_EXTERNAL, "key");
	poke32(p, D_KEY_SIZE, 600);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 548, &req), -EOVERFLOW);
	poke32(p, D_KEY_SIZE, 3);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 548, &req), -EPROTO);
	poke32(p, D_KEY_SIZE, 4);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 548, &req), -EMSGSIZE);
	free(p);
}
END_TEST

START_TEST(vm_malformed)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_get(HV_KVP_POOL_GUEST, "abc");

	ck_assert_int_eq(hv_kvp_msg_decode(NULL, 2604, &req), -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, NULL), -EINVAL);

	/* Not a KVP message. */
	poke16(p, P_TYPE, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -ENOMSG);
	poke16(p, P_TYPE, 1);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -ENOMSG);
	poke16(p, P_TYPE, 2);

	/* Unknown operations, REGISTER1 included (not a host operation). */
	for (int op = 6; op < 256; op++) {
		poke8(p, P_OP, (uint8_t)op);
		ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EOPNOTSUPP);
	}
	poke8(p, P_OP, HV_KVP_OP_GET);

	/* Pools 0..4 only. */
	for (int pool = 0; pool < 256; pool++) {
		poke8(p, P_POOL, (uint8_t)pool);
		ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), pool <= 4 ? 0 : -ERANGE);
	}
	poke8(p, P_POOL, 1);

	/* Unpaired surrogates in a key. */
	poke16(p, V_KEY + 2, 0xd800);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EDOM);
	poke16(p, V_KEY + 2, 0xdc00);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EDOM);
	/* High surrogate as the last unit before the NUL. */
	poke16(p, V_KEY + 2, 'b');
	poke16(p, V_KEY + 4, 0xdbff);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -EDOM);
	ck_assert_str_eq(req.key, "");
	ck_assert_uint_eq(req.operation, 0);

	/* 254 CJK units: legal UTF-16 but 762 bytes of UTF-8. */
	for (int i = 0; i < 254; i++)
		poke16(p, V_KEY + 2 * i, 0x65e5);
	poke16(p, V_KEY + 508, 0);
	poke32(p, V_KEY_SIZE, 510);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), -ENOBUFS);
	/* 170 of them are 510 bytes and fit. */
	poke16(p, V_KEY + 340, 0);
	poke32(p, V_KEY_SIZE, 342);
	memset(p + V_KEY + 342, 0, 512 - 342);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 2604, &req), 0);
	ck_assert_uint_eq(req.key_len, 510);
	free(p);

	/* IP-info strings must end inside their arrays. */
	p = mk_vm_ip(HV_KVP_OP_GET_IP_INFO, "");
	for (int i = 0; i < 128; i++)
		poke16(p, I_ADAPTER + 2 * i, 'A');
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), -EMSGSIZE);
	poke16(p, I_ADAPTER + 254, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), 0);
	ck_assert_uint_eq(strlen(req.ip.adapter_id), 127);
	poke16(p, I_ADAPTER, 0xdead);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), -EDOM);
	free(p);

	p = mk_vm_ip(HV_KVP_OP_SET_IP_INFO, "{x}");
	for (int i = 0; i < 512; i++)
		poke16(p, I_GW + 2 * i, '1');
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), -EMSGSIZE);
	poke16(p, I_GW + 1022, 0);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), 0);
	ck_assert_uint_eq(strlen(req.ip.gate_way), 511);
	for (int i = 0; i < 1024; i++)
		poke16(p, I_DNS + 2 * i, '2');
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), -EMSGSIZE);
	poke16(p, I_DNS + 2046, 0);
	poke16(p, I_ADDR, 0xd800);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), -EDOM);
	free(p);
}
END_TEST

START_TEST(vm_reply_errors)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_vm_enumerate(HV_KVP_POOL_GUEST, 0);
	uint8_t *exp = buf_dup(p, 2608);

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(hv_kvp_msg_reply_set(NULL, 2608, HV_IC_S_OK, &req), -EINVAL);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, NULL), -EINVAL);

	/* 256 ASCII characters fit the UTF-8 field but not the UTF-16 one. */
	memset(req.key, 'k', 256);
	req.key_len = 256;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 2608);
	req.key_len = 255;
	req.key[255] = '\0';
	/* A 1024-unit value does not fit either. */
	memset(req.value, 'v', 1024);
	req.value_len = 1024;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 2608);
	/* Invalid UTF-8 in the result. */
	strcpy(req.value, "\xed\xa0\x80");
	req.value_len = 3;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), -EILSEQ);
	ck_assert_buf_eq(p, exp, 2608);
	/* A length that disagrees with the string. */
	req.value_len = 2;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), -EINVAL);
	ck_assert_buf_eq(p, exp, 2608);
	/* 255 + 1023 units: the largest answer. */
	memset(req.value, 'v', 1023);
	req.value[1023] = '\0';
	req.value_len = 1023;
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2608, HV_IC_S_OK, &req), 0);
	ck_assert_uint_eq(p[E_KEY_SIZE] | p[E_KEY_SIZE + 1] << 8, 512);
	ck_assert_uint_eq(p[E_VALUE_SIZE] | p[E_VALUE_SIZE + 1] << 8, 2048);
	ck_assert_uint_eq(p[E_KEY + 508], 'k');
	ck_assert_uint_eq(p[E_KEY + 510] | p[E_KEY + 511], 0);
	ck_assert_uint_eq(p[E_VALUE + 2046] | p[E_VALUE + 2047], 0);
	free(p);
	free(exp);

	/* Not KVP, unknown operation. */
	p = mk_vm_get(0, "a");
	poke16(p, P_TYPE, 3);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_S_OK, &req), -ENOMSG);
	poke16(p, P_TYPE, 2);
	poke8(p, P_OP, 9);
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_S_OK, &req), -EOPNOTSUPP);
	/* ... which still gets a failure reply. */
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 2604, HV_IC_E_FAIL, NULL), 0);
	ck_assert_uint_eq(p[P_STATUS + 3], 0x80);
	ck_assert_uint_eq(p[P_FLAGS], flags_response);
	free(p);

	/* GET_IP_INFO answers that do not fit their UTF-16 fields. */
	p = mk_vm_ip(HV_KVP_OP_GET_IP_INFO, "00:15:5D:00:00:01");
	exp = buf_dup(p, 7456);
	ck_assert_int_eq(hv_kvp_msg_decode(p, 7456, &req), 0);
	memset(req.ip.gate_way, '9', 512);
	req.ip.gate_way[512] = '\0';
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 7456);
	req.ip.gate_way[511] = '\0';
	memset(req.ip.dns_addr, 'd', sizeof(req.ip.dns_addr));   /* unterminated */
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, HV_IC_S_OK, &req), -EINVAL);
	ck_assert_buf_eq(p, exp, 7456);
	req.ip.dns_addr[0] = '\0';
	strcpy(req.ip.adapter_id, "\xc3");
	ck_assert_int_eq(hv_kvp_msg_reply_set(p, 7456, HV_IC_S_OK, &req), -EILSEQ);
	ck_assert_buf_eq(p, exp, 7456);
	free(p);
	free(exp);
}
END_TEST

/* ---- truncation and mutation --------------------------------------- */

struct golden {
	uint8_t *buf;
	size_t len;
};

static void vm_goldens(struct golden *g)
{
	g[0] = (struct golden){ mk_vm_set(HV_KVP_POOL_EXTERNAL, "HostName", "host"), 2604 };
	g[1] = (struct golden){ mk_vm_get(HV_KVP_POOL_GUEST, "Foo"), 2604 };
	g[2] = (struct golden){ mk_vm_delete(HV_KVP_POOL_EXTERNAL, "k"), 548 };
	g[3] = (struct golden){ mk_vm_enumerate(HV_KVP_POOL_AUTO, 1), 2608 };
	g[4] = (struct golden){ mk_vm_ip(HV_KVP_OP_GET_IP_INFO, "00:15:5D:00:00:01"), 7456 };
	g[5] = (struct golden){ mk_vm_ip(HV_KVP_OP_SET_IP_INFO, "{guid}"), 7456 };
}

START_TEST(vm_truncated)
{
	static struct hv_kvp_request req;
	struct golden g[6];

	vm_goldens(g);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(hv_kvp_msg_decode(g[i].buf, g[i].len, &req), 0);
		for (size_t len = 0; len < g[i].len; len++) {
			uint8_t *p = buf_dup(g[i].buf, len);

			ck_assert_msg(hv_kvp_msg_decode(p, len, &req) == -EBADMSG,
				      "golden %d len %zu", i, len);
			ck_assert_int_eq(hv_kvp_msg_reply_set(p, len, HV_IC_S_OK, &req), -EBADMSG);
			ck_assert_int_eq(hv_kvp_msg_reply_set(p, len, HV_IC_E_FAIL, NULL),
					 len < 28 ? -EBADMSG : 0);
			if (len >= 28) {
				ck_assert_uint_eq(p[P_FLAGS], flags_response);
				ck_assert_mem_eq(p + 28, g[i].buf + 28, len - 28);
			}
			free(p);
		}
		free(g[i].buf);
	}
}
END_TEST

static int vm_errno_ok(int r)
{
	return r == 0 || r == -EBADMSG || r == -ENOMSG || r == -EOPNOTSUPP ||
	       r == -ERANGE || r == -EOVERFLOW || r == -EPROTO || r == -EDOM ||
	       r == -EMSGSIZE || r == -ENOBUFS || r == -EPROTONOSUPPORT;
}

START_TEST(vm_mutated)
{
	static struct hv_kvp_request req;
	struct golden g[6];
	uint32_t seed = 12345;

	vm_goldens(g);
	for (int i = 0; i < 6; i++) {
		for (int iter = 0; iter < 3000; iter++) {
			uint8_t *p = buf_dup(g[i].buf, g[i].len);
			int r;

			for (int k = 0; k < 4; k++) {
				size_t off;

				seed = seed * 1103515245u + 12345u;
				/* Mostly headers and size fields, sometimes anywhere. */
				off = (seed >> 8) % (k < 2 ? 48u : (uint32_t)g[i].len);
				seed = seed * 1103515245u + 12345u;
				p[off] = (uint8_t)(seed >> 16);
			}
			r = hv_kvp_msg_decode(p, g[i].len, &req);
			ck_assert_msg(vm_errno_ok(r), "golden %d: %d", i, r);
			if (r == 0) {
				ck_assert_uint_lt(req.pool, HV_KVP_POOL_COUNT);
				ck_assert_uint_eq(strlen(req.key), req.key_len);
				ck_assert_uint_eq(strlen(req.value), req.value_len);
				ck_assert_int_eq(hv_kvp_utf8_check(req.key, req.key_len), 0);
				ck_assert_int_eq(hv_kvp_utf8_check(req.value, req.value_len), 0);
				r = hv_kvp_msg_reply_set(p, g[i].len, HV_IC_S_OK, &req);
				ck_assert_msg(r == 0 || r == -ENOBUFS, "reply %d", r);
			}
			free(p);
		}
		free(g[i].buf);
	}
}
END_TEST

/* ---- Linux kernel <-> daemon layout ------------------------------------ */

static uint8_t *mk_k_new(uint8_t op, uint8_t pool)
{
	uint8_t *p = buf_new(7432);

	poke8(p, K_OP, op);
	poke8(p, K_POOL, pool);
	return p;
}

static uint8_t *mk_k_set(uint8_t pool, const char *key, const char *value)
{
	uint8_t *p = mk_k_new(HV_KVP_OP_SET, pool);

	poke_str(p, K_KEY, key);
	poke32(p, K_KEY_SIZE, (uint32_t)strlen(key) + 1);
	poke_str(p, K_VALUE, value);
	poke32(p, K_VALUE_SIZE, (uint32_t)strlen(value) + 1);
	return p;
}

static uint8_t *mk_k_get(uint8_t pool, const char *key)
{
	uint8_t *p = mk_k_new(HV_KVP_OP_GET, pool);

	poke_str(p, K_KEY, key);
	poke32(p, K_KEY_SIZE, (uint32_t)strlen(key) + 1);
	return p;
}

static uint8_t *mk_k_delete(uint8_t pool, const char *key)
{
	uint8_t *p = mk_k_new(HV_KVP_OP_DELETE, pool);

	poke_str(p, K_D_KEY, key);
	poke32(p, K_D_KEY_SIZE, (uint32_t)strlen(key) + 1);
	return p;
}

static uint8_t *mk_k_enumerate(uint8_t pool, uint32_t index)
{
	uint8_t *p = mk_k_new(HV_KVP_OP_ENUMERATE, pool);

	poke32(p, K_E_INDEX, index);
	return p;
}

static uint8_t *mk_k_ip(uint8_t op, const char *adapter)
{
	uint8_t *p = mk_k_new(op, 0);

	poke_str(p, K_I_ADAPTER, adapter);
	return p;
}

static uint8_t *mk_k_register(const char *version)
{
	uint8_t *p = mk_k_new(HV_KVP_OP_REGISTER1, 0);

	poke_str(p, K_VERSION, version);
	return p;
}

START_TEST(k_register_handshake)
{
	static struct hv_kvp_request req;
	uint8_t *p = buf_new(7432);
	uint8_t *exp = buf_new(7432);

	memset(p, 0xcc, 7432);
	ck_assert_int_eq(hv_kvp_kmsg_register_build(p, 7432), 0);
	poke8(exp, 0, 100);
	ck_assert_buf_eq(p, exp, 7432);
	ck_assert_int_eq(hv_kvp_kmsg_register_build(p, 7429), -ENOBUFS);
	ck_assert_int_eq(hv_kvp_kmsg_register_build(NULL, 7432), -EINVAL);
	free(p);
	free(exp);

	/* The kernel's answer carries its version. */
	p = mk_k_register("3.1");
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_REGISTER1);
	ck_assert_str_eq(req.value, "3.1");
	ck_assert_uint_eq(req.value_len, 3);
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), -EOPNOTSUPP);
	memset(p + K_VERSION, '3', 512);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	free(p);
}
END_TEST

START_TEST(k_set_get_delete)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_k_set(HV_KVP_POOL_AUTO_EXTERNAL, "HostName", "h\xc3\xb6st");
	uint8_t *exp = buf_dup(p, 7432);

	ck_assert_uint_eq(p[8], 9);
	ck_assert_uint_eq(p[16], 'H');
	ck_assert_uint_eq(p[528], 'h');
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_SET);
	ck_assert_uint_eq(req.pool, HV_KVP_POOL_AUTO_EXTERNAL);
	ck_assert_str_eq(req.key, "HostName");
	ck_assert_uint_eq(req.key_len, 8);
	ck_assert_str_eq(req.value, "h\xc3\xb6st");
	ck_assert_uint_eq(req.value_len, 5);
	/* Success: error 0 over operation and pool, the body echoed. */
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), 0);
	poke32(exp, 0, 0);
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);

	p = mk_k_get(HV_KVP_POOL_GUEST, "Foo");
	exp = buf_dup(p, 7432);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_GET);
	ck_assert_str_eq(req.key, "Foo");
	strcpy(req.value, "b\xc3\xa4r");
	req.value_len = 4;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), 0);
	/*
	 * Linux's kernel reads a GET's answer from the ENUMERATE layout's
	 * value field (kvp_respond_to_host), and nothing else of it.
	 */
	poke32(exp, 0, 0);
	poke_str(exp, K_E_VALUE, "b\xc3\xa4r");
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);

	/* Not found: HV_IC_S_CONT in the first four bytes, nothing else. */
	p = mk_k_delete(HV_KVP_POOL_EXTERNAL, "ignition.config");
	exp = buf_dup(p, 7432);
	ck_assert_uint_eq(p[4], 16);
	ck_assert_uint_eq(p[8], 'i');
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_DELETE);
	ck_assert_str_eq(req.key, "ignition.config");
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_CONT, NULL), 0);
	poke8(exp, 0, 0x03);
	poke8(exp, 1, 0x01);
	poke8(exp, 2, 0x07);
	poke8(exp, 3, 0x80);
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);
}
END_TEST

START_TEST(k_enumerate)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_k_enumerate(HV_KVP_POOL_AUTO, 4);
	uint8_t *exp;

	memset(p + K_E_VALUE, 0xee, 2048);
	exp = buf_dup(p, 7432);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_ENUMERATE);
	ck_assert_uint_eq(req.pool, HV_KVP_POOL_AUTO);
	ck_assert_uint_eq(req.index, 4);
	strcpy(req.key, "OSBuildNumber");
	req.key_len = 13;
	strcpy(req.value, "6.1.0-18-amd64");
	req.value_len = 14;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), 0);
	poke32(exp, 0, 0);
	poke32(exp, K_E_TYPE, 1);
	poke32(exp, K_E_KEY_SIZE, 14);
	poke_str(exp, K_E_KEY, "OSBuildNumber");
	poke32(exp, K_E_VALUE_SIZE, 15);
	memset(exp + K_E_VALUE, 0, 2048);
	poke_str(exp, K_E_VALUE, "6.1.0-18-amd64");
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);

	/* Linux converts at most 254 key units and 1022 value units back. */
	p = mk_k_enumerate(HV_KVP_POOL_GUEST, 0);
	exp = buf_dup(p, 7432);
	memset(req.key, 'k', 255);
	req.key[255] = '\0';
	req.key_len = 255;
	strcpy(req.value, "v");
	req.value_len = 1;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 7432);
	req.key[254] = '\0';
	req.key_len = 254;
	memset(req.value, 'v', 1023);
	req.value[1023] = '\0';
	req.value_len = 1023;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 7432);
	req.value[1022] = '\0';
	req.value_len = 1022;
	strcpy(req.key, "\xf0\x9f\x98");
	req.key_len = 3;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), -EILSEQ);
	ck_assert_buf_eq(p, exp, 7432);
	/* 127 emoji: 508 bytes of UTF-8, 254 units. */
	for (int i = 0; i < 127; i++)
		memcpy(req.key + 4 * i, "\xf0\x9f\x98\x80", 4);
	req.key[508] = '\0';
	req.key_len = 508;
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), 0);
	ck_assert_uint_eq(p[K_E_KEY_SIZE] | p[K_E_KEY_SIZE + 1] << 8, 509);
	ck_assert_uint_eq(p[K_E_VALUE_SIZE] | p[K_E_VALUE_SIZE + 1] << 8, 1023);
	free(p);
	free(exp);
}
END_TEST

START_TEST(k_ip_info)
{
	static struct hv_kvp_request req;
	uint8_t *p = mk_k_ip(HV_KVP_OP_GET_IP_INFO, "00:15:5D:01:02:03");
	uint8_t *exp = buf_dup(p, 7432);

	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_GET_IP_INFO);
	ck_assert_str_eq(req.ip.adapter_id, "00:15:5D:01:02:03");
	req.ip.addr_family = HV_KVP_ADDR_FAMILY_IPV6;
	req.ip.dhcp_enabled = 1;
	strcpy(req.ip.ip_addr, "2001:db8::5");
	strcpy(req.ip.sub_net, "/64");
	strcpy(req.ip.gate_way, "fe80::1");
	strcpy(req.ip.dns_addr, "2001:db8::53");
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), 0);
	poke32(exp, 0, 0);
	poke8(exp, K_I_FAMILY, 2);
	poke8(exp, K_I_DHCP, 1);
	poke_str(exp, K_I_ADDR, "2001:db8::5");
	poke_str(exp, K_I_NET, "/64");
	poke_str(exp, K_I_GW, "fe80::1");
	poke_str(exp, K_I_DNS, "2001:db8::53");
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);

	p = mk_k_ip(HV_KVP_OP_SET_IP_INFO, "{guid}");
	poke8(p, K_I_FAMILY, 1);
	poke_str(p, K_I_ADDR, "203.0.113.9");
	poke_str(p, K_I_NET, "255.255.255.0");
	poke_str(p, K_I_GW, "203.0.113.1");
	poke_str(p, K_I_DNS, "203.0.113.53");
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.operation, HV_KVP_OP_SET_IP_INFO);
	ck_assert_str_eq(req.ip.adapter_id, "{guid}");
	ck_assert_str_eq(req.ip.ip_addr, "203.0.113.9");
	ck_assert_str_eq(req.ip.sub_net, "255.255.255.0");
	ck_assert_str_eq(req.ip.gate_way, "203.0.113.1");
	ck_assert_str_eq(req.ip.dns_addr, "203.0.113.53");
	ck_assert_uint_eq(req.ip.addr_family, 1);
	memset(p + K_I_GW, 'g', 1024);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	poke8(p, K_I_GW + 1023, 0);
	poke8(p, K_I_DNS, 0xc0);
	poke8(p, K_I_DNS + 1, 0xaf);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EILSEQ);
	free(p);

	/* The reply's gateway must fit 511 UTF-16 units. */
	p = mk_k_ip(HV_KVP_OP_GET_IP_INFO, "m");
	exp = buf_dup(p, 7432);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	memset(req.ip.gate_way, '1', 512);
	req.ip.gate_way[512] = '\0';
	ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, 7432, HV_IC_S_OK, &req), -ENOBUFS);
	ck_assert_buf_eq(p, exp, 7432);
	free(p);
	free(exp);
}
END_TEST

START_TEST(k_malformed)
{
	static struct hv_kvp_request req;
	static const char *bad8[] = {
		"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe6\x97", "\x80", "\xff",
	};
	uint8_t *p = mk_k_get(HV_KVP_POOL_GUEST, "key");

	ck_assert_int_eq(hv_kvp_kmsg_decode(NULL, 7432, &req), -EINVAL);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, NULL), -EINVAL);
	for (int op = 0; op < 256; op++) {
		int r;

		poke8(p, K_OP, (uint8_t)op);
		r = hv_kvp_kmsg_decode(p, 7432, &req);
		if (op < 6 || op == 100)
			ck_assert_int_ne(r, -EOPNOTSUPP);
		else
			ck_assert_int_eq(r, -EOPNOTSUPP);
	}
	poke8(p, K_OP, HV_KVP_OP_GET);
	for (int pool = 0; pool < 256; pool++) {
		poke8(p, K_POOL, (uint8_t)pool);
		ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), pool < 5 ? 0 : -ERANGE);
	}
	poke8(p, K_POOL, 0);

	poke32(p, K_KEY_SIZE, 513);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EOVERFLOW);
	poke32(p, K_KEY_SIZE, 0);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	/* Size past the NUL, size short of it. */
	poke32(p, K_KEY_SIZE, 5);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	poke32(p, K_KEY_SIZE, 3);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	poke32(p, K_KEY_SIZE, 4);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	/* A full 512-byte key with no NUL. */
	memset(p + K_KEY, 'k', 512);
	poke32(p, K_KEY_SIZE, 512);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	poke8(p, K_KEY + 511, 0);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	ck_assert_uint_eq(req.key_len, 511);
	memset(p + K_KEY, 0, 512);

	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		poke_str(p, K_KEY, bad8[i]);
		poke32(p, K_KEY_SIZE, (uint32_t)strlen(bad8[i]) + 1);
		ck_assert_msg(hv_kvp_kmsg_decode(p, 7432, &req) == -EILSEQ, "bad8 %zu", i);
		memset(p + K_KEY, 0, 512);
	}
	free(p);

	/* A SET value: size 0 (Linux's answer to an unknown type) is refused. */
	p = mk_k_set(HV_KVP_POOL_EXTERNAL, "k", "v");
	poke32(p, K_VALUE_SIZE, 0);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	poke32(p, K_VALUE_SIZE, 2049);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EOVERFLOW);
	poke32(p, K_VALUE_SIZE, 2);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), 0);
	poke_str(p, K_VALUE, "\xef\xbf");
	poke32(p, K_VALUE_SIZE, 3);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EILSEQ);
	free(p);

	p = mk_k_delete(0, "d");
	poke32(p, K_D_KEY_SIZE, 1000);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EOVERFLOW);
	free(p);

	p = mk_k_ip(HV_KVP_OP_GET_IP_INFO, "");
	memset(p + K_I_ADAPTER, 'A', 256);
	ck_assert_int_eq(hv_kvp_kmsg_decode(p, 7432, &req), -EMSGSIZE);
	free(p);
}
END_TEST

static void k_goldens(struct golden *g)
{
	g[0] = (struct golden){ mk_k_set(HV_KVP_POOL_EXTERNAL, "HostName", "host"), 7432 };
	g[1] = (struct golden){ mk_k_get(HV_KVP_POOL_GUEST, "Foo"), 7432 };
	g[2] = (struct golden){ mk_k_delete(HV_KVP_POOL_EXTERNAL, "k"), 7432 };
	g[3] = (struct golden){ mk_k_enumerate(HV_KVP_POOL_AUTO, 1), 7432 };
	g[4] = (struct golden){ mk_k_ip(HV_KVP_OP_GET_IP_INFO, "00:15:5D:00:00:01"), 7432 };
	g[5] = (struct golden){ mk_k_ip(HV_KVP_OP_SET_IP_INFO, "{guid}"), 7432 };
	g[6] = (struct golden){ mk_k_register("3.1"), 7432 };
}

START_TEST(k_truncated)
{
	static struct hv_kvp_request req;
	/* Body ends: 4 + 2572, 4 + 2572, 4 + 516, 4 + 2576, 4 + 7426 (x2), 4 + 512. */
	static const size_t need[] = { 2576, 2576, 520, 2580, 7430, 7430, 516 };
	/* A GET is answered in the ENUMERATE layout, where the kernel reads it. */
	static const size_t reply_need[] = { 2576, 2580, 520, 2580, 7430, 7430 };
	struct golden g[7];

	k_goldens(g);
	for (int i = 0; i < 7; i++) {
		for (size_t len = 0; len <= g[i].len; len++) {
			uint8_t *p = buf_dup(g[i].buf, len);
			int r = hv_kvp_kmsg_decode(p, len, &req);

			if (len < need[i])
				ck_assert_msg(r == -EBADMSG, "golden %d len %zu: %d", i, len, r);
			else
				ck_assert_msg(r == 0, "golden %d len %zu: %d", i, len, r);
			if (i < 6) {
				r = hv_kvp_kmsg_reply_set(p, len, HV_IC_S_OK, &req);
				ck_assert_int_eq(r, len < reply_need[i] ? -EBADMSG : 0);
			}
			ck_assert_int_eq(hv_kvp_kmsg_reply_set(p, len, HV_IC_E_FAIL, NULL),
					 len < 4 ? -EBADMSG : 0);
			free(p);
		}
		free(g[i].buf);
	}
}
END_TEST

START_TEST(k_mutated)
{
	static struct hv_kvp_request req;
	struct golden g[7];
	uint32_t seed = 777;

	k_goldens(g);
	for (int i = 0; i < 7; i++) {
		for (int iter = 0; iter < 2000; iter++) {
			uint8_t *p = buf_dup(g[i].buf, g[i].len);
			int r;

			for (int k = 0; k < 4; k++) {
				size_t off;

				seed = seed * 1103515245u + 12345u;
				off = (seed >> 8) % (k < 2 ? 24u : (uint32_t)g[i].len);
				seed = seed * 1103515245u + 12345u;
				p[off] = (uint8_t)(seed >> 16);
			}
			r = hv_kvp_kmsg_decode(p, g[i].len, &req);
			ck_assert_msg(r == 0 || r == -EOPNOTSUPP || r == -ERANGE ||
				      r == -EOVERFLOW || r == -EMSGSIZE || r == -EILSEQ,
				      "golden %d: %d", i, r);
			if (r == 0) {
				ck_assert_uint_eq(strlen(req.key), req.key_len);
				ck_assert_uint_eq(strlen(req.value), req.value_len);
				r = hv_kvp_kmsg_reply_set(p, g[i].len, HV_IC_S_OK, &req);
				ck_assert_msg(r == 0 || r == -ENOBUFS || r == -EOPNOTSUPP,
					      "reply %d", r);
			}
			free(p);
		}
		free(g[i].buf);
	}
}
END_TEST

/* A host request decoded, then answered through the kernel layout. */
START_TEST(both_layouts_agree)
{
	static struct hv_kvp_request a, b;
	uint8_t *v = mk_vm_set(HV_KVP_POOL_EXTERNAL, "ignition.config.0", "{\"ignition\":1}");
	uint8_t *k = mk_k_set(HV_KVP_POOL_EXTERNAL, "ignition.config.0", "{\"ignition\":1}");

	ck_assert_int_eq(hv_kvp_msg_decode(v, 2604, &a), 0);
	ck_assert_int_eq(hv_kvp_kmsg_decode(k, 7432, &b), 0);
	ck_assert_uint_eq(a.operation, b.operation);
	ck_assert_uint_eq(a.pool, b.pool);
	ck_assert_str_eq(a.key, b.key);
	ck_assert_uint_eq(a.key_len, b.key_len);
	ck_assert_str_eq(a.value, b.value);
	ck_assert_uint_eq(a.value_len, b.value_len);
	free(v);
	free(k);
}
END_TEST

/* ---- names ---- */

START_TEST(names_pools)
{
	static const char *const want[] = {
		"External", "Guest", "Auto", "Guest/Parameters", "Internal",
	};
	char num[2] = "0";

	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++) {
		ck_assert_str_eq(hv_kvp_pool_name(i), want[i]);
		ck_assert_int_eq(hv_kvp_pool_from_name(want[i]), (int)i);
		num[0] = (char)('0' + i);
		ck_assert_int_eq(hv_kvp_pool_from_name(num), (int)i);
	}
	ck_assert_ptr_null(hv_kvp_pool_name(HV_KVP_POOL_COUNT));
	ck_assert_ptr_null(hv_kvp_pool_name(255));
	ck_assert_int_eq(hv_kvp_pool_from_name("guest/PARAMETERS"), HV_KVP_POOL_AUTO_EXTERNAL);
	ck_assert_int_eq(hv_kvp_pool_from_name("5"), -ENOENT);
	ck_assert_int_eq(hv_kvp_pool_from_name("00"), -ENOENT);
	ck_assert_int_eq(hv_kvp_pool_from_name(""), -ENOENT);
	ck_assert_int_eq(hv_kvp_pool_from_name("Guest/"), -ENOENT);
	ck_assert_int_eq(hv_kvp_pool_from_name(NULL), -EINVAL);
}
END_TEST

START_TEST(names_auto)
{
	/* Linux's include/uapi/linux/hyperv.h, in the host's index order. */
	static const char *const want[] = {
		"FullyQualifiedDomainName", "IntegrationServicesVersion", "NetworkAddressIPv4",
		"NetworkAddressIPv6", "OSBuildNumber", "OSName", "OSMajorVersion",
		"OSMinorVersion", "OSVersion", "ProcessorArchitecture",
	};

	ck_assert_uint_eq(sizeof(want) / sizeof(want[0]), HV_KVP_AUTO_COUNT);
	for (uint32_t i = 0; i < HV_KVP_AUTO_COUNT; i++) {
		ck_assert_str_eq(hv_kvp_info_auto_key(i), want[i]);
		ck_assert_int_eq(hv_kvp_info_auto_index(want[i]), (int)i);
	}
	ck_assert_ptr_null(hv_kvp_info_auto_key(HV_KVP_AUTO_COUNT));
	/* The host compares keys byte for byte. */
	ck_assert_int_eq(hv_kvp_info_auto_index("osname"), -ENOENT);
	ck_assert_int_eq(hv_kvp_info_auto_index("OSName "), -ENOENT);
	ck_assert_int_eq(hv_kvp_info_auto_index(NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvp-codec");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("utf16");
	tcase_add_test(tc, utf16_known);
	tcase_add_test(tc, utf16_invalid);
	tcase_add_test(tc, utf16_fit);
	tcase_add_test(tc, utf16_all_code_points);
	suite_add_tcase(s, tc);

	tc = tcase_create("vmbus");
	tcase_add_test(tc, vm_sizes);
	tcase_add_test(tc, vm_set);
	tcase_add_test(tc, vm_set_integers);
	tcase_add_test(tc, vm_get);
	tcase_add_test(tc, vm_delete);
	tcase_add_test(tc, vm_enumerate);
	tcase_add_test(tc, vm_get_ip_info);
	tcase_add_test(tc, vm_set_ip_info);
	tcase_add_test(tc, vm_unicode_key);
	tcase_add_test(tc, vm_sizes_and_nul);
	tcase_add_test(tc, vm_malformed);
	tcase_add_test(tc, vm_reply_errors);
	tcase_add_test(tc, vm_truncated);
	tcase_add_test(tc, vm_mutated);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel");
	tcase_add_test(tc, k_register_handshake);
	tcase_add_test(tc, k_set_get_delete);
	tcase_add_test(tc, k_enumerate);
	tcase_add_test(tc, k_ip_info);
	tcase_add_test(tc, k_malformed);
	tcase_add_test(tc, k_truncated);
	tcase_add_test(tc, k_mutated);
	tcase_add_test(tc, both_layouts_agree);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, names_pools);
	tcase_add_test(tc, names_auto);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
