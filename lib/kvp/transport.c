/* SPDX-License-Identifier: ISC */
/*
 * What every KVP transport does the same way, and the public entry
 * points, which dispatch through the kind's ops: transport_chan.c (uio
 * and sim) and transport_kernel.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/kvp_service.h"
#include "lib/common/compiler.h"
#include "lib/common/opts.h"
#include "transport.h"

int kvp_transport_alloc(const struct kvp_transport_ops *ops, size_t buf_size,
			struct hv_kvp_transport **ret)
{
	struct hv_kvp_transport *t;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* hv_chan_recv reads descriptors through typed pointers: 8-byte aligned. */
	t->buf = aligned_alloc(8, ALIGN8(buf_size));
	if (!t->buf) {
		free(t);
		return -ENOMEM;
	}
	memset(t->buf, 0, ALIGN8(buf_size));
	t->buf_size = buf_size;
	t->ops = ops;
	t->fd = -1;
	*ret = t;
	return 0;
}

uint32_t kvp_transport_run(struct hv_kvp_transport *t, struct hv_kvp_handler *handler)
{
	return hv_kvp_handler_run(handler, &t->req, &t->reply);
}

void kvp_transport_tell(hv_kvp_observer_fn *observer, void *ctx, int error,
			bool replied, uint32_t status, const struct hv_kvp_request *req)
{
	struct hv_kvp_event ev;

	if (!observer)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.error = error;
	ev.replied = replied;
	ev.status = status;
	ev.req = error ? NULL : req;
	observer(ctx, &ev);
}

HV_EXPORT void hv_kvp_transport_close(struct hv_kvp_transport *t)
{
	if (!t)
		return;
	t->ops->close(t);
	free(t->buf);
	free(t);
}

HV_EXPORT int hv_kvp_transport_fd(const struct hv_kvp_transport *t)
{
	if (!t)
		return -EINVAL;
	return t->ops->fd(t);
}

HV_EXPORT int hv_kvp_transport_set_busy_poll(struct hv_kvp_transport *t, bool on)
{
	if (!t)
		return -EINVAL;
	if (!t->ops->set_busy_poll)
		return -EOPNOTSUPP;
	return t->ops->set_busy_poll(t, on);
}

HV_EXPORT int hv_kvp_transport_process(struct hv_kvp_transport *t,
				       struct hv_kvp_handler *handler,
				       hv_kvp_observer_fn *observer, void *ctx)
{
	if (!t || !handler)
		return -EINVAL;
	return t->ops->process(t, handler, observer, ctx);
}

HV_EXPORT int hv_kvp_transport_status_get(const struct hv_kvp_transport *t,
					  struct hv_kvp_transport_status *status)
{
	if (!t || !status)
		return -EINVAL;
	return opts_out(status, &t->status, sizeof(t->status));
}
