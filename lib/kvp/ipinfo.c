/* SPDX-License-Identifier: ISC */
/*
 * GET_IP_INFO and SET_IP_INFO.
 *
 * Linux's hv_kvp_daemon answers GET_IP_INFO with getifaddrs(), `ip route`
 * and two shell scripts (hv_get_dns_info, hv_get_dhcp_info), and
 * SET_IP_INFO by writing an ifcfg file and a NetworkManager keyfile and
 * running hv_set_ifconfig on them. We read everything over netlink and a
 * few files under the context's root, and give SET_IP_INFO to a hook
 * program through its argument and environment (hv_kvp_info(3)): every
 * address the host sent is parsed and printed again by inet_ntop before it
 * goes anywhere, so no host text reaches the hook or a shell.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_addr.h>

#include "hvuio/kvp_info.h"
#include "lib/common/compiler.h"
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
	struct nl_sock *sk = NULL;
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
	err = kvp_nl_open(&sk);
	if (err < 0)
		return err;
	ifindex = kvp_link_by_mac(sk, mac);
	if (ifindex < 0) {
		err = ifindex;
		goto out;
	}
	err = kvp_addrs_get(sk, ifindex, &v, &n);
	if (err < 0)
		goto out;
	kvp_list_init(&addrs, ip->ip_addr, sizeof(ip->ip_addr), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	kvp_list_init(&masks, ip->sub_net, sizeof(ip->sub_net), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	kvp_list_init(&gws, ip->gate_way, sizeof(ip->gate_way), HV_KVP_MAX_GATEWAY_SIZE - 1);
	kvp_list_init(&dns, ip->dns_addr, sizeof(ip->dns_addr), HV_KVP_MAX_IP_ADDR_SIZE - 1);
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
	err = kvp_gateways_get(sk, ifindex, &gws);
	if (err < 0)
		goto out;
	dns_get(info, ifindex, &dns);
	ip->dhcp_enabled = dhcp_get(info, ifindex, v, n) ? HV_KVP_DHCP_ENABLED :
							     HV_KVP_DHCP_DISABLED;
out:
	if (err < 0)
		ip_out_clear(ip);
	free(v);
	kvp_nl_close(sk);
	return err;
}

/* ---- SET_IP_INFO ---- */

struct ip_set_env {
	char v4[2 * HV_KVP_MAX_IP_ADDR_SIZE];
	char v6[2 * HV_KVP_MAX_IP_ADDR_SIZE];
	char gw4[2 * HV_KVP_MAX_GATEWAY_SIZE];
	char gw6[2 * HV_KVP_MAX_GATEWAY_SIZE];
	char dns[2 * HV_KVP_MAX_IP_ADDR_SIZE];
};

/* Append word to a space-separated buffer (sizes match the inputs'). */
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
 * Next item of a host list: ';' or ',' separated (Linux's daemon accepts
 * both), blanks around an item ignored, empty items skipped. Returns the
 * item length (0 at the end), -EINVAL for an item longer than an address.
 */
static int list_next(const char **pp, char *item, size_t size)
{
	const char *p = *pp, *start, *end;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		if (!*p) {
			*pp = p;
			return 0;
		}
		start = p;
		while (*p && *p != ';' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) >= size)
			return -EINVAL;
		memcpy(item, start, (size_t)(end - start));
		item[end - start] = '\0';
		*pp = p;
		return (int)(end - start);
	}
}

/* An address of either family; canonical text into out. */
static int addr_parse(const char *s, int *family, unsigned char bin[16],
		      char *out, size_t size)
{
	if (inet_pton(AF_INET, s, bin) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, bin) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return inet_ntop(*family, bin, out, (socklen_t)size) ? 0 : -EINVAL;
}

/* A prefix length: "24", "/64", or for IPv4 a contiguous dotted mask. */
static int plen_parse(const char *s, int family, unsigned int *ret)
{
	unsigned int max = family == AF_INET ? 32 : 128, v = 0;
	struct in_addr m;
	uint32_t h;

	if (family == AF_INET && strchr(s, '.')) {
		if (inet_pton(AF_INET, s, &m) != 1)
			return -EINVAL;
		h = ntohl(m.s_addr);
		/* Contiguous: the inverted mask plus one is a power of two. */
		if (((~h + 1) & ~h) != 0)
			return -EINVAL;
		*ret = (unsigned int)__builtin_popcount(h);
		return 0;
	}
	if (*s == '/')
		s++;
	if (!*s || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int ip_set_validate(const struct hv_kvp_ip_info *ip, struct ip_set_env *e)
{
	const char *pa = ip->ip_addr, *pm = ip->sub_net, *p;
	char item[64], mitem[64], text[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	unsigned int plen;
	int family, na, nm, err;

	memset(e, 0, sizeof(*e));
	if (ip->dhcp_enabled != HV_KVP_DHCP_DISABLED && ip->dhcp_enabled != HV_KVP_DHCP_ENABLED)
		return -EINVAL;
	for (;;) {
		na = list_next(&pa, item, sizeof(item));
		nm = list_next(&pm, mitem, sizeof(mitem));
		if (na < 0 || nm < 0)
			return -EINVAL;
		if (na == 0 && nm == 0)
			break;
		/* Every address needs its mask, and no mask is left over. */
		if (na == 0 || nm == 0)
			return -EINVAL;
		err = addr_parse(item, &family, bin, text, INET6_ADDRSTRLEN);
		if (err < 0 || plen_parse(mitem, family, &plen) < 0)
			return -EINVAL;
		snprintf(text + strlen(text), 8, "/%u", plen);
		err = words_add(family == AF_INET ? e->v4 : e->v6, sizeof(e->v4), text);
		if (err < 0)
			return err;
	}
	p = ip->gate_way;
	while ((na = list_next(&p, item, sizeof(item))) > 0) {
		if (addr_parse(item, &family, bin, text, sizeof(text)) < 0)
			return -EINVAL;
		err = words_add(family == AF_INET ? e->gw4 : e->gw6, sizeof(e->gw4), text);
		if (err < 0)
			return err;
	}
	if (na < 0)
		return -EINVAL;
	p = ip->dns_addr;
	while ((na = list_next(&p, item, sizeof(item))) > 0) {
		if (addr_parse(item, &family, bin, text, sizeof(text)) < 0)
			return -EINVAL;
		err = words_add(e->dns, sizeof(e->dns), text);
		if (err < 0)
			return err;
	}
	return na < 0 ? -EINVAL : 0;
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

HV_EXPORT int hv_kvp_info_ip_set(struct hv_kvp_info *info, const struct hv_kvp_ip_info *ip)
{
	char guid[39], ifname[256], macs[18];
	struct ip_set_env *e = NULL;
	struct nl_sock *sk = NULL;
	char **envp = NULL;
	uint8_t mac[6];
	size_t i, k = 0;
	int err;

	if (!info || !ip)
		return -EINVAL;
	if (!memchr(ip->adapter_id, '\0', sizeof(ip->adapter_id)) ||
	    !memchr(ip->ip_addr, '\0', sizeof(ip->ip_addr)) ||
	    !memchr(ip->sub_net, '\0', sizeof(ip->sub_net)) ||
	    !memchr(ip->gate_way, '\0', sizeof(ip->gate_way)) ||
	    !memchr(ip->dns_addr, '\0', sizeof(ip->dns_addr)))
		return -EINVAL;
	err = guid_parse(ip->adapter_id, guid);
	if (err < 0)
		return err;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = ip_set_validate(ip, e);
	if (err < 0)
		goto out;
	err = ifname_by_guid(info, guid, ifname, sizeof(ifname));
	if (err < 0)
		goto out;
	err = kvp_nl_open(&sk);
	if (err < 0)
		goto out;
	err = kvp_link_by_name(sk, ifname, mac);
	if (err < 0)
		goto out;
	if (!info->hook) {
		err = -EOPNOTSUPP;
		goto out;
	}
	snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	envp = calloc(16, sizeof(*envp));
	if (!envp) {
		err = -ENOMEM;
		goto out;
	}
#define ENV_ADD(fmt, ...) do {                                          \
		if (asprintf(&envp[k], fmt, __VA_ARGS__) < 0) {         \
			envp[k] = NULL;                                 \
			err = -ENOMEM;                                  \
			goto out;                                       \
		}                                                       \
		k++;                                                    \
	} while (0)
	ENV_ADD("PATH=%s", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	ENV_ADD("HVKVP_INTERFACE=%s", ifname);
	ENV_ADD("HVKVP_MAC=%s", macs);
	ENV_ADD("HVKVP_ADAPTER_ID=%s", guid);
	ENV_ADD("HVKVP_ROOT=%s", info->root[0] ? info->root : "/");
	ENV_ADD("HVKVP_DHCP=%s", ip->dhcp_enabled ? "yes" : "no");
	ENV_ADD("HVKVP_IPV4_ADDRESSES=%s", e->v4);
	ENV_ADD("HVKVP_IPV6_ADDRESSES=%s", e->v6);
	ENV_ADD("HVKVP_IPV4_GATEWAYS=%s", e->gw4);
	ENV_ADD("HVKVP_IPV6_GATEWAYS=%s", e->gw6);
	ENV_ADD("HVKVP_DNS=%s", e->dns);
#undef ENV_ADD
	{
		char *argv[] = { info->hook, ifname, NULL };

		err = kvp_hook_run(info->hook, argv, envp, info->hook_timeout_ms);
	}
out:
	if (envp) {
		for (i = 0; i < k; i++)
			free(envp[i]);
		free(envp);
	}
	kvp_nl_close(sk);
	free(e);
	return err;
}
