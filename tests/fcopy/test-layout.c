/* SPDX-License-Identifier: ISC */
/*
 * The fcopy codec against Linux's own uapi header: every structure has
 * the size and field offsets of <linux/hyperv.h> (the header the kernel
 * and Linux's daemons are built from), the constants have its values, and
 * the builders' bytes decode with Linux's structures as Linux would read
 * them. Both headers in one file: hvuio's names are prefixed for that.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <linux/hyperv.h>

#include <hvuio/fcopy_msg.h>

#define SAME_LAYOUT(ours, theirs, field) \
	_Static_assert(offsetof(struct ours, field) == offsetof(struct theirs, field), #field)

_Static_assert(sizeof(struct hv_fcopy_wire_hdr) == sizeof(struct hv_fcopy_hdr), "hdr");
_Static_assert(sizeof(struct hv_fcopy_wire_start) == sizeof(struct hv_start_fcopy), "start");
_Static_assert(sizeof(struct hv_fcopy_wire_write) == sizeof(struct hv_do_fcopy), "write");
SAME_LAYOUT(hv_fcopy_wire_start, hv_start_fcopy, file_name);
SAME_LAYOUT(hv_fcopy_wire_start, hv_start_fcopy, path_name);
SAME_LAYOUT(hv_fcopy_wire_start, hv_start_fcopy, copy_flags);
SAME_LAYOUT(hv_fcopy_wire_start, hv_start_fcopy, file_size);
SAME_LAYOUT(hv_fcopy_wire_write, hv_do_fcopy, offset);
SAME_LAYOUT(hv_fcopy_wire_write, hv_do_fcopy, size);
SAME_LAYOUT(hv_fcopy_wire_write, hv_do_fcopy, data);
_Static_assert(HV_FCOPY_OP_START == START_FILE_COPY && HV_FCOPY_OP_WRITE == WRITE_TO_FILE &&
	       HV_FCOPY_OP_COMPLETE == COMPLETE_FCOPY && HV_FCOPY_OP_CANCEL == CANCEL_FCOPY,
	       "operations");
_Static_assert(HV_FCOPY_FLAG_OVERWRITE == OVER_WRITE && HV_FCOPY_FLAG_CREATE_PATH == CREATE_PATH,
	       "flags");
_Static_assert(HV_FCOPY_NAME_UNITS == W_MAX_PATH && HV_FCOPY_DATA_FRAGMENT == DATA_FRAGMENT,
	       "sizes");
_Static_assert(HV_FCOPY_KERNEL_VERSION == FCOPY_CURRENT_VERSION, "registration version");

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static union {
	struct hv_start_fcopy start;
	struct hv_do_fcopy write;
	unsigned char bytes[sizeof(struct hv_do_fcopy)];
} m;

int main(void)
{
	/* "données/😀" in UTF-16LE: a two-byte character and a surrogate pair. */
	static const uint16_t want_path[] = { 'd', 'o', 'n', 'n', 0xe9, 'e', 's', '/', 0xd83d,
					      0xde00, 0 };
	struct hv_fcopy_request req;
	size_t len;

	CHECK(hv_fcopy_msg_start_build(&m, sizeof(m), HV_FCOPY_LAYOUT_CHANNEL, "f.txt",
				       "données/😀", OVER_WRITE | CREATE_PATH, 123456789,
				       &len) == 0);
	CHECK(len == sizeof(struct hv_start_fcopy));
	CHECK(m.start.hdr.operation == START_FILE_COPY);
	CHECK(memcmp(m.start.path_name, want_path, sizeof(want_path)) == 0);
	CHECK(m.start.file_name[0] == 'f' && m.start.file_name[5] == 0);
	CHECK(m.start.copy_flags == (OVER_WRITE | CREATE_PATH));
	CHECK(m.start.file_size == 123456789);
	CHECK(hv_fcopy_msg_parse(&m, len, HV_FCOPY_LAYOUT_CHANNEL, &req) == 0);
	CHECK(strcmp(req.path_name, "données/😀") == 0 && strcmp(req.file_name, "f.txt") == 0);

	/* The kernel's form: what utf16s_to_utf8s left in the same fields. */
	CHECK(hv_fcopy_msg_start_build(&m, sizeof(m), HV_FCOPY_LAYOUT_KERNEL, "f.txt",
				       "/tmp/é/", 0, 7, &len) == 0);
	CHECK(strcmp((const char *)m.start.path_name, "/tmp/é/") == 0);
	CHECK(strcmp((const char *)m.start.file_name, "f.txt") == 0);

	CHECK(hv_fcopy_msg_write_build(&m, sizeof(m), 6144, "abc", 3, &len) == 0);
	CHECK(len == sizeof(struct hv_do_fcopy));
	CHECK(m.write.hdr.operation == WRITE_TO_FILE && m.write.offset == 6144 &&
	      m.write.size == 3 && memcmp(m.write.data, "abc", 3) == 0 && m.write.data[3] == 0);
	/* A size past what arrived, and past the fragment. */
	CHECK(hv_fcopy_msg_parse(&m, offsetof(struct hv_do_fcopy, data) + 2,
				 HV_FCOPY_LAYOUT_CHANNEL, &req) == -EMSGSIZE);
	m.write.size = DATA_FRAGMENT + 1;
	CHECK(hv_fcopy_msg_parse(&m, len, HV_FCOPY_LAYOUT_CHANNEL, &req) == -EMSGSIZE);

	CHECK(hv_fcopy_msg_hdr_build(&m, sizeof(m), CANCEL_FCOPY, &len) == 0);
	CHECK(len == sizeof(struct hv_fcopy_hdr) && m.start.hdr.operation == CANCEL_FCOPY);
	CHECK(hv_fcopy_msg_parse(&m, len - 1, HV_FCOPY_LAYOUT_CHANNEL, &req) == -EBADMSG);
	m.start.hdr.operation = 4;
	CHECK(hv_fcopy_msg_parse(&m, len, HV_FCOPY_LAYOUT_CHANNEL, &req) == -EOPNOTSUPP &&
	      req.operation == 4);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}
