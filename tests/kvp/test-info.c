/* SPDX-License-Identifier: ISC */
/*
 * The kvp-info suite: Auto pool values, GET_IP_INFO and SET_IP_INFO
 * against real interfaces. The suite creates network namespaces with
 * ip(8) (veth pairs, IPv4 and IPv6 addresses, a default route per family)
 * and every case that reads them runs in Check's forked child after
 * setns() into one, with files (os-release, resolv.conf, systemd state,
 * sysfs net class) under a temporary root of its own. It needs root: it
 * exits 77 (skipped) when it may not create namespaces.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>

#define MAC0 "00:15:5d:0a:0b:0c"
#define MAC1 "00:15:5d:0a:0b:0d"
#define GUID0 "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71}"

static char top[PATH_MAX - 64];      /* temporary directory of the whole run */
static char shared_ns[64];      /* read-only namespace shared by the cases */
static int root_seq;

/* ---- helpers ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define SH_OK(...) ck_assert_int_eq(sh(__VA_ARGS__), 0)

static void put(const char *root, const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A fresh empty root for one case. */
static void root_new(char *root, size_t size)
{
	snprintf(root, size, "%s/root-%d-%d", top, (int)getpid(), root_seq++);
	ck_assert_int_eq(mkdir(root, 0755), 0);
}

static struct hv_kvp_info *info_new(const char *root)
{
	struct hv_kvp_info *info = NULL;

	ck_assert_int_eq(hv_kvp_info_new(root, &info), 0);
	ck_assert_ptr_nonnull(info);
	return info;
}

static void ns_enter(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(setns(fd, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
	close(fd);
}

/*
 * A namespace with lo up and no automatic IPv6 link-local addresses, so
 * that the addresses in it are exactly those a case adds.
 */
static int ns_add(const char *name)
{
	if (sh("ip netns add %s", name) != 0)
		return -1;
	return sh("ip netns exec %s sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/addr_gen_mode' && "
		  "ip -n %s link set lo up", name, name);
}

/* A case's own namespace (deleted by the case or at the end of the run). */
static void ns_private(const char *tag, char *name, size_t size)
{
	snprintf(name, size, "hvkvp-%d-%s", (int)getppid(), tag);
	sh("ip netns del %s 2>/dev/null", name);
	ck_assert_int_eq(ns_add(name), 0);
	ns_enter(name);
}

static void get(struct hv_kvp_info *info, uint32_t i, char *value)
{
	int err = hv_kvp_info_auto_get(info, i, NULL, 0, value, HV_KVP_VALUE_MAX_SIZE);

	ck_assert_msg(err == 0, "auto %u: %s", i, strerror(-err));
}

static void ip_get(struct hv_kvp_info *info, const char *mac, struct hv_kvp_ip_info *ip, int want)
{
	int err;

	memset(ip, 0x55, sizeof(*ip));
	snprintf(ip->adapter_id, sizeof(ip->adapter_id), "%s", mac);
	err = hv_kvp_info_ip_get(info, ip);
	ck_assert_msg(err == want, "ip_get %s: %d (%s), want %d", mac, err, strerror(-err), want);
}

static size_t items(const char *list)
{
	size_t n = *list ? 1 : 0;

	for (; *list; list++)
		n += *list == ';';
	return n;
}

static size_t units(const char *s)
{
	size_t u = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c & 0xc0) != 0x80)
			u += c >= 0xf0 ? 2 : 1;
	}
	return u;
}

/* ---- Auto pool ---- */

START_TEST(auto_keys)
{
	static const char *const keys[] = {
		"FullyQualifiedDomainName", "IntegrationServicesVersion",
		"NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber", "OSName",
		"OSMajorVersion", "OSMinorVersion", "OSVersion", "ProcessorArchitecture",
	};
	char root[PATH_MAX], key[32], value[HV_KVP_VALUE_MAX_SIZE], small[8];
	struct hv_kvp_info *info, *bad = NULL;
	uint32_t i;

	root_new(root, sizeof(root));
	info = info_new(root);
	ck_assert_uint_eq(hv_kvp_info_auto_count(), 10);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(hv_kvp_info_auto_get(info, i, key, sizeof(key), value, sizeof(value)), 0);
		ck_assert_str_eq(key, keys[i]);
	}
	ck_assert_int_eq(hv_kvp_info_auto_get(info, 10, key, sizeof(key), value, sizeof(value)), -ENOENT);
	ck_assert_int_eq(hv_kvp_info_auto_get(info, UINT32_MAX, NULL, 0, value, sizeof(value)), -ENOENT);
	ck_assert_int_eq(hv_kvp_info_auto_get(info, 0, small, sizeof(small), value, sizeof(value)), -ENOBUFS);
	ck_assert_int_eq(hv_kvp_info_auto_get(info, 8, NULL, 0, small, 1), -ENOBUFS);
	ck_assert_int_eq(hv_kvp_info_auto_get(NULL, 0, NULL, 0, value, sizeof(value)), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_auto_get(info, 0, NULL, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_new("relative/root", &bad), -EINVAL);
	ck_assert_ptr_null(bad);
	ck_assert_int_eq(hv_kvp_info_new("/", NULL), -EINVAL);
	ck_assert_ptr_null(hv_kvp_info_free(info));
	ck_assert_ptr_null(hv_kvp_info_free(NULL));
}
END_TEST

START_TEST(auto_os)
{
	char root[PATH_MAX], value[HV_KVP_VALUE_MAX_SIZE], want[256], *dash;
	struct hv_kvp_info *info;
	struct utsname u;

	ck_assert_int_eq(uname(&u), 0);
	root_new(root, sizeof(root));
	put(root, "etc/os-release",
	    "# a comment\n"
	    "PRETTY_NAME=\"Not this\"\n"
	    "NAME=\"Hv \\\"Test\\\" \\$OS \\\\ Linux\"\n"
	    "VERSION_ID='22.04.3'\n", 0644);
	info = info_new(root);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, "Hv \"Test\" $OS \\ Linux");
	/* The whole VERSION_ID in the major version, as Linux's daemon sends it. */
	get(info, HV_KVP_AUTO_OS_MAJOR, value);
	ck_assert_str_eq(value, "22.04.3");
	get(info, HV_KVP_AUTO_OS_MINOR, value);
	ck_assert_str_eq(value, "");
	get(info, HV_KVP_AUTO_OS_BUILD, value);
	ck_assert_str_eq(value, u.release);
	get(info, HV_KVP_AUTO_OS_VERSION, value);
	snprintf(want, sizeof(want), "%s", u.release);
	dash = strchr(want, '-');
	if (dash)
		*dash = '\0';
	ck_assert_str_eq(value, want);
	get(info, HV_KVP_AUTO_IC_VERSION, value);
	ck_assert_str_eq(value, HV_KVP_IC_VERSION);
	get(info, HV_KVP_AUTO_PROCESSOR_ARCH, value);
	ck_assert_str_eq(value, u.machine);

	/*
	 * A change in the file is seen at the next call. Read as Linux's
	 * kvp_get_os_info reads it: the rest of the line is the value, the
	 * last assignment wins.
	 */
	put(root, "etc/os-release", "NAME=Hv\\ Plain # trailing\nVERSION_ID=12\nNAME=Last\n", 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, "Last");
	get(info, HV_KVP_AUTO_OS_MAJOR, value);
	ck_assert_str_eq(value, "12");
	get(info, HV_KVP_AUTO_OS_MINOR, value);
	ck_assert_str_eq(value, "");

	/* usr/lib/os-release when etc/ has none; uname when neither exists. */
	ck_assert_int_eq(sh("rm %s/etc/os-release", root), 0);
	put(root, "usr/lib/os-release", "NAME='Lib OS'\nVERSION_ID=\"7.1\"\n", 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, "Lib OS");
	get(info, HV_KVP_AUTO_OS_MAJOR, value);
	ck_assert_str_eq(value, "7.1");
	get(info, HV_KVP_AUTO_OS_MINOR, value);
	ck_assert_str_eq(value, "");
	ck_assert_int_eq(sh("rm %s/usr/lib/os-release", root), 0);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, u.sysname);
	get(info, HV_KVP_AUTO_OS_MAJOR, value);
	ck_assert_str_eq(value, "");
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(auto_hostile)
{
	char root[PATH_MAX], value[HV_KVP_VALUE_MAX_SIZE];
	static char text[80000];
	struct hv_kvp_info *info;
	struct utsname u;
	size_t i, len;

	ck_assert_int_eq(uname(&u), 0);
	root_new(root, sizeof(root));
	info = info_new(root);

	/* 3000 two-byte characters: cut at a whole one, within both limits. */
	len = (size_t)snprintf(text, sizeof(text), "NAME=\"");
	for (i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "\xc3\xa9");
	snprintf(text + len, sizeof(text) - len, "\"\n");
	put(root, "etc/os-release", text, 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_uint_le(strlen(value), 2047);
	ck_assert_uint_eq(strlen(value) % 2, 0);
	ck_assert_uint_eq(units(value), strlen(value) / 2);
	ck_assert_uint_le(units(value), HV_KVP_AUTO_VALUE_UNITS);

	/* Four-byte characters count two units each. */
	len = (size_t)snprintf(text, sizeof(text), "NAME=");
	for (i = 0; i < 600; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "\xf0\x9f\x98\x80");
	put(root, "etc/os-release", text, 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_uint_eq(strlen(value), 4 * 511);
	ck_assert_uint_eq(units(value), 1022);

	/* Invalid UTF-8 and control characters become '?'. */
	put(root, "etc/os-release", "NAME=\"\xff\xfe" "A\x01" "B\xe2\x82\"\n", 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, "??A?B??");

	/* Not an os-release (too large): as if there were none. */
	memset(text, 'x', sizeof(text) - 1);
	memcpy(text, "NAME=big\n", 9);
	text[sizeof(text) - 1] = '\0';
	put(root, "etc/os-release", text, 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, u.sysname);

	/* Unterminated quote, empty value, key only as a prefix of another. */
	put(root, "etc/os-release", "NAMEX=no\nNAME=\"open\nVERSION_ID=\n", 0644);
	get(info, HV_KVP_AUTO_OS_NAME, value);
	ck_assert_str_eq(value, "open");
	get(info, HV_KVP_AUTO_OS_MAJOR, value);
	ck_assert_str_eq(value, "");
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(auto_addresses)
{
	char root[PATH_MAX], value[HV_KVP_VALUE_MAX_SIZE];
	struct hv_kvp_info *info;

	ns_enter(shared_ns);
	root_new(root, sizeof(root));
	info = info_new(root);
	/* lo is up with 127.0.0.1 and ::1: never listed. */
	get(info, HV_KVP_AUTO_IPV4, value);
	ck_assert_str_eq(value, "192.0.2.10;192.0.2.11;198.51.100.20");
	get(info, HV_KVP_AUTO_IPV6, value);
	ck_assert_str_eq(value, "2001:db8:1::10;2001:db8:1::11");

	/* An address added now is seen by the next call. */
	SH_OK("ip addr add 203.0.113.9/32 dev hv1");
	get(info, HV_KVP_AUTO_IPV4, value);
	ck_assert_str_eq(value, "192.0.2.10;192.0.2.11;198.51.100.20;203.0.113.9");
	SH_OK("ip addr del 203.0.113.9/32 dev hv1");
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(auto_fqdn)
{
	char root[PATH_MAX], value[HV_KVP_VALUE_MAX_SIZE], path[PATH_MAX + 16];
	struct hv_kvp_info *info;
	int i;

	/*
	 * Own host name, hosts file and resolver: the name resolves through
	 * the hosts file to its canonical name, and DNS (127.0.0.1 in a
	 * namespace with nothing listening) fails at once.
	 */
	ns_enter(shared_ns);
	ck_assert_msg(unshare(CLONE_NEWUTS | CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	root_new(root, sizeof(root));
	put(root, "hosts", "192.0.2.10 hvkvp-fqdn-one.example.test hvkvp-fqdn-one\n", 0644);
	put(root, "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", 0644);
	snprintf(path, sizeof(path), "%s/hosts", root);
	ck_assert_int_eq(mount(path, "/etc/hosts", NULL, MS_BIND, NULL), 0);
	snprintf(path, sizeof(path), "%s/resolv.conf", root);
	ck_assert_int_eq(mount(path, "/etc/resolv.conf", NULL, MS_BIND, NULL), 0);
	info = info_new(root);
	ck_assert_int_eq(sethostname("hvkvp-fqdn-one", 14), 0);
	get(info, HV_KVP_AUTO_FQDN, value);
	ck_assert_str_eq(value, "hvkvp-fqdn-one.example.test");
	/* Renamed to a name nothing resolves: seen at once, the plain name. */
	ck_assert_int_eq(sethostname("hvkvp-fqdn-two", 14), 0);
	get(info, HV_KVP_AUTO_FQDN, value);
	ck_assert_str_eq(value, "hvkvp-fqdn-two");

	/* A cache the caller keeps: never resolved on the request path. */
	ck_assert_int_eq(hv_kvp_info_fqdn_resolve("hvkvp-fqdn-one", value, sizeof(value)), 0);
	ck_assert_str_eq(value, "hvkvp-fqdn-one.example.test");
	i = hv_kvp_info_fqdn_resolve("hvkvp-fqdn-two", value, sizeof(value));
	ck_assert_msg(i == -ENOENT || i == -EAGAIN, "unresolvable: %d", i);
	ck_assert_int_eq(hv_kvp_info_fqdn_resolve("hvkvp-fqdn-one", value, 4), -ENOBUFS);
	ck_assert_int_eq(hv_kvp_info_fqdn_stale(info, path, sizeof(path)), 0);
	ck_assert_int_eq(hv_kvp_info_fqdn_set(info, "hvkvp-fqdn-two", "cached.example.test"), 0);
	get(info, HV_KVP_AUTO_FQDN, value);
	ck_assert_str_eq(value, "cached.example.test");
	ck_assert_int_eq(sethostname("hvkvp-fqdn-one", 14), 0);
	ck_assert_int_eq(hv_kvp_info_fqdn_stale(info, path, sizeof(path)), 1);
	ck_assert_str_eq(path, "hvkvp-fqdn-one");
	/* Stale: the plain new name, although it would resolve, until the caller sets it. */
	get(info, HV_KVP_AUTO_FQDN, value);
	ck_assert_str_eq(value, "hvkvp-fqdn-one");
	ck_assert_int_eq(hv_kvp_info_fqdn_set(info, "hvkvp-fqdn-one", NULL), 0);
	ck_assert_int_eq(hv_kvp_info_fqdn_stale(info, path, sizeof(path)), 0);
	get(info, HV_KVP_AUTO_FQDN, value);
	ck_assert_str_eq(value, "hvkvp-fqdn-one");
	ck_assert_int_eq(hv_kvp_info_fqdn_set(NULL, "h", NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_fqdn_set(info, NULL, NULL), -EINVAL);
	hv_kvp_info_free(info);
}
END_TEST


/* ---- GET_IP_INFO ---- */

START_TEST(ip_get_basic)
{
	char root[PATH_MAX];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	static const char *const spellings[] = {
		MAC0, "00:15:5D:0A:0B:0C", "00-15-5d-0a-0B-0c",
	};
	size_t i;

	ns_enter(shared_ns);
	root_new(root, sizeof(root));
	put(root, "etc/resolv.conf",
	    "search example.org\n"
	    "nameserver 192.0.2.53\n"
	    "nameserver 127.0.0.53\n"
	    "  nameserver\t2001:DB8::53 # a comment\n"
	    "nameserver not-an-address\n", 0644);
	info = info_new(root);
	for (i = 0; i < 3; i++) {
		ip_get(info, spellings[i], &ip, 0);
		ck_assert_str_eq(ip.adapter_id, spellings[i]);
		ck_assert_str_eq(ip.ip_addr, "192.0.2.10;192.0.2.11;2001:db8:1::10;2001:db8:1::11");
		ck_assert_str_eq(ip.sub_net, "255.255.255.0;255.255.255.0;/64;/48");
		ck_assert_str_eq(ip.gate_way, "192.0.2.1;2001:db8:1::1;");
		ck_assert_str_eq(ip.dns_addr, "192.0.2.53;2001:db8::53;");
		ck_assert_uint_eq(ip.addr_family, HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6);
		ck_assert_uint_eq(ip.dhcp_enabled, HV_KVP_DHCP_DISABLED);
	}
	/* hv1: IPv4 only, no gateway, an address with a lease lifetime. */
	ip_get(info, MAC1, &ip, 0);
	ck_assert_str_eq(ip.ip_addr, "198.51.100.20");
	ck_assert_str_eq(ip.sub_net, "255.255.255.128");
	ck_assert_str_eq(ip.gate_way, "");
	ck_assert_uint_eq(ip.addr_family, HV_KVP_ADDR_FAMILY_IPV4);
	ck_assert_uint_eq(ip.dhcp_enabled, HV_KVP_DHCP_ENABLED);
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(ip_get_dns_sources)
{
	char root[PATH_MAX], rel[128];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	unsigned int i0, i1;

	ns_enter(shared_ns);
	i0 = if_nametoindex("hv0");
	i1 = if_nametoindex("hv1");
	ck_assert_uint_ne(i0, 0);
	ck_assert_uint_ne(i1, 0);
	root_new(root, sizeof(root));
	info = info_new(root);

	/* Nothing anywhere: empty, not an error. */
	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.dns_addr, "");

	/* Only the stub in etc/: resolved's upstream list. */
	put(root, "etc/resolv.conf", "nameserver 127.0.0.53\noptions edns0\n", 0644);
	put(root, "run/systemd/resolve/resolv.conf", "nameserver 198.51.100.53\n", 0644);
	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.dns_addr, "198.51.100.53;");

	/* networkd's per-link servers beat resolv.conf ... */
	snprintf(rel, sizeof(rel), "run/systemd/netif/links/%u", i1);
	put(root, rel, "ADMIN_STATE=configured\nDNS=203.0.113.7 bogus 2001:db8::7\n", 0644);
	ip_get(info, MAC1, &ip, 0);
	ck_assert_str_eq(ip.dns_addr, "203.0.113.7;2001:db8::7;");
	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.dns_addr, "198.51.100.53;");

	/* ... and resolved's per-link state beats both. */
	snprintf(rel, sizeof(rel), "run/systemd/resolve/netif/%u", i0);
	put(root, rel, "LLMNR=yes\nSERVERS=203.0.113.1:53#dns.example [2001:db8::99]:853 "
		      "127.0.0.53 fe80::1%2\n", 0644);
	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.dns_addr, "203.0.113.1;2001:db8::99;fe80::1;");

	/* networkd's lease file turns DHCP on for hv0. */
	ck_assert_uint_eq(ip.dhcp_enabled, HV_KVP_DHCP_DISABLED);
	snprintf(rel, sizeof(rel), "run/systemd/netif/leases/%u", i0);
	put(root, rel, "ADDRESS=192.0.2.10\n", 0644);
	ip_get(info, MAC0, &ip, 0);
	ck_assert_uint_eq(ip.dhcp_enabled, HV_KVP_DHCP_ENABLED);
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(ip_get_bad_mac)
{
	static const char *const bad[] = {
		"", "00:15:5d:0a:0b", "00:15:5d:0a:0b:0c:0d", "00:15:5d:0a:0b:0c ",
		" 00:15:5d:0a:0b:0c", "00-15:5d:0a:0b:0c", "00.15.5d.0a.0b.0c",
		"0g:15:5d:0a:0b:0c", "001:5d:0a:0b:0c:0d", "00155d0a0b0c",
		"00:15:5d:0a:0b:0c\n", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71}",
	};
	char root[PATH_MAX];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	size_t i;

	ns_enter(shared_ns);
	root_new(root, sizeof(root));
	info = info_new(root);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip_get(info, bad[i], &ip, -EBADMSG);
		ck_assert_str_eq(ip.ip_addr, "");
		ck_assert_str_eq(ip.dns_addr, "");
		ck_assert_uint_eq(ip.addr_family, 0);
	}
	/* No NUL in the field at all. */
	memset(&ip, 'A', sizeof(ip));
	ck_assert_int_eq(hv_kvp_info_ip_get(info, &ip), -EBADMSG);
	/* Well formed, but no such interface (hv0p's peer MAC is random). */
	ip_get(info, "02:00:00:00:00:99", &ip, -ENODEV);
	ck_assert_str_eq(ip.gate_way, "");
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_GET_IP_INFO, -ENODEV), HV_IC_E_FAIL);
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_GET_IP_INFO, 0), HV_IC_S_OK);
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_ENUMERATE, -ENOENT), HV_IC_S_CONT);
	ck_assert_int_eq(hv_kvp_info_ip_get(info, NULL), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_ip_get(NULL, &ip), -EINVAL);
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(ip_get_many_addresses)
{
	char root[PATH_MAX], ns[64], batch[PATH_MAX + 16], value[HV_KVP_VALUE_MAX_SIZE];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	char *p, *q;
	FILE *f;
	int i;

	ns_private("many", ns, sizeof(ns));
	root_new(root, sizeof(root));
	SH_OK("ip link add hvm address " MAC0 " type veth peer name hvmp && ip link set hvm up");
	snprintf(batch, sizeof(batch), "%s/batch", root);
	f = fopen(batch, "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 300; i++)
		fprintf(f, "addr add 10.%d.%d.%d/16 dev hvm\n", 1 + i / 250, i % 250, 1 + i % 200);
	ck_assert_int_eq(fclose(f), 0);
	SH_OK("ip -batch %s", batch);

	info = info_new(root);
	ip_get(info, MAC0, &ip, 0);
	/* Cut at a whole address, masks cut at the same one. */
	ck_assert_uint_le(strlen(ip.ip_addr), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	ck_assert_uint_le(strlen(ip.sub_net), HV_KVP_MAX_IP_ADDR_SIZE - 1);
	ck_assert_uint_lt(items(ip.ip_addr), 300);
	ck_assert_uint_gt(items(ip.ip_addr), 50);
	ck_assert_uint_eq(items(ip.ip_addr), items(ip.sub_net));
	ck_assert_str_eq(strtok(strcpy(value, ip.ip_addr), ";"), "10.1.0.1");
	for (p = ip.ip_addr; p; p = q ? q + 1 : NULL) {
		struct in_addr a;
		char one[32];

		q = strchr(p, ';');
		snprintf(one, sizeof(one), "%.*s", q ? (int)(q - p) : (int)strlen(p), p);
		ck_assert_msg(inet_pton(AF_INET, one, &a) == 1, "not an address: '%s'", one);
	}
	get(info, HV_KVP_AUTO_IPV4, value);
	ck_assert_uint_le(strlen(value), HV_KVP_AUTO_VALUE_UNITS);
	ck_assert_uint_lt(items(value), 300);
	ck_assert_int_eq(value[strlen(value) - 1] != ';', 1);
	p = strrchr(value, ';');
	{
		struct in_addr a;

		ck_assert_int_eq(inet_pton(AF_INET, p + 1, &a), 1);
	}
	hv_kvp_info_free(info);
	sh("ip netns del %s", ns);
}
END_TEST

/*
 * Next hops as route netlink gives them: two IPv4 default routes of one
 * metric (`ip route append`), an IPv6 multipath one, defaults in other
 * tables (one past 255, only in RTA_TABLE) left out. And the synthetic
 * NIC found when a VF with its MAC is enslaved to it, even though the VF
 * has the lower index and an address of its own.
 */
START_TEST(ip_get_routes_and_vf)
{
	char root[PATH_MAX], ns[64];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;

	ns_private("routes", ns, sizeof(ns));
	root_new(root, sizeof(root));
	SH_OK("ip link add hvr address " MAC0 " type veth peer name hvrp && "
	      "ip link set hvr up && ip link set hvrp up && "
	      "ip addr add 192.0.2.30/24 dev hvr && ip addr add 2001:db8:5::30/64 dev hvr nodad && "
	      "ip route add default via 192.0.2.1 dev hvr && "
	      "ip route append default via 192.0.2.2 dev hvr && "
	      "ip route add default via 192.0.2.9 dev hvr table 100 && "
	      "ip route add default via 192.0.2.8 dev hvr table 1000 && "
	      "ip -6 route add default nexthop via 2001:db8:5::1 dev hvr "
	      "nexthop via 2001:db8:5::2 dev hvr");
	SH_OK("ip link add hvv address " MAC1 " type veth peer name hvvp && "
	      "ip link add hvs address " MAC1 " type bridge && "
	      "ip link set hvv master hvs && ip link set hvv up && ip link set hvs up && "
	      "ip addr add 198.51.100.7/24 dev hvv && ip addr add 192.0.2.40/24 dev hvs");
	info = info_new(root);
	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.ip_addr, "192.0.2.30;2001:db8:5::30");
	ck_assert_str_eq(ip.gate_way, "192.0.2.1;192.0.2.2;2001:db8:5::1;2001:db8:5::2;");
	ip_get(info, MAC1, &ip, 0);
	ck_assert_str_eq(ip.ip_addr, "192.0.2.40");
	hv_kvp_info_free(info);
	sh("ip netns del %s", ns);
}
END_TEST

/* ---- SET_IP_INFO ---- */

static const char record_hook[] =
	"#!/bin/sh\n"
	"out=\"$HVKVP_ROOT/hook.out\"\n"
	"echo \"ARGC=$#\" > \"$out\"\n"
	"echo \"ARG1=$1\" >> \"$out\"\n"
	"env | sort >> \"$out\"\n"
	"exit 0\n";

static void set_req(struct hv_kvp_ip_info *ip, const char *guid, const char *addrs,
		    const char *masks, const char *gws, const char *dns, uint8_t dhcp)
{
	memset(ip, 0, sizeof(*ip));
	snprintf(ip->adapter_id, sizeof(ip->adapter_id), "%s", guid);
	snprintf(ip->ip_addr, sizeof(ip->ip_addr), "%s", addrs);
	snprintf(ip->sub_net, sizeof(ip->sub_net), "%s", masks);
	snprintf(ip->gate_way, sizeof(ip->gate_way), "%s", gws);
	snprintf(ip->dns_addr, sizeof(ip->dns_addr), "%s", dns);
	ip->dhcp_enabled = dhcp;
	ip->addr_family = HV_KVP_ADDR_FAMILY_IPV4 | HV_KVP_ADDR_FAMILY_IPV6;
}

static struct hv_kvp_info *set_root(char *root, size_t size, const char *hook_body)
{
	struct hv_kvp_info *info;
	char hook[PATH_MAX];

	root_new(root, size);
	put(root, "sys/class/net/hv0/device/device_id", GUID0 "\n", 0644);
	put(root, "sys/class/net/hv1/device/device_id", "{00000000-0000-0000-0000-000000000001}\n", 0644);
	put(root, "sys/class/net/hv0/address", MAC0 "\n", 0644);
	put(root, "sys/class/net/lo/address", "00:00:00:00:00:00\n", 0644);
	info = info_new(root);
	ck_assert_int_eq(hv_kvp_info_state_dir_set(info, root), 0);
	if (hook_body) {
		put(root, "hook", hook_body, 0755);
		snprintf(hook, sizeof(hook), "%s/hook", root);
		ck_assert_int_eq(hv_kvp_info_hook_set(info, hook, 5000), 0);
	}
	return info;
}

START_TEST(ip_set_hook_env)
{
	char root[PATH_MAX], path[PATH_MAX + 16], *out, *line;
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;

	ns_enter(shared_ns);
	info = set_root(root, sizeof(root), record_hook);
	snprintf(path, sizeof(path), "%s/hook.out", root);

	set_req(&ip, "{4BC4E1F0-9C53-4D4B-A0E4-6E9B3C2F5A71}",
		"192.0.2.50; 2001:DB8:0:0::50;192.0.2.51", "255.255.255.0;64;/23",
		"192.0.2.1;2001:db8::1", "192.0.2.53;2001:DB8::53", 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), 0);
	out = slurp(path);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(strstr(out, "ARGC=1\nARG1=hv0\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_INTERFACE=hv0\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_MAC=" MAC0 "\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_ADAPTER_ID=" GUID0 "\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_DHCP=no\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_IPV4_ADDRESSES=192.0.2.50/24 192.0.2.51/23\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_IPV6_ADDRESSES=2001:db8::50/64\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_IPV4_GATEWAYS=192.0.2.1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_IPV6_GATEWAYS=2001:db8::1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_DNS=192.0.2.53 2001:db8::53\n"));
	/* A clean environment: nothing of ours leaks into the hook. */
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		ck_assert_msg(strncmp(line, "HVKVP_", 6) == 0 || strncmp(line, "ARG", 3) == 0 ||
			      strncmp(line, "PATH=", 5) == 0 || strncmp(line, "PWD=", 4) == 0 ||
			      strncmp(line, "SHLVL=", 6) == 0 || strncmp(line, "_=", 2) == 0 ||
			      strncmp(line, "OLDPWD=", 7) == 0,
			      "unexpected variable: %s", line);

	/* Bare GUID, DHCP, no addresses. */
	set_req(&ip, "4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71", "", "", "", "", 1);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), 0);
	out = slurp(path);
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_DHCP=yes\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nHVKVP_IPV4_ADDRESSES=\n"));
	hv_kvp_info_free(info);
}
END_TEST

START_TEST(ip_set_invalid)
{
	static const char *const bad_guids[] = {
		"", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71", "4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71}",
		"{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a7}", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a711}",
		"{4bc4e1f09c53-4d4b-a0e4-6e9b3c2f5a71-}", "{4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a7g}",
		"[4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71]", MAC0, "{../../../etc/passwd}",
	};
	static const struct {
		const char *addrs, *masks, *gws, *dns;
		uint8_t dhcp;
	} bad[] = {
		{ "192.0.2.300", "255.255.255.0", "", "", 0 },
		{ "192.0.2.5;$(reboot)", "24;24", "", "", 0 },
		{ "192.0.2.5 192.0.2.6", "24", "", "", 0 },
		{ "192.0.2.5", "33", "", "", 0 },
		{ "2001:db8::5", "129", "", "", 0 },
		{ "2001:db8::5", "/6x", "", "", 0 },
		{ "192.0.2.5", "24", "192.0.2.1 ; `id`", "", 0 },
		{ "192.0.2.5", "24", "", "8.8.8.8;dns.example", 0 },
		{ "192.0.2.5", "-24", "", "", 0 },
		{ "192.0.2.5", "24$(reboot)", "", "", 0 },
		{ "192.0.2.5", "24", "", "192.0.2.53,192.0.2.54", 0 },
	};
	char root[PATH_MAX], path[PATH_MAX + 16];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	size_t i;

	ns_enter(shared_ns);
	info = set_root(root, sizeof(root), record_hook);
	snprintf(path, sizeof(path), "%s/hook.out", root);
	for (i = 0; i < sizeof(bad_guids) / sizeof(bad_guids[0]); i++) {
		set_req(&ip, bad_guids[i], "192.0.2.5", "24", "", "", 0);
		/* No interface has it: HV_GUID_NOTFOUND, as Linux's kvp_get_if_name. */
		ck_assert_msg(hv_kvp_info_ip_set(info, &ip) == -ENODEV, "guid '%s'", bad_guids[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err;

		set_req(&ip, GUID0, bad[i].addrs, bad[i].masks, bad[i].gws, bad[i].dns, bad[i].dhcp);
		err = hv_kvp_info_ip_set(info, &ip);
		ck_assert_msg(err == -EINVAL, "case %zu: %d", i, err);
		ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_SET_IP_INFO, err), HV_IC_INVALIDARG);
	}
	/* An unterminated field. */
	set_req(&ip, GUID0, "", "", "", "", 0);
	memset(ip.dns_addr, '1', sizeof(ip.dns_addr));
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -EINVAL);
	/* No hook ran for any of them. */
	ck_assert_int_eq(access(path, F_OK), -1);

	/* Unknown GUID; a GUID whose interface does not exist here. */
	set_req(&ip, "{00000000-0000-0000-0000-00000000abcd}", "192.0.2.5", "24", "", "", 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -ENODEV);
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_SET_IP_INFO, -ENODEV), HV_IC_GUID_NOTFOUND);
	SH_OK("mkdir -p %s/sys/class/net/ghost/device && echo '{11111111-0000-0000-0000-000000000000}' "
	      "> %s/sys/class/net/ghost/device/device_id", root, root);
	/* Its MAC cannot be read: HV_E_FAIL, as Linux's kvp_if_name_to_mac failing. */
	set_req(&ip, "{11111111-0000-0000-0000-000000000000}", "192.0.2.5", "24", "", "", 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -EIO);
	ck_assert_int_eq(access(path, F_OK), -1);

	/* Valid, but no hook configured. */
	ck_assert_int_eq(hv_kvp_info_hook_set(info, NULL, 0), 0);
	set_req(&ip, GUID0, "192.0.2.5", "24", "", "", 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -EOPNOTSUPP);
	ck_assert_int_eq(hv_kvp_info_hook_set(info, "relative/hook", 0), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_ip_set(NULL, &ip), -EINVAL);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, NULL), -EINVAL);
	hv_kvp_info_free(info);
}
END_TEST

/* hv_kvp_info_ip_apply takes only what hv_kvp_info_ip_set produces. */
START_TEST(ip_apply_checks)
{
	char root[PATH_MAX], path[PATH_MAX + 16];
	struct hv_kvp_ip_apply *a = calloc(1, sizeof(*a));
	struct hv_kvp_info *info;
	size_t i;
	static const struct {
		size_t off, size;
		const char *text;
	} bad[] = {
		{ offsetof(struct hv_kvp_ip_apply, ifname), 16, "../etc" },
		{ offsetof(struct hv_kvp_ip_apply, ifname), 16, "-rf" },
		{ offsetof(struct hv_kvp_ip_apply, ifname), 16, "" },
		{ offsetof(struct hv_kvp_ip_apply, mac), 18, "00:15:5D:0A:0B;0C" },
		{ offsetof(struct hv_kvp_ip_apply, adapter_id), 39, "{x}" },
		{ offsetof(struct hv_kvp_ip_apply, ipv4), 16, "10.0.0.1/8 $(id)" },
		{ offsetof(struct hv_kvp_ip_apply, dns), 16, "10.0.0.1\n" },
	};

	ck_assert_ptr_nonnull(a);
	info = set_root(root, sizeof(root), record_hook);
	snprintf(path, sizeof(path), "%s/hook.out", root);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(a, 0, sizeof(*a));
		a->sz = sizeof(*a);
		strcpy(a->ifname, "hv0");
		strcpy(a->mac, "00:15:5D:0A:0B:0C");
		strcpy(a->adapter_id, GUID0);
		memset((char *)a + bad[i].off, 0, bad[i].size);
		memcpy((char *)a + bad[i].off, bad[i].text, strlen(bad[i].text));
		ck_assert_msg(hv_kvp_info_ip_apply(info, a) == -EINVAL, "case %zu", i);
	}
	/* A field without its NUL. */
	memset(a->ifname, 'a', sizeof(a->ifname));
	ck_assert_int_eq(hv_kvp_info_ip_apply(info, a), -EINVAL);
	a->dhcp_enabled = 2;
	ck_assert_int_eq(hv_kvp_info_ip_apply(info, a), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* A good one runs the hook. */
	memset(a, 0, sizeof(*a));
	a->sz = sizeof(*a);
	strcpy(a->ifname, "hv0");
	strcpy(a->mac, "00:15:5D:0A:0B:0C");
	strcpy(a->adapter_id, GUID0);
	strcpy(a->ipv4, "192.0.2.5/24");
	a->dhcp_enabled = 1;
	ck_assert_int_eq(hv_kvp_info_ip_apply(info, a), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
	free(a);
	hv_kvp_info_free(info);
}
END_TEST

static long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

START_TEST(ip_set_hook_fails)
{
	char root[PATH_MAX], hook[PATH_MAX + 16];
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;
	long t0;
	int err;

	ns_enter(shared_ns);
	info = set_root(root, sizeof(root), "#!/bin/sh\nexit 3\n");
	set_req(&ip, GUID0, "192.0.2.5", "24", "", "", 0);
	err = hv_kvp_info_ip_set(info, &ip);
	ck_assert_int_eq(err, -EIO);
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_SET_IP_INFO, err), HV_IC_E_FAIL);

	put(root, "hook", "#!/bin/sh\nkill -9 $$\n", 0755);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -EIO);

	/* A hook that hangs, with a background child, is killed in time. */
	put(root, "hook", "#!/bin/sh\nsleep 30 &\nsleep 30\n", 0755);
	snprintf(hook, sizeof(hook), "%s/hook", root);
	ck_assert_int_eq(hv_kvp_info_hook_set(info, hook, 300), 0);
	t0 = ms_now();
	err = hv_kvp_info_ip_set(info, &ip);
	ck_assert_int_eq(err, -ETIMEDOUT);
	ck_assert_int_lt(ms_now() - t0, 3000);
	ck_assert_int_ge(ms_now() - t0, 300);
	ck_assert_uint_eq(hv_kvp_info_status(HV_KVP_OP_SET_IP_INFO, err), HV_IC_E_FAIL);

	put(root, "hook", "#!/bin/sh\nexit 0\n", 0644);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -EACCES);
	snprintf(hook, sizeof(hook), "%s/no-such-hook", root);
	ck_assert_int_eq(hv_kvp_info_hook_set(info, hook, 0), 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), -ENOENT);
	hv_kvp_info_free(info);
}
END_TEST

/* The shipped sample hook applies the configuration for real. */
START_TEST(ip_set_sample_hook)
{
	char root[PATH_MAX], ns[64], *conf;
	struct hv_kvp_info *info;
	struct hv_kvp_ip_info ip;

	ns_private("sample", ns, sizeof(ns));
	SH_OK("ip link add hv0 address " MAC0 " type veth peer name hv0p && "
	      "ip link set hv0p up && ip addr add 10.0.0.5/8 dev hv0");
	info = set_root(root, sizeof(root), NULL);
	put(root, "etc/resolv.conf", "search example.org\nnameserver 10.9.9.9\n", 0644);
	ck_assert_int_eq(hv_kvp_info_hook_set(info, SAMPLE_HOOK, 10000), 0);

	set_req(&ip, GUID0, "192.0.2.77;2001:db8:5::77;192.0.2.78", "255.255.255.0;/64;255.255.255.0",
		"192.0.2.1;2001:db8:5::1", "192.0.2.53;2001:db8:5::53", 0);
	ck_assert_int_eq(hv_kvp_info_ip_set(info, &ip), 0);

	ip_get(info, MAC0, &ip, 0);
	ck_assert_str_eq(ip.ip_addr, "192.0.2.77;192.0.2.78;2001:db8:5::77");
	ck_assert_str_eq(ip.sub_net, "255.255.255.0;255.255.255.0;/64");
	ck_assert_str_eq(ip.gate_way, "192.0.2.1;2001:db8:5::1;");
	ck_assert_str_eq(ip.dns_addr, "192.0.2.53;2001:db8:5::53;");
	ck_assert_uint_eq(ip.dhcp_enabled, HV_KVP_DHCP_DISABLED);
	conf = slurp(strcat(root, "/etc/resolv.conf"));
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf, "search example.org\nnameserver 192.0.2.53\nnameserver 2001:db8:5::53\n");
	hv_kvp_info_free(info);
	sh("ip netns del %s", ns);
}
END_TEST

/* ---- setup ---- */

static int shared_ns_setup(void)
{
	const char *n = shared_ns;

	if (ns_add(n) != 0)
		return -1;
	return sh("ip -n %s link add hv0 address " MAC0 " type veth peer name hv0p && "
		  "ip -n %s link add hv1 address " MAC1 " type veth peer name hv1p && "
		  "ip -n %s link set hv0 up && ip -n %s link set hv0p up && "
		  "ip -n %s link set hv1 up && ip -n %s link set hv1p up && "
		  "ip -n %s addr add 192.0.2.10/24 dev hv0 && "
		  "ip -n %s addr add 192.0.2.11/24 dev hv0 && "
		  "ip -n %s addr add 2001:db8:1::11/48 dev hv0 nodad && "
		  "ip -n %s addr add 2001:db8:1::10/64 dev hv0 nodad && "
		  "ip -n %s route add default via 192.0.2.1 dev hv0 && "
		  "ip -n %s -6 route add default via 2001:db8:1::1 dev hv0 && "
		  "ip -n %s -6 route add default via 2001:db8:1::1 dev hv0 metric 2000 && "
		  "ip -n %s addr add 198.51.100.20/25 dev hv1 valid_lft 3600 preferred_lft 3600",
		  n, n, n, n, n, n, n, n, n, n, n, n, n, n);
}

/* May this process create network namespaces at all? */
static bool netns_allowed(void)
{
	pid_t pid;
	int st;

	if (geteuid() != 0)
		return false;
	pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
	Suite *s = suite_create("kvp-info");
	TCase *tc = tcase_create("info");
	SRunner *sr;
	int failed;

	if (!netns_allowed()) {
		printf("kvp-info: SKIP: not allowed to create network namespaces (needs root)\n");
		return 77;
	}
	snprintf(top, sizeof(top), "/tmp/hvkvp-info-XXXXXX");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	snprintf(shared_ns, sizeof(shared_ns), "hvkvp-%d-shared", (int)getpid());
	if (shared_ns_setup() != 0) {
		fprintf(stderr, "kvp-info: could not set up namespace %s with ip(8)\n", shared_ns);
		sh("ip netns del %s 2>/dev/null", shared_ns);
		sh("rm -rf %s", top);
		return EXIT_FAILURE;
	}

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, auto_keys);
	tcase_add_test(tc, auto_os);
	tcase_add_test(tc, auto_hostile);
	tcase_add_test(tc, auto_addresses);
	tcase_add_test(tc, auto_fqdn);
	tcase_add_test(tc, ip_get_basic);
	tcase_add_test(tc, ip_get_dns_sources);
	tcase_add_test(tc, ip_get_bad_mac);
	tcase_add_test(tc, ip_get_many_addresses);
	tcase_add_test(tc, ip_get_routes_and_vf);
	tcase_add_test(tc, ip_set_hook_env);
	tcase_add_test(tc, ip_set_invalid);
	tcase_add_test(tc, ip_set_hook_fails);
	tcase_add_test(tc, ip_set_sample_hook);
	tcase_add_test(tc, ip_apply_checks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	sh("ip netns del %s 2>/dev/null", shared_ns);
	sh("ip netns del hvkvp-%d-many 2>/dev/null", (int)getpid());
	sh("ip netns del hvkvp-%d-routes 2>/dev/null", (int)getpid());
	sh("ip netns del hvkvp-%d-sample 2>/dev/null", (int)getpid());
	sh("rm -rf %s", top);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
