/* SPDX-License-Identifier: ISC */
/*
 * The KVP codec, VMBus layout: hv_kvp_msg_decode on what the host sends,
 * then hv_kvp_msg_reply_set with the answers a handler could give; and the
 * host's side, hv_kvp_msg_reply_decode, on the same bytes taken as a
 * guest's reply.
 *
 * Input: one selector byte (reply status, which result strings, whether
 * the result is malformed), then the payload, pipe header first. Offsets
 * are those that Linux's uapi
 * <linux/hyperv.h>, FreeBSD and OpenBSD: IC header at 8, KVP header at
 * 28, body at 32 (IP-info body at 30).
 */
#include <errno.h>
#include <stdbool.h>

#include "hvuio/ic.h"
#include "kvp-common.h"

enum {
	P_TYPE = 12, P_STATUS = 20, P_FLAGS = 25, P_OP = 28,
	V_TYPE = 32, V_KEY_SIZE = 36, V_VALUE_SIZE = 40, V_KEY = 44, V_VALUE = 556,
	E_INDEX = 32, E_TYPE = 36, E_KEY_SIZE = 40, E_VALUE_SIZE = 44, E_KEY = 48,
	E_VALUE = 560,
	D_KEY = 36,
	I_ADAPTER = 30, I_FAMILY = 286, I_DHCP = 287, I_ADDR = 288, I_NET = 2336,
	I_GW = 4384, I_DNS = 5408,
};

/* The string's UTF-16 form is in the field, NUL-terminated. */
static void check_units(const uint8_t *field, size_t field_size, const char *s, size_t len)
{
	uint8_t enc[HV_KVP_VALUE_MAX_SIZE];
	size_t size;

	FUZZ_CHECK(hv_kvp_utf8_to_utf16(s, len, enc, field_size, &size) == 0);
	FUZZ_CHECK(memcmp(field, enc, size) == 0);
}

static void check_decoded(const uint8_t *p, const struct hv_kvp_request *req)
{
	kvp_check_request(req);
	FUZZ_CHECK(req->operation == p[P_OP]);
	switch (req->operation) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		check_units(p + V_KEY, 512, req->key, req->key_len);
		if (req->operation == HV_KVP_OP_GET)
			break;
		FUZZ_CHECK(req->value_type == fuzz_le32(p + V_TYPE));
		switch (req->value_type) {
		case HV_KVP_REG_SZ:
		case HV_KVP_REG_EXPAND_SZ:
			check_units(p + V_VALUE, 2048, req->value, req->value_len);
			break;
		case HV_KVP_REG_U32:
		case HV_KVP_REG_U64:
		case HV_KVP_REG_QWORD:
			kvp_check_integer(req, p + V_VALUE);
			break;
		default:
			FUZZ_CHECK(0);
		}
		break;
	case HV_KVP_OP_DELETE:
		check_units(p + D_KEY, 512, req->key, req->key_len);
		break;
	case HV_KVP_OP_ENUMERATE:
		FUZZ_CHECK(req->index == fuzz_le32(p + E_INDEX));
		break;
	case HV_KVP_OP_SET_IP_INFO:
		check_units(p + I_ADDR, 2048, req->ip.ip_addr, strlen(req->ip.ip_addr));
		check_units(p + I_NET, 2048, req->ip.sub_net, strlen(req->ip.sub_net));
		check_units(p + I_GW, 1024, req->ip.gate_way, strlen(req->ip.gate_way));
		check_units(p + I_DNS, 2048, req->ip.dns_addr, strlen(req->ip.dns_addr));
		/* fall through */
	case HV_KVP_OP_GET_IP_INFO:
		check_units(p + I_ADAPTER, 256, req->ip.adapter_id, strlen(req->ip.adapter_id));
		FUZZ_CHECK(req->ip.addr_family == p[I_FAMILY]);
		FUZZ_CHECK(req->ip.dhcp_enabled == p[I_DHCP]);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

/*
 * Write s in UTF-16 into the expected field; returns 0, or the error the
 * codec must give (-ENOBUFS when it does not fit with its NUL).
 */
static int want_field(uint8_t *field, size_t field_size, const char *s, size_t len,
		      uint32_t *size_out)
{
	size_t units = kvp_units(s, len);

	if (units + 1 > field_size / 2)
		return -ENOBUFS;
	memset(field, 0, field_size);
	FUZZ_CHECK(hv_kvp_utf8_to_utf16(s, len, field, field_size, NULL) == 0);
	if (size_out)
		*size_out = (uint32_t)(units + 1) * 2;
	return 0;
}

/*
 * value_len one past the NUL: past the array it is refused as such,
 * otherwise the NUL is inside the string, which UTF-8 for a field refuses.
 */
static int bad_value(const struct hv_kvp_request *res)
{
	return res->value_len >= sizeof(res->value) ? -EINVAL : -EILSEQ;
}

/* The reply the codec must write (into want) and its return value. */
static int model_reply(uint8_t *want, const struct hv_kvp_request *req,
		       const struct hv_kvp_request *res, bool bad)
{
	uint32_t ks, vs;
	int r;

	switch (req->operation) {
	case HV_KVP_OP_GET:
		if (bad)
			return bad_value(res);
		r = want_field(want + V_VALUE, 2048, res->value, res->value_len, &vs);
		if (r)
			return r;
		fuzz_put_le32(want + V_TYPE, HV_KVP_REG_SZ);
		fuzz_put_le32(want + V_VALUE_SIZE, vs);
		return 0;
	case HV_KVP_OP_ENUMERATE:
		r = want_field(want + E_KEY, 512, res->key, res->key_len, &ks);
		if (r)
			return r;
		if (bad)
			return bad_value(res);
		r = want_field(want + E_VALUE, 2048, res->value, res->value_len, &vs);
		if (r)
			return r;
		fuzz_put_le32(want + E_TYPE, HV_KVP_REG_SZ);
		fuzz_put_le32(want + E_KEY_SIZE, ks);
		fuzz_put_le32(want + E_VALUE_SIZE, vs);
		return 0;
	case HV_KVP_OP_GET_IP_INFO:
		if (bad)
			return -EINVAL;
		r = want_field(want + I_ADAPTER, 256, res->ip.adapter_id,
			       strlen(res->ip.adapter_id), NULL);
		if (!r)
			r = want_field(want + I_ADDR, 2048, res->ip.ip_addr,
				       strlen(res->ip.ip_addr), NULL);
		if (!r)
			r = want_field(want + I_NET, 2048, res->ip.sub_net,
				       strlen(res->ip.sub_net), NULL);
		if (!r)
			r = want_field(want + I_GW, 1024, res->ip.gate_way,
				       strlen(res->ip.gate_way), NULL);
		if (!r)
			r = want_field(want + I_DNS, 2048, res->ip.dns_addr,
				       strlen(res->ip.dns_addr), NULL);
		if (r)
			return r;
		want[I_FAMILY] = res->ip.addr_family;
		want[I_DHCP] = res->ip.dhcp_enabled;
		return 0;
	}
	return 0;
}

static void check_reply(const uint8_t *p, size_t len, uint8_t sel, int derr,
			const struct hv_kvp_request *req)
{
	struct hv_kvp_request *res = malloc(sizeof(*res));
	uint8_t *q = malloc(len ? len : 1), *want = malloc(len ? len : 1);
	uint32_t status = sel & 1 ? HV_IC_E_FAIL : HV_IC_S_OK;
	bool bad = sel & 0x80;
	int err, merr;

	FUZZ_CHECK(res && q && want);
	memcpy(q, p, len);
	memcpy(want, p, len);
	kvp_result_fill(sel, req, res);

	err = hv_kvp_msg_reply_set(q, len, status, res);
	if (err)
		FUZZ_CHECK(memcmp(q, p, len) == 0);
	if (len < HV_IC_DATA_OFFSET) {
		FUZZ_CHECK(err == -EBADMSG);
		goto out;
	}
	if (status != HV_IC_S_OK) {
		merr = 0;
	} else if (derr) {
		/* Not a request the decoder took: only the failure is checked. */
		goto out;
	} else {
		merr = model_reply(want, req, res, bad);
	}
	FUZZ_CHECK(err == merr);
	if (err)
		goto out;
	fuzz_put_le32(want + P_STATUS, status);
	want[P_FLAGS] = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE;
	FUZZ_CHECK(memcmp(q, want, len) == 0);
	/* A reply still decodes as the same request, unless the body changed. */
	if (req->operation == HV_KVP_OP_SET || req->operation == HV_KVP_OP_DELETE ||
	    req->operation == HV_KVP_OP_SET_IP_INFO) {
		struct hv_kvp_request *again = malloc(sizeof(*again));

		FUZZ_CHECK(again);
		FUZZ_CHECK(hv_kvp_msg_decode(q, len, again) == 0);
		FUZZ_CHECK(memcmp(again, req, sizeof(*req)) == 0);
		free(again);
	}
out:
	free(res);
	free(q);
	free(want);
}

/* Every string of a reply read by the host: terminated, valid UTF-8. */
static void check_shown(const struct hv_kvp_request *res)
{
	const struct hv_kvp_ip_info *ip = &res->ip;

	kvp_check_str(res->key, sizeof(res->key), res->key_len);
	kvp_check_str(res->value, sizeof(res->value), res->value_len);
	kvp_check_str(ip->adapter_id, sizeof(ip->adapter_id), strnlen(ip->adapter_id, 256));
	kvp_check_str(ip->ip_addr, sizeof(ip->ip_addr), strnlen(ip->ip_addr, 2048));
	kvp_check_str(ip->sub_net, sizeof(ip->sub_net), strnlen(ip->sub_net, 2048));
	kvp_check_str(ip->gate_way, sizeof(ip->gate_way), strnlen(ip->gate_way, 1024));
	kvp_check_str(ip->dns_addr, sizeof(ip->dns_addr), strnlen(ip->dns_addr, 2048));
}

/*
 * The bytes as a guest's reply to the operation they name: the strict
 * read fails cleanly or gives checked strings; the lenient read fails on
 * the headers only, and what it shows is still valid UTF-8.
 */
static void check_host_side(const uint8_t *p, size_t len)
{
	struct hv_kvp_request *res = malloc(sizeof(*res));
	uint8_t op = len > P_OP ? p[P_OP] % HV_KVP_OP_COUNT : HV_KVP_OP_GET;
	uint32_t status = 0;
	int err;

	FUZZ_CHECK(res);
	memset(res, 0xee, sizeof(*res));
	err = hv_kvp_msg_reply_decode(p, len, op, 0, &status, res);
	switch (err) {
	case 0:
		FUZZ_CHECK(res->operation == op);
		if (status == HV_IC_S_OK && op < HV_KVP_OP_GET_IP_INFO)
			FUZZ_CHECK(res->pool < HV_KVP_POOL_COUNT);
		check_shown(res);
		break;
	case -EBADMSG: case -ENOMSG: case -ERANGE: case -EOVERFLOW: case -EPROTO:
	case -EDOM: case -EMSGSIZE: case -ENOBUFS: case -EPROTONOSUPPORT:
		FUZZ_CHECK(fuzz_all_zero(res, sizeof(*res)));
		break;
	default:
		FUZZ_CHECK(0);
	}
	memset(res, 0xee, sizeof(*res));
	err = hv_kvp_msg_reply_decode(p, len, op, HV_KVP_REPLY_LENIENT, &status, res);
	if (err == 0) {
		FUZZ_CHECK(res->operation == op);
		check_shown(res);
	} else {
		FUZZ_CHECK(err == -EBADMSG || err == -ENOMSG);
		FUZZ_CHECK(fuzz_all_zero(res, sizeof(*res)));
	}
	free(res);
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

	err = hv_kvp_msg_decode(p, len, req);
	FUZZ_CHECK(memcmp(p, in + 1, len) == 0);
	switch (err) {
	case 0:
		check_decoded(p, req);
		break;
	case -EBADMSG: case -ENOMSG: case -EOPNOTSUPP: case -ERANGE: case -EOVERFLOW:
	case -EPROTO: case -EDOM: case -EMSGSIZE: case -ENOBUFS: case -EPROTONOSUPPORT:
		FUZZ_CHECK(fuzz_all_zero(req, sizeof(*req)));
		break;
	default:
		FUZZ_CHECK(0);
	}
	if (len >= HV_IC_DATA_OFFSET + 2 && fuzz_le16(p + P_TYPE) != HV_IC_MSGTYPE_KVPEXCHANGE)
		FUZZ_CHECK(err == -ENOMSG || err == -EBADMSG);
	check_reply(p, len, in[0], err, req);
	check_host_side(p, len);
	FUZZ_CHECK(memcmp(p, in + 1, len) == 0);
	free(req);
	free(p);
	return 0;
}
