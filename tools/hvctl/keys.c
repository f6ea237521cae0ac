/* SPDX-License-Identifier: ISC */
/*
 * hvctl get, set, delete, list, watch, status and the hostctl(8) form:
 * their options and arguments, and get, set, delete and list. The KVP
 * pools are reached through hvkvpd's varlink socket (kvpd.c), or, for
 * the commands that only read, from the pool files when hvkvpd is not
 * running; watch.c and status.c hold those two commands, output.c how
 * records are printed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>
#include <hvuio/kvp_pool.h>

#include "hvctl.h"
#include "keys.h"
#include "poolfile.h"

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
 * Parse a command's options into ctx (some may have come before it):
 * 0 (with ctx->help set when the usage was asked for) or -EINVAL.
 */
static int opts_parse(struct hvctl *ctx, int argc, char **argv, const char *cmd, int allow)
{
	int opt, r;

	while ((opt = getopt_long(argc, argv, hvctl_key_optstring + 1, hvctl_key_options,
				  NULL)) != -1) {
		if (hvctl_key_opt(ctx, opt))
			continue;
		r = hvctl_common_opt(ctx, opt, cmd);
		if (r < 0 || ctx->help)
			return r < 0 ? r : 0;
		return hvctl_usage(stderr, cmd);
	}
	if ((ctx->json && !(allow & ALLOW_J)) || (ctx->raw && !(allow & ALLOW_R)) ||
	    (ctx->quiet && !(allow & ALLOW_Q)) || (ctx->input && !(allow & ALLOW_I)) ||
	    (ctx->output && !(allow & ALLOW_O)) || (ctx->pool && !(allow & ALLOW_P)))
		return hvctl_usage(stderr, cmd);
	return 0;
}

static int bad_pool(const char *s)
{
	fprintf(stderr, "hvctl: no pool %s: pools are", s);
	for (unsigned int i = 0; i < HV_KVP_POOL_COUNT; i++)
		fprintf(stderr, "%s%s", i ? ", " : " ", hv_kvp_pool_name(i));
	fprintf(stderr, " or 0-%d\n", HV_KVP_POOL_COUNT - 1);
	return -EINVAL;
}

/*
 * KEY as Pool/Key, split at the last slash as OpenBSD's hypervic.c does
 * (so Guest/Parameters/HostName works), or the whole of KEY with -p.
 * Returns 0 with *pool and *key set, or -EINVAL.
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
			return -EINVAL;
		}
		len = (size_t)(slash - arg);
		if (len >= sizeof(name)) {
			hvctl_err("no pool %.*s", (int)len, arg);
			return -EINVAL;
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
		return -EINVAL;
	}
	if (strlen(*key) > HV_KVP_POOL_KEY_MAX) {
		hvctl_err("key too long: at most %d bytes", HV_KVP_POOL_KEY_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Find the first record with key: 1 found, 0 not, or a negative errno (reported). */
static int file_get(const struct hvctl *ctx, int pool, const char *key, struct hvctl_record *rec)
{
	struct hvctl_poolfile *pf;
	int r;

	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		return hvctl_file_err(ctx, pool, r);
	/* The first record with the key wins, as in hv_kvp_daemon and hvkvpd. */
	while ((r = hvctl_poolfile_next(pf, rec)) > 0)
		if (strcmp(rec->key, key) == 0)
			break;
	hvctl_poolfile_close(pf);
	if (r < 0)
		return hvctl_file_err(ctx, pool, r);
	return r;
}

static int get(struct hvctl *ctx, int pool, const char *key)
{
	struct hvctl_varlink *vl;
	struct hvctl_record *rec;
	struct json_object *p;
	const char *value;
	int err;

	err = hvctl_kvpd_connect(ctx, CALL_TIMEOUT_MS, &vl);
	if (err == 0) {
		err = hvctl_kvpd_call(ctx, vl, IFACE ".Get", hvctl_kvpd_params(pool, key), pool, key, &p);
		if (err == 0) {
			value = hvctl_param_str(p, "value");
			if (!value) {
				hvctl_err("malformed reply from %s: no value", ctx->socket);
				err = -EPROTO;
			} else {
				err = hvctl_value_print(ctx, pool, key, value);
			}
			json_object_put(p);
		}
		hvctl_varlink_close(vl);
		return err;
	}
	if (!hvctl_kvpd_not_running(err))
		return hvctl_kvpd_connect_err(ctx, err);
	hvctl_files_say(ctx);
	rec = malloc(sizeof(*rec));
	if (!rec) {
		hvctl_err("out of memory");
		return -ENOMEM;
	}
	err = file_get(ctx, pool, key, rec);
	if (err == 1) {
		err = hvctl_value_print(ctx, pool, key, rec->value);
	} else if (err == 0) {
		hvctl_err("no key %s in pool %s", key, hv_kvp_pool_name(pool));
		err = -ENOENT;
	}
	free(rec);
	return err;
}

/*
 * The value for set: VALUE, or -i FILE cut at its first newline (all of
 * it with -r). 0, -EINVAL for a value set cannot take, or a failure.
 */
static int value_read(const struct hvctl *ctx, char *buf, size_t size, size_t *len)
{
	FILE *f = stdin;
	int err = -EINVAL;
	size_t n;
	char *nl;

	if (strcmp(ctx->input, "-") != 0) {
		f = fopen(ctx->input, "re");
		if (!f) {
			hvctl_err("%s: %s", ctx->input, strerror(errno));
			return hvctl_failure(-errno);
		}
	}
	n = fread(buf, 1, size, f);
	if (ferror(f)) {
		hvctl_err("%s: read error", ctx->input);
		err = -EIO;
		goto out;
	}
	if (!ctx->raw && (nl = memchr(buf, '\n', n)))
		n = (size_t)(nl - buf);
	else if (ctx->raw && n > 0 && n <= size - 1 && buf[n - 1] == '\n')
		n--;
	if (n >= size) {
		hvctl_err("value in %s too long: at most %d bytes", ctx->input,
			  HV_KVP_POOL_VALUE_MAX);
		goto out;
	}
	if (memchr(buf, '\0', n)) {
		hvctl_err("value in %s holds a NUL byte", ctx->input);
		goto out;
	}
	buf[n] = '\0';
	*len = n;
	err = 0;
out:
	if (f != stdin)
		fclose(f);
	return err;
}

static int set(struct hvctl *ctx, int pool, const char *key, const char *arg, int echo)
{
	char buf[HV_KVP_POOL_VALUE_MAX + 2];
	struct hvctl_varlink *vl;
	struct json_object *params, *p;
	const char *value = arg;
	size_t len;
	int err;

	if (!value) {
		err = value_read(ctx, buf, sizeof(buf), &len);
		if (err < 0)
			return err;
		value = buf;
	}
	if (strlen(value) > HV_KVP_POOL_VALUE_MAX) {
		hvctl_err("value too long: at most %d bytes", HV_KVP_POOL_VALUE_MAX);
		return -EINVAL;
	}
	err = hvctl_kvpd_connect(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0)
		return hvctl_kvpd_connect_err(ctx, err);
	params = hvctl_kvpd_params(pool, key);
	json_object_object_add(params, "value", json_object_new_string(value));
	err = hvctl_kvpd_call(ctx, vl, IFACE ".Set", params, pool, key, &p);
	hvctl_varlink_close(vl);
	if (err)
		return err;
	json_object_put(p);
	/* hostctl(8) prints the value it wrote unless -q. */
	if (echo && !ctx->quiet)
		return hvctl_value_print(ctx, pool, key, value);
	return 0;
}

static int delete(struct hvctl *ctx, int pool, const char *key)
{
	struct hvctl_varlink *vl;
	struct json_object *p;
	int err;

	err = hvctl_kvpd_connect(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0)
		return hvctl_kvpd_connect_err(ctx, err);
	err = hvctl_kvpd_call(ctx, vl, IFACE ".Delete", hvctl_kvpd_params(pool, key), pool, key, &p);
	hvctl_varlink_close(vl);
	if (err)
		return err;
	json_object_put(p);
	return 0;
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
	int err;

	err = hvctl_varlink_call(vl, IFACE ".List", hvctl_kvpd_params(pool, NULL), true);
	if (err < 0)
		return hvctl_kvpd_reply_err(ctx, err);
	while (continues) {
		err = hvctl_varlink_reply(vl, &p, &error, &continues);
		if (err < 0)
			return hvctl_kvpd_reply_err(ctx, err);
		if (error) {
			*denied = strcmp(error, IFACE ".PermissionDenied") == 0;
			err = hvctl_kvpd_method_err(error, p, pool, NULL);
			json_object_put(p);
			/* An error ends the call, whatever else it says. */
			return err;
		}
		if (!json_object_object_get_ex(p, "record", &rec) || !rec) {
			json_object_put(p);
			/* Only an empty pool answers without a record: its one reply. */
			if (first && !continues)
				break;
			hvctl_err("malformed reply from %s: no record", ctx->socket);
			return -EPROTO;
		}
		first = false;
		key = json_object_is_type(rec, json_type_object) ? hvctl_param_str(rec, "key") : NULL;
		value = key ? hvctl_param_str(rec, "value") : NULL;
		if (!key || !value) {
			json_object_put(p);
			hvctl_err("malformed record from %s", ctx->socket);
			return -EPROTO;
		}
		if (names_only) {
			hvctl_put_str(ctx, f, key, strlen(key));
			fputc('\n', f);
		} else {
			hvctl_record_print(ctx, f, pool, key, strlen(key), value, strlen(value));
		}
		json_object_put(p);
	}
	return 0;
}

static int list_file(const struct hvctl *ctx, FILE *f, int pool, int names_only)
{
	struct hvctl_poolfile *pf;
	struct hvctl_record *rec;
	int r;

	rec = malloc(sizeof(*rec));
	if (!rec) {
		hvctl_err("out of memory");
		return -ENOMEM;
	}
	r = hvctl_poolfile_open(ctx->state_dir, (unsigned int)pool, &pf);
	if (r < 0)
		goto out;
	while ((r = hvctl_poolfile_next(pf, rec)) > 0) {
		if (names_only) {
			hvctl_put_str(ctx, f, rec->key, rec->key_len);
			fputc('\n', f);
		} else {
			hvctl_record_print(ctx, f, pool, rec->key, rec->key_len, rec->value,
				     rec->value_len);
		}
	}
	hvctl_poolfile_close(pf);
out:
	free(rec);
	return r < 0 ? hvctl_file_err(ctx, pool, r) : 0;
}

/* pool < 0: every pool. */
static int list(struct hvctl *ctx, int pool, int names_only)
{
	struct hvctl_varlink *vl = NULL;
	int err = 0, p, first = pool < 0 ? 0 : pool;
	int last = pool < 0 ? HV_KVP_POOL_COUNT - 1 : pool, refused = 0;
	bool denied;
	FILE *f;

	err = hvctl_kvpd_connect(ctx, CALL_TIMEOUT_MS, &vl);
	if (err < 0 && !hvctl_kvpd_not_running(err))
		return hvctl_kvpd_connect_err(ctx, err);
	if (err < 0)
		hvctl_files_say(ctx);
	f = hvctl_out_open(ctx);
	if (!f) {
		hvctl_varlink_close(vl);
		return -EIO;
	}
	for (p = first; p <= last; p++) {
		denied = false;
		err = vl ? list_daemon(ctx, vl, f, p, names_only, &denied) :
			   list_file(ctx, f, p, names_only);
		/* Listing every pool shows those the caller may read, and fails. */
		if (err && !(denied && pool < 0))
			break;
		if (err)
			refused = err;
	}
	hvctl_varlink_close(vl);
	return hvctl_out_close(ctx, f, err ? err : refused);
}

/* --- entry points ------------------------------------------------------ */

int hvctl_get(struct hvctl *ctx, int argc, char **argv)
{
	const char *key;
	int err, pool;

	err = opts_parse(ctx, argc, argv, "get", ALLOW_J | ALLOW_R | ALLOW_O | ALLOW_P);
	if (err < 0 || ctx->help)
		return err;
	if (argc - optind != 1)
		return hvctl_usage(stderr, "get");
	err = key_parse(ctx, argv[optind], &pool, &key);
	return err < 0 ? err : get(ctx, pool, key);
}

int hvctl_set(struct hvctl *ctx, int argc, char **argv)
{
	const char *key;
	int err, pool;

	err = opts_parse(ctx, argc, argv, "set", ALLOW_I | ALLOW_R | ALLOW_P);
	if (err < 0 || ctx->help)
		return err;
	/* The value comes from the command line or from -i, never both. */
	if (argc - optind != (ctx->input ? 1 : 2))
		return hvctl_usage(stderr, "set");
	err = key_parse(ctx, argv[optind], &pool, &key);
	return err < 0 ? err : set(ctx, pool, key, argv[optind + 1], 0);
}

int hvctl_delete(struct hvctl *ctx, int argc, char **argv)
{
	const char *key;
	int err, pool;

	err = opts_parse(ctx, argc, argv, "delete", ALLOW_P);
	if (err < 0 || ctx->help)
		return err;
	if (argc - optind != 1)
		return hvctl_usage(stderr, "delete");
	err = key_parse(ctx, argv[optind], &pool, &key);
	return err < 0 ? err : delete(ctx, pool, key);
}

int hvctl_keys_list(struct hvctl *ctx, int argc, char **argv)
{
	int err, pool = -1;

	err = opts_parse(ctx, argc, argv, "list", ALLOW_J | ALLOW_R | ALLOW_O);
	if (err < 0 || ctx->help)
		return err;
	if (argc - optind > 1)
		return hvctl_usage(stderr, "list");
	if (argc - optind == 1 && (pool = hv_kvp_pool_from_name(argv[optind])) < 0)
		return bad_pool(argv[optind]);
	return list(ctx, pool, 0);
}

int hvctl_watch(struct hvctl *ctx, int argc, char **argv)
{
	const char *key = NULL;
	int pool = -1, err;

	err = opts_parse(ctx, argc, argv, "watch", ALLOW_J | ALLOW_R | ALLOW_P);
	if (err < 0 || ctx->help)
		return err;
	if (argc - optind > 1)
		return hvctl_usage(stderr, "watch");
	if (argc - optind == 1) {
		/* A pool's name first: Guest/Parameters is that pool. */
		pool = ctx->pool ? -1 : hv_kvp_pool_from_name(argv[optind]);
		if (pool < 0) {
			err = key_parse(ctx, argv[optind], &pool, &key);
			if (err < 0)
				return err;
		}
	} else if (ctx->pool && (pool = hv_kvp_pool_from_name(ctx->pool)) < 0) {
		return bad_pool(ctx->pool);
	}
	return hvctl_keys_watch(ctx, pool, key);
}

int hvctl_status(struct hvctl *ctx, int argc, char **argv)
{
	int err;

	err = opts_parse(ctx, argc, argv, "status", ALLOW_J);
	if (err < 0 || ctx->help)
		return err;
	if (argc != optind)
		return hvctl_usage(stderr, "status");
	return hvctl_keys_status(ctx);
}

int hvctl_hostctl(struct hvctl *ctx, int argc, char **argv)
{
	const char *arg = argv[0], *slash, *key;
	int err, pool;
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
	err = key_parse(ctx, arg, &pool, &key);
	if (err < 0)
		return err;
	if (argc == 2 || ctx->input)
		return set(ctx, pool, key, argc == 2 ? argv[1] : NULL, 1);
	if (ctx->quiet)
		ctx->output = "/dev/null";
	return get(ctx, pool, key);
}
