/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring-test.h"

void rt_region_init(struct rt_region *rg, size_t size, size_t hdr_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (size + page - 1) / page * page;
	uint8_t *map;

	ck_assert_uint_eq(size % 8, 0);
	rg->map_len = page + body + page;
	map = mmap(NULL, rg->map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map, page, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(map + page + body, page, PROT_NONE), 0);
	rg->map = map;
	rg->base = map + page + body - size;
	rg->size = size;
	rg->hdr_size = hdr_size;
	rg->dsize = (uint32_t)(size - hdr_size);
	memset(rg->base, 0, hdr_size);
	memset(rg->base + hdr_size, RT_POISON, size - hdr_size);
}

void rt_region_fini(struct rt_region *rg)
{
	if (rg->map)
		munmap(rg->map, rg->map_len);
	rg->map = NULL;
}

uint8_t *rt_data(const struct rt_region *rg)
{
	return rg->base + rg->hdr_size;
}

uint32_t rt_hdr_get(const struct rt_region *rg, uint32_t off)
{
	return __atomic_load_n((uint32_t *)(rg->base + off), __ATOMIC_ACQUIRE);
}

void rt_hdr_set(const struct rt_region *rg, uint32_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(rg->base + off), v, __ATOMIC_SEQ_CST);
}

void rt_ring_read(const struct rt_region *rg, uint32_t pos, void *dst, size_t len)
{
	uint8_t *d = dst;
	size_t i;

	for (i = 0; i < len; i++)
		d[i] = rt_data(rg)[rt_wrap(rg, (uint64_t)pos + i)];
}

void rt_ring_write(const struct rt_region *rg, uint32_t pos, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t i;

	for (i = 0; i < len; i++)
		rt_data(rg)[rt_wrap(rg, (uint64_t)pos + i)] = s[i];
}

uint16_t rt_ring_get16(const struct rt_region *rg, uint32_t pos)
{
	uint8_t b[2];

	rt_ring_read(rg, pos, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

uint64_t rt_ring_get64(const struct rt_region *rg, uint32_t pos)
{
	uint8_t b[8];
	uint64_t v = 0;
	int i;

	rt_ring_read(rg, pos, b, 8);
	for (i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t rt_put_packet(const struct rt_region *rg, uint32_t pos, uint16_t type,
		       uint16_t offset8, uint16_t len8, uint16_t flags,
		       uint64_t trans_id, const void *body, size_t body_len)
{
	uint8_t desc[16], trailer[8];
	size_t len = (size_t)len8 * 8, i;
	static const uint8_t zero;

	put_le(desc + RT_DESC_TYPE, type, 2);
	put_le(desc + RT_DESC_OFFSET8, offset8, 2);
	put_le(desc + RT_DESC_LEN8, len8, 2);
	put_le(desc + RT_DESC_FLAGS, flags, 2);
	put_le(desc + RT_DESC_TRANS_ID, trans_id, 8);
	rt_ring_write(rg, pos, desc, sizeof(desc));
	if (body_len)
		rt_ring_write(rg, rt_wrap(rg, (uint64_t)pos + 16), body, body_len);
	/* A length that cannot fit would overwrite the descriptor: leave it. */
	if (len + 8 > rg->dsize)
		return rt_wrap(rg, (uint64_t)pos + 16);
	for (i = 16 + body_len; i < len; i++)
		rt_ring_write(rg, rt_wrap(rg, (uint64_t)pos + i), &zero, 1);
	if (len < 16)
		len = 16;
	put_le(trailer, (uint64_t)pos << 32, 8);
	rt_ring_write(rg, rt_wrap(rg, (uint64_t)pos + len), trailer, 8);
	return rt_wrap(rg, (uint64_t)pos + len + 8);
}

uint32_t rt_put_inband(const struct rt_region *rg, uint32_t pos,
		       uint64_t trans_id, const void *payload, size_t len)
{
	return rt_put_packet(rg, pos, HV_RING_PKT_DATA_INBAND, 2,
			     (uint16_t)((16 + len + 7) / 8), 0, trans_id,
			     payload, len);
}

static uint8_t pattern_byte(uint32_t seed, size_t i)
{
	uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	return (uint8_t)(x >> 15);
}

void rt_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
}

bool rt_pattern_ok(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, i))
			return false;
	return true;
}

struct hv_ring *rt_ring_new(const struct rt_region *rg, uint32_t max_pkt)
{
	struct hv_ring *ring = NULL;

	ck_assert_int_eq(hv_ring_new(rg->base, rg->size, rg->hdr_size, max_pkt, &ring), 0);
	ck_assert_ptr_nonnull(ring);
	return ring;
}

void rt_set_indices(const struct rt_region *rg, uint32_t w, uint32_t r)
{
	rt_hdr_set(rg, RT_WRITE_INDEX, w);
	rt_hdr_set(rg, RT_READ_INDEX, r);
}

int rt_send(struct hv_ring *ring, uint64_t trans_id, const void *payload,
	    size_t len, bool *need_signal)
{
	struct hv_ring_pkt_info info = {
		.type = HV_RING_PKT_DATA_INBAND,
		.trans_id = trans_id,
	};
	struct iovec iov = { (void *)payload, len };

	return hv_ring_send(ring, &info, &iov, len ? 1 : 0, need_signal);
}
