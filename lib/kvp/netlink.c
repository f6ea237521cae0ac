/* SPDX-License-Identifier: ISC */
/*
 * Interfaces, addresses and routes over route netlink (libnl-route-3).
 * Linux's hv_kvp_daemon reads addresses with getifaddrs() and gateways by
 * running `ip route show dev IF`; one netlink dump per question replaces
 * both, in the calling thread's network namespace.
 *
 * Order of addresses: interface index, then IPv4 before IPv6, then primary
 * addresses before secondary ones (IFA_F_SECONDARY), then the order of the
 * kernel's dump (the order in which they were added, newest IPv6 first).
 * The same configuration always gives the same list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "info_private.h"

int kvp_nl_err(int nlerr)
{
	/* libnl returns its own NLE_* codes; keep the ones a caller can act on. */
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:
		return 0;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_AF_NOSUPPORT:
	case NLE_PROTO_MISMATCH:
		return -EAFNOSUPPORT;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
		return -EINTR;
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	default:
		return -EIO;
	}
}

int kvp_nl_open(struct nl_sock **ret)
{
	struct nl_sock *sk;
	int err;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sk);
		return kvp_nl_err(err);
	}
	*ret = sk;
	return 0;
}

void kvp_nl_close(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

static int addr_cmp(const void *pa, const void *pb)
{
	const struct kvp_addr *a = pa, *b = pb;
	unsigned int sa = a->flags & IFA_F_SECONDARY, sb = b->flags & IFA_F_SECONDARY;

	if (a->ifindex != b->ifindex)
		return a->ifindex < b->ifindex ? -1 : 1;
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	if (sa != sb)
		return sa ? 1 : -1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Indexes of loopback interfaces, as a bitmap over the first 4096. */
static int loopbacks_get(struct nl_sock *sk, uint64_t *map, size_t words)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	int err;

	err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (err < 0)
		return kvp_nl_err(err);
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;
		int idx = rtnl_link_get_ifindex(link);

		if ((rtnl_link_get_flags(link) & IFF_LOOPBACK) && idx > 0 &&
		    (size_t)idx < words * 64)
			map[idx / 64] |= 1ull << (idx % 64);
	}
	nl_cache_free(cache);
	return 0;
}

int kvp_addrs_get(struct nl_sock *sk, int ifindex, struct kvp_addr **ret, size_t *ret_n)
{
	uint64_t loop[64] = { 0 };
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct kvp_addr *v = NULL, *grown;
	size_t n = 0, cap = 0;
	int err;

	if (ifindex == 0) {
		err = loopbacks_get(sk, loop, sizeof(loop) / sizeof(loop[0]));
		if (err < 0)
			return err;
	}
	err = rtnl_addr_alloc_cache(sk, &cache);
	if (err < 0)
		return kvp_nl_err(err);
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(ra);
		int family = rtnl_addr_get_family(ra), idx = rtnl_addr_get_ifindex(ra);
		unsigned int len;

		if (family != AF_INET && family != AF_INET6)
			continue;
		if (ifindex ? idx != ifindex :
		    idx <= 0 || ((size_t)idx < 64 * 64 && (loop[idx / 64] >> (idx % 64) & 1)))
			continue;
		/*
		 * Every address of the interface, host and link scope too:
		 * Linux's daemon (getifaddrs) leaves out only the loopback
		 * interfaces, not scopes.
		 */
		if (!local)
			continue;
		len = nl_addr_get_len(local);
		if (len != (family == AF_INET ? 4u : 16u))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			v = grown;
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].ifindex = idx;
		v[n].family = family;
		v[n].prefixlen = (unsigned int)rtnl_addr_get_prefixlen(ra);
		v[n].flags = rtnl_addr_get_flags(ra);
		v[n].seq = (unsigned int)n;
		memcpy(v[n].bytes, nl_addr_get_binary_addr(local), len);
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), addr_cmp);
	*ret = v;
	*ret_n = n;
	v = NULL;
	err = 0;
out:
	free(v);
	nl_cache_free(cache);
	return err;
}

void kvp_addr_text(const struct kvp_addr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)size) && size)
		buf[0] = '\0';
}

static bool link_mac_is(struct rtnl_link *link, const uint8_t mac[6])
{
	struct nl_addr *ll = rtnl_link_get_addr(link);

	return ll && nl_addr_get_len(ll) == 6 &&
	       memcmp(nl_addr_get_binary_addr(ll), mac, 6) == 0;
}

static bool link_has_addr(struct nl_cache *addrs, int ifindex)
{
	struct nl_object *obj;

	for (obj = nl_cache_get_first(addrs); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;

		if (rtnl_addr_get_ifindex(ra) == ifindex)
			return true;
	}
	return false;
}

/*
 * With accelerated networking a VF carries the synthetic NIC's MAC too
 * and is enslaved to it; Linux's daemon (kvp_mac_to_ip) skips NICs
 * without an address for that reason. We prefer, in turn: a link whose
 * master does not share the MAC, one with addresses, the lowest index.
 */
int kvp_link_by_mac(struct nl_sock *sk, const uint8_t mac[6])
{
	struct nl_cache *links = NULL, *addrs = NULL;
	struct nl_object *obj;
	int err, best = -ENODEV, best_score = -1;

	err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (err < 0)
		return kvp_nl_err(err);
	err = rtnl_addr_alloc_cache(sk, &addrs);
	if (err < 0) {
		err = kvp_nl_err(err);
		goto out;
	}
	for (obj = nl_cache_get_first(links); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj, *master;
		int idx = rtnl_link_get_ifindex(link), score = 0, m;

		if (!link_mac_is(link, mac) || (rtnl_link_get_flags(link) & IFF_LOOPBACK))
			continue;
		m = rtnl_link_get_master(link);
		master = m > 0 ? rtnl_link_get(links, m) : NULL;
		if (!master || !link_mac_is(master, mac))
			score += 2;
		if (master)
			rtnl_link_put(master);
		if (link_has_addr(addrs, idx))
			score += 1;
		if (score > best_score || (score == best_score && idx < best)) {
			best_score = score;
			best = idx;
		}
	}
	err = best;
out:
	nl_cache_free(addrs);
	nl_cache_free(links);
	return err;
}

int kvp_link_by_name(struct nl_sock *sk, const char *name, uint8_t mac[6])
{
	struct rtnl_link *link = NULL;
	struct nl_addr *ll;
	int err;

	err = rtnl_link_get_kernel(sk, 0, name, &link);
	if (err < 0)
		return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV ? -ENODEV : kvp_nl_err(err);
	if (mac) {
		memset(mac, 0, 6);
		ll = rtnl_link_get_addr(link);
		if (ll && nl_addr_get_len(ll) == 6)
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
	}
	err = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return err > 0 ? err : -ENODEV;
}

struct gw_ctx {
	int ifindex;
	int family;
	struct kvp_list *list;
};

static void gw_nexthop(struct rtnl_nexthop *nh, void *arg)
{
	struct gw_ctx *c = arg;
	struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
	char text[INET6_ADDRSTRLEN];

	if (rtnl_route_nh_get_ifindex(nh) != c->ifindex || !gw ||
	    nl_addr_get_family(gw) != c->family ||
	    nl_addr_get_len(gw) != (c->family == AF_INET ? 4u : 16u))
		return;
	if (!inet_ntop(c->family, nl_addr_get_binary_addr(gw), text, sizeof(text)))
		return;
	/* The same gateway twice (two metrics) is listed once. */
	if (c->list->count) {
		const char *p = c->list->buf;
		size_t n = strlen(text);

		while (p) {
			if (strncmp(p, text, n) == 0 && (p[n] == ';' || p[n] == '\0'))
				return;
			p = strchr(p, ';');
			if (p)
				p++;
		}
	}
	kvp_list_add(c->list, text);
}

/*
 * Default routes: an empty destination in the main table, unicast, with a
 * next hop by `ifindex` that has a gateway (what `ip route show dev IF |
 * awk '/default/'` finds for Linux's daemon).
 */
int kvp_gateways_get(struct nl_sock *sk, int ifindex, struct kvp_list *l)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	size_t i;
	int err;

	for (i = 0; i < 2; i++) {
		struct gw_ctx ctx = { .ifindex = ifindex, .family = families[i], .list = l };

		err = rtnl_route_alloc_cache(sk, families[i], 0, &cache);
		if (err < 0)
			return kvp_nl_err(err);
		for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
			struct rtnl_route *r = (struct rtnl_route *)obj;
			struct nl_addr *dst = rtnl_route_get_dst(r);

			if (rtnl_route_get_family(r) != families[i] ||
			    rtnl_route_get_table(r) != RT_TABLE_MAIN ||
			    rtnl_route_get_type(r) != RTN_UNICAST ||
			    (dst && nl_addr_get_prefixlen(dst) != 0))
				continue;
			rtnl_route_foreach_nexthop(r, gw_nexthop, &ctx);
		}
		nl_cache_free(cache);
		cache = NULL;
	}
	return 0;
}
