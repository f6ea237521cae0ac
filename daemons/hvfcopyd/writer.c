/* SPDX-License-Identifier: ISC */
/*
 * The writer thread. The host sends a fragment only once it has the
 * answer to the one before, so every microsecond the answer waits for the
 * file system is a microsecond of the copy. Fragments are gathered into
 * one buffer while the other is written here; a write's error is told to
 * the next submit or wait, which answers it to the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "hvfcopyd.h"

struct fc_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *buf[2];
	int cur;                  /* the buffer being filled */
	/* The job: written while busy. */
	bool busy, stop;
	int fd;
	const uint8_t *data;
	size_t len;
	uint64_t off;
	uint64_t sync_from, sync_len;  /* writeback to start after it, if sync_len */
	int err;                  /* errno of the last job, until taken */
};

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct fc_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		int err;

		while (!w->busy && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->busy)
			break;
		pthread_mutex_unlock(&w->lock);
		err = write_all(w->fd, w->data, w->len, w->off);
		/* Only a hint to the kernel: the fsync at COMPLETE is what counts. */
		if (!err && w->sync_len)
			sync_file_range(w->fd, (off_t)w->sync_from, (off_t)w->sync_len,
					SYNC_FILE_RANGE_WRITE);
		pthread_mutex_lock(&w->lock);
		if (err && !w->err)
			w->err = err;
		w->busy = false;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int fc_writer_start(struct fc_writer **ret)
{
	struct fc_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->buf[0] = malloc(FC_GATHER_SIZE);
	w->buf[1] = malloc(FC_GATHER_SIZE);
	err = -ENOMEM;
	if (!w->buf[0] || !w->buf[1])
		goto fail;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	err = -pthread_create(&w->thread, NULL, writer_main, w);
	if (err)
		goto fail;
	*ret = w;
	return 0;
fail:
	free(w->buf[0]);
	free(w->buf[1]);
	free(w);
	return err;
}

void fc_writer_stop(struct fc_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	free(w->buf[0]);
	free(w->buf[1]);
	free(w);
}

uint8_t *fc_writer_buffer(struct fc_writer *w)
{
	return w->buf[w->cur];
}

int fc_writer_wait(struct fc_writer *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->cond, &w->lock);
	err = w->err;
	w->err = 0;
	pthread_mutex_unlock(&w->lock);
	return err;
}

int fc_writer_submit(struct fc_writer *w, int fd, size_t len, uint64_t off,
		     uint64_t sync_from, uint64_t sync_len)
{
	int err = fc_writer_wait(w);

	if (err)
		return err;
	pthread_mutex_lock(&w->lock);
	w->fd = fd;
	w->data = w->buf[w->cur];
	w->len = len;
	w->off = off;
	w->sync_from = sync_from;
	w->sync_len = sync_len;
	w->busy = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	w->cur ^= 1;
	return 0;
}
