/* SPDX-License-Identifier: ISC */
/*
 * KVP wire structures, named as in Linux's uapi <linux/hyperv.h> and
 * checked against the sizes and offsets Linux, FreeBSD and OpenBSD agree
 * on. UTF-16 arrays are kept as bytes: the fields sit at offsets that a
 * uint16_t pointer must not assume aligned.
 */
#ifndef HVUIO_LIB_KVP_WIRE_H
#define HVUIO_LIB_KVP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "hvuio/ic.h"
#include "hvuio/kvp_msg.h"

struct hv_kvp_hdr {
	uint8_t operation;
	uint8_t pool;
	uint16_t pad;
} __attribute__((packed));

struct hv_kvp_exchg_msg_value {
	uint32_t value_type;
	uint32_t key_size;
	uint32_t value_size;
	uint8_t key[HV_KVP_KEY_MAX_SIZE];
	union {
		uint8_t value[HV_KVP_VALUE_MAX_SIZE];
		uint32_t value_u32;
		uint64_t value_u64;
	};
} __attribute__((packed));

struct hv_kvp_msg_enumerate {
	uint32_t index;
	struct hv_kvp_exchg_msg_value data;
} __attribute__((packed));

struct hv_kvp_msg_delete {
	uint32_t key_size;
	uint8_t key[HV_KVP_KEY_MAX_SIZE];
} __attribute__((packed));

struct hv_kvp_ipaddr_value {
	uint8_t adapter_id[2 * HV_KVP_MAX_ADAPTER_ID_SIZE];
	uint8_t addr_family;
	uint8_t dhcp_enabled;
	uint8_t ip_addr[2 * HV_KVP_MAX_IP_ADDR_SIZE];
	uint8_t sub_net[2 * HV_KVP_MAX_IP_ADDR_SIZE];
	uint8_t gate_way[2 * HV_KVP_MAX_GATEWAY_SIZE];
	uint8_t dns_addr[2 * HV_KVP_MAX_IP_ADDR_SIZE];
} __attribute__((packed));

/* The IP-info messages have no padding after operation and pool. */
struct hv_kvp_ip_msg {
	uint8_t operation;
	uint8_t pool;
	struct hv_kvp_ipaddr_value kvp_ip_val;
} __attribute__((packed));

struct hv_kvp_register {
	uint8_t version[HV_KVP_KEY_MAX_SIZE];
} __attribute__((packed));

/* Kernel <-> daemon message: the daemon's status overlays the header. */
struct hv_kvp_msg {
	union {
		struct hv_kvp_hdr kvp_hdr;
		uint32_t error;
	};
	union {
		struct hv_kvp_exchg_msg_value kvp_get;
		struct hv_kvp_exchg_msg_value kvp_set;
		struct hv_kvp_msg_delete kvp_delete;
		struct hv_kvp_msg_enumerate kvp_enum_data;
		struct hv_kvp_ipaddr_value kvp_ip_val;
		struct hv_kvp_register kvp_register;
		/*
		 * Linux declares this union unpacked, and some of its members
		 * are 4-byte aligned, so it is 7428 bytes, not 7426: the kernel
		 * and its daemon exchange sizeof(struct hv_kvp_msg) = 7432.
		 */
		uint8_t linux_size[7428];
	} body;
} __attribute__((packed));

/* Whole VMBus payloads, one per body. */
struct hv_kvp_pkt_value {
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr ic;
	struct hv_kvp_hdr kvp_hdr;
	struct hv_kvp_exchg_msg_value data;
} __attribute__((packed));

struct hv_kvp_pkt_enumerate {
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr ic;
	struct hv_kvp_hdr kvp_hdr;
	struct hv_kvp_msg_enumerate data;
} __attribute__((packed));

struct hv_kvp_pkt_delete {
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr ic;
	struct hv_kvp_hdr kvp_hdr;
	struct hv_kvp_msg_delete data;
} __attribute__((packed));

struct hv_kvp_pkt_ip {
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr ic;
	struct hv_kvp_ip_msg msg;
} __attribute__((packed));

union hv_kvp_pkt {
	struct {
		struct hv_ic_pipe_hdr pipe;
		struct hv_ic_hdr ic;
		struct hv_kvp_hdr kvp_hdr;
	} __attribute__((packed)) h;
	struct hv_kvp_pkt_value v;
	struct hv_kvp_pkt_enumerate e;
	struct hv_kvp_pkt_delete d;
	struct hv_kvp_pkt_ip ip;
};

/* Sizes and offsets (from the payload start) as Linux, FreeBSD and OpenBSD lay them out. */
_Static_assert(sizeof(struct hv_kvp_hdr) == 4, "hv_kvp_hdr");
_Static_assert(sizeof(struct hv_kvp_exchg_msg_value) == 2572, "exchg value");
_Static_assert(offsetof(struct hv_kvp_exchg_msg_value, key_size) == 4, "key_size");
_Static_assert(offsetof(struct hv_kvp_exchg_msg_value, value_size) == 8, "value_size");
_Static_assert(offsetof(struct hv_kvp_exchg_msg_value, key) == 12, "key");
_Static_assert(offsetof(struct hv_kvp_exchg_msg_value, value) == 524, "value");
_Static_assert(offsetof(struct hv_kvp_exchg_msg_value, value_u64) == 524, "value_u64");
_Static_assert(sizeof(struct hv_kvp_msg_enumerate) == 2576, "enumerate");
_Static_assert(offsetof(struct hv_kvp_msg_enumerate, data) == 4, "enumerate data");
_Static_assert(sizeof(struct hv_kvp_msg_delete) == 516, "delete");
_Static_assert(offsetof(struct hv_kvp_msg_delete, key) == 4, "delete key");
_Static_assert(sizeof(struct hv_kvp_ipaddr_value) == 7426, "ipaddr value");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, addr_family) == 256, "addr_family");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, dhcp_enabled) == 257, "dhcp_enabled");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, ip_addr) == 258, "ip_addr");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, sub_net) == 2306, "sub_net");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, gate_way) == 4354, "gate_way");
_Static_assert(offsetof(struct hv_kvp_ipaddr_value, dns_addr) == 5378, "dns_addr");
_Static_assert(sizeof(struct hv_kvp_ip_msg) == 7428, "ip msg");
_Static_assert(sizeof(struct hv_kvp_register) == 512, "register");
_Static_assert(sizeof(struct hv_kvp_msg) == HV_KVP_KMSG_SIZE, "hv_kvp_msg");
_Static_assert(offsetof(struct hv_kvp_msg, body) == 4, "hv_kvp_msg body");
_Static_assert(offsetof(struct hv_kvp_msg, body.kvp_enum_data.data.key) == 20, "kmsg enum key");
_Static_assert(offsetof(struct hv_kvp_msg, body.kvp_ip_val.ip_addr) == 262, "kmsg ip_addr");
_Static_assert(sizeof(struct hv_kvp_pkt_value) == HV_KVP_MSG_VALUE_SIZE, "GET/SET payload");
_Static_assert(offsetof(struct hv_kvp_pkt_value, kvp_hdr) == HV_IC_DATA_OFFSET, "kvp_hdr");
_Static_assert(offsetof(struct hv_kvp_pkt_value, data.key) == 44, "GET/SET key");
_Static_assert(offsetof(struct hv_kvp_pkt_value, data.value) == 556, "GET/SET value");
_Static_assert(sizeof(struct hv_kvp_pkt_enumerate) == HV_KVP_MSG_ENUMERATE_SIZE, "ENUMERATE payload");
_Static_assert(offsetof(struct hv_kvp_pkt_enumerate, data.data.key) == 48, "ENUMERATE key");
_Static_assert(offsetof(struct hv_kvp_pkt_enumerate, data.data.value) == 560, "ENUMERATE value");
_Static_assert(sizeof(struct hv_kvp_pkt_delete) == HV_KVP_MSG_DELETE_SIZE, "DELETE payload");
_Static_assert(offsetof(struct hv_kvp_pkt_delete, data.key) == 36, "DELETE key");
_Static_assert(sizeof(struct hv_kvp_pkt_ip) == HV_KVP_MSG_IP_SIZE, "IP payload");
_Static_assert(offsetof(struct hv_kvp_pkt_ip, msg.kvp_ip_val) == 30, "IP value");
_Static_assert(offsetof(struct hv_kvp_pkt_ip, msg.kvp_ip_val.dns_addr) == 5408, "IP dns");
_Static_assert(sizeof(union hv_kvp_pkt) == HV_KVP_MSG_MAX_SIZE, "largest payload");

/* Shared by msg.c and kmsg.c (utf16.c). */

/* Convert exactly `units` UTF-16LE units (no NUL among them). */
int kvp_utf16_units_to_utf8(const uint8_t *src, size_t units, char *dst,
			    size_t dst_size, size_t *ret_len);
/* UTF-16 units the valid UTF-8 s[0..len) needs, or -EILSEQ. */
int kvp_utf8_utf16_units(const char *s, size_t len, size_t *ret_units);
/*
 * For display only: the units in `bytes` bytes (an odd last byte ignored)
 * up to the first NUL, unpaired surrogates as U+FFFD, cut at a whole code
 * point when dst is full. Always terminates dst (dst_size > 0); returns
 * the length written.
 */
size_t kvp_utf16_to_utf8_lossy(const uint8_t *src, size_t bytes, char *dst,
			       size_t dst_size);

/* Shared by msg.c (guest side) and msg_host.c (host side). */

/* Bytes of an operation's body, and of its whole VMBus payload; -EOPNOTSUPP. */
int kvp_body_size(uint8_t op, size_t *ret);
int kvp_msg_size(uint8_t op, size_t *ret);
/* A key or string value with its byte size, strictly (see msg.c). */
int kvp_sized_string_get(const uint8_t *field, size_t field_size,
			 uint32_t size, char *dst, size_t dst_size,
			 size_t *ret_len);
/* An IP-info string: the NUL must be inside the array. */
int kvp_ip_string_get(const uint8_t *field, size_t field_size, char *dst,
		      size_t dst_size);
/* GET_IP_INFO: adapter_id, family and DHCP only; SET_IP_INFO: all. */
int kvp_ip_decode(const struct hv_kvp_ipaddr_value *w, uint8_t op,
		  struct hv_kvp_ip_info *ip);
/* value_type and value of an exchg value; -EPROTONOSUPPORT for other types. */
int kvp_value_decode(const struct hv_kvp_exchg_msg_value *w,
		     struct hv_kvp_request *req);
/*
 * A UTF-8 string of the request struct (s[len] == '\0', len < array) into
 * a zeroed UTF-16 field; *ret_size (may be NULL) gets the size with NUL.
 */
int kvp_utf16_put(const char *s, size_t len, size_t array, uint8_t *field,
		  size_t field_size, uint32_t *ret_size);
/* All five IP-info strings and both flags. */
int kvp_ip_encode(const struct hv_kvp_ip_info *ip, struct hv_kvp_ipaddr_value *w);

/* Whether `units` UTF-16 units and their NUL fit a field of field_bytes. */
static inline int kvp_utf16_fits(size_t units, size_t field_bytes)
{
	return units + 1 <= field_bytes / 2;
}

#endif
