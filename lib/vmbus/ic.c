/* SPDX-License-Identifier: ISC */
/*
 * The integration-service framing and version negotiation.
 *
 * Facts behind this file: the layouts are those of Linux's
 * include/linux/hyperv.h (struct vmbuspipe_hdr, struct icmsg_hdr, struct
 * icmsg_negotiate), which OpenBSD's hypervicreg.h and FreeBSD's
 * vmbus_icreg.h agree with. The choice of versions is that of Linux's
 * vmbus_prep_negotiate_resp in drivers/hv/channel_mgmt.c; the failure
 * reply is FreeBSD's (see ic_nego_fail).
 *
 * The buffers handed in are private copies, yet every field the host
 * wrote is still read once, into a local, and checked there: a caller
 * that passes shared memory by mistake gets wrong answers, not an
 * out-of-bounds access.
 */
#include <errno.h>
#include <string.h>

#include "hvuio/ic.h"
#include "lib/common/compiler.h"

#define IC_OFF_HDR  sizeof(struct hv_ic_pipe_hdr)
#define IC_OFF_NEGO HV_IC_DATA_OFFSET
#define IC_OFF_VERS (HV_IC_DATA_OFFSET + sizeof(struct hv_ic_negotiate))
/* icmsgsize of a negotiate reply: the negotiate header and two versions. */
#define IC_NEGO_REPLY_DATA (sizeof(struct hv_ic_negotiate) + 2 * sizeof(struct hv_ic_version))

_Static_assert(HV_IC_NEGOTIATE_REPLY_MIN == 44, "negotiate reply is 44 bytes");
_Static_assert(IC_NEGO_REPLY_DATA == 16, "negotiate reply icmsgsize is 16");

HV_EXPORT int hv_ic_msg_parse(const void *payload, size_t len, struct hv_ic_msg *msg)
{
	const uint8_t *p = payload;

	if (!payload || !msg)
		return -EINVAL;
	if (len < HV_IC_DATA_OFFSET)
		return -EBADMSG;
	memcpy(&msg->pipe, p, sizeof(msg->pipe));
	memcpy(&msg->hdr, p + IC_OFF_HDR, sizeof(msg->hdr));
	msg->avail = len - HV_IC_DATA_OFFSET;
	if (msg->hdr.icmsgsize > msg->avail)
		return -EBADMSG;
	msg->data = p + HV_IC_DATA_OFFSET;
	msg->data_len = msg->hdr.icmsgsize;
	return 0;
}

/* Header fields are written through memcpy: payloads need no alignment. */
static void ic_put_u16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void ic_put_u32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void ic_respond(uint8_t *p, uint32_t status)
{
	ic_put_u32(p, IC_OFF_HDR + offsetof(struct hv_ic_hdr, status), status);
	p[IC_OFF_HDR + offsetof(struct hv_ic_hdr, icflags)] =
		HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE;
}

HV_EXPORT int hv_ic_response_prepare(void *payload, size_t len, uint32_t status)
{
	if (!payload)
		return -EINVAL;
	if (len < HV_IC_DATA_OFFSET)
		return -EBADMSG;
	ic_respond(payload, status);
	return 0;
}

static void ic_nego_write(uint8_t *p, uint32_t status, uint16_t count,
			  struct hv_ic_version fw, struct hv_ic_version msg)
{
	ic_put_u16(p, IC_OFF_HDR + offsetof(struct hv_ic_hdr, icmsgsize),
		   IC_NEGO_REPLY_DATA);
	ic_respond(p, status);
	ic_put_u16(p, IC_OFF_NEGO + offsetof(struct hv_ic_negotiate, icframe_vercnt), count);
	ic_put_u16(p, IC_OFF_NEGO + offsetof(struct hv_ic_negotiate, icmsg_vercnt), count);
	memcpy(p + IC_OFF_VERS, &fw, sizeof(fw));
	memcpy(p + IC_OFF_VERS + sizeof(fw), &msg, sizeof(msg));
}

/*
 * The failure reply: the request as received, zero-extended to 44 bytes,
 * with icmsgsize 16, status HV_IC_E_FAIL, flags TRANSACTION|RESPONSE, counts
 * 0/0 and both versions 0.0; the pipe header, the versions in the IC
 * header, the type, the transaction id, the negotiate header's reserved
 * word and anything past byte 44 stay as received.
 *
 * Linux (vmbus_prep_negotiate_resp) also answers 0/0 but leaves the status
 * at what the host sent and, by reusing its variables, writes the host's
 * two counts into the major numbers of the version fields; when the
 * request is too short to hold the counts it sends the request back
 * untouched. FreeBSD's KVP driver (hv_kvp_process_request after
 * vmbus_ic_negomsg fails) answers HV_IC_E_FAIL. We follow FreeBSD's status,
 * which tells the host plainly that this service will not run, and write
 * zeros where Linux leaks the counts, so the reply never depends on what
 * made the request unusable.
 */
static void ic_nego_fail(uint8_t *p, size_t len, size_t reply_len)
{
	if (len < reply_len)
		memset(p + len, 0, reply_len - len);
	ic_nego_write(p, HV_IC_E_FAIL, 0, HV_IC_VERSION(0, 0), HV_IC_VERSION(0, 0));
}

static bool ic_nego_has(const struct hv_ic_version *list, unsigned int n,
			struct hv_ic_version v)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (hv_ic_version_eq(list[i], v))
			return true;
	return false;
}

/*
 * Linux's rule: walk our list in our order and take the first version the
 * host lists with the same major and minor. Not "the highest the host
 * offers" (FreeBSD) nor "the highest major not above ours" (OpenBSD):
 * a guest only ever gets a version it implements exactly.
 */
static bool ic_nego_choose(const struct hv_ic_version *host, unsigned int host_count,
			   const struct hv_ic_version *ours, unsigned int our_count,
			   struct hv_ic_version *chosen)
{
	unsigned int i;

	for (i = 0; i < our_count; i++) {
		if (ic_nego_has(host, host_count, ours[i])) {
			*chosen = ours[i];
			return true;
		}
	}
	return false;
}

static bool ic_versions_ok(const struct hv_ic_versions *v)
{
	return v->fw_count <= HV_IC_MAX_VER_COUNT &&
	       v->msg_count <= HV_IC_MAX_VER_COUNT &&
	       (v->fw || !v->fw_count) && (v->msg || !v->msg_count);
}

HV_EXPORT int hv_ic_version_negotiate(void *buf, size_t buflen, size_t len,
				      const struct hv_ic_versions *supported,
				      struct hv_ic_version *fw, struct hv_ic_version *msg,
				      size_t *reply_len)
{
	uint8_t *p = buf;
	struct hv_ic_negotiate nego;
	struct hv_ic_version host[2 * HV_IC_MAX_VER_COUNT];
	struct hv_ic_msg ic;
	struct hv_ic_version cfw = HV_IC_VERSION(0, 0), cmsg = HV_IC_VERSION(0, 0);
	size_t rlen, need;
	unsigned int nfw, nmsg;
	int err;

	if (!buf || !supported || !reply_len || !ic_versions_ok(supported) ||
	    !supported->fw_count || !supported->msg_count)
		return -EINVAL;
	rlen = len < HV_IC_NEGOTIATE_REPLY_MIN ? HV_IC_NEGOTIATE_REPLY_MIN : len;
	if (buflen < rlen)
		return -ENOBUFS;

	err = hv_ic_msg_parse(buf, len, &ic);
	if (err)
		goto out;
	if (ic.hdr.icmsgtype != HV_IC_MSGTYPE_NEGOTIATE)
		return -EINVAL;
	/*
	 * The versions are bounded by the payload, as Linux bounds them,
	 * and not by icmsgsize: only icmsgsize claiming more than arrived
	 * is an error (hv_ic_msg_parse): Linux never reads it here, and a
	 * host that understated it would otherwise lose its services.
	 */
	if (ic.avail < sizeof(nego)) {
		err = -EBADMSG;
		goto out;
	}
	memcpy(&nego, p + IC_OFF_NEGO, sizeof(nego));
	nfw = nego.icframe_vercnt;
	nmsg = nego.icmsg_vercnt;
	/*
	 * Linux lets 0/0 through to "no match"; FreeBSD calls it invalid.
	 * Both end in the same reply; we report it as malformed.
	 */
	if (nfw == 0 || nmsg == 0 ||
	    nfw > HV_IC_MAX_VER_COUNT ||
	    nmsg > HV_IC_MAX_VER_COUNT) {
		err = -EBADMSG;
		goto out;
	}
	need = (size_t)(nfw + nmsg) * sizeof(struct hv_ic_version);
	if (need > ic.avail - sizeof(nego)) {
		err = -EBADMSG;
		goto out;
	}
	memcpy(host, p + IC_OFF_VERS, need);
	/* Framework versions only among the host's framework entries, ... */
	if (!ic_nego_choose(host, nfw, supported->fw,
			    supported->fw_count, &cfw)) {
		err = -EOPNOTSUPP;
		goto out;
	}
	/* ... message versions only among its message entries. */
	if (!ic_nego_choose(host + nfw, nmsg,
			    supported->msg, supported->msg_count, &cmsg)) {
		cfw = HV_IC_VERSION(0, 0);
		err = -EOPNOTSUPP;
		goto out;
	}
	ic_nego_write(p, HV_IC_S_OK, 1, cfw, cmsg);
out:
	if (err)
		ic_nego_fail(p, len, rlen);
	if (fw)
		*fw = cfw;
	if (msg)
		*msg = cmsg;
	*reply_len = rlen;
	return err;
}

HV_EXPORT int hv_ic_negotiate_request_build(void *buf, size_t buflen,
					    const struct hv_ic_versions *offer,
					    uint8_t transaction_id, size_t *len)
{
	struct hv_ic_pipe_hdr pipe;
	struct hv_ic_hdr hdr;
	struct hv_ic_negotiate nego;
	uint8_t *p = buf;
	size_t n, total;

	if (!buf || !offer || !len || !ic_versions_ok(offer))
		return -EINVAL;
	n = (size_t)offer->fw_count + offer->msg_count;
	total = IC_OFF_VERS + n * sizeof(struct hv_ic_version);
	if (buflen < total)
		return -ENOBUFS;

	/*
	 * No source records what Windows puts in the pipe header or in the
	 * IC header's versions of a request; guests ignore both. Pipe flags
	 * 1 is VmPipeMessageData (ProjectMile's Mile.HyperV), msgsize the
	 * bytes that follow the pipe header, versions 0.0 since none is in
	 * use before the negotiation.
	 */
	memset(&pipe, 0, sizeof(pipe));
	pipe.flags = 1;
	pipe.msgsize = (uint32_t)(total - sizeof(pipe));
	memset(&hdr, 0, sizeof(hdr));
	hdr.icmsgtype = HV_IC_MSGTYPE_NEGOTIATE;
	hdr.icmsgsize = (uint16_t)(total - HV_IC_DATA_OFFSET);
	hdr.status = HV_IC_S_OK;
	hdr.ictransaction_id = transaction_id;
	hdr.icflags = HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_REQUEST;
	memset(&nego, 0, sizeof(nego));
	nego.icframe_vercnt = (uint16_t)offer->fw_count;
	nego.icmsg_vercnt = (uint16_t)offer->msg_count;

	memcpy(p, &pipe, sizeof(pipe));
	memcpy(p + IC_OFF_HDR, &hdr, sizeof(hdr));
	memcpy(p + IC_OFF_NEGO, &nego, sizeof(nego));
	if (offer->fw_count)
		memcpy(p + IC_OFF_VERS, offer->fw,
		       offer->fw_count * sizeof(struct hv_ic_version));
	if (offer->msg_count)
		memcpy(p + IC_OFF_VERS + offer->fw_count * sizeof(struct hv_ic_version),
		       offer->msg, offer->msg_count * sizeof(struct hv_ic_version));
	*len = total;
	return 0;
}

HV_EXPORT int hv_ic_negotiate_reply_parse(const void *buf, size_t len,
					  const struct hv_ic_versions *offer,
					  struct hv_ic_version *fw, struct hv_ic_version *msg)
{
	const uint8_t *p = buf;
	struct hv_ic_negotiate nego;
	struct hv_ic_version v[2];
	struct hv_ic_msg ic;
	int err;

	if (!buf || (offer && !ic_versions_ok(offer)))
		return -EINVAL;
	err = hv_ic_msg_parse(buf, len, &ic);
	if (err)
		return err;
	if (ic.hdr.icmsgtype != HV_IC_MSGTYPE_NEGOTIATE ||
	    !(ic.hdr.icflags & HV_IC_FLAG_RESPONSE) ||
	    ic.avail < sizeof(nego))
		return -EBADMSG;
	memcpy(&nego, p + IC_OFF_NEGO, sizeof(nego));
	if (ic.hdr.status != HV_IC_S_OK ||
	    (nego.icframe_vercnt == 0 && nego.icmsg_vercnt == 0))
		return -EOPNOTSUPP;
	if (nego.icframe_vercnt != 1 || nego.icmsg_vercnt != 1 ||
	    ic.avail - sizeof(nego) < sizeof(v))
		return -EBADMSG;
	memcpy(v, p + IC_OFF_VERS, sizeof(v));
	if (offer && (!ic_nego_has(offer->fw, offer->fw_count, v[0]) ||
		      !ic_nego_has(offer->msg, offer->msg_count, v[1])))
		return -EPROTO;
	if (fw)
		*fw = v[0];
	if (msg)
		*msg = v[1];
	return 0;
}

/*
 * Linux's tables, preferred first: fw_versions and kvp_versions in
 * drivers/hv/hv_kvp.c, hb_versions, sd_versions and ts_versions in
 * drivers/hv/hv_util.c (framework 3.0 = UTIL_FW_VERSION, 1.0 =
 * UTIL_WS2K8_FW_VERSION), and the fcopy daemon's 1.1 over framework 3.0.
 */
static const struct hv_ic_version ic_fw_util[] = { HV_IC_VER(3, 0), HV_IC_VER(1, 0) };
static const struct hv_ic_version ic_fw_fcopy[] = { HV_IC_VER(3, 0) };
static const struct hv_ic_version ic_msg_kvp[] = {
	HV_IC_VER(4, 0),  /* Windows 8 / Server 2012: IP injection */
	HV_IC_VER(3, 0),  /* Windows 7 / Server 2008 R2 */
	HV_IC_VER(1, 0),  /* Server 2008 */
};
static const struct hv_ic_version ic_msg_heartbeat[] = { HV_IC_VER(3, 0), HV_IC_VER(1, 0) };
static const struct hv_ic_version ic_msg_shutdown[] = {
	HV_IC_VER(3, 2), HV_IC_VER(3, 1), HV_IC_VER(3, 0), HV_IC_VER(1, 0),
};
static const struct hv_ic_version ic_msg_timesync[] = {
	HV_IC_VER(4, 0), HV_IC_VER(3, 0), HV_IC_VER(1, 0),
};
static const struct hv_ic_version ic_msg_fcopy[] = { HV_IC_VER(1, 1) };

#define IC_VERSIONS(f, m) { f, ARRAY_SIZE(f), m, ARRAY_SIZE(m) }

static const struct hv_ic_versions ic_guest_kvp = IC_VERSIONS(ic_fw_util, ic_msg_kvp);
static const struct hv_ic_versions ic_guest_heartbeat =
	IC_VERSIONS(ic_fw_util, ic_msg_heartbeat);
static const struct hv_ic_versions ic_guest_shutdown =
	IC_VERSIONS(ic_fw_util, ic_msg_shutdown);
static const struct hv_ic_versions ic_guest_timesync =
	IC_VERSIONS(ic_fw_util, ic_msg_timesync);
static const struct hv_ic_versions ic_guest_fcopy = IC_VERSIONS(ic_fw_fcopy, ic_msg_fcopy);

/*
 * A current host's KVP offer. The message versions are those the host
 * side of openvmm (vm/devices/hyperv_ic/src/kvp.rs) speaks, 5.0 being the
 * binary IP-address message of ProjectMile's Mile.HyperV; the framework
 * versions come lowest first, as FreeBSD's old hv_kvp_negotiate_version
 * expects when it looks for major 3 in the second framework entry.
 */
static const struct hv_ic_version ic_host_fw[] = { HV_IC_VER(1, 0), HV_IC_VER(3, 0) };
static const struct hv_ic_version ic_host_msg_kvp[] = {
	HV_IC_VER(3, 0), HV_IC_VER(4, 0), HV_IC_VER(5, 0),
};
static const struct hv_ic_versions ic_host_kvp = IC_VERSIONS(ic_host_fw, ic_host_msg_kvp);

HV_EXPORT int hv_ic_guest_versions_get(uint16_t icmsgtype,
				       const struct hv_ic_versions **ret)
{
	if (!ret)
		return -EINVAL;
	switch (icmsgtype) {
	case HV_IC_MSGTYPE_HEARTBEAT:
		*ret = &ic_guest_heartbeat;
		return 0;
	case HV_IC_MSGTYPE_KVPEXCHANGE:
		*ret = &ic_guest_kvp;
		return 0;
	case HV_IC_MSGTYPE_SHUTDOWN:
		*ret = &ic_guest_shutdown;
		return 0;
	case HV_IC_MSGTYPE_TIMESYNC:
		*ret = &ic_guest_timesync;
		return 0;
	case HV_IC_MSGTYPE_FCOPY:
		*ret = &ic_guest_fcopy;
		return 0;
	default:
		return -ENOENT;
	}
}

HV_EXPORT int hv_ic_host_versions_get(uint16_t icmsgtype,
				      const struct hv_ic_versions **ret)
{
	if (!ret)
		return -EINVAL;
	if (icmsgtype != HV_IC_MSGTYPE_KVPEXCHANGE)
		return -ENOENT;
	*ret = &ic_host_kvp;
	return 0;
}
