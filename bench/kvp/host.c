/* SPDX-License-Identifier: ISC */
/*
 * The host of a sim device, reduced to what a benchmark needs: tools/hvsim's
 * sim root and device (rings, interrupts, the guest's signals), the
 * library's negotiation and KVP codec, and nothing printed per request.
 * Like Hyper-V, one transaction is outstanding at a time.
 */
#include <errno.h>
#include <string.h>

#include "bench-kvp.h"

static int on_connect(struct sim_dev *d, void *arg)
{
	struct bk_host *h = arg;
	const struct hv_ic_versions *offer;
	size_t len;
	int err;

	err = hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &offer);
	if (err < 0)
		return err;
	err = hv_ic_negotiate_request_build(h->req, sizeof(h->req), offer, 0, &len);
	if (err < 0)
		return err;
	return sim_dev_send(d, h->req, len);
}

void bk_host_open(struct bk_host *h, const char *root)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->dev.sr = &h->sr;
	h->dev.listen_fd = -1;
	h->dev.conn_fd = -1;
	h->dev.timeout_ms = 10000;
	h->dev.on_connect = on_connect;
	h->dev.on_connect_arg = h;
	err = sim_root_create(root, sim_devtype_find("kvp"), NULL, &h->sr);
	if (!err)
		err = sim_root_offer(&h->sr, 0);
	if (!err)
		err = sim_dev_listen(&h->dev);
	if (err < 0)
		bk_die("sim root %s: %s", root, strerror(-err));
}

/*
 * The next packet from the guest. Spinning: look at the ring again and
 * again (taking in the guest's writes each time, so that its socket never
 * fills), as a host would that polls instead of waiting for the signal.
 */
static int host_recv(struct bk_host *h, size_t *len, int timeout_ms)
{
	uint16_t type;
	int err;

	*len = sizeof(h->reply);
	if (!h->spin)
		return sim_dev_recv(&h->dev, h->reply, len, NULL, &type, timeout_ms);
	double end = bk_now() + timeout_ms / 1000.0;
	do {
		h->dev.ch[0].rx_signalled = true;
		*len = sizeof(h->reply);
		err = sim_dev_recv(&h->dev, h->reply, len, NULL, &type, 0);
		if (err != -ETIMEDOUT)
			return err;
	} while (bk_now() < end);
	return -ETIMEDOUT;
}

int bk_host_wait_ready(struct bk_host *h, int timeout_ms)
{
	const struct hv_ic_versions *offer;
	size_t len;
	int err;

	err = sim_dev_wait_guest(&h->dev, timeout_ms);
	if (err < 0)
		return err;
	err = host_recv(h, &len, timeout_ms);
	if (err < 0)
		return err;
	hv_ic_host_versions_get(HV_IC_MSGTYPE_KVPEXCHANGE, &offer);
	err = hv_ic_negotiate_reply_parse(h->reply, len, offer, &h->fw, &h->msg);
	if (err < 0)
		return err;
	h->dev.negotiated = true;
	return 0;
}

int bk_host_request(struct bk_host *h, const struct hv_kvp_request *req,
		    uint32_t *status, struct hv_kvp_request *res)
{
	size_t len;
	int err;

	err = hv_kvp_msg_request_build(h->req, sizeof(h->req), req, h->fw, h->msg,
				       ++h->tid, &len);
	if (err < 0)
		return err;
	err = sim_dev_send(&h->dev, h->req, len);
	if (err < 0)
		return err;
	err = host_recv(h, &len, h->dev.timeout_ms);
	if (err < 0)
		return err;
	return hv_kvp_msg_reply_decode(h->reply, len, req->operation, 0, status, res);
}

int bk_host_request_fn(void *ctx, uint8_t op, const char *key, const char *value,
		       uint32_t index, uint32_t *status, char *value_out, size_t value_size)
{
	struct bk_host *h = ctx;
	/* Two requests of ~3 KiB each: static, one host per thread at most. */
	static __thread struct hv_kvp_request req, res;
	int err;

	memset(&req, 0, offsetof(struct hv_kvp_request, key));
	req.operation = op;
	req.pool = HV_KVP_POOL_EXTERNAL;
	req.index = index;
	req.key[0] = '\0';
	req.value[0] = '\0';
	if (key) {
		req.key_len = strlen(key);
		memcpy(req.key, key, req.key_len + 1);
	}
	if (value) {
		req.value_type = HV_KVP_REG_SZ;
		req.value_len = strlen(value);
		memcpy(req.value, value, req.value_len + 1);
	}
	err = bk_host_request(h, &req, status, &res);
	if (err < 0)
		return err;
	if (value_out && value_size) {
		size_t n = *status == HV_IC_S_OK ? strnlen(res.value, sizeof(res.value)) : 0;

		if (n >= value_size)
			n = value_size - 1;
		memcpy(value_out, res.value, n);
		value_out[n] = '\0';
	}
	return 0;
}

void bk_host_close(struct bk_host *h)
{
	sim_dev_disconnect(&h->dev);
	sim_dev_unlisten(&h->dev);
	sim_root_destroy(&h->sr);
}
