/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: Policy compiler (policy set -> index -> per-endpoint ruleset)
 *
 * Calico's model, as tabby implements it:
 *  - Tiers run in ascending order; a tier without order runs after every ordered one (Calico
 *    treats nil as infinity); ties and unordered tiers go by name. The "default" tier has
 *    order 1,000,000 unless a Tier resource says otherwise.
 *  - Within a tier, policies run by order (absent = after all ordered), then by name
 *    ("<namespace>/<name>" for a NetworkPolicy).
 *  - A policy applies to an endpoint in a direction when its selector matches and its types
 *    include the direction. NetworkPolicy: only endpoints of its own namespace (its selector
 *    is ANDed with projectcalico.org/namespace == "<ns>"). GlobalNetworkPolicy: any endpoint,
 *    namespaceSelector ANDed in (converted like Calico: namespace labels become pcns.<key>,
 *    all() becomes has(projectcalico.org/namespace)); only GNPs select host endpoints.
 *  - Rules: Allow and Deny are final, Log continues, Pass leaves the tier. At the end of a tier
 *    in which some policy applied and none decided, the tier's defaultAction (Deny, or Pass).
 *  - After the tiers (reached when no tier applied, or by passing out of the last one): the
 *    endpoint's profiles decide (nothing matched = deny). With no profiles, a workload is open
 *    (DESIGN "Policy": an endpoint no policy selects is open) and a host endpoint denies.
 *  - Rule sides: nets AND selector AND NOT notNets AND NOT notSelector; ports: any numeric port
 *    or any named port; notPorts: none of them. A side's selector in a NetworkPolicy is scoped
 *    to the policy's namespace unless a namespaceSelector is given (also when only notSelector is
 *    given); in a GNP it is cluster-wide. A named port resolves through a set of
 *    (ip, protocol, port) of the endpoints matching the side's selector (all() if none) that
 *    have a port of that name, as Calico's IP-port sets do.
 *
 * Every address match is a named set (selector sets by canonical text, literal nets, named
 * ports), so policies that say the same thing share one set, and a new endpoint anywhere in the
 * cluster changes set elements, never rules.
 *
 * Cost: acl_index_new() is O(rules + selectors); a hash table de-duplicates sets by definition.
 * Given an earlier index (struct acl_policy_set.prev), a policy the caller marks unchanged is
 * copied from it instead: its selectors are cloned with their canonical texts, not parsed,
 * printed and sorted again (at 1,000 policies, one policy edit went from ~14 to ~5 ms of
 * felix CPU).
 * acl_compile() matches an endpoint against the policies its labels can satisfy (the same
 * filter as for sets, below, over the policies' selectors) and allocates only for policies
 * that apply. acl_set_members() is
 * O(sets x (endpoints + network sets)) selector matches. acl_endpoint_members() and
 * acl_set_memberships() (one endpoint) match only the selectors that can select it: the index
 * files each set under the label value its selector requires (sel_required_values(): `k == "v"`,
 * `k in {...}`, alone or in an &&), so an endpoint costs one binary search per such label
 * key plus a match for each set filed under its values or under none; a full calculation
 * at 100,000 endpoints and 50 sets `role == "rN"` makes 100,000 matches, not 5,000,000.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "lib/array.h"

/* ---- set interning ---- */

struct builder {
	struct acl_set **sets;
	size_t n_sets, cap_sets;
	struct acl_set **table; /* open addressing by id hash, size power of 2 */
	size_t table_size;
	struct parse_err *err;
};

static struct acl_set *set_free(struct acl_set *s)
{
	if (!s)
		return NULL;
	free(s->definition);
	sel_free(s->sel);
	free(s->port_name);
	free(s->nets);
	free(s);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct acl_set *, set_free);

static int table_grow(struct builder *b)
{
	size_t size = b->table_size ? b->table_size * 2 : 256;
	struct acl_set **t = calloc(size, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_sets; i++) {
		uint64_t h = sel_fnv1a64(b->sets[i]->definition, strlen(b->sets[i]->definition));
		size_t j = h & (size - 1);

		while (t[j])
			j = (j + 1) & (size - 1);
		t[j] = b->sets[i];
	}
	free(b->table);
	b->table = t;
	b->table_size = size;
	return 0;
}

/* The slot of @definition (hash @h) in b->table: its set, or the empty slot where it goes.
 * b->table_size > 0. */
static size_t table_slot(const struct builder *b, const char *definition, uint64_t h)
{
	size_t j;

	for (j = h & (b->table_size - 1); b->table[j]; j = (j + 1) & (b->table_size - 1))
		if (strcmp(b->table[j]->definition, definition) == 0)
			break;
	return j;
}

/* Returns the existing set with @s's definition (freeing @s), or adds @s. Consumes @s. */
static int intern(struct builder *b, struct acl_set *s, const struct acl_set **ret)
{
	_cleanup_(set_freep) struct acl_set *owned = s;
	uint64_t h = sel_fnv1a64(s->definition, strlen(s->definition));
	size_t j;
	int r;

	if ((b->n_sets + 1) * 2 > b->table_size) {
		r = table_grow(b);
		if (r < 0)
			return r;
	}
	j = table_slot(b, s->definition, h);
	if (b->table[j]) {
		*ret = b->table[j];
		return 0;
	}
	if (b->n_sets >= ACL_MAX_SETS)
		return -E2BIG;
	if (b->n_sets == b->cap_sets) {
		size_t cap = b->cap_sets ? b->cap_sets * 2 : 64;
		struct acl_set **n = realloc(b->sets, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		b->sets = n;
		b->cap_sets = cap;
	}
	snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long)h);
	b->table[j] = s;
	b->sets[b->n_sets++] = TAKE_PTR(owned);
	*ret = s;
	return 0;
}

static int cmp_prefix(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

/* Sorts @p and drops prefixes inside an earlier one (ip_prefix_cmp orders a network before
 * the prefixes it contains). Returns the new count. */
static size_t prefixes_normalise(struct ip_prefix *p, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		p[i] = ip_prefix_mask(p[i]);
	qsort(p, n, sizeof(*p), cmp_prefix);
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && ip_prefix_contains(&p[w - 1], &p[i]))
			continue;
		p[w++] = p[i];
	}
	return w;
}

static int nets_set(struct builder *b, const struct ip_prefix *nets, size_t n,
		    const struct acl_set **ret)
{
	_cleanup_(set_freep) struct acl_set *s = calloc(1, sizeof(*s));
	_cleanup_strbuf_ struct strbuf def = {0};
	int r;

	if (!s || !(s->nets = calloc(n, sizeof(*nets))))
		return -ENOMEM;
	s->kind = ACL_SET_NETS;
	memcpy(s->nets, nets, n * sizeof(*nets));
	s->n_nets = prefixes_normalise(s->nets, n);
	r = strbuf_puts(&def, "nets:");
	for (size_t i = 0; r >= 0 && i < s->n_nets; i++) {
		char buf[IP_PREFIX_STRLEN];

		if (s->nets[i].addr.family == AF_INET)
			s->has_v4 = true;
		else
			s->has_v6 = true;
		r = strbuf_printf(&def, "%s%s", i ? "," : "", ip_prefix_format(&s->nets[i], buf));
	}
	if (r < 0)
		return r;
	s->definition = strbuf_steal(&def);
	if (!s->definition)
		return -ENOMEM;
	return intern(b, TAKE_PTR(s), ret);
}

/* Consumes @sel. */
static int selector_set(struct builder *b, struct sel *sel, const struct acl_set **ret)
{
	_cleanup_(set_freep) struct acl_set *s = calloc(1, sizeof(*s));

	if (!s) {
		sel_free(sel);
		return -ENOMEM;
	}
	s->kind = ACL_SET_SELECTOR;
	s->sel = sel;
	if (asprintf(&s->definition, "sel:%s", sel_canonical(sel)) < 0) {
		s->definition = NULL;
		return -ENOMEM;
	}
	return intern(b, TAKE_PTR(s), ret);
}

/* Consumes @sel. @names: sorted, comma-separated. */
static int named_port_set(struct builder *b, struct sel *sel, const char *names, uint8_t proto,
			  const struct acl_set **ret)
{
	_cleanup_(set_freep) struct acl_set *s = calloc(1, sizeof(*s));

	if (!s) {
		sel_free(sel);
		return -ENOMEM;
	}
	s->kind = ACL_SET_NAMED_PORT;
	s->sel = sel;
	s->port_proto = proto;
	if (!(s->port_name = strdup(names)))
		return -ENOMEM;
	if (asprintf(&s->definition, "np:%u:%s:%s", proto, names, sel_canonical(sel)) < 0) {
		s->definition = NULL;
		return -ENOMEM;
	}
	return intern(b, TAKE_PTR(s), ret);
}

/* ---- rules ---- */

struct policy_ctx {
	const char *kind; /* "NetworkPolicy", ... for errors */
	const char *name;
	const char *namespace; /* NetworkPolicy: scope of rule selectors */
};

static int parse_field(struct builder *b, const struct policy_ctx *pc, const char *text,
		       const char *field, struct sel **ret)
{
	struct parse_err e = {0};
	int r;

	r = sel_parse(text, ret, &e);
	if (r == -EINVAL && b->err)
		parse_err_set(b->err, NULL, 0, e.column, NULL, "%s %s: %s: %s", pc->kind, pc->name,
			      field, e.msg);
	if (r == -EINVAL && b->err)
		snprintf(b->err->field, sizeof(b->err->field), "%s", field);
	return r;
}

/* Numeric ranges into *@ret_ranges; named ports into a sorted "a,b" list (NULL if none). */
static int split_ports(const struct model_port *ports, size_t n, struct acl_port_range **ret_ranges,
		       size_t *ret_n, char **ret_names)
{
	_cleanup_free_ struct acl_port_range *ranges = NULL;
	_cleanup_free_ const char **names = NULL;
	_cleanup_strbuf_ struct strbuf sb = {0};
	size_t nr = 0, nn = 0;
	int r = 0;

	*ret_ranges = NULL;
	*ret_n = 0;
	*ret_names = NULL;
	if (n == 0)
		return 0;
	ranges = calloc(n, sizeof(*ranges));
	names = calloc(n, sizeof(*names));
	if (!ranges || !names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (ports[i].name)
			names[nn++] = ports[i].name;
		else
			ranges[nr++] = (struct acl_port_range){ports[i].first,
							       MAX(ports[i].first, ports[i].last)};
	}
	if (nn) {
		array_sort(names, nn, sizeof(*names), array_cmp_str);
		for (size_t i = 0; r >= 0 && i < nn; i++) {
			if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
				continue;
			r = strbuf_printf(&sb, "%s%s", sb.len ? "," : "", names[i]);
		}
		if (r < 0)
			return r;
		*ret_names = strbuf_steal(&sb);
		if (!*ret_names)
			return -ENOMEM;
	}
	if (nr) {
		*ret_ranges = TAKE_PTR(ranges);
		*ret_n = nr;
	}
	return 0;
}

/* Calico's labels for service accounts (libcalico-go apis/v3): the endpoint's service account
 * name, and its service account's labels under a prefix. */
#define SA_NAME_LABEL "projectcalico.org/serviceaccount"
#define SA_LABEL_PREFIX "pcsa."

/* @text (a canonical selector) with every label name prefixed by SA_LABEL_PREFIX, as Calico's
 * rule conversion does for serviceAccounts.selector. Quoted values, functions (has, all,
 * global) and operator words stay as they are. */
static int sa_prefix_labels(const char *text, struct strbuf *out)
{
#define LABEL_START "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
	static const char *const words[] = {"in", "not", "contains", "starts", "ends", "with"};
	const char *p = text;
	int r = 0;

	while (r >= 0 && *p) {
		if (*p == '"' || *p == '\'') {
			const char *end = strchr(p + 1, *p);
			size_t n = end ? (size_t)(end - p) + 1 : strlen(p);

			r = strbuf_append(out, p, n);
			p += n;
		} else if (*p && strchr(LABEL_START, *p)) {
			size_t n = strspn(p, LABEL_START "./-");
			const char *after = p + n;
			bool label = true;

			while (*after == ' ')
				after++;
			if (*after == '(')
				label = false;
			for (size_t i = 0; label && i < ELEMENTSOF(words); i++)
				if (strlen(words[i]) == n && strncmp(p, words[i], n) == 0)
					label = false;
			if (label)
				r = strbuf_append(out, SA_LABEL_PREFIX, strlen(SA_LABEL_PREFIX));
			if (r >= 0)
				r = strbuf_append(out, p, n);
			p += n;
		} else {
			r = strbuf_append(out, p, 1);
			p++;
		}
	}
	return r;
}

/*
 * A rule side's serviceAccounts as an endpoint selector (Calico: names ->
 * `projectcalico.org/serviceaccount in {...}`, selector -> the selector over pcsa.-prefixed
 * labels, both ANDed). *@ret stays NULL when the side has none.
 */
static int sa_selector(struct builder *b, const struct policy_ctx *pc,
		       const struct model_entity_rule *er, const char *field, struct sel **ret)
{
	_cleanup_(sel_freep) struct sel *names = NULL, *labels = NULL;
	_cleanup_strbuf_ struct strbuf text;
	char f[160];
	int r;

	strbuf_init(&text);
	if (er->sa_names && er->n_sa_names) {
		r = strbuf_append(&text, SA_NAME_LABEL " in {", strlen(SA_NAME_LABEL " in {"));
		for (size_t i = 0; r >= 0 && i < er->n_sa_names; i++) {
			if (i > 0)
				r = strbuf_append(&text, ", ", 2);
			if (r >= 0)
				r = strbuf_append(&text, "\"", 1);
			if (r >= 0)
				r = strbuf_append(&text, er->sa_names[i], strlen(er->sa_names[i]));
			if (r >= 0)
				r = strbuf_append(&text, "\"", 1);
		}
		if (r >= 0)
			r = strbuf_append(&text, "}", 1);
		if (r < 0)
			return r;
		snprintf(f, sizeof(f), "%s.serviceAccounts.names", field);
		r = parse_field(b, pc, strbuf_cstr(&text), f, &names);
		if (r < 0)
			return r;
	}
	if (er->sa_selector) {
		_cleanup_(sel_freep) struct sel *plain = NULL;
		_cleanup_strbuf_ struct strbuf pre;

		strbuf_init(&pre);
		snprintf(f, sizeof(f), "%s.serviceAccounts.selector", field);
		r = parse_field(b, pc, er->sa_selector, f, &plain);
		if (r >= 0)
			r = sa_prefix_labels(sel_canonical(plain), &pre);
		if (r >= 0)
			r = parse_field(b, pc, strbuf_cstr(&pre), f, &labels);
		if (r < 0)
			return r;
	}
	if (!names && !labels)
		return 0;
	return sel_and(names, labels, ret);
}

static int compile_side(struct builder *b, const struct policy_ctx *pc,
			const struct model_entity_rule *er, uint8_t port_proto, const char *field,
			struct acl_side *side)
{
	_cleanup_(sel_freep) struct sel *sel = NULL, *nssel = NULL, *scope = NULL, *eff = NULL,
					*sa = NULL;
	_cleanup_free_ char *names = NULL, *not_names = NULL;
	char f[160];
	int r = 0;

	if (er->n_nets) {
		r = nets_set(b, er->nets, er->n_nets, &side->nets);
		if (r < 0)
			return r;
	}
	if (er->n_not_nets) {
		r = nets_set(b, er->not_nets, er->n_not_nets, &side->not_nets);
		if (r < 0)
			return r;
	}
	if (er->selector) {
		snprintf(f, sizeof(f), "%s.selector", field);
		r = parse_field(b, pc, er->selector, f, &sel);
		if (r < 0)
			return r;
	}
	r = sa_selector(b, pc, er, field, &sa);
	if (r < 0)
		return r;
	if (sa) {
		struct sel *both = NULL;

		r = sel_and(sel, sa, &both);
		if (r < 0)
			return r;
		sel_free(sel);
		sel = both;
	}
	if (er->namespace_selector) {
		snprintf(f, sizeof(f), "%s.namespaceSelector", field);
		r = parse_field(b, pc, er->namespace_selector, f, &nssel);
		if (r < 0)
			return r;
		r = sel_namespace_scope(nssel, &scope);
	} else if (pc->namespace && (er->selector || er->not_selector || sa)) {
		r = sel_in_namespace(pc->namespace, &scope);
	}
	if (r < 0)
		return r;
	if (sel || scope) {
		r = sel_and(sel, scope, &eff);
		if (r < 0)
			return r;
	}
	if (er->not_selector) {
		struct sel *ns = NULL;

		snprintf(f, sizeof(f), "%s.notSelector", field);
		r = parse_field(b, pc, er->not_selector, f, &ns);
		if (r < 0)
			return r;
		r = selector_set(b, ns, &side->not_sel);
		if (r < 0)
			return r;
	}

	r = split_ports(er->ports, er->n_ports, &side->ports, &side->n_ports, &names);
	if (r < 0)
		return r;
	r = split_ports(er->not_ports, er->n_not_ports, &side->not_ports, &side->n_not_ports,
			&not_names);
	if (r < 0)
		return r;
	if (names || not_names) {
		for (int k = 0; k < 2; k++) {
			const char *nm = k == 0 ? names : not_names;
			const struct acl_set **dst =
			    k == 0 ? &side->named_ports : &side->not_named_ports;
			struct sel *copy = NULL;

			if (!nm)
				continue;
			r = sel_and(eff, NULL, &copy);
			if (r < 0)
				return r;
			r = named_port_set(b, copy, nm, port_proto, dst);
			if (r < 0)
				return r;
		}
	}
	if (eff) {
		r = selector_set(b, TAKE_PTR(eff), &side->sel);
		if (r < 0)
			return r;
	}
	return 0;
}

static void rule_done(struct acl_rule *r)
{
	free(r->src.ports);
	free(r->src.not_ports);
	free(r->dst.ports);
	free(r->dst.not_ports);
}

static int compile_rules(struct builder *b, const struct policy_ctx *pc,
			 const struct model_rule *rules, size_t n, const char *dirname,
			 struct acl_rule **ret, size_t *ret_n)
{
	struct acl_rule *out;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (n == 0)
		return 0;
	if (n > MODEL_MAX_RULES)
		return -E2BIG;
	out = calloc(n, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct model_rule *m = &rules[i];
		struct acl_rule *a = &out[i];
		uint8_t pp = 0;
		char field[64];

		a->action = m->action;
		a->ip_version = m->ip_version;
		a->protocol = m->protocol.set ? m->protocol.number : -1;
		a->not_protocol = m->not_protocol.set ? m->not_protocol.number : -1;
		a->icmp = m->icmp;
		a->not_icmp = m->not_icmp;
		a->index = (unsigned)i;
		if (a->protocol == 6 || a->protocol == 17 || a->protocol == 132)
			pp = (uint8_t)a->protocol;
		snprintf(field, sizeof(field), "spec.%s[%zu].source", dirname, i);
		r = compile_side(b, pc, &m->source, pp, field, &a->src);
		if (r >= 0) {
			snprintf(field, sizeof(field), "spec.%s[%zu].destination", dirname, i);
			r = compile_side(b, pc, &m->destination, pp, field, &a->dst);
		}
		if (r < 0) {
			for (size_t j = 0; j <= i; j++)
				rule_done(&out[j]);
			free(out);
			return r;
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

/* ---- index ---- */

static void policy_done(struct acl_policy *p)
{
	free(p->name);
	free(p->namespace);
	sel_free(p->selector);
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		for (size_t i = 0; i < p->n_rules[d]; i++)
			rule_done(&p->rules[d][i]);
		free(p->rules[d]);
	}
}

/* ---- set filter: which sets an endpoint can be in ---- */

struct filter_entry {
	const char *value; /* borrowed from the set's selector */
	size_t pos;	   /* the set's position in acl_index.sets */
};

/* The sets whose selector requires a value of one label key, by (value, pos). */
struct filter_key {
	const char *key; /* borrowed from a selector */
	struct filter_entry *v;
	size_t n, cap;
	size_t max_group; /* the most entries with one value */
};

struct acl_sel_filter {
	struct filter_key *keys; /* by key */
	size_t n_keys;
	size_t *always; /* selector and named-port sets filed under no value, ascending */
	size_t n_always;
	size_t max_candidates; /* n_always + the max_group of every key */
};

static struct acl_sel_filter *filter_free(struct acl_sel_filter *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n_keys; i++)
		free(f->keys[i].v);
	free(f->keys);
	free(f->always);
	free(f);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct acl_sel_filter *, filter_free);

static int filter_entry_cmp(const void *x, const void *y)
{
	const struct filter_entry *a = x, *b = y;
	int c = strcmp(a->value, b->value);

	return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static int filter_key_cmp(const void *x, const void *y)
{
	return strcmp(((const struct filter_key *)x)->key, ((const struct filter_key *)y)->key);
}

static struct filter_key *filter_key_get(struct acl_sel_filter *f, const char *key)
{
	struct filter_key *k;

	for (size_t i = 0; i < f->n_keys; i++)
		if (strcmp(f->keys[i].key, key) == 0)
			return &f->keys[i];
	k = reallocarray(f->keys, f->n_keys + 1, sizeof(*f->keys));
	if (!k)
		return NULL;
	f->keys = k;
	k = &f->keys[f->n_keys++];
	*k = (struct filter_key){.key = key};
	return k;
}

/* Files each selector @sels[i] (NULL: never a candidate) under the values it requires, or
 * under none (a candidate for every subject). Return: 0 or -ENOMEM. */
static int filter_new(struct sel *const *sels, size_t n_sels, struct acl_sel_filter **ret)
{
	_cleanup_(filter_freep) struct acl_sel_filter *f = calloc(1, sizeof(*f));

	if (!f || (n_sels && !(f->always = calloc(n_sels, sizeof(*f->always)))))
		return -ENOMEM;
	for (size_t i = 0; i < n_sels; i++) {
		const char *key;
		char *const *values;
		size_t n;
		struct filter_key *k;

		if (!sels[i])
			continue;
		if (!sel_required_values(sels[i], &key, &values, &n)) {
			f->always[f->n_always++] = i;
			continue;
		}
		k = filter_key_get(f, key);
		if (!k)
			return -ENOMEM;
		if (array_grow(&k->v, k->n + n, &k->cap, sizeof(*k->v)) < 0)
			return -ENOMEM;
		for (size_t j = 0; j < n; j++)
			k->v[k->n++] = (struct filter_entry){.value = values[j], .pos = i};
	}
	f->max_candidates = f->n_always;
	for (size_t i = 0; i < f->n_keys; i++) {
		struct filter_key *k = &f->keys[i];

		qsort(k->v, k->n, sizeof(*k->v), filter_entry_cmp);
		for (size_t a = 0, b; a < k->n; a = b) {
			for (b = a + 1; b < k->n && strcmp(k->v[a].value, k->v[b].value) == 0; b++)
				;
			k->max_group = MAX(k->max_group, b - a);
		}
		f->max_candidates += k->max_group;
	}
	if (f->n_keys)
		qsort(f->keys, f->n_keys, sizeof(*f->keys), filter_key_cmp);
	*ret = TAKE_PTR(f);
	return 0;
}

/* The filters of @idx (positions and seq final): its selector and named-port sets, and the
 * policies of its tiers that have a type (by seq). Return: 0 or -ENOMEM. */
static int filters_build(struct acl_index *idx)
{
	_cleanup_free_ struct sel **sels = calloc(MAX(idx->n_sets, idx->n_seq) + 1, sizeof(*sels));
	size_t n_pol = 0;
	int r;

	if (!sels)
		return -ENOMEM;
	for (size_t i = 0; i < idx->n_sets; i++)
		sels[i] = idx->sets[i]->kind == ACL_SET_NETS ? NULL : idx->sets[i]->sel;
	r = filter_new(sels, idx->n_sets, &idx->filter);
	if (r < 0)
		return r;
	for (size_t i = 0; i < idx->n_tiers; i++)
		n_pol += idx->tiers[i].n_policies;
	idx->by_seq = calloc(n_pol + 1, sizeof(*idx->by_seq));
	if (!idx->by_seq)
		return -ENOMEM;
	memset(sels, 0, (MAX(idx->n_sets, idx->n_seq) + 1) * sizeof(*sels));
	for (size_t i = 0; i < idx->n_tiers; i++)
		for (size_t j = 0; j < idx->tiers[i].n_policies; j++) {
			struct acl_policy *p = idx->tiers[i].policies[j];

			idx->by_seq[p->seq] =
			    (struct acl_seq_ref){.tier = &idx->tiers[i], .policy = p};
			if (p->types[0] || p->types[1])
				sels[p->seq] = p->selector;
		}
	return filter_new(sels, n_pol, &idx->policy_filter);
}

static int size_cmp(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return (a > b) - (a < b);
}

/* The positions of the sets whose selector can select @subj (a superset of those that do),
 * ascending, into @out (room for f->max_candidates). Return: how many. */
static size_t filter_candidates(const struct acl_sel_filter *f, const struct sel_subject *subj,
				size_t *out)
{
	size_t n = f->n_always;

	if (n)
		memcpy(out, f->always, n * sizeof(*out));
	for (size_t i = 0; i < f->n_keys; i++) {
		const struct filter_key *k = &f->keys[i];
		const char *v = sel_subject_get(subj, k->key);
		size_t lo = 0, hi = k->n;

		if (!v)
			continue;
		while (lo < hi) { /* the first entry with a value >= v */
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(k->v[mid].value, v) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < k->n && strcmp(k->v[lo].value, v) == 0; lo++)
			out[n++] = k->v[lo].pos;
	}
	if (n > f->n_always)
		qsort(out, n, sizeof(*out), size_cmp);
	return n;
}

/* Candidate positions for one endpoint: on the stack when they fit, else on the heap. */
#define FILTER_STACK 256

static size_t *filter_buf(const struct acl_sel_filter *f, size_t stack[static FILTER_STACK])
{
	if (f->max_candidates <= FILTER_STACK)
		return stack;
	return malloc(f->max_candidates * sizeof(size_t));
}

struct acl_index *acl_index_free(struct acl_index *idx)
{
	if (!idx)
		return NULL;
	for (size_t i = 0; i < idx->n_tiers; i++) {
		for (size_t j = 0; j < idx->tiers[i].n_policies; j++) {
			policy_done(idx->tiers[i].policies[j]);
			free(idx->tiers[i].policies[j]);
		}
		free(idx->tiers[i].policies);
		free(idx->tiers[i].name);
	}
	free(idx->tiers);
	for (size_t i = 0; i < idx->n_profiles; i++)
		policy_done(&idx->profiles[i]);
	free(idx->profiles);
	for (size_t i = 0; i < idx->n_sets; i++)
		set_free(idx->sets[i]);
	free(idx->sets);
	filter_free(idx->filter);
	filter_free(idx->policy_filter);
	free(idx->by_seq);
	free(idx);
	return NULL;
}

static void set_id(char id[static ACL_ID_LEN], const char *a, const char *b)
{
	_cleanup_free_ char *s = NULL;
	uint64_t h;

	if (asprintf(&s, "%s\n%s", a, b) < 0) {
		s = NULL;
		h = sel_fnv1a64(b, strlen(b));
	} else {
		h = sel_fnv1a64(s, strlen(s));
	}
	snprintf(id, ACL_ID_LEN, "%016llx", (unsigned long long)h);
}

static int cmp_order(bool ha, double a, bool hb, double b)
{
	if (ha != hb)
		return ha ? -1 : 1;
	if (ha && a != b)
		return a < b ? -1 : 1;
	return 0;
}

static int cmp_policyp(const void *x, const void *y)
{
	const struct acl_policy *a = *(struct acl_policy *const *)x;
	const struct acl_policy *b = *(struct acl_policy *const *)y;
	int c = cmp_order(a->has_order, a->order, b->has_order, b->order);

	return c ? c : strcmp(a->name, b->name);
}

static int cmp_tier(const void *x, const void *y)
{
	const struct acl_tier *a = x, *b = y;
	int c = cmp_order(a->has_order, a->order, b->has_order, b->order);

	return c ? c : strcmp(a->name, b->name);
}

static int cmp_profile(const void *x, const void *y)
{
	const struct acl_policy *a = x, *b = y;

	return strcmp(a->name, b->name);
}

static struct acl_tier *tier_get(struct acl_index *idx, const char *name, bool create)
{
	struct acl_tier *t;

	for (size_t i = 0; i < idx->n_tiers; i++)
		if (strcmp(idx->tiers[i].name, name) == 0)
			return &idx->tiers[i];
	if (!create)
		return NULL;
	t = realloc(idx->tiers, (idx->n_tiers + 1) * sizeof(*t));
	if (!t)
		return NULL;
	idx->tiers = t;
	t = &idx->tiers[idx->n_tiers];
	*t = (struct acl_tier){.name = strdup(name), .default_action = MODEL_ACTION_DENY};
	if (!t->name)
		return NULL;
	if (strcmp(name, MODEL_DEFAULT_TIER) == 0) {
		t->has_order = true;
		t->order = 1000000;
	}
	idx->n_tiers++;
	return t;
}

static int tier_add(struct acl_tier *t, struct acl_policy *p)
{
	if (t->n_policies % 16 == 0) {
		struct acl_policy **n =
		    realloc(t->policies, (t->n_policies + 16) * sizeof(*t->policies));

		if (!n)
			return -ENOMEM;
		t->policies = n;
	}
	t->policies[t->n_policies++] = p;
	return 0;
}

static int compile_policy(struct builder *b, const struct model_resource *res, struct acl_policy *p)
{
	const struct model_policy *mp = &res->policy;
	const struct model_rule *rules[2] = {mp->ingress, mp->egress};
	const size_t nrules[2] = {mp->n_ingress, mp->n_egress};
	_cleanup_(sel_freep) struct sel *sel = NULL, *scope = NULL, *nssel = NULL;
	struct policy_ctx pc = {.name = res->meta.name};
	int r;

	if (!res->meta.name)
		return parse_err_set(b->err, NULL, 0, 0, "metadata.name", "policy without a name");
	p->source = ACL_SOURCE_POLICY;
	p->has_order = mp->has_order;
	p->order = mp->order;
	p->types[ACL_DIR_INGRESS] = mp->types_ingress;
	p->types[ACL_DIR_EGRESS] = mp->types_egress;
	if (res->kind == MODEL_KIND_NETWORK_POLICY) {
		if (!res->meta.namespace)
			return parse_err_set(b->err, NULL, 0, 0, "metadata.namespace",
					     "NetworkPolicy %s without a namespace",
					     res->meta.name);
		pc.kind = "NetworkPolicy";
		pc.namespace = res->meta.namespace;
		if (asprintf(&p->name, "%s/%s", res->meta.namespace, res->meta.name) < 0) {
			p->name = NULL;
			return -ENOMEM;
		}
		if (!(p->namespace = strdup(res->meta.namespace)))
			return -ENOMEM;
		r = sel_in_namespace(res->meta.namespace, &scope);
	} else {
		pc.kind = "GlobalNetworkPolicy";
		p->global = true;
		if (!(p->name = strdup(res->meta.name)))
			return -ENOMEM;
		r = 0;
		if (mp->namespace_selector) {
			r = parse_field(b, &pc, mp->namespace_selector, "spec.namespaceSelector",
					&nssel);
			if (r >= 0)
				r = sel_namespace_scope(nssel, &scope);
		}
	}
	if (r < 0)
		return r;
	r = parse_field(b, &pc, mp->selector, "spec.selector", &sel);
	if (r < 0)
		return r;
	r = sel_and(sel, scope, &p->selector);
	if (r < 0)
		return r;
	set_id(p->id, "policy", p->name);
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		r = compile_rules(b, &pc, rules[d], nrules[d], d == 0 ? "ingress" : "egress",
				  &p->rules[d], &p->n_rules[d]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int compile_profile(struct builder *b, const struct model_resource *res,
			   struct acl_policy *p)
{
	const struct model_profile *mp = &res->profile;
	struct policy_ctx pc = {.kind = "Profile", .name = res->meta.name};
	int r;

	if (!res->meta.name)
		return parse_err_set(b->err, NULL, 0, 0, "metadata.name", "profile without a name");
	p->source = ACL_SOURCE_PROFILE;
	p->global = true;
	p->types[0] = p->types[1] = true;
	if (!(p->name = strdup(res->meta.name)))
		return -ENOMEM;
	set_id(p->id, "profile", p->name);
	r = compile_rules(b, &pc, mp->ingress, mp->n_ingress, "ingress", &p->rules[ACL_DIR_INGRESS],
			  &p->n_rules[ACL_DIR_INGRESS]);
	if (r >= 0)
		r = compile_rules(b, &pc, mp->egress, mp->n_egress, "egress",
				  &p->rules[ACL_DIR_EGRESS], &p->n_rules[ACL_DIR_EGRESS]);
	return r;
}

/* ---- copying what an earlier index compiled (struct acl_policy_set.prev) ---- */

/* A field added to these must be copied below (copy_set(), copy_policy()): their sizes on
 * LP64 make the build say so. (struct acl_rule and acl_side: policy_hash()'s asserts.) */
_Static_assert(sizeof(void *) != 8 || sizeof(struct acl_set) == 88,
	       "copy the new field of struct acl_set in copy_set()");
_Static_assert(sizeof(void *) != 8 || sizeof(struct acl_policy) == 136,
	       "copy the new field of struct acl_policy in copy_policy()");

/* @s (a set of another index; NULL = none) as a set of @b: the one @b already has with its
 * definition, or a copy. */
static int copy_set(struct builder *b, const struct acl_set *s, const struct acl_set **ret)
{
	_cleanup_(set_freep) struct acl_set *c = NULL;

	*ret = NULL;
	if (!s)
		return 0;
	if (b->table_size) {
		size_t j =
		    table_slot(b, s->definition, sel_fnv1a64(s->definition, strlen(s->definition)));

		if (b->table[j]) {
			*ret = b->table[j];
			return 0;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->definition = strdup(s->definition)))
		return -ENOMEM;
	c->kind = s->kind;
	c->port_proto = s->port_proto;
	c->has_v4 = s->has_v4;
	c->has_v6 = s->has_v6;
	if (s->sel && sel_clone(s->sel, &c->sel) < 0)
		return -ENOMEM;
	if (s->port_name && !(c->port_name = strdup(s->port_name)))
		return -ENOMEM;
	if (s->n_nets) {
		if (!(c->nets = calloc(s->n_nets, sizeof(*c->nets))))
			return -ENOMEM;
		memcpy(c->nets, s->nets, s->n_nets * sizeof(*c->nets));
		c->n_nets = s->n_nets;
	}
	return intern(b, TAKE_PTR(c), ret);
}

static int copy_ranges(const struct acl_port_range *v, size_t n, struct acl_port_range **ret)
{
	*ret = NULL;
	if (!n)
		return 0;
	if (!(*ret = calloc(n, sizeof(*v))))
		return -ENOMEM;
	memcpy(*ret, v, n * sizeof(*v));
	return 0;
}

static int copy_side(struct builder *b, const struct acl_side *s, struct acl_side *c)
{
	int r;

	*c = (struct acl_side){.n_ports = s->n_ports, .n_not_ports = s->n_not_ports};
	if ((r = copy_ranges(s->ports, s->n_ports, &c->ports)) < 0 ||
	    (r = copy_ranges(s->not_ports, s->n_not_ports, &c->not_ports)) < 0 ||
	    (r = copy_set(b, s->nets, &c->nets)) < 0 ||
	    (r = copy_set(b, s->not_nets, &c->not_nets)) < 0 ||
	    (r = copy_set(b, s->sel, &c->sel)) < 0 ||
	    (r = copy_set(b, s->not_sel, &c->not_sel)) < 0 ||
	    (r = copy_set(b, s->named_ports, &c->named_ports)) < 0)
		return r;
	return copy_set(b, s->not_named_ports, &c->not_named_ports);
}

/* @p (zeroed, in a tier of the index @b builds) becomes a copy of @from, a policy another
 * index compiled from the same, unchanged resource: what compile_policy() would give, without
 * parsing a selector again. On failure @p holds what was copied so far (policy_done()). */
static int copy_policy(struct builder *b, const struct acl_policy *from, struct acl_policy *p)
{
	int r;

	p->source = from->source;
	memcpy(p->id, from->id, sizeof(p->id));
	p->has_order = from->has_order;
	p->order = from->order;
	p->global = from->global;
	memcpy(p->types, from->types, sizeof(p->types));
	if (!(p->name = strdup(from->name)) ||
	    (from->namespace && !(p->namespace = strdup(from->namespace))))
		return -ENOMEM;
	r = sel_clone(from->selector, &p->selector);
	if (r < 0)
		return r;
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		size_t n = from->n_rules[d];

		if (!n)
			continue;
		if (!(p->rules[d] = calloc(n, sizeof(*p->rules[d]))))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++, p->n_rules[d]++) {
			const struct acl_rule *f = &from->rules[d][i];
			struct acl_rule *c = &p->rules[d][i];

			*c = *f;
			c->src = c->dst = (struct acl_side){0};
			r = copy_side(b, &f->src, &c->src);
			if (r >= 0)
				r = copy_side(b, &f->dst, &c->dst);
			if (r < 0) {
				p->n_rules[d]++; /* rule_done() frees what this one got */
				return r;
			}
		}
	}
	return 0;
}

static int cmp_policy_name(const void *x, const void *y)
{
	const struct acl_policy *a = *(struct acl_policy *const *)x;
	const struct acl_policy *b = *(struct acl_policy *const *)y;

	return strcmp(a->name, b->name);
}

/* @prev's tier policies sorted by name, without any name that occurs twice (a Calico
 * NetworkPolicy and a translated Kubernetes one may share one; neither is copied then).
 * Return: 0 or -ENOMEM. */
static int prev_by_name(const struct acl_index *prev, const struct acl_policy ***ret, size_t *ret_n)
{
	const struct acl_policy **v;
	size_t n = 0, w = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < prev->n_tiers; i++)
		n += prev->tiers[i].n_policies;
	if (!n)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < prev->n_tiers; i++)
		for (size_t j = 0; j < prev->tiers[i].n_policies; j++)
			v[n++] = prev->tiers[i].policies[j];
	qsort(v, n, sizeof(*v), cmp_policy_name);
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;

		while (k < n && strcmp(v[k]->name, v[i]->name) == 0)
			k++;
		if (k == i + 1)
			v[w++] = v[i];
		i = k;
	}
	*ret = v;
	*ret_n = w;
	return 0;
}

/* The policy of @v (prev_by_name()) that compile_policy() would name after @res, or NULL. */
static const struct acl_policy *prev_find(const struct acl_policy *const *v, size_t n,
					  const struct model_resource *res)
{
	char name[2 * MODEL_NAME_MAX + 2];
	bool global = res->kind == MODEL_KIND_GLOBAL_NETWORK_POLICY;
	size_t lo = 0, hi = n;

	if (!res->meta.name || (!global && !res->meta.namespace))
		return NULL;
	if (snprintf(name, sizeof(name), "%s%s%s", global ? "" : res->meta.namespace,
		     global ? "" : "/", res->meta.name) >= (int)sizeof(name))
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, v[mid]->name);

		if (c == 0)
			return v[mid]->global == global && v[mid]->source == ACL_SOURCE_POLICY
				   ? v[mid]
				   : NULL;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int cmp_setp(const void *x, const void *y)
{
	const struct acl_set *a = *(struct acl_set *const *)x, *b = *(struct acl_set *const *)y;

	return strcmp(a->id, b->id);
}

/* ---- what a policy's chain is rendered from ---- */

/* A field added to these must be hashed below (policy_hash()): their sizes on LP64 make the
 * build say so. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct acl_rule) == 192,
	       "hash the new field of struct acl_rule in policy_hash()");
_Static_assert(sizeof(void *) != 8 || sizeof(struct acl_side) == 80,
	       "hash the new field of struct acl_side in hash_side()");
_Static_assert(sizeof(struct model_icmp) == 6, "hash the new field of struct model_icmp");

/* One 64-bit word into @h: a multiply and a shift (FNV-1a's byte loop was a third of a policy
 * edit's hashing; these hashes never leave the process). */
static uint64_t hash_u64(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* A string (or NULL) word by word, its length first. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	h = hash_u64(h, s ? n + 1 : 0);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = 0;

		memcpy(&w, s + i, MIN(n - i, sizeof(w)));
		h = hash_u64(h, w);
	}
	return h;
}

/* A set by its id (the FNV-1a of its definition, which also names it in the kernel). */
static uint64_t hash_set(uint64_t h, const struct acl_set *s)
{
	return hash_str(h, s ? s->id : NULL);
}

static uint64_t hash_icmp(uint64_t h, const struct model_icmp *m)
{
	h = hash_u64(h, m->set);
	h = hash_u64(h, (uint64_t)(int64_t)m->type);
	return hash_u64(h, (uint64_t)(int64_t)m->code);
}

static uint64_t hash_side(uint64_t h, const struct acl_side *s)
{
	h = hash_set(h, s->nets);
	h = hash_set(h, s->not_nets);
	h = hash_set(h, s->sel);
	h = hash_set(h, s->not_sel);
	h = hash_u64(h, s->n_ports);
	for (size_t i = 0; i < s->n_ports; i++)
		h = hash_u64(h, (uint64_t)s->ports[i].first << 16 | s->ports[i].last);
	h = hash_set(h, s->named_ports);
	h = hash_u64(h, s->n_not_ports);
	for (size_t i = 0; i < s->n_not_ports; i++)
		h = hash_u64(h, (uint64_t)s->not_ports[i].first << 16 | s->not_ports[i].last);
	return hash_set(h, s->not_named_ports);
}

/* struct acl_policy.hash[@d]: every field of @p and of its rules for @d (a render reads no
 * other: the sets are named by their ids, the rules print in order with their labels). */
static uint64_t policy_hash(const struct acl_policy *p, enum acl_dir d)
{
	uint64_t h = 0;

	h = hash_u64(h, p->source);
	h = hash_str(h, p->name);
	h = hash_str(h, p->namespace);
	h = hash_str(h, p->id);
	h = hash_u64(h, p->global);
	h = hash_u64(h, p->types[d]);
	h = hash_u64(h, d);
	h = hash_u64(h, p->n_rules[d]);
	for (size_t i = 0; i < p->n_rules[d]; i++) {
		const struct acl_rule *ru = &p->rules[d][i];

		h = hash_u64(h, ru->action);
		h = hash_u64(h, ru->ip_version);
		h = hash_u64(h, (uint64_t)(int64_t)ru->protocol);
		h = hash_u64(h, (uint64_t)(int64_t)ru->not_protocol);
		h = hash_icmp(h, &ru->icmp);
		h = hash_icmp(h, &ru->not_icmp);
		h = hash_side(h, &ru->src);
		h = hash_side(h, &ru->dst);
		h = hash_u64(h, ru->index);
	}
	return h;
}

static void policy_hashes(struct acl_policy *p)
{
	for (int d = 0; d < _ACL_DIR_MAX; d++)
		p->hash[d] = policy_hash(p, (enum acl_dir)d);
}

int acl_index_new(const struct acl_policy_set *ps, struct acl_index **ret, struct parse_err *reterr)
{
	_cleanup_(acl_index_freep) struct acl_index *idx = calloc(1, sizeof(*idx));
	_cleanup_free_ const struct acl_policy **prev = NULL;
	struct builder b = {.err = reterr};
	size_t n_prev = 0;
	int r = 0;

	if (!idx)
		return -ENOMEM;
	if (ps->n_policies > ACL_MAX_POLICIES || ps->n_profiles > ACL_MAX_POLICIES ||
	    ps->n_tiers > ACL_MAX_POLICIES)
		return -E2BIG;
	if (ps->prev && ps->unchanged && prev_by_name(ps->prev, &prev, &n_prev) < 0)
		return -ENOMEM;

	/* Tiers: resources first (their settings), then any a policy names. */
	for (size_t i = 0; i < ps->n_tiers; i++) {
		const struct model_resource *res = ps->tiers[i];
		struct acl_tier *t;

		if (res->kind != MODEL_KIND_TIER || !res->meta.name)
			return parse_err_set(reterr, NULL, 0, 0, "kind", "not a Tier");
		t = tier_get(idx, res->meta.name, true);
		if (!t)
			return -ENOMEM;
		t->has_order = res->tier.has_order;
		t->order = res->tier.order;
		t->default_action = res->tier.default_action == MODEL_ACTION_PASS
					? MODEL_ACTION_PASS
					: MODEL_ACTION_DENY;
	}

	for (size_t i = 0; r >= 0 && i < ps->n_policies; i++) {
		const struct model_resource *res = ps->policies[i];
		struct acl_policy *p;
		struct acl_tier *t;

		if (res->kind != MODEL_KIND_NETWORK_POLICY &&
		    res->kind != MODEL_KIND_GLOBAL_NETWORK_POLICY) {
			r = parse_err_set(reterr, NULL, 0, 0, "kind",
					  "%s is not a NetworkPolicy or GlobalNetworkPolicy",
					  res->meta.name ? res->meta.name : "(unnamed)");
			break;
		}
		if (res->policy.pre_dnat || res->policy.do_not_track)
			continue; /* not enforced by tabby (documented in acl.h) */
		t = tier_get(idx, res->policy.tier ? res->policy.tier : MODEL_DEFAULT_TIER, true);
		p = calloc(1, sizeof(*p));
		if (!t || !p) {
			free(p);
			r = -ENOMEM;
			break;
		}
		r = tier_add(t, p);
		if (r < 0) {
			free(p);
			break;
		}
		const struct acl_policy *from =
		    prev && ps->unchanged[i] ? prev_find(prev, n_prev, res) : NULL;
		r = from ? copy_policy(&b, from, p) : compile_policy(&b, res, p);
	}

	if (r >= 0 && ps->n_profiles) {
		idx->profiles = calloc(ps->n_profiles, sizeof(*idx->profiles));
		if (!idx->profiles)
			r = -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < ps->n_profiles; i++) {
		if (ps->profiles[i]->kind != MODEL_KIND_PROFILE) {
			r = parse_err_set(reterr, NULL, 0, 0, "kind", "not a Profile");
			break;
		}
		idx->n_profiles++;
		r = compile_profile(&b, ps->profiles[i], &idx->profiles[i]);
	}

	/* The index owns the sets from here on, also on failure. */
	idx->sets = b.sets;
	idx->n_sets = b.n_sets;
	free(b.table);
	if (r < 0)
		return r;

	if (idx->n_tiers)
		qsort(idx->tiers, idx->n_tiers, sizeof(*idx->tiers), cmp_tier);
	for (size_t i = 0; i < idx->n_tiers; i++)
		if (idx->tiers[i].n_policies)
			qsort(idx->tiers[i].policies, idx->tiers[i].n_policies,
			      sizeof(struct acl_policy *), cmp_policyp);
	if (idx->n_profiles)
		qsort(idx->profiles, idx->n_profiles, sizeof(*idx->profiles), cmp_profile);
	if (idx->n_sets)
		qsort(idx->sets, idx->n_sets, sizeof(*idx->sets), cmp_setp);
	for (size_t i = 0; i < idx->n_sets; i++)
		idx->sets[i]->pos = i;
	for (size_t i = 0; i < idx->n_tiers; i++)
		for (size_t j = 0; j < idx->tiers[i].n_policies; j++) {
			idx->tiers[i].policies[j]->seq = idx->n_seq++;
			policy_hashes(idx->tiers[i].policies[j]);
		}
	for (size_t i = 0; i < idx->n_profiles; i++) {
		idx->profiles[i].seq = idx->n_seq++;
		policy_hashes(&idx->profiles[i]);
	}
	r = filters_build(idx);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(idx);
	return 0;
}

ssize_t acl_set_index(const struct acl_index *idx, const char *id)
{
	size_t lo = 0, hi = idx->n_sets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, idx->sets[mid]->id);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* ---- per-endpoint ruleset ---- */

struct acl_ruleset *acl_ruleset_free(struct acl_ruleset *rs)
{
	if (!rs)
		return NULL;
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		for (size_t i = 0; i < rs->dir[d].n_tiers; i++)
			free(rs->dir[d].tiers[i].policies);
		free(rs->dir[d].tiers);
		free(rs->dir[d].profiles);
	}
	free(rs->name);
	free(rs->ifname);
	free(rs->addrs);
	free(rs);
	return NULL;
}

static struct sel_subject ep_subject(const struct acl_endpoint *ep)
{
	return (struct sel_subject){
	    .labels = ep->labels,
	    .namespace = ep->host ? NULL : ep->namespace,
	    .namespace_labels = ep->namespace_labels,
	    .orchestrator = ep->orchestrator,
	};
}

static struct sel_subject netset_subject(const struct acl_netset *ns)
{
	return (struct sel_subject){
	    .labels = ns->labels,
	    .namespace = ns->namespace,
	    .namespace_labels = ns->namespace_labels,
	};
}

static int ep_dir_add(struct acl_ep_dir *d, const struct acl_tier *t, const struct acl_policy *p)
{
	struct acl_ep_tier *et;

	if (d->n_tiers == 0 || d->tiers[d->n_tiers - 1].tier != t) {
		et = realloc(d->tiers, (d->n_tiers + 1) * sizeof(*et));
		if (!et)
			return -ENOMEM;
		d->tiers = et;
		d->tiers[d->n_tiers++] = (struct acl_ep_tier){.tier = t};
	}
	et = &d->tiers[d->n_tiers - 1];
	if (et->n_policies % 8 == 0) {
		const struct acl_policy **n =
		    realloc(et->policies, (et->n_policies + 8) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		et->policies = n;
	}
	et->policies[et->n_policies++] = p;
	d->has_policy = true;
	return 0;
}

int acl_compile(const struct acl_index *idx, const struct acl_endpoint *ep,
		struct acl_ruleset **ret)
{
	_cleanup_(acl_ruleset_freep) struct acl_ruleset *rs = NULL;
	struct sel_subject subj = ep_subject(ep);
	int r;

	if (!ep->ifname || !ep->name)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs || !(rs->name = strdup(ep->name)) || !(rs->ifname = strdup(ep->ifname)))
		return -ENOMEM;
	rs->host = ep->host;
	if (ep->n_addrs) {
		rs->addrs = calloc(ep->n_addrs, sizeof(*rs->addrs));
		if (!rs->addrs)
			return -ENOMEM;
		memcpy(rs->addrs, ep->addrs, ep->n_addrs * sizeof(*rs->addrs));
		rs->n_addrs = ep->n_addrs;
	}

	/* The policies whose selector can select @ep, in index order (ascending seq). */
	size_t stack[FILTER_STACK], *cand = filter_buf(idx->policy_filter, stack), n;

	if (!cand)
		return -ENOMEM;
	n = filter_candidates(idx->policy_filter, &subj, cand);
	r = 0;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct acl_tier *t = idx->by_seq[cand[i]].tier;
		const struct acl_policy *p = idx->by_seq[cand[i]].policy;

		if (ep->host && !p->global)
			continue;
		if (!sel_match_subject(p->selector, &subj))
			continue;
		for (int d = 0; r >= 0 && d < _ACL_DIR_MAX; d++)
			if (p->types[d])
				r = ep_dir_add(&rs->dir[d], t, p);
	}
	if (cand != stack)
		free(cand);
	if (r < 0)
		return r;

	/* Profiles named by the endpoint that exist, in the endpoint's order. */
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		struct acl_ep_dir *dd = &rs->dir[d];

		if (ep->n_profiles) {
			dd->profiles = calloc(ep->n_profiles, sizeof(*dd->profiles));
			if (!dd->profiles)
				return -ENOMEM;
		}
		for (size_t i = 0; i < ep->n_profiles; i++) {
			struct acl_policy key = {.name = ep->profiles[i]};
			const struct acl_policy *p = array_find(
			    &key, idx->profiles, idx->n_profiles, sizeof(key), cmp_profile);

			if (p)
				dd->profiles[dd->n_profiles++] = p;
		}
		dd->end = dd->n_profiles ? ACL_END_PROFILES
			  : ep->host	 ? ACL_END_DENY
					 : ACL_END_ALLOW;
	}
	*ret = TAKE_PTR(rs);
	return 0;
}

/* ---- set members ---- */

struct acl_members *acl_members_free(struct acl_members *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_sets; i++)
		free(m->sets[i].items);
	free(m->sets);
	free(m);
	return NULL;
}

static int members_add(struct acl_set_members *sm, size_t *cap, struct ip_prefix net, uint8_t proto,
		       uint16_t port)
{
	if (sm->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct acl_member *n = realloc(sm->items, c * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sm->items = n;
		*cap = c;
	}
	sm->items[sm->n++] =
	    (struct acl_member){.net = ip_prefix_mask(net), .proto = proto, .port = port};
	return 0;
}

static int cmp_member(const void *x, const void *y)
{
	const struct acl_member *a = x, *b = y;
	int c = ip_prefix_cmp(&a->net, &b->net);

	if (c)
		return c;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return a->port < b->port ? -1 : a->port > b->port;
}

static void members_normalise(struct acl_set_members *sm, bool drop_contained)
{
	size_t w = 0;

	if (sm->n > 1)
		qsort(sm->items, sm->n, sizeof(*sm->items), cmp_member);
	for (size_t i = 0; i < sm->n; i++) {
		if (w > 0) {
			const struct acl_member *prev = &sm->items[w - 1];

			if (cmp_member(prev, &sm->items[i]) == 0)
				continue;
			if (drop_contained && ip_prefix_contains(&prev->net, &sm->items[i].net))
				continue;
		}
		sm->items[w++] = sm->items[i];
	}
	sm->n = w;
}

/* Is @name one of the comma-separated @names? */
static bool name_in_list(const char *names, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = names; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);

		if (l == len && memcmp(p, name, len) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool ep_has_named_port(const struct acl_set *s, const struct acl_endpoint *ep)
{
	for (size_t k = 0; k < ep->n_ports; k++) {
		const struct model_named_port *np = &ep->ports[k];

		if (!np->name || !name_in_list(s->port_name, np->name))
			continue;
		if (s->port_proto && np->protocol.set && np->protocol.number != s->port_proto)
			continue;
		return true;
	}
	return false;
}

/* Whether endpoint @ep (selector subject @subj) belongs in set @s: @s is a selector or named-port
 * set whose selector matches @ep and, for a named-port set, @ep has the port. */
static bool set_selects_endpoint(const struct acl_set *s, const struct acl_endpoint *ep,
				 const struct sel_subject *subj)
{
	if (s->kind == ACL_SET_NETS)
		return false;
	if (s->kind == ACL_SET_NAMED_PORT && !ep_has_named_port(s, ep))
		return false;
	return sel_match_subject(s->sel, subj);
}

/* Whether named port @np is one named-port set @s stands for; its protocol (TCP when the
 * endpoint does not say) in *@ret_proto. */
static bool set_has_port(const struct acl_set *s, const struct model_named_port *np,
			 uint8_t *ret_proto)
{
	uint8_t proto = np->protocol.set ? np->protocol.number : 6;

	if (!np->name || !name_in_list(s->port_name, np->name) ||
	    (s->port_proto && proto != s->port_proto))
		return false;
	*ret_proto = proto;
	return true;
}

int acl_set_members(const struct acl_index *idx, const struct acl_endpoint *eps, size_t n_eps,
		    const struct acl_netset *netsets, size_t n_netsets, struct acl_members **ret)
{
	_cleanup_(acl_members_freep) struct acl_members *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	if (idx->n_sets) {
		m->sets = calloc(idx->n_sets, sizeof(*m->sets));
		if (!m->sets)
			return -ENOMEM;
	}
	m->n_sets = idx->n_sets;
	for (size_t i = 0; i < idx->n_sets; i++) {
		const struct acl_set *s = idx->sets[i];
		struct acl_set_members *sm = &m->sets[i];
		size_t cap = 0;

		switch (s->kind) {
		case ACL_SET_NETS:
			for (size_t k = 0; k < s->n_nets; k++) {
				r = members_add(sm, &cap, s->nets[k], 0, 0);
				if (r < 0)
					return r;
			}
			break;
		case ACL_SET_SELECTOR:
			for (size_t e = 0; e < n_eps; e++) {
				struct sel_subject subj = ep_subject(&eps[e]);

				if (!eps[e].n_addrs || !sel_match_subject(s->sel, &subj))
					continue;
				for (size_t k = 0; k < eps[e].n_addrs; k++) {
					r = members_add(sm, &cap, ip_prefix_host(&eps[e].addrs[k]),
							0, 0);
					if (r < 0)
						return r;
				}
			}
			for (size_t e = 0; e < n_netsets; e++) {
				const struct acl_netset *ns = &netsets[e];
				struct sel_subject subj = netset_subject(ns);

				if (!sel_match_subject(s->sel, &subj))
					continue;
				for (size_t k = 0; k < ns->n_nets; k++) {
					r = members_add(sm, &cap, ns->nets[k], 0, 0);
					if (r < 0)
						return r;
				}
			}
			break;
		case ACL_SET_NAMED_PORT:
			for (size_t e = 0; e < n_eps; e++) {
				const struct acl_endpoint *ep = &eps[e];
				struct sel_subject subj = ep_subject(ep);

				if (!ep->n_addrs || !ep_has_named_port(s, ep) ||
				    !sel_match_subject(s->sel, &subj))
					continue;
				for (size_t k = 0; k < ep->n_ports; k++) {
					const struct model_named_port *np = &ep->ports[k];
					uint8_t proto;

					if (!set_has_port(s, np, &proto))
						continue;
					for (size_t a = 0; a < ep->n_addrs; a++) {
						r = members_add(sm, &cap,
								ip_prefix_host(&ep->addrs[a]),
								proto, np->port);
						if (r < 0)
							return r;
					}
				}
			}
			break;
		default:
			break;
		}
		members_normalise(sm, s->kind != ACL_SET_NAMED_PORT);
	}
	*ret = TAKE_PTR(m);
	return 0;
}

int acl_set_memberships(const struct acl_index *idx, const struct acl_endpoint *ep,
			int (*cb)(const struct acl_set *set, void *userdata), void *userdata)
{
	struct sel_subject subj = ep_subject(ep);
	size_t stack[FILTER_STACK], *cand = filter_buf(idx->filter, stack), n;
	int r = 0;

	if (!cand)
		return -ENOMEM;
	n = filter_candidates(idx->filter, &subj, cand);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct acl_set *s = idx->sets[cand[i]];

		if (set_selects_endpoint(s, ep, &subj))
			r = cb(s, userdata);
	}
	if (cand != stack)
		free(cand);
	return r < 0 ? r : 0;
}

static int endpoint_members(const struct acl_index *idx, const struct acl_endpoint *ep,
			    const struct sel_subject *subj, const size_t *cand, size_t n,
			    int (*cb)(const struct acl_set *set, const struct acl_member *m,
				      void *userdata),
			    void *userdata);

int acl_endpoint_members(const struct acl_index *idx, const struct acl_endpoint *ep,
			 int (*cb)(const struct acl_set *set, const struct acl_member *m,
				   void *userdata),
			 void *userdata)
{
	struct sel_subject subj = ep_subject(ep);
	size_t stack[FILTER_STACK], *cand, n;
	int r;

	if (!ep->n_addrs)
		return 0;
	cand = filter_buf(idx->filter, stack);
	if (!cand)
		return -ENOMEM;
	n = filter_candidates(idx->filter, &subj, cand);
	r = endpoint_members(idx, ep, &subj, cand, n, cb, userdata);
	if (cand != stack)
		free(cand);
	return r;
}

/* acl_endpoint_members() over the candidate sets @cand[@n]. */
static int endpoint_members(const struct acl_index *idx, const struct acl_endpoint *ep,
			    const struct sel_subject *subj, const size_t *cand, size_t n,
			    int (*cb)(const struct acl_set *set, const struct acl_member *m,
				      void *userdata),
			    void *userdata)
{
	for (size_t i = 0; i < n; i++) {
		const struct acl_set *s = idx->sets[cand[i]];
		int r;

		if (!set_selects_endpoint(s, ep, subj))
			continue;
		if (s->kind == ACL_SET_SELECTOR) {
			for (size_t k = 0; k < ep->n_addrs; k++) {
				struct acl_member m = {.net = ip_prefix_host(&ep->addrs[k])};

				m.net = ip_prefix_mask(m.net);
				r = cb(s, &m, userdata);
				if (r < 0)
					return r;
			}
			continue;
		}
		/* The same loop as acl_set_members(). */
		for (size_t k = 0; k < ep->n_ports; k++) {
			const struct model_named_port *np = &ep->ports[k];
			uint8_t proto;

			if (!set_has_port(s, np, &proto))
				continue;
			for (size_t a = 0; a < ep->n_addrs; a++) {
				struct acl_member m = {
				    .net = ip_prefix_mask(ip_prefix_host(&ep->addrs[a])),
				    .proto = proto,
				    .port = np->port};

				r = cb(s, &m, userdata);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

int acl_netset_members(const struct acl_index *idx, const struct acl_netset *ns,
		       int (*cb)(const struct acl_set *set, const struct acl_member *m,
				 void *userdata),
		       void *userdata)
{
	struct sel_subject subj = netset_subject(ns);

	for (size_t i = 0; i < idx->n_sets; i++) {
		const struct acl_set *s = idx->sets[i];

		if (s->kind != ACL_SET_SELECTOR || !sel_match_subject(s->sel, &subj))
			continue;
		for (size_t k = 0; k < ns->n_nets; k++) {
			struct acl_member m = {.net = ip_prefix_mask(ns->nets[k])};
			int r = cb(s, &m, userdata);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

int acl_member_cmp(const struct acl_member *a, const struct acl_member *b)
{
	return cmp_member(a, b);
}

/* ---- explain ---- */

const char *acl_dir_to_string(enum acl_dir dir)
{
	return dir == ACL_DIR_EGRESS ? "egress" : "ingress";
}

static bool in_set(const struct acl_members *m, const struct acl_set *s, const struct ip_addr *a,
		   uint8_t proto, int port)
{
	const struct acl_set_members *sm = &m->sets[s->pos];

	for (size_t i = 0; i < sm->n; i++) {
		const struct acl_member *x = &sm->items[i];

		if (!ip_prefix_contains_addr(&x->net, a))
			continue;
		if (s->kind != ACL_SET_NAMED_PORT)
			return true;
		if (port >= 0 && x->proto == proto && x->port == port)
			return true;
	}
	return false;
}

static bool in_ranges(const struct acl_port_range *r, size_t n, int port)
{
	for (size_t i = 0; i < n; i++)
		if (port >= r[i].first && port <= r[i].last)
			return true;
	return false;
}

static bool side_match(const struct acl_members *m, const struct acl_side *s,
		       const struct ip_addr *a, uint8_t proto, int port)
{
	if (s->nets && !in_set(m, s->nets, a, 0, -1))
		return false;
	if (s->not_nets && in_set(m, s->not_nets, a, 0, -1))
		return false;
	if (s->sel && !in_set(m, s->sel, a, 0, -1))
		return false;
	if (s->not_sel && in_set(m, s->not_sel, a, 0, -1))
		return false;
	if (s->n_ports || s->named_ports) {
		if (port < 0)
			return false;
		if (!in_ranges(s->ports, s->n_ports, port) &&
		    !(s->named_ports && in_set(m, s->named_ports, a, proto, port)))
			return false;
	}
	if (s->n_not_ports || s->not_named_ports) {
		if (port < 0)
			return false; /* as the dataplane: a port match needs a port */
		if (in_ranges(s->not_ports, s->n_not_ports, port) ||
		    (s->not_named_ports && in_set(m, s->not_named_ports, a, proto, port)))
			return false;
	}
	return true;
}

static bool icmp_match(const struct model_icmp *ic, const struct acl_packet *pkt)
{
	if (pkt->icmp_type < 0)
		return false;
	if (ic->type >= 0 && ic->type != pkt->icmp_type)
		return false;
	if (ic->code >= 0 && ic->code != pkt->icmp_code)
		return false;
	return true;
}

static bool rule_match(const struct acl_members *m, const struct acl_rule *r,
		       const struct acl_packet *pkt)
{
	bool has_ports =
	    pkt->proto == 6 || pkt->proto == 17 || pkt->proto == 132 || pkt->proto == 136;
	int sport = has_ports ? pkt->sport : -1, dport = has_ports ? pkt->dport : -1;

	if (r->ip_version && r->ip_version != (pkt->src.family == AF_INET ? 4 : 6))
		return false;
	if (r->protocol >= 0 && r->protocol != pkt->proto)
		return false;
	if (r->not_protocol >= 0 && r->not_protocol == pkt->proto)
		return false;
	if (r->icmp.set && !icmp_match(&r->icmp, pkt))
		return false;
	if (r->not_icmp.set && icmp_match(&r->not_icmp, pkt))
		return false;
	return side_match(m, &r->src, &pkt->src, pkt->proto, sport) &&
	       side_match(m, &r->dst, &pkt->dst, pkt->proto, dport);
}

/* Returns the deciding action (ALLOW, DENY, PASS) of @p, or -1 when no rule decides. */
static int eval_policy(const struct acl_members *m, const struct acl_policy *p, enum acl_dir dir,
		       const struct acl_packet *pkt, struct acl_verdict *v)
{
	for (size_t i = 0; i < p->n_rules[dir]; i++) {
		const struct acl_rule *r = &p->rules[dir][i];

		if (!rule_match(m, r, pkt))
			continue;
		if (r->action == MODEL_ACTION_LOG) {
			v->n_logged++;
			continue;
		}
		if (r->action == MODEL_ACTION_PASS && p->source == ACL_SOURCE_PROFILE)
			continue;
		v->policy = p;
		v->rule = r->index;
		return r->action;
	}
	return -1;
}

int acl_explain(const struct acl_index *idx, const struct acl_members *m,
		const struct acl_ruleset *rs, enum acl_dir dir, const struct acl_packet *pkt,
		struct acl_verdict *ret)
{
	const struct acl_ep_dir *d;
	struct acl_verdict v = {.dir = dir, .action = MODEL_ACTION_DENY};

	if (!m || m->n_sets != idx->n_sets || dir < 0 || dir >= _ACL_DIR_MAX)
		return -EINVAL;
	d = &rs->dir[dir];
	if (dir == ACL_DIR_EGRESS && !rs->host) {
		bool own = false;

		for (size_t i = 0; i < rs->n_addrs; i++)
			own = own || ip_addr_equal(&rs->addrs[i], &pkt->src);
		if (!own) {
			v.reason = ACL_REASON_SPOOF;
			*ret = v;
			return 0;
		}
	}
	for (size_t t = 0; t < d->n_tiers; t++) {
		const struct acl_ep_tier *et = &d->tiers[t];
		bool passed = false;

		for (size_t i = 0; i < et->n_policies && !passed; i++) {
			int a = eval_policy(m, et->policies[i], dir, pkt, &v);

			if (a == MODEL_ACTION_ALLOW || a == MODEL_ACTION_DENY) {
				v.action = (enum model_action)a;
				v.reason = ACL_REASON_RULE;
				v.tier = et->tier->name;
				*ret = v;
				return 0;
			}
			passed = a == MODEL_ACTION_PASS;
		}
		if (!passed && et->tier->default_action == MODEL_ACTION_DENY) {
			v.action = MODEL_ACTION_DENY;
			v.reason = ACL_REASON_TIER_DEFAULT;
			v.policy = NULL;
			v.tier = et->tier->name;
			*ret = v;
			return 0;
		}
		v.policy = NULL;
	}
	switch (d->end) {
	case ACL_END_ALLOW:
		v.action = MODEL_ACTION_ALLOW;
		v.reason = d->has_policy ? ACL_REASON_PASSED_OUT : ACL_REASON_NO_POLICY;
		break;
	case ACL_END_DENY:
		v.action = MODEL_ACTION_DENY;
		v.reason = ACL_REASON_HOST_DEFAULT;
		break;
	case ACL_END_PROFILES:
		for (size_t i = 0; i < d->n_profiles; i++) {
			int a = eval_policy(m, d->profiles[i], dir, pkt, &v);

			if (a == MODEL_ACTION_ALLOW || a == MODEL_ACTION_DENY) {
				v.action = (enum model_action)a;
				v.reason = ACL_REASON_RULE;
				*ret = v;
				return 0;
			}
		}
		v.action = MODEL_ACTION_DENY;
		v.reason = ACL_REASON_PROFILES_END;
		v.policy = NULL;
		break;
	}
	*ret = v;
	return 0;
}
