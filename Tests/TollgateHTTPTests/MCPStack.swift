import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import NIOCore
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateMCP
import TollgateSQLite
import TollgateX402

/// `tollgate mcp` in process: the MCP door (`MCPResponder`) in front of the sample MCP server on a live port,
/// the development facilitator in process and a SQLite store, all from one configuration.
struct MCPStack: Sendable {
    let assembly: GatewayAssembly
    let facilitator: DevFacilitator
    let sample: SampleMCPServer
    let connection: MCPUpstreamConnection
    let client: any TestClientProtocol

    /// The `fail` tool as configured: a tool error is not charged unless its terms say so (`consumed: on_request`).
    static let failTool = #"{name: fail, price: "0.01", anonymous: true}"#

    static func yaml(directory: String, upstream: String, timeoutSeconds: Int, maxEventStreams: Int = 256, maxPassedRequests: Int = 64,
                     perCaller: Shares = Shares(), failTool: String = failTool) -> String {
        let shares = (perCaller.eventStreams.map { ", max_event_streams_per_caller: \($0)" } ?? "")
            + (perCaller.passedRequests.map { ", max_passed_requests_per_caller: \($0)" } ?? "")
        return """
        listen: 127.0.0.1:0
        secrets: [{id: t1, env: TEST_SECRET}]
        storage: {sqlite: "\(directory)/gateway.sqlite", audit_flush_ms: 20}
        facilitators: [{url: "http://127.0.0.1:9", networks: ["eip155:84532"]}]
        assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients:
          - {id: analyst, api_key_sha256: \(APIKeyHash.sha256Hex("tg_premium_key")), scopes: ["tools:premium"]}
          - {id: viewer, api_key_sha256: \(APIKeyHash.sha256Hex("tg_viewer_key")), scopes: []}
        mcp:
          upstream: {url: "\(upstream)", timeout_seconds: \(timeoutSeconds), max_event_streams: \(maxEventStreams), max_passed_requests: \(maxPassedRequests)\(shares)}
          tools:
            - {name: forecast, price: "0.01", anonymous: true}
            - \(failTool)
            - {name: echo, price: "0.02", scope: "tools:premium", resource: premium-echo}
        """
    }

    /// Runs `body` against the MCP door; `upstream` overrides the sample server's URL (a dead one, say). The server gets
    /// `timeoutSeconds` to answer (30 s: the tests expect the sample server to, even on a loaded machine);
    /// `eventStream` is what the sample server answers to `GET` (405 without), `beforeEachPost` holds its calls.
    static func with<T: Sendable>(upstream: String? = nil, timeoutSeconds: Int = 30, maxEventStreams: Int = 256, maxPassedRequests: Int = 64,
                                  perCaller: Shares = Shares(), failTool: String = failTool,
                                  eventStream: (@Sendable (Request) async -> Response)? = nil,
                                  beforeEachPost: (@Sendable () async -> Void)? = nil,
                                  _ body: @Sendable (MCPStack) async throws -> T) async throws -> T {
        let sample = SampleMCPServer()
        let router = SampleMCPRouter.router(server: sample, eventStream: eventStream, beforeEachPost: beforeEachPost)
        return try await Listener.with(router) { port in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-mcp-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let keys = try SecretResolver.keyRing([.init(id: "t1", origin: .environment("TEST_SECRET"))], environment: ["TEST_SECRET": LiveStack.secret])
            let (configuration, _) = try ConfigurationLoader.parse(yaml(directory: directory, upstream: upstream ?? "http://127.0.0.1:\(port)/mcp",
                                                                        timeoutSeconds: timeoutSeconds, maxEventStreams: maxEventStreams,
                                                                        maxPassedRequests: maxPassedRequests, perCaller: perCaller,
                                                                        failTool: failTool))
            let store = try SQLiteStores.open(path: configuration.sqlitePath, auditKeys: keys.auditKeys(), durable: false)
            let (facilitator, _) = try LiveStack.devFacilitator(directory)
            let assembly = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: Listener.quiet, facilitatorOverride: [facilitator])
            let connection = MCPUpstreamConnection(try #require(configuration.mcp), logger: Listener.quiet)
            let gateway = assembly.mcpApplication(upstream: connection, logger: Listener.quiet)
            return try await WithServices(gateway, services: assembly.services).test(.router) { client in
                try await LiveStack.waitUntilReady(assembly.facilitators)
                return try await body(MCPStack(assembly: assembly, facilitator: facilitator, sample: sample, connection: connection, client: client))
            }
        }
    }

    /// One caller's shares of the pass-through bounds (`max_event_streams_per_caller`, `max_passed_requests_per_caller`);
    /// nil: the configuration's default, a quarter. Every request of these tests comes from one caller unless it names
    /// an API key, so a test of the whole bound gives that caller all of it (`whole`).
    struct Shares: Sendable {
        var eventStreams: Int?
        var passedRequests: Int?

        static func whole(eventStreams: Int? = nil, passedRequests: Int? = nil) -> Shares {
            Shares(eventStreams: eventStreams, passedRequests: passedRequests)
        }
    }

    // MARK: talking MCP

    struct Answer: Sendable {
        let status: Int
        let message: JSONRPCMessage?
        var result: JSONValue? { message?.result }
        var error: JSONValue? { message?.error }
        /// The PaymentRequired of a payment-required tool result.
        var terms: JSONValue? {
            guard result?["isError"] == .bool(true), let terms = result?["structuredContent"], terms["x402Version"] != nil else { return nil }
            return terms
        }
        var receipt: JSONValue? { result?["_meta"]?["x402/payment-response"] }
    }

    func post(_ body: [UInt8], headers: HTTPFields = [:]) async throws -> Answer {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.accept] = "application/json, text/event-stream"
        let response = try await client.execute(uri: "/mcp", method: .post, headers: fields, body: ByteBuffer(bytes: body))
        return Answer(status: Int(response.status.code), message: JSONRPCMessage.parse(response.body.readableBytesView))
    }

    func call(_ tool: String, _ arguments: JSONValue = .object([:]), payment: JSONValue? = nil, id: Int64 = 7,
              headers: HTTPFields = [:]) async throws -> Answer {
        var params: [String: JSONValue] = ["name": .string(tool), "arguments": arguments]
        if let payment { params["_meta"] = .object([ToolCall.paymentKey: payment]) }
        let message = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(id), "method": .string("tools/call"), "params": .object(params)])
        return try await post(message.canonicalBytes, headers: headers)
    }

    /// Signs a payment for `terms` with a fresh key: the PaymentPayload as JSON.
    static func pay(_ terms: JSONValue) throws -> JSONValue {
        let required = try JSONDecoder().decode(X402.PaymentRequired.self, from: Data(terms.canonicalBytes))
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        return try JSONValue.encoding(try payer.pay(required, now: Int64(Date().timeIntervalSince1970)))
    }

    func executions(_ tool: String) -> Int { sample.executionCounts[tool] ?? 0 }
    func transfers() async throws -> Int { try await facilitator.ledger.transferCount() }
}

/// An application whose services (audit batching, facilitator checks) run beside it in `test`.
struct WithServices<Responder: HTTPResponder>: ApplicationProtocol where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    typealias Context = Responder.Context
    let application: Application<Responder>
    let services: [any Service]

    init(_ application: Application<Responder>, services: [any Service]) {
        self.application = application
        self.services = services
    }

    var responder: Responder { get async throws { try await application.responder } }
    var configuration: ApplicationConfiguration { application.configuration }
    var logger: Logger { application.logger }
}
