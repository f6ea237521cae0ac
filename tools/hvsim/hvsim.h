/* SPDX-License-Identifier: ISC */
/*
 * hvsim: the Hyper-V host side of a sim device. Private to tools/hvsim.
 *
 * simroot.c  lays out and removes the sim root (sysfs, procfs, memfds);
 * device.c   the device socket, the rings as the host sees them, the
 *            guest's signals and our interrupts;
 * script.c   turns script lines into actions;
 * actions.c  runs the actions: IC framing, KVP requests through the
 *            library's codec, printing;
 * nic.c      the synthetic NIC's NVSP setup and received frames.
 */
#ifndef HVSIM_H
#define HVSIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/ring.h>

/* ---- the guest kernel (kernel.c; hvsim(8), KERNEL PROFILES) ---- */

/* What a kernel release has, one row of the history each. */
enum sim_kernel_row {
	SIM_K_NONMONITORED,      /* channels without a monitor page bind; write(1) signals the primary */
	SIM_K_WRITE_ALL,         /* write() masks every sub-channel; their interrupts do not oops */
	SIM_K_WRITE_SIGNALS_SUB, /* write(1) signals every sub-channel without a monitor page */
	SIM_K_USER_MASK,         /* the kernel no longer forces interrupt_mask to 1 */
	SIM_K_HEADER_ZEROED,     /* ring headers zeroed on every open */
	SIM_K_RESCIND,           /* a rescind of an open device does not oops */
	SIM_K_RING_PADDED,       /* primary ring one page longer */
	SIM_K_RING_FILE_REAL,    /* st_size of `ring` is the real size */
	SIM_K_RING_ON_REOFFER,   /* the primary's `ring` exists after a re-offer */
	SIM_K_NIC_BUFFERS_ONLY,  /* maps 3-4 only for the network class */
	SIM_K_COUNT,
};

/*
 * Played when no --kernel is given: binds IC devices, masks them at open
 * (no b15b7d2a1b09), maps 3-4 only for the network class, no
 * d062463edf17: what the sim device contract describes.
 */
#define SIM_KERNEL_DEFAULT "6.15.6"

struct sim_kernel {
	char release[64];          /* what ROOT/proc/sys/kernel/osrelease says */
	unsigned int major, minor, patch;
	bool has[SIM_K_COUNT];
	bool crashed;              /* the report was made: the session has failed */
};

/* "MAJOR.MINOR.PATCH[-suffix]"; -EINVAL for anything else. */
int sim_kernel_parse(const char *release, struct sim_kernel *k);
/*
 * A distribution's backport the release does not show: every row of
 * that commit (12 hex digits, as hvsim(8) lists them). -ENOENT if none.
 */
int sim_kernel_backport(struct sim_kernel *k, const char *commit);
const char *sim_kernel_commit(enum sim_kernel_row row);
/*
 * The guest kernel would oops here: "the guest kernel would crash here
 * (commit C, kernel V): what" on standard error, once, and k->crashed.
 */
void sim_kernel_crash(struct sim_kernel *k, enum sim_kernel_row row, const char *what);

/* ---- the devices hvsim can play ---- */

struct sim_devtype {
	const char *name;          /* --device */
	const char *class_guid;
	const char *instance;
	uint32_t relid;
	uint16_t ic_type;          /* ICMSGTYPE_* of its service messages; 0: none (the NIC) */
	const struct hv_ic_versions *offer;  /* NULL: the library's host list */
	int32_t monitor_id;        /* -1: no monitor page, as every IC device */
	size_t ring_size;          /* bytes per direction, header page included; 0: 2 MiB */
};

/* What the host offers for the device's service. */
const struct hv_ic_versions *sim_devtype_offer(const struct sim_devtype *t);

const struct sim_devtype *sim_devtype_find(const char *name);

/* ---- the sim root ---- */

/* txrx_rings, int_page, monitor_page; recv: and send: where the kernel adds them. */
#define SIM_MAX_MAPS 5
#define SIM_MAX_SUBS 4

struct sim_sub {
	uint32_t relid;            /* 0: free slot */
	int fd;                    /* the memfd behind channels/<relid>/ring */
	size_t size;               /* both rings */
	void *rings;               /* mapped by the host */
};

struct sim_root {
	char *root;                /* ROOT as given */
	char *devdir;              /* ROOT/sys/bus/vmbus/devices/<instance> */
	char *node;                /* ROOT/dev/uioN; NULL if the kernel refused to bind */
	int uio_index;
	const struct sim_devtype *type;
	struct sim_kernel kernel;
	bool bound;                /* uio_hv_generic has the device */
	unsigned int offers;       /* how often the device was offered */
	unsigned int nmaps;
	int map_fd[SIM_MAX_MAPS];
	size_t map_size[SIM_MAX_MAPS];
	void *rings;               /* map 0, mapped by the host */
	uint8_t *int_page;         /* map 1 */
	uint8_t *monitor_page;     /* map 2 */
	int decoy_fd;              /* a `ring` file of the wrong size (before 65995e97a1ca) */
	struct sim_sub subs[SIM_MAX_SUBS];
	uint32_t next_gpadl;       /* the guest kernel's next GPADL handle */
	uint32_t recv_gpadl, send_gpadl;  /* of maps 3 and 4; 0 without them */
	uint8_t *recv_buf;         /* map 3, mapped by the host */
};

/* kernel: a release for sim_kernel_parse, NULL for SIM_KERNEL_DEFAULT. */
int sim_root_create(const char *root, const struct sim_devtype *type, const char *kernel,
		    struct sim_root *sr);
/* Lay out the device (an offer) under uio index `uio_index`. */
int sim_root_offer(struct sim_root *sr, int uio_index);
/* Remove the device directory and node (a rescind); maps are released. */
void sim_root_rescind(struct sim_root *sr);
void sim_root_destroy(struct sim_root *sr);
/* channels/<relid>/state-like files that follow the channel's life. */
void sim_root_set_state(struct sim_root *sr, int state);
/* A sub-channel's directory and ring file; returns its slot or -errno. */
int sim_root_sub_add(struct sim_root *sr, uint32_t relid);
void sim_root_sub_remove(struct sim_root *sr, int slot);
/*
 * A GPADL the guest kernel establishes: its handle, as Linux numbers them
 * (vmbus_connection.next_gpadl_handle, from 0xE1E10, one per buffer and
 * per channel opened, never reused).
 */
uint32_t sim_root_gpadl_new(struct sim_root *sr);

/* ---- the device ---- */

/* Largest IC message hvsim sends or accepts: the IP-info message, padded. */
#define SIM_MAX_MSG 8192

/* One channel as the host sees it: the primary (ch[0]) or a sub-channel. */
struct sim_chan {
	uint32_t relid;            /* 0: slot unused */
	int32_t monitor_id;
	int sub;                   /* slot in sr->subs, -1 for the primary */
	struct hv_ring *tx;        /* host to guest: we produce */
	struct hv_ring *rx;        /* guest to host: we consume */
	bool rx_signalled;         /* the guest signalled: read until empty */
	bool tx_signalled;         /* the guest signalled since we waited for room */
	uint64_t signals;          /* times the host learned of a guest signal */
	uint64_t bits;             /* of those, interrupt-page or monitor bits found set */
	uint64_t interrupts;       /* interrupts we raised for it */
};

#define SIM_MAX_CHANS (1 + SIM_MAX_SUBS)

/* How the map message lies (tests of the guest's handshake; 0: it does not). */
enum sim_handshake {
	SIM_HS_GOOD,
	SIM_HS_WRONG_COUNT,     /* the count says 7 */
	SIM_HS_FEWER_FDS,       /* one descriptor fewer than the count */
	SIM_HS_SHORT_MAP,       /* map 0 half the size sysfs gives */
	SIM_HS_NONE,            /* no message: the host hangs up */
	SIM_HS_TOO_MANY_FDS,    /* more descriptors than any device has */
	SIM_HS_LONG_MSG,        /* an 8-byte message */
};

struct sim_dev;
typedef int (*sim_connect_fn)(struct sim_dev *d, void *arg);

struct sim_dev {
	struct sim_root *sr;
	int listen_fd;
	int conn_fd;               /* -1: no guest */
	bool negotiated;
	uint32_t intr_count;       /* cumulative, what read() of /dev/uioN gives */
	struct sim_chan ch[SIM_MAX_CHANS];
	uint64_t trans_id;         /* VMBus transaction id of our requests */
	sim_connect_fn on_connect; /* after the channel opened */
	void *on_connect_arg;
	int timeout_ms;
	int verbose;
	enum sim_handshake handshake;
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
 * opened (rings reset as its kernel does, the map message) and
 * on_connect runs.
 */
int sim_dev_wait_guest(struct sim_dev *d, int timeout_ms);
/* Interrupt the guest for channel c: one more on the cumulative count. */
int sim_dev_interrupt(struct sim_dev *d, struct sim_chan *c);
/*
 * The host closes the channel (the end of the script), or rescinds the
 * device (the guest kernel may crash on that).
 */
void sim_dev_disconnect(struct sim_dev *d);
void sim_dev_rescind(struct sim_dev *d);
/*
 * Offer a sub-channel while the guest has the device open: the kernel
 * opens it (hv_uio_new_channel) and shows channels/<relid>/ring.
 * Returns the channel or NULL with errno.
 */
struct sim_chan *sim_dev_sub_offer(struct sim_dev *d, uint32_t relid);
/*
 * Send one in-band packet on channel c (sim_dev_send: the primary),
 * interrupting the guest only when the ring says so; waits (bounded by
 * the timeout) for room when the ring is full.
 */
int sim_dev_chan_send(struct sim_dev *d, struct sim_chan *c, const void *buf, size_t len);
/* Any packet: iov holds what follows the descriptor (info->header_len includes it). */
int sim_dev_chan_sendv(struct sim_dev *d, struct sim_chan *c, const struct hv_ring_pkt_info *info,
		       const struct iovec *iov, unsigned int iovcnt);
int sim_dev_send(struct sim_dev *d, const void *buf, size_t len);
/*
 * Receive the next packet from the guest into buf (len in/out), waiting
 * up to timeout_ms. Returns 0, -ETIMEDOUT, -ECONNRESET when the guest
 * closed the device, -EBADMSG when it broke the ring protocol, -ENOBUFS,
 * -EHOSTDOWN once the guest kernel crashed.
 */
int sim_dev_chan_recv(struct sim_dev *d, struct sim_chan *c, void *buf, size_t *len,
		      uint64_t *trans_id, uint16_t *type, int timeout_ms);
int sim_dev_recv(struct sim_dev *d, void *buf, size_t *len, uint64_t *trans_id,
		 uint16_t *type, int timeout_ms);
/* Serve the socket (signals, masks, refusals) for up to ms milliseconds. */
int sim_dev_idle(struct sim_dev *d, int ms);
/*
 * Serve the socket until the guest has read everything in the primary's
 * host-to-guest ring: 0, -ETIMEDOUT, -ECONNRESET.
 */
int sim_dev_drain(struct sim_dev *d, int timeout_ms);

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
	OP_OPEN,           /* wait for a guest to open the device */
	OP_DRAIN,          /* wait for the guest to read all we sent */
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
	OP_NVS,            /* nic.c: the guest's NVSP setup */
	OP_FEED,           /* nic.c: frames on every channel */
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
	bool nvs_rxbuf;            /* nic: this guest connected its receive buffer */
};

/*
 * Run one action. Returns 0, or a negative errno after printing why the
 * run failed; main() alone turns it into hvsim(8)'s exit status
 * (sim_exit_status): -ENOMSG an expectation failed; -ETIMEDOUT,
 * -ECONNRESET, -EBADMSG or -EPROTO the guest did not answer in time,
 * closed the device or broke the protocol; any other errno a bad script
 * or hvsim itself (-EINVAL, -ENOMEM, -EIO).
 */
int sim_action_run(struct sim *s, const struct sim_action *a);
/* Hook the host's negotiate to every guest connection. */
int sim_init(struct sim *s);
/* A connected guest with agreed versions, waiting for both if needed. */
int sim_ready(struct sim *s, unsigned int line);
/* A connected guest, waiting for one if needed; returns as sim_action_run. */
int sim_opened(struct sim *s, unsigned int line);
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
/* What the guest's reply says, checked against what we sent. */
struct sim_reply {
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
/* Send one framed request; returns as sim_action_run, with the reason printed. */
int sim_request_send(struct sim *s, unsigned int line, const uint8_t *msg, size_t len,
		     const char *what);
/* Wait for the in-band IC response of `type` to it, checked; returns as sim_action_run. */
int sim_reply_recv(struct sim *s, unsigned int line, uint16_t type, const char *what,
		   struct sim_reply *r);
/* --json: a status and its name, bytes as hex, and the object printed as one line. */
struct json_object;
void sim_json_add_status(struct json_object *o, uint32_t status);
void sim_json_add_hex(struct json_object *o, const char *name, const uint8_t *p, size_t len);
void sim_json_emit(struct json_object *o);
/* kvp.c: run a kvp or ip action (OP_KVP_*, OP_IP_*); returns as sim_action_run. */
int sim_kvp_run(struct sim *s, const struct sim_action *a);
/* fcopy.c: the words of copy / fcopy / hostile fcopy-*; 0 or -EINVAL with err set. */
int sim_fcopy_parse(char **words, int n, struct sim_action *a, char *err, size_t errlen);
/* fcopy.c: run an OP_FCOPY or HOSTILE_FCOPY action. */
int sim_fcopy_run(struct sim *s, const struct sim_action *a);
/* The largest frame feed delivers: one 1728-byte receive slot less the RNDIS header. */
#define SIM_NIC_MAX_FRAME 1684
/* nic.c: serve the guest's NVSP setup (OP_NVS); feed n frames of n2 bytes per channel (OP_FEED). */
int sim_nic_nvs(struct sim *s, const struct sim_action *a);
int sim_nic_feed(struct sim *s, const struct sim_action *a);

/* Errors and progress go to standard error, replies to standard output. */
/* One line on standard error, after "hvsim: ". */
void sim_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void sim_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_log(const struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
