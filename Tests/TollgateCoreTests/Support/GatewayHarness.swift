import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// One gateway wired to test doubles, with the fixtures the gateway tests share:
/// `/health` (free, anonymous), `/datasets/*` (paid, API key), `/reports/*` (paid, scope `reports`).
struct GatewayHarness {
    static let network = "eip155:84532"
    static let asset = Asset(id: "usdc-test", network: network, address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                             decimals: 6, eip712Name: "USDC", eip712Version: "2")
    static let payTo = "0x209693bc6afc0c5328ba36faf03c514ef312287c"
    static let price = TokenAmount(atomic: "10000")!
    static let offerValiditySeconds = 60
    static let aliceKey = "alice-api-key-0123456789"
    static let bobKey = "bob-api-key-0123456789"
    static let signingKey = SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!

    static let pricing = Route.Pricing(price: "0.01", accepts: [.init(asset: asset, amount: price, payTo: payTo)], unit: "request",
                                       quantity: 1, offerValiditySeconds: offerValiditySeconds, maxTimeoutSeconds: 120)
    static let datasets: Route = {
        var route = Route(method: nil, path: PathPattern("/datasets/*")!, resource: "datasets", description: "datasets",
                          mimeType: "application/json", scope: nil, allowsAnonymous: false, pricing: pricing)
        route.actionScopes = ["?export": "datasets:export", "DELETE": "datasets:admin"]
        return route
    }()
    static let routes = RouteTable([
        Route(method: .get, path: PathPattern("/health")!, resource: "health", description: "health", mimeType: "text/plain",
              scope: nil, allowsAnonymous: true, pricing: nil),
        datasets,
        Route(method: .get, path: PathPattern("/reports/*")!, resource: "reports", description: "reports", mimeType: "application/json",
              scope: "reports", allowsAnonymous: false, pricing: pricing),
    ])
    static let clients = ClientDirectory([
        ClientRecord(id: "alice", apiKeySHA256: HexString.decode(APIKeyHash.sha256Hex(aliceKey))!, scopes: ["reports"], organisation: "acme"),
        ClientRecord(id: "bob", apiKeySHA256: HexString.decode(APIKeyHash.sha256Hex(bobKey))!, scopes: [], organisation: "acme"),
    ])

    let store: InMemoryStore
    let rail: ScriptedRail
    let upstream = RecordingUpstream()
    let clock = FixedClock()
    let offers = OfferSigner(keys: KeyRing([signingKey])!)
    static let contractKeys = KeyRing([SecretKey(id: "c1", secret: Array(repeating: 9, count: 32))!])!
    let contract = ContractSigner(keys: contractKeys)
    /// The upstream's check of the contract (no replay cache: tests look at one request more than once).
    let contractVerifier = ContractVerifier(keys: contractKeys, replays: nil)
    let batcher: AuditBatcher
    let gateway: Gateway

    let controls: OperatorControls

    init(limits: TrafficLimits = .unlimited, controls: OperatorControls = OperatorControls(), spendCaps: [SpendCap] = [],
         quotas: [Quota] = [], payerAllowList: Set<String>? = nil, routes: RouteTable = Self.routes,
         automaticRefunds: Bool = true, auditsDenials: Bool = true, sharedInvalid: SharedInvalidBudget? = nil,
         auditCapacity: Int = 8192, auditBacklogLimit: Int? = nil, verifiesWithClaim: Bool = true, timings: (any RequestTimings)? = nil,
         echoesOffers: Bool = true, store: InMemoryStore = InMemoryStore(), chainNetworks: Set<String> = []) {
        self.store = store
        rail = ScriptedRail(echoesOffers: echoesOffers)
        let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }
        batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: auditCapacity, backlogLimit: auditBacklogLimit, logger: logger)
        self.controls = controls
        var settings = Gateway.Settings(routes: routes, clients: Self.clients, offers: offers, contract: contract,
                                        publicURL: "https://api.test/", limits: limits, spendCaps: spendCaps, quotas: quotas,
                                        payerAllowList: payerAllowList, automaticRefunds: automaticRefunds, auditsDenials: auditsDenials)
        settings.sharedInvalid = sharedInvalid
        settings.verifiesWithClaim = verifiesWithClaim
        settings.chainNetworks = chainNetworks
        settings.timings = timings
        gateway = Gateway(settings: settings, rail: rail, store: store, audit: batcher, upstream: upstream, clock: clock,
                          controls: controls, logger: logger)
    }

    func send(_ target: String, method: HTTPRequest.Method = .get, apiKey: String? = aliceKey, proof: TestProof? = nil,
              fields extra: HTTPFields = [:]) async -> GatewayResponse {
        var fields = extra
        if let apiKey { fields[ClientDirectory.apiKeyField] = apiKey }
        if let proof { fields[ScriptedRail.proofField] = proof.header }
        return await gateway.handle(GatewayRequest(method: method, target: target, headerFields: fields))
    }

    /// A proof paying the fixture's terms, echoing `offerToken`.
    func proof(nonce: String = "0x01", payer: String = "0xAbC0000000000000000000000000000000000001", amount: String = price.atomic,
               offerToken: String?) -> TestProof {
        TestProof(network: Self.network, asset: Self.asset.address, amount: amount, payTo: Self.payTo, payer: payer,
                  nonce: nonce, validBefore: String(clock.nowSeconds + 300), offerToken: offerToken)
    }

    /// Asks for `target` without a proof, flushes the 402's audit event, and returns the 402 with a proof paying its offer.
    func offerAndProof(_ target: String = "/datasets/prices", method: HTTPRequest.Method = .get, apiKey: String? = aliceKey, nonce: String = "0x01",
                       amount: String = price.atomic) async throws -> (offer: GatewayResponse, proof: TestProof) {
        let offer = await send(target, method: method, apiKey: apiKey)
        try #require(offer.status == .paymentRequired)
        await batcher.flush()
        return (offer, proof(nonce: nonce, amount: amount, offerToken: try #require(offer.offerTokens.first)))
    }

    /// The flow's audit events in order, after writing what the batcher still holds.
    func events(_ correlationId: String?) async throws -> [AuditEvent] {
        await batcher.flush()
        return try await store.events(correlationId: try #require(correlationId)).map(\.event)
    }

    /// Whether a forwarded request carries a valid contract signature for its method, target and body.
    func isSigned(_ request: UpstreamRequest) -> Bool {
        guard case .success = contractVerifier.verify(request.headerFields, method: request.method.rawValue, target: request.target,
                                                      body: request.body, now: clock.nowSeconds) else { return false }
        return true
    }

    func stages(_ correlationId: String?) async throws -> [String] {
        try await events(correlationId).map(\.stage.rawValue)
    }
}
