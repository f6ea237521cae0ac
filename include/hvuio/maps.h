/* SPDX-License-Identifier: ISC */
/*
 * hv_dev maps: every memory region uio_hv_generic gives an open device,
 * for drivers that need more than the channel's rings (hv_chan(3)).
 *
 * The maps are those of the device's uio node (maps/mapN, N from 0), all
 * mapped by hv_dev_open and valid until hv_dev_close:
 *   txrx_rings    the primary channel's two rings (hv_chan_open uses them)
 *   int_page      the interrupt page the host signals through
 *   monitor_page  the monitor pages of monitored channels
 *   recv:<n>      a NIC's receive buffer, n its GPADL handle (decimal)
 *   send:<n>      a NIC's send buffer, likewise
 * A netvsc-style driver tells the host the GPADL handles of the receive
 * and send buffers (NVSP's SEND_RECV_BUF and SEND_SEND_BUF messages) and
 * then finds packets in the mapped buffers at the offsets the host gives.
 * The buffers exist only where the kernel made them (network devices on
 * kernels that have them); Linux's drivers/uio/uio_hv_generic.c names them.
 */
#ifndef HVUIO_MAPS_H
#define HVUIO_MAPS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hv_dev;

/* Room for a map's name and its NUL. */
#define HV_VMBUS_MAP_NAME_SIZE 32

/* How many maps the device has (1 to 5). */
unsigned int hv_dev_map_count(const struct hv_dev *dev);

/*
 * Map `index`: its address in this process, its size in bytes and its
 * name; any of the three may be NULL. The name is read from sysfs on each
 * call. Returns 0, -EINVAL (NULL dev), -ENOENT (no such map), -ESTALE
 * (sysfs no longer shows the maps the device was opened with), or the
 * errors of reading sysfs.
 */
int hv_dev_map_get(const struct hv_dev *dev, unsigned int index, void **addr,
		   uint64_t *size, char name[HV_VMBUS_MAP_NAME_SIZE]);

/*
 * The index of the map called `name`; "recv" and "send" also find
 * "recv:<n>" and "send:<n>". Returns 0, -EINVAL, -ENOENT (no such map),
 * or the errors of hv_dev_map_get.
 */
int hv_dev_map_find(const struct hv_dev *dev, const char *name, unsigned int *index);

/*
 * The GPADL handle of the receive ("recv") or send ("send") buffer, from
 * its map's name. Returns 0, -EINVAL (NULL argument, another buffer name),
 * -ENOENT (the device has no such buffer), -EBADMSG (a name that is not
 * "recv:" or "send:" and a decimal 32-bit number), or the errors of
 * hv_dev_map_get.
 */
int hv_dev_gpadl_get(const struct hv_dev *dev, const char *buffer, uint32_t *gpadl);

#ifdef __cplusplus
}
#endif

#endif
