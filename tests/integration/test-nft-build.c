/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two translations of an nft_prog agree in the real kernel. For every golden policy case
 * of tests/unit/test-acl.c (included below, its cases run unchanged) and for a hand-built
 * program that uses every statement type and shape: in one fresh network namespace
 * nft_prog_format()'s text is loaded with libnftables, in another the libnftnl batch of
 * felix_nft_build_prog() is sent with one sendmsg; `list table inet tabby` must print the
 * same text in both. The nftnl batch is then sent a second time (replace) and over a table
 * loaded from text, and the listing must not change. A batch that refers to a missing chain
 * fails as one transaction and leaves the table as it was. Needs root (exit 77 otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acl/nft-prog.h"
#include "felix/dataplane/policy/nft-build.h"

struct case_in;
struct built;
static void golden_hook(const struct case_in *c, const struct built *b, const char *text);
#define TEST_ACL_GOLDEN_HOOK golden_hook
#define main test_acl_main
int test_acl_main(void);
#include "../unit/test-acl.c"
#undef main

static unsigned n_checked;

/* ---- running things in a fresh network namespace ---- */

enum step {
	STEP_TEXT,	  /* load the text */
	STEP_NFTNL,	  /* send the batch */
	STEP_NFTNL_TWICE, /* send the batch, then again (replace) */
	STEP_TEXT_NFTNL,  /* load the text, then send the batch over it */
	STEP_BAD_BATCH,	  /* load the text, then a batch whose last rule jumps nowhere */
};

static int nft_cmd(struct nft_ctx *ctx, const char *cmd, char *err, size_t errlen)
{
	if (nft_run_cmd_from_buffer(ctx, cmd) != 0) {
		snprintf(err, errlen, "nft: %s", nft_ctx_get_error_buffer(ctx));
		return -EINVAL;
	}
	return 0;
}

static int send_prog(const struct nft_prog *p, bool break_it, char *err, size_t errlen)
{
	struct nftnl_batch *batch = nftnl_batch_alloc(4096, 65536 + 4096);
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct felix_nft_build b;
	int one = 1, r;

	if (!batch || !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "batch/socket: %s", strerror(errno));
		r = -errno;
		goto out;
	}
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	r = felix_nft_build_begin(&b, batch, (uint32_t)time(NULL));
	if (r >= 0)
		r = felix_nft_build_prog(&b, p, FELIX_NFT_BUILD_REPLACE);
	if (r >= 0 && break_it) {
		_cleanup_(nft_prog_chain_freep) struct nft_prog_chain *c = NULL;
		struct nft_prog_stmt s = {.type = NFT_PROG_S_VERDICT, .key = NFT_PROG_V_JUMP};

		r = nft_prog_chain_new(p->chains[0]->name, NULL, &c);
		if (r >= 0)
			r = nft_prog_chain_add_stmt(c, s, "tby-nowhere", sizeof("tby-nowhere"));
		if (r >= 0)
			r = nft_prog_chain_end_rule(c, NULL);
		if (r >= 0)
			r = felix_nft_build_rule(&b, c, &c->rules[0]);
	}
	if (r >= 0)
		r = felix_nft_build_end(&b);
	if (r < 0) {
		snprintf(err, errlen, "building the batch: %s", strerror(-r));
		goto out;
	}
	r = felix_nft_build_send(nl, &b, err, errlen);
out:
	if (nl)
		mnl_socket_close(nl);
	nftnl_batch_free(batch);
	return r;
}

/* In a child in a new network namespace: run @step, then print `list table inet tabby` (or
 * "ERROR: ..." ) to @fd. */
static int child(int fd, enum step step, const struct nft_prog *p, const char *text)
{
	struct nft_ctx *ctx;
	char err[4096] = "";
	int r = 0;

	/* Unshare first: libnftables opens its netlink socket in nft_ctx_new(), and a socket
	 * keeps the namespace it was opened in. */
	if (unshare(CLONE_NEWNET) < 0) {
		dprintf(fd, "ERROR: unshare: %s", strerror(errno));
		return 1;
	}
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		dprintf(fd, "ERROR: nft_ctx_new");
		return 1;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	if (nft_cmd(ctx, "list tables", err, sizeof(err)) < 0 ||
	    nft_ctx_get_output_buffer(ctx)[0] != '\0') {
		dprintf(fd, "ERROR: not a fresh network namespace: %s", err);
		return 1;
	}
	if (step == STEP_TEXT || step == STEP_TEXT_NFTNL || step == STEP_BAD_BATCH)
		r = nft_cmd(ctx, text, err, sizeof(err));
	if (r >= 0 && (step == STEP_NFTNL || step == STEP_NFTNL_TWICE || step == STEP_TEXT_NFTNL))
		r = send_prog(p, false, err, sizeof(err));
	if (r >= 0 && step == STEP_NFTNL_TWICE)
		r = send_prog(p, false, err, sizeof(err));
	if (r >= 0 && step == STEP_BAD_BATCH) {
		r = send_prog(p, true, err, sizeof(err));
		if (r != -ENOENT) {
			dprintf(fd, "ERROR: a jump to a missing chain gave %d (%s), not -ENOENT", r,
				err);
			return 1;
		}
		r = 0;
	}
	if (r >= 0)
		r = nft_cmd(ctx, "list table inet tabby", err, sizeof(err));
	if (r < 0) {
		dprintf(fd, "ERROR: %s", err);
		return 1;
	}
	dprintf(fd, "%s", nft_ctx_get_output_buffer(ctx));
	nft_ctx_free(ctx);
	return 0;
}

static char *in_netns(enum step step, const struct nft_prog *p, const char *text)
{
	struct strbuf sb = {0};
	char buf[4096];
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(child(fds[1], step, p, text));
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		assert_int_equal(strbuf_append(&sb, buf, (size_t)n), 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("step %d: %s", step, sb.buf ? sb.buf : "(no output)");
	return strbuf_steal(&sb);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void expect_same(const char *what, const char *name, const char *want, const char *got)
{
	char a[256], b[256];

	if (strcmp(want, got) == 0)
		return;
	snprintf(a, sizeof(a), "/tmp/test-nft-build-%d-%s.text", getpid(), name);
	snprintf(b, sizeof(b), "/tmp/test-nft-build-%d-%s.%s", getpid(), name, what);
	write_file(a, want);
	write_file(b, got);
	fail_msg("%s: `nft list table inet tabby` differs after %s (diff %s %s)", name, what, a, b);
}

/* Load @p both ways and compare the kernel's listings. */
static void check_prog(const char *name, const struct nft_prog *p)
{
	struct strbuf text = {0};
	char *via_text, *via_nftnl, *twice, *over, *bad;

	assert_int_equal(nft_prog_format(p, &text), 0);
	via_text = in_netns(STEP_TEXT, p, text.buf);
	via_nftnl = in_netns(STEP_NFTNL, p, text.buf);
	expect_same("nftnl", name, via_text, via_nftnl);
	twice = in_netns(STEP_NFTNL_TWICE, p, text.buf);
	expect_same("nftnl-twice", name, via_text, twice);
	over = in_netns(STEP_TEXT_NFTNL, p, text.buf);
	expect_same("text-then-nftnl", name, via_text, over);
	bad = in_netns(STEP_BAD_BATCH, p, text.buf);
	expect_same("failed-batch", name, via_text, bad);
	assert_non_null(strstr(via_text, p->chains[0]->name));
	n_checked++;
	free(via_text);
	free(via_nftnl);
	free(twice);
	free(over);
	free(bad);
	strbuf_done(&text);
}

static void golden_hook(const struct case_in *c, const struct built *b, const char *text)
{
	struct acl_render_input in = {.idx = b->idx,
				      .members = b->m,
				      .rulesets = b->rs,
				      .n_rulesets = b->n_rs,
				      .host = c->host};
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	struct strbuf sb = {0};

	assert_int_equal(nft_prog_build(&in, &p), 0);
	assert_int_equal(nft_prog_format(p, &sb), 0);
	assert_string_equal(sb.buf, text); /* the program is what acl_render_nft() printed */
	strbuf_done(&sb);
	check_prog(c->name, p);
}

/* ---- every statement type, by hand ---- */

#define S(...) ((struct nft_prog_stmt){__VA_ARGS__})

static void add(struct nft_prog_chain *c, struct nft_prog_stmt s, const void *d, size_t len)
{
	assert_int_equal(nft_prog_chain_add_stmt(c, s, d, len), 0);
}

static void addstr(struct nft_prog_chain *c, struct nft_prog_stmt s, const char *str)
{
	add(c, s, str, strlen(str) + 1);
}

static void end(struct nft_prog_chain *c, const char *comment)
{
	assert_int_equal(nft_prog_chain_end_rule(c, comment), 0);
}

static struct nft_prog_stmt V(enum nft_prog_verdict v) {
	return S(.type = NFT_PROG_S_VERDICT, .key = (uint8_t)v);
}

static struct nft_prog_stmt
ICMP(uint8_t type, uint8_t op, uint8_t fam, int t, int code) {
	struct nft_prog_stmt s = {.type = type, .op = op, .fam = fam};

	s.u.icmp.type = (uint8_t)t;
	s.u.icmp.code = (uint8_t)code;
	return s;
}

static struct nft_prog_stmt
VAL(uint8_t type, uint8_t op, uint8_t key, uint32_t v) {
	struct nft_prog_stmt s = {.type = type, .op = op, .key = key};

	s.u.value = v;
	return s;
}

static void
test_every_statement(void **state)
{
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	struct nft_prog_chain *c = NULL, *d = NULL;
	struct nft_prog_set *set;
	struct acl_port_range one = {22, 22}, range = {1000, 2000}, top = {65000, 65535};
	struct acl_port_range many[] = {{8000, 8080}, {5432, 5432}, {8081, 8090}, {1, 1}};
	struct acl_port_range plain[] = {{53, 53}, {0, 0}};
	struct acl_port_range topset[] = {{1, 5}, {65535, 65535}};
	struct ip_addr a4[2], a6[2];
	struct ip_prefix p24, p25, p64, p60, p32;
	static const uint8_t protos[] = {6, 17, 132, 136}, nd[] = {133, 134, 135, 136};
	struct acl_member m4[3] = {0}, mp = {0};
	const uint8_t v4 = NFT_PROG_FAM_IPV4, v6 = NFT_PROG_FAM_IPV6;

	assert_int_equal(ip_addr_parse("198.19.0.1", &a4[0]), 0);
	assert_int_equal(ip_addr_parse("198.19.0.2", &a4[1]), 0);
	assert_int_equal(ip_addr_parse("2001:db8::1", &a6[0]), 0);
	assert_int_equal(ip_addr_parse("2001:db8::2", &a6[1]), 0);
	assert_int_equal(ip_prefix_parse("198.18.0.0/24", true, &p24), 0);
	assert_int_equal(ip_prefix_parse("198.18.0.128/25", true, &p25), 0);
	assert_int_equal(ip_prefix_parse("2001:db8::/64", true, &p64), 0);
	assert_int_equal(ip_prefix_parse("2001:db8::/60", true, &p60), 0);
	assert_int_equal(ip_prefix_parse("198.18.0.9/32", true, &p32), 0);

	assert_int_equal(nft_prog_new(&p), 0);
	/* sets: an interval set with adjacent members and one reaching the top, a concat set */
	set = calloc(1, sizeof(*set));
	assert_non_null(set);
	snprintf(set->name, sizeof(set->name), "s4-test");
	set->comment = strdup("sel 'x'");
	set->type = NFT_PROG_T_IPV4;
	set->interval = true;
	m4[0].net = (struct ip_prefix){.addr = a4[0], .len = 32};
	m4[1].net = (struct ip_prefix){.addr = a4[1], .len = 32};
	assert_int_equal(ip_prefix_parse("255.255.255.0/24", true, &m4[2].net), 0);
	set->members = calloc(3, sizeof(*set->members));
	memcpy(set->members, m4, sizeof(m4));
	set->n_members = 3;
	assert_int_equal(nft_prog_add_set(p, set), 0);
	set = calloc(1, sizeof(*set));
	assert_non_null(set);
	snprintf(set->name, sizeof(set->name), "p6-test");
	set->type = NFT_PROG_T_IPV6_PROTO_PORT;
	mp.net = (struct ip_prefix){.addr = a6[0], .len = 128};
	mp.proto = 17;
	mp.port = 53;
	set->members = calloc(1, sizeof(*set->members));
	set->members[0] = mp;
	set->n_members = 1;
	assert_int_equal(nft_prog_add_set(p, set), 0);
	set = calloc(1, sizeof(*set));
	assert_non_null(set);
	snprintf(set->name, sizeof(set->name), "ifs");
	set->type = NFT_PROG_T_IFNAME;
	assert_int_equal(nft_prog_add_set(p, set), 0);
	set = calloc(1, sizeof(*set));
	assert_non_null(set);
	snprintf(set->name, sizeof(set->name), "vm");
	set->type = NFT_PROG_T_IFNAME;
	set->map = true;
	set->ifelems = calloc(2, sizeof(*set->ifelems));
	snprintf(set->ifelems[0].ifname, NFT_PROG_IFNAME_MAX, "tbya");
	set->ifelems[0].verdict = NFT_PROG_V_DROP;
	snprintf(set->ifelems[1].ifname, NFT_PROG_IFNAME_MAX, "tbyb");
	set->ifelems[1].verdict = NFT_PROG_V_JUMP;
	snprintf(set->ifelems[1].chain, NFT_PROG_NAME_MAX, "d");
	set->n_ifelems = 2;
	assert_int_equal(nft_prog_add_set(p, set), 0);

	assert_int_equal(nft_prog_chain_new("input", NULL, &c), 0);
	c->hook = NFT_PROG_HOOK_INPUT;
	c->policy = NFT_PROG_V_ACCEPT;
	add(c, VAL(NFT_PROG_S_CT_STATE, 0, 0, NFT_PROG_CT_ESTABLISHED | NFT_PROG_CT_RELATED), 0, 0);
	add(c, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(c, NULL);
	add(c, S(.type = NFT_PROG_S_ICMP_TYPE_IN, .fam = v6), nd, sizeof(nd));
	add(c, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(c, NULL);
	addstr(c, S(.type = NFT_PROG_S_VMAP, .key = NFT_PROG_SRC), "vm");
	end(c, NULL);
	addstr(c, S(.type = NFT_PROG_S_IFNAME, .key = NFT_PROG_SRC), "tby*");
	addstr(c, S(.type = NFT_PROG_S_IFNAME_SET, .op = NFT_PROG_NEQ, .key = NFT_PROG_SRC), "ifs");
	add(c, V(NFT_PROG_V_DROP), NULL, 0);
	end(c, "fail closed");
	addstr(c, S(.type = NFT_PROG_S_IFNAME, .op = NFT_PROG_NEQ, .key = NFT_PROG_DST), "lo");
	addstr(c, S(.type = NFT_PROG_S_IFNAME, .key = NFT_PROG_SRC), "eth0");
	addstr(c, V(NFT_PROG_V_JUMP), "d");
	end(c, NULL);
	assert_int_equal(nft_prog_add_chain(p, c), 0);

	assert_int_equal(nft_prog_chain_new("d", "every statement", &d), 0);
	add(d, S(.type = NFT_PROG_S_L4PROTO_IN), protos, sizeof(protos));
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_DST), many, sizeof(many));
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_SRC, .op = NFT_PROG_NEQ), plain,
	    sizeof(plain));
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, "ports 1");
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_DST), &one, sizeof(one));
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_SRC), &range, sizeof(range));
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_DST, .op = NFT_PROG_NEQ), &top,
	    sizeof(top));
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_SRC, .op = NFT_PROG_NEQ), topset,
	    sizeof(topset));
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, "ports 2");
	add(d, S(.type = NFT_PROG_S_ADDR_IN, .op = NFT_PROG_NEQ, .fam = v4, .key = NFT_PROG_SRC),
	    a4, sizeof(a4[0]));
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, "anti-spoof one");
	add(d, S(.type = NFT_PROG_S_ADDR_IN, .op = NFT_PROG_NEQ, .fam = v4, .key = NFT_PROG_SRC),
	    a4, sizeof(a4));
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, "anti-spoof two");
	add(d, S(.type = NFT_PROG_S_ADDR_IN, .op = NFT_PROG_NEQ, .fam = v6, .key = NFT_PROG_SRC),
	    a6, sizeof(a6));
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v6), NULL, 0);
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_ADDR, .fam = v4, .key = NFT_PROG_SRC), &p24, sizeof(p24));
	add(d, VAL(NFT_PROG_S_L4PROTO, 0, NFT_PROG_L4_NUMBER, 6), NULL, 0);
	add(d, S(.type = NFT_PROG_S_PORT, .key = NFT_PROG_DST), &one, sizeof(one));
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, "failsafe");
	add(d, S(.type = NFT_PROG_S_ADDR, .fam = v4, .key = NFT_PROG_DST), &p25, sizeof(p25));
	add(d, S(.type = NFT_PROG_S_ADDR, .fam = v4, .key = NFT_PROG_SRC), &p32, sizeof(p32));
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_ADDR, .fam = v6, .key = NFT_PROG_SRC), &p64, sizeof(p64));
	add(d, S(.type = NFT_PROG_S_ADDR, .fam = v6, .key = NFT_PROG_DST), &p60, sizeof(p60));
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v4), NULL, 0);
	addstr(d, S(.type = NFT_PROG_S_ADDR_SET, .fam = v4, .key = NFT_PROG_SRC), "s4-test");
	addstr(d,
	       S(.type = NFT_PROG_S_ADDR_SET, .op = NFT_PROG_NEQ, .fam = v4, .key = NFT_PROG_DST),
	       "s4-test");
	add(d, V(NFT_PROG_V_RETURN), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v6), NULL, 0);
	addstr(d, S(.type = NFT_PROG_S_ADDR_PORT_SET, .fam = v6, .key = NFT_PROG_DST), "p6-test");
	addstr(
	    d,
	    S(.type = NFT_PROG_S_ADDR_PORT_SET, .op = NFT_PROG_NEQ, .fam = v6, .key = NFT_PROG_SRC),
	    "p6-test");
	add(d, V(NFT_PROG_V_RETURN), NULL, 0);
	end(d, NULL);
	/* ICMP: type + code (merged by nft), type only, != type, type . code !=, l4proto name */
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v4), NULL, 0);
	add(d, VAL(NFT_PROG_S_L4PROTO, 0, NFT_PROG_L4_NUMBER, 1), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_TYPE, 0, v4, 3, 0), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_CODE, 0, v4, 0, 4), NULL, 0);
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v6), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_TYPE, 0, v6, 128, 0), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_TYPE_CODE, NFT_PROG_NEQ, v6, 1, 3), NULL, 0);
	add(d, V(NFT_PROG_V_ACCEPT), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v4), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_TYPE, NFT_PROG_NEQ, v4, 8, 0), NULL, 0);
	add(d, ICMP(NFT_PROG_S_ICMP_TYPE_CODE, NFT_PROG_NEQ, v4, 3, 4), NULL, 0);
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, NULL);
	add(d, S(.type = NFT_PROG_S_NFPROTO, .fam = v6), NULL, 0);
	add(d, VAL(NFT_PROG_S_L4PROTO, NFT_PROG_NEQ, NFT_PROG_L4_NAME, 58), NULL, 0);
	add(d, VAL(NFT_PROG_S_L4PROTO, NFT_PROG_NEQ, NFT_PROG_L4_NUMBER, 6), NULL, 0);
	add(d, V(NFT_PROG_V_DROP), NULL, 0);
	end(d, NULL);
	/* marks, log */
	add(d, VAL(NFT_PROG_S_MARK_AND, 0, 0, ~ACL_MARK_MASK), NULL, 0);
	end(d, NULL);
	{
		struct nft_prog_stmt t = {.type = NFT_PROG_S_MARK_TEST};

		t.u.mark.mask = ACL_MARK_PASS;
		t.u.mark.value = 0;
		add(d, t, NULL, 0);
		addstr(d, V(NFT_PROG_V_JUMP), "e");
		end(d, NULL);
		t.u.mark.mask = ACL_MARK_ACCEPT;
		t.u.mark.value = ACL_MARK_ACCEPT;
		add(d, t, NULL, 0);
		add(d, V(NFT_PROG_V_RETURN), NULL, 0);
		end(d, NULL);
	}
	addstr(d, S(.type = NFT_PROG_S_LOG), "tby test: ");
	end(d, "log");
	add(d, VAL(NFT_PROG_S_CT_STATE, 0, 0, NFT_PROG_CT_INVALID), NULL, 0);
	add(d, VAL(NFT_PROG_S_MARK_OR, 0, 0, ACL_MARK_ACCEPT), NULL, 0);
	add(d, V(NFT_PROG_V_RETURN), NULL, 0);
	end(d, "allow");
	assert_int_equal(nft_prog_add_chain(p, d), 0);
	assert_int_equal(nft_prog_chain_new("e", NULL, &c), 0);
	assert_int_equal(nft_prog_add_chain(p, c), 0);

	check_prog("every-statement", p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_statement),
	};
	int r;

	if (geteuid() != 0) {
		printf("skipped: needs root (network namespaces, nf_tables)\n");
		return 77;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	r += test_acl_main(); /* every golden case, through golden_hook() */
	if (n_checked < 14) {
		printf("only %u programs checked in the kernel\n", n_checked);
		r++;
	}
	return r;
}
