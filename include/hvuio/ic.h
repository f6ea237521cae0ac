/* SPDX-License-Identifier: ISC */
/*
 * hv_ic: the framing every Hyper-V integration service (KVP, heartbeat,
 * shutdown, time sync, ...) shares, and its version negotiation.
 *
 * The payload of an in-band packet of an integration service is an 8-byte
 * pipe header, a 20-byte IC header (together HV_IC_DATA_OFFSET = 28 bytes), then
 * the service's data. The host opens every service with a NEGOTIATE
 * message; the guest picks one framework and one message version and
 * answers in the same buffer. Every reply is the request rewritten in
 * place: flags TRANSACTION|RESPONSE and a status.
 *
 * Nothing here touches a channel: these functions work on a private copy
 * of a payload (hv_chan_recv gives one) and the caller sends the result.
 * The host is not trusted; every length it sends is checked before use.
 */
#ifndef HVUIO_IC_H
#define HVUIO_IC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Message types (icmsgtype): Linux's ICMSGTYPE_* of include/linux/hyperv.h
 * with the prefix HV_IC_. Every name here carries it, so that this header
 * lives beside <linux/hyperv.h> and DPDK's vmbus headers, which define
 * ICMSGHDRFLAG_*, ICMSG_HDR, struct icmsg_hdr and the HRESULTs themselves.
 */
#define HV_IC_MSGTYPE_NEGOTIATE   0
#define HV_IC_MSGTYPE_HEARTBEAT   1
#define HV_IC_MSGTYPE_KVPEXCHANGE 2
#define HV_IC_MSGTYPE_SHUTDOWN    3
#define HV_IC_MSGTYPE_TIMESYNC    4
#define HV_IC_MSGTYPE_VSS         5
/* Linux leaves 6 unnamed; ProjectMile's Mile.HyperV calls it Rdv. */
#define HV_IC_MSGTYPE_RDV         6
#define HV_IC_MSGTYPE_FCOPY       7

/* IC header flags (icflags). */
#define HV_IC_FLAG_TRANSACTION 1
#define HV_IC_FLAG_REQUEST     2
#define HV_IC_FLAG_RESPONSE    4

/* Status codes (HRESULTs in hv_ic_hdr.status): Linux's uapi HV_S_OK, ... */
#define HV_IC_S_OK                       0x00000000
#define HV_IC_E_FAIL                     0x80004005
#define HV_IC_S_CONT                     0x80070103
#define HV_IC_ERROR_NOT_SUPPORTED        0x80070032
#define HV_IC_ERROR_MACHINE_LOCKED       0x800704F7
#define HV_IC_ERROR_DEVICE_NOT_CONNECTED 0x8007048F
#define HV_IC_INVALIDARG                 0x80070057
#define HV_IC_GUID_NOTFOUND              0x80041002
#define HV_IC_ERROR_ALREADY_EXISTS       0x80070050
#define HV_IC_ERROR_DISK_FULL            0x80070070

/* Most versions of each kind a negotiate message may carry. */
#define HV_IC_MAX_VER_COUNT 100

/*
 * A version as the wire has it: major in the first two bytes, minor in the
 * next two. There is deliberately no 32-bit form to write into the wire:
 * the BSDs' VMBUS_IC_VERSION(maj, min) is maj | min << 16 (the memory
 * image) while Linux's tables hold (maj << 16) | min (the logical order),
 * and mixing the two swaps major and minor. Build versions with
 * HV_IC_VER / HV_IC_VERSION and compare them with hv_ic_version_u32.
 */
struct hv_ic_version {
	uint16_t major;
	uint16_t minor;
} __attribute__((packed));

/* Initialiser, for arrays: { HV_IC_VER(3, 0), HV_IC_VER(1, 0) }. */
#define HV_IC_VER(maj, min) { .major = (maj), .minor = (min) }
/* Value, for expressions. */
#define HV_IC_VERSION(maj, min) ((struct hv_ic_version)HV_IC_VER(maj, min))

/* The logical order: (major << 16) | minor. Never put it on the wire. */
static inline uint32_t hv_ic_version_u32(struct hv_ic_version v)
{
	return (uint32_t)v.major << 16 | v.minor;
}

static inline bool hv_ic_version_eq(struct hv_ic_version a, struct hv_ic_version b)
{
	return a.major == b.major && a.minor == b.minor;
}

/* Payload offset 0. Neither field is interpreted by a guest: echo them. */
struct hv_ic_pipe_hdr {
	uint32_t flags;    /* 1: VmPipeMessageData */
	uint32_t msgsize;
} __attribute__((packed));

/* Payload offset 8. */
struct hv_ic_hdr {
	struct hv_ic_version icverframe;  /* framework version in use */
	uint16_t icmsgtype;            /* ICMSGTYPE_* */
	struct hv_ic_version icvermsg;    /* service version in use */
	uint16_t icmsgsize;            /* bytes of data after this header */
	uint32_t status;               /* HV_IC_S_OK, HV_IC_E_FAIL, ... */
	uint8_t ictransaction_id;      /* echoed in the response */
	uint8_t icflags;               /* ICMSGHDRFLAG_* */
	uint8_t reserved[2];
} __attribute__((packed));

/* Where the service data starts in the payload. */
#define HV_IC_DATA_OFFSET (sizeof(struct hv_ic_pipe_hdr) + sizeof(struct hv_ic_hdr))

/* The data of a NEGOTIATE message, at payload offset HV_IC_DATA_OFFSET. */
struct hv_ic_negotiate {
	uint16_t icframe_vercnt;
	uint16_t icmsg_vercnt;
	uint32_t reserved;
	/* icframe_vercnt framework versions, then icmsg_vercnt message versions */
	struct hv_ic_version icversion_data[];
} __attribute__((packed));

#ifndef __cplusplus
_Static_assert(sizeof(struct hv_ic_version) == 4, "ic_version");
_Static_assert(sizeof(struct hv_ic_pipe_hdr) == 8, "vmbuspipe_hdr");
_Static_assert(sizeof(struct hv_ic_hdr) == 20, "icmsg_hdr");
_Static_assert(HV_IC_DATA_OFFSET == 28, "ICMSG_HDR");
_Static_assert(sizeof(struct hv_ic_negotiate) == 8, "icmsg_negotiate");
#endif

/*
 * A negotiate reply: headers, the 8-byte negotiate header and two
 * versions. A reply is never shorter, so a buffer that receives a
 * negotiate request needs max(received length, HV_IC_NEGOTIATE_REPLY_MIN)
 * bytes.
 */
#define HV_IC_NEGOTIATE_REPLY_MIN (HV_IC_DATA_OFFSET + sizeof(struct hv_ic_negotiate) + \
				   2 * sizeof(struct hv_ic_version))

/*
 * The versions one side supports or offers. A guest lists them in its
 * order of preference; a host in the order it sends them.
 */
struct hv_ic_versions {
	const struct hv_ic_version *fw;
	unsigned int fw_count;
	const struct hv_ic_version *msg;
	unsigned int msg_count;
};

/* An IC message, checked; the headers are private copies. */
struct hv_ic_msg {
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr hdr;
	const uint8_t *data;   /* payload + HV_IC_DATA_OFFSET, in the caller's buffer */
	size_t data_len;       /* hdr.icmsgsize, known to fit in the payload */
	size_t avail;          /* payload bytes after the IC header (>= data_len) */
};

/*
 * Check the IC message at the start of a received payload of `len` bytes
 * and fill *msg. Returns 0, -EINVAL (NULL argument), -EBADMSG (shorter
 * than HV_IC_DATA_OFFSET, or icmsgsize claims more than the payload carries).
 */
int hv_ic_msg_parse(const void *payload, size_t len, struct hv_ic_msg *msg);

/*
 * Turn a received request of `len` bytes into its response in place:
 * icflags = TRANSACTION|RESPONSE and the given status; everything else is
 * kept. Send back the same length. Returns 0, -EINVAL, -EBADMSG (shorter
 * than HV_IC_DATA_OFFSET).
 */
int hv_ic_response_prepare(void *payload, size_t len, uint32_t status);

/*
 * Guest side of the negotiation. `buf` holds the received NEGOTIATE
 * payload (`len` bytes, a private copy) and has room for `buflen`, at
 * least max(len, HV_IC_NEGOTIATE_REPLY_MIN). The choice is Linux's: the
 * first of the service's framework versions that the host lists exactly
 * among its framework versions, then likewise for message versions among
 * the host's message versions. The buffer becomes the reply to send,
 * *reply_len bytes long (max(len, 44)): counts 1/1, the two chosen
 * versions, icmsgsize 16, flags TRANSACTION|RESPONSE, status HV_IC_S_OK.
 * *fw and *msg (either may be NULL) get the choice, or 0.0 on failure.
 *
 * Returns 0 when negotiated; -EOPNOTSUPP when there is no common version
 * and -EBADMSG when the request is malformed: in both cases the buffer
 * holds a failure reply to send (status HV_IC_E_FAIL, counts 0/0, versions
 * 0.0; hv_ic(3) gives the bytes). Returns -EINVAL (NULL argument, an empty
 * or oversized service list, or a complete IC header whose type is not
 * NEGOTIATE) and -ENOBUFS (buflen too small) without touching the buffer.
 */
int hv_ic_version_negotiate(void *buf, size_t buflen, size_t len,
			    const struct hv_ic_versions *supported,
			    struct hv_ic_version *fw, struct hv_ic_version *msg,
			    size_t *reply_len);

/*
 * Host side: write a NEGOTIATE request offering `offer` into buf and set
 * *len to its length (HV_IC_DATA_OFFSET + 8 + 4 * versions). Pipe flags 1,
 * msgsize the bytes after the pipe header, versions in use 0.0, flags
 * TRANSACTION|REQUEST, status 0. Returns 0, -EINVAL (NULL argument, a
 * count over HV_IC_MAX_VER_COUNT), -ENOBUFS.
 */
int hv_ic_negotiate_request_build(void *buf, size_t buflen,
				  const struct hv_ic_versions *offer,
				  uint8_t transaction_id, size_t *len);

/*
 * Host side: check a guest's reply to the request that offered `offer`
 * (NULL: do not check the choice against an offer). Returns 0 with the
 * chosen versions in *fw and *msg (either may be NULL); -EOPNOTSUPP when
 * the guest found no common version (a status other than HV_IC_S_OK, or
 * counts 0/0); -EPROTO when it chose a version that was not offered;
 * -EBADMSG when the reply is malformed (not an IC message, not a
 * NEGOTIATE response, counts other than 1/1 or 0/0, versions past the
 * end); -EINVAL for a NULL buffer.
 */
int hv_ic_negotiate_reply_parse(const void *buf, size_t len,
				const struct hv_ic_versions *offer,
				struct hv_ic_version *fw, struct hv_ic_version *msg);

/*
 * The versions Linux's in-kernel drivers support for a service
 * (icmsgtype HEARTBEAT, KVPEXCHANGE, SHUTDOWN, TIMESYNC or FCOPY),
 * preferred first. Returns 0, -EINVAL (ret NULL), -ENOENT (no list).
 */
int hv_ic_guest_versions_get(uint16_t icmsgtype, const struct hv_ic_versions **ret);

/*
 * What a current Hyper-V host offers for a service, in its order; only
 * KVPEXCHANGE is known: framework 1.0, 3.0; KVP 3.0, 4.0, 5.0. Returns 0,
 * -EINVAL, -ENOENT.
 */
int hv_ic_host_versions_get(uint16_t icmsgtype, const struct hv_ic_versions **ret);

/*
 * A service through Linux's hv_utils instead of a channel: its device
 * (/dev/vmbus/hv_kvp, /dev/vmbus/hv_fcopy), where each read() is one
 * message and each write() one answer. hv_ic_kdev_open opens path
 * O_RDWR, or connects to a SOCK_SEQPACKET socket there (one playing the
 * kernel's side): 0 with *fd, or -errno (-ENAMETOOLONG, -EINVAL).
 * hv_ic_kdev_read waits up to timeout_us (0: only a message already
 * there) and reads one into buf: 0 with *len, -EAGAIN when none came,
 * -ENODEV when the device failed or went away, -EINVAL, or -errno of
 * poll. hv_ic_kdev_write writes buf as one answer: 0, -ENODEV when the
 * device did not take all of it, -EINVAL. Linux's daemons close the
 * device and open it again after -ENODEV.
 */
int hv_ic_kdev_open(const char *path, int *fd);
int hv_ic_kdev_read(int fd, void *buf, size_t size, int64_t timeout_us, size_t *len);
int hv_ic_kdev_write(int fd, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
