/* SPDX-License-Identifier: ISC */
/* hvsim: play the Hyper-V host of a sim device. See hvsim(8). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvsim.h"

/* hvsim(8), EXIT STATUS. */
enum {
	SIM_EXIT_EXPECT = 1,  /* an expectation failed */
	SIM_EXIT_GUEST = 2,   /* the guest did not answer, closed, or broke the protocol */
	SIM_EXIT_SETUP = 3,   /* a usage error, a bad script, no sim root */
	SIM_EXIT_CRASH = 4,   /* the guest kernel would have crashed (sim_kernel_crash) */
};

/* What sim_action_run returned, as the exit status. */
static int sim_exit_status(int err)
{
	switch (err) {
	case 0:
		return 0;
	case -ENOMSG:
		return SIM_EXIT_EXPECT;
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -EBADMSG:
	case -EPROTO:
		return SIM_EXIT_GUEST;
	}
	return SIM_EXIT_SETUP;
}

static const char usage_text[] =
	"usage: hvsim --root DIR [--script FILE] [--timeout SEC] [--device kvp|heartbeat|fcopy|nic]\n"
	"             [--kernel VERSION] [--backport COMMIT ...] [--json] [--hostile] [-v]\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* Parse a whole file first, so that a typo fails before the guest is bothered. */
static int load_script(FILE *f, const char *name, bool hostile, struct sim_action **ret,
		       size_t *count)
{
	struct sim_action *v = NULL;
	size_t n = 0, cap = 0, len = 0;
	unsigned int lineno = 0;
	char *line = NULL, err[256];
	int rc = 0;

	while (getline(&line, &len, f) >= 0) {
		struct sim_action a;
		int r;

		lineno++;
		r = sim_script_parse(line, lineno, &a, err, sizeof(err));
		if (r < 0) {
			sim_err("%s:%u: %s", name, lineno, err);
			rc = -1;
			goto out;
		}
		if (r == 0)
			continue;
		/* A script meant for a well-behaved host must never break the guest. */
		if (a.op == OP_HOSTILE && !hostile) {
			sim_err("%s:%u: hostile actions need --hostile", name, lineno);
			sim_action_clear(&a);
			rc = -1;
			goto out;
		}
		if (n == cap) {
			struct sim_action *nv;

			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				sim_action_clear(&a);
				rc = -1;
				goto out;
			}
			v = nv;
		}
		v[n++] = a;
	}
out:
	free(line);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			sim_action_clear(&v[i]);
		free(v);
		return rc;
	}
	*ret = v;
	*count = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "script", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'd' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "backport", required_argument, NULL, 'B' },
		{ "json", no_argument, NULL, 'j' },
		{ "hostile", no_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = NULL, *script = NULL, *device = "kvp", *kernel = NULL;
	const char *backports[SIM_K_COUNT];
	size_t nbackports = 0;
	struct sim_kernel kcheck = { .release = "" };
	struct sim_action *acts = NULL;
	size_t nacts = 0;
	double timeout = 5;
	bool hostile = false;
	struct sim *s;
	FILE *f = NULL;
	int c, err, rc = 0;

	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'r': root = optarg; break;
		case 's': script = optarg; break;
		case 'd': device = optarg; break;
		case 'k':
			if (sim_kernel_parse(optarg, &kcheck) < 0) {
				sim_err("--kernel: '%s' is not MAJOR.MINOR.PATCH[-suffix]", optarg);
				return SIM_EXIT_SETUP;
			}
			kernel = optarg;
			break;
		case 'B':
			if (sim_kernel_backport(&kcheck, optarg) < 0 || nbackports == SIM_K_COUNT) {
				sim_err("--backport: '%s' is none of the commits of hvsim(8), "
					"KERNEL PROFILES", optarg);
				return SIM_EXIT_SETUP;
			}
			backports[nbackports++] = optarg;
			break;
		case 'j': break;
		case 'H': hostile = true; break;
		case 'v': break;
		case 't':
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno || *end || !isfinite(timeout) || timeout <= 0 || timeout > 86400) {
				sim_err("--timeout: '%s' is not a number of seconds", optarg);
				return SIM_EXIT_SETUP;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return SIM_EXIT_SETUP;
		}
	}
	if (!root || optind != argc) {
		usage(stderr);
		return SIM_EXIT_SETUP;
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return SIM_EXIT_SETUP;
	/* Second pass for the flags, now that s exists. */
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (c == 'j')
			s->json = true;
		else if (c == 'v')
			s->verbose++;
	}
	s->type = sim_devtype_find(device);
	if (!s->type) {
		sim_err("--device: '%s' is not kvp, heartbeat, fcopy or nic", device);
		free(s);
		return SIM_EXIT_SETUP;
	}
	s->dev.sr = &s->root;
	s->dev.listen_fd = -1;
	s->dev.conn_fd = -1;
	s->dev.timeout_ms = (int)lround(timeout * 1000);
	s->dev.verbose = s->verbose;
	sim_init(s);
	signal(SIGPIPE, SIG_IGN);

	if (script && strcmp(script, "-")) {
		f = fopen(script, "re");
		if (!f) {
			sim_err("%s: %s", script, strerror(errno));
			free(s);
			return SIM_EXIT_SETUP;
		}
	} else {
		script = "<stdin>";
		f = stdin;
	}
	if (load_script(f, script, hostile, &acts, &nacts) < 0) {
		rc = SIM_EXIT_SETUP;
		goto out_file;
	}

	err = sim_root_create(root, s->type, kernel, &s->root);
	for (size_t i = 0; !err && i < nbackports; i++)
		err = sim_kernel_backport(&s->root.kernel, backports[i]);
	if (!err)
		err = sim_root_offer(&s->root, 0);
	if (!err && s->root.bound)
		err = sim_dev_listen(&s->dev);
	if (err < 0) {
		sim_err("creating the sim root at %s: %s", root, strerror(-err));
		rc = SIM_EXIT_SETUP;
		goto out;
	}
	if (s->root.bound)
		sim_log(s, "%s device %s at %s, kernel %s", s->type->name, s->type->instance,
			s->root.node, s->root.kernel.release);
	else
		sim_err("kernel %s leaves the %s device with hv_utils: hv_uio_probe refuses "
			"channels without a monitor page before 6.10 (%s)", s->root.kernel.release,
			s->type->name, sim_kernel_commit(SIM_K_NONMONITORED));

	for (size_t i = 0; i < nacts && !err && !s->root.kernel.crashed; i++) {
		err = sim_action_run(s, &acts[i]);
		fflush(stdout);
	}
	rc = sim_exit_status(err);
	/* The guest kernel is dead: whatever the script did after, the session failed. */
	if (s->root.kernel.crashed)
		rc = SIM_EXIT_CRASH;
	sim_log(s, "guest signals %llu, masks %llu, interrupts sent %llu, refused opens %llu",
		(unsigned long long)s->dev.guest_signals,
		(unsigned long long)s->dev.guest_masks,
		(unsigned long long)s->dev.interrupts_sent,
		(unsigned long long)s->dev.refused);
out:
	sim_dev_disconnect(&s->dev);
	sim_dev_unlisten(&s->dev);
	sim_root_destroy(&s->root);
out_file:
	for (size_t i = 0; i < nacts; i++)
		sim_action_clear(&acts[i]);
	free(acts);
	if (f && f != stdin)
		fclose(f);
	free(s);
	return rc;
}
