/* SPDX-License-Identifier: ISC */
/*
 * Feed files to a fuzz target without libFuzzer: every regular file in
 * the directories (or the files) named on the command line, in name
 * order, one call of LLVMFuzzerTestOneInput each. Built into the plain
 * and sanitizer builds, so that an input that once crashed a target
 * keeps being tried by `meson test`. A missing directory counts as empty.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path, unsigned int *count)
{
	FILE *f;
	uint8_t *buf = NULL;
	struct stat st;
	size_t n;
	int ret = -1;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	/* An exact allocation: a read past the end is caught under ASan. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		goto out;
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto out;
	}
	/* Named before the call: a trap leaves no other trace of which input. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	(*count)++;
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

static int replay_dir(const char *dir, unsigned int *count)
{
	struct dirent **names;
	int n, i, ret = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (names[i]->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) <
		    (int)sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(path, count) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned int count = 0;
	int i, ret = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(argv[i], &count) < 0)
				ret = 1;
		} else if (replay_dir(argv[i], &count) < 0) {
			ret = 1;
		}
	}
	printf("replayed %u inputs\n", count);
	return ret;
}
