/* SPDX-License-Identifier: ISC */
/*
 * Finding a device and waiting for it to come back (devwait.h). sysfs itself sends no
 * inotify events for the kernel's changes; devtmpfs does, for the nodes,
 * and the sim root's folders do for everything: the period covers the
 * rest.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hvuio/vmbus.h>

#include "daemons/common/devwait.h"
#include "daemons/hvkvpd/log.h"

int devwait_find(const char *root, const char *class_guid, bool *sim, char *driver,
		 size_t size)
{
	struct hv_vmbus_list *list = NULL;
	const struct hv_vmbus_device *dev = NULL;
	char node[PATH_MAX];
	struct stat st;
	int err;

	*sim = false;
	driver[0] = '\0';
	err = hv_vmbus_list_new(root, &list);
	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	for (size_t i = 0; i < list->count && !dev; i++)
		if (strcmp(list->devices[i].class_id, class_guid) == 0)
			dev = &list->devices[i];
	err = 0;
	if (dev) {
		snprintf(driver, size, "%s", dev->driver);
		err = strcmp(dev->driver, "uio_hv_generic") == 0 && dev->uio_index >= 0;
		/* The sim device's node is a socket where the real one is a character device. */
		if (err && snprintf(node, sizeof(node), "%s/dev/uio%d", root, dev->uio_index) <
			   (int)sizeof(node))
			*sim = stat(node, &st) == 0 && S_ISSOCK(st.st_mode);
	}
	hv_vmbus_list_free(list);
	return err;
}

void devwait_watch_dir(int fd, const char *dir)
{
	char path[PATH_MAX];
	char *slash;

	snprintf(path, sizeof(path), "%s", dir);
	while (inotify_add_watch(fd, path, IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE) < 0) {
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			return;
		*slash = '\0';
	}
}

void devwait_watch_node(int fd, const char *node)
{
	char path[PATH_MAX];
	char *slash;

	snprintf(path, sizeof(path), "%s", node);
	slash = strrchr(path, '/');
	if (slash == path)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(path, sizeof(path), ".");
	devwait_watch_dir(fd, path);
}

int devwait_reopen(const struct devwait *w, unsigned int *attempts)
{
	int err, last = 0;

	*attempts = 0;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = w->sigfd, .events = POLLIN },
			{ .fd = w->wfd, .events = POLLIN },
		};
		char buf[4096];
		bool terminate = false;
		int n;

		err = w->open(w->ctx);
		if (err == 0)
			return 0;
		if (err != last)
			log_debug("reopen: %s", strerror(-err));
		last = err;
		++*attempts;
		n = poll(pfd, w->wfd >= 0 ? 2 : 1, DEVWAIT_POLL_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			w->signal_take(w->ctx, &terminate);
			if (terminate)
				return 1;
		}
		/*
		 * Drained, not looked at: the device folder appears before
		 * its uio node and driver link are complete, so a failed
		 * open is simply retried on the next event or tick.
		 */
		if (w->wfd >= 0 && n > 0 && (pfd[1].revents & POLLIN))
			while (read(w->wfd, buf, sizeof(buf)) > 0)
				;
	}
}
