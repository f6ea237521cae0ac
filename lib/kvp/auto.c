/* SPDX-License-Identifier: ISC */
/*
 * The Auto pool: ten keys whose index order the host fixes (Linux's
 * include/uapi/linux/hyperv.h lists the mapping Microsoft specified).
 * Each value is computed when asked: Linux's daemon caches the host name
 * at start-up and reports a stale one after a rename, and answers an error
 * text when resolution fails; we resolve on every call and fall back to
 * the plain host name.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "hvuio/kvp_info.h"
#include "lib/common/compiler.h"
#include "info_private.h"

static const char *const auto_keys[HV_KVP_AUTO_COUNT] = {
	[HV_KVP_AUTO_FQDN] = "FullyQualifiedDomainName",
	[HV_KVP_AUTO_IC_VERSION] = "IntegrationServicesVersion",
	[HV_KVP_AUTO_IPV4] = "NetworkAddressIPv4",
	[HV_KVP_AUTO_IPV6] = "NetworkAddressIPv6",
	[HV_KVP_AUTO_OS_BUILD] = "OSBuildNumber",
	[HV_KVP_AUTO_OS_NAME] = "OSName",
	[HV_KVP_AUTO_OS_MAJOR] = "OSMajorVersion",
	[HV_KVP_AUTO_OS_MINOR] = "OSMinorVersion",
	[HV_KVP_AUTO_OS_VERSION] = "OSVersion",
	[HV_KVP_AUTO_PROCESSOR_ARCH] = "ProcessorArchitecture",
};

/* os-release is a few hundred bytes; anything far larger is not one. */
#define OS_RELEASE_MAX (64 * 1024)

HV_EXPORT uint32_t hv_kvp_info_auto_count(void)
{
	return HV_KVP_AUTO_COUNT;
}

static int fqdn_get(char *value, size_t size)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME };
	struct addrinfo *res = NULL;
	char host[HOST_NAME_MAX + 1];

	if (gethostname(host, sizeof(host)) < 0)
		return -errno;
	host[sizeof(host) - 1] = '\0';
	/* Linux's daemon asks for AF_INET only; a v6-only host has a name too. */
	if (getaddrinfo(host, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
	    res->ai_canonname[0] && strlen(res->ai_canonname) < size)
		strcpy(value, res->ai_canonname);
	else if (strlen(host) < size)
		strcpy(value, host);
	else
		value[0] = '\0';
	if (res)
		freeaddrinfo(res);
	return 0;
}

static int addresses_get(int family, char *value, size_t size)
{
	struct nl_sock *sk = NULL;
	struct kvp_addr *v = NULL;
	struct kvp_list list;
	char text[INET6_ADDRSTRLEN];
	size_t n = 0, i;
	int err;

	kvp_list_init(&list, value, size, HV_KVP_AUTO_VALUE_UNITS);
	err = kvp_nl_open(&sk);
	if (err < 0)
		return err;
	err = kvp_addrs_get(sk, 0, &v, &n);
	if (err < 0)
		goto out;
	/* Cut at a whole address: a host with hundreds has a prefix of them. */
	for (i = 0; i < n; i++) {
		if (v[i].family != family)
			continue;
		kvp_addr_text(&v[i], text, sizeof(text));
		if (kvp_list_add(&list, text) < 0)
			break;
	}
out:
	free(v);
	kvp_nl_close(sk);
	return err;
}

/*
 * One value of an os-release assignment (os-release(5): shell-style, with
 * "..." allowing \" \\ \$ \` escapes, '...' taken literally, and a
 * backslash outside quotes escaping the next character). Writes at most
 * size-1 bytes; the rest of the line is ignored.
 */
static void os_release_value(const char *p, char *out, size_t size)
{
	size_t len = 0;
	char quote = 0, c;

	for (; *p && *p != '\n'; p++) {
		c = *p;
		if (quote == '\'') {
			if (c == '\'') {
				quote = 0;
				continue;
			}
		} else if (quote == '"') {
			if (c == '"') {
				quote = 0;
				continue;
			}
			if (c == '\\' && p[1] && strchr("\"\\$`", p[1]))
				c = *++p;
		} else if (c == '"' || c == '\'') {
			quote = c;
			continue;
		} else if (c == '\\' && p[1] && p[1] != '\n') {
			c = *++p;
		} else if (c == ' ' || c == '\t' || c == '#') {
			break;
		}
		if (len + 1 < size)
			out[len++] = c;
	}
	out[len] = '\0';
}

/* Value of `key` in os-release text, or -ENOENT. */
static int os_release_find(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			os_release_value(p + klen + 1, out, size);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

/* /etc/os-release, else /usr/lib/os-release (os-release(5)), under root. */
static int os_release_read(struct hv_kvp_info *info, char **ret)
{
	static const char *const paths[] = { "etc/os-release", "usr/lib/os-release" };
	char path[PATH_MAX];
	size_t i;
	long n;

	for (i = 0; i < 2; i++) {
		if (kvp_info_path(info, path, sizeof(path), "%s", paths[i]) < 0)
			return -ENAMETOOLONG;
		n = kvp_info_file_read(path, OS_RELEASE_MAX, ret);
		if (n >= 0)
			return 0;
		if (n == -ENOMEM)
			return -ENOMEM;
	}
	return -ENOENT;
}

static int os_value_get(struct hv_kvp_info *info, uint32_t index,
			const struct utsname *u, char *value, size_t size)
{
	char *text = NULL, *dot;
	int err;

	err = os_release_read(info, &text);
	if (err == -ENOMEM)
		return err;
	if (index == HV_KVP_AUTO_OS_NAME) {
		/* Linux's daemon falls back to the kernel's name as well. */
		if (err < 0 || os_release_find(text, "NAME", value, size) < 0 || !value[0])
			snprintf(value, size, "%s", u->sysname);
		goto out;
	}
	/*
	 * Linux's daemon puts the whole VERSION_ID in OSMajorVersion and leaves
	 * OSMinorVersion empty; a Windows guest reports "10" and "0". We split
	 * at the first dot so that "22.04" reads as 22 and 04, as the host's
	 * key names mean; a VERSION_ID without a dot is all major.
	 */
	if (err < 0 || os_release_find(text, "VERSION_ID", value, size) < 0) {
		value[0] = '\0';
		goto out;
	}
	dot = strchr(value, '.');
	if (index == HV_KVP_AUTO_OS_MAJOR) {
		if (dot)
			*dot = '\0';
	} else if (dot) {
		memmove(value, dot + 1, strlen(dot + 1) + 1);
	} else {
		value[0] = '\0';
	}
out:
	free(text);
	return 0;
}

/*
 * Windows numbering (SYSTEM_INFO.wProcessorArchitecture, winnt.h
 * PROCESSOR_ARCHITECTURE_*, as Microsoft's documentation lists them:
 * INTEL 0, MIPS 1, ALPHA 2, PPC 3, ARM 5, IA64 6, AMD64 9, ARM64 12,
 * UNKNOWN 0xffff). OpenBSD's hypervic.c sends "9" on amd64 and "0"
 * otherwise; Linux's daemon sends uname's machine text, which the host's
 * tools do not map.
 */
static const char *arch_number(const char *machine)
{
	static const struct {
		const char *prefix;
		const char *number;
	} map[] = {
		{ "x86_64", "9" }, { "amd64", "9" },
		{ "aarch64", "12" }, { "arm64", "12" },
		{ "i386", "0" }, { "i486", "0" }, { "i586", "0" }, { "i686", "0" },
		{ "arm", "5" },
		{ "ia64", "6" },
		{ "mips", "1" },
		{ "alpha", "2" },
		{ "ppc", "3" }, { "powerpc", "3" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(machine, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].number;
	return "65535";
}

HV_EXPORT int hv_kvp_info_auto_get(struct hv_kvp_info *info, uint32_t index,
				   char *key, size_t key_size, char *value,
				   size_t value_size)
{
	char buf[HV_KVP_VALUE_MAX_SIZE];
	struct utsname u;
	char *dash;
	int err = 0;

	if (!info || !value)
		return -EINVAL;
	if (index >= HV_KVP_AUTO_COUNT)
		return -ENOENT;
	if (key && strlen(auto_keys[index]) >= key_size)
		return -ENOBUFS;
	if (uname(&u) < 0)
		return -errno;
	buf[0] = '\0';
	switch (index) {
	case HV_KVP_AUTO_FQDN:
		err = fqdn_get(buf, sizeof(buf));
		break;
	case HV_KVP_AUTO_IC_VERSION:
		snprintf(buf, sizeof(buf), "%s", HVUIO_VERSION);
		break;
	case HV_KVP_AUTO_IPV4:
		err = addresses_get(AF_INET, buf, sizeof(buf));
		break;
	case HV_KVP_AUTO_IPV6:
		err = addresses_get(AF_INET6, buf, sizeof(buf));
		break;
	case HV_KVP_AUTO_OS_BUILD:
		snprintf(buf, sizeof(buf), "%s", u.release);
		break;
	case HV_KVP_AUTO_OS_NAME:
	case HV_KVP_AUTO_OS_MAJOR:
	case HV_KVP_AUTO_OS_MINOR:
		err = os_value_get(info, index, &u, buf, sizeof(buf));
		break;
	case HV_KVP_AUTO_OS_VERSION:
		/* "win7 host expects x.y.z" (Linux's daemon): cut at the first '-'. */
		snprintf(buf, sizeof(buf), "%s", u.release);
		dash = strchr(buf, '-');
		if (dash)
			*dash = '\0';
		break;
	case HV_KVP_AUTO_PROCESSOR_ARCH:
		snprintf(buf, sizeof(buf), "%s", arch_number(u.machine));
		break;
	}
	if (err < 0)
		return err;
	kvp_text_fit(buf, sizeof(buf), HV_KVP_AUTO_VALUE_UNITS);
	if (strlen(buf) >= value_size)
		return -ENOBUFS;
	strcpy(value, buf);
	if (key)
		strcpy(key, auto_keys[index]);
	return 0;
}
