/* SPDX-License-Identifier: ISC */
/*
 * The vmbus binding suite. A writable copy of a recorded tree stands in
 * for sysfs: the kernel would move the driver symlink, the copy does not,
 * so each case checks which files were written, with what, in what order
 * (inotify reports the closes in the order they happened).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hvuio/vmbus.h"
#include "tree.h"

#define UIO "uio_hv_generic"

/* The directories whose files binding may write, as labels for the log. */
static const char *const watched[] = {
	"sys/bus/vmbus/drivers/hv_utils",
	"sys/bus/vmbus/drivers/hv_netvsc",
	"sys/bus/vmbus/drivers/" UIO,
	"sys/bus/vmbus/devices/" KVP_INST,
	"sys/bus/vmbus/devices/" NIC_INST,
};

struct writes {
	int fd;
	int wd[sizeof(watched) / sizeof(watched[0])];
};

static void writes_start(struct writes *w, const char *root)
{
	char path[PATH_MAX];
	size_t i;

	w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	ck_assert_int_ge(w->fd, 0);
	for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, watched[i]);
		w->wd[i] = inotify_add_watch(w->fd, path, IN_CLOSE_WRITE);
		if (w->wd[i] < 0)
			ck_assert_int_eq(errno, ENOENT);
	}
}

/*
 * "dir/file=contents;" for every file written, in order: the short dir
 * label is the last component of the watched directory.
 */
static char *writes_end(struct writes *w, const char *root)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	char *log = calloc(1, 4096), rel[PATH_MAX], *text;
	const struct inotify_event *ev;
	ssize_t n;
	size_t i;
	char *p;

	ck_assert_ptr_nonnull(log);
	n = read(w->fd, buf, sizeof(buf));
	if (n < 0)
		ck_assert_int_eq(errno, EAGAIN);
	for (p = buf; n > 0 && p < buf + n; p += sizeof(*ev) + ev->len) {
		ev = (const struct inotify_event *)p;
		for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
			if (w->wd[i] == ev->wd)
				break;
		ck_assert_uint_lt(i, sizeof(watched) / sizeof(watched[0]));
		snprintf(rel, sizeof(rel), "%s/%s", watched[i], ev->name);
		text = tree_read(root, rel);
		ck_assert_ptr_nonnull(text);
		snprintf(log + strlen(log), 4096 - strlen(log), "%s/%s=%s;",
			 strrchr(watched[i], '/') + 1, ev->name, text);
		free(text);
	}
	close(w->fd);
	return log;
}

/* Run one bind (driver != NULL) or unbind, check its result and its writes. */
static void expect(const char *root, const char *dev, const char *driver, int err,
		   const char *log)
{
	struct writes w;
	char *got;
	int r;

	writes_start(&w, root);
	r = driver ? hv_vmbus_bind(root, dev, driver) : hv_vmbus_unbind(root, dev);
	got = writes_end(&w, root);
	ck_assert_msg(r == err, "%s %s: %d (%s), want %d", driver ? driver : "unbind", dev,
		      r, strerror(-r), err);
	ck_assert_str_eq(got, log);
	free(got);
}

static void add_driver(const char *root, const char *name)
{
	char rel[PATH_MAX];
	static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };
	size_t i;

	snprintf(rel, sizeof(rel), "sys/bus/vmbus/drivers/%s", name);
	tree_mkdir(root, rel);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(rel, sizeof(rel), "sys/bus/vmbus/drivers/%s/%s", name, files[i]);
		tree_write(root, rel, "");
	}
}

START_TEST(module_missing)
{
	char *root = tree_copy("kvp-hv_utils");

	expect(root, KVP_INST, UIO, -ENODEV, "");
	expect(root, KVP_INST, "hv_vmbus_nonexistent", -ENODEV, "");
	tree_remove(root);
}
END_TEST

START_TEST(old_kernel)
{
	char *root = tree_copy("kvp-hv_utils");

	add_driver(root, UIO);
	expect(root, KVP_INST, UIO, -EOPNOTSUPP, "");
	tree_write(root, "proc/sys/kernel/osrelease", "6.9.0\n");
	expect(root, KVP_INST, UIO, -EOPNOTSUPP, "");
	tree_write(root, "proc/sys/kernel/osrelease", "5.15.0-1079-azure\n");
	expect(root, KVP_INST, UIO, -EOPNOTSUPP, "");
	tree_write(root, "proc/sys/kernel/osrelease", "garbage\n");
	expect(root, KVP_INST, UIO, -EBADMSG, "");
	tree_write(root, "proc/sys/kernel/osrelease", "6\n");
	expect(root, KVP_INST, UIO, -EBADMSG, "");
	tree_remove(root);
}
END_TEST

START_TEST(new_kernel_override)
{
	char *root = tree_copy("kvp-hv_utils");

	add_driver(root, UIO);
	tree_write(root, "proc/sys/kernel/osrelease", "6.10.0\n");
	expect(root, KVP_INST, UIO, 0,
	       "hv_utils/unbind=" KVP_INST ";"
	       KVP_INST "/driver_override=" UIO ";"
	       UIO "/bind=" KVP_INST ";");
	tree_write(root, "proc/sys/kernel/osrelease", "7.0.1-rc1\n");
	expect(root, KVP_INST, UIO, 0,
	       "hv_utils/unbind=" KVP_INST ";"
	       KVP_INST "/driver_override=" UIO ";"
	       UIO "/bind=" KVP_INST ";");
	tree_remove(root);
}
END_TEST

START_TEST(new_id_without_override)
{
	char *root = tree_copy("kvp-hv_utils");

	/* A kernel before 4.18 has no driver_override: new_id takes the class GUID. */
	add_driver(root, UIO);
	tree_write(root, "proc/sys/kernel/osrelease", "6.12.0\n");
	tree_unlink(root, DEV(KVP_INST, "driver_override"));
	expect(root, KVP_INST, UIO, 0,
	       "hv_utils/unbind=" KVP_INST ";"
	       UIO "/new_id=" HV_VMBUS_KVP_GUID ";"
	       UIO "/bind=" KVP_INST ";");
	tree_remove(root);
}
END_TEST

/*
 * Plays the kernel for new_id_attaches: unbind and new_id are FIFOs, so
 * the library's open() of each waits for this thread. Before it lets the
 * new_id write through, the thread moves the driver symlink the way
 * driver_attach() would, so the library sees the device bound when it
 * looks again.
 */
struct attach {
	const char *root;
	char unbind[128], new_id[128];
};

static void fifo_drain(const char *root, const char *rel, char *buf, size_t size)
{
	char path[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

static void *attach_thread(void *arg)
{
	struct attach *a = arg;
	char path[PATH_MAX];

	fifo_drain(a->root, DRV(UIO, "unbind"), a->unbind, sizeof(a->unbind));
	snprintf(path, sizeof(path), "%s/%s", a->root, DEV(NIC_INST, "driver"));
	if (unlink(path) == 0 && symlink("../../../../bus/vmbus/drivers/hv_netvsc", path) == 0)
		fifo_drain(a->root, DRV("hv_netvsc", "new_id"), a->new_id, sizeof(a->new_id));
	return NULL;
}

static void make_fifo(const char *root, const char *rel)
{
	char path[PATH_MAX];

	tree_unlink(root, rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
}

START_TEST(new_id_attaches)
{
	char *root = tree_copy("nic-uio"), *bind;
	struct attach a = { .root = root };
	pthread_t t;

	tree_unlink(root, DEV(NIC_INST, "driver_override"));
	make_fifo(root, DRV(UIO, "unbind"));
	make_fifo(root, DRV("hv_netvsc", "new_id"));
	ck_assert_int_eq(pthread_create(&t, NULL, attach_thread, &a), 0);
	ck_assert_int_eq(hv_vmbus_bind(root, NIC_INST, "hv_netvsc"), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_str_eq(a.unbind, NIC_INST);
	ck_assert_str_eq(a.new_id, HV_VMBUS_NIC_GUID);
	/* Already attached by new_id: no bind write. */
	bind = tree_read(root, DRV("hv_netvsc", "bind"));
	ck_assert_str_eq(bind, "");
	free(bind);
	tree_remove(root);
}
END_TEST

START_TEST(uname_fallback)
{
	char *root = tree_copy("kvp-hv_utils");
	struct utsname u;
	unsigned int ma = 0, mi = 0;
	bool old;

	add_driver(root, UIO);
	tree_unlink(root, "proc/sys/kernel/osrelease");
	ck_assert_int_eq(uname(&u), 0);
	ck_assert_int_eq(sscanf(u.release, "%u.%u", &ma, &mi), 2);
	old = ma < 6 || (ma == 6 && mi < 10);
	if (old)
		expect(root, KVP_INST, UIO, -EOPNOTSUPP, "");
	else
		expect(root, KVP_INST, UIO, 0,
		       "hv_utils/unbind=" KVP_INST ";"
		       KVP_INST "/driver_override=" UIO ";"
		       UIO "/bind=" KVP_INST ";");
	tree_remove(root);
}
END_TEST

START_TEST(monitored_on_old_kernel)
{
	char *root = tree_copy("nic-uio-6.9");

	/* A monitored channel binds to uio_hv_generic on any kernel. */
	tree_write(root, "sys/bus/vmbus/devices/" NIC2_INST "/driver_override", "(null)\n");
	tree_unlink(root, "sys/bus/vmbus/devices/" NIC2_INST "/driver");
	{
		struct hv_vmbus_list *list = NULL;

		ck_assert_int_eq(hv_vmbus_list_new(root, &list), 0);
		ck_assert_str_eq(list->devices[0].driver, "");
		hv_vmbus_list_free(list);
	}
	ck_assert_int_eq(hv_vmbus_bind(root, NIC2_INST, UIO), 0);
	{
		char *o = tree_read(root, DEV(NIC2_INST, "driver_override"));
		char *b = tree_read(root, DRV(UIO, "bind"));

		ck_assert_str_eq(o, UIO);
		ck_assert_str_eq(b, NIC2_INST);
		free(o);
		free(b);
	}
	tree_remove(root);
}
END_TEST

START_TEST(already_bound)
{
	char *root = tree_copy("kvp-uio");

	expect(root, KVP_INST, UIO, 0, "");
	expect(root, "{242FF919-07DB-4180-9C2E-B86CB68C8C55}", UIO, 0, "");
	tree_remove(root);
}
END_TEST

START_TEST(busy)
{
	char *root = tree_copy("kvp-uio");
	char target[PATH_MAX];

	/* A process holding something else open does not count. */
	tree_mkdir(root, "proc/1");
	tree_mkdir(root, "proc/1/fd");
	tree_symlink(root, "/dev/null", "proc/1/fd/0");
	tree_symlink(root, "socket:[4242]", "proc/1/fd/3");
	tree_mkdir(root, "proc/self");
	tree_mkdir(root, "proc/self/fd");
	snprintf(target, sizeof(target), "%s/dev/uio0", root);
	tree_symlink(root, target, "proc/self/fd/4");
	snprintf(target, sizeof(target), "%s/dev/uio01", root);
	tree_symlink(root, target, "proc/1/fd/5");
	expect(root, KVP_INST, NULL, 0, UIO "/unbind=" KVP_INST ";");

	tree_mkdir(root, "proc/4242");
	tree_mkdir(root, "proc/4242/fd");
	snprintf(target, sizeof(target), "%s/dev/uio0", root);
	tree_symlink(root, target, "proc/4242/fd/7");
	expect(root, KVP_INST, NULL, -EBUSY, "");
	expect(root, KVP_INST, "hv_utils", -EBUSY, "");
	tree_remove(root);
}
END_TEST

START_TEST(back_to_kernel_driver)
{
	char *root = tree_copy("kvp-uio");

	expect(root, KVP_INST, "hv_utils", 0,
	       UIO "/unbind=" KVP_INST ";"
	       KVP_INST "/driver_override=hv_utils;"
	       "hv_utils/bind=" KVP_INST ";");
	tree_remove(root);
}
END_TEST

START_TEST(unbind)
{
	char *root = tree_copy("nic-uio");

	expect(root, NIC_INST, NULL, 0, UIO "/unbind=" NIC_INST ";");
	/* Nothing bound: nothing to do. */
	tree_unlink(root, DEV(NIC_INST, "driver"));
	expect(root, NIC_INST, NULL, 0, "");
	tree_remove(root);

	root = tree_copy("nic-uio");
	tree_unlink(root, DRV(UIO, "bind"));
	tree_unlink(root, DRV(UIO, "unbind"));
	tree_unlink(root, DRV(UIO, "new_id"));
	tree_unlink(root, DRV(UIO, "remove_id"));
	tree_unlink(root, DRV(UIO, "uevent"));
	tree_unlink(root, DRV(UIO, NIC_INST));
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", root, "sys/bus/vmbus/drivers/" UIO);
		ck_assert_int_eq(rmdir(path), 0);
	}
	expect(root, NIC_INST, NULL, -ENODEV, "");
	tree_remove(root);
}
END_TEST

START_TEST(write_errors)
{
	char *root = tree_copy("kvp-uio");

	/* The sysfs write's own errno comes back; the unbind before it stays done. */
	tree_unlink(root, DRV("hv_utils", "bind"));
	tree_mkdir(root, DRV("hv_utils", "bind"));
	expect(root, KVP_INST, "hv_utils", -EISDIR,
	       UIO "/unbind=" KVP_INST ";"
	       KVP_INST "/driver_override=hv_utils;");
	tree_remove(root);

	root = tree_copy("kvp-uio");
	/* A missing store file is not created. */
	tree_unlink(root, DRV(UIO, "unbind"));
	expect(root, KVP_INST, "hv_utils", -ENOENT, "");
	ck_assert_ptr_null(tree_read(root, DRV(UIO, "unbind")));
	tree_remove(root);
}
END_TEST

START_TEST(bad_arguments)
{
	char *root = tree_copy("kvp-uio");

	expect(root, HB_INST, UIO, -ENOENT, "");
	expect(root, HB_INST, NULL, -ENOENT, "");
	expect(root, "not-a-guid", UIO, -EINVAL, "");
	expect(root, "../../../../etc", NULL, -EINVAL, "");
	expect(root, KVP_INST, "../hv_utils", -EINVAL, "");
	expect(root, KVP_INST, "", -EINVAL, "");
	expect(root, KVP_INST, "..", -EINVAL, "");
	ck_assert_int_eq(hv_vmbus_bind(NULL, KVP_INST, UIO), -EINVAL);
	ck_assert_int_eq(hv_vmbus_bind(root, NULL, UIO), -EINVAL);
	ck_assert_int_eq(hv_vmbus_bind(root, KVP_INST, NULL), -EINVAL);
	ck_assert_int_eq(hv_vmbus_unbind(NULL, KVP_INST), -EINVAL);
	ck_assert_int_eq(hv_vmbus_unbind(root, NULL), -EINVAL);
	/* A malformed device is reported, not bound. */
	tree_write(root, DEV(KVP_INST, "class_id"), "{nonsense}\n");
	expect(root, KVP_INST, "hv_utils", -EBADMSG, "");
	tree_remove(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmbus-bind");
	TCase *tc = tcase_create("bind");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, module_missing);
	tcase_add_test(tc, old_kernel);
	tcase_add_test(tc, new_kernel_override);
	tcase_add_test(tc, new_id_without_override);
	tcase_add_test(tc, new_id_attaches);
	tcase_add_test(tc, uname_fallback);
	tcase_add_test(tc, monitored_on_old_kernel);
	tcase_add_test(tc, already_bound);
	tcase_add_test(tc, busy);
	tcase_add_test(tc, back_to_kernel_driver);
	tcase_add_test(tc, unbind);
	tcase_add_test(tc, write_errors);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
