/* SPDX-License-Identifier: ISC */
/*
 * The hostile host: actions that break the rules a guest relies on, one
 * rule at a time, for the tests of a guest's defences. Each builds what a
 * well-behaved host would send, with the library's builders, and then
 * changes the one named field, so that the fault is exactly that one.
 * They run only with --hostile (main.c refuses them otherwise).
 *
 * The ring faults write to the ring header and the descriptor in shared
 * memory behind lib/ring's back. The layout is the host's (struct
 * hv_ring_buffer and struct vmpacket_descriptor in Linux's
 * include/linux/hyperv.h): write_index at byte 0 of the header, read_index
 * at 4, pending_send_sz at 12; a descriptor's first 8 bytes hold type,
 * offset8, len8 and flags, 16 bits each, in that order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>

#include "hvsim.h"


#define RING_WRITE_INDEX  0
#define RING_PENDING_SEND 12

/* How long a hostile request waits for a reply the guest may rightly drop. */
#define HOSTILE_REPLY_MS 1500

/* Offsets in a KVP GET/SET payload (struct hv_kvp_pkt_value). */
#define KVP_OFF_POOL       (HV_IC_DATA_OFFSET + 1)
#define KVP_OFF_KEY_SIZE   (HV_IC_DATA_OFFSET + 4 + 4)
#define KVP_OFF_VALUE_SIZE (HV_IC_DATA_OFFSET + 4 + 8)
#define KVP_OFF_KEY        (HV_IC_DATA_OFFSET + 4 + 12)
/* icmsg_hdr.icmsgsize, after the 8-byte pipe header. */
#define IC_OFF_MSGSIZE     (8 + 10)
/* icmsg_negotiate's two counts, after the IC header. */
#define NEG_OFF_FW_COUNT   HV_IC_DATA_OFFSET
#define NEG_OFF_MSG_COUNT  (HV_IC_DATA_OFFSET + 2)

static const char *const ring_how[] = { "beyond", "misaligned", "mid-header" };
static const char *const desc_how[] = {
	"long", "offset-past-len", "offset-short", "len-zero", "len-max"
};
static const char *const field_how[] = { "key", "value" };
static const char *const surrogate_how[] = { "high", "low" };

static int word_find(const char *w, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w, v[i]))
			return (int)i;
	return -1;
}

#define FIND(w, v) word_find(w, v, sizeof(v) / sizeof(v[0]))

static int num(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

#define USAGE(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

int sim_hostile_parse(char **w, int n, struct sim_action *a, char *err, size_t errlen)
{
	int v;

	if (n < 1)
		USAGE("usage: hostile WHAT ...");
	if (!strcmp(w[0], "ring-index")) {
		a->hostile = HOSTILE_RING_INDEX;
		if (n != 2 || (v = FIND(w[1], ring_how)) < 0)
			USAGE("usage: hostile ring-index beyond|misaligned|mid-header");
		a->variant = (unsigned int)v;
	} else if (!strcmp(w[0], "desc")) {
		a->hostile = HOSTILE_DESC;
		if (n != 2 || (v = FIND(w[1], desc_how)) < 0)
			USAGE("usage: hostile desc long|offset-past-len|offset-short|len-zero|len-max");
		a->variant = (unsigned int)v;
	} else if (!strcmp(w[0], "truncated")) {
		a->hostile = HOSTILE_TRUNCATED;
		if (n != 2 || num(w[1], 1, HV_IC_DATA_OFFSET - 1, &a->n) < 0)
			USAGE("usage: hostile truncated N, N from 1 to %zu", HV_IC_DATA_OFFSET - 1);
	} else if (!strcmp(w[0], "icmsgsize")) {
		a->hostile = HOSTILE_ICMSGSIZE;
		if (n != 2 || num(w[1], 1, UINT16_MAX, &a->n) < 0)
			USAGE("usage: hostile icmsgsize EXTRA, EXTRA from 1");
	} else if (!strcmp(w[0], "negotiate")) {
		a->hostile = HOSTILE_NEGOTIATE;
		if (n != 3 || num(w[1], 0, UINT16_MAX, &a->n) < 0 ||
		    num(w[2], 0, UINT16_MAX, &a->n2) < 0)
			USAGE("usage: hostile negotiate FW-COUNT MSG-COUNT");
	} else if (!strcmp(w[0], "kvp-size")) {
		a->hostile = HOSTILE_KVP_SIZE;
		if (n != 3 || (v = FIND(w[1], field_how)) < 0 ||
		    num(w[2], 0, UINT32_MAX, &a->n) < 0)
			USAGE("usage: hostile kvp-size key|value N");
		a->variant = (unsigned int)v;
	} else if (!strcmp(w[0], "kvp-pool")) {
		a->hostile = HOSTILE_KVP_POOL;
		if (n != 2 || num(w[1], 0, 255, &a->n) < 0)
			USAGE("usage: hostile kvp-pool N, N from 0 to 255");
	} else if (!strcmp(w[0], "kvp-odd")) {
		a->hostile = HOSTILE_KVP_ODD;
		if (n != 2 || (v = FIND(w[1], field_how)) < 0)
			USAGE("usage: hostile kvp-odd key|value");
		a->variant = (unsigned int)v;
	} else if (!strcmp(w[0], "kvp-surrogate")) {
		a->hostile = HOSTILE_KVP_SURROGATE;
		if (n != 2 || (v = FIND(w[1], surrogate_how)) < 0)
			USAGE("usage: hostile kvp-surrogate high|low");
		a->variant = (unsigned int)v;
	} else if (!strcmp(w[0], "flood")) {
		a->hostile = HOSTILE_FLOOD;
		if (n != 2 || num(w[1], 1, 100000, &a->n) < 0)
			USAGE("usage: hostile flood N, N from 1 to 100000");
	} else if (!strcmp(w[0], "interrupts")) {
		a->hostile = HOSTILE_INTERRUPTS;
		if (n != 2 || num(w[1], 1, 1000000, &a->n) < 0)
			USAGE("usage: hostile interrupts N, N from 1 to 1000000");
	} else if (!strcmp(w[0], "rescind-mid-request")) {
		a->hostile = HOSTILE_RESCIND_MID;
		if (n != 1)
			USAGE("usage: hostile rescind-mid-request");
	} else {
		USAGE("unknown hostile action '%s'", w[0]);
	}
	return 0;
}

/* ---- output ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line per action: a JSON object, or "hostile WHAT: k v k v ...". */
static void emit(const struct sim *s, struct json_object *o)
{
	if (s->json) {
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	} else {
		const char *sep = ": ";

		printf("hostile %s", json_object_get_string(json_object_object_get(o, "hostile")));
		json_object_object_foreach(o, k, val) {
			if (!strcmp(k, "hostile"))
				continue;
			printf("%s%s %s", sep, k, json_object_get_string(val));
			sep = " ";
		}
		putchar('\n');
	}
	json_object_put(o);
}

static struct json_object *report(const char *what, const char *how)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "hostile", json_object_new_string(what));
	if (how)
		json_object_object_add(o, "how", json_object_new_string(how));
	return o;
}

static void report_status(struct json_object *o, bool replied, uint32_t status)
{
	const char *n = sim_status_name(status);

	json_object_object_add(o, "replied", json_object_new_boolean(replied));
	if (!replied)
		return;
	json_object_object_add(o, "status", json_object_new_int64(status));
	json_object_object_add(o, "status_name", n ? json_object_new_string(n) : NULL);
}

/* ---- the rings behind lib/ring's back ---- */

/* The host-to-guest ring (tx: true) or the guest-to-host ring. */
static uint8_t *ring_base(const struct sim *s, bool tx)
{
	return (uint8_t *)s->root.rings + (tx ? s->root.map_size[0] / 2 : 0);
}

static uint8_t *ring_data(const struct sim *s, bool tx)
{
	return ring_base(s, tx) + (size_t)sysconf(_SC_PAGESIZE);
}

static uint32_t ring_hdr_load(const struct sim *s, bool tx, size_t off)
{
	return __atomic_load_n((uint32_t *)(ring_base(s, tx) + off), __ATOMIC_ACQUIRE);
}

static void ring_hdr_store(const struct sim *s, bool tx, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(ring_base(s, tx) + off), v, __ATOMIC_RELEASE);
}

/* Wait until the guest closes the device; ms it took, or -1 after the timeout. */
static int64_t wait_guest_close(struct sim *s, uint64_t closes_before)
{
	int64_t start = now_ms(), end = start + s->dev.timeout_ms;

	while (s->dev.guest_closes == closes_before) {
		if (now_ms() >= end)
			return -1;
		if (sim_dev_idle(&s->dev, 10) < 0)
			return -1;
	}
	return now_ms() - start;
}

static void report_close(struct json_object *o, int64_t ms)
{
	json_object_object_add(o, "guest_closed", json_object_new_boolean(ms >= 0));
	if (ms >= 0)
		json_object_object_add(o, "close_ms", json_object_new_int64(ms));
}

/* The host's packet info for an IC request, as sim_dev_send fills it. */
static struct hv_ring_pkt_info request_info(struct sim *s)
{
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_INBAND,
		.flags = HV_RING_PKT_FLAG_COMPLETION_REQUESTED,
		.header_len = HV_RING_DESC_SIZE,
		.trans_id = ++s->dev.trans_id,
	};

	return info;
}

/* ---- KVP requests from the codec ---- */

static int kvp_build(struct sim *s, uint8_t op, const char *key, const char *value,
		     uint8_t *buf, size_t size, size_t *len)
{
	struct hv_kvp_request *req = calloc(1, sizeof(*req));
	int err;

	if (!req)
		return -ENOMEM;
	req->operation = op;
	req->pool = HV_KVP_POOL_EXTERNAL;
	req->key_len = strlen(key);
	memcpy(req->key, key, req->key_len + 1);
	if (value) {
		req->value_type = HV_KVP_REG_SZ;
		req->value_len = strlen(value);
		memcpy(req->value, value, req->value_len + 1);
	}
	err = hv_kvp_msg_request_build(buf, size, req, s->fw_ver, s->msg_ver, 0, len);
	free(req);
	return err;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Send `len` bytes and wait a while for the reply: a guest may rightly
 * drop what it cannot understand, so no reply is an outcome, not an error.
 */
static int exchange(struct sim *s, const struct sim_action *a, const uint8_t *msg,
		    size_t len, uint16_t type, struct json_object *o, uint8_t *reply,
		    size_t *reply_len)
{
	struct hv_ic_hdr ic;
	size_t rlen = SIM_MAX_MSG * 2;
	uint16_t pkt_type;
	int wait = s->dev.timeout_ms < HOSTILE_REPLY_MS ? s->dev.timeout_ms : HOSTILE_REPLY_MS;
	int err;

	err = sim_dev_send(&s->dev, msg, len);
	if (err < 0) {
		sim_err("line %u: cannot send the hostile message: %s", a->line, strerror(-err));
		return -EPROTO;
	}
	err = sim_dev_recv(&s->dev, reply, &rlen, NULL, &pkt_type, wait);
	if (err == -ETIMEDOUT) {
		s->have_reply = false;
		report_status(o, false, 0);
		if (reply_len)
			*reply_len = 0;
		return 0;
	}
	if (err < 0) {
		sim_err("line %u: waiting for the reply to the hostile message: %s", a->line,
			err == -ECONNRESET ? "the guest closed the device" : strerror(-err));
		return -EPROTO;
	}
	/*
	 * The headers only: a reply echoes the request, and so a lie in its
	 * icmsgsize, which hv_ic_msg_parse would refuse.
	 */
	if (rlen >= HV_IC_DATA_OFFSET)
		memcpy(&ic, reply + sizeof(struct hv_ic_pipe_hdr), sizeof(ic));
	if (pkt_type != HV_RING_PKT_DATA_INBAND || rlen < HV_IC_DATA_OFFSET || ic.icmsgtype != type ||
	    !(ic.icflags & HV_IC_FLAG_RESPONSE)) {
		sim_err("line %u: the reply to the hostile message is not an IC response of type %u",
			a->line, type);
		return -EPROTO;
	}
	s->have_reply = true;
	s->last_status = ic.status;
	report_status(o, true, ic.status);
	if (reply_len)
		*reply_len = rlen;
	return 0;
}

/* ---- the actions ---- */

static int run_ring_index(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("ring-index", ring_how[a->variant]);
	uint32_t dsize = hv_ring_data_size(s->dev.ch[0].tx);
	uint32_t w = ring_hdr_load(s, true, RING_WRITE_INDEX);
	uint64_t closes = s->dev.guest_closes;

	switch (a->variant) {
	case 0:
		/* Aligned, so that only the bound is wrong. */
		ring_hdr_store(s, true, RING_WRITE_INDEX, dsize + 64);
		break;
	case 1:
		ring_hdr_store(s, true, RING_WRITE_INDEX, w + 4 < dsize ? w + 4 : 4);
		break;
	default: {
		/* A whole packet in the ring, published only up to inside its descriptor. */
		struct hv_ring_pkt_info info = request_info(s);
		uint8_t msg[HV_KVP_MSG_MAX_SIZE];
		struct iovec iov = { msg, 0 };

		if (kvp_build(s, HV_KVP_OP_GET, "hostile", NULL, msg, sizeof(msg), &iov.iov_len) < 0 ||
		    hv_ring_write(s->dev.ch[0].tx, &info, &iov, 1) < 0) {
			json_object_put(o);
			sim_err("line %u: cannot write the packet", a->line);
			return -EINVAL;
		}
		ring_hdr_store(s, true, RING_WRITE_INDEX, w + 8 < dsize ? w + 8 : w + 8 - dsize);
		break;
	}
	}
	sim_dev_interrupt(&s->dev, &s->dev.ch[0]);
	report_close(o, wait_guest_close(s, closes));
	s->have_reply = false;
	emit(s, o);
	return 0;
}

static int run_desc(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("desc", desc_how[a->variant]);
	struct hv_ring_pkt_info info = request_info(s);
	uint8_t msg[HV_KVP_MSG_MAX_SIZE], *d;
	uint64_t closes = s->dev.guest_closes, w0;
	uint16_t offset8, len8;
	struct iovec iov;
	uint32_t pos;
	size_t len;
	bool sig;

	if (kvp_build(s, HV_KVP_OP_GET, "hostile", NULL, msg, sizeof(msg), &len) < 0) {
		json_object_put(o);
		return -EINVAL;
	}
	/* hvsim publishes every packet at once: the shared index is where this one goes. */
	pos = ring_hdr_load(s, true, RING_WRITE_INDEX);
	iov = (struct iovec){ msg, len };
	if (hv_ring_write(s->dev.ch[0].tx, &info, &iov, 1) < 0) {
		json_object_put(o);
		sim_err("line %u: cannot write the packet", a->line);
		return -EINVAL;
	}
	/* pos is a multiple of 8: the first descriptor word never wraps. */
	d = ring_data(s, true) + pos;
	memcpy(&w0, d, sizeof(w0));
	offset8 = (uint16_t)(w0 >> 16);
	len8 = (uint16_t)(w0 >> 32);
	switch (a->variant) {
	case 0: len8 += 2; break;             /* 16 bytes more than published */
	case 1: offset8 = len8 + 1; break;
	case 2: offset8 = 1; break;
	case 3: len8 = 0; break;
	default: len8 = UINT16_MAX; break;    /* the largest claim the field holds */
	}
	w0 = (w0 & 0xffff00000000ffffull) | (uint64_t)offset8 << 16 | (uint64_t)len8 << 32;
	memcpy(d, &w0, sizeof(w0));
	hv_ring_publish(s->dev.ch[0].tx, &sig);
	sim_dev_interrupt(&s->dev, &s->dev.ch[0]);
	json_object_object_add(o, "offset8", json_object_new_int(offset8));
	json_object_object_add(o, "len8", json_object_new_int(len8));
	report_close(o, wait_guest_close(s, closes));
	s->have_reply = false;
	emit(s, o);
	return 0;
}

/* The KVP field faults: one SET or GET with one field changed. */
static int run_kvp_fault(struct sim *s, const struct sim_action *a)
{
	static const char *const names[] = {
		[HOSTILE_TRUNCATED] = "truncated", [HOSTILE_ICMSGSIZE] = "icmsgsize",
		[HOSTILE_KVP_SIZE] = "kvp-size", [HOSTILE_KVP_POOL] = "kvp-pool",
		[HOSTILE_KVP_ODD] = "kvp-odd", [HOSTILE_KVP_SURROGATE] = "kvp-surrogate",
	};
	const char *how = NULL;
	struct json_object *o;
	uint8_t msg[HV_KVP_MSG_MAX_SIZE], *reply;
	size_t len;
	int err;

	if (a->hostile == HOSTILE_KVP_SIZE || a->hostile == HOSTILE_KVP_ODD)
		how = field_how[a->variant];
	else if (a->hostile == HOSTILE_KVP_SURROGATE)
		how = surrogate_how[a->variant];
	if (kvp_build(s, a->hostile == HOSTILE_KVP_POOL || a->hostile == HOSTILE_ICMSGSIZE ||
		      a->hostile == HOSTILE_TRUNCATED ? HV_KVP_OP_GET : HV_KVP_OP_SET,
		      "hostile", a->hostile == HOSTILE_KVP_POOL ? NULL : "value",
		      msg, sizeof(msg), &len) < 0)
		return -EINVAL;
	switch (a->hostile) {
	case HOSTILE_TRUNCATED:
		len = a->n;
		break;
	case HOSTILE_ICMSGSIZE: {
		uint64_t size = len - HV_IC_DATA_OFFSET + a->n;

		put16(msg + IC_OFF_MSGSIZE, size > UINT16_MAX ? UINT16_MAX : (uint16_t)size);
		break;
	}
	case HOSTILE_KVP_SIZE:
		put32(msg + (a->variant ? KVP_OFF_VALUE_SIZE : KVP_OFF_KEY_SIZE), (uint32_t)a->n);
		break;
	case HOSTILE_KVP_POOL:
		msg[KVP_OFF_POOL] = (uint8_t)a->n;
		break;
	case HOSTILE_KVP_ODD: {
		size_t off = a->variant ? KVP_OFF_VALUE_SIZE : KVP_OFF_KEY_SIZE;

		put32(msg + off, get32(msg + off) - 1);
		break;
	}
	default:
		/* "hostile" is 7 units: a high surrogate last, or a low one first. */
		if (a->variant == 0)
			put16(msg + KVP_OFF_KEY + 2 * 6, 0xd800);
		else
			put16(msg + KVP_OFF_KEY, 0xdc00);
		break;
	}
	o = report(names[a->hostile], how);
	if (a->hostile != HOSTILE_KVP_SURROGATE && a->hostile != HOSTILE_KVP_ODD)
		json_object_object_add(o, "n", json_object_new_int64((int64_t)a->n));
	reply = malloc(SIM_MAX_MSG * 2);
	if (!reply) {
		json_object_put(o);
		return -ENOMEM;
	}
	err = exchange(s, a, msg, len, HV_IC_MSGTYPE_KVPEXCHANGE, o, reply, NULL);
	free(reply);
	if (err) {
		json_object_put(o);
		return err;
	}
	emit(s, o);
	return 0;
}

static int run_negotiate(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("negotiate", NULL);
	uint8_t msg[1024], *reply = malloc(SIM_MAX_MSG * 2);
	size_t len, rlen = 0;
	int err = -ENOMEM;

	if (!reply ||
	    hv_ic_negotiate_request_build(msg, sizeof(msg), sim_devtype_offer(s->type), 0,
					  &len) < 0)
		goto out;
	put16(msg + NEG_OFF_FW_COUNT, (uint16_t)a->n);
	put16(msg + NEG_OFF_MSG_COUNT, (uint16_t)a->n2);
	json_object_object_add(o, "framework_count", json_object_new_int((int)a->n));
	json_object_object_add(o, "message_count", json_object_new_int((int)a->n2));
	json_object_object_add(o, "bytes", json_object_new_int((int)len));
	err = exchange(s, a, msg, len, HV_IC_MSGTYPE_NEGOTIATE, o, reply, &rlen);
	if (err)
		goto out;
	if (rlen >= HV_IC_DATA_OFFSET + 4) {
		json_object_object_add(o, "reply_framework_count",
				       json_object_new_int(reply[NEG_OFF_FW_COUNT] |
							   reply[NEG_OFF_FW_COUNT + 1] << 8));
		json_object_object_add(o, "reply_message_count",
				       json_object_new_int(reply[NEG_OFF_MSG_COUNT] |
							   reply[NEG_OFF_MSG_COUNT + 1] << 8));
	}
	emit(s, o);
	o = NULL;
out:
	if (o)
		json_object_put(o);
	free(reply);
	return err;
}

/*
 * N GETs back to back without reading a reply: the guest's ring fills,
 * and a guest that keeps the protocol sets pending_send_sz and waits.
 * Then everything is read, and every reply must come, in order.
 */
static int run_flood(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("flood", NULL);
	uint8_t msg[HV_KVP_MSG_MAX_SIZE], *reply = malloc(SIM_MAX_MSG * 2);
	uint64_t first = s->dev.trans_id + 1, answered = 0, ok_order = 1, same = 1;
	uint32_t pending = 0, full = 0, status = 0;
	int64_t end;
	size_t len;
	int err = -ENOMEM;

	if (!reply || kvp_build(s, HV_KVP_OP_GET, "hvsim-flood", NULL, msg, sizeof(msg), &len) < 0)
		goto out;
	for (uint64_t i = 0; i < a->n; i++) {
		err = sim_dev_send(&s->dev, msg, len);
		if (err < 0) {
			sim_err("line %u: flood request %" PRIu64 ": %s", a->line, i,
				err == -ETIMEDOUT ? "the guest left our ring full" : strerror(-err));
			err = -EPROTO;
			goto out;
		}
	}
	/* Give the guest the timeout to fill its ring and ask for room. */
	end = now_ms() + s->dev.timeout_ms;
	while (!(pending = ring_hdr_load(s, false, RING_PENDING_SEND)) && now_ms() < end)
		sim_dev_idle(&s->dev, 10);
	full = s->dev.ch[0].rx ? hv_ring_read_avail(s->dev.ch[0].rx) : 0;
	for (; answered < a->n; answered++) {
		size_t rlen = SIM_MAX_MSG * 2;
		struct hv_ic_msg m;
		uint64_t tid;
		uint16_t type;

		err = sim_dev_recv(&s->dev, reply, &rlen, &tid, &type, s->dev.timeout_ms);
		if (err < 0)
			break;
		if (hv_ic_msg_parse(reply, rlen, &m) < 0 || m.hdr.icmsgtype != HV_IC_MSGTYPE_KVPEXCHANGE) {
			err = -EBADMSG;
			break;
		}
		if (tid != first + answered)
			ok_order = 0;
		if (answered && m.hdr.status != status)
			same = 0;
		status = m.hdr.status;
	}
	json_object_object_add(o, "sent", json_object_new_int64((int64_t)a->n));
	json_object_object_add(o, "answered", json_object_new_int64((int64_t)answered));
	json_object_object_add(o, "in_order", json_object_new_boolean(ok_order));
	json_object_object_add(o, "pending_send_sz", json_object_new_int64(pending));
	json_object_object_add(o, "ring_bytes_when_full", json_object_new_int64(full));
	json_object_object_add(o, "ring_data_size",
			       json_object_new_int64(s->dev.ch[0].rx ? hv_ring_data_size(s->dev.ch[0].rx) : 0));
	if (answered && same) {
		s->have_reply = true;
		s->last_status = status;
		report_status(o, true, status);
	} else {
		s->have_reply = false;
	}
	if (err < 0 && err != -ETIMEDOUT)
		json_object_object_add(o, "error", json_object_new_string(strerror(-err)));
	emit(s, o);
	o = NULL;
	err = 0;
out:
	if (o)
		json_object_put(o);
	free(reply);
	return err;
}

static int run_interrupts(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("interrupts", NULL);
	uint64_t sent = 0;

	for (; sent < a->n; sent++)
		if (sim_dev_interrupt(&s->dev, &s->dev.ch[0]) < 0)
			break;
	/* Let the guest wake for them before the next action. */
	sim_dev_idle(&s->dev, 100);
	json_object_object_add(o, "sent", json_object_new_int64((int64_t)sent));
	s->have_reply = false;
	emit(s, o);
	return sent == a->n ? 0 : -EPROTO;
}

static int run_rescind_mid(struct sim *s, const struct sim_action *a)
{
	struct json_object *o = report("rescind-mid-request", NULL);
	uint8_t msg[HV_KVP_MSG_MAX_SIZE];
	size_t len;
	int err;

	if (kvp_build(s, HV_KVP_OP_SET, "hvsim-rescind", "1", msg, sizeof(msg), &len) < 0) {
		json_object_put(o);
		return -EINVAL;
	}
	err = sim_dev_send(&s->dev, msg, len);
	/* The request is in the ring (and signalled): now the device goes. */
	sim_dev_rescind(&s->dev);
	json_object_object_add(o, "request_sent", json_object_new_boolean(err == 0));
	s->have_reply = false;
	emit(s, o);
	return err ? -EPROTO : 0;
}

int sim_hostile_run(struct sim *s, const struct sim_action *a)
{
	int err;

	if (a->hostile == HOSTILE_FCOPY)
		return sim_fcopy_run(s, a);
	if (s->type->ic_type != HV_IC_MSGTYPE_KVPEXCHANGE) {
		sim_err("line %u: hostile actions need --device kvp", a->line);
		return -EINVAL;
	}
	if ((err = sim_ready(s, a->line)))
		return err;
	switch (a->hostile) {
	case HOSTILE_RING_INDEX:
		return run_ring_index(s, a);
	case HOSTILE_DESC:
		return run_desc(s, a);
	case HOSTILE_NEGOTIATE:
		return run_negotiate(s, a);
	case HOSTILE_FLOOD:
		return run_flood(s, a);
	case HOSTILE_INTERRUPTS:
		return run_interrupts(s, a);
	case HOSTILE_RESCIND_MID:
		return run_rescind_mid(s, a);
	default:
		return run_kvp_fault(s, a);
	}
}
