/* SPDX-License-Identifier: ISC */
/*
 * A varlink client for hvkvpd's socket: JSON objects, each ended by a NUL
 * byte, over a UNIX stream socket (the varlink.org wire format). One call
 * at a time; a call with "more" set gets replies until one has no
 * "continues".
 */
#ifndef HVCTL_VARLINK_CLIENT_H
#define HVCTL_VARLINK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* The longest reply accepted: a record is under 8 KiB even JSON-escaped. */
#define HVCTL_VARLINK_REPLY_MAX (1024 * 1024)

struct hvctl_varlink;

/*
 * Connect to the socket at path; timeout_ms bounds each reply (0 waits
 * for ever, as watch does). Returns 0, or -errno of socket/connect
 * (-ENOENT and -ECONNREFUSED: nobody serves the socket), -ENAMETOOLONG,
 * -ENOMEM.
 */
int hvctl_varlink_open(const char *path, int timeout_ms, struct hvctl_varlink **ret);
void hvctl_varlink_close(struct hvctl_varlink *vl);

/*
 * Send a call of method with parameters (taken over; NULL for none).
 * Returns 0 or -errno of the write (-EPIPE when the server has gone).
 */
int hvctl_varlink_call(struct hvctl_varlink *vl, const char *method,
		       struct json_object *parameters, bool more);

/*
 * The next reply. On 0, *parameters is the reply's parameters object
 * (owned by the caller, never NULL), *error the error name or NULL (valid
 * until the next reply or close), *continues whether more replies follow.
 * Returns 0, -EPROTO (not a varlink reply), -EMSGSIZE (over
 * HVCTL_VARLINK_REPLY_MAX), -ECONNRESET (the server closed the
 * connection), -ETIMEDOUT, -EINTR (a signal arrived while waiting),
 * -ENOMEM, or -errno of the read.
 */
int hvctl_varlink_reply(struct hvctl_varlink *vl, struct json_object **parameters,
			const char **error, bool *continues);

#endif
