/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poolfile.h"

struct hvctl_poolfile {
	FILE *f;   /* NULL: the file does not exist, the pool is empty */
	char buf[HV_KVP_POOL_RECORD_SIZE];
};

int hvctl_poolfile_open(const char *dir, unsigned int pool, struct hvctl_poolfile **ret)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	struct hvctl_poolfile *pf;
	char path[PATH_MAX];
	struct stat st;
	int fd = -1, err;

	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/.kvp_pool_%u", dir, pool) >= sizeof(path))
		return -ENAMETOOLONG;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		*ret = pf;
		return 0;
	}
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	/* A FIFO or device here would block or never end. */
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	/* Shared locks of both kinds: writers of either kind wait for us. */
	while (flock(fd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			err = -errno;
			goto out;
		}
	}
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			err = -errno;
			goto out;
		}
	}
	pf->f = fdopen(fd, "r");
	if (!pf->f) {
		err = -errno;
		goto out;
	}
	*ret = pf;
	return 0;
out:
	if (fd >= 0)
		close(fd);
	free(pf);
	return err;
}

int hvctl_poolfile_next(struct hvctl_poolfile *pf, struct hvctl_record *rec)
{
	char *buf = pf->buf;
	size_t n;

	if (!pf->f)
		return 0;
	n = fread(buf, 1, sizeof(pf->buf), pf->f);
	if (n < sizeof(pf->buf))
		return ferror(pf->f) ? -EIO : 0;
	/* A field without NUL (cloud-init writes 512-byte keys) is whole. */
	rec->key_len = strnlen(buf, HV_KVP_KEY_MAX_SIZE);
	memcpy(rec->key, buf, rec->key_len);
	rec->key[rec->key_len] = '\0';
	rec->value_len = strnlen(buf + HV_KVP_KEY_MAX_SIZE,
				 HV_KVP_VALUE_MAX_SIZE);
	memcpy(rec->value, buf + HV_KVP_KEY_MAX_SIZE, rec->value_len);
	rec->value[rec->value_len] = '\0';
	return 1;
}

void hvctl_poolfile_close(struct hvctl_poolfile *pf)
{
	if (!pf)
		return;
	/* Closing the descriptor drops both locks. */
	if (pf->f)
		fclose(pf->f);
	free(pf);
}
