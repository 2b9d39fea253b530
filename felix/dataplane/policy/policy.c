/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix policy pipeline: compute -> nftables or iptables driver, with status; the policy
 * driver of felix/dataplane/driver.h.
 *
 * dp_policy_set_desired() runs the incremental calculation (memory only) and notes what it
 * changed: the nftables driver turns the notes into program pieces (nft-plan), the iptables
 * side keeps the member changes (last change of a member wins). dp_policy_ops.apply sends
 * them: one libnftnl batch, or iptables-restore/ipset.
 *
 * The backend is felix.yaml's policyDataplane unless FelixConfiguration (node.<name> over
 * default) sets nftablesMode/policyDataplane. Switching backends removes the other backend's
 * objects (our nft table, or our tby- chains and hook jumps).
 *
 * Failure (STYLE.md 5.7): when the calculation, a renderer or the kernel rejects the policy,
 * nothing of the last good rules is removed (nft and iptables-restore transactions are atomic),
 * the reason is logged with the resource name, the status file says
 * {"policy":{"ok":false,"error":...}}, the apply is retried after 1, 2, 4 .. 30 s, and every
 * local workload interface the last good rules do not know drops all traffic (fail closed).
 */
#include <errno.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acl/nft-prog.h"
#include "felix/calc/policy.h"
#include "felix/dataplane/policy/backend.h"
#include "felix/dataplane/policy/policy.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

/* One member change as the drivers name it: the set name without "tby-" and the element in
 * acl_render_nft()'s text (render-nft.c emit_set()) or ipset's (render-ipt.c put_member()). */
struct elem_text {
	char set[32];
	char nft[IP_PREFIX_STRLEN + 16];
	char ipset[IP_PREFIX_STRLEN + 16];
	bool ipset_ok; /* hash:ip,port knows tcp/udp/sctp/udplite only */
	bool add;
	size_t seq; /* order of noting (the last change of a member wins) */
};

struct felix_policy {
	char *node_name;
	enum model_dataplane cfg_dataplane;
	char *status_file;
	struct felix_nft *nft;
	struct felix_ipt *ipt;
	struct calc_policy_inc *inc; /* the incremental calculation (felix/calc/policy.h) */
	enum model_dataplane active; /* _MODEL_DATAPLANE_INVALID before the first apply */
	bool dirty;
	bool force_full;
	bool resync; /* the periodic resync: replace ours unless the kernel provably holds it */
	unsigned failures;
	uint64_t next_retry_ms;
	char error[1024];
	bool status_written;
	bool status_ok;
	enum model_dataplane status_dp; /* the backend the status file names */
	/* set_desired -> apply */
	const struct calc_cache *cache; /* borrowed from the agent (re-run after a failure) */
	int calc_r;			/* the last calculation's result */
	bool want;			/* set_desired noted something apply has not sent */
	char (*ifaces)[IFNAMSIZ];	/* local workload interfaces (fail closed) */
	size_t n_ifaces, cap_ifaces;
	/* iptables: member changes since the last apply (formatted at note time); ipt_full: a
	 * ruleset changed (chains are compared and rewritten); ipt_recalc: the calculation ran
	 * in full, so no member changes were noted and every set is sent whole */
	bool ipt_full, ipt_recalc;
	/* iptables: an apply that may have left sets no rule uses any more (a full one or one
	 * that rewrote chains); felix_policy_finish() destroys those and clears it. */
	bool ipt_finish;
	/* ipt_read_ahead(): the nf_tables generation when the read began (ipt_gen_ok: known)
	 * and felix_ipt_commits() then */
	uint32_t ipt_gen;
	bool ipt_gen_ok;
	unsigned ipt_read_commits;
	/* ipt_trust(): the iptables driver's memory is the kernel's content as of generation
	 * ipt_trust_gen, when felix_ipt_commits() was ipt_trust_commits, plus our commits since.
	 * policy_free() saves it when every transaction committed since was ours. */
	bool ipt_trusted;
	uint32_t ipt_trust_gen;
	unsigned ipt_trust_commits;
	char *ipt_state_file; /* felix_ipt_state_save()'s file, next to the status file */
	struct elem_text *ipt_elems;
	size_t n_ipt, cap_ipt;
	struct dp_stats stats; /* for felix_policy_apply() callers */
};

static const char *dp_name(enum model_dataplane d)
{
	return d == MODEL_DATAPLANE_IPTABLES ? "iptables" : "nftables";
}

/* The backend the previous run's status file names (write_status(): "policy": {"dataplane":
 * "iptables"|"nftables"}), or _MODEL_DATAPLANE_INVALID when there is none. */
static enum model_dataplane last_dataplane(const char *path)
{
	enum model_dataplane d = _MODEL_DATAPLANE_INVALID;
	struct json_object *root = path ? json_object_from_file(path) : NULL, *pol, *dp;

	if (root && json_object_object_get_ex(root, "policy", &pol) &&
	    json_object_object_get_ex(pol, "dataplane", &dp) &&
	    json_object_is_type(dp, json_type_string)) {
		const char *s = json_object_get_string(dp);
		if (strcmp(s, dp_name(MODEL_DATAPLANE_IPTABLES)) == 0) {
			d = MODEL_DATAPLANE_IPTABLES;
		} else if (strcmp(s, dp_name(MODEL_DATAPLANE_NFTABLES)) == 0) {
			d = MODEL_DATAPLANE_NFTABLES;
		}
	}
	json_object_put(root);
	return d;
}

/* Start the iptables driver's read of the kernel (felix_ipt_read_ahead()) unless it runs, and
 * note the nf_tables ruleset generation first: apply_ipt() uses what it read only when no
 * transaction committed since (iptables-nft's tables are nf_tables ones). */
static void ipt_read_ahead(struct felix_policy *p)
{
	if (felix_ipt_reading(p->ipt)) {
		return;
	}
	p->ipt_gen_ok = felix_nft_generation(p->nft, &p->ipt_gen) >= 0;
	p->ipt_read_commits = felix_ipt_commits(p->ipt);
	felix_ipt_read_ahead(p->ipt);
}

/* A restart on iptables: when the last run saved its state (policy_free()) and no nf_tables
 * transaction has committed since, that state stands in for iptables-save and ip6tables-save
 * (~210 ms of CPU at 16,500 rules per family, on the cores the datastore snapshot decodes
 * on); only `ipset save` runs. Otherwise the three tools read the kernel. */
static void ipt_restart(struct felix_policy *p)
{
	uint32_t gen;
	unsigned line = 0;
	int r = 0;

	if (p->ipt_state_file && felix_nft_generation(p->nft, &gen) >= 0) {
		r = felix_ipt_state_load(p->ipt, p->ipt_state_file, gen, &line);
	}
	if (r > 0) {
		log_info("iptables: nothing committed since the last run saved its state "
			 "(nf_tables generation %u): its chains are not read back",
			 gen);
		p->ipt_gen = gen;
		p->ipt_gen_ok = true;
		p->ipt_read_commits = felix_ipt_commits(p->ipt);
		felix_ipt_read_ahead(p->ipt); /* `ipset save` only */
		return;
	}
	if (r == -ESTALE) {
		log_info("iptables: the kernel's rules changed since the last run saved its state: "
			 "reading them back");
	} else if (r == -EBADMSG && line) {
		log_warn("iptables: ignoring %s:%u: not a line this felix writes; reading the "
			 "kernel's rules back",
			 p->ipt_state_file, line);
	} else if (r == -EBADMSG) {
		log_warn("iptables: ignoring %s: a chain listed twice; reading the kernel's rules "
			 "back",
			 p->ipt_state_file);
	} else if (r < 0) {
		log_warn_errno(r, "iptables: ignoring %s: %m", p->ipt_state_file);
	}
	ipt_read_ahead(p);
}

/* After a good full iptables apply: its read of the kernel began at generation ipt_gen, and
 * the driver's memory is that read plus our writes. It stays the kernel's content for as long
 * as every transaction committed since is ours, which ipt_state_save() checks once, at exit:
 * the generation only grows, so a foreign commit at any time in between shows there. */
static void ipt_trust(struct felix_policy *p)
{
	p->ipt_trusted = p->ipt_gen_ok;
	p->ipt_trust_gen = p->ipt_gen;
	p->ipt_trust_commits = p->ipt_read_commits;
}

/* Exit on iptables: save the driver's memory for the next run's ipt_restart() when the kernel
 * still provably holds it. */
static void ipt_state_save(struct felix_policy *p)
{
	uint32_t gen;

	if (!p->ipt_state_file || p->active != MODEL_DATAPLANE_IPTABLES) {
		return;
	}
	if (!p->ipt_trusted || felix_nft_generation(p->nft, &gen) < 0 ||
	    gen != p->ipt_trust_gen + (felix_ipt_commits(p->ipt) - p->ipt_trust_commits)) {
		log_info("iptables: the kernel's rules are not provably ours as applied: the next "
			 "start reads them back");
		return;
	}
	int r = felix_ipt_state_save(p->ipt, p->ipt_state_file, gen);
	if (r < 0) {
		log_warn_errno(r, "iptables: cannot save the state for the next start: %m");
	}
}

int felix_policy_new(const struct felix_policy_options *o, struct felix_policy **ret)
{
	struct felix_policy *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		return -ENOMEM;
	}
	p->node_name = strdup(o->node_name);
	p->status_file = o->status_file ? strdup(o->status_file) : NULL;
	p->cfg_dataplane = o->dataplane;
	p->active = _MODEL_DATAPLANE_INVALID;
	p->dirty = true;
	p->ipt_state_file = o->ipt_state_file ? strdup(o->ipt_state_file) : NULL;
	if (!p->node_name || (o->status_file && !p->status_file) ||
	    (o->ipt_state_file && !p->ipt_state_file)) {
		felix_policy_free(p);
		return -ENOMEM;
	}
	r = calc_policy_inc_new(&(struct calc_policy_options){.node_name = o->node_name}, &p->inc);
	if (r >= 0) {
		r = felix_nft_new(&p->nft);
	}
	if (r >= 0) {
		r = felix_ipt_new(&p->ipt);
	}
	if (r < 0) {
		felix_policy_free(p);
		return r;
	}
	/* A restart on iptables: the save tools read the kernel while the datastore syncs, not
	 * while the first calculation runs (~200 ms of CPU at 16,500 rules and 100,000 set
	 * members, taken from that calculation on two cores). The datastore may choose the other
	 * backend: then the read is dropped after the first apply. */
	if (last_dataplane(p->status_file) == MODEL_DATAPLANE_IPTABLES) {
		ipt_restart(p);
	}
	*ret = p;
	return 0;
}

struct felix_policy *felix_policy_free(struct felix_policy *p)
{
	if (!p) {
		return NULL;
	}
	felix_nft_free(p->nft);
	felix_ipt_free(p->ipt);
	calc_policy_inc_free(p->inc);
	free(p->ifaces);
	free(p->ipt_elems);
	free(p->node_name);
	free(p->status_file);
	free(p->ipt_state_file);
	free(p);
	return NULL;
}

void felix_policy_note_key(struct felix_policy *p, const char *key)
{
	if (calc_policy_inc_note_key(p->inc, key)) {
		p->dirty = true;
	}
}

void felix_policy_recalc(struct felix_policy *p)
{
	calc_policy_inc_invalidate(p->inc);
	p->dirty = true;
}

void felix_policy_queue_resync(struct felix_policy *p)
{
	/* The kernel side only: replaced in the apply (nftables: unless nothing was committed
	 * since our batch). The calculation is pure and follows every noted key; it reruns in
	 * full only when felix_policy_recalc() says the cache changed unnoted. */
	p->resync = true;
	p->ipt_full = true;
	p->ipt_recalc = true;
	p->dirty = true;
}

bool felix_policy_wants_apply(const struct felix_policy *p, uint64_t now_ms)
{
	return p->dirty || p->want || (p->next_retry_ms && now_ms >= p->next_retry_ms);
}

uint64_t felix_policy_next_retry_ms(const struct felix_policy *p)
{
	return p->next_retry_ms;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* {"policy":{"ok":..,"dataplane":..,"error":..,"failures":..}}, written only when it changes
 * (a backend switch too: the next start's last_dataplane() reads it), with
 * file_write_atomic(). */
static void write_status(struct felix_policy *p, bool ok)
{
	if (!p->status_file ||
	    (p->status_written && p->status_ok == ok && ok && p->status_dp == p->active)) {
		return;
	}
	struct json_object *root = json_object_new_object();
	struct json_object *pol = json_object_new_object();
	json_object_object_add(pol, "ok", json_object_new_boolean(ok));
	json_object_object_add(pol, "dataplane", json_object_new_string(dp_name(p->active)));
	json_object_object_add(pol, "error", ok ? NULL : json_object_new_string(p->error));
	json_object_object_add(pol, "failures", json_object_new_int((int)p->failures));
	json_object_object_add(root, "policy", pol);
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	_cleanup_strbuf_ struct strbuf text = {0};
	int r = s ? strbuf_printf(&text, "%s\n", s) : -ENOMEM;
	if (r >= 0) {
		r = file_write_atomic(p->status_file, text.buf, text.len, 0644);
	}
	if (r >= 0) {
		p->status_written = true;
		p->status_ok = ok;
		p->status_dp = p->active;
	} else {
		log_warn_errno(r, "cannot write %s: %m", p->status_file);
	}
	json_object_put(root);
}

static void fail(struct felix_policy *p, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, uint64_t now_ms)
{
	char err[512];
	uint64_t delay = RETRY_MIN_MS;

	for (unsigned i = 0; i < p->failures && delay < RETRY_MAX_MS; i++) {
		delay *= 2;
	}
	delay = MIN(delay, (uint64_t)RETRY_MAX_MS);
	p->failures++;
	p->next_retry_ms = now_ms + delay;
	log_error("policy not applied, keeping the last good rules (retry in %llu ms): %s",
		  (unsigned long long)delay, p->error);
	felix_ipt_read_drop(p->ipt); /* a read ahead (run_calc()) is stale by the retry */
	p->ipt_trusted = false;	     /* the fail-closed rules are not in the driver's memory */
	int r = p->active == MODEL_DATAPLANE_IPTABLES
		    ? felix_ipt_fail_closed(p->ipt, ifaces, n_ifaces, err, sizeof(err))
		    : felix_nft_fail_closed(p->nft, ifaces, n_ifaces, err, sizeof(err));
	if (r < 0) {
		log_error("cannot make new workloads fail closed: %s", err);
	}
	write_status(p, false);
}

/* Remove the objects of the backend we are leaving. */
static void switch_backend(struct felix_policy *p, enum model_dataplane to)
{
	if (p->active == to) {
		return;
	}
	log_info("policy dataplane: %s", dp_name(to));
	if (to == MODEL_DATAPLANE_IPTABLES) {
		(void)felix_nft_remove(p->nft);
	} else {
		(void)felix_ipt_remove(p->ipt);
	}
	p->force_full = true;
	p->ipt_full = true;
	p->ipt_recalc = true;
	p->ipt_trusted = false;
	p->active = to;
}

static void elem_format(const struct acl_set *s, const struct calc_policy_change *ch,
			struct elem_text *ret)
{
	const struct ip_prefix *net = &ch->m.net;
	int fam = net->addr.family;
	char a[IP_PREFIX_STRLEN];

	nft_prog_set_name(s, fam, ret->set);
	if (net->len == ip_addr_bits(fam)) {
		ip_addr_format(&net->addr, a);
	} else {
		ip_prefix_format(net, a);
	}
	ret->add = ch->add;
	ret->ipset_ok = net->len > 0;
	if (s->kind == ACL_SET_NAMED_PORT) {
		const char *pn = acl_ipset_proto(ch->m.proto);
		snprintf(ret->nft, sizeof(ret->nft), "%s . %u . %u", a, ch->m.proto, ch->m.port);
		ret->ipset_ok = pn != NULL;
		snprintf(ret->ipset, sizeof(ret->ipset), "%s,%s:%u", a, pn ? pn : "", ch->m.port);
	} else {
		snprintf(ret->nft, sizeof(ret->nft), "%s", a);
		snprintf(ret->ipset, sizeof(ret->ipset), "%s", a);
	}
}

static int elems_build(const struct calc_policy *cp, const struct calc_policy_update *up,
		       struct elem_text **ret)
{
	struct elem_text *v = calloc(up->n_changes + 1, sizeof(*v));
	if (!v) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < up->n_changes; i++) {
		elem_format(cp->idx->sets[up->changes[i].set], &up->changes[i], &v[i]);
	}
	*ret = v;
	return 0;
}

/* ---- set_desired: calculation and notes (memory only) ---- */

static int ipt_note(struct felix_policy *p, const struct calc_policy *cp,
		    const struct calc_policy_update *up)
{
	_cleanup_free_ struct elem_text *et = NULL;
	int r;

	if (up->full || up->rulesets_changed) {
		p->ipt_full = true;
	}
	if (up->full || p->ipt_recalc) {
		p->ipt_recalc = true;
		p->n_ipt = 0; /* every set is sent whole */
		return 0;
	}
	r = elems_build(cp, up, &et);
	if (r >= 0 && p->n_ipt + up->n_changes > p->cap_ipt) {
		size_t nc = MAX(p->cap_ipt * 2, p->n_ipt + up->n_changes);
		struct elem_text *v = reallocarray(p->ipt_elems, nc, sizeof(*v));
		if (!v) {
			r = -ENOMEM;
		} else {
			p->ipt_elems = v;
			p->cap_ipt = nc;
		}
	}
	if (r < 0) {
		p->ipt_full = true;
		p->ipt_recalc = true;
		p->n_ipt = 0;
		return r;
	}
	for (size_t i = 0; i < up->n_changes; i++) {
		et[i].seq = p->n_ipt;
		p->ipt_elems[p->n_ipt++] = et[i];
	}
	return 0;
}

static int run_calc(struct felix_policy *p)
{
	struct calc_policy_update up = {0};
	struct parse_err perr = {0};
	uint64_t t0 = mono_ms();
	enum model_dataplane next = p->active;
	if (next == _MODEL_DATAPLANE_INVALID) {
		next = p->cfg_dataplane;
		(void)calc_policy_dataplane_of(p->cache, p->node_name, &next);
	}
	/* A restart (or a switch): read what the kernel holds while this computes, on a
	 * thread (nftables) or in the save tools' processes (iptables). */
	if (next == MODEL_DATAPLANE_IPTABLES) {
		if (next != p->active || p->force_full || !felix_ipt_ready(p->ipt)) {
			ipt_read_ahead(p);
		}
	} else {
		felix_nft_adopt_ahead(p->nft);
	}
	int r = calc_policy_inc_update(p->inc, p->cache, &up, &perr);

	p->calc_r = r;
	p->want = true;
	if (r < 0) {
		char msg[768];
		if (r == -EINVAL) {
			snprintf(p->error, sizeof(p->error), "cannot compile policy: %s",
				 parse_err_format(&perr, msg, sizeof(msg)));
		} else {
			snprintf(p->error, sizeof(p->error), "policy calculation failed: %s",
				 strerror(-r));
		}
		return r;
	}
	const struct calc_policy *cp = calc_policy_inc_get(p->inc);
	(void)felix_nft_note(p->nft, cp, &up);
	(void)ipt_note(p, cp, &up);
	uint64_t dt = mono_ms() - t0;
	if (up.full || dt > 100) {
		log_info("policy calculation (%s): %zu policies, %zu endpoints (%zu local), %zu "
			 "network sets, %zu sets in %llu ms; %zu endpoint keys, %zu member changes",
			 up.full ? "full" : "incremental", cp->stats.policies, cp->stats.endpoints,
			 cp->stats.local_endpoints, cp->stats.netsets, cp->stats.sets,
			 (unsigned long long)dt, up.n_endpoints, up.n_changes);
	}
	return 0;
}

int dp_policy_set_desired(struct felix_policy *p, const struct calc_cache *c,
			  char (*ifaces)[IFNAMSIZ], size_t n_ifaces)
{
	p->cache = c;
	if (n_ifaces > p->cap_ifaces) {
		void *v = reallocarray(p->ifaces, n_ifaces, IFNAMSIZ);
		if (!v) {
			return -ENOMEM;
		}
		p->ifaces = v;
		p->cap_ifaces = n_ifaces;
	}
	if (n_ifaces) {
		memcpy(p->ifaces, ifaces, n_ifaces * IFNAMSIZ);
	}
	p->n_ifaces = n_ifaces;
	if (!p->dirty) {
		return 0;
	}
	p->dirty = false;
	return run_calc(p);
}

int dp_policy_refresh(struct felix_policy *p)
{
	if (!p->cache || !p->dirty) {
		return 0;
	}
	p->dirty = false;
	return run_calc(p);
}

/* ---- apply: the kernel ---- */

static int apply_nft(struct felix_policy *p, const struct calc_policy *cp,
		     struct felix_pol_stats *st)
{
	char err[sizeof(p->error) - 64];
	if (p->resync && !p->force_full && felix_nft_unchanged(p->nft)) {
		log_debug("resync: nftables unchanged since our last batch, nothing to replace");
	} else if (p->force_full || p->resync) {
		felix_nft_forget(p->nft);
	}
	int r = felix_nft_commit(p->nft, cp, st, err, sizeof(err));
	if (r < 0) {
		snprintf(p->error, sizeof(p->error), "nftables batch failed: %s", err);
	}
	return r;
}

static int elem_text_cmp(const void *a, const void *b)
{
	const struct elem_text *x = a, *y = b;
	int d = strcmp(x->set, y->set);
	if (!d) {
		d = strcmp(x->ipset, y->ipset);
	}
	if (!d) {
		d = x->seq < y->seq ? -1 : x->seq > y->seq;
	}
	return d;
}

/* The "add|del tby-<set> <elem>" lines of the member changes noted since the last apply, for
 * the sets the iptables driver has (deletions first; of several changes of one member the
 * last wins), counted in @st. */
static int ipt_elem_lines(struct felix_policy *p, struct felix_pol_stats *st, struct strbuf *sb)
{
	struct elem_text *et = p->ipt_elems;
	size_t n = p->n_ipt;
	int r = 0;

	if (n > 1) {
		qsort(et, n, sizeof(*et), elem_text_cmp);
	}
	for (int pass = 0; pass < 2 && r >= 0; pass++) {
		for (size_t i = 0; i < n && r >= 0; i++) {
			char name[40];
			if (i + 1 < n && strcmp(et[i].set, et[i + 1].set) == 0 &&
			    strcmp(et[i].ipset, et[i + 1].ipset) == 0) {
				continue; /* a later change of the same member */
			}
			if (et[i].add != (pass == 1) || !et[i].ipset_ok) {
				continue;
			}
			snprintf(name, sizeof(name), "tby-%s", et[i].set);
			if (!felix_ipt_has_set(p->ipt, name)) {
				continue;
			}
			r = strbuf_printf(sb, "%s %s %s\n", et[i].add ? "add" : "del", name,
					  et[i].ipset);
			if (et[i].add) {
				st->elems_added++;
			} else {
				st->elems_removed++;
			}
		}
	}
	return r;
}

/* Remote endpoint changes on iptables: one `ipset restore -exist` with add/del lines for the
 * sets the last full apply created. */
static int apply_ipt_delta(struct felix_policy *p, struct felix_pol_stats *st)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	char err[sizeof(p->error) - 64];
	int r = ipt_elem_lines(p, st, &sb);

	if (r < 0) {
		return r;
	}
	if (!sb.len) {
		st->noop = true;
		return 0;
	}
	st->bytes = sb.len;
	r = felix_ipt_apply_sets(p->ipt, strbuf_cstr(&sb), err, sizeof(err));
	if (r < 0) {
		snprintf(p->error, sizeof(p->error), "ipset rejected the element update: %s", err);
	}
	return r;
}

/* As members_view() for the ipsets of family @fam: the sets the iptables driver has are
 * rendered empty (their changes go as add/del lines). Shallow: free only ->sets. */
static int members_view_ipt(const struct calc_policy *cp, const struct felix_ipt *ipt, int fam,
			    struct acl_members *ret)
{
	const struct acl_index *idx = cp->idx;
	ret->n_sets = idx->n_sets;
	ret->sets = calloc(idx->n_sets + 1, sizeof(*ret->sets));
	if (!ret->sets) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < idx->n_sets; i++) {
		char name[ACL_IPSET_NAME_MAX];

		acl_ipset_name(idx->sets[i], fam, name);
		if (!felix_ipt_has_set(ipt, name)) {
			ret->sets[i] = cp->members->sets[i];
		}
	}
	return 0;
}

/* A local endpoint, ruleset or policy change on iptables: the driver rewrites only the chains
 * that differ and creates only the new sets; member changes of the others go as add/del lines
 * (after a full recalculation every set is sent whole instead).
 * Return: 0, -EAGAIN (a full apply is needed), or a negative errno. */
static int apply_ipt_rules_delta(struct felix_policy *p, const struct calc_policy *cp,
				 struct felix_pol_stats *st, uint64_t *render_ms)
{
	_cleanup_strbuf_ struct strbuf elems = {0};
	char err[sizeof(p->error) - 64];
	bool full = p->ipt_recalc;
	/* A full recalculation reports no member changes: every set is sent whole. */
	int r = full ? 0 : ipt_elem_lines(p, st, &elems);

	for (int fi = 0; fi < 2 && r >= 0; fi++) {
		int fam = fi == 0 ? AF_INET : AF_INET6;
		_cleanup_strbuf_ struct strbuf rules = {0}, ipset = {0};
		struct acl_members view = {0};
		uint64_t t0 = mono_ms();

		struct acl_render_input in = calc_policy_render_input(cp);
		struct acl_ipt_keep keep;
		felix_ipt_keep(p->ipt, fam, true, &keep);
		in.ipt_keep = &keep;
		if (!full) {
			r = members_view_ipt(cp, p->ipt, fam, &view);
			if (r < 0) {
				return r;
			}
			in.members = &view;
		}
		r = acl_render_ipt(&in, fam, 0, &rules, &ipset);
		free(view.sets);
		*render_ms += mono_ms() - t0;
		if (r < 0) {
			snprintf(p->error, sizeof(p->error), "iptables render failed: %s",
				 strerror(-r));
			return r;
		}
		r = felix_ipt_apply_delta(p->ipt, fam, strbuf_cstr(&rules), strbuf_cstr(&ipset),
					  full, fi == 0 ? strbuf_cstr(&elems) : NULL, st, err,
					  sizeof(err));
		if (r == -EAGAIN) {
			log_info("incremental iptables update not possible (%s), applying in full",
				 err);
		} else if (r < 0) {
			snprintf(p->error, sizeof(p->error),
				 "iptables incremental update failed: %s", strerror(-r));
		}
	}
	return r;
}

static int apply_ipt(struct felix_policy *p, const struct calc_policy *cp,
		     struct felix_pol_stats *st, uint64_t *render_ms)
{
	struct acl_render_input in = calc_policy_render_input(cp);
	int r = 0;

	*render_ms = 0;
	if (!p->force_full && felix_ipt_ready(p->ipt)) {
		if (!p->ipt_full) {
			return apply_ipt_delta(p, st);
		}
		r = apply_ipt_rules_delta(p, cp, st, render_ms);
		if (r != -EAGAIN) {
			return r;
		}
		*st = (struct felix_pol_stats){0};
		r = 0;
	}
	uint32_t gen;
	if (felix_ipt_reading(p->ipt) && p->ipt_gen_ok && felix_nft_generation(p->nft, &gen) >= 0 &&
	    gen != p->ipt_gen) {
		/* read ahead, but a transaction (anyone's) committed since it began */
		log_info("iptables: the kernel's rules changed while they were read ahead: reading "
			 "them again");
		felix_ipt_read_drop(p->ipt);
	}
	ipt_read_ahead(p);	       /* unless it runs: notes the generation */
	felix_ipt_read_kernel(p->ipt); /* both families' state at once, not one tool at a time */
	for (int fi = 0; fi < 2 && r >= 0; fi++) {
		int fam = fi == 0 ? AF_INET : AF_INET6;
		_cleanup_strbuf_ struct strbuf rules = {0}, ipset = {0};
		uint64_t t0 = mono_ms();
		struct acl_ipt_keep keep;

		felix_ipt_keep(p->ipt, fam, false, &keep); /* recorded for the deltas after it */
		in.ipt_keep = &keep;
		r = acl_render_ipt(&in, fam, 0, &rules, &ipset);
		*render_ms += mono_ms() - t0;
		if (r < 0) {
			snprintf(p->error, sizeof(p->error), "iptables render failed: %s",
				 strerror(-r));
			return r;
		}
		char err[sizeof(p->error) - 64];
		r = felix_ipt_apply(p->ipt, fam, strbuf_cstr(&rules), strbuf_cstr(&ipset), st, err,
				    sizeof(err));
		if (r < 0) {
			snprintf(p->error, sizeof(p->error), "%s rejected the ruleset: %s",
				 fam == AF_INET ? "iptables" : "ip6tables", err);
		}
	}
	felix_ipt_read_drop(p->ipt);
	return r;
}

static int64_t retry_in(const struct felix_policy *p, uint64_t now_ms)
{
	return p->next_retry_ms > now_ms ? (int64_t)(p->next_retry_ms - now_ms) : 0;
}

static void stats_fail(struct felix_policy *p, struct dp_stats *ds, int r, uint64_t t0_us)
{
	ds->applies++;
	ds->errors++;
	ds->last_error = r;
	ds->in_sync = false;
	ds->pending = 1;
	ds->last_duration_us = mono_us() - t0_us;
	snprintf(ds->error, sizeof(ds->error), "%.*s", (int)sizeof(ds->error) - 1, p->error);
}

/* struct dp_driver_ops.apply */
static int64_t policy_apply(void *d, uint64_t now_ms, struct dp_stats *ds)
{
	struct felix_policy *p = d;
	struct felix_pol_stats st = {0};
	uint64_t t0_us = mono_us(), t1, render_ms = 0;
	int r;

	if (p->calc_r < 0 && p->cache && p->next_retry_ms && now_ms >= p->next_retry_ms) {
		(void)run_calc(p); /* a retry: maybe the calculation fails no longer */
	}
	if (!p->want && !(p->next_retry_ms && now_ms >= p->next_retry_ms)) {
		return p->next_retry_ms ? retry_in(p, now_ms) : DP_IDLE;
	}
	if (p->calc_r < 0) {
		if (p->active == _MODEL_DATAPLANE_INVALID) {
			p->active = p->cfg_dataplane;
		}
		p->want = false;
		fail(p, p->ifaces, p->n_ifaces, now_ms);
		stats_fail(p, ds, p->calc_r, t0_us);
		return retry_in(p, now_ms);
	}
	const struct calc_policy *cp = calc_policy_inc_get(p->inc);
	if (!cp) {
		return DP_IDLE;
	}
	p->want = false;
	switch_backend(p, cp->has_dataplane ? cp->dataplane : p->cfg_dataplane);
	t1 = mono_ms();
	if (p->active == MODEL_DATAPLANE_IPTABLES) {
		p->force_full |= p->resync;
		r = apply_ipt(p, cp, &st, &render_ms);
	} else {
		r = apply_nft(p, cp, &st);
	}
	felix_ipt_read_drop(p->ipt); /* a read ahead that a delta did not need */
	uint64_t kernel_ms = mono_ms() - t1 - render_ms;
	if (r < 0) {
		p->force_full = true; /* the kernel may hold less than we think: replace */
		fail(p, p->ifaces, p->n_ifaces, now_ms);
		stats_fail(p, ds, r, t0_us);
		return retry_in(p, now_ms);
	}
	if (p->active == MODEL_DATAPLANE_IPTABLES && st.full) {
		ipt_trust(p);
	}
	if (!st.noop || p->failures) {
		log_info("policy applied (%s, %s): %zu policies, %zu endpoints (%zu local); render "
			 "%llu ms, kernel %llu ms; elements +%zu -%zu, chains written %zu "
			 "removed %zu, %zu rules, %zu bytes",
			 dp_name(p->active), st.full ? "full" : "incremental", cp->stats.policies,
			 cp->stats.endpoints, cp->stats.local_endpoints,
			 (unsigned long long)render_ms, (unsigned long long)kernel_ms,
			 st.elems_added, st.elems_removed, st.chains_written, st.chains_removed,
			 st.rules, st.bytes);
	}
	if (st.full) {
		/* Give the build buffers of a full pass back to the kernel: glibc keeps freed
		 * heap otherwise, and a full pass at 100,000 endpoints peaks at tens of MB that
		 * the incremental passes never need. */
		malloc_trim(0);
	}
	p->ipt_finish |= p->active == MODEL_DATAPLANE_IPTABLES && (st.full || p->ipt_full);
	p->force_full = false;
	p->resync = false;
	p->ipt_full = false;
	p->ipt_recalc = false;
	p->n_ipt = 0;
	p->failures = 0;
	p->next_retry_ms = 0;
	write_status(p, true);
	if (!st.noop) {
		ds->applies++;
		ds->objects_changed += st.elems_added + st.elems_removed + st.chains_written +
				       st.chains_removed + st.rules;
		ds->last_duration_us = mono_us() - t0_us;
	}
	ds->last_ok_ms = now_ms ? now_ms : 1;
	ds->last_error = 0;
	ds->pending = 0;
	ds->in_sync = true;
	ds->error[0] = '\0';
	return DP_IDLE;
}

/* struct dp_driver_ops.queue_resync */
static void policy_queue_resync(void *d)
{
	felix_policy_queue_resync(d);
}

static void policy_free(void *d)
{
	ipt_state_save(d); /* the kernel is left as it is (driver.h) */
	felix_policy_free(d);
}

const struct dp_driver_ops dp_policy_ops = {
    .name = "policy",
    .apply = policy_apply,
    .queue_resync = policy_queue_resync,
    .free = policy_free,
};

int dp_policy_new(const struct felix_policy_options *o, struct felix_policy **ret)
{
	return felix_policy_new(o, ret);
}

int felix_policy_apply(struct felix_policy *p, const struct calc_cache *c, char (*ifaces)[IFNAMSIZ],
		       size_t n_ifaces, uint64_t now_ms)
{
	if (!felix_policy_wants_apply(p, now_ms)) {
		return 0;
	}
	(void)dp_policy_set_desired(p, c, ifaces, n_ifaces);
	(void)policy_apply(p, now_ms, &p->stats);
	return p->stats.last_error;
}

enum model_dataplane felix_policy_dataplane(const struct felix_policy *p)
{
	return p->active == _MODEL_DATAPLANE_INVALID ? p->cfg_dataplane : p->active;
}

const struct dp_stats *felix_policy_stats(const struct felix_policy *p)
{
	return &p->stats;
}

void felix_policy_finish(struct felix_policy *p)
{
	/* Only after an apply that could have left a set unused: `ipset list -n` is a fork and
	 * an exec, and this runs after every apply of any driver (a BIRD reconnect, a route). */
	if (p->active == MODEL_DATAPLANE_IPTABLES && p->ipt_finish &&
	    felix_ipt_finish(p->ipt) == 0) {
		p->ipt_finish = false;
	}
}
