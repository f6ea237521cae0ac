/* SPDX-License-Identifier: ISC */
/*
 * The host's side of the KVP protocol: the requests of a script's kvp and
 * ip lines, built by the library's codec (hvuio/kvp_msg.h) as Hyper-V
 * sends them, one transaction outstanding, and the guest's replies read
 * leniently and printed, as text or --json.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvsim.h"

static const char *const op_names[] = {
	"get", "set", "delete", "enumerate", "get_ip_info", "set_ip_info"
};

/*
 * What the guest's reply carries, decoded leniently: a broken guest is
 * shown, not refused. Fails (res zeroed) when its body is incomplete.
 */
static int kvp_reply_show(const struct sim_reply *r, uint8_t op, struct hv_kvp_request *res)
{
	uint32_t status;

	return hv_kvp_msg_reply_decode(r->buf, r->len, op, HV_KVP_REPLY_LENIENT, &status, res);
}

/* Print a KVP reply; fields only as far as the guest's bytes reach. */
static void kvp_print(struct sim *s, const struct sim_reply *r, uint8_t op, int pool,
		      int64_t index, struct hv_kvp_request *res)
{
	char st[64];
	bool have_kv = false;

	if ((op == HV_KVP_OP_ENUMERATE || op == HV_KVP_OP_GET) && kvp_reply_show(r, op, res) == 0)
		have_kv = r->ic.status == HV_IC_S_OK;
	sim_status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("kvp"));
		json_object_object_add(o, "op", json_object_new_string(op_names[op]));
		json_object_object_add(o, "pool", json_object_new_int(pool));
		if (index >= 0)
			json_object_object_add(o, "index", json_object_new_int64(index));
		sim_json_add_status(o, r->ic.status);
		if (have_kv) {
			json_object_object_add(o, "key", json_object_new_string(res->key));
			json_object_object_add(o, "value", json_object_new_string(res->value));
		}
		sim_json_add_hex(o, "request", r->req, r->req_len);
		sim_json_add_hex(o, "payload", r->buf, r->len);
		sim_json_emit(o);
		return;
	}
	printf("kvp %s pool %d", op_names[op], pool);
	if (index >= 0)
		printf(" index %" PRId64, index);
	printf(": status %s", st);
	if (have_kv)
		printf(" key \"%s\" value \"%s\"", res->key, res->value);
	putchar('\n');
}

/*
 * Put a script string into a field of the request, with hvsim's own
 * message for what the codec would refuse: the UTF-16 field of `units`
 * on the wire, then the UTF-8 field of struct hv_kvp_request.
 */
static int encode_field(const struct sim_action *a, const char *what, const char *str,
			size_t units, char *dst, size_t dst_size, size_t *ret_len)
{
	uint8_t wire[HV_KVP_VALUE_MAX_SIZE];
	size_t len = strlen(str);
	int n = hv_kvp_utf8_to_utf16(str, len, wire, 2 * units, NULL);

	if (n == -ENOBUFS) {
		sim_err("line %u: the %s does not fit in %zu UTF-16 units with its NUL",
			a->line, what, units);
		return -1;
	}
	if (n < 0) {
		sim_err("line %u: the %s is not valid UTF-8", a->line, what);
		return -1;
	}
	if (len >= dst_size) {
		sim_err("line %u: the %s does not fit in %zu bytes of UTF-8 with its NUL",
			a->line, what, dst_size);
		return -1;
	}
	memcpy(dst, str, len + 1);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* The request an action stands for, in the codec's neutral form. */
static int kvp_request_fill(const struct sim_action *a, uint8_t op, int64_t index,
			    struct hv_kvp_request *req)
{
	struct hv_kvp_ip_info *ip = &req->ip;

	memset(req, 0, sizeof(*req));
	req->operation = op;
	req->pool = (uint8_t)a->pool;
	switch (op) {
	case HV_KVP_OP_SET:
	case HV_KVP_OP_GET:
	case HV_KVP_OP_DELETE:
		if (encode_field(a, "key", a->args[0], HV_KVP_KEY_MAX_SIZE / 2,
				 req->key, sizeof(req->key), &req->key_len) < 0)
			return -EINVAL;
		if (op != HV_KVP_OP_SET)
			break;
		{
			const char *val = a->args[1];
			unsigned long long x;
			char *end;
			int n;

			/* qword: and expand: are the registry's types openvmm sends. */
			bool qword = !strncmp(val, "qword:", 6);

			if (!strncmp(val, "u32:", 4) || !strncmp(val, "u64:", 4) || qword) {
				bool is32 = val[1] == '3';
				const char *num = val + (qword ? 6 : 4);

				errno = 0;
				x = strtoull(num, &end, 0);
				if (errno || *end || !*num || (is32 && x > UINT32_MAX)) {
					sim_err("line %u: bad integer value '%s'", a->line, val);
					return -EINVAL;
				}
				/* The codec takes integers as the decimal text Linux makes of them. */
				req->value_type = qword ? HV_KVP_REG_QWORD : is32 ? HV_KVP_REG_U32 : HV_KVP_REG_U64;
				n = snprintf(req->value, sizeof(req->value), "%llu", x);
				req->value_len = (size_t)n;
			} else {
				req->value_type = HV_KVP_REG_SZ;
				if (!strncmp(val, "expand:", 7)) {
					req->value_type = HV_KVP_REG_EXPAND_SZ;
					val += 7;
				}
				if (encode_field(a, "value", val, HV_KVP_VALUE_MAX_SIZE / 2,
						 req->value, sizeof(req->value),
						 &req->value_len) < 0)
					return -EINVAL;
			}
		}
		break;
	case HV_KVP_OP_ENUMERATE:
		req->index = (uint32_t)index;
		break;
	case HV_KVP_OP_GET_IP_INFO:
	case HV_KVP_OP_SET_IP_INFO:
		if (encode_field(a, "adapter id", a->args[0], HV_KVP_MAX_ADAPTER_ID_SIZE,
				 ip->adapter_id, sizeof(ip->adapter_id), NULL) < 0)
			return -EINVAL;
		if (op == HV_KVP_OP_SET_IP_INFO) {
			const char *fam = a->args[1], *dhcp = a->args[2];

			if (!strcmp(fam, "none"))
				ip->addr_family = HV_KVP_ADDR_FAMILY_NONE;
			else if (!strcmp(fam, "ipv4"))
				ip->addr_family = HV_KVP_ADDR_FAMILY_IPV4;
			else if (!strcmp(fam, "ipv6"))
				ip->addr_family = HV_KVP_ADDR_FAMILY_IPV6;
			else if (!strcmp(fam, "both"))
				ip->addr_family = HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6;
			else {
				sim_err("line %u: family is none, ipv4, ipv6 or both", a->line);
				return -EINVAL;
			}
			if (!strcmp(dhcp, "dhcp") || !strcmp(dhcp, "1"))
				ip->dhcp_enabled = HV_KVP_DHCP_ENABLED;
			else if (!strcmp(dhcp, "static") || !strcmp(dhcp, "0"))
				ip->dhcp_enabled = HV_KVP_DHCP_DISABLED;
			else {
				sim_err("line %u: DHCP is dhcp or static", a->line);
				return -EINVAL;
			}
			/* "-" stands for an empty list. */
			if (encode_field(a, "address list", strcmp(a->args[3], "-") ? a->args[3] : "",
					 HV_KVP_MAX_IP_ADDR_SIZE, ip->ip_addr, sizeof(ip->ip_addr), NULL) < 0 ||
			    encode_field(a, "subnet list", strcmp(a->args[4], "-") ? a->args[4] : "",
					 HV_KVP_MAX_IP_ADDR_SIZE, ip->sub_net, sizeof(ip->sub_net), NULL) < 0 ||
			    encode_field(a, "gateway list", strcmp(a->args[5], "-") ? a->args[5] : "",
					 HV_KVP_MAX_GATEWAY_SIZE, ip->gate_way, sizeof(ip->gate_way), NULL) < 0 ||
			    encode_field(a, "DNS list", strcmp(a->args[6], "-") ? a->args[6] : "",
					 HV_KVP_MAX_IP_ADDR_SIZE, ip->dns_addr, sizeof(ip->dns_addr), NULL) < 0)
				return -EINVAL;
		}
		break;
	}
	return 0;
}

/*
 * One KVP request and its reply. req is scratch space for the request
 * (and, after, for printing the reply).
 */
static int kvp_exchange(struct sim *s, const struct sim_action *a, uint8_t op,
			int64_t index, struct sim_reply *r, struct hv_kvp_request *req)
{
	int err;

	if ((err = kvp_request_fill(a, op, index, req)))
		return err;
	/* The IC transaction id stays 0, as for every request hvsim sends. */
	err = hv_kvp_msg_request_build(r->req, sizeof(r->req), req, s->fw_ver, s->msg_ver, 0,
				       &r->req_len);
	if (err < 0) {
		sim_err("line %u: cannot encode the KVP request: %s", a->line, strerror(-err));
		return -EIO;
	}
	if ((err = sim_request_send(s, a->line, r->req, r->req_len, "KVP")))
		return err;
	return sim_reply_recv(s, a->line, HV_IC_MSGTYPE_KVPEXCHANGE, "KVP", r);
}

static void ip_print(struct sim *s, const struct sim_reply *r, uint8_t op,
		     struct hv_kvp_request *res)
{
	const struct hv_kvp_ip_info *ip = &res->ip;
	char st[64];
	bool have = kvp_reply_show(r, op, res) == 0;

	sim_status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("ip"));
		json_object_object_add(o, "op", json_object_new_string(op_names[op]));
		sim_json_add_status(o, r->ic.status);
		if (have) {
			json_object_object_add(o, "adapter", json_object_new_string(ip->adapter_id));
			json_object_object_add(o, "family", json_object_new_int(ip->addr_family));
			json_object_object_add(o, "dhcp", json_object_new_boolean(ip->dhcp_enabled));
			json_object_object_add(o, "addresses", json_object_new_string(ip->ip_addr));
			json_object_object_add(o, "subnets", json_object_new_string(ip->sub_net));
			json_object_object_add(o, "gateways", json_object_new_string(ip->gate_way));
			json_object_object_add(o, "dns", json_object_new_string(ip->dns_addr));
		}
		sim_json_add_hex(o, "request", r->req, r->req_len);
		sim_json_add_hex(o, "payload", r->buf, r->len);
		sim_json_emit(o);
		return;
	}
	printf("ip %s: status %s", op == HV_KVP_OP_GET_IP_INFO ? "get" : "set", st);
	if (have)
		printf(" adapter \"%s\" family %u dhcp %u addresses \"%s\" subnets \"%s\""
		       " gateways \"%s\" dns \"%s\"", ip->adapter_id, ip->addr_family,
		       ip->dhcp_enabled, ip->ip_addr, ip->sub_net, ip->gate_way, ip->dns_addr);
	putchar('\n');
}

int sim_kvp_run(struct sim *s, const struct sim_action *a)
{
	struct sim_reply *r;
	uint8_t op;
	int err;

	if (s->type->ic_type != HV_IC_MSGTYPE_KVPEXCHANGE) {
		sim_err("line %u: KVP requests need --device kvp", a->line);
		return -EINVAL;
	}
	if ((err = sim_ready(s, a->line)))
		return err;
	switch (a->op) {
	case OP_KVP_SET: op = HV_KVP_OP_SET; break;
	case OP_KVP_GET: op = HV_KVP_OP_GET; break;
	case OP_KVP_DELETE: op = HV_KVP_OP_DELETE; break;
	case OP_KVP_ENUMERATE: op = HV_KVP_OP_ENUMERATE; break;
	case OP_IP_GET: op = HV_KVP_OP_GET_IP_INFO; break;
	default: op = HV_KVP_OP_SET_IP_INFO; break;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (op == HV_KVP_OP_ENUMERATE) {
		/* Without an index, walk as the host does: until the guest says no. */
		for (uint64_t i = a->all ? 0 : a->n; ; i++) {
			if ((err = kvp_exchange(s, a, op, (int64_t)i, r, &r->kvp)))
				break;
			kvp_print(s, r, op, a->pool, (int64_t)i, &r->kvp);
			if (!a->all || r->ic.status != HV_IC_S_OK || i == UINT32_MAX)
				break;
		}
	} else if ((err = kvp_exchange(s, a, op, -1, r, &r->kvp)) == 0) {
		if (op >= HV_KVP_OP_GET_IP_INFO)
			ip_print(s, r, op, &r->kvp);
		else
			kvp_print(s, r, op, a->pool, -1, &r->kvp);
	}
	free(r);
	return err;
}
