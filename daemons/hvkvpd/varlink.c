/* SPDX-License-Identifier: ISC */
/*
 * varlink over a UNIX stream socket, after the protocol description at
 * varlink.org: a call is {"method", "parameters", "more", "oneway"}, a
 * reply {"parameters"} with "continues": true while a "more" call goes on,
 * or {"error", "parameters"}. Framing errors (a message that is not a JSON
 * object with a method, or is too long) close the connection, as the
 * reference implementations and systemd's sd-varlink do: after them the
 * stream cannot be trusted. Everything else gets a named error.
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

#define VL_SERVICE "org.varlink.service"
#define VL_EXTRA_MAX 4
#define VL_JSON_DEPTH 16

/* org.varlink.service as the varlink specification defines it. */
static const char service_description[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# Client is denied access\n"
	"error PermissionDenied ()\n"
	"\n"
	"# Method is expected to be called with 'more' set to true, but wasn't\n"
	"error ExpectedMore ()\n";

enum vl_kind { VL_LISTEN, VL_CONN, VL_EXTRA };

struct vl_watch {
	enum vl_kind kind;
	int fd;
	vl_fd_fn *fn;
	void *ctx;
};

struct vl_conn;

struct vl_call {
	struct vl_conn *conn;
	bool active, more, oneway;
	vl_pump_fn *pump;
	vl_cancel_fn *cancel;
	void *state;
};

struct vl_conn {
	struct vl_watch w;          /* first: epoll hands back its address */
	struct vl_server *srv;
	struct vl_peer peer;
	char *in;                   /* grows to VL_MSG_MAX */
	size_t in_len, in_cap;
	char *out;
	size_t out_head, out_len, out_cap;
	uint32_t events;            /* registered with epoll */
	int busy;                   /* inside conn_update: no re-entry */
	bool dead;
	struct vl_call call;
	struct vl_conn *prev, *next;
};

struct vl_server {
	int epfd;
	struct vl_watch listen;
	struct vl_watch extra[VL_EXTRA_MAX];
	unsigned int nextra;
	struct vl_conn *conns;      /* open */
	struct vl_conn *dead;       /* closed, freed after the dispatch round */
	unsigned int nconns;
	int spare;                  /* a descriptor kept for refusing at the fd limit */
	bool paused;                /* listening socket out of epoll: no descriptor left */
	const struct vl_interface *iface;
	struct vl_server_info info;
	void *ctx;
	json_tokener *tok;
};

static void conn_update(struct vl_conn *c);
static void listen_resume(struct vl_server *srv);
static bool name_clean(const char *name, char *buf, size_t size);

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
static int conn_send(struct vl_conn *c, json_object *obj, bool cancel)
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

static json_object *params_or_empty(json_object *params)
{
	return params ? params : json_object_new_object();
}

static void call_end(struct vl_call *call)
{
	call->active = false;
	call->pump = NULL;
	call->cancel = NULL;
	call->state = NULL;
}

/* The last reply of a call: its parameters, or an error and its parameters. */
static void call_finish(struct vl_call *call, const char *error, json_object *params)
{
	struct vl_conn *c = call->conn;
	json_object *o;

	if (!call->active) {
		json_object_put(params);
		return;
	}
	call_end(call);
	if (call->oneway) {
		json_object_put(params);
	} else {
		o = json_object_new_object();
		if (error)
			json_object_object_add(o, "error", json_object_new_string(error));
		json_object_object_add(o, "parameters", params_or_empty(params));
		conn_send(c, o, false);
	}
	conn_update(c);
}

void vl_reply(struct vl_call *call, json_object *params)
{
	call_finish(call, NULL, params);
}

int vl_reply_more(struct vl_call *call, json_object *params)
{
	struct vl_conn *c = call->conn;
	json_object *o;
	int err;

	if (!call->active || c->dead) {
		json_object_put(params);
		return -EPIPE;
	}
	if (call->oneway || !call->more) {
		json_object_put(params);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "parameters", params_or_empty(params));
	json_object_object_add(o, "continues", json_object_new_boolean(1));
	err = conn_send(c, o, false);
	if (!err)
		conn_update(c);
	return err;
}

void vl_error(struct vl_call *call, const char *error, json_object *params)
{
	call_finish(call, error, params);
}

void vl_error_invalid_parameter(struct vl_call *call, const char *name)
{
	json_object *p = json_object_new_object();
	char clean[256];
	size_t i;

	/*
	 * The name is the client's, any bytes at all: field names are ASCII
	 * in the varlink grammar, so anything else is echoed as '?' and the
	 * reply stays valid UTF-8.
	 */
	for (i = 0; name[i] && i < sizeof(clean) - 1; i++)
		clean[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	clean[i] = 0;
	json_object_object_add(p, "parameter", json_object_new_string(clean));
	vl_error(call, VL_SERVICE ".InvalidParameter", p);
}

void vl_call_hold(struct vl_call *call, vl_pump_fn *pump, vl_cancel_fn *cancel, void *state)
{
	call->pump = pump;
	call->cancel = cancel;
	call->state = state;
}

const struct vl_peer *vl_call_peer(const struct vl_call *call)
{
	return &call->conn->peer;
}

bool vl_call_more(const struct vl_call *call)
{
	return call->more;
}

size_t vl_call_queued(const struct vl_call *call)
{
	return call->conn->out_len;
}

int vl_params_check(struct vl_call *call, json_object *params, const struct vl_param *spec)
{
	json_object_object_foreach(params, name, val) {
		const struct vl_param *p;

		for (p = spec; p->name; p++)
			if (strcmp(p->name, name) == 0)
				break;
		if (!p->name)
			goto bad;
		if (json_object_is_type(val, json_type_string))
			continue;
		if (p->type == VL_STRING_OR_NULL && val == NULL)
			continue;
bad:
		vl_error_invalid_parameter(call, name);
		return -EINVAL;
	}
	for (const struct vl_param *p = spec; p->name; p++) {
		json_object *v;

		if (p->required && (!json_object_object_get_ex(params, p->name, &v) || !v)) {
			vl_error_invalid_parameter(call, p->name);
			return -EINVAL;
		}
	}
	return 0;
}

/* org.varlink.service */

static void service_get_info(struct vl_server *srv, struct vl_call *call)
{
	json_object *p = json_object_new_object();
	json_object *ifs = json_object_new_array();

	json_object_object_add(p, "vendor", json_object_new_string(srv->info.vendor));
	json_object_object_add(p, "product", json_object_new_string(srv->info.product));
	json_object_object_add(p, "version", json_object_new_string(srv->info.version));
	json_object_object_add(p, "url", json_object_new_string(srv->info.url));
	json_object_array_add(ifs, json_object_new_string(VL_SERVICE));
	json_object_array_add(ifs, json_object_new_string(srv->iface->name));
	json_object_object_add(p, "interfaces", ifs);
	vl_reply(call, p);
}

static void interface_not_found(struct vl_call *call, const char *name)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "interface", json_object_new_string(name));
	vl_error(call, VL_SERVICE ".InterfaceNotFound", p);
}

static void service_get_description(struct vl_server *srv, struct vl_call *call,
				    json_object *params)
{
	static const struct vl_param spec[] = {
		{ "interface", VL_STRING, true },
		{ NULL, VL_STRING, false },
	};
	json_object *v, *p;
	const char *name, *text;

	if (vl_params_check(call, params, spec))
		return;
	json_object_object_get_ex(params, "interface", &v);
	name = json_object_get_string(v);
	if (strcmp(name, VL_SERVICE) == 0) {
		text = service_description;
	} else if (strcmp(name, srv->iface->name) == 0) {
		text = srv->iface->description;
	} else {
		char clean[256];

		name_clean(name, clean, sizeof(clean));
		return interface_not_found(call, clean);
	}
	p = json_object_new_object();
	json_object_object_add(p, "description", json_object_new_string(text));
	vl_reply(call, p);
}

static void method_not_found(struct vl_call *call, const char *method)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "method", json_object_new_string(method));
	vl_error(call, VL_SERVICE ".MethodNotFound", p);
}

/*
 * Interface and method names are ASCII letters, digits, '.' and '-' in
 * the varlink grammar: anything else (bytes that are not UTF-8 included)
 * is echoed as '?', so that every reply stays valid UTF-8. Returns
 * whether the name was clean.
 */
static bool name_clean(const char *name, char *buf, size_t size)
{
	bool clean = true;
	size_t i;

	for (i = 0; name[i] && i < size - 1; i++) {
		char ch = name[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';

		buf[i] = ok ? ch : '?';
		clean &= ok;
	}
	buf[i] = 0;
	return clean && !name[i];
}

static void call_dispatch(struct vl_conn *c, const char *method, json_object *params)
{
	struct vl_server *srv = c->srv;
	const char *dot = strrchr(method, '.');
	size_t ilen = dot ? (size_t)(dot - method) : 0;

	char clean[256];

	if (!name_clean(method, clean, sizeof(clean)))
		return method_not_found(&c->call, clean);
	if (!dot || !dot[1])
		return interface_not_found(&c->call, method);
	if (ilen == strlen(VL_SERVICE) && memcmp(method, VL_SERVICE, ilen) == 0) {
		if (strcmp(dot + 1, "GetInfo") == 0) {
			if (json_object_object_length(params) != 0) {
				json_object_object_foreach(params, name, val) {
					(void)val;
					return vl_error_invalid_parameter(&c->call, name);
				}
			}
			return service_get_info(srv, &c->call);
		}
		if (strcmp(dot + 1, "GetInterfaceDescription") == 0)
			return service_get_description(srv, &c->call, params);
		return method_not_found(&c->call, method);
	}
	if (ilen == strlen(srv->iface->name) && memcmp(method, srv->iface->name, ilen) == 0) {
		for (const struct vl_method *m = srv->iface->methods; m->name; m++)
			if (strcmp(m->name, dot + 1) == 0)
				return m->fn(srv->ctx, &c->call, params);
		return method_not_found(&c->call, method);
	}
	{
		char name[256];

		if (ilen >= sizeof(name))
			ilen = sizeof(name) - 1;
		memcpy(name, method, ilen);
		name[ilen] = 0;
		interface_not_found(&c->call, name);
	}
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
	/* A method name with a NUL in it is not one we serve. */
	if (strlen(method) != (size_t)json_object_get_string_len(json_object_object_get(obj, "method"))) {
		method_not_found(&c->call, "");
		goto out;
	}
	call_dispatch(c, method, params);
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
static void conn_update(struct vl_conn *c)
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
				conn_update(c);
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
