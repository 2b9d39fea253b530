/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Calico label selectors (docs.tigera.io "Calico resources: NetworkPolicy", section "Selectors";
 * projectcalico/calico lib/selector). Pure: no I/O, no globals; labels are borrowed.
 *
 * Grammar (precedence `!` > `&&` > `||`, all left-associative):
 *   expr    := and ( "||" and )*
 *   and     := unary ( "&&" unary )*
 *   unary   := "!" unary | primary
 *   primary := "(" expr ")" | "all()" | "global()" | "has(" KEY ")"
 *            | KEY ( "==" | "!=" | "contains" | "starts with" | "ends with" ) STRING
 *            | KEY ( "in" | "not in" ) "{" [ STRING ( "," STRING )* ] "}"
 *   STRING  := '...' | "..."   (no escapes, as in Calico)
 *   KEY     := [prefix "/"] name: prefix of [A-Za-z0-9_./-] (at most 253), name of 1..63 of
 *              [A-Za-z0-9_.-] starting and ending with an alphanumeric (Calico LabelKeyMatcher)
 * Whitespace (space, tab, CR, LF) separates tokens. An empty or all-blank selector is all().
 * `!=`, `not in` and `!` match a subject that LACKS the label; `==`, `in`, `contains`,
 * `starts with`, `ends with` need it.
 *
 * global(): Calico evaluates it only inside a namespaceSelector, where it means "non-namespaced
 * resources" (GlobalNetworkSet, HostEndpoint). tabby gives it one meaning everywhere:
 * global() == !has(projectcalico.org/namespace). Plain label sets (sel_match) have that key only
 * when the caller put it there; a struct sel_subject supplies it from its namespace field.
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/parse-err.h"
#include "lib/strbuf.h"
#include "model/model.h"

/* Bytes of selector text. Only bench/sel-parse.c overrides it (to time longer selectors). */
#ifndef SEL_MAX_TEXT
#define SEL_MAX_TEXT 65536
#endif
#define SEL_MAX_DEPTH 64    /* nesting of ( and ! */
#define SEL_MAX_VALUES 1024 /* strings in one in {...} */
#define SEL_HASH_HEXLEN 17  /* 16 hex digits + NUL */

/* Calico's implicit labels (libcalico-go apis/v3 constants). */
#define SEL_LABEL_NAMESPACE "projectcalico.org/namespace"
#define SEL_LABEL_ORCHESTRATOR "projectcalico.org/orchestrator"
#define SEL_LABEL_NAME "projectcalico.org/name"
#define SEL_NS_LABEL_PREFIX "pcns." /* namespace labels seen from an endpoint */

struct sel;

/*
 * What a selector is evaluated against: an endpoint or network set with its implicit labels,
 * the way Calico's calculation graph sees it (own labels plus the namespace profile's).
 * Lookups of a key k, in this order:
 *   SEL_LABEL_NAMESPACE           -> @namespace (absent when NULL)
 *   SEL_LABEL_ORCHESTRATOR        -> @orchestrator (absent when NULL), unless in @labels
 *   "pcns." SEL_LABEL_NAME        -> @namespace (the namespace's own name label)
 *   "pcns.<k2>"                   -> @namespace_labels[k2] (absent when NULL)
 *   anything else                 -> @labels[k]
 * All pointers are borrowed and may be NULL.
 */
struct sel_subject {
	const struct model_labels *labels;
	const char *namespace; /* NULL = cluster-scoped resource: global() matches */
	const struct model_labels *namespace_labels;
	const char *orchestrator;
};

/**
 * sel_parse() - parse Calico selector text.
 * @text: NUL-terminated, at most SEL_MAX_TEXT bytes; NULL or blank means all().
 * @ret: the parsed selector (free with sel_free()); untouched on failure.
 * @reterr: on -EINVAL, column (1-based byte offset of the offending token; line 1) and message,
 *          e.g. "expected ')'", "unterminated string", "expected operator after label \"app\"";
 *          may be NULL.
 * Return: 0, -EINVAL (syntax; also nesting deeper than SEL_MAX_DEPTH, more than SEL_MAX_VALUES
 * values, too long) or -ENOMEM.
 */
int sel_parse(const char *text, struct sel **ret, struct parse_err *reterr) _warn_unused_result_;

/** sel_free() - free @s; NULL-safe. Return: NULL. */
struct sel *sel_free(struct sel *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sel *, sel_free);

/**
 * sel_match() - does @s select a resource with exactly these @labels (sorted model_labels,
 * borrowed; NULL = no labels)? global() is true unless @labels holds SEL_LABEL_NAMESPACE.
 */
bool sel_match(const struct sel *s, const struct model_labels *labels);

/** sel_match_subject() - as sel_match() with implicit labels (struct sel_subject). */
bool sel_match_subject(const struct sel *s, const struct sel_subject *subj);

/**
 * sel_subject_get() - the value selectors see for label @key of @subj (the lookup order of
 * struct sel_subject), borrowed from @subj; NULL when the subject has no such label.
 */
const char *sel_subject_get(const struct sel_subject *subj, const char *key);

/**
 * sel_required_values() - one test that every subject @s selects passes, for indexing: when @s
 * is `k == "v"`, `k in {"v1", ...}`, or an && with such an operand, *@ret_key = k and
 * *@ret_values / *@ret_n = the values (1 for ==; sorted and unique for in {}), borrowed from
 * @s. Then sel_match_subject(@s, subj) implies sel_subject_get(subj, k) is one of the values,
 * so a subject whose value is absent or another needs no evaluation. Of several such operands
 * of an &&, the one with the fewest values is taken, and a label other than
 * SEL_LABEL_NAMESPACE before it (a namespace holds many endpoints).
 * Return: true, or false (outputs untouched) when @s has no such test (||, !, has(), all(),
 * not in {}, !=, contains, starts/endswith, an empty in {}).
 */
bool sel_required_values(const struct sel *s, const char **ret_key, char *const **ret_values,
			 size_t *ret_n);

/**
 * sel_format() - append the canonical text of @s to @out. Leaves use Calico's form
 * (`app == "web"`, `has(app)`, `app in {"a", "b"}`, `!app == "x"`, single quotes only when the
 * value holds a double quote); && and || are n-ary and parenthesised as Calico prints them
 * (`(a == "1" && b == "2")`). tabby also flattens nested same operators, sorts and
 * de-duplicates the operands of && and || and the values of in {}, so texts of the same meaning
 * in that sense format the same. The result re-parses to the same canonical text.
 * Return: 0 or -ENOMEM.
 */
int sel_format(const struct sel *s, struct strbuf *out) _warn_unused_result_;

/** sel_canonical() - the canonical text (as sel_format()), owned by @s. */
const char *sel_canonical(const struct sel *s);

/**
 * sel_hash() - FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) of the
 * canonical text, without the NUL. Stable across runs and hosts; used for set names. (The pure
 * core links no crypto library; the names are not a security boundary.)
 */
uint64_t sel_hash(const struct sel *s);

/** sel_hash_hex() - sel_hash() as 16 lower-case hex digits into @buf. Return: @buf. */
char *sel_hash_hex(const struct sel *s, char buf[static SEL_HASH_HEXLEN]);

/** sel_fnv1a64() - the same hash over any bytes (for other stable names). */
uint64_t sel_fnv1a64(const void *data, size_t len);

/** sel_is_all() - @s is all() (it selects everything). */
bool sel_is_all(const struct sel *s);

/**
 * sel_clone() - a copy of @s (borrowed) that owns nothing of @s: the same tree, canonical text
 * and hash, without printing or sorting anything again (felix's policy edits copy the policies
 * that did not change instead of parsing them again).
 * Return: 0 or -ENOMEM (@ret untouched).
 */
int sel_clone(const struct sel *s, struct sel **ret) _warn_unused_result_;

/**
 * sel_and() - a new selector "(@a) && (@b)" (either may be NULL = all()), canonicalised.
 * @a, @b are borrowed. Return: 0 or -ENOMEM.
 */
int sel_and(const struct sel *a, const struct sel *b, struct sel **ret) _warn_unused_result_;

/**
 * sel_namespace_scope() - turn a namespaceSelector @nssel into an endpoint selector, as Calico's
 * rule conversion does (libcalico-go updateprocessors: namespace labels are prefixed with
 * SEL_NS_LABEL_PREFIX; "all()" becomes has(projectcalico.org/namespace); global() keeps its
 * meaning, !has(projectcalico.org/namespace)). Return: 0 or -ENOMEM.
 */
int sel_namespace_scope(const struct sel *nssel, struct sel **ret) _warn_unused_result_;

/**
 * sel_in_namespace() - the selector `projectcalico.org/namespace == "@ns"`.
 * Return: 0, -EINVAL (ns NULL) or -ENOMEM.
 */
int sel_in_namespace(const char *ns, struct sel **ret) _warn_unused_result_;
