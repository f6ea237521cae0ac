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
	 * 0 for a request that was answered (see status), or the negative
	 * errno that made the message impossible to decode.
	 */
	int error;
	uint32_t status;                    /* HV_S_OK, HV_S_CONT, ... sent */
	const struct hv_kvp_request *req;   /* NULL when error != 0 */
	bool negotiate;                     /* a version negotiation */
	struct ic_version fw, msg;          /* its outcome, when negotiate */
};

typedef void hv_kvp_observer_fn(void *ctx, const struct hv_kvp_event *ev);

struct hv_kvp_handler_config {
	/* Root for etc/os-release, etc/resolv.conf, ... ("/" if NULL). */
	const char *root;
	/* Program run for SET_IP_INFO; NULL answers it with HV_E_FAIL. */
	const char *set_ip_hook;
};

int hv_kvp_handler_new(struct hv_kvp_store *store,
		       const struct hv_kvp_handler_config *config,
		       struct hv_kvp_handler **ret);
void hv_kvp_handler_free(struct hv_kvp_handler *handler);

/*
 * Answer one decoded request. `reply` receives what goes back to the host
 * (the key and value of an ENUMERATE, the value of a GET, the IP info of a
 * GET_IP_INFO; a copy of the request otherwise). Returns the host status
 * to send: HV_S_OK, HV_S_CONT (no such key, end of enumeration, a pool the
 * host may not write), HV_E_FAIL, HV_GUID_NOTFOUND, HV_INVALIDARG,
 * HV_ERROR_NOT_SUPPORTED.
 */
uint32_t hv_kvp_handler_run(struct hv_kvp_handler *handler,
			    const struct hv_kvp_request *req,
			    struct hv_kvp_request *reply);

/*
 * The KVP channel of the device under `root` ("/" for the real system, or
 * a sim root): finds the KVP device, opens its channel. Returns the
 * errors of hv_dev_open, and -ENOENT when there is no KVP device.
 */
int hv_kvp_transport_open_chan(const char *root, struct hv_kvp_transport **ret);

/*
 * Linux's kernel device (/dev/vmbus/hv_kvp), or a SOCK_SEQPACKET socket
 * playing the kernel's side at that path; registers with REGISTER1.
 */
int hv_kvp_transport_open_kernel(const char *path, struct hv_kvp_transport **ret);

void hv_kvp_transport_close(struct hv_kvp_transport *t);

/* Poll it for POLLIN. */
int hv_kvp_transport_fd(const struct hv_kvp_transport *t);

/*
 * Busy-poll the channel instead of sleeping on interrupts (channel
 * transports only; -EOPNOTSUPP otherwise).
 */
int hv_kvp_transport_set_busy_poll(struct hv_kvp_transport *t, bool on);

/*
 * Answer every message that is waiting, without blocking; the observer
 * (may be NULL) is called once per message. Returns 0, or -ENODEV when the
 * host rescinded the device or the kernel device failed: close the
 * transport and open it again.
 */
int hv_kvp_transport_process(struct hv_kvp_transport *t,
			     struct hv_kvp_handler *handler,
			     hv_kvp_observer_fn *observer, void *ctx);

/* What the transport has negotiated, for status output. */
struct hv_kvp_transport_status {
	const char *kind;            /* "uio", "sim" or "kernel" */
	bool negotiated;             /* channel: the host's negotiate answered */
	struct ic_version fw, msg;   /* channel: the versions chosen */
	char kernel_version[64];     /* kernel: what REGISTER1 returned */
	uint64_t requests;           /* host requests answered */
};

int hv_kvp_transport_status_get(const struct hv_kvp_transport *t,
				struct hv_kvp_transport_status *status);

#ifdef __cplusplus
}
#endif

#endif
