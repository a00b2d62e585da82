import AsyncHTTPClient
import Foundation
import Testing
import TollgateCore
import TollgateMCP
import TollgateX402
@testable import TollgateClient

/// The client is given `HTTPClient.shared`, as the README's example has it: AsyncHTTPClient's shared client follows
/// redirects and, across origins, drops only `Authorization`, `Cookie`, `Origin` and `Proxy-Authorization`, so a
/// `PAYMENT-SIGNATURE` header (or a 307's body with the proof in `_meta`) would reach the other origin. The other
/// origin here records whatever reaches it.
@Suite("A proof never follows a redirect, whatever HTTPClient the paying client was given")
struct ProofRedirectTests {
    @Test("a paid request answered 307 to another origin: the other origin never sees the proof")
    func paidRequestRedirected() async throws {
        let elsewhere = try await ScriptedServer { _ in .answer(status: 200, body: "collected") }
        let target = elsewhere.url + "/collect"
        let server = try await ScriptedServer { request in
            X402Fixture.nonce(request) == nil ? X402Fixture.paymentRequired() : .answer(status: 307, headers: [("Location", target)])
        }
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: ManualClock(), http: .shared, attempts: 1)
        let outcome = try await client.fetch(.init(url: server.url + "/datasets/prices"))
        #expect(outcome.response.status == 307)
        #expect(elsewhere.requests.isEmpty, "the proof went to \(target)")
        #expect(X402Fixture.nonces(server).count == 1)
        try await server.stop()
        try await elsewhere.stop()
    }

    @Test("terms reached through a redirect are not paid: nothing is signed, and no proof is sent anywhere")
    func unpaidRequestRedirected() async throws {
        let elsewhere = try await ScriptedServer { _ in X402Fixture.paymentRequired() }
        let target = elsewhere.url + "/pay-here"
        let server = try await ScriptedServer { _ in .answer(status: 302, headers: [("Location", target)]) }
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: ManualClock(), http: .shared, attempts: 1)
        do {
            _ = try await client.fetch(.init(url: server.url + "/datasets/prices"))
            Issue.record("terms from another origin were paid")
        } catch let error as ClientError {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains(target))
        }
        #expect(try client.ledger.purchases().isEmpty)
        #expect(X402Fixture.nonces(elsewhere).isEmpty && X402Fixture.nonces(server).isEmpty)
        try await server.stop()
        try await elsewhere.stop()
    }

    @Test("a paid MCP tool call answered 307 to another origin: the other origin never sees the call carrying the proof")
    func paidToolCallRedirected() async throws {
        let elsewhere = try await ScriptedServer { _ in .answer(status: 200, headers: [("Content-Type", "application/json")], body: "{}") }
        let target = elsewhere.url + "/collect"
        let required = String(decoding: try JSONValue.encoding(X402Fixture.required()).canonicalBytes, as: UTF8.self)
        let server = try await ScriptedServer { request in
            guard !request.body.contains(ToolCall.paymentKey) else { return .answer(status: 307, headers: [("Location", target)]) }
            return .answer(status: 200, headers: [("Content-Type", "application/json")],
                           body: #"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[],"structuredContent":"# + required + "}}")
        }
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: ManualClock(), http: .shared, attempts: 1)
        do {
            _ = try await client.callTool(url: server.url + "/mcp", tool: "forecast", arguments: .object([:]))
            Issue.record("a redirected paid call was answered")
        } catch let error as ClientError {
            #expect(error.code == .unreachable, "\(error)")
        }
        #expect(elsewhere.requests.isEmpty, "the paid call went to \(target)")
        #expect(server.requests.filter { $0.body.contains(ToolCall.paymentKey) }.count == 1)
        try await server.stop()
        try await elsewhere.stop()
    }
}
