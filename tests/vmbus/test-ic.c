/* SPDX-License-Identifier: ISC */
/*
 * The IC framework against hand-written packets.
 *
 * Every request and reply below is written out byte by byte from the
 * layouts of Linux's include/linux/hyperv.h (pipe header at 0, IC header
 * at 8, negotiate header at 28, versions from 36, each version major then
 * minor, little-endian). Buffers handed to the code are malloc'ed to the
 * exact size, so that a sanitizer build catches any read past the end.
 *
 * hv_ic_kdev_* talk to a SOCK_SEQPACKET socket playing the kernel's side
 * of an hv_utils device (one message a read, one answer a write, as
 * drivers/hv/hv_utils_transport.c has them), and to /dev/null as a
 * device whose read() gives nothing.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hvuio/ic.h>

#define V(maj, min) HV_IC_VER(maj, min)

/* Guest lists as Linux's hv_kvp.c and hv_util.c have them. */
static const struct hv_ic_version kvp_fw[] = { V(3, 0), V(1, 0) };
static const struct hv_ic_version kvp_msg[] = { V(4, 0), V(3, 0), V(1, 0) };
static const struct hv_ic_versions kvp = { kvp_fw, 2, kvp_msg, 3 };
static const struct hv_ic_version sd_msg[] = { V(3, 2), V(3, 1), V(3, 0), V(1, 0) };
static const struct hv_ic_versions sd = { kvp_fw, 2, sd_msg, 4 };

/* ---- golden packets ---- */

/* Windows Server 2022 KVP: framework 1.0, 3.0; KVP 3.0, 4.0, 5.0. */
static const uint8_t req_ws2022[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,  /* pipe: flags 1, msgsize 48 */
	0x00, 0x00, 0x00, 0x00,                           /* icverframe 0.0 */
	0x00, 0x00,                                       /* icmsgtype NEGOTIATE */
	0x00, 0x00, 0x00, 0x00,                           /* icvermsg 0.0 */
	0x1c, 0x00,                                       /* icmsgsize 28 */
	0x00, 0x00, 0x00, 0x00,                           /* status */
	0x2a, 0x03, 0x00, 0x00,                           /* tid 42, TRANSACTION|REQUEST */
	0x02, 0x00, 0x03, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 2/3, reserved */
	0x01, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,  /* fw 1.0, 3.0 */
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,  /* msg 3.0, 4.0 */
	0x05, 0x00, 0x00, 0x00,                           /* msg 5.0 */
};
static const uint8_t rep_ws2022[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x10, 0x00,                                       /* icmsgsize 16 */
	0x00, 0x00, 0x00, 0x00,                           /* HV_IC_S_OK */
	0x2a, 0x05, 0x00, 0x00,                           /* TRANSACTION|RESPONSE */
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 1/1 */
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,  /* chosen fw 3.0, KVP 4.0 */
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,  /* as received */
	0x05, 0x00, 0x00, 0x00,
};

/* Windows 8 to Server 2019: framework 1.0, 3.0; KVP 3.0, 4.0. */
static const uint8_t req_win8[] = {
	0x01, 0x00, 0x00, 0x00,  0x2c, 0x00, 0x00, 0x00,  /* msgsize 44 */
	0x03, 0x00, 0x00, 0x00,  0x00, 0x00,              /* icverframe 3.0 */
	0x04, 0x00, 0x00, 0x00,  0x18, 0x00,              /* icvermsg 4.0, size 24 */
	0x00, 0x00, 0x00, 0x00,  0x09, 0x03, 0x00, 0x00,  /* tid 9 */
	0x02, 0x00, 0x02, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 2/2 */
	0x01, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,
};
static const uint8_t rep_win8[] = {
	0x01, 0x00, 0x00, 0x00,  0x2c, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x04, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x09, 0x05, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,  /* fw 3.0, KVP 4.0 */
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,
};

/* Server 2008 R2: framework 1.0, 3.0; KVP 3.0 only. */
static const uint8_t req_ws2008r2[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x14, 0x00,              /* size 20 */
	0x00, 0x00, 0x00, 0x00,  0x01, 0x03, 0x00, 0x00,
	0x02, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 2/1 */
	0x01, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,
};
static const uint8_t rep_ws2008r2[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x01, 0x05, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,  /* fw 3.0, KVP 3.0 */
	0x03, 0x00, 0x00, 0x00,                           /* as received */
};

/*
 * Server 2008: framework 1.0, KVP 1.0; 44 bytes, the shortest valid
 * request. Non-zero header versions and reserved fields come back as sent.
 */
static const uint8_t req_ws2008[] = {
	0x01, 0x00, 0x00, 0x00,  0x24, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,  0x00, 0x00,              /* icverframe 1.0 */
	0x01, 0x00, 0x00, 0x00,  0x10, 0x00,              /* icvermsg 1.0, size 16 */
	0x00, 0x00, 0x00, 0x00,  0x07, 0x03, 0xaa, 0xbb,  /* tid 7, reserved aa bb */
	0x01, 0x00, 0x01, 0x00,  0x11, 0x22, 0x33, 0x44,  /* counts 1/1, reserved */
	0x01, 0x00, 0x00, 0x00,  0x01, 0x00, 0x00, 0x00,
};
static const uint8_t rep_ws2008[] = {
	0x01, 0x00, 0x00, 0x00,  0x24, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x07, 0x05, 0xaa, 0xbb,
	0x01, 0x00, 0x01, 0x00,  0x11, 0x22, 0x33, 0x44,
	0x01, 0x00, 0x00, 0x00,  0x01, 0x00, 0x00, 0x00,  /* fw 1.0, KVP 1.0 */
};

/* A host offering only KVP 5.0: nothing Linux's list matches. 48 bytes. */
static const uint8_t req_kvp5[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x14, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x03, 0x03, 0x00, 0x00,
	0x02, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,
	0x05, 0x00, 0x00, 0x00,
};
static const uint8_t rep_kvp5[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x05, 0x40, 0x00, 0x80,                           /* HV_IC_E_FAIL */
	0x03, 0x05, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 0/0 */
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,  /* 0.0, 0.0 */
	0x05, 0x00, 0x00, 0x00,                           /* as received */
};

/*
 * Exact match only: KVP 3.1 and framework 3.1 are not 3.0 (OpenBSD would
 * take them, Linux does not). 44 bytes.
 */
static const uint8_t req_minor[] = {
	0x01, 0x00, 0x00, 0x00,  0x24, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x04, 0x03, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x01, 0x00,  0x03, 0x00, 0x01, 0x00,  /* fw 3.1, msg 3.1 */
};
static const uint8_t rep_minor[] = {
	0x01, 0x00, 0x00, 0x00,  0x24, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x05, 0x40, 0x00, 0x80,  0x04, 0x05, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
};

/*
 * Framework versions are looked for among the framework entries only:
 * this host lists 3.0 and 1.0 as message versions and 2.0 as framework.
 */
static const uint8_t req_fw_in_msg[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x14, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x05, 0x03, 0x00, 0x00,
	0x01, 0x00, 0x02, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 1/2 */
	0x02, 0x00, 0x00, 0x00,                           /* fw 2.0 */
	0x03, 0x00, 0x00, 0x00,  0x01, 0x00, 0x00, 0x00,  /* msg 3.0, 1.0 */
};

/*
 * ... and message versions among the message entries only: 4.0 sits in
 * the framework part and must not be taken as the KVP version.
 */
static const uint8_t req_msg_in_fw[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x14, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x06, 0x03, 0x00, 0x00,
	0x02, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,  /* counts 2/1 */
	0x04, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,  /* fw 4.0, 3.0 */
	0x01, 0x00, 0x00, 0x00,                           /* msg 1.0 */
};
static const uint8_t rep_msg_in_fw[] = {
	0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x06, 0x05, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x01, 0x00, 0x00, 0x00,  /* fw 3.0, KVP 1.0 */
	0x01, 0x00, 0x00, 0x00,
};

/*
 * Shutdown: the host lists 3.3 first, which the guest does not know, so
 * it takes 3.2; the reply shows the minor in bytes 2-3 of a version.
 */
static const uint8_t req_shutdown[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x1c, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x08, 0x03, 0x00, 0x00,
	0x02, 0x00, 0x03, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x01, 0x00, 0x00, 0x00,  /* fw 3.0, 1.0 */
	0x03, 0x00, 0x03, 0x00,  0x03, 0x00, 0x02, 0x00,  /* msg 3.3, 3.2 */
	0x03, 0x00, 0x00, 0x00,                           /* msg 3.0 */
};
static const uint8_t rep_shutdown[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x08, 0x05, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00,  0x03, 0x00, 0x02, 0x00,  /* fw 3.0, shutdown 3.2 */
	0x03, 0x00, 0x03, 0x00,  0x03, 0x00, 0x02, 0x00,
	0x03, 0x00, 0x00, 0x00,
};

/*
 * A service that prefers the old versions gets them, whatever the host
 * would rather have: the WS2022 request answered with fw 1.0, KVP 3.0.
 */
static const struct hv_ic_version old_fw[] = { V(1, 0), V(3, 0) };
static const struct hv_ic_version old_msg[] = { V(3, 0), V(4, 0) };
static const struct hv_ic_versions oldpref = { old_fw, 2, old_msg, 2 };
static const uint8_t rep_ws2022_oldpref[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x2a, 0x05, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,  0x03, 0x00, 0x00, 0x00,  /* fw 1.0, KVP 3.0 */
	0x03, 0x00, 0x00, 0x00,  0x04, 0x00, 0x00, 0x00,
	0x05, 0x00, 0x00, 0x00,
};

/* Counts 0/0: 36 bytes, a reply of 44. */
static const uint8_t req_empty[] = {
	0x01, 0x00, 0x00, 0x00,  0x1c, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x08, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x0b, 0x03, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
};
static const uint8_t rep_empty[] = {
	0x01, 0x00, 0x00, 0x00,  0x1c, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x05, 0x40, 0x00, 0x80,  0x0b, 0x05, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
};

/* The WS2022 request cut after 20 bytes: the failure reply is 44 bytes. */
static const uint8_t rep_cut20[] = {
	0x01, 0x00, 0x00, 0x00,  0x30, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x10, 0x00,
	0x05, 0x40, 0x00, 0x80,  0x00, 0x05, 0x00, 0x00,  /* tid not received: 0 */
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
};

/* ---- helpers ---- */

static uint8_t *dup_exact(const uint8_t *src, size_t len, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	ck_assert_ptr_nonnull(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

/*
 * Negotiate `req` with `sup` in a buffer of exactly max(len, 44) bytes.
 * Bytes between len and 44 are filled twice with different junk: the
 * result must not depend on them.
 */
static void nego_check(const uint8_t *req, size_t len, const struct hv_ic_versions *sup,
		       int want_err, const uint8_t *want, size_t want_len,
		       struct hv_ic_version want_fw, struct hv_ic_version want_msg)
{
	size_t size = len < HV_IC_NEGOTIATE_REPLY_MIN ? HV_IC_NEGOTIATE_REPLY_MIN : len;
	int junk;

	for (junk = 0; junk < 2; junk++) {
		uint8_t *buf = dup_exact(req, len, size);
		struct hv_ic_version fw = V(0xeeee, 0xeeee), msg = V(0xeeee, 0xeeee);
		size_t rlen = 0;
		int err;

		if (size > len)
			memset(buf + len, junk ? 0xff : 0xa5, size - len);
		err = hv_ic_version_negotiate(buf, size, len, sup, &fw, &msg, &rlen);
		ck_assert_msg(err == want_err, "len %zu: got %d, want %d", len, err, want_err);
		ck_assert_uint_eq(rlen, want_len);
		ck_assert_uint_eq(size, want_len);
		ck_assert_msg(memcmp(buf, want, want_len) == 0, "len %zu: reply bytes", len);
		ck_assert_uint_eq(fw.major, want_fw.major);
		ck_assert_uint_eq(fw.minor, want_fw.minor);
		ck_assert_uint_eq(msg.major, want_msg.major);
		ck_assert_uint_eq(msg.minor, want_msg.minor);
		free(buf);
	}
}

#define NEGO_OK(req, sup, rep, f, m) \
	nego_check(req, sizeof(req), sup, 0, rep, sizeof(rep), \
		   (struct hv_ic_version)f, (struct hv_ic_version)m)
#define NEGO_FAIL(req, len, sup, err, rep) \
	nego_check(req, len, sup, err, rep, sizeof(rep), \
		   HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0))

/*
 * The failure reply for the first len bytes of req, by the rule hv_ic(3)
 * states: zero-extended to 44, then icmsgsize 16, status HV_IC_E_FAIL, flags
 * 5, counts 0/0, versions 0.0. Used for the sweeps; rep_cut20, rep_empty
 * and rep_kvp5 pin the rule to literal bytes.
 */
static size_t fail_reply(const uint8_t *req, size_t len, uint8_t *out)
{
	static const uint8_t tail_hdr[] = { 0x10, 0x00, 0x05, 0x40, 0x00, 0x80 };
	size_t size = len < 44 ? 44 : len;

	memset(out, 0, size);
	memcpy(out, req, len);
	memcpy(out + 18, tail_hdr, sizeof(tail_hdr));
	out[25] = 0x05;
	memset(out + 28, 0, 4);
	memset(out + 36, 0, 8);
	return size;
}

/* ---- hv_ic_msg_parse ---- */

START_TEST(parse_fields)
{
	static const uint8_t pkt[] = {
		0x01, 0x00, 0x00, 0x00,  0x28, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00,  0x02, 0x00,        /* fw 3.0, KVPEXCHANGE */
		0x04, 0x00, 0x00, 0x00,  0x04, 0x00,        /* msg 4.0, size 4 */
		0x05, 0x40, 0x00, 0x80,  0x63, 0x03, 0x00, 0x00,
		0xde, 0xad, 0xbe, 0xef,  0x99, 0x99,        /* data + padding */
	};
	uint8_t *buf = dup_exact(pkt, sizeof(pkt), sizeof(pkt));
	struct hv_ic_msg m;

	ck_assert_int_eq(hv_ic_msg_parse(buf, sizeof(pkt), &m), 0);
	ck_assert_uint_eq(m.pipe.flags, 1);
	ck_assert_uint_eq(m.pipe.msgsize, 0x28);
	ck_assert_uint_eq(m.hdr.icverframe.major, 3);
	ck_assert_uint_eq(m.hdr.icverframe.minor, 0);
	ck_assert_uint_eq(m.hdr.icmsgtype, HV_IC_MSGTYPE_KVPEXCHANGE);
	ck_assert_uint_eq(m.hdr.icvermsg.major, 4);
	ck_assert_uint_eq(m.hdr.icmsgsize, 4);
	ck_assert_uint_eq(m.hdr.status, HV_IC_E_FAIL);
	ck_assert_uint_eq(m.hdr.ictransaction_id, 0x63);
	ck_assert_uint_eq(m.hdr.icflags, HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_REQUEST);
	ck_assert_ptr_eq(m.data, buf + 28);
	ck_assert_uint_eq(m.data_len, 4);
	ck_assert_uint_eq(m.avail, 6);
	/* A private copy: later changes to the buffer do not reach it. */
	buf[18] = 0xff;
	buf[12] = 0x09;
	ck_assert_uint_eq(m.hdr.icmsgsize, 4);
	ck_assert_uint_eq(m.hdr.icmsgtype, 2);
	free(buf);
}
END_TEST

START_TEST(parse_short)
{
	size_t len;

	for (len = 0; len < 28; len++) {
		uint8_t *buf = dup_exact(req_ws2022, len, len);
		struct hv_ic_msg m;

		ck_assert_int_eq(hv_ic_msg_parse(buf, len, &m), -EBADMSG);
		free(buf);
	}
	ck_assert_int_eq(hv_ic_msg_parse(NULL, 56, &(struct hv_ic_msg){0}), -EINVAL);
	ck_assert_int_eq(hv_ic_msg_parse(req_ws2022, 56, NULL), -EINVAL);
}
END_TEST

START_TEST(parse_icmsgsize)
{
	/* 28 bytes of header, icmsgsize 0: an empty message is fine. */
	uint8_t *buf = dup_exact(req_ws2022, 28, 28);
	struct hv_ic_msg m;
	size_t len;

	buf[18] = 0;
	ck_assert_int_eq(hv_ic_msg_parse(buf, 28, &m), 0);
	ck_assert_uint_eq(m.data_len, 0);
	ck_assert_uint_eq(m.avail, 0);
	buf[18] = 1;
	ck_assert_int_eq(hv_ic_msg_parse(buf, 28, &m), -EBADMSG);
	free(buf);

	/* icmsgsize 28 needs all 56 bytes; one fewer is a lie. */
	for (len = 28; len <= sizeof(req_ws2022); len++) {
		buf = dup_exact(req_ws2022, len, len);
		ck_assert_int_eq(hv_ic_msg_parse(buf, len, &m),
				 len == sizeof(req_ws2022) ? 0 : -EBADMSG);
		free(buf);
	}
	buf = dup_exact(req_ws2022, sizeof(req_ws2022), sizeof(req_ws2022));
	buf[18] = 0xff;
	buf[19] = 0xff;
	ck_assert_int_eq(hv_ic_msg_parse(buf, sizeof(req_ws2022), &m), -EBADMSG);
	buf[18] = 0x1d;
	buf[19] = 0x00;
	ck_assert_int_eq(hv_ic_msg_parse(buf, sizeof(req_ws2022), &m), -EBADMSG);
	free(buf);
}
END_TEST

/* ---- hv_ic_response_prepare ---- */

START_TEST(response)
{
	static const uint8_t req[] = {
		0x01, 0x00, 0x00, 0x00,  0x18, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00,  0x01, 0x00,        /* HEARTBEAT */
		0x03, 0x00, 0x00, 0x00,  0x08, 0x00,
		0x00, 0x00, 0x00, 0x00,  0x11, 0x03, 0x00, 0x00,
		0x2a, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t want[] = {
		0x01, 0x00, 0x00, 0x00,  0x18, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00,  0x01, 0x00,
		0x03, 0x00, 0x00, 0x00,  0x08, 0x00,
		0x03, 0x01, 0x07, 0x80,  0x11, 0x05, 0x00, 0x00,  /* HV_IC_S_CONT, RESPONSE */
		0x2a, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	};
	uint8_t *buf = dup_exact(req, sizeof(req), sizeof(req));
	size_t len;

	ck_assert_int_eq(hv_ic_response_prepare(buf, sizeof(req), HV_IC_S_CONT), 0);
	ck_assert_mem_eq(buf, want, sizeof(want));
	free(buf);

	/* Exactly the headers is enough; less is refused untouched. */
	buf = dup_exact(req, 28, 28);
	ck_assert_int_eq(hv_ic_response_prepare(buf, 28, HV_IC_S_CONT), 0);
	ck_assert_mem_eq(buf, want, 28);
	free(buf);
	for (len = 0; len < 28; len++) {
		buf = dup_exact(req, len, len);
		ck_assert_int_eq(hv_ic_response_prepare(buf, len, HV_IC_E_FAIL), -EBADMSG);
		if (len)
			ck_assert_mem_eq(buf, req, len);
		free(buf);
	}
	ck_assert_int_eq(hv_ic_response_prepare(NULL, 28, 0), -EINVAL);
}
END_TEST

/* ---- guest negotiation: the hosts ---- */

START_TEST(nego_hosts)
{
	NEGO_OK(req_ws2022, &kvp, rep_ws2022, V(3, 0), V(4, 0));
	NEGO_OK(req_win8, &kvp, rep_win8, V(3, 0), V(4, 0));
	NEGO_OK(req_ws2008r2, &kvp, rep_ws2008r2, V(3, 0), V(3, 0));
	nego_check(req_ws2008, sizeof(req_ws2008), &kvp, 0, rep_ws2008,
		   sizeof(rep_ws2008), HV_IC_VERSION(1, 0), HV_IC_VERSION(1, 0));
	NEGO_FAIL(req_kvp5, sizeof(req_kvp5), &kvp, -EOPNOTSUPP, rep_kvp5);
	NEGO_FAIL(req_minor, sizeof(req_minor), &kvp, -EOPNOTSUPP, rep_minor);
	NEGO_OK(req_msg_in_fw, &kvp, rep_msg_in_fw, V(3, 0), V(1, 0));
	NEGO_OK(req_shutdown, &sd, rep_shutdown, V(3, 0), V(3, 2));
	NEGO_OK(req_ws2022, &oldpref, rep_ws2022_oldpref, V(1, 0), V(3, 0));
}
END_TEST

START_TEST(nego_fw_only_in_fw)
{
	uint8_t want[48];

	/* Same bytes as every failure: nothing of the host's list leaks. */
	fail_reply(req_fw_in_msg, sizeof(req_fw_in_msg), want);
	ck_assert_uint_eq(want[36], 0);
	ck_assert_uint_eq(want[44], 0x01);
	nego_check(req_fw_in_msg, sizeof(req_fw_in_msg), &kvp, -EOPNOTSUPP, want,
		   sizeof(want), HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
}
END_TEST

START_TEST(nego_library_lists)
{
	const struct hv_ic_versions *g;

	/* The library's own KVP list gives the same answers as Linux's. */
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &g), 0);
	NEGO_OK(req_ws2022, g, rep_ws2022, V(3, 0), V(4, 0));
	NEGO_OK(req_ws2008r2, g, rep_ws2008r2, V(3, 0), V(3, 0));
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_SHUTDOWN, &g), 0);
	NEGO_OK(req_shutdown, g, rep_shutdown, V(3, 0), V(3, 2));
}
END_TEST

/* ---- guest negotiation: malformed requests ---- */

START_TEST(nego_literal_failures)
{
	NEGO_FAIL(req_empty, sizeof(req_empty), &kvp, -EBADMSG, rep_empty);
	NEGO_FAIL(req_ws2022, 20, &kvp, -EBADMSG, rep_cut20);
}
END_TEST

/* Every truncation of the WS2022 request, icmsgsize as sent (too big). */
START_TEST(nego_truncated)
{
	uint8_t want[64];
	size_t len, n;

	for (len = 0; len < sizeof(req_ws2022); len++) {
		n = fail_reply(req_ws2022, len, want);
		nego_check(req_ws2022, len, &kvp, -EBADMSG, want, n,
			   HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	}
}
END_TEST

/*
 * Every truncation again, but with icmsgsize shrunk to what arrived, so
 * that the negotiate checks themselves (counts, reserved word, versions
 * array) must catch it.
 */
START_TEST(nego_truncated_consistent)
{
	uint8_t req[sizeof(req_ws2022)], want[64];
	size_t len, n;

	for (len = 28; len < sizeof(req_ws2022); len++) {
		memcpy(req, req_ws2022, sizeof(req));
		req[18] = (uint8_t)(len - 28);
		n = fail_reply(req, len, want);
		nego_check(req, len, &kvp, -EBADMSG, want, n,
			   HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	}
	/* The control: the whole request with a small icmsgsize passes. */
	memcpy(req, req_ws2022, sizeof(req));
	req[18] = 0;
	memcpy(want, rep_ws2022, sizeof(rep_ws2022));
	nego_check(req, sizeof(req), &kvp, 0, want, sizeof(rep_ws2022),
		   HV_IC_VERSION(3, 0), HV_IC_VERSION(4, 0));
}
END_TEST

/* A request with nfw framework and nmsg message versions, all in place. */
static size_t big_req(uint8_t *out, unsigned int nfw, unsigned int nmsg,
		      unsigned int cnt_fw, unsigned int cnt_msg)
{
	size_t len = 36 + 4 * (size_t)(nfw + nmsg), i;

	memset(out, 0, len);
	out[0] = 0x01;
	out[4] = (uint8_t)(len - 8);
	out[5] = (uint8_t)((len - 8) >> 8);
	out[18] = (uint8_t)(len - 28);
	out[19] = (uint8_t)((len - 28) >> 8);
	out[24] = 0x77;
	out[25] = 0x03;
	out[28] = (uint8_t)cnt_fw;
	out[29] = (uint8_t)(cnt_fw >> 8);
	out[30] = (uint8_t)cnt_msg;
	out[31] = (uint8_t)(cnt_msg >> 8);
	/* fw: 2.0 ... 2.0, then 3.0 last; msg: 4.0 first, then 2.0 ... */
	for (i = 0; i < nfw + nmsg; i++)
		out[36 + 4 * i] = 2;
	out[36 + 4 * (nfw - 1)] = 3;
	out[36 + 4 * nfw] = 4;
	return len;
}

START_TEST(nego_counts)
{
	static uint8_t req[36 + 4 * 202], want[36 + 4 * 202];
	size_t len;

	/* 100 is allowed, in either list. */
	len = big_req(req, 100, 1, 100, 1);
	memcpy(want, req, len);
	want[18] = 0x10;
	want[19] = 0x00;
	want[25] = 0x05;
	want[28] = 1; want[29] = 0; want[30] = 1; want[31] = 0;
	want[36] = 3; want[40] = 4;   /* fw 3.0 (was 2.0), msg 4.0 (was 2.0) */
	nego_check(req, len, &kvp, 0, want, len, HV_IC_VERSION(3, 0), HV_IC_VERSION(4, 0));
	len = big_req(req, 1, 100, 1, 100);
	memcpy(want, req, len);
	want[18] = 0x10;
	want[19] = 0x00;
	want[25] = 0x05;
	want[30] = 1; want[31] = 0;
	nego_check(req, len, &kvp, 0, want, len, HV_IC_VERSION(3, 0), HV_IC_VERSION(4, 0));

	/* 101 is refused even when the array is all there and matches. */
	len = big_req(req, 101, 1, 101, 1);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 1, 101, 1, 101);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 101, 101, 101, 101);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));

	/* Counts whose array runs past the end, by one entry and by a lot. */
	len = big_req(req, 2, 3, 2, 4);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 2, 3, 3, 3);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 2, 3, 0xffff, 0xffff);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 2, 3, 100, 100);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));

	/* One list empty is as malformed as both. */
	len = big_req(req, 2, 3, 5, 0);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	len = big_req(req, 2, 3, 0, 5);
	fail_reply(req, len, want);
	nego_check(req, len, &kvp, -EBADMSG, want, len, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));

	/* Fewer versions than the packet holds is fine (padding). */
	len = big_req(req, 2, 3, 2, 1);
	memcpy(want, req, len);
	want[18] = 0x10; want[19] = 0; want[25] = 0x05;
	want[28] = 1; want[30] = 1;
	want[36] = 3; want[40] = 4;
	nego_check(req, len, &kvp, 0, want, len, HV_IC_VERSION(3, 0), HV_IC_VERSION(4, 0));
}
END_TEST

START_TEST(nego_icmsgsize_too_big)
{
	uint8_t req[sizeof(req_ws2022)], want[sizeof(req_ws2022)];

	memcpy(req, req_ws2022, sizeof(req));
	req[18] = 0x1d;  /* 29 > 28 carried */
	fail_reply(req, sizeof(req), want);
	nego_check(req, sizeof(req), &kvp, -EBADMSG, want, sizeof(want),
		   HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
	req[18] = 0xff;
	req[19] = 0xff;
	fail_reply(req, sizeof(req), want);
	nego_check(req, sizeof(req), &kvp, -EBADMSG, want, sizeof(want),
		   HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
}
END_TEST

START_TEST(nego_refused_untouched)
{
	uint8_t *buf;
	size_t rlen = 99;
	struct hv_ic_version fw;
	static const struct hv_ic_version none[1];
	struct hv_ic_versions empty = { kvp_fw, 2, none, 0 };
	struct hv_ic_versions huge = { kvp_fw, 101, kvp_msg, 3 };
	struct hv_ic_versions nullp = { NULL, 2, kvp_msg, 3 };

	/* buflen one short of the reply: nothing written. */
	buf = dup_exact(req_ws2022, sizeof(req_ws2022), sizeof(req_ws2022));
	ck_assert_int_eq(hv_ic_version_negotiate(buf, sizeof(req_ws2022) - 1,
						 sizeof(req_ws2022), &kvp, &fw, NULL,
						 &rlen), -ENOBUFS);
	ck_assert_mem_eq(buf, req_ws2022, sizeof(req_ws2022));
	ck_assert_uint_eq(rlen, 99);
	free(buf);
	/* A short request still needs room for the 44-byte reply. */
	buf = dup_exact(req_empty, sizeof(req_empty), 43);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 43, sizeof(req_empty), &kvp,
						 NULL, NULL, &rlen), -ENOBUFS);
	ck_assert_mem_eq(buf, req_empty, sizeof(req_empty));
	free(buf);

	/* Not a NEGOTIATE: left alone for the service to handle. */
	buf = dup_exact(req_ws2022, sizeof(req_ws2022), sizeof(req_ws2022));
	buf[12] = HV_IC_MSGTYPE_KVPEXCHANGE;
	ck_assert_int_eq(hv_ic_version_negotiate(buf, sizeof(req_ws2022),
						 sizeof(req_ws2022), &kvp, NULL, NULL,
						 &rlen), -EINVAL);
	ck_assert_uint_eq(buf[25], 0x03);
	ck_assert_mem_eq(buf + 13, req_ws2022 + 13, sizeof(req_ws2022) - 13);

	/* Bad arguments. */
	ck_assert_int_eq(hv_ic_version_negotiate(NULL, 56, 56, &kvp, NULL, NULL, &rlen),
			 -EINVAL);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 56, 56, NULL, NULL, NULL, &rlen),
			 -EINVAL);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 56, 56, &kvp, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 56, 56, &empty, NULL, NULL, &rlen),
			 -EINVAL);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 56, 56, &huge, NULL, NULL, &rlen),
			 -EINVAL);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 56, 56, &nullp, NULL, NULL, &rlen),
			 -EINVAL);
	free(buf);
}
END_TEST

START_TEST(nego_no_write_past_reply)
{
	/* A buffer larger than the reply: bytes after it stay as they were. */
	uint8_t *buf = malloc(64);
	size_t rlen;
	int i;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xee, 64);
	memcpy(buf, req_ws2008, sizeof(req_ws2008));
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 64, sizeof(req_ws2008), &kvp,
						 NULL, NULL, &rlen), 0);
	ck_assert_uint_eq(rlen, 44);
	ck_assert_mem_eq(buf, rep_ws2008, sizeof(rep_ws2008));
	for (i = 44; i < 64; i++)
		ck_assert_uint_eq(buf[i], 0xee);
	/* A short failed request grows to 44 bytes and no further. */
	memset(buf, 0xee, 64);
	memcpy(buf, req_empty, sizeof(req_empty));
	ck_assert_int_eq(hv_ic_version_negotiate(buf, 64, sizeof(req_empty), &kvp,
						 NULL, NULL, &rlen), -EBADMSG);
	ck_assert_uint_eq(rlen, 44);
	ck_assert_mem_eq(buf, rep_empty, sizeof(rep_empty));
	for (i = 44; i < 64; i++)
		ck_assert_uint_eq(buf[i], 0xee);
	free(buf);
}
END_TEST

/* ---- host side ---- */

static const struct hv_ic_version host_fw[] = { V(1, 0), V(3, 0) };
static const struct hv_ic_version host_msg[] = { V(3, 0), V(4, 0), V(5, 0) };
static const struct hv_ic_versions ws2022 = { host_fw, 2, host_msg, 3 };

START_TEST(host_build)
{
	const struct hv_ic_versions *h;
	uint8_t *buf = malloc(sizeof(req_ws2022));
	size_t len = 0;
	struct hv_ic_versions huge = { host_fw, 101, host_msg, 3 };
	struct hv_ic_versions nullp = { host_fw, 2, NULL, 1 };

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(req_ws2022), &ws2022,
						       0x2a, &len), 0);
	ck_assert_uint_eq(len, sizeof(req_ws2022));
	ck_assert_mem_eq(buf, req_ws2022, sizeof(req_ws2022));

	/* The library's host offer is the WS2022 one. */
	memset(buf, 0, sizeof(req_ws2022));
	ck_assert_int_eq(hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &h), 0);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(req_ws2022), h,
						       0x2a, &len), 0);
	ck_assert_uint_eq(len, sizeof(req_ws2022));
	ck_assert_mem_eq(buf, req_ws2022, sizeof(req_ws2022));

	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(req_ws2022) - 1, &ws2022,
						       0x2a, &len), -ENOBUFS);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, 4096, &huge, 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, 4096, &nullp, 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_negotiate_request_build(NULL, 4096, &ws2022, 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, 4096, NULL, 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_host_versions_get(HV_IC_MSGTYPE_HEARTBEAT, &h), -ENOENT);
	ck_assert_int_eq(hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, NULL), -EINVAL);
	free(buf);
}
END_TEST

START_TEST(host_reply_parse)
{
	static const struct hv_ic_version only3[] = { V(3, 0) };
	struct hv_ic_versions offer3 = { host_fw, 2, only3, 1 };
	struct hv_ic_version fw = V(0, 0), msg = V(0, 0);
	uint8_t *buf;
	size_t len;

	buf = dup_exact(rep_ws2022, sizeof(rep_ws2022), sizeof(rep_ws2022));
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, sizeof(rep_ws2022), &ws2022,
						     &fw, &msg), 0);
	ck_assert_uint_eq(fw.major, 3);
	ck_assert_uint_eq(msg.major, 4);
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, sizeof(rep_ws2022), NULL,
						     NULL, NULL), 0);
	/* 4.0 was not in this offer. */
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, sizeof(rep_ws2022), &offer3,
						     NULL, NULL), -EPROTO);
	free(buf);

	/* The 44 bytes up to the chosen versions are needed, no more. */
	for (len = 0; len <= sizeof(rep_ws2022); len++) {
		int want = len < 44 ? -EBADMSG : 0;

		buf = dup_exact(rep_ws2022, len, len);
		if (len >= 28)
			buf[18] = (uint8_t)(len - 28 < 16 ? len - 28 : 16);
		ck_assert_msg(hv_ic_negotiate_reply_parse(buf, len, &ws2022, NULL, NULL) == want,
			      "reply cut at %zu", len);
		free(buf);
	}

	/* Failure replies, ours and Linux's (status 0, counts 0/0, junk). */
	buf = dup_exact(rep_kvp5, sizeof(rep_kvp5), sizeof(rep_kvp5));
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, sizeof(rep_kvp5), NULL, &fw, &msg),
			 -EOPNOTSUPP);
	buf[20] = buf[21] = buf[22] = buf[23] = 0;
	buf[36] = 2;
	buf[40] = 1;
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, sizeof(rep_kvp5), NULL, &fw, &msg),
			 -EOPNOTSUPP);
	free(buf);

	buf = dup_exact(rep_ws2022, sizeof(rep_ws2022), sizeof(rep_ws2022));
	buf[25] = 0x03;  /* a request, not a response */
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, 56, NULL, NULL, NULL), -EBADMSG);
	buf[25] = 0x05;
	buf[12] = HV_IC_MSGTYPE_HEARTBEAT;
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, 56, NULL, NULL, NULL), -EBADMSG);
	buf[12] = 0;
	buf[28] = 2;     /* counts 2/1 */
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, 56, NULL, NULL, NULL), -EBADMSG);
	buf[28] = 1;
	buf[18] = 0x1d;  /* icmsgsize past the end */
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, 56, NULL, NULL, NULL), -EBADMSG);
	buf[18] = 0x10;
	buf[20] = 0x05; buf[21] = 0x40; buf[22] = 0x00; buf[23] = 0x80;
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, 56, NULL, NULL, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(NULL, 56, NULL, NULL, NULL), -EINVAL);
	free(buf);
}
END_TEST

/* Host builds, guest negotiates, host checks: for every service. */
START_TEST(round_trip)
{
	static const uint16_t types[] = {
		HV_IC_MSGTYPE_HEARTBEAT, HV_IC_MSGTYPE_KVPEXCHANGE, HV_IC_MSGTYPE_SHUTDOWN,
		HV_IC_MSGTYPE_TIMESYNC, HV_IC_MSGTYPE_FCOPY,
	};
	static const struct hv_ic_version fw_low[] = { V(1, 0), V(3, 0) };
	static const struct hv_ic_version nothing[] = { V(9, 9) };
	struct hv_ic_version rev[HV_IC_MAX_VER_COUNT];
	const struct hv_ic_versions *g, *h;
	struct hv_ic_version fw, msg, hfw, hmsg;
	uint8_t buf[512];
	size_t len, rlen;
	unsigned int t, i;

	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct hv_ic_versions offer, bad;

		ck_assert_int_eq(hv_ic_guest_versions_get(types[t], &g), 0);
		ck_assert_uint_ge(g->fw_count, 1);
		ck_assert_uint_ge(g->msg_count, 1);
		/* The host offers the guest's versions lowest first. */
		for (i = 0; i < g->msg_count; i++)
			rev[i] = g->msg[g->msg_count - 1 - i];
		offer = (struct hv_ic_versions){ fw_low, 2, rev, g->msg_count };
		ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(buf), &offer,
							       (uint8_t)t, &len), 0);
		ck_assert_int_eq(hv_ic_version_negotiate(buf, sizeof(buf), len, g,
							 &fw, &msg, &rlen), 0);
		ck_assert_uint_eq(rlen, len < 44 ? 44 : len);
		ck_assert(hv_ic_version_eq(fw, g->fw[0]));
		ck_assert(hv_ic_version_eq(msg, g->msg[0]));
		ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, rlen, &offer,
							     &hfw, &hmsg), 0);
		ck_assert(hv_ic_version_eq(hfw, fw));
		ck_assert(hv_ic_version_eq(hmsg, msg));
		ck_assert_uint_eq(buf[24], t);

		/* Nothing in common: the host learns it from the reply. */
		bad = (struct hv_ic_versions){ fw_low, 2, nothing, 1 };
		ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(buf), &bad,
							       0, &len), 0);
		ck_assert_int_eq(hv_ic_version_negotiate(buf, sizeof(buf), len, g,
							 NULL, NULL, &rlen), -EOPNOTSUPP);
		ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, rlen, &bad, NULL, NULL),
				 -EOPNOTSUPP);
	}

	/* The library's host KVP offer against its guest KVP list. */
	ck_assert_int_eq(hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &h), 0);
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &g), 0);
	ck_assert_int_eq(hv_ic_negotiate_request_build(buf, sizeof(buf), h, 1, &len), 0);
	ck_assert_int_eq(hv_ic_version_negotiate(buf, sizeof(buf), len, g, NULL, NULL,
						 &rlen), 0);
	ck_assert_int_eq(hv_ic_negotiate_reply_parse(buf, rlen, h, &fw, &msg), 0);
	ck_assert(hv_ic_version_eq(fw, HV_IC_VERSION(3, 0)));
	ck_assert(hv_ic_version_eq(msg, HV_IC_VERSION(4, 0)));
}
END_TEST

/* ---- version lists and the version type ---- */

START_TEST(lists)
{
	const struct hv_ic_versions *g;
	static const uint16_t unknown[] = {
		HV_IC_MSGTYPE_NEGOTIATE, HV_IC_MSGTYPE_VSS, HV_IC_MSGTYPE_RDV, 8, 0xffff,
	};
	unsigned int i;

	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &g), 0);
	ck_assert_uint_eq(g->fw_count, 2);
	ck_assert_mem_eq(g->fw, kvp_fw, sizeof(kvp_fw));
	ck_assert_uint_eq(g->msg_count, 3);
	ck_assert_mem_eq(g->msg, kvp_msg, sizeof(kvp_msg));
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_HEARTBEAT, &g), 0);
	ck_assert_uint_eq(g->msg_count, 2);
	ck_assert(hv_ic_version_eq(g->msg[0], HV_IC_VERSION(3, 0)));
	ck_assert(hv_ic_version_eq(g->msg[1], HV_IC_VERSION(1, 0)));
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_SHUTDOWN, &g), 0);
	ck_assert_mem_eq(g->msg, sd_msg, sizeof(sd_msg));
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_TIMESYNC, &g), 0);
	ck_assert_uint_eq(g->msg_count, 3);
	ck_assert(hv_ic_version_eq(g->msg[0], HV_IC_VERSION(4, 0)));
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_FCOPY, &g), 0);
	ck_assert_uint_eq(g->fw_count, 1);
	ck_assert(hv_ic_version_eq(g->fw[0], HV_IC_VERSION(3, 0)));
	ck_assert(hv_ic_version_eq(g->msg[0], HV_IC_VERSION(1, 1)));
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ck_assert_int_eq(hv_ic_guest_versions_get(unknown[i], &g), -ENOENT);
	ck_assert_int_eq(hv_ic_guest_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, NULL), -EINVAL);
}
END_TEST

START_TEST(version_bytes)
{
	static const uint8_t v32[] = { 0x03, 0x00, 0x02, 0x00 };
	struct hv_ic_version v = HV_IC_VERSION(3, 2);

	ck_assert_mem_eq(&v, v32, 4);
	ck_assert_uint_eq(hv_ic_version_u32(v), 0x00030002);
	ck_assert_uint_lt(hv_ic_version_u32(HV_IC_VERSION(3, 9)),
			  hv_ic_version_u32(HV_IC_VERSION(4, 0)));
	ck_assert(!hv_ic_version_eq(v, HV_IC_VERSION(2, 3)));
	ck_assert_uint_eq(HV_IC_DATA_OFFSET, 28);
	ck_assert_uint_eq(HV_IC_NEGOTIATE_REPLY_MIN, 44);
}
END_TEST

/* ---- a service through the kernel's device: hv_ic_kdev_* ---- */

/* A SOCK_SEQPACKET socket in a fresh folder, playing the kernel's side. */
struct kdev_peer {
	char dir[64];
	char path[96];
	int listen_fd;
};

static void kdev_peer_make(struct kdev_peer *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(p->dir, sizeof(p->dir), "/tmp/hvuio-kdev-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/hv_kvp", p->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->listen_fd, 0);
	ck_assert_int_eq(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->listen_fd, 1), 0);
}

static void kdev_peer_free(struct kdev_peer *p)
{
	close(p->listen_fd);
	unlink(p->path);
	rmdir(p->dir);
}

START_TEST(kdev_messages)
{
	static const uint8_t first[] = { 1, 0, 0, 0 }, second[] = "a longer second message";
	struct kdev_peer p;
	uint8_t buf[64], answer[4] = { 0xaa, 0xbb, 0xcc, 0xdd };
	size_t len = 0;
	int fd = -1, k;

	kdev_peer_make(&p);
	ck_assert_int_eq(hv_ic_kdev_open(p.path, &fd), 0);
	k = accept4(p.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(k, 0);
	/* Nothing sent yet: no wait, then a bounded one. */
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), -EAGAIN);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 20000, &len), -EAGAIN);
	/* Two messages are two reads, each whole. */
	ck_assert_int_eq(send(k, first, sizeof(first), 0), (ssize_t)sizeof(first));
	ck_assert_int_eq(send(k, second, sizeof(second), 0), (ssize_t)sizeof(second));
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 1000000, &len), 0);
	ck_assert_uint_eq(len, sizeof(first));
	ck_assert_mem_eq(buf, first, sizeof(first));
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), 0);
	ck_assert_uint_eq(len, sizeof(second));
	ck_assert_mem_eq(buf, second, sizeof(second));
	/* An answer is one message to the kernel. */
	ck_assert_int_eq(hv_ic_kdev_write(fd, answer, sizeof(answer)), 0);
	ck_assert_int_eq(recv(k, buf, sizeof(buf), 0), (ssize_t)sizeof(answer));
	ck_assert_mem_eq(buf, answer, sizeof(answer));
	/* The kernel's side gone: the device failed, both ways. */
	close(k);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 1000000, &len), -ENODEV);
	ck_assert_int_eq(hv_ic_kdev_write(fd, answer, sizeof(answer)), -ENODEV);
	close(fd);
	kdev_peer_free(&p);
}
END_TEST

START_TEST(kdev_errors)
{
	uint8_t buf[8];
	size_t len;
	int fd = -1;

	ck_assert_int_eq(hv_ic_kdev_open("/nonexistent/hv_kvp", &fd), -ENOENT);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(hv_ic_kdev_open(NULL, &fd), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_open("/dev/null", NULL), -EINVAL);
	/* A device whose read() gives nothing has failed, as the kernel's does when closed. */
	ck_assert_int_eq(hv_ic_kdev_open("/dev/null", &fd), 0);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), 0, &len), -ENODEV);
	ck_assert_int_eq(hv_ic_kdev_read(fd, buf, sizeof(buf), -1, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_read(fd, NULL, sizeof(buf), 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_read(-1, buf, sizeof(buf), 0, &len), -EINVAL);
	ck_assert_int_eq(hv_ic_kdev_write(-1, buf, sizeof(buf)), -EINVAL);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ic");
	TCase *tc;
	SRunner *sr;
	int failed;

	/* kdev_messages writes to a socket whose peer closed. */
	signal(SIGPIPE, SIG_IGN);
	tc = tcase_create("parse");
	tcase_add_test(tc, parse_fields);
	tcase_add_test(tc, parse_short);
	tcase_add_test(tc, parse_icmsgsize);
	tcase_add_test(tc, response);
	suite_add_tcase(s, tc);

	tc = tcase_create("negotiate");
	tcase_add_test(tc, nego_hosts);
	tcase_add_test(tc, nego_fw_only_in_fw);
	tcase_add_test(tc, nego_library_lists);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, nego_literal_failures);
	tcase_add_test(tc, nego_truncated);
	tcase_add_test(tc, nego_truncated_consistent);
	tcase_add_test(tc, nego_counts);
	tcase_add_test(tc, nego_icmsgsize_too_big);
	tcase_add_test(tc, nego_refused_untouched);
	tcase_add_test(tc, nego_no_write_past_reply);
	suite_add_tcase(s, tc);

	tc = tcase_create("host");
	tcase_add_test(tc, host_build);
	tcase_add_test(tc, host_reply_parse);
	tcase_add_test(tc, round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("versions");
	tcase_add_test(tc, lists);
	tcase_add_test(tc, version_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("kdev");
	tcase_add_test(tc, kdev_messages);
	tcase_add_test(tc, kdev_errors);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
