/* SPDX-License-Identifier: ISC */
/*
 * The KVP request handler: one host request in, the status and reply out,
 * the same for every transport.
 *
 * It answers as Linux's tools/hv/hv_kvp_daemon.c does (its main loop,
 * kvp_update_mem_state, kvp_key_add_or_modify, kvp_key_delete): every pool takes SET, GET, DELETE and
 * ENUMERATE from the host, a failure of any of them is HV_IC_S_CONT, the
 * Auto pool is enumerated from generated values in the host's fixed index
 * order, and the pool files are read again before each request so that
 * other programs' changes are seen.
 *
 * Where we answer differently from Linux, on purpose (a differential test
 * against Linux's daemon relies on this list; keep it complete):
 *  1. GET answers the stored value. Linux answers an empty one: its
 *     daemon copies value_size (0 for GET) bytes, and its kernel reads the
 *     answer through the ENUMERATE layout, 4 bytes off.
 *  2. An unknown operation is HV_IC_ERROR_NOT_SUPPORTED (as FreeBSD's daemon
 *     answers). Linux's daemon falls through its switch and answers HV_IC_S_OK
 *     with an empty key and value. HV_KVP_OP_REGISTER1 given to the handler
 *     is answered the same way: it is not a host request.
 *  3. A pool above HV_KVP_POOL_AUTO_INTERNAL never reaches the store: the
 *     codecs refuse it and the transports answer the failure (HV_IC_E_FAIL on
 *     the channel, HV_IC_S_CONT from the kernel transport, as for any pool
 *     operation that fails), and the handler answers HV_IC_E_FAIL if it is
 *     given one. Linux's daemon indexes its five-entry pool array with the
 *     host's byte unchecked.
 *  4. A pool file that cannot be read again before a pool operation makes
 *     that request HV_IC_E_FAIL. Linux's daemon exits, and its kernel then
 *     answers HV_IC_E_FAIL after its timeout.
 *  5. The host name's canonical name (FullyQualifiedDomainName) is
 *     resolved as Linux resolves it, but again whenever the host name
 *     changes (by the daemon, off the request path); when it does not
 *     resolve the answer is the host name, where Linux answers the text
 *     of the resolver's error.
 *  6. A record the Auto pool file holds under one of the ten Auto keys
 *     overrides the generated value in the ENUMERATE answer, so that local
 *     programs can correct a value. Linux's daemon never reads its Auto
 *     pool file for ENUMERATE (it still stores host SETs into it, as here).
 *  7. On the channel and through the kernel alike, the answers carry
 *     strings as Linux's kernel would pass them to the host: bytes that are
 *     not UTF-8 are left out (Linux's utf8s_to_utf16s skips them) and a
 *     string is cut at a whole character to 254 UTF-16 units for a key and
 *     1022 for a value (the bounds kvp_respond_to_host gives it). We also
 *     cut a key read from a file to 511 bytes, which a 512-byte key field
 *     without NUL (cloud-init writes those) would otherwise exceed.
 *  8. SET_IP_INFO writes the ifcfg file Linux's daemon writes and the
 *     NetworkManager keyfile it writes since Linux 6.6, and runs
 *     hv_set_ifconfig with both (or a hook given instead,
 *     hv_kvp_info(3)); every item is checked before anything is written,
 *     and a mask that is neither an IPv4 address nor a prefix length is
 *     HV_IC_INVALIDARG, where Linux writes it into the file as it came.
 *  9. Messages the codecs refuse never reach the handler or the store: a
 *     body shorter than its operation's, a size that disagrees with its
 *     string or exceeds its field, invalid UTF-8 or an unpaired surrogate,
 *     a SET of a value type other than HV_KVP_REG_SZ, HV_KVP_REG_U32 and HV_KVP_REG_U64. The
 *     channel answers them HV_IC_E_FAIL, the kernel transport with the
 *     operation's failure status (HV_IC_S_CONT, HV_IC_E_FAIL for IP info).
 *     Linux reads such messages as they are (past what arrived, on the
 *     channel) and stores what it finds.
 * 10. Channel only: an IC header whose icmsgsize claims more than arrived
 *     is answered HV_IC_E_FAIL; Linux does not look at icmsgsize.
 * 11. The channel takes REG_EXPAND_SZ (2) and REG_QWORD (11), the
 *     registry's types that hosts such as openvmm send, besides REG_SZ,
 *     REG_U32 and REG_U64, converted as Linux's kernel converts the ones
 *     it knows; Linux's kernel leaves their value empty.
 * 12. An ENUMERATE index at or past the end of a pool is HV_IC_S_CONT,
 *     whatever its value. Linux's daemon compares the host's index as a
 *     signed int, so 0x80000000 and above pass its bounds check and it
 *     answers whatever lies before its record array.
 * 13. GET_IP_INFO's DNS servers are the ones that answer (hv_kvp_info(3)),
 *     never the 127.0.0.53 stub Linux's hv_get_dns_info copies from
 *     resolv.conf, and its DHCP flag is read from the lease state, where
 *     Linux runs hv_get_dhcp_info.
 * 14. GET_IP_INFO finds the adapter by a MAC in lower case too; Linux
 *     compares with sysfs's address upper-cased only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvuio/ic.h"
#include "hvuio/kvp_info.h"
#include "hvuio/kvp_service.h"
#include "hvuio/utf8.h"
#include "lib/common/compiler.h"
#include "lib/common/opts.h"
#include "transport.h"

/* kvp_respond_to_host in Linux's drivers/hv/hv_kvp.c: (512 / 2) - 2, (2048 / 2) - 2. */
#define KVP_REPLY_KEY_UNITS   254
#define KVP_REPLY_VALUE_UNITS 1022

struct hv_kvp_handler {
	struct hv_kvp_store *store;
	struct hv_kvp_info *info;
	char ic_version[HV_KVP_KEY_MAX_SIZE];
	int auto_error;          /* the last Auto value computed only in part, */
	uint32_t auto_error_index;  /* and its index */
	/* A record is 2.5 KiB: kept here rather than on the stack. */
	struct hv_kvp_pool_record rec;
	/* Room for a 2048-byte value field without NUL, as files may hold. */
	char value[HV_KVP_VALUE_MAX_SIZE + 1];
	/* The host walks a pool by index, 0, 1, 2, ...: O(1) a step from the last place. */
	struct hv_kvp_pool_iter walk[HV_KVP_POOL_COUNT];
};

HV_EXPORT int hv_kvp_handler_new(struct hv_kvp_store *store,
				 const struct hv_kvp_handler_config *config,
				 struct hv_kvp_handler **ret)
{
	struct hv_kvp_handler *h = NULL;
	const char *state_dir, *hook;
	int err;

	if (!store || !ret)
		return -EINVAL;
	*ret = NULL;
	/* Every member was there in 0.2, the first release: all optional. */
	if (config && !opts_valid(config, sizeof(config->sz), sizeof(*config)))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->store = store;
	strcpy(h->ic_version, HV_KVP_IC_VERSION);
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++)
		hv_kvp_pool_iter_begin(store, i, &h->walk[i]);
	err = hv_kvp_info_new(OPTS_GET(config, root, NULL), &h->info);
	if (err)
		goto out;
	state_dir = OPTS_GET(config, state_dir, NULL);
	if (state_dir) {
		err = hv_kvp_info_state_dir_set(h->info, state_dir);
		if (err)
			goto out;
	}
	hook = OPTS_GET(config, set_ip_hook, NULL);
	if (hook) {
		err = hv_kvp_info_hook_set(h->info, hook, 0);
		if (err)
			goto out;
	}
	*ret = h;
	h = NULL;
out:
	hv_kvp_handler_free(h);
	return err;
}

HV_EXPORT void hv_kvp_handler_free(struct hv_kvp_handler *handler)
{
	if (!handler)
		return;
	hv_kvp_info_free(handler->info);
	free(handler);
}

int kvp_handler_ic_version_set(struct hv_kvp_handler *handler, const char *version)
{
	size_t n;

	/* The channel's, and a kernel that registered without one. */
	if (!version || !version[0])
		version = HV_KVP_IC_VERSION;
	n = strlen(version);
	if (n >= sizeof(handler->ic_version))
		return -ENAMETOOLONG;
	memcpy(handler->ic_version, version, n + 1);
	return 0;
}

HV_EXPORT int hv_kvp_handler_auto_error_take(struct hv_kvp_handler *handler,
					     uint32_t *index)
{
	int err;

	if (!handler || !index)
		return -EINVAL;
	err = handler->auto_error;
	*index = handler->auto_error_index;
	handler->auto_error = 0;
	return err;
}

HV_EXPORT struct hv_kvp_info *hv_kvp_handler_info(struct hv_kvp_handler *handler)
{
	return handler ? handler->info : NULL;
}

/*
 * Copy src[0..len) into dst as the host will get it (difference 7 above):
 * without the bytes that are not UTF-8, and cut at a character so that it
 * stays within max_units UTF-16 units and dst_size bytes with its NUL.
 * Returns the length copied.
 */
static size_t text_fit(char *dst, size_t dst_size, const char *src, size_t len,
		       size_t max_units)
{
	size_t i = 0, o = 0, units = 0, n, u;
	uint32_t cp;

	while (i < len) {
		n = hv_utf8_decode(src + i, len - i, &cp);
		if (n == 0 || cp == 0) {
			i++;
			continue;
		}
		u = cp >= 0x10000 ? 2 : 1;
		if (units + u > max_units || o + n + 1 > dst_size)
			break;
		memcpy(dst + o, src + i, n);
		o += n;
		units += u;
		i += n;
	}
	dst[o] = '\0';
	return o;
}

static void reply_key_set(struct hv_kvp_request *reply, const char *key, size_t len)
{
	reply->key_len = text_fit(reply->key, sizeof(reply->key), key, len,
				  KVP_REPLY_KEY_UNITS);
}

static void reply_value_set(struct hv_kvp_request *reply, const char *value, size_t len)
{
	reply->value_len = text_fit(reply->value, sizeof(reply->value), value, len,
				    KVP_REPLY_VALUE_UNITS);
}

static uint32_t handler_get(struct hv_kvp_handler *h, const struct hv_kvp_request *req,
			    struct hv_kvp_request *reply)
{
	size_t len;
	int err;

	err = hv_kvp_pool_get(h->store, req->pool, req->key, h->value, sizeof(h->value), &len);
	if (err)
		return HV_IC_S_CONT;
	reply_value_set(reply, h->value, len);
	return HV_IC_S_OK;
}

static uint32_t handler_enumerate_auto(struct hv_kvp_handler *h,
				       const struct hv_kvp_request *req,
				       struct hv_kvp_request *reply)
{
	char key[64];
	const char *value = h->value;
	size_t len;
	int err;

	if (req->index >= hv_kvp_info_auto_count())
		return HV_IC_S_CONT;
	err = hv_kvp_info_auto_get(h->info, req->index, key, sizeof(key), h->value,
				   sizeof(h->value));
	if (err == -ENOENT || err == -EINVAL || err == -ENOBUFS)
		return hv_kvp_info_status(HV_KVP_OP_ENUMERATE, err);
	/*
	 * Computed in part: answered with what is known, as Linux's daemon
	 * does, so that the host's walk goes on; the transport reports it.
	 */
	if (err) {
		h->auto_error = err;
		h->auto_error_index = req->index;
	}
	/* Linux's daemon: the version the kernel registered with (kernel transport). */
	if (req->index == HV_KVP_AUTO_IC_VERSION)
		strcpy(h->value, h->ic_version);
	/* Difference 6: a local override in the Auto pool file. */
	if (hv_kvp_pool_get(h->store, HV_KVP_POOL_AUTO, key, h->rec.value,
			    sizeof(h->rec.value), &len) == 0)
		value = h->rec.value;
	else
		len = strlen(h->value);
	reply_key_set(reply, key, strlen(key));
	reply_value_set(reply, value, len);
	return HV_IC_S_OK;
}

static uint32_t handler_enumerate(struct hv_kvp_handler *h, const struct hv_kvp_request *req,
				  struct hv_kvp_request *reply)
{
	int err;

	if (req->pool == HV_KVP_POOL_AUTO)
		return handler_enumerate_auto(h, req, reply);
	err = hv_kvp_pool_iter_seek(&h->walk[req->pool], req->index, &h->rec);
	if (err)
		return HV_IC_S_CONT;
	reply_key_set(reply, h->rec.key, h->rec.key_len);
	reply_value_set(reply, h->rec.value, h->rec.value_len);
	return HV_IC_S_OK;
}

static uint32_t handler_pool_op(struct hv_kvp_handler *h, const struct hv_kvp_request *req,
				struct hv_kvp_request *reply)
{
	/* Linux's daemon reads the pool file again before each request (kvp_update_mem_state). */
	if (hv_kvp_pool_refresh(h->store) < 0)
		return HV_IC_E_FAIL;
	switch (req->operation) {
	case HV_KVP_OP_GET:
		return handler_get(h, req, reply);
	case HV_KVP_OP_SET:
		return hv_kvp_pool_set(h->store, req->pool, req->key, req->value) ? HV_IC_S_CONT
										   : HV_IC_S_OK;
	case HV_KVP_OP_DELETE:
		return hv_kvp_pool_delete(h->store, req->pool, req->key) ? HV_IC_S_CONT : HV_IC_S_OK;
	default:
		return handler_enumerate(h, req, reply);
	}
}

HV_EXPORT uint32_t hv_kvp_handler_run(struct hv_kvp_handler *handler,
				      const struct hv_kvp_request *req,
				      struct hv_kvp_request *reply)
{
	int err;

	if (!handler || !req || !reply)
		return HV_IC_E_FAIL;
	if (reply != req)
		memcpy(reply, req, sizeof(*reply));
	switch (req->operation) {
	case HV_KVP_OP_GET:
	case HV_KVP_OP_SET:
	case HV_KVP_OP_DELETE:
	case HV_KVP_OP_ENUMERATE:
		if (req->pool >= HV_KVP_POOL_COUNT)
			return HV_IC_E_FAIL;
		return handler_pool_op(handler, req, reply);
	case HV_KVP_OP_GET_IP_INFO:
		err = hv_kvp_info_ip_get(handler->info, &reply->ip);
		return hv_kvp_info_status(HV_KVP_OP_GET_IP_INFO, err);
	case HV_KVP_OP_SET_IP_INFO:
		err = hv_kvp_info_ip_set(handler->info, &req->ip);
		return hv_kvp_info_status(HV_KVP_OP_SET_IP_INFO, err);
	}
	return HV_IC_ERROR_NOT_SUPPORTED;
}
