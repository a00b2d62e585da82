import Foundation
import NIOHTTP1
import Synchronization
import Testing
import TollgateCore
import TollgateMCP
import TollgateX402
@testable import TollgateClient

/// A paid tool call in doubt, re-sent by a later run to an MCP server of the handshake era (`initialize` first, a session
/// on every request, a per-request call refused with HTTP 400): the later run's session must learn the era before it
/// sends the proof, or the server refuses the proof for its protocol version and the authorization stays in doubt
/// however often it is sent, until only a second payment gets the answer.
@Suite("A paid tool call re-sent by a later run reaches a server of the handshake era")
struct ToolPaymentEraTests {
    /// A streamable-HTTP MCP server that speaks only the handshake era. Paid calls get `paid` (nil: no answer).
    static func handshakeServer(paid: @escaping @Sendable () -> String?) async throws -> ScriptedServer {
        try await ScriptedServer { request in
            let message = (try? JSONSerialization.jsonObject(with: Data(request.body.utf8))) as? [String: Any] ?? [:]
            let id = message["id"].flatMap { $0 as? Int } ?? 0
            switch message["method"] as? String {
            case "initialize":
                return .answer(status: 200, headers: [("Content-Type", "application/json"), ("Mcp-Session-Id", "s1")], body: """
                    {"jsonrpc":"2.0","id":\(id),"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"old","version":"1"}}}
                    """)
            case "notifications/initialized":
                return .answer(status: 202)
            case "tools/call" where request.headers.first(name: "Mcp-Session-Id") != "s1":
                return .answer(status: 400, headers: [("Content-Type", "application/json")],
                               body: #"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: No valid session ID provided"}}"#)
            case "tools/call" where nonce(message) != nil:
                guard let result = paid() else { return .drop }
                return .answer(status: 200, headers: [("Content-Type", "application/json")], body: #"{"jsonrpc":"2.0","id":\#(id),"result":\#(result)}"#)
            case "tools/call":
                let terms = String(decoding: try! JSONValue.encoding(X402Fixture.required()).canonicalBytes, as: UTF8.self)
                return .answer(status: 200, headers: [("Content-Type", "application/json")], body: """
                    {"jsonrpc":"2.0","id":\(id),"result":{"isError":true,"content":[],"structuredContent":\(terms)}}
                    """)
            default:
                return .answer(status: 400)
            }
        }
    }

    /// The nonce of the authorization a `tools/call` carries in `_meta`, if any.
    static func nonce(_ message: [String: Any]) -> String? {
        let params = message["params"] as? [String: Any], meta = params?["_meta"] as? [String: Any]
        let payment = meta?[ToolCall.paymentKey] as? [String: Any], payload = payment?["payload"] as? [String: Any]
        return (payload?["authorization"] as? [String: Any])?["nonce"] as? String
    }

    static func nonces(_ server: ScriptedServer) -> [String] {
        server.requests.compactMap { request in
            (try? JSONSerialization.jsonObject(with: Data(request.body.utf8))).flatMap { $0 as? [String: Any] }.flatMap(nonce)
        }
    }

    @Test("the first run's paid call gets no answer; the next run shakes hands, re-sends the same proof and is answered, once paid")
    func rerunAfterTheHandshake() async throws {
        let clock = ManualClock()
        let answering = Atomic<Bool>(false)
        let server = try await Self.handshakeServer {
            answering.load(ordering: .relaxed) ? #"{"content":[{"type":"text","text":"sunny"}]}"# : nil
        }
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let url = server.url + "/mcp", arguments = JSONValue.object(["city": .string("Paris")])
        do {
            _ = try await client.callTool(url: url, tool: "forecast", arguments: arguments)
            Issue.record("a call the server never answered was answered")
        } catch let error as ClientError {
            #expect(error.code == .unreachable, "\(error)")
        }
        let first = try #require(try client.ledger.purchases().first)
        #expect(first.state == .unknown)

        let calls = { server.requests.filter { $0.body.contains(#""method":"tools/call""#) } }
        #expect(calls().count == 4, "the first run: unpaid (refused, no session), unpaid after the handshake, the proof twice")

        // A later run, a new session: the era learnt without calling the tool, then the same authorization, once.
        answering.store(true, ordering: .relaxed)
        let outcome = try await client.callTool(url: url, tool: "forecast", arguments: arguments)
        #expect(outcome.succeeded)
        #expect(outcome.resumed)
        #expect(outcome.purchase?.id == first.id && outcome.purchase?.state == .delivered)
        #expect(try client.ledger.purchases().count == 1)
        #expect(Self.nonces(server) == [first.nonce, first.nonce, first.nonce], "one authorization, sent once by the later run")
        #expect(calls().count == 5, "the later run called the tool once, with the proof")
        #expect(calls().last?.headers.first(name: "Mcp-Session-Id") == "s1")
        try await server.stop()
    }
}
