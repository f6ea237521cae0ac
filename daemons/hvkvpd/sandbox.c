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
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
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

/*
 * The filter is built here, classic BPF for seccomp(2), rather than with
 * libseccomp: the daemon runs as root facing an untrusted host and loads
 * no library it does not need, and libseccomp's 128 KB stayed resident
 * for a program of a few hundred instructions built once. Hyper-V guests
 * are x86_64 or arm64; riscv64 is as simple (no socketcall, no second
 * ABI under the same AUDIT_ARCH). Elsewhere there is no filter and the
 * daemon says so.
 */
#if defined(__x86_64__) && defined(__LP64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define SANDBOX_ARCH AUDIT_ARCH_RISCV64
#endif

/*
 * Calls an architecture does not have (arm64 and riscv64 have no open,
 * stat, poll ...; riscv64 no renameat, getrlimit) or older headers do not
 * name: -1, skipped.
 */
#ifndef __NR_open
#define __NR_open -1
#endif
#ifndef __NR_stat
#define __NR_stat -1
#endif
#ifndef __NR_lstat
#define __NR_lstat -1
#endif
#ifndef __NR_access
#define __NR_access -1
#endif
#ifndef __NR_readlink
#define __NR_readlink -1
#endif
#ifndef __NR_mkdir
#define __NR_mkdir -1
#endif
#ifndef __NR_unlink
#define __NR_unlink -1
#endif
#ifndef __NR_rename
#define __NR_rename -1
#endif
#ifndef __NR_renameat
#define __NR_renameat -1
#endif
#ifndef __NR_poll
#define __NR_poll -1
#endif
#ifndef __NR_epoll_wait
#define __NR_epoll_wait -1
#endif
#ifndef __NR_getdents
#define __NR_getdents -1
#endif
#ifndef __NR_faccessat2
#define __NR_faccessat2 -1
#endif
#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 -1
#endif
#ifndef __NR_rseq
#define __NR_rseq -1
#endif
#ifndef __NR_statx
#define __NR_statx -1
#endif
#ifndef __NR_membarrier
#define __NR_membarrier -1
#endif
#ifndef __NR_getrlimit
#define __NR_getrlimit -1
#endif
#ifndef __NR_newfstatat
#define __NR_newfstatat -1
#endif
#ifndef __NR_fstat
#define __NR_fstat -1
#endif
#ifndef __NR_clone3
#define __NR_clone3 -1
#endif
#ifndef __NR_setrlimit
#define __NR_setrlimit -1
#endif

/*
 * The loops' calls, found with strace over the daemon's test suites and
 * read from the code paths they do not reach (the uio device's mmap and
 * interrupt writes, fdatasync for --sync always, syslog).
 */
static const int allowed[] = {
	/* Files and directories: pool files, journals, sysfs, the device. */
	__NR_read, __NR_write, __NR_readv, __NR_writev, __NR_pread64, __NR_pwrite64, __NR_lseek, __NR_close,
	__NR_open, __NR_openat, __NR_stat, __NR_fstat, __NR_lstat, __NR_newfstatat, __NR_statx, __NR_fstatfs,
	__NR_access, __NR_faccessat, __NR_faccessat2, __NR_readlink, __NR_readlinkat, __NR_getdents64,
	__NR_mkdir, __NR_mkdirat, __NR_unlink, __NR_unlinkat, __NR_rename, __NR_renameat, __NR_renameat2,
	__NR_fchmod, __NR_ftruncate, __NR_fsync,
	__NR_fdatasync, __NR_flock, __NR_fcntl, __NR_dup, __NR_dup3, __NR_uname, __NR_umask,
	/* Memory: the rings, malloc, liburcu. */
	__NR_mmap, __NR_munmap, __NR_mremap, __NR_mprotect, __NR_madvise, __NR_brk, __NR_membarrier,
	/* Threads and time. */
	__NR_futex, __NR_set_robust_list, __NR_rseq, __NR_sched_yield, __NR_gettid, __NR_getpid,
	__NR_tgkill, __NR_exit, __NR_exit_group, __NR_rt_sigreturn, __NR_rt_sigprocmask, __NR_rt_sigaction,
	__NR_wait4,  /* the privileged helper, reaped at exit */
	__NR_restart_syscall, __NR_clock_gettime, __NR_clock_getres, __NR_clock_nanosleep,
	__NR_nanosleep, __NR_gettimeofday, __NR_getrandom, __NR_getuid, __NR_geteuid, __NR_getgid,
	__NR_getegid, __NR_prlimit64, __NR_getrlimit, __NR_setrlimit,
	__NR_getrusage,  /* the loop's preemptions (loop.c, lingering) */
	/* Waiting. */
	__NR_poll, __NR_ppoll, __NR_epoll_wait, __NR_epoll_pwait, __NR_epoll_pwait2, __NR_epoll_ctl,
	__NR_epoll_create1, __NR_eventfd2, __NR_inotify_init1, __NR_inotify_add_watch,
	__NR_inotify_rm_watch,
	/* Sockets, their domain checked below: clients, netlink, syslog, the sim. */
	__NR_bind, __NR_connect, __NR_getsockname, __NR_getsockopt, __NR_setsockopt, __NR_sendmsg,
	__NR_recvmsg, __NR_sendto, __NR_recvfrom, __NR_accept4, __NR_accept, __NR_listen, __NR_shutdown,
#ifdef SANDBOX_SANITIZED
	/*
	 * Sanitizer builds only: LeakSanitizer stops the world at exit from
	 * a ptrace-ing clone, and the runtimes read their own limits.
	 */
	__NR_clone, __NR_ptrace, __NR_waitid, __NR_prctl, __NR_sched_getaffinity,
	__NR_sigaltstack, __NR_getppid, __NR_getdents, __NR_kill, __NR_tkill, __NR_process_vm_readv,
#endif
};

/*
 * Read-only requests: isatty() from stdio, interface lookups by name or
 * index in glibc (if_nametoindex(3) for a resolver's scoped address).
 * Addresses and routes come over the netlink socket allowed below.
 */
static const unsigned long ioctls_allowed[] = {
	TCGETS, FIONREAD, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFHWADDR, SIOCGIFFLAGS,
};

#define ALLOW SECCOMP_RET_ALLOW
#define DENY (SECCOMP_RET_ERRNO | EPERM)
/* The low 32 bits of argument n (all three architectures are little-endian). */
#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define ARG_HI(n) (ARG_LO(n) + 4)

struct filter {
	struct sock_filter ins[320];
	unsigned int n;
};

static void emit(struct filter *f, struct sock_filter ins)
{
	if (f->n < sizeof(f->ins) / sizeof(f->ins[0]))
		f->ins[f->n] = ins;
	f->n++;
}

static void load(struct filter *f, uint32_t off)
{
	emit(f, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off));
}

/* If the accumulator is k, return ret; else go on. */
static void ret_if(struct filter *f, uint32_t k, uint32_t ret)
{
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1));
	emit(f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret));
}

/*
 * Call `nr` allowed when its argument `arg` is one of values[0..n): a
 * block entered with the call number in the accumulator and left by a
 * return; other calls jump over it with the number still loaded.
 */
static void allow_args(struct filter *f, int nr, unsigned int arg, const unsigned long *values,
		       size_t n)
{
	size_t i;

	/* Block: load hi, test hi, load lo, 2 per value, deny. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0,
					     (uint8_t)(3 + 2 * n + 1)));
	load(f, ARG_HI(arg));
	/* Every value fits 32 bits: a call with high bits set is not one of them. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0,
					     (uint8_t)(1 + 2 * n)));
	load(f, ARG_LO(arg));
	for (i = 0; i < n; i++)
		ret_if(f, (uint32_t)values[i], ALLOW);
	emit(f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY));
}

/*
 * The filter of the calling thread (and the threads it starts later).
 * EPERM, not a kill, for anything else, as the systemd unit's
 * SystemCallErrorNumber: every call site handles a failure, and a path
 * the list missed fails one request instead of taking the host's
 * service down. A call of another ABI (i386's int 0x80 on x86_64) would
 * be read with this one's numbers: that kills the process.
 */
int hvkvpd_sandbox_filter_load(void)
{
#ifdef SANDBOX_ARCH
	/* UNIX and netlink sockets only, as RestrictAddressFamilies= in the unit. */
	static const unsigned long domains[] = { AF_UNIX, AF_NETLINK };
	struct filter f = { .n = 0 };
	struct sock_fprog prog;
	size_t i;

	_Static_assert(sizeof(ioctls_allowed) / sizeof(ioctls_allowed[0]) < 100 &&
		       sizeof(domains) / sizeof(domains[0]) < 100, "jumps fit 8 bits");
	load(&f, offsetof(struct seccomp_data, arch));
	emit(&f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0));
	emit(&f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
	load(&f, offsetof(struct seccomp_data, nr));
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i] >= 0)
			ret_if(&f, (uint32_t)allowed[i], ALLOW);
	allow_args(&f, __NR_ioctl, 1, ioctls_allowed,
		   sizeof(ioctls_allowed) / sizeof(ioctls_allowed[0]));
	allow_args(&f, __NR_socket, 0, domains, sizeof(domains) / sizeof(domains[0]));
#ifndef SANDBOX_SANITIZED
	/* Threads, never processes: clone only with CLONE_THREAD. */
	emit(&f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4));
	load(&f, ARG_LO(0));
	emit(&f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
	emit(&f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ALLOW));
	emit(&f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY));
#endif
	/*
	 * clone3 passes its flags in memory a filter cannot read; ENOSYS
	 * makes glibc fall back to clone.
	 */
	if (__NR_clone3 >= 0)
		ret_if(&f, (uint32_t)__NR_clone3, SECCOMP_RET_ERRNO | ENOSYS);
	emit(&f, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY));
	if (f.n > sizeof(f.ins) / sizeof(f.ins[0]))
		return -E2BIG;
	prog.len = (unsigned short)f.n;
	prog.filter = f.ins;
	/* no_new_privs is set (caps_limit), which an unprivileged filter needs. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
#else
	return -EOPNOTSUPP;
#endif
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
	err = hvkvpd_sandbox_filter_load();
	if (err < 0)
		log_err("sandbox: seccomp filter: %s", strerror(-err));
	return err;
}

int hvkvpd_sandbox_helper(bool program)
{
	/* Nothing effective: the program gets them by its execve, as root. */
	return caps_limit(program ? HOOK_CAPS : 0, 0, "privileged helper");
}
