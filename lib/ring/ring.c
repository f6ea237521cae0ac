/* SPDX-License-Identifier: ISC */
/*
 * The VMBus ring buffer protocol.
 *
 * Rules this file keeps (facts from Linux's drivers/hv/ring_buffer.c,
 * DPDK's drivers/bus/vmbus/vmbus_bufring.c and FreeBSD's vmbus_br.c):
 * - indices are byte offsets into the data area, multiples of 8; equal
 *   indices mean empty, so a writer never fills the ring completely;
 * - every packet is followed by an 8-byte trailer holding the write index
 *   at which it started, shifted into the upper 32 bits;
 * - a writer signals only when the ring went from empty to non-empty and
 *   the reader's interrupt mask is clear (Hyper-V throttles guests that
 *   interrupt it needlessly);
 * - a reader that frees room signals a writer blocked on pending_send_sz,
 *   but only when the room crossed the requested size in this batch.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/ring.h"
#include "lib/common/compiler.h"
#include "ring_wire.h"

#define RING_CACHE_LINE 64

/*
 * The producer's and the consumer's private fields sit on cache lines of
 * their own: when both sides of a ring live in one process (two threads),
 * a write to one must not evict the other's.
 */
struct hv_ring {
	struct ring_hdr *hdr;
	uint8_t *data;
	uint32_t dsize;
	uint32_t max_pkt;
	uint8_t *bounce;

	/*
	 * Producer: where the next reservation starts and what the peer can
	 * see. The single-producer path uses them with relaxed accesses,
	 * the multi-producer path with compare-and-swap.
	 */
	_Alignas(RING_CACHE_LINE) _Atomic uint32_t tx_reserved;
	_Atomic uint32_t tx_published;
	uint32_t tx_peer_read;   /* last read index seen: a lower bound */
	/*
	 * Set by hv_ring_send_mp, which does not keep tx_peer_read: after
	 * laps of multi-producer traffic the old bound may lie ahead of the
	 * consumer and promise room that is not free.
	 */
	_Atomic bool tx_peer_read_stale;

	/* Consumer: our read index; the shared copy is never read back. */
	_Alignas(RING_CACHE_LINE) uint32_t rx_read;
};

static inline uint32_t ring_advance(const struct hv_ring *ring, uint32_t pos,
				    uint32_t len)
{
	/* len < dsize, so one subtraction replaces the modulo. */
	pos += len;
	return pos >= ring->dsize ? pos - ring->dsize : pos;
}

/* Bytes from `from` up to `to` going forward. */
static inline uint32_t ring_distance(const struct hv_ring *ring, uint32_t from,
				     uint32_t to)
{
	return to >= from ? to - from : ring->dsize - from + to;
}

/* Bytes a producer at w may use while the consumer is at r. */
static inline uint32_t ring_free(const struct hv_ring *ring, uint32_t w, uint32_t r)
{
	return ring->dsize - ring_distance(ring, r, w);
}

static inline bool ring_index_ok(const struct hv_ring *ring, uint32_t idx)
{
	return idx < ring->dsize && (idx & 7u) == 0;
}

static inline uint32_t ring_copy_to(struct hv_ring *ring, uint32_t pos,
				    const void *src, size_t len)
{
	uint32_t room = ring->dsize - pos;

	if (likely(len < room)) {
		memcpy(ring->data + pos, src, len);
		return pos + (uint32_t)len;
	}
	memcpy(ring->data + pos, src, room);
	memcpy(ring->data, (const uint8_t *)src + room, len - room);
	return (uint32_t)len - room;
}

static inline void ring_copy_from(const struct hv_ring *ring, uint32_t pos,
				  void *dst, uint32_t len)
{
	uint32_t room = ring->dsize - pos;

	if (likely(len <= room)) {
		memcpy(dst, ring->data + pos, len);
		return;
	}
	memcpy(dst, ring->data + pos, room);
	memcpy((uint8_t *)dst + room, ring->data, len - room);
}

HV_EXPORT int hv_ring_new(void *region, size_t region_size, size_t header_size,
			  uint32_t max_pkt_size, struct hv_ring **ret)
{
	struct hv_ring *ring;
	size_t dsize;
	uint32_t w, r;

	if (!region || !ret || ((uintptr_t)region & 7u))
		return -EINVAL;
	if (header_size < HV_RING_HEADER_SIZE || (header_size & 7u) ||
	    region_size <= header_size)
		return -EINVAL;
	dsize = region_size - header_size;
	/* Room for one minimal packet, and indices that fit in 31 bits. */
	if ((dsize & 7u) || dsize < 64 || dsize > INT32_MAX)
		return -EINVAL;
	if (max_pkt_size == 0)
		max_pkt_size = HV_RING_DEFAULT_MAX_PKT;
	if (max_pkt_size < HV_RING_DESC_SIZE)
		return -EINVAL;

	ring = aligned_alloc(RING_CACHE_LINE, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	memset(ring, 0, sizeof(*ring));
	ring->bounce = malloc(max_pkt_size);
	if (!ring->bounce) {
		free(ring);
		return -ENOMEM;
	}
	ring->hdr = region;
	ring->data = (uint8_t *)region + header_size;
	ring->dsize = (uint32_t)dsize;
	ring->max_pkt = max_pkt_size;

	w = atomic_load_explicit(&ring->hdr->write_index, memory_order_acquire);
	r = atomic_load_explicit(&ring->hdr->read_index, memory_order_acquire);
	if (!ring_index_ok(ring, w) || !ring_index_ok(ring, r)) {
		hv_ring_free(ring);
		return -EBADMSG;
	}
	atomic_init(&ring->tx_reserved, w);
	atomic_init(&ring->tx_published, w);
	atomic_init(&ring->tx_peer_read_stale, false);
	ring->tx_peer_read = r;
	ring->rx_read = r;
	*ret = ring;
	return 0;
}

HV_EXPORT void hv_ring_free(struct hv_ring *ring)
{
	if (!ring)
		return;
	free(ring->bounce);
	free(ring);
}

HV_EXPORT void hv_ring_reset(struct hv_ring *ring)
{
	struct ring_hdr *hdr = ring->hdr;

	atomic_store_explicit(&hdr->write_index, 0, memory_order_relaxed);
	atomic_store_explicit(&hdr->read_index, 0, memory_order_relaxed);
	atomic_store_explicit(&hdr->interrupt_mask, 0, memory_order_relaxed);
	atomic_store_explicit(&hdr->pending_send_sz, 0, memory_order_relaxed);
	atomic_store_explicit(&hdr->feature_bits, RING_FEAT_PENDING_SEND_SZ,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	atomic_store_explicit(&ring->tx_reserved, 0, memory_order_relaxed);
	atomic_store_explicit(&ring->tx_published, 0, memory_order_relaxed);
	atomic_store_explicit(&ring->tx_peer_read_stale, false, memory_order_relaxed);
	ring->tx_peer_read = 0;
	ring->rx_read = 0;
}

HV_EXPORT uint32_t hv_ring_data_size(const struct hv_ring *ring)
{
	return ring->dsize;
}

/* ---- producer ---- */

struct ring_pkt_layout {
	/*
	 * struct vmpacket_descriptor as its two little-endian words: built
	 * in registers and stored whole, since a 16-byte copy of a struct
	 * just written field by field stalls on store forwarding.
	 */
	uint64_t desc[2];
	size_t body;      /* bytes from the iovecs */
	uint32_t padded;  /* descriptor + body + padding */
	uint32_t total;   /* padded + trailer: what the packet takes */
};

/* Inline: with the caller's one or two iovecs the loop folds away. */
static inline __attribute__((always_inline)) int
ring_layout(const struct hv_ring *ring, const struct hv_ring_pkt_info *info,
	    const struct iovec *iov, unsigned int iovcnt, struct ring_pkt_layout *l)
{
	uint32_t hlen = info->header_len ? info->header_len : HV_RING_DESC_SIZE;
	size_t body = 0, len;
	unsigned int i;

	if (iovcnt && !iov)
		return -EINVAL;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX / 2 - body)
			return -EMSGSIZE;
		body += iov[i].iov_len;
	}
	if (hlen < HV_RING_DESC_SIZE || (hlen & 7u) ||
	    hlen - HV_RING_DESC_SIZE > body)
		return -EINVAL;
	len = ALIGN8(HV_RING_DESC_SIZE + body);
	/* len8 is 16 bits wide, and the ring must keep 8 bytes free. */
	if (len > (size_t)UINT16_MAX * 8 || len + HV_RING_TRAILER_SIZE >= ring->dsize)
		return -EMSGSIZE;

	l->desc[0] = (uint64_t)info->type | (uint64_t)(hlen / 8) << 16 |
		     (uint64_t)(len / 8) << 32 | (uint64_t)info->flags << 48;
	l->desc[1] = info->trans_id;
	l->body = body;
	l->padded = (uint32_t)len;
	l->total = (uint32_t)len + HV_RING_TRAILER_SIZE;
	return 0;
}

/* Copy a laid-out packet at `start`; returns where it ends. */
static __attribute__((noinline)) uint32_t ring_fill(struct hv_ring *ring, uint32_t start,
			  const struct ring_pkt_layout *l,
			  const struct iovec *iov, unsigned int iovcnt)
{
	static const uint8_t zeros[8];
	uint64_t trailer = (uint64_t)start << 32;
	uint32_t pos;
	unsigned int i;

	pos = ring_copy_to(ring, start, &l->desc, sizeof(l->desc));
	for (i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			pos = ring_copy_to(ring, pos, iov[i].iov_base, iov[i].iov_len);
	pos = ring_copy_to(ring, pos, zeros,
			   l->padded - HV_RING_DESC_SIZE - l->body);
	return ring_copy_to(ring, pos, &trailer, sizeof(trailer));
}

/*
 * memcpy for payload pieces. Small packets are the ones where a call into
 * the C library's memcpy (through the PLT, then its size dispatch) costs
 * as much as the copy: up to 64 bytes, two overlapping fixed-size copies
 * that the compiler turns into a few vector moves.
 */
static inline void ring_memcpy(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n >= 16 && n <= 64) {
		if (n <= 32) {
			memcpy(dst, src, 16);
			memcpy(dst + n - 16, src + n - 16, 16);
		} else {
			memcpy(dst, src, 32);
			memcpy(dst + n - 32, src + n - 32, 32);
		}
		return;
	}
	memcpy(dst, src, n);
}

/*
 * ring_fill for a packet that ends before the end of the data area, the
 * common case: plain stores, no wrap checks, and the padding zeroed with
 * one word store that the payload copy then partly overwrites.
 */
static inline uint32_t ring_fill_flat(struct hv_ring *ring, uint32_t start,
				      const struct ring_pkt_layout *l,
				      const struct iovec *iov, unsigned int iovcnt)
{
	uint8_t *pkt = ring->data + start, *p = pkt + HV_RING_DESC_SIZE;
	uint64_t zero = 0, trailer = (uint64_t)start << 32;
	unsigned int i;

	/* padded >= 16, so for an empty packet the descriptor overwrites it. */
	memcpy(pkt + l->padded - 8, &zero, 8);
	memcpy(pkt, &l->desc[0], 8);
	memcpy(pkt + 8, &l->desc[1], 8);
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len) {
			ring_memcpy(p, iov[i].iov_base, iov[i].iov_len);
			p += iov[i].iov_len;
		}
	}
	memcpy(pkt + l->padded, &trailer, sizeof(trailer));
	return start + l->total;
}

/* The peer's read index, checked; -EBADMSG if it cannot be true. */
static int ring_peer_read_index(struct hv_ring *ring, uint32_t *r)
{
	uint32_t v = atomic_load_explicit(&ring->hdr->read_index,
					  memory_order_acquire);

	if (!ring_index_ok(ring, v))
		return -EBADMSG;
	*r = v;
	return 0;
}

HV_EXPORT int hv_ring_write(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
			    const struct iovec *iov, unsigned int iovcnt)
{
	struct ring_pkt_layout l;
	uint32_t w, r, seen;
	bool stale;
	int err;

	err = ring_layout(ring, info, iov, iovcnt, &l);
	if (err)
		return err;
	w = atomic_load_explicit(&ring->tx_reserved, memory_order_relaxed);
	stale = atomic_load_explicit(&ring->tx_peer_read_stale, memory_order_relaxed);
	/*
	 * The consumer only moves forward, so the read index seen last time
	 * is a safe lower bound; reload the shared one only when that bound
	 * is not enough. This keeps the consumer's cache line off the
	 * per-packet path.
	 */
	if (unlikely(stale) || ring_free(ring, w, ring->tx_peer_read) <= l.total) {
		err = ring_peer_read_index(ring, &r);
		if (err)
			return err;
		/*
		 * The consumer moves from where we last saw it towards what
		 * we published, never past that and never back: anything
		 * else is a lie.
		 */
		seen = ring->tx_peer_read;
		if (!stale && ring_distance(ring, seen, r) >
		    ring_distance(ring, seen, atomic_load_explicit(&ring->tx_published,
								    memory_order_relaxed)))
			return -EBADMSG;
		ring->tx_peer_read = r;
		if (stale)
			atomic_store_explicit(&ring->tx_peer_read_stale, false,
					      memory_order_relaxed);
		if (ring_free(ring, w, r) <= l.total)
			return -EAGAIN;
	}
	/* Strictly less, so that the flat path never has to wrap w to 0. */
	if (likely(l.total < ring->dsize - w))
		w = ring_fill_flat(ring, w, &l, iov, iovcnt);
	else
		w = ring_fill(ring, w, &l, iov, iovcnt);
	atomic_store_explicit(&ring->tx_reserved, w, memory_order_relaxed);
	return 0;
}

/* After publishing [old, ...): does the consumer need an interrupt? */
static bool ring_tx_need_signal(struct hv_ring *ring, uint32_t old)
{
	uint32_t r;

	/* Order the index store before reading the consumer's state. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&ring->hdr->interrupt_mask, memory_order_relaxed))
		return false;
	r = atomic_load_explicit(&ring->hdr->read_index, memory_order_acquire);
	return r == old;
}

HV_EXPORT void hv_ring_publish(struct hv_ring *ring, bool *need_signal)
{
	uint32_t old = atomic_load_explicit(&ring->tx_published, memory_order_relaxed);
	uint32_t w = atomic_load_explicit(&ring->tx_reserved, memory_order_relaxed);
	bool sig = false;

	if (w != old) {
		atomic_store_explicit(&ring->hdr->write_index, w, memory_order_release);
		atomic_store_explicit(&ring->tx_published, w, memory_order_relaxed);
		sig = ring_tx_need_signal(ring, old);
	}
	if (need_signal)
		*need_signal = sig;
}

HV_EXPORT int hv_ring_send(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
			   const struct iovec *iov, unsigned int iovcnt,
			   bool *need_signal)
{
	int err = hv_ring_write(ring, info, iov, iovcnt);

	if (err) {
		if (need_signal)
			*need_signal = false;
		return err;
	}
	hv_ring_publish(ring, need_signal);
	return 0;
}

static inline void ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

HV_EXPORT int hv_ring_send_mp(struct hv_ring *ring, const struct hv_ring_pkt_info *info,
			      const struct iovec *iov, unsigned int iovcnt,
			      bool *need_signal)
{
	struct ring_pkt_layout l;
	uint32_t old, next, r;
	unsigned int spins;
	int err;

	if (need_signal)
		*need_signal = false;
	err = ring_layout(ring, info, iov, iovcnt, &l);
	if (err)
		return err;

	/* Reserve [old, next) against every other producer. */
	old = atomic_load_explicit(&ring->tx_reserved, memory_order_relaxed);
	do {
		err = ring_peer_read_index(ring, &r);
		if (err)
			return err;
		if (ring_free(ring, old, r) <= l.total)
			return -EAGAIN;
		next = ring_advance(ring, old, l.total);
	} while (!atomic_compare_exchange_weak_explicit(&ring->tx_reserved, &old, next,
							memory_order_relaxed,
							memory_order_relaxed));

	if (!atomic_load_explicit(&ring->tx_peer_read_stale, memory_order_relaxed))
		atomic_store_explicit(&ring->tx_peer_read_stale, true, memory_order_relaxed);
	ring_fill(ring, old, &l, iov, iovcnt);

	/*
	 * Publish in reservation order: wait for every earlier reservation.
	 * Yield after a while, since the thread we wait for may be
	 * preempted on a machine with fewer CPUs than producers.
	 */
	for (spins = 0; atomic_load_explicit(&ring->tx_published,
					     memory_order_acquire) != old; spins++) {
		if (spins < 256)
			ring_cpu_relax();
		else
			sched_yield();
	}
	atomic_store_explicit(&ring->hdr->write_index, next, memory_order_release);
	atomic_store_explicit(&ring->tx_published, next, memory_order_release);
	if (need_signal)
		*need_signal = ring_tx_need_signal(ring, old);
	return 0;
}

HV_EXPORT void hv_ring_set_pending_send_size(struct hv_ring *ring, uint32_t bytes)
{
	atomic_store_explicit(&ring->hdr->pending_send_sz, bytes, memory_order_relaxed);
	/* The consumer must see the request before we re-check the room. */
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- consumer ---- */

/*
 * Read the descriptor at pos once, as two aligned 8-byte loads that
 * cannot be torn or repeated, and check it against what was published.
 * The words hold struct vmpacket_descriptor: type, offset8, len8 and flags
 * in the first, trans_id in the second. The receive path works on the
 * words themselves, which stay in registers.
 */
static inline __attribute__((always_inline)) int
ring_peek_words(const struct hv_ring *ring, uint32_t pos, uint32_t end, uint64_t w[2])
{
	uint32_t avail = ring_distance(ring, pos, end);
	uint32_t offset8, len8;

	if (avail < HV_RING_DESC_SIZE + HV_RING_TRAILER_SIZE)
		return -EBADMSG;
	w[0] = __atomic_load_n((const uint64_t *)(ring->data + pos), __ATOMIC_RELAXED);
	w[1] = __atomic_load_n((const uint64_t *)(ring->data + ring_advance(ring, pos, 8)),
			       __ATOMIC_RELAXED);
	offset8 = (uint16_t)(w[0] >> 16);
	len8 = (uint16_t)(w[0] >> 32);
	if (offset8 < 2 || offset8 > len8 || len8 * 8 > avail - HV_RING_TRAILER_SIZE)
		return -EBADMSG;
	return 0;
}

static inline void ring_desc_decode(uint64_t w0, uint64_t w1, struct vmpacket_descriptor *d)
{
	d->type = (uint16_t)w0;
	d->offset8 = (uint16_t)(w0 >> 16);
	d->len8 = (uint16_t)(w0 >> 32);
	d->flags = (uint16_t)(w0 >> 48);
	d->trans_id = w1;
}

static inline __attribute__((always_inline)) int
ring_peek_desc(const struct hv_ring *ring, uint32_t pos, uint32_t end,
	       struct vmpacket_descriptor *d)
{
	uint64_t w[2];
	int err = ring_peek_words(ring, pos, end, w);

	if (err)
		return err;
	ring_desc_decode(w[0], w[1], d);
	return 0;
}

static void ring_pkt_fill(struct hv_ring_pkt *pkt, const struct vmpacket_descriptor *d,
			  const uint8_t *data)
{
	pkt->type = d->type;
	pkt->flags = d->flags;
	pkt->header_len = (uint32_t)d->offset8 * 8;
	pkt->len = (uint32_t)d->len8 * 8;
	pkt->trans_id = d->trans_id;
	pkt->data = data;
}

static int ring_peer_write_index(const struct hv_ring *ring, uint32_t *w)
{
	uint32_t v = atomic_load_explicit(&ring->hdr->write_index,
					  memory_order_acquire);

	if (!ring_index_ok(ring, v))
		return -EBADMSG;
	*w = v;
	return 0;
}

HV_EXPORT int hv_ring_iter_begin(struct hv_ring *ring, struct hv_ring_iter *it)
{
	uint32_t w;
	int err;

	it->ring = ring;
	it->start = it->pos = it->end = ring->rx_read;
	err = ring_peer_write_index(ring, &w);
	if (err)
		return err;
	it->end = w;
	return w == it->pos ? -EAGAIN : 0;
}

/*
 * Start fetching the line the caller reaches a few small packets from now.
 * The producer wrote it on another CPU, so the first touch is a transfer
 * between caches that the hardware prefetcher alone does not start early
 * enough (with 64-byte packets this takes the receive side from about 85
 * to about 105 million packets/s on two vCPUs). Published bytes only: a
 * line the producer is still writing would be pulled away from it.
 */
#define RING_PREFETCH_AHEAD 256u
static inline void ring_prefetch(const struct hv_ring *ring, uint32_t pos, uint32_t end)
{
	if (ring_distance(ring, pos, end) > RING_PREFETCH_AHEAD + 64)
		__builtin_prefetch(ring->data + ring_advance(ring, pos, RING_PREFETCH_AHEAD));
}

/*
 * The rare cases of hv_ring_iter_next, out of line so that the common one
 * stays short: a packet over max_pkt, and a packet or trailer that reaches
 * the end of the data area.
 */
static __attribute__((noinline, cold)) int
ring_iter_next_slow(struct hv_ring_iter *it, struct hv_ring_pkt *pkt, uint64_t w0,
		    uint64_t w1)
{
	struct hv_ring *ring = it->ring;
	struct vmpacket_descriptor d;
	uint32_t len;

	ring_desc_decode(w0, w1, &d);
	len = (uint32_t)d.len8 * 8;

	if (len > ring->max_pkt) {
		it->pos = ring_advance(ring, it->pos, len + HV_RING_TRAILER_SIZE);
		return -EMSGSIZE;
	}
	if (len <= ring->dsize - it->pos) {
		ring_pkt_fill(pkt, &d, ring->data + it->pos);
	} else {
		ring_copy_from(ring, it->pos, ring->bounce, len);
		ring_pkt_fill(pkt, &d, ring->bounce);
	}
	it->pos = ring_advance(ring, it->pos, len + HV_RING_TRAILER_SIZE);
	return 0;
}

HV_EXPORT int hv_ring_iter_next(struct hv_ring_iter *it, struct hv_ring_pkt *pkt)
{
	struct hv_ring *ring = it->ring;
	uint32_t pos = it->pos, len;
	uint64_t w[2];
	int err;

	if (pos == it->end)
		return -EAGAIN;
	err = ring_peek_words(ring, pos, it->end, w);
	if (unlikely(err))
		return err;
	len = (uint32_t)(uint16_t)(w[0] >> 32) * 8;
	/* Packet and trailer end strictly before the end: no wrap anywhere. */
	if (unlikely(len > ring->max_pkt ||
		     len + HV_RING_TRAILER_SIZE >= ring->dsize - pos))
		return ring_iter_next_slow(it, pkt, w[0], w[1]);
	pkt->type = (uint16_t)w[0];
	pkt->flags = (uint16_t)(w[0] >> 48);
	pkt->header_len = (uint32_t)(uint16_t)(w[0] >> 16) * 8;
	pkt->len = len;
	pkt->trans_id = w[1];
	pkt->data = ring->data + pos;
	it->pos = pos + len + HV_RING_TRAILER_SIZE;
	ring_prefetch(ring, it->pos, it->end);
	return 0;
}

/* Release up to `pos`; returns bytes released, sets *need_signal. */
static uint32_t ring_release(struct hv_ring *ring, uint32_t start, uint32_t pos,
			     bool *need_signal)
{
	struct ring_hdr *hdr = ring->hdr;
	uint32_t released = ring_distance(ring, start, pos);
	uint32_t pending, w, room, room_before;

	if (need_signal)
		*need_signal = false;
	if (!released)
		return 0;
	/* Release: every read of the packets happens before the store. */
	atomic_store_explicit(&hdr->read_index, pos, memory_order_release);
	ring->rx_read = pos;

	if (!(atomic_load_explicit(&hdr->feature_bits, memory_order_relaxed) &
	      RING_FEAT_PENDING_SEND_SZ))
		return released;
	/* Publish the read index before sampling the producer's request. */
	atomic_thread_fence(memory_order_seq_cst);
	pending = atomic_load_explicit(&hdr->pending_send_sz, memory_order_relaxed);
	if (!pending || !need_signal)
		return released;
	if (ring_peer_write_index(ring, &w))
		return released;
	room = ring_free(ring, w, pos);
	room_before = room >= released ? room - released : 0;
	/* Enough room already before: the producer was not waiting on us. */
	if (room_before > pending)
		return released;
	/* Still not enough: an interrupt now would be false hope. */
	if (room <= pending)
		return released;
	*need_signal = true;
	return released;
}

HV_EXPORT uint32_t hv_ring_iter_commit(struct hv_ring_iter *it, bool *need_signal)
{
	uint32_t released = ring_release(it->ring, it->start, it->pos, need_signal);

	it->start = it->pos;
	return released;
}

HV_EXPORT int hv_ring_recv(struct hv_ring *ring, void *buf, size_t buflen,
			   struct hv_ring_pkt *pkt, uint32_t *needed, bool *need_signal)
{
	struct vmpacket_descriptor d;
	uint32_t pos = ring->rx_read, end, len;
	int err;

	if (need_signal)
		*need_signal = false;
	err = ring_peer_write_index(ring, &end);
	if (err)
		return err;
	if (end == pos)
		return -EAGAIN;
	err = ring_peek_desc(ring, pos, end, &d);
	if (err)
		return err;
	len = (uint32_t)d.len8 * 8;
	if (len > ring->max_pkt) {
		ring_release(ring, pos, ring_advance(ring, pos, len + HV_RING_TRAILER_SIZE),
			     need_signal);
		return -EMSGSIZE;
	}
	if (needed)
		*needed = len;
	if (len > buflen)
		return -ENOBUFS;
	ring_copy_from(ring, pos, buf, len);
	/* The copy's descriptor may differ from the checked one: use ours. */
	memcpy(buf, &d, sizeof(d));
	ring_pkt_fill(pkt, &d, buf);
	ring_release(ring, pos, ring_advance(ring, pos, len + HV_RING_TRAILER_SIZE),
		     need_signal);
	return 0;
}

HV_EXPORT void hv_ring_intr_mask(struct hv_ring *ring)
{
	atomic_store_explicit(&ring->hdr->interrupt_mask, 1, memory_order_seq_cst);
}

HV_EXPORT uint32_t hv_ring_intr_unmask(struct hv_ring *ring)
{
	atomic_store_explicit(&ring->hdr->interrupt_mask, 0, memory_order_relaxed);
	/* The producer reads the mask after publishing: meet it halfway. */
	atomic_thread_fence(memory_order_seq_cst);
	return hv_ring_read_avail(ring);
}

HV_EXPORT uint32_t hv_ring_read_avail(const struct hv_ring *ring)
{
	uint32_t w;

	if (ring_peer_write_index(ring, &w))
		return 0;
	return ring_distance(ring, ring->rx_read, w);
}

HV_EXPORT uint32_t hv_ring_write_avail(const struct hv_ring *ring)
{
	uint32_t r = atomic_load_explicit(&ring->hdr->read_index, memory_order_acquire);

	if (!ring_index_ok(ring, r))
		return 0;
	return ring_free(ring, atomic_load_explicit(&ring->tx_reserved,
						    memory_order_relaxed), r);
}
