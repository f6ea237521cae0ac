/* SPDX-License-Identifier: ISC */
/*
 * The IC header parser and the version negotiation, both sides.
 *
 * Input: one selector byte (which service's guest list answers, and how
 * much spare room the reply buffer has), then a payload as the host
 * would send it. The payload goes through hv_ic_msg_parse,
 * hv_ic_response_prepare, hv_ic_version_negotiate (as a request) and
 * hv_ic_negotiate_reply_parse (as a guest's reply); a request built by
 * hv_ic_negotiate_request_build from versions taken out of the payload
 * is negotiated too, closing the loop host -> guest -> host.
 *
 * The expected results come from a model of the rules written here
 * (Linux's include/linux/hyperv.h layouts: pipe header at 0, IC header
 * at 8, negotiate header at 28, versions from 36; the choice is that of
 * Linux's vmbus_prep_negotiate_resp: our list in order, first exact
 * match among the host's entries of the same kind).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/ic.h"
#include "fuzz.h"

#define OFF_TYPE   12
#define OFF_SIZE   18
#define OFF_STATUS 20
#define OFF_FLAGS  25
#define OFF_NEGO   28
#define OFF_VERS   36

static const uint16_t services[] = {
	HV_IC_MSGTYPE_HEARTBEAT, HV_IC_MSGTYPE_KVPEXCHANGE, HV_IC_MSGTYPE_SHUTDOWN,
	HV_IC_MSGTYPE_TIMESYNC, HV_IC_MSGTYPE_FCOPY,
};

static struct hv_ic_version ver_at(const uint8_t *p)
{
	return (struct hv_ic_version){ .major = fuzz_le16(p), .minor = fuzz_le16(p + 2) };
}

static bool list_has(const struct hv_ic_version *l, unsigned int n, struct hv_ic_version v)
{
	for (unsigned int i = 0; i < n; i++)
		if (hv_ic_version_eq(l[i], v))
			return true;
	return false;
}

static void check_msg_parse(const uint8_t *p, size_t len)
{
	struct hv_ic_msg m;
	int err = hv_ic_msg_parse(p, len, &m);

	if (len < HV_IC_DATA_OFFSET) {
		FUZZ_CHECK(err == -EBADMSG);
		return;
	}
	if (fuzz_le16(p + OFF_SIZE) > len - HV_IC_DATA_OFFSET) {
		FUZZ_CHECK(err == -EBADMSG);
		return;
	}
	FUZZ_CHECK(err == 0);
	FUZZ_CHECK(memcmp(&m.pipe, p, 8) == 0 && memcmp(&m.hdr, p + 8, 20) == 0);
	FUZZ_CHECK(m.data == p + HV_IC_DATA_OFFSET && m.data_len == fuzz_le16(p + OFF_SIZE));
	FUZZ_CHECK(m.avail == len - HV_IC_DATA_OFFSET && m.data_len <= m.avail);
}

static void check_response(const uint8_t *p, size_t len, uint32_t status)
{
	uint8_t *q = malloc(len ? len : 1);
	int err;

	FUZZ_CHECK(q);
	memcpy(q, p, len);
	err = hv_ic_response_prepare(q, len, status);
	if (len < HV_IC_DATA_OFFSET) {
		FUZZ_CHECK(err == -EBADMSG && memcmp(q, p, len) == 0);
	} else {
		FUZZ_CHECK(err == 0);
		FUZZ_CHECK(fuzz_le32(q + OFF_STATUS) == status);
		FUZZ_CHECK(q[OFF_FLAGS] == (HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE));
		FUZZ_CHECK(memcmp(q, p, OFF_STATUS) == 0 && q[24] == p[24]);
		FUZZ_CHECK(memcmp(q + 26, p + 26, len - 26) == 0);
	}
	free(q);
}

/* The model of hv_ic_version_negotiate; the host's lists go to *fw_out etc. */
static int model_negotiate(const uint8_t *p, size_t len, const struct hv_ic_versions *sup,
			   struct hv_ic_version *cfw, struct hv_ic_version *cmsg)
{
	struct hv_ic_version host[2 * HV_IC_MAX_VER_COUNT];
	unsigned int nfw, nmsg, i;
	bool found;

	*cfw = *cmsg = HV_IC_VERSION(0, 0);
	if (len < HV_IC_DATA_OFFSET || fuzz_le16(p + OFF_SIZE) > len - HV_IC_DATA_OFFSET)
		return -EBADMSG;
	if (fuzz_le16(p + OFF_TYPE) != HV_IC_MSGTYPE_NEGOTIATE)
		return -EINVAL;
	if (len < OFF_VERS)
		return -EBADMSG;
	nfw = fuzz_le16(p + OFF_NEGO);
	nmsg = fuzz_le16(p + OFF_NEGO + 2);
	if (!nfw || !nmsg || nfw > HV_IC_MAX_VER_COUNT ||
	    nmsg > HV_IC_MAX_VER_COUNT ||
	    (size_t)(nfw + nmsg) * 4 > len - OFF_VERS)
		return -EBADMSG;
	for (i = 0; i < nfw + nmsg; i++)
		host[i] = ver_at(p + OFF_VERS + 4 * i);
	for (i = 0, found = false; i < sup->fw_count && !found; i++)
		if (list_has(host, nfw, sup->fw[i])) {
			*cfw = sup->fw[i];
			found = true;
		}
	if (!found)
		return -EOPNOTSUPP;
	for (i = 0, found = false; i < sup->msg_count && !found; i++)
		if (list_has(host + nfw, nmsg, sup->msg[i])) {
			*cmsg = sup->msg[i];
			found = true;
		}
	if (!found) {
		*cfw = HV_IC_VERSION(0, 0);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void check_negotiate(const uint8_t *p, size_t len, const struct hv_ic_versions *sup,
			    size_t spare)
{
	size_t rlen = len < HV_IC_NEGOTIATE_REPLY_MIN ? HV_IC_NEGOTIATE_REPLY_MIN : len;
	struct hv_ic_version fw, msg, mfw, mmsg, pfw, pmsg;
	uint8_t *buf, *want;
	size_t reply_len = 0;
	int err, merr;

	buf = malloc(rlen + spare);
	want = malloc(rlen + spare);
	FUZZ_CHECK(buf && want);
	memset(buf, 0xcc, rlen + spare);
	memcpy(buf, p, len);
	memcpy(want, buf, rlen + spare);

	/* Too small a buffer: refused before anything is read or written. */
	FUZZ_CHECK(hv_ic_version_negotiate(buf, rlen - 1, len, sup, &fw, &msg,
					   &reply_len) == -ENOBUFS);
	FUZZ_CHECK(memcmp(buf, want, rlen + spare) == 0);

	merr = model_negotiate(p, len, sup, &mfw, &mmsg);
	err = hv_ic_version_negotiate(buf, rlen + spare, len, sup, &fw, &msg, &reply_len);
	FUZZ_CHECK(err == merr);
	if (err == -EINVAL) {
		FUZZ_CHECK(memcmp(buf, want, rlen + spare) == 0);
		goto out;
	}
	FUZZ_CHECK(reply_len == rlen);
	FUZZ_CHECK(hv_ic_version_eq(fw, mfw) && hv_ic_version_eq(msg, mmsg));

	/* The reply the model expects: the request rewritten in place. */
	if (len < rlen)
		memset(want + len, 0, rlen - len);
	want[OFF_SIZE] = 16;
	want[OFF_SIZE + 1] = 0;
	fuzz_put_le32(want + OFF_STATUS, err ? HV_IC_E_FAIL : HV_IC_S_OK);
	want[OFF_FLAGS] = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE;
	want[OFF_NEGO] = want[OFF_NEGO + 2] = err ? 0 : 1;
	want[OFF_NEGO + 1] = want[OFF_NEGO + 3] = 0;
	memcpy(want + OFF_VERS, &mfw, 4);
	memcpy(want + OFF_VERS + 4, &mmsg, 4);
	FUZZ_CHECK(memcmp(buf, want, rlen + spare) == 0);

	/* What the host makes of the reply. */
	if (err == 0) {
		struct hv_ic_versions offer = {
			.fw = (const struct hv_ic_version *)(p + OFF_VERS),
			.fw_count = fuzz_le16(p + OFF_NEGO),
			.msg = (const struct hv_ic_version *)(p + OFF_VERS) + fuzz_le16(p + OFF_NEGO),
			.msg_count = fuzz_le16(p + OFF_NEGO + 2),
		};

		FUZZ_CHECK(hv_ic_negotiate_reply_parse(buf, reply_len, &offer, &pfw, &pmsg) == 0);
		FUZZ_CHECK(hv_ic_version_eq(pfw, fw) && hv_ic_version_eq(pmsg, msg));
	} else {
		err = hv_ic_negotiate_reply_parse(buf, reply_len, NULL, &pfw, &pmsg);
		FUZZ_CHECK(err == (fuzz_le16(buf + OFF_TYPE) == HV_IC_MSGTYPE_NEGOTIATE ?
				   -EOPNOTSUPP : -EBADMSG));
	}
out:
	free(buf);
	free(want);
}

/* The host's check of a guest reply, against the model. */
static void check_reply_parse(const uint8_t *p, size_t len, const struct hv_ic_versions *offer)
{
	struct hv_ic_version fw = HV_IC_VERSION(0xdead, 1), msg = HV_IC_VERSION(0xdead, 2);
	struct hv_ic_version v0, v1;
	int err = hv_ic_negotiate_reply_parse(p, len, offer, &fw, &msg), want;

	if (len < HV_IC_DATA_OFFSET || fuzz_le16(p + OFF_SIZE) > len - HV_IC_DATA_OFFSET)
		want = -EBADMSG;
	else if (fuzz_le16(p + OFF_TYPE) != HV_IC_MSGTYPE_NEGOTIATE ||
		 !(p[OFF_FLAGS] & HV_IC_FLAG_RESPONSE) || len < OFF_VERS)
		want = -EBADMSG;
	else if (fuzz_le32(p + OFF_STATUS) != HV_IC_S_OK ||
		 (fuzz_le16(p + OFF_NEGO) == 0 && fuzz_le16(p + OFF_NEGO + 2) == 0))
		want = -EOPNOTSUPP;
	else if (fuzz_le16(p + OFF_NEGO) != 1 || fuzz_le16(p + OFF_NEGO + 2) != 1 ||
		 len < OFF_VERS + 8)
		want = -EBADMSG;
	else if (offer && (!list_has(offer->fw, offer->fw_count, ver_at(p + OFF_VERS)) ||
			   !list_has(offer->msg, offer->msg_count, ver_at(p + OFF_VERS + 4))))
		want = -EPROTO;
	else
		want = 0;
	FUZZ_CHECK(err == want);
	if (err == 0) {
		v0 = ver_at(p + OFF_VERS);
		v1 = ver_at(p + OFF_VERS + 4);
		FUZZ_CHECK(hv_ic_version_eq(fw, v0) && hv_ic_version_eq(msg, v1));
	} else {
		FUZZ_CHECK(fw.major == 0xdead && msg.major == 0xdead);
	}
}

/* Host side: offer versions taken from the payload, then negotiate it. */
static void check_round_trip(const uint8_t *p, size_t len, const struct hv_ic_versions *sup,
			     uint8_t sel)
{
	struct hv_ic_version vers[16];
	unsigned int nfw = sel % 8, nmsg = (sel >> 3) % 8 + 1, i;
	struct hv_ic_versions offer;
	uint8_t *buf;
	size_t blen, total = OFF_VERS + 4 * (size_t)(nfw + nmsg);

	for (i = 0; i < nfw + nmsg; i++)
		vers[i] = 4 * i + 4 <= len ? ver_at(p + 4 * i) : sup->msg[i % sup->msg_count];
	/* Some of ours among them, so that matches happen. */
	if (nfw)
		vers[nfw - 1] = sup->fw[sel % sup->fw_count];
	vers[nfw + nmsg - 1] = sup->msg[sel % sup->msg_count];
	offer = (struct hv_ic_versions){ vers, nfw, vers + nfw, nmsg };

	buf = malloc(total);
	FUZZ_CHECK(buf);
	FUZZ_CHECK(hv_ic_negotiate_request_build(buf, total - 1, &offer, sel, &blen) == -ENOBUFS);
	FUZZ_CHECK(hv_ic_negotiate_request_build(buf, total, &offer, sel, &blen) == 0);
	FUZZ_CHECK(blen == total && buf[24] == sel);
	FUZZ_CHECK(fuzz_le16(buf + OFF_NEGO) == nfw && fuzz_le16(buf + OFF_NEGO + 2) == nmsg);
	FUZZ_CHECK(memcmp(buf + OFF_VERS, vers, 4 * (size_t)(nfw + nmsg)) == 0);
	check_msg_parse(buf, blen);
	check_negotiate(buf, blen, sup, sel & 3);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	const struct hv_ic_versions *sup, *host;
	uint8_t sel;
	uint8_t *p;
	size_t len;

	if (size < 1)
		return 0;
	sel = in[0];
	FUZZ_CHECK(hv_ic_guest_versions_get(services[sel % 5], &sup) == 0);
	FUZZ_CHECK(hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &host) == 0);
	FUZZ_CHECK(hv_ic_host_versions_get(HV_IC_MSGTYPE_HEARTBEAT, &host) == -ENOENT);
	FUZZ_CHECK(hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &host) == 0);

	/* An exact copy: a read past the end is caught under ASan. */
	len = size - 1;
	p = malloc(len ? len : 1);
	FUZZ_CHECK(p);
	memcpy(p, in + 1, len);

	check_msg_parse(p, len);
	check_response(p, len, size >= 4 ? fuzz_le32(in) : HV_IC_E_FAIL);
	check_negotiate(p, len, sel & 0x80 ? host : sup, (sel >> 5) & 3);
	check_reply_parse(p, len, sel & 0x40 ? NULL : sup);
	check_round_trip(p, len, sup, sel);
	free(p);
	return 0;
}
