/* SPDX-License-Identifier: ISC */
/*
 * Interfaces, addresses and routes over a plain route netlink socket.
 * Linux's hv_kvp_daemon reads addresses with getifaddrs() and gateways by
 * running `ip route show dev IF`; one netlink dump per question replaces
 * both, in the calling thread's network namespace.
 *
 * No netlink library: a daemon that runs as root and answers an untrusted
 * host loads no code it does not need, and libnl-3 with libnl-route-3
 * would be half of hvkvpd's private memory (their constructors touch most
 * of their pages at load) for three dumps. The reader below is strict
 * instead: every message and attribute length is checked before use, a
 * reply must carry our sequence number and port, and a dump the kernel
 * marks interrupted (NLM_F_DUMP_INTR: the table changed while it was
 * read) is read to its end, thrown away and asked again.
 *
 * Order of addresses: interface index, then IPv4 before IPv6, then primary
 * addresses before secondary ones (IFA_F_SECONDARY), then the order of the
 * kernel's dump (the order in which they were added, newest IPv6 first).
 * The same configuration always gives the same list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "info_private.h"

/* A dump asked again this many times and still interrupted is -EAGAIN. */
#define DUMP_TRIES 8

struct kvp_nl {
	int fd;
	uint32_t portid;
	uint32_t seq;
	unsigned char *buf;      /* one datagram */
	size_t size;
};

/* Records of one dump, of `elem` bytes each. */
struct recs {
	void *v;
	size_t n;
	size_t cap;
	size_t elem;
};

/* What a dump message becomes: 0 (recorded or skipped) or a negative errno. */
typedef int msg_fn(const struct nlmsghdr *h, struct recs *out, int arg);

struct dump_kind {
	uint16_t request;        /* RTM_GET... */
	uint16_t reply;          /* RTM_NEW... */
	size_t hdr;              /* the family header after struct nlmsghdr */
	msg_fn *fn;
	size_t elem;             /* the size of a record */
};

int kvp_nl_open(struct kvp_nl **ret)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	struct kvp_nl *nl;
	int err;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0) {
		err = -errno;
		goto out;
	}
	/* Port 0: the kernel picks one unique in this namespace. */
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(nl->fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		goto out;
	}
	if (len != sizeof(sa) || sa.nl_family != AF_NETLINK) {
		err = -EPROTO;
		goto out;
	}
	nl->portid = sa.nl_pid;
	*ret = nl;
	return 0;
out:
	kvp_nl_close(nl);
	return err;
}

void kvp_nl_close(struct kvp_nl *nl)
{
	if (!nl)
		return;
	if (nl->fd >= 0)
		close(nl->fd);
	free(nl->buf);
	free(nl);
}

static void *rec_add(struct recs *r)
{
	void *grown;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;

		grown = realloc(r->v, cap * r->elem);
		if (!grown)
			return NULL;
		r->v = grown;
		r->cap = cap;
	}
	return memset((char *)r->v + r->n++ * r->elem, 0, r->elem);
}

/* Attributes in `len` bytes at `data` into tb[0..max]; the last of a type wins. */
static int attrs_parse(const void *data, size_t len, const struct rtattr **tb, unsigned int max)
{
	const unsigned char *p = data;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (len > 0) {
		const struct rtattr *a = (const struct rtattr *)p;
		unsigned int type;
		size_t step;

		if (len < sizeof(*a) || a->rta_len < sizeof(*a) || a->rta_len > len)
			return -EBADMSG;
		type = a->rta_type & NLA_TYPE_MASK;
		if (type <= max)
			tb[type] = a;
		step = RTA_ALIGN(a->rta_len);
		if (step > len)
			step = len;
		p += step;
		len -= step;
	}
	return 0;
}

/* A message's attributes, after its family header of `hdr` bytes. */
static int msg_attrs(const struct nlmsghdr *h, size_t hdr, const struct rtattr **tb,
		     unsigned int max)
{
	size_t off = NLMSG_SPACE(hdr);

	if (h->nlmsg_len < off)
		return -EBADMSG;
	return attrs_parse((const unsigned char *)h + off, h->nlmsg_len - off, tb, max);
}

static size_t rta_size(const struct rtattr *a)
{
	return a->rta_len - RTA_LENGTH(0);
}

/* A 32-bit attribute; a shorter one is a malformed reply. */
static int rta_u32(const struct rtattr *a, uint32_t *v)
{
	if (rta_size(a) < sizeof(*v))
		return -EBADMSG;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return 0;
}

static int request_send(struct kvp_nl *nl, const struct dump_kind *k, unsigned char family)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr h;
		unsigned char body[sizeof(struct ifinfomsg)];
	} req;
	ssize_t n;

	_Static_assert(sizeof(struct ifaddrmsg) <= sizeof(req.body) &&
		       sizeof(struct rtmsg) <= sizeof(req.body), "request body");
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(k->hdr);
	req.h.nlmsg_type = k->request;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = ++nl->seq;
	req.h.nlmsg_pid = nl->portid;
	/* ifi_family, ifa_family and rtm_family all come first. */
	req.body[0] = family;
	do
		n = sendto(nl->fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
			   sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == req.h.nlmsg_len ? 0 : -EIO;
}

/*
 * One datagram from the kernel into nl->buf, whole: its size is asked
 * first, so that no message is ever cut. Datagrams from another sender
 * (a process with CAP_NET_ADMIN may send to our port) are dropped.
 */
static ssize_t datagram_recv(struct kvp_nl *nl)
{
	struct sockaddr_nl from;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	for (;;) {
		do
			n = recv(nl->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if ((size_t)n > nl->size) {
			unsigned char *grown = realloc(nl->buf, (size_t)n);

			if (!grown)
				return -ENOMEM;
			nl->buf = grown;
			nl->size = (size_t)n;
		}
		iov.iov_base = nl->buf;
		iov.iov_len = nl->size;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		do
			n = recvmsg(nl->fd, &mh, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (mh.msg_namelen == sizeof(from) && from.nl_family == AF_NETLINK &&
		    from.nl_pid == 0)
			return n;
	}
}

/* The errno an NLMSG_ERROR or NLMSG_DONE carries in its first 4 bytes. */
static int msg_errno(const struct nlmsghdr *h, int *err)
{
	int e;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(e)))
		return -EBADMSG;
	memcpy(&e, NLMSG_DATA(h), sizeof(e));
	*err = e;
	return 0;
}

/*
 * The messages of one datagram of a dump. *done once NLMSG_DONE is read;
 * *intr once any message is marked interrupted, after which the rest is
 * read but not recorded. 0 or a negative errno (see dump).
 */
static int datagram_parse(struct kvp_nl *nl, const struct dump_kind *k, int arg,
			  struct recs *out, size_t left, bool *done, bool *intr)
{
	const unsigned char *p = nl->buf;
	int err, e;

	while (left > 0 && !*done) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)p;
		size_t step;

		if (left < sizeof(*h) || h->nlmsg_len < sizeof(*h) || h->nlmsg_len > left)
			return -EBADMSG;
		if (h->nlmsg_seq != nl->seq || h->nlmsg_pid != nl->portid)
			return -EPROTO;
		if (h->nlmsg_flags & NLM_F_DUMP_INTR)
			*intr = true;
		switch (h->nlmsg_type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_DONE:
			/* The dump's own error, if any (a message too big to fit). */
			if (msg_errno(h, &e) == 0 && e < 0)
				return e < -4095 ? -EPROTO : e;
			*done = true;
			break;
		case NLMSG_ERROR:
			/* No ACK was asked for: an error is all it can be. */
			err = msg_errno(h, &e);
			if (err < 0)
				return err;
			return e < 0 && e >= -4095 ? e : -EPROTO;
		default:
			if (h->nlmsg_type != k->reply)
				return -EPROTO;
			if (h->nlmsg_len < NLMSG_LENGTH(k->hdr))
				return -EBADMSG;
			if (!*intr) {
				err = k->fn(h, out, arg);
				if (err < 0)
					return err;
			}
		}
		step = NLMSG_ALIGN(h->nlmsg_len);
		if (step > left)
			step = left;
		p += step;
		left -= step;
	}
	return 0;
}

/*
 * One dump of `k` for `family` into `out` (emptied first). 0, a negative
 * errno from the kernel, -EBADMSG or -EPROTO for a reply that is not
 * well formed or not ours, -EAGAIN when every try was interrupted.
 */
static int dump(struct kvp_nl *nl, const struct dump_kind *k, unsigned char family,
		int arg, struct recs *out)
{
	int tries, err;

	for (tries = 0; tries < DUMP_TRIES; tries++) {
		bool done = false, intr = false;

		out->n = 0;
		out->elem = k->elem;
		err = request_send(nl, k, family);
		while (err == 0 && !done) {
			ssize_t got = datagram_recv(nl);

			err = got < 0 ? (int)got : datagram_parse(nl, k, arg, out, (size_t)got,
								  &done, &intr);
		}
		if (err < 0 || !intr)
			return err;
	}
	return -EAGAIN;
}

/* ---- Links ---- */

struct link {
	int ifindex;
	int master;              /* 0: none */
	unsigned int flags;      /* IFF_* */
	bool has_mac;
	uint8_t mac[6];
};

static int link_msg(const struct nlmsghdr *h, struct recs *out, int arg)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1];
	struct link *l;
	uint32_t master = 0;
	int err;

	err = msg_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
	if (err == 0 && tb[IFLA_MASTER])
		err = rta_u32(tb[IFLA_MASTER], &master);
	if (err < 0)
		return err;
	l = rec_add(out);
	if (!l)
		return -ENOMEM;
	l->ifindex = ifi->ifi_index;
	l->master = (int)master;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_ADDRESS] && rta_size(tb[IFLA_ADDRESS]) == 6) {
		l->has_mac = true;
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), 6);
	}
	return 0;
}

static const struct dump_kind links_dump = {
	RTM_GETLINK, RTM_NEWLINK, sizeof(struct ifinfomsg), link_msg, sizeof(struct link),
};

static const struct link *link_find(const struct recs *links, int ifindex)
{
	const struct link *l = links->v;
	size_t i;

	for (i = 0; i < links->n; i++)
		if (l[i].ifindex == ifindex)
			return &l[i];
	return NULL;
}

/* ---- Addresses ---- */

/*
 * Every address message is recorded, so that "the interface has an
 * address" counts them all; one that is not IPv4 or IPv6, or has no
 * local address of the family's length, is recorded as AF_UNSPEC. The
 * local address is IFA_LOCAL, else IFA_ADDRESS (IPv6 sends only that;
 * IPv4 sends IFA_ADDRESS as the peer's); an IPv4 address without
 * IFA_LOCAL is 0.0.0.0, which the kernel leaves out.
 */
static int addr_msg(const struct nlmsghdr *h, struct recs *out, int arg)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1], *local = NULL;
	struct kvp_addr *a;
	uint32_t flags = ifa->ifa_flags;
	size_t len = 0;
	int err;

	err = msg_attrs(h, sizeof(*ifa), tb, IFA_MAX);
	/* The full flags: ifa_flags holds only the low 8 bits. */
	if (err == 0 && tb[IFA_FLAGS])
		err = rta_u32(tb[IFA_FLAGS], &flags);
	if (err < 0)
		return err;
	a = rec_add(out);
	if (!a)
		return -ENOMEM;
	a->ifindex = (int)ifa->ifa_index;
	a->family = AF_UNSPEC;
	a->prefixlen = ifa->ifa_prefixlen;
	a->flags = flags;
	a->seq = (unsigned int)(out->n - 1);
	if (ifa->ifa_family == AF_INET) {
		local = tb[IFA_LOCAL];
		len = 4;
	} else if (ifa->ifa_family == AF_INET6) {
		local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
		len = 16;
	}
	if (local && rta_size(local) == len) {
		a->family = ifa->ifa_family;
		memcpy(a->bytes, RTA_DATA(local), len);
	} else if (!local && ifa->ifa_family == AF_INET) {
		a->family = AF_INET;
	}
	return 0;
}

static const struct dump_kind addrs_dump = {
	RTM_GETADDR, RTM_NEWADDR, sizeof(struct ifaddrmsg), addr_msg, sizeof(struct kvp_addr),
};

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

int kvp_addrs_get(struct kvp_nl *nl, int ifindex, struct kvp_addr **ret, size_t *ret_n)
{
	struct recs links = { 0 }, addrs = { 0 };
	struct kvp_addr *v;
	size_t i, n = 0;
	int err;

	if (ifindex == 0) {
		err = dump(nl, &links_dump, AF_UNSPEC, 0, &links);
		if (err < 0)
			goto out;
	}
	err = dump(nl, &addrs_dump, AF_UNSPEC, 0, &addrs);
	if (err < 0)
		goto out;
	/*
	 * Every address of the interface, host and link scope too: Linux's
	 * daemon (getifaddrs) leaves out only the loopback interfaces, not
	 * scopes.
	 */
	v = addrs.v;
	for (i = 0; i < addrs.n; i++) {
		const struct link *l = ifindex ? NULL : link_find(&links, v[i].ifindex);

		if (v[i].family != AF_INET && v[i].family != AF_INET6)
			continue;
		if (ifindex ? v[i].ifindex != ifindex :
		    v[i].ifindex <= 0 || (l && (l->flags & IFF_LOOPBACK)))
			continue;
		v[n++] = v[i];
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), addr_cmp);
	*ret = v;
	*ret_n = n;
	addrs.v = NULL;
out:
	free(addrs.v);
	free(links.v);
	return err;
}

void kvp_addr_text(const struct kvp_addr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)size) && size)
		buf[0] = '\0';
}

/* ---- Interface by MAC ---- */

static bool link_mac_is(const struct link *l, const uint8_t mac[6])
{
	return l->has_mac && memcmp(l->mac, mac, 6) == 0;
}

static bool link_has_addr(const struct recs *addrs, int ifindex)
{
	const struct kvp_addr *a = addrs->v;
	size_t i;

	for (i = 0; i < addrs->n; i++)
		if (a[i].ifindex == ifindex)
			return true;
	return false;
}

/*
 * With accelerated networking a VF carries the synthetic NIC's MAC too
 * and is enslaved to it; Linux's daemon (kvp_mac_to_ip) skips NICs
 * without an address for that reason. We prefer, in turn: a link whose
 * master does not share the MAC, one with addresses (of any family), the
 * lowest index.
 */
int kvp_link_by_mac(struct kvp_nl *nl, const uint8_t mac[6])
{
	struct recs links = { 0 }, addrs = { 0 };
	const struct link *l;
	int err, best = -ENODEV, best_score = -1;
	size_t i;

	err = dump(nl, &links_dump, AF_UNSPEC, 0, &links);
	if (err < 0)
		goto out;
	err = dump(nl, &addrs_dump, AF_UNSPEC, 0, &addrs);
	if (err < 0)
		goto out;
	l = links.v;
	for (i = 0; i < links.n; i++) {
		const struct link *master;
		int score = 0;

		if (!link_mac_is(&l[i], mac) || (l[i].flags & IFF_LOOPBACK))
			continue;
		master = l[i].master > 0 ? link_find(&links, l[i].master) : NULL;
		if (!master || !link_mac_is(master, mac))
			score += 2;
		if (link_has_addr(&addrs, l[i].ifindex))
			score += 1;
		if (score > best_score || (score == best_score && l[i].ifindex < best)) {
			best_score = score;
			best = l[i].ifindex;
		}
	}
	err = best;
out:
	free(addrs.v);
	free(links.v);
	return err;
}

/* ---- Gateways ---- */

struct gateway {
	int ifindex;
	uint8_t bytes[16];
};

static int gateway_add(struct recs *out, int ifindex, const struct rtattr *gw, size_t len)
{
	struct gateway *g;

	if (!gw || rta_size(gw) != len)
		return 0;
	g = rec_add(out);
	if (!g)
		return -ENOMEM;
	g->ifindex = ifindex;
	memcpy(g->bytes, RTA_DATA(gw), len);
	return 0;
}

/*
 * Default routes of `family`: an empty destination in the main table,
 * unicast. Each next hop with a gateway (RTA_MULTIPATH's, or the route's
 * own RTA_OIF and RTA_GATEWAY) is a record; one by way of another family
 * (RTA_VIA) has no RTA_GATEWAY and is not.
 */
static int route_msg(const struct nlmsghdr *h, struct recs *out, int family)
{
	const struct rtmsg *rtm = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_MAX + 1], *ntb[RTA_MAX + 1];
	size_t len = family == AF_INET ? 4 : 16;
	uint32_t table = rtm->rtm_table, oif;
	int err;

	err = msg_attrs(h, sizeof(*rtm), tb, RTA_MAX);
	/* Table ids past 255 are only in RTA_TABLE. */
	if (err == 0 && tb[RTA_TABLE])
		err = rta_u32(tb[RTA_TABLE], &table);
	if (err < 0)
		return err;
	if (rtm->rtm_family != family || table != RT_TABLE_MAIN ||
	    rtm->rtm_type != RTN_UNICAST || rtm->rtm_dst_len != 0)
		return 0;
	if (tb[RTA_MULTIPATH]) {
		const unsigned char *p = RTA_DATA(tb[RTA_MULTIPATH]);
		size_t left = rta_size(tb[RTA_MULTIPATH]);

		while (left > 0) {
			const struct rtnexthop *nh = (const struct rtnexthop *)p;
			size_t step;

			if (left < sizeof(*nh) || nh->rtnh_len < sizeof(*nh) ||
			    nh->rtnh_len > left)
				return -EBADMSG;
			err = attrs_parse(RTNH_DATA(nh), nh->rtnh_len - RTNH_LENGTH(0), ntb,
					  RTA_MAX);
			if (err == 0)
				err = gateway_add(out, nh->rtnh_ifindex, ntb[RTA_GATEWAY], len);
			if (err < 0)
				return err;
			step = RTNH_ALIGN(nh->rtnh_len);
			if (step > left)
				step = left;
			p += step;
			left -= step;
		}
		return 0;
	}
	if (!tb[RTA_OIF])
		return 0;
	err = rta_u32(tb[RTA_OIF], &oif);
	if (err < 0)
		return err;
	return gateway_add(out, (int)oif, tb[RTA_GATEWAY], len);
}

static const struct dump_kind routes_dump = {
	RTM_GETROUTE, RTM_NEWROUTE, sizeof(struct rtmsg), route_msg, sizeof(struct gateway),
};

/* Whether `text` is already an item of the list. */
static bool list_has(const struct kvp_list *l, const char *text)
{
	const char *p = l->count ? l->buf : NULL;
	size_t n = strlen(text);

	while (p) {
		if (strncmp(p, text, n) == 0 && (p[n] == ';' || p[n] == '\0'))
			return true;
		p = strchr(p, ';');
		if (p)
			p++;
	}
	return false;
}

/*
 * What `ip route show dev IF | awk '/default/'` finds for Linux's daemon:
 * the gateways of default routes leaving by `ifindex`, IPv4 first, the
 * same gateway twice (two metrics) listed once.
 */
int kvp_gateways_get(struct kvp_nl *nl, int ifindex, struct kvp_list *l)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct recs gws = { 0 };
	char text[INET6_ADDRSTRLEN];
	size_t f, i;
	int err = 0;

	for (f = 0; f < 2; f++) {
		const struct gateway *g;

		err = dump(nl, &routes_dump, (unsigned char)families[f], families[f], &gws);
		if (err < 0)
			break;
		g = gws.v;
		for (i = 0; i < gws.n; i++) {
			if (g[i].ifindex != ifindex ||
			    !inet_ntop(families[f], g[i].bytes, text, sizeof(text)) ||
			    list_has(l, text))
				continue;
			kvp_list_add(l, text);
		}
	}
	free(gws.v);
	return err;
}
