/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Policy dataplane drivers (felix/dataplane/policy/nft-table.c, felix/dataplane/policy/ipt-table.c),
 * touching only tabby's own objects (table inet tabby; iptables chains and ipsets named
 * "tby-..."). nftables: program pieces from the calc results as libnftnl batches, removed
 * sets included. iptables: the text acl_render_ipt() printed; apply order (STYLE.md 5.4):
 * felix_ipt_apply() creates/updates sets and runs the ruleset transaction; felix_ipt_finish()
 * deletes stale sets and is called after routes and BIRD.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "felix/calc/policy.h"
#include "lib/macro.h"

/* What one apply did. */
struct felix_pol_stats {
	bool full;	    /* a full replace of our table, or the first commit after adopting it
			     * (nft) / every chain (iptables) */
	bool noop;	    /* nothing changed */
	size_t elems_added; /* nft incremental: set and map elements */
	size_t elems_removed;
	size_t chains_written; /* incremental: chains created or rewritten */
	size_t chains_removed;
	size_t rules; /* nft: rules sent */
	size_t bytes; /* bytes of netlink batch (nft) / script for the restore tools (ipt) */
};

/* ---- nftables (libnftnl batches: nft-plan -> nft-delta -> nft-sink) ---- */

struct felix_nft;

/** felix_nft_new() - a driver with no memory of the kernel: its first commit reads back the
 * table an earlier felix left (felix_nft_commit()). No kernel I/O. Return: 0 or -ENOMEM. */
int felix_nft_new(struct felix_nft **ret) _warn_unused_result_;

/** felix_nft_free() - NULL-safe; leaves the kernel as it is. Return: NULL. */
struct felix_nft *felix_nft_free(struct felix_nft *n);

/**
 * felix_nft_note() - memory only: what the calc update @up changed over its result @cp
 * (nft_plan_note()). Return: 0 or -ENOMEM (the next commit is then complete).
 */
int felix_nft_note(struct felix_nft *n, const struct calc_policy *cp,
		   const struct calc_policy_update *up);

/** felix_nft_pending() - something noted is not committed yet. */
bool felix_nft_pending(const struct felix_nft *n);

/**
 * felix_nft_commit() - send what was noted, built from the calculation's current result @cp,
 * as ONE nf_tables transaction: a new local endpoint is its chains, map and wl-ifaces
 * elements and set elements; a policy edit that policy's chains; remote endpoints set
 * elements. The first commit of a new driver first adopts the table the kernel holds
 * (nft-adopt.h: chains, rules, sets and elements read back by their tags) and sends only
 * what differs from it; when there is no table, when it cannot be adopted, or when the
 * adopted table cannot be brought up to date in place (a declaration differs, or the kernel
 * refuses the batch), the table is replaced. With no memory otherwise (after
 * felix_nft_forget() or a failed batch) the table is replaced: create, delete and define
 * `table inet tabby` in the same transaction; no other table is touched. @st->full is set
 * for a replace and for that first commit (logged even when it sent nothing).
 * @err: one line on failure.
 * Return: 0, -EINVAL (a piece could not be built; nothing sent), the kernel's -errno (the
 * transaction changed nothing; the next commit replaces the table), -ENOMEM.
 */
int felix_nft_commit(struct felix_nft *n, const struct calc_policy *cp, struct felix_pol_stats *st,
		     char *err, size_t errlen) _warn_unused_result_;

/** felix_nft_ready() - the driver knows what our table holds: a commit succeeded and nothing
 * made it forget since, or a listing made ahead (felix_nft_adopt_ahead()) filled its memory.
 * Waits for that listing's thread first. */
bool felix_nft_ready(struct felix_nft *n);

/**
 * felix_nft_adopt_ahead() - when the first commit is still to adopt the table (see
 * felix_nft_commit()), start listing it now on a thread of its own, so the listing runs while
 * the caller computes what that commit will send. The thread writes only the driver's own
 * memory; every other felix_nft_*() but felix_nft_note() and felix_nft_pending() waits for it
 * first, and the commit uses what it listed (or lists again after felix_nft_forget()). Without
 * a thread the commit lists, as before. No-op otherwise.
 */
void felix_nft_adopt_ahead(struct felix_nft *n);

/**
 * felix_nft_generation() - the network namespace's nf_tables ruleset generation now
 * (NFT_MSG_GETGEN; every committed transaction of any program, iptables-nft's included, bumps
 * it), after waiting for a listing made ahead. Return: 0 or the -errno of the netlink socket.
 */
int felix_nft_generation(struct felix_nft *n, uint32_t *ret) _warn_unused_result_;

/**
 * felix_nft_fail_closed() - the policy cannot be computed or applied: keep the kernel's table
 * and make every workload interface of @ifaces that our table does not dispatch yet drop all
 * traffic (map elements "<if>" : drop in fw-dispatch and tw-dispatch). With no memory of the
 * table it asks the kernel (libnftables, this failure path only) and creates a minimal table
 * when there is none. Return: 0 or a negative errno.
 */
int felix_nft_fail_closed(struct felix_nft *n, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			  size_t errlen);

/**
 * felix_nft_unchanged() - the periodic resync's check: the driver knows our table
 * (felix_nft_ready()) and no nf_tables transaction of anyone has been committed in this network
 * namespace since our last one (felix_nft_sink_unchanged()), so the kernel holds what we sent
 * and a full replace would change nothing.
 */
bool felix_nft_unchanged(struct felix_nft *n);

/** felix_nft_forget() - drop the memory of the kernel: the next commit is a full replace
 * (periodic resync). */
void felix_nft_forget(struct felix_nft *n);

/** felix_nft_remove() - delete `table inet tabby` (switching to iptables; one batch: create
 * if missing, delete), or nothing when the kernel says it has no such table (no transaction);
 * forgets the memory. Return: 0 or the kernel's -errno (logged). */
int felix_nft_remove(struct felix_nft *n);

/* ---- iptables-restore + ipset ---- */

struct felix_ipt;

/** felix_ipt_new() - Return: 0 or -ENOMEM. */
int felix_ipt_new(struct felix_ipt **ret) _warn_unused_result_;

/** felix_ipt_free() - NULL-safe. Return: NULL. */
struct felix_ipt *felix_ipt_free(struct felix_ipt *x);

/**
 * felix_ipt_read_kernel() - before a full apply of both families: run `ipset save`,
 * `iptables-save -t filter` and `ip6tables-save -t filter` at the same time (three processes:
 * ~100 ms in all where one after the other took ~260 ms at 16,000 rules and 100,000 set
 * members) and keep what they print for felix_ipt_apply(). Each family's apply takes its save
 * and shares the ipset listing (each family's sets are its own, so the first family's writes
 * do not change what the second compares). A tool that fails is run again by the apply, which
 * reports its error. Call felix_ipt_read_drop() after the applies.
 */
void felix_ipt_read_kernel(struct felix_ipt *x);

/**
 * felix_ipt_read_ahead() - start felix_ipt_read_kernel()'s three tools now, without waiting
 * for them: the caller knows a full apply follows and computes it meanwhile. The next
 * felix_ipt_read_kernel() collects them (felix_ipt_read_drop() discards them). No-op while
 * they run.
 */
void felix_ipt_read_ahead(struct felix_ipt *x);

/** felix_ipt_reading() - felix_ipt_read_ahead()'s tools were started and not collected yet,
 * or a felix_ipt_state_load() stands in for the saves: what the next full apply reads was taken
 * before now (the caller checks that the nf_tables generation has not moved since). */
bool felix_ipt_reading(const struct felix_ipt *x);

/** felix_ipt_read_drop() - forget what felix_ipt_read_kernel() read, or wait for and discard
 * what felix_ipt_read_ahead() started (NULL-safe fields), and a felix_ipt_state_load(). */
void felix_ipt_read_drop(struct felix_ipt *x);

/**
 * felix_ipt_state_save() - for the next run's felix_ipt_state_load(): write to @path (through
 * "@path.tmp" and rename()) the tby- chains of both families as the last good applies left
 * them (name and the hash of their rules' "tby:<hash>" comments, one line each, ~60 bytes),
 * with this boot (its boot_id), this network namespace (its SO_NETNS_COOKIE, which a boot
 * never reuses) and @gen. The caller passes the nf_tables generation only when it knows that
 * no transaction but ours (felix_ipt_commits()) committed since the last read of the kernel,
 * so the kernel holds exactly what the driver's memory says.
 * Return: 0; -EAGAIN (no good apply of both families to describe); -EOPNOTSUPP (a kernel
 * without SO_NETNS_COOKIE, Linux < 5.14); -ENAMETOOLONG or another -errno of the file.
 */
int felix_ipt_state_save(const struct felix_ipt *x, const char *path, uint32_t gen);

/**
 * felix_ipt_state_load() - read and delete @path (a previous run's felix_ipt_state_save()).
 * When it names this boot, this network namespace and @gen, the nf_tables generation now
 * (nothing committed since that run saved it: iptables-nft's tables are nf_tables ones), its
 * chains stand in for what iptables-save and ip6tables-save would print to the next full
 * felix_ipt_apply() of each family, and the hook jumps count as in place: felix_ipt_read_ahead()
 * then starts only `ipset save` (sets are not nf_tables objects). Until felix_ipt_read_drop(),
 * which the caller calls when the generation moves before that apply. Each file is used once.
 * @ret_line: may be NULL; with -EBADMSG, the 1-based line found wrong (one past the last for
 * a file cut short), or 0 when the lines were each well formed but one chain is listed twice.
 * Return: 1 loaded; 0 no file; -ESTALE another boot, namespace or generation; -EBADMSG a
 * malformed file; -ENOMEM or another -errno of the file (nothing loaded unless 1).
 */
int felix_ipt_state_load(struct felix_ipt *x, const char *path, uint32_t gen, unsigned *ret_line);

/** felix_ipt_commits() - how many nf_tables transactions the driver's tools have committed
 * (one per iptables-restore / ip6tables-restore that wrote and per hook jump inserted or
 * deleted; each moves the generation by one, measured with NFT_MSG_GETGEN around each tool;
 * `iptables -C`, the saves and ipset move it by none). */
unsigned felix_ipt_commits(const struct felix_ipt *x);

/**
 * felix_ipt_apply() - load acl_render_ipt() output of one family: `ipset restore -exist` with
 * the blocks of @ipset whose set `ipset save` does not show with the same type and members,
 * then ONE `iptables-restore --noflush` (ip6tables-restore for AF_INET6) with the chains of
 * @rules whose rules' "tby:<hash>" comments differ (in order) from what iptables-save shows,
 * plus the deletion (flush + -X) of every "tby-" chain that iptables-save shows and @rules no
 * longer declares; neither tool runs when it has nothing to do (a restart over our own state).
 * Then the jumps FORWARD/INPUT/OUTPUT -> tby-forward/tby-input/tby-output are inserted at the
 * top when `iptables -C` does not find them (idempotent). Chains and sets of others are never
 * touched. @st (may be NULL): chains_written/chains_removed and the bytes sent are added.
 * Return: 0, -EINVAL (a tool rejected the text: iptables-restore is atomic, the previous rules
 * stay), or a negative errno from running the tools.
 */
int felix_ipt_apply(struct felix_ipt *x, int family, const char *rules, const char *ipset,
		    struct felix_pol_stats *st, char *err, size_t errlen) _warn_unused_result_;

/**
 * felix_ipt_apply_delta() - the incremental path for one family once felix_ipt_ready(): only
 * what differs from the last good apply goes to the kernel.
 * @rules: acl_render_ipt() output (flags 0) of the whole state, rendered with felix_ipt_keep()
 *     (@delta true) or without it. A chain marked "#keep <chain>" is as the last apply loaded
 *     it (-EAGAIN when that apply did not). The others are compared by
 *     name and by a hash of their rules with the chains the last apply of @family loaded; one
 *     `iptables-restore --noflush` declares (so flushes) and fills the new and changed chains,
 *     flushes the removed ones and deletes them (-X) at the end, after the rewritten chains
 *     dropped their jumps (one atomic restore). Nothing is run when no chain changed. The hook
 *     jumps are not checked (felix_ipt_apply() does that, at every resync).
 * @ipset: acl_render_ipt()'s ipset script: the blocks of the sets the last applies did not
 *     create go to the kernel verbatim (create + fill); the blocks of sets that exist are
 *     skipped (their members may have been rendered empty) and @elems updates them instead,
 *     unless @all_sets: then every block goes (each set's members are replaced atomically
 *     through its swap; for a full recalculation, which reports no member changes).
 * @elems: NULL or "add|del <set> <elem>\n" lines for sets felix_ipt_has_set() knows (both
 *     families may be mixed; pass them with one of the two calls).
 * The sets (one `ipset restore -exist`) go in before the rules that use them.
 * @st: chains_written, chains_removed and bytes are added to.
 * Return: 0; -EAGAIN when a full felix_ipt_apply() of @family is needed instead (no model, the
 * text is not understood, or a tool rejected the change: the family's model is then dropped
 * and @err says why); -ENOMEM or another negative errno from running the tools.
 */
int felix_ipt_apply_delta(struct felix_ipt *x, int family, const char *rules, const char *ipset,
			  bool all_sets, const char *elems, struct felix_pol_stats *st, char *err,
			  size_t errlen) _warn_unused_result_;

/**
 * felix_ipt_keep() - @ret for acl_render_input.ipt_keep, for the render of @family's text that
 * goes to the next felix_ipt_apply() (@delta false) or felix_ipt_apply_delta() (@delta true).
 * It records every chain's fingerprint (struct acl_ipt_keep) and, with @delta, keeps the
 * chains that the last good apply of @family loaded with the same fingerprint, so a render for
 * a policy edit writes only the chains made from what changed (rendering all 16,500 rules of
 * 1,000 policies and 250 endpoints took ~15 ms per family). The fingerprints become the
 * driver's when that apply succeeds; a render without felix_ipt_keep() records none, and the
 * next delta render keeps nothing of it. @ret stays valid until the next call for @family.
 */
void felix_ipt_keep(struct felix_ipt *x, int family, bool delta, struct acl_ipt_keep *ret);

/** felix_ipt_ready() - a full felix_ipt_apply() of both families succeeded since the last
 * felix_ipt_remove() or failure. */
bool felix_ipt_ready(const struct felix_ipt *x);

/** felix_ipt_has_set() - the last applies created the ipset @name ("tby-s4-<id>"). */
bool felix_ipt_has_set(const struct felix_ipt *x, const char *name);

/**
 * felix_ipt_apply_sets() - element changes only (remote endpoints): @text is an `ipset
 * restore` script of "add|del <set> <elem>" lines, run with -exist (adding what is there or
 * deleting what is not is no error). Rules are not touched.
 * Return: 0, -EINVAL (ipset rejected the text; the driver is no longer ready, so the next
 * apply is full) or a negative errno from running the tool.
 */
int felix_ipt_apply_sets(struct felix_ipt *x, const char *text, char *err,
			 size_t errlen) _warn_unused_result_;

/** felix_ipt_fail_closed() - as felix_nft_fail_closed(). Rules of acl_render_ipt() already
 * drop every "tby" interface their dispatch (tby-from-wl, tby-to-wl) does not name, so with
 * those in place nothing is added; without them (no rules of ours, or an older version's),
 * DROP rules at the top of tby-forward for @ifaces that its rules do not name. */
int felix_ipt_fail_closed(struct felix_ipt *x, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			  size_t errlen);

/** felix_ipt_remove() - delete the hook jumps, every tby- chain (iptables and ip6tables) and
 * every tby- ipset (switching to nftables). Return: 0 or a negative errno (logged). */
int felix_ipt_remove(struct felix_ipt *x);

/** felix_ipt_finish() - `ipset destroy` the tby- sets that the last applies no longer
 * reference. Return: 0 or a negative errno (logged). */
int felix_ipt_finish(struct felix_ipt *x);

/**
 * felix_ipt_tool() - run @argv (argv[0] looked up in PATH) with @in[0..@in_len) on its stdin
 * and wait for it; the iptables/ipset drivers' one way to the tools. Spawned with
 * posix_spawnp() (no copy of felix's page tables) and an empty signal mask (felix blocks the
 * signals its signalfd reads; the tool must not inherit that).
 * @ret_out: NULL, or the tool's stdout and stderr together (NUL-terminated, free()).
 * Return: the exit status (0 = success, 127 = not found or not executable, 128 = killed) or a
 * negative errno (memfd, spawn, wait).
 */
int felix_ipt_tool(char *const argv[], const char *in, size_t in_len, char **ret_out);
