/* SPDX-License-Identifier: ISC */
/*
 * Class names as Linux's tools/hv/lsvmbus prints them, keyed by the class
 * (interface type) GUID. The bracketed ones are integration services.
 */
#include <string.h>

#include "hvuio/vmbus.h"
#include "lib/common/compiler.h"
#include "sysfs.h"

static const struct {
	const char *guid;
	const char *name;
} hv_classes[] = {
	{ "0e0b6031-5213-4934-818b-38d90ced39db", "[Operating system shutdown]" },
	{ "9527e630-d0ae-497b-adce-e80ab0175caf", "[Time Synchronization]" },
	{ "57164f39-9115-4e78-ab55-382f3bd5422d", "[Heartbeat]" },
	{ HV_VMBUS_KVP_GUID,                            "[Data Exchange]" },
	{ "35fa2e29-ea23-4236-96ae-3a6ebacba440", "[Backup (volume checkpoint)]" },
	{ "34d14be3-dee4-41c8-9ae7-6b174977c192", "[Guest services]" },
	{ "525074dc-8985-46e2-8057-a307dc18a502", "[Dynamic Memory]" },
	{ "cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a", "Synthetic mouse" },
	{ "f912ad6d-2b17-48ea-bd65-f927a61c7684", "Synthetic keyboard" },
	{ "da0a7802-e377-4aac-8e77-0558eb1073f8", "Synthetic framebuffer adapter" },
	{ HV_VMBUS_NIC_GUID,                            "Synthetic network adapter" },
	{ "32412632-86cb-44a2-9b5c-50d1417354f5", "Synthetic IDE Controller" },
	{ "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "Synthetic SCSI Controller" },
	{ "2f9bcc4a-0069-4af3-b76b-6fd0be528cda", "Synthetic fiber channel adapter" },
	{ "8c2eaf3d-32a7-4b09-ab99-bd1f1c86b501", "Synthetic RDMA adapter" },
	{ "44c4f61d-4444-4400-9d52-802e27ede19f", "PCI Express pass-through" },
	{ "276aacf4-ac15-426c-98dd-7521ad3f01fe", "[Reserved system device]" },
	{ "f8e65716-3cb3-4a06-9a60-1889c5cccab5", "[Reserved system device]" },
	{ "3375baf4-9e15-4b30-b765-67acb10d607b", "[Reserved system device]" },
};

HV_EXPORT const char *hv_vmbus_class_name(const char *class_guid)
{
	char guid[HV_VMBUS_GUID_STRLEN];
	size_t i;

	if (!class_guid || vmbus_guid_parse(class_guid, true, guid) < 0)
		return "Unknown";
	for (i = 0; i < ARRAY_SIZE(hv_classes); i++)
		if (strcmp(hv_classes[i].guid, guid) == 0)
			return hv_classes[i].name;
	return "Unknown";
}
