/* SPDX-License-Identifier: ISC */
/*
 * hvdump: print every packet the host sends on a VMBus device's primary
 * channel.
 *
 * This is also the smallest complete userspace VMBus driver libhvuio
 * allows, written to be read: find the device, open it, open its
 * channel, then loop "receive until empty, wait". Everything it uses is
 * public API (hvuio/hvuio.h); a driver of your own starts the same way
 * and replaces dump_packet() with its protocol.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hvuio/hvuio.h>

#include "lib/vmbus/hvuio_private.h"

static const char usage[] =
	"usage: hvdump [--busy-poll] [--count n] [--reopen] [--root dir]\n"
	"              [--timeout seconds] device\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* xxd's layout: offset, 16 bytes in pairs, the printable ones. */
static void hexdump(const uint8_t *p, size_t len)
{
	size_t off, i;

	for (off = 0; off < len; off += 16) {
		printf("  %08zx:", off);
		for (i = off; i < off + 16; i++) {
			if (i % 2 == 0)
				putchar(' ');
			if (i < len)
				printf("%02x", p[i]);
			else
				fputs("  ", stdout);
		}
		fputs("  ", stdout);
		for (i = off; i < off + 16 && i < len; i++)
			putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
		putchar('\n');
	}
}

static void dump_packet(unsigned long n, const struct hv_chan_pkt *pkt)
{
	uint32_t i;

	printf("packet %lu: type %u flags 0x%04x trans_id 0x%016llx header %u payload %u\n",
	       n, pkt->type, pkt->flags, (unsigned long long)pkt->trans_id,
	       pkt->header_len, pkt->payload_len);
	/* The library checked these headers against header_len already. */
	if (pkt->type == HV_RING_PKT_DATA_USING_XFER_PAGES) {
		printf("  transfer pages: set %u, sender owns %u, %u ranges\n",
		       pkt->xfer.pageset_id, pkt->xfer.sender_owns, pkt->xfer.range_count);
		for (i = 0; i < pkt->xfer.range_count; i++)
			printf("    range %u: offset %u count %u\n", i,
			       pkt->xfer.ranges[i].byte_offset, pkt->xfer.ranges[i].byte_count);
	} else if (pkt->type == HV_RING_PKT_DATA_USING_GPA_DIRECT) {
		printf("  gpa direct: %u ranges\n", pkt->gpa.range_count);
	}
	hexdump(pkt->payload, pkt->payload_len);
}

/*
 * lsvmbus(8) names classes "[Data Exchange]" or "Synthetic SCSI
 * Controller": accept the name with or without its brackets.
 */
static bool class_matches(const char *name, const char *want)
{
	size_t len = strlen(name);

	if (!strcasecmp(name, want))
		return true;
	return len > 2 && name[0] == '[' && name[len - 1] == ']' &&
	       strlen(want) == len - 2 && !strncasecmp(name + 1, want, len - 2);
}

/*
 * hv_dev_open takes an instance or class GUID; a class name is turned
 * into the instance GUID of the first device of that class.
 */
static int open_device(const char *root, const char *which, struct hv_dev **dev)
{
	struct hv_vmbus_list *list;
	int err;
	size_t i;

	err = hv_dev_open(root, which, dev);
	if (err != -ENOENT)
		return err;
	err = hv_vmbus_list_new(root, &list);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < list->count; i++) {
		if (class_matches(list->devices[i].class_name, which)) {
			err = hv_dev_open(root, list->devices[i].instance, dev);
			break;
		}
	}
	hv_vmbus_list_free(list);
	return err;
}

/*
 * Open the device and its primary channel. With reopen, a device that is
 * not there (yet, or any more) is looked for again every 50 ms until it
 * is, or until a signal.
 */
static int open_all(const char *root, const char *which, bool reopen, bool busy,
		    struct hv_dev **dev, struct hv_chan **chan)
{
	const struct timespec pause = { 0, 50 * 1000 * 1000 };
	int err;

	for (;;) {
		err = open_device(root, which, dev);
		if (err == 0) {
			err = hv_chan_open(*dev, chan);
			if (err == 0)
				break;
			hv_dev_close(*dev);
		}
		if (!reopen || interrupted)
			return err;
		nanosleep(&pause, NULL);
	}
	hv_chan_set_busy_poll(*chan, busy);
	printf("device %s%s, channel %u\n", hv_dev_instance(*dev),
	       hv_dev_is_sim(*dev) ? " (sim)" : "", hv_chan_relid(*chan));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "busy-poll", no_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "reopen", no_argument, NULL, 'R' },
		{ "root", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Packets are copied whole: the host cannot change a copy. */
	static uint64_t buf[HV_RING_DEFAULT_MAX_PKT / sizeof(uint64_t)];
	struct sigaction sa = { .sa_handler = on_signal };
	const char *root = "/";
	unsigned long count = 0, seen = 0;
	int timeout_ms = -1, status = 1, c, err;
	bool busy = false, reopen = false;
	struct hv_dev *dev;
	struct hv_chan *chan;
	struct hv_chan_pkt pkt;
	char *end;

	while ((c = getopt_long(argc, argv, "bc:Rr:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			busy = true;
			break;
		case 'c':
			count = strtoul(optarg, &end, 10);
			if (*end || end == optarg)
				goto bad_usage;
			break;
		case 'R':
			reopen = true;
			break;
		case 'r':
			root = optarg;
			break;
		case 't':
			timeout_ms = (int)strtol(optarg, &end, 10) * 1000;
			if (*end || end == optarg || timeout_ms < 0 || timeout_ms > 86400000)
				goto bad_usage;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc - 1)
		goto bad_usage;

	/* No SA_RESTART: ^C must end hv_chan_wait's sleep with -EINTR. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Opening /dev/uioN is what opens the channel with the host. */
	err = open_all(root, argv[optind], false, busy, &dev, &chan);
	if (err) {
		fprintf(stderr, "hvdump: %s: %s\n", argv[optind], strerror(-err));
		return 1;
	}

	while (!interrupted && (count == 0 || seen < count)) {
		err = hv_chan_recv(chan, buf, sizeof(buf), &pkt);
		if (err == 0) {
			dump_packet(++seen, &pkt);
			continue;
		}
		if (err == -EMSGSIZE) {
			/* Dropped by the library; the channel goes on. */
			fprintf(stderr, "hvdump: packet larger than %u bytes dropped\n",
				HV_RING_DEFAULT_MAX_PKT);
			continue;
		}
		if (err == -EAGAIN) {
			/* Empty: sleep until the host sends (or spin, with --busy-poll). */
			fflush(stdout);
			err = hv_chan_wait(chan, timeout_ms);
			if (err == -EINTR)
				continue;
		}
		if (err == -ENODEV && reopen) {
			/* Everything goes: the device may return as another uioN. */
			fprintf(stderr, "hvdump: device rescinded by the host; waiting for it "
				"to be offered again\n");
			fflush(stdout);
			hv_chan_close(chan);
			hv_dev_close(dev);
			err = open_all(root, argv[optind], true, busy, &dev, &chan);
			if (err) {
				/* Only a signal ends the wait. */
				fflush(stdout);
				return 0;
			}
			continue;
		}
		if (err)
			break;
	}
	fflush(stdout);

	if (interrupted || (count && seen == count)) {
		status = 0;
	} else if (err == -ETIMEDOUT) {
		fprintf(stderr, "hvdump: no packet for %d seconds\n", timeout_ms / 1000);
		status = 0;
	} else if (err == -ENODEV) {
		/* The host took the device away; it may come back as another uioN. */
		fprintf(stderr, "hvdump: device rescinded by the host\n");
		status = 2;
	} else {
		fprintf(stderr, "hvdump: receive: %s\n", strerror(-err));
	}
	hv_chan_close(chan);
	hv_dev_close(dev);
	return status;

bad_usage:
	fputs(usage, stderr);
	return 1;
}
