/* SPDX-License-Identifier: ISC */
/*
 * /dev/uioN of uio_hv_generic: the only code that opens, maps, reads and
 * writes a real uio node.
 *
 * uio facts (Linux's drivers/uio/uio.c): map N is selected by the mmap
 * offset N * page size; read() and write() take exactly 4 bytes. When
 * the device goes away each generation says it its own way: read(),
 * write() and poll() give EIO once hv_uio_rescind cleared info->irq;
 * after uio_unregister_device, write() gives EINVAL (info is NULL) and
 * read() EIO; a node whose device was removed can give ENODEV or ENXIO
 * from the character-device layer. A 4-byte read or write fails with
 * none of these for any other reason, so each is a rescind.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev.h"

bool vmbus_dev_uio_errno_gone(int e)
{
	return e == EIO || e == EINVAL || e == ENODEV || e == ENXIO;
}

static int uio_open(struct hv_dev *dev, const char *path)
{
	unsigned int i;

	/*
	 * Opening makes the kernel open the channel with the host
	 * (hv_uio_open). O_NONBLOCK lets hv_dev_ack drain without
	 * sleeping; uio ignores it for write().
	 */
	dev->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (dev->fd < 0)
		return -errno;
	for (i = 0; i < dev->nmaps; i++) {
		struct vmbus_dev_map *m = &dev->maps[i];
		size_t len = (m->size + dev->page_size - 1) & ~(dev->page_size - 1);
		void *p;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
			 (off_t)i * (off_t)dev->page_size);
		if (p == MAP_FAILED)
			return -errno;
		m->addr = p;
		m->len = len;
	}
	return 0;
}

static int uio_read_event(struct hv_dev *dev, uint32_t *value)
{
	uint32_t v;
	ssize_t n;

	do
		n = read(dev->fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(v)) {
		*value = v;
		return 0;
	}
	if (n >= 0)
		return -EIO;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	return vmbus_dev_uio_errno_gone(errno) ? -ENODEV : -errno;
}

static int uio_write(struct hv_dev *dev, uint32_t value)
{
	ssize_t n;

	do
		n = write(dev->fd, &value, sizeof(value));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(value))
		return 0;
	if (n >= 0)
		return -EIO;
	return vmbus_dev_uio_errno_gone(errno) ? -ENODEV : -errno;
}

const struct vmbus_dev_ops vmbus_dev_uio_ops = {
	.open = uio_open,
	.read_event = uio_read_event,
	.write = uio_write,
};
