/* SPDX-License-Identifier: ISC */
/*
 * The host's side of the IC protocols: version negotiation, heartbeat and
 * KVP requests as Hyper-V sends them, and the guest's replies, checked and
 * printed. Layouts and sizes are those of Linux's include/uapi/linux/
 * hyperv.h and include/linux/hyperv.h; the KVP messages are built and
 * their replies read by the library's codec (hvuio/kvp_msg.h).
 *
 * Like the host, we keep one transaction outstanding and wait for its
 * reply at most the timeout (5 s by default, as FreeBSD's KVP driver
 * waits); a guest that does not answer in time ends the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvsim.h"


/* ---- output ---- */

void sim_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	sim_vlog(fmt, ap);
	va_end(ap);
}

void sim_log(const struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->verbose)
		return;
	va_start(ap, fmt);
	sim_vlog(fmt, ap);
	va_end(ap);
}

static void status_text(uint32_t status, char *buf, size_t len)
{
	const char *n = sim_status_name(status);

	if (n)
		snprintf(buf, len, "%s (0x%08" PRIx32 ")", n, status);
	else
		snprintf(buf, len, "0x%08" PRIx32, status);
}

void sim_status_text(uint32_t status, char *buf, size_t len)
{
	status_text(status, buf, len);
}

static void json_add_status(struct json_object *o, uint32_t status)
{
	const char *n = sim_status_name(status);

	json_object_object_add(o, "status", json_object_new_int64(status));
	json_object_object_add(o, "status_name", n ? json_object_new_string(n) : NULL);
}

/* Bytes as lower-case hex (nothing is added if memory runs out). */
static void json_add_hex(struct json_object *o, const char *name, const uint8_t *p, size_t len)
{
	char *hex = malloc(2 * len + 1);

	if (!hex)
		return;
	for (size_t i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", p[i]);
	hex[2 * len] = '\0';
	json_object_object_add(o, name, json_object_new_string(hex));
	free(hex);
}

static void json_emit(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* ---- IC framing ---- */

static size_t ic_frame(const struct sim *s, uint8_t *buf, uint16_t type,
		       const void *body, size_t body_len)
{
	struct hv_ic_pipe_hdr pipe = {
		.flags = VMPIPE_MESSAGE_DATA,
		.msgsize = (uint32_t)(sizeof(struct hv_ic_hdr) + body_len),
	};
	struct hv_ic_hdr ic = {
		.icmsgtype = type,
		.icmsgsize = (uint16_t)body_len,
		.icflags = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_REQUEST,
	};

	/* A negotiate request carries no versions yet; others the agreed ones. */
	if (type != HV_IC_MSGTYPE_NEGOTIATE) {
		ic.icverframe = s->fw_ver;
		ic.icvermsg = s->msg_ver;
	}
	memcpy(buf, &pipe, sizeof(pipe));
	memcpy(buf + sizeof(pipe), &ic, sizeof(ic));
	if (body_len)
		memcpy(buf + HV_IC_DATA_OFFSET, body, body_len);
	return HV_IC_DATA_OFFSET + body_len;
}

/* What the guest's reply says, checked against what we sent. */
struct reply {
	uint8_t buf[SIM_MAX_MSG * 2];
	size_t len;
	/* The KVP request it answers, for --json's byte-exact fields. */
	uint8_t req[SIM_MAX_MSG];
	size_t req_len;
	struct hv_ic_hdr ic;
	uint64_t trans_id;
	/* A KVP request in the codec's form, then what its reply shows. */
	struct hv_kvp_request kvp;
};

static int send_request(struct sim *s, const struct sim_action *a, const uint8_t *msg,
			size_t len, const char *what)
{
	int err = sim_dev_send(&s->dev, msg, len);

	if (err == -ETIMEDOUT) {
		sim_err("line %u: the guest left the host-to-guest ring full for %d s (%s)",
			a->line, s->dev.timeout_ms / 1000, what);
		return -ETIMEDOUT;
	}
	if (err < 0) {
		sim_err("line %u: cannot send %s: %s", a->line, what,
			err == -ECONNRESET ? "the guest closed the device" : strerror(-err));
		return -EPROTO;
	}
	return 0;
}

/*
 * Wait for the reply to the request of type `type`. Everything in it is
 * guest data: lengths are checked before anything is read.
 */
static int recv_reply(struct sim *s, unsigned int line, uint16_t type,
		      const char *what, struct reply *r)
{
	struct hv_ic_msg m;
	uint16_t pkt_type;
	int err;

	r->len = sizeof(r->buf);
	err = sim_dev_recv(&s->dev, r->buf, &r->len, &r->trans_id, &pkt_type,
			   s->dev.timeout_ms);
	if (err == -ETIMEDOUT) {
		sim_err("line %u: the guest did not answer the %s request within %d ms",
			line, what, s->dev.timeout_ms);
		return -ETIMEDOUT;
	}
	if (err == -ECONNRESET) {
		sim_err("line %u: the guest closed the device before answering the %s request",
			line, what);
		return -ECONNRESET;
	}
	if (err == -EBADMSG) {
		sim_err("line %u: the guest broke the ring protocol (bad index or packet descriptor)",
			line);
		return -EBADMSG;
	}
	if (err < 0) {
		sim_err("line %u: receiving the %s reply: %s", line, what, strerror(-err));
		return -EPROTO;
	}
	if (pkt_type != HV_RING_PKT_DATA_INBAND) {
		sim_err("line %u: the guest answered %s with a packet of type %u, not in-band data",
			line, what, pkt_type);
		return -EPROTO;
	}
	if (hv_ic_msg_parse(r->buf, r->len, &m) < 0) {
		sim_err("line %u: the %s reply (%zu bytes) is not an IC message that fits its packet",
			line, what, r->len);
		return -EPROTO;
	}
	r->ic = m.hdr;
	if (!(r->ic.icflags & HV_IC_FLAG_RESPONSE)) {
		sim_err("line %u: the %s reply lacks the RESPONSE flag (icflags 0x%x)",
			line, what, r->ic.icflags);
		return -EPROTO;
	}
	if (r->ic.icmsgtype != type) {
		sim_err("line %u: the guest answered the %s request with IC message type %u",
			line, what, r->ic.icmsgtype);
		return -EPROTO;
	}
	s->have_reply = true;
	s->last_status = r->ic.status;
	return 0;
}

/* Check and print a negotiate reply; 0 when versions were agreed. */
static int negotiate_reply(struct sim *s, unsigned int line, const struct reply *r)
{
	struct hv_ic_negotiate neg = { 0 };
	struct hv_ic_version fw = { 0 }, mv = { 0 };
	char st[64];
	int err;

	err = hv_ic_negotiate_reply_parse(r->buf, r->len, sim_devtype_offer(s->type),
					  &fw, &mv);
	if (r->len >= HV_IC_DATA_OFFSET + sizeof(neg))
		memcpy(&neg, r->buf + HV_IC_DATA_OFFSET, sizeof(neg));
	status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("negotiate"));
		json_add_status(o, r->ic.status);
		json_object_object_add(o, "framework_count", json_object_new_int(neg.icframe_vercnt));
		json_object_object_add(o, "message_count", json_object_new_int(neg.icmsg_vercnt));
		if (!err) {
			char v[16];

			snprintf(v, sizeof(v), "%u.%u", fw.major, fw.minor);
			json_object_object_add(o, "framework", json_object_new_string(v));
			snprintf(v, sizeof(v), "%u.%u", mv.major, mv.minor);
			json_object_object_add(o, "message", json_object_new_string(v));
		}
		json_emit(o);
	} else if (!err) {
		printf("negotiate: status %s framework %u.%u message %u.%u\n", st,
		       fw.major, fw.minor, mv.major, mv.minor);
	} else {
		printf("negotiate: status %s no agreement (counts %u/%u)\n", st,
		       neg.icframe_vercnt, neg.icmsg_vercnt);
	}
	switch (err) {
	case 0:
		break;
	case -EOPNOTSUPP:
		sim_err("line %u: the guest found no common version", line);
		return -EPROTO;
	case -EPROTO:
		sim_err("line %u: the guest chose versions the host did not offer", line);
		return -EPROTO;
	default:
		sim_err("line %u: the negotiate reply is malformed (%zu bytes, counts %u/%u)",
			line, r->len, neg.icframe_vercnt, neg.icmsg_vercnt);
		return -EPROTO;
	}
	s->fw_ver = fw;
	s->msg_ver = mv;
	s->dev.negotiated = true;
	sim_log(s, "negotiated framework %u.%u, message %u.%u", fw.major, fw.minor,
		mv.major, mv.minor);
	return 0;
}

/* on_connect: the host sends its negotiate at once, mask or not. */
static int on_connect(struct sim_dev *d, void *arg)
{
	struct sim *s = arg;
	uint8_t msg[1024];
	size_t len;
	int err;

	/* The NIC's guest speaks first (NVSP's INIT), on a channel that knows no buffer yet. */
	s->nvs_rxbuf = false;
	if (s->type->ic_type == 0)
		return 0;
	err = hv_ic_negotiate_request_build(msg, sizeof(msg), sim_devtype_offer(s->type),
					    0, &len);
	if (err < 0)
		return err;
	sim_log(s, "guest opened %s; sending the negotiate request", s->root.node);
	return sim_dev_send(d, msg, len);
}

/* A connected guest, waiting for one if needed. */
static int ensure_open(struct sim *s, unsigned int line)
{
	int err;

	if (!s->root.devdir) {
		sim_err("line %u: the device is rescinded: offer it first", line);
		return -EINVAL;
	}
	if (!s->root.bound) {
		sim_err("line %u: no guest can open the %s device: kernel %s binds no channel "
			"without a monitor page to uio_hv_generic (hv_uio_probe: \"vmbus channel "
			"requires hypercall\"; allowed from 6.10, commit %s)", line, s->type->name,
			s->root.kernel.release, sim_kernel_commit(SIM_K_NONMONITORED));
		return -EPROTO;
	}
	if (s->dev.conn_fd < 0) {
		err = sim_dev_wait_guest(&s->dev, s->dev.timeout_ms);
		if (err == -ETIMEDOUT) {
			sim_err("line %u: no guest opened %s within %d ms", line,
				s->root.node, s->dev.timeout_ms);
			return -ETIMEDOUT;
		}
		if (err < 0) {
			sim_err("line %u: waiting for a guest: %s", line, strerror(-err));
			return -EIO;
		}
	}
	return 0;
}

/* A connected guest with agreed versions, waiting for both if needed. */
static int ensure_ready(struct sim *s, unsigned int line)
{
	struct reply *r;
	int err;

	if ((err = ensure_open(s, line)))
		return err;
	if (s->type->ic_type == 0) {
		sim_err("line %u: the %s device has no integration service to negotiate",
			line, s->type->name);
		return -EINVAL;
	}
	if (s->dev.negotiated)
		return 0;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = recv_reply(s, line, HV_IC_MSGTYPE_NEGOTIATE, "negotiate", r);
	if (!err)
		err = negotiate_reply(s, line, r);
	free(r);
	return err;
}

int sim_ready(struct sim *s, unsigned int line)
{
	return ensure_ready(s, line);
}

int sim_opened(struct sim *s, unsigned int line)
{
	return ensure_open(s, line);
}

static void hex_print(const uint8_t *p, size_t n, FILE *f)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static int run_send(struct sim *s, const struct sim_action *a)
{
	struct reply *r = NULL;
	uint8_t *msg = NULL;
	size_t len;
	char st[64];
	int err;

	if ((err = ensure_ready(s, a->line)))
		return err;
	msg = malloc(HV_IC_DATA_OFFSET + a->payload_len);
	r = malloc(sizeof(*r));
	err = -ENOMEM;
	if (!msg || !r)
		goto out;
	len = ic_frame(s, msg, a->ic_type, a->payload, a->payload_len);
	if ((err = send_request(s, a, msg, len, "raw message")))
		goto out;
	if ((err = recv_reply(s, a->line, a->ic_type, "raw", r)))
		goto out;
	if (a->ic_type == HV_IC_MSGTYPE_NEGOTIATE) {
		err = negotiate_reply(s, a->line, r);
		goto out;
	}
	status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();
		char *hex = malloc(2 * (r->len - HV_IC_DATA_OFFSET) + 1);

		json_object_object_add(o, "reply", json_object_new_string("send"));
		json_object_object_add(o, "type", json_object_new_int(r->ic.icmsgtype));
		json_add_status(o, r->ic.status);
		json_object_object_add(o, "flags", json_object_new_int(r->ic.icflags));
		if (hex) {
			for (size_t i = HV_IC_DATA_OFFSET; i < r->len; i++)
				sprintf(hex + 2 * (i - HV_IC_DATA_OFFSET), "%02x", r->buf[i]);
			hex[2 * (r->len - HV_IC_DATA_OFFSET)] = '\0';
			json_object_object_add(o, "data", json_object_new_string(hex));
			free(hex);
		}
		json_emit(o);
	} else {
		printf("send: type %u status %s flags 0x%x data ", r->ic.icmsgtype, st,
		       r->ic.icflags);
		hex_print(r->buf + HV_IC_DATA_OFFSET, r->len - HV_IC_DATA_OFFSET, stdout);
		putchar('\n');
	}
	err = 0;
out:
	free(msg);
	free(r);
	return err;
}

int sim_exchange(struct sim *s, unsigned int line, const void *body, size_t len,
		 const char *what, struct hv_ic_hdr *reply, size_t *reply_len)
{
	struct sim_action a = { .line = line };
	struct reply *r = NULL;
	uint8_t *msg = NULL;
	int err;

	if ((err = ensure_ready(s, line)))
		return err;
	msg = malloc(HV_IC_DATA_OFFSET + len);
	r = malloc(sizeof(*r));
	err = -ENOMEM;
	if (!msg || !r)
		goto out;
	len = ic_frame(s, msg, s->type->ic_type, body, len);
	if ((err = send_request(s, &a, msg, len, what)))
		goto out;
	if ((err = recv_reply(s, line, s->type->ic_type, what, r)))
		goto out;
	*reply = r->ic;
	*reply_len = r->len;
out:
	free(msg);
	free(r);
	return err;
}

static int run_heartbeat(struct sim *s, const struct sim_action *a)
{
	uint8_t msg[HV_IC_DATA_OFFSET + sizeof(struct heartbeat_msg_data)];
	struct heartbeat_msg_data hb;
	struct reply *r;
	int err;

	if (s->type->ic_type != HV_IC_MSGTYPE_HEARTBEAT) {
		sim_err("line %u: heartbeat needs --device heartbeat", a->line);
		return -EINVAL;
	}
	if ((err = ensure_ready(s, a->line)))
		return err;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint64_t i = 0; i < a->n; i++) {
		uint64_t sent = s->hb_seq, got;
		char st[64];
		size_t len;

		memset(&hb, 0, sizeof(hb));
		hb.seq_num = sent;
		len = ic_frame(s, msg, HV_IC_MSGTYPE_HEARTBEAT, &hb, sizeof(hb));
		if ((err = send_request(s, a, msg, len, "heartbeat")))
			goto out;
		if ((err = recv_reply(s, a->line, HV_IC_MSGTYPE_HEARTBEAT, "heartbeat", r)))
			goto out;
		/* Linux checks for the sequence number only; so do we. */
		if (r->len < HV_IC_DATA_OFFSET + sizeof(uint64_t)) {
			sim_err("line %u: the heartbeat reply has no sequence number", a->line);
			err = -EPROTO;
			goto out;
		}
		memcpy(&got, r->buf + HV_IC_DATA_OFFSET, sizeof(got));
		status_text(r->ic.status, st, sizeof(st));
		if (s->json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "reply", json_object_new_string("heartbeat"));
			json_add_status(o, r->ic.status);
			json_object_object_add(o, "sent", json_object_new_uint64(sent));
			json_object_object_add(o, "seq", json_object_new_uint64(got));
			json_emit(o);
		} else {
			printf("heartbeat: status %s seq %" PRIu64 " -> %" PRIu64 "\n", st,
			       sent, got);
		}
		if (r->ic.status == HV_IC_S_OK && got != sent + 1) {
			sim_err("line %u: the guest answered heartbeat %" PRIu64 " with %" PRIu64
				", not %" PRIu64, a->line, sent, got, sent + 1);
			err = -EPROTO;
			goto out;
		}
		s->hb_seq = got;
	}
	err = 0;
out:
	free(r);
	return err;
}

static const char *const op_names[] = {
	"get", "set", "delete", "enumerate", "get_ip_info", "set_ip_info"
};

/*
 * What the guest's reply carries, decoded leniently: a broken guest is
 * shown, not refused. Fails (res zeroed) when its body is incomplete.
 */
static int kvp_reply_show(const struct reply *r, uint8_t op, struct hv_kvp_request *res)
{
	uint32_t status;

	return hv_kvp_msg_reply_decode(r->buf, r->len, op, HV_KVP_REPLY_LENIENT, &status, res);
}

/* Print a KVP reply; fields only as far as the guest's bytes reach. */
static void kvp_print(struct sim *s, const struct reply *r, uint8_t op, int pool,
		      int64_t index, struct hv_kvp_request *res)
{
	char st[64];
	bool have_kv = false;

	if ((op == HV_KVP_OP_ENUMERATE || op == HV_KVP_OP_GET) && kvp_reply_show(r, op, res) == 0)
		have_kv = r->ic.status == HV_IC_S_OK;
	status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("kvp"));
		json_object_object_add(o, "op", json_object_new_string(op_names[op]));
		json_object_object_add(o, "pool", json_object_new_int(pool));
		if (index >= 0)
			json_object_object_add(o, "index", json_object_new_int64(index));
		json_add_status(o, r->ic.status);
		if (have_kv) {
			json_object_object_add(o, "key", json_object_new_string(res->key));
			json_object_object_add(o, "value", json_object_new_string(res->value));
		}
		json_add_hex(o, "request", r->req, r->req_len);
		json_add_hex(o, "payload", r->buf, r->len);
		json_emit(o);
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
			int64_t index, struct reply *r, struct hv_kvp_request *req)
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
	if ((err = send_request(s, a, r->req, r->req_len, "KVP")))
		return err;
	return recv_reply(s, a->line, HV_IC_MSGTYPE_KVPEXCHANGE, "KVP", r);
}

static void ip_print(struct sim *s, const struct reply *r, uint8_t op,
		     struct hv_kvp_request *res)
{
	const struct hv_kvp_ip_info *ip = &res->ip;
	char st[64];
	bool have = kvp_reply_show(r, op, res) == 0;

	status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("ip"));
		json_object_object_add(o, "op", json_object_new_string(op_names[op]));
		json_add_status(o, r->ic.status);
		if (have) {
			json_object_object_add(o, "adapter", json_object_new_string(ip->adapter_id));
			json_object_object_add(o, "family", json_object_new_int(ip->addr_family));
			json_object_object_add(o, "dhcp", json_object_new_boolean(ip->dhcp_enabled));
			json_object_object_add(o, "addresses", json_object_new_string(ip->ip_addr));
			json_object_object_add(o, "subnets", json_object_new_string(ip->sub_net));
			json_object_object_add(o, "gateways", json_object_new_string(ip->gate_way));
			json_object_object_add(o, "dns", json_object_new_string(ip->dns_addr));
		}
		json_add_hex(o, "request", r->req, r->req_len);
		json_add_hex(o, "payload", r->buf, r->len);
		json_emit(o);
		return;
	}
	printf("ip %s: status %s", op == HV_KVP_OP_GET_IP_INFO ? "get" : "set", st);
	if (have)
		printf(" adapter \"%s\" family %u dhcp %u addresses \"%s\" subnets \"%s\""
		       " gateways \"%s\" dns \"%s\"", ip->adapter_id, ip->addr_family,
		       ip->dhcp_enabled, ip->ip_addr, ip->sub_net, ip->gate_way, ip->dns_addr);
	putchar('\n');
}

static int run_kvp(struct sim *s, const struct sim_action *a)
{
	struct reply *r;
	uint8_t op;
	int err;

	if (s->type->ic_type != HV_IC_MSGTYPE_KVPEXCHANGE) {
		sim_err("line %u: KVP requests need --device kvp", a->line);
		return -EINVAL;
	}
	if ((err = ensure_ready(s, a->line)))
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

static int run_offer(struct sim *s, const struct sim_action *a)
{
	int idx = a->all ? s->root.uio_index + 1 : (int)a->n;
	int err;

	if (s->root.devdir) {
		sim_err("line %u: the device is already offered", a->line);
		return -EINVAL;
	}
	err = sim_root_offer(&s->root, idx);
	if (!err && s->root.bound)
		err = sim_dev_listen(&s->dev);
	if (err < 0) {
		sim_err("line %u: offering the device: %s", a->line, strerror(-err));
		return -EIO;
	}
	sim_log(s, "offered %s as %s", s->type->instance, s->root.node);
	return 0;
}

int sim_action_run(struct sim *s, const struct sim_action *a)
{
	char want[64], got[64];
	int err;

	switch (a->op) {
	case OP_NEGOTIATE:
		return ensure_ready(s, a->line);
	case OP_OPEN:
		return ensure_open(s, a->line);
	case OP_DRAIN:
		if ((err = ensure_open(s, a->line)))
			return err;
		err = sim_dev_drain(&s->dev, s->dev.timeout_ms);
		if (err == -ETIMEDOUT) {
			sim_err("line %u: the guest did not read the host-to-guest ring within %d ms",
				a->line, s->dev.timeout_ms);
			return -ETIMEDOUT;
		}
		if (err < 0) {
			sim_err("line %u: the guest closed the device before reading the ring",
				a->line);
			return -ECONNRESET;
		}
		return 0;
	case OP_SEND:
		return run_send(s, a);
	case OP_HEARTBEAT:
		return run_heartbeat(s, a);
	case OP_KVP_SET:
	case OP_KVP_GET:
	case OP_KVP_DELETE:
	case OP_KVP_ENUMERATE:
	case OP_IP_GET:
	case OP_IP_SET:
		return run_kvp(s, a);
	case OP_WAIT:
		err = sim_dev_idle(&s->dev, (int)a->n);
		if (err < 0) {
			sim_err("line %u: %s", a->line, strerror(-err));
			return -EIO;
		}
		return 0;
	case OP_EXPECT:
		if (!s->have_reply) {
			sim_err("line %u: expect: there is no reply to check", a->line);
			return -ENOMSG;
		}
		status_text(s->last_status, got, sizeof(got));
		if (a->expect_any_error) {
			if (s->last_status != HV_IC_S_OK)
				return 0;
			sim_err("line %u: expected an error, the guest answered %s", a->line, got);
			return -ENOMSG;
		}
		if (s->last_status == a->status)
			return 0;
		status_text(a->status, want, sizeof(want));
		sim_err("line %u: expected status %s, the guest answered %s", a->line, want, got);
		return -ENOMSG;
	case OP_RESCIND:
		if (!s->root.devdir) {
			sim_err("line %u: the device is already rescinded", a->line);
			return -EINVAL;
		}
		sim_dev_rescind(&s->dev);
		sim_log(s, "rescinded %s", s->type->instance);
		return 0;
	case OP_OFFER:
		return run_offer(s, a);
	case OP_HOSTILE:
		return sim_hostile_run(s, a);
	case OP_FCOPY:
		return sim_fcopy_run(s, a);
	case OP_NVS:
		return sim_nic_nvs(s, a);
	case OP_FEED:
		return sim_nic_feed(s, a);
	}
	return -EINVAL;
}

int sim_init(struct sim *s)
{
	s->dev.on_connect = on_connect;
	s->dev.on_connect_arg = s;
	return 0;
}
