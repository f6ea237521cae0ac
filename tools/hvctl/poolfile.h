/* SPDX-License-Identifier: ISC */
/*
 * Reading Linux's KVP pool files when hvkvpd is not running. The store of
 * lib/kvp cannot be opened read-only (opening creates the directory and
 * files, redoes its journal and compacts), so hvctl reads the records
 * itself: DIR/.kvp_pool_N is a headerless array of 2560-byte records, a
 * 512-byte key field then a 2048-byte value field, each NUL-terminated
 * and NUL-padded (the layout of Linux's tools/hv/hv_kvp_daemon.c, which
 * hv_kvp_pool(3) documents).
 */
#ifndef HVCTL_POOLFILE_H
#define HVCTL_POOLFILE_H

#include <stddef.h>
#include <stdio.h>

#include <hvuio/kvp_pool.h>

struct hvctl_record {
	char key[HV_KVP_KEY_MAX_SIZE + 1];
	char value[HV_KVP_VALUE_MAX_SIZE + 1];
	size_t key_len, value_len;
};

struct hvctl_poolfile;

/*
 * Open DIR/.kvp_pool_N for reading, holding a shared flock and a shared
 * fcntl lock until close, so that no writer (cloud-init uses flock,
 * hv_kvp_daemon fcntl) is half way through a record while we read.
 * A missing file is an empty pool. Returns 0, -ENOTDIR / -ENOENT when dir
 * is not a directory, -ENOMEM, or -errno of open or a lock.
 */
int hvctl_poolfile_open(const char *dir, unsigned int pool, struct hvctl_poolfile **ret);

/* The next record: 1, 0 at the end (a trailing partial record is not read), or -errno. */
int hvctl_poolfile_next(struct hvctl_poolfile *pf, struct hvctl_record *rec);

void hvctl_poolfile_close(struct hvctl_poolfile *pf);

#endif
