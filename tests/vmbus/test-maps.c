/* SPDX-License-Identifier: ISC */
/*
 * hv_dev_map_* and hv_dev_gpadl_get on sim devices hvsim (HVSIM) plays
 * the host of: the three maps of an integration service and the five of
 * a NIC, their addresses and sizes, and the GPADL handles the NIC's
 * "recv:<n>" and "send:<n>" maps carry; then names a kernel never writes,
 * put into the sim root's sysfs (names are read back on each call).
 * Public API only.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/hvuio.h>

static char tmpdir[64], root[128];
static pid_t sim_pid;
static struct hv_dev *dev;
static char instance[HV_VMBUS_GUID_STRLEN];
static struct hv_vmbus_map sysfs_maps[HV_VMBUS_MAX_MAPS];
static unsigned int sysfs_nmaps;

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(s, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static void map_file_write(unsigned int k, const char *file, const char *s)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/sys/bus/vmbus/devices/%s/uio/uio0/maps/map%u/%s",
		 root, instance, k, file);
	write_file(path, s);
}

static const char *device;

static void setup(void)
{
	char spath[128];
	struct hv_vmbus_list *list = NULL;
	struct timespec t0, t;
	int err;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hvuio-maps-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(root, sizeof(root), "%s/sim", tmpdir);
	snprintf(spath, sizeof(spath), "%s/script", tmpdir);
	write_file(spath, "wait 60000\n");
	sim_pid = fork();
	ck_assert_int_ge(sim_pid, 0);
	if (sim_pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(HVSIM, "hvsim", "--root", root, "--script", spath, "--device", device,
		      (char *)NULL);
		_exit(127);
	}
	/* The device can be opened once hvsim listens on its node. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		err = hv_vmbus_list_new(root, &list);
		if (!err && list->count == 1) {
			memcpy(instance, list->devices[0].instance, sizeof(instance));
			sysfs_nmaps = list->devices[0].nmaps;
			memcpy(sysfs_maps, list->devices[0].maps, sizeof(sysfs_maps));
			err = hv_dev_open(root, instance, &dev);
		} else if (!err) {
			err = -ENOENT;
		}
		hv_vmbus_list_free(list);
		list = NULL;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (err == 0 || t.tv_sec - t0.tv_sec > 20)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(err, 0);
}

static void setup_heartbeat(void)
{
	device = "heartbeat";
	setup();
}

static void setup_nic(void)
{
	device = "nic";
	setup();
}

static void teardown(void)
{
	char cmd[128];

	hv_dev_close(dev);
	dev = NULL;
	kill(sim_pid, SIGTERM);
	waitpid(sim_pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(maps_as_offered)
{
	static const char *names[] = { "txrx_rings", "int_page", "monitor_page" };
	char name[HV_VMBUS_MAP_NAME_SIZE];
	uint64_t size;
	void *addr;

	ck_assert_uint_eq(hv_dev_map_count(dev), 3);
	ck_assert_uint_eq(sysfs_nmaps, 3);
	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_int_eq(hv_dev_map_get(dev, i, &addr, &size, name), 0);
		ck_assert_ptr_nonnull(addr);
		ck_assert_uint_eq(size, sysfs_maps[i].size);
		ck_assert_str_eq(name, names[i]);
		/* Mapped shared and writable: the host's side sees this byte. */
		((volatile uint8_t *)addr)[size - 1] = ((volatile uint8_t *)addr)[size - 1];
	}
	ck_assert_int_eq(hv_dev_map_get(dev, 3, &addr, &size, name), -ENOENT);
	ck_assert_int_eq(hv_dev_map_get(NULL, 0, &addr, &size, name), -EINVAL);
	/* Every out pointer may be NULL; no name means no sysfs read. */
	ck_assert_int_eq(hv_dev_map_get(dev, 1, NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(find_by_name)
{
	unsigned int i = 99;
	uint32_t gpadl = 7;

	ck_assert_int_eq(hv_dev_map_find(dev, "int_page", &i), 0);
	ck_assert_uint_eq(i, 1);
	ck_assert_int_eq(hv_dev_map_find(dev, "monitor_page", &i), 0);
	ck_assert_uint_eq(i, 2);
	ck_assert_int_eq(hv_dev_map_find(dev, "int", &i), -ENOENT);
	ck_assert_int_eq(hv_dev_map_find(dev, "recv", &i), -ENOENT);
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "recv", &gpadl), -ENOENT);
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "int_page", &gpadl), -EINVAL);
	ck_assert_int_eq(hv_dev_map_find(NULL, "recv", &i), -EINVAL);
	ck_assert_uint_eq(gpadl, 7);
}
END_TEST

/* A NIC's five maps, as uio_hv_generic makes them (hv_uio_probe). */
START_TEST(nic_maps)
{
	static const char *names[] = { "txrx_rings", "int_page", "monitor_page", "recv:", "send:" };
	static const uint64_t sizes[] = { 0, 4096, 4096, 31u << 20, 16u << 20 };
	char name[HV_VMBUS_MAP_NAME_SIZE], want[HV_VMBUS_MAP_NAME_SIZE];
	uint32_t recv = 0, send = 0;
	unsigned int i;
	uint64_t size;
	void *addr;

	ck_assert_uint_eq(hv_dev_map_count(dev), 5);
	ck_assert_uint_eq(sysfs_nmaps, 5);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(hv_dev_map_get(dev, i, &addr, &size, name), 0);
		ck_assert_str_eq(name, sysfs_maps[i].name);
		ck_assert_int_eq(strncmp(name, names[i], strlen(names[i])), 0);
		ck_assert_uint_eq(size, sysfs_maps[i].size);
		if (sizes[i])
			ck_assert_uint_eq(size, sizes[i]);
		((volatile uint8_t *)addr)[size - 1] = ((volatile uint8_t *)addr)[size - 1];
	}
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "recv", &recv), 0);
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "send", &send), 0);
	/* The handles are those of the names sysfs shows, in Linux's numbering. */
	snprintf(want, sizeof(want), "recv:%u", recv);
	ck_assert_str_eq(sysfs_maps[3].name, want);
	snprintf(want, sizeof(want), "send:%u", send);
	ck_assert_str_eq(sysfs_maps[4].name, want);
	ck_assert_uint_ge(recv, 0xE1E10);
	ck_assert_uint_eq(send, recv + 1);
	ck_assert_int_eq(hv_dev_map_find(dev, "recv", &i), 0);
	ck_assert_uint_eq(i, 3);
	ck_assert_int_eq(hv_dev_map_find(dev, "send", &i), 0);
	ck_assert_uint_eq(i, 4);
	/* Only the buffers' names take a handle. */
	ck_assert_int_eq(hv_dev_map_find(dev, "recv:", &i), -ENOENT);
	ck_assert_int_eq(hv_dev_map_find(dev, "txrx", &i), -ENOENT);
}
END_TEST

/* Names a kernel does not write: the handle is refused, nothing stored. */
START_TEST(gpadl_from_names)
{
	static const char *bad[] = { "recv:\n", "recv:0\n", "recv:4294967296\n", "recv:12a\n",
				     "recv:-1\n", "recv:012\n", "recv: 1\n" };
	uint32_t gpadl = 0;

	map_file_write(3, "name", "recv:4711\n");
	map_file_write(4, "name", "send:4294967295\n");
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "recv", &gpadl), 0);
	ck_assert_uint_eq(gpadl, 4711);
	ck_assert_int_eq(hv_dev_gpadl_get(dev, "send", &gpadl), 0);
	ck_assert_uint_eq(gpadl, 4294967295u);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		gpadl = 1;
		map_file_write(3, "name", bad[k]);
		ck_assert_int_eq(hv_dev_gpadl_get(dev, "recv", &gpadl), -EBADMSG);
		ck_assert_uint_eq(gpadl, 1);
	}
}
END_TEST

/* sysfs showing other maps than the open device has is not believed. */
START_TEST(stale_sysfs)
{
	char name[HV_VMBUS_MAP_NAME_SIZE], size[32];
	unsigned int i;

	snprintf(size, sizeof(size), "0x%016llx\n", (unsigned long long)sysfs_maps[2].size * 2);
	map_file_write(2, "size", size);
	ck_assert_int_eq(hv_dev_map_get(dev, 0, NULL, NULL, name), -ESTALE);
	ck_assert_int_eq(hv_dev_map_find(dev, "int_page", &i), -ESTALE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("maps");
	TCase *tc = tcase_create("heartbeat");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup_heartbeat, teardown);
	tcase_add_test(tc, maps_as_offered);
	tcase_add_test(tc, find_by_name);
	tcase_add_test(tc, stale_sysfs);
	suite_add_tcase(s, tc);
	tc = tcase_create("nic");
	tcase_add_checked_fixture(tc, setup_nic, teardown);
	tcase_add_test(tc, nic_maps);
	tcase_add_test(tc, gpadl_from_names);
	tcase_add_test(tc, stale_sysfs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
