/* SPDX-License-Identifier: ISC */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree.h"

/*
 * Ring files are left out of the recorded trees (4 MiB each); their size
 * is what the recorded kernel's channels/<relid>/ring reports.
 */
static const struct {
	const char *tree, *rel;
	off_t size;
} rings[] = {
	{ "kvp-uio", DEV(KVP_INST, "channels/14/ring"), 0x402000 },
	{ "nic-uio", DEV(NIC_INST, "channels/15/ring"), 0x400000 },
	{ "nic-uio", DEV(NIC_INST, "channels/32/ring"), 0x400000 },
	{ "nic-uio", DEV(NIC_INST, "channels/33/ring"), 0x400000 },
	{ "nic-uio-6.9", DEV(NIC2_INST, "channels/16/ring"), 0x400000 },
};

static void run(char *const argv[])
{
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed", argv[0]);
}

static void path_of(char *buf, size_t size, const char *root, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", root, rel);

	ck_assert(n > 0 && (size_t)n < size);
}

char *tree_copy(const char *name)
{
	char tmpl[] = "/tmp/hvuio-vmbus-XXXXXX", src[PATH_MAX], path[PATH_MAX];
	char *root;
	size_t i;
	int fd;

	root = mkdtemp(tmpl);
	ck_assert_ptr_nonnull(root);
	root = strdup(root);
	ck_assert_ptr_nonnull(root);
	if (!name)
		return root;
	path_of(src, sizeof(src), TREES_DIR, name);
	ck_assert_int_eq(strlen(src) + 3 < sizeof(src), 1);
	strcat(src, "/.");
	run((char *const[]){ "cp", "-a", src, root, NULL });
	for (i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
		if (strcmp(rings[i].tree, name) != 0)
			continue;
		path_of(path, sizeof(path), root, rings[i].rel);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, rings[i].size), 0);
		close(fd);
	}
	return root;
}

void tree_remove(char *root)
{
	if (!root)
		return;
	run((char *const[]){ "rm", "-rf", "--", root, NULL });
	free(root);
}

void tree_write(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	path_of(path, sizeof(path), root, rel);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

void tree_unlink(const char *root, const char *rel)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	ck_assert_msg(unlink(path) == 0, "%s: %s", path, strerror(errno));
}

void tree_mkdir(const char *root, const char *rel)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	ck_assert_msg(mkdir(path, 0755) == 0, "%s: %s", path, strerror(errno));
}

void tree_symlink(const char *root, const char *target, const char *rel)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	ck_assert_msg(symlink(target, path) == 0, "%s: %s", path, strerror(errno));
}

char *tree_read(const char *root, const char *rel)
{
	char path[PATH_MAX], *buf;
	size_t n;
	FILE *f;

	path_of(path, sizeof(path), root, rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	buf = calloc(1, 4097);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, 4096, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}
