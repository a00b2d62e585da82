import Crypto
import HTTPTypes
import Logging

/// The request pipeline (docs/architecture.md, "One request"): identify → authorize → price → (402 | verify → reserve →
/// forward → settle → respond), with an audit event at every stage.
///
/// The gateway holds no HTTP server: adapters turn their requests into `GatewayRequest` and write
/// `GatewayResponse` back. All I/O goes through the protocols it is given.
public struct Gateway: Sendable {
    /// Settings behind a reference: copying `Settings` retains every one of its fields.
    final class SharedSettings: Sendable {
        let settings: Settings
        init(_ settings: Settings) { self.settings = settings }
    }

    /// What to do with requests no route matches.
    public enum UnmatchedPolicy: String, Sendable {
        case deny
        case passThrough = "pass"
    }

    /// What a copy of a proof gets while the first request with it runs. Either way, once it is spent, the recognised
    /// owner of its delivered answer gets that answer again (within the idempotency window) and anyone else a refusal.
    public enum RepeatedProofs: Sendable, Hashable {
        /// HTTP: the copy waits (503 `payment_in_progress` with `Retry-After`, never a 402 that would make a stock
        /// client pay again).
        case retried
        /// MCP: a refusal with fresh terms (`payment_in_progress`), so a tool runs once per payment: the x402 MCP client
        /// does not retry a call answered 503. Not the rail's "already used": the first request may yet fail to settle.
        case refused
    }

    public struct Settings: Sendable {
        public var routes: RouteTable
        public var clients: ClientDirectory
        public var offers: OfferSigner
        public var contract: ContractSigner
        /// The externally visible base URL (no trailing slash), used for `resource.url`.
        public var publicURL: String
        public var unmatched: UnmatchedPolicy
        /// `Retry-After` seconds on 503 answers.
        public var retryAfterSeconds: Int
        /// Rate limits per traffic class.
        public var limits: TrafficLimits
        /// Proofs recently found invalid.
        public var invalidProofs: NegativeCache
        /// The invalid-proof budget every instance on a shared store counts together (`limits.shared_invalid`); nil: per
        /// instance only.
        public var sharedInvalid: SharedInvalidBudget?
        /// How long a delivered paid response is kept for the same client retrying the same proof.
        public var idempotencyWindowSeconds: Int
        /// Responses larger than this are not kept (a retry is then refused as a replay).
        public var maxStoredResponseBytes: Int
        /// Ceilings on spend per client or payer, per day or month.
        public var spendCaps: [SpendCap]
        /// Ceilings on metering units per client or organisation.
        public var quotas: [Quota]
        /// Payer addresses (lowercase) allowed to pay; nil allows any. `payerDenyList` always wins.
        public var payerAllowList: Set<String>?
        public var payerDenyList: Set<String>
        /// Whether a settled payment whose answer was not delivered (`settle: before` and the upstream failed, or the
        /// connection broke while writing an answer nobody can fetch again) gets a `pending_payout` refund record at
        /// once, and one nobody came back for within the idempotency window from the reconciler; false holds them for
        /// manual review (`refunds.automatic`).
        public var automaticRefunds: Bool
        /// Whether refusals off the paid path are audited (`audit.denials`); paid-path refusals always are.
        public var auditsDenials: Bool
        /// What a copy of a proof gets while the first request with it runs.
        public var repeatedProofs: RepeatedProofs = .retried
        /// Whether the facilitator's verification runs while the claim is committed (`settlement.verify_with_claim`):
        /// the two are independent and nothing goes upstream before both answered, so a paid request waits for the
        /// slower of them instead of both in turn. An authorization or offer this gateway claimed lately is verified
        /// only after its claim again, so a flood of replays never reaches the facilitator.
        public var verifiesWithClaim = true
        /// The networks whose chain the rails read (`settlement.rpc`). There, a first `/settle` told the authorization was
        /// used already is held for the chain to say who spent it (someone may have sent this very authorization, paying
        /// the payee): not refused at once as a replay of one spent elsewhere.
        public var chainNetworks: Set<String> = []
        /// Told what the gateway added to each paid request's latency (`RequestTimings`); nil: not measured.
        public var timings: (any RequestTimings)?
        /// Where the discovery manifest is served (`Gateway+Discovery.swift`), and whether 402s carry each route's
        /// `Discovery`; nil: nothing is published.
        public var discoveryPath: String? = nil

        public init(routes: RouteTable, clients: ClientDirectory, offers: OfferSigner, contract: ContractSigner,
                    publicURL: String, unmatched: UnmatchedPolicy = .deny, retryAfterSeconds: Int = 5,
                    limits: TrafficLimits = .unlimited, invalidProofs: NegativeCache = NegativeCache(),
                    idempotencyWindowSeconds: Int = 3600, maxStoredResponseBytes: Int = 1 << 20, spendCaps: [SpendCap] = [],
                    quotas: [Quota] = [], payerAllowList: Set<String>? = nil, payerDenyList: Set<String> = [],
                    automaticRefunds: Bool = true, auditsDenials: Bool = true) {
            self.automaticRefunds = automaticRefunds
            self.auditsDenials = auditsDenials
            self.payerAllowList = payerAllowList.map { Set($0.map { $0.lowercased() }) }
            self.payerDenyList = Set(payerDenyList.map { $0.lowercased() })
            self.spendCaps = spendCaps
            self.quotas = quotas
            self.idempotencyWindowSeconds = idempotencyWindowSeconds
            self.maxStoredResponseBytes = maxStoredResponseBytes
            self.limits = limits
            self.invalidProofs = invalidProofs
            self.routes = routes
            self.clients = clients
            self.offers = offers
            self.contract = contract
            self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
            self.unmatched = unmatched
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// Everything a gateway's copies share (one per request, and one per door with its own upstream), behind one
    /// reference: a copy retains this and its two per-request values, not two dozen fields (copying the gateway was
    /// about 2 % of a 402's CPU).
    final class Parts: Sendable {
        /// The settings behind their own reference, which the journeys (one per request) share.
        let sharedSettings: SharedSettings
        /// Every way of being paid, in the order their terms are offered.
        let rails: [any PaymentRail]
        /// `Access-Control-Expose-Headers` of every answer: the rails' fields and the correlation id.
        let exposedFields: String
        /// Client-sent fields the backend must not see (`Gateway.strippedRequestFields` and every rail's proof fields).
        let strippedRequestFields: [HTTPField.Name]
        let store: any TollgateStore
        let audit: AuditBatcher
        let clock: any GatewayClock
        let controls: OperatorControls
        let tokens: (any TokenVerifier)?
        let logger: Logger
        /// Proofs this gateway is handling now (shared by its copies: the server's and the reconciler's).
        let inFlight = PaymentsInFlight()
        /// The terms of 402s (first requests and refusals), learnt per route, reason and price (`TermsTemplates`).
        let termsTemplates = TermsTemplates()
        /// Authorizations and offers claimed lately (the hashes of `ClaimedLately`, a few bytes each): they are not
        /// verified alongside a claim again (`Settings.verifiesWithClaim`), so replays and copies of a payment this gateway
        /// has seen never reach the facilitator. Fifteen minutes (the longest an offer usually stays valid) or 100,000
        /// entries, whichever is less.
        let claimedLately = ExpiringMemory<Int, Void>(capacity: 100_000, ttlSeconds: 900)
        /// What the discovery manifest lists.
        let catalogue: DiscoveryCatalogue
        /// What the doors do after an answer has left, drained at shutdown.
        let afterResponse = AfterResponseWork()

        init(settings: Settings, rails: [any PaymentRail], store: any TollgateStore, audit: AuditBatcher, clock: any GatewayClock,
             controls: OperatorControls, tokens: (any TokenVerifier)?, logger: Logger) {
            sharedSettings = SharedSettings(settings)
            self.rails = rails
            var exposed: [String] = []
            for name in rails.flatMap(\.wire.exposedFields).map(\.canonicalName) + ["tollgate-correlation-id"] where !exposed.contains(name) {
                exposed.append(name)
            }
            exposedFields = exposed.joined(separator: ", ")
            strippedRequestFields = rails.flatMap(\.wire.proofFields) + Gateway.strippedRequestFields
            self.store = store
            self.audit = audit
            self.clock = clock
            self.controls = controls
            self.tokens = tokens
            self.logger = logger
            catalogue = DiscoveryCatalogue(routes: settings.discoveryPath == nil ? RouteTable([]) : settings.routes, rails: rails,
                                           publicURL: settings.publicURL, now: clock.nowSeconds)
        }
    }

    let parts: Parts
    /// The rail of the request being handled: the one whose header carries its proof, chosen once on arrival
    /// (`forRequest`); the first rail for a request without a proof.
    private(set) var rail: any PaymentRail
    /// Where paid and free requests go: the proxy's HTTP upstream, or a door's own next handler (`handle(_:upstream:)`).
    var upstream: any Upstream

    // The shared parts by their names (a read borrows them: no copy of the settings per use).
    var settings: Settings { _read { yield parts.sharedSettings.settings } }
    var sharedSettings: SharedSettings { parts.sharedSettings }
    var rails: [any PaymentRail] { parts.rails }
    var exposedFields: String { parts.exposedFields }
    var strippedRequestFields: [HTTPField.Name] { parts.strippedRequestFields }
    var store: any TollgateStore { parts.store }
    var audit: AuditBatcher { parts.audit }
    var clock: any GatewayClock { parts.clock }
    var controls: OperatorControls { parts.controls }
    var tokens: (any TokenVerifier)? { parts.tokens }
    var logger: Logger { parts.logger }
    var inFlight: PaymentsInFlight { parts.inFlight }
    var termsTemplates: TermsTemplates { parts.termsTemplates }
    var claimedLately: ExpiringMemory<Int, Void> { parts.claimedLately }
    var catalogue: DiscoveryCatalogue { parts.catalogue }
    /// Work started after an answer has left (`Gateway.undelivered` from a door), tracked until it ends; run it in the
    /// service group so a graceful shutdown waits for it (`GatewayAssembly.services`).
    public var afterResponse: AfterResponseWork { parts.afterResponse }

    /// - Parameter rails: at least one; a request's proof picks the rail whose header it is in.
    public init(settings: Settings, rails: [any PaymentRail], store: any TollgateStore, audit: AuditBatcher,
                upstream: any Upstream, clock: any GatewayClock = SystemClock(), controls: OperatorControls = OperatorControls(),
                tokens: (any TokenVerifier)? = nil, logger: Logger) {
        precondition(!rails.isEmpty, "a gateway needs at least one rail")
        parts = Parts(settings: settings, rails: rails, store: store, audit: audit, clock: clock, controls: controls, tokens: tokens,
                      logger: logger)
        rail = rails[0]
        self.upstream = upstream
    }

    /// Runs the journey with another upstream for this one request: an in-process door (the Hummingbird
    /// middleware, the MCP gateway) passes its next handler; everything else (store, rail, limits, the
    /// payments in flight) is this gateway's own.
    public func handle(_ request: GatewayRequest, upstream: any Upstream) async -> GatewayResponse {
        var door = self
        door.upstream = upstream
        return await door.handle(request)
    }

    /// One rail, as most deployments have.
    public init(settings: Settings, rail: any PaymentRail, store: any TollgateStore, audit: AuditBatcher,
                upstream: any Upstream, clock: any GatewayClock = SystemClock(), controls: OperatorControls = OperatorControls(),
                tokens: (any TokenVerifier)? = nil, logger: Logger) {
        self.init(settings: settings, rails: [rail], store: store, audit: audit, upstream: upstream, clock: clock, controls: controls,
                  tokens: tokens, logger: logger)
    }

    /// This gateway with the rail of this request chosen (the first whose header carries a proof), and that proof's
    /// fingerprint (`PaymentRail.proofFingerprint`, a digest of the header: worked out once per request).
    func forRequest(_ fields: HTTPFields) -> (gateway: Gateway, proofDigest: [UInt8]?) {
        for (index, candidate) in rails.enumerated() {
            guard let digest = candidate.proofFingerprint(fields) else { continue }
            guard index > 0 else { return (self, digest) }
            var copy = self
            copy.rail = candidate
            return (copy, digest)
        }
        return (self, nil)
    }

    /// The rail named `name` (a recorded payment's), or the first.
    func rail(named name: String) -> any PaymentRail {
        rails.first { $0.name == name } ?? rails[0]
    }

    public func handle(_ request: GatewayRequest) async -> GatewayResponse {
        var response: GatewayResponse
        let correlationId: String
        if asksForManifest(request) {
            correlationId = CorrelationId.make(nowMillis: clock.nowMillis())
            response = await manifest(request, correlationId: correlationId)
        } else {
            let (gateway, proofDigest) = forRequest(request.headerFields)
            let (answer, flow) = await gateway.drive(request, correlationId: CorrelationId.make(nowMillis: clock.nowMillis()), proofDigest: proofDigest)
            (response, correlationId) = (answer, flow.correlationId)
        }
        if !response.headerFields.contains(.tollgateCorrelationId) {
            response.headerFields[.tollgateCorrelationId] = correlationId
        }
        response.headerFields[.accessControlExposeHeaders] = exposedFields
        return response
    }

    /// A JWT when a verifier is configured and the bearer value is one; an API key otherwise.
    func identify(_ fields: HTTPFields) async -> ClientDirectory.Outcome {
        if let tokens, fields[ClientDirectory.apiKeyField] == nil, let bearer = ClientDirectory.presentedKey(in: fields), tokens.handles(bearer) {
            return await tokens.identify(bearer)
        }
        return settings.clients.identify(fields)
    }

    /// Forwards a free request with the contract headers (no payer, no amount).
    func passThrough(_ request: GatewayRequest, route: Route?, identity: Identity, flow: Flow) async -> GatewayResponse {
        let contract = ContractSigner.Contract(client: identity.clientId, payer: "", amount: "", unit: "",
                                               correlationId: flow.correlationId, timestamp: clock.nowSeconds)
        do {
            let answer = try await upstream.send(upstreamRequest(request, contract: contract))
            return await passedOn(answer, route: route, identity: identity, flow: flow)
        } catch {
            return await deny(.badGateway, "bad_gateway", .forward, .upstreamUnavailable, flow: flow, detail: "the upstream did not answer")
        }
    }

    func upstreamRequest(_ request: GatewayRequest, contract: ContractSigner.Contract) -> UpstreamRequest {
        var fields = HopByHop.filtered(request.headerFields)
        for name in strippedRequestFields { fields[name] = nil }
        // Only the gateway speaks `Tollgate-*` and `X-Forwarded-*` to the backend, whatever names a client invents.
        fields = HTTPFields(fields.filter {
            let name = $0.name.canonicalName
            return !name.hasPrefix("tollgate-") && !name.hasPrefix("x-forwarded-")
        })
        // The gateway's own view of the client (the peer, or the hop a trusted proxy named), never the client's.
        if let address = request.remoteAddress {
            fields[HTTPField.Name("X-Forwarded-For")!] = address
            fields[HTTPField.Name("Forwarded")!] = "for=\(address.contains(":") ? "\"[\(address)]\"" : address)"
        }
        if let host = request.authority ?? request.headerFields[HTTPField.Name("Host")!] { fields[HTTPField.Name("X-Forwarded-Host")!] = host }
        settings.contract.apply(contract, method: request.method, target: request.target, body: request.body, to: &fields)
        return UpstreamRequest(method: request.method, target: request.target, headerFields: fields, body: request.body, contract: contract)
    }

    /// Client-sent fields the backend must not see besides the rails' proofs: the gateway's own credentials, method
    /// overrides (a backend honouring one would run another method than the one authorized and priced), and
    /// claims about the client's address (`X-Forwarded-*` and `Tollgate-*` are removed by prefix as well).
    static let strippedRequestFields: [HTTPField.Name] = [
        ClientDirectory.apiKeyField, .authorization,
        HTTPField.Name("X-HTTP-Method-Override")!, HTTPField.Name("X-Method-Override")!, HTTPField.Name("X-HTTP-Method")!,
        HTTPField.Name("Forwarded")!, HTTPField.Name("X-Real-IP")!,
    ]
}

/// The state of one flow as it moves through the stages.
struct Flow: Sendable {
    var correlationId: String
    let startedMillis: Int64
    var clientId: String?
    var resource: String?
    /// What this request counts against in the rate limiters.
    var limitKeys: [LimitKey] = []
    /// What its invalid proofs count against.
    var invalidKeys: [LimitKey] = []
    /// Digest of the proof, for the negative cache.
    var proofDigest: [UInt8]?
    /// The units this request asks for (its quantity rule; 1 for a request).
    var requested = 1

    init(correlationId: String, now: Int64, clientId: String? = nil, resource: String? = nil) {
        self.correlationId = correlationId
        self.startedMillis = now
        self.clientId = clientId
        self.resource = resource
    }

    func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ reason: Reason? = nil, clock: any GatewayClock,
               _ details: [String: String] = [:]) -> AuditEvent {
        event(stage, outcome, reason, atMillis: clock.nowMillis(), details)
    }

    func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ reason: Reason? = nil, atMillis: Int64,
               _ details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: atMillis, stage: stage, outcome: outcome,
                   reason: reason?.rawValue, clientId: clientId, resource: resource, details: details)
    }
}

/// Correlation ids: `tg_` and 32 hex digits, prefixed so they are recognisable in logs. Time-ordered like a UUIDv7:
/// the first 48 bits are the time in milliseconds, the other 80 are random (unguessable as before). Every table that
/// indexes flows by correlation id (audit events, reservations, payments, evidence) then inserts at the end of its index
/// instead of at a random page, so a commit writes a few pages rather than one per flow.
public enum CorrelationId {
    /// - Parameter nowMillis: the gateway's clock (`GatewayClock`), so ids sort with the times a test's clock gives.
    public static func make(nowMillis: Int64 = SystemClock().nowMillis()) -> String {
        let (first, low) = RandomPool.shared.words()
        let high = UInt64(truncatingIfNeeded: nowMillis) << 16 | first & 0xFFFF
        return "tg_" + HexString.encode(withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { Array($0) })
    }
}

/// What an offer binds of a request body.
enum RequestTarget {
    static func bodyDigest(_ body: [UInt8]) -> String? {
        body.isEmpty ? nil : HexString.encode(SHA256.hash(data: body))
    }
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) are never forwarded in either direction.
enum HopByHop {
    static let names: [HTTPField.Name] = [
        .connection, HTTPField.Name("Keep-Alive")!, .transferEncoding, .te, HTTPField.Name("Trailer")!, .upgrade,
        .proxyAuthenticate, .proxyAuthorization, .contentLength, HTTPField.Name("Host")!,
    ]

    /// An upstream's fields as passed to the client: no hop-by-hop fields and no correlation id of its own.
    static func response(_ fields: HTTPFields) -> HTTPFields {
        var copy = filtered(fields)
        copy[.tollgateCorrelationId] = nil
        return copy
    }

    /// Without the hop-by-hop fields, and without every field the `Connection` field names (RFC 9110 §7.6.1),
    /// so a client cannot make the gateway drop or keep a field by declaring it hop-by-hop.
    static func filtered(_ fields: HTTPFields) -> HTTPFields {
        var copy = fields
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") {
                if let name = HTTPField.Name(token.trimmingSpaces()) { copy[name] = nil }
            }
        }
        for name in names { copy[name] = nil }
        return copy
    }
}
