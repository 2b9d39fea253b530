/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: iptables policy driver (ipset restore + iptables-restore --noflush), after Felix's
 * iptables/ table.go: our chains are all "tby-" and declared in the restore text, so
 * --noflush flushes and refills exactly them; rules carry a "tby:<hash>" comment.
 *
 * Order of a full apply: `ipset restore -exist` (sets are created or swapped to their new
 * members before any rule uses them), then one `iptables-restore --noflush` that also flushes
 * and deletes (-X) every tby- chain that `iptables-save -t filter` lists and the new text no
 * longer declares (ours by name; nothing else is looked at), then the three hook jumps, each
 * inserted only when `iptables -C` does not find it. Stale ipsets (tby-, no longer in any
 * family's text) are destroyed by felix_ipt_finish() after routes and BIRD.
 *
 * A full apply writes only what differs from the kernel, as Calico's felix does after reading
 * iptables-save: a chain whose rules carry the same "tby:<hash>" comments in the same order
 * (the hash covers the chain, the position and the rule's text) is left out of the restore, and
 * a set that `ipset save` shows with the same type and members is left out of the ipset script.
 * A felix restart at 100,000 endpoints and 1,000 policies then writes nothing (the restore of
 * 16,500 rules took 1.3 s of its 2 s); a rule deleted or added by hand, a member changed, a
 * stale chain of ours are found and repaired (tests/integration/policy-ipt-delta.t).
 *
 * Deltas (felix_ipt_apply_delta(), issue 8): the driver keeps, per family, every chain the last
 * good apply loaded with a FNV-1a 64 of its rules. A later render is diffed against that: one
 * `iptables-restore --noflush` declares (flushes) and fills only the new and changed chains and
 * flushes, then deletes (-X, last, after the jumps to them are gone) the removed ones; the
 * ipset script keeps only the blocks of sets the kernel does not have yet, plus add/del lines
 * for member changes. A new local workload then costs its own chains and the two dispatch
 * chains (tby-from-wl, tby-to-wl) per family. Any rejection drops the model: the next apply is
 * a full one, as is every resync.
 *
 * A restart reads back only what may have changed (felix_ipt_state_save()/_load()): felix
 * exits leaving its chains, and when it can prove that the kernel holds exactly what its
 * memory says (every nf_tables transaction since its last read of the kernel was its own:
 * the generation moved by exactly felix_ipt_commits()), it writes each chain's comment hash
 * to a state file. The next start uses that file instead of iptables-save and ip6tables-save
 * when the boot, the network namespace and the generation are still the same; any commit of
 * anyone in between (a rule edited by hand, a hook jump deleted) moves the generation, and
 * the saves read the kernel as before. Sets are not nf_tables objects: `ipset save` always
 * runs.
 *
 * The tools run with fork+exec, their stdin and output in memfds (no pipe deadlocks, no
 * shell).
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "felix/dataplane/policy/backend.h"
#include "lib/array.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* What the last good apply of one family left in a chain of ours: its name and the FNV-1a 64
 * of its "-A" lines in order (the rules and their tby:<hash> comments). */
struct chain_sum {
	char name[32]; /* iptables chain names have at most 28 characters */
	uint64_t hash;
	uint64_t tags; /* chains_tags(): the FNV-1a 64 of its rules' "tby:<hash>" comments */
	uint64_t fp;   /* the render's fingerprint of the chain (struct acl_ipt_keep) ... */
	bool fp_known; /* ... when the render that was loaded told it */
	bool kept;     /* chains_parse(): "#keep <name>", the text left its rules out */
};

/* felix_ipt_keep()'s context for one family's render. */
struct keep_ctx {
	struct felix_ipt *x;
	bool v6;
	bool delta; /* a render for felix_ipt_apply_delta(): loaded chains may be kept */
	bool armed; /* set by felix_ipt_keep(), cleared as the next apply of the family begins */
	bool bad;   /* a fingerprint could not be recorded: record none */
	struct chain_sum *seen; /* every chain the render asked about, with its fingerprint */
	size_t n_seen, cap_seen;
};

struct felix_ipt {
	struct chain_sum *chains[2]; /* per family (v4, v6), sorted by name; NULL = unknown */
	size_t n_chains[2];
	char *ipsets[2]; /* "name\n" list of the sets each family's text creates */
	bool ok[2];	 /* the last apply of the family succeeded */
	/* felix_ipt_read_kernel(): what `ipset save` and `iptables-save` / `ip6tables-save`
	 * printed, read at once before a full apply of both families; NULL: not read (or the
	 * tool failed), felix_ipt_apply() runs it itself. The saves are taken by the apply of
	 * their family, the ipset listing is shared until felix_ipt_read_drop(). */
	char *read_ipset;
	char *read_save[2];
	/* felix_ipt_read_ahead(): the three tools, running (pid != 0) until read or dropped */
	struct tool_job *reading;
	/* felix_ipt_state_load(): the previous run's chains per family (name and tags), which
	 * stand in for the two saves until felix_ipt_read_drop(); the hook jumps are in place */
	struct chain_sum *state[2];
	size_t n_state[2];
	bool state_loaded;
	unsigned commits; /* felix_ipt_commits() */
	struct keep_ctx keep[2];
};

static int chain_cmp(const void *a, const void *b)
{
	return strcmp(((const struct chain_sum *)a)->name, ((const struct chain_sum *)b)->name);
}

static struct chain_sum *chain_find(struct chain_sum *v, size_t n, const char *name, size_t len)
{
	struct chain_sum key = {0};

	if (len >= sizeof(key.name)) {
		return NULL;
	}
	memcpy(key.name, name, len);
	return array_find(&key, v, n, sizeof(*v), chain_cmp);
}

/* The "tby:<hash>" comment of rule line @p (@l bytes), as iptables-save prints it (quoted or
 * not) and acl_render_ipt() writes it; *@ret_len its length. Return: NULL when it has none. */
static const char *rule_tag(const char *p, size_t l, size_t *ret_len)
{
	static const char pat[] = "--comment ";
	const char *end = p + l;

	for (const char *q = p; (q = memmem(q, (size_t)(end - q), pat, sizeof(pat) - 1));) {
		q += sizeof(pat) - 1;
		q += q < end && *q == '"';
		if ((size_t)(end - q) >= 4 && memcmp(q, "tby:", 4) == 0) {
			size_t n = strcspn(q, "\" \n");

			*ret_len = MIN(n, (size_t)(end - q));
			return q;
		}
	}
	return NULL;
}

/* Rule line @p (@l bytes, no newline) added to a chain's comment hash @h (chains_tags()): its
 * "tby:<hash>" comment, or the whole line when it has none, so that it never equals ours. */
static uint64_t tags_add(uint64_t h, const char *p, size_t l)
{
	size_t tl = 0;
	const char *tag = rule_tag(p, l, &tl);

	h = tag ? hash_fnv1a(h, tag, tl) : hash_fnv1a(h, p, l);
	return hash_fnv1a(h, "\n", 1);
}

/*
 * The chains text @text declares (":name ..." lines; with @only_ours, only "tby-" ones), each
 * with the FNV-1a 64 basis as its hash, sorted by name. A declared name longer than 28
 * characters is -EINVAL, or with @only_ours skipped. Return: 0, -EINVAL or -ENOMEM.
 */
static int chains_declared(const char *text, bool only_ours, struct chain_sum **ret, size_t *ret_n)
{
	struct chain_sum *v = NULL;
	size_t n = 0, cap = 0;

	for (const char *p = text; *p;) {
		size_t l = strcspn(p, "\n");

		if (p[0] == ':' && (!only_ours || strncmp(p + 1, "tby-", 4) == 0)) {
			size_t nl = strcspn(p + 1, " \n");

			if (nl == 0 || nl >= sizeof(v->name)) {
				if (only_ours) {
					p += l + (p[l] == '\n');
					continue;
				}
				free(v);
				return -EINVAL;
			}
			if (array_grow(&v, n + 1, &cap, sizeof(*v)) < 0) {
				free(v);
				return -ENOMEM;
			}
			memset(&v[n], 0, sizeof(v[n]));
			memcpy(v[n].name, p + 1, nl);
			v[n].hash = v[n].tags = HASH_FNV1A_INIT;
			n++;
		}
		p += l + (p[l] == '\n');
	}
	if (n) {
		qsort(v, n, sizeof(*v), chain_cmp);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * The chains of acl_render_ipt() text @rules (":name - [0:0]" declarations, then "-A name ..."
 * lines) with the hash of each one's rules. *ret sorted by name. Return: 0, -EINVAL (a rule
 * of an undeclared chain, a name longer than 28, a duplicate declaration) or -ENOMEM.
 */
static int chains_parse(const char *rules, struct chain_sum **ret, size_t *ret_n)
{
	struct chain_sum *v = NULL;
	size_t n = 0;
	int r = chains_declared(rules, false, &v, &n);

	if (r < 0) {
		return r;
	}
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i - 1].name, v[i].name) == 0) {
			free(v);
			return -EINVAL;
		}
	}
	for (const char *p = rules; *p;) {
		size_t l = strcspn(p, "\n");
		if (strncmp(p, "-A ", 3) == 0) {
			struct chain_sum *c = chain_find(v, n, p + 3, strcspn(p + 3, " \n"));
			if (!c || c->kept) {
				free(v);
				return -EINVAL;
			}
			c->hash = hash_fnv1a(c->hash, p, l + 1);
			c->tags = tags_add(c->tags, p, l);
		} else if (strncmp(p, "#keep ", 6) == 0) {
			struct chain_sum *c = chain_find(v, n, p + 6, strcspn(p + 6, " \n"));
			if (!c || c->hash != HASH_FNV1A_INIT) {
				free(v);
				return -EINVAL;
			}
			c->kept = true;
		}
		p += l + (p[l] == '\n');
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * The tby- chains of iptables text @text (acl_render_ipt()'s or iptables-save's: ":name ..."
 * declarations, "-A name ..." rules) with the FNV-1a 64 of their rules' "tby:<hash>" comments
 * in order, in .tags (a rule without one counts its whole line, so it never equals one of
 * ours). The comment hash covers a rule's chain, position and text (acl/render-ipt.c), so
 * two equal chains here hold the same rules, as Calico's felix reads iptables-save. Other
 * chains and their rules are skipped. *ret sorted by name. Return: 0 or -ENOMEM.
 */
static int chains_tags(const char *text, struct chain_sum **ret, size_t *ret_n)
{
	struct chain_sum *v = NULL;
	size_t n = 0;
	int r = chains_declared(text, true, &v, &n);

	if (r < 0) {
		return r;
	}
	for (const char *p = text; *p;) {
		size_t l = strcspn(p, "\n");
		if (strncmp(p, "-A tby-", 7) == 0) {
			struct chain_sum *c = chain_find(v, n, p + 3, strcspn(p + 3, " \n"));

			if (c) {
				c->tags = tags_add(c->tags, p, l);
			}
		}
		p += l + (p[l] == '\n');
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* One ipset's type and members, as an order-independent digest (sum and xor of each member's
 * FNV-1a 64, and their number). */
struct set_sum {
	char name[32]; /* ipset names have at most 31 characters */
	char type[24];
	uint64_t sum, xor;
	size_t n;
};

static int set_cmp(const void *a, const void *b)
{
	return strcmp(((const struct set_sum *)a)->name, ((const struct set_sum *)b)->name);
}

static void set_add_member(struct set_sum *s, const char *m, size_t len)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, m, len);

	s->sum += h;
	s->xor ^= h;
	s->n++;
}

/* The first space-separated word of @p into @buf (@size bytes); false when it does not fit. */
static bool word(const char *p, char *buf, size_t size)
{
	size_t l = strcspn(p, " \n");

	if (l == 0 || l >= size)
		return false;
	memcpy(buf, p, l);
	buf[l] = '\0';
	return true;
}

/*
 * The tby- sets `ipset save` printed (@saved: "create <name> <type> ..." then its "add <name>
 * <member>" lines), sorted by name. Members are compared as ipset prints them, which is how
 * acl_render_ipt() writes them (a host without /32 or /128, "addr,proto:port"); a set written
 * differently only costs its block again. Return: 0 or -ENOMEM.
 */
static int sets_saved(const char *saved, struct set_sum **ret, size_t *ret_n)
{
	struct set_sum *v = NULL;
	size_t n = 0, cap = 0;
	ssize_t cur = -1;

	for (const char *p = saved ? saved : ""; *p;) {
		size_t l = strcspn(p, "\n");

		if (strncmp(p, "create tby-", 11) == 0) {
			if (array_grow(&v, n + 1, &cap, sizeof(*v)) < 0) {
				free(v);
				return -ENOMEM;
			}
			memset(&v[n], 0, sizeof(v[n]));
			cur = word(p + 7, v[n].name, sizeof(v[n].name)) &&
				      word(p + 8 + strlen(v[n].name), v[n].type, sizeof(v[n].type))
				  ? (ssize_t)n++
				  : -1;
		} else if (cur >= 0 && strncmp(p, "add ", 4) == 0) {
			size_t nl = strlen(v[cur].name);

			if (strncmp(p + 4, v[cur].name, nl) == 0 && p[4 + nl] == ' ')
				set_add_member(&v[cur], p + 5 + nl, l - 5 - nl);
			else
				v[cur].n = SIZE_MAX; /* not in the order we read: never equal */
		} else {
			cur = -1;
		}
		p += l + (p[l] == '\n');
	}
	if (n) {
		qsort(v, n, sizeof(*v), set_cmp);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * @ipset (acl_render_ipt()'s script: per set a block from "create <set>" to the next one, that
 * fills a temporary set and swaps it in) without the blocks of the sets @have already holds
 * with the same type and members, into @out; *@kept: how many were left out. Return: 0 or
 * -ENOMEM.
 */
static int ipset_changed(const char *ipset, const struct set_sum *have, size_t n_have,
			 struct strbuf *out, size_t *kept)
{
	int r = 0;

	for (const char *p = ipset; *p && r >= 0;) {
		const char *end = p;
		struct set_sum want = {0};
		const struct set_sum *h = NULL;

		if (p[0] == '#') { /* the script's comment line: nothing to send */
			p += strcspn(p, "\n");
			p += *p == '\n';
			continue;
		}
		if (strncmp(p, "create ", 7) == 0 && strncmp(p + 7, "tby-tmp-", 8) != 0 &&
		    word(p + 7, want.name, sizeof(want.name)) &&
		    word(p + 8 + strlen(want.name), want.type, sizeof(want.type)))
			h = array_find(&want, have, n_have, sizeof(*have), set_cmp);
		/* the block: this line up to the next "create" of another set (or the end) */
		do {
			size_t l = strcspn(end, "\n");

			if (h && strncmp(end, "add tby-tmp-", 12) == 0) {
				const char *m = strchr(end + 4, ' ');

				if (m && m < end + l)
					set_add_member(&want, m + 1, (size_t)(end + l - m - 1));
			}
			end += l + (end[l] == '\n');
		} while (*end && !(strncmp(end, "create ", 7) == 0 &&
				   strncmp(end + 7, "tby-tmp-", 8) != 0));
		if (h && strcmp(h->type, want.type) == 0 && h->n == want.n && h->sum == want.sum &&
		    h->xor == want.xor) {
			(*kept)++;
		} else {
			r = strbuf_append(out, p, (size_t)(end - p));
		}
		p = end;
	}
	return r;
}

/* Drop the memory of family @v6 (the next apply of it must be full). */
static void forget_family(struct felix_ipt *x, bool v6)
{
	free(x->chains[v6]);
	x->chains[v6] = NULL;
	x->n_chains[v6] = 0;
	x->ok[v6] = false;
}

/* struct acl_ipt_keep.keep: records @chain's fingerprint; keeps it (delta renders only) when
 * the last good apply loaded it with the same fingerprint. */
static bool keep_chain(void *ctx, const char *chain, uint64_t fp)
{
	struct keep_ctx *k = ctx;
	struct felix_ipt *x = k->x;
	size_t l = strlen(chain);

	if (l >= sizeof(k->seen->name) ||
	    array_grow(&k->seen, k->n_seen + 1, &k->cap_seen, sizeof(*k->seen)) < 0) {
		k->bad = true;
		return false;
	}
	struct chain_sum *e = &k->seen[k->n_seen++];
	*e = (struct chain_sum){.fp = fp};
	memcpy(e->name, chain, l + 1);
	if (!k->delta || !x->ok[k->v6] || !x->chains[k->v6]) {
		return false;
	}
	const struct chain_sum *c = chain_find(x->chains[k->v6], x->n_chains[k->v6], chain, l);
	return c && c->fp_known && c->fp == fp;
}

void felix_ipt_keep(struct felix_ipt *x, int family, bool delta, struct acl_ipt_keep *ret)
{
	bool v6 = family == AF_INET6;
	struct keep_ctx *k = &x->keep[v6];

	k->x = x;
	k->v6 = v6;
	k->delta = delta;
	k->armed = true;
	k->bad = false;
	k->n_seen = 0;
	*ret = (struct acl_ipt_keep){.keep = keep_chain, .ctx = k};
}

/* An apply of family @v6 begins: whether felix_ipt_keep() recorded its render. Disarms, so a
 * failed apply leaves nothing that a later one, maybe without a render of its own, takes. */
static bool keep_begin(struct felix_ipt *x, bool v6)
{
	bool armed = x->keep[v6].armed;

	x->keep[v6].armed = false;
	return armed;
}

/* The apply succeeded: the fingerprints its render recorded (@armed, keep_begin()) go to the
 * chains @v (@n, sorted) it loaded. */
static void keep_take(struct felix_ipt *x, bool v6, bool armed, struct chain_sum *v, size_t n)
{
	struct keep_ctx *k = &x->keep[v6];

	if (armed && !k->bad) {
		for (size_t i = 0; i < k->n_seen; i++) {
			struct chain_sum *c =
			    chain_find(v, n, k->seen[i].name, strlen(k->seen[i].name));
			if (c) {
				c->fp = k->seen[i].fp;
				c->fp_known = true;
			}
		}
	}
	k->n_seen = 0;
	if (k->cap_seen > 4096) { /* a full render's worth is not kept between renders */
		free(k->seen);
		k->seen = NULL;
		k->cap_seen = 0;
	}
}

bool felix_ipt_ready(const struct felix_ipt *x)
{
	return x->ok[0] && x->ok[1];
}

bool felix_ipt_has_set(const struct felix_ipt *x, const char *name)
{
	size_t l = strlen(name);
	for (int f = 0; f < 2; f++) {
		for (const char *p = x->ipsets[f]; p && (p = strstr(p, name)); p += l) {
			if ((p == x->ipsets[f] || p[-1] == '\n') && p[l] == '\n') {
				return true;
			}
		}
	}
	return false;
}

int felix_ipt_new(struct felix_ipt **ret)
{
	struct felix_ipt *x = calloc(1, sizeof(*x));
	if (!x) {
		return -ENOMEM;
	}
	*ret = x;
	return 0;
}

struct felix_ipt *felix_ipt_free(struct felix_ipt *x)
{
	if (!x) {
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		free(x->chains[i]);
		free(x->ipsets[i]);
		free(x->keep[i].seen);
	}
	felix_ipt_read_drop(x);
	free(x);
	return NULL;
}

/* A tool started by tool_start(), collected by tool_wait(). */
struct tool_job {
	pid_t pid; /* 0: not running (@r says why) */
	int fin, fout;
	int r; /* 127: not found; < 0: errno */
};

static void tool_close(struct tool_job *j)
{
	if (j->fin >= 0) {
		close(j->fin);
	}
	if (j->fout >= 0) {
		close(j->fout);
	}
	j->fin = j->fout = -1;
}

/* Start @argv with @in on stdin, stdout+stderr into a memfd. Return: 0, or the error also
 * left in @j->r (tool_wait() reports it). */
static int tool_start(char *const argv[], const char *in, size_t in_len, struct tool_job *j)
{
	int fin = memfd_create("tby-in", MFD_CLOEXEC);
	int fout = memfd_create("tby-out", MFD_CLOEXEC);
	int r;
	pid_t pid = 0;

	*j = (struct tool_job){.fin = fin, .fout = fout};
	if (fin < 0 || fout < 0) {
		r = -errno;
		goto out;
	}
	for (size_t off = 0; in && off < in_len;) {
		ssize_t w = write(fin, in + off, in_len - off);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			r = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	lseek(fin, 0, SEEK_SET);
	/* posix_spawn, not fork: glibc spawns with CLONE_VM|CLONE_VFORK, so felix's page tables
	 * (80 MiB and more at 100,000 endpoints) are not copied for every iptables-restore run;
	 * copying them was ~20% of a policy edit's CPU on iptables (bench/README.md). */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0) {
		r = -r;
		goto out;
	}
	r = posix_spawnattr_init(&at);
	if (r != 0) {
		posix_spawn_file_actions_destroy(&fa);
		r = -r;
		goto out;
	}
	sigemptyset(&none);
	r = posix_spawn_file_actions_adddup2(&fa, fin, 0);
	if (r == 0) {
		r = posix_spawn_file_actions_adddup2(&fa, fout, 1);
	}
	if (r == 0) {
		r = posix_spawn_file_actions_adddup2(&fa, fout, 2);
	}
	if (r == 0) {
		r = posix_spawnattr_setsigmask(&at,
					       &none); /* felix blocks signals for its signalfd */
	}
	if (r == 0) {
		r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	}
	if (r == 0) {
		r = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r == ENOENT || r == EACCES) {
		r = 127; /* not found or not executable: as a shell reports it */
	} else if (r != 0) {
		r = -r;
	} else {
		j->pid = pid;
	}
out:
	j->r = r;
	return r;
}

/* Wait for @j; its stdout+stderr into *ret_out (may be NULL). Return the exit status (>= 0)
 * or a negative errno. */
static int tool_wait(struct tool_job *j, char **ret_out)
{
	int r = j->r, status;

	if (j->pid > 0) {
		while (waitpid(j->pid, &status, 0) < 0) {
			if (errno != EINTR) {
				r = -errno;
				goto out;
			}
		}
		r = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	} else if (r < 0) {
		goto out;
	}
	if (ret_out) {
		off_t len = lseek(j->fout, 0, SEEK_END);
		char *buf = malloc((size_t)(len > 0 ? len : 0) + 1);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
		ssize_t n = len > 0 ? pread(j->fout, buf, (size_t)len, 0) : 0;
		buf[n > 0 ? n : 0] = '\0';
		*ret_out = buf;
	}
out:
	j->pid = 0;
	tool_close(j);
	return r;
}

int felix_ipt_tool(char *const argv[], const char *in, size_t in_len, char **ret_out)
{
	struct tool_job j;

	(void)tool_start(argv, in, in_len, &j);
	return tool_wait(&j, ret_out);
}

/* Forget what felix_ipt_read_kernel() collected (not the state of felix_ipt_state_load()). */
static void read_free(struct felix_ipt *x)
{
	free(x->read_ipset);
	free(x->read_save[0]);
	free(x->read_save[1]);
	x->read_ipset = x->read_save[0] = x->read_save[1] = NULL;
}

/* The tools of felix_ipt_read_kernel(), in the order of its outputs. */
#define READ_TOOLS 3

void felix_ipt_read_ahead(struct felix_ipt *x)
{
	char *ipset[] = {"ipset", "save", NULL};
	char *v4[] = {"iptables-save", "-t", "filter", NULL};
	char *v6[] = {"ip6tables-save", "-t", "filter", NULL};
	char **argv[READ_TOOLS] = {ipset, v4, v6};

	if (x->reading) {
		return;
	}
	read_free(x);
	x->reading = calloc(READ_TOOLS, sizeof(*x->reading));
	if (!x->reading) {
		return; /* felix_ipt_apply() runs each tool itself */
	}
	for (int i = 0; i < READ_TOOLS; i++) {
		if (i > 0 &&
		    x->state_loaded) { /* the previous run's state stands in for the saves */
			x->reading[i] = (struct tool_job){.fin = -1, .fout = -1, .r = -ECANCELED};
			continue;
		}
		(void)tool_start(argv[i], NULL, 0, &x->reading[i]);
	}
}

bool felix_ipt_reading(const struct felix_ipt *x)
{
	return x->reading != NULL || x->state_loaded;
}

void felix_ipt_read_kernel(struct felix_ipt *x)
{
	char **dst[READ_TOOLS] = {&x->read_ipset, &x->read_save[0], &x->read_save[1]};

	felix_ipt_read_ahead(x);
	if (!x->reading) {
		return;
	}
	for (int i = 0; i < READ_TOOLS; i++) {
		char *out = NULL;
		if (tool_wait(&x->reading[i], &out) == 0) {
			*dst[i] = out;
		} else {
			free(out); /* the apply runs the tool again and reports its error */
		}
	}
	free(x->reading);
	x->reading = NULL;
}

void felix_ipt_read_drop(struct felix_ipt *x)
{
	if (x->reading) {
		for (int i = 0; i < READ_TOOLS; i++) {
			(void)tool_wait(&x->reading[i], NULL);
		}
		free(x->reading);
		x->reading = NULL;
	}
	read_free(x);
	for (int i = 0; i < 2; i++) {
		free(x->state[i]);
		x->state[i] = NULL;
		x->n_state[i] = 0;
	}
	x->state_loaded = false;
}

static void first_line(char *err, size_t errlen, const char *what, const char *out)
{
	snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(out ? out : "", "\n"), out ? out : "");
}

/* The built-in chains and the tby- chain each of them jumps to (a "tby:hook" rule). */
static const char *const hooks[][2] = {
    {"FORWARD", "tby-forward"}, {"INPUT", "tby-input"}, {"OUTPUT", "tby-output"}};

int felix_ipt_apply(struct felix_ipt *x, int family, const char *rules, const char *ipset,
		    struct felix_pol_stats *st, char *err, size_t errlen)
{
	bool v6 = family == AF_INET6;
	const char *ipt = v6 ? "ip6tables" : "iptables";
	char *restore = v6 ? "ip6tables-restore" : "iptables-restore";
	char *save = v6 ? "ip6tables-save" : "iptables-save";
	_cleanup_strbuf_ struct strbuf text = {0}, sets = {0};
	_cleanup_free_ char *saved = NULL;
	char *out = NULL;
	int r;

	x->ok[v6] = false;
	bool keep = keep_begin(x, v6);
	/* 1. sets: those the kernel holds with other members, or not at all (`ipset save`) */
	_cleanup_strbuf_ struct strbuf changed_sets = {0};
	size_t sets_kept = 0;
	if (ipset && ipset[0]) {
		char *sv[] = {"ipset", "save", NULL};
		_cleanup_free_ struct set_sum *sv_have = NULL;
		size_t sv_n = 0;

		if (x->read_ipset) {
			r = sets_saved(x->read_ipset, &sv_have, &sv_n);
		} else {
			r = felix_ipt_tool(sv, NULL, 0, &out);
			if (r == 0) {
				r = sets_saved(out, &sv_have, &sv_n);
			} else {
				r = 0; /* nothing known: every set is written */
			}
			free(out);
			out = NULL;
		}
		if (r >= 0) {
			r = ipset_changed(ipset, sv_have, sv_n, &changed_sets, &sets_kept);
		}
		if (r < 0) {
			return r;
		}
		if (sets_kept) {
			log_debug("ipset: %zu sets already hold their members", sets_kept);
		}
	}
	if (changed_sets.len) {
		char *argv[] = {"ipset", "restore", "-exist", NULL};
		r = felix_ipt_tool(argv, changed_sets.buf, changed_sets.len, &out);
		if (r != 0) {
			first_line(err, errlen, "ipset restore", out);
			free(out);
			return r < 0 ? r : -EINVAL;
		}
		free(out);
		out = NULL;
	}
	for (const char *p = ipset; p && (p = strstr(p, "create ")); p += 7) {
		if (p != ipset && p[-1] != '\n') {
			continue;
		}
		size_t l = strcspn(p + 7, " \n");
		if (strncmp(p + 7, "tby-tmp-", 8) != 0) {
			r = strbuf_printf(&sets, "%.*s\n", (int)l, p + 7);
			if (r < 0) {
				return r;
			}
		}
	}

	/* 2. what the kernel has: ours (tby-) by their rules' comments (iptables-save) */
	_cleanup_free_ struct chain_sum *have = NULL, *want = NULL;
	size_t n_have = 0, n_want = 0, written = 0, kept = 0, removed = 0;
	bool hooks_in = false; /* the hook jumps are known to be in place */
	if (x->state_loaded) {
		/* felix_ipt_state_load(): the kernel holds what the last run left */
		have = TAKE_PTR(x->state[v6]);
		n_have = x->n_state[v6];
		x->n_state[v6] = 0;
		hooks_in = true;
		r = 0;
	} else {
		char *argv[] = {save, "-t", "filter", NULL};
		saved = TAKE_PTR(x->read_save[v6]);
		r = saved ? 0 : felix_ipt_tool(argv, NULL, 0, &saved);
		if (r != 0) {
			first_line(err, errlen, save, saved);
			return r < 0 ? r : -EINVAL;
		}
		r = chains_tags(saved, &have, &n_have);
	}
	if (r >= 0) {
		r = chains_tags(rules, &want, &n_want);
	}
	if (r < 0) {
		return r;
	}

	/* 3. one restore of the chains that differ: the new and changed ones declared (flushed)
	 * and filled, the stale ones (in the kernel, not declared any more) flushed after
	 * "*filter" and deleted (-X) before COMMIT. A chain whose rules carry the same comments in
	 * the same order is left as it is: after a restart, nothing is written again. */
	_cleanup_strbuf_ struct strbuf dels = {0};
	const char *f = strstr(rules, "*filter\n");
	const char *c = f ? strstr(f, "\nCOMMIT") : NULL;
	if (!f || !c) {
		snprintf(err, errlen, "rendered iptables text has no *filter ... COMMIT");
		return -EINVAL;
	}
	f += strlen("*filter\n");
	c += 1;
	r = strbuf_append(&text, rules, (size_t)(f - rules));
	for (size_t i = 0; r >= 0 && i < n_have; i++) {
		if (!chain_find(want, n_want, have[i].name, strlen(have[i].name))) {
			removed++;
			r = strbuf_printf(&text, ":%s - [0:0]\n", have[i].name);
			if (r >= 0) {
				r = strbuf_printf(&dels, "-X %s\n", have[i].name);
			}
		}
	}
	for (const char *p = f; r >= 0 && p < c;) {
		size_t l = strcspn(p, "\n");
		const char *name = p[0] == ':' ? p + 1 : strncmp(p, "-A ", 3) == 0 ? p + 3 : NULL;
		struct chain_sum *w =
		    name ? chain_find(want, n_want, name, strcspn(name, " \n")) : NULL;
		struct chain_sum *h = w ? chain_find(have, n_have, w->name, strlen(w->name)) : NULL;

		if (h && h->tags == w->tags) {
			kept += p[0] == ':';
		} else {
			written += p[0] == ':' && w;
			r = strbuf_append(&text, p, l + (p[l] == '\n'));
		}
		p += l + (p[l] == '\n');
	}
	if (r >= 0 && dels.len) {
		r = strbuf_append(&text, dels.buf, dels.len);
	}
	if (r >= 0) {
		r = strbuf_puts(&text, c);
	}
	if (r < 0) {
		return r;
	}
	if (kept) {
		log_debug("%s: %zu chains already as rendered, %zu written", restore, kept,
			  written);
	}
	if (written || removed) {
		char *argv[] = {restore, "--noflush", NULL};
		r = felix_ipt_tool(argv, text.buf, text.len, &out);
		if (r != 0) {
			first_line(err, errlen, restore, out);
			free(out);
			return r < 0 ? r : -EINVAL;
		}
		free(out);
		out = NULL;
		x->commits++;
	}

	/* 4. hooks, idempotent: a jump iptables-save printed (before the restore, which does not
	 * touch the built-in chains) is there; otherwise `iptables -C` decides */
	for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
		char line[96];
		snprintf(line, sizeof(line), "\n-A %s -m comment --comment \"tby:hook\" -j %s\n",
			 hooks[i][0], hooks[i][1]);
		if (hooks_in || strstr(saved, line)) {
			continue;
		}
		char *chk[] = {(char *)ipt, "-w",	"-C", (char *)hooks[i][0], "-m", "comment",
			       "--comment", "tby:hook", "-j", (char *)hooks[i][1], NULL};
		r = felix_ipt_tool(chk, NULL, 0, NULL);
		if (r == 0) {
			continue;
		}
		char *ins[] = {
		    (char *)ipt, "-w",	     "-I", (char *)hooks[i][0], "1", "-m", "comment",
		    "--comment", "tby:hook", "-j", (char *)hooks[i][1], NULL};
		r = felix_ipt_tool(ins, NULL, 0, &out);
		if (r != 0) {
			first_line(err, errlen, "inserting the hook jump", out);
			free(out);
			return r < 0 ? r : -EINVAL;
		}
		free(out);
		out = NULL;
		x->commits++;
	}
	if (st) {
		st->full = true;
		st->chains_written += written;
		st->chains_removed += removed;
		st->bytes += (written || removed ? text.len : 0) + changed_sets.len;
	}
	forget_family(x, v6);
	r = chains_parse(rules, &x->chains[v6], &x->n_chains[v6]);
	if (r >= 0) {
		keep_take(x, v6, keep, x->chains[v6], x->n_chains[v6]);
	}
	if (r < 0) {
		/* Loaded, but the next apply cannot be a delta against it. */
		log_warn("iptables text of family %d not understood (%s): next apply in full",
			 family, strerror(-r));
		return 0;
	}
	free(x->ipsets[v6]);
	x->ipsets[v6] = strbuf_steal(&sets);
	x->ok[v6] = true;
	return 0;
}

/* Is @name (@len bytes) a line of the "name\n" list @list? */
static bool listed(const char *list, const char *name, size_t len)
{
	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, "\n");
		if (l == len && memcmp(p, name, len) == 0) {
			return true;
		}
		p += l + (p[l] == '\n');
	}
	return false;
}

/*
 * The `ipset restore` part of a delta: the blocks of @ipset (acl_render_ipt()'s "create <set>"
 * line up to the next one) of the sets that @known does not list (every set with @all_sets),
 * verbatim (they create the set and fill it through the temporary set and swap), then @elems. *names: "name\n" of every
 * set @ipset creates. Return: 0 or -ENOMEM.
 */
static int ipset_delta(const char *ipset, const char *known, bool all_sets, const char *elems,
		       struct strbuf *out, struct strbuf *names)
{
	bool copy = false;
	int r = 0;

	for (const char *p = ipset ? ipset : ""; *p && r >= 0;) {
		size_t l = strcspn(p, "\n");
		if (strncmp(p, "create ", 7) == 0 && strncmp(p + 7, "tby-tmp-", 8) != 0) {
			size_t nl = strcspn(p + 7, " \n");
			r = strbuf_printf(names, "%.*s\n", (int)nl, p + 7);
			copy = all_sets || !listed(known, p + 7, nl);
		}
		if (copy && r >= 0) {
			r = strbuf_append(out, p, l);
			if (r >= 0) {
				r = strbuf_puts(out, "\n");
			}
		}
		p += l + (p[l] == '\n');
	}
	if (r >= 0 && elems) {
		r = strbuf_puts(out, elems);
	}
	return r;
}

int felix_ipt_apply_delta(struct felix_ipt *x, int family, const char *rules, const char *ipset,
			  bool all_sets, const char *elems, struct felix_pol_stats *st, char *err,
			  size_t errlen)
{
	bool v6 = family == AF_INET6;
	char *restore = v6 ? "ip6tables-restore" : "iptables-restore";
	_cleanup_strbuf_ struct strbuf sets = {0}, names = {0}, text = {0}, dels = {0};
	_cleanup_free_ struct chain_sum *nv = NULL;
	_cleanup_free_ bool *changed = NULL;
	struct chain_sum *ov = x->chains[v6];
	size_t nn = 0, on = x->n_chains[v6], written = 0, removed = 0;
	char *out = NULL;
	int r;

	bool keep = keep_begin(x, v6);
	if (!x->ok[v6] || !ov) {
		snprintf(err, errlen, "no model of the %s chains", v6 ? "ip6tables" : "iptables");
		return -EAGAIN;
	}
	r = chains_parse(rules, &nv, &nn);
	if (r < 0) {
		snprintf(err, errlen, "rendered iptables text not understood");
		return r == -EINVAL ? -EAGAIN : r;
	}
	/* a chain the render kept holds what the last good apply loaded */
	for (size_t i = 0; i < nn; i++) {
		if (nv[i].kept) {
			struct chain_sum *o = chain_find(ov, on, nv[i].name, strlen(nv[i].name));
			if (!o) {
				snprintf(err, errlen, "kept chain %s is not loaded", nv[i].name);
				return -EAGAIN;
			}
			nv[i].hash = o->hash;
			nv[i].tags = o->tags;
			nv[i].fp = o->fp;
			nv[i].fp_known = o->fp_known;
		}
	}

	/* 1. sets: new ones in full, member changes of the others */
	r = ipset_delta(ipset, x->ipsets[v6], all_sets, elems, &sets, &names);
	if (r < 0) {
		return r;
	}
	if (sets.len) {
		char *argv[] = {"ipset", "restore", "-exist", NULL};
		r = felix_ipt_tool(argv, sets.buf, sets.len, &out);
		if (r != 0) {
			first_line(err, errlen, "ipset restore", out);
			free(out);
			forget_family(x, v6);
			return r < 0 ? r : -EAGAIN;
		}
		free(out);
		out = NULL;
	}

	/* 2. chains: declare (= flush) the new, changed and removed ones; fill the new and
	 * changed; delete the removed ones last, after the rewritten chains dropped their jumps. */
	changed = calloc(nn + 1, sizeof(*changed));
	if (!changed) {
		return -ENOMEM;
	}
	r = strbuf_puts(&text, "*filter\n");
	for (size_t i = 0; i < nn && r >= 0; i++) {
		struct chain_sum *o = chain_find(ov, on, nv[i].name, strlen(nv[i].name));
		if (!o || o->hash != nv[i].hash) {
			changed[i] = true;
			written++;
			r = strbuf_printf(&text, ":%s - [0:0]\n", nv[i].name);
		}
	}
	for (size_t i = 0; i < on && r >= 0; i++) {
		if (!chain_find(nv, nn, ov[i].name, strlen(ov[i].name))) {
			removed++;
			r = strbuf_printf(&text, ":%s - [0:0]\n", ov[i].name);
			if (r >= 0) {
				r = strbuf_printf(&dels, "-X %s\n", ov[i].name);
			}
		}
	}
	for (const char *p = rules; *p && r >= 0;) {
		size_t l = strcspn(p, "\n");
		if (written && strncmp(p, "-A ", 3) == 0) {
			struct chain_sum *c = chain_find(nv, nn, p + 3, strcspn(p + 3, " \n"));
			if (c && changed[c - nv]) {
				r = strbuf_append(&text, p, l + 1);
			}
		}
		p += l + (p[l] == '\n');
	}
	if (r >= 0 && dels.len) {
		r = strbuf_append(&text, dels.buf, dels.len);
	}
	if (r >= 0) {
		r = strbuf_puts(&text, "COMMIT\n");
	}
	if (r < 0) {
		return r;
	}
	if (written || removed) {
		char *argv[] = {restore, "--noflush", NULL};
		r = felix_ipt_tool(argv, text.buf, text.len, &out);
		if (r != 0) {
			first_line(err, errlen, restore, out);
			free(out);
			forget_family(x, v6);
			return r < 0 ? r : -EAGAIN;
		}
		free(out);
		x->commits++;
	}
	if (st) {
		st->chains_written += written;
		st->chains_removed += removed;
		st->bytes += (written || removed ? text.len : 0) + sets.len;
	}
	keep_take(x, v6, keep, nv, nn);
	free(x->chains[v6]);
	x->chains[v6] = TAKE_PTR(nv);
	x->n_chains[v6] = nn;
	free(x->ipsets[v6]);
	x->ipsets[v6] = strbuf_steal(&names);
	return 0;
}

int felix_ipt_apply_sets(struct felix_ipt *x, const char *text, char *err, size_t errlen)
{
	char *out = NULL;
	char *argv[] = {"ipset", "restore", "-exist", NULL};
	int r = felix_ipt_tool(argv, text, strlen(text), &out);

	if (r != 0) {
		first_line(err, errlen, "ipset restore", out);
		free(out);
		x->ok[0] = x->ok[1] = false;
		return r < 0 ? r : -EINVAL;
	}
	free(out);
	return 0;
}

int felix_ipt_fail_closed(struct felix_ipt *x, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			  size_t errlen)
{
	_cleanup_strbuf_ struct strbuf text = {0};
	char *out = NULL;
	size_t added = 0;
	int r;

	/* The last good rules drop every workload interface their dispatch does not name. */
	if (x->chains[0] && chain_find(x->chains[0], x->n_chains[0], "tby-from-wl", 11)) {
		log_warn("policy not applied: new workload interfaces stay dropped (fail closed)");
		return 0;
	}
	char *fc[] = {"iptables", "-w", "-S", "tby-from-wl", NULL};
	char *listing = NULL;
	r = felix_ipt_tool(fc, NULL, 0, &listing);
	if (r == 0 && listing && strstr(listing, "-i tby+ ") && strstr(listing, "-j DROP")) {
		free(listing);
		log_warn("policy not applied: new workload interfaces stay dropped (fail closed)");
		return 0;
	}
	free(listing);
	listing = NULL;

	/* No rules of ours, or a previous version's: a DROP per interface they do not name. */
	char *chk[] = {"iptables", "-w", "-S", "tby-forward", NULL};
	r = felix_ipt_tool(chk, NULL, 0, &listing);
	bool have = r == 0;
	r = strbuf_puts(&text, "*filter\n");
	if (r >= 0 && !have) {
		r = strbuf_puts(&text, ":tby-forward - [0:0]\n");
	}
	for (size_t i = 0; i < n_ifaces && r >= 0; i++) {
		char pat[IFNAMSIZ + 8];
		snprintf(pat, sizeof(pat), "-i %s ", ifaces[i]);
		if (listing && strstr(listing, pat)) {
			continue;
		}
		r = strbuf_printf(&text,
				  "-I tby-forward 1 -i %s -m comment --comment \"tby:failclosed\" "
				  "-j DROP\n-I tby-forward 1 -o %s -m comment --comment "
				  "\"tby:failclosed\" -j DROP\n",
				  ifaces[i], ifaces[i]);
		added++;
	}
	free(listing);
	if (r < 0) {
		return r;
	}
	if (!added) {
		return 0;
	}
	r = strbuf_puts(&text, "COMMIT\n");
	if (r < 0) {
		return r;
	}
	char *argv[] = {"iptables-restore", "--noflush", NULL};
	r = felix_ipt_tool(argv, text.buf, text.len, &out);
	if (r != 0) {
		first_line(err, errlen, "iptables-restore (fail closed)", out);
		free(out);
		return r < 0 ? r : -EINVAL;
	}
	free(out);
	x->commits++;
	char *hk[] = {"iptables",  "-w",       "-C", "FORWARD",	    "-m", "comment",
		      "--comment", "tby:hook", "-j", "tby-forward", NULL};
	if (felix_ipt_tool(hk, NULL, 0, NULL) != 0) {
		char *ins[] = {"iptables", "-w",	"-I",	    "FORWARD", "1",	      "-m",
			       "comment",  "--comment", "tby:hook", "-j",      "tby-forward", NULL};
		x->commits += felix_ipt_tool(ins, NULL, 0, NULL) == 0;
	}
	log_warn("policy not applied: %zu new workload interface(s) fail closed (drop)", added);
	return 0;
}

int felix_ipt_finish(struct felix_ipt *x)
{
	char *out = NULL;
	char *argv[] = {"ipset", "list", "-n", NULL};
	int r = felix_ipt_tool(argv, NULL, 0, &out);
	if (r != 0) {
		free(out);
		return r < 0 ? r : -EIO;
	}
	for (char *p = out; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl) {
			*nl = '\0';
		}
		if (strncmp(p, "tby-", 4) == 0) {
			char pat[64];
			snprintf(pat, sizeof(pat), "%s\n", p);
			bool used = (x->ipsets[0] && strstr(x->ipsets[0], pat)) ||
				    (x->ipsets[1] && strstr(x->ipsets[1], pat));
			if (!used) {
				char *d[] = {"ipset", "destroy", p, NULL};
				int q = felix_ipt_tool(d, NULL, 0, NULL);
				if (q != 0) {
					log_warn("ipset destroy %s failed (exit %d)", p, q);
				}
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	free(out);
	return 0;
}

int felix_ipt_remove(struct felix_ipt *x)
{
	int ret = 0;

	for (int v6 = 0; v6 < 2; v6++) {
		char *ipt = v6 ? "ip6tables" : "iptables";
		char *save = v6 ? "ip6tables-save" : "iptables-save";
		char *restore = v6 ? "ip6tables-restore" : "iptables-restore";
		_cleanup_strbuf_ struct strbuf text = {0}, dels = {0};
		char *saved = NULL;
		int r;

		for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
			char *del[] = {
			    ipt,	 "-w",	     "-D", (char *)hooks[i][0], "-m", "comment",
			    "--comment", "tby:hook", "-j", (char *)hooks[i][1], NULL};
			for (int k = 0; k < 4 && felix_ipt_tool(del, NULL, 0, NULL) == 0; k++) {
				x->commits++;
			}
		}
		char *sv[] = {save, "-t", "filter", NULL};
		if (felix_ipt_tool(sv, NULL, 0, &saved) != 0) {
			free(saved);
			continue;
		}
		r = strbuf_puts(&text, "*filter\n");
		for (const char *p = saved; r >= 0 && (p = strstr(p, "\n:tby-")); p += 2) {
			size_t l = strcspn(p + 2, " \n");
			r = strbuf_printf(&text, ":%.*s - [0:0]\n", (int)l, p + 2);
			if (r >= 0) {
				r = strbuf_printf(&dels, "-X %.*s\n", (int)l, p + 2);
			}
		}
		free(saved);
		if (r >= 0 && dels.len) {
			r = strbuf_append(&text, dels.buf, dels.len);
			if (r >= 0) {
				r = strbuf_puts(&text, "COMMIT\n");
			}
			char *argv[] = {restore, "--noflush", NULL};
			if (r >= 0 && felix_ipt_tool(argv, text.buf, text.len, NULL) != 0) {
				log_warn("%s: removing tby- chains failed", restore);
				ret = -EIO;
			} else if (r >= 0) {
				x->commits++;
			}
		}
		forget_family(x, v6);
		free(x->ipsets[v6]);
		x->ipsets[v6] = NULL;
	}
	(void)felix_ipt_finish(x); /* no set is referenced now: destroys every tby- set */
	return ret;
}

unsigned felix_ipt_commits(const struct felix_ipt *x)
{
	return x->commits;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

#define STATE_MAGIC "tabby-iptables-state 1"

/* "<boot id> <netns cookie>": this boot (/proc/sys/kernel/random/boot_id) and this network
 * namespace (SO_NETNS_COOKIE: never reused within a boot, unlike the namespace's inode).
 * Return: 0, -EOPNOTSUPP (a kernel without the cookie) or another -errno. */
static int host_identity(char *buf, size_t len)
{
	char boot[64] = "";
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (!f) {
		return -errno;
	}
	bool ok = fgets(boot, sizeof(boot), f) != NULL;
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	if (!ok || !boot[0]) {
		return -EIO;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	int r = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl) < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		return r == -ENOPROTOOPT ? -EOPNOTSUPP : r;
	}
	snprintf(buf, len, "%s %016llx", boot, (unsigned long long)cookie);
	return 0;
}

int felix_ipt_state_save(const struct felix_ipt *x, const char *path, uint32_t gen)
{
	_cleanup_(strbuf_donep) struct strbuf sb = {0};
	char id[128];
	int r;

	if (!x->ok[0] || !x->ok[1] || !x->chains[0] || !x->chains[1]) {
		return -EAGAIN;
	}
	r = host_identity(id, sizeof(id));
	if (r < 0) {
		return r;
	}
	r = strbuf_printf(&sb, "%s\nhost %s\ngen %u\n", STATE_MAGIC, id, gen);
	for (int v6 = 0; v6 < 2 && r >= 0; v6++) {
		for (size_t i = 0; i < x->n_chains[v6] && r >= 0; i++) {
			const struct chain_sum *c = &x->chains[v6][i];
			if (strncmp(c->name, "tby-", 4) == 0) {
				r = strbuf_printf(&sb, "chain %d %s %016llx\n", v6 ? 6 : 4, c->name,
						  (unsigned long long)c->tags);
			}
		}
	}
	if (r >= 0) {
		r = strbuf_puts(&sb, "end\n");
	}
	return r < 0 ? r : file_write_atomic(path, sb.buf, sb.len, 0644);
}

/* One "chain <4|6> <name> <tags>" line of a state file into @v; -EBADMSG when malformed. */
static int state_chain(const char *line, struct chain_sum **v, size_t *n, size_t *cap)
{
	char name[64];
	int fam = 0, end = 0;
	unsigned long long tags = 0;

	if (sscanf(line, "chain %d %63s %16llx%n", &fam, name, &tags, &end) != 3 ||
	    line[end] != '\0' || (fam != 4 && fam != 6) || strncmp(name, "tby-", 4) != 0 ||
	    strlen(name) >= sizeof(v[0]->name) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
		strlen(name)) {
		return -EBADMSG; /* the name goes into a restore: only what our chains use */
	}
	int f = fam == 6;
	if (array_grow(&v[f], n[f] + 1, &cap[f], sizeof(*v[f])) < 0) {
		return -ENOMEM;
	}
	struct chain_sum *c = &v[f][n[f]++];
	*c = (struct chain_sum){.tags = tags};
	memcpy(c->name, name, strlen(name) + 1);
	return 0;
}

/* The next line of state file @f into @line (@len bytes), without its newline. Return: 0, or
 * -EBADMSG at the end of the file or for a line longer than any we write. */
static int state_line(FILE *f, char *line, size_t len, unsigned *ln)
{
	++*ln;
	if (!fgets(line, (int)len, f)) {
		return -EBADMSG; /* cut short */
	}
	size_t l = strcspn(line, "\n");
	if (line[l] != '\n') {
		return -EBADMSG;
	}
	line[l] = '\0';
	return 0;
}

int felix_ipt_state_load(struct felix_ipt *x, const char *path, uint32_t gen, unsigned *ret_line)
{
	struct chain_sum *v[2] = {NULL, NULL};
	size_t n[2] = {0, 0}, cap[2] = {0, 0};
	char id[128] = "", line[256], want[160];
	unsigned g = 0, ln = 0;
	int end = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		return errno == ENOENT ? 0 : -errno;
	}
	(void)unlink(path); /* one use: a later start reads the kernel unless this run saves */
	bool same = host_identity(id, sizeof(id)) == 0;
	snprintf(want, sizeof(want), "host %s", id);
	/* "tabby-iptables-state 1", "host <boot id> <cookie>", "gen <n>", chains, "end" */
	int r = state_line(f, line, sizeof(line), &ln);
	if (r >= 0 && strcmp(line, STATE_MAGIC) != 0) {
		r = -EBADMSG;
	}
	if (r >= 0) {
		r = state_line(f, line, sizeof(line), &ln);
	}
	if (r >= 0 && strncmp(line, "host ", 5) != 0) {
		r = -EBADMSG;
	}
	same = same && r >= 0 && strcmp(line, want) == 0;
	if (r >= 0) {
		r = state_line(f, line, sizeof(line), &ln);
	}
	if (r >= 0 && (sscanf(line, "gen %u%n", &g, &end) != 1 || line[end] != '\0')) {
		r = -EBADMSG;
	}
	same = same && g == gen;
	while (r >= 0 && (r = state_line(f, line, sizeof(line), &ln)) >= 0 &&
	       strcmp(line, "end") != 0) {
		r = state_chain(line, v, n, cap);
	}
	fclose(f);
	if (ret_line)
		*ret_line = r == -EBADMSG ? ln : 0;
	for (int i = 0; i < 2 && r >= 0; i++) {
		if (n[i]) {
			qsort(v[i], n[i], sizeof(*v[i]), chain_cmp);
		}
		for (size_t k = 1; k < n[i] && r >= 0; k++) {
			r = strcmp(v[i][k - 1].name, v[i][k].name) == 0 ? -EBADMSG : 0;
		}
	}
	if (r < 0 || !same) {
		free(v[0]);
		free(v[1]);
		return r < 0 ? r : -ESTALE;
	}
	felix_ipt_read_drop(x);
	for (int i = 0; i < 2; i++) {
		x->state[i] = v[i];
		x->n_state[i] = n[i];
	}
	x->state_loaded = true;
	return 1;
}
