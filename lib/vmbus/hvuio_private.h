/* SPDX-License-Identifier: ISC */
/*
 * Entry points libhvuio exports for the project's own libhvkvp and tools
 * only: version node HVUIO_PRIVATE of lib/libhvuio.map, not part of the
 * ABI, never installed.
 */
#include <stdbool.h>

struct hv_dev;

/* Whether dev is a sim device (its node is a socket a host listens on). */
bool hv_dev_is_sim(const struct hv_dev *dev);
