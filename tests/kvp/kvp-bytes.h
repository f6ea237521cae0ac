/* SPDX-License-Identifier: ISC */
/*
 * What the KVP codec tests share: the offsets of the fields in both
 * message layouts, as the protocol fixes them (Linux's
 * include/uapi/linux/hyperv.h, OpenBSD's hypervicreg.h), and helpers that write
 * bytes at those offsets. Expected messages are built with these, never
 * with the code under test.
 */
#ifndef HVUIO_TEST_KVP_BYTES_H
#define HVUIO_TEST_KVP_BYTES_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* VMBus payload offsets. */
enum {
	P_PIPE_FLAGS = 0, P_PIPE_SIZE = 4,
	P_FW_MAJOR = 8, P_FW_MINOR = 10, P_TYPE = 12, P_MSG_MAJOR = 14,
	P_MSG_MINOR = 16, P_IC_SIZE = 18, P_STATUS = 20, P_TID = 24, P_FLAGS = 25,
	P_OP = 28, P_POOL = 29,
	/* GET / SET */
	V_TYPE = 32, V_KEY_SIZE = 36, V_VALUE_SIZE = 40, V_KEY = 44, V_VALUE = 556,
	/* ENUMERATE */
	E_INDEX = 32, E_TYPE = 36, E_KEY_SIZE = 40, E_VALUE_SIZE = 44, E_KEY = 48,
	E_VALUE = 560,
	/* DELETE */
	D_KEY_SIZE = 32, D_KEY = 36,
	/* GET_IP_INFO / SET_IP_INFO */
	I_ADAPTER = 30, I_FAMILY = 286, I_DHCP = 287, I_ADDR = 288, I_NET = 2336,
	I_GW = 4384, I_DNS = 5408,
};

/* Kernel message offsets. */
enum {
	K_OP = 0, K_POOL = 1,
	K_TYPE = 4, K_KEY_SIZE = 8, K_VALUE_SIZE = 12, K_KEY = 16, K_VALUE = 528,
	K_E_INDEX = 4, K_E_TYPE = 8, K_E_KEY_SIZE = 12, K_E_VALUE_SIZE = 16,
	K_E_KEY = 20, K_E_VALUE = 532,
	K_D_KEY_SIZE = 4, K_D_KEY = 8,
	K_I_ADAPTER = 4, K_I_FAMILY = 260, K_I_DHCP = 261, K_I_ADDR = 262,
	K_I_NET = 2310, K_I_GW = 4358, K_I_DNS = 5382,
	K_VERSION = 4,
};

/* ---- byte helpers ---------------------------------------------------- */

static inline uint8_t *buf_new(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	memset(p, 0, len);
	return p;
}

static inline uint8_t *buf_dup(const uint8_t *src, size_t len)
{
	uint8_t *p = buf_new(len);

	memcpy(p, src, len);
	return p;
}

static inline void poke8(uint8_t *p, size_t off, uint8_t v)
{
	p[off] = v;
}

static inline void poke16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static inline void poke32(uint8_t *p, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[off + i] = (uint8_t)(v >> 8 * i);
}

static inline void poke64(uint8_t *p, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[off + i] = (uint8_t)(v >> 8 * i);
}

/* ASCII as UTF-16LE, no terminator written. Returns bytes written. */
static inline size_t poke_ascii16(uint8_t *p, size_t off, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		poke16(p, off + 2 * i, (uint8_t)s[i]);
	return 2 * n;
}

static inline size_t poke_units(uint8_t *p, size_t off, const uint16_t *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		poke16(p, off + 2 * i, u[i]);
	return 2 * n;
}

#endif
