/* SPDX-License-Identifier: ISC */
/*
 * hvkvpd's client socket: the input is what clients send, byte for byte,
 * over a socketpair whose other end the daemon's own connection code
 * serves (hvkvpd_clients_new/adopt/dispatch: the methods of methods.c
 * and notices.c on varlink.c, without the socket file or the thread), in
 * front of a store in memory. Every method, the framing and the limits
 * are reached.
 *
 * Input: one flag byte, then the stream.
 *   bits 0-1  who the peer is: root, a writer by primary group, a writer
 *             by supplementary group, a reader who is neither
 *   bit 2     External and Guest/Parameters are for writers only
 *   bits 3-4  the first message padded with spaces so that with its NUL
 *             it is exactly VL_MSG_MAX bytes (1) or one byte more (2)
 *   bit 5     two connections: the messages alternate between them, the
 *             second as root (a Watch on one sees the other's writes)
 *   bit 6     a client that reads nothing until it has sent everything
 *   bit 7     the Guest pool starts with 48 records of 1000 bytes (a
 *             List with "more" then outruns the output low-water mark)
 *
 * Checked beyond surviving: every reply is a valid, NUL-terminated JSON
 * object of the varlink reply shape, in valid UTF-8; there are no more
 * final replies than messages; a well-formed first call that is not
 * "oneway" is answered; a first message over the limit closes the
 * connection unanswered; a client that shuts its side down is dropped;
 * the heap stays within the limits varlink.h promises (under ASan).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <json-c/json.h>

#include "hvuio/kvp_pool.h"
#include "../../daemons/hvkvpd/clients.h"
#include "../../daemons/hvkvpd/varlink.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
/* The sanitizer runtimes of clang and gcc both have it; only clang ships its header. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define F_PEER     0x03
#define F_RESTRICT 0x04
#define F_PAD      0x18
#define F_PAD_FIT  0x08
#define F_PAD_OVER 0x10
#define F_TWO      0x20
#define F_SLOW     0x40
#define F_BIG      0x80

/* A loop of the daemon's that never settles is a failure, not a slow input. */
#define MAX_ROUNDS 20000

struct end {
	int fd;                 /* the client's side */
	uint8_t *tx;            /* what it sends */
	size_t tx_len, tx_off;
	uint8_t *rx;            /* a frame being received */
	size_t rx_len, rx_cap;
	size_t rx_total;
	unsigned int messages;  /* NULs sent: calls the server may answer */
	unsigned int finals;    /* replies without "continues" */
	bool eof;
	int outq;               /* bytes the server has not read yet */
};

static char root[64];
static json_tokener *tok;

static void root_remove(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc", root);
	rmdir(path);
	rmdir(root);
	json_tokener_free(tok);
}

/* A fixed system under the Auto pool's root, so that Auto answers are the same every run. */
static void setup(void)
{
	char path[128];
	FILE *f;

	if (root[0])
		return;
	snprintf(root, sizeof(root), "/tmp/fuzz-varlink-XXXXXX");
	FUZZ_CHECK(mkdtemp(root));
	atexit(root_remove);
	snprintf(path, sizeof(path), "%s/etc", root);
	FUZZ_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	f = fopen(path, "w");
	FUZZ_CHECK(f);
	fputs("NAME=\"Fuzz Linux\"\nVERSION_ID=\"12.4\"\nVERSION=\"12 (fuzz)\"\n", f);
	fclose(f);
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	FUZZ_CHECK(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
}

static void peer_pick(unsigned int which, struct vl_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = 1;
	switch (which) {
	case 0:
		break;
	case 1:   /* the writer group ("root", gid 0) as primary group */
		p->uid = 1000;
		p->ngroups = -1;
		break;
	case 2:
		p->uid = 1000;
		p->gid = 1000;
		p->ngroups = 2;
		p->groups[0] = 1000;
		p->groups[1] = 0;
		break;
	default:
		p->uid = 65534;
		p->gid = 65534;
		break;
	}
}

static void store_fill(struct hv_kvp_store *store, bool big)
{
	char key[32], value[1001];

	FUZZ_CHECK(hv_kvp_pool_set(store, HV_KVP_POOL_EXTERNAL, "ext1", "v1") == 0);
	FUZZ_CHECK(hv_kvp_pool_set(store, HV_KVP_POOL_AUTO_EXTERNAL, "HostName", "host") == 0);
	FUZZ_CHECK(hv_kvp_pool_set(store, HV_KVP_POOL_GUEST, "k", "v") == 0);
	if (!big)
		return;
	memset(value, 'x', 1000);
	value[1000] = 0;
	for (int i = 0; i < 48; i++) {
		snprintf(key, sizeof(key), "big%02d", i);
		FUZZ_CHECK(hv_kvp_pool_set(store, HV_KVP_POOL_GUEST, key, value) == 0);
	}
}

/*
 * What the server does with one message, judged on its own: 1 a call
 * that must be answered, 0 one that need not be ("oneway"), -1 one that
 * closes the connection (not a JSON object with a string method, or
 * "more"/"oneway" that are not booleans, or more than white space after
 * it). The server parses with json-c, strict, 16 levels deep.
 */
static int call_kind(const uint8_t *msg, size_t n)
{
	json_tokener *t = json_tokener_new_ex(16);
	json_object *obj, *v;
	int kind = -1;

	FUZZ_CHECK(t);
	json_tokener_set_flags(t, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(t, (const char *)msg, (int)n);
	if (!obj || json_tokener_get_error(t) != json_tokener_success)
		goto out;
	for (size_t end = json_tokener_get_parse_end(t); end < n; end++)
		if (!memchr(" \t\r\n", msg[end], 4))
			goto out;
	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "method", &v) || !json_object_is_type(v, json_type_string))
		goto out;
	if (json_object_object_get_ex(obj, "more", &v) && !json_object_is_type(v, json_type_boolean))
		goto out;
	kind = 1;
	if (json_object_object_get_ex(obj, "oneway", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			kind = -1;
		else if (json_object_get_boolean(v))
			kind = 0;
	}
out:
	json_object_put(obj);
	json_tokener_free(t);
	return kind;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.'))
			return false;
	return true;
}

/* One reply: {"parameters": {...}} plus "error": NAME or "continues": true. */
static void frame_check(struct end *e, const uint8_t *s, size_t n)
{
	json_object *obj, *v;
	int keys = 1;
	bool cont = false;

	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, (const char *)s, (int)n);
	FUZZ_CHECK(obj && json_tokener_get_error(tok) == json_tokener_success);
	FUZZ_CHECK(json_tokener_get_parse_end(tok) == n);
	FUZZ_CHECK(json_object_is_type(obj, json_type_object));
	FUZZ_CHECK(json_object_object_get_ex(obj, "parameters", &v) &&
		   json_object_is_type(v, json_type_object));
	if (json_object_object_get_ex(obj, "error", &v)) {
		FUZZ_CHECK(json_object_is_type(v, json_type_string) &&
			   name_ok(json_object_get_string(v)));
		keys++;
	}
	if (json_object_object_get_ex(obj, "continues", &v)) {
		FUZZ_CHECK(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
		cont = true;
		keys++;
	}
	/* An error ends a call: it never continues. */
	FUZZ_CHECK(keys == json_object_object_length(obj) && keys <= 2);
	if (!cont)
		e->finals++;
	json_object_put(obj);
}

/* Take what the server sent; true if anything came. */
static bool end_read(struct end *e)
{
	bool moved = false;

	while (!e->eof) {
		uint8_t buf[16384];
		ssize_t n = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t i, start = 0;

		if (n < 0) {
			if (errno == ECONNRESET) {
				e->eof = true;
				moved = true;
			}
			FUZZ_CHECK(errno == EAGAIN || errno == ECONNRESET || errno == EINTR);
			break;
		}
		moved = true;
		if (n == 0) {
			e->eof = true;
			break;
		}
		e->rx_total += (size_t)n;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i])
				continue;
			if (e->rx_len) {
				size_t part = i - start;

				FUZZ_CHECK(e->rx_len + part <= e->rx_cap);
				memcpy(e->rx + e->rx_len, buf + start, part);
				frame_check(e, e->rx, e->rx_len + part);
				e->rx_len = 0;
			} else {
				frame_check(e, buf + start, i - start);
			}
			start = i + 1;
		}
		if (start < (size_t)n) {
			size_t part = (size_t)n - start;

			/* A reply is at most a message's worth of parameters, JSON-escaped. */
			if (e->rx_len + part > e->rx_cap) {
				size_t cap = e->rx_cap ? e->rx_cap * 2 : 65536;

				while (cap < e->rx_len + part)
					cap *= 2;
				FUZZ_CHECK(cap <= 16 * VL_MSG_MAX);
				e->rx = realloc(e->rx, cap);
				FUZZ_CHECK(e->rx);
				e->rx_cap = cap;
			}
			memcpy(e->rx + e->rx_len, buf + start, part);
			e->rx_len += part;
		}
	}
	return moved;
}

/* Send what the socket takes now; true if anything went. */
static bool end_write(struct end *e)
{
	bool moved = false;
	int q = 0;

	while (e->tx_off < e->tx_len) {
		ssize_t n = send(e->fd, e->tx + e->tx_off, e->tx_len - e->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			FUZZ_CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET ||
				   errno == EINTR);
			/* The server closed: the rest is never read. */
			if (errno == EPIPE || errno == ECONNRESET)
				e->tx_off = e->tx_len;
			break;
		}
		e->tx_off += (size_t)n;
		moved = true;
	}
	if (ioctl(e->fd, SIOCOUTQ, &q) == 0 && q != e->outq) {
		e->outq = q;
		moved = true;
	}
	return moved;
}

static void mem_check(size_t base, size_t in_size, unsigned int nconn)
{
#ifdef FUZZ_ASAN
	/*
	 * Per connection: the input buffer, the output queue up to
	 * VL_OUT_MAX plus the reply that crossed it, doubled by realloc, and
	 * the objects of one parsed message; the store grows with what the
	 * input sets, a bounded multiple of its bytes.
	 */
	size_t bound = nconn * (VL_MSG_MAX + 4 * VL_OUT_MAX + 64 * VL_MSG_MAX) +
		       64 * in_size + 4 * 1024 * 1024;

	FUZZ_CHECK(__sanitizer_get_current_allocated_bytes() <= base + bound);
#else
	(void)base;
	(void)in_size;
	(void)nconn;
#endif
}

static size_t mem_now(void)
{
#ifdef FUZZ_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	return 0;
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvkvpd_clients_config cfg = { .writer_group = "root" };
	struct hvkvpd_clients *cl = NULL;
	struct hv_kvp_store *store = NULL;
	struct end ends[2];
	struct vl_peer peer, root_peer;
	const char *msg;
	unsigned int nconn, flags, pad, round, idle = 0;
	const uint8_t *nul;
	size_t first_len, first_at_limit = 0, base;
	bool over;
	int first_kind;

	if (size < 1)
		return 0;
	setup();
	flags = data[0];
	data++;
	size--;
	nconn = flags & F_TWO ? 2 : 1;
	pad = flags & F_PAD;
	memset(ends, 0, sizeof(ends));
	ends[0].fd = ends[1].fd = -1;

	/* The streams: messages alternate between the connections. */
	for (unsigned int i = 0; i < nconn; i++) {
		ends[i].tx = malloc(size + VL_MSG_MAX + 2);
		FUZZ_CHECK(ends[i].tx);
	}
	nul = memchr(data, 0, size);
	first_len = nul ? (size_t)(nul - data) : size;
	for (size_t off = 0, k = 0; off < size; k++) {
		struct end *e = &ends[k % nconn];
		const uint8_t *z = memchr(data + off, 0, size - off);
		size_t n = z ? (size_t)(z - (data + off)) + 1 : size - off;

		memcpy(e->tx + e->tx_len, data + off, n);
		e->tx_len += n;
		if (z)
			e->messages++;
		if (k == 0 && (pad == F_PAD_FIT || pad == F_PAD_OVER) && first_len < VL_MSG_MAX - 1) {
			/* Padded in place: spaces after the object are allowed, so only the length changes. */
			size_t target = pad == F_PAD_FIT ? VL_MSG_MAX - 1 : VL_MSG_MAX;

			e->tx_len -= z ? 1 : 0;
			memset(e->tx + e->tx_len, ' ', target - first_len);
			e->tx_len += target - first_len;
			e->tx[e->tx_len++] = 0;
			if (!z)
				e->messages++;
			first_at_limit = target;
		}
		off += n;
	}
	if (first_at_limit)
		first_len = first_at_limit;
	/* Judged as sent: over the limit with its NUL, or a whole message within it. */
	over = first_len >= VL_MSG_MAX;
	first_kind = !over && ends[0].tx_len > first_len ? call_kind(ends[0].tx, first_len) : -2;

	base = mem_now();
	FUZZ_CHECK(hv_kvp_pool_open(NULL, 0, &store) == 0);
	store_fill(store, flags & F_BIG);
	cfg.store = store;
	cfg.info_root = root;
	cfg.restrict_read = flags & F_RESTRICT
			    ? 1u << HV_KVP_POOL_EXTERNAL | 1u << HV_KVP_POOL_AUTO_EXTERNAL : 0;
	FUZZ_CHECK(hvkvpd_clients_new(&cfg, &cl, &msg) == 0);
	peer_pick(flags & F_PEER, &peer);
	peer_pick(0, &root_peer);
	for (unsigned int i = 0; i < nconn; i++) {
		int sv[2];

		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		ends[i].fd = sv[0];
		FUZZ_CHECK(hvkvpd_clients_adopt(cl, sv[1], i ? &root_peer : &peer) == 0);
	}

	/* Talk until nothing moves: every byte sent, and no reply or read for a few rounds. */
	for (round = 0; idle < 3; round++) {
		bool moved = false;

		FUZZ_CHECK(round < MAX_ROUNDS);
		for (unsigned int i = 0; i < nconn; i++)
			moved |= end_write(&ends[i]);
		FUZZ_CHECK(hvkvpd_clients_dispatch(cl, 0) == 0);
		mem_check(base, size, nconn);
		if (!(flags & F_SLOW))
			for (unsigned int i = 0; i < nconn; i++)
				moved |= end_read(&ends[i]);
		/* Bytes left unsent here wait for a call the server holds, or for a slow reader. */
		idle = moved ? 0 : idle + 1;
	}

	if (over) {
		/* Over the limit: closed before a single reply. */
		end_read(&ends[0]);
		FUZZ_CHECK(ends[0].eof && ends[0].rx_total == 0);
	}

	/* The clients leave: the server must let go of both connections. */
	for (unsigned int i = 0; i < nconn; i++)
		shutdown(ends[i].fd, SHUT_WR);
	for (round = 0;; round++) {
		bool all = true;

		FUZZ_CHECK(round < MAX_ROUNDS);
		FUZZ_CHECK(hvkvpd_clients_dispatch(cl, 0) == 0);
		mem_check(base, size, nconn);
		for (unsigned int i = 0; i < nconn; i++) {
			end_read(&ends[i]);
			all &= ends[i].eof;
		}
		if (all)
			break;
	}

	for (unsigned int i = 0; i < nconn; i++) {
		FUZZ_CHECK(ends[i].finals <= ends[i].messages);
		if (first_kind == 1 && i == 0)
			FUZZ_CHECK(ends[0].rx_total > 0);
		close(ends[i].fd);
		free(ends[i].tx);
		free(ends[i].rx);
	}
	hvkvpd_clients_stop(cl);
	hv_kvp_pool_close(store);
	return 0;
}
