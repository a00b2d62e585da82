import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// The answers a scripted server gives to paid requests: the queued ones in order, then `otherwise` (given the nonce of
/// the authorization shown) for every later one.
final class PaidReplies: Sendable {
    private let state: Mutex<(next: [ScriptedServer.Reply], otherwise: @Sendable (_ nonce: String) -> ScriptedServer.Reply)>

    init(_ next: [ScriptedServer.Reply], otherwise: ScriptedServer.Reply) { state = Mutex((next, { _ in otherwise })) }

    func take(nonce: String) -> ScriptedServer.Reply {
        let (queued, otherwise) = state.withLock { state -> (ScriptedServer.Reply?, @Sendable (String) -> ScriptedServer.Reply) in
            (state.next.isEmpty ? nil : state.next.removeFirst(), state.otherwise)
        }
        return queued ?? otherwise(nonce)
    }

    /// From now on every paid request gets `reply`.
    func always(_ reply: ScriptedServer.Reply) { answer { _ in reply } }

    /// From now on every paid request gets what `rule` says for its authorization's nonce.
    func answer(_ rule: @escaping @Sendable (_ nonce: String) -> ScriptedServer.Reply) { state.withLock { $0 = ([], rule) } }
}

/// The unlucky sequence of the review: the gateway's authorizations live 60 s; the paid request's first send gets no
/// answer while the gateway is settling, its re-send a 503 "payment in progress"; the purchase ends `unknown`. Later
/// runs of the same request must never sign a second authorization while the first may still settle or may have
/// settled: the ledger's rows are the signatures (each is written in the transaction that signs it), and the server
/// says which authorizations it was shown.
@Suite("An authorization in doubt: later runs of its request send it again and sign nothing new until the server clears it")
struct PaymentInDoubtTests {
    /// A server that answers unpaid requests with fresh terms and paid ones from `replies`.
    static func server(_ replies: PaidReplies) async throws -> ScriptedServer {
        try await ScriptedServer { request in X402Fixture.nonce(request).map(replies.take) ?? X402Fixture.paymentRequired() }
    }

    static func request(on server: ScriptedServer) -> PaymentClient.Request { .init(url: server.url + "/datasets/prices") }

    /// Run 1: no answer to the first send, 503 to the re-send. Returns the purchase it leaves in doubt.
    static func unluckyFirstRun(_ client: PaymentClient, server: ScriptedServer) async throws -> Purchase {
        do {
            _ = try await client.fetch(request(on: server))
            Issue.record("the first run was answered")
        } catch let error as ClientError {
            #expect(error.code == .unreachable)
        }
        let purchases = try client.ledger.purchases()
        #expect(purchases.count == 1)
        let purchase = try #require(purchases.first)
        #expect(purchase.state == .unknown)
        #expect(purchase.attempts == 2)
        return purchase
    }

    /// A client on a fresh ledger, its clock, and a server whose paid answers come from `replies`, after the unlucky first
    /// run: the purchase it left in doubt.
    static func afterAnUnluckyFirstRun() async throws -> (ManualClock, PaidReplies, ScriptedServer, PaymentClient, Purchase) {
        let clock = ManualClock()
        let replies = PaidReplies([.drop], otherwise: X402Fixture.inProgress)
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        return (clock, replies, server, client, try await Self.unluckyFirstRun(client, server: server))
    }

    static func expectInDoubt(_ client: PaymentClient, server: ScriptedServer) async throws {
        do {
            let outcome = try await client.fetch(request(on: server))
            Issue.record("a run in doubt ended with HTTP \(outcome.response.status)")
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt, "\(error)")
            #expect(error.message.contains("nothing new was signed"))
        }
    }

    @Test("close to its validBefore, and just past it, the authorization in doubt is sent once more; a 503 or a 402 signs nothing new")
    func closeToValidBeforeSignsNothing() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        // 10 s left: too close to be re-sent as usual; the gateway is still settling it.
        clock.set(seconds: first.validBefore - 10)
        try await Self.expectInDoubt(client, server: server)
        // 3 s left: the gateway, holding no claim it can resume, refuses it with fresh terms. It may still settle.
        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore - 3)
        try await Self.expectInDoubt(client, server: server)
        // Past validBefore, but not by more than clocks may disagree: still in doubt.
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds - 1)
        try await Self.expectInDoubt(client, server: server)

        #expect(try client.ledger.purchases().map(\.id) == [first.id], "a second authorization was signed")
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        // Later runs never even asked for fresh terms: the old proof is what they sent.
        #expect(X402Fixture.unpaid(server) == 1)
        try await server.stop()
    }

    @Test("after its validBefore: a 503 keeps it in doubt; then the kept answer is served to the old proof, and nothing new is signed")
    func keptAnswerAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)

        replies.always(X402Fixture.delivered())
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 200)
        #expect(outcome.resumed)
        #expect(outcome.purchase?.id == first.id)
        #expect(outcome.purchase?.state == .delivered)
        #expect(try client.ledger.purchases().count == 1)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        #expect(X402Fixture.unpaid(server) == 1)
        try await server.stop()
    }

    @Test("after its validBefore, fresh terms for the old proof: it lapses (still counted) and one new authorization pays them")
    func freshTermsAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        // The gateway has no record of the old proof (its first send never reached settlement): a fresh 402 for it,
        // and the new authorization delivered.
        let oldNonce = first.nonce
        replies.answer { nonce in
            nonce == oldNonce ? X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before") : X402Fixture.delivered()
        }
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 200)
        #expect(!outcome.resumed)
        let purchases = try client.ledger.purchases()
        #expect(purchases.count == 2)
        #expect(try client.ledger.purchase(first.id)?.state == .lapsed)
        #expect(outcome.purchase?.state == .delivered && outcome.purchase?.id != first.id)
        #expect(X402Fixture.nonces(server) == [first.nonce, try #require(outcome.purchase?.nonce)])
        // The late 402 carried the fresh terms: no unpaid request was needed after the first run's.
        #expect(X402Fixture.unpaid(server) == 1)
        // Both count (a refusal may be a lie), and the request is free again.
        #expect(try client.ledger.spent(.overall, seconds: 86_400, nowMillis: clock.nowMillis) == MicroUnits(20_000))
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(Self.request(on: server)).key) == nil)
        try await server.stop()
    }

    @Test("after its validBefore, a 402 saying the old proof was already used: paid, its answer lost; it ends settled and nothing is signed")
    func alreadyUsedAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("an authorization the server says was used was paid again")
        } catch let error as ClientError {
            #expect(error.code == .serverRefused)
            #expect(error.message.contains("already used"))
        }
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(try client.ledger.purchase(first.id)?.state == .settled)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        try await server.stop()
    }

    /// Before its validBefore, "already used" settles nothing: a Tollgate MCP door says so of a copy sent while the
    /// first call still runs (which may yet deliver, or fail and charge nothing), and of a claim whose settlement
    /// failed. The purchase stays in doubt (nothing new signed), to be sent again, never recorded as paid.
    @Test("before its validBefore, a 402 saying the re-sent proof was already used leaves it in doubt; nothing is signed")
    func alreadyUsedBeforeValidBeforeStaysInDoubt() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        #expect(first.isResendable(nowSeconds: clock.nowMillis / 1000))
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 402)
        #expect(outcome.purchase?.id == first.id)
        #expect(outcome.purchase?.state == .unknown)
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(Self.request(on: server)).key)?.id == first.id)
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(Set(X402Fixture.nonces(server)) == [first.nonce])
        try await server.stop()
    }

    /// A server whose settlement timed out answers a fresh 402 although the transfer landed (the x402 Python server
    /// does); the same authorization sent again is refused as used while it is valid, and once it has expired its
    /// facilitator calls it expired, not used. The "already used" heard before is kept (`Purchase.saidUsedAtMillis`):
    /// the expired purchase ends settled, and the request is not paid a second time.
    @Test("'already used' heard before its validBefore, then 'expired' after it: settled, never paid twice")
    func alreadyUsedBeforeThenExpiredIsSettled() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        let told = try await client.fetch(Self.request(on: server))
        #expect(told.purchase?.state == .unknown)
        let heard = try #require(try client.ledger.purchase(first.id)?.saidUsedAtMillis)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("an authorization a server said was used was paid again")
        } catch let error as ClientError {
            #expect(error.code == .serverRefused)
            #expect(error.message.contains("said earlier"))
        }
        let purchase = try #require(try client.ledger.purchase(first.id))
        #expect(purchase.state == .settled)
        #expect(purchase.saidUsedAtMillis == heard)
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(Set(X402Fixture.nonces(server)) == [first.nonce])
        try await server.stop()
    }

    /// The first and only send refused in a way that may hide money that moved: a settlement that failed without saying
    /// the transfer was refused (the x402 Python server answers so when its facilitator timed out, the transfer perhaps
    /// landed), or "already used". The purchase stays in doubt, so the next run sends the same proof instead of paying
    /// anew; a settlement that failed for a stated reason (`insufficient_funds`) frees the request.
    @Test("a first send refused 'settlement failed' without a reason that says nothing moved, or 'already used', stays in doubt",
          arguments: [("ReadTimeout: facilitator did not answer", true), ("invalid_exact_evm_nonce_already_used", true),
                      ("unexpected_settle_error", true), ("insufficient_funds", false), ("invalid_exact_evm_payload_signature", false)])
    func aFirstSendRefusedThatMayHaveMovedStaysInDoubt(reason: String, inDoubt: Bool) async throws {
        let clock = ManualClock()
        let replies = PaidReplies([X402Fixture.settlementFailed(reason)], otherwise: X402Fixture.delivered())
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let first = try await client.fetch(Self.request(on: server))
        #expect(first.response.status == 402)
        let purchase = try #require(first.purchase)
        #expect(try client.ledger.purchase(purchase.id)?.state == (inDoubt ? .unknown : .refused))
        #expect((try client.ledger.purchase(purchase.id)?.saidUsedAtMillis != nil) == reason.hasSuffix("nonce_already_used"))

        let second = try await client.fetch(Self.request(on: server))
        #expect(second.response.status == 200)
        // In doubt: the same authorization again, delivered. Refused: a new one.
        #expect(X402Fixture.nonces(server).count == (inDoubt ? 1 : 2))
        #expect(try client.ledger.purchases().count == (inDoubt ? 1 : 2))
        try await server.stop()
    }

    /// Past validBefore, a settlement the server says failed without saying nothing moved (a timeout's text) does not
    /// lapse the purchase: it stays in doubt, and nothing new is signed.
    @Test("past validBefore, a failed settlement that may have moved money keeps it in doubt")
    func anInconclusiveSettlementFailurePastValidBeforeStaysInDoubt() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()
        replies.always(X402Fixture.settlementFailed("ReadTimeout: the facilitator did not answer"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)
        #expect(try client.ledger.purchases().count == 1)
        try await server.stop()
    }

    /// The first send answered "settlement failed" for a reason that does not say the transfer was refused (a
    /// facilitator's timeout: the transfer may have landed); once the authorization has expired, the server, which keeps
    /// nothing of a failed settlement, answers fresh terms. Without a node to ask, that proves nothing: the purchase stays
    /// in doubt and nothing new is signed, however often it is run (the chain-asking case is the test above).
    @Test("a failed settlement that may have moved money, then fresh terms once expired: still in doubt without a node")
    func freshTermsAfterAnInconclusiveSettlementFailureDoNotLapse() async throws {
        let clock = ManualClock()
        let replies = PaidReplies([X402Fixture.settlementFailed("ReadTimeout: the facilitator did not answer")], otherwise: X402Fixture.delivered())
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let refused = try await client.fetch(Self.request(on: server))
        let purchase = try #require(refused.purchase)
        let flagged = try #require(try client.ledger.purchase(purchase.id)?.mayHaveMovedAtMillis)

        for fresh in [X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"), X402Fixture.paymentRequired()] {
            replies.answer { nonce in nonce == purchase.nonce ? fresh : X402Fixture.delivered() }
            clock.set(seconds: purchase.validBefore + Purchase.expirySkewSeconds + 60)
            do {
                let outcome = try await client.fetch(Self.request(on: server))
                Issue.record("an authorization whose settlement may have landed lapsed and its request was answered \(outcome.response.status)")
            } catch let error as ClientError {
                #expect(error.code == .paymentInDoubt, "\(error)")
                #expect(error.message.contains("--rpc eip155:84532=URL"), "\(error)")
            }
            let after = try #require(try client.ledger.purchase(purchase.id))
            #expect(after.state == .unknown)
            #expect(after.mayHaveMovedAtMillis == flagged)
            #expect(try client.ledger.purchases().count == 1)
            #expect(Set(X402Fixture.nonces(server)) == [purchase.nonce])
        }
        // Its owner may give it up: abandoned (it may have been paid, and still counts), and the request is free again.
        #expect(try client.ledger.abandon(purchase.id, reason: nil, nowMillis: clock.nowMillis).state == .abandoned)
        #expect(try await client.fetch(Self.request(on: server)).response.status == 200)
        #expect(try client.ledger.purchases().count == 2)
        try await server.stop()
    }

    /// A first send unanswered, the same authorization re-sent and refused "settlement failed: the window passed" (what the
    /// first send landing would cause): that may hide money that moved, and is kept. Once expired, fresh terms do not
    /// lapse it.
    @Test("a re-sent authorization refused for a reason its first send landing would cause, then fresh terms once expired: in doubt")
    func aResentRefusalThatTheFirstSendWouldCauseIsKept() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()
        replies.always(X402Fixture.settlementFailed("invalid_exact_evm_payload_authorization_valid_before"))
        _ = try? await client.fetch(Self.request(on: server))
        let resent = try #require(try client.ledger.purchase(first.id))
        #expect(resent.state == .unknown)
        #expect(resent.mayHaveMovedAtMillis != nil)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)
        #expect(try client.ledger.purchases().count == 1)
        #expect(Set(X402Fixture.nonces(server)) == [first.nonce])
        try await server.stop()
    }

    /// "Already used" heard in the last seconds before validBefore (sent once, as closing in): kept, so the expired
    /// purchase ends settled whatever the server says after.
    @Test("'already used' heard close to its validBefore is kept: once expired, settled")
    func alreadyUsedCloseToValidBeforeIsKept() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        clock.set(seconds: first.validBefore - 10)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.saidUsedAtMillis != nil)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        await #expect(throws: ClientError.self) { _ = try await client.fetch(Self.request(on: server)) }
        #expect(try client.ledger.purchase(first.id)?.state == .settled)
        #expect(try client.ledger.purchases().count == 1)
        try await server.stop()
    }

    /// Given up by its owner once expired, a purchase a server said was used ends settled (paid, its answer lost), not
    /// abandoned as if it may never have been taken.
    @Test("abandoning a purchase a server said was used ends it settled")
    func abandoningAPurchaseSaidUsedEndsItSettled() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()
        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        _ = try await client.fetch(Self.request(on: server))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let given = try client.ledger.abandon(first.id, reason: nil, nowMillis: clock.nowMillis)
        #expect(given.state == .settled)
        #expect(try client.ledger.purchase(first.id)?.state == .settled)
        try await server.stop()
    }

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

    /// The way out when a server never settles the question: the wallet's owner abandons it (refused while it may still
    /// settle), and the next run pays anew with one new authorization; both count.
    @Test("a server that answers 503 forever: abandoning is refused before validBefore, then the request is paid anew, once")
    func abandonedAfterValidBeforeIsPaidAnew() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        // Still able to settle: abandoning it now could pay twice.
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds - 1)
        #expect(throws: ClientError.self) { try client.ledger.abandon(first.id, reason: nil, nowMillis: clock.nowMillis) }
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        let sends = { server.requests.compactMap(X402Fixture.nonce).filter { $0 == first.nonce }.count }
        #expect(sends() == 3)

        let abandoned = try client.ledger.abandon(first.id, reason: "the server answers 503 for it since yesterday", nowMillis: clock.nowMillis)
        #expect(abandoned.state == .abandoned)
        let oldNonce = first.nonce
        replies.answer { nonce in nonce == oldNonce ? X402Fixture.inProgress : X402Fixture.delivered() }
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 200)
        #expect(!outcome.resumed)
        let second = try #require(outcome.purchase)
        #expect(second.id != first.id && second.state == .delivered)
        // The abandoned authorization is not sent again; the new one is.
        #expect(sends() == 3)
        #expect(X402Fixture.nonces(server) == [first.nonce, second.nonce])
        #expect(try client.ledger.purchase(first.id)?.state == .abandoned)
        #expect(try client.ledger.spent(.overall, seconds: 86_400, nowMillis: clock.nowMillis) == MicroUnits(20_000))
        try await server.stop()
    }

    /// The race the abandon opens: a run read the purchase in doubt, then the owner abandoned it (another process), then
    /// the run is about to send it. It must not: the owner was told it is never sent again.
    @Test("a run that found the purchase in doubt before it was abandoned does not send it")
    func abandonedWhileARunHeldIt() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let read = try #require(try client.ledger.inDoubt(requestKey: PaymentClient.identity(Self.request(on: server)).key))
        try client.ledger.abandon(first.id, reason: nil, nowMillis: clock.nowMillis)

        replies.always(X402Fixture.delivered())
        let resolution = try await client.resolve(read, client.paidExchange(read, request: Self.request(on: server), terms: nil, resumed: true))
        guard case .abandoned = resolution else {
            Issue.record("an abandoned purchase was resolved: \(resolution)")
            return
        }
        #expect(server.requests.compactMap(X402Fixture.nonce).count == 2, "only the first run's two sends")
        #expect(try client.ledger.purchase(first.id)?.state == .abandoned)
        #expect(try client.ledger.purchase(first.id)?.attempts == 2)
        try await server.stop()
    }
}
