import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateX402

/// Runs real listeners on loopback (ephemeral ports) for the duration of a test body.
enum Listener {
    /// Starts `router` on 127.0.0.1:0, runs `body` with its port, then shuts it down.
    static func with<Context: RequestContext, T: Sendable>(
        _ router: Router<Context>, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T where Context.Source == ApplicationRequestContextSource {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: quiet)
        return try await running(app, ports: ports, body)
    }

    static func running<T: Sendable>(_ service: some Service, ports: AsyncStream<Int>, _ body: @Sendable (Int) async throws -> T) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: quiet))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let result: T
            do {
                result = try await body(port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return result
        }
    }

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()
}

/// The sample upstream, a facilitator and a gateway in front of them, all on loopback.
struct LiveStack: Sendable {
    let gatewayURL: String
    let store: SQLiteStore
    let pool: FacilitatorPool

    static let secret = String(repeating: "5a", count: 32)

    /// - Parameters: extraTop: top-level keys added; extraRoutes: routes added after the standard ones (YAML list items);
    ///   facilitatorTimeout: generous by default, since the tests expect the facilitator to answer even on a loaded machine
    ///   (one late answer would open the breaker for the rest of the test).
    static func yaml(upstream: Int, facilitator: Int, directory: String, facilitatorTimeout: Int = 30, extraTop: String = "",
                     extraRoutes: String = "") -> String {
        """
        \(extraTop)
        listen: 127.0.0.1:0
        public_url: http://127.0.0.1:8402
        upstream: {url: "http://127.0.0.1:\(upstream)", timeout_seconds: 30}
        secrets: [{id: t1, env: TEST_SECRET}]
        storage: {sqlite: "\(directory)/gateway.sqlite", audit_flush_ms: 20}
        facilitators: [{url: "http://127.0.0.1:\(facilitator)", networks: ["eip155:84532"], timeout_seconds: \(facilitatorTimeout),
                        breaker: {failures: 1, open_seconds: 60}}]
        assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients: [{id: analyst, api_key_sha256: \(APIKeyHash.sha256Hex("tg_demo_reports_key")), scopes: ["reports:read"]}]
        routes:
          - {method: GET, path: /datasets/*, resource: datasets, price: "0.01", anonymous: true,
             private_fields: {scope: "read:private", fields: [trader_id]}}
          - {method: GET, path: /reports/*, resource: reports, price: "0.01", scope: "reports:read"}
          - {method: GET, path: /records, resource: records, price: "0.0001", unit: record, anonymous: true,
             quantity: {query: limit, max: 250, default: 100}, measure: {json_array: records}}
          - {method: GET, path: /exports/*, resource: exports, price: "0.05", unit: byte, anonymous: true}
          - {method: POST, path: /jobs/render, resource: jobs, price: "0.002", unit: second, scope: "reports:read",
             quantity: {body: job.seconds, max: 60, default: 5}, measure: {header: X-Work-Seconds}, settle: before}
          - {method: POST, path: /jobs/missing, resource: jobs-missing, price: "0.002", unit: second, scope: "reports:read", settle: before}
          - {method: GET, path: /search, resource: search, price: "0.50", package: {units: 100, name: search-credits}, scope: "reports:read"}
          - {method: GET, path: /health, resource: health, anonymous: true}
        \(extraRoutes)
        """
    }

    /// Runs `body` against a gateway whose facilitator is served by `facilitator` (a router) and whose
    /// upstream is the sample upstream checking the gateway's signature.
    static func with<Context: RequestContext, T: Sendable>(
        facilitator: @escaping @Sendable () -> Router<Context>, facilitatorTimeout: Int = 30, extraTop: String = "", extraRoutes: String = "",
        _ body: @Sendable (LiveStack) async throws -> T
    ) async throws -> T where Context.Source == ApplicationRequestContextSource {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try SecretResolver.keyRing([.init(id: "t1", origin: .environment("TEST_SECRET"))], environment: ["TEST_SECRET": secret])
        return try await Listener.with(SampleUpstream.router(contract: ContractVerifier(keys: keys.contractKeys()))) { upstreamPort in
            try await Listener.with(facilitator()) { facilitatorPort in
                let (configuration, _) = try ConfigurationLoader.parse(yaml(upstream: upstreamPort, facilitator: facilitatorPort, directory: directory,
                                                                            facilitatorTimeout: facilitatorTimeout, extraTop: extraTop,
                                                                            extraRoutes: extraRoutes))
                let store = try SQLiteStore(path: configuration.sqlitePath)
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                // The proxy alone (TollgateHTTP): no admin listener, no Prometheus registry.
                let assembly = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: Listener.quiet)
                let pool = assembly.facilitators
                let proxy = assembly.proxyApplication(logger: Listener.quiet) { continuation.yield($0) }
                let group = ServiceGroup(configuration: .init(
                    services: assembly.services.map { .init(service: $0) } + [.init(service: proxy)], logger: Listener.quiet))
                return try await Listener.running(group, ports: ports) { port in
                    try await waitUntilReady(pool)
                    return try await body(LiveStack(gatewayURL: "http://127.0.0.1:\(port)", store: store, pool: pool))
                }
            }
        }
    }

    /// Paid routes answer 503 until the facilitator check has passed: waits for it (a loaded machine may take seconds).
    static func waitUntilReady(_ pool: FacilitatorPool, network: String = "eip155:84532") async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !pool.isReady(network: network), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(pool.isReady(network: network), "the facilitator check did not pass within 30 s")
    }

    static func devFacilitator(_ directory: String = FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)").path)
        throws -> (DevFacilitator, @Sendable () -> Router<BasicRequestContext>) {
        let facilitator = try DevFacilitator(networks: ["eip155:84532"], ledger: try DevLedger(path: directory + "/ledger.sqlite"))
        return (facilitator, { DevFacilitatorServer.router(facilitator, logger: Listener.quiet) })
    }
}

/// A plain HTTP exchange with the gateway.
struct Exchange: Sendable {
    let status: Int
    let headers: [String: String]
    let body: String

    static func get(_ url: String, _ headers: [(String, String)] = []) async throws -> Exchange {
        try await send(.GET, url, headers)
    }

    static func send(_ method: HTTPMethod, _ url: String, _ headers: [(String, String)] = [], body: String? = nil) async throws -> Exchange {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Exchange(status: Int(response.status.code),
                        headers: Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }) { a, _ in a },
                        body: String(buffer: body))
    }

    var correlationId: String? { headers["tollgate-correlation-id"] }
    var terms: X402.PaymentRequired? { headers["payment-required"].flatMap { HeaderCodec.decode(X402.PaymentRequired.self, header: $0) } }
    var receipt: X402.SettleResponse? { headers["payment-response"].flatMap { HeaderCodec.decode(X402.SettleResponse.self, header: $0) } }
}
