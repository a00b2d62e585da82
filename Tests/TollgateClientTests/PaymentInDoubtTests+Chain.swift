import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// Past validBefore, a JSON-RPC node for the network decides an authorization in doubt (used, unused, or unreachable).
extension PaymentInDoubtTests {
    /// The `fromBlock` of every `eth_getLogs` a node was asked.
    final class LogsAsked: Sendable {
        let from = Mutex<[String]>([])
    }

    /// A JSON-RPC node whose blocks (the head is 0x10) all have time `blockTime`, answering `authorizationState` with
    /// `used`, and `eth_getLogs` with the authorization's log (the filter's own token, payer and nonce) in `transaction`.
    static func node(used: Bool, transaction: String, blockTime: Int64 = 4_000_000_000, asked: LogsAsked = LogsAsked()) async throws
        -> ScriptedServer {
        try await ScriptedServer { request in
            let call = JSONValue.parse(Array(request.body.utf8))
            let first = call?["params"].flatMap { if case .array(let items) = $0 { items.first } else { nil } }
            if call?["method"]?.string == "eth_getLogs" { asked.from.withLock { $0.append(first?["fromBlock"]?.string ?? "") } }
            let block = first?.string.flatMap { $0.hasPrefix("0x") ? $0 : nil } ?? "0x10"
            let word = "0x" + String(repeating: "0", count: 63) + (used ? "1" : "0")
            let topic = HexString.prefixed(Keccak256.hash(Array("AuthorizationUsed(address,bytes32)".utf8)))
            let filter = call?["params"].flatMap { if case .array(let items) = $0 { items.first } else { nil } }
            let filtered = filter?["topics"].flatMap { if case .array(let items) = $0 { items.dropFirst().compactMap(\.string) } else { nil } } ?? []
            let topics = ([topic] + filtered).map { "\"\($0)\"" }.joined(separator: ",")
            let logs = #"[{"address":"\#(filter?["address"]?.string ?? "")","topics":[\#(topics)],"transactionHash":"\#(transaction)"}]"#
            let result = switch call?["method"]?.string {
            case "eth_getBlockByNumber": #"{"number":"\#(block)","timestamp":"0x\#(String(blockTime, radix: 16))"}"#
            case "eth_call": "\"\(word)\""
            default: logs
            }
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
        let asked = LogsAsked()
        let node = try await Self.node(used: used, transaction: transaction, asked: asked)
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
            // Searched from the first block at or after the purchase's time (block 0: every block's time is later), not `earliest`.
            #expect(asked.from.withLock { $0 } == ["0x0"])
        } else {
            let paid = try await client.fetch(Self.request(on: server))
            #expect(paid.response.status == 200)
            #expect(try client.ledger.purchase(purchase.id)?.state == .lapsed)
            #expect(try client.ledger.purchases().count == 2)
        }
        try await server.stop()
        try await node.stop()
    }

    /// This machine's clock past validBefore is not the chain's: a node whose head block is still before it (a node behind,
    /// or a clock ahead) showing the authorization unused proves nothing (it may still be mined), so it stays in doubt and
    /// nothing new is signed.
    @Test("the chain's unused before validBefore by its own time keeps the purchase in doubt")
    func anUnusedAuthorizationBeforeTheChainsValidBeforeStaysInDoubt() async throws {
        let (clock, replies, server, baseClient, first) = try await Self.afterAnUnluckyFirstRun()
        let node = try await Self.node(used: false, transaction: "0x" + String(repeating: "cd", count: 32), blockTime: first.validBefore - 1)
        var client = baseClient
        client.chains = ["eip155:84532": EVMChainReader(url: node.url)]
        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("an authorization the chain still could mine lapsed")
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt)
            #expect(error.message.contains("may still be used"), "\(error.message)")
        }
        #expect(try client.ledger.purchases().count == 1)
        #expect(try client.ledger.purchase(first.id)?.state != .lapsed)
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
