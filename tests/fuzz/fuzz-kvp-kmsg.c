/* SPDX-License-Identifier: ISC */
/*
 * The KVP codec, kernel layout: hv_kvp_kmsg_decode on what Linux's
 * hv_utils would hand its daemon, then hv_kvp_kmsg_reply_set with the
 * answers a handler could give.
 *
 * Input: one selector byte (reply status, result strings, a malformed
 * result), then the message: struct hv_kvp_msg of Linux's uapi
 * <linux/hyperv.h>, 7432 bytes when whole, UTF-8 with sizes counting the
 * NUL. The expected replies follow the rules Linux's hv_kvp_daemon and
 * kvp_respond_to_host imply: the status over the first 4 bytes, strings
 * NUL-padded in their fields, key at most 254 UTF-16 units and value
 * 1022 so that the kernel converts them whole.
 */
#include <errno.h>
#include <stdbool.h>

#include "hvuio/ic.h"
#include "kvp-common.h"

enum {
	K_OP = 0,
	K_TYPE = 4, K_KEY_SIZE = 8, K_VALUE_SIZE = 12, K_KEY = 16, K_VALUE = 528,
	K_E_INDEX = 4, K_E_TYPE = 8, K_E_KEY_SIZE = 12, K_E_VALUE_SIZE = 16,
	K_E_KEY = 20, K_E_VALUE = 532,
	K_D_KEY_SIZE = 4, K_D_KEY = 8,
	K_I_ADAPTER = 4, K_I_FAMILY = 260, K_I_DHCP = 261, K_I_ADDR = 262,
	K_I_NET = 2310, K_I_GW = 4358, K_I_DNS = 5382,
	K_VERSION = 4,
};

/* A sized string: the bytes and the size, NUL included. */
static void check_sized(const uint8_t *p, size_t size_off, size_t field_off,
			const char *s, size_t len)
{
	FUZZ_CHECK(fuzz_le32(p + size_off) == len + 1);
	FUZZ_CHECK(memcmp(p + field_off, s, len + 1) == 0);
}

/* A string known by its NUL only. */
static void check_field(const uint8_t *p, size_t field_off, const char *s)
{
	FUZZ_CHECK(memcmp(p + field_off, s, strlen(s) + 1) == 0);
}

static void check_decoded(const uint8_t *p, const struct hv_kvp_request *req)
{
	kvp_check_request(req);
	FUZZ_CHECK(req->operation == p[K_OP]);
	switch (req->operation) {
	case HV_KVP_OP_SET:
		FUZZ_CHECK(req->value_type == fuzz_le32(p + K_TYPE));
		check_sized(p, K_VALUE_SIZE, K_VALUE, req->value, req->value_len);
		/* fall through */
	case HV_KVP_OP_GET:
		check_sized(p, K_KEY_SIZE, K_KEY, req->key, req->key_len);
		break;
	case HV_KVP_OP_DELETE:
		check_sized(p, K_D_KEY_SIZE, K_D_KEY, req->key, req->key_len);
		break;
	case HV_KVP_OP_ENUMERATE:
		FUZZ_CHECK(req->index == fuzz_le32(p + K_E_INDEX));
		break;
	case HV_KVP_OP_SET_IP_INFO:
		check_field(p, K_I_ADDR, req->ip.ip_addr);
		check_field(p, K_I_NET, req->ip.sub_net);
		check_field(p, K_I_GW, req->ip.gate_way);
		check_field(p, K_I_DNS, req->ip.dns_addr);
		/* fall through */
	case HV_KVP_OP_GET_IP_INFO:
		check_field(p, K_I_ADAPTER, req->ip.adapter_id);
		FUZZ_CHECK(req->ip.addr_family == p[K_I_FAMILY]);
		FUZZ_CHECK(req->ip.dhcp_enabled == p[K_I_DHCP]);
		break;
	case HV_KVP_OP_REGISTER1:
		check_field(p, K_VERSION, req->value);
		FUZZ_CHECK(req->key_len == 0);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

/* Linux's bounds on a result string: the codec's answer, in its order. */
static int want_result(const char *s, size_t len, size_t array, size_t max_units)
{
	if (len >= array || s[len] != '\0')
		return -EINVAL;
	if (hv_kvp_utf8_check(s, len) < 0)
		return -EILSEQ;
	return kvp_units(s, len) > max_units ? -ENOBUFS : 0;
}

static void want_put(uint8_t *want, size_t off, size_t field, const char *s, size_t len)
{
	memset(want + off, 0, field);
	memcpy(want + off, s, len);
}

static int model_reply(uint8_t *want, size_t len, const struct hv_kvp_request *req,
		       const struct hv_kvp_request *res)
{
	static const struct { size_t off, field, max_units; } ipf[] = {
		{ K_I_ADAPTER, 256, 127 }, { K_I_ADDR, 2048, 1023 }, { K_I_NET, 2048, 1023 },
		{ K_I_GW, 1024, 511 }, { K_I_DNS, 2048, 1023 },
	};
	const char *ips[] = {
		res->ip.adapter_id, res->ip.ip_addr, res->ip.sub_net, res->ip.gate_way,
		res->ip.dns_addr,
	};
	int r;

	switch (req->operation) {
	case HV_KVP_OP_REGISTER1:
		return -EOPNOTSUPP;
	case HV_KVP_OP_GET:
		/* Where Linux's kernel reads a GET's answer: the ENUMERATE value. */
		if (len < K_E_VALUE + 2048)
			return -EBADMSG;
		r = want_result(res->value, res->value_len, sizeof(res->value), 1022);
		if (r)
			return r;
		want_put(want, K_E_VALUE, 2048, res->value, res->value_len);
		return 0;
	case HV_KVP_OP_ENUMERATE:
		r = want_result(res->key, res->key_len, sizeof(res->key), 254);
		if (!r)
			r = want_result(res->value, res->value_len, sizeof(res->value), 1022);
		if (r)
			return r;
		fuzz_put_le32(want + K_E_TYPE, HV_KVP_REG_SZ);
		fuzz_put_le32(want + K_E_KEY_SIZE, (uint32_t)res->key_len + 1);
		fuzz_put_le32(want + K_E_VALUE_SIZE, (uint32_t)res->value_len + 1);
		want_put(want, K_E_KEY, 512, res->key, res->key_len);
		want_put(want, K_E_VALUE, 2048, res->value, res->value_len);
		return 0;
	case HV_KVP_OP_GET_IP_INFO:
		for (size_t i = 0; i < 5; i++) {
			r = want_result(ips[i], strnlen(ips[i], ipf[i].field), ipf[i].field,
					ipf[i].max_units);
			if (r)
				return r;
		}
		for (size_t i = 0; i < 5; i++)
			want_put(want, ipf[i].off, ipf[i].field, ips[i], strlen(ips[i]));
		want[K_I_FAMILY] = res->ip.addr_family;
		want[K_I_DHCP] = res->ip.dhcp_enabled;
		return 0;
	}
	return 0;
}

static void check_reply(const uint8_t *p, size_t len, uint8_t sel, int derr,
			const struct hv_kvp_request *req)
{
	struct hv_kvp_request *res = malloc(sizeof(*res));
	uint8_t *q = malloc(len ? len : 1), *want = malloc(len ? len : 1);
	uint32_t status = sel & 1 ? HV_IC_ERROR_NOT_SUPPORTED : HV_IC_S_OK;
	int err, merr;

	FUZZ_CHECK(res && q && want);
	memcpy(q, p, len);
	memcpy(want, p, len);
	kvp_result_fill(sel, req, res);

	err = hv_kvp_kmsg_reply_set(q, len, status, res);
	if (err)
		FUZZ_CHECK(memcmp(q, p, len) == 0);
	if (len < 4) {
		FUZZ_CHECK(err == -EBADMSG);
		goto out;
	}
	if (status != HV_IC_S_OK)
		merr = 0;
	else if (derr)
		goto out;
	else
		merr = model_reply(want, len, req, res);
	FUZZ_CHECK(err == merr);
	if (err)
		goto out;
	fuzz_put_le32(want, status);
	FUZZ_CHECK(memcmp(q, want, len) == 0);
out:
	free(res);
	free(q);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct hv_kvp_request *req;
	uint8_t *p;
	size_t len;
	int err;

	if (size < 1)
		return 0;
	len = size - 1;
	p = malloc(len ? len : 1);
	req = malloc(sizeof(*req));
	FUZZ_CHECK(p && req);
	memcpy(p, in + 1, len);
	memset(req, 0xee, sizeof(*req));

	err = hv_kvp_kmsg_decode(p, len, req);
	FUZZ_CHECK(memcmp(p, in + 1, len) == 0);
	switch (err) {
	case 0:
		check_decoded(p, req);
		break;
	case -EBADMSG: case -EOPNOTSUPP: case -ERANGE: case -EOVERFLOW: case -EMSGSIZE:
	case -EILSEQ:
		FUZZ_CHECK(fuzz_all_zero(req, sizeof(*req)));
		break;
	default:
		FUZZ_CHECK(0);
	}
	check_reply(p, len, in[0], err, req);

	/* The registration a daemon sends first: an empty version string. */
	if (len >= HV_KVP_KMSG_SIZE) {
		FUZZ_CHECK(hv_kvp_kmsg_register_build(p, len) == 0);
		FUZZ_CHECK(p[0] == HV_KVP_OP_REGISTER1 && fuzz_all_zero(p + 1, HV_KVP_KMSG_SIZE - 1));
		FUZZ_CHECK(hv_kvp_kmsg_decode(p, len, req) == 0);
		FUZZ_CHECK(req->operation == HV_KVP_OP_REGISTER1 && req->value_len == 0);
	} else {
		FUZZ_CHECK(hv_kvp_kmsg_register_build(p, len) == -ENOBUFS);
	}
	free(req);
	free(p);
	return 0;
}
