/* SPDX-License-Identifier: ISC */
/*
 * The script: one action per line, words separated by blanks, "double
 * quotes" around words with blanks (\" and \\ inside), # to the end of
 * the line is a comment. The grammar is in hvsim(8).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hvuio/kvp_msg.h>

#include "hvsim.h"

#define MAX_WORDS 16

static const struct {
	const char *name;
	uint32_t value;
} statuses[] = {
	{ "HV_S_OK", HV_IC_S_OK },
	{ "HV_E_FAIL", HV_IC_E_FAIL },
	{ "HV_S_CONT", HV_IC_S_CONT },
	{ "HV_ERROR_NOT_SUPPORTED", HV_IC_ERROR_NOT_SUPPORTED },
	{ "HV_ERROR_MACHINE_LOCKED", HV_IC_ERROR_MACHINE_LOCKED },
	{ "HV_ERROR_DEVICE_NOT_CONNECTED", HV_IC_ERROR_DEVICE_NOT_CONNECTED },
	{ "HV_INVALIDARG", HV_IC_INVALIDARG },
	{ "HV_GUID_NOTFOUND", HV_IC_GUID_NOTFOUND },
	{ "HV_ERROR_ALREADY_EXISTS", HV_IC_ERROR_ALREADY_EXISTS },
	{ "HV_ERROR_DISK_FULL", HV_IC_ERROR_DISK_FULL },
};

static const struct {
	const char *name;
	uint16_t type;
} ic_types[] = {
	{ "negotiate", HV_IC_MSGTYPE_NEGOTIATE },
	{ "heartbeat", HV_IC_MSGTYPE_HEARTBEAT },
	{ "kvp", HV_IC_MSGTYPE_KVPEXCHANGE },
	{ "shutdown", HV_IC_MSGTYPE_SHUTDOWN },
	{ "timesync", HV_IC_MSGTYPE_TIMESYNC },
	{ "vss", HV_IC_MSGTYPE_VSS },
	{ "fcopy", HV_IC_MSGTYPE_FCOPY },
};

const char *sim_status_name(uint32_t status)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].value == status)
			return statuses[i].name;
	return NULL;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

int sim_status_parse(const char *s, uint32_t *status)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const char *n = statuses[i].name;

		if (!strcasecmp(s, n) || !strcasecmp(s, n + 3)) {
			*status = statuses[i].value;
			return 0;
		}
	}
	if (!strcasecmp(s, "S_OK") || !strcasecmp(s, "OK")) {
		*status = HV_IC_S_OK;
		return 0;
	}
	if (parse_u64(s, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*status = (uint32_t)v;
	return 0;
}

int sim_pool_parse(const char *s)
{
	uint64_t v;
	int pool = hv_kvp_pool_from_name(s);

	if (pool >= 0)
		return pool;
	/* Any byte: the host may name a pool the guest does not know. */
	if (parse_u64(s, 255, &v) < 0)
		return -EINVAL;
	return (int)v;
}

/* Split into words; returns the count or -EINVAL. Words point into buf. */
static int split(char *buf, char **words, char *err, size_t errlen)
{
	char *r = buf, *w = buf;
	int n = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (!*r || *r == '#')
			break;
		if (n == MAX_WORDS) {
			snprintf(err, errlen, "too many words");
			return -EINVAL;
		}
		words[n++] = w;
		if (*r == '"') {
			r++;
			while (*r != '"') {
				if (!*r) {
					snprintf(err, errlen, "unterminated quote");
					return -EINVAL;
				}
				if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
					r++;
				*w++ = *r++;
			}
			r++;
			if (*r && *r != ' ' && *r != '\t' && *r != '\r' && *r != '\n') {
				snprintf(err, errlen, "text right after a closing quote");
				return -EINVAL;
			}
		} else {
			while (*r && *r != ' ' && *r != '\t' && *r != '\r' && *r != '\n')
				*w++ = *r++;
		}
		/* w never overtakes r, so the terminator is safe to write. */
		if (!*r) {
			*w = '\0';
			break;
		}
		r++;
		*w++ = '\0';
	}
	return n;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex(char **words, int n, struct sim_action *a, char *err, size_t errlen)
{
	size_t digits = 0, k = 0;
	int i, hi = -1;

	for (i = 0; i < n; i++)
		digits += strlen(words[i]);
	if (digits / 2 > SIM_MAX_MSG) {
		snprintf(err, errlen, "payload longer than %d bytes", SIM_MAX_MSG);
		return -EINVAL;
	}
	a->payload = malloc(digits / 2 + 1);
	if (!a->payload)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		for (const char *p = words[i]; *p; p++) {
			int v = hexval((unsigned char)*p);

			if (v < 0) {
				snprintf(err, errlen, "'%c' is not a hex digit", *p);
				return -EINVAL;
			}
			if (hi < 0) {
				hi = v;
			} else {
				a->payload[k++] = (uint8_t)(hi << 4 | v);
				hi = -1;
			}
		}
	}
	if (hi >= 0) {
		snprintf(err, errlen, "odd number of hex digits");
		return -EINVAL;
	}
	a->payload_len = k;
	return 0;
}

static int take_args(struct sim_action *a, char **words, int n)
{
	for (int i = 0; i < n; i++) {
		a->args[i] = strdup(words[i]);
		if (!a->args[i])
			return -ENOMEM;
		a->nargs = (unsigned int)i + 1;
	}
	return 0;
}

void sim_action_clear(struct sim_action *a)
{
	free(a->payload);
	for (unsigned int i = 0; i < a->nargs; i++)
		free(a->args[i]);
	memset(a, 0, sizeof(*a));
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); ret = -EINVAL; goto out; } while (0)

int sim_script_parse(const char *line, unsigned int lineno, struct sim_action *a,
		     char *err, size_t errlen)
{
	char *buf = strdup(line), *w[MAX_WORDS];
	const char *cmd;
	uint64_t v;
	int n, ret = 1;

	memset(a, 0, sizeof(*a));
	a->line = lineno;
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = split(buf, w, err, errlen);
	if (n < 0) {
		ret = n;
		goto out;
	}
	if (n == 0) {
		ret = 0;
		goto out;
	}
	cmd = w[0];

	if (!strcmp(cmd, "negotiate")) {
		if (n != 1)
			FAIL("usage: negotiate");
		a->op = OP_NEGOTIATE;
	} else if (!strcmp(cmd, "open")) {
		if (n != 1)
			FAIL("usage: open");
		a->op = OP_OPEN;
	} else if (!strcmp(cmd, "drain")) {
		if (n != 1)
			FAIL("usage: drain");
		a->op = OP_DRAIN;
	} else if (!strcmp(cmd, "send")) {
		size_t i;

		if (n < 2)
			FAIL("usage: send TYPE [HEX ...]");
		a->op = OP_SEND;
		for (i = 0; i < sizeof(ic_types) / sizeof(ic_types[0]); i++)
			if (!strcasecmp(w[1], ic_types[i].name))
				break;
		if (i < sizeof(ic_types) / sizeof(ic_types[0]))
			a->ic_type = ic_types[i].type;
		else if (parse_u64(w[1], UINT16_MAX, &v) == 0)
			a->ic_type = (uint16_t)v;
		else
			FAIL("unknown IC message type '%s'", w[1]);
		if ((ret = parse_hex(w + 2, n - 2, a, err, errlen)) < 0)
			goto out;
		ret = 1;
	} else if (!strcmp(cmd, "kvp")) {
		if (n < 3)
			FAIL("usage: kvp set|get|delete|enumerate POOL ...");
		a->pool = sim_pool_parse(w[2]);
		if (a->pool < 0)
			FAIL("unknown pool '%s'", w[2]);
		if (!strcmp(w[1], "set")) {
			if (n != 5)
				FAIL("usage: kvp set POOL KEY VALUE");
			a->op = OP_KVP_SET;
		} else if (!strcmp(w[1], "get")) {
			if (n != 4)
				FAIL("usage: kvp get POOL KEY");
			a->op = OP_KVP_GET;
		} else if (!strcmp(w[1], "delete")) {
			if (n != 4)
				FAIL("usage: kvp delete POOL KEY");
			a->op = OP_KVP_DELETE;
		} else if (!strcmp(w[1], "enumerate")) {
			if (n > 4)
				FAIL("usage: kvp enumerate POOL [INDEX]");
			a->op = OP_KVP_ENUMERATE;
			if (n == 4) {
				if (parse_u64(w[3], UINT32_MAX, &a->n) < 0)
					FAIL("bad index '%s'", w[3]);
			} else {
				a->all = true;
			}
			goto out;
		} else {
			FAIL("unknown kvp operation '%s'", w[1]);
		}
		if ((ret = take_args(a, w + 3, n - 3)) < 0)
			goto out;
		ret = 1;
	} else if (!strcmp(cmd, "ip")) {
		if (n >= 2 && !strcmp(w[1], "get")) {
			if (n != 3)
				FAIL("usage: ip get MAC");
			a->op = OP_IP_GET;
		} else if (n >= 2 && !strcmp(w[1], "set")) {
			if (n != 9)
				FAIL("usage: ip set ADAPTER FAMILY DHCP ADDRESSES SUBNETS GATEWAYS DNS");
			a->op = OP_IP_SET;
		} else {
			FAIL("usage: ip get|set ...");
		}
		if ((ret = take_args(a, w + 2, n - 2)) < 0)
			goto out;
		ret = 1;
	} else if (!strcmp(cmd, "heartbeat")) {
		a->op = OP_HEARTBEAT;
		a->n = 1;
		if (n > 2 || (n == 2 && (parse_u64(w[1], UINT32_MAX, &a->n) < 0 || !a->n)))
			FAIL("usage: heartbeat [N], N from 1");
	} else if (!strcmp(cmd, "wait")) {
		a->op = OP_WAIT;
		if (n != 2 || parse_u64(w[1], 24ull * 3600 * 1000, &a->n) < 0)
			FAIL("usage: wait MS");
	} else if (!strcmp(cmd, "expect")) {
		a->op = OP_EXPECT;
		if (n != 2)
			FAIL("usage: expect STATUS");
		if (!strcasecmp(w[1], "error"))
			a->expect_any_error = true;
		else if (sim_status_parse(w[1], &a->status) < 0)
			FAIL("unknown status '%s'", w[1]);
	} else if (!strcmp(cmd, "rescind")) {
		if (n != 1)
			FAIL("usage: rescind");
		a->op = OP_RESCIND;
	} else if (!strcmp(cmd, "offer")) {
		a->op = OP_OFFER;
		a->all = true;
		if (n > 2)
			FAIL("usage: offer [UIO-INDEX]");
		if (n == 2) {
			if (parse_u64(w[1], 255, &a->n) < 0)
				FAIL("bad uio index '%s'", w[1]);
			a->all = false;
		}
	} else if (!strcmp(cmd, "nvs")) {
		if (n > 2 || (n == 2 && strcmp(w[1], "subchannels")))
			FAIL("usage: nvs [subchannels]");
		a->op = OP_NVS;
		a->all = n == 2;
	} else if (!strcmp(cmd, "feed")) {
		a->op = OP_FEED;
		if (n != 3 || parse_u64(w[1], UINT32_MAX, &a->n) < 0 || !a->n ||
		    parse_u64(w[2], SIM_NIC_MAX_FRAME, &a->n2) < 0 || !a->n2)
			FAIL("usage: feed COUNT SIZE, COUNT from 1, SIZE from 1 to %d",
			     SIM_NIC_MAX_FRAME);
	} else if (!strcmp(cmd, "copy") || !strcmp(cmd, "fcopy") ||
		   (!strcmp(cmd, "hostile") && n > 1 && !strncmp(w[1], "fcopy-", 6))) {
		if ((ret = sim_fcopy_parse(w, n, a, err, errlen)) < 0)
			goto out;
		ret = 1;
	} else if (!strcmp(cmd, "hostile")) {
		a->op = OP_HOSTILE;
		if ((ret = sim_hostile_parse(w + 1, n - 1, a, err, errlen)) < 0)
			goto out;
		ret = 1;
	} else {
		FAIL("unknown action '%s'", cmd);
	}
out:
	if (ret < 0)
		sim_action_clear(a);
	free(buf);
	return ret;
}
