/* SPDX-License-Identifier: ISC */
/*
 * What the two KVP codec targets share: checks on a decoded request and
 * the result strings a handler answers with.
 */
#ifndef HVUIO_TESTS_FUZZ_KVP_COMMON_H
#define HVUIO_TESTS_FUZZ_KVP_COMMON_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "fuzz.h"

/* A string of an array: terminated inside it, `len` long, valid UTF-8. */
static inline void kvp_check_str(const char *s, size_t array, size_t len)
{
	FUZZ_CHECK(len < array && s[len] == '\0' && strlen(s) == len);
	FUZZ_CHECK(hv_kvp_utf8_check(s, len) == 0);
	FUZZ_CHECK(fuzz_all_zero(s + len, array - len));
}

/* Properties of every request a decoder accepted. */
static inline void kvp_check_request(const struct hv_kvp_request *req)
{
	const struct hv_kvp_ip_info *ip = &req->ip;

	FUZZ_CHECK(req->operation < HV_KVP_OP_COUNT || req->operation == HV_KVP_OP_REGISTER1);
	FUZZ_CHECK(req->pool < HV_KVP_POOL_COUNT);
	kvp_check_str(req->key, sizeof(req->key), req->key_len);
	kvp_check_str(req->value, sizeof(req->value), req->value_len);
	kvp_check_str(ip->adapter_id, sizeof(ip->adapter_id), strlen(ip->adapter_id));
	kvp_check_str(ip->ip_addr, sizeof(ip->ip_addr), strlen(ip->ip_addr));
	kvp_check_str(ip->sub_net, sizeof(ip->sub_net), strlen(ip->sub_net));
	kvp_check_str(ip->gate_way, sizeof(ip->gate_way), strlen(ip->gate_way));
	kvp_check_str(ip->dns_addr, sizeof(ip->dns_addr), strlen(ip->dns_addr));
	switch (req->operation) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_DELETE:
		FUZZ_CHECK(req->value_len == 0 && req->value_type == 0);
		break;
	case HV_KVP_OP_ENUMERATE:
		FUZZ_CHECK(req->key_len == 0 && req->value_len == 0);
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		FUZZ_CHECK(req->key_len == 0 && req->value_len == 0 && req->pool == 0);
		break;
	}
}

/* An integer SET: the value is the number's decimal text. */
static inline void kvp_check_integer(const struct hv_kvp_request *req, const uint8_t *num)
{
	char want[32];
	uint64_t v = fuzz_le32(num);

	if (req->value_type == HV_KVP_REG_U64 || req->value_type == HV_KVP_REG_QWORD)
		v |= (uint64_t)fuzz_le32(num + 4) << 32;
	snprintf(want, sizeof(want), "%" PRIu64, v);
	FUZZ_CHECK(strcmp(req->value, want) == 0);
}

/*
 * Result strings a handler may answer with, chosen by the input: the
 * request's own key (fuzzed UTF-8), and the edges of the UTF-16 fields.
 */
static inline void kvp_result_string(unsigned int which, const struct hv_kvp_request *req,
				     char *dst, size_t array, size_t *len)
{
	static const char *const fixed[] = {
		"", "HostName", "10.0.0.4;fe80::215:5dff:fe01:203",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80x",
	};

	memset(dst, 0, array);
	switch (which % 8) {
	case 0:
	case 1:
		*len = req->key_len < array ? req->key_len : 0;
		memcpy(dst, req->key, *len);
		break;
	case 2:
		/* As long as the array allows: past what any UTF-16 field holds. */
		*len = array - 1;
		memset(dst, 'v', *len);
		break;
	default:
		*len = strlen(fixed[which % 8 - 3]);
		memcpy(dst, fixed[which % 8 - 3], *len);
		break;
	}
}

/*
 * The answer of a handler, from the request and the selector: strings of
 * kvp_result_string, and with bit 7 a malformed one (value_len one past
 * its NUL, an IP string without NUL in its array).
 */
static inline void kvp_result_fill(uint8_t sel, const struct hv_kvp_request *req,
				   struct hv_kvp_request *res)
{
	size_t unused;

	*res = *req;
	kvp_result_string(sel >> 1, req, res->key, sizeof(res->key), &res->key_len);
	kvp_result_string(sel >> 4, req, res->value, sizeof(res->value), &res->value_len);
	kvp_result_string(sel >> 1, req, res->ip.adapter_id, sizeof(res->ip.adapter_id),
			  &unused);
	kvp_result_string(sel >> 4, req, res->ip.ip_addr, sizeof(res->ip.ip_addr),
			  &unused);
	snprintf(res->ip.sub_net, sizeof(res->ip.sub_net), "255.255.255.0;64");
	snprintf(res->ip.gate_way, sizeof(res->ip.gate_way), "10.0.0.1");
	kvp_result_string(sel >> 2, req, res->ip.dns_addr, sizeof(res->ip.dns_addr),
			  &unused);
	res->ip.addr_family = (uint8_t)(sel * 3);
	res->ip.dhcp_enabled = sel >> 7;
	if (sel & 0x80) {
		/* A length that disagrees with the NUL; an IP string without one. */
		res->value_len++;
		memset(res->ip.adapter_id, 'a', sizeof(res->ip.adapter_id));
	}
}

/* UTF-16 units of the valid UTF-8 s[0..len). */
static inline size_t kvp_units(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xc0) != 0x80)
			n += c >= 0xf0 ? 2 : 1;
	}
	return n;
}

#endif
