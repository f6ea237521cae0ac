/* SPDX-License-Identifier: ISC */
/*
 * hvctl get, set, delete, list, watch, status and the hostctl(8) form:
 * the KVP pools through hvkvpd's varlink socket (interface io.hvuio.Kvp),
 * or, for the commands that only read, from the pool files when hvkvpd
 * is not running.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/utf8.h>

#include "hvctl.h"
#include "poolfile.h"
#include "varlink_client.h"
#include "vis.h"

#define IFACE "io.hvuio.Kvp"
/* A reply slower than this means hvkvpd is stuck; watch waits for ever. */
#define CALL_TIMEOUT_MS 10000

const char hvctl_key_optstring[] = "+hjqri:o:p:";

const struct option hvctl_key_options[] = {
	{ "socket", required_argument, NULL, HVCTL_OPT_SOCKET },
	{ "state-dir", required_argument, NULL, HVCTL_OPT_STATE_DIR },
	{ "json", no_argument, NULL, 'j' },
	{ "raw", no_argument, NULL, 'r' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "pool", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int hvctl_key_opt(struct hvctl *ctx, int opt)
{
	switch (opt) {
	case HVCTL_OPT_SOCKET: ctx->socket = optarg; return 1;
	case HVCTL_OPT_STATE_DIR: ctx->state_dir = optarg; return 1;
	case 'j': ctx->json = 1; return 1;
	case 'r': ctx->raw = 1; return 1;
	case 'q': ctx->quiet = 1; return 1;
	case 'i': ctx->input = optarg; return 1;
	case 'o': ctx->output = optarg; return 1;
	case 'p': ctx->pool = optarg; return 1;
	}
	return 0;
}

/* Which options each command takes, checked after parsing. */
enum {
	ALLOW_J = 1, ALLOW_R = 2, ALLOW_Q = 4, ALLOW_I = 8, ALLOW_O = 16, ALLOW_P = 32,
};

/*
 * Parse a command's options into ctx (some may have come before it);
 * returns -1 to go on, or the exit status.
 */
static int opts_parse(struct hvctl *ctx, int argc, char **argv, const char *cmd, int allow)
{
	int opt, status = -1;

	while ((opt = getopt_long(argc, argv, hvctl_key_optstring + 1, hvctl_key_options,
				  NULL)) != -1) {
		if (hvctl_key_opt(ctx, opt))
			continue;
		if (hvctl_common_opt(ctx, opt, cmd, &status) && status >= 0)
			return status;
		return hvctl_usage(stderr, cmd);
	}
	if ((ctx->json && !(allow & ALLOW_J)) || (ctx->raw && !(allow & ALLOW_R)) ||
	    (ctx->quiet && !(allow & ALLOW_Q)) || (ctx->input && !(allow & ALLOW_I)) ||
	    (ctx->output && !(allow & ALLOW_O)) || (ctx->pool && !(allow & ALLOW_P)))
		return hvctl_usage(stderr, cmd);
	return -1;
}

static int bad_pool(const char *s)
{
	hvctl_err("no pool %s: pools are External, Guest, Auto, Guest/Parameters, "
		  "Internal or 0-4", s);
	return HVCTL_EXIT_USAGE;
}

/*
 * KEY as Pool/Key, split at the last slash as OpenBSD's hypervic.c does
 * (so Guest/Parameters/HostName works), or the whole of KEY with -p.
 * Returns -1 with *pool and *key set, or the exit status.
 */
static int key_parse(const struct hvctl *ctx, const char *arg, int *pool, const char **key)
{
	const char *slash;
	char name[32];
	size_t len;

	if (ctx->pool) {
		*pool = hv_kvp_pool_from_name(ctx->pool);
		if (*pool < 0)
			return bad_pool(ctx->pool);
		*key = arg;
	} else {
		slash = strrchr(arg, '/');
		if (!slash) {
			hvctl_err("%s is not Pool/Key: give the pool, as in Guest/%s, or -p POOL",
				  arg, arg);
			return HVCTL_EXIT_USAGE;
		}
		len = (size_t)(slash - arg);
		if (len >= sizeof(name)) {
			hvctl_err("no pool %.*s", (int)len, arg);
			return HVCTL_EXIT_USAGE;
		}
		memcpy(name, arg, len);
		name[len] = '\0';
		*pool = hv_kvp_pool_from_name(name);
		if (*pool < 0)
			return bad_pool(name);
		*key = slash + 1;
	}
	if (!**key) {
		hvctl_err("empty key");
		return HVCTL_EXIT_USAGE;
	}
	if (strlen(*key) > HV_KVP_POOL_KEY_MAX) {
		hvctl_err("key too long: at most %d bytes", HV_KVP_POOL_KEY_MAX);
		return HVCTL_EXIT_USAGE;
	}
	return -1;
}

/* Where results go: standard output, or -o FILE ("-" is standard output). */
static FILE *out_open(const struct hvctl *ctx)
{
	FILE *f;

	if (!ctx->output || strcmp(ctx->output, "-") == 0)
		return stdout;
	f = fopen(ctx->output, "we");
	if (!f)
		hvctl_err("%s: %s", ctx->output, strerror(errno));
	return f;
}

static int out_close(const struct hvctl *ctx, FILE *f, int status)
{
	int bad = fflush(f) != 0 || ferror(f);

	if (f != stdout && fclose(f) != 0)
		bad = 1;
	if (bad && status == HVCTL_EXIT_OK) {
		hvctl_err("cannot write %s", f == stdout ? "standard output" : ctx->output);
		return HVCTL_EXIT_FAIL;
	}
	return status;
}

static int put_str(const struct hvctl *ctx, FILE *f, const char *s, size_t len)
{
	if (ctx->raw)
		return fwrite(s, 1, len, f) == len ? 0 : -1;
	return hvctl_vis_write(f, s, len);
}

static void put_json(FILE *f, struct json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					     JSON_C_TO_STRING_NOSLASHESCAPE), f);
	fputc('\n', f);
}

static bool utf8_valid(const char *s)
{
	size_t len = strlen(s), i = 0, n;
	uint32_t cp;

	while (i < len) {
		n = hv_utf8_decode(s + i, len - i, &cp);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/*
 * JSON strings are Unicode: bytes that are not UTF-8 (other programs can
 * put anything in a pool file) go out escaped, as text output has them,
 * and the record says so with "escaped": true.
 */
static struct json_object *json_text(const char *s, bool *escaped)
{
	struct json_object *o;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	if (utf8_valid(s))
		return json_object_new_string(s);
	*escaped = true;
	f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	hvctl_vis_write(f, s, strlen(s));
	fclose(f);
	o = buf ? json_object_new_string(buf) : NULL;
	free(buf);
	return o;
}

static struct json_object *record_json(int pool, const char *key, const char *value)
{
	struct json_object *o = json_object_new_object();
	bool escaped = false;

	json_object_object_add(o, "pool", json_object_new_int(pool));
	json_object_object_add(o, "pool_name", json_object_new_string(hv_kvp_pool_name(pool)));
	json_object_object_add(o, "key", json_text(key, &escaped));
	json_object_object_add(o, "value", value ? json_text(value, &escaped) : NULL);
	if (escaped)
		json_object_object_add(o, "escaped", json_object_new_boolean(1));
	return o;
}

/* One value, as hostctl prints it: nothing at all for an empty value. */
static int value_print(const struct hvctl *ctx, int pool, const char *key, const char *value)
{
	FILE *f = out_open(ctx);
	struct json_object *o;

	if (!f)
		return HVCTL_EXIT_FAIL;
	if (ctx->json) {
		o = record_json(pool, key, value);
		put_json(f, o);
		json_object_put(o);
	} else if (value[0]) {
		put_str(ctx, f, value, strlen(value));
		fputc('\n', f);
	}
	return out_close(ctx, f, HVCTL_EXIT_OK);
}

/* "Pool/Key=value": a line `hvctl get` and `hvctl set` take back. */
static void record_print(const struct hvctl *ctx, FILE *f, int pool, const char *key,
			 size_t klen, const char *value, size_t vlen)
{
	struct json_object *o;

	if (ctx->json) {
		o = record_json(pool, key, value);
		put_json(f, o);
		json_object_put(o);
		return;
	}
	fprintf(f, "%s/", hv_kvp_pool_name(pool));
	put_str(ctx, f, key, klen);
	fputc('=', f);
	put_str(ctx, f, value, vlen);
	fputc('\n', f);
}

/* --- hvkvpd's socket -------------------------------------------------- */

/* 1 when nobody serves the socket, so the pool files may be read instead. */
static int not_running(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED || err == -ENOTDIR;
}

static int connect_err(const struct hvctl *ctx, int err)
{
	if (not_running(err))
		hvctl_err("hvkvpd is not running (no server on %s): only get, list, "
			  "watch and status work without it", ctx->socket);
	else if (err == -EACCES || err == -EPERM)
		hvctl_err("%s: permission denied", ctx->socket);
	else
		hvctl_err("%s: %s", ctx->socket, strerror(-err));
	return HVCTL_EXIT_FAIL;
}

static int connect_to(const struct hvctl *ctx, int timeout_ms, struct hvctl_varlink **vl)
{
	return hvctl_varlink_open(ctx->socket, timeout_ms, vl);
}

static int reply_err(const struct hvctl *ctx, int err)
{
	if (err == -ETIMEDOUT)
		hvctl_err("hvkvpd did not answer on %s", ctx->socket);
	else if (err == -EPROTO || err == -EMSGSIZE)
		hvctl_err("malformed reply from %s", ctx->socket);
	else if (err == -ECONNRESET || err == -EPIPE)
		hvctl_err("hvkvpd closed the connection on %s", ctx->socket);
	else
		hvctl_err("%s: %s", ctx->socket, strerror(-err));
	return HVCTL_EXIT_FAIL;
}

static int64_t param_int(struct json_object *p, const char *name, int64_t dflt)
{
	struct json_object *v;

	if (json_object_object_get_ex(p, name, &v) && json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return dflt;
}

static const char *param_str(struct json_object *p, const char *name)
{
	struct json_object *v;

	if (json_object_object_get_ex(p, name, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* A varlink error as a message and an exit status: 1 for NoSuchKey only. */
static int method_err(const char *error, struct json_object *p, int pool, const char *key)
{
	const char *name = strncmp(error, IFACE ".", sizeof(IFACE)) == 0 ?
			   error + sizeof(IFACE) : error;
	const char *s;
	int64_t n;

	/* The pool the error names, when it names one we know. */
	n = param_int(p, "pool", -1);
	if (n >= 0 && n < HV_KVP_POOL_COUNT)
		pool = (int)n;
	if (strcmp(name, "NoSuchKey") == 0) {
		hvctl_err("no key %s in pool %s", key ? key : "", hv_kvp_pool_name(pool));
		return HVCTL_EXIT_NOTFOUND;
	}
	if (strcmp(name, "NoSuchPool") == 0) {
		hvctl_err("hvkvpd knows no pool %s", hv_kvp_pool_name(pool));
		return HVCTL_EXIT_USAGE;
	}
	if (strcmp(name, "ReadOnlyPool") == 0) {
		hvctl_err("pool %s is read-only: the host writes it", hv_kvp_pool_name(pool));
		return HVCTL_EXIT_FAIL;
	}
	if (strcmp(name, "PermissionDenied") == 0) {
		s = param_str(p, "operation");
		if (s && strcmp(s, "read") == 0)
			hvctl_err("permission denied to read pool %s: hvkvpd lets only root and "
				  "its writer group read it", hv_kvp_pool_name(pool));
		else
			hvctl_err("permission denied to write pool %s: writing the pools needs "
				  "root or hvkvpd's writer group", hv_kvp_pool_name(pool));
		return HVCTL_EXIT_FAIL;
	}
	if (strcmp(name, "InvalidKey") == 0 || strcmp(name, "InvalidValue") == 0) {
		s = param_str(p, "reason");
		hvctl_err("invalid %s%s%s", name[7] == 'K' ? "key" : "value",
			  s ? ": " : "", s ? s : "");
		return HVCTL_EXIT_USAGE;
	}
	if (strcmp(name, "KeyTooLong") == 0 || strcmp(name, "ValueTooLong") == 0) {
		hvctl_err("%s too long: the host takes at most %lld UTF-16 units and %lld bytes",
			  name[0] == 'K' ? "key" : "value",
			  (long long)param_int(p, "max_utf16_units", -1),
			  (long long)param_int(p, "max_bytes", -1));
		return HVCTL_EXIT_USAGE;
	}
	if (strcmp(name, "StorageFailed") == 0) {
		s = param_str(p, "reason");
		hvctl_err("hvkvpd cannot write the pool files%s%s", s ? ": " : "", s ? s : "");
		return HVCTL_EXIT_FAIL;
	}
	if (strcmp(name, "ChangesLost") == 0) {
		hvctl_err("hvkvpd ended the watch: changes were lost while %lld bytes of them "
			  "waited to be read", (long long)param_int(p, "queued_bytes", 0));
		return HVCTL_EXIT_FAIL;
	}
	hvctl_err("hvkvpd: %s", error);
	return HVCTL_EXIT_FAIL;
}

/* One call, one reply: 0 with *p set, or the exit status (reported). */
static int call_one(const struct hvctl *ctx, struct hvctl_varlink *vl, const char *method,
		    struct json_object *params, int pool, const char *key,
		    struct json_object **p)
{
	const char *error;
	bool continues;
	int err;

	err = hvctl_varlink_call(vl, method, params, false);
	if (err == 0)
		err = hvctl_varlink_reply(vl, p, &error, &continues);
	if (err < 0)
		return reply_err(ctx, err);
	if (error) {
		err = method_err(error, *p, pool, key);
		json_object_put(*p);
		return err;
	}
	return 0;
}

static struct json_object *key_params(int pool, const char *key)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "pool", json_object_new_string(hv_kvp_pool_name(pool)));
	if (key)
		json_object_object_add(p, "key", json_object_new_string(key));
	return p;
}

/* --- the pool files --------------------------------------------------- */

static void fallback_say(const struct hvctl *ctx)
{
	fprintf(stderr, "hvkvpd is not running; reading the pool files in %s\n",
		ctx->state_dir);
}

static int file_err(const struct hvctl *ctx, int pool, int err)
{
	if (err == -ENOENT || err == -ENOTDIR)
		hvctl_err("no pool files in %s: %s", ctx->state_dir, strerror(-err));
	else
		hvctl_err("%s/.kvp_pool_%d: %s", ctx->state_dir, pool, strerror(-err));
	return HVCTL_EXIT_FAIL;
}

/* Find the first record with key: 1 found, 0 not, or the exit status + 2. */
static int file_get(const struct hvctl *ctx, int pool, const char *key, struct hvctl_record *rec)
{
	struct hvctl_poolfile *pf;
	int r;

	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		return file_err(ctx, pool, r) + 2;
	/* The first record with the key wins, as in hv_kvp_daemon and hvkvpd. */
	while ((r = hvctl_poolfile_next(pf, rec)) > 0)
		if (strcmp(rec->key, key) == 0)
			break;
	hvctl_poolfile_close(pf);
	if (r < 0)
		return file_err(ctx, pool, r) + 2;
	return r;
}

/* --- the commands ----------------------------------------------------- */

static int get(struct hvctl *ctx, int pool, const char *key)
{
	struct hvctl_varlink *vl;
	struct hvctl_record *rec;
	struct json_object *p;
	const char *value;
	int err, status;

	err = connect_to(ctx, CALL_TIMEOUT_MS, &vl);
	if (err == 0) {
		status = call_one(ctx, vl, IFACE ".Get", key_params(pool, key), pool, key, &p);
		if (status == 0) {
			value = param_str(p, "value");
			if (!value) {
				hvctl_err("malformed reply from %s: no value", ctx->socket);
				status = HVCTL_EXIT_FAIL;
			} else {
				status = value_print(ctx, pool, key, value);
			}
			json_object_put(p);
		}
		hvctl_varlink_close(vl);
		return status;
	}
	if (!not_running(err))
		return connect_err(ctx, err);
	fallback_say(ctx);
	rec = malloc(sizeof(*rec));
	if (!rec) {
		hvctl_err("out of memory");
		return HVCTL_EXIT_FAIL;
	}
	err = file_get(ctx, pool, key, rec);
	if (err == 1) {
		status = value_print(ctx, pool, key, rec->value);
	} else if (err == 0) {
		hvctl_err("no key %s in pool %s", key, hv_kvp_pool_name(pool));
		status = HVCTL_EXIT_NOTFOUND;
	} else {
		status = err - 2;
	}
	free(rec);
	return status;
}

/* The value for set: VALUE, or -i FILE cut at its first newline (all of it with -r). */
static int value_read(const struct hvctl *ctx, char *buf, size_t size, size_t *len)
{
	FILE *f = stdin;
	size_t n;
	char *nl;

	if (strcmp(ctx->input, "-") != 0) {
		f = fopen(ctx->input, "re");
		if (!f) {
			hvctl_err("%s: %s", ctx->input, strerror(errno));
			return HVCTL_EXIT_FAIL;
		}
	}
	n = fread(buf, 1, size, f);
	if (ferror(f)) {
		hvctl_err("%s: read error", ctx->input);
		goto fail;
	}
	if (!ctx->raw && (nl = memchr(buf, '\n', n)))
		n = (size_t)(nl - buf);
	else if (ctx->raw && n > 0 && n <= size - 1 && buf[n - 1] == '\n')
		n--;
	if (n >= size) {
		hvctl_err("value in %s too long: at most %d bytes", ctx->input,
			  HV_KVP_POOL_VALUE_MAX);
		goto fail;
	}
	if (memchr(buf, '\0', n)) {
		hvctl_err("value in %s holds a NUL byte", ctx->input);
		goto fail;
	}
	buf[n] = '\0';
	*len = n;
	if (f != stdin)
		fclose(f);
	return -1;
fail:
	if (f != stdin)
		fclose(f);
	return HVCTL_EXIT_USAGE;
}

static int set(struct hvctl *ctx, int pool, const char *key, const char *arg, int echo)
{
	char buf[HV_KVP_POOL_VALUE_MAX + 2];
	struct hvctl_varlink *vl;
	struct json_object *params, *p;
	const char *value = arg;
	size_t len;
	int err, status;

	if (!value) {
		status = value_read(ctx, buf, sizeof(buf), &len);
		if (status >= 0)
			return status;
		value = buf;
	}
	if (strlen(value) > HV_KVP_POOL_VALUE_MAX) {
		hvctl_err("value too long: at most %d bytes", HV_KVP_POOL_VALUE_MAX);
		return HVCTL_EXIT_USAGE;
	}
	err = connect_to(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0)
		return connect_err(ctx, err);
	params = key_params(pool, key);
	json_object_object_add(params, "value", json_object_new_string(value));
	status = call_one(ctx, vl, IFACE ".Set", params, pool, key, &p);
	hvctl_varlink_close(vl);
	if (status)
		return status;
	json_object_put(p);
	/* hostctl(8) prints the value it wrote unless -q. */
	if (echo && !ctx->quiet)
		return value_print(ctx, pool, key, value);
	return HVCTL_EXIT_OK;
}

static int delete(struct hvctl *ctx, int pool, const char *key)
{
	struct hvctl_varlink *vl;
	struct json_object *p;
	int err, status;

	err = connect_to(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0)
		return connect_err(ctx, err);
	status = call_one(ctx, vl, IFACE ".Delete", key_params(pool, key), pool, key, &p);
	hvctl_varlink_close(vl);
	if (status)
		return status;
	json_object_put(p);
	return HVCTL_EXIT_OK;
}

/*
 * The records of one pool through hvkvpd: one reply per record, and an
 * empty pool one reply without a record. *denied is set when the caller
 * may not read the pool.
 */
static int list_daemon(const struct hvctl *ctx, struct hvctl_varlink *vl, FILE *f, int pool,
		       int names_only, bool *denied)
{
	struct json_object *p, *rec;
	const char *error, *key, *value;
	bool continues = true, first = true;
	int err, status = HVCTL_EXIT_OK;

	err = hvctl_varlink_call(vl, IFACE ".List", key_params(pool, NULL), true);
	if (err < 0)
		return reply_err(ctx, err);
	while (continues) {
		err = hvctl_varlink_reply(vl, &p, &error, &continues);
		if (err < 0)
			return reply_err(ctx, err);
		if (error) {
			*denied = strcmp(error, IFACE ".PermissionDenied") == 0;
			status = method_err(error, p, pool, NULL);
			json_object_put(p);
			/* An error ends the call, whatever else it says. */
			return status;
		}
		if (!json_object_object_get_ex(p, "record", &rec) || !rec) {
			json_object_put(p);
			/* Only an empty pool answers without a record: its one reply. */
			if (first && !continues)
				break;
			hvctl_err("malformed reply from %s: no record", ctx->socket);
			return HVCTL_EXIT_FAIL;
		}
		first = false;
		key = json_object_is_type(rec, json_type_object) ? param_str(rec, "key") : NULL;
		value = key ? param_str(rec, "value") : NULL;
		if (!key || !value) {
			json_object_put(p);
			hvctl_err("malformed record from %s", ctx->socket);
			return HVCTL_EXIT_FAIL;
		}
		if (names_only) {
			put_str(ctx, f, key, strlen(key));
			fputc('\n', f);
		} else {
			record_print(ctx, f, pool, key, strlen(key), value, strlen(value));
		}
		json_object_put(p);
	}
	return status;
}

static int list_file(const struct hvctl *ctx, FILE *f, int pool, int names_only)
{
	struct hvctl_poolfile *pf;
	struct hvctl_record *rec;
	int r;

	rec = malloc(sizeof(*rec));
	if (!rec) {
		hvctl_err("out of memory");
		return HVCTL_EXIT_FAIL;
	}
	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		goto out;
	while ((r = hvctl_poolfile_next(pf, rec)) > 0) {
		if (names_only) {
			put_str(ctx, f, rec->key, rec->key_len);
			fputc('\n', f);
		} else {
			record_print(ctx, f, pool, rec->key, rec->key_len, rec->value,
				     rec->value_len);
		}
	}
	hvctl_poolfile_close(pf);
out:
	free(rec);
	return r < 0 ? file_err(ctx, pool, r) : HVCTL_EXIT_OK;
}

/* pool < 0: every pool. */
static int list(struct hvctl *ctx, int pool, int names_only)
{
	struct hvctl_varlink *vl = NULL;
	int err, status = HVCTL_EXIT_OK, p, first = pool < 0 ? 0 : pool;
	int last = pool < 0 ? HV_KVP_POOL_COUNT - 1 : pool, refused = HVCTL_EXIT_OK;
	bool denied;
	FILE *f;

	err = connect_to(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0 && !not_running(err))
		return connect_err(ctx, err);
	if (err < 0)
		fallback_say(ctx);
	f = out_open(ctx);
	if (!f) {
		hvctl_varlink_close(vl);
		return HVCTL_EXIT_FAIL;
	}
	for (p = first; p <= last; p++) {
		denied = false;
		status = vl ? list_daemon(ctx, vl, f, p, names_only, &denied) :
			      list_file(ctx, f, p, names_only);
		/* Listing every pool shows those the caller may read, and fails. */
		if (status != HVCTL_EXIT_OK && !(denied && pool < 0))
			break;
		if (status != HVCTL_EXIT_OK)
			refused = status;
	}
	hvctl_varlink_close(vl);
	return out_close(ctx, f, status != HVCTL_EXIT_OK ? status : refused);
}

/* --- watch ------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* SIGINT and SIGTERM end a watch with status 0: that is how it ends. */
static void signals_catch(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the blocked poll() must return. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void change_print(const struct hvctl *ctx, int pool, const char *key, const char *value,
			 const char *origin)
{
	struct json_object *o;

	if (ctx->json) {
		o = record_json(pool, key, value);
		json_object_object_add(o, "origin", json_object_new_string(origin));
		put_json(stdout, o);
		json_object_put(o);
	} else {
		printf("%s %s ", value ? "set" : "delete", origin);
		if (value) {
			record_print(ctx, stdout, pool, key, strlen(key), value, strlen(value));
		} else {
			printf("%s/", hv_kvp_pool_name(pool));
			put_str(ctx, stdout, key, strlen(key));
			putchar('\n');
		}
	}
	fflush(stdout);
}

static int watch_daemon(const struct hvctl *ctx, struct hvctl_varlink *vl, int pool,
			const char *key)
{
	struct json_object *params = json_object_new_object(), *p, *c;
	const char *error, *ckey, *origin;
	bool continues = true, first = true;
	int64_t cpool;
	int err, status;

	if (pool >= 0)
		json_object_object_add(params, "pool", json_object_new_string(hv_kvp_pool_name(pool)));
	if (key)
		json_object_object_add(params, "key", json_object_new_string(key));
	err = hvctl_varlink_call(vl, IFACE ".Watch", params, true);
	if (err < 0)
		return reply_err(ctx, err);
	while (continues) {
		err = hvctl_varlink_reply(vl, &p, &error, &continues);
		if (err == -EINTR && interrupted)
			return HVCTL_EXIT_OK;
		if (err < 0)
			return reply_err(ctx, err);
		if (error) {
			status = method_err(error, p, pool < 0 ? 0 : pool, key);
			json_object_put(p);
			return status;
		}
		/* The first reply has no change: it says the watch is in place. */
		if (first && continues && (!json_object_object_get_ex(p, "change", &c) || !c)) {
			first = false;
			json_object_put(p);
			continue;
		}
		first = false;
		if (!json_object_object_get_ex(p, "change", &c) ||
		    !json_object_is_type(c, json_type_object) ||
		    !(ckey = param_str(c, "key")) ||
		    (cpool = param_int(c, "pool", -1)) < 0 || cpool >= HV_KVP_POOL_COUNT) {
			json_object_put(p);
			hvctl_err("malformed change from %s", ctx->socket);
			return HVCTL_EXIT_FAIL;
		}
		origin = param_str(c, "origin");
		change_print(ctx, (int)cpool, ckey, param_str(c, "value"), origin ? origin : "?");
		json_object_put(p);
	}
	hvctl_err("hvkvpd ended the watch");
	return HVCTL_EXIT_FAIL;
}

/* The records of one pool, for comparing two readings of its file. */
struct snapshot {
	struct hvctl_record *recs;
	size_t n;
};

static int snapshot_read(const struct hvctl *ctx, int pool, struct snapshot *s)
{
	struct hvctl_poolfile *pf;
	struct hvctl_record *recs = NULL, *tmp;
	size_t n = 0, cap = 0;
	int r;

	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		return r;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(recs, cap * sizeof(*recs));
			if (!tmp) {
				r = -ENOMEM;
				break;
			}
			recs = tmp;
		}
		r = hvctl_poolfile_next(pf, &recs[n]);
		if (r <= 0)
			break;
		n++;
	}
	hvctl_poolfile_close(pf);
	if (r < 0) {
		free(recs);
		return r;
	}
	free(s->recs);
	s->recs = recs;
	s->n = n;
	return 0;
}

static const struct hvctl_record *snapshot_find(const struct snapshot *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->recs[i].key, key) == 0)
			return &s->recs[i];
	return NULL;
}

/* Print what differs, key by key (the first record of a key counts). */
static void snapshot_diff(const struct hvctl *ctx, int pool, const char *key,
			  const struct snapshot *old, const struct snapshot *cur)
{
	const struct hvctl_record *a, *b;
	size_t i;

	for (i = 0; i < cur->n; i++) {
		b = &cur->recs[i];
		if ((key && strcmp(b->key, key) != 0) || snapshot_find(cur, b->key) != b)
			continue;
		a = snapshot_find(old, b->key);
		if (!a || strcmp(a->value, b->value) != 0)
			change_print(ctx, pool, b->key, b->value, "file");
	}
	for (i = 0; i < old->n; i++) {
		a = &old->recs[i];
		if ((key && strcmp(a->key, key) != 0) || snapshot_find(old, a->key) != a)
			continue;
		if (!snapshot_find(cur, a->key))
			change_print(ctx, pool, a->key, NULL, "file");
	}
}

/* Without hvkvpd: watch the pool files with inotify and compare readings. */
static int watch_files(const struct hvctl *ctx, int pool, const char *key)
{
	struct snapshot snap[HV_KVP_POOL_COUNT] = { 0 }, cur;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	int fd, p, err = 0, status = HVCTL_EXIT_FAIL;
	unsigned int dirty;
	ssize_t n;
	char *end;
	long v;

	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0) {
		hvctl_err("inotify: %s", strerror(errno));
		return HVCTL_EXIT_FAIL;
	}
	if (inotify_add_watch(fd, ctx->state_dir, IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO |
			      IN_CREATE | IN_DELETE | IN_ONLYDIR) < 0) {
		err = -errno;
		status = file_err(ctx, pool < 0 ? 0 : pool, err);
		goto out;
	}
	for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
		if ((pool >= 0 && p != pool) || (err = snapshot_read(ctx, p, &snap[p])) == 0)
			continue;
		status = file_err(ctx, p, err);
		goto out;
	}
	while (!interrupted) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			hvctl_err("inotify: %s", n < 0 ? strerror(errno) : "end of file");
			goto out;
		}
		dirty = 0;
		for (ev = (const void *)buf; (const char *)ev < buf + n;
		     ev = (const void *)((const char *)(ev + 1) + ev->len)) {
			if (!ev->len || strncmp(ev->name, ".kvp_pool_", 10) != 0)
				continue;
			v = strtol(ev->name + 10, &end, 10);
			if (*end || end == ev->name + 10 || v < 0 || v >= HV_KVP_POOL_COUNT)
				continue;
			if (pool < 0 || v == pool)
				dirty |= 1u << v;
		}
		for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
			if (!(dirty & (1u << p)))
				continue;
			cur.recs = NULL;
			err = snapshot_read(ctx, p, &cur);
			if (err < 0) {
				status = file_err(ctx, p, err);
				goto out;
			}
			snapshot_diff(ctx, p, key, &snap[p], &cur);
			free(snap[p].recs);
			snap[p] = cur;
		}
	}
	status = HVCTL_EXIT_OK;
out:
	for (p = 0; p < HV_KVP_POOL_COUNT; p++)
		free(snap[p].recs);
	close(fd);
	return status;
}

/* --- status ------------------------------------------------------------ */

static const char *str_or(struct json_object *p, const char *name)
{
	const char *s = param_str(p, name);

	return s ? s : "?";
}

static void status_print(struct json_object *p)
{
	struct json_object *v, *pools, *e;
	const char *s;
	size_t i;

	printf("hvkvpd %s, backend %s", str_or(p, "version"), str_or(p, "backend"));
	if ((s = param_str(p, "device")))
		printf(", device %s", s);
	putchar('\n');
	if (json_object_object_get_ex(p, "negotiated", &v) &&
	    json_object_is_type(v, json_type_object))
		printf("negotiated: framework %s, message %s\n", str_or(v, "framework"),
		       str_or(v, "message"));
	printf("host requests: %lld\nclients: %lld\nuptime: %lld s\n",
	       (long long)param_int(p, "host_requests", 0), (long long)param_int(p, "clients", 0),
	       (long long)param_int(p, "uptime_seconds", 0));
	if (json_object_object_get_ex(p, "pools", &pools) &&
	    json_object_is_type(pools, json_type_array)) {
		for (i = 0; i < json_object_array_length(pools); i++) {
			e = json_object_array_get_idx(pools, i);
			printf("pool %lld %s: %lld records\n",
			       (long long)param_int(e, "pool", -1), str_or(e, "name"),
			       (long long)param_int(e, "records", 0));
		}
	}
}

static int status_files(const struct hvctl *ctx)
{
	struct json_object *top = json_object_new_object(), *pools = json_object_new_array(), *e;
	struct hvctl_poolfile *pf;
	struct hvctl_record *rec = malloc(sizeof(*rec));
	int p, r = 0;
	int64_t n;

	if (!rec) {
		hvctl_err("out of memory");
		json_object_put(top);
		json_object_put(pools);
		return HVCTL_EXIT_FAIL;
	}
	for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
		r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)p, &pf);
		if (r < 0)
			break;
		for (n = 0; (r = hvctl_poolfile_next(pf, rec)) > 0; n++)
			;
		hvctl_poolfile_close(pf);
		if (r < 0)
			break;
		e = json_object_new_object();
		json_object_object_add(e, "pool", json_object_new_int(p));
		json_object_object_add(e, "name", json_object_new_string(hv_kvp_pool_name(p)));
		json_object_object_add(e, "records", json_object_new_int64(n));
		json_object_array_add(pools, e);
	}
	free(rec);
	json_object_object_add(top, "running", json_object_new_boolean(0));
	json_object_object_add(top, "state_dir", json_object_new_string(ctx->state_dir));
	json_object_object_add(top, "pools", pools);
	if (r < 0) {
		json_object_put(top);
		return file_err(ctx, p, r);
	}
	if (ctx->json) {
		put_json(stdout, top);
	} else {
		printf("hvkvpd: not running\n");
		for (p = 0; p < HV_KVP_POOL_COUNT; p++) {
			e = json_object_array_get_idx(pools, (size_t)p);
			printf("pool %d %s: %lld records\n", p, hv_kvp_pool_name(p),
			       (long long)param_int(e, "records", 0));
		}
	}
	json_object_put(top);
	return out_close(ctx, stdout, HVCTL_EXIT_OK);
}

/* --- entry points ------------------------------------------------------ */

int hvctl_get(struct hvctl *ctx, int argc, char **argv)
{
	int status, pool;
	const char *key;

	status = opts_parse(ctx, argc, argv, "get", ALLOW_J | ALLOW_R | ALLOW_O | ALLOW_P);
	if (status >= 0)
		return status;
	if (argc - optind != 1)
		return hvctl_usage(stderr, "get");
	status = key_parse(ctx, argv[optind], &pool, &key);
	return status >= 0 ? status : get(ctx, pool, key);
}

int hvctl_set(struct hvctl *ctx, int argc, char **argv)
{
	int status, pool;
	const char *key;

	status = opts_parse(ctx, argc, argv, "set", ALLOW_I | ALLOW_R | ALLOW_P);
	if (status >= 0)
		return status;
	/* The value comes from the command line or from -i, never both. */
	if (argc - optind != (ctx->input ? 1 : 2))
		return hvctl_usage(stderr, "set");
	status = key_parse(ctx, argv[optind], &pool, &key);
	return status >= 0 ? status : set(ctx, pool, key, argv[optind + 1], 0);
}

int hvctl_delete(struct hvctl *ctx, int argc, char **argv)
{
	int status, pool;
	const char *key;

	status = opts_parse(ctx, argc, argv, "delete", ALLOW_P);
	if (status >= 0)
		return status;
	if (argc - optind != 1)
		return hvctl_usage(stderr, "delete");
	status = key_parse(ctx, argv[optind], &pool, &key);
	return status >= 0 ? status : delete(ctx, pool, key);
}

int hvctl_keys_list(struct hvctl *ctx, int argc, char **argv)
{
	int status, pool = -1;

	status = opts_parse(ctx, argc, argv, "list", ALLOW_J | ALLOW_R | ALLOW_O);
	if (status >= 0)
		return status;
	if (argc - optind > 1)
		return hvctl_usage(stderr, "list");
	if (argc - optind == 1 && (pool = hv_kvp_pool_from_name(argv[optind])) < 0)
		return bad_pool(argv[optind]);
	return list(ctx, pool, 0);
}

int hvctl_watch(struct hvctl *ctx, int argc, char **argv)
{
	struct hvctl_varlink *vl;
	const char *key = NULL;
	int status, pool = -1, err;

	status = opts_parse(ctx, argc, argv, "watch", ALLOW_J | ALLOW_R | ALLOW_P);
	if (status >= 0)
		return status;
	if (argc - optind > 1)
		return hvctl_usage(stderr, "watch");
	if (argc - optind == 1) {
		/* A pool's name first: Guest/Parameters is that pool. */
		pool = ctx->pool ? -1 : hv_kvp_pool_from_name(argv[optind]);
		if (pool < 0) {
			status = key_parse(ctx, argv[optind], &pool, &key);
			if (status >= 0)
				return status;
		}
	} else if (ctx->pool && (pool = hv_kvp_pool_from_name(ctx->pool)) < 0) {
		return bad_pool(ctx->pool);
	}
	signals_catch();
	err = connect_to(ctx, 0, &vl);
	if (err == 0) {
		status = watch_daemon(ctx, vl, pool, key);
		hvctl_varlink_close(vl);
		return status;
	}
	if (!not_running(err))
		return connect_err(ctx, err);
	fallback_say(ctx);
	return watch_files(ctx, pool, key);
}

int hvctl_status(struct hvctl *ctx, int argc, char **argv)
{
	struct hvctl_varlink *vl;
	struct json_object *p;
	int status, err;

	status = opts_parse(ctx, argc, argv, "status", ALLOW_J);
	if (status >= 0)
		return status;
	if (argc != optind)
		return hvctl_usage(stderr, "status");
	err = connect_to(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0 && !not_running(err))
		return connect_err(ctx, err);
	/* Before anything else: two daemons explain any odd state that follows. */
	hvctl_peers_warn(ctx);
	if (err < 0) {
		fallback_say(ctx);
		return status_files(ctx);
	}
	status = call_one(ctx, vl, IFACE ".Status", NULL, 0, NULL, &p);
	hvctl_varlink_close(vl);
	if (status)
		return status;
	if (ctx->json) {
		json_object_object_add(p, "running", json_object_new_boolean(1));
		put_json(stdout, p);
	} else {
		status_print(p);
	}
	json_object_put(p);
	return out_close(ctx, stdout, HVCTL_EXIT_OK);
}

int hvctl_hostctl(struct hvctl *ctx, int argc, char **argv)
{
	const char *arg = argv[0], *slash, *key;
	int status, pool;
	char name[32];
	size_t len;

	if (argc > 2 || (argc == 2 && ctx->input) || (ctx->pool))
		return hvctl_usage(stderr, "Pool/Key");
	/* "Auto/" lists the pool's key names, as hostctl(8) does. */
	slash = strrchr(arg, '/');
	if (slash && slash[1] == '\0' && argc == 1 && !ctx->input) {
		len = (size_t)(slash - arg);
		if (len >= sizeof(name))
			return bad_pool(arg);
		memcpy(name, arg, len);
		name[len] = '\0';
		if ((pool = hv_kvp_pool_from_name(name)) < 0)
			return bad_pool(name);
		return list(ctx, pool, 1);
	}
	status = key_parse(ctx, arg, &pool, &key);
	if (status >= 0)
		return status;
	if (argc == 2 || ctx->input)
		return set(ctx, pool, key, argc == 2 ? argv[1] : NULL, 1);
	if (ctx->quiet)
		ctx->output = "/dev/null";
	return get(ctx, pool, key);
}
