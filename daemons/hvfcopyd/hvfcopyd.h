/* SPDX-License-Identifier: ISC */
/* hvfcopyd: the parts of the daemon and the structures they share. */
#ifndef HVFCOPYD_H
#define HVFCOPYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hvuio/fcopy_msg.h>

/* Exit statuses, as the man page lists them. */
#define HVFCOPYD_EXIT_OK      0
#define HVFCOPYD_EXIT_FAILURE 1
#define HVFCOPYD_EXIT_USAGE   2

enum hvfcopyd_backend {
	HVFCOPYD_BACKEND_AUTO,
	HVFCOPYD_BACKEND_UIO,
	HVFCOPYD_BACKEND_KERNEL,
	HVFCOPYD_BACKEND_SIM,
};

#define HVFCOPYD_MAX_ALLOW 16
/* Contiguous fragments are written in pieces of up to this many bytes. */
#define FC_GATHER_SIZE (1u << 20)

/* The one copy the host may have open (copy.c). */
struct fc_copy {
	bool open;
	bool failed;               /* a WRITE failed: the host may move on */
	int dirfd;                 /* the destination directory */
	int fd;                    /* the temporary file */
	char tmp[64];              /* its name in dirfd */
	char name[HV_FCOPY_NAME_MAX];   /* final component */
	char path[2 * HV_FCOPY_NAME_MAX + 2];  /* whole target, for the log */
	uint32_t flags;
	uint64_t file_size;
	uint64_t end;              /* highest offset + size written */
	uint64_t flushed;          /* writeback started up to here */
	/* Fragments gathered into one write: buffered bytes for offset pending_at. */
	uint64_t pending_at;
	size_t pending;
	uint64_t fragments;
	int64_t start_us;
	/* An overwritten file's owner and mode, kept by the new one. */
	bool keep_owner;
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

struct hvfcopyd {
	/* From the command line. */
	enum hvfcopyd_backend backend;
	const char *root;
	const char *kernel_device;
	const char *state_dir;     /* the record of an open copy's temporary file */
	const char *allow[HVFCOPYD_MAX_ALLOW];
	unsigned int nallow;
	int mode;                  /* -1: Linux's 0744 less the umask */
	unsigned int linger_us;    /* look at the ring this long before sleeping */
	bool foreground;

	/* Running state. */
	enum hvfcopyd_backend chosen;
	int sigfd;
	struct hv_dev *dev;        /* uio and sim */
	struct hv_chan *chan;
	bool negotiated;
	int kfd;                   /* kernel */
	uint8_t *buf;              /* private copies of received messages */
	size_t buf_size;
	struct fc_copy copy;
	struct fc_writer *writer;  /* writes what struct fc_copy gathered */
	uint64_t messages;
};

const char *hvfcopyd_backend_name(enum hvfcopyd_backend b);

/* backend.c: choosing, opening and reopening the transport. */
int hvfcopyd_backend_choose(struct hvfcopyd *d);
int hvfcopyd_backend_open(struct hvfcopyd *d);
void hvfcopyd_backend_close(struct hvfcopyd *d);
/* The descriptor to poll. */
int hvfcopyd_backend_fd(const struct hvfcopyd *d);
/* Answer everything that is there. 0, or -ENODEV when the device went away. */
int hvfcopyd_backend_serve(struct hvfcopyd *d);
/* Close and wait for the device: 0 reopened, 1 a termination signal, or -errno. */
int hvfcopyd_backend_reopen(struct hvfcopyd *d);
/* 1 when a signal was taken from sigfd, *terminate for SIGTERM/SIGINT. */
int hvfcopyd_signal_take(struct hvfcopyd *d, bool *terminate);

/* chan.c and kernel.c: the two transports. */
int fc_chan_open(struct hvfcopyd *d);
void fc_chan_close(struct hvfcopyd *d);
int fc_chan_serve(struct hvfcopyd *d);
int fc_kernel_open(struct hvfcopyd *d);
void fc_kernel_close(struct hvfcopyd *d);
int fc_kernel_serve(struct hvfcopyd *d);

/* copy.c: one decoded message in, the status for the host out. */
uint32_t fc_copy_handle(struct hvfcopyd *d, const struct hv_fcopy_request *req);
/* The status for a message the codec refused (err from hv_fcopy_msg_parse). */
uint32_t fc_copy_refuse(struct hvfcopyd *d, const struct hv_fcopy_request *req, int err);
/* Drop an open copy and its temporary file (rescind, exit); why goes to the log. */
void fc_copy_abort(struct hvfcopyd *d, const char *why);
/* At start-up: remove the temporary file a killed run left (state_dir). */
void fc_copy_recover(struct hvfcopyd *d);

int64_t fc_now_us(void);

/* writer.c: the thread that writes gathered fragments. Errors are errno values. */
struct fc_writer;
int fc_writer_start(struct fc_writer **ret);
void fc_writer_stop(struct fc_writer *w);
/* The buffer to gather into (FC_GATHER_SIZE bytes). */
uint8_t *fc_writer_buffer(struct fc_writer *w);
/* Wait until nothing is being written; the error of what was, or 0. */
int fc_writer_wait(struct fc_writer *w);
/*
 * Wait as fc_writer_wait, then have the gathered `len` bytes written at
 * `off` of fd (and writeback started for sync_len bytes from sync_from)
 * while gathering goes on in the other buffer. Returns the earlier
 * write's error (nothing is handed over then), or 0.
 */
int fc_writer_submit(struct fc_writer *w, int fd, size_t len, uint64_t off,
		     uint64_t sync_from, uint64_t sync_len);

#endif
