/* SPDX-License-Identifier: ISC */
/*
 * hvsim: the Hyper-V host side of a sim device. Private to tools/hvsim.
 *
 * simroot.c  lays out and removes the sim root (sysfs, procfs, memfds);
 * device.c   the device socket, the rings as the host sees them, the
 *            guest's signals and our interrupts;
 * script.c   turns script lines into actions;
 * actions.c  runs the actions: IC framing, KVP requests through the
 *            library's codec, printing.
 */
#ifndef HVSIM_H
#define HVSIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hvuio/ic.h>
#include <hvuio/ring.h>

/* ---- the devices hvsim can play ---- */

struct sim_devtype {
	const char *name;          /* --device */
	const char *class_guid;
	const char *instance;
	uint32_t relid;
	uint16_t ic_type;          /* ICMSGTYPE_* of its service messages */
	const struct hv_ic_versions *offer;  /* NULL: the library's host list */
	size_t ring_data;          /* data bytes per direction; 0: 2 MiB */
};

/* What the host offers for the device's service. */
const struct hv_ic_versions *sim_devtype_offer(const struct sim_devtype *t);

const struct sim_devtype *sim_devtype_find(const char *name);

/* ---- the sim root ---- */

#define SIM_NMAPS 3

struct sim_root {
	char *root;                /* ROOT as given */
	char *devdir;              /* ROOT/sys/bus/vmbus/devices/<instance> */
	char *node;                /* ROOT/dev/uioN */
	int uio_index;
	const struct sim_devtype *type;
	int map_fd[SIM_NMAPS];
	size_t map_size[SIM_NMAPS];
	void *rings;               /* map 0, mapped by the host */
};

int sim_root_create(const char *root, const struct sim_devtype *type,
		    struct sim_root *sr);
/* Lay out the device (an offer) under uio index `uio_index`. */
int sim_root_offer(struct sim_root *sr, int uio_index);
/* Remove the device directory and node (a rescind); maps are released. */
void sim_root_rescind(struct sim_root *sr);
void sim_root_destroy(struct sim_root *sr);
/* channels/<relid>/state-like files that follow the channel's life. */
void sim_root_set_state(struct sim_root *sr, int state);

/* ---- the device ---- */

/* Largest IC message hvsim sends or accepts: the IP-info message, padded. */
#define SIM_MAX_MSG 8192

struct sim_dev;
typedef int (*sim_connect_fn)(struct sim_dev *d, void *arg);

struct sim_dev {
	struct sim_root *sr;
	int listen_fd;
	int conn_fd;               /* -1: no guest */
	bool negotiated;
	uint32_t intr_count;       /* cumulative, what read() of /dev/uioN gives */
	struct hv_ring *tx;        /* host to guest: we produce */
	struct hv_ring *rx;        /* guest to host: we consume */
	uint64_t trans_id;         /* VMBus transaction id of our requests */
	bool rx_signalled;         /* the guest signalled: read until empty */
	bool tx_signalled;         /* the guest signalled since we waited for room */
	sim_connect_fn on_connect; /* after the channel opened */
	void *on_connect_arg;
	int timeout_ms;
	int verbose;
	/* Counters for -v and the tests. */
	uint64_t guest_signals, guest_masks, interrupts_sent, refused;
	uint64_t guest_closes;     /* the guest closed the device */
	uint8_t rxbuf[SIM_MAX_MSG * 2];
};

int sim_dev_listen(struct sim_dev *d);
void sim_dev_unlisten(struct sim_dev *d);
/*
 * Wait (up to timeout_ms) for a guest to connect. Connections are served
 * by every wait of this module: a guest that connects gets its channel
 * opened (rings reset, host-to-guest ring masked, the map message) and
 * on_connect runs.
 */
int sim_dev_wait_guest(struct sim_dev *d, int timeout_ms);
/* Interrupt the guest: one more on the cumulative count. */
int sim_dev_interrupt(struct sim_dev *d);
/* The host closes the channel (rescind, or the end of the script). */
void sim_dev_disconnect(struct sim_dev *d);
/*
 * Send one in-band packet to the guest, interrupting it only when the
 * ring says so; waits (bounded by the timeout) for room when the ring is
 * full.
 */
int sim_dev_send(struct sim_dev *d, const void *buf, size_t len);
/*
 * Receive the next packet from the guest into buf (len in/out), waiting
 * up to timeout_ms. Returns 0, -ETIMEDOUT, -ECONNRESET when the guest
 * closed the device, -EBADMSG when it broke the ring protocol, -ENOBUFS.
 */
int sim_dev_recv(struct sim_dev *d, void *buf, size_t *len, uint64_t *trans_id,
		 uint16_t *type, int timeout_ms);
/* Serve the socket (signals, masks, refusals) for up to ms milliseconds. */
int sim_dev_idle(struct sim_dev *d, int ms);

/* ---- IC framing: hvuio/ic.h, plus what only a host needs ---- */

struct heartbeat_msg_data {
	uint64_t seq_num;
	uint32_t reserved[8];
} __attribute__((packed));

/* Linux's struct heartbeat_msg_data (include/linux/hyperv.h). */
_Static_assert(sizeof(struct heartbeat_msg_data) == 40, "heartbeat_msg_data");

/* Pipe message type of IC traffic (VmPipeMessageData). */
#define VMPIPE_MESSAGE_DATA 1

/* ---- the script ---- */

enum sim_op {
	OP_NEGOTIATE,      /* wait for a guest and its negotiate reply */
	OP_SEND,           /* raw IC message */
	OP_KVP_SET,
	OP_KVP_GET,
	OP_KVP_DELETE,
	OP_KVP_ENUMERATE,
	OP_IP_GET,
	OP_IP_SET,
	OP_HEARTBEAT,
	OP_WAIT,
	OP_EXPECT,
	OP_RESCIND,
	OP_OFFER,
	OP_HOSTILE,        /* hostile.c: only with --hostile */
	OP_FCOPY,          /* fcopy.c: copy, fcopy */
};

/* What a hostile action breaks (hvsim(8), HOSTILE ACTIONS). */
enum sim_hostile {
	HOSTILE_RING_INDEX,      /* the host-to-guest write index */
	HOSTILE_DESC,            /* a packet descriptor that lies */
	HOSTILE_TRUNCATED,       /* a packet that ends inside the IC header */
	HOSTILE_ICMSGSIZE,       /* icmsgsize beyond the packet */
	HOSTILE_NEGOTIATE,       /* negotiate counts as given */
	HOSTILE_KVP_SIZE,        /* key_size / value_size as given */
	HOSTILE_KVP_POOL,        /* a pool byte as given */
	HOSTILE_KVP_ODD,         /* an odd UTF-16 byte count */
	HOSTILE_KVP_SURROGATE,   /* an unpaired surrogate in the key */
	HOSTILE_FLOOD,           /* requests without reading the replies */
	HOSTILE_INTERRUPTS,      /* interrupts with nothing in the ring */
	HOSTILE_RESCIND_MID,     /* rescind with a request in the ring */
	HOSTILE_FCOPY,           /* fcopy.c: malformed fcopy messages */
};

#define SIM_MAX_ARGS 8

struct sim_action {
	enum sim_op op;
	unsigned int line;
	uint64_t n;                /* heartbeat count, wait ms, enumerate index */
	bool all;                  /* enumerate without an index */
	uint32_t status;           /* expect */
	bool expect_any_error;
	int pool;
	uint16_t ic_type;          /* send */
	uint8_t *payload;          /* send: bytes after the IC header */
	size_t payload_len;
	char *args[SIM_MAX_ARGS];  /* strings (key, value, IP fields) */
	unsigned int nargs;
	enum sim_hostile hostile;  /* hostile: what, and how (variant, n, n2) */
	unsigned int variant;
	uint64_t n2;
	uint64_t n3;
	uint32_t flags;            /* fcopy: START flags */
};

/*
 * Parse one line. Returns 1 with *a filled, 0 for a blank or comment
 * line, -EINVAL with a message in err for a bad one.
 */
int sim_script_parse(const char *line, unsigned int lineno, struct sim_action *a,
		     char *err, size_t errlen);
/* hostile.c: the words after "hostile"; 0 or -EINVAL with err set. */
int sim_hostile_parse(char **words, int n, struct sim_action *a, char *err, size_t errlen);
void sim_action_clear(struct sim_action *a);
/* Status names as Linux's uapi hyperv.h has them, and hex. */
int sim_status_parse(const char *s, uint32_t *status);
const char *sim_status_name(uint32_t status);
int sim_pool_parse(const char *s);

/* ---- running ---- */

struct sim {
	struct sim_root root;
	struct sim_dev dev;
	const struct sim_devtype *type;
	bool json;
	int verbose;
	bool have_reply;
	uint32_t last_status;
	struct hv_ic_version fw_ver, msg_ver;   /* negotiated */
	uint64_t hb_seq;
};

/*
 * Run one action. Returns 0, or -1 after printing why the run failed
 * (an expectation, a timeout, a guest that broke the protocol).
 */
int sim_action_run(struct sim *s, const struct sim_action *a);
/* Hook the host's negotiate to every guest connection. */
int sim_init(struct sim *s);
/* A connected guest with agreed versions, waiting for both if needed. */
int sim_ready(struct sim *s, unsigned int line);
/* hostile.c: run an OP_HOSTILE action; returns as sim_action_run. */
int sim_hostile_run(struct sim *s, const struct sim_action *a);
/*
 * One request of the device's service: `body` framed with the agreed
 * versions and IC transaction id 0, sent, and its reply awaited and
 * checked (an in-band IC response of the same type). *reply gets the
 * reply's IC header and *reply_len its payload length. Returns as
 * sim_action_run.
 */
int sim_exchange(struct sim *s, unsigned int line, const void *body, size_t len,
		 const char *what, struct hv_ic_hdr *reply, size_t *reply_len);
/* The status's name as the script spells it, with its hex, or the bare hex. */
void sim_status_text(uint32_t status, char *buf, size_t len);
/* fcopy.c: the words of copy / fcopy / hostile fcopy-*; 0 or -EINVAL with err set. */
int sim_fcopy_parse(char **words, int n, struct sim_action *a, char *err, size_t errlen);
/* fcopy.c: run an OP_FCOPY or HOSTILE_FCOPY action. */
int sim_fcopy_run(struct sim *s, const struct sim_action *a);

/* Errors and progress go to standard error, replies to standard output. */
/* One line on standard error, after "hvsim: ". */
void sim_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void sim_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_log(const struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
