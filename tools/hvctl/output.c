/* SPDX-License-Identifier: ISC */
/*
 * How the key commands print records: "Pool/Key=value" lines made safe
 * for a terminal (vis.c) or raw with -r, or one JSON object a line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <hvuio/kvp_msg.h>
#include <hvuio/utf8.h>

#include "hvctl.h"
#include "keys.h"
#include "vis.h"

/* Where results go: standard output, or -o FILE ("-" is standard output). */
FILE *hvctl_out_open(const struct hvctl *ctx)
{
	FILE *f;

	if (!ctx->output || strcmp(ctx->output, "-") == 0)
		return stdout;
	f = fopen(ctx->output, "we");
	if (!f)
		hvctl_err("%s: %s", ctx->output, strerror(errno));
	return f;
}

/* As keys.h says: err, or -EIO if it was 0 and writing failed. */
int hvctl_out_close(const struct hvctl *ctx, FILE *f, int err)
{
	int bad = fflush(f) != 0 || ferror(f);

	if (f != stdout && fclose(f) != 0)
		bad = 1;
	if (bad && err == 0) {
		hvctl_err("cannot write %s", f == stdout ? "standard output" : ctx->output);
		return -EIO;
	}
	return err;
}

int hvctl_put_str(const struct hvctl *ctx, FILE *f, const char *s, size_t len)
{
	if (ctx->raw)
		return fwrite(s, 1, len, f) == len ? 0 : -EIO;
	return hvctl_vis_write(f, s, len);
}

void hvctl_put_json(FILE *f, struct json_object *o)
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

struct json_object *hvctl_record_json(int pool, const char *key, const char *value)
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
int hvctl_value_print(const struct hvctl *ctx, int pool, const char *key, const char *value)
{
	FILE *f = hvctl_out_open(ctx);
	struct json_object *o;

	if (!f)
		return -EIO;
	if (ctx->json) {
		o = hvctl_record_json(pool, key, value);
		hvctl_put_json(f, o);
		json_object_put(o);
	} else if (value[0]) {
		hvctl_put_str(ctx, f, value, strlen(value));
		fputc('\n', f);
	}
	return hvctl_out_close(ctx, f, 0);
}

/* "Pool/Key=value": a line `hvctl get` and `hvctl set` take back. */
void hvctl_record_print(const struct hvctl *ctx, FILE *f, int pool, const char *key,
			 size_t klen, const char *value, size_t vlen)
{
	struct json_object *o;

	if (ctx->json) {
		o = hvctl_record_json(pool, key, value);
		hvctl_put_json(f, o);
		json_object_put(o);
		return;
	}
	fprintf(f, "%s/", hv_kvp_pool_name(pool));
	hvctl_put_str(ctx, f, key, klen);
	fputc('=', f);
	hvctl_put_str(ctx, f, value, vlen);
	fputc('\n', f);
}
