import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateX402

/// What the application's handlers saw, in order: the door's claim is that they run only when they should,
/// with what the gateway decided in their context and nothing a client could forge.
actor HandlerLog {
    struct Seen: Sendable {
        let path: String
        let tollgate: TollgatePaidRequest?
        let headers: HTTPFields
        let body: String
    }

    private(set) var seen: [Seen] = []

    func record(_ request: Request, _ context: some TollgateRequestContextProtocol) async throws {
        var body = try await request.body.collect(upTo: 1 << 16)
        seen.append(Seen(path: request.uri.path, tollgate: context.tollgate, headers: request.headers,
                         body: body.readString(length: body.readableBytes) ?? ""))
    }

    func runs(_ path: String) -> Int { seen.filter { $0.path == path }.count }
    var last: Seen? { seen.last }
}

/// A Hummingbird application with `TollgateMiddleware` in front of its routes, the development facilitator
/// in process and a SQLite store, all from one configuration.
struct MiddlewareStack: Sendable {
    let assembly: GatewayAssembly
    let store: SQLiteStore
    let facilitator: DevFacilitator
    let handlers: HandlerLog

    static let network = "eip155:84532"

    static func yaml(directory: String, unmatched: String, trustedProxies: String) -> String {
        """
        listen: 127.0.0.1:0
        public_url: http://127.0.0.1:8410
        upstream: {url: "http://127.0.0.1:9", max_response_bytes: 1024}
        secrets: [{id: t1, env: TEST_SECRET}]
        storage: {sqlite: "\(directory)/gateway.sqlite", audit_flush_ms: 20}
        facilitators: [{url: "http://127.0.0.1:9", networks: ["\(network)"]}]
        assets: [{id: usdc, network: "\(network)", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        max_request_body_bytes: 64
        unmatched: \(unmatched)
        trusted_proxies: \(trustedProxies)
        clients:
          - {id: analyst, api_key_sha256: \(APIKeyHash.sha256Hex("tg_demo_reports_key")), scopes: ["reports:read"]}
          - {id: viewer, api_key_sha256: \(APIKeyHash.sha256Hex("tg_viewer_key")), scopes: []}
        routes:
          - {method: GET, path: /quotes/*, resource: quotes, price: "0.01", anonymous: true}
          - {method: GET, path: /reports/*, resource: reports, price: "0.01", scope: "reports:read"}
          - {method: GET, path: /broken/*, resource: broken, price: "0.01", anonymous: true}
          - {method: POST, path: /uploads, resource: uploads, price: "0.01", anonymous: true}
          - {method: GET, path: /health, resource: health, anonymous: true}
        """
    }

    /// The application's routes, behind the middleware; every handler records what it saw.
    static func router<Context: TollgateRequestContextProtocol>(_ middleware: TollgateMiddleware<Context>, log: HandlerLog) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: middleware)
        router.get("/quotes/:symbol") { request, context in
            try await log.record(request, context)
            return "quote \(try context.parameters.require("symbol")) for \(context.tollgate?.payer ?? "nobody")"
        }
        router.get("/reports/daily") { request, context in
            try await log.record(request, context)
            return "report for \(context.tollgate?.clientId ?? "nobody")"
        }
        router.get("/broken/throws") { request, context -> String in
            try await log.record(request, context)
            throw HandlerFailure()
        }
        router.get("/broken/status") { request, context in
            try await log.record(request, context)
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "kaput")))
        }
        router.get("/broken/http-error") { request, context -> String in
            try await log.record(request, context)
            throw HTTPError(.serviceUnavailable, message: "maintenance")
        }
        router.get("/broken/large") { request, context in
            try await log.record(request, context)
            // Two parts of 600 bytes: over `upstream.max_response_bytes` (1024) only once both are written.
            return Response(status: .ok, body: .init(contentsOf: [ByteBuffer(repeating: 0x61, count: 600), ByteBuffer(repeating: 0x62, count: 600)]))
        }
        router.post("/uploads") { request, context in
            try await log.record(request, context)
            return "stored"
        }
        router.get("/health") { request, context in
            try await log.record(request, context)
            return "ok"
        }
        router.get("/about") { request, context in
            try await log.record(request, context)
            return "about"
        }
        return router
    }

    /// Runs `body` against the application (`.router`: requests go straight to the responder; `.live`: over a socket).
    static func with<T: Sendable>(unmatched: String = "pass", trustedProxies: String = "[]", setup: TestingSetup = .router,
                                  _ body: @Sendable (MiddlewareStack, any TestClientProtocol) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-mw-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try SecretResolver.keyRing([.init(id: "t1", origin: .environment("TEST_SECRET"))], environment: ["TEST_SECRET": LiveStack.secret])
        let (configuration, _) = try ConfigurationLoader.parse(yaml(directory: directory, unmatched: unmatched, trustedProxies: trustedProxies))
        let store = try SQLiteStore(path: configuration.sqlitePath, auditKeys: keys.auditKeys())
        let (facilitator, _) = try LiveStack.devFacilitator(directory)
        let assembly = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: Listener.quiet, facilitatorOverride: [facilitator])
        let log = HandlerLog()
        let app = Application(router: router(TollgateMiddleware<TollgateRequestContext>(assembly: assembly), log: log),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: assembly.services, logger: Listener.quiet)
        let stack = MiddlewareStack(assembly: assembly, store: store, facilitator: facilitator, handlers: log)
        return try await app.test(setup) { client in
            // Paid routes answer 503 until the facilitator check has passed.
            try await LiveStack.waitUntilReady(assembly.facilitators, network: network)
            return try await body(stack, client)
        }
    }

    /// A `GET /quotes/ACME` with `fields`, through the middleware on a context of the application's own (one without a
    /// remote address), its handler recorded and answering "quote"; the response as the door gives it, its body unwritten.
    func sendBare(_ fields: HTTPFields) async throws -> Response {
        let middleware = TollgateMiddleware<BareContext>(assembly: assembly)
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/quotes/ACME", headerFields: fields),
                              body: RequestBody(buffer: ByteBuffer()))
        return try await middleware.handle(request, context: BareContext(source: .init(logger: Listener.quiet))) { [handlers] request, context in
            try await handlers.record(request, context)
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "quote")))
        }
    }

    /// Signs a payment for the terms of a 402 with a fresh key.
    static func pay(_ offer: TestResponse) throws -> (proof: String, payer: String) {
        let header = try #require(offer.headers[.paymentRequiredField], "no PAYMENT-REQUIRED on a \(offer.status.code)")
        let terms = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        return (HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))), payer.address.checksummed)
    }
}

struct HandlerFailure: Error {}

extension HTTPField.Name {
    static let paymentRequiredField = HTTPField.Name("PAYMENT-REQUIRED")!
    static let paymentResponseField = HTTPField.Name("PAYMENT-RESPONSE")!
    static let paymentSignatureField = HTTPField.Name("PAYMENT-SIGNATURE")!
    static let apiKeyField = HTTPField.Name("X-Api-Key")!
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var correlationId: String? { headers[.tollgateCorrelationId] }
    var terms: X402.PaymentRequired? { headers[.paymentRequiredField].flatMap { HeaderCodec.decode(X402.PaymentRequired.self, header: $0) } }
    var receipt: X402.SettleResponse? { headers[.paymentResponseField].flatMap { HeaderCodec.decode(X402.SettleResponse.self, header: $0) } }
}
