/* SPDX-License-Identifier: ISC */
/*
 * The Auto pool: ten keys whose index order the host fixes (Linux's
 * include/uapi/linux/hyperv.h lists the mapping Microsoft specified).
 * Values are those Linux's tools/hv/hv_kvp_daemon.c computes
 * (kvp_get_os_info, kvp_get_domain_name, kvp_get_ip_info): the kernel's
 * release and machine from uname(), os-release's NAME and VERSION_ID, the
 * addresses of every interface that is not a loopback. They are computed
 * on each call, except the host name's canonical name: resolving it may
 * wait on DNS for seconds, so it is cached for the host name it was
 * resolved for (hv_kvp_info_fqdn_set), and a caller that keeps it fresh
 * does so off the request path.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
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

HV_EXPORT int hv_kvp_info_fqdn_resolve(const char *host, char *fqdn, size_t size)
{
	/* As Linux's kvp_get_domain_name: IPv4 only, SOCK_STREAM, AI_CANONNAME. */
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_CANONNAME };
	struct addrinfo *res = NULL;
	int r, err = 0;

	if (!host || !fqdn || !size)
		return -EINVAL;
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	if (r != 0)
		return r == EAI_NONAME || r == EAI_NODATA ? -ENOENT :
		       r == EAI_AGAIN ? -EAGAIN : r == EAI_MEMORY ? -ENOMEM : -EIO;
	if (!res || !res->ai_canonname || !res->ai_canonname[0])
		err = -ENOENT;
	else if (strlen(res->ai_canonname) >= size)
		err = -ENOBUFS;
	else
		strcpy(fqdn, res->ai_canonname);
	freeaddrinfo(res);
	return err;
}

HV_EXPORT int hv_kvp_info_fqdn_set(struct hv_kvp_info *info, const char *host,
				   const char *fqdn)
{
	if (!info || !host)
		return -EINVAL;
	if (!fqdn)
		fqdn = host;
	if (strlen(host) >= sizeof(info->fqdn_host) || strlen(fqdn) >= sizeof(info->fqdn))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&info->lock);
	strcpy(info->fqdn_host, host);
	strcpy(info->fqdn, fqdn);
	info->fqdn_cached = true;
	info->fqdn_external = true;
	pthread_mutex_unlock(&info->lock);
	return 0;
}

static int host_name_get(char *host, size_t size)
{
	if (gethostname(host, size) < 0)
		return -errno;
	host[size - 1] = '\0';
	return 0;
}

HV_EXPORT int hv_kvp_info_fqdn_stale(struct hv_kvp_info *info, char *host, size_t size)
{
	int err, stale;

	if (!info || !host || !size)
		return -EINVAL;
	err = host_name_get(host, size);
	if (err < 0)
		return err;
	pthread_mutex_lock(&info->lock);
	stale = !info->fqdn_cached || strcmp(info->fqdn_host, host) != 0;
	pthread_mutex_unlock(&info->lock);
	return stale;
}

/*
 * The cached canonical name while the host name is the one it was
 * resolved for. Otherwise: with a cache the caller keeps, the plain host
 * name until the caller has resolved the new one; without, resolve now
 * (as Linux's daemon does once) and cache. A name that does not resolve
 * is answered as the plain host name.
 */
static int fqdn_get(struct hv_kvp_info *info, char *value, size_t size)
{
	char host[HOST_NAME_MAX + 1], fqdn[NI_MAXHOST];
	bool hit, external;
	int err;

	err = host_name_get(host, sizeof(host));
	if (err < 0)
		return err;
	pthread_mutex_lock(&info->lock);
	hit = info->fqdn_cached && strcmp(info->fqdn_host, host) == 0;
	external = info->fqdn_external;
	if (hit)
		snprintf(value, size, "%s", info->fqdn);
	pthread_mutex_unlock(&info->lock);
	if (hit)
		return 0;
	snprintf(value, size, "%s", host);
	if (external)
		return 0;
	if (hv_kvp_info_fqdn_resolve(host, fqdn, sizeof(fqdn)) == 0)
		snprintf(value, size, "%s", fqdn);
	pthread_mutex_lock(&info->lock);
	if (!info->fqdn_external) {
		snprintf(info->fqdn_host, sizeof(info->fqdn_host), "%s", host);
		snprintf(info->fqdn, sizeof(info->fqdn), "%s", value);
		info->fqdn_cached = true;
	}
	pthread_mutex_unlock(&info->lock);
	return 0;
}

static int addresses_get(int family, char *value, size_t size)
{
	struct kvp_nl *nl = NULL;
	struct kvp_addr *v = NULL;
	struct kvp_list list;
	char text[INET6_ADDRSTRLEN];
	size_t n = 0, i;
	int err;

	kvp_list_init(&list, value, size, HV_KVP_AUTO_VALUE_UNITS);
	err = kvp_nl_open(&nl);
	if (err < 0)
		return err;
	err = kvp_addrs_get(nl, 0, &v, &n);
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
	kvp_nl_close(nl);
	return err;
}

/*
 * Value of the last `key=` line of os-release text, read as Linux's
 * kvp_get_os_info reads it: lines starting with '#' skipped, the name is
 * everything before the first '=', and in the value every quote is
 * dropped and a backslash takes the next character literally. -ENOENT
 * when no line names the key.
 */
static int os_release_find(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), len;
	const char *p = text, *eol;
	int found = -ENOENT;

	for (; p && *p; p = eol ? eol + 1 : NULL) {
		eol = strchr(p, '\n');
		if (*p == '#' || strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		found = 0;
		len = 0;
		for (p += klen + 1; *p && *p != '\n'; p++) {
			if (*p == '\\') {
				if (!p[1] || p[1] == '\n')
					break;
				p++;
			} else if (*p == '"' || *p == '\'') {
				continue;
			}
			if (len + 1 < size)
				out[len++] = *p;
		}
		out[len] = '\0';
	}
	return found;
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
	char *text = NULL;
	int err;

	err = os_release_read(info, &text);
	if (err == -ENOMEM)
		return err;
	if (index == HV_KVP_AUTO_OS_NAME) {
		/* Linux's daemon falls back to the kernel's name as well. */
		if (err < 0 || os_release_find(text, "NAME", value, size) < 0)
			snprintf(value, size, "%s", u->sysname);
	} else if (index == HV_KVP_AUTO_OS_MAJOR) {
		/*
		 * The whole VERSION_ID ("22.04"), as Linux's daemon sends it;
		 * OSMinorVersion stays empty, there too.
		 */
		if (err < 0 || os_release_find(text, "VERSION_ID", value, size) < 0)
			value[0] = '\0';
	} else {
		value[0] = '\0';
	}
	free(text);
	return 0;
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
	buf[0] = '\0';
	if (uname(&u) < 0) {
		/* Nothing from the kernel: empty texts, the error returned. */
		err = -errno;
		memset(&u, 0, sizeof(u));
	}
	switch (index) {
	case HV_KVP_AUTO_FQDN:
		err = fqdn_get(info, buf, sizeof(buf));
		break;
	case HV_KVP_AUTO_IC_VERSION:
		snprintf(buf, sizeof(buf), "%s", HV_KVP_IC_VERSION);
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
		snprintf(buf, sizeof(buf), "%s", u.machine);
		break;
	}
	/* What could be computed is the answer, even when the rest failed. */
	kvp_text_fit(buf, sizeof(buf), HV_KVP_AUTO_VALUE_UNITS);
	if (strlen(buf) >= value_size)
		return -ENOBUFS;
	strcpy(value, buf);
	if (key)
		strcpy(key, auto_keys[index]);
	return err;
}
