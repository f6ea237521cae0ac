/* SPDX-License-Identifier: ISC */
/*
 * KVP messages as the host sees them on the VMBus channel: the requests
 * it sends and the replies it gets back.
 *
 * Facts this file relies on:
 * - the host frames a KVP request like every IC message: pipe flags 1
 *   (VmPipeMessageData in ProjectMile's Mile.HyperV), the negotiated
 *   framework and message versions in the IC header, flags
 *   TRANSACTION|REQUEST (implied by the flag names of Linux's
 *   include/linux/hyperv.h; no guest reads them);
 * - sizes of keys and string values count the 2-byte NUL, as Linux's
 *   hv_kvp.c kvp_respond_to_host writes them and as its kvp_send_key
 *   expects them from the host;
 * - a guest answers in place: status in the IC header, flags
 *   TRANSACTION|RESPONSE, operation and pool kept (Linux, FreeBSD; OpenBSD's
 *   hypervic.c writes its status over operation and pool instead, which
 *   the strict decoder refuses and the lenient one shows).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hvuio/kvp_msg.h"
#include "lib/common/compiler.h"
#include "kvp_wire.h"

#define KVP_HDR_OFF offsetof(struct hv_kvp_pkt_value, kvp_hdr)
/* What every KVP message has: headers, operation and pool. */
#define KVP_MIN_LEN (KVP_HDR_OFF + 2)

/* VmPipeMessageData: the pipe message type of IC traffic. */
#define KVP_PIPE_MESSAGE_DATA 1

/* Canonical enough decimal text: digits only, at most `max`. */
static int parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned int d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned int)(s[i] - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int build_value(struct hv_kvp_exchg_msg_value *w, const struct hv_kvp_request *req,
		       uint8_t op)
{
	uint32_t size;
	uint64_t x;
	int r;

	/* Sizes go through locals: the packed fields are not aligned. */
	r = kvp_utf16_put(req->key, req->key_len, sizeof(req->key), w->key, sizeof(w->key),
			  &size);
	if (r < 0)
		return r;
	w->key_size = size;
	if (op == HV_KVP_OP_GET) {
		/* The guest writes the value; nothing of it goes out. */
		w->value_type = HV_KVP_REG_SZ;
		return 0;
	}
	if (req->value_len >= sizeof(req->value) || req->value[req->value_len] != '\0')
		return -EINVAL;
	switch (req->value_type) {
	case HV_KVP_REG_SZ:
		r = kvp_utf16_put(req->value, req->value_len, sizeof(req->value), w->value,
				  sizeof(w->value), &size);
		if (r < 0)
			return r;
		w->value_type = HV_KVP_REG_SZ;
		w->value_size = size;
		return 0;
	case HV_KVP_REG_U32:
		r = parse_decimal(req->value, req->value_len, UINT32_MAX, &x);
		if (r < 0)
			return r;
		w->value_type = HV_KVP_REG_U32;
		w->value_u32 = (uint32_t)x;
		w->value_size = sizeof(uint32_t);
		return 0;
	case HV_KVP_REG_U64:
		r = parse_decimal(req->value, req->value_len, UINT64_MAX, &x);
		if (r < 0)
			return r;
		w->value_type = HV_KVP_REG_U64;
		w->value_u64 = x;
		w->value_size = sizeof(uint64_t);
		return 0;
	}
	return -EPROTONOSUPPORT;
}

HV_EXPORT int hv_kvp_msg_request_build(void *buf, size_t buflen,
				       const struct hv_kvp_request *req,
				       struct hv_ic_version fw, struct hv_ic_version msg,
				       uint8_t transaction_id, size_t *len)
{
	union hv_kvp_pkt m;
	struct hv_kvp_ip_info ip;
	uint32_t size = 0;
	size_t need;
	int r;

	if (!buf || !req || !len)
		return -EINVAL;
	r = kvp_msg_size(req->operation, &need);
	if (r < 0)
		return r;
	/* Built aside, so that buf is only written once all of it converted. */
	memset(&m, 0, sizeof(m));
	switch (req->operation) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
		r = build_value(&m.v.data, req, req->operation);
		break;
	case HV_KVP_OP_DELETE:
		r = kvp_utf16_put(req->key, req->key_len, sizeof(req->key), m.d.data.key,
				  sizeof(m.d.data.key), &size);
		m.d.data.key_size = size;
		break;
	case HV_KVP_OP_ENUMERATE:
		/* The guest fills key and value; the host sends them zeroed. */
		m.e.data.index = req->index;
		break;
	case HV_KVP_OP_GET_IP_INFO:
		/* Only the adapter is asked about; the lists are the guest's. */
		memset(&ip, 0, sizeof(ip));
		memcpy(ip.adapter_id, req->ip.adapter_id, sizeof(ip.adapter_id));
		ip.addr_family = req->ip.addr_family;
		ip.dhcp_enabled = req->ip.dhcp_enabled;
		r = kvp_ip_encode(&ip, &m.ip.msg.kvp_ip_val);
		break;
	case HV_KVP_OP_SET_IP_INFO:
		r = kvp_ip_encode(&req->ip, &m.ip.msg.kvp_ip_val);
		break;
	}
	if (r < 0)
		return r;
	if (buflen < need)
		return -ENOBUFS;

	m.h.pipe.flags = KVP_PIPE_MESSAGE_DATA;
	m.h.pipe.msgsize = (uint32_t)(need - sizeof(m.h.pipe));
	m.h.ic.icverframe = fw;
	m.h.ic.icmsgtype = HV_IC_MSGTYPE_KVPEXCHANGE;
	m.h.ic.icvermsg = msg;
	m.h.ic.icmsgsize = (uint16_t)(need - HV_IC_DATA_OFFSET);
	m.h.ic.ictransaction_id = transaction_id;
	m.h.ic.icflags = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_REQUEST;
	/* Operation and pool sit at the same place in the IP-info layout. */
	m.h.kvp_hdr.operation = req->operation;
	m.h.kvp_hdr.pool = req->pool;
	memcpy(buf, &m, need);
	*len = need;
	return 0;
}

/* ---- replies ---- */

static size_t lossy_sized(const uint8_t *field, size_t field_size, uint32_t size,
			  char *dst, size_t dst_size)
{
	return kvp_utf16_to_utf8_lossy(field, size < field_size ? size : field_size, dst,
				       dst_size);
}

static void lossy_value(const struct hv_kvp_exchg_msg_value *w, struct hv_kvp_request *res)
{
	uint32_t size = w->value_size;
	int n;

	res->value_type = w->value_type;
	if (w->value_type == HV_KVP_REG_U32 && size >= sizeof(uint32_t)) {
		n = snprintf(res->value, sizeof(res->value), "%" PRIu32, w->value_u32);
		res->value_len = (size_t)n;
	} else if (w->value_type == HV_KVP_REG_U64 && size >= sizeof(uint64_t)) {
		n = snprintf(res->value, sizeof(res->value), "%" PRIu64, w->value_u64);
		res->value_len = (size_t)n;
	} else {
		res->value_len = lossy_sized(w->value, sizeof(w->value), size, res->value,
					     sizeof(res->value));
	}
}

static void lossy_ip(const struct hv_kvp_ipaddr_value *w, struct hv_kvp_ip_info *ip)
{
	ip->addr_family = w->addr_family;
	ip->dhcp_enabled = w->dhcp_enabled;
	kvp_utf16_to_utf8_lossy(w->adapter_id, sizeof(w->adapter_id), ip->adapter_id,
				sizeof(ip->adapter_id));
	kvp_utf16_to_utf8_lossy(w->ip_addr, sizeof(w->ip_addr), ip->ip_addr,
				sizeof(ip->ip_addr));
	kvp_utf16_to_utf8_lossy(w->sub_net, sizeof(w->sub_net), ip->sub_net,
				sizeof(ip->sub_net));
	kvp_utf16_to_utf8_lossy(w->gate_way, sizeof(w->gate_way), ip->gate_way,
				sizeof(ip->gate_way));
	kvp_utf16_to_utf8_lossy(w->dns_addr, sizeof(w->dns_addr), ip->dns_addr,
				sizeof(ip->dns_addr));
}

static void decode_lenient(const union hv_kvp_pkt *m, uint8_t op, struct hv_kvp_request *res)
{
	const struct hv_kvp_exchg_msg_value *v;

	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
	case HV_KVP_OP_ENUMERATE:
		v = op == HV_KVP_OP_ENUMERATE ? &m->e.data.data : &m->v.data;
		if (op == HV_KVP_OP_ENUMERATE)
			res->index = m->e.data.index;
		res->key_len = lossy_sized(v->key, sizeof(v->key), v->key_size, res->key,
					   sizeof(res->key));
		lossy_value(v, res);
		break;
	case HV_KVP_OP_DELETE:
		res->key_len = lossy_sized(m->d.data.key, sizeof(m->d.data.key),
					   m->d.data.key_size, res->key, sizeof(res->key));
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		lossy_ip(&m->ip.msg.kvp_ip_val, &res->ip);
		break;
	}
}

static int decode_strict(const union hv_kvp_pkt *m, uint8_t op, struct hv_kvp_request *res)
{
	const struct hv_kvp_exchg_msg_value *v;
	int r;

	switch (op) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
	case HV_KVP_OP_ENUMERATE:
		v = op == HV_KVP_OP_ENUMERATE ? &m->e.data.data : &m->v.data;
		if (op == HV_KVP_OP_ENUMERATE)
			res->index = m->e.data.index;
		r = kvp_sized_string_get(v->key, sizeof(v->key), v->key_size, res->key,
					 sizeof(res->key), &res->key_len);
		if (r < 0)
			return r;
		return kvp_value_decode(v, res);
	case HV_KVP_OP_DELETE:
		return kvp_sized_string_get(m->d.data.key, sizeof(m->d.data.key),
					    m->d.data.key_size, res->key, sizeof(res->key),
					    &res->key_len);
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		/* A reply carries every field, whichever operation asked. */
		return kvp_ip_decode(&m->ip.msg.kvp_ip_val, HV_KVP_OP_SET_IP_INFO, &res->ip);
	}
	return -EOPNOTSUPP;
}

HV_EXPORT int hv_kvp_msg_reply_decode(const void *payload, size_t len, uint8_t operation,
				      unsigned int flags, uint32_t *status,
				      struct hv_kvp_request *res)
{
	const uint8_t *p = payload;
	bool lenient = flags & HV_KVP_REPLY_LENIENT;
	union hv_kvp_pkt m;
	size_t need;
	int r;

	if (!payload || !status || !res || (flags & ~HV_KVP_REPLY_LENIENT))
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	if (kvp_msg_size(operation, &need) < 0)
		return -EINVAL;
	if (len < HV_IC_DATA_OFFSET)
		return -EBADMSG;
	/* One private copy, read once: the guest may still be writing its ring. */
	memcpy(&m, p, HV_IC_DATA_OFFSET);
	if (m.h.ic.icmsgtype != HV_IC_MSGTYPE_KVPEXCHANGE)
		return -ENOMSG;
	*status = m.h.ic.status;
	if (len < KVP_MIN_LEN)
		return -EBADMSG;
	memcpy(&m.h.kvp_hdr, p + KVP_HDR_OFF, KVP_MIN_LEN - KVP_HDR_OFF);

	if (!lenient) {
		if (m.h.ic.icmsgsize > len - HV_IC_DATA_OFFSET ||
		    !(m.h.ic.icflags & HV_IC_FLAG_RESPONSE) ||
		    m.h.kvp_hdr.operation != operation)
			return -EBADMSG;
		res->operation = operation;
		/* On failure a guest echoes the request: nothing in it is its own. */
		if (*status != HV_IC_S_OK)
			return 0;
	}
	if (len < need) {
		r = -EBADMSG;
		goto out;
	}
	memcpy((uint8_t *)&m + KVP_MIN_LEN, p + KVP_MIN_LEN, need - KVP_MIN_LEN);

	res->operation = operation;
	if (operation != HV_KVP_OP_GET_IP_INFO && operation != HV_KVP_OP_SET_IP_INFO) {
		if (!lenient && m.h.kvp_hdr.pool >= HV_KVP_POOL_COUNT) {
			r = -ERANGE;
			goto out;
		}
		res->pool = m.h.kvp_hdr.pool;
	}
	if (lenient) {
		decode_lenient(&m, operation, res);
		return 0;
	}
	r = decode_strict(&m, operation, res);
out:
	if (r < 0)
		memset(res, 0, sizeof(*res));
	return r;
}
