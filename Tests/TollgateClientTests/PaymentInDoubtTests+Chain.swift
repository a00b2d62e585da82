import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// Past validBefore, a JSON-RPC node for the network decides an authorization in doubt (used, unused, or unreachable).
extension PaymentInDoubtTests {
    /// A JSON-RPC node answering `authorizationState` with `used`, and `eth_getLogs` with the transfer's log.
    static func node(used: Bool, transaction: String) async throws -> ScriptedServer {
        try await ScriptedServer { request in
            let method = JSONValue.parse(Array(request.body.utf8))?["method"]?.string
            let word = "0x" + String(repeating: "0", count: 63) + (used ? "1" : "0")
            let topic = HexString.prefixed(Keccak256.hash(Array("AuthorizationUsed(address,bytes32)".utf8)))
            let result = method == "eth_call" ? "\"\(word)\""
                : #"[{"topics":["\#(topic)"],"transactionHash":"\#(transaction)"}]"#
            return .answer(status: 200, headers: [("Content-Type", "application/json")], body: #"{"jsonrpc":"2.0","id":1,"result":\#(result)}"#)
        }
    }

    /// A server whose settlement timed out answered the one send with a failed receipt, then, once the authorization
    /// has expired, answers fresh terms ("expired"), never "already used": the chain decides. Used: settled with its
    /// transaction, nothing new signed. Unused: lapsed, and the fresh terms are paid with one new authorization.
    @Test("past validBefore, with a node for its network, the chain settles an authorization in doubt: used is paid, unused lapses",
          arguments: [true, false])
    func theChainSettlesAnExpiredAuthorizationInDoubt(used: Bool) async throws {
        let clock = ManualClock()
        let transaction = "0x" + String(repeating: "cd", count: 32)
        let node = try await Self.node(used: used, transaction: transaction)
        let first = PaidReplies([X402Fixture.settlementFailed("ReadTimeout: the facilitator did not answer")], otherwise: X402Fixture.delivered())
        let server = try await Self.server(first)
        var client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        client.chains = ["eip155:84532": EVMChainReader(url: node.url)]
        let refused = try await client.fetch(Self.request(on: server))
        let purchase = try #require(refused.purchase)
        #expect(try client.ledger.purchase(purchase.id)?.state == .unknown)

        first.answer { nonce in
            nonce == purchase.nonce ? X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before") : X402Fixture.delivered()
        }
        clock.set(seconds: purchase.validBefore + Purchase.expirySkewSeconds)
        if used {
            do {
                _ = try await client.fetch(Self.request(on: server))
                Issue.record("an authorization the chain shows used was paid again")
            } catch let error as ClientError {
                #expect(error.code == .serverRefused)
                #expect(error.message.contains(transaction))
            }
            let settled = try #require(try client.ledger.purchase(purchase.id))
            #expect(settled.state == .settled)
            #expect(settled.transaction == transaction)
            #expect(try client.ledger.purchases().count == 1)
        } else {
            let paid = try await client.fetch(Self.request(on: server))
            #expect(paid.response.status == 200)
            #expect(try client.ledger.purchase(purchase.id)?.state == .lapsed)
            #expect(try client.ledger.purchases().count == 2)
        }
        try await server.stop()
        try await node.stop()
    }

    /// A node that cannot answer leaves the purchase in doubt, and its URL (hosted nodes carry their API key in it) is
    /// shown by origin only.
    @Test("a node that cannot answer keeps it in doubt and never shows its URL's key")
    func anUnreachableNodeKeepsItInDoubtWithoutShowingItsKey() async throws {
        let (clock, replies, server, baseClient, first) = try await Self.afterAnUnluckyFirstRun()
        var client = baseClient
        client.chains = ["eip155:84532": EVMChainReader(url: "http://127.0.0.1:1/v2/NODE-API-KEY-42", timeout: .seconds(2))]
        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("a purchase the chain could not settle was resolved")
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt)
            #expect(error.message.contains("http://127.0.0.1:1"))
            #expect(!error.message.contains("NODE-API-KEY-42"))
        }
        #expect(try client.ledger.purchases().count == 1)
        try await server.stop()
    }
}
