import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// Abandoning a purchase in doubt: refused while it may settle, settled if said used, never sent again once abandoned.
extension PaymentInDoubtTests {
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
