/* SPDX-License-Identifier: ISC */
/*
 * Another KVP daemon beside hvkvpd: Linux's hv_kvp_daemon (the name
 * Debian, Ubuntu and SUSE install) or hypervkvpd (Fedora's and RHEL's
 * name for it). Both would answer the same host through
 * /dev/vmbus/hv_kvp and rewrite the same pool files. Each distribution
 * starts it from a udev rule (SYSTEMD_WANTS on vmbus/hv_kvp) whatever its
 * enablement says, so a unit that is installed and not masked counts as
 * enabled. hvctl status says which unit to mask.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvctl.h"

/* The distributions' units for Linux's daemon (ecosystem survey, section 2). */
static const struct {
	const char *unit;
	const char *who;
} units[] = {
	{ "hv-kvp-daemon.service", "Debian's and Ubuntu's hv_kvp_daemon" },
	{ "hypervkvpd.service", "Fedora's and RHEL's hypervkvpd" },
	{ "hv_kvp_daemon.service", "SUSE's hv_kvp_daemon" },
};

#define NUNITS (sizeof(units) / sizeof(units[0]))

/* ctx->root + "/" + rel. 0, or -1 when it does not fit. */
static int rooted(const struct hvctl *ctx, char *buf, size_t size, const char *rel)
{
	const char *root = ctx->root && strcmp(ctx->root, "/") != 0 ? ctx->root : "";

	return snprintf(buf, size, "%s/%s", root, rel) >= (int)size ? -1 : 0;
}

/* rooted() of "DIR/NAME". */
static int rooted2(const struct hvctl *ctx, char *buf, size_t size, const char *dir,
		   const char *name)
{
	char rel[PATH_MAX];

	if (snprintf(rel, sizeof(rel), "%s/%s", dir, name) >= (int)sizeof(rel))
		return -1;
	return rooted(ctx, buf, size, rel);
}

/* First line of a small file, without its newline; "" if it cannot be read. */
static void line_read(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The systemd unit of process `pid` (its cgroup's last component), or NULL. */
static const char *unit_of(const struct hvctl *ctx, const char *pid, char *buf, size_t size)
{
	char path[PATH_MAX], line[1024], *p, *end;
	FILE *f;

	if (snprintf(line, sizeof(line), "proc/%s/cgroup", pid) >= (int)sizeof(line) ||
	    rooted(ctx, path, sizeof(path), line) < 0)
		return NULL;
	f = fopen(path, "re");
	if (!f)
		return NULL;
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		end = strstr(line, ".service");
		if (!end)
			continue;
		end += strlen(".service");
		*end = '\0';
		p = strrchr(line, '/');
		p = p ? p + 1 : line;
		if (strlen(p) < size)
			strcpy(buf, p);
	}
	fclose(f);
	return buf[0] ? buf : NULL;
}

/* -1 not installed, 0 installed and not masked, 1 masked. */
static int unit_state(const struct hvctl *ctx, const char *unit)
{
	static const char *const masking[] = { "etc/systemd/system", "run/systemd/system" };
	static const char *const vendor[] = {
		"usr/lib/systemd/system", "lib/systemd/system", "etc/systemd/system",
	};
	char path[PATH_MAX], target[PATH_MAX];
	struct stat st;
	ssize_t n;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (rooted2(ctx, path, sizeof(path), masking[i], unit) < 0)
			continue;
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, "/dev/null") == 0)
				return 1;
		}
	}
	for (i = 0; i < sizeof(vendor) / sizeof(vendor[0]); i++)
		if (rooted2(ctx, path, sizeof(path), vendor[i], unit) == 0 &&
		    stat(path, &st) == 0)
			return 0;
	return -1;
}

int hvctl_peers_warn(const struct hvctl *ctx)
{
	char path[PATH_MAX], comm[64], unit[256];
	struct dirent *de;
	bool named[NUNITS] = { false };
	int found = 0;
	size_t i;
	DIR *d;

	if (rooted(ctx, path, sizeof(path), "proc") == 0 && (d = opendir(path))) {
		while ((de = readdir(d))) {
			const char *u;

			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			if (rooted2(ctx, path, sizeof(path), "proc", de->d_name) < 0 ||
			    strlen(path) + sizeof("/comm") > sizeof(path))
				continue;
			strcat(path, "/comm");
			/* comm is the program's file name, whatever argv[0] says: ours is hvkvpd. */
			line_read(path, comm, sizeof(comm));
			if (strcmp(comm, "hv_kvp_daemon") != 0 && strcmp(comm, "hypervkvpd") != 0)
				continue;
			u = unit_of(ctx, de->d_name, unit, sizeof(unit));
			for (i = 0; u && i < NUNITS; i++)
				if (strcmp(u, units[i].unit) == 0)
					named[i] = true;
			fprintf(stderr, "hvctl: warning: another KVP daemon is running: %s (pid %s%s%s); "
				"it and hvkvpd both answer the host through /dev/vmbus/hv_kvp and rewrite "
				"the pool files; stop it and keep it from starting again: systemctl mask "
				"--now %s\n", comm, de->d_name, u ? ", " : "", u ? u : "",
				u ? u : strcmp(comm, "hypervkvpd") == 0 ? "hypervkvpd.service" :
				"hv-kvp-daemon.service");
			found++;
		}
		closedir(d);
	}
	for (i = 0; i < NUNITS; i++) {
		if (named[i] || unit_state(ctx, units[i].unit) != 0)
			continue;
		fprintf(stderr, "hvctl: warning: %s (%s) is installed and not masked: the "
			"distribution's udev rule starts it when /dev/vmbus/hv_kvp appears, beside "
			"hvkvpd; mask it: systemctl mask %s\n", units[i].unit, units[i].who,
			units[i].unit);
		found++;
	}
	return found;
}
