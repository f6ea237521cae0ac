/* SPDX-License-Identifier: ISC */
/*
 * hv_fcopy_msg: the Hyper-V "Guest services" file copy messages (what
 * PowerShell's Copy-VMFile sends) and their codec.
 *
 * The same messages reach a guest in two layouts:
 *  - on the VMBus channel (HV_FCOPY_LAYOUT_CHANNEL): after the pipe and
 *    IC headers (hvuio/ic.h, icmsgtype ICMSGTYPE_FCOPY), names in
 *    UTF-16LE;
 *  - between Linux's hv_utils driver and its daemon on /dev/vmbus/hv_fcopy
 *    (HV_FCOPY_LAYOUT_KERNEL), Linux 6.9 and earlier: the same bytes
 *    without the IC headers, but the kernel has turned both names into
 *    UTF-8 (utf16s_to_utf8s, at most 259 bytes, NUL-terminated, in the
 *    same 520-byte fields). The daemon answers with one 32-bit status.
 * Layouts and values are those of Linux's uapi <linux/hyperv.h> (struct
 * hv_start_fcopy, struct hv_do_fcopy); the names here carry the part's
 * prefix so that both headers can be included together.
 *
 * The sender is not trusted: every size is read once from a private copy
 * and checked before use. Nothing here allocates or blocks.
 */
#ifndef HVUIO_FCOPY_MSG_H
#define HVUIO_FCOPY_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device class (Linux's HV_FCOPY_GUID) and the instance Hyper-V gives it. */
#define HV_FCOPY_GUID     "34d14be3-dee4-41c8-9ae7-6b174977c192"
#define HV_FCOPY_INSTANCE "eb765408-105f-49b6-b4aa-c123b64d17d4"
/* The kernel's device before Linux 6.10, and its registration version. */
#define HV_FCOPY_KERNEL_DEVICE  "/dev/vmbus/hv_fcopy"
#define HV_FCOPY_KERNEL_VERSION 1  /* FCOPY_CURRENT_VERSION */

/* Operations (enum hv_fcopy_op). */
#define HV_FCOPY_OP_START    0
#define HV_FCOPY_OP_WRITE    1
#define HV_FCOPY_OP_COMPLETE 2
#define HV_FCOPY_OP_CANCEL   3

/* START flags: -Force and -CreateFullPath of Copy-VMFile. */
#define HV_FCOPY_FLAG_OVERWRITE   0x1
#define HV_FCOPY_FLAG_CREATE_PATH 0x2

/* UTF-16 units per name field, NUL included (W_MAX_PATH). */
#define HV_FCOPY_NAME_UNITS 260
/* Most data bytes one WRITE carries (DATA_FRAGMENT). */
#define HV_FCOPY_DATA_FRAGMENT 6144
/*
 * Room for a decoded name with its NUL: 259 units of UTF-16 are at most
 * 777 bytes of UTF-8 (3 per unit; a surrogate pair is 4 bytes for 2).
 */
#define HV_FCOPY_NAME_MAX (3 * (HV_FCOPY_NAME_UNITS - 1) + 1)

struct hv_fcopy_wire_hdr {
	uint32_t operation;
	uint8_t service_id[16];  /* unused by every Linux version */
	uint8_t session_id[16];
} __attribute__((packed));

struct hv_fcopy_wire_start {
	struct hv_fcopy_wire_hdr hdr;
	uint16_t file_name[HV_FCOPY_NAME_UNITS];  /* kernel layout: UTF-8 bytes */
	uint16_t path_name[HV_FCOPY_NAME_UNITS];
	uint32_t copy_flags;
	uint64_t file_size;
} __attribute__((packed));

struct hv_fcopy_wire_write {
	struct hv_fcopy_wire_hdr hdr;
	uint32_t pad;
	uint64_t offset;
	uint32_t size;
	uint8_t data[HV_FCOPY_DATA_FRAGMENT];
} __attribute__((packed));

/* The sizes of Linux's packed structs, and the offsets of its fields. */
#ifndef __cplusplus
_Static_assert(sizeof(struct hv_fcopy_wire_hdr) == 36, "hv_fcopy_hdr");
_Static_assert(sizeof(struct hv_fcopy_wire_start) == 1088, "hv_start_fcopy");
_Static_assert(sizeof(struct hv_fcopy_wire_write) == 6196, "hv_do_fcopy");
_Static_assert(offsetof(struct hv_fcopy_wire_start, copy_flags) == 1076, "copy_flags");
_Static_assert(offsetof(struct hv_fcopy_wire_write, offset) == 40, "offset");
_Static_assert(offsetof(struct hv_fcopy_wire_write, data) == 52, "data");
#endif

/* Where WRITE data starts in a message; the smallest WRITE is this long. */
#define HV_FCOPY_WRITE_HDR_SIZE offsetof(struct hv_fcopy_wire_write, data)

enum hv_fcopy_layout {
	HV_FCOPY_LAYOUT_CHANNEL,  /* names in UTF-16LE */
	HV_FCOPY_LAYOUT_KERNEL,   /* names in UTF-8, as hv_utils hands them over */
};

/* A message, checked and decoded. */
struct hv_fcopy_request {
	uint32_t operation;       /* HV_FCOPY_OP_*, or what the sender put there */
	/* START: both names in UTF-8, NUL-terminated. */
	char file_name[HV_FCOPY_NAME_MAX];
	char path_name[HV_FCOPY_NAME_MAX];
	uint32_t flags;
	uint64_t file_size;
	/* WRITE: size bytes at data, inside the caller's buffer. */
	uint64_t offset;
	uint32_t size;
	const uint8_t *data;
};

/*
 * Decode the message at msg (`len` bytes: the bytes after the IC header,
 * or what the kernel device gave). Returns 0, or:
 *  -EBADMSG      shorter than the operation's structure;
 *  -EOPNOTSUPP   an operation above HV_FCOPY_OP_CANCEL (req->operation set);
 *  -ENAMETOOLONG a name without its NUL inside the field;
 *  -EILSEQ       a name that is not valid UTF-16 (unpaired surrogate) or,
 *                in the kernel layout, not valid UTF-8;
 *  -EMSGSIZE     a WRITE whose size is over HV_FCOPY_DATA_FRAGMENT or
 *                past the bytes that arrived;
 *  -EINVAL       a NULL argument.
 * req->operation is set whenever the common header arrived.
 */
int hv_fcopy_msg_parse(const void *msg, size_t len, enum hv_fcopy_layout layout,
		       struct hv_fcopy_request *req);

/*
 * Host side: write a message into buf (`buflen` bytes) and set *len.
 * START takes UTF-8 names (encoded for the layout; -EILSEQ if not UTF-8,
 * -ENAMETOOLONG if a name does not fit its field with the NUL); WRITE
 * always fills the whole structure, as the structure's size is what the
 * senders of both layouts send, with `size` data bytes and zeros after;
 * a header-only message is the common header. -ENOBUFS when buf is too
 * small, -EINVAL for NULL arguments or size over the fragment.
 */
int hv_fcopy_msg_start_build(void *buf, size_t buflen, enum hv_fcopy_layout layout,
			     const char *file_name, const char *path_name,
			     uint32_t flags, uint64_t file_size, size_t *len);
int hv_fcopy_msg_write_build(void *buf, size_t buflen, uint64_t offset,
			     const void *data, uint32_t size, size_t *len);
int hv_fcopy_msg_hdr_build(void *buf, size_t buflen, uint32_t operation, size_t *len);

/*
 * The strict UTF-16LE to UTF-8 conversion the START names get: stops at
 * the first NUL unit, which must come within `units`; an unpaired
 * surrogate is -EILSEQ, a missing NUL -ENAMETOOLONG, too small a dst
 * -ENOBUFS. Returns the UTF-8 length (the NUL written after it).
 */
int hv_fcopy_utf16_decode(const uint8_t *src, size_t units, char *dst, size_t dst_size);

#ifdef __cplusplus
}
#endif

#endif
