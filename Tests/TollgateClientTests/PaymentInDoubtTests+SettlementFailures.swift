import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// A settlement refused in a way that may hide money that moved: the purchase stays in doubt and nothing new is signed.
extension PaymentInDoubtTests {
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
}
