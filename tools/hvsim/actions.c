/* SPDX-License-Identifier: ISC */
/*
 * The host's side of the IC framework: framing, version negotiation,
 * heartbeat, one request and its checked reply for the services' files
 * (kvp.c, fcopy.c), and the script's actions dispatched. Layouts and
 * sizes are those of Linux's include/uapi/linux/hyperv.h and
 * include/linux/hyperv.h.
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

void sim_status_text(uint32_t status, char *buf, size_t len)
{
	const char *n = sim_status_name(status);

	if (n)
		snprintf(buf, len, "%s (0x%08" PRIx32 ")", n, status);
	else
		snprintf(buf, len, "0x%08" PRIx32, status);
}

void sim_json_add_status(struct json_object *o, uint32_t status)
{
	const char *n = sim_status_name(status);

	json_object_object_add(o, "status", json_object_new_int64(status));
	json_object_object_add(o, "status_name", n ? json_object_new_string(n) : NULL);
}

/* Bytes as lower-case hex (nothing is added if memory runs out). */
void sim_json_add_hex(struct json_object *o, const char *name, const uint8_t *p, size_t len)
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

void sim_json_emit(struct json_object *o)
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

int sim_request_send(struct sim *s, unsigned int line, const uint8_t *msg, size_t len,
		     const char *what)
{
	int err = sim_dev_send(&s->dev, msg, len);

	if (err == -ETIMEDOUT) {
		sim_err("line %u: the guest left the host-to-guest ring full for %d s (%s)",
			line, s->dev.timeout_ms / 1000, what);
		return -ETIMEDOUT;
	}
	if (err < 0) {
		sim_err("line %u: cannot send %s: %s", line, what,
			err == -ECONNRESET ? "the guest closed the device" : strerror(-err));
		return -EPROTO;
	}
	return 0;
}

/*
 * Wait for the reply to the request of type `type`. Everything in it is
 * guest data: lengths are checked before anything is read.
 */
int sim_reply_recv(struct sim *s, unsigned int line, uint16_t type, const char *what,
		   struct sim_reply *r)
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
static int negotiate_reply(struct sim *s, unsigned int line, const struct sim_reply *r)
{
	struct hv_ic_negotiate neg = { 0 };
	struct hv_ic_version fw = { 0 }, mv = { 0 };
	char st[64];
	int err;

	err = hv_ic_negotiate_reply_parse(r->buf, r->len, sim_devtype_offer(s->type),
					  &fw, &mv);
	if (r->len >= HV_IC_DATA_OFFSET + sizeof(neg))
		memcpy(&neg, r->buf + HV_IC_DATA_OFFSET, sizeof(neg));
	sim_status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("negotiate"));
		sim_json_add_status(o, r->ic.status);
		json_object_object_add(o, "framework_count", json_object_new_int(neg.icframe_vercnt));
		json_object_object_add(o, "message_count", json_object_new_int(neg.icmsg_vercnt));
		if (!err) {
			char v[16];

			snprintf(v, sizeof(v), "%u.%u", fw.major, fw.minor);
			json_object_object_add(o, "framework", json_object_new_string(v));
			snprintf(v, sizeof(v), "%u.%u", mv.major, mv.minor);
			json_object_object_add(o, "message", json_object_new_string(v));
		}
		sim_json_emit(o);
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
	struct sim_reply *r;
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
	err = sim_reply_recv(s, line, HV_IC_MSGTYPE_NEGOTIATE, "negotiate", r);
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
	struct sim_reply *r = NULL;
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
	if ((err = sim_request_send(s, a->line, msg, len, "raw message")))
		goto out;
	if ((err = sim_reply_recv(s, a->line, a->ic_type, "raw", r)))
		goto out;
	if (a->ic_type == HV_IC_MSGTYPE_NEGOTIATE) {
		err = negotiate_reply(s, a->line, r);
		goto out;
	}
	sim_status_text(r->ic.status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();
		char *hex = malloc(2 * (r->len - HV_IC_DATA_OFFSET) + 1);

		json_object_object_add(o, "reply", json_object_new_string("send"));
		json_object_object_add(o, "type", json_object_new_int(r->ic.icmsgtype));
		sim_json_add_status(o, r->ic.status);
		json_object_object_add(o, "flags", json_object_new_int(r->ic.icflags));
		if (hex) {
			for (size_t i = HV_IC_DATA_OFFSET; i < r->len; i++)
				sprintf(hex + 2 * (i - HV_IC_DATA_OFFSET), "%02x", r->buf[i]);
			hex[2 * (r->len - HV_IC_DATA_OFFSET)] = '\0';
			json_object_object_add(o, "data", json_object_new_string(hex));
			free(hex);
		}
		sim_json_emit(o);
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
	struct sim_reply *r = NULL;
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
	if ((err = sim_request_send(s, line, msg, len, what)))
		goto out;
	if ((err = sim_reply_recv(s, line, s->type->ic_type, what, r)))
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
	struct sim_reply *r;
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
		if ((err = sim_request_send(s, a->line, msg, len, "heartbeat")))
			goto out;
		if ((err = sim_reply_recv(s, a->line, HV_IC_MSGTYPE_HEARTBEAT, "heartbeat", r)))
			goto out;
		/* Linux checks for the sequence number only; so do we. */
		if (r->len < HV_IC_DATA_OFFSET + sizeof(uint64_t)) {
			sim_err("line %u: the heartbeat reply has no sequence number", a->line);
			err = -EPROTO;
			goto out;
		}
		memcpy(&got, r->buf + HV_IC_DATA_OFFSET, sizeof(got));
		sim_status_text(r->ic.status, st, sizeof(st));
		if (s->json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "reply", json_object_new_string("heartbeat"));
			sim_json_add_status(o, r->ic.status);
			json_object_object_add(o, "sent", json_object_new_uint64(sent));
			json_object_object_add(o, "seq", json_object_new_uint64(got));
			sim_json_emit(o);
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
		return sim_kvp_run(s, a);
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
		sim_status_text(s->last_status, got, sizeof(got));
		if (a->expect_any_error) {
			if (s->last_status != HV_IC_S_OK)
				return 0;
			sim_err("line %u: expected an error, the guest answered %s", a->line, got);
			return -ENOMSG;
		}
		if (s->last_status == a->status)
			return 0;
		sim_status_text(a->status, want, sizeof(want));
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
