import TollgateConfiguration
import TollgateCore
import TollgateX402

/// Builds the steps of one request, in the journey's real order (the stages of `Journey`, `JourneyStage.all`),
/// labelled with this configuration's settings and numbers.
struct FlowDerivation {
    let configuration: GatewayConfiguration
    let routes: [RouteDesign]
    let networks: [NetworkDesign]

    var paidRoutes: [RouteDesign] { routes.filter { $0.pricing != nil } }
    var hasPaidRoutes: Bool { !paidRoutes.isEmpty }

    func steps() -> [FlowStep] {
        let all = [intake(), route(), identify(), authorize(), incident(), quantity(),
                   packageBalance(), admitUnpaid(), offer(), clientSigns(),
                   admitInvalid(), decode(), admitPaid(), offerCheck(), localVerify(), payerLists(), admitPayer(), reserve(),
                   facilitatorVerify(), spendCaps(), settleBefore(), forward(), consumption(), privateFields(), settle(), meter(), respond()]
        return configuration.auditsDenials ? all : all.map(withoutOffPathDenials)
    }

    /// `audit.denials: none`: refusals off the paid path are not written (`Gateway.isOffPaidPath`): every
    /// denial at route, identify, authorize, admit (429s, with a proof too) and offer, and the decisions
    /// taken before a proof is read (incident, quantity, a free route's upstream failure).
    func withoutOffPathDenials(_ step: FlowStep) -> FlowStep {
        var copy = step
        copy.audit = step.audit.filter { signal in
            guard signal.outcome == "denied" else { return true }
            // Before a proof is read every refusal is off the paid path (incident, quantity, a free route's upstream).
            if step.lane == .common { return false }
            return !["route", "identify", "authorize", "admit", "offer"].contains(signal.stage)
        }
        if copy.audit.count < step.audit.count { copy.configuration.append("audit.denials: none: its refusals are not logged") }
        return copy
    }

    // MARK: every request

    func intake() -> FlowStep {
        FlowStep(id: "intake", title: "intake", lane: .common, owner: .gateway,
                 checks: ["request body size, before anything else (not audited: the request never reaches the pipeline)"],
                 configuration: ["max_request_body_bytes \(DesignNumber.bytes(configuration.maxRequestBodyBytes))"],
                 refusals: ["413 request_body_too_large"])
    }

    func route() -> FlowStep {
        let free = routes.count - paidRoutes.count
        let unmatched = configuration.unmatched == .deny
            ? "unmatched: deny → 404 no_route" : "unmatched: pass → forwarded free and anonymous, unaudited"
        // An MCP gateway's routes are its tools, whose names the server compares exactly (nothing to configure).
        let letterCase: [String] = switch (configuration.mcp, configuration.upstreamPathCase) {
        case (.some, _): []
        case (nil, .sensitive): ["upstream.path_case: sensitive → literal segments match exactly"]
        case (nil, .insensitive): ["upstream.path_case: insensitive → literal segments match whatever the letter case"]
        case (nil, .unknown): ["upstream.path_case: unknown → a path whose letter case decides its route is refused"]
        }
        let ambiguous = configuration.upstreamPathCase == .unknown
        return FlowStep(id: "route", title: "route", lane: .common, owner: .gateway,
                        checks: ["path safety: dot segments, encoded separators and backslashes refused",
                                 "method + path pattern, in configuration order; the first match wins"],
                        configuration: ["\(routes.count) routes (\(paidRoutes.count) paid, \(free) free)", unmatched] + letterCase,
                        refusals: ["400 unsafe_path"] + (ambiguous ? ["400 ambiguous_path"] : [])
                            + (configuration.unmatched == .deny ? ["404 no_route"] : []),
                        audit: [AuditSignal("route", "denied", "unsafe_path")]
                            + (ambiguous ? [AuditSignal("route", "denied", "ambiguous_path")] : [])
                            + (configuration.unmatched == .deny ? [AuditSignal("route", "denied", "no_route")] : []))
    }

    func identify() -> FlowStep {
        var checks: [String] = []
        var labels: [String] = []
        var refusals: [String] = []
        var audit: [AuditSignal] = []
        if !configuration.clients.isEmpty {
            checks.append("API key (X-Api-Key or Authorization: Bearer): SHA-256 at rest, constant-time compare")
            labels.append("API keys: \(configuration.clients.count) client(s) (\(configuration.clients.map(\.id).sorted().joined(separator: ", ")))")
        } else {
            labels.append("no API clients: any presented key is unknown")
        }
        refusals.append("401 unknown_api_key")
        audit.append(AuditSignal("identify", "denied", "unknown_api_key"))
        if let jwt = configuration.jwt {
            checks.append("Bearer JWT: signature, exp, nbf, iss, aud; sub is the client, scope/scopes its scopes, org its organisation")
            labels.append("JWT: issuer \(jwt.issuer), audience \(jwt.audience)")
            refusals.append("401 invalid_token")
            audit.append(AuditSignal("identify", "denied", "invalid_token"))
        } else {
            labels.append("no JWT")
        }
        checks.append("revoked clients (admin revocations, reloaded every second)")
        refusals.append("401 client_revoked")
        audit.append(AuditSignal("identify", "denied", "client_revoked"))
        let anonymous = routes.filter(\.anonymous).map(\.resource)
        labels.append(anonymous.isEmpty ? "no anonymous routes" : "anonymous allowed on: \(anonymous.joined(separator: ", "))")
        checks.append("a caller without credentials only where the route is anonymous")
        refusals.append("401 missing_credentials")
        audit.append(AuditSignal("identify", "denied", "missing_credentials"))
        return FlowStep(id: "identify", title: "identify", lane: .common, owner: .gateway,
                        checks: checks, configuration: labels, refusals: refusals, audit: audit)
    }

    func authorize() -> FlowStep {
        var labels: [String] = []
        for route in routes {
            if let scope = route.scope { labels.append("\(route.resource) needs \(scope)") }
            for action in route.actionScopes { labels.append("\(route.resource) \(action.action) needs \(action.scope)") }
        }
        if labels.isEmpty { labels.append("no scopes: every identified caller may use every route") }
        let free = routes.filter { $0.pricing == nil }.map(\.resource)
        if !free.isEmpty { labels.append("free routes forwarded after this step: \(free.joined(separator: ", "))") }
        return FlowStep(id: "authorize", title: "authorize", lane: .common, owner: .gateway,
                        checks: ["the route's scope, then action scopes (methods, ?parameters)",
                                 "before any price: a caller who may not use the resource never sees a 402"],
                        configuration: labels, refusals: ["403 missing_scope"] + (free.isEmpty ? [] : ["502 upstream_unavailable (free route)"]),
                        audit: [AuditSignal("authorize", "denied", "missing_scope")]
                            + (free.isEmpty ? [] : [AuditSignal("forward", "denied", "upstream_unavailable")]))
    }

    func incident() -> FlowStep {
        let label = configuration.admin.map { "switched through the admin API on \($0.listen)" }
            ?? "no admin listener: switches cannot be flipped while serving (only ones already in the store apply)"
        return FlowStep(id: "incident", title: "incident switch", lane: .common, owner: .operator, active: hasPaidRoutes,
                        checks: ["operator switch, global or per route; checked again before settling"],
                        configuration: [label, "Retry-After \(configuration.retryAfterSeconds) s"],
                        refusals: ["503 incident"], audit: [AuditSignal("decide", "denied", "incident")])
    }

    func quantity() -> FlowStep {
        var labels: [String] = []
        for route in paidRoutes {
            guard let pricing = route.pricing, pricing.rule == "per_unit" else { continue }
            labels.append("\(route.resource): \(pricing.quantity) × \(pricing.price) per \(pricing.unit) (at most \(pricing.maxPayment))")
        }
        if labels.isEmpty { labels.append("every paid route has a fixed quantity") }
        return FlowStep(id: "quantity", title: "quantity", lane: .common, owner: .gateway, active: hasPaidRoutes,
                        checks: ["the units this request asks for decide the exact amount quoted (never a 402 for a bad quantity)"],
                        configuration: labels, refusals: ["400 invalid_quantity"],
                        audit: [AuditSignal("decide", "denied", "invalid_quantity")])
    }

    // MARK: no proof

    func packageBalance() -> FlowStep {
        let packaged = paidRoutes.filter { $0.pricing?.package != nil }
        let labels = packaged.compactMap { route -> String? in
            guard let pricing = route.pricing, let package = pricing.package else { return nil }
            return "\(route.resource): package \(package.name), \(package.units) \(pricing.unit) per \(pricing.price) \(pricing.assetName)"
        }
        return FlowStep(id: "package_balance", title: "package balance", lane: .noProof, owner: .gateway, active: !packaged.isEmpty,
                        checks: ["an identified client's balance covers the quantity: held atomically, forwarded, consumed units spent, the rest given back (no 402)",
                                 "prepaid requests count against the paid limit"],
                        configuration: labels.isEmpty ? ["no packages"] : labels,
                        refusals: ["429 rate_limited_paid", "402 when the balance does not cover the request", "502 upstream_unavailable (no units spent)"],
                        audit: [AuditSignal("meter", "ok", "units_held"), AuditSignal("forward", "ok"), AuditSignal("meter", "ok", "units_consumed"),
                                AuditSignal("respond", "ok", "delivered"), AuditSignal("forward", "ok", "upstream_refused"),
                                AuditSignal("respond", "denied", "upstream_refused"), AuditSignal("forward", "error", "upstream_unavailable"),
                                AuditSignal("respond", "denied", "upstream_unavailable"), AuditSignal("meter", "error", "store_unavailable"),
                                AuditSignal("respond", "denied", "store_unavailable")])
    }

    func admitUnpaid() -> FlowStep {
        FlowStep(id: "admit_unpaid", title: "admit (unpaid)", lane: .noProof, owner: .gateway, active: hasPaidRoutes,
                 checks: ["GCRA per client id and IP prefix, before an offer is signed"],
                 configuration: limitLabels("unpaid"), refusals: ["429 rate_limited_unpaid"],
                 audit: [AuditSignal("admit", "denied", "rate_limited_unpaid")])
    }

    func offer() -> FlowStep {
        var labels = [
            "offers valid \(distinct(paidRoutes.compactMap { $0.pricing?.offerValiditySeconds })) s, maxTimeoutSeconds \(distinct(paidRoutes.compactMap { $0.pricing?.maxTimeoutSeconds }))",
            "signed with \(configuration.secrets.first?.id ?? "?") (\(configuration.secrets.count) key(s))",
        ]
        for network in networks {
            labels.append("\(network.network): \(network.assets.joined(separator: ", ")) for \(network.routes.joined(separator: ", "))")
        }
        labels.append("unpaid-path audit batched, committed within \(configuration.auditFlushMillis) ms")
        return FlowStep(id: "offer", title: "402 + signed offer", lane: .noProof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["only networks a facilitator serves now are offered (none: 503, closed, never open)",
                                 "HMAC offer binds correlation id, resource, exact request (method, path, query, body digest), client, network, asset, amount, payee, unit, expiry",
                                 "issuing it writes nothing synchronously"],
                        configuration: labels, refusals: ["402 payment_required (PAYMENT-REQUIRED)", "503 facilitator_unavailable"],
                        audit: [AuditSignal("offer", "issued", "payment_required"), AuditSignal("offer", "denied", "facilitator_unavailable")])
    }

    func clientSigns() -> FlowStep {
        let domains = configuration.assets.filter { asset in networks.contains { $0.assets.contains(asset.id) } }
            .map { "\($0.id): EIP-712 domain \($0.eip712Name)/\($0.eip712Version) on \($0.network)" }
        return FlowStep(id: "client_signs", title: "client signs", lane: .noProof, owner: .client, active: hasPaidRoutes,
                        checks: ["picks one offer, signs an EIP-3009 transferWithAuthorization for the amount to the payee, valid for maxTimeoutSeconds",
                                 "retries the same request with PAYMENT-SIGNATURE (x402 v2); nothing is logged until it arrives"],
                        configuration: domains)
    }

    // MARK: labels

    /// The class limit globally and on every route with its own, with the keys it counts under.
    func limitLabels(_ trafficClass: String, perPayer: Bool = false) -> [String] {
        let global = ClassLimitsDesign(globalLimits: configuration.limits)
        var labels = ["global \(global.text(trafficClass))"]
        for route in paidRoutes where route.limits.source == "route" {
            labels.append("\(route.resource) \(route.limits.text(trafficClass))")
        }
        labels.append(perPayer ? "per payer address (after the signature is verified)"
            : "per client id + IP prefix /\(configuration.limits.ipv4PrefixBits) (IPv6 /\(configuration.limits.ipv6PrefixBits))")
        return labels
    }

    /// `300` when every value is the same, `60–120` otherwise.
    func distinct(_ values: [Int]) -> String {
        guard let low = values.min(), let high = values.max() else { return "-" }
        return low == high ? String(low) : "\(low)–\(high)"
    }

    /// The configuration's id of an asset (network + address), or its address.
    func assetName(network: String, address: String) -> (String, Int) {
        let asset = configuration.assets.first { $0.network == network && $0.address.lowercased() == address.lowercased() }
        return (asset?.id ?? address, asset?.decimals ?? 0)
    }
}
