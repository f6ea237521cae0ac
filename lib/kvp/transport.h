/* SPDX-License-Identifier: ISC */
/*
 * What the KVP transports share: one struct for both kinds, what each
 * kind does (struct kvp_transport_ops), the request and reply they
 * decode into, and the step every kind ends with (ask the handler, tell
 * the observer).
 */
#ifndef HVUIO_LIB_KVP_TRANSPORT_H
#define HVUIO_LIB_KVP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvuio/chan.h"
#include "hvuio/kvp_service.h"

struct hv_kvp_transport;

/*
 * One kind of transport: the channel (transport_chan.c) or Linux's
 * hv_utils device (transport_kernel.c). transport.c checks the
 * arguments and dispatches; only these touch the kind's fields.
 */
struct kvp_transport_ops {
	int (*process)(struct hv_kvp_transport *t, struct hv_kvp_handler *handler,
		       hv_kvp_observer_fn *observer, void *ctx);
	/* Release what open took; the struct and its buffer stay. */
	void (*close)(struct hv_kvp_transport *t);
	int (*fd)(const struct hv_kvp_transport *t);
	/* NULL for a kind with nothing to poll: -EOPNOTSUPP. */
	int (*set_busy_poll)(struct hv_kvp_transport *t, bool on);
};

extern const struct kvp_transport_ops kvp_transport_chan_ops;
extern const struct kvp_transport_ops kvp_transport_kernel_ops;

struct hv_kvp_transport {
	const struct kvp_transport_ops *ops;
	struct hv_kvp_transport_status status;
	/* The one packet buffer: see transport_chan.c and transport_kernel.c. */
	uint8_t *buf;
	size_t buf_size;
	/* Kept here, not on the stack: together they are about 20 KiB. */
	struct hv_kvp_request req, reply;
	/* Channel. */
	struct hv_dev *dev;
	struct hv_chan *chan;
	bool busy_poll;
	/*
	 * A reply the host's full ring could not take yet: it stays in buf
	 * (at held_payload) and no other message is read until it is sent.
	 */
	bool held;
	uint8_t *held_payload;
	size_t held_len;
	uint64_t held_trans_id;
	struct hv_kvp_event held_ev;
	/* Kernel. */
	int fd;
};

/* A transport with `buf_size` bytes of (8-byte aligned) buffer, zeroed. */
int kvp_transport_alloc(const struct kvp_transport_ops *ops, size_t buf_size,
			struct hv_kvp_transport **ret);

/* Ask the handler about t->req; the answer is in t->reply. */
uint32_t kvp_transport_run(struct hv_kvp_transport *t, struct hv_kvp_handler *handler);

/* Tell the observer (may be NULL) about one message. */
void kvp_transport_tell(hv_kvp_observer_fn *observer, void *ctx, int error,
			bool replied, uint32_t status, const struct hv_kvp_request *req);

/*
 * handler.c: the IntegrationServicesVersion Linux's daemon reports is the
 * one the kernel returned to REGISTER1; the kernel transport hands it
 * over. NULL (or "") goes back to the library's own version.
 */
int kvp_handler_ic_version_set(struct hv_kvp_handler *handler, const char *version);

#endif
