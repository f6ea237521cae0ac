/* SPDX-License-Identifier: ISC */
/*
 * A varlink call once its message is read: its dispatch to the
 * interface's method or to org.varlink.service (GetInfo,
 * GetInterfaceDescription), its replies and errors, and the check of its
 * parameters. Names and parameters the client sent are echoed only as
 * valid UTF-8.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varlink.h"
#include "varlink_private.h"

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
		vl_conn_send(c, o, false);
	}
	vl_conn_update(c);
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
	err = vl_conn_send(c, o, false);
	if (!err)
		vl_conn_update(c);
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

void vl_call_dispatch(struct vl_conn *c, const char *method, size_t len, json_object *params)
{
	struct vl_server *srv = c->srv;
	const char *dot = strrchr(method, '.');
	size_t ilen = dot ? (size_t)(dot - method) : 0;

	char clean[256];

	/* A method name with a NUL in it is not one we serve. */
	if (strlen(method) != len)
		return method_not_found(&c->call, "");
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
