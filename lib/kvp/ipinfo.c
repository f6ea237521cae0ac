/* SPDX-License-Identifier: ISC */
/*
 * GET_IP_INFO and SET_IP_INFO.
 *
 * Linux's hv_kvp_daemon answers GET_IP_INFO with getifaddrs(), `ip route`
 * and two shell scripts (hv_get_dns_info, hv_get_dhcp_info); we read the
 * same facts over netlink and from a few files under the context's root,
 * and give them in its string formats. For SET_IP_INFO we write the ifcfg
 * file and NetworkManager keyfile it writes and run its hv_set_ifconfig
 * (or a hook) on them, in its order of checks; but every address the host
 * sent is parsed and printed again by inet_ntop before it goes into a
 * file, the environment or an argument, so no host text reaches a shell.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_addr.h>

#include "hvuio/kvp_info.h"
#include "lib/common/compiler.h"
#include "lib/common/opts.h"
#include "info_private.h"

#define SMALL_FILE_MAX (64 * 1024)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "AA:BB:CC:DD:EE:FF" or with '-', either case, one separator throughout. */
static int mac_parse(const char *s, uint8_t mac[6])
{
	char sep;
	int i, hi, lo;

	if (strlen(s) != 17)
		return -EBADMSG;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return -EBADMSG;
	for (i = 0; i < 6; i++) {
		hi = hexval(s[3 * i]);
		lo = hexval(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != sep))
			return -EBADMSG;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A GUID, braces optional, into "{lower-case}" (39 bytes with NUL). */
static int guid_parse(const char *s, char out[39])
{
	static const int dash[] = { 8, 13, 18, 23 };
	size_t len = strlen(s), i, d = 0;

	if (len == 38) {
		if (s[0] != '{' || s[37] != '}')
			return -EBADMSG;
		s++;
		len = 36;
	}
	if (len != 36)
		return -EBADMSG;
	out[0] = '{';
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return -EBADMSG;
			d++;
		} else if (hexval(s[i]) < 0) {
			return -EBADMSG;
		}
		out[i + 1] = (char)tolower((unsigned char)s[i]);
	}
	out[37] = '}';
	out[38] = '\0';
	return 0;
}

static void mask_text(int family, unsigned int plen, char *buf, size_t size)
{
	struct in_addr m;

	if (family == AF_INET6) {
		/* Linux's daemon gives IPv6 masks as "/prefixlen". */
		snprintf(buf, size, "/%u", plen);
		return;
	}
	m.s_addr = plen ? htonl(~0u << (32 - (plen > 32 ? 32 : plen))) : 0;
	if (!inet_ntop(AF_INET, &m, buf, (socklen_t)size))
		buf[0] = '\0';
}

/*
 * One DNS server as systemd writes it ("addr", "addr:port", "[v6]:port",
 * "addr%ifindex", each optionally followed by "#server-name"), printed
 * again in canonical form. -EINVAL when it is not an address.
 */
static int dns_server_parse(const char *tok, size_t n, char *out, size_t size)
{
	unsigned char bin[16];
	char a[64], *p;
	int family;

	if (n == 0 || n >= sizeof(a))
		return -EINVAL;
	memcpy(a, tok, n);
	a[n] = '\0';
	p = strchr(a, '#');
	if (p)
		*p = '\0';
	if (a[0] == '[') {
		p = strchr(a, ']');
		if (!p)
			return -EINVAL;
		*p = '\0';
		memmove(a, a + 1, strlen(a + 1) + 1);
	} else if ((p = strchr(a, ':')) && !strchr(p + 1, ':')) {
		*p = '\0';      /* IPv4 with a port */
	}
	p = strchr(a, '%');
	if (p)
		*p = '\0';
	family = strchr(a, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, a, bin) != 1)
		return -EINVAL;
	/* The local stub resolver's address means nothing to the host. */
	if ((family == AF_INET && bin[0] == 127) ||
	    (family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((struct in6_addr *)bin)))
		return -EINVAL;
	return inet_ntop(family, bin, out, (socklen_t)size) ? 0 : -EINVAL;
}

/* Add the servers of a space-separated list to l. */
static void dns_list_add(struct kvp_list *l, const char *p, const char *end)
{
	char text[INET6_ADDRSTRLEN];
	const char *tok;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		if (dns_server_parse(tok, (size_t)(p - tok), text, sizeof(text)) == 0)
			kvp_list_add(l, text);
	}
}

/* Servers on "KEY=a b c" lines of a systemd state file, or -ENOENT. */
static int dns_from_state(const char *path, const char *key, struct kvp_list *l)
{
	size_t klen = strlen(key);
	char *text = NULL, *p, *eol;
	long n;

	n = kvp_info_file_read(path, SMALL_FILE_MAX, &text);
	if (n < 0)
		return (int)n;
	for (p = text; p && *p; p = eol ? eol + 1 : NULL) {
		eol = strchr(p, '\n');
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			dns_list_add(l, p + klen + 1, eol ? eol : p + strlen(p));
	}
	free(text);
	return 0;
}

/* "nameserver ADDR" lines of a resolv.conf. */
static int dns_from_resolv(const char *path, struct kvp_list *l)
{
	char *text = NULL, *p, *eol, *end;
	long n;

	n = kvp_info_file_read(path, SMALL_FILE_MAX, &text);
	if (n < 0)
		return (int)n;
	for (p = text; p && *p; p = eol ? eol + 1 : NULL) {
		eol = strchr(p, '\n');
		end = eol ? eol : p + strlen(p);
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		/* One address per line; what follows it is not ours to read. */
		{
			const char *q = p;

			while (q < end && *q != ' ' && *q != '\t' && *q != '#' && *q != ';')
				q++;
			dns_list_add(l, p, q);
		}
	}
	free(text);
	return 0;
}

/*
 * DNS servers of interface `ifindex`, the first source that names any:
 *  1. systemd-resolved's per-link state, run/systemd/resolve/netif/<ifindex>
 *     (SERVERS=), which resolved keeps for links configured over its bus
 *     (by NetworkManager, resolvectl) — systemd's resolved-link.c saves it;
 *  2. systemd-networkd's run/systemd/netif/links/<ifindex> (DNS=), the
 *     servers networkd gave resolved for that link;
 *  3. etc/resolv.conf, then run/systemd/resolve/resolv.conf (resolved's
 *     list of upstream servers, for when etc/resolv.conf names only the
 *     127.0.0.53 stub). Loopback servers are never reported.
 */
static void dns_get(struct hv_kvp_info *info, int ifindex, struct kvp_list *l)
{
	char path[PATH_MAX];

	if (kvp_info_path(info, path, sizeof(path), "run/systemd/resolve/netif/%d", ifindex) == 0 &&
	    dns_from_state(path, "SERVERS", l) == 0 && l->count)
		return;
	if (kvp_info_path(info, path, sizeof(path), "run/systemd/netif/links/%d", ifindex) == 0 &&
	    dns_from_state(path, "DNS", l) == 0 && l->count)
		return;
	if (kvp_info_path(info, path, sizeof(path), "etc/resolv.conf") == 0 &&
	    dns_from_resolv(path, l) == 0 && l->count)
		return;
	if (kvp_info_path(info, path, sizeof(path), "run/systemd/resolve/resolv.conf") == 0)
		dns_from_resolv(path, l);
}

/*
 * DHCP state. Linux asks a script that greps BOOTPROTO=dhcp in a Red Hat
 * ifcfg file, which most systems do not have. Our rule: DHCP is on when
 * systemd-networkd keeps a DHCPv4 lease for the link
 * (run/systemd/netif/leases/<ifindex>), or when one of its IPv4 addresses
 * has a finite lifetime: the kernel marks addresses added without one
 * IFA_F_PERMANENT, and DHCP clients (dhclient-script, networkd,
 * NetworkManager) install a lease with its lifetime.
 */
static bool dhcp_get(struct hv_kvp_info *info, int ifindex,
		     const struct kvp_addr *v, size_t n)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	if (kvp_info_path(info, path, sizeof(path), "run/systemd/netif/leases/%d", ifindex) == 0 &&
	    stat(path, &st) == 0)
		return true;
	for (i = 0; i < n; i++)
		if (v[i].family == AF_INET && !(v[i].flags & IFA_F_PERMANENT))
			return true;
	return false;
}

static void ip_out_clear(struct hv_kvp_ip_info *ip)
{
	ip->addr_family = HV_KVP_ADDR_FAMILY_NONE;
	ip->dhcp_enabled = HV_KVP_DHCP_DISABLED;
	ip->ip_addr[0] = ip->sub_net[0] = ip->gate_way[0] = ip->dns_addr[0] = '\0';
}

HV_EXPORT int hv_kvp_info_ip_get(struct hv_kvp_info *info, struct hv_kvp_ip_info *ip)
{
	struct kvp_list addrs, masks, gws, dns, saved_addrs;
	char text[INET6_ADDRSTRLEN], mask[INET6_ADDRSTRLEN];
	struct kvp_nl *nl = NULL;
	struct kvp_addr *v = NULL;
	uint8_t mac[6];
	size_t n = 0, i;
	int err, ifindex;

	if (!info || !ip)
		return -EINVAL;
	ip_out_clear(ip);
	/* The decoder NUL-terminates it; do not trust a caller to. */
	if (!memchr(ip->adapter_id, '\0', sizeof(ip->adapter_id)))
		return -EBADMSG;
	err = mac_parse(ip->adapter_id, mac);
	if (err < 0)
		return err;
	err = kvp_nl_open(&nl);
	if (err < 0)
		return err;
	ifindex = kvp_link_by_mac(nl, mac);
	if (ifindex < 0) {
		err = ifindex;
		goto out;
	}
	err = kvp_addrs_get(nl, ifindex, &v, &n);
	if (err < 0)
		goto out;
	kvp_list_init(&addrs, ip->ip_addr, sizeof(ip->ip_addr), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	kvp_list_init(&masks, ip->sub_net, sizeof(ip->sub_net), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	kvp_list_init(&gws, ip->gate_way, sizeof(ip->gate_way), HV_KVP_MAX_GATEWAY_SIZE - 1);
	kvp_list_init(&dns, ip->dns_addr, sizeof(ip->dns_addr), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	/* Linux's daemon ends each gateway and server with ';' (kvp_process_ipconfig_file). */
	gws.trailing = dns.trailing = true;
	/* Addresses and masks pair up by position: cut both at the same one. */
	for (i = 0; i < n; i++) {
		kvp_addr_text(&v[i], text, sizeof(text));
		mask_text(v[i].family, v[i].prefixlen, mask, sizeof(mask));
		saved_addrs = addrs;
		if (kvp_list_add(&addrs, text) < 0)
			break;
		if (kvp_list_add(&masks, mask) < 0) {
			addrs = saved_addrs;
			addrs.buf[addrs.len] = '\0';
			break;
		}
		ip->addr_family |= v[i].family == AF_INET ? HV_KVP_ADDR_FAMILY_IPV4 : HV_KVP_ADDR_FAMILY_IPV6;
	}
	/*
	 * Linux's daemon gathers gateways, DNS and DHCP state for each of
	 * the interface's addresses (kvp_get_ipconfig_info): an interface
	 * without one answers them empty.
	 */
	if (n == 0)
		goto out;
	err = kvp_gateways_get(nl, ifindex, &gws);
	if (err < 0)
		goto out;
	dns_get(info, ifindex, &dns);
	ip->dhcp_enabled = dhcp_get(info, ifindex, v, n) ? HV_KVP_DHCP_ENABLED :
							     HV_KVP_DHCP_DISABLED;
out:
	if (err < 0)
		ip_out_clear(ip);
	free(v);
	kvp_nl_close(nl);
	return err;
}

/* ---- SET_IP_INFO ---- */

/*
 * Next item of a host list, read as Linux's parse_ip_val_buffer reads it:
 * ';'-separated, leading blanks dropped, the list ending at the first
 * empty item. Returns 1 with the item, 0 at the end, -EINVAL for an item
 * longer than any address or mask.
 */
static int list_next(const char **pp, char *item, size_t size)
{
	const char *p = *pp, *end = strchr(p, ';');

	if (!end)
		end = p + strlen(p);
	if (end == p)
		return 0;
	*pp = *end ? end + 1 : end;
	while (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) >= size)
		return -EINVAL;
	memcpy(item, p, (size_t)(end - p));
	item[end - p] = '\0';
	return 1;
}

/* Linux's expand_ipv6: eight groups of four hex digits. */
static void ipv6_expand(const unsigned char b[16], char *out, size_t size)
{
	snprintf(out, size, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:"
		 "%02x%02x:%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
		 b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* A prefix length as the host writes IPv6 masks: "64" or "/64", at most 128. */
static int prefix_parse(const char *s, unsigned int *ret)
{
	unsigned int v = 0;

	if (*s == '/')
		s++;
	if (!*s || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
	}
	if (v > 128)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Text appended to a fixed buffer; -ENOSPC once it would not fit. */
struct text {
	char *buf;
	size_t size, len;
	int err;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->size - t->len) {
		t->err = -ENOSPC;
		t->buf[t->len] = '\0';
		return;
	}
	t->len += (size_t)n;
}

/* Append word to a space-separated list of a->* (sizes as the struct's). */
static int words_add(char *buf, size_t size, const char *word)
{
	size_t len = strlen(buf), n = strlen(word);

	if (len + (len ? 1 : 0) + n + 1 > size)
		return -EINVAL;
	if (len)
		buf[len++] = ' ';
	memcpy(buf + len, word, n + 1);
	return 0;
}

/*
 * The ifcfg file of Linux's kvp_set_ip_info and process_ip_string, line
 * for line: HWADDR, DEVICE, BOOTPROTO, then (without DHCP) IPADDRn /
 * IPV6ADDR[_n], NETMASKn / IPV6NETMASK[_n], GATEWAY[n] / IPV6_DEFAULTGW[_n]
 * and DNSn (with DHCP as well), in the host's order, IPv6 addresses in Linux's expanded form.
 * Unlike Linux, every item is checked before anything is written: an
 * address that does not parse, or a mask that is neither an IPv4 address
 * nor a prefix length, is -EINVAL and no file is written. The checked
 * items also fill the lists of *a, which the keyfile and the hook get.
 */
static int ifcfg_build(const struct hv_kvp_ip_info *ip, struct hv_kvp_ip_apply *a,
		       struct text *t)
{
	static const char *const v4name[] = { "IPADDR", "NETMASK", "GATEWAY", "DNS" };
	static const char *const v6name[] = { "IPV6ADDR", "IPV6NETMASK", "IPV6_DEFAULTGW", "DNS" };
	const char *lists[] = { ip->ip_addr, ip->sub_net, ip->gate_way, ip->dns_addr };
	char item[64], text[INET6_ADDRSTRLEN + 8], sub[16];
	unsigned char bin[16];
	unsigned int plen;
	int type, r;

	text_add(t, "HWADDR=%s\nDEVICE=%s\nBOOTPROTO=%s\n", a->mac, a->ifname,
		 ip->dhcp_enabled ? "dhcp" : "none");
	/* With DHCP too: Linux goes on to the lists (for the IPv6 ones, it says). */
	for (type = 0; type < 4; type++) {
		const char *p = lists[type];
		int i = 0, j = 0;

		while ((r = list_next(&p, item, sizeof(item))) > 0) {
			bool v4 = inet_pton(AF_INET, item, bin) == 1;

			sub[0] = '\0';
			if (v4) {
				if (type == 3)
					snprintf(sub, sizeof(sub), "%d", ++i);
				else if (type == 2 && i == 0)
					++i;
				else
					snprintf(sub, sizeof(sub), "%d", i++);
				inet_ntop(AF_INET, bin, text, sizeof(text));
			} else {
				if (type == 1) {
					if (prefix_parse(item, &plen) < 0)
						return -EINVAL;
					/* As it came: digits and an optional '/'. */
					memcpy(text, item, strlen(item) + 1);
				} else if (inet_pton(AF_INET6, item, bin) == 1) {
					ipv6_expand(bin, text, sizeof(text));
				} else {
					return -EINVAL;
				}
				if (type == 3)
					snprintf(sub, sizeof(sub), "%d", ++i);
				else if (j == 0)
					++j;
				else
					snprintf(sub, sizeof(sub), "_%d", j++);
			}
			text_add(t, "%s%s=%s\n", (v4 ? v4name : v6name)[type], sub, text);
			if (type == 2)
				r = words_add(v4 ? a->ipv4_gateways : a->ipv6_gateways,
					      sizeof(a->ipv4_gateways),
					      inet_ntop(v4 ? AF_INET : AF_INET6, bin, text,
							sizeof(text)));
			else if (type == 3)
				r = words_add(a->dns, sizeof(a->dns),
					      inet_ntop(v4 ? AF_INET : AF_INET6, bin, text,
							sizeof(text)));
			if (r < 0)
				return r;
		}
		if (r < 0)
			return r;
	}
	return t->err;
}

/*
 * Addresses paired with their masks by position (Linux's
 * process_ip_string_nm), as "address/prefix" into a->ipv4/ipv6 and the
 * keyfile's addressN lines.
 */
static int pairs_build(const struct hv_kvp_ip_info *ip, struct hv_kvp_ip_apply *a)
{
	const char *pa = ip->ip_addr, *pm = ip->sub_net;
	char item[64], mitem[64], text[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	struct in_addr m;
	unsigned int plen;
	int family, ra, rm, err;

	for (;;) {
		ra = list_next(&pa, item, sizeof(item));
		rm = list_next(&pm, mitem, sizeof(mitem));
		if (ra < 0 || rm < 0)
			return -EINVAL;
		if (ra == 0 || rm == 0)
			return 0;
		family = inet_pton(AF_INET, item, bin) == 1 ? AF_INET : AF_INET6;
		if (family == AF_INET6 && inet_pton(AF_INET6, item, bin) != 1)
			return -EINVAL;
		if (inet_pton(AF_INET, mitem, &m) == 1) {
			/* Leading one bits, as Linux's kvp_subnet_to_plen counts. */
			uint32_t h = ntohl(m.s_addr);

			for (plen = 0; h & 0x80000000u; h <<= 1)
				plen++;
		} else if (prefix_parse(mitem, &plen) < 0) {
			return -EINVAL;
		}
		if (family == AF_INET && plen > 32)
			return -EINVAL;
		inet_ntop(family, bin, text, INET6_ADDRSTRLEN);
		snprintf(text + strlen(text), 8, "/%u", plen);
		err = words_add(family == AF_INET ? a->ipv4 : a->ipv6, sizeof(a->ipv4), text);
		if (err < 0)
			return err;
	}
}

/* One keyfile section: method, addresses, gateways and servers of a family. */
static void nm_section(struct text *t, const char *name, bool dhcp, const char *addrs,
		       const char *gws, const char *dns, int family)
{
	char word[INET6_ADDRSTRLEN + 8];
	const char *p, *sep;
	unsigned char bin[16];
	int n = 0;
	size_t len;

	text_add(t, "\n[%s]\nmethod=%s\n", name, dhcp ? "auto" : "manual");
	for (p = addrs; *p; p = *sep ? sep + 1 : sep) {
		sep = strchr(p, ' ');
		if (!sep)
			sep = p + strlen(p);
		text_add(t, "address%d=%.*s\n", ++n, (int)(sep - p), p);
	}
	text_add(t, "gateway=");
	for (p = gws; *p; p = *sep ? sep + 1 : sep) {
		sep = strchr(p, ' ');
		if (!sep)
			sep = p + strlen(p);
		text_add(t, "%s%.*s", p == gws ? "" : ";", (int)(sep - p), p);
	}
	text_add(t, "\ndns=");
	for (p = dns; *p; p = *sep ? sep + 1 : sep) {
		sep = strchr(p, ' ');
		if (!sep)
			sep = p + strlen(p);
		len = (size_t)(sep - p);
		if (len >= sizeof(word))
			continue;
		memcpy(word, p, len);
		word[len] = '\0';
		if (inet_pton(family, word, bin) == 1)
			text_add(t, "%s;", word);
	}
	text_add(t, "\n");
}

/*
 * The NetworkManager keyfile Linux's daemon writes since 6.6 ("Support
 * for keyfile based connection profile"), with an [ipv4] section, an
 * [ipv6] one, or both, as the host's addresses are.
 */
static int nm_build(const struct hv_kvp_ip_apply *a, struct text *t)
{
	text_add(t, "\n[connection]\ninterface-name=%s\n\n[ethernet]\nmac-address=%s\n",
		 a->ifname, a->mac);
	bool v6 = a->ipv6[0] || a->ipv6_gateways[0];

	if (!v6 || a->ipv4[0] || a->ipv4_gateways[0])
		nm_section(t, "ipv4", a->dhcp_enabled, a->ipv4, a->ipv4_gateways, a->dns,
			   AF_INET);
	if (v6)
		nm_section(t, "ipv6", a->dhcp_enabled, a->ipv6, a->ipv6_gateways, a->dns,
			   AF_INET6);
	return t->err;
}

/* The interface whose sysfs device_id is `guid` (Linux: kvp_get_if_name). */
static int ifname_by_guid(struct hv_kvp_info *info, const char *guid, char *name, size_t size)
{
	char dir[PATH_MAX], path[PATH_MAX], *text = NULL, *nl;
	struct dirent *de;
	DIR *d;
	int err = -ENODEV;

	if (kvp_info_path(info, dir, sizeof(dir), "sys/class/net") < 0)
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? -ENODEV : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= size)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/device/device_id", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (kvp_info_file_read(path, 128, &text) < 0)
			continue;
		nl = strchr(text, '\n');
		if (nl)
			*nl = '\0';
		if (strcasecmp(text, guid) == 0) {
			strcpy(name, de->d_name);
			err = 0;
		}
		free(text);
		text = NULL;
		if (err == 0)
			break;
	}
	closedir(d);
	return err;
}

/* Linux's kvp_if_name_to_mac: sysfs's address, upper case. */
static int mac_by_ifname(struct hv_kvp_info *info, const char *ifname, char mac[18])
{
	char path[PATH_MAX], *text = NULL;
	uint8_t bin[6];
	size_t i;
	int err;

	if (kvp_info_path(info, path, sizeof(path), "sys/class/net/%s/address", ifname) < 0)
		return -ENAMETOOLONG;
	if (kvp_info_file_read(path, 64, &text) < 0)
		return -EIO;
	text[strcspn(text, "\n")] = '\0';
	err = mac_parse(text, bin) < 0 || text[2] != ':' ? -EIO : 0;
	if (err == 0)
		for (i = 0; i < 18; i++)
			mac[i] = (char)toupper((unsigned char)text[i]);
	free(text);
	return err;
}

/* Write `t` to DIR/name atomically, mode 0644 as Linux's fopen leaves it. */
static int state_file_write(const struct hv_kvp_info *info, const char *name,
			    const struct text *t)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/%s", info->state_dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.new", info->state_dir, name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0)
		err = -errno;
	while (err == 0 && off < t->len) {
		n = write(fd, t->buf + off, t->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = -errno;
	if (err < 0)
		unlink(tmp);
	return err;
}

HV_EXPORT int hv_kvp_info_ip_set(struct hv_kvp_info *info, const struct hv_kvp_ip_info *ip)
{
	struct hv_kvp_ip_apply *a = NULL;
	struct text ifcfg = { 0 }, nm = { 0 };
	char guid[39], name[64];
	int err;

	if (!info || !ip)
		return -EINVAL;
	if (!memchr(ip->adapter_id, '\0', sizeof(ip->adapter_id)) ||
	    !memchr(ip->ip_addr, '\0', sizeof(ip->ip_addr)) ||
	    !memchr(ip->sub_net, '\0', sizeof(ip->sub_net)) ||
	    !memchr(ip->gate_way, '\0', sizeof(ip->gate_way)) ||
	    !memchr(ip->dns_addr, '\0', sizeof(ip->dns_addr)))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (a)
		a->sz = sizeof(*a);
	ifcfg.size = nm.size = 16 * 1024;
	ifcfg.buf = malloc(ifcfg.size);
	nm.buf = malloc(nm.size);
	if (!a || !ifcfg.buf || !nm.buf) {
		err = -ENOMEM;
		goto out;
	}
	/* Linux's order: the adapter first (HV_GUID_NOTFOUND), then its MAC, then the lists. */
	err = guid_parse(ip->adapter_id, guid) < 0 ? -ENODEV : 0;
	if (err == 0)
		err = ifname_by_guid(info, guid, a->ifname, sizeof(a->ifname));
	if (err < 0)
		goto out;
	strcpy(a->adapter_id, guid);
	err = mac_by_ifname(info, a->ifname, a->mac);
	if (err < 0)
		goto out;
	a->dhcp_enabled = ip->dhcp_enabled ? 1 : 0;
	err = ifcfg_build(ip, a, &ifcfg);
	if (err == 0)
		err = pairs_build(ip, a);
	if (err == 0)
		err = nm_build(a, &nm);
	if (err == -ENOSPC)
		err = -EINVAL;
	if (err < 0)
		goto out;
	if (!info->state_dir[0]) {
		err = -EOPNOTSUPP;
		goto out;
	}
	snprintf(name, sizeof(name), "ifcfg-%s", a->ifname);
	err = state_file_write(info, name, &ifcfg);
	snprintf(name, sizeof(name), "%s.nmconnection", a->ifname);
	if (err == 0)
		err = state_file_write(info, name, &nm);
	if (err < 0)
		goto out;
	err = info->runner ? info->runner(info->runner_ctx, a) : hv_kvp_info_ip_apply(info, a);
out:
	free(ifcfg.buf);
	free(nm.buf);
	free(a);
	return err;
}

/* Every string NUL-terminated within its field and made only of `chars`. */
static bool field_ok(const char *s, size_t size, const char *chars)
{
	const char *nul = memchr(s, '\0', size);

	return nul && strspn(s, chars) == (size_t)(nul - s);
}

#define HEX "0123456789abcdefABCDEF"

/*
 * What a request may hold: anything else did not come from
 * hv_kvp_info_ip_set, and is refused before a program sees it.
 */
static int apply_check(const struct hv_kvp_ip_apply *a)
{
	if (!field_ok(a->ifname, sizeof(a->ifname),
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ||
	    !a->ifname[0] || a->ifname[0] == '.' || a->ifname[0] == '-' ||
	    !field_ok(a->mac, sizeof(a->mac), HEX ":") || strlen(a->mac) != 17 ||
	    !field_ok(a->adapter_id, sizeof(a->adapter_id), HEX "{}-") ||
	    strlen(a->adapter_id) != 38 || a->dhcp_enabled > 1 ||
	    !field_ok(a->ipv4, sizeof(a->ipv4), HEX ".:/ ") ||
	    !field_ok(a->ipv6, sizeof(a->ipv6), HEX ".:/ ") ||
	    !field_ok(a->ipv4_gateways, sizeof(a->ipv4_gateways), HEX ".: ") ||
	    !field_ok(a->ipv6_gateways, sizeof(a->ipv6_gateways), HEX ".: ") ||
	    !field_ok(a->dns, sizeof(a->dns), HEX ".: "))
		return -EINVAL;
	return 0;
}

HV_EXPORT int hv_kvp_info_ip_apply(struct hv_kvp_info *info, const struct hv_kvp_ip_apply *a)
{
	static const char path_env[] =
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char *envp[16] = { NULL };
	char ifcfg[PATH_MAX], nm[PATH_MAX], mac[18];
	size_t i, k = 0;
	int err = 0;

	/* Every member up to dns was there in 0.2, the first release. */
	if (!info || !a || !opts_valid(a, OPTS_END(struct hv_kvp_ip_apply, dns), sizeof(*a)))
		return -EINVAL;
	err = apply_check(a);
	if (err < 0)
		return err;
	if (info->hook) {
#define ENV_ADD(fmt, ...) do {                                          \
		if (asprintf(&envp[k], fmt, __VA_ARGS__) < 0) {         \
			envp[k] = NULL;                                 \
			err = -ENOMEM;                                  \
			goto out;                                       \
		}                                                       \
		k++;                                                    \
	} while (0)
		ENV_ADD("%s", path_env);
		ENV_ADD("HVKVP_INTERFACE=%s", a->ifname);
		/* The hook's interface has the MAC in sysfs's lower case. */
		for (i = 0; i < sizeof(mac) && a->mac[i]; i++)
			mac[i] = (char)tolower((unsigned char)a->mac[i]);
		mac[i] = '\0';
		ENV_ADD("HVKVP_MAC=%s", mac);
		ENV_ADD("HVKVP_ADAPTER_ID=%s", a->adapter_id);
		ENV_ADD("HVKVP_ROOT=%s", info->root[0] ? info->root : "/");
		ENV_ADD("HVKVP_DHCP=%s", a->dhcp_enabled ? "yes" : "no");
		ENV_ADD("HVKVP_IPV4_ADDRESSES=%s", a->ipv4);
		ENV_ADD("HVKVP_IPV6_ADDRESSES=%s", a->ipv6);
		ENV_ADD("HVKVP_IPV4_GATEWAYS=%s", a->ipv4_gateways);
		ENV_ADD("HVKVP_IPV6_GATEWAYS=%s", a->ipv6_gateways);
		ENV_ADD("HVKVP_DNS=%s", a->dns);
#undef ENV_ADD
		{
			char *argv[] = { info->hook, (char *)a->ifname, NULL };

			err = kvp_hook_run(info->hook, argv, envp, info->hook_timeout_ms);
		}
	} else if (info->ifconfig && info->state_dir[0]) {
		/* Linux's command line: hv_set_ifconfig IFCFG NMCONNECTION. */
		char *argv[] = { info->ifconfig, ifcfg, nm, NULL };
		char *env[] = { (char *)path_env, NULL };

		if (snprintf(ifcfg, sizeof(ifcfg), "%s/ifcfg-%s", info->state_dir, a->ifname) >=
		    (int)sizeof(ifcfg) ||
		    snprintf(nm, sizeof(nm), "%s/%s.nmconnection", info->state_dir, a->ifname) >=
		    (int)sizeof(nm))
			return -ENAMETOOLONG;
		err = kvp_hook_run(info->ifconfig, argv, env, info->hook_timeout_ms);
	} else {
		err = -EOPNOTSUPP;
	}
out:
	for (i = 0; i < k; i++)
		free(envp[i]);
	return err;
}

/*
 * Where distributions install hv_set_ifconfig: /usr/libexec/hypervkvpd
 * (Fedora, RHEL and Azure Linux's hypervkvpd package, the directory
 * Debian's hyperv-daemons uses for the other two scripts), SUSE's
 * /usr/lib/hyper-v/bin, and the bin directories (Ubuntu's
 * linux-cloud-tools, Photon OS's hyper-v package).
 */
HV_EXPORT int hv_kvp_info_ifconfig_find(const char *root, char *path, size_t size)
{
	static const char *const dirs[] = {
		"usr/libexec/hypervkvpd", "usr/lib/hyper-v/bin", "usr/sbin", "usr/bin", "sbin",
	};
	size_t i, len;

	if (!path || !size || (root && root[0] && root[0] != '/'))
		return -EINVAL;
	if (!root || !root[0])
		root = "/";
	len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (snprintf(path, size, "%.*s/%s/hv_set_ifconfig", (int)(len == 1 ? 0 : len), root,
			     dirs[i]) >= (int)size)
			return -ENAMETOOLONG;
		if (access(path, X_OK) == 0)
			return 0;
	}
	path[0] = '\0';
	return -ENOENT;
}
