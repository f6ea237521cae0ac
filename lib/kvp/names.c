/* SPDX-License-Identifier: ISC */
/*
 * The names of the pools and of the Auto pool's keys: one table each for
 * the library and every program that shows or parses them. The pool
 * names are OpenBSD's hostctl(8) ones (sys/dev/pv/hypervic.c) with
 * Linux's fifth pool, Internal; the Auto keys are those Linux's
 * include/uapi/linux/hyperv.h lists in the host's index order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "hvuio/kvp_info.h"
#include "hvuio/kvp_msg.h"
#include "lib/common/compiler.h"

static const char *const pool_names[HV_KVP_POOL_COUNT] = {
	[HV_KVP_POOL_EXTERNAL] = "External",
	[HV_KVP_POOL_GUEST] = "Guest",
	[HV_KVP_POOL_AUTO] = "Auto",
	[HV_KVP_POOL_AUTO_EXTERNAL] = "Guest/Parameters",
	[HV_KVP_POOL_AUTO_INTERNAL] = "Internal",
};

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

HV_EXPORT const char *hv_kvp_pool_name(unsigned int pool)
{
	return pool < HV_KVP_POOL_COUNT ? pool_names[pool] : NULL;
}

HV_EXPORT int hv_kvp_pool_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	if (name[0] >= '0' && name[0] < '0' + HV_KVP_POOL_COUNT && name[1] == '\0')
		return name[0] - '0';
	for (int i = 0; i < HV_KVP_POOL_COUNT; i++)
		if (strcasecmp(name, pool_names[i]) == 0)
			return i;
	return -ENOENT;
}

HV_EXPORT const char *hv_kvp_info_auto_key(uint32_t index)
{
	return index < HV_KVP_AUTO_COUNT ? auto_keys[index] : NULL;
}

HV_EXPORT int hv_kvp_info_auto_index(const char *key)
{
	if (!key)
		return -EINVAL;
	for (int i = 0; i < HV_KVP_AUTO_COUNT; i++)
		if (strcmp(key, auto_keys[i]) == 0)
			return i;
	return -ENOENT;
}
