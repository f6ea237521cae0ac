/* SPDX-License-Identifier: ISC */
/*
 * hv_kvp_info: what the guest tells the host about itself.
 *
 *  - The Auto pool (KVP_POOL_AUTO): ten keys in the order the host indexes
 *    them, their values those Linux's hv_kvp_daemon computes, on every
 *    call but the host name's resolution, which is cached.
 *  - GET_IP_INFO: the addresses, gateways, DNS servers and DHCP state of
 *    the adapter the host names by MAC address, read over route netlink,
 *    in Linux's string formats.
 *  - SET_IP_INFO: a static (or DHCP) configuration the host injects for
 *    the adapter it names by GUID, checked, written as Linux's ifcfg file
 *    and keyfile, and handed to hv_set_ifconfig or a hook program.
 *
 * Files (os-release, resolv.conf, the systemd state under run/, the sysfs
 * net class) are read under the root given to hv_kvp_info_new, never from
 * a path in the environment. Network state is that of the calling
 * thread's network namespace.
 *
 * A struct hv_kvp_info holds configuration and the host name's cache;
 * calls on one may run in several threads at once, except the *_set
 * functions of SET_IP_INFO's program, state directory and runner, which
 * must not run concurrently with hv_kvp_info_ip_set or
 * hv_kvp_info_ip_apply. Nothing is printed. Errors
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

/*
 * IntegrationServicesVersion: the version Linux's hv_utils registers with
 * (drivers/hv/hv_kvp.c, HV_DRV_VERSION), which Linux's daemon reports;
 * the channel backends report it too.
 */
#define HV_KVP_IC_VERSION "3.1"

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

/*
 * Linux's hv_set_ifconfig, run for SET_IP_INFO as Linux's daemon runs it
 * (arguments: the ifcfg file and the NetworkManager keyfile written in the
 * state directory), when no hook is set. Same rules as hv_kvp_info_hook_set.
 */
int hv_kvp_info_ifconfig_set(struct hv_kvp_info *info, const char *path,
			     unsigned int timeout_ms);

/*
 * The first executable hv_set_ifconfig under `root` where distributions
 * install it (hv_kvp_info(3) lists the folders) into path. Returns 0,
 * -ENOENT (none), -EINVAL, -ENAMETOOLONG.
 */
int hv_kvp_info_ifconfig_find(const char *root, char *path, size_t size);

/*
 * The state directory, where SET_IP_INFO writes ifcfg-IF and
 * IF.nmconnection as Linux's daemon writes them in /var/lib/hyperv
 * (NULL: none; SET_IP_INFO is then -EOPNOTSUPP). 0, -EINVAL, -ENAMETOOLONG.
 */
int hv_kvp_info_state_dir_set(struct hv_kvp_info *info, const char *dir);

/*
 * A checked SET_IP_INFO request: what the program is run with. Lists are
 * space-separated canonical addresses ("addr/prefix" for ipv4 and ipv6).
 * hv_kvp_info_ip_set fills it; a caller that passes one on (to a helper
 * process) passes it whole. sz is sizeof(struct hv_kvp_ip_apply) of the
 * library that filled it: a later release may append members.
 */
#define HV_KVP_IP_APPLY_LIST 4096
struct hv_kvp_ip_apply {
	size_t sz;
	char ifname[16];             /* IFNAMSIZ */
	char mac[18];                /* "AA:BB:CC:DD:EE:FF" */
	char adapter_id[39];         /* "{guid}", lower case */
	uint8_t dhcp_enabled;        /* 0 or 1 */
	char ipv4[HV_KVP_IP_APPLY_LIST];
	char ipv6[HV_KVP_IP_APPLY_LIST];
	char ipv4_gateways[HV_KVP_IP_APPLY_LIST];
	char ipv6_gateways[HV_KVP_IP_APPLY_LIST];
	char dns[HV_KVP_IP_APPLY_LIST];
};

/*
 * Who runs the program for hv_kvp_info_ip_set once its files are written
 * (a privileged helper process, for instance): returns what
 * hv_kvp_info_ip_apply returns. NULL fn: hv_kvp_info_ip_apply in the
 * calling process. Returns 0 or -EINVAL.
 */
typedef int hv_kvp_ip_runner_fn(void *ctx, const struct hv_kvp_ip_apply *req);
int hv_kvp_info_runner_set(struct hv_kvp_info *info, hv_kvp_ip_runner_fn *fn, void *ctx);

/*
 * Run the configured program (the hook, else hv_set_ifconfig) for `req`,
 * after checking every field holds only what hv_kvp_info_ip_set puts
 * there (-EINVAL otherwise, and for an sz smaller than the struct was in
 * 0.2 or larger with members this library does not know set). Returns 0 (it exited 0), -EINVAL,
 * -EOPNOTSUPP (no program), -ETIMEDOUT, -EIO (another exit status or a
 * signal), -ENOMEM, or the errno of starting it.
 */
int hv_kvp_info_ip_apply(struct hv_kvp_info *info, const struct hv_kvp_ip_apply *req);

/*
 * FullyQualifiedDomainName. Resolving may wait on DNS; a caller that
 * must not wait keeps the name itself: hv_kvp_info_fqdn_resolve computes
 * it as Linux's daemon does (getaddrinfo of the host name, IPv4,
 * AI_CANONNAME; 0 or -ENOENT, -EAGAIN, -EIO, -ENOBUFS, -EINVAL),
 * hv_kvp_info_fqdn_set caches it for the host name it was resolved for
 * (fqdn NULL: the name did not resolve, answer the host name), and
 * hv_kvp_info_fqdn_stale returns 1 with the current host name when the
 * cache is for another one (or empty), 0 when it is current, or -errno.
 * Once hv_kvp_info_fqdn_set was called, the Auto value is never resolved
 * on the request path: a stale cache answers the plain host name.
 * Without it, the first request resolves and caches, as Linux does.
 */
int hv_kvp_info_fqdn_resolve(const char *host, char *fqdn, size_t size);
int hv_kvp_info_fqdn_set(struct hv_kvp_info *info, const char *host, const char *fqdn);
int hv_kvp_info_fqdn_stale(struct hv_kvp_info *info, char *host, size_t size);

/* HV_KVP_AUTO_COUNT. */
uint32_t hv_kvp_info_auto_count(void);

/*
 * The key of Auto entry `index` ("OSName" for HV_KVP_AUTO_OS_NAME), or
 * NULL for index >= HV_KVP_AUTO_COUNT; hv_kvp_info_auto_index is the
 * reverse, exact case: the index, -ENOENT for none, -EINVAL for NULL.
 */
const char *hv_kvp_info_auto_key(uint32_t index);
int hv_kvp_info_auto_index(const char *key);

/*
 * Auto entry `index`: its key and its value, computed now, both UTF-8 and
 * NUL-terminated. key may be NULL (key_size is then ignored); key_size 32
 * and value_size HV_KVP_VALUE_MAX_SIZE are always enough.
 * Returns 0, -EINVAL (NULL info or value), -ENOENT (index >=
 * HV_KVP_AUTO_COUNT: the end of the pool), -ENOBUFS (a buffer too small),
 * or, with key and value filled with what could be computed (as Linux's
 * daemon answers then), -ENOMEM or the errno of uname() or of the netlink
 * dump (addresses). A missing os-release or an unresolvable host name is
 * not an error.
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
 * SET_IP_INFO, in the order of Linux's daemon: ip->adapter_id holds the
 * adapter GUID ("{...}" or bare, any case), looked up in sysfs (-ENODEV
 * when no interface has it, or it is not a GUID); the interface's MAC is
 * read (-EIO); every address, mask, gateway and DNS server is checked
 * (-EINVAL), with DHCP too; ifcfg-IF and IF.nmconnection are
 * written in the state directory (-EOPNOTSUPP without one, or the errno
 * of writing); then the runner, or hv_kvp_info_ip_apply, runs the program
 * and its result is returned.
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
