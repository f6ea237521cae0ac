/* SPDX-License-Identifier: ISC */
/*
 * The fcopy codec (hvuio/fcopy_msg.h). Sizes and offsets follow Linux's
 * uapi <linux/hyperv.h>; what Linux's daemons do with each field is in
 * hvfcopyd(8). Where Linux reads a name up to whatever NUL it finds, or a
 * WRITE's size without looking at what arrived, this codec refuses the
 * message instead (the caller answers it with an error).
 */
#include <errno.h>
#include <string.h>

#include "hvuio/fcopy_msg.h"
#include "hvuio/utf8.h"
#include "lib/common/compiler.h"

/* One UTF-8 sequence for code point c into dst; returns its length. */
static size_t utf8_put(uint32_t c, char *dst)
{
	if (c < 0x80) {
		dst[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		dst[0] = (char)(0xc0 | c >> 6);
		dst[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		dst[0] = (char)(0xe0 | c >> 12);
		dst[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | c >> 18);
	dst[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static uint16_t unit_at(const uint8_t *p, size_t i)
{
	return (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
}

HV_EXPORT int hv_fcopy_utf16_decode(const uint8_t *src, size_t units, char *dst,
				    size_t dst_size)
{
	size_t i = 0, n = 0;

	if (!src || !dst || !dst_size)
		return -EINVAL;
	for (;;) {
		uint32_t c;
		char seq[4];
		size_t k;

		if (i >= units)
			return -ENAMETOOLONG;
		c = unit_at(src, i++);
		if (c == 0)
			break;
		if (c >= 0xdc00 && c <= 0xdfff)
			return -EILSEQ;
		if (c >= 0xd800 && c <= 0xdbff) {
			uint32_t lo;

			if (i >= units)
				return -ENAMETOOLONG;
			lo = unit_at(src, i);
			if (lo < 0xdc00 || lo > 0xdfff)
				return -EILSEQ;
			i++;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
		}
		k = utf8_put(c, seq);
		if (n + k >= dst_size)
			return -ENOBUFS;
		memcpy(dst + n, seq, k);
		n += k;
	}
	dst[n] = '\0';
	return (int)n;
}

/* A kernel-layout name: UTF-8 up to a NUL inside the field. */
static int utf8_take(const uint8_t *src, size_t size, char *dst, size_t dst_size)
{
	const uint8_t *nul = memchr(src, 0, size);
	size_t len, i = 0;

	if (!nul)
		return -ENAMETOOLONG;
	len = (size_t)(nul - src);
	if (len >= dst_size)
		return -ENOBUFS;
	while (i < len) {
		uint32_t c;
		size_t k = hv_utf8_decode(src + i, len - i, &c);

		if (!k)
			return -EILSEQ;
		i += k;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return (int)len;
}

static int name_take(const uint8_t *field, enum hv_fcopy_layout layout, char *dst)
{
	int n;

	if (layout == HV_FCOPY_LAYOUT_KERNEL)
		n = utf8_take(field, 2 * HV_FCOPY_NAME_UNITS, dst, HV_FCOPY_NAME_MAX);
	else
		n = hv_fcopy_utf16_decode(field, HV_FCOPY_NAME_UNITS, dst, HV_FCOPY_NAME_MAX);
	/* HV_FCOPY_NAME_MAX holds any 259 units; only a kernel name can overflow it. */
	if (n == -ENOBUFS)
		n = -ENAMETOOLONG;
	return n < 0 ? n : 0;
}

HV_EXPORT int hv_fcopy_msg_parse(const void *msg, size_t len, enum hv_fcopy_layout layout,
				 struct hv_fcopy_request *req)
{
	const uint8_t *p = msg;
	struct hv_fcopy_wire_hdr hdr;
	int err;

	if (!msg || !req)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	if (len < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, p, sizeof(hdr));
	req->operation = hdr.operation;
	switch (hdr.operation) {
	case HV_FCOPY_OP_START:
		if (len < sizeof(struct hv_fcopy_wire_start))
			return -EBADMSG;
		err = name_take(p + offsetof(struct hv_fcopy_wire_start, file_name), layout,
				req->file_name);
		if (!err)
			err = name_take(p + offsetof(struct hv_fcopy_wire_start, path_name),
					layout, req->path_name);
		if (err)
			return err;
		memcpy(&req->flags, p + offsetof(struct hv_fcopy_wire_start, copy_flags),
		       sizeof(req->flags));
		memcpy(&req->file_size, p + offsetof(struct hv_fcopy_wire_start, file_size),
		       sizeof(req->file_size));
		return 0;
	case HV_FCOPY_OP_WRITE:
		if (len < HV_FCOPY_WRITE_HDR_SIZE)
			return -EBADMSG;
		memcpy(&req->offset, p + offsetof(struct hv_fcopy_wire_write, offset),
		       sizeof(req->offset));
		memcpy(&req->size, p + offsetof(struct hv_fcopy_wire_write, size),
		       sizeof(req->size));
		if (req->size > HV_FCOPY_DATA_FRAGMENT ||
		    req->size > len - HV_FCOPY_WRITE_HDR_SIZE)
			return -EMSGSIZE;
		req->data = p + HV_FCOPY_WRITE_HDR_SIZE;
		return 0;
	case HV_FCOPY_OP_COMPLETE:
	case HV_FCOPY_OP_CANCEL:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* Encode a UTF-8 name into a field of HV_FCOPY_NAME_UNITS units, NUL-padded. */
static int name_put(uint8_t *field, enum hv_fcopy_layout layout, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len = strlen(name), i = 0, u = 0;

	memset(field, 0, 2 * HV_FCOPY_NAME_UNITS);
	if (layout == HV_FCOPY_LAYOUT_KERNEL) {
		/* What utf16s_to_utf8s leaves: at most W_MAX_PATH - 1 bytes. */
		if (utf8_take((const uint8_t *)name, len + 1, (char *)field,
			      HV_FCOPY_NAME_UNITS) < 0)
			return len >= HV_FCOPY_NAME_UNITS ? -ENAMETOOLONG : -EILSEQ;
		return 0;
	}
	while (i < len) {
		uint32_t c;
		size_t k = hv_utf8_decode(s + i, len - i, &c);

		if (!k)
			return -EILSEQ;
		i += k;
		if (c >= 0x10000) {
			if (u + 2 >= HV_FCOPY_NAME_UNITS)
				return -ENAMETOOLONG;
			c -= 0x10000;
			field[2 * u] = (uint8_t)((0xd800 | c >> 10) & 0xff);
			field[2 * u + 1] = (uint8_t)((0xd800 | c >> 10) >> 8);
			u++;
			c = 0xdc00 | (c & 0x3ff);
		} else if (u + 1 >= HV_FCOPY_NAME_UNITS) {
			return -ENAMETOOLONG;
		}
		field[2 * u] = (uint8_t)(c & 0xff);
		field[2 * u + 1] = (uint8_t)(c >> 8);
		u++;
	}
	return 0;
}

HV_EXPORT int hv_fcopy_msg_start_build(void *buf, size_t buflen, enum hv_fcopy_layout layout,
				       const char *file_name, const char *path_name,
				       uint32_t flags, uint64_t file_size, size_t *len)
{
	uint8_t *p = buf;
	int err;

	if (!buf || !file_name || !path_name || !len)
		return -EINVAL;
	if (buflen < sizeof(struct hv_fcopy_wire_start))
		return -ENOBUFS;
	memset(p, 0, sizeof(struct hv_fcopy_wire_start));
	err = name_put(p + offsetof(struct hv_fcopy_wire_start, file_name), layout, file_name);
	if (!err)
		err = name_put(p + offsetof(struct hv_fcopy_wire_start, path_name), layout,
			       path_name);
	if (err)
		return err;
	memcpy(p + offsetof(struct hv_fcopy_wire_start, copy_flags), &flags, sizeof(flags));
	memcpy(p + offsetof(struct hv_fcopy_wire_start, file_size), &file_size,
	       sizeof(file_size));
	*len = sizeof(struct hv_fcopy_wire_start);
	return 0;
}

HV_EXPORT int hv_fcopy_msg_write_build(void *buf, size_t buflen, uint64_t offset,
				       const void *data, uint32_t size, size_t *len)
{
	struct hv_fcopy_wire_write *w = buf;
	uint32_t op = HV_FCOPY_OP_WRITE;

	if (!buf || !len || (size && !data) || size > HV_FCOPY_DATA_FRAGMENT)
		return -EINVAL;
	if (buflen < sizeof(*w))
		return -ENOBUFS;
	memset(w, 0, HV_FCOPY_WRITE_HDR_SIZE);
	memcpy(&w->hdr.operation, &op, sizeof(op));
	memcpy(&w->offset, &offset, sizeof(offset));
	memcpy(&w->size, &size, sizeof(size));
	if (size)
		memcpy(w->data, data, size);
	memset(w->data + size, 0, HV_FCOPY_DATA_FRAGMENT - size);
	*len = sizeof(*w);
	return 0;
}

HV_EXPORT int hv_fcopy_msg_hdr_build(void *buf, size_t buflen, uint32_t operation, size_t *len)
{
	struct hv_fcopy_wire_hdr hdr;

	if (!buf || !len)
		return -EINVAL;
	if (buflen < sizeof(hdr))
		return -ENOBUFS;
	memset(&hdr, 0, sizeof(hdr));
	hdr.operation = operation;
	memcpy(buf, &hdr, sizeof(hdr));
	*len = sizeof(hdr);
	return 0;
}
