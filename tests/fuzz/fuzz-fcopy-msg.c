/* SPDX-License-Identifier: ISC */
/*
 * The fcopy codec: hv_fcopy_msg_parse on what a host (channel layout) or
 * Linux's hv_utils (kernel layout) could send, with the properties the
 * daemon relies on, and the host-side builders fed back what was decoded.
 *
 * Input: one selector byte (bit 0: the kernel layout), then the message
 * (the bytes after the IC header). Properties: the message is refused
 * exactly when it is shorter than its operation's structure, names are
 * NUL-terminated valid UTF-8 that encode back to the same bytes, and a
 * WRITE's data lies inside the message and inside one fragment.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fuzz.h"
#include "hvuio/fcopy_msg.h"

/* Valid UTF-8 without NUL or surrogates, and its length. */
static size_t check_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (p[i]) {
		unsigned int c = p[i], n = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;

		FUZZ_CHECK(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
		for (unsigned int k = 1; k <= n; k++)
			FUZZ_CHECK((p[i + k] & 0xc0) == 0x80);
		if (c == 0xed)
			FUZZ_CHECK(p[i + 1] < 0xa0);
		i += n + 1;
	}
	return i;
}

static void check_start(enum hv_fcopy_layout layout, const struct hv_fcopy_request *req)
{
	static struct hv_fcopy_wire_start again;
	struct hv_fcopy_request back;
	size_t len;

	FUZZ_CHECK(check_utf8(req->file_name) < HV_FCOPY_NAME_MAX);
	FUZZ_CHECK(check_utf8(req->path_name) < HV_FCOPY_NAME_MAX);
	if (layout == HV_FCOPY_LAYOUT_KERNEL) {
		FUZZ_CHECK(strlen(req->file_name) < HV_FCOPY_NAME_UNITS * 2);
		FUZZ_CHECK(strlen(req->path_name) < HV_FCOPY_NAME_UNITS * 2);
	}
	/* What came in 260 units goes back into 260 units, and decodes the same. */
	if (hv_fcopy_msg_start_build(&again, sizeof(again), HV_FCOPY_LAYOUT_CHANNEL,
				     req->file_name, req->path_name, req->flags,
				     req->file_size, &len) == 0) {
		FUZZ_CHECK(len == sizeof(again));
		FUZZ_CHECK(hv_fcopy_msg_parse(&again, len, HV_FCOPY_LAYOUT_CHANNEL, &back) == 0);
		FUZZ_CHECK(!strcmp(back.file_name, req->file_name));
		FUZZ_CHECK(!strcmp(back.path_name, req->path_name));
		FUZZ_CHECK(back.flags == req->flags && back.file_size == req->file_size);
	} else {
		/* Only a kernel-layout name can be too long for the channel's field. */
		FUZZ_CHECK(layout == HV_FCOPY_LAYOUT_KERNEL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hv_fcopy_wire_write again;
	enum hv_fcopy_layout layout;
	struct hv_fcopy_request req, back;
	const uint8_t *msg;
	uint8_t *copy;
	size_t len, out;
	uint32_t op;
	int err;

	if (size < 1)
		return 0;
	layout = data[0] & 1 ? HV_FCOPY_LAYOUT_KERNEL : HV_FCOPY_LAYOUT_CHANNEL;
	len = size - 1;
	/* An exact-size heap copy: AddressSanitizer sees any read past it. */
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, len);
	msg = copy;
	err = hv_fcopy_msg_parse(msg, len, layout, &req);
	op = len >= 4 ? fuzz_le32(msg) : 0;
	if (len < sizeof(struct hv_fcopy_wire_hdr)) {
		FUZZ_CHECK(err == -EBADMSG);
		goto out;
	}
	FUZZ_CHECK(req.operation == op);
	switch (op) {
	case HV_FCOPY_OP_START:
		if (len < sizeof(struct hv_fcopy_wire_start)) {
			FUZZ_CHECK(err == -EBADMSG);
			break;
		}
		FUZZ_CHECK(err == 0 || err == -ENAMETOOLONG || err == -EILSEQ);
		if (!err)
			check_start(layout, &req);
		break;
	case HV_FCOPY_OP_WRITE:
		if (len < HV_FCOPY_WRITE_HDR_SIZE) {
			FUZZ_CHECK(err == -EBADMSG);
			break;
		}
		if (fuzz_le32(msg + 48) > HV_FCOPY_DATA_FRAGMENT ||
		    fuzz_le32(msg + 48) > len - HV_FCOPY_WRITE_HDR_SIZE) {
			FUZZ_CHECK(err == -EMSGSIZE);
			break;
		}
		FUZZ_CHECK(err == 0);
		FUZZ_CHECK(req.data == msg + HV_FCOPY_WRITE_HDR_SIZE);
		FUZZ_CHECK(req.size == fuzz_le32(msg + 48));
		FUZZ_CHECK(hv_fcopy_msg_write_build(&again, sizeof(again), req.offset, req.data,
						    req.size, &out) == 0);
		FUZZ_CHECK(out == sizeof(again));
		FUZZ_CHECK(hv_fcopy_msg_parse(&again, out, layout, &back) == 0);
		FUZZ_CHECK(back.offset == req.offset && back.size == req.size);
		FUZZ_CHECK(!memcmp(back.data, req.data, req.size));
		break;
	case HV_FCOPY_OP_COMPLETE:
	case HV_FCOPY_OP_CANCEL:
		FUZZ_CHECK(err == 0);
		break;
	default:
		FUZZ_CHECK(err == -EOPNOTSUPP);
		break;
	}
out:
	free(copy);
	return 0;
}
