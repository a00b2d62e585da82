import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateMCP
import TollgateX402
@testable import TollgateClient

/// The MCP door pays through the same ledger and the same rule: its tool server here is a closure (the door any MCP
/// client plugs into), which records the authorizations it was shown.
@Suite("A paid tool call in doubt: later runs send the same authorization and sign nothing new until the server clears it")
struct ToolPaymentInDoubtTests {
    struct NoAnswer: Error {}

    /// What the tool server does with a paid call: no answer, or an answer.
    final class ToolServer: Sendable {
        private let state = Mutex<(replies: [JSONRPCMessage?], otherwise: @Sendable (String) -> JSONRPCMessage?, shown: [String])>(([], { _ in nil }, []))

        /// Paid calls get `replies` in order (nil: no answer), then what `otherwise` says for the nonce.
        func script(_ replies: [JSONRPCMessage?], otherwise: @escaping @Sendable (_ nonce: String) -> JSONRPCMessage?) {
            state.withLock { $0.replies = replies; $0.otherwise = otherwise }
        }

        /// Distinct authorizations shown, in order.
        var nonces: [String] { state.withLock { $0.shown } }

        func call(_ payment: JSONValue?) throws -> JSONRPCMessage {
            guard let nonce = payment?["payload"]?["authorization"]?["nonce"]?.string else { return Self.paymentRequired() }
            let reply = state.withLock { state -> JSONRPCMessage? in
                if !state.shown.contains(nonce) { state.shown.append(nonce) }
                return state.replies.isEmpty ? state.otherwise(nonce) : state.replies.removeFirst()
            }
            guard let reply else { throw NoAnswer() }
            return reply
        }

        static func paymentRequired(error: String? = nil) -> JSONRPCMessage {
            JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": .object([
                "isError": .bool(true), "content": .array([]), "structuredContent": try! JSONValue.encoding(X402Fixture.required(error: error)),
            ])]))
        }

        static let inProgress = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "error": .object([
            "code": .integer(-32000), "message": .string("payment in progress: send the same proof again later, do not pay again"),
        ])]))

        static let delivered = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": .object([
            "content": .array([.object(["type": .string("text"), "text": .string("sunny")])]),
        ])]))
    }

    static func call(_ client: PaymentClient, _ server: ToolServer) async throws -> PaymentClient.ToolOutcome {
        try await client.callTool(server: "http://tools.example/mcp", tool: "forecast", arguments: .object(["city": .string("Paris")])) { payment in
            try server.call(payment)
        }
    }

    /// The x402 MCP server answers a failed settlement with fresh terms whose `structuredContent` carries the failed
    /// receipt (its reason an exception's text when its facilitator timed out): the purchase stays in doubt, and the next
    /// call sends the same authorization rather than a second one.
    @Test("a tool call answered with fresh terms and a failed receipt inside them stays in doubt; the next call re-sends it")
    func aFailedSettlementInTheTermsStaysInDoubt() async throws {
        let server = ToolServer()
        var terms = try JSONValue.encoding(X402Fixture.required(error: "Payment settlement failed: ReadTimeout"))
        if case .object(var members) = terms {
            members[ToolCall.paymentResponseKey] = .object(["success": .bool(false), "errorReason": .string("ReadTimeout"),
                                                           "transaction": .string(""), "network": .string("eip155:84532")])
            terms = .object(members)
        }
        let failed = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": .object([
            "isError": .bool(true), "content": .array([]), "structuredContent": terms,
        ])]))
        server.script([failed], otherwise: { _ in ToolServer.delivered })
        let clock = ManualClock()
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let first = try await Self.call(client, server)
        let purchase = try #require(first.purchase)
        #expect(try client.ledger.purchase(purchase.id)?.state == .unknown)
        let second = try await Self.call(client, server)
        #expect(second.purchase?.id == purchase.id)
        #expect(server.nonces.count == 1)
        #expect(try client.ledger.purchases().count == 1)
    }

    @Test("no answer, then close to validBefore a tool error signs nothing; past it fresh terms lapse it and one new authorization pays")
    func toolCallSequence() async throws {
        let clock = ManualClock()
        let server = ToolServer()
        server.script([nil], otherwise: { _ in ToolServer.inProgress })
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)

        // Run 1: the paid call gets no answer, then a "payment in progress" error, which is its answer.
        let unlucky = try await Self.call(client, server)
        #expect(!unlucky.succeeded)
        let first = try #require(unlucky.purchase)
        #expect(first.state == .unknown)
        #expect(first.attempts == 2)

        // Close to validBefore, and just past it: sent once more, nothing new signed.
        for seconds in [first.validBefore - 10, first.validBefore + Purchase.expirySkewSeconds - 1] {
            clock.set(seconds: seconds)
            do {
                _ = try await Self.call(client, server)
                Issue.record("a tool call in doubt was answered")
            } catch let error as ClientError {
                #expect(error.code == .paymentInDoubt, "\(error)")
            }
        }
        #expect(try client.ledger.purchases().count == 1)

        // Past it, the server holds nothing for the old proof: it lapses, one new authorization pays the fresh terms.
        let oldNonce = first.nonce
        server.script([], otherwise: { nonce in nonce == oldNonce ? ToolServer.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before")
                                                                  : ToolServer.delivered })
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let outcome = try await Self.call(client, server)
        #expect(outcome.succeeded)
        #expect(try client.ledger.purchase(first.id)?.state == .lapsed)
        #expect(try client.ledger.purchases().count == 2)
        #expect(server.nonces == [first.nonce, try #require(outcome.purchase?.nonce)])
    }
}
