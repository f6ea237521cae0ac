/* SPDX-License-Identifier: ISC */
/*
 * hv-fcopy-kernel-relay: Linux's hv_utils fcopy driver (drivers/hv/
 * hv_fcopy.c, Linux 6.9 and earlier) played in userspace for bench/fcopy,
 * so that a daemon of the kernel-device protocol is fed by the same host
 * and the same messages as a uio daemon. On the guest side of a sim
 * device it does what the driver does: it negotiates the versions itself,
 * waits for the host's interrupt, hands each fcopy message to the daemon
 * on a SOCK_SEQPACKET socket in the driver's form (START with both names
 * turned into UTF-8, 1088 bytes; WRITE as the 6196-byte structure; other
 * operations as long as the host's packet, from the fcopy header on),
 * waits up to 30 s (HV_UTIL_TIMEOUT) for the daemon's 32-bit status and
 * answers the host with it. The daemon registers first with version 1
 * and gets 1 back (fcopy_handle_handshake).
 *
 * usage: hv-fcopy-kernel-relay ROOT SOCKET
 * Prints "listening" once the socket is there; exits when the host
 * closes the channel.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hvuio/chan.h>
#include <hvuio/fcopy_msg.h>
#include <hvuio/ic.h>
#include <hvuio/vmbus.h>

#define UTIL_TIMEOUT_MS 30000

/* The driver's receive buffer: two pages (hv_fcopy_init). */
static uint64_t buf[8192 / 8];
static struct hv_fcopy_wire_start kstart;

static int daemon_status(int fd, const void *msg, size_t len, uint32_t *status)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	*status = HV_IC_E_FAIL;
	if (send(fd, msg, len, 0) != (ssize_t)len)
		return -1;
	if (poll(&p, 1, UTIL_TIMEOUT_MS) <= 0)
		return 0;  /* fcopy_timeout_func: the host hears E_FAIL */
	return recv(fd, status, sizeof(*status), 0) == (ssize_t)sizeof(*status) ? 0 : -1;
}

static int relay(struct hv_chan *chan, int dfd, const struct hv_chan_pkt *pkt)
{
	const struct hv_ic_versions *versions;
	uint8_t *p = (uint8_t *)buf + (pkt->payload - (const uint8_t *)buf);
	size_t len = pkt->payload_len, reply_len = len, klen;
	struct hv_fcopy_request req;
	struct hv_ic_hdr hdr;
	uint32_t status;
	const void *kmsg;

	if (len < HV_IC_DATA_OFFSET)
		return 0;
	memcpy(&hdr, p + sizeof(struct hv_ic_pipe_hdr), sizeof(hdr));
	if (hdr.icmsgtype == HV_IC_MSGTYPE_NEGOTIATE) {
		hv_ic_guest_versions_get(HV_IC_MSGTYPE_FCOPY, &versions);
		hv_ic_version_negotiate(p, sizeof(buf) - (size_t)(p - (uint8_t *)buf), len,
					versions, NULL, NULL, &reply_len);
		return hv_chan_send(chan, p, reply_len, pkt->trans_id, 0);
	}
	/* The driver drops other types and messages without an fcopy header. */
	if (hdr.icmsgtype != HV_IC_MSGTYPE_FCOPY || len < HV_IC_DATA_OFFSET + sizeof(struct hv_fcopy_wire_hdr))
		return 0;
	kmsg = p + HV_IC_DATA_OFFSET;
	klen = len;
	switch (hv_fcopy_msg_parse(p + HV_IC_DATA_OFFSET, len - HV_IC_DATA_OFFSET, HV_FCOPY_LAYOUT_CHANNEL, &req)
		? UINT32_MAX : req.operation) {
	case HV_FCOPY_OP_START:
		hv_fcopy_msg_start_build(&kstart, sizeof(kstart), HV_FCOPY_LAYOUT_KERNEL,
					 req.file_name, req.path_name, req.flags, req.file_size,
					 &klen);
		kmsg = &kstart;
		break;
	case HV_FCOPY_OP_WRITE:
		klen = sizeof(struct hv_fcopy_wire_write);
		break;
	}
	if (daemon_status(dfd, kmsg, klen, &status) < 0)
		return -EPIPE;
	hv_ic_response_prepare(p, len, status);
	return hv_chan_send(chan, p, len, pkt->trans_id, 0);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *d;
	struct hv_dev *dev = NULL;
	struct hv_chan *chan = NULL;
	uint32_t v;
	int lfd, dfd, err;

	if (argc != 3 || strlen(argv[2]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: hv-fcopy-kernel-relay ROOT SOCKET\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[2]);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	unlink(argv[2]);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
		perror(argv[2]);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	dfd = accept(lfd, NULL, NULL);
	if (dfd < 0 || recv(dfd, &v, sizeof(v), 0) != (ssize_t)sizeof(v) || v != 1) {
		fprintf(stderr, "hv-fcopy-kernel-relay: no registration\n");
		return 1;
	}
	send(dfd, &v, sizeof(v), 0);
	/* As hv_utils: the channel is open whatever the daemon does. */
	err = hv_vmbus_list_new(argv[1], &list);
	d = err ? NULL : hv_vmbus_list_find(list, HV_FCOPY_GUID);
	err = d ? hv_dev_open(argv[1], d->instance, &dev) : -ENOENT;
	if (!err)
		err = hv_chan_open(dev, &chan);
	hv_vmbus_list_free(list);
	if (err) {
		fprintf(stderr, "hv-fcopy-kernel-relay: opening the device: %s\n", strerror(-err));
		return 1;
	}
	for (;;) {
		struct hv_chan_pkt pkt;

		err = hv_chan_recv(chan, buf, sizeof(buf), &pkt);
		if (err == 0)
			err = relay(chan, dfd, &pkt);
		else if (err == -EAGAIN)
			err = hv_chan_wait(chan, -1);
		if (err && err != -EAGAIN && err != -EINTR)
			break;
	}
	hv_chan_close(chan);
	hv_dev_close(dev);
	return err == -ENODEV ? 0 : 1;
}
