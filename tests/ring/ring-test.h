/* SPDX-License-Identifier: ISC */
/*
 * Helpers shared by the ring suites. They play the peer: they read and
 * write the ring header and packets by their byte offsets as the host lays
 * them out (struct hv_ring_buffer and struct vmpacket_descriptor in Linux's
 * include/linux/hyperv.h), never through lib/ring's own structures, so the
 * tests hold the library to the wire format and not to itself.
 */
#ifndef HVUIO_TESTS_RING_TEST_H
#define HVUIO_TESTS_RING_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <hvuio/ring.h>

/* Header fields, byte offsets into the header page. */
#define RT_WRITE_INDEX     0u
#define RT_READ_INDEX      4u
#define RT_INTERRUPT_MASK  8u
#define RT_PENDING_SEND_SZ 12u
#define RT_FEATURE_BITS    64u
#define RT_FEAT_PENDING_SEND_SZ 0x1u

/* Descriptor fields, byte offsets from the start of a packet. */
#define RT_DESC_TYPE     0u
#define RT_DESC_OFFSET8  2u
#define RT_DESC_LEN8     4u
#define RT_DESC_FLAGS    6u
#define RT_DESC_TRANS_ID 8u

#define RT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fill byte for fresh regions: padding the library writes must be zeros. */
#define RT_POISON 0xa5

/*
 * A ring region whose last byte is followed by a PROT_NONE page, so that a
 * read or write past the end faults with or without sanitizers. A second
 * inaccessible page sits below the mapping.
 */
struct rt_region {
	uint8_t *base;     /* header page */
	size_t size;       /* header + data */
	size_t hdr_size;
	uint32_t dsize;
	void *map;
	size_t map_len;
};

void rt_region_init(struct rt_region *rg, size_t size, size_t hdr_size);
void rt_region_fini(struct rt_region *rg);
uint8_t *rt_data(const struct rt_region *rg);

/* Header access; atomic so that the concurrent suites stay race-free. */
uint32_t rt_hdr_get(const struct rt_region *rg, uint32_t off);
void rt_hdr_set(const struct rt_region *rg, uint32_t off, uint32_t v);

/* Data-area access at a ring position, wrapping at dsize. */
void rt_ring_read(const struct rt_region *rg, uint32_t pos, void *dst, size_t len);
void rt_ring_write(const struct rt_region *rg, uint32_t pos, const void *src, size_t len);
uint16_t rt_ring_get16(const struct rt_region *rg, uint32_t pos);
uint64_t rt_ring_get64(const struct rt_region *rg, uint32_t pos);

/*
 * Put a packet on the ring the way a host producer does, starting at
 * `pos`: the descriptor with the given fields, `body` (type-specific header
 * then payload), zero padding to len8*8, the trailer. Returns the position
 * after the trailer. Nothing is checked: hostile tests pass any values.
 */
uint32_t rt_put_packet(const struct rt_region *rg, uint32_t pos, uint16_t type,
		       uint16_t offset8, uint16_t len8, uint16_t flags,
		       uint64_t trans_id, const void *body, size_t body_len);

/* A plain inband packet with `len` payload bytes; returns the end. */
uint32_t rt_put_inband(const struct rt_region *rg, uint32_t pos,
		       uint64_t trans_id, const void *payload, size_t len);

/* Bytes a packet with `payload` bytes after a 16-byte header takes. */
static inline uint32_t rt_pkt_total(size_t payload)
{
	return (uint32_t)(((16 + payload + 7) & ~(size_t)7) + 8);
}

static inline uint32_t rt_wrap(const struct rt_region *rg, uint64_t pos)
{
	return (uint32_t)(pos % rg->dsize);
}

/* Deterministic test bytes: a function of (seed, index). */
void rt_pattern(void *buf, size_t len, uint32_t seed);
bool rt_pattern_ok(const void *buf, size_t len, uint32_t seed);

/* Attach to the region, failing the test on error. */
struct hv_ring *rt_ring_new(const struct rt_region *rg, uint32_t max_pkt);

/* Set both indices of a ring that nobody is attached to. */
void rt_set_indices(const struct rt_region *rg, uint32_t w, uint32_t r);

/* Send a plain inband packet through the library; returns its error. */
int rt_send(struct hv_ring *ring, uint64_t trans_id, const void *payload,
	    size_t len, bool *need_signal);

/* The suites' cases, one group per file. */
void rt_add_layout_tests(Suite *s);
void rt_add_consumer_tests(Suite *s);
void rt_add_signal_tests(Suite *s);
void rt_add_hostile_tests(Suite *s);

#endif
