/* SPDX-License-Identifier: ISC */
/*
 * The varlink protocol over a listening UNIX stream socket: JSON objects
 * each ended by a NUL byte, one call at a time per connection, replies in
 * order, "more"/"continues" streams, "oneway" calls, and the
 * org.varlink.service interface. The methods of the served interface are
 * the caller's; this file knows nothing of KVP.
 *
 * Memory per connection is bounded: a message longer than VL_MSG_MAX
 * closes the connection, and so does an output queue above VL_OUT_MAX
 * (a client that does not read its replies). Streams are paced: a pump
 * produces the next replies only while the queue is below VL_OUT_LOW.
 *
 * Single-threaded: every call runs in the thread that runs
 * vl_server_dispatch.
 */
#ifndef HVKVPD_VARLINK_H
#define HVKVPD_VARLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#define VL_MSG_MAX   (64 * 1024)   /* one message, its NUL included */
#define VL_OUT_LOW   (64 * 1024)   /* a stream pump runs below this */
#define VL_OUT_MAX   (1024 * 1024) /* above this the client is dropped */
#define VL_CONN_MAX  4096          /* connections served at once */

struct vl_server;
struct vl_call;

/* Who is at the other end (SO_PEERCRED, SO_PEERGROUPS). */
struct vl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int ngroups;       /* -1: the supplementary groups are unknown */
	gid_t groups[64];
};

/*
 * A method: params is the "parameters" object (never NULL; borrowed for
 * the call). It must end the call with vl_reply or vl_error, now or later
 * (vl_call_hold keeps it open).
 */
typedef void vl_method_fn(void *ctx, struct vl_call *call, json_object *params);

struct vl_method {
	const char *name;           /* "Get", without the interface */
	vl_method_fn *fn;
};

struct vl_interface {
	const char *name;           /* "io.hvuio.Kvp" */
	const char *description;    /* the interface definition, served verbatim */
	const struct vl_method *methods;  /* ends with a NULL name */
};

struct vl_server_info {
	const char *vendor, *product, *version, *url;
};

/*
 * A server on listening socket `fd` (taken over: closed by
 * vl_server_free), or on none when fd is -1: it then serves only the
 * connections handed to vl_server_adopt. Returns 0, -ENOMEM or the errno
 * of epoll.
 */
int vl_server_new(int fd, const struct vl_interface *iface, const struct vl_server_info *info,
		  void *ctx, struct vl_server **ret);

/*
 * Serve `fd`, a connected stream socket (taken over, closed on failure
 * too), as if accepted. `peer` (may be NULL: ask the socket) stands for
 * its credentials, so that a caller in one process can play any user.
 * Returns 0, -EMFILE (VL_CONN_MAX reached), -ENOMEM or the errno of epoll.
 */
int vl_server_adopt(struct vl_server *srv, int fd, const struct vl_peer *peer);

void vl_server_free(struct vl_server *srv);

/* Watch another descriptor for readability in the same loop. */
typedef void vl_fd_fn(void *ctx);
int vl_server_watch_fd(struct vl_server *srv, int fd, vl_fd_fn *fn, void *ctx);

/*
 * Wait up to timeout_ms (-1: forever) and serve what is ready. Returns 0
 * or the errno of epoll_wait (EINTR is 0).
 */
int vl_server_dispatch(struct vl_server *srv, int timeout_ms);

/* Connections open now. */
unsigned int vl_server_clients(const struct vl_server *srv);

/* The call's peer, and whether it asked for "more" / "oneway". */
const struct vl_peer *vl_call_peer(const struct vl_call *call);
bool vl_call_more(const struct vl_call *call);

/*
 * End the call with these parameters (taken over; NULL is {}). A call
 * that was made with "oneway" sends nothing.
 */
void vl_reply(struct vl_call *call, json_object *params);
/*
 * One reply of a stream ("continues": true). The call stays open.
 * Returns 0, or -EPIPE when the connection is gone or its queue went
 * over VL_OUT_MAX: the connection is closed and the caller must forget
 * the call (its cancel function is not called for this one).
 */
int vl_reply_more(struct vl_call *call, json_object *params);
/* End the call with the named error. */
void vl_error(struct vl_call *call, const char *error, json_object *params);
/* InvalidParameter naming `name`: for methods that check by hand. */
void vl_error_invalid_parameter(struct vl_call *call, const char *name);

/*
 * Keep the call open after the method returns. pump (may be NULL) is
 * called whenever the connection's output queue is below VL_OUT_LOW,
 * until the call ends; cancel (may be NULL) is called once if the
 * connection goes away while the call is open. Both get `state`.
 */
typedef void vl_pump_fn(struct vl_call *call, void *state);
typedef void vl_cancel_fn(struct vl_call *call, void *state);
void vl_call_hold(struct vl_call *call, vl_pump_fn *pump, vl_cancel_fn *cancel, void *state);

/* Bytes waiting in the call's connection's output queue. */
size_t vl_call_queued(const struct vl_call *call);

/*
 * Parameters a method takes: the type each must have. A parameter not
 * listed, a wrong type, or a required one missing is InvalidParameter.
 */
enum vl_type { VL_STRING, VL_STRING_OR_NULL };
struct vl_param {
	const char *name;
	enum vl_type type;
	bool required;
};
/* 0, or -EINVAL after replying InvalidParameter. */
int vl_params_check(struct vl_call *call, json_object *params, const struct vl_param *spec);

#endif
