/* SPDX-License-Identifier: ISC */
/*
 * hv_kvp_info: what the guest tells the host about itself.
 *
 *  - The Auto pool (HV_KVP_POOL_AUTO): ten keys in the order the host indexes
 *    them, their values computed on every call, so a changed host name or
 *    address is seen at once.
 *  - GET_IP_INFO: the addresses, gateways, DNS servers and DHCP state of
 *    the adapter the host names by MAC address, read over route netlink.
 *  - SET_IP_INFO: a static (or DHCP) configuration the host injects for
 *    the adapter it names by GUID, validated and handed to a hook program.
 *
 * Files (os-release, resolv.conf, the systemd state under run/, the sysfs
 * net class) are read under the root given to hv_kvp_info_new, never from
 * a path in the environment. Network state is that of the calling
 * thread's network namespace.
 *
 * A struct hv_kvp_info holds only configuration; calls on one may run in
 * several threads at once, except hv_kvp_info_hook_set, which must not
 * run concurrently with hv_kvp_info_ip_set. Nothing is printed. Errors
 * are negative errnos; hv_kvp_info_status turns one into the status
 * Linux's daemon sends the host. The full contract, the hook interface
 * included, is in hv_kvp_info(3).
 */
#ifndef HVUIO_KVP_INFO_H
#define HVUIO_KVP_INFO_H

#include <stddef.h>
#include <stdint.h>

#include <hvuio/kvp_msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Auto pool's keys, by the index the host enumerates them with. */
#define HV_KVP_AUTO_FQDN            0  /* FullyQualifiedDomainName */
#define HV_KVP_AUTO_IC_VERSION      1  /* IntegrationServicesVersion */
#define HV_KVP_AUTO_IPV4            2  /* NetworkAddressIPv4 */
#define HV_KVP_AUTO_IPV6            3  /* NetworkAddressIPv6 */
#define HV_KVP_AUTO_OS_BUILD        4  /* OSBuildNumber */
#define HV_KVP_AUTO_OS_NAME         5  /* OSName */
#define HV_KVP_AUTO_OS_MAJOR        6  /* OSMajorVersion */
#define HV_KVP_AUTO_OS_MINOR        7  /* OSMinorVersion */
#define HV_KVP_AUTO_OS_VERSION      8  /* OSVersion */
#define HV_KVP_AUTO_PROCESSOR_ARCH  9  /* ProcessorArchitecture */
#define HV_KVP_AUTO_COUNT           10

/*
 * Longest Auto value in UTF-16 units, NUL not counted: what Linux's
 * hv_utils converts for the host without cutting (1022 units + NUL).
 * Values are never longer; see hv_kvp_info(3) for how they are cut.
 */
#define HV_KVP_AUTO_VALUE_UNITS 1022

/* Default time a SET_IP_INFO hook may run, in milliseconds. */
#define HV_KVP_INFO_HOOK_TIMEOUT_MS 20000u

struct hv_kvp_info;

/*
 * root: directory under which files are read (NULL or "" = "/"). Returns
 * 0, -EINVAL (NULL ret, a root that is not absolute), -ENAMETOOLONG,
 * -ENOMEM.
 */
int hv_kvp_info_new(const char *root, struct hv_kvp_info **ret);

/* NULL-safe; always returns NULL. */
struct hv_kvp_info *hv_kvp_info_free(struct hv_kvp_info *info);

/*
 * The SET_IP_INFO hook: an absolute path (NULL removes it), run with a
 * timeout in milliseconds (0 = HV_KVP_INFO_HOOK_TIMEOUT_MS). Returns 0,
 * -EINVAL (NULL info, a relative path), -ENAMETOOLONG, -ENOMEM.
 */
int hv_kvp_info_hook_set(struct hv_kvp_info *info, const char *path,
			 unsigned int timeout_ms);

/* HV_KVP_AUTO_COUNT. */
uint32_t hv_kvp_info_auto_count(void);

/*
 * Auto entry `index`: its key and its value, computed now, both UTF-8 and
 * NUL-terminated. key may be NULL (key_size is then ignored); key_size 32
 * and value_size HV_KVP_VALUE_MAX_SIZE are always enough.
 * Returns 0, -EINVAL (NULL info or value), -ENOENT (index >=
 * HV_KVP_AUTO_COUNT: the end of the pool), -ENOBUFS (a buffer too small),
 * -ENOMEM, or the errno of uname() or of the netlink dump (addresses).
 * A missing os-release or an unresolvable host name is not an error.
 */
int hv_kvp_info_auto_get(struct hv_kvp_info *info, uint32_t index,
			 char *key, size_t key_size, char *value, size_t value_size);

/*
 * GET_IP_INFO. ip->adapter_id holds the MAC address (six hex octets, upper
 * or lower case, separated all by ':' or all by '-'); the rest of *ip is
 * filled: addresses, masks, gateways, DNS servers, addr_family and
 * dhcp_enabled. adapter_id is kept. Returns 0, -EINVAL (NULL argument),
 * -EBADMSG (adapter_id is not a MAC address), -ENODEV (no interface has
 * that address), -ENOMEM, or the errno of a netlink request. On error the
 * output fields are empty.
 */
int hv_kvp_info_ip_get(struct hv_kvp_info *info, struct hv_kvp_ip_info *ip);

/*
 * SET_IP_INFO. ip->adapter_id holds the adapter GUID ("{...}" or bare, any
 * case); every address, mask, gateway and DNS server is checked, then the
 * hook runs and its exit status decides. Returns 0 (the hook exited 0),
 * -EINVAL (NULL argument; or an address, mask or list the request
 * carries is malformed), -EBADMSG (adapter_id is not a GUID), -ENODEV (no
 * interface has that GUID), -EOPNOTSUPP (no hook set), -ETIMEDOUT (the
 * hook outlived its timeout and was killed), -EIO (the hook exited with
 * another status or died of a signal), -ENOMEM, or the errno of starting
 * the hook (-ENOENT, -EACCES, ...) or of reading sysfs.
 */
int hv_kvp_info_ip_set(struct hv_kvp_info *info, const struct hv_kvp_ip_info *ip);

/*
 * The host status Linux's hv_kvp_daemon answers for the result `err` of
 * operation `op` (HV_KVP_OP_GET_IP_INFO, HV_KVP_OP_SET_IP_INFO or
 * HV_KVP_OP_ENUMERATE): HV_IC_S_OK for 0; HV_IC_S_CONT for -ENOENT from
 * ENUMERATE; HV_IC_GUID_NOTFOUND for -ENODEV and HV_IC_INVALIDARG for -EINVAL
 * or -EBADMSG from SET_IP_INFO; HV_IC_E_FAIL otherwise.
 */
uint32_t hv_kvp_info_status(uint8_t op, int err);

#ifdef __cplusplus
}
#endif

#endif
