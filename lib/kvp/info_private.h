/* SPDX-License-Identifier: ISC */
/* Shared by the Auto pool and IP-info sources of lib/kvp. */
#ifndef HVUIO_KVP_INFO_PRIVATE_H
#define HVUIO_KVP_INFO_PRIVATE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvuio/kvp_info.h"

struct kvp_nl;

struct hv_kvp_info {
	char root[PATH_MAX];     /* no trailing '/'; "" is "/" */
	char state_dir[PATH_MAX];  /* "" when none */
	char *hook;              /* absolute path, or NULL */
	char *ifconfig;          /* hv_set_ifconfig, or NULL */
	unsigned int hook_timeout_ms;
	hv_kvp_ip_runner_fn *runner;
	void *runner_ctx;
	/* The FQDN cache; several threads may ask for Auto values. */
	pthread_mutex_t lock;
	bool fqdn_cached;
	bool fqdn_external;      /* kept by the caller: never resolved on a request */
	char fqdn_host[HOST_NAME_MAX + 1];
	char fqdn[1025];         /* NI_MAXHOST */
};

/* root + "/" + the formatted relative path. 0 or -ENAMETOOLONG. */
int kvp_info_path(const struct hv_kvp_info *info, char *buf, size_t size,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Read a whole small file into a fresh NUL-terminated buffer; files larger
 * than `max` bytes are -EFBIG. Returns the length or a negative errno.
 */
long kvp_info_file_read(const char *path, size_t max, char **ret);

/*
 * A ';'-separated list kept within both a byte size (NUL included) and a
 * UTF-16 unit count (NUL not counted). An item that does not fit whole is
 * not added, and neither is any later one: lists are cut at an item.
 */
struct kvp_list {
	char *buf;
	size_t size;
	size_t units_max;
	size_t len;
	size_t units;
	size_t count;
	bool full;
	/* Every item followed by ';' (Linux's gateway and DNS lists), not only joined. */
	bool trailing;
};

void kvp_list_init(struct kvp_list *l, char *buf, size_t size, size_t units_max);
/* 0 when added, -ENOSPC when it did not fit (the list is then closed). */
int kvp_list_add(struct kvp_list *l, const char *item);

/* UTF-16 units of valid UTF-8 `s` (a 4-byte sequence counts 2). */
size_t kvp_utf16_units(const char *s);

/*
 * Make text from a file or a system call safe to send: invalid UTF-8 bytes
 * and control characters become '?', and the string is cut at a whole
 * character so that it fits `size` bytes with its NUL and `units_max`
 * UTF-16 units.
 */
void kvp_text_fit(char *s, size_t size, size_t units_max);

/* Netlink (netlink.c). */
struct kvp_addr {
	int ifindex;
	int family;              /* AF_INET, AF_INET6 */
	unsigned int prefixlen;
	unsigned int flags;      /* IFA_F_* */
	unsigned int seq;        /* position in the dump */
	unsigned char bytes[16];
};

/*
 * A route netlink socket of the calling thread's network namespace. The
 * calls below return 0 (or an index) or a negative errno: the kernel's,
 * -EBADMSG or -EPROTO for a reply that is not well formed or not ours,
 * -EAGAIN when the tables kept changing during a dump.
 */
int kvp_nl_open(struct kvp_nl **ret);
void kvp_nl_close(struct kvp_nl *nl);
/*
 * Addresses of interface `ifindex`, or with ifindex 0 of every interface
 * that is not a loopback, sorted (see netlink.c). *ret is malloc()ed.
 */
int kvp_addrs_get(struct kvp_nl *nl, int ifindex, struct kvp_addr **ret, size_t *ret_n);
/* Text of an address: inet_ntop into buf (INET6_ADDRSTRLEN bytes). */
void kvp_addr_text(const struct kvp_addr *a, char *buf, size_t size);

/* The interface whose hardware address is mac[6]: its index, or -ENODEV. */
int kvp_link_by_mac(struct kvp_nl *nl, const uint8_t mac[6]);
/* Gateways of default routes leaving by `ifindex`, IPv4 first, into the list. */
int kvp_gateways_get(struct kvp_nl *nl, int ifindex, struct kvp_list *l);

/* SET_IP_INFO hook (hook.c): run argv with envp, wait up to timeout_ms. */
int kvp_hook_run(const char *path, char *const argv[], char *const envp[],
		 unsigned int timeout_ms);

#endif
