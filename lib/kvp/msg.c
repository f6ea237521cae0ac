/* SPDX-License-Identifier: ISC */
/*
 * KVP messages as the host sends them on the VMBus channel.
 *
 * Facts this file relies on (from Linux's drivers/hv/hv_kvp.c, FreeBSD's
 * hv_kvp.c and OpenBSD's hypervic.c):
 * - the payload is pipe header, IC header, a 4-byte KVP header and a
 *   fixed-size body; the IP-info messages have a 2-byte KVP header;
 * - Linux does not check the received length against the body, and its
 *   utf16s_to_utf8s is handed key_size (bytes) as a count of units, so a
 *   key_size above 256 lets it read past the key into the value; here the
 *   whole body must have arrived and every size is checked;
 * - replies are the request rewritten in place: status in the IC header,
 *   flags TRANSACTION|RESPONSE, operation and pool untouched (OpenBSD
 *   instead writes the status over operation and pool; this follows
 *   Linux and FreeBSD, whose drivers Microsoft wrote).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "lib/common/compiler.h"
#include "kvp_wire.h"

#define KVP_HDR_OFF offsetof(struct hv_kvp_pkt_value, kvp_hdr)
/* What every KVP message has: headers, operation and pool. */
#define KVP_MIN_LEN (KVP_HDR_OFF + 2)

static inline uint16_t unit_at(const uint8_t *field, size_t i)
{
	return (uint16_t)(field[2 * i] | field[2 * i + 1] << 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

int kvp_body_size(uint8_t op, size_t *ret)
{
	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		*ret = sizeof(struct hv_kvp_exchg_msg_value);
		return 0;
	case HV_KVP_OP_DELETE:
		*ret = sizeof(struct hv_kvp_msg_delete);
		return 0;
	case HV_KVP_OP_ENUMERATE:
		*ret = sizeof(struct hv_kvp_msg_enumerate);
		return 0;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		*ret = sizeof(struct hv_kvp_ipaddr_value);
		return 0;
	case HV_KVP_OP_REGISTER1:
		*ret = sizeof(struct hv_kvp_register);
		return 0;
	}
	return -EOPNOTSUPP;
}

int kvp_msg_size(uint8_t op, size_t *ret)
{
	size_t body;

	/* REGISTER1 travels between Linux's kernel and its daemon only. */
	if (op == HV_KVP_OP_REGISTER1 || kvp_body_size(op, &body) < 0)
		return -EOPNOTSUPP;
	/* The IP-info messages have no padding after operation and pool. */
	if (op == HV_KVP_OP_GET_IP_INFO || op == HV_KVP_OP_SET_IP_INFO)
		*ret = offsetof(struct hv_kvp_pkt_ip, msg.kvp_ip_val) + body;
	else
		*ret = offsetof(struct hv_kvp_pkt_value, data) + body;
	return 0;
}

/*
 * A key or string value with its byte size. Guests send sizes that count
 * the NUL (Linux's kvp_respond_to_host, FreeBSD, OpenBSD) and the host
 * follows the same rule. Linux itself stops at the first NUL or after
 * key_size units, whichever comes first, so a host size without the NUL
 * still gives the whole key when the NUL follows it; that one case is
 * accepted because the key read is the same either way. Anything else
 * where size and terminator disagree would be a guess, and a guess could
 * change a key, so it is refused.
 */
int kvp_sized_string_get(const uint8_t *field, size_t field_size,
			 uint32_t size, char *dst, size_t dst_size,
			 size_t *ret_len)
{
	size_t units, n, k;

	if (size > field_size)
		return -EOVERFLOW;
	if (size & 1)
		return -EPROTO;
	units = size / 2;
	for (n = 0; n < units; n++)
		if (unit_at(field, n) == 0)
			break;
	if (n < units) {
		for (k = n + 1; k < units; k++)
			if (unit_at(field, k) != 0)
				return -EMSGSIZE;
	} else if (size == field_size || unit_at(field, units) != 0) {
		return -EMSGSIZE;
	}
	return kvp_utf16_units_to_utf8(field, n, dst, dst_size, ret_len);
}

/* IP-info strings have no size: the NUL must be inside the array. */
int kvp_ip_string_get(const uint8_t *field, size_t field_size, char *dst,
		      size_t dst_size)
{
	size_t n;

	for (n = 0; n < field_size / 2; n++)
		if (unit_at(field, n) == 0)
			return kvp_utf16_units_to_utf8(field, n, dst, dst_size, NULL);
	return -EMSGSIZE;
}

int kvp_ip_decode(const struct hv_kvp_ipaddr_value *w, uint8_t op,
		  struct hv_kvp_ip_info *ip)
{
	int r;

	ip->addr_family = w->addr_family;
	ip->dhcp_enabled = w->dhcp_enabled;
	r = kvp_ip_string_get(w->adapter_id, sizeof(w->adapter_id), ip->adapter_id,
			      sizeof(ip->adapter_id));
	/* A GET_IP_INFO request names the adapter; the rest is for the reply. */
	if (r < 0 || op == HV_KVP_OP_GET_IP_INFO)
		return r;
	r = kvp_ip_string_get(w->ip_addr, sizeof(w->ip_addr), ip->ip_addr, sizeof(ip->ip_addr));
	if (r < 0)
		return r;
	r = kvp_ip_string_get(w->sub_net, sizeof(w->sub_net), ip->sub_net, sizeof(ip->sub_net));
	if (r < 0)
		return r;
	r = kvp_ip_string_get(w->gate_way, sizeof(w->gate_way), ip->gate_way,
			      sizeof(ip->gate_way));
	if (r < 0)
		return r;
	return kvp_ip_string_get(w->dns_addr, sizeof(w->dns_addr), ip->dns_addr,
				 sizeof(ip->dns_addr));
}

int kvp_value_decode(const struct hv_kvp_exchg_msg_value *w,
		     struct hv_kvp_request *req)
{
	int n;

	req->value_type = w->value_type;
	switch (w->value_type) {
	case HV_KVP_REG_SZ:
		return kvp_sized_string_get(w->value, sizeof(w->value), w->value_size,
					    req->value, sizeof(req->value), &req->value_len);
	/*
	 * Integers become decimal text as Linux's kvp_send_key prints them;
	 * value_size is not consulted, as there: the number sits at the
	 * start of the array whatever it says.
	 */
	case HV_KVP_REG_U32:
		n = snprintf(req->value, sizeof(req->value), "%" PRIu32, w->value_u32);
		req->value_len = (size_t)n;
		return 0;
	case HV_KVP_REG_U64:
		n = snprintf(req->value, sizeof(req->value), "%" PRIu64, w->value_u64);
		req->value_len = (size_t)n;
		return 0;
	}
	/* Linux would store an empty value; refusing keeps the old one. */
	return -EPROTONOSUPPORT;
}

HV_EXPORT int hv_kvp_msg_decode(const void *payload, size_t len,
				struct hv_kvp_request *req)
{
	union hv_kvp_pkt m;
	uint8_t op;
	size_t need;
	int r;

	if (!payload || !req)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	if (len < KVP_MIN_LEN)
		return -EBADMSG;
	/* One private copy; the header is not read again with the body. */
	memcpy(&m, payload, KVP_MIN_LEN);
	if (m.h.ic.icmsgtype != HV_IC_MSGTYPE_KVPEXCHANGE)
		return -ENOMSG;
	op = m.h.kvp_hdr.operation;
	r = kvp_msg_size(op, &need);
	if (r < 0)
		return r;
	if (len < need)
		return -EBADMSG;
	memcpy((uint8_t *)&m + KVP_MIN_LEN, (const uint8_t *)payload + KVP_MIN_LEN,
	       need - KVP_MIN_LEN);

	req->operation = op;
	if (op != HV_KVP_OP_GET_IP_INFO && op != HV_KVP_OP_SET_IP_INFO) {
		/* Linux's daemon indexes its pool array with this byte unchecked. */
		if (m.h.kvp_hdr.pool >= HV_KVP_POOL_COUNT) {
			r = -ERANGE;
			goto out;
		}
		req->pool = m.h.kvp_hdr.pool;
	}

	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		r = kvp_sized_string_get(m.v.data.key, sizeof(m.v.data.key), m.v.data.key_size,
					 req->key, sizeof(req->key), &req->key_len);
		if (r < 0 || op == HV_KVP_OP_GET)
			break;
		r = kvp_value_decode(&m.v.data, req);
		break;
	case HV_KVP_OP_DELETE:
		r = kvp_sized_string_get(m.d.data.key, sizeof(m.d.data.key), m.d.data.key_size,
					 req->key, sizeof(req->key), &req->key_len);
		break;
	case HV_KVP_OP_ENUMERATE:
		/* The host leaves key and value to be filled: they are not read. */
		req->index = m.e.data.index;
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		r = kvp_ip_decode(&m.ip.msg.kvp_ip_val, op, &req->ip);
		break;
	}
out:
	if (r < 0)
		memset(req, 0, sizeof(*req));
	return r;
}

/* A result string as given: length within its array, terminated. */
static int result_len(const char *s, size_t len, size_t array)
{
	if (len >= array || s[len] != '\0')
		return -EINVAL;
	return 0;
}

int kvp_utf16_put(const char *s, size_t len, size_t array, uint8_t *field,
		  size_t field_size, uint32_t *ret_size)
{
	size_t size;
	int r;

	r = result_len(s, len, array);
	if (r < 0)
		return r;
	memset(field, 0, field_size);
	r = hv_kvp_utf8_to_utf16(s, len, field, field_size, &size);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = (uint32_t)size;
	return 0;
}

static int put_ip_utf16(const char *s, size_t array, uint8_t *field,
			size_t field_size)
{
	size_t len = strnlen(s, array);

	return kvp_utf16_put(s, len, array, field, field_size, NULL);
}

int kvp_ip_encode(const struct hv_kvp_ip_info *ip, struct hv_kvp_ipaddr_value *w)
{
	int r;

	r = put_ip_utf16(ip->adapter_id, sizeof(ip->adapter_id), w->adapter_id,
			 sizeof(w->adapter_id));
	if (r < 0)
		return r;
	r = put_ip_utf16(ip->ip_addr, sizeof(ip->ip_addr), w->ip_addr, sizeof(w->ip_addr));
	if (r < 0)
		return r;
	r = put_ip_utf16(ip->sub_net, sizeof(ip->sub_net), w->sub_net, sizeof(w->sub_net));
	if (r < 0)
		return r;
	r = put_ip_utf16(ip->gate_way, sizeof(ip->gate_way), w->gate_way,
			 sizeof(w->gate_way));
	if (r < 0)
		return r;
	r = put_ip_utf16(ip->dns_addr, sizeof(ip->dns_addr), w->dns_addr,
			 sizeof(w->dns_addr));
	if (r < 0)
		return r;
	w->addr_family = ip->addr_family;
	w->dhcp_enabled = ip->dhcp_enabled;
	return 0;
}

/*
 * Fill the value part of an exchg value (at `data` in the payload) from
 * the result. The new bytes are built aside and copied in only once all
 * of them converted, so a failure leaves the payload as it was.
 */
static int encode_value(uint8_t *data, const struct hv_kvp_request *res, int with_key)
{
	uint8_t key[HV_KVP_KEY_MAX_SIZE];
	uint8_t value[HV_KVP_VALUE_MAX_SIZE];
	uint32_t key_size = 0, value_size;
	int r;

	if (with_key) {
		r = kvp_utf16_put(res->key, res->key_len, sizeof(res->key), key, sizeof(key),
				  &key_size);
		if (r < 0)
			return r;
	}
	r = kvp_utf16_put(res->value, res->value_len, sizeof(res->value), value,
			  sizeof(value), &value_size);
	if (r < 0)
		return r;

	/* Every value a guest returns is a string (Linux: "all our values are strings"). */
	put_le32(data + offsetof(struct hv_kvp_exchg_msg_value, value_type), HV_KVP_REG_SZ);
	if (with_key) {
		put_le32(data + offsetof(struct hv_kvp_exchg_msg_value, key_size), key_size);
		memcpy(data + offsetof(struct hv_kvp_exchg_msg_value, key), key, sizeof(key));
	}
	put_le32(data + offsetof(struct hv_kvp_exchg_msg_value, value_size), value_size);
	memcpy(data + offsetof(struct hv_kvp_exchg_msg_value, value), value, sizeof(value));
	return 0;
}

HV_EXPORT int hv_kvp_msg_reply_set(void *payload, size_t len, uint32_t status,
				   const struct hv_kvp_request *result)
{
	uint8_t *p = payload;
	struct hv_kvp_ipaddr_value ip;
	uint16_t type;
	uint8_t op;
	size_t need;
	int r = 0;

	if (!payload)
		return -EINVAL;
	if (len < HV_IC_DATA_OFFSET)
		return -EBADMSG;
	/* Linux, FreeBSD: on failure the body goes back as it came. */
	if (status != HV_IC_S_OK)
		return hv_ic_response_prepare(p, len, status);
	if (!result)
		return -EINVAL;
	if (len < KVP_MIN_LEN)
		return -EBADMSG;
	memcpy(&type, p + offsetof(struct hv_kvp_pkt_value, ic.icmsgtype), sizeof(type));
	if (type != HV_IC_MSGTYPE_KVPEXCHANGE)
		return -ENOMSG;
	op = p[KVP_HDR_OFF];
	r = kvp_msg_size(op, &need);
	if (r < 0)
		return r;
	if (len < need)
		return -EBADMSG;

	switch (op) {
	case HV_KVP_OP_ENUMERATE:
		r = encode_value(p + offsetof(struct hv_kvp_pkt_enumerate, data.data),
				 result, 1);
		break;
	case HV_KVP_OP_GET:
		/*
		 * The value goes where GET's own body has it. Linux's
		 * kvp_respond_to_host reads the daemon's GET answer through
		 * the ENUMERATE layout, 4 bytes off, and its daemon copied
		 * value_size = 0 bytes anyway, so Linux answers GET with an
		 * empty value; that is not copied here.
		 */
		r = encode_value(p + offsetof(struct hv_kvp_pkt_value, data), result, 0);
		break;
	case HV_KVP_OP_GET_IP_INFO:
		r = kvp_ip_encode(&result->ip, &ip);
		if (r == 0)
			memcpy(p + offsetof(struct hv_kvp_pkt_ip, msg.kvp_ip_val), &ip,
			       sizeof(ip));
		break;
	case HV_KVP_OP_SET:
	case HV_KVP_OP_DELETE:
	case HV_KVP_OP_SET_IP_INFO:
		break;
	}
	if (r < 0)
		return r;
	return hv_ic_response_prepare(p, len, HV_IC_S_OK);
}
