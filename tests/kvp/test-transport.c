/* SPDX-License-Identifier: ISC */
/*
 * The KVP transports.
 *
 * Kernel: a fake kernel on a SOCK_SEQPACKET socket at the device path
 * takes the REGISTER1 handshake in a thread, then sends struct
 * hv_kvp_msg requests and checks every byte of each answer.
 *
 * Channel: hvsim (HVSIM, the built program) plays the host in a separate
 * process on a temporary sim root; its --json output carries the bytes
 * of each request and reply, and every reply is checked against the
 * request rewritten here by hand at the offsets the protocol fixes.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

/* sizeof(struct hv_kvp_msg) in <linux/hyperv.h>: its body union is padded to 4. */
#define KMSG 7432

/* Kernel message offsets (struct hv_kvp_msg of Linux's uapi hyperv.h). */
enum {
	K_TYPE = 4, K_KEY_SIZE = 8, K_VALUE_SIZE = 12, K_KEY = 16, K_VALUE = 528,
	K_E_INDEX = 4, K_E_TYPE = 8, K_E_KEY_SIZE = 12, K_E_VALUE_SIZE = 16,
	K_E_KEY = 20, K_E_VALUE = 532,
	K_D_KEY_SIZE = 4, K_D_KEY = 8,
	K_I_ADAPTER = 4,
};

/* VMBus payload offsets. */
enum {
	P_STATUS = 20, P_FLAGS = 25, P_OP = 28, P_POOL = 29,
	V_TYPE = 32, V_KEY_SIZE = 36, V_VALUE_SIZE = 40, V_KEY = 44, V_VALUE = 556,
	E_TYPE = 36, E_KEY_SIZE = 40, E_VALUE_SIZE = 44, E_KEY = 48, E_VALUE = 560,
};

/* ---- common ---------------------------------------------------------- */

struct events {
	unsigned int count, errors, replied;
	int last_error;
	uint32_t last_status;
	int last_op;             /* -1: no request */
	bool negotiate;
	struct hv_ic_version fw, msg;
};

static void observe(void *ctx, const struct hv_kvp_event *ev)
{
	struct events *e = ctx;

	e->count++;
	e->last_error = ev->error;
	e->last_status = ev->status;
	e->last_op = ev->req ? ev->req->operation : -1;
	if (ev->error)
		e->errors++;
	if (ev->replied)
		e->replied++;
	if (ev->negotiate) {
		e->negotiate = true;
		e->fw = ev->fw;
		e->msg = ev->msg;
	}
	/* The request is there exactly when the message was decoded. */
	ck_assert_int_eq(ev->req != NULL, ev->error == 0 && !ev->negotiate);
}

static char tmpdir[64];
static struct hv_kvp_store *store;
static struct hv_kvp_handler *handler;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	struct hv_kvp_handler_config cfg = { .sz = sizeof(cfg) };
	char path[192], root[128];

	strcpy(tmpdir, "/tmp/hvkvp-transport-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/pools", tmpdir);
	ck_assert_int_eq(hv_kvp_pool_open(path, 0, &store), 0);
	snprintf(root, sizeof(root), "%s/info", tmpdir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	write_file(path, "NAME=Testix\nVERSION_ID=7\n");
	cfg.root = root;
	ck_assert_int_eq(hv_kvp_handler_new(store, &cfg, &handler), 0);
}

static void teardown(void)
{
	char cmd[128];

	hv_kvp_handler_free(handler);
	hv_kvp_pool_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

/* ASCII or two-byte UTF-8 to UTF-16LE, written independently of the codec. */
static size_t utf16(const char *s, uint8_t *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		unsigned int c = *p++;

		if (c >= 0xc0) {
			c = (c & 0x1f) << 6 | (*p++ & 0x3f);
		}
		out[2 * n] = (uint8_t)c;
		out[2 * n + 1] = (uint8_t)(c >> 8);
		n++;
	}
	return n;
}

/* ---- the fake kernel ------------------------------------------------- */

enum fake_mode { FAKE_OK, FAKE_REFUSE, FAKE_HANGUP };

struct fake_kernel {
	char path[128];
	int lfd, conn;
	enum fake_mode mode;
	uint8_t reg[KMSG + 16];
	ssize_t reg_len;
	pthread_t th;
};

static struct fake_kernel fk;

static void *fake_accept(void *arg)
{
	struct fake_kernel *k = arg;
	uint8_t reply[KMSG];

	k->conn = accept(k->lfd, NULL, NULL);
	if (k->conn < 0)
		return NULL;
	k->reg_len = read(k->conn, k->reg, sizeof(k->reg));
	if (k->mode == FAKE_HANGUP) {
		close(k->conn);
		k->conn = -1;
		return NULL;
	}
	/* hv_kvp.c kvp_register: the same operation back, with the version. */
	memset(reply, 0, sizeof(reply));
	reply[0] = k->mode == FAKE_REFUSE ? HV_KVP_OP_REGISTER : HV_KVP_OP_REGISTER1;
	memcpy(reply + 4, "3.1", 3);
	if (write(k->conn, reply, sizeof(reply)) != (ssize_t)sizeof(reply))
		k->reg_len = -2;
	return NULL;
}

static void fake_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(&fk, 0, sizeof(fk));
	fk.conn = -1;
	snprintf(fk.path, sizeof(fk.path), "%s/hv_kvp", tmpdir);
	strcpy(sa.sun_path, fk.path);
	fk.lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_ge(fk.lfd, 0);
	ck_assert_int_eq(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fk.lfd, 4), 0);
}

/* Open the transport while the fake kernel takes the handshake. */
static int fake_open(enum fake_mode mode, struct hv_kvp_transport **t)
{
	int err;

	fk.mode = mode;
	if (fk.conn >= 0)
		close(fk.conn);
	fk.conn = -1;
	ck_assert_int_eq(pthread_create(&fk.th, NULL, fake_accept, &fk), 0);
	err = hv_kvp_transport_open_kernel(fk.path, t);
	ck_assert_int_eq(pthread_join(fk.th, NULL), 0);
	return err;
}

static void fake_close(void)
{
	if (fk.conn >= 0)
		close(fk.conn);
	close(fk.lfd);
}

/* Send one request, let the transport answer, read the answer whole. */
static int exchange(struct hv_kvp_transport *t, const uint8_t *req, size_t len,
		    uint8_t *reply, struct events *ev)
{
	struct pollfd pfd = { .fd = fk.conn, .events = POLLIN };
	int err;

	ck_assert_int_eq(write(fk.conn, req, len), (ssize_t)len);
	err = hv_kvp_transport_process(t, handler, observe, ev);
	if (poll(&pfd, 1, 0) != 1)
		return err ? err : -ENOMSG;
	ck_assert_int_eq(read(fk.conn, reply, KMSG + 1), KMSG);
	return err;
}

static void kmsg_value(uint8_t *m, uint8_t op, uint8_t pool, const char *key,
		       const char *value)
{
	memset(m, 0, KMSG);
	m[0] = op;
	m[1] = pool;
	if (op == HV_KVP_OP_DELETE) {
		put32(m, K_D_KEY_SIZE, (uint32_t)strlen(key) + 1);
		strcpy((char *)m + K_D_KEY, key);
		return;
	}
	put32(m, K_TYPE, HV_KVP_REG_SZ);
	put32(m, K_KEY_SIZE, (uint32_t)strlen(key) + 1);
	strcpy((char *)m + K_KEY, key);
	if (value) {
		put32(m, K_VALUE_SIZE, (uint32_t)strlen(value) + 1);
		strcpy((char *)m + K_VALUE, value);
	}
}

static void kmsg_enumerate(uint8_t *m, uint8_t pool, uint32_t index)
{
	memset(m, 0, KMSG);
	m[0] = HV_KVP_OP_ENUMERATE;
	m[1] = pool;
	put32(m, K_E_INDEX, index);
}

/* The answer is the request with the status over operation and pool. */
static void assert_echo(const uint8_t *req, const uint8_t *reply, uint32_t status)
{
	ck_assert_uint_eq(get32(reply, 0), status);
	ck_assert_int_eq(memcmp(reply + 4, req + 4, KMSG - 4), 0);
}

static void assert_enum_reply(const uint8_t *req, const uint8_t *reply, const char *key,
			      const char *value)
{
	uint8_t want[KMSG];

	memcpy(want, req, KMSG);
	put32(want, 0, HV_IC_S_OK);
	put32(want, K_E_TYPE, HV_KVP_REG_SZ);
	put32(want, K_E_KEY_SIZE, (uint32_t)strlen(key) + 1);
	put32(want, K_E_VALUE_SIZE, (uint32_t)strlen(value) + 1);
	memset(want + K_E_KEY, 0, 512);
	strcpy((char *)want + K_E_KEY, key);
	memset(want + K_E_VALUE, 0, 2048);
	strcpy((char *)want + K_E_VALUE, value);
	ck_assert_int_eq(memcmp(reply, want, KMSG), 0);
}

START_TEST(kernel_register)
{
	struct hv_kvp_transport_status st = { .sz = sizeof(st) };
	struct hv_kvp_transport *t = NULL;

	fake_listen();
	ck_assert_int_eq(fake_open(FAKE_OK, &t), 0);
	/* REGISTER1: one whole message, all zero but the operation. */
	ck_assert_int_eq(fk.reg_len, KMSG);
	ck_assert_uint_eq(fk.reg[0], HV_KVP_OP_REGISTER1);
	for (size_t i = 1; i < KMSG; i++)
		ck_assert_uint_eq(fk.reg[i], 0);
	ck_assert_int_eq(hv_kvp_transport_status_get(t, &st), 0);
	ck_assert_str_eq(st.kind, "kernel");
	ck_assert_str_eq(st.kernel_version, "3.1");
	ck_assert(!st.negotiated);
	ck_assert_uint_eq(st.requests, 0);
	ck_assert_int_ge(hv_kvp_transport_fd(t), 0);
	ck_assert_int_eq(hv_kvp_transport_set_busy_poll(t, true), -EOPNOTSUPP);
	/* Nothing waiting: returns at once. */
	ck_assert_int_eq(hv_kvp_transport_process(t, handler, NULL, NULL), 0);
	hv_kvp_transport_close(t);

	/* A kernel that answers something else, or hangs up. */
	ck_assert_int_eq(fake_open(FAKE_REFUSE, &t), -EPROTO);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(fake_open(FAKE_HANGUP, &t), -EPROTO);
	ck_assert_ptr_null(t);
	fake_close();

	ck_assert_int_eq(hv_kvp_transport_open_kernel("/nonexistent/hv_kvp", &t), -ENOENT);
	ck_assert_int_eq(hv_kvp_transport_open_kernel(NULL, &t), -EINVAL);
	/* A path that is neither a socket nor the device. */
	ck_assert_int_eq(hv_kvp_transport_open_kernel("/dev/null", &t), -EPROTO);
}
END_TEST

START_TEST(kernel_every_op)
{
	uint8_t req[KMSG], reply[KMSG];
	struct hv_kvp_transport *t = NULL;
	struct hv_kvp_transport_status st = { .sz = sizeof(st) };
	struct events ev = { 0 };
	char key[16], value[32];

	fake_listen();
	ck_assert_int_eq(fake_open(FAKE_OK, &t), 0);
	for (uint8_t pool = 0; pool < HV_KVP_POOL_COUNT; pool++) {
		snprintf(key, sizeof(key), "K%u", pool);
		snprintf(value, sizeof(value), "V%u", pool);
		kmsg_value(req, HV_KVP_OP_SET, pool, key, value);
		ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
		assert_echo(req, reply, HV_IC_S_OK);
		ck_assert_int_eq(ev.last_op, HV_KVP_OP_SET);

		kmsg_value(req, HV_KVP_OP_GET, pool, key, NULL);
		ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
		ck_assert_uint_eq(get32(reply, 0), HV_IC_S_OK);
		ck_assert_int_eq(memcmp(reply + K_KEY, key, strlen(key) + 1), 0);
		/* Where Linux's kernel reads a GET answer: the ENUMERATE value field. */
		ck_assert_str_eq((char *)reply + K_E_VALUE, value);
		for (size_t i = K_E_VALUE + strlen(value); i < K_E_VALUE + 2048; i++)
			ck_assert_uint_eq(reply[i], 0);
		kmsg_value(req, HV_KVP_OP_GET, pool, "missing", NULL);
		ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
		assert_echo(req, reply, HV_IC_S_CONT);

		if (pool != HV_KVP_POOL_AUTO) {
			kmsg_enumerate(req, pool, 0);
			ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
			assert_enum_reply(req, reply, key, value);
			kmsg_enumerate(req, pool, 1);
			ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
			assert_echo(req, reply, HV_IC_S_CONT);
		}

		kmsg_value(req, HV_KVP_OP_DELETE, pool, key, NULL);
		ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
		assert_echo(req, reply, HV_IC_S_OK);
		ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
		assert_echo(req, reply, HV_IC_S_CONT);
	}
	/* Auto: IntegrationServicesVersion is what the kernel registered with. */
	kmsg_enumerate(req, HV_KVP_POOL_AUTO, 1);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_enum_reply(req, reply, "IntegrationServicesVersion", "3.1");
	kmsg_enumerate(req, HV_KVP_POOL_AUTO, 5);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_enum_reply(req, reply, "OSName", "Testix");
	kmsg_enumerate(req, HV_KVP_POOL_AUTO, 10);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);

	/* GET_IP_INFO for an adapter that is not a MAC address: HV_IC_E_FAIL. */
	memset(req, 0, sizeof(req));
	req[0] = HV_KVP_OP_GET_IP_INFO;
	strcpy((char *)req + K_I_ADAPTER, "nothing");
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	ck_assert_uint_eq(get32(reply, 0), HV_IC_E_FAIL);
	/* SET_IP_INFO without a hook. */
	req[0] = HV_KVP_OP_SET_IP_INFO;
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	ck_assert_uint_eq(get32(reply, 0) >> 31, 1);

	ck_assert_int_eq(hv_kvp_transport_status_get(t, &st), 0);
	ck_assert_uint_eq(st.requests, ev.count);
	ck_assert_uint_eq(ev.replied, ev.count);
	ck_assert_uint_eq(ev.errors, 0);
	for (unsigned int p = 0; p < HV_KVP_POOL_COUNT; p++) {
		size_t n = 9;

		ck_assert_int_eq(hv_kvp_pool_count(store, p, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	hv_kvp_transport_close(t);
	fake_close();
}
END_TEST

/* Messages the codec refuses get the status Linux's daemon gives the operation's failure. */
START_TEST(kernel_bad_messages)
{
	uint8_t req[KMSG], reply[KMSG];
	struct hv_kvp_transport *t = NULL;
	struct events ev = { 0 };
	size_t n;

	fake_listen();
	ck_assert_int_eq(fake_open(FAKE_OK, &t), 0);

	/* Unknown operation. */
	kmsg_value(req, 7, HV_KVP_POOL_GUEST, "k", "v");
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_ERROR_NOT_SUPPORTED);
	ck_assert_int_eq(ev.last_error, -EOPNOTSUPP);
	/* A pool past the five never reaches the store. */
	kmsg_value(req, HV_KVP_OP_SET, 5, "k", "v");
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);
	ck_assert_int_eq(ev.last_error, -ERANGE);
	kmsg_enumerate(req, 255, 0);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);
	/* A key size past its field, and one that disagrees with the NUL. */
	kmsg_value(req, HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "k", "v");
	put32(req, K_KEY_SIZE, 600);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);
	ck_assert_int_eq(ev.last_error, -EOVERFLOW);
	kmsg_value(req, HV_KVP_OP_DELETE, HV_KVP_POOL_GUEST, "k", NULL);
	put32(req, K_D_KEY_SIZE, 5);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);
	/* Invalid UTF-8 in a value. */
	kmsg_value(req, HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "k", "a\xff");
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_CONT);
	ck_assert_int_eq(ev.last_error, -EILSEQ);
	/* An IP-info message without NUL in its adapter id. */
	memset(req, 'x', sizeof(req));
	req[0] = HV_KVP_OP_GET_IP_INFO;
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_E_FAIL);
	for (unsigned int p = 0; p < HV_KVP_POOL_COUNT; p++) {
		ck_assert_int_eq(hv_kvp_pool_count(store, p, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	ck_assert_uint_eq(ev.replied, ev.count);

	/*
	 * A short read: not answered; Linux's daemon reopens, so do we. The
	 * packed bytes of the message without the padding of its body union
	 * are short too.
	 */
	kmsg_value(req, HV_KVP_OP_SET, HV_KVP_POOL_GUEST, "k", "v");
	ev.count = 0;
	ck_assert_int_eq(exchange(t, req, HV_KVP_KMSG_SIZE - 2, reply, &ev), -ENODEV);
	ck_assert_uint_eq(ev.count, 1);
	ck_assert_int_eq(ev.last_error, -EBADMSG);
	hv_kvp_transport_close(t);
	ck_assert_int_eq(fake_open(FAKE_OK, &t), 0);
	ev.count = 0;
	ck_assert_int_eq(exchange(t, req, 100, reply, &ev), -ENODEV);
	ck_assert_uint_eq(ev.count, 1);
	ck_assert_int_eq(ev.last_error, -EBADMSG);
	ck_assert_int_eq(hv_kvp_pool_count(store, HV_KVP_POOL_GUEST, &n), 0);
	ck_assert_uint_eq(n, 0);
	hv_kvp_transport_close(t);

	/* Reopen: a new REGISTER1, then requests work again. */
	ck_assert_int_eq(fake_open(FAKE_OK, &t), 0);
	ck_assert_int_eq(fk.reg_len, KMSG);
	ck_assert_uint_eq(fk.reg[0], HV_KVP_OP_REGISTER1);
	ck_assert_int_eq(exchange(t, req, KMSG, reply, &ev), 0);
	assert_echo(req, reply, HV_IC_S_OK);

	/* The kernel side closing: -ENODEV. */
	close(fk.conn);
	fk.conn = -1;
	ck_assert_int_eq(hv_kvp_transport_process(t, handler, observe, &ev), -ENODEV);
	hv_kvp_transport_close(t);
	fake_close();
}
END_TEST

/* ---- the channel, against hvsim --------------------------------------- */

struct sim_run {
	int status;            /* hvsim's exit status */
	int last;              /* the transport's last process() result */
	struct events ev;
	struct hv_kvp_transport_status st;
	char out[128];         /* hvsim's standard output */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run hvsim with `script` and serve its device until it rescinds or exits. */
static void sim_run(const char *script, const char *timeout, bool busy, struct sim_run *r)
{
	char root[128], spath[128];
	struct hv_kvp_transport *t = NULL;
	int64_t deadline = now_ms() + 20000;
	pid_t pid;
	int err, wstatus, fd;

	memset(r, 0, sizeof(*r));
	r->ev.last_op = -1;
	r->st.sz = sizeof(r->st);
	snprintf(root, sizeof(root), "%s/sim", tmpdir);
	snprintf(spath, sizeof(spath), "%s/script", tmpdir);
	snprintf(r->out, sizeof(r->out), "%s/out.json", tmpdir);
	write_file(spath, script);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execl(HVSIM, "hvsim", "--root", root, "--script", spath, "--json",
		      "--timeout", timeout, (char *)NULL);
		_exit(127);
	}
	/* The sim root and its socket appear when hvsim is ready. */
	for (;;) {
		err = hv_kvp_transport_open_chan(root, &t);
		if (err == 0 || now_ms() > deadline)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(err, 0);
	if (busy)
		ck_assert_int_eq(hv_kvp_transport_set_busy_poll(t, true), 0);
	/* Drain before the first wait: the NEGOTIATE came with no interrupt. */
	for (;;) {
		r->last = hv_kvp_transport_process(t, handler, observe, &r->ev);
		ck_assert_int_eq(hv_kvp_transport_status_get(t, &r->st), 0);
		if (r->last)
			break;
		if (waitpid(pid, &wstatus, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		ck_assert_int_lt(now_ms(), deadline);
		if (busy) {
			sched_yield();
		} else {
			struct pollfd pfd = { .fd = hv_kvp_transport_fd(t), .events = POLLIN };

			poll(&pfd, 1, 20);
		}
	}
	hv_kvp_transport_close(t);
	if (pid > 0)
		ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
	ck_assert(WIFEXITED(wstatus));
	r->status = WEXITSTATUS(wstatus);
}

/* The lines of hvsim's --json output. */
static struct json_object **sim_replies(const struct sim_run *r, size_t *count)
{
	static struct json_object *lines[64];
	char line[40000];
	FILE *f = fopen(r->out, "r");
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		ck_assert_uint_lt(n, 64);
		lines[n] = json_tokener_parse(line);
		ck_assert_ptr_nonnull(lines[n]);
		n++;
	}
	fclose(f);
	*count = n;
	return lines;
}

static const char *jstr(struct json_object *o, const char *name)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, name, &v), "no \"%s\"", name);
	return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *name)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, name, &v), "no \"%s\"", name);
	return json_object_get_int64(v);
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;

	ck_assert_uint_le(n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n;
}

/*
 * A KVP reply: the request with flags TRANSACTION|RESPONSE and the
 * status; GET and ENUMERATE successes also with their strings.
 */
static void assert_sim_reply(struct json_object *o, uint32_t status, const char *key,
			     const char *value)
{
	static uint8_t req[8192], reply[8192], want[8192];
	size_t rlen, plen, units;
	const char *op = jstr(o, "op");

	ck_assert_str_eq(jstr(o, "reply"), "kvp");
	rlen = unhex(jstr(o, "request"), req, sizeof(req));
	plen = unhex(jstr(o, "payload"), reply, sizeof(reply));
	/* The ring pads every packet to 8 bytes; the padding is zero. */
	ck_assert_uint_eq(plen, (rlen + 7) & ~(size_t)7);
	for (size_t i = rlen; i < plen; i++)
		ck_assert_uint_eq(reply[i], 0);
	memcpy(want, req, rlen);
	want[P_FLAGS] = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE;
	put32(want, P_STATUS, status);
	if (status == HV_IC_S_OK && !strcmp(op, "get")) {
		put32(want, V_TYPE, HV_KVP_REG_SZ);
		memset(want + V_VALUE, 0, 2048);
		units = utf16(value, want + V_VALUE);
		put32(want, V_VALUE_SIZE, (uint32_t)(2 * (units + 1)));
	}
	if (status == HV_IC_S_OK && !strcmp(op, "enumerate")) {
		put32(want, E_TYPE, HV_KVP_REG_SZ);
		memset(want + E_KEY, 0, 512);
		units = utf16(key, want + E_KEY);
		put32(want, E_KEY_SIZE, (uint32_t)(2 * (units + 1)));
		memset(want + E_VALUE, 0, 2048);
		units = utf16(value, want + E_VALUE);
		put32(want, E_VALUE_SIZE, (uint32_t)(2 * (units + 1)));
	}
	for (size_t i = 0; i < rlen; i++)
		ck_assert_msg(reply[i] == want[i], "%s reply byte %zu: %02x, want %02x", op, i,
			      reply[i], want[i]);
	ck_assert_uint_eq(jint(o, "status"), status);
}

static void chan_every_pool(bool busy)
{
	char script[4096], *p = script;
	struct json_object **l;
	struct sim_run r;
	size_t n, i = 0;

	p += sprintf(p, "negotiate\n");
	for (int pool = 0; pool < HV_KVP_POOL_COUNT; pool++) {
		const char *pn = hv_kvp_pool_name(pool);

		p += sprintf(p, "kvp set %s Name%d \"Zo\xc3\xab %d\"\nexpect S_OK\n", pn, pool, pool);
		p += sprintf(p, "kvp set %s Count u32:42\nexpect S_OK\n", pn);
		p += sprintf(p, "kvp get %s Name%d\nkvp get %s Count\nkvp get %s Nope\n", pn,
			     pool, pn, pn);
		if (pool != HV_KVP_POOL_AUTO)
			p += sprintf(p, "kvp enumerate %s 0\nkvp enumerate %s 1\n"
				     "kvp enumerate %s 2\n", pn, pn, pn);
		p += sprintf(p, "kvp delete %s Name%d\nkvp delete %s Name%d\n", pn, pool, pn,
			     pool);
	}
	p += sprintf(p, "kvp enumerate Auto 5\nkvp enumerate Auto 10\n");
	p += sprintf(p, "kvp set 7 Key Value\nexpect HV_E_FAIL\nrescind\n");
	sim_run(script, "5", busy, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.last, -ENODEV);

	l = sim_replies(&r, &n);
	ck_assert_str_eq(jstr(l[i], "reply"), "negotiate");
	ck_assert_uint_eq(jint(l[i], "status"), HV_IC_S_OK);
	ck_assert_str_eq(jstr(l[i], "framework"), "3.0");
	ck_assert_str_eq(jstr(l[i], "message"), "4.0");
	i++;
	for (int pool = 0; pool < HV_KVP_POOL_COUNT; pool++) {
		char name[16], value[16];

		snprintf(name, sizeof(name), "Name%d", pool);
		snprintf(value, sizeof(value), "Zo\xc3\xab %d", pool);
		assert_sim_reply(l[i++], HV_IC_S_OK, NULL, NULL);
		assert_sim_reply(l[i++], HV_IC_S_OK, NULL, NULL);
		assert_sim_reply(l[i++], HV_IC_S_OK, NULL, value);
		/* HV_KVP_REG_U32 became decimal text, as Linux's kernel prints it. */
		assert_sim_reply(l[i++], HV_IC_S_OK, NULL, "42");
		assert_sim_reply(l[i++], HV_IC_S_CONT, NULL, NULL);
		if (pool != HV_KVP_POOL_AUTO) {
			assert_sim_reply(l[i++], HV_IC_S_OK, name, value);
			assert_sim_reply(l[i++], HV_IC_S_OK, "Count", "42");
			assert_sim_reply(l[i++], HV_IC_S_CONT, NULL, NULL);
		}
		assert_sim_reply(l[i++], HV_IC_S_OK, NULL, NULL);
		assert_sim_reply(l[i++], HV_IC_S_CONT, NULL, NULL);
	}
	assert_sim_reply(l[i++], HV_IC_S_OK, "OSName", "Testix");
	assert_sim_reply(l[i++], HV_IC_S_CONT, NULL, NULL);
	/* A pool past the five: the codec refuses it, HV_IC_E_FAIL, the body echoed. */
	assert_sim_reply(l[i++], HV_IC_E_FAIL, NULL, NULL);
	ck_assert_uint_eq(i, n);
	for (i = 0; i < n; i++)
		json_object_put(l[i]);

	ck_assert(r.st.negotiated);
	ck_assert_str_eq(r.st.kind, "sim");
	ck_assert_uint_eq(r.st.fw.major, 3);
	ck_assert_uint_eq(r.st.fw.minor, 0);
	ck_assert_uint_eq(r.st.msg.major, 4);
	ck_assert(r.ev.negotiate);
	ck_assert_uint_eq(r.st.requests, n - 1);
	ck_assert_uint_eq(r.ev.replied, n);
	/* Only the pool past the five was refused by the codec. */
	ck_assert_uint_eq(r.ev.errors, 1);
	/* The store holds what the host left: Count in every pool. */
	for (unsigned int pool = 0; pool < HV_KVP_POOL_COUNT; pool++) {
		char v[16];

		ck_assert_int_eq(hv_kvp_pool_get(store, pool, "Count", v, sizeof(v), NULL), 0);
		ck_assert_str_eq(v, "42");
		ck_assert_int_eq(hv_kvp_pool_get(store, pool, "Name0", v, sizeof(v), NULL),
				 -ENOENT);
	}
}

START_TEST(chan_every_pool_interrupts)
{
	chan_every_pool(false);
}
END_TEST

START_TEST(chan_every_pool_busy_poll)
{
	chan_every_pool(true);
}
END_TEST

/* Raw messages: a body too short, an unknown operation, another IC type. */
START_TEST(chan_bad_messages)
{
	struct json_object **l;
	struct sim_run r;
	size_t n;

	sim_run("send kvp 01 01 00 00 00 00 00 00\n"
		"expect HV_E_FAIL\n"
		"send kvp 06 01 00 00\n"
		"expect HV_ERROR_NOT_SUPPORTED\n"
		"send kvp 03 09 00 00\n"
		"rescind\n", "5", false, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.last, -ENODEV);
	l = sim_replies(&r, &n);
	ck_assert_uint_eq(n, 4);
	/* The body goes back as it came. */
	ck_assert_str_eq(jstr(l[1], "reply"), "send");
	/* (what follows the IC header, padded by the ring to 8 bytes) */
	ck_assert_str_eq(jstr(l[1], "data"), "010100000000000000000000");
	ck_assert_uint_eq(jint(l[1], "flags"), 5);
	ck_assert_str_eq(jstr(l[2], "data"), "06010000");
	ck_assert_uint_eq(jint(l[2], "status"), HV_IC_ERROR_NOT_SUPPORTED);
	ck_assert_str_eq(jstr(l[3], "data"), "03090000");
	ck_assert_uint_eq(jint(l[3], "status"), HV_IC_E_FAIL);
	for (size_t i = 0; i < n; i++)
		json_object_put(l[i]);
	ck_assert_uint_eq(r.ev.errors, 3);
	ck_assert_uint_eq(r.ev.replied, 4);

	/* A heartbeat on the KVP channel is dropped, as Linux's KVP driver drops it. */
	sim_run("send heartbeat 01 00 00 00 00 00 00 00\n", "0.5", false, &r);
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(r.ev.last_error, -ENOMSG);
	ck_assert_uint_eq(r.ev.replied, 1);
}
END_TEST

START_TEST(chan_no_device)
{
	struct hv_kvp_transport *t = (void *)1;
	char root[128];

	snprintf(root, sizeof(root), "%s/empty", tmpdir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(hv_kvp_transport_open_chan(root, &t), -ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(hv_kvp_transport_open_chan(root, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_transport_process(NULL, handler, NULL, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_transport_fd(NULL), -EINVAL);
	hv_kvp_transport_close(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvp-transport");
	TCase *k = tcase_create("kernel"), *c = tcase_create("channel");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_checked_fixture(k, setup, teardown);
	tcase_add_test(k, kernel_register);
	tcase_add_test(k, kernel_every_op);
	tcase_add_test(k, kernel_bad_messages);
	suite_add_tcase(s, k);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, chan_every_pool_interrupts);
	tcase_add_test(c, chan_every_pool_busy_poll);
	tcase_add_test(c, chan_bad_messages);
	tcase_add_test(c, chan_no_device);
	suite_add_tcase(s, c);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
