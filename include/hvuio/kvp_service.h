/* SPDX-License-Identifier: ISC */
/*
 * hv_kvp_handler and hv_kvp_transport: the KVP service, minus the process.
 *
 * A transport carries the host's requests: the VMBus channel of a KVP
 * device bound to uio_hv_generic (or a sim device), or Linux's
 * /dev/vmbus/hv_kvp when hv_utils keeps the channel in the kernel. It
 * turns each message into a struct hv_kvp_request, asks the handler, and
 * sends the reply. The handler is the same for every transport: it answers
 * each operation on each pool from the store, the Auto values and IP info.
 *
 * Neither prints: the caller passes an observer that is told of every
 * request and of every message that could not be understood, and logs.
 */
#ifndef HVUIO_KVP_SERVICE_H
#define HVUIO_KVP_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_pool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hv_kvp_handler;
struct hv_kvp_transport;

/* What happened to one host message. */
struct hv_kvp_event {
	/*
	 * 0 for a request that was decoded and answered (see status), or a
	 * negative errno:
	 *   the codec's errors (hv_kvp_msg_decode, hv_kvp_kmsg_decode) for a
	 *     message it refused, answered: HV_IC_ERROR_NOT_SUPPORTED for an
	 *     unknown operation (-EOPNOTSUPP), else HV_IC_E_FAIL on the channel
	 *     and what Linux's daemon answers the operation's failure through
	 *     the kernel (HV_IC_S_CONT, or HV_IC_E_FAIL for IP info);
	 *   -EBADMSG  channel: shorter than the IC header, dropped (Linux
	 *             drops it too), or an IC header whose icmsgsize claims
	 *             more than arrived, answered HV_IC_E_FAIL; kernel: a read
	 *             shorter than a message, not answered (-ENODEV follows);
	 *   -ENOMSG   channel: an IC type other than NEGOTIATE and
	 *             KVPEXCHANGE, dropped as Linux's KVP driver drops it;
	 *   -EMSGSIZE channel: a packet too large to be a KVP message, dropped;
	 *   -EOPNOTSUPP, -EBADMSG with negotiate set: no common version, or
	 *             a malformed NEGOTIATE; the failure reply was sent;
	 *   -EAGAIN   channel: the host's ring had no room for the reply; it
	 *             is held, nothing more is read, and it is sent once the
	 *             host makes room (reported again then, with replied set);
	 *   -ENOTRECOVERABLE  channel: the host broke the ring protocol (an
	 *             impossible index or descriptor); -ENODEV follows, and
	 *             reopening the channel gives fresh rings;
	 *   -EIO      kernel: the reply could not be written (-ENODEV follows).
	 */
	int error;
	bool replied;                       /* a reply went to the host */
	uint32_t status;                    /* HV_IC_S_OK, HV_IC_S_CONT, ... sent */
	const struct hv_kvp_request *req;   /* the decoded request; NULL when error != 0 */
	bool negotiate;                     /* a version negotiation */
	struct hv_ic_version fw, msg;          /* its outcome, when negotiate */
};

typedef void hv_kvp_observer_fn(void *ctx, const struct hv_kvp_event *ev);

/*
 * Options of hv_kvp_handler_new. Set sz to sizeof(struct
 * hv_kvp_handler_config) and zero what you do not set: the struct may grow
 * in a later release (README.md, "ABI"), and members past sz take their
 * defaults.
 */
struct hv_kvp_handler_config {
	size_t sz;
	/* Root for etc/os-release, etc/resolv.conf, ... ("/" if NULL). */
	const char *root;
	/* Program run for SET_IP_INFO (hv_kvp_info_hook_set); NULL: none. */
	const char *set_ip_hook;
	/*
	 * Where SET_IP_INFO writes its ifcfg and keyfile (the pool files'
	 * directory, as Linux's daemon); NULL answers SET_IP_INFO HV_IC_E_FAIL.
	 */
	const char *state_dir;
};

/*
 * The store stays the caller's and must outlive the handler. config may
 * be NULL. Returns 0, -EINVAL (NULL store or ret; a config whose sz is
 * smaller than sz itself, or larger with members this library does not
 * know set), -ENOMEM, and the errors
 * of hv_kvp_info_new and hv_kvp_info_hook_set (a relative hook path is
 * -EINVAL).
 */
int hv_kvp_handler_new(struct hv_kvp_store *store,
		       const struct hv_kvp_handler_config *config,
		       struct hv_kvp_handler **ret);
/* NULL is a no-op. */
void hv_kvp_handler_free(struct hv_kvp_handler *handler);

/*
 * Answer one decoded request, as Linux's hv_kvp_daemon does, with the
 * differences hv_kvp_service(3) lists. `reply` (may be `req` itself)
 * receives what goes back to the host (the key and value of an ENUMERATE,
 * the value of a GET, the IP info of a GET_IP_INFO; a copy of the request
 * otherwise), strings cut to what Linux's kernel passes to the host.
 * Returns the host status to send: HV_IC_S_OK; HV_IC_S_CONT (no such key, end
 * of enumeration, a SET or DELETE the store refused); HV_IC_E_FAIL (a pool
 * file that cannot be read again,
 * GET_IP_INFO for an unknown MAC, SET_IP_INFO without a program or whose
 * program failed, a pool above 4, NULL arguments); HV_IC_GUID_NOTFOUND and
 * HV_IC_INVALIDARG (SET_IP_INFO: no such adapter, a malformed address);
 * HV_IC_ERROR_NOT_SUPPORTED (any other operation). One call at a time per
 * handler.
 */
uint32_t hv_kvp_handler_run(struct hv_kvp_handler *handler,
			    const struct hv_kvp_request *req,
			    struct hv_kvp_request *reply);

/*
 * An Auto value the handler could compute only in part since the last
 * call (it answered HV_IC_S_OK with what it had, as Linux's daemon does):
 * its negative errno, with *index the Auto index; 0 when there was none.
 * -EINVAL for NULL arguments.
 */
int hv_kvp_handler_auto_error_take(struct hv_kvp_handler *handler, uint32_t *index);

/* The handler's hv_kvp_info (kvp_info.h), to configure; NULL for NULL. */
struct hv_kvp_info *hv_kvp_handler_info(struct hv_kvp_handler *handler);

/*
 * The KVP channel of the device under `root` ("/" for the real system,
 * NULL too, or a sim root): finds the KVP device by its class, opens its
 * channel. The host's NEGOTIATE may already be waiting, with no event
 * raised: call hv_kvp_transport_process once before the first poll.
 * Returns 0, -EINVAL, -ENOMEM, -ENOENT when there is no KVP device, the
 * errors of hv_vmbus_list_new, hv_dev_open (-ENXIO: not bound to
 * uio_hv_generic) and hv_chan_open.
 */
int hv_kvp_transport_open_chan(const char *root, struct hv_kvp_transport **ret);

/*
 * Linux's kernel device (/dev/vmbus/hv_kvp), or a SOCK_SEQPACKET socket
 * playing the kernel's side at that path; registers with REGISTER1 and
 * waits up to 5 seconds for the kernel's answer, whose version string
 * becomes the IntegrationServicesVersion the handler reports, as Linux's
 * daemon does. Returns 0, -EINVAL, -ENOMEM, -ENAMETOOLONG (socket path),
 * the errno of stat, open, socket or connect, -EPROTO (the register
 * message could not be written, or the answer is not a whole REGISTER1
 * message: the kernel refused us), -ETIMEDOUT (no answer).
 */
int hv_kvp_transport_open_kernel(const char *path, struct hv_kvp_transport **ret);

void hv_kvp_transport_close(struct hv_kvp_transport *t);

/* Poll it for POLLIN. Returns the descriptor, or -EINVAL. */
int hv_kvp_transport_fd(const struct hv_kvp_transport *t);

/*
 * Busy-poll the channel instead of sleeping on interrupts (channel
 * transports only; -EOPNOTSUPP otherwise).
 */
int hv_kvp_transport_set_busy_poll(struct hv_kvp_transport *t, bool on);

/*
 * Answer every message that is waiting, without blocking; the observer
 * (may be NULL) is called once per message, after its reply was sent.
 * On a channel, the receive interrupt is unmasked once the ring is empty
 * (not in busy-poll mode: then call this in a loop). Returns 0, -EINVAL
 * (NULL transport or handler), or -ENODEV when the host rescinded the
 * device or broke the ring protocol, or when a read or write of the
 * kernel device failed or was short (Linux's daemon then reopens too):
 * close the transport and open it again.
 */
int hv_kvp_transport_process(struct hv_kvp_transport *t,
			     struct hv_kvp_handler *handler,
			     hv_kvp_observer_fn *observer, void *ctx);

/*
 * What the transport has negotiated, for status output. Set sz to
 * sizeof(struct hv_kvp_transport_status) before the call: the struct may
 * grow, and the library fills what fits and zeroes the rest.
 */
struct hv_kvp_transport_status {
	size_t sz;
	const char *kind;            /* "uio", "sim" or "kernel" */
	bool negotiated;             /* channel: the host's negotiate answered */
	struct hv_ic_version fw, msg;   /* channel: the versions chosen */
	char kernel_version[64];     /* kernel: what REGISTER1 returned */
	uint64_t requests;           /* KVP requests answered (not negotiations) */
};

/* Returns 0 or -EINVAL (NULL argument, sz smaller than sz itself). */
int hv_kvp_transport_status_get(const struct hv_kvp_transport *t,
				struct hv_kvp_transport_status *status);

#ifdef __cplusplus
}
#endif

#endif
