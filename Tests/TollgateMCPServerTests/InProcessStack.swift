import Foundation
import HTTPTypes
import Logging
import MCP
import ServiceLifecycle
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateGateway
import TollgateMCP
import TollgateMCPServer
import TollgateSQLite
import TollgateX402

/// How often each tool ran and what it was given: the door's claim is that a priced tool runs only when paid,
/// once per payment, and never sees the payment.
actor ToolLog {
    private(set) var seen: [CallTool.Parameters] = []
    /// What the gateway had decided for each run (`PaidTools.paidRequest`), nil for a free one.
    private(set) var decided: [TollgatePaidRequest?] = []

    /// Records a run; returns how many runs of this tool there have been, this one included.
    func ran(_ params: CallTool.Parameters, decided paid: TollgatePaidRequest? = PaidTools.paidRequest) -> Int {
        seen.append(params)
        decided.append(paid)
        return runs(params.name)
    }

    func runs(_ tool: String) -> Int { seen.filter { $0.name == tool }.count }
}

struct ToolFailure: Error {}

/// A swift-sdk `Server` whose `tools/call` handler is wrapped by `PaidTools`, a swift-sdk `Client` talking to it in
/// memory, the gateway of one configuration (`mcp.tools` priced) on a SQLite store, and the development
/// facilitator in process.
struct InProcessStack: Sendable {
    let client: Client
    let assembly: GatewayAssembly
    let facilitator: DevFacilitator
    let tools: ToolLog

    static let network = "eip155:84532"
    static let asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let secret = String(repeating: "5a", count: 32)
    static let apiKey = "tg_demo_reports_key"
    /// 0.01 USDC (6 decimals).
    static let price: Int64 = 10_000

    static func yaml(directory: String) -> String {
        """
        listen: 127.0.0.1:0
        mcp:
          # No upstream: the tools are the server's own handler.
          tools:
            - {name: forecast, description: Weather forecast, price: "0.01", accepts: [usdc], anonymous: true}
            - {name: flaky, price: "0.01", accepts: [usdc], anonymous: true}
            - {name: broken, price: "0.01", accepts: [usdc], anonymous: true}
            - {name: invalid, price: "0.01", accepts: [usdc], anonymous: true}
            - {name: slow, price: "0.01", accepts: [usdc], anonymous: true}
            - {name: billed, price: "0.01", accepts: [usdc], anonymous: true, consumed: on_request}
            - {name: report, price: "0.01", accepts: [usdc], scope: "reports:read"}
        secrets: [{id: t1, env: TEST_SECRET}]
        storage: {sqlite: "\(directory)/gateway.sqlite", audit_flush_ms: 20}
        facilitators: [{url: "http://127.0.0.1:9", networks: ["\(network)"]}]
        assets: [{id: usdc, network: "\(network)", address: "\(asset)", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients: [{id: analyst, api_key_sha256: \(APIKeyHash.sha256Hex(apiKey)), scopes: ["reports:read"]}]
        """
    }

    /// The server's tools: `echo` is free (not in the configuration), the others priced.
    static let listed: [Tool] = ["forecast", "echo", "report"].map {
        Tool(name: $0, description: "the \($0) tool", inputSchema: .object(["type": .string("object")]))
    }

    /// The server's own handler, as it would be without Tollgate.
    static func tool(_ params: CallTool.Parameters, log: ToolLog) async throws -> CallTool.Result {
        let run = await log.ran(params)
        let city = params.arguments?["city"]?.stringValue ?? "nowhere"
        switch params.name {
        case "flaky" where run == 1:
            return CallTool.Result(content: [.text(text: "the service is down", annotations: nil, _meta: nil)], isError: true)
        case "broken":
            throw ToolFailure()
        case "invalid", "billed":
            throw MCPError.invalidParams("no such city: \(city)")
        case "slow":
            // Long enough that copies sent with the first call reach the gateway while it runs, on a machine running the
            // whole suite on two cores (300 ms was not).
            try await Task.sleep(for: .milliseconds(1500))
        default:
            break
        }
        return CallTool.Result(content: [.text(text: "\(params.name) for \(city)", annotations: nil, _meta: nil)],
                               structuredContent: .object(["city": .string(city), "tool": .string(params.name)]))
    }

    /// Credentials travel in `_meta["api_key"]` here; a real server takes them from its transport.
    static func identity(_ params: CallTool.Parameters) -> HTTPFields {
        guard let key = params._meta?["api_key"]?.stringValue else { return [:] }
        return [HTTPField.Name("X-Api-Key")!: key]
    }

    static func with<T: Sendable>(_ body: @Sendable (InProcessStack) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-inproc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try SecretResolver.keyRing([.init(id: "t1", origin: .environment("TEST_SECRET"))], environment: ["TEST_SECRET": secret])
        let (configuration, _) = try ConfigurationLoader.parse(yaml(directory: directory))
        let store = try SQLiteStore(path: configuration.sqlitePath, auditKeys: keys.auditKeys())
        let facilitator = try DevFacilitator(networks: [network], ledger: try DevLedger(path: directory + "/ledger.sqlite"))
        let assembly = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: quiet, facilitatorOverride: [facilitator])
        let log = ToolLog()
        let paid = PaidTools(assembly: assembly)

        let server = Server(name: "paid-tools", version: "1.0", capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(CallTool.self, handler: paid.wrap(identity: identity) { params in try await tool(params, log: log) })
        await server.withMethodHandler(ListTools.self) { _ in paid.priced(ListTools.Result(tools: listed)) }
        let (clientTransport, serverTransport) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverTransport)
        let client = Client(name: "agent", version: "1.0")
        try await client.connect(transport: clientTransport)

        let group = ServiceGroup(configuration: .init(services: assembly.services.map { .init(service: $0) }, logger: quiet))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let outcome: Result<T, any Error>
            do {
                // Paid tools are refused until the facilitator check has passed (a loaded machine may take seconds).
                let deadline = ContinuousClock.now + .seconds(30)
                while !assembly.facilitators.isReady(network: network), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try #require(assembly.facilitators.isReady(network: network))
                outcome = .success(try await body(InProcessStack(client: client, assembly: assembly, facilitator: facilitator, tools: log)))
            } catch {
                outcome = .failure(error)
            }
            await client.disconnect()
            await server.stop()
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return try outcome.get()
        }
    }

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// Calls a tool as an x402 MCP client does: the payment, if any, in `_meta["x402/payment"]`.
    func call(_ name: String, city: String = "Oslo", payment: Value? = nil, apiKey: String? = nil) async throws -> CallTool.Result {
        var fields: [String: Value] = [:]
        if let payment { fields[ToolCall.paymentKey] = payment }
        if let apiKey { fields["api_key"] = .string(apiKey) }
        let meta = fields.isEmpty ? nil : Metadata(additionalFields: fields)
        return try await client.send(CallTool.request(.init(name: name, arguments: ["city": .string(city)], meta: meta))).value
    }

    /// The terms of a PaymentRequired result.
    static func terms(_ result: CallTool.Result) throws -> X402.PaymentRequired {
        let structured = try #require(result.structuredContent, "not a PaymentRequired result: \(result)")
        return try JSONDecoder().decode(X402.PaymentRequired.self, from: JSONEncoder().encode(structured))
    }

    /// Signs a payment for the terms of a PaymentRequired result with a fresh key, as an SDK client sends it (a `Value`).
    static func pay(_ result: CallTool.Result) throws -> (payment: Value, payer: String) {
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let payload = try payer.pay(try terms(result), now: Int64(Date().timeIntervalSince1970))
        return (try Value(payload), payer.address.checksummed)
    }

    /// What the payer holds on the development facilitator's ledger.
    func balance(_ payer: String) async throws -> Int64 {
        try await facilitator.ledger.balance(network: Self.network, asset: Self.asset, address: payer)
    }

    /// The receipt of a paid result (`_meta["x402/payment-response"]`).
    static func receipt(_ result: CallTool.Result) -> [String: Value]? {
        result._meta?[ToolCall.paymentResponseKey]?.objectValue
    }
}
