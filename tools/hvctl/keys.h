/* SPDX-License-Identifier: ISC */
/*
 * What the key commands' files share (private to hvctl):
 *
 * keys.c    options, Pool/Key arguments; get, set, delete, list, hostctl;
 * kvpd.c    hvkvpd's socket: connecting, one call, what its errors mean;
 * output.c  records as text or JSON;
 * watch.c   hvctl watch;
 * status.c  hvctl status.
 *
 * Every function returning int returns 0 or a negative errno, reported,
 * as hvctl.h says.
 */
#ifndef HVCTL_KEYS_H
#define HVCTL_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "hvctl.h"
#include "varlink_client.h"

#define IFACE "io.hvuio.Kvp"
/* A reply slower than this means hvkvpd is stuck; watch waits for ever. */
#define CALL_TIMEOUT_MS 10000

/* output.c */
/* Where results go: standard output, or -o FILE ("-" is standard output); NULL reported. */
FILE *hvctl_out_open(const struct hvctl *ctx);
/* Close what hvctl_out_open gave: err, or -EIO if it was 0 and writing failed. */
int hvctl_out_close(const struct hvctl *ctx, FILE *f, int err);
/* s[0..len) escaped for a terminal (hvctl_vis_write), or as it is with -r. */
int hvctl_put_str(const struct hvctl *ctx, FILE *f, const char *s, size_t len);
/* One JSON object and a newline. */
void hvctl_put_json(FILE *f, struct json_object *o);
/* {"pool", "pool_name", "key", "value"[, "escaped": true]}; value NULL: null. */
struct json_object *hvctl_record_json(int pool, const char *key, const char *value);
/* One value, as hostctl prints it (nothing for an empty value), to -o FILE. */
int hvctl_value_print(const struct hvctl *ctx, int pool, const char *key, const char *value);
/* "Pool/Key=value", or its JSON with --json. */
void hvctl_record_print(const struct hvctl *ctx, FILE *f, int pool, const char *key,
			size_t klen, const char *value, size_t vlen);

/* kvpd.c */
/* 1 when nobody serves the socket, so the pool files may be read instead. */
int hvctl_kvpd_not_running(int err);
int hvctl_kvpd_connect(const struct hvctl *ctx, int timeout_ms, struct hvctl_varlink **vl);
/* Report a failed connect or reply; the errno passed up as a failure. */
int hvctl_kvpd_connect_err(const struct hvctl *ctx, int err);
int hvctl_kvpd_reply_err(const struct hvctl *ctx, int err);
/*
 * A varlink error reported: -ENOENT for NoSuchKey only, -EINVAL for what
 * the caller gave wrong, another errno for what hvkvpd refused or failed.
 */
int hvctl_kvpd_method_err(const char *error, struct json_object *p, int pool, const char *key);
/* One call, one reply: 0 with *p set (the caller puts it), or reported. */
int hvctl_kvpd_call(const struct hvctl *ctx, struct hvctl_varlink *vl, const char *method,
		    struct json_object *params, int pool, const char *key,
		    struct json_object **p);
/* {"pool": name[, "key": key]}. */
struct json_object *hvctl_kvpd_params(int pool, const char *key);
/* A reply's member of that type, or dflt / NULL. */
int64_t hvctl_param_int(struct json_object *p, const char *name, int64_t dflt);
const char *hvctl_param_str(struct json_object *p, const char *name);
/* Without hvkvpd: say that the pool files are read, and report their errors. */
void hvctl_files_say(const struct hvctl *ctx);
int hvctl_file_err(const struct hvctl *ctx, int pool, int err);

/* watch.c: pool < 0 every pool, key NULL every key. */
int hvctl_keys_watch(struct hvctl *ctx, int pool, const char *key);
/* status.c */
int hvctl_keys_status(struct hvctl *ctx);

#endif
