/* SPDX-License-Identifier: ISC */
/*
 * What hvkvpd may do once it has started: no capability, no new
 * privileges, and a seccomp allow-list of the system calls its loops make.
 *
 * Nothing after start-up needs a capability: the state directory, the
 * pool files, the socket's directory and the device nodes (/dev/uioN,
 * /dev/vmbus/hv_kvp) all belong to root, and root reaches its own files
 * through the ordinary permission bits; sysfs is read only. Reopening the
 * device after a rescind is therefore no different from the first open,
 * which is why the device is opened inside the sandbox.
 *
 * The SET_IP_INFO program is the exception: it configures interfaces,
 * which needs CAP_NET_ADMIN (CAP_NET_RAW and CAP_NET_BIND_SERVICE for a
 * DHCP client), and it is a program of the administrator's that may make
 * any system call; a seccomp filter survives fork and execve. So it runs
 * in the privileged helper (privsep.c), forked before the sandbox closes,
 * which keeps those three capabilities (none without a program) and no
 * filter, and takes only checked requests; the daemon itself, main and
 * client thread alike, keeps no capability and its filter. hvkvpd(8) says
 * the same to administrators.
 */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/sockios.h>

#include "hvkvpd.h"
#include "log.h"

/* gcc says __SANITIZE_*__, clang __has_feature(): one name for both. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

#define CAP_BIT(c) (UINT64_C(1) << (c))

/* What the hook keeps: Linux's hv_set_ifconfig needs these through ip(8) and dhclient. */
#define HOOK_CAPS (CAP_BIT(CAP_NET_ADMIN) | CAP_BIT(CAP_NET_RAW) | CAP_BIT(CAP_NET_BIND_SERVICE))

/* Argument `arg` equal to `value` (libseccomp's SCMP_A* with every field set). */
static struct scmp_arg_cmp arg_eq(unsigned int arg, scmp_datum_t value)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = SCMP_CMP_EQ, .datum_a = value,
				      .datum_b = 0 };
}

/*
 * The loops' calls, found with strace over the daemon's test suites and
 * read from the code paths they do not reach (the uio device's mmap and
 * interrupt writes, fdatasync for --sync always, syslog). Names this
 * architecture does not have are skipped.
 */
static const char *const allowed[] = {
	/* Files and directories: pool files, journals, sysfs, the device. */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close",
	"open", "openat", "stat", "fstat", "lstat", "newfstatat", "statx", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64",
	"mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"fchmod", "ftruncate", "fsync",
	"fdatasync", "flock", "fcntl", "dup", "dup3", "uname", "umask",
	/* Memory: the rings, malloc, liburcu. */
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "membarrier",
	/* Threads and time. */
	"futex", "set_robust_list", "rseq", "sched_yield", "gettid", "getpid",
	"tgkill", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction",
	"wait4",  /* the privileged helper, reaped at exit */
	"restart_syscall", "clock_gettime", "clock_getres", "clock_nanosleep",
	"nanosleep", "gettimeofday", "getrandom", "getuid", "geteuid", "getgid",
	"getegid", "prlimit64", "getrlimit", "setrlimit",
	"getrusage",  /* the loop's preemptions (loop.c, lingering) */
	/* Waiting. */
	"poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
	"epoll_create1", "eventfd2", "inotify_init1", "inotify_add_watch",
	"inotify_rm_watch",
	/* Sockets, their domain checked below: clients, netlink, syslog, the sim. */
	"bind", "connect", "getsockname", "getsockopt", "setsockopt", "sendmsg",
	"recvmsg", "sendto", "recvfrom", "accept4", "accept", "listen", "shutdown",
#ifdef SANDBOX_SANITIZED
	/*
	 * Sanitizer builds only: LeakSanitizer stops the world at exit from
	 * a ptrace-ing clone, and the runtimes read their own limits.
	 */
	"clone", "ptrace", "waitid", "prctl", "sched_getaffinity",
	"sigaltstack", "getppid", "getdents", "kill", "tkill", "process_vm_readv",
#endif
};

/* Read-only requests: isatty() from stdio, interface names from libnl's callers. */
static const unsigned long ioctls_allowed[] = {
	TCGETS, FIONREAD, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFHWADDR, SIOCGIFFLAGS,
};

static int rule_add(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/*
 * The filter of the calling thread (and the threads it starts later).
 * EPERM, not a kill, for anything else, as the systemd unit's
 * SystemCallErrorNumber: every call site handles a failure, and a path
 * the list missed fails one request instead of taking the host's
 * service down.
 */
static int filter_load(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int err = -ENOMEM;
	size_t i;

	if (!ctx)
		return err;
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		err = rule_add(ctx, allowed[i]);
		if (err < 0)
			goto out;
	}
	for (i = 0; i < sizeof(ioctls_allowed) / sizeof(ioctls_allowed[0]); i++) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       arg_eq(1, ioctls_allowed[i]));
		if (err < 0)
			goto out;
	}
	/* UNIX and netlink sockets only, as RestrictAddressFamilies= in the unit. */
	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			       arg_eq(0, AF_UNIX));
	if (err == 0)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       arg_eq(0, AF_NETLINK));
	if (err < 0)
		goto out;
#ifndef SANDBOX_SANITIZED
	/*
	 * Threads, never processes: clone only with CLONE_THREAD. clone3
	 * passes its flags in memory a filter cannot read; ENOSYS makes
	 * glibc fall back to clone.
	 */
	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (err < 0)
		goto out;
#endif
	err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (err < 0 && err != -EDOM)
		goto out;
	err = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return err;
}

/* Permitted `keep`, effective `eff` (a subset), inheritable empty. Lowering needs no capability. */
static int caps_set(uint64_t keep, uint64_t eff)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	d[0].permitted = (uint32_t)keep;
	d[1].permitted = (uint32_t)(keep >> 32);
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static uint64_t caps_permitted(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (uint64_t)d[1].permitted << 32 | d[0].permitted;
}

/* Drop what is not in `keep` from the bounding set; 0 or -errno. */
static int bounding_drop(uint64_t keep)
{
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;  /* past the kernel's last capability */
		if (r == 0 || (keep & CAP_BIT(c)))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			/*
			 * Without CAP_SETPCAP (started by a user other than
			 * root, or by systemd with an empty bounding set
			 * already) the rest cannot be used anyway: with
			 * no_new_privs no execve grants them.
			 */
			if (errno == EPERM && geteuid() != 0)
				return 0;
			return -errno;
		}
	}
	return 0;
}

/* Bounding set, permitted `keep`, effective `eff`, no ambient, no_new_privs. */
static int caps_limit(uint64_t keep, uint64_t eff, const char *who)
{
	int err;

	/* Started without some of them (not as root): keep only what we have. */
	keep &= caps_permitted();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err = -errno;
		log_err("%s: no_new_privs: %s", who, strerror(errno));
		return err;
	}
	/* Before dropping CAP_SETPCAP, which the bounding set needs. */
	err = bounding_drop(keep);
	if (err == 0) {
		/* Not on kernels before 4.3, which have no ambient set. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			err = -errno;
	}
	if (err == 0)
		err = caps_set(keep, keep & eff);
	if (err < 0)
		log_err("%s: dropping capabilities: %s", who, strerror(-err));
	return err;
}

int hvkvpd_sandbox_enter(const struct hvkvpd *d)
{
	uint64_t keep = 0;
	int err;

	/*
	 * The sim backend (tests only) reaches hvsim's rings through
	 * /proc/PID/fd of another process, which the kernel allows a caller
	 * whose capabilities do not cover the target's only with
	 * CAP_SYS_PTRACE (Linux's commoncap.c, cap_ptrace_access_check).
	 * With --backend auto and a sim root, a hand-over from the kernel
	 * backend may open the sim device too; the real root never needs it.
	 */
	if (d->chosen == HVKVPD_BACKEND_SIM ||
	    (d->backend == HVKVPD_BACKEND_AUTO && strcmp(d->root, "/") != 0))
		keep |= CAP_BIT(CAP_SYS_PTRACE);
	err = caps_limit(keep, keep, "sandbox");
	if (err < 0)
		return err;
	err = filter_load();
	if (err < 0)
		log_err("sandbox: seccomp filter: %s", strerror(-err));
	return err;
}

int hvkvpd_sandbox_helper(bool program)
{
	/* Nothing effective: the program gets them by its execve, as root. */
	return caps_limit(program ? HOOK_CAPS : 0, 0, "privileged helper");
}
