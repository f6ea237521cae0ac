/* SPDX-License-Identifier: ISC */
/*
 * KVP messages between Linux's hv_utils driver and its user-space daemon
 * (/dev/vmbus/hv_kvp): struct hv_kvp_msg of <linux/hyperv.h>, UTF-8.
 *
 * Facts from Linux's drivers/hv/hv_kvp.c and tools/hv/hv_kvp_daemon.c:
 * - the kernel converts the host's UTF-16 with utf16s_to_utf8s bounded
 *   to 511/2047 bytes and stores size = bytes + 1, so a size always ends
 *   at the first NUL; the message is zero-filled (kzalloc);
 * - the daemon registers by writing the whole message with operation
 *   HV_KVP_OP_REGISTER1; the kernel answers with the same operation and its
 *   version string ("3.1") in body.kvp_register;
 * - the daemon answers in the same buffer, putting its status in the
 *   4-byte `error` over operation and pool, and writes the whole struct;
 * - the kernel turns the answer back into UTF-16 with utf8s_to_utf16s
 *   bounded to 254 units for a key and 1022 for a value, and to the whole
 *   array for IP fields, cutting anything longer without a word.
 */
#include <errno.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "lib/common/compiler.h"
#include "kvp_wire.h"

#define KMSG_BODY offsetof(struct hv_kvp_msg, body)

/* Longest strings Linux's kvp_respond_to_host converts whole. */
#define KMSG_KEY_UNITS   (HV_KVP_KEY_MAX_SIZE / 2 - 2)
#define KMSG_VALUE_UNITS (HV_KVP_VALUE_MAX_SIZE / 2 - 2)

static inline void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static int kmsg_size(uint8_t op, size_t *ret)
{
	size_t body = 0;
	int r = kvp_body_size(op, &body);

	*ret = KMSG_BODY + body;
	return r;
}

/* A sized UTF-8 string: its size must end exactly at its first NUL. */
static int get_kstring(const uint8_t *field, size_t field_size, uint32_t size,
		       char *dst, size_t *ret_len)
{
	if (size > field_size)
		return -EOVERFLOW;
	if (size == 0 || memchr(field, 0, size) != field + size - 1)
		return -EMSGSIZE;
	if (hv_kvp_utf8_check((const char *)field, size - 1) < 0)
		return -EILSEQ;
	memcpy(dst, field, size);
	if (ret_len)
		*ret_len = size - 1;
	return 0;
}

/* A string with no size: terminated inside its array. */
static int get_kfield(const uint8_t *field, size_t field_size, char *dst)
{
	const uint8_t *nul = memchr(field, 0, field_size);

	if (!nul)
		return -EMSGSIZE;
	return get_kstring(field, field_size, (uint32_t)(nul - field + 1), dst, NULL);
}

static int kdecode_ip(const struct hv_kvp_ipaddr_value *w, uint8_t op,
		      struct hv_kvp_ip_info *ip)
{
	int r;

	ip->addr_family = w->addr_family;
	ip->dhcp_enabled = w->dhcp_enabled;
	r = get_kfield(w->adapter_id, sizeof(w->adapter_id), ip->adapter_id);
	if (r < 0 || op == HV_KVP_OP_GET_IP_INFO)
		return r;
	r = get_kfield(w->ip_addr, sizeof(w->ip_addr), ip->ip_addr);
	if (r < 0)
		return r;
	r = get_kfield(w->sub_net, sizeof(w->sub_net), ip->sub_net);
	if (r < 0)
		return r;
	r = get_kfield(w->gate_way, sizeof(w->gate_way), ip->gate_way);
	if (r < 0)
		return r;
	return get_kfield(w->dns_addr, sizeof(w->dns_addr), ip->dns_addr);
}

HV_EXPORT int hv_kvp_kmsg_decode(const void *msg, size_t len,
				 struct hv_kvp_request *req)
{
	struct hv_kvp_msg m;
	const struct hv_kvp_exchg_msg_value *v;
	size_t need;
	uint8_t op;
	int r;

	if (!msg || !req)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	if (len < KMSG_BODY)
		return -EBADMSG;
	memcpy(&m, msg, KMSG_BODY);
	op = m.kvp_hdr.operation;
	r = kmsg_size(op, &need);
	if (r < 0)
		return r;
	if (len < need)
		return -EBADMSG;
	memcpy((uint8_t *)&m + KMSG_BODY, (const uint8_t *)msg + KMSG_BODY,
	       need - KMSG_BODY);

	req->operation = op;
	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
	case HV_KVP_OP_DELETE:
	case HV_KVP_OP_ENUMERATE:
		/* Linux passes the host's byte through; its daemon trusts it. */
		if (m.kvp_hdr.pool >= HV_KVP_POOL_COUNT) {
			r = -ERANGE;
			goto out;
		}
		req->pool = m.kvp_hdr.pool;
		break;
	}

	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		v = &m.body.kvp_set;
		r = get_kstring(v->key, sizeof(v->key), v->key_size, req->key, &req->key_len);
		if (r < 0 || op == HV_KVP_OP_GET)
			break;
		/* The kernel has already turned integers into text. */
		req->value_type = v->value_type;
		r = get_kstring(v->value, sizeof(v->value), v->value_size, req->value,
				&req->value_len);
		break;
	case HV_KVP_OP_DELETE:
		r = get_kstring(m.body.kvp_delete.key, sizeof(m.body.kvp_delete.key),
				m.body.kvp_delete.key_size, req->key, &req->key_len);
		break;
	case HV_KVP_OP_ENUMERATE:
		req->index = m.body.kvp_enum_data.index;
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		r = kdecode_ip(&m.body.kvp_ip_val, op, &req->ip);
		break;
	case HV_KVP_OP_REGISTER1:
		r = get_kfield(m.body.kvp_register.version,
			       sizeof(m.body.kvp_register.version), req->value);
		if (r == 0)
			req->value_len = strlen(req->value);
		break;
	}
out:
	if (r < 0)
		memset(req, 0, sizeof(*req));
	return r;
}

/*
 * Check a result string for the kernel: valid UTF-8 that fits its array
 * with the NUL and that the kernel converts back without cutting it.
 */
static int check_kresult(const char *s, size_t len, size_t array, size_t field_size,
			 size_t max_units)
{
	size_t units;

	if (len >= array || s[len] != '\0')
		return -EINVAL;
	if (len + 1 > field_size)
		return -ENOBUFS;
	if (kvp_utf8_utf16_units(s, len, &units) < 0)
		return -EILSEQ;
	return units > max_units ? -ENOBUFS : 0;
}

static void put_kresult(uint8_t *field, size_t field_size, const char *s, size_t len)
{
	memset(field, 0, field_size);
	memcpy(field, s, len);
}

/* Fill an exchg value at d: the value, and the key when with_key. */
static int put_kvalue(uint8_t *d, const struct hv_kvp_request *res, int with_key)
{
	int r;

	if (with_key) {
		r = check_kresult(res->key, res->key_len, sizeof(res->key),
				  HV_KVP_KEY_MAX_SIZE, KMSG_KEY_UNITS);
		if (r < 0)
			return r;
	}
	r = check_kresult(res->value, res->value_len, sizeof(res->value),
			  HV_KVP_VALUE_MAX_SIZE, KMSG_VALUE_UNITS);
	if (r < 0)
		return r;
	if (with_key) {
		put_le32(d + offsetof(struct hv_kvp_exchg_msg_value, key_size),
			 (uint32_t)res->key_len + 1);
		put_kresult(d + offsetof(struct hv_kvp_exchg_msg_value, key),
			    HV_KVP_KEY_MAX_SIZE, res->key, res->key_len);
	}
	put_le32(d + offsetof(struct hv_kvp_exchg_msg_value, value_type), HV_KVP_REG_SZ);
	put_le32(d + offsetof(struct hv_kvp_exchg_msg_value, value_size),
		 (uint32_t)res->value_len + 1);
	put_kresult(d + offsetof(struct hv_kvp_exchg_msg_value, value),
		    HV_KVP_VALUE_MAX_SIZE, res->value, res->value_len);
	return 0;
}

#define IPF(f, units) { offsetof(struct hv_kvp_ip_info, f), \
	offsetof(struct hv_kvp_msg, body.kvp_ip_val.f), \
	sizeof(((struct hv_kvp_ipaddr_value *)0)->f), (units) - 1 }

static const struct {
	size_t res_off, msg_off, size, max_units;
} ip_fields[] = {
	IPF(adapter_id, HV_KVP_MAX_ADAPTER_ID_SIZE),
	IPF(ip_addr, HV_KVP_MAX_IP_ADDR_SIZE),
	IPF(sub_net, HV_KVP_MAX_IP_ADDR_SIZE),
	IPF(gate_way, HV_KVP_MAX_GATEWAY_SIZE),
	IPF(dns_addr, HV_KVP_MAX_IP_ADDR_SIZE),
};

HV_EXPORT int hv_kvp_kmsg_reply_set(void *msg, size_t len, uint32_t error,
				    const struct hv_kvp_request *result)
{
	uint8_t *p = msg;
	size_t need, i;
	uint8_t op;
	int r;

	if (!msg)
		return -EINVAL;
	if (len < KMSG_BODY)
		return -EBADMSG;
	if (error != HV_IC_S_OK) {
		put_le32(p, error);
		return 0;
	}
	if (!result)
		return -EINVAL;
	op = p[offsetof(struct hv_kvp_msg, kvp_hdr.operation)];
	if (op == HV_KVP_OP_REGISTER1)
		return -EOPNOTSUPP;
	r = kmsg_size(op, &need);
	if (r < 0)
		return r;
	/* A GET's answer goes in the ENUMERATE layout (below), 4 bytes longer. */
	if (op == HV_KVP_OP_GET)
		need = KMSG_BODY + sizeof(struct hv_kvp_msg_enumerate);
	if (len < need)
		return -EBADMSG;

	switch (op) {
	case HV_KVP_OP_ENUMERATE:
		r = put_kvalue(p + offsetof(struct hv_kvp_msg, body.kvp_enum_data.data),
			       result, 1);
		if (r < 0)
			return r;
		break;
	case HV_KVP_OP_GET:
		/*
		 * Where Linux's kernel reads it: kvp_respond_to_host
		 * (drivers/hv/hv_kvp.c) takes a GET's value from
		 * body.kvp_enum_data.data.value, 4 bytes after the GET layout's
		 * value field, which is why Linux's own daemon answers an empty
		 * or clipped value. Only the value string is read there.
		 */
		r = check_kresult(result->value, result->value_len, sizeof(result->value),
				  HV_KVP_VALUE_MAX_SIZE, KMSG_VALUE_UNITS);
		if (r < 0)
			return r;
		put_kresult(p + offsetof(struct hv_kvp_msg, body.kvp_enum_data.data.value),
			    HV_KVP_VALUE_MAX_SIZE, result->value, result->value_len);
		break;
	case HV_KVP_OP_GET_IP_INFO:
		for (i = 0; i < ARRAY_SIZE(ip_fields); i++) {
			const char *s = (const char *)&result->ip + ip_fields[i].res_off;
			size_t array = ip_fields[i].size;

			r = check_kresult(s, strnlen(s, array), array, array,
					  ip_fields[i].max_units);
			if (r < 0)
				return r;
		}
		for (i = 0; i < ARRAY_SIZE(ip_fields); i++) {
			const char *s = (const char *)&result->ip + ip_fields[i].res_off;

			put_kresult(p + ip_fields[i].msg_off, ip_fields[i].size, s,
				    strlen(s));
		}
		p[offsetof(struct hv_kvp_msg, body.kvp_ip_val.addr_family)] =
			result->ip.addr_family;
		p[offsetof(struct hv_kvp_msg, body.kvp_ip_val.dhcp_enabled)] =
			result->ip.dhcp_enabled;
		break;
	case HV_KVP_OP_SET:
	case HV_KVP_OP_DELETE:
	case HV_KVP_OP_SET_IP_INFO:
		break;
	}
	put_le32(p, HV_IC_S_OK);
	return 0;
}

HV_EXPORT int hv_kvp_kmsg_register_build(void *msg, size_t len)
{
	uint8_t *p = msg;

	if (!msg)
		return -EINVAL;
	if (len < HV_KVP_KMSG_SIZE)
		return -ENOBUFS;
	memset(p, 0, HV_KVP_KMSG_SIZE);
	p[offsetof(struct hv_kvp_msg, kvp_hdr.operation)] = HV_KVP_OP_REGISTER1;
	return 0;
}
