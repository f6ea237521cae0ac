/* SPDX-License-Identifier: ISC */
/*
 * hv_kvp_msg: the Hyper-V KVP ("Data Exchange") messages and their codec.
 *
 * The same requests reach a guest in two layouts:
 *  - on the VMBus channel (hv_kvp_msg_*): pipe and IC headers, a 4-byte
 *    KVP header (2 bytes for the IP-info messages), a fixed body, keys and
 *    values in UTF-16LE with byte sizes that count the 2-byte NUL;
 *  - between Linux's hv_utils driver and its daemon on /dev/vmbus/hv_kvp
 *    (hv_kvp_kmsg_*): struct hv_kvp_msg of <linux/hyperv.h>, 7432 bytes,
 *    UTF-8 strings whose sizes count the 1-byte NUL.
 * Both decode into one struct hv_kvp_request holding UTF-8, which is what
 * a request handler and the pool store work with, and both replies are
 * written in place into the received message. For a program that plays
 * the host, hv_kvp_msg_request_build writes the VMBus requests from the
 * same struct and hv_kvp_msg_reply_decode reads the guest's replies.
 *
 * The constants are those of Linux's uapi <linux/hyperv.h> with the prefix
 * HV_KVP_ (KVP_OP_GET there is HV_KVP_OP_GET here), so that this header and
 * that one can be included in the same file.
 *
 * The sender is not trusted: every size and offset is read once from a
 * private copy and checked before use. Nothing here allocates or blocks;
 * all functions are thread-safe on distinct buffers.
 */
#ifndef HVUIO_KVP_MSG_H
#define HVUIO_KVP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <hvuio/ic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Field sizes in bytes: 256 and 1024 UTF-16 units, NUL included. */
#define HV_KVP_KEY_MAX_SIZE   512
#define HV_KVP_VALUE_MAX_SIZE 2048

/*
 * Value types (value_type). Linux's 64-bit type is 8, not the registry's
 * 11; hosts built on the registry's numbering (openvmm's kvp.rs) send
 * REG_QWORD and REG_EXPAND_SZ, which the channel codec also takes.
 */
#define HV_KVP_REG_SZ  1
#define HV_KVP_REG_U32 4
#define HV_KVP_REG_U64 8
#define HV_KVP_REG_EXPAND_SZ 2   /* a string, as HV_KVP_REG_SZ */
#define HV_KVP_REG_QWORD     11  /* a 64-bit integer, as HV_KVP_REG_U64 */

/* Operations (hv_kvp_hdr.operation). */
#define HV_KVP_OP_GET         0
#define HV_KVP_OP_SET         1
#define HV_KVP_OP_DELETE      2
#define HV_KVP_OP_ENUMERATE   3
#define HV_KVP_OP_GET_IP_INFO 4
#define HV_KVP_OP_SET_IP_INFO 5
#define HV_KVP_OP_COUNT       6
/*
 * Daemon registration, kernel layout only. HV_KVP_OP_REGISTER is the legacy
 * form and shares its value with HV_KVP_OP_GET_IP_INFO; this codec speaks
 * HV_KVP_OP_REGISTER1 only.
 */
#define HV_KVP_OP_REGISTER    4
#define HV_KVP_OP_REGISTER1   100

/* Pools (hv_kvp_hdr.pool). */
#define HV_KVP_POOL_EXTERNAL      0
#define HV_KVP_POOL_GUEST         1
#define HV_KVP_POOL_AUTO          2
#define HV_KVP_POOL_AUTO_EXTERNAL 3
#define HV_KVP_POOL_AUTO_INTERNAL 4
#define HV_KVP_POOL_COUNT         5

/*
 * A pool's name as hostctl(8) and the programs of this project show it
 * ("External", "Guest", "Auto", "Guest/Parameters", "Internal"), or NULL
 * for pool >= HV_KVP_POOL_COUNT. hv_kvp_pool_from_name takes a name in
 * any case or a number "0" to "4": the pool, -ENOENT for none, -EINVAL
 * for NULL.
 */
const char *hv_kvp_pool_name(unsigned int pool);
int hv_kvp_pool_from_name(const char *name);

/* IP-info message: addr_family bits and field sizes in UTF-16 units. */
#define HV_KVP_ADDR_FAMILY_NONE 0x00
#define HV_KVP_ADDR_FAMILY_IPV4 0x01
#define HV_KVP_ADDR_FAMILY_IPV6 0x02
#define HV_KVP_MAX_ADAPTER_ID_SIZE 128
#define HV_KVP_MAX_IP_ADDR_SIZE    1024
#define HV_KVP_MAX_GATEWAY_SIZE    512
/* dhcp_enabled: Linux's daemon writes these as bare 0 and 1. */
#define HV_KVP_DHCP_DISABLED 0
#define HV_KVP_DHCP_ENABLED  1

/* VMBus payload sizes (pipe + IC header included), and the kernel message. */
#define HV_KVP_MSG_VALUE_SIZE     2604  /* GET, SET */
#define HV_KVP_MSG_ENUMERATE_SIZE 2608
#define HV_KVP_MSG_DELETE_SIZE    548
#define HV_KVP_MSG_IP_SIZE        7456  /* GET_IP_INFO, SET_IP_INFO */
#define HV_KVP_MSG_MAX_SIZE       HV_KVP_MSG_IP_SIZE
#define HV_KVP_KMSG_SIZE          7432  /* sizeof(struct hv_kvp_msg) */

/*
 * The IP-info fields in UTF-8, each NUL-terminated. The arrays are as
 * large in bytes as the wire's are (what Linux's daemon keeps in them), so
 * any value either layout can carry fits.
 */
struct hv_kvp_ip_info {
	uint8_t addr_family;    /* ADDR_FAMILY_* bits */
	uint8_t dhcp_enabled;   /* HV_KVP_DHCP_* */
	char adapter_id[2 * HV_KVP_MAX_ADAPTER_ID_SIZE];  /* GET: MAC, SET: {GUID} */
	char ip_addr[2 * HV_KVP_MAX_IP_ADDR_SIZE];        /* ';'-separated lists */
	char sub_net[2 * HV_KVP_MAX_IP_ADDR_SIZE];
	char gate_way[2 * HV_KVP_MAX_GATEWAY_SIZE];
	char dns_addr[2 * HV_KVP_MAX_IP_ADDR_SIZE];
};

/*
 * A request in neutral form. Strings are UTF-8, NUL-terminated, and their
 * lengths do not count the NUL; key and value fit the 512- and 2048-byte
 * fields of the pool files with their NUL. Which fields are set depends on
 * the operation:
 *   GET        pool, key
 *   SET        pool, key, value_type (as sent), value (HV_KVP_REG_U32 and HV_KVP_REG_U64
 *              already turned into decimal text, as Linux does)
 *   DELETE     pool, key
 *   ENUMERATE  pool, index
 *   GET_IP_INFO  ip.adapter_id, ip.addr_family, ip.dhcp_enabled
 *   SET_IP_INFO  all of ip
 *   REGISTER1  value: the kernel's version string (kernel layout only)
 * The rest is zero. IP-info messages carry no pool; pool is then 0.
 *
 * A handler answers by filling the same struct before the reply call:
 * key and value for ENUMERATE, value for GET, ip for GET_IP_INFO.
 */
struct hv_kvp_request {
	uint8_t operation;    /* KVP_OP_* */
	uint8_t pool;         /* KVP_POOL_*, < HV_KVP_POOL_COUNT */
	uint32_t index;
	uint32_t value_type;
	size_t key_len;
	size_t value_len;
	char key[HV_KVP_KEY_MAX_SIZE];
	char value[HV_KVP_VALUE_MAX_SIZE];
	struct hv_kvp_ip_info ip;
};

/*
 * UTF-16LE to UTF-8. Reads the units in `src_size` bytes up to the first
 * NUL unit (or all of them), writes them NUL-terminated to dst and the
 * length without NUL to *ret_len (may be NULL). Returns 0, -EINVAL (NULL
 * argument, dst_size 0), -EPROTO (odd src_size), -EDOM (unpaired
 * surrogate), -ENOBUFS (the result and its NUL exceed dst_size). On error
 * dst holds an empty string.
 */
int hv_kvp_utf16_to_utf8(const void *src, size_t src_size, char *dst,
			 size_t dst_size, size_t *ret_len);

/*
 * UTF-8 to UTF-16LE. Converts `src_len` bytes, appends a NUL unit and
 * stores the bytes written, NUL included (the wire's size), in *ret_size
 * (may be NULL). Returns 0, -EINVAL, -EILSEQ (invalid UTF-8: a stray or
 * missing continuation byte, an overlong form, an encoded surrogate, a
 * code point above U+10FFFF, or a NUL byte inside src_len), -ENOBUFS (does
 * not fit dst_size with its NUL). dst is untouched on error.
 */
int hv_kvp_utf8_to_utf16(const char *src, size_t src_len, void *dst,
			 size_t dst_size, size_t *ret_size);

/* Returns 0 when s[0..len) is valid UTF-8 without NUL, else -EILSEQ (-EINVAL for NULL). */
int hv_kvp_utf8_check(const char *s, size_t len);

/*
 * Decode a VMBus KVP message: `payload` is the packet payload (pipe header
 * first), `len` its received length. Sizes of keys and string values are
 * bytes including the 2-byte NUL. A size that leaves the NUL out is
 * accepted only when the unit right after it, still inside the field, is
 * the NUL: the string is then the same whichever way it is read. Zero
 * units after the NUL inside a size are padding. Strings are never cut
 * short to fit.
 *
 * Returns 0 or:
 *   -EINVAL          NULL argument
 *   -EBADMSG         payload shorter than the headers or than the full
 *                    body of its operation
 *   -ENOMSG          the IC message type is not HV_IC_MSGTYPE_KVPEXCHANGE
 *   -EOPNOTSUPP      unknown operation
 *   -ERANGE          pool above HV_KVP_POOL_AUTO_INTERNAL
 *   -EOVERFLOW       a size field larger than its array
 *   -EPROTO          an odd UTF-16 byte count
 *   -EDOM            an unpaired surrogate
 *   -EMSGSIZE        no NUL where the size says (or right after it), or
 *                    non-zero units after the NUL inside the size; an
 *                    IP-info string with no NUL in its array
 *   -ENOBUFS         a string whose UTF-8 form and NUL exceed the field
 *                    of struct hv_kvp_request (pool-file field sizes)
 *   -EPROTONOSUPPORT SET with a value type other than HV_KVP_REG_SZ, HV_KVP_REG_U32,
 *                    HV_KVP_REG_U64 (and on the channel HV_KVP_REG_EXPAND_SZ,
 *                    HV_KVP_REG_QWORD)
 * On error *req is zeroed.
 */
int hv_kvp_msg_decode(const void *payload, size_t len, struct hv_kvp_request *req);

/*
 * Turn the received message into its reply in place; send back `len`
 * bytes. The IC header gets `status` and flags TRANSACTION|RESPONSE;
 * operation, pool and everything else not listed here is kept. With
 * HV_IC_S_OK, `result` supplies:
 *   ENUMERATE    key and value in UTF-16LE with sizes including the NUL,
 *                value_type HV_KVP_REG_SZ, the rest of both fields zeroed
 *   GET          value likewise (key kept)
 *   GET_IP_INFO  the five strings, addr_family, dhcp_enabled
 *   SET, DELETE, SET_IP_INFO  nothing: the body is echoed
 * With any other status the body is echoed unchanged and `result` may be
 * NULL; only the IC header has to be present.
 *
 * Returns 0 or:
 *   -EINVAL   NULL payload; NULL result with HV_IC_S_OK; a result string
 *             unterminated or whose length disagrees with its NUL
 *   -EBADMSG  too short: for the IC header, or with HV_IC_S_OK for the
 *             operation's body
 *   -ENOMSG   with HV_IC_S_OK: not a KVP message
 *   -EOPNOTSUPP  with HV_IC_S_OK: unknown operation
 *   -EILSEQ   a result string is not valid UTF-8
 *   -ENOBUFS  a result string does not fit its UTF-16 field with its NUL:
 *             key 255 units, value 1023, adapter_id 127,
 *             ip_addr/sub_net/dns_addr 1023, gate_way 511
 * On error the payload is untouched; answer HV_IC_E_FAIL then.
 */
int hv_kvp_msg_reply_set(void *payload, size_t len, uint32_t status,
			 const struct hv_kvp_request *result);

/*
 * The host's side of the VMBus layout, for simulators and tests that play
 * the host. struct hv_ic_version and the HV_IC_ constants come from hvuio/ic.h.
 */

/*
 * Write the request the host sends for req->operation into buf and set
 * *len to its size (HV_KVP_MSG_*_SIZE of the operation): pipe flags 1
 * (VmPipeMessageData) and msgsize len - 8; IC header with versions fw and
 * msg (the negotiated ones), type HV_IC_MSGTYPE_KVPEXCHANGE, icmsgsize len -
 * 28, status 0, `transaction_id`, flags TRANSACTION|REQUEST; then the KVP
 * header with operation and pool (any byte: a host may name a pool the
 * guest must refuse) and the body. Strings go out in UTF-16LE with sizes
 * counting the NUL and everything else zero:
 *   SET        key, value_type, value: HV_KVP_REG_SZ as a string; HV_KVP_REG_U32 and
 *              HV_KVP_REG_U64 as the decimal text in value turned into a
 *              4- or 8-byte integer, value_size 4 or 8
 *   GET        key, value_type HV_KVP_REG_SZ, value_size 0 (the guest fills it)
 *   DELETE     key
 *   ENUMERATE  index
 *   GET_IP_INFO  ip.adapter_id, ip.addr_family, ip.dhcp_enabled
 *   SET_IP_INFO  all of ip
 *
 * Returns 0 or:
 *   -EINVAL          NULL argument; a string unterminated or whose length
 *                    disagrees with its NUL; integer text that is not
 *                    decimal digits
 *   -EOPNOTSUPP      an operation other than the six
 *   -EPROTONOSUPPORT SET with a value type other than HV_KVP_REG_SZ, HV_KVP_REG_U32, HV_KVP_REG_U64,
 *                    HV_KVP_REG_EXPAND_SZ or HV_KVP_REG_QWORD
 *   -ERANGE          an integer above the maximum of its type
 *   -EILSEQ          a string that is not valid UTF-8
 *   -ENOBUFS         a string that does not fit its UTF-16 field with its
 *                    NUL (limits as for hv_kvp_msg_reply_set), or buflen
 *                    below the message size
 * On error buf is untouched.
 */
int hv_kvp_msg_request_build(void *buf, size_t buflen,
			     const struct hv_kvp_request *req,
			     struct hv_ic_version fw, struct hv_ic_version msg,
			     uint8_t transaction_id, size_t *len);

/* hv_kvp_msg_reply_decode flags. */
#define HV_KVP_REPLY_LENIENT 0x1u

/*
 * Decode a guest's reply (`len` bytes from the pipe header on) to a
 * request of `operation`. *status gets the IC header's status as soon as
 * a KVP IC header is there, even if a later check fails. The guest is not
 * trusted: by default the checks are those of hv_kvp_msg_decode, plus:
 * icmsgsize within the payload, the RESPONSE flag, the operation byte
 * unchanged. With a status other than HV_IC_S_OK nothing past the headers is
 * read (the body is the request echoed) and only res->operation is set.
 * With HV_IC_S_OK the operation's whole body must be there, the pool must
 * exist, and res gets what the reply carries: pool and key (GET, SET,
 * DELETE, ENUMERATE), value_type and value (GET, SET, ENUMERATE; integers
 * as decimal text), index (ENUMERATE), all of ip (both IP-info
 * operations).
 *
 * HV_KVP_REPLY_LENIENT is for showing what a broken guest sent: only a
 * KVP IC header, the KVP header and the operation's whole body are
 * required, whatever the status; flags, operation byte and pool (copied
 * as it is) are not checked; sizes above their field are cut to it; a
 * HV_KVP_REG_U32 or HV_KVP_REG_U64 value becomes decimal only when value_size covers
 * it, any other value is read as UTF-16; strings stop at the first NUL or
 * the end of their size, unpaired surrogates become U+FFFD and a string
 * too long for its field of res is cut at a whole character.
 *
 * Returns 0 or:
 *   -EINVAL      NULL argument, unknown flag, an operation other than
 *                the six
 *   -EBADMSG     shorter than the headers or (HV_IC_S_OK, or lenient) than
 *                the body; icmsgsize past the payload, no RESPONSE flag,
 *                or another operation (not lenient)
 *   -ENOMSG      the IC message type is not HV_IC_MSGTYPE_KVPEXCHANGE
 *   and, not lenient, with HV_IC_S_OK: -ERANGE, -EOVERFLOW, -EPROTO, -EDOM,
 *   -EMSGSIZE, -ENOBUFS, -EPROTONOSUPPORT as for hv_kvp_msg_decode.
 * On error *res is zeroed.
 */
int hv_kvp_msg_reply_decode(const void *payload, size_t len, uint8_t operation,
			    unsigned int flags, uint32_t *status,
			    struct hv_kvp_request *res);

/*
 * Decode a message Linux's hv_utils sends its daemon (`len` bytes, 7432
 * normally; the operation's body is required). Key and value sizes count
 * the 1-byte NUL and must end exactly at the first NUL; REGISTER1 (the
 * kernel's answer to hv_kvp_kmsg_register_build) yields the version in
 * value. HV_KVP_OP_REGISTER, equal to HV_KVP_OP_GET_IP_INFO, decodes as the
 * latter.
 *
 * Returns 0 or -EINVAL, -EBADMSG, -EOPNOTSUPP, -ERANGE, -EOVERFLOW,
 * -EMSGSIZE, as for hv_kvp_msg_decode, and -EILSEQ for invalid UTF-8.
 * On error *req is zeroed.
 */
int hv_kvp_kmsg_decode(const void *msg, size_t len, struct hv_kvp_request *req);

/*
 * The daemon's reply to the kernel, in place: `error` (an HV_* status)
 * goes into the first 4 bytes, over operation and pool, as Linux's daemon
 * does. With HV_IC_S_OK, `result` supplies, as UTF-8 with sizes counting the
 * NUL and the rest of each field zeroed: ENUMERATE key, value and
 * value_type HV_KVP_REG_SZ; GET value; GET_IP_INFO the IP fields. Strings must
 * also fit what the kernel converts to UTF-16 without cutting them: key
 * 254 units, value 1022 (Linux's bounds), the IP fields as for
 * hv_kvp_msg_reply_set. Otherwise the body is echoed. Call it once: the
 * operation is read from the message before it is overwritten.
 *
 * Returns 0, -EINVAL (as for hv_kvp_msg_reply_set), -EBADMSG,
 * -EOPNOTSUPP (HV_IC_S_OK on an operation other than the six), -EILSEQ,
 * -ENOBUFS. On error msg is untouched.
 */
int hv_kvp_kmsg_reply_set(void *msg, size_t len, uint32_t error,
			  const struct hv_kvp_request *result);

/*
 * Write the HV_KVP_OP_REGISTER1 message a daemon sends first: HV_KVP_KMSG_SIZE
 * bytes, all zero but the operation. Returns 0, -EINVAL, -ENOBUFS (len
 * smaller than HV_KVP_KMSG_SIZE).
 */
int hv_kvp_kmsg_register_build(void *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif
