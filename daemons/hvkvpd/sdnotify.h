/* SPDX-License-Identifier: ISC */
/*
 * systemd's readiness notification and socket activation, the two small
 * documented protocols of sd_notify(3) and sd_listen_fds(3), spoken
 * directly so that the daemon loads no libsystemd (and none of the
 * compression and crypto libraries it brings).
 */
#ifndef HVKVPD_SDNOTIFY_H
#define HVKVPD_SDNOTIFY_H

/* The first descriptor systemd passes (SD_LISTEN_FDS_START). */
#define HVKVPD_LISTEN_FDS_START 3

/*
 * Send `state` ("READY=1", "STATUS=...", "STOPPING=1", newline-separated)
 * to $NOTIFY_SOCKET: a path, or an abstract name when it starts with '@'.
 * Returns 0 when sent or when NOTIFY_SOCKET is unset, else -errno
 * (-EINVAL for a name that is neither or too long).
 */
int hvkvpd_notify(const char *state);

/*
 * The descriptors systemd passed: how many there are from fd 3 on, 0 when
 * LISTEN_PID is not this process or LISTEN_FDS is unset, -EINVAL when
 * either is malformed. The descriptors are made close-on-exec and
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from the
 * environment, so that no child takes them for its own.
 */
int hvkvpd_listen_fds(void);

/* Whether fd is a listening AF_UNIX SOCK_STREAM socket. */
int hvkvpd_is_unix_listener(int fd);

#endif
