/* SPDX-License-Identifier: ISC */
/*
 * The copy itself: what START, WRITE, COMPLETE and CANCEL do to the file
 * system, and the status the host gets. Statuses are Linux's (the
 * HRESULTs its daemons return, so the host's messages to the user stay
 * the same): HV_S_OK, HV_ERROR_ALREADY_EXISTS when the target exists
 * without OVER_WRITE, HV_ERROR_DISK_FULL when the file system is full,
 * HV_E_FAIL for everything else.
 *
 * Where this differs from Linux's hv_fcopy_daemon and
 * hv_fcopy_uio_daemon (hvfcopyd(8), DIFFERENCES FROM LINUX lists each):
 * the data goes to a temporary file in the destination directory, which
 * is synced and renamed over the target only at COMPLETE; CANCEL, a
 * failed WRITE and a rescind remove it; offsets and sizes must stay
 * inside the START's file size and never go back; paths must be
 * absolute without "." or ".." components; the final component is never
 * followed when it is a symbolic link, and directories on the way only
 * when the link belongs to root (outside --allow directories) or never
 * (inside them); directories are made only with CREATE_PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/ic.h>

#include "hvfcopyd.h"
#include "daemons/hvkvpd/log.h"

/* Temporary files are named so: a recovery never removes anything else. */
#define TMP_PREFIX ".hvfcopyd-"
/* The record of the open copy's temporary file, in the state directory. */
#define RECORD "partial"

/*
 * Writeback of what arrived is started every so many bytes, so that the
 * fsync at COMPLETE waits only for the tail instead of the whole file,
 * and a large copy does not pile up dirty pages.
 */
#define FLUSH_EVERY (8u << 20)

/* Linux's daemons create files 0744 (less the umask); directories 0755. */
#define LINUX_FILE_MODE 0744
#define DIR_MODE 0755

int64_t fc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A host-chosen path made safe for one log line: in double quotes, with a
 * quote, backslash, control byte or DEL as \", \\ or \xHH; UTF-8 text is
 * kept (the codec passes only valid UTF-8). Cut with "..." if it would
 * not fit.
 */
static char *quoted(const char *src, char *dst, size_t size)
{
	size_t n = 0;

	if (size < 8) {
		if (size)
			dst[0] = '\0';
		return dst;
	}
	dst[n++] = '"';
	for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
		char esc[5];
		size_t k;

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\'; esc[1] = (char)*s; k = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			k = 4;
		} else {
			esc[0] = (char)*s; k = 1;
		}
		/* Room for this, the closing quote, "..." and the NUL. */
		if (n + k + 5 > size) {
			memcpy(dst + n, "\"...", 4);
			dst[n + 4] = '\0';
			return dst;
		}
		memcpy(dst + n, esc, k);
		n += k;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return dst;
}


/* ---- the record that lets a restart remove what a killed run left ---- */

static void record_path(const struct hvfcopyd *d, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", d->state_dir, name);
}

static int record_write(const struct hvfcopyd *d, const char *dir, const char *tmp)
{
	char path[PATH_MAX], newp[PATH_MAX];
	FILE *f;
	int err = 0;

	if (!d->state_dir)
		return 0;
	record_path(d, RECORD, path, sizeof(path));
	record_path(d, RECORD ".new", newp, sizeof(newp));
	f = fopen(newp, "we");
	if (!f)
		return -errno;
	/*
	 * Not synced: a killed daemon leaves the page cache behind, and after
	 * a crash of the machine the temporary file may be gone too.
	 */
	fprintf(f, "%s\n%s\n", dir, tmp);
	if (fflush(f) != 0)
		err = -errno;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(newp, path) != 0)
		err = -errno;
	if (err)
		unlink(newp);
	return err;
}

static void record_clear(const struct hvfcopyd *d)
{
	char path[PATH_MAX];

	if (!d->state_dir)
		return;
	record_path(d, RECORD, path, sizeof(path));
	unlink(path);
}

void fc_copy_recover(struct hvfcopyd *d)
{
	char path[PATH_MAX], dir[PATH_MAX], tmp[128], q[PATH_MAX];
	FILE *f;
	int dfd;

	if (!d->state_dir)
		return;
	record_path(d, RECORD, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(dir, sizeof(dir), f) || !fgets(tmp, sizeof(tmp), f)) {
		fclose(f);
		record_clear(d);
		return;
	}
	fclose(f);
	dir[strcspn(dir, "\n")] = '\0';
	tmp[strcspn(tmp, "\n")] = '\0';
	/* Only a name this daemon makes, directly in that directory. */
	if (strncmp(tmp, TMP_PREFIX, strlen(TMP_PREFIX)) || strchr(tmp, '/')) {
		log_warn("%s: not a record of this daemon; removed", path);
		record_clear(d);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (unlinkat(dfd, tmp, 0) == 0)
			log_notice("removed %s/%s, the partial file of a copy an earlier run "
				   "did not finish", quoted(dir, q, sizeof(q)), tmp);
		close(dfd);
	}
	record_clear(d);
}

/* ---- ending a copy ---- */

static void copy_reset(struct fc_copy *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->dirfd = -1;
}

/* Remove the temporary file now (the state stays, for the host's next message). */
static void copy_discard(struct hvfcopyd *d)
{
	struct fc_copy *c = &d->copy;

	/* Not while the writer may still write to the descriptor. */
	fc_writer_wait(d->writer);
	c->pending = 0;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->dirfd >= 0 && c->tmp[0]) {
		unlinkat(c->dirfd, c->tmp, 0);
		c->tmp[0] = '\0';
	}
	record_clear(d);
}

/* The copy fails: its partial file goes at once, the host hears `status`. */
static uint32_t copy_fail(struct hvfcopyd *d, uint32_t status, const char *why, int err)
{
	char q[3 * PATH_MAX];

	log_warn("copy failed: %s: %s%s%s (status 0x%08" PRIx32 ")",
		 quoted(d->copy.path, q, sizeof(q)), why, err ? ": " : "",
		 err ? strerror(err) : "", status);
	copy_discard(d);
	d->copy.failed = true;
	return status;
}

void fc_copy_abort(struct hvfcopyd *d, const char *why)
{
	char q[3 * PATH_MAX];

	if (!d->copy.open)
		return;
	if (!d->copy.failed)
		log_warn("copy abandoned: %s: %s; partial file removed",
			 quoted(d->copy.path, q, sizeof(q)), why);
	copy_discard(d);
	copy_reset(&d->copy);
}

/* ---- START ---- */

/* Windows separators become '/'; the names are otherwise kept as decoded. */
static void slashes(char *s)
{
	for (; *s; s++)
		if (*s == '\\')
			*s = '/';
}

static bool dot_component(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* The allowed directory `path` lies in (lexically), or NULL. */
static const char *allowed_base(const struct hvfcopyd *d, const char *dir)
{
	for (unsigned int i = 0; i < d->nallow; i++) {
		const char *a = d->allow[i];
		size_t n = strlen(a);

		while (n > 1 && a[n - 1] == '/')
			n--;
		if (n == 1 && a[0] == '/')
			return a;
		if (!strncmp(dir, a, n) && (dir[n] == '\0' || dir[n] == '/'))
			return a;
	}
	return NULL;
}

/*
 * Open one directory component below dfd. A symbolic link is followed
 * only outside the allowed directories and only when root owns it: a
 * link a local user planted in a shared directory is not.
 */
static int open_component(int dfd, const char *comp, bool strict, bool create)
{
	struct stat st;
	int fd;

	fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT && create) {
		/* As Linux, directories made before a later failure stay. */
		if (mkdirat(dfd, comp, DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		return fd >= 0 ? fd : -errno;
	}
	if (errno != ELOOP && errno != ENOTDIR)
		return -errno;
	if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode))
		return -ENOTDIR;
	if (strict || st.st_uid != 0)
		return -ELOOP;
	fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* Walk `dir` (absolute, checked) from its allowed base; returns a dirfd or -errno. */
static int open_dir(const struct hvfcopyd *d, const char *dir, bool create, const char **what)
{
	const char *base = "/", *p;
	char comp[NAME_MAX + 1];
	bool strict = false;
	int fd, err;

	if (d->nallow) {
		base = allowed_base(d, dir);
		if (!base) {
			*what = "outside the directories hvfcopyd may write (--allow)";
			return -EACCES;
		}
		strict = true;
	}
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*what = "cannot open the allowed directory";
		return -errno;
	}
	p = dir + (strcmp(base, "/") ? strlen(base) : 0);
	for (;;) {
		size_t n;
		int next;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX) {
			close(fd);
			*what = "a directory name is too long";
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		next = open_component(fd, comp, strict, create);
		close(fd);
		if (next < 0) {
			err = next;
			*what = err == -ENOENT ? "a directory is missing (no CREATE_PATH)" :
				err == -ELOOP ? "a directory on the way is a symbolic link "
						"hvfcopyd does not follow" :
				"cannot open a directory on the way";
			return err;
		}
		fd = next;
	}
	return fd;
}

static int tmp_name(char *buf, size_t size)
{
	uint8_t r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	snprintf(buf, size, TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	return 0;
}

static uint32_t start(struct hvfcopyd *d, const struct hv_fcopy_request *req)
{
	struct fc_copy *c = &d->copy;
	char dir[HV_FCOPY_NAME_MAX], name[HV_FCOPY_NAME_MAX], q[3 * PATH_MAX], flagtxt[64];
	const char *what = NULL;
	struct stat st;
	size_t n;
	int err;

	if (c->open) {
		/* After a failed WRITE the host may start anew without a CANCEL. */
		bool healthy = !c->failed;

		fc_copy_abort(d, "the host started another copy");
		if (healthy) {
			log_warn("START while a copy was open: refused");
			return HV_IC_E_FAIL;
		}
	}
	copy_reset(c);
	memcpy(dir, req->path_name, sizeof(dir));
	memcpy(name, req->file_name, sizeof(name));
	slashes(dir);
	slashes(name);
	n = strlen(dir);
	snprintf(c->path, sizeof(c->path), "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
	c->flags = req->flags;
	c->file_size = req->file_size;

	if (dir[0] != '/') {
		what = "the destination is not an absolute path";
		goto refuse;
	}
	for (const char *p = dir; *p; ) {
		size_t k;

		while (*p == '/')
			p++;
		k = strcspn(p, "/");
		if (dot_component(p, k)) {
			what = "the destination has a \".\" or \"..\" component";
			goto refuse;
		}
		p += k;
	}
	if (!name[0] || strchr(name, '/') || dot_component(name, strlen(name))) {
		what = "the file name is empty, \".\", \"..\" or has a separator";
		goto refuse;
	}
	if (strlen(name) > NAME_MAX || strlen(c->path) >= PATH_MAX) {
		what = "the name is too long";
		goto refuse;
	}
	err = open_dir(d, dir, req->flags & HV_FCOPY_FLAG_CREATE_PATH, &what);
	if (err < 0)
		goto refuse_errno;
	c->dirfd = err;
	if (fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!(req->flags & HV_FCOPY_FLAG_OVERWRITE)) {
			log_notice("copy refused: %s exists (no OVER_WRITE)",
				   quoted(c->path, q, sizeof(q)));
			copy_reset(c);
			return HV_IC_ERROR_ALREADY_EXISTS;
		}
		if (!S_ISREG(st.st_mode)) {
			what = S_ISLNK(st.st_mode) ? "the target is a symbolic link" :
				"the target is not a regular file";
			goto refuse;
		}
		/* Linux truncates in place: the file keeps its owner and mode. */
		c->keep_owner = true;
		c->uid = st.st_uid;
		c->gid = st.st_gid;
		c->mode = st.st_mode & 07777;
	} else if (errno != ENOENT) {
		err = -errno;
		what = "cannot look at the target";
		goto refuse_errno;
	}
	if ((err = tmp_name(c->tmp, sizeof(c->tmp))) < 0) {
		what = "no random name";
		goto refuse_errno;
	}
	err = record_write(d, dir, c->tmp);
	if (err < 0)
		log_warn("cannot record the temporary file in %s: %s (a crash would leave it)",
			 d->state_dir, strerror(-err));
	c->fd = openat(c->dirfd, c->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       d->mode >= 0 ? (mode_t)d->mode : LINUX_FILE_MODE);
	if (c->fd < 0) {
		err = -errno;
		c->tmp[0] = '\0';
		record_clear(d);
		what = "cannot create the file";
		goto refuse_errno;
	}
	if ((c->keep_owner && (fchown(c->fd, c->uid, c->gid) < 0 ||
			       fchmod(c->fd, c->mode) < 0)) ||
	    (!c->keep_owner && d->mode >= 0 && fchmod(c->fd, (mode_t)d->mode) < 0)) {
		err = -errno;
		copy_discard(d);
		what = "cannot set the file's owner or mode";
		goto refuse_errno;
	}
	/* Room for the whole file now: a full disk is said before any data moves. */
	if (c->file_size && fallocate(c->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)c->file_size) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS) {
		err = errno;
		copy_discard(d);
		if (err == ENOSPC || err == EDQUOT) {
			log_warn("copy refused: %s: no room for %" PRIu64 " bytes",
				 quoted(c->path, q, sizeof(q)), c->file_size);
			copy_reset(c);
			return HV_IC_ERROR_DISK_FULL;
		}
		err = -err;
		what = "cannot reserve the file's space";
		goto refuse_errno;
	}
	c->open = true;
	c->start_us = fc_now_us();
	snprintf(flagtxt, sizeof(flagtxt), "%s%s%s",
		 req->flags & HV_FCOPY_FLAG_OVERWRITE ? "overwrite" : "",
		 (req->flags & 3) == 3 ? "," : "",
		 req->flags & HV_FCOPY_FLAG_CREATE_PATH ? "create-path" : "");
	log_info("copy started: %s, %" PRIu64 " bytes%s%s", quoted(c->path, q, sizeof(q)),
		 c->file_size, flagtxt[0] ? ", " : "", flagtxt);
	return HV_IC_S_OK;

refuse_errno:
	log_warn("copy refused: %s: %s: %s", quoted(c->path, q, sizeof(q)), what,
		 strerror(-err));
	copy_reset(c);
	return HV_IC_E_FAIL;
refuse:
	log_warn("copy refused: %s: %s", quoted(c->path, q, sizeof(q)), what);
	copy_reset(c);
	return HV_IC_E_FAIL;
}

/* ---- WRITE, COMPLETE, CANCEL ---- */

static uint32_t errno_status(int err)
{
	return err == ENOSPC || err == EDQUOT ? HV_IC_ERROR_DISK_FULL : HV_IC_E_FAIL;
}

/*
 * Hand what was gathered to the writer (and with `wait`, see it written);
 * the status for the host, which carries the error of an earlier write.
 */
static uint32_t gather_flush(struct hvfcopyd *d, bool wait)
{
	struct fc_copy *c = &d->copy;
	uint64_t sync_len = 0;
	int err = 0;

	if (c->pending) {
		if (c->pending_at + c->pending - c->flushed >= FLUSH_EVERY)
			sync_len = c->pending_at + c->pending - c->flushed;
		err = fc_writer_submit(d->writer, c->fd, c->pending, c->pending_at, c->flushed,
				       sync_len);
		c->flushed += sync_len;
		c->pending_at += c->pending;
		c->pending = 0;
	}
	if (!err && wait)
		err = fc_writer_wait(d->writer);
	return err ? copy_fail(d, errno_status(err), "writing", err) : HV_IC_S_OK;
}

/*
 * The host sends fragments in order and waits for each answer: gathering
 * them into one write per FC_GATHER_SIZE keeps the answer to most of them
 * down to a copy. The START reserved the file's blocks, so a full disk is
 * found there, not while gathering.
 */
static uint32_t write_data(struct hvfcopyd *d, const struct hv_fcopy_request *req)
{
	struct fc_copy *c = &d->copy;
	uint32_t status;

	if (!c->open) {
		log_warn("WRITE without a copy open: refused");
		return HV_IC_E_FAIL;
	}
	if (c->failed)
		return HV_IC_E_FAIL;
	if (req->offset < c->end)
		return copy_fail(d, HV_IC_E_FAIL, "a WRITE went back to an earlier offset", 0);
	if (req->offset > c->file_size || req->size > c->file_size - req->offset)
		return copy_fail(d, HV_IC_E_FAIL, "a WRITE went past the file size the START gave", 0);
	if (c->pending && (req->offset != c->pending_at + c->pending ||
			   c->pending + req->size > FC_GATHER_SIZE)) {
		status = gather_flush(d, false);
		if (status != HV_IC_S_OK)
			return status;
	}
	if (!c->pending)
		c->pending_at = req->offset;
	memcpy(fc_writer_buffer(d->writer) + c->pending, req->data, req->size);
	c->pending += req->size;
	c->end = req->offset + req->size;
	c->fragments++;
	return c->pending == FC_GATHER_SIZE ? gather_flush(d, false) : HV_IC_S_OK;
}

/* Put the finished file in place; without OVER_WRITE never over one that appeared. */
static int publish(struct fc_copy *c)
{
	if (c->flags & HV_FCOPY_FLAG_OVERWRITE)
		return renameat(c->dirfd, c->tmp, c->dirfd, c->name) == 0 ? 0 : -errno;
	if (renameat2(c->dirfd, c->tmp, c->dirfd, c->name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* File systems without RENAME_NOREPLACE: link(2) is exclusive too. */
	if (linkat(c->dirfd, c->tmp, c->dirfd, c->name, 0) < 0)
		return -errno;
	unlinkat(c->dirfd, c->tmp, 0);
	return 0;
}

static uint32_t complete(struct hvfcopyd *d)
{
	struct fc_copy *c = &d->copy;
	char q[3 * PATH_MAX];
	uint32_t status;
	int64_t t0;
	double secs;
	int err;

	if (!c->open) {
		log_warn("COMPLETE without a copy open: refused");
		return HV_IC_E_FAIL;
	}
	if (c->failed) {
		copy_reset(c);
		return HV_IC_E_FAIL;
	}
	status = gather_flush(d, true);
	if (status != HV_IC_S_OK) {
		copy_reset(c);
		return status;
	}
	if (c->end != c->file_size) {
		copy_fail(d, HV_IC_E_FAIL, "COMPLETE before all the bytes the START announced", 0);
		copy_reset(c);
		return HV_IC_E_FAIL;
	}
	t0 = fc_now_us();
	if (fsync(c->fd) < 0) {
		err = errno;
		copy_fail(d, errno_status(err), "syncing", err);
		copy_reset(c);
		return errno_status(err);
	}
	log_debug("fsync of %" PRIu64 " bytes: %.3f s", c->file_size,
		  (double)(fc_now_us() - t0) / 1e6);
	close(c->fd);
	c->fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", strrchr(c->path, '/') + 1);
	err = publish(c);
	if (err == -EEXIST) {
		log_notice("copy refused: %s appeared during the copy (no OVER_WRITE)",
			   quoted(c->path, q, sizeof(q)));
		copy_discard(d);
		copy_reset(c);
		return HV_IC_ERROR_ALREADY_EXISTS;
	}
	if (err < 0) {
		copy_fail(d, HV_IC_E_FAIL, "renaming into place", -err);
		copy_reset(c);
		return HV_IC_E_FAIL;
	}
	c->tmp[0] = '\0';
	record_clear(d);
	/* The rename is durable only once the directory is. */
	if (fsync(c->dirfd) < 0)
		log_warn("syncing the directory of %s: %s", quoted(c->path, q, sizeof(q)),
			 strerror(errno));
	secs = (double)(fc_now_us() - c->start_us) / 1e6;
	log_info("copy finished: %s, %" PRIu64 " bytes in %" PRIu64 " fragment%s, %.3f s",
		 quoted(c->path, q, sizeof(q)), c->file_size, c->fragments,
		 c->fragments == 1 ? "" : "s", secs);
	copy_reset(c);
	return HV_IC_S_OK;
}

static uint32_t cancel(struct hvfcopyd *d)
{
	char q[3 * PATH_MAX];

	if (d->copy.open) {
		if (!d->copy.failed)
			log_info("copy cancelled by the host: %s; partial file removed",
				 quoted(d->copy.path, q, sizeof(q)));
		copy_discard(d);
		copy_reset(&d->copy);
	}
	/* As Linux's hv_fcopy_daemon: a CANCEL with nothing open is fine. */
	return HV_IC_S_OK;
}

uint32_t fc_copy_handle(struct hvfcopyd *d, const struct hv_fcopy_request *req)
{
	switch (req->operation) {
	case HV_FCOPY_OP_START:
		return start(d, req);
	case HV_FCOPY_OP_WRITE:
		return write_data(d, req);
	case HV_FCOPY_OP_COMPLETE:
		return complete(d);
	case HV_FCOPY_OP_CANCEL:
		return cancel(d);
	}
	log_warn("unknown fcopy operation %" PRIu32 ": refused", req->operation);
	return HV_IC_E_FAIL;
}

uint32_t fc_copy_refuse(struct hvfcopyd *d, const struct hv_fcopy_request *req, int err)
{
	const char *why;

	switch (err) {
	case -EBADMSG: why = "shorter than its structure"; break;
	case -EOPNOTSUPP: why = "an unknown operation"; break;
	case -ENAMETOOLONG: why = "a name without its terminator"; break;
	case -EILSEQ: why = "a name that is not valid UTF-16"; break;
	case -EMSGSIZE: why = "a data size beyond the fragment or the message"; break;
	default: why = strerror(-err); break;
	}
	log_warn("fcopy message (operation %" PRIu32 ") refused: %s", req->operation, why);
	/* A broken START or WRITE leaves the open copy without a trustworthy next step. */
	if (d->copy.open && (req->operation == HV_FCOPY_OP_START ||
			     req->operation == HV_FCOPY_OP_WRITE))
		fc_copy_abort(d, "the host sent a malformed message");
	return HV_IC_E_FAIL;
}
