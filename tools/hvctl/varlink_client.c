/* SPDX-License-Identifier: ISC */
/*
 * The varlink wire format (varlink.org, "Protocol"): a call is
 * {"method": "iface.Method", "parameters": {...}, "more": true} and a
 * reply {"parameters": {...}} or {"error": "iface.Name", "parameters":
 * {...}}, with "continues": true on every reply of a "more" call but the
 * last; each message ends with one NUL byte.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "varlink_client.h"

struct hvctl_varlink {
	int fd;
	int timeout_ms;
	char *buf;               /* received bytes not yet parsed */
	size_t len, cap;
	struct json_object *last; /* the last reply, which holds *error */
};

int hvctl_varlink_open(const char *path, int timeout_ms, struct hvctl_varlink **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hvctl_varlink *vl;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	vl = calloc(1, sizeof(*vl));
	if (!vl)
		return -ENOMEM;
	vl->timeout_ms = timeout_ms;
	vl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (vl->fd < 0) {
		err = -errno;
		goto out;
	}
	if (connect(vl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	*ret = vl;
	return 0;
out:
	hvctl_varlink_close(vl);
	return err;
}

void hvctl_varlink_close(struct hvctl_varlink *vl)
{
	if (!vl)
		return;
	if (vl->fd >= 0)
		close(vl->fd);
	json_object_put(vl->last);
	free(vl->buf);
	free(vl);
}

int hvctl_varlink_call(struct hvctl_varlink *vl, const char *method,
		       struct json_object *parameters, bool more)
{
	struct json_object *msg = json_object_new_object();
	const char *s;
	size_t len, off = 0;
	ssize_t n;
	int err = 0;

	if (!msg) {
		json_object_put(parameters);
		return -ENOMEM;
	}
	json_object_object_add(msg, "method", json_object_new_string(method));
	json_object_object_add(msg, "parameters", parameters ? parameters : json_object_new_object());
	if (more)
		json_object_object_add(msg, "more", json_object_new_boolean(1));
	s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	/* The terminating NUL is part of the message. */
	len = strlen(s) + 1;
	while (off < len) {
		n = send(vl->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		off += (size_t)n;
	}
out:
	json_object_put(msg);
	return err;
}

/* Wait for and append more bytes; 0, or a negative errno. */
static int fill(struct hvctl_varlink *vl)
{
	struct pollfd pfd = { .fd = vl->fd, .events = POLLIN };
	ssize_t n;
	char *p;
	int r;

	if (vl->len == vl->cap) {
		size_t cap = vl->cap ? vl->cap * 2 : 4096;

		if (vl->cap >= HVCTL_VARLINK_REPLY_MAX)
			return -EMSGSIZE;
		p = realloc(vl->buf, cap);
		if (!p)
			return -ENOMEM;
		vl->buf = p;
		vl->cap = cap;
	}
	r = poll(&pfd, 1, vl->timeout_ms > 0 ? vl->timeout_ms : -1);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(vl->fd, vl->buf + vl->len, vl->cap - vl->len, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	vl->len += (size_t)n;
	return 0;
}

int hvctl_varlink_reply(struct hvctl_varlink *vl, struct json_object **parameters,
			const char **error, bool *continues)
{
	struct json_tokener *tok;
	struct json_object *msg, *v;
	char *end;
	size_t mlen;
	int err;

	json_object_put(vl->last);
	vl->last = NULL;
	while (!vl->len || !(end = memchr(vl->buf, '\0', vl->len))) {
		err = fill(vl);
		if (err < 0)
			return err;
	}
	mlen = (size_t)(end - vl->buf);
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	msg = json_tokener_parse_ex(tok, vl->buf, (int)mlen);
	/* One whole object and nothing after it (white space aside). */
	if (msg && (size_t)json_tokener_get_parse_end(tok) != mlen) {
		size_t i;

		for (i = json_tokener_get_parse_end(tok); i < mlen; i++)
			if (!strchr(" \t\r\n", vl->buf[i]))
				break;
		if (i < mlen) {
			json_object_put(msg);
			msg = NULL;
		}
	}
	json_tokener_free(tok);
	memmove(vl->buf, end + 1, vl->len - mlen - 1);
	vl->len -= mlen + 1;
	if (!msg || !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		return -EPROTO;
	}
	*error = NULL;
	if (json_object_object_get_ex(msg, "error", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			json_object_put(msg);
			return -EPROTO;
		}
		*error = json_object_get_string(v);
	}
	*continues = json_object_object_get_ex(msg, "continues", &v) &&
		     json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	if (json_object_object_get_ex(msg, "parameters", &v) && v) {
		if (!json_object_is_type(v, json_type_object)) {
			json_object_put(msg);
			return -EPROTO;
		}
		*parameters = json_object_get(v);
	} else {
		*parameters = json_object_new_object();
	}
	vl->last = msg;
	return 0;
}
