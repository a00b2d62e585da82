import TollgateConfiguration
import TollgateX402

/// Every rule, by the question it answers. docs/lint.md documents each one with a minimal bad example.
extension LintRule {
    // MARK: Authorization before payment

    public static let openToAnyKeyHolder = LintRule(
        id: "TG101", severity: .warning, title: "paid route open to any key holder",
        trigger: "a paid route that needs credentials (not `anonymous`) but has no `scope`, while scopes are in use "
            + "(some client holds a scope, or `jwt` is configured)",
        why: "Identifying a caller is not authorizing it: without a scope every API key and every valid JWT may buy the "
            + "route, so the price becomes the only permission. Scopes elsewhere in the file show that callers are not all equal.",
        fix: "give the route a `scope:` and grant it to the clients that may buy it; or set `anonymous: true` if anyone may")

    public static let paymentGatesWrite = LintRule(
        id: "TG102", severity: .warning, title: "payment is the only gate on a write",
        trigger: "a paid route that accepts a write method (`method` omitted or `*`, POST, PUT, PATCH, DELETE) with neither "
            + "a route `scope` nor an `action_scopes` entry for that method",
        why: "A 402 answers \"how much\", not \"may you\": whoever pays may then create, change or delete. Writes need an "
            + "authorization decision of their own, checked before any price (403, never 402).",
        fix: "add `action_scopes: {POST: <resource>:write}` (one per write method) or a route `scope:`; if the route only "
            + "reads, set `method: GET`")

    public static let paidAlsoFreeForScope = LintRule(
        id: "TG103", severity: .warning, title: "paid resource also served free to scoped clients",
        trigger: "a paid route and a free route (no `price`) with a `scope` that cover the same resource: the same `resource` "
            + "id, or the same path pattern with overlapping methods",
        why: "When scope holders get something free and everyone else may buy it, the 402 stands in for an authorization "
            + "decision: the real rule (\"only holders of the scope\") is not enforced for anyone willing to pay.",
        fix: "decide which rule it is: for scope holders only, give the paid route the same scope (or remove it); for sale "
            + "to anyone, price both routes and keep scopes for what payment must not buy")

    public static let proofNotBound = LintRule(
        id: "TG104", severity: .warning, title: "anonymous payments escape per-client controls",
        trigger: "a paid route open to anonymous callers, while a `spend_caps` entry `per: client | organisation` counts one "
            + "of its assets or a `quotas` entry `per: client | organisation` counts its unit",
        why: "An anonymous caller's offer and proof are bound to no client, so client and organisation caps and quotas "
            + "cannot count them: a capped client drops its key and buys here without limit. (`private_fields` and "
            + "`action_scopes` on an anonymous route are not findings: anonymous callers hold no scope, so they get the "
            + "filtered answer or a 403, and identified callers' offers are bound to their id.)",
        fix: "set `anonymous: false` so payments count against their client, or add a cap `per: payer` for anonymous spend")

    // MARK: Limits and lifetimes

    public static let noUnpaidLimit = LintRule(
        id: "TG105", severity: .warning, title: "no limit on unpaid requests",
        trigger: "`limits.unpaid: off` (globally or on a paid route) while the file has paid routes",
        why: "Every request without a proof on a paid route gets a freshly signed offer and an audit event; unlimited, "
            + "a flood of bare requests costs CPU and audit storage and drowns real flows in the log.",
        fix: "set `limits.unpaid: {rate_per_second: 20, burst: 40}` (the default) or a rate that fits your traffic")

    public static let noPaidLimit = LintRule(
        id: "TG106", severity: .warning, title: "no limit on paid retries",
        trigger: "`limits.paid: off` (globally or on a paid route) while the file has paid routes",
        why: "Every request carrying a proof costs a signature recovery, a reservation write and a facilitator /verify "
            + "call; unlimited, one client can exhaust the facilitator's budget and the store for everyone.",
        fix: "set `limits.paid: {rate_per_second: 10, burst: 20}` (the default) or a rate that fits your traffic")

    public static let noInvalidLimit = LintRule(
        id: "TG107", severity: .warning, title: "no limit on invalid proofs",
        trigger: "`limits.invalid: off` (globally or on a paid route) while the file has paid routes",
        why: "A caller out of invalid-proof budget is refused before its proof is even decoded. Without the limit, forged "
            + "or replayed proofs are decoded and verified at full speed; only exact repeats hit the invalid-proof cache.",
        fix: "set `limits.invalid: {rate_per_second: 1, burst: 5}` (the default)")

    public static let longOfferValidity = LintRule(
        id: "TG108", severity: .warning, title: "offer valid too long",
        trigger: "`offer_validity_seconds` above \(ConfigurationLint.offerValidityThresholdSeconds) on a paid route",
        why: "A signed offer fixes price, payee and terms until it expires: a client can still pay it after you changed "
            + "the price or the payee, and a leaked offer stays usable as long. Clients pay within seconds of a 402.",
        fix: "use at most \(ConfigurationLint.offerValidityThresholdSeconds) s (the default is 300)")

    public static let longAuthorization = LintRule(
        id: "TG109", severity: .warning, title: "payment authorization valid too long",
        trigger: "`max_timeout_seconds` above \(ConfigurationLint.maxTimeoutThresholdSeconds) on a paid route",
        why: "`maxTimeoutSeconds` is how long clients make their signed authorization (EIP-3009 `validBefore`) valid. "
            + "Until then whoever holds it can settle it, even after the gateway refused or released it, and the payer's "
            + "funds stay committed to it.",
        fix: "use at most \(ConfigurationLint.maxTimeoutThresholdSeconds) s (the default is 60)")

    public static let authorizationExpiresBeforeSettlement = LintRule(
        id: "TG118", severity: .warning, title: "authorization may expire before settlement",
        trigger: "a paid route whose `max_timeout_seconds` is below the worst case of one paid request: Σ timeouts of the "
            + "facilitators serving its network (verify, failover) + `upstream.timeout_seconds` + 2 × that Σ (settle, and once "
            + "more when pending) + \(TimingBudget.validityMarginSeconds) s, on its slowest accepted network",
        why: "Clients make their authorization valid for `max_timeout_seconds`. When verify, the upstream and settlement all "
            + "run to their timeouts, it can expire before the gateway's last /settle call: the answer was delivered and the "
            + "payment cannot be settled any more.",
        fix: "raise `max_timeout_seconds` to at least the worst case (`tollgate design` shows it under Timing budget), or lower "
            + "the facilitator or upstream timeouts")

    // MARK: Settlement

    public static let singleFacilitator = LintRule(
        id: "TG110", severity: .warning, title: "one facilitator, no failover",
        trigger: "a network that paid routes accept (other than a known test network) served by exactly one facilitator",
        why: "Verification and settlement need the facilitator: when the only one is down or slow, every route paid on "
            + "that network answers 503 and sells nothing. A second facilitator is tried when the first fails.",
        fix: "add a second facilitator that lists the network (they are tried in order; a failing one leaves rotation "
            + "until its /supported answers again)")

    public static let settleBeforeWithoutRefunds = LintRule(
        id: "TG111", severity: .warning, title: "settle before without a refund policy",
        trigger: "a route with `settle: before` while `refunds.automatic` is false or no `refunds.payout_contact` names "
            + "who pays out pending refunds",
        why: "`settle: before` charges the payer before the upstream runs. When the answer is then not delivered, the "
            + "payer is owed the money back: a refund record (`pending_payout`) says so, and someone has to pay it out.",
        fix: "add `refunds: {automatic: true, payout_contact: <who closes pending refunds>}`; or use `settle: after` when "
            + "the work can be retried",
        cases: "error when `refunds.automatic: false` and no `payout_contact` (payments for undelivered work are kept with "
            + "no record and nobody named); warning otherwise")

    public static let windowShorterThanUpstream = LintRule(
        id: "TG119", severity: .warning, title: "idempotency window shorter than the upstream timeout",
        trigger: "a route with `settle: before` while `idempotency_window_seconds` is below `upstream.timeout_seconds`",
        why: "A settled payment whose delivery is not recorded within `idempotency_window_seconds` of its settlement intent "
            + "is refunded by the reconciler (or listed for review). With `settle: before` the intent is recorded before the "
            + "upstream runs: work still running when the window ends is refunded, and its answer is then withheld (502 "
            + "`settlement_closed`); the work ran for nothing.",
        fix: "raise `idempotency_window_seconds` to at least `upstream.timeout_seconds` (3600, the default, fits any upstream "
            + "timeout), or lower `upstream.timeout_seconds`")

    // MARK: Metering

    public static let priceWithoutUnit = LintRule(
        id: "TG112", severity: .warning, title: "price with no unit",
        trigger: "a route that sets `price` but does not state `unit`",
        why: "The unit is part of the terms: the 402 states it and the backend receives it as `Tollgate-Unit`. The "
            + "default (`request`) is applied silently; what one payment buys should be a decision written down.",
        fix: "add `unit: request` (or `record`, `byte`, `second`, `package`)")

    public static let unitWithoutMoment = LintRule(
        id: "TG113", severity: .info, title: "unit with no moment of consumption",
        trigger: "a route that states `unit` but not `consumed`",
        why: "`consumed` decides when a unit counts as used, and so whether an upstream error is charged. The default "
            + "(`on_success`) is the buyer-safe one, but a route that bills in units should say so.",
        fix: "add `consumed: on_success` (upstream errors are not charged) or `consumed: on_request`")

    // MARK: Audit and secrets

    public static let denialsNotAudited = LintRule(
        id: "TG114", severity: .error, title: "denials not audited",
        trigger: "`audit.denials: none`",
        why: "Refusals are where abuse shows: unknown keys, missing scopes, rate limits, unsafe paths. Without their "
            + "audit events `tollgate trace` cannot explain a 401, 403 or 429 to a customer, and an attack leaves no trail. "
            + "(Refusals of a request carrying a proof are recorded whatever this says.)",
        fix: "remove `denials: none` (the default is `all`); to save space, set `audit.retention_days` instead")

    public static let inlineSecret = LintRule(
        id: "TG115", severity: .error, title: "secret written in the file",
        trigger: "a facilitator header that carries a credential (Authorization, X-Api-Key, names with token, key, "
            + "secret, auth…, or a `Bearer`/`Basic` value) written literally instead of `${NAME}`; or a facilitator or "
            + "upstream URL with a password or a token in its query",
        why: "Configuration files are copied, committed, attached to tickets and printed by `tollgate design`; a "
            + "credential in one leaks with it. `${NAME}` is read from the environment when the file is loaded. (HMAC "
            + "`secrets` and the admin token cannot be inline at all: the loader refuses `value:`.)",
        fix: "write the value as `${FACILITATOR_TOKEN}` and set FACILITATOR_TOKEN in the environment of `tollgate serve`")

    // MARK: Networks and assets

    public static let mainNetDevFacilitator = LintRule(
        id: "TG116", severity: .error, title: "main-net route with the development facilitator",
        trigger: "a paid route on a main network (\(KnownNetwork.mainNets.map(\.id).joined(separator: ", "))) served "
            + "by a facilitator whose URL is a loopback address (127.0.0.0/8, ::1, localhost, 0.0.0.0)",
        why: "The development facilitator (`tollgate facilitator --dev`) and test doubles listen on loopback and settle "
            + "nothing on chain: a main-net route through them delivers paid answers without being paid.",
        fix: "point the network at a production facilitator (its https URL); keep loopback facilitators for test networks")

    public static let assetMismatch = LintRule(
        id: "TG117", severity: .error, title: "asset does not match the known token",
        trigger: "an asset whose address is a known token (\(KnownAsset.all.count) USDC deployments, from coinbase/x402) "
            + "with a different `eip712_name`, `eip712_version` or `decimals`, or configured on another network",
        why: "Payers sign the EIP-712 domain of the token contract (its `name()` and `version()`): with another name or "
            + "version every signature is refused on chain and by stock clients. Wrong decimals price everything by "
            + "powers of ten.",
        fix: "use the token's own values (docs/lint.md lists the known ones)")
}
