/* SPDX-License-Identifier: ISC */
/*
 * varlink over a UNIX stream socket, after the protocol description at
 * varlink.org: a call is {"method", "parameters", "more", "oneway"}, a
 * reply {"parameters"} with "continues": true while a "more" call goes on,
 * or {"error", "parameters"}. Framing errors (a message that is not a JSON
 * object with a method, or is too long) close the connection, as the
 * reference implementations and systemd's sd-varlink do: after them the
 * stream cannot be trusted. Everything else gets a named error.
 *
 * This file: the server, its connections and their framing; a call once
 * read, its replies and org.varlink.service are in varlink_call.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "varlink.h"
#include "varlink_private.h"

#define VL_JSON_DEPTH 16

static void listen_resume(struct vl_server *srv);

/*
 * At the descriptor limit accept() fails and the listening socket stays
 * readable: served naively, that is a busy loop. The spare descriptor is
 * given up to accept the connection and close it at once, so the client
 * sees its connection closed instead of waiting (the refusal libev and
 * nginx make). If even that fails, the socket leaves epoll until a
 * connection closes.
 */
static void listen_pause(struct vl_server *srv)
{
	if (srv->paused)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen.fd, NULL) == 0)
		srv->paused = true;
}

static void listen_resume(struct vl_server *srv)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &srv->listen };

	if (srv->spare < 0)
		srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->paused)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen.fd, &e) == 0)
		srv->paused = false;
}

/* Output queue. */

static int out_append(struct vl_conn *c, const char *s, size_t n)
{
	if (c->out_head && c->out_head + c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_head, c->out_len);
		c->out_head = 0;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + n)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_head + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

static void conn_kill(struct vl_conn *c, bool cancel)
{
	struct vl_server *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	if (cancel && c->call.active && c->call.cancel)
		c->call.cancel(&c->call, c->call.state);
	c->call.active = false;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->w.fd, NULL);
	close(c->w.fd);
	c->w.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->dead;
	srv->dead = c;
	srv->nconns--;
	listen_resume(srv);
}

static void conn_free(struct vl_conn *c)
{
	free(c->in);
	free(c->out);
	free(c);
}

/* Write what the socket takes now. */
static void conn_flush(struct vl_conn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->w.fd, c->out + c->out_head, c->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_kill(c, true);
			return;
		}
		c->out_head += (size_t)n;
		c->out_len -= (size_t)n;
	}
	c->out_head = 0;
	/* A burst (a long List) should not pin its buffer for the connection's life. */
	if (c->out_cap > 2 * VL_OUT_LOW) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

/*
 * Queue one reply: `obj` is taken over. Returns 0, or -EPIPE when the
 * connection is gone or now over its limit (it is then closed).
 */
int vl_conn_send(struct vl_conn *c, json_object *obj, bool cancel)
{
	const char *s;
	size_t n;
	int err;

	if (c->dead) {
		json_object_put(obj);
		return -EPIPE;
	}
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	err = s ? out_append(c, s, n + 1) : -ENOMEM;  /* json-c's NUL is the frame's end */
	json_object_put(obj);
	if (err || c->out_len > VL_OUT_MAX) {
		conn_kill(c, cancel);
		return -EPIPE;
	}
	return 0;
}

/* One message of n bytes (its NUL not counted). false: close the connection. */
static bool conn_message(struct vl_conn *c, const char *msg, size_t n)
{
	json_tokener *tok = c->srv->tok;
	json_object *obj, *v, *params = NULL;
	const char *method;
	bool more = false, oneway = false, ok = false;
	size_t end;

	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, msg, (int)n);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	/* Only white space may follow the object. */
	for (end = json_tokener_get_parse_end(tok); end < n; end++)
		if (!strchr(" \t\r\n", msg[end]))
			goto out;
	if (!json_object_is_type(obj, json_type_object))
		goto out;
	if (!json_object_object_get_ex(obj, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto out;
	method = json_object_get_string(v);
	if (json_object_object_get_ex(obj, "more", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			goto out;
		more = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(obj, "oneway", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			goto out;
		oneway = json_object_get_boolean(v);
	}
	ok = true;
	c->call = (struct vl_call){ .conn = c, .active = true, .more = more, .oneway = oneway };
	if (json_object_object_get_ex(obj, "parameters", &params) && params &&
	    !json_object_is_type(params, json_type_object)) {
		vl_error_invalid_parameter(&c->call, "parameters");
		goto out;
	}
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(obj, "parameters", params);
	}
	vl_call_dispatch(c, method,
			 (size_t)json_object_get_string_len(json_object_object_get(obj, "method")),
			 params);
	if (c->call.active && !c->call.pump && !c->call.cancel) {
		/* A method that neither answered nor held the call: never leave the client hanging. */
		vl_error(&c->call, VL_SERVICE ".MethodNotImplemented", NULL);
	}
out:
	json_object_put(obj);
	return ok;
}

/* Serve complete messages while no call is open. */
static void conn_input(struct vl_conn *c)
{
	while (!c->dead && !c->call.active && c->out_len < VL_OUT_LOW) {
		char *nul = memchr(c->in, 0, c->in_len);
		size_t n;

		if (!nul) {
			if (c->in_len >= VL_MSG_MAX)
				conn_kill(c, true);
			return;
		}
		n = (size_t)(nul - c->in);
		if (!conn_message(c, c->in, n)) {
			/*
			 * The calls before the bad message were answered into the
			 * queue in this same pass: give them what the socket takes.
			 */
			conn_flush(c);
			conn_kill(c, true);
			return;
		}
		if (c->dead)
			return;
		c->in_len -= n + 1;
		memmove(c->in, nul + 1, c->in_len);
	}
}

static void conn_events_set(struct vl_conn *c)
{
	uint32_t ev = EPOLLRDHUP;
	struct epoll_event e;

	/* Read only when we would serve what arrives: the socket buffer is the back-pressure. */
	if (!c->call.active && c->out_len < VL_OUT_LOW && c->in_len < VL_MSG_MAX)
		ev |= EPOLLIN;
	if (c->out_len)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	e = (struct epoll_event){ .events = ev, .data.ptr = &c->w };
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->w.fd, &e) < 0) {
		conn_kill(c, true);
		return;
	}
	c->events = ev;
}

/* Flush, feed a stream, serve waiting messages, until nothing moves. */
void vl_conn_update(struct vl_conn *c)
{
	if (c->busy || c->dead)
		return;
	c->busy++;
	for (;;) {
		size_t before_in = c->in_len, before_out = c->out_len;
		bool was_active = c->call.active;

		conn_flush(c);
		if (c->dead)
			break;
		while (c->call.active && c->call.pump && c->out_len < VL_OUT_LOW && !c->dead)
			c->call.pump(&c->call, c->call.state);
		if (c->dead)
			break;
		conn_input(c);
		if (c->dead)
			break;
		if (c->in_len == before_in && c->out_len == before_out &&
		    c->call.active == was_active)
			break;
		if (c->out_len >= VL_OUT_LOW && (c->events & EPOLLOUT))
			break;
	}
	if (!c->dead)
		conn_events_set(c);
	c->busy--;
}

static void conn_readable(struct vl_conn *c)
{
	ssize_t n;

	if (c->in_len >= VL_MSG_MAX)
		return;
	/* Most calls are small: an idle connection costs little. */
	if (c->in_len == c->in_cap) {
		size_t cap = c->in_cap * 4 < VL_MSG_MAX ? c->in_cap * 4 : VL_MSG_MAX;
		char *p = realloc(c->in, cap);

		if (!p) {
			conn_kill(c, true);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	n = recv(c->w.fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n == 0) {
		conn_kill(c, true);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_kill(c, true);
		return;
	}
	c->in_len += (size_t)n;
}

static void peer_read(int fd, struct vl_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	p->pid = 0;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	p->ngroups = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		p->pid = uc.pid;
		p->uid = uc.uid;
		p->gid = uc.gid;
	}
#ifdef SO_PEERGROUPS
	len = sizeof(p->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = (int)(len / sizeof(gid_t));
#endif
}

/* A new connection on `fd` (closed on failure). */
static int conn_add(struct vl_server *srv, int fd, const struct vl_peer *peer)
{
	struct epoll_event e;
	struct vl_conn *c;
	int err;

	if (srv->nconns >= VL_CONN_MAX) {
		close(fd);
		return -EMFILE;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->in_cap = 1024;
		c->in = malloc(c->in_cap);
	}
	if (!c || !c->in) {
		if (c)
			free(c);
		close(fd);
		return -ENOMEM;
	}
	c->w = (struct vl_watch){ .kind = VL_CONN, .fd = fd };
	c->srv = srv;
	c->call.conn = c;
	if (peer)
		c->peer = *peer;
	else
		peer_read(fd, &c->peer);
	c->events = EPOLLIN | EPOLLRDHUP;
	e = (struct epoll_event){ .events = c->events, .data.ptr = &c->w };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		err = -errno;
		conn_free(c);
		close(fd);
		return err;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	return 0;
}

int vl_server_adopt(struct vl_server *srv, int fd, const struct vl_peer *peer)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		flags = -errno;
		close(fd);
		return flags;
	}
	return conn_add(srv, fd, peer);
}

static void server_accept(struct vl_server *srv)
{
	/* A bounded batch per round, so that a connect storm does not starve served clients. */
	for (int i = 0; i < 64; i++) {
		int err, fd = accept4(srv->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			if (srv->spare < 0) {
				listen_pause(srv);
				return;
			}
			close(srv->spare);
			fd = accept4(srv->listen.fd, NULL, NULL, SOCK_CLOEXEC);
			err = errno;
			if (fd >= 0)
				close(fd);
			srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				continue;
			/* EMFILE comes before the queue is looked at: it may have been empty. */
			if (err == EMFILE || err == ENFILE)
				listen_pause(srv);
			return;
		}
		if (fd < 0)
			return;
		conn_add(srv, fd, NULL);
	}
}

int vl_server_dispatch(struct vl_server *srv, int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(srv->epfd, ev, 64, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct vl_watch *w = ev[i].data.ptr;
		struct vl_conn *c;

		switch (w->kind) {
		case VL_LISTEN:
			server_accept(srv);
			break;
		case VL_EXTRA:
			w->fn(w->ctx);
			break;
		case VL_CONN:
			c = (struct vl_conn *)w;
			if (c->dead)
				break;
			if (ev[i].events & EPOLLIN)
				conn_readable(c);
			if (!c->dead && (ev[i].events & (EPOLLERR | EPOLLHUP)))
				conn_kill(c, true);
			if (!c->dead && (ev[i].events & EPOLLRDHUP) && !(ev[i].events & EPOLLIN))
				conn_kill(c, true);
			if (!c->dead)
				vl_conn_update(c);
			break;
		}
	}
	while (srv->dead) {
		struct vl_conn *c = srv->dead;

		srv->dead = c->next;
		conn_free(c);
	}
	return 0;
}

unsigned int vl_server_clients(const struct vl_server *srv)
{
	return srv->nconns;
}

int vl_server_watch_fd(struct vl_server *srv, int fd, vl_fd_fn *fn, void *ctx)
{
	struct vl_watch *w;
	struct epoll_event e;

	if (srv->nextra >= VL_EXTRA_MAX)
		return -ENOSPC;
	w = &srv->extra[srv->nextra];
	*w = (struct vl_watch){ .kind = VL_EXTRA, .fd = fd, .fn = fn, .ctx = ctx };
	e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = w };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -errno;
	srv->nextra++;
	return 0;
}

int vl_server_new(int fd, const struct vl_interface *iface, const struct vl_server_info *info,
		  void *ctx, struct vl_server **ret)
{
	struct vl_server *srv;
	struct epoll_event e;
	int err;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(fd);
		return -ENOMEM;
	}
	srv->listen = (struct vl_watch){ .kind = VL_LISTEN, .fd = fd };
	srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->iface = iface;
	srv->info = *info;
	srv->ctx = ctx;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		err = -errno;
		goto fail;
	}
	srv->tok = json_tokener_new_ex(VL_JSON_DEPTH);
	if (!srv->tok) {
		err = -ENOMEM;
		goto fail;
	}
	json_tokener_set_flags(srv->tok, JSON_TOKENER_STRICT);
	if (fd < 0) {
		*ret = srv;
		return 0;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		err = -errno;
		goto fail;
	}
	e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &srv->listen };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		err = -errno;
		goto fail;
	}
	*ret = srv;
	return 0;
fail:
	vl_server_free(srv);
	return err;
}

void vl_server_free(struct vl_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_kill(srv->conns, true);
	while (srv->dead) {
		struct vl_conn *c = srv->dead;

		srv->dead = c->next;
		conn_free(c);
	}
	if (srv->tok)
		json_tokener_free(srv->tok);
	if (srv->listen.fd >= 0)
		close(srv->listen.fd);
	if (srv->spare >= 0)
		close(srv->spare);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}
