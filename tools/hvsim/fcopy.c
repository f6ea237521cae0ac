/* SPDX-License-Identifier: ISC */
/*
 * The host's side of the file copy service (Copy-VMFile), framed as
 * openvmm's IC host frames its requests and laid out as Linux's
 * <linux/hyperv.h> and Mile.HyperV's IC_GUESTIFACE_* structures are:
 * START with the destination
 * split into a directory (trailing '/' kept) and a file name, one WRITE
 * of the whole 6196-byte structure per 6144-byte fragment at ascending
 * offsets (the last one partial), then COMPLETE; every request waits for
 * the guest's answer, and a copy stops at the first answer that is not
 * HV_IC_S_OK, as the host reports that status to the user. Messages are
 * built by the library's codec (hvuio/fcopy_msg.h); the single-message
 * and hostile actions build what a careless or broken host would send.
 * The grammar is in hvsim(8), FCOPY ACTIONS.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <hvuio/fcopy_msg.h>

#include "hvsim.h"


enum fc_kind {
	FC_COPY,
	FC_START,
	FC_WRITE,
	FC_COMPLETE,
	FC_CANCEL,
	FC_OP,
	FC_AWAIT_CLOSE,     /* wait until the guest closes the device */
	FC_H_WRITE,         /* size field and bytes sent as given */
	FC_H_UNTERMINATED,  /* a name field without its NUL */
	FC_H_SURROGATE,     /* an unpaired surrogate in the file name */
	FC_H_SHORT,         /* a message shorter than its structure */
};

static const char *const kind_names[] = {
	"copy", "start", "write", "complete", "cancel", "op", "await-close",
	"fcopy-write", "fcopy-unterminated", "fcopy-surrogate", "fcopy-short",
};

static int parse_num(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end || *v > max ? -EINVAL : 0;
}

/* overwrite, create-path, and for copy cancel-after=N. */
static int parse_flags(char **w, int n, struct sim_action *a, bool copy, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(w[i], "overwrite")) {
			a->flags |= HV_FCOPY_FLAG_OVERWRITE;
		} else if (!strcmp(w[i], "create-path")) {
			a->flags |= HV_FCOPY_FLAG_CREATE_PATH;
		} else if (copy && !strncmp(w[i], "cancel-after=", 13)) {
			if (parse_num(w[i] + 13, UINT32_MAX, &a->n3) < 0 || !a->n3) {
				snprintf(err, errlen, "cancel-after=N needs N from 1");
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "unknown copy flag '%s' (overwrite, create-path%s)",
				 w[i], copy ? ", cancel-after=N" : "");
			return -EINVAL;
		}
	}
	return 0;
}

static int take(struct sim_action *a, char **w, int n)
{
	for (int i = 0; i < n; i++) {
		a->args[i] = strdup(w[i]);
		if (!a->args[i])
			return -ENOMEM;
		a->nargs = (unsigned int)i + 1;
	}
	return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

int sim_fcopy_parse(char **w, int n, struct sim_action *a, char *err, size_t errlen)
{
	const char *k;

	a->op = OP_FCOPY;
	if (!strcmp(w[0], "copy")) {
		if (n < 3)
			FAIL("usage: copy SRC DEST [overwrite] [create-path] [cancel-after=N]");
		a->variant = FC_COPY;
		if (parse_flags(w + 3, n - 3, a, true, err, errlen) < 0)
			return -EINVAL;
		return take(a, w + 1, 2);
	}
	if (!strcmp(w[0], "hostile")) {
		a->op = OP_HOSTILE;
		a->hostile = HOSTILE_FCOPY;
		k = w[1];
		if (!strcmp(k, "fcopy-write")) {
			a->variant = FC_H_WRITE;
			if (n != 5 || parse_num(w[2], UINT64_MAX, &a->n) < 0 ||
			    parse_num(w[3], UINT32_MAX, &a->n2) < 0 ||
			    parse_num(w[4], HV_FCOPY_DATA_FRAGMENT, &a->n3) < 0)
				FAIL("usage: hostile fcopy-write OFFSET SIZE SENT (SENT up to %d)",
				     HV_FCOPY_DATA_FRAGMENT);
		} else if (!strcmp(k, "fcopy-unterminated")) {
			a->variant = FC_H_UNTERMINATED;
			if (n != 3 || (strcmp(w[2], "file") && strcmp(w[2], "path")))
				FAIL("usage: hostile fcopy-unterminated file|path");
			a->n = !strcmp(w[2], "path");
		} else if (!strcmp(k, "fcopy-surrogate")) {
			a->variant = FC_H_SURROGATE;
			if (n != 3)
				FAIL("usage: hostile fcopy-surrogate DIR");
			return take(a, w + 2, 1);
		} else if (!strcmp(k, "fcopy-short")) {
			a->variant = FC_H_SHORT;
			if (n != 4 || parse_num(w[2], UINT32_MAX, &a->n) < 0 ||
			    parse_num(w[3], sizeof(struct hv_fcopy_wire_write) - 1, &a->n2) < 0)
				FAIL("usage: hostile fcopy-short OPERATION BYTES");
		} else {
			FAIL("unknown hostile fcopy action '%s'", k);
		}
		return 0;
	}
	/* fcopy MESSAGE ... */
	if (n < 2)
		FAIL("usage: fcopy start|write|complete|cancel|op ...");
	k = w[1];
	if (!strcmp(k, "start")) {
		a->variant = FC_START;
		if (n < 4 || parse_num(w[3], UINT64_MAX, &a->n) < 0)
			FAIL("usage: fcopy start DEST SIZE [overwrite] [create-path]");
		if (parse_flags(w + 4, n - 4, a, false, err, errlen) < 0)
			return -EINVAL;
		return take(a, w + 2, 1);
	}
	if (!strcmp(k, "write")) {
		a->variant = FC_WRITE;
		if (n != 4 || parse_num(w[2], UINT64_MAX, &a->n) < 0 ||
		    parse_num(w[3], HV_FCOPY_DATA_FRAGMENT, &a->n2) < 0)
			FAIL("usage: fcopy write OFFSET LENGTH (LENGTH up to %d)",
			     HV_FCOPY_DATA_FRAGMENT);
		return 0;
	}
	if (!strcmp(k, "complete") || !strcmp(k, "cancel")) {
		a->variant = !strcmp(k, "complete") ? FC_COMPLETE : FC_CANCEL;
		if (n != 2)
			FAIL("usage: fcopy %s", k);
		return 0;
	}
	if (!strcmp(k, "await-close")) {
		a->variant = FC_AWAIT_CLOSE;
		if (n != 2)
			FAIL("usage: fcopy await-close");
		return 0;
	}
	if (!strcmp(k, "op")) {
		a->variant = FC_OP;
		if (n != 3 || parse_num(w[2], UINT32_MAX, &a->n) < 0)
			FAIL("usage: fcopy op NUMBER");
		return 0;
	}
	FAIL("unknown fcopy message '%s'", k);
}

/*
 * "/d/e/x" -> "/d/e/" and "x"; "/d/e/" -> "/d/e/" and the source's name.
 * A Windows separator splits as well: the host may send either.
 */
static int split_dest(const char *dest, const char *src, char **dir, char **name)
{
	const char *slash = strrchr(dest, '/'), *bs = strrchr(dest, '\\');
	const char *base;

	if (bs && (!slash || bs > slash))
		slash = bs;
	if (!slash) {
		*dir = strdup("");
		*name = strdup(dest);
	} else {
		*dir = strndup(dest, (size_t)(slash - dest + 1));
		base = slash[1] ? slash + 1 : (strrchr(src, '/') ? strrchr(src, '/') + 1 : src);
		*name = strdup(base);
	}
	return *dir && *name ? 0 : -ENOMEM;
}

/* Data of a single-message WRITE: a pattern the tests can check, byte = offset mod 251. */
static void pattern(uint8_t *p, uint64_t offset, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((offset + i) % 251);
}

struct fc_msg {
	struct hv_fcopy_wire_write w;  /* the largest; START and headers fit too */
	size_t len;
};

static int one(struct sim *s, const struct sim_action *a, const struct fc_msg *m,
	       const char *what, uint32_t *status)
{
	struct hv_ic_hdr ic;
	size_t rlen = 0;
	int err = sim_exchange(s, a->line, &m->w, m->len, what, &ic, &rlen);

	if (err)
		return err;
	*status = ic.status;
	/* What every Linux version answers: TRANSACTION|RESPONSE, our id (0) back. */
	if (ic.icflags != (HV_IC_FLAG_TRANSACTION | HV_IC_FLAG_RESPONSE) ||
	    ic.ictransaction_id != 0) {
		sim_err("line %u: the %s answer has flags 0x%x and IC transaction id %u, not 0x5 and 0",
			a->line, what, ic.icflags, ic.ictransaction_id);
		return -EPROTO;
	}
	/*
	 * Every Linux version answers with the whole request, rewritten, as
	 * it received it: padded to 8 bytes by the ring's packet length.
	 */
	if (rlen != ((HV_IC_DATA_OFFSET + m->len + 7) & ~(size_t)7)) {
		sim_err("line %u: the guest answered the %s request of %zu bytes with %zu",
			a->line, what, HV_IC_DATA_OFFSET + m->len, rlen);
		return -EPROTO;
	}
	return 0;
}

static void print_one(const struct sim *s, const char *what, uint32_t status)
{
	char st[64];

	sim_status_text(status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("fcopy"));
		json_object_object_add(o, "op", json_object_new_string(what));
		json_object_object_add(o, "status", json_object_new_int64(status));
		sim_json_emit(o);
	} else {
		printf("fcopy %s: status %s\n", what, st);
	}
}

static int build_start(const struct sim_action *a, const char *dest, const char *src,
		       uint64_t size, struct fc_msg *m)
{
	char *dir = NULL, *name = NULL;
	int err = split_dest(dest, src, &dir, &name);

	if (!err)
		err = hv_fcopy_msg_start_build(&m->w, sizeof(m->w), HV_FCOPY_LAYOUT_CHANNEL,
					       name, dir, a->flags, size, &m->len);
	if (err)
		sim_err("line %u: cannot encode the START for '%s': %s", a->line, dest,
			strerror(-err));
	free(dir);
	free(name);
	return err ? -EINVAL : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_copy(const struct sim *s, const char *stage, uint32_t status,
		       uint64_t bytes, uint64_t frags, double secs)
{
	char st[64];

	sim_status_text(status, st, sizeof(st));
	if (s->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "reply", json_object_new_string("copy"));
		json_object_object_add(o, "stage", json_object_new_string(stage));
		json_object_object_add(o, "status", json_object_new_int64(status));
		json_object_object_add(o, "bytes", json_object_new_uint64(bytes));
		json_object_object_add(o, "fragments", json_object_new_uint64(frags));
		json_object_object_add(o, "seconds", json_object_new_double(secs));
		sim_json_emit(o);
	} else {
		printf("copy: status %s stage %s bytes %" PRIu64 " fragments %" PRIu64
		       " seconds %.6f\n", st, stage, bytes, frags, secs);
	}
}

static int run_copy(struct sim *s, const struct sim_action *a)
{
	const char *src = a->args[0], *dest = a->args[1];
	struct fc_msg *m = malloc(sizeof(*m));
	uint8_t *chunk = malloc(HV_FCOPY_DATA_FRAGMENT);
	uint64_t off = 0, frags = 0;
	uint32_t status = HV_IC_S_OK;
	const char *stage = "start";
	struct stat st;
	double t0;
	int fd = -1, err = -ENOMEM;

	if (!m || !chunk)
		goto out;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		sim_err("line %u: copy: '%s' is not a readable regular file", a->line, src);
		err = -EINVAL;
		goto out;
	}
	if ((err = build_start(a, dest, src, (uint64_t)st.st_size, m)))
		goto out;
	t0 = now_s();
	if ((err = one(s, a, m, "START", &status)) || status != HV_IC_S_OK)
		goto done;
	stage = "write";
	for (;;) {
		ssize_t n = read(fd, chunk, HV_FCOPY_DATA_FRAGMENT);

		if (n < 0) {
			sim_err("line %u: copy: reading '%s': %s", a->line, src, strerror(errno));
			err = -EIO;
			goto out;
		}
		if (n == 0)
			break;
		if (a->n3 && frags == a->n3) {
			stage = "cancel";
			hv_fcopy_msg_hdr_build(&m->w, sizeof(m->w), HV_FCOPY_OP_CANCEL, &m->len);
			err = one(s, a, m, "CANCEL", &status);
			goto done;
		}
		hv_fcopy_msg_write_build(&m->w, sizeof(m->w), off, chunk, (uint32_t)n, &m->len);
		if ((err = one(s, a, m, "WRITE", &status)) || status != HV_IC_S_OK)
			goto done;
		off += (uint64_t)n;
		frags++;
	}
	stage = "complete";
	hv_fcopy_msg_hdr_build(&m->w, sizeof(m->w), HV_FCOPY_OP_COMPLETE, &m->len);
	err = one(s, a, m, "COMPLETE", &status);
done:
	if (!err)
		print_copy(s, stage, status, off, frags, now_s() - t0);
out:
	if (fd >= 0)
		close(fd);
	free(chunk);
	free(m);
	return err;
}

int sim_fcopy_run(struct sim *s, const struct sim_action *a)
{
	struct fc_msg *m;
	uint32_t status = 0;
	const char *what = kind_names[a->variant];
	int err = 0;

	if (s->type->ic_type != HV_IC_MSGTYPE_FCOPY) {
		sim_err("line %u: %s needs --device fcopy", a->line, what);
		return -EINVAL;
	}
	if (a->variant == FC_COPY)
		return run_copy(s, a);
	if (a->variant == FC_AWAIT_CLOSE) {
		/* Counted, not looked at: a guest may be back before we look. */
		uint64_t closes = s->dev.guest_closes;
		int waited = 0;

		while (s->dev.guest_closes == closes && waited < s->dev.timeout_ms) {
			err = sim_dev_idle(&s->dev, 10);
			if (err < 0) {
				sim_err("line %u: %s", a->line, strerror(-err));
				return -EIO;
			}
			waited += 10;
		}
		if (s->dev.guest_closes == closes) {
			sim_err("line %u: the guest kept the device open for %d ms", a->line,
				s->dev.timeout_ms);
			return -ETIMEDOUT;
		}
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	switch (a->variant) {
	case FC_START:
		err = build_start(a, a->args[0], "", a->n, m);
		break;
	case FC_WRITE:
		pattern(m->w.data, a->n, (size_t)a->n2);
		err = hv_fcopy_msg_write_build(&m->w, sizeof(m->w), a->n, m->w.data,
					       (uint32_t)a->n2, &m->len) ? -EINVAL : 0;
		break;
	case FC_COMPLETE:
	case FC_CANCEL:
		hv_fcopy_msg_hdr_build(&m->w, sizeof(m->w), a->variant == FC_COMPLETE ?
				       HV_FCOPY_OP_COMPLETE : HV_FCOPY_OP_CANCEL, &m->len);
		break;
	case FC_OP:
		hv_fcopy_msg_hdr_build(&m->w, sizeof(m->w), (uint32_t)a->n, &m->len);
		break;
	case FC_H_WRITE: {
		uint32_t size = (uint32_t)a->n2;

		pattern(m->w.data, a->n, (size_t)a->n3);
		hv_fcopy_msg_write_build(&m->w, sizeof(m->w), a->n, m->w.data, (uint32_t)a->n3,
					 &m->len);
		memcpy(&m->w.size, &size, sizeof(size));
		m->len = HV_FCOPY_WRITE_HDR_SIZE + (size_t)a->n3;
		break;
	}
	case FC_H_UNTERMINATED:
	case FC_H_SURROGATE: {
		struct hv_fcopy_wire_start *st = (struct hv_fcopy_wire_start *)&m->w;

		err = hv_fcopy_msg_start_build(st, sizeof(m->w), HV_FCOPY_LAYOUT_CHANNEL,
					       "x", a->variant == FC_H_SURROGATE ?
					       a->args[0] : "/tmp/", 0, 1, &m->len) ? -EINVAL : 0;
		if (a->variant == FC_H_SURROGATE) {
			/* "x" then a low surrogate with no high one before it. */
			uint8_t *f = (uint8_t *)st + offsetof(struct hv_fcopy_wire_start, file_name);

			f[2] = 0x00;
			f[3] = 0xdc;
		} else {
			uint8_t *f = (uint8_t *)st + (a->n ?
				offsetof(struct hv_fcopy_wire_start, path_name) :
				offsetof(struct hv_fcopy_wire_start, file_name));

			for (int i = 0; i < HV_FCOPY_NAME_UNITS; i++) {
				f[2 * i] = 'a';
				f[2 * i + 1] = 0;
			}
		}
		break;
	}
	case FC_H_SHORT: {
		uint32_t op = (uint32_t)a->n;

		memcpy(&m->w.hdr.operation, &op, sizeof(op));
		m->len = (size_t)a->n2;
		break;
	}
	}
	if (!err)
		err = one(s, a, m, what, &status);
	if (!err)
		print_one(s, what, status);
	free(m);
	return err;
}
